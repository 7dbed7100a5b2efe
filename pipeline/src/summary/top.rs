//! Rankings: the heaviest keys of a dimension with their bounds, and the
//! order reports print them in.

use std::ops::Index;

use capture::Ip;
use sketches::hash::SketchKey;
use sketches::{HeavyHitter, SpaceSaving};

use super::Summary;
use crate::keys::{Dimension, Metric};
use crate::shard::{widen, PairRank, PortRank, Rank, ShardSketches};

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

/// An address as reports print it.
pub(super) fn ip_text(k: u128) -> String {
    sketches::datasketches::ip_string(Ip(k).to_ip_addr())
}

/// The `k` best of the shards' candidates, by upper bound, then lower
/// bound (both descending), then key text: the order reports print. Only
/// the candidates that can reach the first `k` (those ahead of the k-th by
/// bounds, and its ties) are named: formatting every shard's candidates
/// cost more than ranking them.
pub(super) fn best_named<K>(
    mut c: Vec<(HeavyHitter<K>, u64)>,
    k: usize,
    name: impl Fn(&K) -> String,
) -> Vec<TopItem> {
    let by_bounds = |h: &HeavyHitter<K>| (h.upper, h.lower);
    if k == 0 {
        c.clear();
    } else if c.len() > k {
        // The k-th by bounds, selected (not the whole list sorted: a
        // window has 64 shards' candidates for each of ten rankings).
        c.select_nth_unstable_by_key(k - 1, |b| std::cmp::Reverse(by_bounds(&b.0)));
        let cut = by_bounds(&c[k - 1].0);
        c.retain(|h| by_bounds(&h.0) >= cut);
    }
    let mut all: Vec<TopItem> = c
        .into_iter()
        .map(|(h, value)| TopItem {
            key: name(&h.key),
            value,
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

/// A ranking's candidate as it stands: its bounds, and its estimate.
pub(super) fn unsampled<K>(h: HeavyHitter<K>) -> (HeavyHitter<K>, u64) {
    let value = h.upper;
    (h, value)
}

/// `bytes` when the bytes ranking is asked for, else `packets`.
fn by<R>(metric: Metric, bytes: R, packets: R) -> R {
    if metric == Metric::Bytes {
        bytes
    } else {
        packets
    }
}

/// The ranked metric's ranking first, the other metric's second.
fn ranked_first<R: Copy>(metric: Metric, bytes: R, packets: R) -> (R, R) {
    by(metric, (bytes, packets), (packets, bytes))
}

/// How far the overload mode widens a ranking's bounds in shard `s`: the
/// largest weighed-up increment of its metric, for the sampled rankings
/// (sources, pairs, ports; [`crate::shard::Sampler`]); 0 for the rest.
fn spread(s: &ShardSketches, sampled: bool, metric: Metric) -> u64 {
    match (sampled, metric) {
        (false, _) => 0,
        (true, Metric::Bytes) => s.sampled.bytes,
        (true, Metric::Packets) => s.sampled.packets,
    }
}

/// `h` with its bounds widened by `m` ([`widen`]), and its estimate (the
/// sampled stream's upper bound: Space-Saving's estimate of it).
fn widened<K>(mut h: HeavyHitter<K>, m: u64) -> (HeavyHitter<K>, u64) {
    let estimate = h.upper;
    (h.lower, h.upper) = widen(h.lower, h.upper, m);
    (h, estimate)
}

/// Every shard's first `k` of ranking `r`: the candidates of a top `k`,
/// their bounds widened where the ranking was sampled.
fn candidates<R: Copy, K>(
    shards: &[ShardSketches],
    r: R,
    (sampled, metric): (bool, Metric),
    k: usize,
) -> Vec<(HeavyHitter<K>, u64)>
where
    K: SketchKey,
    ShardSketches: Index<R, Output = SpaceSaving<K>>,
{
    shards
        .iter()
        .flat_map(|s| {
            let m = spread(s, sampled, metric);
            s[r].top(k).into_iter().map(move |h| widened(h, m))
        })
        .collect()
}

/// Each shard's first `k` of ranking `r`, with the key's bounds in
/// ranking `o` (the other metric, same shard) beside them.
fn rows<R: Copy, K>(
    shards: &[ShardSketches],
    (r, o): (R, R),
    (bytes_ranked, sampled): (bool, bool),
    k: usize,
    name: impl Fn(&K) -> String,
) -> Vec<TopRow>
where
    K: SketchKey,
    ShardSketches: Index<R, Output = SpaceSaving<K>>,
{
    let mut all = Vec::new();
    for s in shards {
        let (mb, mp) = (
            spread(s, sampled, Metric::Bytes),
            spread(s, sampled, Metric::Packets),
        );
        let (mr, mo) = if bytes_ranked { (mb, mp) } else { (mp, mb) };
        all.extend(s[r].top(k).into_iter().map(|h| {
            let b = s[o].bounds(&h.key);
            let (r, o) = (widen(h.lower, h.upper, mr), widen(b.lower, b.upper, mo));
            let (bytes, packets) = if bytes_ranked { (r, o) } else { (o, r) };
            TopRow {
                key: name(&h.key),
                bytes,
                packets,
            }
        }));
    }
    all
}

fn pair_text(&(src, dst): &(u128, u128)) -> String {
    format!("{}>{}", ip_text(src), ip_text(dst))
}

impl Summary {
    /// The `k` heaviest keys of a dimension, with bounds. Shards hold
    /// disjoint keys, so each key's bounds come from one shard unchanged.
    pub fn top(&self, dim: Dimension, metric: Metric, k: usize) -> Vec<TopItem> {
        let s = &self.shards;
        let m = metric;
        match dim {
            Dimension::Src => best_named(
                candidates(s, by(m, Rank::SrcBytes, Rank::SrcPackets), (true, m), k),
                k,
                |k| ip_text(*k),
            ),
            Dimension::Dst => best_named(
                candidates(s, by(m, Rank::DstBytes, Rank::DstPackets), (false, m), k),
                k,
                |k| ip_text(*k),
            ),
            Dimension::Pair => best_named(
                candidates(s, by(m, PairRank::Bytes, PairRank::Packets), (true, m), k),
                k,
                pair_text,
            ),
            Dimension::Dport => best_named(
                candidates(
                    s,
                    by(m, PortRank::DportBytes, PortRank::DportPackets),
                    (true, m),
                    k,
                ),
                k,
                u64::to_string,
            ),
            Dimension::Sport => best_named(
                candidates(
                    s,
                    by(m, PortRank::SportBytes, PortRank::SportPackets),
                    (true, m),
                    k,
                ),
                k,
                u64::to_string,
            ),
        }
    }

    /// [`Summary::top`] with each key's other metric beside it: what a
    /// text report prints per row (packets, bytes, bytes per packet).
    pub fn top_rows(&self, dim: Dimension, metric: Metric, k: usize) -> Vec<TopRow> {
        let b = metric == Metric::Bytes;
        let s = &self.shards;
        let mut all = match dim {
            Dimension::Src => rows(
                s,
                ranked_first(metric, Rank::SrcBytes, Rank::SrcPackets),
                (b, true),
                k,
                |k| ip_text(*k),
            ),
            Dimension::Dst => rows(
                s,
                ranked_first(metric, Rank::DstBytes, Rank::DstPackets),
                (b, false),
                k,
                |k| ip_text(*k),
            ),
            Dimension::Pair => rows(
                s,
                ranked_first(metric, PairRank::Bytes, PairRank::Packets),
                (b, true),
                k,
                pair_text,
            ),
            Dimension::Dport => rows(
                s,
                ranked_first(metric, PortRank::DportBytes, PortRank::DportPackets),
                (b, true),
                k,
                u64::to_string,
            ),
            Dimension::Sport => rows(
                s,
                ranked_first(metric, PortRank::SportBytes, PortRank::SportPackets),
                (b, true),
                k,
                u64::to_string,
            ),
        };
        let ranked = |r: &TopRow| if b { r.bytes } else { r.packets };
        all.sort_by(|x, y| {
            let (a, c) = (ranked(x), ranked(y));
            c.1.cmp(&a.1).then(c.0.cmp(&a.0)).then(x.key.cmp(&y.key))
        });
        all.truncate(k);
        all
    }

    /// The heaviest sources sending to `dst`, by packets, from the pair
    /// heavy hitters (so only pairs heavy enough to be monitored appear).
    pub fn top_sources_to(&self, dst: Ip, k: usize) -> Vec<TopItem> {
        best_named(
            self.shards
                .iter()
                .flat_map(|s| {
                    let m = spread(s, true, Metric::Packets);
                    s[PairRank::Packets].iter().map(move |h| widened(h, m))
                })
                .filter(|(h, _)| h.key.1 == dst.0)
                .collect(),
            k,
            |key| ip_text(key.0),
        )
    }
}
