//! What the detectors read: per-address counters, handshake counts by
//! address, Count-Min point queries, and the services' handshakes.

use capture::Ip;
use sketches::hash::{hash_u128, DEFAULT_SEED};
use sketches::Estimate;

use super::top::{best_named, ip_text, unsampled, TopItem};
use super::Summary;
use crate::handshake::{ServiceReport, ServiceStats};
use crate::keys::{prefix_hash, shard_of};
use crate::shard::{widen, Rank, ShardSketches};

/// Which TCP handshake count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// SYNs (without ACK) received.
    SynTo,
    /// SYN-ACKs sent.
    SynAckFrom,
    /// RSTs received.
    RstTo,
}

impl Handshake {
    /// All three, in report order.
    pub const ALL: [Handshake; 3] = [Handshake::SynTo, Handshake::SynAckFrom, Handshake::RstTo];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Handshake::SynTo => "syn_to",
            Handshake::SynAckFrom => "synack_from",
            Handshake::RstTo => "rst_to",
        }
    }
}

/// A per-address packet or byte counter the detectors read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Packets to an address.
    DstPackets,
    /// IP bytes to an address.
    DstBytes,
    /// Packets from an address.
    SrcPackets,
    /// TCP SYNs (without ACK) to an address.
    SynTo,
    /// TCP SYN-ACKs from an address.
    SynAckFrom,
    /// ICMP packets to an address.
    IcmpTo,
    /// UDP packets from reflector ports to an address.
    AmpTo,
    /// Packets to a destination prefix (`/24`, `/64`), keyed by the
    /// prefix's first address.
    PrefixTo,
}

impl Summary {
    /// Bytes sent from (`source`) or to an address or prefix, with its
    /// Count-Min bound. `len` must be a tracked prefix length (IPv4 32, 24,
    /// 16, 8; IPv6 128, 64, 48, 32); others return `None`.
    pub fn bytes_of(&self, addr: Ip, len: u8, source: bool) -> Option<Estimate> {
        if !crate::keys::prefixes(addr).contains(&len) {
            return None;
        }
        let h = prefix_hash(addr, len);
        let Some(s) = self.shards.get(shard_of(h)) else {
            return Some(Estimate::exact(0.0));
        };
        Some(if source {
            s.cm_src.estimate(h)
        } else {
            s.cm_dst.estimate(h)
        })
    }

    fn counter_sketch(s: &ShardSketches, c: Counter) -> &sketches::SpaceSaving<u128> {
        match c {
            Counter::DstPackets => &s[Rank::DstPackets],
            Counter::DstBytes => &s[Rank::DstBytes],
            Counter::SrcPackets => &s[Rank::SrcPackets],
            Counter::SynTo => &s[Rank::SynTo],
            Counter::SynAckFrom => &s[Rank::SynAckFrom],
            Counter::IcmpTo => &s[Rank::IcmpTo],
            Counter::AmpTo => &s[Rank::AmpTo],
            Counter::PrefixTo => &s[Rank::PrefixTo],
        }
    }

    /// How far the overload mode widens a counter's bounds in `s`: only
    /// the source ranking among them is sampled.
    fn counter_spread(s: &ShardSketches, c: Counter) -> u64 {
        if c == Counter::SrcPackets {
            s.sampled.packets
        } else {
            0
        }
    }

    /// `(lower, upper)` bounds of one address's (or prefix's) counter.
    pub fn counter_bounds(&self, c: Counter, key: Ip) -> (u64, u64) {
        let h = match c {
            Counter::PrefixTo => hash_u128(key.0, DEFAULT_SEED ^ 0x24),
            _ => hash_u128(key.0, DEFAULT_SEED),
        };
        let Some(s) = self.shards.get(shard_of(h)) else {
            return (0, 0);
        };
        let b = Self::counter_sketch(s, c).bounds(&key.0);
        widen(b.lower, b.upper, Self::counter_spread(s, c))
    }

    /// The `k` largest keys of a counter as `(key, lower, upper)`.
    pub fn counter_top(&self, c: Counter, k: usize) -> Vec<(Ip, u64, u64)> {
        // By upper, then lower bound, then key: one pass over the shards.
        sketches::top_of(self.shards.iter().map(|s| Self::counter_sketch(s, c)), k)
            .into_iter()
            .map(|h| {
                let m = self
                    .shards
                    .get(shard_of(hash_u128(h.key, DEFAULT_SEED)))
                    .map_or(0, |s| Self::counter_spread(s, c));
                let (lower, upper) = widen(h.lower, h.upper, m);
                (Ip(h.key), lower, upper)
            })
            .collect()
    }

    /// The `k` addresses with the most SYNs received, SYN-ACKs sent or RSTs
    /// received, with bounds: what SYN-flood and failure detection read.
    pub fn top_handshake(&self, which: Handshake, k: usize) -> Vec<TopItem> {
        best_named(
            self.shards
                .iter()
                .flat_map(|s| match which {
                    Handshake::SynTo => s[Rank::SynTo].top(k),
                    Handshake::SynAckFrom => s[Rank::SynAckFrom].top(k),
                    Handshake::RstTo => s[Rank::RstTo].top(k),
                })
                .map(unsampled)
                .collect(),
            k,
            |k| ip_text(*k),
        )
    }

    /// The `k` services with the most handshake attempts, with their
    /// round-trip times and failures.
    pub fn services(&self, k: usize) -> Vec<ServiceReport> {
        let mut v: Vec<ServiceReport> = self
            .shards
            .iter()
            .flat_map(|s| s.services.services())
            .map(|((ip, port), missed, st)| ServiceReport {
                server: ip,
                port,
                missed_upper: missed,
                stats: st.clone(),
            })
            .collect();
        v.sort_by(|a, b| {
            b.stats
                .attempts
                .cmp(&a.stats.attempts)
                .then((a.server, a.port).cmp(&(b.server, b.port)))
        });
        v.truncate(k);
        v
    }

    /// Handshakes of every service not tracked on its own, and SYNs not
    /// followed because the pending-handshake table was full.
    pub fn services_other(&self) -> (ServiceStats, u64) {
        let mut o = ServiceStats::default();
        let mut untracked = 0;
        for s in &self.shards {
            o.merge(&s.services.other);
            untracked += s.services.untracked;
        }
        (o, untracked)
    }
}
