//! Read + parse throughput (issue 2): the synthetic 64-byte case and the
//! mixed real trace, both from memory so the figure is the CPU cost of
//! framing and parsing, not of the disk.

use std::io::Cursor;

use capture::write::PcapWriter;
use capture::{parse_packet, CaptureFile, FlowUpdate, Linktype, Totals};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// `n` minimum-size Ethernet/IPv4/UDP frames (64 bytes on the wire with FCS,
/// 60 captured) with varying addresses and ports, as a pcap file in memory.
pub fn synthetic_64(n: u32) -> Vec<u8> {
    let mut w = PcapWriter::new(
        Vec::with_capacity(n as usize * 80 + 24),
        Linktype::ETHERNET,
        65535,
    )
    .unwrap();
    let mut frame = Vec::with_capacity(64);
    for i in 0..n {
        frame.clear();
        let b = i.to_be_bytes();
        etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, b[1], b[2], b[3]], [192, 168, b[3], 1], 64)
            .udp(1024 + (i % 50_000) as u16, 53)
            .write(&mut frame, &[0; 18])
            .unwrap();
        w.write_packet(u64::from(i) * 100, 64, &frame).unwrap();
    }
    w.into_inner().unwrap()
}

fn read_and_parse(bytes: &'static [u8]) -> Totals {
    let mut f = CaptureFile::from_reader(Box::new(Cursor::new(bytes))).unwrap();
    let mut totals = Totals::default();
    let mut u = FlowUpdate::default();
    while let Some(p) = f.next_packet().unwrap() {
        let r = parse_packet(&p, &mut u);
        totals.record(&p, &u, r.err());
    }
    totals
}

fn read_only(bytes: &'static [u8]) -> u64 {
    let mut f = CaptureFile::from_reader(Box::new(Cursor::new(bytes))).unwrap();
    let mut n = 0u64;
    while let Some(p) = f.next_packet().unwrap() {
        n += p.data.len() as u64;
    }
    n
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("capture");
    g.sample_size(20);
    let n = 1_000_000;
    // Leaked once so that each iteration reads in place, as from the page
    // cache, instead of copying the whole capture first.
    let syn: &'static [u8] = synthetic_64(n).leak();
    g.throughput(Throughput::Elements(u64::from(n)));
    g.bench_function(BenchmarkId::new("read", "synthetic_64B"), |b| {
        b.iter(|| read_only(syn))
    });
    g.bench_function(BenchmarkId::new("read_parse_count", "synthetic_64B"), |b| {
        b.iter(|| read_and_parse(syn))
    });
    let mixed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/traces/mixed/real-merged.pcap");
    if let Ok(bytes) = std::fs::read(&mixed) {
        let bytes: &'static [u8] = bytes.leak();
        let packets = read_and_parse(bytes).packets;
        g.throughput(Throughput::Elements(packets));
        g.bench_function(BenchmarkId::new("read_parse_count", "real_merged"), |b| {
            b.iter(|| read_and_parse(bytes))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
