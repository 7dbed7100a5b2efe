//! Flow export decoding (issue 7): NetFlow v5, v9 and IPFIX datagrams of
//! the size exporters send (~1,400 bytes), decoded into updates; and the
//! same IPFIX export as a capture in memory through the whole pipeline
//! (`replay --flows`). Throughput is in flow records.

use std::io::Cursor;
use std::sync::atomic::AtomicBool;

use capture::flows::{FlowDecoder, Limits};
use capture::write::PcapWriter;
use capture::{CaptureFile, FlowUpdate, Ip, Linktype};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pipeline::{Engine, EngineConfig, FileSource};

const EXPORTER: (Ip, u16) = (Ip(0xffff_c000_0201), 4739);

/// IPFIX / v9 fields of a typical exporter template: addresses, ports,
/// protocol, flags, 64-bit counters, start and end in ms, interfaces, ToS.
const FIELDS: [(u16, u16); 13] = [
    (8, 4),
    (12, 4),
    (7, 2),
    (11, 2),
    (4, 1),
    (6, 1),
    (1, 8),
    (2, 8),
    (152, 8),
    (153, 8),
    (10, 4),
    (14, 4),
    (5, 1),
];
const REC_LEN: usize = 55;

fn record(i: u32, out: &mut Vec<u8>) {
    let src = 0x0a00_0000 | (i.wrapping_mul(2_654_435_761) >> 12);
    out.extend_from_slice(&src.to_be_bytes());
    out.extend_from_slice(&(0xc633_6400 | (i & 0xff)).to_be_bytes());
    out.extend_from_slice(&((1024 + i % 60_000) as u16).to_be_bytes());
    out.extend_from_slice(&443u16.to_be_bytes());
    out.extend_from_slice(&[6, 0x1b]);
    out.extend_from_slice(&(1500u64 * (1 + i as u64 % 50)).to_be_bytes());
    out.extend_from_slice(&(1 + i as u64 % 50).to_be_bytes());
    // 50,000 records per second of event time, a busy exporter.
    let end = 1_704_067_200_000u64 + i as u64 / 50;
    out.extend_from_slice(&(end - 1000).to_be_bytes());
    out.extend_from_slice(&end.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, 0]);
}

/// An IPFIX (10) or NetFlow v9 (9) message: the template, or `records`
/// data records starting at `first`.
fn message(version: u16, template: bool, first: u32, records: u32) -> Vec<u8> {
    let mut body = Vec::new();
    let set_id: u16 = if template {
        if version == 10 {
            2
        } else {
            0
        }
    } else {
        256
    };
    if template {
        body.extend_from_slice(&256u16.to_be_bytes());
        body.extend_from_slice(&(FIELDS.len() as u16).to_be_bytes());
        for (id, len) in FIELDS {
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(&len.to_be_bytes());
        }
    } else {
        for i in first..first + records {
            record(i, &mut body);
        }
    }
    while body.len() % 4 != 0 {
        body.push(0);
    }
    let mut set = Vec::new();
    set.extend_from_slice(&set_id.to_be_bytes());
    set.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
    set.extend_from_slice(&body);
    let mut d = Vec::new();
    d.extend_from_slice(&version.to_be_bytes());
    if version == 10 {
        d.extend_from_slice(&((16 + set.len()) as u16).to_be_bytes());
        d.extend_from_slice(&1_704_067_300u32.to_be_bytes());
        d.extend_from_slice(&first.to_be_bytes());
        d.extend_from_slice(&7u32.to_be_bytes());
    } else {
        d.extend_from_slice(&(if template { 1u16 } else { records as u16 }).to_be_bytes());
        d.extend_from_slice(&3_600_000u32.to_be_bytes());
        d.extend_from_slice(&1_704_067_300u32.to_be_bytes());
        d.extend_from_slice(&first.to_be_bytes());
        d.extend_from_slice(&7u32.to_be_bytes());
    }
    d.extend_from_slice(&set);
    d
}

/// A NetFlow v5 datagram of 30 records.
fn v5(first: u32) -> Vec<u8> {
    let mut d = vec![0, 5, 0, 30];
    d.extend_from_slice(&3_600_000u32.to_be_bytes());
    d.extend_from_slice(&1_704_067_300u32.to_be_bytes());
    d.extend_from_slice(&[0; 16]);
    for i in first..first + 30 {
        let src = 0x0a00_0000 | (i.wrapping_mul(2_654_435_761) >> 12);
        d.extend_from_slice(&src.to_be_bytes());
        d.extend_from_slice(&(0xc633_6400 | (i & 0xff)).to_be_bytes());
        d.extend_from_slice(&[0; 8]);
        d.extend_from_slice(&(1 + i % 50).to_be_bytes());
        d.extend_from_slice(&(1500 * (1 + i % 50)).to_be_bytes());
        d.extend_from_slice(&3_500_000u32.to_be_bytes());
        d.extend_from_slice(&3_599_000u32.to_be_bytes());
        d.extend_from_slice(&((1024 + i % 60_000) as u16).to_be_bytes());
        d.extend_from_slice(&443u16.to_be_bytes());
        d.extend_from_slice(&[0, 0x1b, 6, 0]);
        d.extend_from_slice(&[0; 8]);
    }
    d
}

/// Records per data datagram: as many as fit 1,400 bytes.
const PER: u32 = ((1400 - 20) / REC_LEN) as u32;

fn datagrams(version: u16, n: u32) -> Vec<Vec<u8>> {
    let mut v = vec![];
    if version != 5 {
        v.push(message(version, true, 0, 0));
    }
    for k in 0..n {
        v.push(if version == 5 {
            v5(k * 30)
        } else {
            message(version, false, k * PER, PER)
        });
    }
    v
}

/// The IPFIX export as a pcap of Ethernet/IPv4/UDP frames.
fn export_pcap(n: u32) -> &'static [u8] {
    let mut w = PcapWriter::new(Vec::new(), Linktype::ETHERNET, 65535).unwrap();
    for (k, d) in datagrams(10, n).into_iter().enumerate() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
        f.extend_from_slice(&((28 + d.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
        f.extend_from_slice(&4739u16.to_be_bytes());
        f.extend_from_slice(&4739u16.to_be_bytes());
        f.extend_from_slice(&((8 + d.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&d);
        let ts = 1_704_067_200_000_000_000 + (k as u64 * PER as u64) * 20_000;
        w.write_packet(ts, f.len() as u32, &f).unwrap();
    }
    w.into_inner().unwrap().leak()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("flows");
    g.sample_size(20);
    let n = 2000;
    for (name, version) in [("netflow_v5", 5u16), ("netflow_v9", 9), ("ipfix", 10)] {
        let ds = datagrams(version, n);
        let per = if version == 5 { 30 } else { PER };
        g.throughput(Throughput::Elements(u64::from(n * per)));
        let mut dec = FlowDecoder::new(Limits::default());
        let mut out: Vec<FlowUpdate> = Vec::with_capacity(64);
        // The template once, outside the timed loop.
        let _ = dec.decode(EXPORTER, &ds[0], 0, &mut out);
        let data = if version == 5 { &ds[..] } else { &ds[1..] };
        g.bench_function(BenchmarkId::new("decode", name), |b| {
            b.iter(|| {
                let mut records = 0;
                for d in data {
                    out.clear();
                    let _ = dec.decode(EXPORTER, d, 0, &mut out);
                    records += out.len();
                }
                records
            })
        });
    }
    // End to end: read the capture, find the UDP payloads, decode, and run
    // every sketch (replay --flows), on 0 and 2 workers.
    let n = 20_000;
    let pcap = export_pcap(n);
    g.sample_size(10);
    g.throughput(Throughput::Elements(u64::from(n * PER)));
    for workers in [0usize, 2] {
        let engine = Engine::new(EngineConfig {
            workers,
            pin: false,
            memory_bytes: 64 << 20,
            ..EngineConfig::default()
        })
        .unwrap();
        g.bench_function(format!("replay_ipfix_{workers}_workers"), |b| {
            b.iter(|| {
                let file = CaptureFile::from_reader(Box::new(Cursor::new(pcap))).unwrap();
                let mut src = FileSource::flows(vec![("mem".into(), file)], Limits::default());
                let out = engine.run(&mut src, &AtomicBool::new(false), |_, _| {});
                assert_eq!(
                    src.flows.as_ref().unwrap().counts.records,
                    u64::from(n * PER)
                );
                out.total.totals.packets
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
