//! The heaviest keys of a summary, in the order reports print them.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::{HeavyHitter, SpaceSaving};
use crate::hash::SketchKey;

impl<K: SketchKey> SpaceSaving<K> {
    /// The `n` largest monitored keys by count, ties broken by key so the
    /// order is deterministic.
    pub fn top(&self, n: usize) -> Vec<HeavyHitter<K>> {
        let order = order::<K>;
        if n == 0 {
            return Vec::new();
        }
        if n.saturating_mul(8) < self.keys.len() {
            // A few of many (a report's top 10 of each shard): one pass
            // keeping the best `n` in a heap whose root is the worst kept,
            // instead of collecting every key.
            return top_of([self], n);
        }
        let mut v: Vec<HeavyHitter<K>> = self.iter().collect();
        // The order is total (keys are distinct), so selecting the first
        // `n` and sorting only them gives exactly the full sort's prefix.
        if n < v.len() {
            v.select_nth_unstable_by(n - 1, order);
            v.truncate(n);
        }
        v.sort_unstable_by(order);
        v
    }
}

/// The `n` largest keys over several summaries (of disjoint keys: the
/// shards of one stream), in [`SpaceSaving::top`]'s order: what each
/// one's `top(n)` merged and cut to `n` would give, in one pass over their
/// keys with a heap of `n`.
pub fn top_of<'a, K: SketchKey + 'a>(
    summaries: impl IntoIterator<Item = &'a SpaceSaving<K>>,
    n: usize,
) -> Vec<HeavyHitter<K>> {
    if n == 0 {
        return Vec::new();
    }
    let mut best: BinaryHeap<Ranked<K>> = BinaryHeap::with_capacity(n + 1);
    for s in summaries {
        for h in s.iter() {
            if best.len() < n {
                best.push(Ranked(h));
            } else if let Some(mut worst) = best.peek_mut() {
                if order(&h, &worst.0) == Ordering::Less {
                    *worst = Ranked(h);
                }
            }
        }
    }
    let mut v: Vec<HeavyHitter<K>> = best.into_iter().map(|r| r.0).collect();
    v.sort_unstable_by(order);
    v
}

/// The order of [`SpaceSaving::top`]: upper bound, then lower bound (both
/// descending), then key: total, since keys are distinct.
fn order<K: SketchKey>(a: &HeavyHitter<K>, b: &HeavyHitter<K>) -> Ordering {
    b.upper
        .cmp(&a.upper)
        .then(b.lower.cmp(&a.lower))
        .then(a.key.cmp(&b.key))
}

/// A heavy hitter ordered by [`order`]: in a max-heap the root is the
/// last in that order, the worst kept.
struct Ranked<K>(HeavyHitter<K>);

impl<K: SketchKey> Ord for Ranked<K> {
    fn cmp(&self, o: &Self) -> Ordering {
        order(&self.0, &o.0)
    }
}

impl<K: SketchKey> PartialOrd for Ranked<K> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl<K: SketchKey> PartialEq for Ranked<K> {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}

impl<K: SketchKey> Eq for Ranked<K> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_of_many_are_the_full_orders_first() {
        let mut s = SpaceSaving::<u64>::new(500, 3).unwrap();
        for k in 0..700u64 {
            // Many ties: counts repeat every 50 keys.
            s.update(k, k % 50 + 1);
        }
        let mut all: Vec<HeavyHitter<u64>> = s.iter().collect();
        all.sort_unstable_by(order);
        for n in [0, 1, 3, 10, 62, 63, 499, 500, 900] {
            assert_eq!(s.top(n), all[..n.min(all.len())], "top {n}");
        }
        // Over several summaries: their tops merged and cut.
        let mut t = SpaceSaving::<u64>::new(100, 3).unwrap();
        for k in 1000..1080u64 {
            t.update(k, k % 70 + 1);
        }
        for n in [0, 1, 5, 40, 1000] {
            let mut both: Vec<HeavyHitter<u64>> = s.top(n).into_iter().chain(t.top(n)).collect();
            both.sort_unstable_by(order);
            both.truncate(n);
            assert_eq!(top_of([&s, &t], n), both, "top {n} of two");
        }
    }
}
