//! The run total's address rankings, summed exactly while they fit: a
//! worker adds every flush's source and destination sums to maps per
//! owned shard (one probe per key and metric, no heap), and only at the end
//! of the run are they loaded into the total's rankings. Where a shard's
//! addresses outgrow its rankings, each map is a frequent-items summary
//! (Misra-Gries with a batched purge: past 1.5 times the capacity, every
//! count drops by the `capacity + 1`-th largest and those at zero go, the
//! drop added to an offset), so a spoofed flood costs a probe per source
//! instead of a
//! Space-Saving eviction; the rankings then carry the offset as each key's
//! error and as the bound of keys not held.

use sketches::hash::DEFAULT_SEED;
use sketches::SpaceSaving;

use crate::engine::{AggMap, Flush};
use crate::keys::shard_of;

use super::owned::OwnedShards;
use super::rank::Rank;

/// One metric of one address family in one shard: counts that never
/// exceed the truth and miss it by at most `offset`.
#[derive(Debug)]
struct Frequent {
    counts: AggMap<u128, u64>,
    /// What purges took from every key: a held key's truth is at most its
    /// count plus this, a key not held weighed at most this.
    offset: u64,
    /// Weight added.
    total: u64,
    scratch: Vec<u64>,
}

impl Frequent {
    fn new() -> Frequent {
        Frequent {
            counts: AggMap::new(),
            offset: 0,
            total: 0,
            scratch: Vec::new(),
        }
    }

    /// Adds `w` to `key`; past 1.5 times `capacity` keys, purges down to
    /// `capacity` (each purge takes at least its drop from `capacity + 1`
    /// keys, so the offset stays under `total / (capacity + 1)`, the bound
    /// of a Space-Saving summary of as many counters; the maps then take
    /// at most what the rankings would: an entry is about 40 bytes, a
    /// ranking's counter 64).
    #[inline]
    fn add(&mut self, key: u128, hash: u64, w: u64, capacity: usize) {
        self.total = self.total.saturating_add(w);
        let c = self.counts.entry(key, hash);
        *c = c.saturating_add(w);
        if self.counts.items.len() > capacity + capacity / 2 {
            self.purge_to(capacity);
        }
    }

    /// Drops every count by the `(keep + 1)`-th largest, so at most `keep`
    /// keys stay (those above it).
    fn purge_to(&mut self, keep: usize) {
        if self.counts.items.len() <= keep {
            return;
        }
        self.scratch.clear();
        self.scratch.extend(self.counts.items.iter().map(|i| i.2));
        let (_, d, _) = self.scratch.select_nth_unstable_by(keep, |a, b| b.cmp(a));
        let d = *d;
        self.counts.retain(|c| {
            *c = c.saturating_sub(d);
            *c > 0
        });
        self.offset = self.offset.saturating_add(d);
    }

    /// The rankings of `capacity` counters these counts make.
    fn into_ranking(mut self, capacity: usize) -> SpaceSaving<u128> {
        self.purge_to(capacity);
        let o = self.offset;
        let items: Vec<(u128, u64, u64)> = self
            .counts
            .items
            .iter()
            .map(|&(k, _, c)| (k, c.saturating_add(o), o))
            .collect();
        SpaceSaving::with_items(capacity, DEFAULT_SEED, &items, self.total, o)
            .expect("at most capacity distinct keys, errors within counts")
    }
}

/// One shard's maps: source bytes and packets, destination bytes and
/// packets, in the order of `RANKS`.
type Maps = [Frequent; 4];

/// The total's rankings the maps become.
const RANKS: [Rank; 4] = [
    Rank::SrcBytes,
    Rank::SrcPackets,
    Rank::DstBytes,
    Rank::DstPackets,
];

/// The exact (or frequent-items) per-address sums of a worker's owned
/// shards.
#[derive(Debug)]
pub struct ExactAddresses {
    /// Per shard, the worker's own only.
    maps: Vec<Option<Box<Maps>>>,
    /// Keys a ranking of the total holds per shard.
    capacity: usize,
    owner: usize,
    workers: usize,
}

impl ExactAddresses {
    /// Empty sums for the shards of `total`, whose rankings hold
    /// `capacity` addresses each.
    pub fn new(total: &OwnedShards, capacity: usize) -> ExactAddresses {
        ExactAddresses {
            maps: total
                .shards
                .iter()
                .map(|s| {
                    s.as_ref()
                        .map(|_| Box::new(std::array::from_fn(|_| Frequent::new())))
                })
                .collect(),
            capacity,
            owner: total.owner(),
            workers: total.workers(),
        }
    }

    /// Adds a flush's address sums of the owned shards.
    pub fn add(&mut self, f: &Flush) {
        let limit = self.capacity;
        for &(addr, h, v) in &f.src.items {
            if let Some(m) = self.owned(h) {
                m[0].add(addr, h, v.bytes, limit);
                m[1].add(addr, h, v.packets, limit);
            }
        }
        for &(addr, h, v) in &f.dst.items {
            if let Some(m) = self.owned(h) {
                m[2].add(addr, h, v.bytes, limit);
                m[3].add(addr, h, v.packets, limit);
            }
        }
    }

    #[inline]
    fn owned(&mut self, h: u64) -> Option<&mut Maps> {
        let s = shard_of(h);
        if s % self.workers != self.owner {
            return None;
        }
        self.maps[s].as_deref_mut()
    }

    /// Loads the sums into `total`'s rankings, shard by shard (each
    /// shard's maps freed as they are loaded): exact counts where a shard's
    /// addresses fit, frequent-items bounds where they did not.
    pub fn finish(self, total: &mut OwnedShards) {
        for (s, maps) in self.maps.into_iter().enumerate() {
            let (Some(maps), Some(sk)) = (maps, total.shards[s].as_mut()) else {
                continue;
            };
            for (m, r) in (*maps).into_iter().zip(RANKS) {
                sk[r] = m.into_ranking(self.capacity);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SHARDS;
    use crate::shard::Budget;
    use sketches::hash::hash_u128;

    /// Flushes of sources `0..keys` (a key's bytes are `10 * key + 1` per
    /// flush it appears in), each flush holding a different stretch.
    fn flushes(keys: u128) -> Vec<Flush> {
        (0..6u128)
            .map(|i| {
                let mut f = Flush::new();
                for k in (i * keys / 8)..((i + 3) * keys / 8).min(keys) {
                    let s = f.src.entry(k, hash_u128(k, DEFAULT_SEED));
                    s.bytes += 10 * k as u64 + 1;
                    s.packets += 1;
                }
                f
            })
            .collect()
    }

    /// The truth of key `k` in `f`: bytes, packets.
    fn truth(f: &[Flush], k: u128) -> (u64, u64) {
        let n = f
            .iter()
            .filter(|f| f.src.items.iter().any(|x| x.0 == k))
            .count() as u64;
        (n * (10 * k as u64 + 1), n)
    }

    /// The total's shards after `flushes`, run by `workers` workers.
    fn run(b: &Budget, flushes: &[Flush], workers: usize) -> Vec<ShardSketchesBytes> {
        let mut shards: Vec<Option<ShardSketchesBytes>> = vec![None; SHARDS];
        for owner in 0..workers {
            let mut total = OwnedShards::new_total(b, owner, workers);
            let mut exact = ExactAddresses::new(&total, b.total_hh_capacity);
            for f in flushes {
                exact.add(f);
            }
            exact.finish(&mut total);
            for (s, sk) in total.into_owned() {
                shards[s] = Some(
                    RANKS
                        .iter()
                        .map(|&r| sk[r].to_bytes())
                        .collect::<Vec<_>>()
                        .concat(),
                );
            }
        }
        shards.into_iter().map(Option::unwrap).collect()
    }

    type ShardSketchesBytes = Vec<u8>;

    #[test]
    fn the_totals_addresses_are_exact_while_they_fit_and_bounded_after() {
        let b = Budget::for_epoch(1 << 20);
        let cap = b.total_hh_capacity;
        for (keys, exact) in [
            ((cap * SHARDS / 2) as u128, true),
            ((cap * SHARDS * 6) as u128, false),
        ] {
            let f = flushes(keys);
            assert_eq!(run(&b, &f, 1), run(&b, &f, 3), "any worker count");
            let mut total = OwnedShards::new_total(&b, 0, 1);
            let mut e = ExactAddresses::new(&total, cap);
            for x in &f {
                e.add(x);
            }
            let purged = e.maps.iter().flatten().any(|m| m[0].offset > 0);
            assert_eq!(purged, !exact, "{keys} keys over {cap} counters a shard");
            e.finish(&mut total);
            for k in (0..keys).step_by(if exact { 1 } else { 41 }) {
                let sk = total.shards[shard_of(hash_u128(k, DEFAULT_SEED))]
                    .as_ref()
                    .unwrap();
                let (tb, tp) = truth(&f, k);
                let (hb, hp) = (
                    sk[Rank::SrcBytes].bounds(&k),
                    sk[Rank::SrcPackets].bounds(&k),
                );
                if exact {
                    assert_eq!((hb.lower, hb.upper, hp.lower, hp.upper), (tb, tb, tp, tp));
                } else {
                    assert!(hb.lower <= tb && tb <= hb.upper, "key {k} bytes");
                    assert!(hp.lower <= tp && tp <= hp.upper, "key {k} packets");
                }
            }
            for sk in total.shards.iter().flatten() {
                let r = &sk[Rank::SrcBytes];
                assert!(r.len() <= cap);
                // Within Space-Saving's bound for as many counters.
                assert!(r.max_error() <= r.total() / cap as u64);
            }
        }
    }
}
