//! The fast path of [`crate::parse_packet`]: the frame shape that makes up
//! nearly all traffic, decoded at fixed offsets.
//!
//! It accepts only Ethernet (at most one 802.1Q tag), IPv4 without options
//! or IPv6 without extension headers, unfragmented and complete as the IP
//! length says, carrying a well-formed TCP, UDP or ICMP header (or another
//! protocol, which needs no transport parsing). Anything else returns
//! `false` and goes to the general path (etherparse's lax slicer), which is
//! the reference: `tests/fast_path.rs` checks that both give identical
//! results on generated and mutated frames.

use crate::FlowUpdate;
use crate::Ip;

#[inline(always)]
fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

#[inline(always)]
fn be32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

/// Decodes an Ethernet frame into `out` (already reset by the caller) if it
/// has the common shape; returns whether it did.
#[inline]
pub(crate) fn ethernet(d: &[u8], out: &mut FlowUpdate) -> bool {
    if d.len() < 14 {
        return false;
    }
    let mut et = be16(d, 12);
    let mut off = 14;
    if et == 0x8100 {
        if d.len() < 18 {
            return false;
        }
        et = be16(d, 16);
        off = 18;
    }
    match et {
        0x0800 => ipv4(d, off, out),
        0x86DD => ipv6(d, off, out),
        _ => false,
    }
}

#[inline(always)]
fn ipv4(d: &[u8], off: usize, out: &mut FlowUpdate) -> bool {
    if d.len() < off + 20 || d[off] != 0x45 {
        return false;
    }
    let total = be16(d, off + 2) as usize;
    // Fragments (offset or more-fragments set) and short or cut packets go
    // to the general path.
    if total < 20 || off + total > d.len() || be16(d, off + 6) & 0x3fff != 0 {
        return false;
    }
    let proto = d[off + 9];
    if !transport(d, proto, off + 20, off + total, false, out) {
        return false;
    }
    out.ip_version = 4;
    out.proto = proto;
    out.bytes = total as u64;
    out.src = Ip::v4([d[off + 12], d[off + 13], d[off + 14], d[off + 15]]);
    out.dst = Ip::v4([d[off + 16], d[off + 17], d[off + 18], d[off + 19]]);
    true
}

#[inline(always)]
fn ipv6(d: &[u8], off: usize, out: &mut FlowUpdate) -> bool {
    if d.len() < off + 40 || d[off] >> 4 != 6 {
        return false;
    }
    let plen = be16(d, off + 4) as usize;
    let next = d[off + 6];
    // Extension headers (and jumbograms, payload length 0) go to the
    // general path.
    if plen == 0 || off + 40 + plen > d.len() || !matches!(next, 6 | 17 | 58) {
        return false;
    }
    if !transport(d, next, off + 40, off + 40 + plen, true, out) {
        return false;
    }
    let mut s = [0u8; 16];
    s.copy_from_slice(&d[off + 8..off + 24]);
    let mut t = [0u8; 16];
    t.copy_from_slice(&d[off + 24..off + 40]);
    out.ip_version = 6;
    out.proto = next;
    out.bytes = 40 + plen as u64;
    out.src = Ip::v6(s);
    out.dst = Ip::v6(t);
    true
}

#[inline(always)]
fn transport(d: &[u8], proto: u8, l4: usize, end: usize, v6: bool, out: &mut FlowUpdate) -> bool {
    let room = end - l4;
    match proto {
        FlowUpdate::TCP => {
            if room < 20 {
                return false;
            }
            let hlen = (d[l4 + 12] >> 4) as usize * 4;
            if hlen < 20 || hlen > room {
                return false;
            }
            out.sport = be16(d, l4);
            out.dport = be16(d, l4 + 2);
            out.tcp_seq = be32(d, l4 + 4);
            out.tcp_ack = be32(d, l4 + 8);
            out.tcp_flags = d[l4 + 13];
        }
        FlowUpdate::UDP => {
            if room < 8 {
                return false;
            }
            let ulen = be16(d, l4 + 4) as usize;
            if ulen < 8 || ulen > room {
                return false;
            }
            out.sport = be16(d, l4);
            out.dport = be16(d, l4 + 2);
        }
        FlowUpdate::ICMP if !v6 => {
            // Timestamp messages (13, 14) have a longer fixed header; leave
            // them to the general path.
            if room < 8 || matches!(d[l4], 13 | 14) {
                return false;
            }
            out.dport = be16(d, l4);
        }
        FlowUpdate::ICMPV6 if v6 => {
            if room < 8 {
                return false;
            }
            out.dport = be16(d, l4);
        }
        // IPv6 only reaches here with TCP, UDP or ICMPv6.
        _ if v6 => return false,
        // etherparse looks inside these: IGMP (2), the authentication
        // header (51, an IPv4 extension whose next header is the real
        // transport) and ICMPv6 in IPv4 (58). Let it.
        2 | 51 | FlowUpdate::ICMPV6 => return false,
        // Other IPv4 protocols need no transport parsing.
        _ => return true,
    }
    out.has_ports = true;
    true
}
