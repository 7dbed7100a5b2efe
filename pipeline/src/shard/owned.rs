//! A worker's view of one epoch: the sketches of the shards it owns, and
//! how a flush's sums reach them.

use std::ops::IndexMut;

use capture::Ip;
use sketches::SpaceSaving;

use super::batches::{BatchKey, Batches, CouponCache, Weighed};
use super::budget::Budget;
use super::rank::{PairRank, PortRank, Rank};
use super::sample::Sampler;
use super::sketches::ShardSketches;
use crate::engine::{DstSums, FlushPart, SrcSums, Sums};
use crate::handshake::{ServiceSink, ServiceTable};
use crate::keys::{shard_of, SHARDS};

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

    /// The sketches of the shard of hash `h`: owned, since a flush part
    /// holds only its owner's keys.
    #[inline(always)]
    fn get(&mut self, h: u64) -> Option<&mut ShardSketches> {
        let s = shard_of(h);
        debug_assert_eq!(s % self.workers, self.owner, "a key routed to its owner");
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

    /// Splits `items` (the owner's part) by shard and gives each shard's share to its
    /// bytes and packets rankings `(rb, rp)`, as one batch each.
    fn apply_ranked<K: BatchKey, V, R: Copy>(
        &mut self,
        b: &mut Batches,
        items: &[(K, u64, V)],
        (bytes, packets): (impl Fn(&V) -> u64, impl Fn(&V) -> u64),
        (rb, rp): (R, R),
    ) where
        ShardSketches: IndexMut<R, Output = SpaceSaving<K>>,
    {
        b.split(items);
        for sh in self.owned() {
            let Some(sk) = self.shards[sh].as_mut() else {
                continue;
            };
            b.ranked(sh, items, &bytes, &mut sk[rb]);
            b.ranked(sh, items, &packets, &mut sk[rp]);
        }
    }

    /// As [`OwnedShards::apply_ranked`], for port sums (keyed by `u16`).
    fn rank_ports<V>(
        &mut self,
        b: &mut Batches,
        items: &[(u16, u64, V)],
        (bytes, packets): (impl Fn(&V) -> u64, impl Fn(&V) -> u64),
        (rb, rp): (PortRank, PortRank),
    ) {
        b.split(items);
        for sh in self.owned() {
            let Some(sk) = self.shards[sh].as_mut() else {
                continue;
            };
            b.ranked_port(sh, items, &bytes, &mut sk[rb]);
            b.ranked_port(sh, items, &packets, &mut sk[rp]);
        }
    }

    /// `items` (the owner's part) as `sampler` lets them in, into `out`;
    /// each shard notes the largest weighed-up increment.
    fn thin<K: Copy, K2, V>(
        &mut self,
        sampler: &Sampler,
        items: &[(K, u64, V)],
        sums: impl Fn(&V) -> (u64, u64),
        key: impl Fn(K) -> K2,
        out: &mut Weighed<K2>,
    ) -> u64 {
        out.clear();
        let mut left = 0;
        for (k, h, v) in items {
            let sh = shard_of(*h);
            let (bytes, packets) = sums(v);
            if let Some(w) = sampler.weigh(*h, bytes, packets) {
                if packets < sampler.threshold() {
                    if let Some(sk) = self.shards[sh].as_mut() {
                        sk.sampled.note(sampler.threshold(), w);
                    }
                }
                out.push((key(*k), *h, w));
            } else {
                left += 1;
            }
        }
        left
    }

    /// The source, pair and port rankings: from the flush's sums, or in
    /// the overload mode from what `sampler` lets in (left in `b` for the
    /// run total's source sums).
    fn rank_traffic(&mut self, f: &FlushPart, b: &mut Batches, sampler: Option<&Sampler>) {
        let both = |v: &Sums| (v.bytes, v.packets);
        let Some(sm) = sampler else {
            let split = (|v: &SrcSums| v.bytes, |v: &SrcSums| v.packets);
            self.apply_ranked(b, &f.src.items, split, (Rank::SrcBytes, Rank::SrcPackets));
            let split = (|v: &Sums| v.bytes, |v: &Sums| v.packets);
            self.apply_ranked(
                b,
                &f.pair.items,
                split,
                (PairRank::Bytes, PairRank::Packets),
            );
            let ports = (PortRank::SportBytes, PortRank::SportPackets);
            self.rank_ports(b, &f.sport.items, split, ports);
            let ports = (PortRank::DportBytes, PortRank::DportPackets);
            self.rank_ports(b, &f.dport.items, split, ports);
            return;
        };
        let mut t = std::mem::take(&mut b.thin);
        let port = |p: u16| p as u64;
        t.out = self.thin(
            sm,
            &f.src.items,
            |v| (v.bytes, v.packets),
            |k| k,
            &mut t.src,
        ) + self.thin(sm, &f.pair.items, both, |k| k, &mut t.pair)
            + self.thin(sm, &f.sport.items, both, port, &mut t.sport)
            + self.thin(sm, &f.dport.items, both, port, &mut t.dport);
        let split = (|v: &(u64, u64)| v.0, |v: &(u64, u64)| v.1);
        self.apply_ranked(b, &t.src, split, (Rank::SrcBytes, Rank::SrcPackets));
        self.apply_ranked(b, &t.pair, split, (PairRank::Bytes, PairRank::Packets));
        let ports = (PortRank::SportBytes, PortRank::SportPackets);
        self.apply_ranked(b, &t.sport, split, ports);
        let ports = (PortRank::DportBytes, PortRank::DportPackets);
        self.apply_ranked(b, &t.dport, split, ports);
        b.thin = t;
    }

    /// The worker these shards belong to.
    pub fn owner(&self) -> usize {
        self.owner
    }

    /// How many workers share the shards.
    pub fn workers(&self) -> usize {
        self.workers
    }

    fn owned(&self) -> impl Iterator<Item = usize> {
        (self.owner..SHARDS).step_by(self.workers)
    }

    /// Applies this owner's part of one flush (an epoch's flows summed per
    /// key family) to the shards its keys fall in, by the hashes it
    /// carries.
    pub fn apply(
        &mut self,
        f: &FlushPart,
        coupons: &mut CouponCache,
        b: &mut Batches,
        sampler: Option<&Sampler>,
    ) {
        // The rankings a flood fills with new keys take their updates per
        // shard as one batch ([`SpaceSaving::update_many`]).
        self.rank_traffic(f, b, sampler);
        let split = (|v: &DstSums| v.bytes, |v: &DstSums| v.packets);
        self.apply_ranked(b, &f.dst.items, split, (Rank::DstBytes, Rank::DstPackets));
        // Count-Min takes each shard's addresses (each its own key, by its
        // hash) in the flush's order, then their shorter prefixes: an
        // order independent of the number of workers.
        for &(src, h, v) in &f.src.items {
            if let Some(s) = self.get(h) {
                s.cm_src.update(h, v.bytes);
                s.hll_src.update_coupon(coupons.get(Ip(src), h));
                if v.synack > 0 {
                    s[Rank::SynAckFrom].update(src, v.synack);
                }
            }
        }
        for &(dst, h, v) in &f.dst.items {
            if let Some(s) = self.get(h) {
                s.cm_dst.update(h, v.bytes);
                s.hll_dst.update_coupon(coupons.get(Ip(dst), h));
                if v.syn > 0 {
                    s[Rank::SynTo].update(dst, v.syn);
                }
                if v.rst > 0 {
                    s[Rank::RstTo].update(dst, v.rst);
                }
                if v.icmp > 0 {
                    s[Rank::IcmpTo].update(dst, v.icmp);
                }
                if v.amp > 0 {
                    s[Rank::AmpTo].update(dst, v.amp);
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
        }
        for &h in &f.flow_hashes {
            if let Some(s) = self.get(h) {
                s.hll_flows.update(h);
            }
        }
        for &(prefix, h, packets) in &f.prefix.items {
            if let Some(s) = self.get(h) {
                s[Rank::PrefixTo].update(prefix, packets);
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
