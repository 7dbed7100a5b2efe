//! Cost of one update and one query of each sketch at the sizes the
//! pipeline uses (issue 3): Count-Min 4 x 65,536, HLL p = 14, heavy hitters
//! with 4,096 counters, over Zipf(1.0) keys from 1 million.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand::{RngExt, SeedableRng};
use rand_distr::Zipf;
use rand_xoshiro::Xoshiro256PlusPlus;
use sketches::hash::{hash_u128, DEFAULT_SEED};
use sketches::{CountMin, HyperLogLog, SpaceSaving};

const N: usize = 1 << 16;

fn zipf_keys() -> Vec<u128> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let z = Zipf::new(1e6, 1.0).unwrap();
    (0..N)
        .map(|_| rng.sample(z) as u128 | 0xffff << 32)
        .collect()
}

fn bench(c: &mut Criterion) {
    let keys = zipf_keys();
    let hashes: Vec<u64> = keys.iter().map(|k| hash_u128(*k, DEFAULT_SEED)).collect();
    let mut g = c.benchmark_group("sketch_update");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("hash_u128", |b| {
        b.iter(|| {
            keys.iter()
                .fold(0u64, |a, k| a ^ hash_u128(*k, DEFAULT_SEED))
        })
    });
    // A sketch holds its counters in a map until 1/16 of the cells are
    // set: `dense` is past that (the steady state of a busy epoch),
    // `from_empty` pays the map phase and the switch.
    let empty = CountMin::with_shape(65_536, 4, DEFAULT_SEED).unwrap();
    let mut cm = empty.clone();
    hashes.iter().for_each(|&h| cm.update(h, 1));
    cm.clear();
    assert!(!cm.is_sparse());
    g.bench_function("count_min_conservative_4x65536", |b| {
        b.iter_batched_ref(
            || cm.clone(),
            |cm| hashes.iter().for_each(|&h| cm.update(h, 64)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("count_min_conservative_4x65536_from_empty", |b| {
        b.iter_batched_ref(
            || empty.clone(),
            |cm| hashes.iter().for_each(|&h| cm.update(h, 64)),
            BatchSize::LargeInput,
        )
    });
    let plain = cm.clone().plain();
    g.bench_function("count_min_plain_4x65536", |b| {
        b.iter_batched_ref(
            || plain.clone(),
            |cm| hashes.iter().for_each(|&h| cm.update(h, 64)),
            BatchSize::LargeInput,
        )
    });
    let mut dense = HyperLogLog::new(14, DEFAULT_SEED).unwrap();
    for i in 0..100_000u128 {
        dense.update(hash_u128(i, 99));
    }
    g.bench_function("hll_p14_dense", |b| {
        b.iter_batched_ref(
            || dense.clone(),
            |h| hashes.iter().for_each(|&x| h.update(x)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("hll_p14_from_empty", |b| {
        b.iter_batched_ref(
            || HyperLogLog::new(14, DEFAULT_SEED).unwrap(),
            |h| hashes.iter().for_each(|&x| h.update(x)),
            BatchSize::LargeInput,
        )
    });
    let mut ss = SpaceSaving::<u128>::new(4096, DEFAULT_SEED).unwrap();
    for k in &keys {
        ss.update(*k, 64);
    }
    g.bench_function("space_saving_4096", |b| {
        b.iter_batched_ref(
            || ss.clone(),
            |s| keys.iter().for_each(|&k| s.update(k, 64)),
            BatchSize::LargeInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("sketch_query");
    g.throughput(Throughput::Elements(N as u64));
    let mut cm = cm.clone();
    hashes.iter().for_each(|&h| cm.update(h, 64));
    g.bench_function("count_min_4x65536", |b| {
        b.iter(|| hashes.iter().map(|&h| cm.query(h)).sum::<u64>())
    });
    g.bench_function("space_saving_bounds", |b| {
        b.iter(|| keys.iter().map(|k| ss.bounds(k).upper).sum::<u64>())
    });
    g.sample_size(20);
    g.throughput(Throughput::Elements(1));
    g.bench_function("hll_p14_estimate", |b| b.iter(|| dense.estimate()));
    g.bench_function("space_saving_top100_of_4096", |b| b.iter(|| ss.top(100)));
    g.finish();
}

/// The same work through the Apache DataSketches crate, which the issue
/// asks us to measure against: whichever is faster runs inside, and only
/// the bytes that leave must be DataSketches'.
fn versus_datasketches(c: &mut Criterion) {
    use datasketches::countmin::CountMinSketch;
    use datasketches::frequencies::FrequentItemsSketch;
    use datasketches::hash::value::raw_bytes;
    use datasketches::hll::{HllSketch, HllType};
    use sketches::datasketches::{ip_coupon, ip_text};
    let keys = zipf_keys();
    let addrs: Vec<std::net::IpAddr> = keys
        .iter()
        .map(|&k| std::net::Ipv4Addr::from(k as u32).into())
        .collect();
    let mut g = c.benchmark_group("versus_datasketches");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("ours_hll_p14_netsketch_hash", |b| {
        b.iter_batched_ref(
            || HyperLogLog::new(14, DEFAULT_SEED).unwrap(),
            |h| {
                keys.iter()
                    .for_each(|&k| h.update(hash_u128(k, DEFAULT_SEED)))
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("ours_hll_p14_address_text_murmur3", |b| {
        b.iter_batched_ref(
            || HyperLogLog::new_datasketches(14).unwrap(),
            |h| addrs.iter().for_each(|&a| h.update_coupon(ip_coupon(a))),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("crate_hll8_p14_address_text", |b| {
        b.iter_batched_ref(
            || HllSketch::new(14, HllType::Hll8).unwrap(),
            |h| {
                let mut buf = [0u8; 48];
                addrs.iter().for_each(|&a| {
                    let n = ip_text(a, &mut buf);
                    h.update(raw_bytes::from_slice(&buf[..n]));
                })
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("crate_hll8_p14_u128", |b| {
        b.iter_batched_ref(
            || HllSketch::new(14, HllType::Hll8).unwrap(),
            |h| keys.iter().for_each(|&k| h.update(k)),
            BatchSize::LargeInput,
        )
    });
    let cm = CountMin::with_shape(65_536, 4, DEFAULT_SEED).unwrap();
    g.bench_function("ours_count_min_conservative_4x65536", |b| {
        b.iter_batched_ref(
            || cm.clone(),
            |cm| {
                keys.iter()
                    .for_each(|&k| cm.update(hash_u128(k, DEFAULT_SEED), 64))
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("crate_count_min_plain_4x65536", |b| {
        b.iter_batched_ref(
            || CountMinSketch::<u64>::new(4, 65_536).unwrap(),
            |cm| keys.iter().for_each(|&k| cm.update_with_weight(k, 64)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("ours_space_saving_4096", |b| {
        b.iter_batched_ref(
            || SpaceSaving::<u64>::new(4096, DEFAULT_SEED).unwrap(),
            |s| keys.iter().for_each(|&k| s.update(k as u64, 64)),
            BatchSize::LargeInput,
        )
    });
    // 8,192-entry map: 6,144 counters, more than ours.
    g.bench_function("crate_frequent_items_8192", |b| {
        b.iter_batched_ref(
            || FrequentItemsSketch::<u64>::new(8192).unwrap(),
            |s| keys.iter().for_each(|&k| s.update_with_count(k as u64, 64)),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench, versus_datasketches);
criterion_main!(benches);
