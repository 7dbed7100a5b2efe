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
