//! The run total's address rankings summed exactly while they fit: a
//! worker adds every flush's source and destination sums to one map per
//! owned shard (one probe per key, no heap), and only at the end of the
//! run are they loaded into the total's rankings, as exact counts. A map
//! that outgrows the rankings' capacity hands over to them for the rest of
//! the run, batched per flush as an epoch's are, with Space-Saving's bounds.

use crate::engine::{AggMap, Flush};
use crate::keys::{shard_of, SHARDS};

use super::batches::Batches;
use super::owned::OwnedShards;
use super::rank::Rank;

/// Bytes and packets of one address over the run.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    bytes: u64,
    packets: u64,
}

/// One shard's sums: sources, destinations.
type Maps = (AggMap<u128, Run>, AggMap<u128, Run>);

/// The exact per-address sums of a worker's owned shards.
#[derive(Debug)]
pub struct ExactAddresses {
    /// Per shard (the worker's own only, until it spills): sources,
    /// destinations.
    maps: Vec<Option<Maps>>,
    /// Keys a ranking of the total holds per shard.
    capacity: usize,
    owner: usize,
    workers: usize,
    /// Shards whose sums outgrew `capacity`: their rankings take over.
    /// Decided per shard, by its own keys, so the answers do not depend
    /// on how shards are spread over workers.
    spilled: Vec<usize>,
}

impl ExactAddresses {
    /// Empty sums for the shards of `total`, each holding up to
    /// `capacity` addresses per family.
    pub fn new(total: &OwnedShards, capacity: usize) -> ExactAddresses {
        ExactAddresses {
            maps: total
                .shards
                .iter()
                .map(|s| s.as_ref().map(|_| (AggMap::new(), AggMap::new())))
                .collect(),
            capacity,
            owner: total.owner(),
            workers: total.workers(),
            spilled: Vec::new(),
        }
    }

    /// Adds a flush's address sums of the owned shards: exactly, or, for
    /// shards whose sums outgrew their rankings, into `total`'s rankings
    /// (batched per shard as an epoch's are).
    pub fn add(&mut self, f: &Flush, total: &mut OwnedShards, b: &mut Batches) {
        if !self.spilled.is_empty() {
            b.split(&f.src.items, self.owner, self.workers);
            for &sh in &self.spilled {
                if let Some(sk) = total.shards[sh].as_mut() {
                    b.ranked(sh, &f.src.items, |v| v.bytes, &mut sk[Rank::SrcBytes]);
                    b.ranked(sh, &f.src.items, |v| v.packets, &mut sk[Rank::SrcPackets]);
                }
            }
            b.split(&f.dst.items, self.owner, self.workers);
            for &sh in &self.spilled {
                if let Some(sk) = total.shards[sh].as_mut() {
                    b.ranked(sh, &f.dst.items, |v| v.bytes, &mut sk[Rank::DstBytes]);
                    b.ranked(sh, &f.dst.items, |v| v.packets, &mut sk[Rank::DstPackets]);
                }
            }
        }
        let mut over = [false; SHARDS];
        self.sum(
            &f.src.items,
            |m| &mut m.0,
            |v| (v.bytes, v.packets),
            &mut over,
        );
        self.sum(
            &f.dst.items,
            |m| &mut m.1,
            |v| (v.bytes, v.packets),
            &mut over,
        );
        for sh in (0..SHARDS).filter(|&sh| over[sh]) {
            self.spill(sh, total);
        }
    }

    /// Sums one family's items of the owned, unspilled shards into the
    /// map `pick` chooses; marks the shards whose map outgrew `capacity`.
    fn sum<V>(
        &mut self,
        items: &[(u128, u64, V)],
        pick: impl Fn(&mut Maps) -> &mut AggMap<u128, Run>,
        sums: impl Fn(&V) -> (u64, u64),
        over: &mut [bool; SHARDS],
    ) {
        for (addr, h, v) in items {
            let sh = shard_of(*h);
            if sh % self.workers != self.owner {
                continue;
            }
            let Some(maps) = self.maps[sh].as_mut() else {
                continue;
            };
            let m = pick(maps);
            let (bytes, packets) = sums(v);
            let r = m.entry(*addr, *h);
            r.bytes = r.bytes.saturating_add(bytes);
            r.packets = r.packets.saturating_add(packets);
            over[sh] |= m.items.len() > self.capacity;
        }
    }

    /// Loads the exact sums into `total`'s rankings: where they fit, every
    /// count is exact (no error); a spilled shard's rankings already hold
    /// everything.
    pub fn finish(mut self, total: &mut OwnedShards) {
        for sh in 0..self.maps.len() {
            self.spill(sh, total);
        }
    }

    /// Moves shard `sh`'s sums into its rankings, frees its maps, and
    /// sends its later flushes there too.
    fn spill(&mut self, sh: usize, total: &mut OwnedShards) {
        let (Some((src, dst)), Some(sk)) = (self.maps[sh].take(), total.shards[sh].as_mut()) else {
            return;
        };
        self.spilled.push(sh);
        for &(k, _, v) in &src.items {
            sk[Rank::SrcBytes].update(k, v.bytes);
            sk[Rank::SrcPackets].update(k, v.packets);
        }
        for &(k, _, v) in &dst.items {
            sk[Rank::DstBytes].update(k, v.bytes);
            sk[Rank::DstPackets].update(k, v.packets);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::Budget;
    use sketches::hash::{hash_u128, DEFAULT_SEED};

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

    /// The total's source rankings after `flushes`, shard by shard, run
    /// by `workers` workers.
    fn run(b: &Budget, flushes: &[Flush], workers: usize) -> Vec<Vec<u8>> {
        let mut shards: Vec<Option<Vec<u8>>> = vec![None; SHARDS];
        for owner in 0..workers {
            let mut total = OwnedShards::new_total(b, owner, workers);
            let mut exact = ExactAddresses::new(&total, b.total_hh_capacity);
            let mut batches = Batches::default();
            for f in flushes {
                exact.add(f, &mut total, &mut batches);
            }
            exact.finish(&mut total);
            for (s, sk) in total.into_owned() {
                let mut bytes = sk[Rank::SrcBytes].to_bytes();
                bytes.extend(sk[Rank::SrcPackets].to_bytes());
                shards[s] = Some(bytes);
            }
        }
        shards.into_iter().map(Option::unwrap).collect()
    }

    #[test]
    fn the_totals_addresses_are_exact_while_they_fit_and_bounded_after() {
        let b = Budget::for_epoch(1 << 20);
        let cap = b.total_hh_capacity;
        // Fits: about cap * SHARDS / 2 keys spread over the shards.
        let few = (cap * SHARDS / 2) as u128;
        let f = flushes(few);
        let truth = |k: u128| {
            let n = f
                .iter()
                .filter(|f| f.src.items.iter().any(|x| x.0 == k))
                .count() as u64;
            (n * (10 * k as u64 + 1), n)
        };
        let mut total = OwnedShards::new_total(&b, 0, 1);
        let mut exact = ExactAddresses::new(&total, cap);
        let mut batches = Batches::default();
        for x in &f {
            exact.add(x, &mut total, &mut batches);
        }
        assert!(exact.spilled.is_empty(), "{few} keys fit");
        exact.finish(&mut total);
        for k in 0..few {
            let sk = total.shards[shard_of(hash_u128(k, DEFAULT_SEED))]
                .as_ref()
                .unwrap();
            let (by, p) = (
                sk[Rank::SrcBytes].bounds(&k),
                sk[Rank::SrcPackets].bounds(&k),
            );
            assert_eq!((by.lower, by.upper, p.lower, p.upper), {
                let (tb, tp) = truth(k);
                (tb, tb, tp, tp)
            });
        }
        // Outgrows the rankings: some shards spill, every bound holds, and
        // the answer is the same for one worker or three.
        let many = (cap * SHARDS * 4) as u128;
        let f = flushes(many);
        let one = run(&b, &f, 1);
        assert_eq!(one, run(&b, &f, 3));
        let mut total = OwnedShards::new_total(&b, 0, 1);
        let mut exact = ExactAddresses::new(&total, cap);
        for x in &f {
            exact.add(x, &mut total, &mut batches);
        }
        assert!(!exact.spilled.is_empty());
        exact.finish(&mut total);
        for k in (0..many).step_by(37) {
            let sk = total.shards[shard_of(hash_u128(k, DEFAULT_SEED))]
                .as_ref()
                .unwrap();
            let h = sk[Rank::SrcBytes].bounds(&k);
            let n = f
                .iter()
                .filter(|f| f.src.items.iter().any(|x| x.0 == k))
                .count() as u64;
            let t = n * (10 * k as u64 + 1);
            assert!(
                h.lower <= t && t <= h.upper.max(sk[Rank::SrcBytes].max_error()),
                "key {k}"
            );
        }
    }
}
