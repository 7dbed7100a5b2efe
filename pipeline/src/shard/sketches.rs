//! One shard's sketches for one epoch (or a window): every ranking,
//! Count-Min, HLL and per-destination distinct count of the keys that hash
//! to the shard, and how they are emptied and merged.

use std::collections::HashMap;
use std::ops::{Index, IndexMut};

use sketches::hash::DEFAULT_SEED;
use sketches::{CountMin, HyperLogLog, SpaceSaving};

use super::budget::{Budget, CM_DEPTH};
use super::rank::{PairRank, PortRank, Rank};
use super::sample::SampledMax;
use crate::handshake::ServiceTable;

/// One shard's sketches for one epoch (or a window of epochs). Rankings
/// are indexed by what they rank: `s[Rank::SrcBytes]`, `s[PortRank::DportBytes]`.
#[derive(Debug, Clone)]
pub struct ShardSketches {
    // Boxed: a shard's sketches travel by value (pool, worker, merging
    // thread, window ring) several times an epoch, and the sixteen
    // rankings were most of their inline size (920 bytes with them boxed).
    addr: Box<[SpaceSaving<u128>; Rank::ALL.len()]>,
    pairs: Box<[SpaceSaving<(u128, u128)>; PairRank::ALL.len()]>,
    ports: Box<[SpaceSaving<u64>; PortRank::ALL.len()]>,
    /// Bytes per source address and prefix.
    pub cm_src: CountMin,
    /// Bytes per destination address and prefix.
    pub cm_dst: CountMin,
    pub hll_src: HyperLogLog,
    pub hll_dst: HyperLogLog,
    pub hll_flows: HyperLogLog,
    /// Destinations whose distinct sources are tracked (by packets).
    pub dst_sources_hh: SpaceSaving<u128>,
    /// Distinct sources and distinct flows of each tracked destination.
    pub dst_sources: HashMap<u128, DstDistinct, foldhash::fast::FixedState>,
    /// TCP handshakes per service (round-trip times, failures).
    pub services: ServiceTable,
    /// The overload mode's largest weighed-up increments to the sampled
    /// rankings (zero when nothing was sampled): what their bounds widen by.
    pub sampled: SampledMax,
    /// Emptied per-destination sketches, reused before new ones are made
    /// (at most `dst_sources_capacity` beside the map's).
    spare_dst: Vec<DstDistinct>,
    budget: Budget,
}

macro_rules! index_rankings {
    ($rank:ty, $field:ident, $key:ty) => {
        impl Index<$rank> for ShardSketches {
            type Output = SpaceSaving<$key>;
            #[inline]
            fn index(&self, r: $rank) -> &SpaceSaving<$key> {
                &self.$field[r as usize]
            }
        }
        impl IndexMut<$rank> for ShardSketches {
            #[inline]
            fn index_mut(&mut self, r: $rank) -> &mut SpaceSaving<$key> {
                &mut self.$field[r as usize]
            }
        }
    };
}
index_rankings!(Rank, addr, u128);
index_rankings!(PairRank, pairs, (u128, u128));
index_rankings!(PortRank, ports, u64);

/// `N` empty rankings of `capacity` counters.
fn rankings<K: sketches::hash::SketchKey, const N: usize>(capacity: usize) -> [SpaceSaving<K>; N] {
    std::array::from_fn(|_| {
        SpaceSaving::new(capacity, DEFAULT_SEED).expect("budget sizes are valid")
    })
}

impl ShardSketches {
    /// Empty sketches sized by `b`.
    ///
    /// # Panics
    /// If the budget's sizes are out of the sketches' ranges, which
    /// [`Budget::for_epoch`] never produces.
    pub fn new(b: &Budget) -> ShardSketches {
        let seed = DEFAULT_SEED;
        let cm =
            || CountMin::with_shape(b.cm_width, CM_DEPTH, seed).expect("budget sizes are valid");
        let hll = || HyperLogLog::new(b.hll_p, seed).expect("budget sizes are valid");
        // Distinct sources and destinations leave netsketch as DataSketches
        // HLLs, so they are hashed as DataSketches hashes address text.
        let ds_hll = || HyperLogLog::new_datasketches(b.hll_p).expect("budget sizes are valid");
        ShardSketches {
            addr: Box::new(rankings(b.hh_capacity)),
            pairs: Box::new(rankings(b.hh_capacity)),
            ports: Box::new(rankings(b.hh_capacity)),
            cm_src: cm(),
            cm_dst: cm(),
            hll_src: ds_hll(),
            hll_dst: ds_hll(),
            hll_flows: hll(),
            dst_sources_hh: SpaceSaving::new(b.dst_sources_capacity, seed)
                .expect("budget sizes are valid"),
            dst_sources: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(seed)),
            services: ServiceTable::new(b.services_per_shard),
            sampled: SampledMax::default(),
            spare_dst: Vec::new(),
            budget: *b,
        }
    }

    /// Empties every sketch for another epoch, keeping what they allocated
    /// (an epoch's sketches are pooled: [`crate::engine`]), so a steady
    /// stream of epochs stops allocating and faulting in fresh pages.
    pub fn reset(&mut self) {
        self.addr.iter_mut().for_each(SpaceSaving::clear);
        self.pairs.iter_mut().for_each(SpaceSaving::clear);
        self.ports.iter_mut().for_each(SpaceSaving::clear);
        self.cm_src.reset();
        self.cm_dst.reset();
        self.hll_src.clear();
        self.hll_dst.clear();
        self.hll_flows.clear();
        self.dst_sources_hh.clear();
        let keep = self.budget.dst_sources_capacity;
        for (_, d) in self.dst_sources.drain() {
            DstDistinct::spare(&mut self.spare_dst, keep, d);
        }
        self.services = ServiceTable::new(self.budget.services_per_shard);
        self.sampled = SampledMax::default();
    }

    /// Starts tracking the distinct sources of `dst`, if not yet.
    pub(super) fn track_dst(&mut self, dst: u128) {
        if !self.dst_sources.contains_key(&dst) {
            let d = DstDistinct::take(&mut self.spare_dst, self.budget.dst_sources_p);
            self.dst_sources.insert(dst, d);
        }
    }

    /// Stops tracking `dst` (evicted from the tracked destinations).
    pub(super) fn untrack_dst(&mut self, dst: u128) {
        if let Some(d) = self.dst_sources.remove(&dst) {
            DstDistinct::spare(&mut self.spare_dst, self.budget.dst_sources_capacity, d);
        }
    }

    /// Empty sketches for the run total: an epoch's, with the larger
    /// address rankings of [`Budget::total_hh_capacity`].
    pub fn new_total(b: &Budget) -> ShardSketches {
        let mut s = ShardSketches::new(b);
        let total: [SpaceSaving<u128>; Rank::ADDRESSES] = rankings(b.total_hh_capacity);
        for (mine, t) in s.addr.iter_mut().zip(total) {
            *mine = t;
        }
        s
    }

    /// Merges another shard's sketches (same shard, another epoch).
    pub fn merge(&mut self, o: &ShardSketches) {
        for (mine, theirs) in self.addr[..Rank::ADDRESSES].iter_mut().zip(o.addr.iter()) {
            let ok = mine.merge(theirs);
            debug_assert!(ok.is_ok(), "shards of one engine always merge");
        }
        self.merge_rest(o);
    }

    /// Merges every sketch but the four address rankings, which a run
    /// total takes from the flushes directly ([`super::ExactAddresses`]).
    pub fn merge_rest(&mut self, o: &ShardSketches) {
        // Same budget and seed by construction: merges cannot fail.
        let ranked = self.addr[Rank::ADDRESSES..]
            .iter_mut()
            .zip(&o.addr[Rank::ADDRESSES..])
            .map(|(m, t)| m.merge(t))
            .chain(
                self.pairs
                    .iter_mut()
                    .zip(o.pairs.iter())
                    .map(|(m, t)| m.merge(t)),
            )
            .chain(
                self.ports
                    .iter_mut()
                    .zip(o.ports.iter())
                    .map(|(m, t)| m.merge(t)),
            )
            .fold(true, |all, r| all & r.is_ok());
        let ok = [
            self.cm_src.merge(&o.cm_src),
            self.cm_dst.merge(&o.cm_dst),
            self.hll_src.merge(&o.hll_src),
            self.hll_dst.merge(&o.hll_dst),
            self.hll_flows.merge(&o.hll_flows),
            self.dst_sources_hh.merge(&o.dst_sources_hh),
        ];
        debug_assert!(
            ranked && ok.iter().all(Result::is_ok),
            "shards of one engine always merge"
        );
        // Only destinations the merged ranking still tracks are kept: one
        // it dropped is neither copied in nor (if held) kept, and a copy
        // takes a spare's storage before any new.
        let hh = &self.dst_sources_hh;
        for (k, h) in &o.dst_sources {
            match self.dst_sources.get_mut(k) {
                Some(mine) => mine.merge(h),
                None if hh.contains(k) => {
                    let mut d = DstDistinct::take(&mut self.spare_dst, self.budget.dst_sources_p);
                    d.merge(h);
                    self.dst_sources.insert(*k, d);
                }
                None => {}
            }
        }
        let keep = self.budget.dst_sources_capacity;
        // (Allocates only when some destination is dropped.)
        let gone: Vec<u128> = (self.dst_sources.keys())
            .filter(|k| !hh.contains(k))
            .copied()
            .collect();
        for k in gone {
            if let Some(d) = self.dst_sources.remove(&k) {
                DstDistinct::spare(&mut self.spare_dst, keep, d);
            }
        }
        self.services.merge(&o.services);
        self.sampled.merge(&o.sampled);
    }
}

/// Distinct counts of one destination.
#[derive(Debug, Clone)]
pub struct DstDistinct {
    /// Distinct source addresses.
    pub sources: HyperLogLog,
    /// Distinct flows (5-tuples) to it.
    pub flows: HyperLogLog,
}

impl DstDistinct {
    /// Empties `d` into `spare` for reuse, while it holds fewer than `keep`.
    fn spare(spare: &mut Vec<DstDistinct>, keep: usize, mut d: DstDistinct) {
        if spare.len() < keep {
            d.sources.clear();
            d.flows.clear();
            spare.push(d);
        }
    }

    /// An empty one of precision `p`: a spare if there is one.
    fn take(spare: &mut Vec<DstDistinct>, p: u8) -> DstDistinct {
        spare.pop().unwrap_or_else(|| DstDistinct::new(p))
    }

    /// Adds `o`'s sources and flows (same precision by construction).
    fn merge(&mut self, o: &DstDistinct) {
        let _ = self.sources.merge(&o.sources);
        let _ = self.flows.merge(&o.flows);
    }

    fn new(p: u8) -> DstDistinct {
        let h = || HyperLogLog::new(p, DEFAULT_SEED).expect("budget sizes are valid");
        DstDistinct {
            sources: h(),
            flows: h(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shards_sketches_are_cheap_to_move() {
        // They move by value several times an epoch: the rankings (most
        // of the size) are boxed; what is left inline is the sketches'
        // headers (1040 bytes with the overload mode's `SampledMax`).
        let n = std::mem::size_of::<ShardSketches>();
        assert!(n <= 1088, "ShardSketches is {n} bytes inline");
    }
}
