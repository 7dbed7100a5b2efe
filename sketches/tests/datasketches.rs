//! DataSketches interoperability, checked against the `datasketches` crate
//! (wire-compatible with the Java, C++ and Python libraries). The Python
//! library itself is checked by the root test `datasketches_python`.

use datasketches::frequencies::FrequentItemsSketch;
use datasketches::hash::value::raw_bytes;
use datasketches::hll::{HllSketch, HllType, HllUnion};
use proptest::prelude::*;
use sketches::datasketches::{
    frequent_items_to_bytes, hll_from_bytes, hll_to_bytes, ip_coupon, ip_string, ip_text,
    FrequentItems,
};
use sketches::{Coupon, HyperLogLog, SpaceSaving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

fn key(i: u32) -> String {
    format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255)
}

fn ours(lg_k: u8, keys: impl Iterator<Item = u32>) -> HyperLogLog {
    let mut h = HyperLogLog::new_datasketches(lg_k).unwrap();
    for i in keys {
        h.update_coupon(Coupon::datasketches(key(i).as_bytes()));
    }
    h
}

fn theirs(lg_k: u8, t: HllType, keys: impl Iterator<Item = u32>) -> HllSketch {
    let mut h = HllSketch::new(lg_k, t).unwrap();
    for i in keys {
        h.update(raw_bytes::from_str(&key(i)));
    }
    h
}

/// Sizes that land in every DataSketches mode: empty, LIST, SET, HLL.
const SIZES: [u32; 9] = [0, 1, 7, 8, 100, 300, 3_000, 20_000, 200_000];

#[test]
fn their_bytes_read_as_the_same_registers_as_ours_in_every_mode_and_type() {
    for lg_k in [4u8, 8, 12, 14] {
        for n in SIZES {
            let mine = ours(lg_k, 0..n);
            for t in [HllType::Hll4, HllType::Hll6, HllType::Hll8] {
                let bytes = theirs(lg_k, t, 0..n).serialize();
                let read = hll_from_bytes(&bytes).unwrap();
                // Equal as sets of coupons while both are sparse, as
                // registers once dense: compare the registers they imply.
                let mut a = HyperLogLog::new_datasketches(lg_k).unwrap();
                a.merge(&read).unwrap();
                let mut b = HyperLogLog::new_datasketches(lg_k).unwrap();
                b.merge(&mine).unwrap();
                if read.is_sparse() != mine.is_sparse() {
                    // DataSketches went dense earlier than we do: fold ours.
                    let mut dense = HyperLogLog::new_datasketches(lg_k).unwrap();
                    dense.merge(&mine).unwrap();
                    let folded = hll_from_bytes(&hll_to_bytes(&dense).unwrap()).unwrap();
                    assert_eq!(
                        hll_to_bytes(&folded).unwrap()[40..],
                        hll_to_bytes(&read).unwrap()[40..],
                        "lg_k {lg_k} n {n} {t:?}"
                    );
                } else {
                    assert!(a == b, "lg_k {lg_k} n {n} {t:?}");
                }
            }
        }
    }
}

#[test]
fn our_bytes_give_their_estimates_and_merge_with_theirs() {
    for lg_k in [4u8, 8, 12, 14] {
        for n in SIZES {
            let mine = ours(lg_k, 0..n);
            let bytes = hll_to_bytes(&mine).unwrap();
            let read = HllSketch::deserialize(&bytes).unwrap();
            let own = theirs(lg_k, HllType::Hll8, 0..n);
            let est = mine.estimate();
            // Same coupons: in LIST and SET modes the estimates are equal;
            // in HLL mode theirs (HIP, in order) and ours (composite, out of
            // order) are two estimators of the same registers.
            let (a, b) = (read.estimate(), own.estimate());
            let tol = if n as usize > 3 * (1 << lg_k) / 32 {
                3.0 * 1.04 / ((1u64 << lg_k) as f64).sqrt() * b
            } else {
                1e-9 * b + 1e-9
            };
            assert!((a - b).abs() <= tol, "lg_k {lg_k} n {n}: {a} vs {b}");
            assert!(
                est.lower <= a.max(1.0) * 1.05 && a <= est.upper * 1.05 + 1.0,
                "lg_k {lg_k} n {n}: theirs {a} outside ours {est:?}"
            );
            // Union with their own sketch of the same keys changes nothing;
            // union with their sketch of other keys is the sketch of all.
            let mut u = HllUnion::new(lg_k).unwrap();
            u.update(&read);
            u.update(&own);
            let mut alone = HllUnion::new(lg_k).unwrap();
            alone.update(&own);
            let same = |x: &HllUnion, y: &HllUnion| {
                hll_from_bytes(&x.to_sketch(HllType::Hll8).serialize()).unwrap()
                    == hll_from_bytes(&y.to_sketch(HllType::Hll8).serialize()).unwrap()
            };
            assert!(same(&u, &alone), "lg_k {lg_k} n {n}");
            let mut halves = HllUnion::new(lg_k).unwrap();
            halves.update(
                &HllSketch::deserialize(&hll_to_bytes(&ours(lg_k, 0..n / 2)).unwrap()).unwrap(),
            );
            halves.update(&theirs(lg_k, HllType::Hll4, n / 2..n));
            assert!(same(&halves, &alone), "halves lg_k {lg_k} n {n}");
        }
    }
}

#[test]
fn only_datasketches_hashed_hlls_leave() {
    let h = HyperLogLog::new(12, 1).unwrap();
    assert!(hll_to_bytes(&h).is_err());
}

#[test]
fn ip_text_is_the_standard_text_form() {
    let mut cases: Vec<IpAddr> = vec![
        Ipv4Addr::new(0, 0, 0, 0).into(),
        Ipv4Addr::new(255, 255, 255, 255).into(),
        Ipv4Addr::new(10, 0, 99, 100).into(),
    ];
    for s in [
        "::",
        "::1",
        "1::",
        "2001:db8::1",
        "2001:db8:0:0:1:0:0:1",
        "2001:0:0:1:0:0:0:1",
        "fe80::1:2:3:4",
        "1:2:3:4:5:6:7:8",
        "0:1:0:1:0:1:0:1",
        "::ffff:1.2.3.4",
        "::1.2.3.4",
        "1:0:0:2::3",
    ] {
        cases.push(s.parse::<Ipv6Addr>().unwrap().into());
    }
    let mut rng = 0x1234_5678_9abc_def0u64;
    for _ in 0..20_000 {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // Sparse groups, so zero runs of every length occur.
        let mut g = [0u16; 8];
        for (j, x) in g.iter_mut().enumerate() {
            if rng >> (j * 3) & 3 == 0 {
                *x = (rng >> (j * 7 + 8)) as u16;
            }
        }
        cases.push(Ipv6Addr::from(g).into());
        cases.push(Ipv4Addr::from((rng >> 32) as u32).into());
    }
    let mut buf = [0u8; 48];
    for ip in cases {
        let n = ip_text(ip, &mut buf);
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), ip.to_string());
        assert_eq!(ip_string(ip), ip.to_string());
        assert_eq!(
            ip_coupon(ip),
            Coupon::datasketches(ip.to_string().as_bytes())
        );
    }
}

fn zipf_stream(n: usize) -> Vec<u64> {
    let mut rng = 7u64;
    (0..n)
        .map(|_| {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((rng >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
            // Roughly Zipf(1) over 100k keys.
            (100_000f64.powf(u) as u64).min(100_000)
        })
        .collect()
}

#[test]
fn frequent_items_keep_our_estimates_and_valid_bounds_when_read_by_datasketches() {
    let stream = zipf_stream(200_000);
    let mut truth = std::collections::HashMap::new();
    for &k in &stream {
        *truth.entry(k).or_insert(0u64) += 1;
    }
    for capacity in [16usize, 256, 4096] {
        let mut ss = SpaceSaving::<u64>::new(capacity, 1).unwrap();
        for &k in &stream {
            ss.update(k, 1);
        }
        let bytes = frequent_items_to_bytes(&ss, |k| k.to_string());
        let ds = FrequentItemsSketch::<String>::deserialize(&bytes).unwrap();
        let ours_read = FrequentItems::from_bytes(&bytes).unwrap();
        assert_eq!(ds.total_weight(), stream.len() as u64);
        assert_eq!(ds.maximum_error(), ours_read.offset);
        for h in ss.top(capacity) {
            let k = h.key.to_string();
            if h.upper > ds.maximum_error() {
                assert_eq!(ds.estimate(&k), h.upper, "capacity {capacity} key {k}");
            }
        }
        for (k, &t) in &truth {
            let ks = k.to_string();
            let (lo, hi) = (ds.lower_bound(&ks), ds.upper_bound(&ks));
            assert!(
                lo <= t && t <= hi,
                "capacity {capacity} key {k}: {lo} <= {t} <= {hi}"
            );
            assert_eq!(ours_read.bounds(&ks), (lo, hi));
            assert_eq!(ours_read.estimate(&ks), ds.estimate(&ks));
        }
        // Theirs, read by us.
        let mut their =
            FrequentItemsSketch::<String>::new(capacity.next_power_of_two().max(8)).unwrap();
        for &k in &stream {
            their.update(k.to_string());
        }
        let read = FrequentItems::from_bytes(&their.serialize()).unwrap();
        assert_eq!(read.total, their.total_weight());
        for (k, _) in truth.iter().take(2_000) {
            let ks = k.to_string();
            assert_eq!(read.estimate(&ks), their.estimate(&ks));
            assert_eq!(
                read.bounds(&ks),
                (their.lower_bound(&ks), their.upper_bound(&ks))
            );
        }
    }
    let empty = SpaceSaving::<u64>::new(8, 1).unwrap();
    let b = frequent_items_to_bytes(&empty, |k| k.to_string());
    assert!(FrequentItemsSketch::<String>::deserialize(&b)
        .unwrap()
        .is_empty());
    assert_eq!(FrequentItems::from_bytes(&b).unwrap().total, 0);
}

#[test]
fn merged_frequent_items_of_two_halves_bound_every_truth() {
    let stream = zipf_stream(100_000);
    let mut truth = std::collections::HashMap::new();
    for &k in &stream {
        *truth.entry(k).or_insert(0u64) += 1;
    }
    let (a, b) = stream.split_at(stream.len() / 3);
    for capacity in [16usize, 256] {
        let read = |part: &[u64]| {
            let mut ss = SpaceSaving::<u64>::new(capacity, 1).unwrap();
            for &k in part {
                ss.update(k, 1);
            }
            FrequentItems::from_bytes(&frequent_items_to_bytes(&ss, |k| k.to_string())).unwrap()
        };
        let (fa, fb) = (read(a), read(b));
        let mut m = fa.clone();
        m.merge(&fb);
        assert_eq!(m.total, stream.len() as u64);
        assert_eq!(m.offset, fa.offset + fb.offset);
        for (k, &t) in &truth {
            let (lo, hi) = m.bounds(&k.to_string());
            assert!(
                lo <= t && t <= hi,
                "capacity {capacity} key {k}: {lo} <= {t} <= {hi}"
            );
        }
        let top = m.top(5);
        assert!(top.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(top.iter().all(|(_, e, lo, hi)| lo <= e && e == hi));
    }
}

/// One serialized sketch.
type Bytes = Vec<u8>;

/// Real bytes to mutate, made once: DataSketches HLLs of every mode (empty,
/// LIST, SET, HLL), every `lg_k` from 4 to 12 and every target type, and
/// our frequent-items bytes of as many stream lengths.
fn real_bytes() -> &'static (Vec<Bytes>, Vec<Bytes>) {
    static BYTES: OnceLock<(Vec<Bytes>, Vec<Bytes>)> = OnceLock::new();
    BYTES.get_or_init(|| {
        const NS: [u32; 12] = [0, 1, 2, 7, 8, 9, 100, 300, 700, 1_500, 3_000, 4_999];
        let mut hlls = Vec::new();
        for n in NS {
            for lg_k in 4u8..=12 {
                for ty in [HllType::Hll4, HllType::Hll6, HllType::Hll8] {
                    hlls.push(theirs(lg_k, ty, 0..n).serialize());
                }
            }
        }
        let freqs = NS
            .iter()
            .map(|&n| {
                let mut ss = SpaceSaving::<u64>::new(64, 1).unwrap();
                for i in 0..n as u64 {
                    ss.update(i % 97, i);
                }
                frequent_items_to_bytes(&ss, |k| k.to_string())
            })
            .collect();
        (hlls, freqs)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn garbage_hll_bytes_are_an_error_not_a_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = hll_from_bytes(&b);
    }

    #[test]
    fn garbage_frequent_items_bytes_are_an_error_not_a_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = FrequentItems::from_bytes(&b);
    }

    /// Real bytes, bit-flipped and cut short. They come from a table made
    /// once ([`real_bytes`]) rather than
    /// from a sketch of 0..5000 keys built anew in each of the 2,000 cases,
    /// which took 22 s of a debug build.
    #[test]
    fn mutated_and_truncated_real_bytes_never_panic(
        hll in any::<prop::sample::Index>(), freq in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let (hlls, freqs) = real_bytes();
        let mut b = hll.get(hlls).clone();
        for (i, x) in flips {
            let i = i.index(b.len());
            b[i] ^= x;
        }
        let _ = hll_from_bytes(&b);
        let _ = hll_from_bytes(&b[..cut.index(b.len() + 1)]);
        let f = freq.get(freqs);
        let _ = FrequentItems::from_bytes(&f[..cut.index(f.len() + 1)]);
    }
}
