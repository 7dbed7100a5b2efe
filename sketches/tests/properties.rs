//! The sketch guarantees, as properties against exact counts.

use std::collections::HashMap;

use proptest::prelude::*;
use sketches::hash::{hash_u64, SketchKey, DEFAULT_SEED};
use sketches::{CountMin, HyperLogLog, SpaceSaving};

const SEED: u64 = DEFAULT_SEED;

/// A skewed weighted stream: keys drawn so small keys dominate.
fn stream() -> impl Strategy<Value = Vec<(u64, u64)>> {
    proptest::collection::vec((0u64..400, 1u64..50), 0..2000)
        .prop_map(|v| v.into_iter().map(|(k, w)| (k * k / 400, w)).collect())
}

/// Either a stream that keeps a 256 x 4 Count-Min's counters in a map
/// (a dozen keys at most, overlapping between streams) or a long one.
fn few_or_many() -> impl Strategy<Value = Vec<(u64, u64)>> {
    prop_oneof![
        proptest::collection::vec((0u64..12, 1u64..50), 0..40),
        stream()
    ]
}

fn truth(s: &[(u64, u64)]) -> HashMap<u64, u64> {
    let mut t = HashMap::new();
    for &(k, w) in s {
        *t.entry(k).or_default() += w;
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn count_min_never_underestimates(s in stream(), conservative in any::<bool>()) {
        let mut cm = CountMin::with_shape(64, 3, SEED).unwrap();
        if !conservative { cm = cm.plain(); }
        for &(k, w) in &s { cm.update(hash_u64(k, SEED), w); }
        for (k, t) in truth(&s) {
            let e = cm.estimate(hash_u64(k, SEED));
            prop_assert!(e.value >= t as f64 && e.upper >= t as f64);
        }
    }

    /// A sketch holds its counters as a map while few are set and as the
    /// array afterwards; no sequence of updates and merges may tell the two
    /// apart. `from_bytes` always gives the array, so it is the reference.
    #[test]
    fn count_min_sparse_and_dense_agree_cell_for_cell(
        a in few_or_many(), b in few_or_many(), c in few_or_many(), conservative in any::<bool>()
    ) {
        let mut fresh = CountMin::with_shape(256, 4, SEED).unwrap();
        if !conservative { fresh = fresh.plain(); }
        prop_assert!(fresh.is_sparse());
        let dense = |x: &CountMin| CountMin::from_bytes(&x.to_bytes()).unwrap();
        let feed = |x: &mut CountMin, s: &[(u64, u64)]| {
            for &(k, w) in s { x.update(hash_u64(k, SEED), w); }
        };
        // Sparse and array side by side through the same updates.
        let (mut x, mut xd) = (fresh.clone(), dense(&fresh));
        prop_assert!(!xd.is_sparse());
        feed(&mut x, &a);
        feed(&mut xd, &a);
        prop_assert_eq!(x.to_bytes(), xd.to_bytes());
        // Every pairing of the two kinds in a merge.
        let mut y = fresh.clone();
        feed(&mut y, &b);
        let yd = dense(&y);
        let mut results = Vec::new();
        for (l, r) in [(&x, &y), (&x, &yd), (&xd, &y), (&xd, &yd)] {
            let mut m = l.clone();
            m.merge(r).unwrap();
            feed(&mut m, &c);
            results.push(m);
        }
        for m in &results[1..] {
            prop_assert_eq!(m.to_bytes(), results[0].to_bytes());
            prop_assert_eq!(m, &results[0]);
        }
        for k in 0..400u64 {
            let h = hash_u64(k, SEED);
            prop_assert_eq!(results[0].query(h), results[3].query(h));
        }
    }

    #[test]
    fn count_min_plain_merge_is_the_sketch_of_the_concatenation(a in stream(), b in stream()) {
        let mut x = CountMin::with_shape(128, 4, SEED).unwrap().plain();
        let mut y = x.clone();
        let mut both = x.clone();
        for &(k, w) in &a { x.update(hash_u64(k, SEED), w); both.update(hash_u64(k, SEED), w); }
        for &(k, w) in &b { y.update(hash_u64(k, SEED), w); both.update(hash_u64(k, SEED), w); }
        x.merge(&y).unwrap();
        prop_assert_eq!(x.to_bytes(), both.to_bytes());
    }

    #[test]
    fn count_min_conservative_merge_keeps_its_bounds(a in stream(), b in stream()) {
        let mut x = CountMin::with_shape(128, 4, SEED).unwrap();
        let mut y = x.clone();
        for &(k, w) in &a { x.update(hash_u64(k, SEED), w); }
        for &(k, w) in &b { y.update(hash_u64(k, SEED), w); }
        x.merge(&y).unwrap();
        let mut all = a.clone();
        all.extend_from_slice(&b);
        for (k, t) in truth(&all) {
            prop_assert!(x.query(hash_u64(k, SEED)) >= t);
        }
    }

    #[test]
    fn hll_merge_is_the_sketch_of_the_concatenation(
        a in proptest::collection::vec(any::<u64>(), 0..600),
        b in proptest::collection::vec(any::<u64>(), 0..600),
        p in 4u8..12,
    ) {
        // Small p makes the sparse-to-dense switch happen inside the range,
        // so sparse+sparse, sparse+dense and dense+dense merges all occur.
        let mut x = HyperLogLog::new(p, SEED).unwrap();
        let mut y = x.clone();
        let mut both = x.clone();
        for &k in &a { x.update(hash_u64(k, SEED)); both.update(hash_u64(k, SEED)); }
        for &k in &b { y.update(hash_u64(k, SEED)); both.update(hash_u64(k, SEED)); }
        let mut yx = y.clone();
        x.merge(&y).unwrap();
        yx.merge(&x.clone()).unwrap();
        prop_assert_eq!(x.to_bytes(), both.to_bytes());
        prop_assert_eq!(&x, &both);
        prop_assert_eq!(yx.to_bytes(), both.to_bytes());
    }

    #[test]
    fn heavy_hitter_bounds_hold_and_survive_merges(a in stream(), b in stream(), k in 4usize..40) {
        let mut x = SpaceSaving::<u64>::new(k, SEED).unwrap();
        let mut y = x.clone();
        for &(key, w) in &a { x.update(key, w); }
        for &(key, w) in &b { y.update(key, w); }
        check_space_saving(&x, &truth(&a))?;
        check_space_saving(&y, &truth(&b))?;
        x.merge(&y).unwrap();
        let mut all = a.clone();
        all.extend_from_slice(&b);
        check_space_saving(&x, &truth(&all))?;
    }

    /// Batches (one flush's sums: each key once) into a summary, some
    /// bringing more new keys than fit: every bound holds, and each batch
    /// keeps exactly the `k` largest of the monitored keys and the batch's
    /// new ones charged the minimum (ties to the monitored keys in slot
    /// order, then the new ones in batch order), counts and errors as the
    /// mergeable-summaries rule gives them.
    #[test]
    fn batched_updates_keep_the_largest_and_every_bound(
        batches in proptest::collection::vec(stream(), 1..8),
        k in 4usize..60,
    ) {
        let mut x = SpaceSaving::<u64>::new(k, SEED).unwrap();
        let mut seen = Vec::new();
        for b in &batches {
            let sums = truth(b);
            let mut batch: Vec<(u64, u64)> = sums.into_iter().collect();
            batch.sort_unstable();
            // What the batch should leave: (key, count, error), the
            // monitored keys in slot order, then the batch's new ones in
            // its order, ranked by count (a stable sort: ties keep that
            // order).
            let min = x.max_error();
            let mut want: Vec<(u64, u64, u64)> =
                x.iter().map(|h| (h.key, h.upper, h.upper - h.lower)).collect();
            for &(key, w) in &batch {
                match want.iter_mut().find(|e| e.0 == key) {
                    Some(e) => e.1 += w,
                    None => want.push((key, w + min, min)),
                }
            }
            want.sort_by_key(|w| std::cmp::Reverse(w.1));
            let (before, monitored): (usize, Vec<u64>) = (x.len(), x.iter().map(|h| h.key).collect());
            x.update_many(&batch);
            seen.extend_from_slice(b);
            check_space_saving(&x, &truth(&seen))?;
            let new = batch.iter().filter(|(key, _)| !monitored.contains(key)).count();
            // Batches of few new keys go one by one (Space-Saving's own rule).
            if before + new > k && new * 8 >= k {
                want.truncate(k);
                want.sort_unstable();
                let mut got: Vec<(u64, u64, u64)> =
                    x.iter().map(|h| (h.key, h.upper, h.upper - h.lower)).collect();
                got.sort_unstable();
                prop_assert_eq!(got, want);
            }
            for h in x.iter() {
                prop_assert_eq!(x.bounds(&h.key), h);
            }
        }
    }

    /// Two full summaries merged keep exactly the `k` largest of the
    /// combined counts (a key missing from a side charged that side's
    /// bound), ties to this side's keys, then the other's, in slot order.
    #[test]
    fn merging_full_summaries_keeps_the_largest_combined_counts(
        a in stream(), b in stream(), k in 4usize..40,
    ) {
        let mut x = SpaceSaving::<u64>::new(k, SEED).unwrap();
        let mut y = x.clone();
        for &(key, w) in &a { x.update(key, w); }
        for &(key, w) in &b { y.update(key, w); }
        prop_assume!(x.len() == k && y.len() == k);
        let items = |s: &SpaceSaving<u64>| -> HashMap<u64, (u64, u64)> {
            s.iter().map(|h| (h.key, (h.upper, h.upper - h.lower))).collect()
        };
        let (ix, iy) = (items(&x), items(&y));
        let (mx, my) = (x.max_error(), y.max_error());
        // This side's keys in slot order, then the other's new ones in its
        // slot order, ranked by combined count (ties keep that order).
        let mut want: Vec<(u64, u64, u64)> = x
            .iter()
            .chain(y.iter().filter(|h| !ix.contains_key(&h.key)))
            .map(|h| {
                let (cx, ex) = ix.get(&h.key).copied().unwrap_or((mx, mx));
                let (cy, ey) = iy.get(&h.key).copied().unwrap_or((my, my));
                (h.key, cx + cy, ex + ey)
            })
            .collect();
        want.sort_by_key(|w| std::cmp::Reverse(w.1));
        want.truncate(k);
        want.sort_unstable();
        x.merge(&y).unwrap();
        let mut got: Vec<(u64, u64, u64)> = x.iter().map(|h| (h.key, h.upper, h.upper - h.lower)).collect();
        got.sort_unstable();
        prop_assert_eq!(got, want);
        prop_assert_eq!(x.max_error(), (mx + my).max(x.iter().map(|h| h.upper).min().unwrap()));
    }

    /// A run total keeps more keys than the epochs merged into it: merges
    /// across capacities keep every bound, and a total with room for every
    /// key is exact however full the epochs were.
    #[test]
    fn heavy_hitters_of_different_capacities_merge_within_bounds(
        epochs in proptest::collection::vec(stream(), 1..6),
        k in 2usize..12,
        big in 12usize..64,
    ) {
        let mut total = SpaceSaving::<u64>::new(big, SEED).unwrap();
        let mut all = Vec::new();
        let mut exact = true;
        for e in &epochs {
            let mut x = SpaceSaving::<u64>::new(k, SEED).unwrap();
            for &(key, w) in e { x.update(key, w); }
            exact &= x.max_error() == 0;
            total.merge(&x).unwrap();
            all.extend_from_slice(e);
            check_space_saving_k(&total, &truth(&all), k)?;
        }
        let t = truth(&all);
        if exact && t.len() <= big {
            for (key, v) in &t {
                let b = total.bounds(key);
                prop_assert_eq!((b.lower, b.upper), (*v, *v));
            }
        }
    }

    #[test]
    fn snapshots_round_trip(s in stream(), p in 4u8..14) {
        let mut cm = CountMin::with_shape(32, 2, SEED).unwrap();
        let mut hll = HyperLogLog::new(p, SEED).unwrap();
        let mut hh = SpaceSaving::<u128>::new(16, SEED).unwrap();
        for &(k, w) in &s {
            cm.update(hash_u64(k, SEED), w);
            hll.update(hash_u64(k, SEED));
            hh.update(k as u128, w);
        }
        prop_assert_eq!(CountMin::from_bytes(&cm.to_bytes()).unwrap(), cm);
        prop_assert_eq!(HyperLogLog::from_bytes(&hll.to_bytes()).unwrap(), hll);
        prop_assert_eq!(SpaceSaving::<u128>::from_bytes(&hh.to_bytes()).unwrap(), hh);
    }

    #[test]
    fn decoding_garbage_is_an_error_never_a_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        prop_assert!(CountMin::from_bytes(&bytes).is_err());
        prop_assert!(HyperLogLog::from_bytes(&bytes).is_err());
        prop_assert!(SpaceSaving::<u64>::from_bytes(&bytes).is_err());
    }

    #[test]
    fn truncated_or_flipped_snapshots_are_errors(s in stream(), cut in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut hh = SpaceSaving::<u64>::new(8, SEED).unwrap();
        let mut hll = HyperLogLog::new(6, SEED).unwrap();
        for &(k, w) in &s { hh.update(k, w); hll.update(hash_u64(k, SEED)); }
        for bytes in [hh.to_bytes(), hll.to_bytes(), CountMin::with_shape(8, 2, SEED).unwrap().to_bytes()] {
            let i = cut.index(bytes.len());
            prop_assert!(HyperLogLog::from_bytes(&bytes[..i]).is_err());
            prop_assert!(SpaceSaving::<u64>::from_bytes(&bytes[..i]).is_err());
            prop_assert!(CountMin::from_bytes(&bytes[..i]).is_err());
            let mut flipped = bytes.clone();
            flipped[i] ^= 1 << bit;
            prop_assert!(HyperLogLog::from_bytes(&flipped).is_err());
            prop_assert!(SpaceSaving::<u64>::from_bytes(&flipped).is_err());
            prop_assert!(CountMin::from_bytes(&flipped).is_err());
        }
    }
}

fn check_space_saving<K: SketchKey + std::hash::Hash>(
    ss: &SpaceSaving<K>,
    truth: &HashMap<K, u64>,
) -> Result<(), TestCaseError> {
    check_space_saving_k(ss, truth, ss.capacity())
}

/// The bounds of a summary into which summaries of capacity `k` (its own or
/// smaller) were merged: its error is at most `N / k`.
fn check_space_saving_k<K: SketchKey + std::hash::Hash>(
    ss: &SpaceSaving<K>,
    truth: &HashMap<K, u64>,
    cap: usize,
) -> Result<(), TestCaseError> {
    let n: u64 = truth.values().sum();
    prop_assert_eq!(ss.total(), n);
    prop_assert!(ss.max_error() as f64 <= n as f64 / cap as f64 + 1e-9);
    let reported: HashMap<K, _> = ss.top(usize::MAX).into_iter().map(|h| (h.key, h)).collect();
    for (k, &t) in truth {
        let b = ss.bounds(k);
        prop_assert!(
            b.lower <= t && t <= b.upper,
            "{:?}: {} not in [{}, {}]",
            k,
            t,
            b.lower,
            b.upper
        );
        if t as f64 > n as f64 / cap as f64 {
            prop_assert!(
                reported.contains_key(k),
                "{:?} with {} > N/k not reported",
                k,
                t
            );
        }
    }
    Ok(())
}

#[test]
fn count_min_stays_within_its_bound_at_the_stated_rate() {
    // 200,000 updates over 50,000 keys into a 256 x 3 sketch: eps*N is
    // small next to most keys, so violations would show. delta = e^-3.
    let mut cm = CountMin::with_shape(256, 3, SEED).unwrap();
    let mut t: HashMap<u64, u64> = HashMap::new();
    let mut x = 12345u64;
    for _ in 0..200_000 {
        x = hash_u64(x, 7);
        let k = (x % 50_000) * (x % 50_000) / 50_000;
        cm.update(hash_u64(k, SEED), 1);
        *t.entry(k).or_default() += 1;
    }
    let bound = cm.eps() * cm.total() as f64;
    let over = t
        .iter()
        .filter(|(k, &v)| cm.query(hash_u64(**k, SEED)) as f64 > v as f64 + bound)
        .count();
    let share = over as f64 / t.len() as f64;
    assert!(
        share <= cm.delta(),
        "{share} of estimates over the bound, delta {}",
        cm.delta()
    );
    for (k, &v) in &t {
        let e = cm.estimate(hash_u64(*k, SEED));
        assert!(e.upper >= v as f64);
    }
}

#[test]
fn hll_is_near_exact_while_sparse_and_within_bounds_when_dense() {
    let mut h = HyperLogLog::new(14, SEED).unwrap();
    for i in 0..4000u64 {
        h.update(hash_u64(i, SEED));
        let n = (i + 1) as f64;
        if i % 97 == 0 {
            let e = h.estimate();
            assert!((e.value - n).abs() <= 1.0 + n * 1e-3, "n={n}: {}", e.value);
        }
    }
    assert!(h.is_sparse());
    for i in 4000..1_000_000u64 {
        h.update(hash_u64(i, SEED));
    }
    assert!(!h.is_sparse());
    let e = h.estimate();
    assert!(e.contains(1e6), "{e:?}");
    assert!((e.value - 1e6).abs() / 1e6 < 3.0 * h.dense_rse());
}

#[test]
fn thousands_of_small_hlls_stay_small() {
    let hlls: Vec<HyperLogLog> = (0..10_000u64)
        .map(|d| {
            let mut h = HyperLogLog::new(12, SEED).unwrap();
            for s in 0..3 {
                h.update(hash_u64(d * 10 + s, SEED));
            }
            h
        })
        .collect();
    let bytes: usize = hlls.iter().map(HyperLogLog::size_bytes).sum();
    assert!(bytes <= 10_000 * 32, "{bytes}");
    assert_eq!(hlls[0].estimate().value.round(), 3.0);
}

#[test]
fn mismatched_shapes_do_not_merge() {
    let mut a = CountMin::with_shape(64, 3, SEED).unwrap();
    assert!(a
        .merge(&CountMin::with_shape(128, 3, SEED).unwrap())
        .is_err());
    assert!(a
        .merge(&CountMin::with_shape(64, 3, SEED + 1).unwrap())
        .is_err());
    let mut h = HyperLogLog::new(10, SEED).unwrap();
    assert!(h.merge(&HyperLogLog::new(11, SEED).unwrap()).is_err());
    let mut s = SpaceSaving::<u64>::new(10, SEED).unwrap();
    assert!(s.merge(&SpaceSaving::new(10, SEED + 1).unwrap()).is_err());
    assert!(CountMin::with_error(0.0, 0.1, SEED).is_err());
    assert!(HyperLogLog::new(19, SEED).is_err());
}

/// Regression: an incremental merge that evicts a key and then meets it in
/// the other summary must charge the minimum at that moment (the evicted
/// count), not the minimum from before the merge.
#[test]
fn merge_charges_the_current_minimum_to_a_key_it_evicted() {
    let mut a = SpaceSaving::<u64>::new(4, 1).unwrap();
    for (k, w) in [(1, 10), (2, 15), (3, 30), (4, 40)] {
        a.update(k, w);
    }
    let mut b = SpaceSaving::<u64>::new(4, 1).unwrap();
    for (k, w) in [(5, 100), (6, 100), (2, 50)] {
        b.update(k, w);
    }
    a.merge(&b).unwrap();
    let h = a.bounds(&2);
    assert!(h.lower <= 65 && 65 <= h.upper, "key 2 truth 65: {h:?}");
    for (k, t) in [(1, 10), (3, 30), (4, 40), (5, 100), (6, 100)] {
        let h = a.bounds(&k);
        assert!(h.lower <= t && t <= h.upper, "key {k} truth {t}: {h:?}");
    }
}

#[test]
fn count_min_switches_to_the_array_at_a_sixteenth_of_its_cells() {
    let mut cm = CountMin::with_shape(1024, 4, SEED).unwrap();
    // 4,096 cells: the map holds up to 256 of them.
    let mut k = 0u64;
    while cm.is_sparse() {
        cm.update(hash_u64(k, SEED), 1);
        k += 1;
        assert!(k <= 256, "still sparse after {k} keys");
    }
    // Each key sets up to 4 cells, so the switch comes past 64 keys.
    assert!(k > 64, "switched after only {k} keys");
    // An untouched sketch merged into stays sparse, and clear keeps the kind.
    let mut quiet = CountMin::with_shape(1024, 4, SEED).unwrap();
    quiet
        .merge(&CountMin::with_shape(1024, 4, SEED).unwrap())
        .unwrap();
    assert!(quiet.is_sparse());
    quiet.merge(&cm).unwrap();
    assert!(!quiet.is_sparse());
    assert_eq!(quiet, cm);
}

#[test]
fn sketches_reused_across_busy_and_quiet_epochs_answer_as_fresh_ones() {
    // Reset and clear keep (and shrink) storage across uses: whatever a
    // sketch held before, its answers are those of a new one.
    let mut cm = CountMin::with_shape(1024, 4, SEED).unwrap();
    let mut hll = HyperLogLog::new(14, SEED).unwrap();
    for (round, n) in [5_000u64, 3, 2_000, 40, 0, 9_000, 1]
        .into_iter()
        .enumerate()
    {
        cm.reset();
        hll.clear();
        let mut fresh_cm = CountMin::with_shape(1024, 4, SEED).unwrap();
        let mut fresh_hll = HyperLogLog::new(14, SEED).unwrap();
        for k in 0..n {
            let h = hash_u64(k * 7 + round as u64, SEED);
            cm.update(h, k % 5 + 1);
            fresh_cm.update(h, k % 5 + 1);
            hll.update(h);
            fresh_hll.update(h);
        }
        assert_eq!(cm, fresh_cm, "round {round}");
        assert_eq!(cm.is_sparse(), fresh_cm.is_sparse(), "round {round}");
        assert_eq!(hll.estimate(), fresh_hll.estimate(), "round {round}");
        let mut a = HyperLogLog::new(14, SEED).unwrap();
        let mut b = HyperLogLog::new(14, SEED).unwrap();
        a.merge(&hll).unwrap();
        b.merge(&fresh_hll).unwrap();
        assert_eq!(a.estimate(), b.estimate(), "round {round}");
    }
}
