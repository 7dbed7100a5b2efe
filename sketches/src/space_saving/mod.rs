//! Space-Saving weighted heavy hitters with per-item bounds.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::codec::{Decoder, Encoder, Kind};
use crate::hash::SketchKey;
use crate::SketchError;

mod batch;
mod merge;
mod top;

pub use top::top_of;

type FixedMap<K> = HashMap<K, u32, foldhash::fast::FixedState>;

/// One reported heavy hitter: `lower <= truth <= upper`, always.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeavyHitter<K> {
    /// The key.
    pub key: K,
    /// The monitored count: never below the truth.
    pub upper: u64,
    /// `upper - error`: never above the truth.
    pub lower: u64,
}

/// Weighted heavy hitters by Space-Saving (Metwally et al. 2005), with a
/// min-heap over the `k` monitored counters (built when they fill).
///
/// Guarantees, for a stream of total weight `N`:
/// - every monitored key has `count - error <= truth <= count`;
/// - every key with `truth > N / k` is monitored;
/// - `error <= min count <= N / k`.
///
/// Merging follows the mergeable-summaries construction (Agarwal et al.
/// 2012): a key absent from one side is charged that side's minimum count
/// as both count and error, the sum is kept to the `k` largest, and the
/// guarantees hold for the combined stream with `N = N_a + N_b`.
///
/// Chosen over Misra-Gries with reverse purge (DataSketches' frequent
/// items) because its per-item bounds are tighter on skewed traffic for the
/// same number of counters; see `netsketch accuracy`.
#[derive(Debug, Clone)]
pub struct SpaceSaving<K: SketchKey> {
    capacity: usize,
    seed: u64,
    total: u64,
    keys: Vec<K>,
    counts: Vec<u64>,
    errors: Vec<u64>,
    /// Slot numbers; a min-heap ordered by count once the summary is
    /// full, in no order before (nothing is evicted while there is room,
    /// so the order is only built, once, when the last slot fills: a
    /// summary that never fills pays no sift per update).
    heap: Vec<u32>,
    /// Position of each slot in `heap`.
    pos: Vec<u32>,
    index: FixedMap<K>,
    /// The most a key not monitored here can weigh, apart from the
    /// minimum count of a full summary: non-zero once a full summary was
    /// merged into this one while it had room (a run total keeps more keys
    /// than its epochs), since keys that summary dropped are absent here.
    floor: u64,
}

impl<K: SketchKey> SpaceSaving<K> {
    /// Monitors up to `capacity` keys.
    pub fn new(capacity: usize, seed: u64) -> Result<SpaceSaving<K>, SketchError> {
        if capacity == 0 || capacity > 1 << 24 {
            return Err(SketchError::InvalidParameter(format!(
                "heavy-hitter capacity must be 1..=2^24, got {capacity}"
            )));
        }
        Ok(SpaceSaving {
            capacity,
            seed,
            total: 0,
            // Storage grows with the keys seen, up to `capacity`: a quiet
            // epoch's sketch costs what its traffic costs to make, merge
            // and free.
            keys: Vec::new(),
            counts: Vec::new(),
            errors: Vec::new(),
            heap: Vec::new(),
            pos: Vec::new(),
            index: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(seed)),
            floor: 0,
        })
    }

    /// A summary of `capacity` counters holding `items` as `(key, count,
    /// error)` (distinct keys, `error <= count`, at most `capacity` of
    /// them) over a stream of weight `total`, where a key not among them
    /// weighed at most `floor`: how a summary kept in another form (the
    /// run total's frequent-items maps) becomes one.
    pub fn with_items(
        capacity: usize,
        seed: u64,
        items: &[(K, u64, u64)],
        total: u64,
        floor: u64,
    ) -> Result<SpaceSaving<K>, SketchError> {
        let mut ss = SpaceSaving::new(capacity, seed)?;
        if items.len() > capacity || items.iter().any(|&(_, c, e)| e > c) {
            return Err(SketchError::InvalidParameter(format!(
                "{} items for {capacity} counters, or an error over its count",
                items.len()
            )));
        }
        ss.rebuild(items, total);
        if ss.index.len() != items.len() {
            return Err(SketchError::InvalidParameter("duplicate keys".into()));
        }
        ss.floor = floor;
        Ok(ss)
    }

    /// Bytes one monitored key costs (key, count, error, heap and index
    /// entries, map overhead).
    pub fn bytes_per_counter() -> usize {
        K::LEN + 8 + 8 + 4 + 4 + (K::LEN + 4 + 1) * 8 / 7
    }

    /// The capacity that fits `bytes`.
    pub fn capacity_for(bytes: usize) -> usize {
        (bytes / Self::bytes_per_counter()).max(1)
    }

    /// Maximum number of monitored keys.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Total weight added.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Keys currently monitored.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Memory at full capacity (storage grows to it as keys arrive).
    pub fn size_bytes(&self) -> usize {
        self.capacity * Self::bytes_per_counter()
    }

    /// The largest error any reported count can carry: the minimum
    /// monitored count once full (at most `N / k`), else 0.
    pub fn max_error(&self) -> u64 {
        if self.keys.len() < self.capacity {
            self.floor
        } else {
            self.counts[self.heap[0] as usize].max(self.floor)
        }
    }

    /// Adds `weight` to `key`.
    #[inline]
    pub fn update(&mut self, key: K, weight: u64) {
        self.update_evicting(key, weight);
    }

    /// Adds `weight` to `key` and returns the key it evicted, if any, so a
    /// caller can keep per-key state only for monitored keys.
    #[inline]
    pub fn update_evicting(&mut self, key: K, weight: u64) -> Option<K> {
        self.total = self.total.saturating_add(weight);
        // A newcomer inherits, as error, the most it can have weighed
        // before: nothing, the minimum count when full, or the floor.
        let inherited = self.max_error();
        let s = match self.index.entry(key) {
            Entry::Occupied(o) => *o.get() as usize,
            Entry::Vacant(v) if self.keys.len() < self.capacity => {
                // One hash and probe for a newcomer that fits.
                v.insert(self.keys.len() as u32);
                self.push_vacant(key, weight.saturating_add(inherited), inherited);
                return None;
            }
            Entry::Vacant(_) => {
                return Some(self.replace_min(key, inherited.saturating_add(weight), inherited));
            }
        };
        self.counts[s] = self.counts[s].saturating_add(weight);
        self.raised(s);
        None
    }

    /// Monitors a new key in a free slot.
    fn push_slot(&mut self, key: K, count: u64, error: u64) {
        self.index.insert(key, self.keys.len() as u32);
        self.push_vacant(key, count, error);
    }

    /// Fills the next free slot with a key the index already maps to it.
    fn push_vacant(&mut self, key: K, count: u64, error: u64) {
        let s = self.keys.len();
        self.keys.push(key);
        self.counts.push(count);
        self.errors.push(error);
        self.heap.push(s as u32);
        self.pos.push(s as u32);
        if self.keys.len() == self.capacity {
            self.heapify();
        }
    }

    /// Restores the heap after slot `s`'s count rose (only a full
    /// summary keeps one).
    #[inline]
    pub(super) fn raised(&mut self, s: usize) {
        if self.keys.len() == self.capacity {
            self.sift_down(self.pos[s] as usize);
        }
    }

    /// Puts `key` in the slot of the smallest count; returns the key it held.
    fn replace_min(&mut self, key: K, count: u64, error: u64) -> K {
        let s = self.heap[0] as usize;
        let evicted = std::mem::replace(&mut self.keys[s], key);
        self.index.remove(&evicted);
        self.counts[s] = count;
        self.errors[s] = error;
        self.index.insert(key, s as u32);
        self.sift_down(0);
        evicted
    }

    /// Whether `key` is monitored.
    pub fn contains(&self, key: &K) -> bool {
        self.index.contains_key(key)
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos[self.heap[a] as usize] = a as u32;
        self.pos[self.heap[b] as usize] = b as u32;
    }

    fn count_at(&self, i: usize) -> u64 {
        self.counts[self.heap[i] as usize]
    }

    fn rebuild(&mut self, items: &[(K, u64, u64)], total: u64) {
        self.clear();
        self.total = total;
        for &(k, c, e) in items {
            self.push_slot(k, c, e);
        }
    }

    /// Builds the heap order over every slot (Floyd's bottom-up build),
    /// once the summary is full.
    pub(super) fn heapify(&mut self) {
        if self.keys.len() < self.capacity {
            return;
        }
        for i in (0..self.heap.len() / 2).rev() {
            self.sift_down(i);
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let l = 2 * i + 1;
            if l >= n {
                break;
            }
            let r = l + 1;
            let c = if r < n && self.count_at(r) < self.count_at(l) {
                r
            } else {
                l
            };
            if self.count_at(i) <= self.count_at(c) {
                break;
            }
            self.swap(i, c);
            i = c;
        }
    }

    /// Bounds for one key: monitored keys get their count and error; any
    /// other key lies in `[0, max_error]`.
    pub fn bounds(&self, key: &K) -> HeavyHitter<K> {
        match self.index.get(key) {
            Some(&s) => {
                let s = s as usize;
                HeavyHitter {
                    key: *key,
                    upper: self.counts[s],
                    lower: self.counts[s] - self.errors[s],
                }
            }
            None => HeavyHitter {
                key: *key,
                upper: self.max_error(),
                lower: 0,
            },
        }
    }

    /// Every monitored key with its bounds, in no particular order (for
    /// filtering without sorting everything first).
    pub fn iter(&self) -> impl Iterator<Item = HeavyHitter<K>> + '_ {
        (0..self.keys.len()).map(|s| HeavyHitter {
            key: self.keys[s],
            upper: self.counts[s],
            lower: self.counts[s] - self.errors[s],
        })
    }

    /// Forgets every key, keeping the capacity.
    pub fn clear(&mut self) {
        self.total = 0;
        self.floor = 0;
        self.keys.clear();
        self.counts.clear();
        self.errors.clear();
        self.heap.clear();
        self.pos.clear();
        self.index.clear();
    }

    /// The snapshot bytes (items in a canonical order).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new(Kind::SpaceSaving);
        e.u32(self.capacity as u32)
            .u64(self.seed)
            .u64(self.total)
            .u8(K::LEN as u8)
            .u32(self.keys.len() as u32);
        let mut items: Vec<usize> = (0..self.keys.len()).collect();
        items.sort_unstable_by_key(|&s| self.keys[s]);
        for s in items {
            self.keys[s].write_bytes(e.raw());
            e.u64(self.counts[s]).u64(self.errors[s]);
        }
        // Only a summary that has one carries its floor, so every other
        // snapshot keeps the format it always had.
        if self.floor > 0 {
            e.u64(self.floor);
        }
        e.finish()
    }

    /// Decodes a snapshot.
    pub fn from_bytes(bytes: &[u8]) -> Result<SpaceSaving<K>, SketchError> {
        let mut d = Decoder::new(bytes, Kind::SpaceSaving)?;
        let capacity = d.u32()? as usize;
        let seed = d.u64()?;
        let total = d.u64()?;
        let klen = d.u8()? as usize;
        if klen != K::LEN {
            return Err(SketchError::Decode(format!(
                "key size {klen}, expected {}",
                K::LEN
            )));
        }
        let n = d.u32()? as usize;
        let items_len = n * (K::LEN + 16);
        let has_floor = d.remaining() == items_len + 8;
        if n > capacity || (d.remaining() != items_len && !has_floor) {
            return Err(SketchError::Decode(
                "heavy-hitter item count does not match".into(),
            ));
        }
        let mut ss =
            SpaceSaving::new(capacity, seed).map_err(|e| SketchError::Decode(e.to_string()))?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            let k = K::read_bytes(d.take(K::LEN)?);
            let (c, e) = (d.u64()?, d.u64()?);
            if e > c {
                return Err(SketchError::Decode(
                    "heavy-hitter error exceeds its count".into(),
                ));
            }
            items.push((k, c, e));
        }
        let floor = if has_floor { d.u64()? } else { 0 };
        d.finish()?;
        let mut seen = std::collections::HashSet::with_capacity(n);
        if !items.iter().all(|(k, _, _)| seen.insert(*k)) {
            return Err(SketchError::Decode("duplicate heavy-hitter key".into()));
        }
        ss.rebuild(&items, total);
        ss.floor = floor;
        Ok(ss)
    }
}

impl<K: SketchKey> PartialEq for SpaceSaving<K> {
    fn eq(&self, other: &Self) -> bool {
        self.to_bytes() == other.to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heap_built_when_the_last_slot_fills_evicts_the_smallest_count() {
        // Updates in a scrambled order, raising keys before and after the
        // summary fills: every eviction takes a key of the minimum count.
        let mut s = SpaceSaving::<u64>::new(16, 3).unwrap();
        let mut x = 12345u64;
        for _ in 0..5_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (key, w) = ((x >> 33) % 40, (x >> 20) % 7 + 1);
            let min =
                (s.len() == s.capacity()).then(|| s.iter().map(|h| h.upper).min().unwrap_or(0));
            let had = s.contains(&key);
            if let Some(gone) = s.update_evicting(key, w) {
                assert!(!had);
                assert_eq!(s.bounds(&key).upper, min.unwrap() + w);
                assert_eq!(s.max_error(), s.iter().map(|h| h.upper).min().unwrap());
                assert!(!s.contains(&gone));
            }
            assert!(s.len() <= 16);
        }
        // Before it fills nothing is ordered and nothing is lost.
        let mut t = SpaceSaving::<u64>::new(16, 3).unwrap();
        for k in (0..15u64).rev() {
            t.update(k, k + 1);
            t.update(k, 1);
        }
        assert_eq!(t.max_error(), 0);
        assert!((0..15u64).all(|k| t.bounds(&k).lower == k + 2));
    }
}
