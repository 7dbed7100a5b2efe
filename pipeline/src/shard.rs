//! The sketches of one key shard for one epoch, and how an update reaches
//! them.

use std::collections::HashMap;

use capture::Ip;
use sketches::datasketches::ip_coupon;
use sketches::hash::DEFAULT_SEED;
use sketches::{CountMin, Coupon, HyperLogLog, SpaceSaving};

use crate::engine::Flush;
use crate::handshake::{ServiceSink, ServiceTable};
use crate::keys::{shard_of, SHARDS};

/// How big each sketch of a shard is, derived from one memory budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Counters of each heavy-hitter sketch, per shard.
    pub hh_capacity: usize,
    /// Count-Min width per shard (depth is fixed at 4).
    pub cm_width: usize,
    /// Precision of the distinct-count sketches.
    pub hll_p: u8,
    /// Destinations tracked for distinct sources, per shard.
    pub dst_sources_capacity: usize,
    /// Precision of each per-destination distinct-sources sketch.
    pub dst_sources_p: u8,
    /// Services whose handshakes are tracked, per shard.
    pub services_per_shard: usize,
    /// Counters of the run total's source and destination rankings, per
    /// shard: more than an epoch's, so that a whole run's top talkers stay
    /// exact while its distinct addresses fit.
    pub total_hh_capacity: usize,
}

/// Per-destination attack sketches: SYN, SYN-ACK, RST, ICMP, reflector
/// UDP, destination prefix.
const ATTACK_SKETCHES: usize = 6;

/// UDP source ports of services abused for reflection and amplification
/// (QOTD, chargen, DNS, portmap, NTP, NetBIOS, SNMP, LDAP/CLDAP, SLP,
/// ISAKMP and IKE NAT-T, RIP, MS-SQL, SSDP, ARD, WS-Discovery, mDNS, CoAP,
/// Ubiquiti, memcached, DVR discovery, BACnet).
pub const REFLECTOR_PORTS: [u16; 22] = [
    17, 19, 53, 111, 123, 137, 161, 389, 427, 500, 520, 1434, 1900, 3283, 3702, 4500, 5353, 5683,
    10001, 11211, 37810, 47808,
];

#[inline]
pub fn is_reflector_port(p: u16) -> bool {
    REFLECTOR_PORTS.contains(&p)
}

/// The destination prefix carpet bombing is judged on: /24 for IPv4, /64
/// for IPv6 (addresses are IPv4-mapped, so a /24 is the top 120 bits).
#[inline]
pub fn attack_prefix(addr: u128) -> u128 {
    if Ip(addr).to_v4().is_some() {
        addr & !0xff
    } else {
        addr & !(u64::MAX as u128)
    }
}

/// Most counters a heavy-hitter sketch takes ([`SpaceSaving::new`]).
const MAX_HH_CAPACITY: usize = 1 << 24;
/// Widest Count-Min row ([`CountMin::with_shape`]).
const MAX_CM_WIDTH: usize = 1 << 30;

/// Count-Min rows: delta = e^-4, under 2%.
pub const CM_DEPTH: usize = 4;

impl Budget {
    /// Splits `bytes` (the most one epoch's sketches may take, all shards
    /// together): about half to heavy hitters, a third to Count-Min, the
    /// rest to distinct counting.
    pub fn for_epoch(bytes: usize) -> Budget {
        let per_shard = bytes / SHARDS;
        let hll_p = if per_shard >= 256 << 10 { 14 } else { 12 };
        let dst_sources_p = 10;
        let dst_sources_capacity = 32;
        let fixed = 3 * (1usize << hll_p) + dst_sources_capacity * 2 * ((1 << dst_sources_p) + 64);
        // Handshake statistics: up to 8 services per shard, an eighth of
        // the shard's memory at most.
        let services_per_shard = (per_shard / 8 / ServiceTable::max_bytes(1)).clamp(1, 8);
        let fixed = fixed + ServiceTable::max_bytes(services_per_shard);
        let rest = per_shard.saturating_sub(fixed);
        // Ten address/port heavy-hitter sketches (pairs cost twice), six
        // per-destination attack sketches.
        let per_counter = 8 * SpaceSaving::<u128>::bytes_per_counter()
            + 2 * SpaceSaving::<(u128, u128)>::bytes_per_counter()
            + ATTACK_SKETCHES * SpaceSaving::<u128>::bytes_per_counter();
        let hh_capacity = (rest * 6 / 10 / per_counter).max(16);
        let cm_width = prev_pow2((rest * 4 / 10 / (2 * CM_DEPTH * 8)).max(64));
        Budget {
            hh_capacity,
            cm_width,
            hll_p,
            dst_sources_capacity,
            dst_sources_p,
            services_per_shard,
            total_hh_capacity: hh_capacity,
        }
    }

    /// Gives the run total's four address rankings `bytes` more (all shards
    /// together).
    pub fn with_total(mut self, bytes: usize) -> Budget {
        let per = 4 * SpaceSaving::<u128>::bytes_per_counter() * SHARDS;
        self.total_hh_capacity = self.hh_capacity + bytes / per;
        self
    }

    /// What the run total's larger rankings take beyond an epoch's sketches.
    pub fn total_extra_bytes(&self) -> usize {
        (self.total_hh_capacity - self.hh_capacity)
            * 4
            * SpaceSaving::<u128>::bytes_per_counter()
            * SHARDS
    }

    /// Checks the sizes against the sketches' limits (a budget too large
    /// for them), so that an engine refuses it before any thread starts.
    pub fn check(&self) -> Result<(), String> {
        if self.total_hh_capacity > MAX_HH_CAPACITY || self.dst_sources_capacity > MAX_HH_CAPACITY {
            return Err(format!(
                "heavy-hitter capacity {} is over the sketch's limit of {MAX_HH_CAPACITY}",
                self.total_hh_capacity.max(self.dst_sources_capacity)
            ));
        }
        if self.cm_width > MAX_CM_WIDTH {
            return Err(format!(
                "Count-Min width {} is over the sketch's limit of {MAX_CM_WIDTH}",
                self.cm_width
            ));
        }
        Ok(())
    }

    /// Upper bound of one epoch's sketch memory under this budget.
    pub fn epoch_bytes(&self) -> usize {
        let hh = self.hh_capacity
            * (8 * SpaceSaving::<u128>::bytes_per_counter()
                + 2 * SpaceSaving::<(u128, u128)>::bytes_per_counter()
                + ATTACK_SKETCHES * SpaceSaving::<u128>::bytes_per_counter());
        let cm = 2 * self.cm_width * CM_DEPTH * 8;
        let hll = 3 * (1 << self.hll_p)
            + self.dst_sources_capacity * 2 * ((1 << self.dst_sources_p) + 64);
        SHARDS * (hh + cm + hll + ServiceTable::max_bytes(self.services_per_shard))
    }
}

fn prev_pow2(x: usize) -> usize {
    1 << (usize::BITS - 1 - x.leading_zeros())
}

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
    /// UDP packets from reflector ports ([`REFLECTOR_PORTS`]) per
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
    fn track_dst(&mut self, dst: u128) {
        if !self.dst_sources.contains_key(&dst) {
            let p = self.budget.dst_sources_p;
            let d = self.spare_dst.pop().unwrap_or_else(|| DstDistinct::new(p));
            self.dst_sources.insert(dst, d);
        }
    }

    /// Stops tracking `dst` (evicted from the tracked destinations).
    fn untrack_dst(&mut self, dst: u128) {
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

/// A worker's view of one epoch: sketches for the shards it owns.
#[derive(Debug)]
pub struct OwnedShards {
    pub shards: Vec<Option<ShardSketches>>,
    owner: usize,
    workers: usize,
}

impl ServiceSink for OwnedShards {
    fn table(&mut self, shard: usize) -> Option<&mut ServiceTable> {
        self.shards[shard].as_mut().map(|s| &mut s.services)
    }
}

impl OwnedShards {
    /// Empty sketches for the shards `owner` owns among `workers`, taken
    /// from `pool` (emptied by [`ShardSketches::reset`]) while it has some.
    pub fn from_pool(
        budget: &Budget,
        owner: usize,
        workers: usize,
        pool: &crossbeam_channel::Receiver<ShardSketches>,
    ) -> OwnedShards {
        let shards = (0..SHARDS)
            .map(|s| {
                (s % workers == owner).then(|| match pool.try_recv() {
                    Ok(mut sk) => {
                        sk.reset();
                        sk
                    }
                    Err(_) => ShardSketches::new(budget),
                })
            })
            .collect();
        OwnedShards {
            shards,
            owner,
            workers,
        }
    }

    #[inline(always)]
    fn get(&mut self, h: u64) -> Option<&mut ShardSketches> {
        let s = shard_of(h);
        if s % self.workers != self.owner {
            return None;
        }
        self.shards[s].as_mut()
    }

    /// The run total's shards owned by `owner`, with the larger address
    /// rankings.
    pub fn new_total(budget: &Budget, owner: usize, workers: usize) -> OwnedShards {
        let shards = (0..SHARDS)
            .map(|s| (s % workers == owner).then(|| ShardSketches::new_total(budget)))
            .collect();
        OwnedShards {
            shards,
            owner,
            workers,
        }
    }

    /// Applies a flush's source and destination sums to the four address
    /// rankings only: part of [`OwnedShards::apply`], and all a run total
    /// takes from a flush, fed exactly as the epochs are, so that its top
    /// talkers are exact while its addresses fit in its larger rankings,
    /// however full an epoch's were.
    pub fn apply_addresses(&mut self, f: &Flush, b: &mut Batches) {
        b.split(&f.src.items, self.owner, self.workers);
        for sh in self.owned() {
            let Some(sk) = self.shards[sh].as_mut() else {
                continue;
            };
            b.ranked(sh, &f.src.items, |v| v.bytes, &mut sk.src_bytes);
            b.ranked(sh, &f.src.items, |v| v.packets, &mut sk.src_packets);
        }
        b.split(&f.dst.items, self.owner, self.workers);
        for sh in self.owned() {
            let Some(sk) = self.shards[sh].as_mut() else {
                continue;
            };
            b.ranked(sh, &f.dst.items, |v| v.bytes, &mut sk.dst_bytes);
            b.ranked(sh, &f.dst.items, |v| v.packets, &mut sk.dst_packets);
        }
    }

    fn owned(&self) -> impl Iterator<Item = usize> {
        (self.owner..SHARDS).step_by(self.workers)
    }

    /// Applies one flush (an epoch's flows summed per key family) to the
    /// owned shards its keys fall in, by the hashes it carries.
    pub fn apply(&mut self, f: &Flush, coupons: &mut CouponCache, b: &mut Batches) {
        // The rankings a flood fills with new keys take their updates per
        // shard as one batch ([`SpaceSaving::update_many`]).
        self.apply_addresses(f, b);
        b.split(&f.pair.items, self.owner, self.workers);
        for sh in self.owned() {
            let Some(sk) = self.shards[sh].as_mut() else {
                continue;
            };
            b.ranked(sh, &f.pair.items, |v| v.bytes, &mut sk.pair_bytes);
            b.ranked(sh, &f.pair.items, |v| v.packets, &mut sk.pair_packets);
        }
        b.split(&f.sport.items, self.owner, self.workers);
        for sh in self.owned() {
            let Some(sk) = self.shards[sh].as_mut() else {
                continue;
            };
            b.ranked_port(sh, &f.sport.items, |v| v.bytes, &mut sk.sport_bytes);
            b.ranked_port(sh, &f.sport.items, |v| v.packets, &mut sk.sport_packets);
        }
        b.split(&f.dport.items, self.owner, self.workers);
        for sh in self.owned() {
            let Some(sk) = self.shards[sh].as_mut() else {
                continue;
            };
            b.ranked_port(sh, &f.dport.items, |v| v.bytes, &mut sk.dport_bytes);
            b.ranked_port(sh, &f.dport.items, |v| v.packets, &mut sk.dport_packets);
        }
        for &(src, h, v) in &f.src.items {
            if let Some(s) = self.get(h) {
                s.hll_src.update_coupon(coupons.get(Ip(src), h));
                if v.synack > 0 {
                    s.synack_from.update(src, v.synack);
                }
            }
        }
        for &(dst, h, v) in &f.dst.items {
            if let Some(s) = self.get(h) {
                s.hll_dst.update_coupon(coupons.get(Ip(dst), h));
                if v.syn > 0 {
                    s.syn_to.update(dst, v.syn);
                }
                if v.rst > 0 {
                    s.rst_to.update(dst, v.rst);
                }
                if v.icmp > 0 {
                    s.icmp_to.update(dst, v.icmp);
                }
                if v.amp > 0 {
                    s.amp_to.update(dst, v.amp);
                }
                if let Some(gone) = s.dst_sources_hh.update_evicting(dst, v.packets) {
                    s.untrack_dst(gone);
                }
                s.track_dst(dst);
            }
        }
        for k in &f.flows {
            if let Some(s) = self.get(k.dst_hash) {
                // Destinations evicted from tracking in this flush lose it.
                if let Some(d) = s.dst_sources.get_mut(&k.dst) {
                    d.sources.update(k.src_hash);
                    d.flows.update(k.flow_hash);
                }
            }
            if let Some(s) = self.get(k.flow_hash) {
                s.hll_flows.update(k.flow_hash);
            }
        }
        for &(prefix, h, packets) in &f.prefix.items {
            if let Some(s) = self.get(h) {
                s.prefix_to.update(prefix, packets);
            }
        }
        for &(_, h, bytes) in &f.cm_src.items {
            if let Some(s) = self.get(h) {
                s.cm_src.update(h, bytes);
            }
        }
        for &(_, h, bytes) in &f.cm_dst.items {
            if let Some(s) = self.get(h) {
                s.cm_dst.update(h, bytes);
            }
        }
    }

    /// The owned shards, with their shard numbers.
    pub fn into_owned(self) -> impl Iterator<Item = (usize, ShardSketches)> {
        self.shards
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
    }
}

/// One flush's keys split by the shard they fall in, and the batch handed
/// to one ranking: storage a worker reuses for every flush.
#[derive(Debug)]
pub struct Batches {
    idx: Vec<Vec<u32>>,
    u128s: Vec<(u128, u64)>,
    pairs: Vec<((u128, u128), u64)>,
    ports: Vec<(u64, u64)>,
}

impl Default for Batches {
    fn default() -> Self {
        Batches {
            idx: (0..SHARDS).map(|_| Vec::new()).collect(),
            u128s: Vec::new(),
            pairs: Vec::new(),
            ports: Vec::new(),
        }
    }
}

/// A key type a ranking batch is built for.
pub trait BatchKey: sketches::hash::SketchKey {
    fn buffer(b: &mut Batches) -> &mut Vec<(Self, u64)>;
}

impl BatchKey for u128 {
    fn buffer(b: &mut Batches) -> &mut Vec<(u128, u64)> {
        &mut b.u128s
    }
}

impl BatchKey for (u128, u128) {
    fn buffer(b: &mut Batches) -> &mut Vec<((u128, u128), u64)> {
        &mut b.pairs
    }
}

impl Batches {
    /// Splits `items` (key, hash, sums) by shard, keeping the owned ones.
    fn split<K, V>(&mut self, items: &[(K, u64, V)], owner: usize, workers: usize) {
        for v in &mut self.idx {
            v.clear();
        }
        for (i, (_, h, _)) in items.iter().enumerate() {
            let s = shard_of(*h);
            if s % workers == owner {
                self.idx[s].push(i as u32);
            }
        }
    }

    /// Hands shard `sh`'s share of `items`, weighed by `w`, to `ranking`.
    fn ranked<K: BatchKey, V>(
        &mut self,
        sh: usize,
        items: &[(K, u64, V)],
        w: impl Fn(&V) -> u64,
        ranking: &mut SpaceSaving<K>,
    ) {
        let idx = std::mem::take(&mut self.idx[sh]);
        let buf = K::buffer(self);
        buf.clear();
        buf.extend(idx.iter().map(|&i| {
            let (k, _, v) = &items[i as usize];
            (*k, w(v))
        }));
        ranking.update_many(buf);
        self.idx[sh] = idx;
    }

    /// As [`Batches::ranked`], for port rankings (keyed by `u64`).
    fn ranked_port<V>(
        &mut self,
        sh: usize,
        items: &[(u16, u64, V)],
        w: impl Fn(&V) -> u64,
        ranking: &mut SpaceSaving<u64>,
    ) {
        self.ports.clear();
        let idx = &self.idx[sh];
        self.ports.extend(idx.iter().map(|&i| {
            let (k, _, v) = &items[i as usize];
            (*k as u64, w(v))
        }));
        ranking.update_many(&self.ports);
    }
}

/// Recently seen addresses and their DataSketches coupons, direct-mapped
/// by the address's netsketch hash. Text formatting plus MurmurHash3 costs
/// about 200 instructions per address; busy addresses repeat, so one
/// compare usually replaces them. One per worker, 64 KiB, never resized.
#[derive(Debug)]
pub struct CouponCache {
    entries: Box<[(u128, u32)]>,
}

impl CouponCache {
    const SIZE: usize = 4096;

    pub fn new() -> CouponCache {
        CouponCache {
            entries: vec![(0, 0); Self::SIZE].into_boxed_slice(),
        }
    }

    /// The coupon of `addr`, whose netsketch hash is `hash`.
    #[inline]
    pub fn get(&mut self, addr: Ip, hash: u64) -> Coupon {
        let e = &mut self.entries[hash as usize & (Self::SIZE - 1)];
        // A coupon is never 0, so 0 marks an empty entry.
        if e.1 != 0 && e.0 == addr.0 {
            if let Some(c) = Coupon::from_raw(e.1) {
                return c;
            }
        }
        let c = ip_coupon(addr.to_ip_addr());
        *e = (addr.0, c.raw());
        c
    }
}

impl Default for CouponCache {
    fn default() -> Self {
        CouponCache::new()
    }
}
