//! Exact per-run counters: packets and bytes by link type, protocol and drop reason.

use crate::{FlowUpdate, Linktype, ParseError, RawPacket, ReasonCounts};

/// Packets per link type. A handful of types per run at most, so a small
/// vector with a linear scan beats a map on the per-packet path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinktypeCounts(Vec<(Linktype, u64)>);

impl LinktypeCounts {
    /// Adds `n` packets of link type `lt`.
    #[inline]
    pub fn add(&mut self, lt: Linktype, n: u64) {
        match self.0.iter_mut().find(|(l, _)| *l == lt) {
            Some((_, c)) => *c = c.saturating_add(n),
            None => self.0.push((lt, n)),
        }
    }

    /// The counts, sorted by link type.
    pub fn sorted(&self) -> Vec<(Linktype, u64)> {
        let mut v = self.0.clone();
        v.sort();
        v
    }
}

/// Packets by network and transport protocol and by TCP flag (every
/// counter saturates rather than wraps: a flow record may claim 2^64
/// bytes), each
/// update weighted by the packets it stands for (1 for a captured packet,
/// more for a flow record). Shared by the exact run counters and the
/// pipeline's per-epoch totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProtocolCounts {
    /// Sum of IP-layer lengths of IP packets.
    pub ip_bytes: u64,
    /// Packets whose outermost network layer is IPv4.
    pub ipv4: u64,
    /// Packets whose outermost network layer is IPv6.
    pub ipv6: u64,
    /// Packets with no IP layer (ARP, LLDP, unknown link types...).
    pub non_ip: u64,
    /// IP packets carrying TCP directly.
    pub tcp: u64,
    /// IP packets carrying UDP directly.
    pub udp: u64,
    /// IP packets carrying ICMP or ICMPv6 directly.
    pub icmp: u64,
    /// IP packets carrying another protocol (GRE, ESP, SCTP, ...).
    pub other_l4: u64,
    /// Packets with each TCP flag set, in [`crate::tcp_flags::NAMES`] order.
    pub tcp_flags: [u64; 8],
}

impl ProtocolCounts {
    /// Counts one update.
    #[inline]
    pub fn add(&mut self, u: &FlowUpdate) {
        let p = u.packets as u64;
        match u.ip_version {
            4 => self.ipv4 = self.ipv4.saturating_add(p),
            6 => self.ipv6 = self.ipv6.saturating_add(p),
            _ => {
                self.non_ip = self.non_ip.saturating_add(p);
                return;
            }
        }
        self.ip_bytes = self.ip_bytes.saturating_add(u.bytes);
        match u.proto {
            FlowUpdate::TCP => {
                self.tcp = self.tcp.saturating_add(p);
                // One add per flag set (a segment has one to three), not
                // one per flag: this runs twice for every packet.
                let mut f = u.tcp_flags;
                while f != 0 {
                    let c = &mut self.tcp_flags[f.trailing_zeros() as usize];
                    *c = c.saturating_add(p);
                    f &= f - 1;
                }
            }
            FlowUpdate::UDP => self.udp = self.udp.saturating_add(p),
            FlowUpdate::ICMP | FlowUpdate::ICMPV6 => self.icmp = self.icmp.saturating_add(p),
            _ => self.other_l4 = self.other_l4.saturating_add(p),
        }
    }

    /// Adds every counter of `o`.
    pub fn merge(&mut self, o: &ProtocolCounts) {
        self.ip_bytes = self.ip_bytes.saturating_add(o.ip_bytes);
        self.ipv4 = self.ipv4.saturating_add(o.ipv4);
        self.ipv6 = self.ipv6.saturating_add(o.ipv6);
        self.non_ip = self.non_ip.saturating_add(o.non_ip);
        self.tcp = self.tcp.saturating_add(o.tcp);
        self.udp = self.udp.saturating_add(o.udp);
        self.icmp = self.icmp.saturating_add(o.icmp);
        self.other_l4 = self.other_l4.saturating_add(o.other_l4);
        for (a, b) in self.tcp_flags.iter_mut().zip(o.tcp_flags) {
            *a = a.saturating_add(b);
        }
    }
}

/// Exact counters over a stream of packets: what `netsketch replay` and
/// `capture` report and what tshark can confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Frames read.
    pub packets: u64,
    /// Sum of frame lengths on the wire.
    pub wire_bytes: u64,
    /// Sum of captured lengths.
    pub captured_bytes: u64,
    /// Earliest timestamp seen (`u64::MAX` before the first packet).
    pub first_ts_ns: u64,
    /// Latest timestamp seen.
    pub last_ts_ns: u64,
    /// Per protocol and TCP flag.
    pub proto: ProtocolCounts,
    /// Packets per link type.
    pub linktypes: LinktypeCounts,
    /// Packets, records or file tails given up, by reason.
    pub errors: ReasonCounts,
}

impl Default for Totals {
    fn default() -> Self {
        Totals {
            packets: 0,
            wire_bytes: 0,
            captured_bytes: 0,
            first_ts_ns: u64::MAX,
            last_ts_ns: 0,
            proto: ProtocolCounts::default(),
            linktypes: LinktypeCounts::default(),
            errors: ReasonCounts::default(),
        }
    }
}

impl Totals {
    /// Counts one packet and its parse result.
    #[inline]
    pub fn record(&mut self, pkt: &RawPacket<'_>, upd: &FlowUpdate, err: Option<ParseError>) {
        self.packets = self.packets.saturating_add(1);
        self.wire_bytes = self.wire_bytes.saturating_add(pkt.wire_len as u64);
        self.captured_bytes = self.captured_bytes.saturating_add(pkt.data.len() as u64);
        self.first_ts_ns = self.first_ts_ns.min(pkt.ts_ns);
        self.last_ts_ns = self.last_ts_ns.max(pkt.ts_ns);
        self.linktypes.add(pkt.linktype, 1);
        if let Some(e) = err {
            self.errors.add(e.reason(), 1);
        }
        self.proto.add(upd);
    }

    /// The first timestamp, if any packet was seen.
    pub fn first_ts(&self) -> Option<u64> {
        (self.packets > 0).then_some(self.first_ts_ns)
    }

    /// Adds every counter of `other`.
    pub fn merge(&mut self, other: &Totals) {
        self.packets = self.packets.saturating_add(other.packets);
        self.wire_bytes = self.wire_bytes.saturating_add(other.wire_bytes);
        self.captured_bytes = self.captured_bytes.saturating_add(other.captured_bytes);
        self.first_ts_ns = self.first_ts_ns.min(other.first_ts_ns);
        self.last_ts_ns = self.last_ts_ns.max(other.last_ts_ns);
        self.proto.merge(&other.proto);
        for &(l, n) in &other.linktypes.0 {
            self.linktypes.add(l, n);
        }
        self.errors.merge(&other.errors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp_flags as tf;

    #[test]
    fn each_tcp_flag_set_counts_the_packets_it_stands_for() {
        let mut c = ProtocolCounts::default();
        let mut u = FlowUpdate {
            ip_version: 4,
            proto: FlowUpdate::TCP,
            packets: 3,
            tcp_flags: tf::SYN | tf::ACK,
            ..FlowUpdate::default()
        };
        c.add(&u);
        u.packets = 1;
        u.tcp_flags = 0xff;
        c.add(&u);
        u.tcp_flags = 0;
        c.add(&u);
        let mut want = [1u64; 8];
        want[tf::SYN.trailing_zeros() as usize] += 3;
        want[tf::ACK.trailing_zeros() as usize] += 3;
        assert_eq!(c.tcp_flags, want);
        assert_eq!((c.tcp, c.ipv4), (5, 5));
    }
}
