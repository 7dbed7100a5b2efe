//! Batched updates: one flush's sums into a summary at once, and the
//! in-place selection that keeps its largest keys when many are new.

use super::SpaceSaving;
use crate::hash::SketchKey;

impl<K: SketchKey> SpaceSaving<K> {
    /// Adds a batch of weighted updates, each key at most once (one
    /// flush's sums). When the batch brings many new keys into a full
    /// summary (a spoofed-source flood: every key new, weight 1), evicting
    /// them one by one costs a heap walk and two index operations each;
    /// instead the batch is merged as the exact summary it is
    /// (mergeable-summaries: a newcomer is charged the minimum as count and
    /// error, a key the batch lacks keeps its count) and the `k` largest
    /// kept, one selection for the whole batch. Every guarantee holds as
    /// for [`SpaceSaving::merge`]; the result depends on the batch alone.
    pub fn update_many(&mut self, items: &[(K, u64)]) {
        let newcomers = items
            .iter()
            .filter(|(k, _)| !self.index.contains_key(k))
            .count();
        let free = self.capacity - self.keys.len();
        if newcomers <= free || newcomers * 8 < self.capacity {
            for &(k, w) in items {
                self.update(k, w);
            }
            return;
        }
        let min = self.max_error();
        let mut fresh: Vec<(K, u64, u64)> = Vec::with_capacity(newcomers);
        for &(k, w) in items {
            self.total = self.total.saturating_add(w);
            match self.index.get(&k) {
                Some(&s) => {
                    let s = s as usize;
                    self.counts[s] = self.counts[s].saturating_add(w);
                }
                None => fresh.push((k, w.saturating_add(min), min)),
            }
        }
        self.keep_largest_with(&fresh);
    }

    /// Keeps the `capacity` largest of the monitored keys and `fresh`
    /// (keys not monitored, with count and error) by count, ties going to
    /// the monitored keys in slot order, then to `fresh` in its order: a
    /// total order over the entries, so the kept set is a function of the
    /// summary and the batch (any tie rule keeps Space-Saving's bounds; this
    /// one moves the fewest keys). One selection; then, when few newcomers
    /// are kept (real traffic), in place: a kept key stays in its slot, a
    /// newcomer takes an evicted key's slot (or a free one) in `fresh`'s
    /// order, only those change in the index, and the heap is rebuilt once.
    /// When most of the summary turns over (a flood of new keys), rebuilt
    /// from the selection: one index insert a key instead of a removal and
    /// an insert.
    pub(super) fn keep_largest_with(&mut self, fresh: &[(K, u64, u64)]) {
        let n = self.keys.len();
        let cap = self.capacity;
        debug_assert!(n + fresh.len() > cap, "only when they do not all fit");
        // (count, entry): entries below `n` are slots, the rest `fresh`.
        let mut order: Vec<(u64, u32)> = Vec::with_capacity(n + fresh.len());
        order.extend((0..n).map(|s| (self.counts[s], s as u32)));
        order.extend((fresh.iter().enumerate()).map(|(j, f)| (f.1, (n + j) as u32)));
        order.select_nth_unstable_by(cap - 1, |a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let order = &order[..cap];
        let newcomers = order.iter().filter(|x| x.1 as usize >= n).count();
        if 2 * newcomers > cap {
            let items: Vec<(K, u64, u64)> = (order.iter())
                .map(|&(c, i)| {
                    let i = i as usize;
                    match i.checked_sub(n) {
                        None => (self.keys[i], c, self.errors[i]),
                        Some(j) => fresh[j],
                    }
                })
                .collect();
            let (total, floor) = (self.total, self.floor);
            self.rebuild(&items, total);
            self.floor = floor;
            return;
        }
        let mut kept = vec![false; n + fresh.len()];
        for &(_, i) in order {
            kept[i as usize] = true;
        }
        let mut incoming = (fresh.iter().enumerate())
            .filter(|(j, _)| kept[n + j])
            .map(|(_, f)| *f);
        for (s, _) in kept[..n].iter().enumerate().filter(|(_, k)| !**k) {
            let (k, c, e) = incoming
                .next()
                .expect("a kept newcomer for every evicted slot");
            self.index.remove(&self.keys[s]);
            self.index.insert(k, s as u32);
            (self.keys[s], self.counts[s], self.errors[s]) = (k, c, e);
        }
        let mut pushed = false;
        for (k, c, e) in incoming {
            // Fills the free slots; the last one builds the heap.
            self.push_slot(k, c, e);
            pushed = true;
        }
        if !pushed {
            self.heapify();
        }
    }
}
