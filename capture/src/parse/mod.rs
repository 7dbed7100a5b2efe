//! Packet parsing: link layers etherparse does not know (Linux SLL/SLL2,
//! BSD loopback, MPLS, PPPoE) are peeled here, the rest is etherparse's lax
//! slicer, so snaplen-truncated frames still give addresses and ports.

use etherparse::err::packet::SliceError;
use etherparse::err::Layer as EpLayer;
use etherparse::{
    EtherType, LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket, LinkSlice, TransportSlice,
};

use crate::{FlowUpdate, Ip, Linktype, RawPacket};

pub(crate) mod datagram;
mod error;

pub use error::{Layer, ParseError};

const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MC: u16 = 0x8848;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
/// IEEE 802.1ah provider backbone bridging (MAC-in-MAC): a 4-byte I-TAG,
/// then a whole customer Ethernet frame.
const ETHERTYPE_PBB: u16 = 0x88E7;
/// Cisco FabricPath: 2 bytes of FTag/TTL, then the original Ethernet frame.
const ETHERTYPE_FABRICPATH: u16 = 0x8903;
/// Cisco VN-Tag: 4 bytes of tag, then the next ethertype.
const ETHERTYPE_VNTAG: u16 = 0x8926;
/// Ethertype values up to this are 802.3 lengths (an LLC header follows).
const MAX_8023_LENGTH: u16 = 1500;
/// Most MPLS labels we peel before giving up; real stacks are a few deep.
const MAX_MPLS_LABELS: usize = 8;
/// Most encapsulations (MAC-in-MAC, tags, tunnels to the link layer) peeled
/// before a frame is declared malformed. Bounds the work a crafted frame
/// can cause.
const MAX_ENCAPSULATIONS: usize = 16;

/// Parses one frame into `out`, overwriting it.
///
/// On error, `out` keeps what was decoded before the failing layer (an IPv4
/// packet whose TCP header is cut short still has its addresses, protocol
/// and length), so counters stay exact while the error is counted.
/// Never panics and never allocates.
pub fn parse_packet(pkt: &RawPacket<'_>, out: &mut FlowUpdate) -> Result<(), ParseError> {
    *out = FlowUpdate {
        ts_ns: pkt.ts_ns,
        wire_len: pkt.wire_len,
        packets: 1,
        sampling_rate: 1,
        ..FlowUpdate::default()
    };
    if pkt.linktype == Linktype::ETHERNET && crate::fast::ethernet(pkt.data, out) {
        return Ok(());
    }
    parse_general(pkt, out)
}

/// The general path of [`parse_packet`] alone, without the fixed-offset
/// fast path: the reference the fast path is tested against.
#[doc(hidden)]
pub fn parse_packet_general(pkt: &RawPacket<'_>, out: &mut FlowUpdate) -> Result<(), ParseError> {
    *out = FlowUpdate {
        ts_ns: pkt.ts_ns,
        wire_len: pkt.wire_len,
        packets: 1,
        sampling_rate: 1,
        ..FlowUpdate::default()
    };
    parse_general(pkt, out)
}

fn parse_general(pkt: &RawPacket<'_>, out: &mut FlowUpdate) -> Result<(), ParseError> {
    match slice_link(pkt.linktype, pkt.data, true)? {
        Some(sliced) => fill(&resolve(sliced)?, out),
        None => Ok(()),
    }
}

/// Slices a frame of the given link type; `Ok(None)` for frames that carry
/// no IP (an unknown address family, PPP control protocols...).
pub(super) fn slice_link(
    lt: Linktype,
    d: &[u8],
    outer: bool,
) -> Result<Option<LaxSlicedPacket<'_>>, ParseError> {
    let truncated = ParseError::Truncated(Layer::Link);
    Ok(Some(match lt {
        Linktype::ETHERNET => LaxSlicedPacket::from_ethernet(d).map_err(|_| truncated)?,
        Linktype::RAW | Linktype::RAW_BSD | Linktype::IPV4 | Linktype::IPV6 => from_ip(d)?,
        Linktype::LINUX_SLL => {
            let hdr = d.get(..16).ok_or(truncated)?;
            let proto = u16::from_be_bytes([hdr[14], hdr[15]]);
            LaxSlicedPacket::from_ether_type(EtherType(proto), &d[16..])
        }
        Linktype::LINUX_SLL2 => {
            let hdr = d.get(..20).ok_or(truncated)?;
            let proto = u16::from_be_bytes([hdr[0], hdr[1]]);
            LaxSlicedPacket::from_ether_type(EtherType(proto), &d[20..])
        }
        Linktype::NULL | Linktype::LOOP => {
            let hdr = d.get(..4).ok_or(truncated)?;
            let fam = [hdr[0], hdr[1], hdr[2], hdr[3]];
            // NULL stores the family in the capturing host's byte order, so
            // accept either order; LOOP is always big-endian. 2 is AF_INET,
            // 24/28/30 are AF_INET6 on the BSDs and macOS.
            let is_ip = |f: u32| matches!(f, 2 | 24 | 28 | 30);
            let ip = is_ip(u32::from_be_bytes(fam))
                || (lt == Linktype::NULL && is_ip(u32::from_le_bytes(fam)));
            if !ip {
                return Ok(None);
            }
            from_ip(&d[4..])?
        }
        // libpcap documents that PPP captures may hold Cisco HDLC frames,
        // recognisable by their address byte (0x0f unicast, 0x8f broadcast).
        Linktype::PPP if d.len() >= 2 && (d[0] == 0x0f || d[0] == 0x8f) && d[1] == 0 => {
            return slice_link(Linktype::C_HDLC, d, outer);
        }
        Linktype::PPP | Linktype::PPP_HDLC => {
            // Address and control (ff 03) may be compressed away, and so may
            // the protocol's first byte (protocol numbers are odd).
            let d = if d.starts_with(&[0xff, 0x03]) {
                &d[2..]
            } else {
                d
            };
            let (proto, rest) = match d.first() {
                None => return Err(truncated),
                Some(b) if b & 1 == 1 => (*b as u16, &d[1..]),
                Some(_) => {
                    let p = d.get(..2).ok_or(truncated)?;
                    (u16::from_be_bytes([p[0], p[1]]), &d[2..])
                }
            };
            match proto {
                0x0021 | 0x0057 => from_ip(rest)?,
                _ => return Ok(None),
            }
        }
        Linktype::C_HDLC => {
            let hdr = d.get(..4).ok_or(truncated)?;
            let proto = u16::from_be_bytes([hdr[2], hdr[3]]);
            LaxSlicedPacket::from_ether_type(EtherType(proto), &d[4..])
        }
        Linktype::PPI if outer => {
            // Per-Packet Information header: version, flags, little-endian
            // header length and link type of the frame that follows.
            let hdr = d.get(..8).ok_or(truncated)?;
            let len = u16::from_le_bytes([hdr[2], hdr[3]]) as usize;
            let inner = Linktype(u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]));
            let rest = d.get(len.max(8)..).ok_or(truncated)?;
            if !inner.is_supported() {
                return Err(ParseError::UnsupportedLinktype(inner));
            }
            return slice_link(inner, rest, false);
        }
        other => return Err(ParseError::UnsupportedLinktype(other)),
    }))
}

fn from_ip(d: &[u8]) -> Result<LaxSlicedPacket<'_>, ParseError> {
    LaxSlicedPacket::from_ip(d).map_err(|e| {
        use etherparse::err::ip::LaxHeaderSliceError;
        match e {
            LaxHeaderSliceError::Len(_) => ParseError::Truncated(Layer::Ip),
            LaxHeaderSliceError::Content(_) => ParseError::Malformed(Layer::Ip),
        }
    })
}

/// Peels, a bounded number of times, the encapsulations etherparse stops at
/// until an IP layer (or nothing more to peel) is reached.
pub(super) fn resolve(mut sliced: LaxSlicedPacket<'_>) -> Result<LaxSlicedPacket<'_>, ParseError> {
    for _ in 0..MAX_ENCAPSULATIONS {
        if sliced.net.is_some() {
            return Ok(sliced);
        }
        match peel(&sliced)? {
            Some(inner) => sliced = inner,
            None => return Ok(sliced),
        }
    }
    Err(ParseError::Malformed(Layer::Link))
}

/// One encapsulation step below an ethertype etherparse does not decode.
fn peel<'a>(sliced: &LaxSlicedPacket<'a>) -> Result<Option<LaxSlicedPacket<'a>>, ParseError> {
    let truncated = ParseError::Truncated(Layer::Link);
    let Some(ep) = sliced.ether_payload() else {
        return Ok(None);
    };
    let p = ep.payload;
    let inner_ethernet = |skip: usize| -> Result<Option<LaxSlicedPacket<'a>>, ParseError> {
        let rest = p.get(skip..).ok_or(truncated)?;
        LaxSlicedPacket::from_ethernet(rest)
            .map(Some)
            .map_err(|_| truncated)
    };
    match ep.ether_type.0 {
        ETHERTYPE_MPLS | ETHERTYPE_MPLS_MC => {
            let mut p = p;
            for _ in 0..MAX_MPLS_LABELS {
                let label = p.get(..4).ok_or(truncated)?;
                let bottom = label[2] & 1 == 1;
                p = &p[4..];
                if bottom {
                    return match p.first().map(|b| b >> 4) {
                        Some(4 | 6) => from_ip(p).map(Some),
                        // Not IP (a pseudowire with a control word, say):
                        // leave it non-IP rather than guess.
                        _ => Ok(None),
                    };
                }
            }
            Err(ParseError::Malformed(Layer::Link))
        }
        ETHERTYPE_PPPOE_SESSION => {
            let hdr = p.get(..8).ok_or(truncated)?;
            match u16::from_be_bytes([hdr[6], hdr[7]]) {
                0x0021 | 0x0057 => from_ip(&p[8..]).map(Some),
                _ => Ok(None),
            }
        }
        ETHERTYPE_PBB => inner_ethernet(4),
        ETHERTYPE_FABRICPATH => inner_ethernet(2),
        ETHERTYPE_VNTAG => {
            let hdr = p.get(..6).ok_or(truncated)?;
            let et = u16::from_be_bytes([hdr[4], hdr[5]]);
            Ok(Some(LaxSlicedPacket::from_ether_type(
                EtherType(et),
                &p[6..],
            )))
        }
        len if len <= MAX_8023_LENGTH => {
            // 802.3 with LLC: only SNAP (aa aa 03, OUI, ethertype) carries IP
            // in practice.
            match p.get(..8) {
                Some(h) if h[..3] == [0xaa, 0xaa, 0x03] => {
                    let et = u16::from_be_bytes([h[6], h[7]]);
                    Ok(Some(LaxSlicedPacket::from_ether_type(
                        EtherType(et),
                        &p[8..],
                    )))
                }
                _ => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

fn layer_of(l: EpLayer) -> Layer {
    match l {
        EpLayer::LinuxSllHeader
        | EpLayer::Ethernet2Header
        | EpLayer::EtherPayload
        | EpLayer::VlanHeader
        | EpLayer::MacsecHeader
        | EpLayer::MacsecPacket
        | EpLayer::Arp => Layer::Link,
        EpLayer::IpHeader
        | EpLayer::Ipv4Header
        | EpLayer::Ipv4Packet
        | EpLayer::IpAuthHeader
        | EpLayer::Ipv6Header
        | EpLayer::Ipv6Packet
        | EpLayer::Ipv6ExtHeader
        | EpLayer::Ipv6HopByHopHeader
        | EpLayer::Ipv6DestOptionsHeader
        | EpLayer::Ipv6RouteHeader
        | EpLayer::Ipv6FragHeader => Layer::Ip,
        _ => Layer::Transport,
    }
}

fn stop_error(err: &SliceError, layer: EpLayer) -> ParseError {
    let l = layer_of(layer);
    match err {
        SliceError::Len(_) => ParseError::Truncated(l),
        _ => ParseError::Malformed(l),
    }
}

/// The ethertype that announced the network layer, if a link header did.
fn announced_ether_type(s: &LaxSlicedPacket<'_>) -> Option<u16> {
    if let Some(ext) = s.link_exts.last() {
        return match ext {
            LaxLinkExtSlice::Vlan(v) => Some(v.ether_type().0),
            LaxLinkExtSlice::Macsec(_) => None,
        };
    }
    match &s.link {
        Some(LinkSlice::Ethernet2(e)) => Some(e.ether_type().0),
        Some(LinkSlice::EtherPayload(p)) => Some(p.ether_type.0),
        _ => None,
    }
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;

fn fill(sliced: &LaxSlicedPacket<'_>, out: &mut FlowUpdate) -> Result<(), ParseError> {
    // etherparse picks the IP version from the version nibble; a frame whose
    // ethertype announces the other version is malformed, not re-typed.
    let mismatch = matches!(
        (&sliced.net, announced_ether_type(sliced)),
        (Some(LaxNetSlice::Ipv4(_)), Some(ETHERTYPE_IPV6))
            | (Some(LaxNetSlice::Ipv6(_)), Some(ETHERTYPE_IPV4))
    );
    if mismatch {
        return Err(ParseError::Malformed(Layer::Ip));
    }
    let (payload, first_fragment) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            out.ip_version = 4;
            out.src = Ip::v4(h.source());
            out.dst = Ip::v4(h.destination());
            let total = h.total_len() as u64;
            // A zero total length appears on TSO-offloaded captures: count
            // what was captured instead.
            out.bytes = if total == 0 {
                (h.slice().len() + v4.payload().payload.len()) as u64
            } else {
                total
            };
            let first = h.fragments_offset().value() == 0;
            (v4.payload(), first)
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            out.ip_version = 6;
            out.src = Ip::v6(h.source());
            out.dst = Ip::v6(h.destination());
            let plen = h.payload_length() as u64;
            out.bytes = if plen == 0 {
                // Jumbogram or offloaded capture: count what is there.
                40 + v6.payload().payload.len() as u64
            } else {
                40 + plen
            };
            let first = v6_fragment_offset(h.next_header().0, v6.extensions().slice()) == 0;
            (v6.payload(), first)
        }
        Some(LaxNetSlice::Arp(_)) | None => {
            return match &sliced.stop_err {
                Some((e, l)) => Err(stop_error(e, *l)),
                None => Ok(()),
            };
        }
    };
    out.proto = payload.ip_number.0;
    match &sliced.transport {
        Some(TransportSlice::Tcp(t)) => {
            out.sport = t.source_port();
            out.dport = t.destination_port();
            out.tcp_seq = t.sequence_number();
            out.tcp_ack = t.acknowledgment_number();
            out.tcp_flags = t.slice()[13];
            out.has_ports = true;
        }
        Some(TransportSlice::Udp(u)) => {
            out.sport = u.source_port();
            out.dport = u.destination_port();
            out.has_ports = true;
        }
        Some(TransportSlice::Icmpv4(i)) => {
            out.dport = (i.type_u8() as u16) << 8 | i.code_u8() as u16;
            out.has_ports = true;
        }
        Some(TransportSlice::Icmpv6(i)) => {
            out.dport = (i.type_u8() as u16) << 8 | i.code_u8() as u16;
            out.has_ports = true;
        }
        // IGMP has no ports; the protocol number says enough.
        Some(TransportSlice::Igmp(_)) => {}
        None if payload.fragmented && first_fragment => {
            // etherparse does not slice transport headers of fragments;
            // the first fragment still carries the ports, which flow
            // accounting needs (later fragments carry none).
            first_fragment_ports(out, payload.payload);
        }
        None => {}
    }
    match &sliced.stop_err {
        Some((e, l)) => Err(stop_error(e, *l)),
        None => Ok(()),
    }
}

/// The fragment offset (in 8-byte units) of an IPv6 packet, 0 when it has
/// no fragment header, found by walking the extension headers with bounds
/// checks.
///
/// etherparse's own extension iterator builds each header with an
/// unchecked constructor, which is out of bounds on a lax slice that ends
/// inside a header; so we walk the bytes here instead.
fn v6_fragment_offset(mut next: u8, mut ext: &[u8]) -> u16 {
    const HOP_BY_HOP: u8 = 0;
    const ROUTING: u8 = 43;
    const FRAGMENT: u8 = 44;
    const AUTH: u8 = 51;
    const DEST_OPTS: u8 = 60;
    loop {
        let len = match (next, ext.get(..8)) {
            (FRAGMENT, Some(h)) => return u16::from_be_bytes([h[2], h[3]]) >> 3,
            (HOP_BY_HOP | ROUTING | DEST_OPTS, Some(h)) => (h[1] as usize + 1) * 8,
            (AUTH, Some(h)) => (h[1] as usize + 2) * 4,
            _ => return 0,
        };
        next = ext[0];
        match ext.get(len..) {
            Some(rest) => ext = rest,
            None => return 0,
        }
    }
}

fn first_fragment_ports(out: &mut FlowUpdate, p: &[u8]) {
    match out.proto {
        FlowUpdate::TCP if p.len() >= 14 => {
            out.sport = u16::from_be_bytes([p[0], p[1]]);
            out.dport = u16::from_be_bytes([p[2], p[3]]);
            out.tcp_seq = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
            out.tcp_ack = u32::from_be_bytes([p[8], p[9], p[10], p[11]]);
            out.tcp_flags = p[13];
            out.has_ports = true;
        }
        FlowUpdate::UDP if p.len() >= 4 => {
            out.sport = u16::from_be_bytes([p[0], p[1]]);
            out.dport = u16::from_be_bytes([p[2], p[3]]);
            out.has_ports = true;
        }
        FlowUpdate::ICMP | FlowUpdate::ICMPV6 if p.len() >= 2 => {
            out.dport = (p[0] as u16) << 8 | p[1] as u16;
            out.has_ports = true;
        }
        _ => {}
    }
}
