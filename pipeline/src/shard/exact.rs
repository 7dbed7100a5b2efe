//! The run total's address rankings, summed exactly while they fit: a
//! worker adds every flush's source and destination sums to a map per
//! owned shard and family (one probe per key, no heap), and only at the end
//! of the run are they loaded into the total's rankings. Where a shard's
//! addresses outgrow its rankings, the map splits into a frequent-items
//! summary per metric (Misra-Gries with a batched purge: past 1.5 times the
//! capacity, every count drops by the `capacity + 1`-th largest and those
//! at zero go, the drop added to an offset), so a spoofed flood costs a
//! probe per source instead of a Space-Saving eviction; the rankings then
//! carry the offset as each key's error and as the bound of keys not held.

use sketches::hash::DEFAULT_SEED;
use sketches::SpaceSaving;

use crate::engine::{AggMap, FlushPart};
use crate::keys::shard_of;

use super::batches::WeighedSum;
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
        if over(self.counts.items.len(), capacity) {
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

/// Whether a map of `len` keys is past 1.5 times `capacity`: where an
/// exact map splits and a frequent-items map purges.
fn over(len: usize, capacity: usize) -> bool {
    len > capacity + capacity / 2
}

/// Bytes and packets of one address.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    bytes: u64,
    packets: u64,
}

/// One address family of one shard: both metrics in one map (one probe a
/// key) while the addresses are few enough to be exact; past 1.5 times the
/// capacity, a frequent-items map per metric.
#[derive(Debug)]
enum Family {
    Exact(AggMap<u128, Run>, Run),
    Frequent(Box<[Frequent; 2]>),
}

impl Family {
    #[inline]
    fn add(&mut self, key: u128, hash: u64, w: Run, capacity: usize) {
        match self {
            Family::Exact(m, total) => {
                total.bytes = total.bytes.saturating_add(w.bytes);
                total.packets = total.packets.saturating_add(w.packets);
                let r = m.entry(key, hash);
                r.bytes = r.bytes.saturating_add(w.bytes);
                r.packets = r.packets.saturating_add(w.packets);
                if over(m.items.len(), capacity) {
                    self.split();
                }
            }
            Family::Frequent(f) => {
                f[0].add(key, hash, w.bytes, capacity);
                f[1].add(key, hash, w.packets, capacity);
            }
        }
    }

    /// From one exact map to a frequent-items map per metric.
    #[cold]
    fn split(&mut self) {
        let Family::Exact(m, total) = self else {
            return;
        };
        let mut f = [Frequent::new(), Frequent::new()];
        f[0].total = total.bytes;
        f[1].total = total.packets;
        for &(k, h, r) in &m.items {
            *f[0].counts.entry(k, h) = r.bytes;
            *f[1].counts.entry(k, h) = r.packets;
        }
        *self = Family::Frequent(Box::new(f));
    }

    /// The bytes and packets rankings of `capacity` counters (exact sums
    /// become frequent-items maps with no offset: errors 0, nothing purged
    /// unless over `capacity`).
    fn into_rankings(mut self, capacity: usize) -> [SpaceSaving<u128>; 2] {
        self.split();
        let Family::Frequent(f) = self else {
            unreachable!("just split")
        };
        let [b, p] = *f;
        [b.into_ranking(capacity), p.into_ranking(capacity)]
    }
}

/// One shard's families: sources, destinations.
type Maps = [Family; 2];

/// The total's rankings the families become: bytes, packets of each.
const RANKS: [[Rank; 2]; 2] = [
    [Rank::SrcBytes, Rank::SrcPackets],
    [Rank::DstBytes, Rank::DstPackets],
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
        let family = || Family::Exact(AggMap::new(), Run::default());
        ExactAddresses {
            maps: total
                .shards
                .iter()
                .map(|s| s.as_ref().map(|_| Box::new([family(), family()])))
                .collect(),
            capacity,
            owner: total.owner(),
            workers: total.workers(),
        }
    }

    /// Adds the address sums of the owner's part of a flush.
    /// `sampled`: the overload mode's source sums, for the flush's own.
    pub fn add(&mut self, f: &FlushPart, sampled: Option<&[WeighedSum<u128>]>) {
        match sampled {
            Some(src) => self.add_family(0, src, |v| *v),
            None => self.add_family(0, &f.src.items, |v| (v.bytes, v.packets)),
        }
        self.add_family(1, &f.dst.items, |v| (v.bytes, v.packets));
    }

    /// Adds one family's items (`sums` gives bytes and packets).
    fn add_family<V>(
        &mut self,
        family: usize,
        items: &[(u128, u64, V)],
        sums: impl Fn(&V) -> (u64, u64),
    ) {
        let cap = self.capacity;
        for (addr, h, v) in items {
            if let Some(m) = self.owned(*h) {
                let (bytes, packets) = sums(v);
                m[family].add(*addr, *h, Run { bytes, packets }, cap);
            }
        }
    }

    /// The maps of the shard of `h`: owned, since a flush part holds only
    /// its owner's keys.
    #[inline]
    fn owned(&mut self, h: u64) -> Option<&mut Maps> {
        let s = shard_of(h);
        debug_assert_eq!(s % self.workers, self.owner, "a key routed to its owner");
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
            for (family, ranks) in (*maps).into_iter().zip(RANKS) {
                let [b, p] = family.into_rankings(self.capacity);
                sk[ranks[0]] = b;
                sk[ranks[1]] = p;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Flush;
    use crate::keys::SHARDS;
    use crate::shard::Budget;
    use sketches::hash::hash_u128;

    /// Flushes of sources `0..keys` (a key's bytes are `10 * key + 1` per
    /// flush it appears in), each flush holding a different stretch, in
    /// one part per worker.
    fn flushes(keys: u128, workers: usize) -> Vec<Flush> {
        (0..6u128)
            .map(|i| {
                let mut f = Flush::new(workers);
                for k in (i * keys / 8)..((i + 3) * keys / 8).min(keys) {
                    let h = hash_u128(k, DEFAULT_SEED);
                    let p = f.part_of(h);
                    let s = f.parts[p].src.entry(k, h);
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
            .filter(|f| f.parts.iter().any(|p| p.src.items.iter().any(|x| x.0 == k)))
            .count() as u64;
        (n * (10 * k as u64 + 1), n)
    }

    /// The total's shards after the flushes of `keys` sources, run by
    /// `workers` workers.
    fn run(b: &Budget, keys: u128, workers: usize) -> Vec<ShardSketchesBytes> {
        let mut shards: Vec<Option<ShardSketchesBytes>> = vec![None; SHARDS];
        let flushes = flushes(keys, workers);
        for owner in 0..workers {
            let mut total = OwnedShards::new_total(b, owner, workers);
            let mut exact = ExactAddresses::new(&total, b.total_hh_capacity);
            for f in &flushes {
                exact.add(&f.parts[owner], None);
            }
            exact.finish(&mut total);
            for (s, sk) in total.into_owned() {
                shards[s] = Some(
                    RANKS
                        .iter()
                        .flatten()
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
            let f = flushes(keys, 1);
            assert_eq!(run(&b, keys, 1), run(&b, keys, 3), "any worker count");
            let mut total = OwnedShards::new_total(&b, 0, 1);
            let mut e = ExactAddresses::new(&total, cap);
            for x in &f {
                e.add(&x.parts[0], None);
            }
            let purged = e.maps.iter().flatten().any(|m| match &m[0] {
                Family::Frequent(f) => f[0].offset > 0,
                Family::Exact(..) => false,
            });
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
