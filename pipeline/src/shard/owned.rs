//! A worker's view of one epoch: the sketches of the shards it owns, and
//! how a flush's sums reach them.

use capture::Ip;

use super::batches::{Batches, CouponCache};
use super::budget::Budget;
use super::rank::{PairRank, PortRank, Rank};
use super::sketches::ShardSketches;
use crate::engine::Flush;
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
    /// rankings (part of [`OwnedShards::apply`]; a run total takes them
    /// through [`super::ExactAddresses`]).
    fn apply_addresses(&mut self, f: &Flush, b: &mut Batches) {
        b.split(&f.src.items, self.owner, self.workers);
        for sh in self.owned() {
            let Some(sk) = self.shards[sh].as_mut() else {
                continue;
            };
            b.ranked(sh, &f.src.items, |v| v.bytes, &mut sk[Rank::SrcBytes]);
            b.ranked(sh, &f.src.items, |v| v.packets, &mut sk[Rank::SrcPackets]);
        }
        b.split(&f.dst.items, self.owner, self.workers);
        for sh in self.owned() {
            let Some(sk) = self.shards[sh].as_mut() else {
                continue;
            };
            b.ranked(sh, &f.dst.items, |v| v.bytes, &mut sk[Rank::DstBytes]);
            b.ranked(sh, &f.dst.items, |v| v.packets, &mut sk[Rank::DstPackets]);
        }
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
            b.ranked(sh, &f.pair.items, |v| v.bytes, &mut sk[PairRank::Bytes]);
            b.ranked(sh, &f.pair.items, |v| v.packets, &mut sk[PairRank::Packets]);
        }
        b.split(&f.sport.items, self.owner, self.workers);
        for sh in self.owned() {
            let Some(sk) = self.shards[sh].as_mut() else {
                continue;
            };
            b.ranked_port(
                sh,
                &f.sport.items,
                |v| v.bytes,
                &mut sk[PortRank::SportBytes],
            );
            b.ranked_port(
                sh,
                &f.sport.items,
                |v| v.packets,
                &mut sk[PortRank::SportPackets],
            );
        }
        b.split(&f.dport.items, self.owner, self.workers);
        for sh in self.owned() {
            let Some(sk) = self.shards[sh].as_mut() else {
                continue;
            };
            b.ranked_port(
                sh,
                &f.dport.items,
                |v| v.bytes,
                &mut sk[PortRank::DportBytes],
            );
            b.ranked_port(
                sh,
                &f.dport.items,
                |v| v.packets,
                &mut sk[PortRank::DportPackets],
            );
        }
        for &(src, h, v) in &f.src.items {
            if let Some(s) = self.get(h) {
                s.hll_src.update_coupon(coupons.get(Ip(src), h));
                if v.synack > 0 {
                    s[Rank::SynAckFrom].update(src, v.synack);
                }
            }
        }
        for &(dst, h, v) in &f.dst.items {
            if let Some(s) = self.get(h) {
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
            if let Some(s) = self.get(k.flow_hash) {
                s.hll_flows.update(k.flow_hash);
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
