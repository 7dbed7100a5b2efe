//! What a closed epoch or a window holds, and the queries it answers.

use capture::{FlowUpdate, Ip, ProtocolCounts};
use sketches::{Estimate, HeavyHitter, HyperLogLog, SpaceSaving};

use crate::handshake::{ServiceReport, ServiceStats};
use crate::keys::{prefix_hash, shard_of, Dimension, Metric, SHARDS};
use crate::shard::{Budget, DstDistinct, PairRank, PortRank, Rank, ShardSketches};

/// Exact counters of an epoch or window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochTotals {
    /// Packets (flow input: packets the records stand for).
    pub packets: u64,
    /// Sum of frame lengths.
    pub wire_bytes: u64,
    /// Per protocol and TCP flag.
    pub proto: ProtocolCounts,
    /// Updates that arrived after their epoch closed, folded into a later
    /// epoch.
    pub late: u64,
    /// Updates of a live source stamped ahead of its clock (an exporter's
    /// clock ahead, a garbage timestamp), counted at the clock instead.
    pub future: u64,
}

impl EpochTotals {
    /// Counts one update.
    #[inline]
    pub fn add(&mut self, u: &FlowUpdate) {
        self.packets = self.packets.saturating_add(u.packets as u64);
        self.wire_bytes = self.wire_bytes.saturating_add(u.wire_len as u64);
        self.proto.add(u);
    }

    /// Adds every counter of `o`.
    pub fn merge(&mut self, o: &EpochTotals) {
        self.packets = self.packets.saturating_add(o.packets);
        self.wire_bytes = self.wire_bytes.saturating_add(o.wire_bytes);
        self.proto.merge(&o.proto);
        self.late = self.late.saturating_add(o.late);
        self.future = self.future.saturating_add(o.future);
    }
}

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

/// One ranked key with its bounds: `lower <= truth <= upper`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopItem {
    /// The key as reports print it (`10.0.0.1`, `a>b`, `443`).
    pub key: String,
    /// The estimate (the upper bound, which Space-Saving never undershoots).
    pub value: u64,
    /// Never above the truth.
    pub lower: u64,
    /// Never below the truth.
    pub upper: u64,
}

/// One ranked key with both of its figures: the ranked metric's bounds and
/// the other metric's, from the same shard (a key the other ranking does
/// not hold gets `[0, that ranking's largest error]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopRow {
    /// The key as reports print it.
    pub key: String,
    /// IP-layer bytes: `lower <= truth <= upper`.
    pub bytes: (u64, u64),
    /// Packets: `lower <= truth <= upper`.
    pub packets: (u64, u64),
}

/// A closed epoch, or the merge of several (a window, a whole run).
#[derive(Debug, Clone)]
pub struct Summary {
    /// Start of the first epoch covered, ns.
    pub start_ns: u64,
    /// End of the last epoch covered, ns (exclusive).
    pub end_ns: u64,
    /// Exact counters.
    pub totals: EpochTotals,
    /// A window that covers less of the stream than its length: the first
    /// windows of a stream (starting before its first epoch) and the last
    /// one at the end of input or on shutdown (ending after its last).
    /// Always false for epochs and the run total.
    pub partial: bool,
    /// One entry per key shard, or none at all for a summary of empty
    /// epochs: it allocates nothing and merges as the identity.
    pub(crate) shards: Vec<ShardSketches>,
}

/// Packets from which merging a summary into another is split over two
/// threads.
const PARALLEL_MERGE_PACKETS: u64 = 5_000;

fn ip_text(k: u128) -> String {
    Ip(k).to_string()
}

/// The `k` best of the shards' candidates, by upper bound, then lower
/// bound (both descending), then key text: the order reports print. Only
/// the candidates that can reach the first `k` (those ahead of the k-th by
/// bounds, and its ties) are named: formatting every shard's candidates
/// cost more than ranking them.
fn best_named<K>(
    mut c: Vec<HeavyHitter<K>>,
    k: usize,
    name: impl Fn(&K) -> String,
) -> Vec<TopItem> {
    c.sort_unstable_by(|a, b| b.upper.cmp(&a.upper).then(b.lower.cmp(&a.lower)));
    if k == 0 {
        c.clear();
    } else if c.len() > k {
        let cut = (c[k - 1].upper, c[k - 1].lower);
        let end = c
            .iter()
            .position(|h| (h.upper, h.lower) < cut)
            .unwrap_or(c.len());
        c.truncate(end);
    }
    let mut all: Vec<TopItem> = c
        .into_iter()
        .map(|h| TopItem {
            key: name(&h.key),
            value: h.upper,
            lower: h.lower,
            upper: h.upper,
        })
        .collect();
    all.sort_by(|a, b| {
        b.upper
            .cmp(&a.upper)
            .then(b.lower.cmp(&a.lower))
            .then(a.key.cmp(&b.key))
    });
    all.truncate(k);
    all
}

impl Summary {
    /// A summary with every sketch allocated and empty (what a run with
    /// no traffic reports, so exports have sketches to write).
    pub(crate) fn empty(start_ns: u64, end_ns: u64, budget: &Budget) -> Summary {
        Summary {
            shards: (0..SHARDS).map(|_| ShardSketches::new(budget)).collect(),
            ..Summary::nothing(start_ns, end_ns)
        }
    }

    /// An epoch without updates: no sketch allocated, every query answers
    /// zero or nothing, and merging it changes only the time span. This is
    /// what keeps a long quiet stretch (a gap of days in a replay, an idle
    /// link) cheap while every epoch and window of it is still emitted.
    pub(crate) fn nothing(start_ns: u64, end_ns: u64) -> Summary {
        Summary {
            start_ns,
            end_ns,
            totals: EpochTotals::default(),
            partial: false,
            shards: Vec::new(),
        }
    }

    /// Merges a later (or earlier) epoch or window into this one.
    pub fn merge(&mut self, o: &Summary) {
        self.merge_with(o, ShardSketches::merge);
    }

    /// As [`Summary::merge`], but for the four address rankings, which a
    /// run total takes from the flushes instead ([`ShardSketches::merge_rest`]).
    pub(crate) fn merge_rest(&mut self, o: &Summary) {
        self.merge_with(o, ShardSketches::merge_rest);
    }

    fn merge_with(&mut self, o: &Summary, merge: fn(&mut ShardSketches, &ShardSketches)) {
        self.start_ns = self.start_ns.min(o.start_ns);
        self.end_ns = self.end_ns.max(o.end_ns);
        self.totals.merge(&o.totals);
        if self.shards.is_empty() {
            self.shards.clone_from(&o.shards);
            return;
        }
        // A busy epoch's merge (dense Count-Min rows and HLL registers in
        // every shard, about a millisecond) is split over two threads: the
        // merging thread is the pipeline's one serial stage, and the
        // workers' cores have room. A quiet epoch's is not worth a thread.
        if o.totals.packets >= PARALLEL_MERGE_PACKETS && self.shards.len() == o.shards.len() {
            let half = self.shards.len() / 2;
            let (a1, a2) = self.shards.split_at_mut(half);
            let (b1, b2) = o.shards.split_at(half);
            std::thread::scope(|sc| {
                sc.spawn(|| {
                    for (a, b) in a2.iter_mut().zip(b2) {
                        merge(a, b);
                    }
                });
                for (a, b) in a1.iter_mut().zip(b1) {
                    merge(a, b);
                }
            });
            return;
        }
        for (a, b) in self.shards.iter_mut().zip(&o.shards) {
            merge(a, b);
        }
    }

    /// The `k` heaviest keys of a dimension, with bounds. Shards hold
    /// disjoint keys, so each key's bounds come from one shard unchanged.
    pub fn top(&self, dim: Dimension, metric: Metric, k: usize) -> Vec<TopItem> {
        let b = metric == Metric::Bytes;
        let shards = &self.shards;
        match dim {
            Dimension::Src => best_named(
                shards
                    .iter()
                    .flat_map(|s| {
                        if b {
                            &s[Rank::SrcBytes]
                        } else {
                            &s[Rank::SrcPackets]
                        }
                        .top(k)
                    })
                    .collect(),
                k,
                |k| ip_text(*k),
            ),
            Dimension::Dst => best_named(
                shards
                    .iter()
                    .flat_map(|s| {
                        if b {
                            &s[Rank::DstBytes]
                        } else {
                            &s[Rank::DstPackets]
                        }
                        .top(k)
                    })
                    .collect(),
                k,
                |k| ip_text(*k),
            ),
            Dimension::Pair => best_named(
                shards
                    .iter()
                    .flat_map(|s| {
                        if b {
                            &s[PairRank::Bytes]
                        } else {
                            &s[PairRank::Packets]
                        }
                        .top(k)
                    })
                    .collect(),
                k,
                |(a, d)| format!("{}>{}", ip_text(*a), ip_text(*d)),
            ),
            Dimension::Dport => best_named(
                shards
                    .iter()
                    .flat_map(|s| {
                        if b {
                            &s[PortRank::DportBytes]
                        } else {
                            &s[PortRank::DportPackets]
                        }
                        .top(k)
                    })
                    .collect(),
                k,
                u64::to_string,
            ),
            Dimension::Sport => best_named(
                shards
                    .iter()
                    .flat_map(|s| {
                        if b {
                            &s[PortRank::SportBytes]
                        } else {
                            &s[PortRank::SportPackets]
                        }
                        .top(k)
                    })
                    .collect(),
                k,
                u64::to_string,
            ),
        }
    }

    /// [`Summary::top`] with each key's other metric beside it: what a
    /// text report prints per row (packets, bytes, bytes per packet).
    pub fn top_rows(&self, dim: Dimension, metric: Metric, k: usize) -> Vec<TopRow> {
        fn rows<K: sketches::hash::SketchKey>(
            ranked: &SpaceSaving<K>,
            other: &SpaceSaving<K>,
            bytes_ranked: bool,
            k: usize,
            name: impl Fn(&K) -> String,
        ) -> Vec<TopRow> {
            ranked
                .top(k)
                .into_iter()
                .map(|h| {
                    let o = other.bounds(&h.key);
                    let (r, o) = ((h.lower, h.upper), (o.lower, o.upper));
                    let (bytes, packets) = if bytes_ranked { (r, o) } else { (o, r) };
                    TopRow {
                        key: name(&h.key),
                        bytes,
                        packets,
                    }
                })
                .collect()
        }
        let b = metric == Metric::Bytes;
        let mut all: Vec<TopRow> = Vec::new();
        for s in &self.shards {
            let pick = |x, y| if b { (x, y) } else { (y, x) };
            match dim {
                Dimension::Src => {
                    let (r, o) = pick(&s[Rank::SrcBytes], &s[Rank::SrcPackets]);
                    all.extend(rows(r, o, b, k, |k| ip_text(*k)));
                }
                Dimension::Dst => {
                    let (r, o) = pick(&s[Rank::DstBytes], &s[Rank::DstPackets]);
                    all.extend(rows(r, o, b, k, |k| ip_text(*k)));
                }
                Dimension::Pair => {
                    let (r, o) = if b {
                        (&s[PairRank::Bytes], &s[PairRank::Packets])
                    } else {
                        (&s[PairRank::Packets], &s[PairRank::Bytes])
                    };
                    all.extend(rows(r, o, b, k, |(a, d)| {
                        format!("{}>{}", ip_text(*a), ip_text(*d))
                    }));
                }
                Dimension::Dport | Dimension::Sport => {
                    let (x, y) = if dim == Dimension::Dport {
                        (&s[PortRank::DportBytes], &s[PortRank::DportPackets])
                    } else {
                        (&s[PortRank::SportBytes], &s[PortRank::SportPackets])
                    };
                    let (r, o) = if b { (x, y) } else { (y, x) };
                    all.extend(rows(r, o, b, k, u64::to_string));
                }
            }
        }
        let ranked = |r: &TopRow| if b { r.bytes } else { r.packets };
        all.sort_by(|x, y| {
            let (a, c) = (ranked(x), ranked(y));
            c.1.cmp(&a.1).then(c.0.cmp(&a.0)).then(x.key.cmp(&y.key))
        });
        all.truncate(k);
        all
    }

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

    /// `None` for a summary of empty epochs.
    fn merged_hll(&self, pick: impl Fn(&ShardSketches) -> &HyperLogLog) -> Option<HyperLogLog> {
        let mut it = self.shards.iter();
        let mut h = pick(it.next()?).clone();
        for s in it {
            let _ = h.merge(pick(s));
        }
        Some(h)
    }

    fn distinct(&self, pick: impl Fn(&ShardSketches) -> &HyperLogLog) -> Estimate {
        self.merged_hll(pick)
            .map_or(Estimate::exact(0.0), |h| h.estimate())
    }

    /// Distinct source addresses. The shard sketches hold disjoint keys
    /// with the same registers, so their merge is the sketch of all keys.
    pub fn distinct_src(&self) -> Estimate {
        self.distinct(|s| &s.hll_src)
    }

    /// The summary's sketches in Apache DataSketches formats, as `(file
    /// name, bytes)`: `distinct_src.hll` and `distinct_dst.hll` (HLL,
    /// addresses keyed by their text form, mergeable with DataSketches HLLs
    /// of the same keys) and `top_{src,dst}_{bytes,packets}.fi` (frequent
    /// strings). Shards hold disjoint keys, so their heavy hitters join
    /// without a merge charge; any address not listed is bounded by the
    /// largest shard error.
    pub fn datasketches_export(&self) -> Vec<(String, Vec<u8>)> {
        self.datasketches_export_top(usize::MAX)
    }

    /// [`Summary::datasketches_export`] with at most `max_items` items per
    /// ranking (the heaviest by upper bound): a key left out is covered by
    /// the sketch's offset, which becomes at least the upper bound of the
    /// heaviest key left out, so every bound still holds. A window message
    /// stays a few KiB however many keys the rankings track.
    pub fn datasketches_export_top(&self, max_items: usize) -> Vec<(String, Vec<u8>)> {
        use sketches::datasketches::{frequent_items_bytes, hll_to_bytes, Bounded};
        let mut out = Vec::new();
        // A run total always holds sketches (`Engine::run` allocates
        // empty ones for a run without traffic); a window of empty epochs
        // has none to export.
        let hlls = [
            ("distinct_src.hll", self.merged_hll(|s| &s.hll_src)),
            ("distinct_dst.hll", self.merged_hll(|s| &s.hll_dst)),
        ];
        for (name, h) in hlls {
            let Some(h) = h else { continue };
            out.push((
                name.to_string(),
                hll_to_bytes(&h).expect("address HLLs are DataSketches-hashed"),
            ));
        }
        type Pick = fn(&ShardSketches) -> &sketches::SpaceSaving<u128>;
        let picks: [(&str, Pick); 4] = [
            ("top_src_bytes.fi", |s| &s[Rank::SrcBytes]),
            ("top_src_packets.fi", |s| &s[Rank::SrcPackets]),
            ("top_dst_bytes.fi", |s| &s[Rank::DstBytes]),
            ("top_dst_packets.fi", |s| &s[Rank::DstPackets]),
        ];
        for (name, pick) in picks {
            let mut items: Vec<Bounded> = Vec::new();
            let (mut total, mut absent, mut capacity) = (0u64, 0u64, 0usize);
            for s in &self.shards {
                let ss = pick(s);
                items.extend(
                    ss.top(ss.len())
                        .into_iter()
                        .map(|h| (ip_text(h.key), h.lower, h.upper)),
                );
                total += ss.total();
                absent = absent.max(ss.max_error());
                capacity += ss.capacity();
            }
            if items.len() > max_items {
                items.sort_unstable_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
                absent = absent.max(items[max_items].2);
                items.truncate(max_items);
            }
            out.push((
                name.to_string(),
                frequent_items_bytes(&items, total, absent, capacity),
            ));
        }
        out
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

    /// `(lower, upper)` bounds of one address's (or prefix's) counter.
    pub fn counter_bounds(&self, c: Counter, key: Ip) -> (u64, u64) {
        use sketches::hash::{hash_u128, DEFAULT_SEED};
        let h = match c {
            Counter::PrefixTo => hash_u128(key.0, DEFAULT_SEED ^ 0x24),
            _ => hash_u128(key.0, DEFAULT_SEED),
        };
        let Some(s) = self.shards.get(shard_of(h)) else {
            return (0, 0);
        };
        let b = Self::counter_sketch(s, c).bounds(&key.0);
        (b.lower, b.upper)
    }

    /// The `k` largest keys of a counter as `(key, lower, upper)`.
    pub fn counter_top(&self, c: Counter, k: usize) -> Vec<(Ip, u64, u64)> {
        let mut all: Vec<(Ip, u64, u64)> = self
            .shards
            .iter()
            .flat_map(|s| Self::counter_sketch(s, c).top(k))
            .map(|h| (Ip(h.key), h.lower, h.upper))
            .collect();
        all.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then(a.0 .0.cmp(&b.0 .0)));
        all.truncate(k);
        all
    }

    /// The heaviest sources sending to `dst`, by packets, from the pair
    /// heavy hitters (so only pairs heavy enough to be monitored appear).
    pub fn top_sources_to(&self, dst: Ip, k: usize) -> Vec<TopItem> {
        best_named(
            self.shards
                .iter()
                .flat_map(|s| s[PairRank::Packets].iter())
                .filter(|h| h.key.1 == dst.0)
                .collect(),
            k,
            |key| ip_text(key.0),
        )
    }

    /// Distinct destination addresses.
    pub fn distinct_dst(&self) -> Estimate {
        self.distinct(|s| &s.hll_dst)
    }

    /// Distinct flows (directional 5-tuples).
    pub fn distinct_flows(&self) -> Estimate {
        self.distinct(|s| &s.hll_flows)
    }

    /// Distinct sources seen by a destination, when it is among the busiest
    /// (by packets) of its shard. A destination that became busy late
    /// reports only the sources seen since: a lower bound.
    pub fn distinct_sources_of(&self, dst: Ip) -> Option<Estimate> {
        self.dst_distinct(dst).map(|d| d.sources.estimate())
    }

    /// Distinct flows (5-tuples) to a destination, when it is among the
    /// busiest of its shard (as [`Summary::distinct_sources_of`]).
    pub fn distinct_flows_to(&self, dst: Ip) -> Option<Estimate> {
        self.dst_distinct(dst).map(|d| d.flows.estimate())
    }

    fn dst_distinct(&self, dst: Ip) -> Option<&DstDistinct> {
        let h = sketches::hash::hash_u128(dst.0, sketches::hash::DEFAULT_SEED);
        self.shards.get(shard_of(h))?.dst_sources.get(&dst.0)
    }

    /// Destinations with tracked distinct-source counts, busiest first.
    pub fn distinct_sources_top(&self, k: usize) -> Vec<(Ip, Estimate)> {
        let mut v: Vec<(Ip, u64, Estimate)> = self
            .shards
            .iter()
            .flat_map(|s| {
                s.dst_sources.iter().map(|(d, h)| {
                    (
                        Ip(*d),
                        s.dst_sources_hh.bounds(d).upper,
                        h.sources.estimate(),
                    )
                })
            })
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.into_iter().take(k).map(|(d, _, e)| (d, e)).collect()
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
