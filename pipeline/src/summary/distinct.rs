//! Distinct counts (HyperLogLogs merged across shards), per-destination
//! distinct sources and flows, and the DataSketches export.

use capture::Ip;
use sketches::{Estimate, HyperLogLog};

use super::top::ip_text;
use super::Summary;
use crate::keys::shard_of;
use crate::shard::{DstDistinct, Rank, ShardSketches};

impl Summary {
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
}
