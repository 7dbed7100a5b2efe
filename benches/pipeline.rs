//! End-to-end pipeline pass over an in-memory trace (issue 5): read, parse,
//! epochs, every sketch, windows and the run total, on 0, 1 and 2 workers.

use std::io::Cursor;
use std::sync::atomic::AtomicBool;

use capture::write::PcapWriter;
use capture::{CaptureFile, Linktype};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netsketch_tools::gen::{Config, Model, Scenario};
use pipeline::{Engine, EngineConfig, FileSource};

/// Generated edge traffic with a SYN flood, as a pcap in memory.
fn trace(packets: u64) -> &'static [u8] {
    let cfg = Config {
        scenarios: vec![Scenario::Baseline, Scenario::SynFlood],
        rate_pps: 200_000.0,
        duration_ns: (packets as f64 / 300_000.0 * 1e9) as u64,
        max_packets: Some(packets),
        until_count: true,
        seed: 1,
        start_ns: 1_704_067_200_000_000_000,
        attack_rate_pps: 200_000.0,
    };
    let mut m = Model::new(cfg);
    let mut w = PcapWriter::new(Vec::new(), Linktype::ETHERNET, 65535).unwrap();
    let mut buf = Vec::new();
    while let Some(p) = m.next(&mut buf) {
        w.write_packet(p.ts_ns, p.wire_len, &buf).unwrap();
    }
    w.into_inner().unwrap().leak()
}

fn bench(c: &mut Criterion) {
    let n = 500_000;
    let bytes = trace(n);
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    for workers in [0usize, 1, 2] {
        let engine = Engine::new(EngineConfig {
            workers,
            pin: false,
            memory_bytes: 64 << 20,
            ..EngineConfig::default()
        })
        .unwrap();
        g.bench_function(format!("replay_generated_{workers}_workers"), |b| {
            b.iter(|| {
                let file = CaptureFile::from_reader(Box::new(Cursor::new(bytes))).unwrap();
                let mut src = FileSource::new(vec![("mem".into(), file)]);
                engine
                    .run(&mut src, &AtomicBool::new(false), |_, _| {})
                    .total
                    .totals
                    .packets
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
