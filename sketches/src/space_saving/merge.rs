//! Merging two Space-Saving summaries (Agarwal et al., "Mergeable
//! summaries"): the combined stream's guarantees, cheaply when the smaller
//! side is not full.

use std::collections::hash_map::Entry;

use super::SpaceSaving;
use crate::hash::SketchKey;
use crate::SketchError;

impl<K: SketchKey> SpaceSaving<K> {
    /// Merges `other` into `self`, keeping the guarantees for the combined
    /// stream (see the type's documentation).
    pub fn merge(&mut self, other: &SpaceSaving<K>) -> Result<(), SketchError> {
        // Capacities may differ (a run total keeps more keys than the
        // epochs merged into it): the charges below bound each side's
        // missing keys whatever its capacity, and the result keeps this
        // side's `k` largest.
        if self.seed != other.seed {
            return Err(SketchError::Incompatible(format!(
                "heavy hitters seed {:#x} vs {:#x}",
                self.seed, other.seed
            )));
        }
        let (min_a, min_b) = (self.max_error(), other.max_error());
        if min_b == 0
            && self.keys.len() + other.keys.len() <= self.capacity
            && 4 * other.keys.len() >= self.keys.len()
        {
            // Neither side full and both fit: nothing can be evicted, so
            // counts add in place, new keys are appended with this side's
            // bound (its floor: it is not full), and the heap is built once,
            // O(|self| + |other|) instead of a sift per key. Worth it when
            // `other` is not much smaller: a busy epoch joining its window
            // (a small epoch into a large window takes the path below).
            let floor = self.max_error();
            for s in 0..other.keys.len() {
                let (k, c, e) = (other.keys[s], other.counts[s], other.errors[s]);
                let n = self.keys.len() as u32;
                match self.index.entry(k) {
                    Entry::Occupied(o) => {
                        let m = *o.get() as usize;
                        self.counts[m] = self.counts[m].saturating_add(c);
                        self.errors[m] = self.errors[m].saturating_add(e);
                    }
                    Entry::Vacant(v) => {
                        v.insert(n);
                        self.keys.push(k);
                        self.counts.push(c.saturating_add(floor));
                        self.errors.push(e.saturating_add(floor));
                        self.heap.push(n);
                        self.pos.push(n);
                    }
                }
            }
            self.heapify();
            self.total = self.total.saturating_add(other.total);
            return Ok(());
        }
        if min_b == 0 {
            // `other` is not full: keys it lacks keep their counts, so only
            // its own keys change. Adding them one by one, evicting the
            // smallest when over capacity, keeps the k largest of the same
            // combined counts at a cost of O(|other| log k) instead of a
            // rebuild: what makes merging many small epochs cheap.
            for s in 0..other.keys.len() {
                let (k, c, e) = (other.keys[s], other.counts[s], other.errors[s]);
                self.add_merged(k, c, e);
            }
            self.total = self.total.saturating_add(other.total);
            return Ok(());
        }
        // Both full: every key of this side takes the other's count, or its
        // bound; the other's new keys come charged this side's bound; the
        // `capacity` largest stay, in place.
        for s in 0..self.keys.len() {
            let (c, e) = match other.index.get(&self.keys[s]) {
                Some(&o) => (other.counts[o as usize], other.errors[o as usize]),
                None => (min_b, min_b),
            };
            self.counts[s] = self.counts[s].saturating_add(c);
            self.errors[s] = self.errors[s].saturating_add(e);
        }
        let fresh: Vec<(K, u64, u64)> = (0..other.keys.len())
            .filter(|&s| !self.index.contains_key(&other.keys[s]))
            .map(|s| {
                (
                    other.keys[s],
                    other.counts[s] + min_a,
                    other.errors[s] + min_a,
                )
            })
            .collect();
        if self.keys.len() + fresh.len() > self.capacity {
            self.keep_largest_with(&fresh);
        } else {
            for &(k, c, e) in &fresh {
                self.push_slot(k, c, e);
            }
            self.heapify();
        }
        self.total = self.total.saturating_add(other.total);
        // A key neither side monitored weighs at most both sides' bounds.
        self.floor = min_a.saturating_add(min_b);
        Ok(())
    }

    /// Adds a merged item: `count`/`error` from the other summary, plus
    /// this side's current minimum when the key is not monitored here (the
    /// mergeable-summaries charge). The minimum *now*, not before the merge
    /// began: a key this merge already evicted may have counted up to it.
    fn add_merged(&mut self, key: K, count: u64, error: u64) {
        let min_self = self.max_error();
        let (c, e) = (
            count.saturating_add(min_self),
            error.saturating_add(min_self),
        );
        let s = match self.index.entry(key) {
            Entry::Occupied(o) => *o.get() as usize,
            Entry::Vacant(v) if self.keys.len() < self.capacity => {
                v.insert(self.keys.len() as u32);
                return self.push_vacant(key, c, e);
            }
            Entry::Vacant(_) => {
                if c > self.counts[self.heap[0] as usize] {
                    // Full: the newcomer replaces the smallest only if it is larger.
                    self.replace_min(key, c, e);
                }
                return;
            }
        };
        self.counts[s] = self.counts[s].saturating_add(count);
        self.errors[s] = self.errors[s].saturating_add(error);
        self.raised(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_that_fit_together_merge_exactly_and_keep_a_valid_heap() {
        // Key 1 starts smallest (the heap's top) and the merge makes it
        // the largest: only a rebuilt heap stops it being evicted next.
        let mut a = SpaceSaving::<u64>::new(24, 7).unwrap();
        let mut b = SpaceSaving::<u64>::new(24, 7).unwrap();
        a.update(1, 1);
        for k in 2..=10u64 {
            a.update(k, 100 + k);
        }
        b.update(1, 5000);
        for k in 5..=14u64 {
            b.update(k, 10 * k);
        }
        a.merge(&b).unwrap();
        let truth = |k: u64| match k {
            1 => 5001,
            _ => (if k <= 10 { 100 + k } else { 0 }) + (if k >= 5 { 10 * k } else { 0 }),
        };
        assert_eq!(a.len(), 14);
        for k in 1..=14u64 {
            let h = a.bounds(&k);
            assert_eq!((h.lower, h.upper), (truth(k), truth(k)), "key {k}");
        }
        // Fill it, then one more key evicts the smallest (key 2, 102).
        for k in 100..110u64 {
            a.update(k, 1000);
        }
        assert_eq!(a.len(), 24);
        a.update(200, 5);
        assert!(!a.contains(&2), "the smallest count is the one to go");
        assert!(a.contains(&1) && (3..=14).all(|k| a.contains(&k)));
        assert_eq!(a.bounds(&200).upper, 102 + 5);
    }
}
