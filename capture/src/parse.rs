//! Packet parsing: link layers etherparse does not know (Linux SLL/SLL2,
//! BSD loopback, MPLS, PPPoE) are peeled here, the rest is etherparse's lax
//! slicer, so snaplen-truncated frames still give addresses and ports.

use std::fmt;

use etherparse::err::packet::SliceError;
use etherparse::err::Layer as EpLayer;
use etherparse::{EtherType, Ipv6ExtensionSlice, LaxNetSlice, LaxSlicedPacket, TransportSlice};

use crate::{FlowUpdate, Ip, Linktype, RawPacket, Reason};

/// The layer at which parsing stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// Link layer (Ethernet, VLAN, MPLS, SLL...).
    Link,
    /// IPv4/IPv6 header and extension headers.
    Ip,
    /// TCP, UDP, ICMP.
    Transport,
}

/// Why a packet could not be parsed completely. What was parsed before the
/// error stays in the [`FlowUpdate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The link type is not one [`parse_packet`] decodes.
    UnsupportedLinktype(Linktype),
    /// The bytes end inside a header of this layer.
    Truncated(Layer),
    /// A header of this layer has impossible contents.
    Malformed(Layer),
}

impl ParseError {
    /// The counted drop reason.
    pub fn reason(self) -> Reason {
        match self {
            ParseError::UnsupportedLinktype(_) => Reason::UnsupportedLinktype,
            ParseError::Truncated(Layer::Link) => Reason::TruncatedLink,
            ParseError::Truncated(Layer::Ip) => Reason::TruncatedIp,
            ParseError::Truncated(Layer::Transport) => Reason::TruncatedTransport,
            ParseError::Malformed(Layer::Link) => Reason::MalformedLink,
            ParseError::Malformed(Layer::Ip) => Reason::MalformedIp,
            ParseError::Malformed(Layer::Transport) => Reason::MalformedTransport,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnsupportedLinktype(l) => write!(f, "unsupported link type {}", l.0),
            _ => f.write_str(self.reason().as_str()),
        }
    }
}

impl std::error::Error for ParseError {}

const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MC: u16 = 0x8848;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
/// Most MPLS labels we peel before giving up; real stacks are a few deep.
const MAX_MPLS_LABELS: usize = 8;

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
    let d = pkt.data;
    let sliced = match pkt.linktype {
        Linktype::ETHERNET => LaxSlicedPacket::from_ethernet(d)
            .map_err(|_| ParseError::Truncated(Layer::Link))?,
        Linktype::RAW | Linktype::RAW_BSD | Linktype::IPV4 | Linktype::IPV6 => from_ip(d)?,
        Linktype::LINUX_SLL => {
            let hdr = d.get(..16).ok_or(ParseError::Truncated(Layer::Link))?;
            let proto = u16::from_be_bytes([hdr[14], hdr[15]]);
            LaxSlicedPacket::from_ether_type(EtherType(proto), &d[16..])
        }
        Linktype::LINUX_SLL2 => {
            let hdr = d.get(..20).ok_or(ParseError::Truncated(Layer::Link))?;
            let proto = u16::from_be_bytes([hdr[0], hdr[1]]);
            LaxSlicedPacket::from_ether_type(EtherType(proto), &d[20..])
        }
        Linktype::NULL | Linktype::LOOP => {
            let hdr = d.get(..4).ok_or(ParseError::Truncated(Layer::Link))?;
            let fam = [hdr[0], hdr[1], hdr[2], hdr[3]];
            // NULL stores the family in the capturing host's byte order, so
            // accept either order; LOOP is always big-endian.
            let is_ip = |f: u32| matches!(f, 2 | 24 | 28 | 30);
            let ip = is_ip(u32::from_be_bytes(fam))
                || (pkt.linktype == Linktype::NULL && is_ip(u32::from_le_bytes(fam)));
            if !ip {
                return Ok(());
            }
            from_ip(&d[4..])?
        }
        other => return Err(ParseError::UnsupportedLinktype(other)),
    };
    fill(&sliced, out)
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

/// Peels what etherparse stops at (MPLS label stacks, PPPoE sessions) and
/// returns the IP packet inside, if any.
fn tunnelled_ip<'a>(sliced: &LaxSlicedPacket<'a>) -> Option<Result<LaxSlicedPacket<'a>, ParseError>> {
    let ep = sliced.ether_payload()?;
    let mut p = ep.payload;
    match ep.ether_type.0 {
        ETHERTYPE_MPLS | ETHERTYPE_MPLS_MC => {
            for _ in 0..MAX_MPLS_LABELS {
                let Some(label) = p.get(..4) else {
                    return Some(Err(ParseError::Truncated(Layer::Link)));
                };
                let bottom = label[2] & 1 == 1;
                p = &p[4..];
                if bottom {
                    return match p.first().map(|b| b >> 4) {
                        Some(4 | 6) => Some(from_ip(p)),
                        // Not IP (a pseudowire with a control word, say):
                        // leave it non-IP rather than guess.
                        _ => None,
                    };
                }
            }
            Some(Err(ParseError::Malformed(Layer::Link)))
        }
        ETHERTYPE_PPPOE_SESSION => {
            let Some(hdr) = p.get(..8) else {
                return Some(Err(ParseError::Truncated(Layer::Link)));
            };
            match u16::from_be_bytes([hdr[6], hdr[7]]) {
                0x0021 | 0x0057 => Some(from_ip(&p[8..])),
                _ => None,
            }
        }
        _ => None,
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

fn fill(sliced: &LaxSlicedPacket<'_>, out: &mut FlowUpdate) -> Result<(), ParseError> {
    let inner;
    let sliced = if sliced.net.is_none() {
        match tunnelled_ip(sliced) {
            Some(r) => {
                inner = r?;
                &inner
            }
            None => sliced,
        }
    } else {
        sliced
    };
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
            let first = v6.extensions().clone().into_iter().all(|e| match e {
                Ipv6ExtensionSlice::Fragment(f) => f.fragment_offset().value() == 0,
                _ => true,
            });
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
