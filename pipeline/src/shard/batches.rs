//! Storage a worker reuses for every flush: a flush's keys split by shard
//! and the batches handed to one ranking, and the DataSketches coupons of
//! recently seen addresses.

use capture::Ip;
use sketches::datasketches::ip_coupon;
use sketches::{Coupon, SpaceSaving};

use crate::keys::{shard_of, SHARDS};

/// One flush's keys split by the shard they fall in, and the batch handed
/// to one ranking: storage a worker reuses for every flush.
#[derive(Debug)]
pub struct Batches {
    idx: Vec<Vec<u32>>,
    u128s: Vec<(u128, u64)>,
    pairs: Vec<((u128, u128), u64)>,
    ports: Vec<(u64, u64)>,
    /// A flush's owned sums as the overload mode's sampler weighs them.
    pub(super) thin: Thinned,
}

/// A key, its hash and its weighed-up (bytes, packets).
pub(super) type WeighedSum<K> = (K, u64, (u64, u64));
/// A flush's sums of one family as the sampler let them in.
pub(super) type Weighed<K> = Vec<WeighedSum<K>>;

/// One flush's owned source, pair and port sums after sampling
/// ([`super::sample`]), ports widened to their rankings' key.
#[derive(Debug, Default)]
pub(super) struct Thinned {
    pub src: Weighed<u128>,
    pub pair: Weighed<(u128, u128)>,
    pub sport: Weighed<u64>,
    pub dport: Weighed<u64>,
    /// Owned sums the last flush's coin left out.
    pub out: u64,
}

impl Default for Batches {
    fn default() -> Self {
        Batches {
            idx: (0..SHARDS).map(|_| Vec::new()).collect(),
            u128s: Vec::new(),
            pairs: Vec::new(),
            ports: Vec::new(),
            thin: Thinned::default(),
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

impl BatchKey for u64 {
    fn buffer(b: &mut Batches) -> &mut Vec<(u64, u64)> {
        &mut b.ports
    }
}

impl Batches {
    /// The source sums the last sampled flush let in (owned shards only):
    /// what the run total's source sums take in the overload mode.
    pub fn sampled_sources(&self) -> &[(u128, u64, (u64, u64))] {
        &self.thin.src
    }

    /// How many owned sums the last sampled flush's coin left out.
    pub fn sampled_out(&self) -> u64 {
        self.thin.out
    }

    /// Splits `items` (key, hash, sums: one worker's part) by shard.
    pub(super) fn split<K, V>(&mut self, items: &[(K, u64, V)]) {
        for v in &mut self.idx {
            v.clear();
        }
        for (i, (_, h, _)) in items.iter().enumerate() {
            self.idx[shard_of(*h)].push(i as u32);
        }
    }

    /// Hands shard `sh`'s share of `items`, weighed by `w`, to `ranking`.
    pub(super) fn ranked<K: BatchKey, V>(
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
    pub(super) fn ranked_port<V>(
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
