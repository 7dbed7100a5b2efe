//! Rankings: the heaviest keys of a dimension with their bounds, and the
//! order reports print them in.

use capture::Ip;
use sketches::{HeavyHitter, SpaceSaving};

use super::Summary;
use crate::keys::{Dimension, Metric};
use crate::shard::{PairRank, PortRank, Rank};

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
    Ip(k).to_string()
}

/// The `k` best of the shards' candidates, by upper bound, then lower
/// bound (both descending), then key text: the order reports print. Only
/// the candidates that can reach the first `k` (those ahead of the k-th by
/// bounds, and its ties) are named: formatting every shard's candidates
/// cost more than ranking them.
pub(super) fn best_named<K>(
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
}
