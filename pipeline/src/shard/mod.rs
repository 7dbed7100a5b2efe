//! The sketches of one key shard for one epoch, and how an update reaches
//! them.
//!
//! [`budget`] sizes them from `--memory`, [`owned`] is a worker's set of
//! shards for one epoch and applies flushes to it, [`batches`] holds the
//! storage a worker reuses between flushes.

mod batches;
mod budget;
mod owned;

use std::collections::HashMap;

use sketches::hash::DEFAULT_SEED;
use sketches::{CountMin, HyperLogLog, SpaceSaving};

use crate::handshake::ServiceTable;

pub use batches::{Batches, CouponCache};
pub use budget::{attack_prefix, is_reflector_port, Budget, CM_DEPTH};
pub use owned::OwnedShards;

/// One shard's sketches for one epoch (or a window of epochs).
#[derive(Debug, Clone)]
pub struct ShardSketches {
    pub src_bytes: SpaceSaving<u128>,
    pub src_packets: SpaceSaving<u128>,
    pub dst_bytes: SpaceSaving<u128>,
    pub dst_packets: SpaceSaving<u128>,
    pub pair_bytes: SpaceSaving<(u128, u128)>,
    pub pair_packets: SpaceSaving<(u128, u128)>,
    pub dport_bytes: SpaceSaving<u64>,
    pub dport_packets: SpaceSaving<u64>,
    pub sport_bytes: SpaceSaving<u64>,
    pub sport_packets: SpaceSaving<u64>,
    /// SYNs (without ACK) per destination.
    pub syn_to: SpaceSaving<u128>,
    /// SYN-ACKs per source (the server answering).
    pub synack_from: SpaceSaving<u128>,
    /// RSTs per destination.
    pub rst_to: SpaceSaving<u128>,
    /// ICMP and ICMPv6 packets per destination.
    pub icmp_to: SpaceSaving<u128>,
    /// UDP packets from reflector ports ([`budget::REFLECTOR_PORTS`]) per
    /// destination.
    pub amp_to: SpaceSaving<u128>,
    /// Packets per destination prefix ([`attack_prefix`]).
    pub prefix_to: SpaceSaving<u128>,
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
    /// Emptied per-destination sketches, reused before new ones are made
    /// (at most `dst_sources_capacity` beside the map's).
    spare_dst: Vec<DstDistinct>,
    budget: Budget,
}

impl ShardSketches {
    /// Empty sketches sized by `b`.
    ///
    /// # Panics
    /// If the budget's sizes are out of the sketches' ranges, which
    /// [`Budget::for_epoch`] never produces.
    pub fn new(b: &Budget) -> ShardSketches {
        let seed = DEFAULT_SEED;
        let hh = |c| SpaceSaving::new(c, seed).expect("budget sizes are valid");
        let cm =
            || CountMin::with_shape(b.cm_width, CM_DEPTH, seed).expect("budget sizes are valid");
        let hll = || HyperLogLog::new(b.hll_p, seed).expect("budget sizes are valid");
        // Distinct sources and destinations leave netsketch as DataSketches
        // HLLs, so they are hashed as DataSketches hashes address text.
        let ds_hll = || HyperLogLog::new_datasketches(b.hll_p).expect("budget sizes are valid");
        ShardSketches {
            src_bytes: hh(b.hh_capacity),
            src_packets: hh(b.hh_capacity),
            dst_bytes: hh(b.hh_capacity),
            dst_packets: hh(b.hh_capacity),
            pair_bytes: SpaceSaving::new(b.hh_capacity, seed).expect("budget sizes are valid"),
            pair_packets: SpaceSaving::new(b.hh_capacity, seed).expect("budget sizes are valid"),
            dport_bytes: SpaceSaving::new(b.hh_capacity, seed).expect("budget sizes are valid"),
            dport_packets: SpaceSaving::new(b.hh_capacity, seed).expect("budget sizes are valid"),
            sport_bytes: SpaceSaving::new(b.hh_capacity, seed).expect("budget sizes are valid"),
            sport_packets: SpaceSaving::new(b.hh_capacity, seed).expect("budget sizes are valid"),
            syn_to: hh(b.hh_capacity),
            synack_from: hh(b.hh_capacity),
            rst_to: hh(b.hh_capacity),
            icmp_to: hh(b.hh_capacity),
            amp_to: hh(b.hh_capacity),
            prefix_to: hh(b.hh_capacity),
            cm_src: cm(),
            cm_dst: cm(),
            hll_src: ds_hll(),
            hll_dst: ds_hll(),
            hll_flows: hll(),
            dst_sources_hh: hh(b.dst_sources_capacity),
            dst_sources: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(seed)),
            services: ServiceTable::new(b.services_per_shard),
            spare_dst: Vec::new(),
            budget: *b,
        }
    }

    /// Empties every sketch for another epoch, keeping what they allocated
    /// (an epoch's sketches are pooled: [`crate::engine`]), so a steady
    /// stream of epochs stops allocating and faulting in fresh pages.
    pub fn reset(&mut self) {
        self.src_bytes.clear();
        self.src_packets.clear();
        self.dst_bytes.clear();
        self.dst_packets.clear();
        self.pair_bytes.clear();
        self.pair_packets.clear();
        self.dport_bytes.clear();
        self.dport_packets.clear();
        self.sport_bytes.clear();
        self.sport_packets.clear();
        self.syn_to.clear();
        self.synack_from.clear();
        self.rst_to.clear();
        self.icmp_to.clear();
        self.amp_to.clear();
        self.prefix_to.clear();
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
    }

    /// Starts tracking the distinct sources of `dst`, if not yet.
    pub(super) fn track_dst(&mut self, dst: u128) {
        if !self.dst_sources.contains_key(&dst) {
            let p = self.budget.dst_sources_p;
            let d = self.spare_dst.pop().unwrap_or_else(|| DstDistinct::new(p));
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
        let hh = |c| SpaceSaving::new(c, DEFAULT_SEED).expect("budget sizes are valid");
        ShardSketches {
            src_bytes: hh(b.total_hh_capacity),
            src_packets: hh(b.total_hh_capacity),
            dst_bytes: hh(b.total_hh_capacity),
            dst_packets: hh(b.total_hh_capacity),
            ..ShardSketches::new(b)
        }
    }

    /// Merges another shard's sketches (same shard, another epoch).
    pub fn merge(&mut self, o: &ShardSketches) {
        let ok = [
            self.src_bytes.merge(&o.src_bytes),
            self.src_packets.merge(&o.src_packets),
            self.dst_bytes.merge(&o.dst_bytes),
            self.dst_packets.merge(&o.dst_packets),
        ];
        debug_assert!(
            ok.iter().all(Result::is_ok),
            "shards of one engine always merge"
        );
        self.merge_rest(o);
    }

    /// Merges every sketch but the four address rankings, which a run
    /// total takes from the flushes directly ([`OwnedShards::apply_addresses`]).
    pub fn merge_rest(&mut self, o: &ShardSketches) {
        // Same budget and seed by construction: merges cannot fail.
        let ok = [
            self.pair_bytes.merge(&o.pair_bytes),
            self.pair_packets.merge(&o.pair_packets),
            self.dport_bytes.merge(&o.dport_bytes),
            self.dport_packets.merge(&o.dport_packets),
            self.sport_bytes.merge(&o.sport_bytes),
            self.sport_packets.merge(&o.sport_packets),
            self.syn_to.merge(&o.syn_to),
            self.synack_from.merge(&o.synack_from),
            self.rst_to.merge(&o.rst_to),
            self.icmp_to.merge(&o.icmp_to),
            self.amp_to.merge(&o.amp_to),
            self.prefix_to.merge(&o.prefix_to),
            self.cm_src.merge(&o.cm_src),
            self.cm_dst.merge(&o.cm_dst),
            self.hll_src.merge(&o.hll_src),
            self.hll_dst.merge(&o.hll_dst),
            self.hll_flows.merge(&o.hll_flows),
            self.dst_sources_hh.merge(&o.dst_sources_hh),
        ];
        debug_assert!(
            ok.iter().all(Result::is_ok),
            "shards of one engine always merge"
        );
        for (k, h) in &o.dst_sources {
            match self.dst_sources.get_mut(k) {
                Some(mine) => {
                    let _ = mine.sources.merge(&h.sources);
                    let _ = mine.flows.merge(&h.flows);
                }
                None => {
                    self.dst_sources.insert(*k, h.clone());
                }
            }
        }
        let hh = &self.dst_sources_hh;
        self.dst_sources.retain(|k, _| hh.contains(k));
        self.services.merge(&o.services);
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

    fn new(p: u8) -> DstDistinct {
        let h = || HyperLogLog::new(p, DEFAULT_SEED).expect("budget sizes are valid");
        DstDistinct {
            sources: h(),
            flows: h(),
        }
    }
}
