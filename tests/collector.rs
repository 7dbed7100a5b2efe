//! `netsketch collect` over loopback UDP against issue 17's collector
//! defects: datagrams queued at shutdown, and floods of empty data sets and
//! templates from one address while a good exporter alongside must decode
//! every record, in bounded memory (the child's peak RSS from
//! /proc/PID/status and the collector's own accounting).

mod common;

use std::net::UdpSocket;
use std::process::Child;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{signal, spawn_announced};
use serde_json::Value;

/// `netsketch collect --json` on the given listen addresses; returns it
/// with the bound ports, once it says it is listening.
fn start_collect(listen: &[&str], extra: &[&str]) -> (Child, Vec<u16>) {
    let mut args = vec!["collect", "--json", "--no-detect"];
    for l in listen {
        args.extend_from_slice(&["-l", l]);
    }
    args.extend_from_slice(extra);
    let (child, rest) = spawn_announced(&args, "collecting on ");
    let ports = rest
        .split(" (")
        .next()
        .unwrap()
        .split(", ")
        .map(|a| a.rsplit(':').next().unwrap().parse().unwrap())
        .collect();
    (child, ports)
}

/// Stops `collect` with SIGTERM and returns its summary line.
fn stop_collect(child: Child) -> Value {
    signal(&child, "TERM");
    finish(child)
}

fn finish(child: Child) -> Value {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "collect failed: {:?}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

fn now_secs() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

fn u16b(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_be_bytes());
}
fn u32b(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_be_bytes());
}

/// A NetFlow v5 datagram with one record of 1 packet, 100 bytes.
fn v5(seq: u32) -> Vec<u8> {
    let mut d = Vec::new();
    u16b(&mut d, 5);
    u16b(&mut d, 1);
    u32b(&mut d, 10_000);
    u32b(&mut d, now_secs());
    u32b(&mut d, 0);
    u32b(&mut d, seq);
    u32b(&mut d, 0);
    d.extend_from_slice(&[198, 51, 100, 7, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    for w in [1u32, 100, 9_000, 10_000] {
        u32b(&mut d, w);
    }
    d.extend_from_slice(&[0, 53, 13, 5, 0, 0, 17, 0]);
    d.extend_from_slice(&[0; 8]);
    d
}

/// A v9 datagram of `sets`.
fn v9(sets: &[Vec<u8>]) -> Vec<u8> {
    let mut d = Vec::new();
    u16b(&mut d, 9);
    u16b(&mut d, sets.len() as u16);
    u32b(&mut d, 100_000);
    u32b(&mut d, now_secs());
    u32b(&mut d, 1);
    u32b(&mut d, 0);
    for s in sets {
        d.extend_from_slice(s);
    }
    d
}

fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    u16b(&mut s, id);
    u16b(&mut s, (body.len() + 4) as u16);
    s.extend_from_slice(body);
    s
}

/// The good exporter's datagram: template 300 (src4, dst4, bytes,
/// packets) and two records.
fn good_datagram() -> Vec<u8> {
    let mut t = Vec::new();
    for w in [300u16, 4, 8, 4, 12, 4, 1, 4, 2, 4] {
        u16b(&mut t, w);
    }
    let mut d = Vec::new();
    for src in [1u8, 2] {
        d.extend_from_slice(&[192, 0, 2, src, 10, 0, 0, 9]);
        u32b(&mut d, 1_000);
        u32b(&mut d, 10);
    }
    v9(&[set(0, &t), set(300, &d)])
}

/// Peak and current resident set of a process, kB.
fn rss_kb(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[test]
fn datagrams_queued_at_shutdown_are_decoded_or_counted() {
    // 3,000 queued at SIGTERM: 2,999 vanished, neither decoded nor counted.
    let (child, ports) = start_collect(&["127.0.0.1:0"], &[]);
    let port = ports[0];
    std::thread::sleep(Duration::from_millis(200));
    // Stopped, the collector reads nothing: everything sent queues in its
    // socket (or is dropped by the kernel, which counts it).
    assert!(signal(&child, "STOP"));
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    const N: u64 = 3000;
    for i in 0..N {
        tx.send_to(&v5(i as u32), ("127.0.0.1", port)).unwrap();
    }
    assert!(signal(&child, "TERM"));
    assert!(signal(&child, "CONT"));
    let s = finish(child);
    let records = s["flow_records"].as_u64().unwrap();
    let dropped = s["errors"]["collector_shutdown_dropped"]
        .as_u64()
        .unwrap_or(0);
    let kernel = s["kernel_drops"].as_u64().unwrap();
    assert_eq!(
        records + dropped + kernel,
        N,
        "decoded {records}, counted at shutdown {dropped}, kernel drops {kernel}: {s}"
    );
    assert!(records > 0, "{s}");
    // Stopping and continuing interrupts the receive: not an error.
    assert_eq!(s["recv_errors"], 0, "{s}");
}

/// Runs a flood from 64 ports of 127.0.0.1 at the first address while the
/// good exporter (127.0.0.2) sends 50 datagrams to the second; returns the
/// summary, the flood's datagram count and the child's peak RSS growth.
fn flood_alongside_a_good_exporter(flood: impl Fn(usize) -> Vec<u8>) -> (Value, u64) {
    let (child, ports) = start_collect(&["127.0.0.1:0", "127.0.0.1:0"], &["--threads", "2"]);
    std::thread::sleep(Duration::from_millis(300));
    let (_, base_kb) = rss_kb(child.id());
    let flooders: Vec<UdpSocket> = (0..64)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let good = UdpSocket::bind("127.0.0.2:0").unwrap();
    for i in 0..6000usize {
        flooders[i % 64]
            .send_to(&flood(i), ("127.0.0.1", ports[0]))
            .unwrap();
        if i % 120 == 0 {
            good.send_to(&good_datagram(), ("127.0.0.1", ports[1]))
                .unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    let (peak_kb, _) = rss_kb(child.id());
    let s = stop_collect(child);
    (s, peak_kb.saturating_sub(base_kb))
}

fn check_good_exporter_and_bounds(s: &Value, grown_kb: u64) {
    eprintln!("peak RSS grew {grown_kb} kB; {}", s["flow_state"]);
    assert_eq!(
        s["flow_records"], 100,
        "the good exporter lost records: {s}"
    );
    assert!(
        s["flow_errors_by_exporter"].get("127.0.0.2").is_none(),
        "{s}"
    );
    let st = &s["flow_state"];
    assert!(st["held_bytes_peak"].as_u64() <= st["held_bytes_limit"].as_u64());
    assert!(st["templates_peak"].as_u64() <= st["templates_limit"].as_u64());
    // Held data is bounded at 4 MiB accounted, templates from one address
    // at 1,024 per receiving thread: 64 MiB is a wide margin over both,
    // and far below what the floods grew before (gigabytes).
    assert!(grown_kb < 64 * 1024, "RSS grew {grown_kb} kB");
}

#[test]
#[ignore = "floods loopback UDP for several seconds; run by .ci/run"]
fn an_empty_set_flood_stays_bounded_while_a_good_exporter_decodes_everything() {
    // 128 MB of empty sets grew RSS to 3 GB; the good exporter decoded 20
    // of 50 datagrams.
    let (s, grown) = flood_alongside_a_good_exporter(|i| {
        let sets: Vec<Vec<u8>> = (0..340)
            .map(|k| set(256 + ((i * 340 + k) % 60_000) as u16, &[]))
            .collect();
        v9(&sets)
    });
    check_good_exporter_and_bounds(&s, grown);
    let given_up = s["errors"]["flow_missing_template"].as_u64().unwrap();
    assert!(given_up > 1_000_000, "{s}");
}

#[test]
#[ignore = "floods loopback UDP for several seconds; run by .ci/run"]
fn a_template_flood_from_one_address_leaves_the_good_exporter_decoding() {
    // One address's templates filled the 65,536-template table for good.
    let (s, grown) = flood_alongside_a_good_exporter(|i| {
        let mut b = Vec::new();
        for k in 0..170 {
            for w in [256 + ((i * 170 + k) % 65_000) as u16, 1, 8, 4] {
                u16b(&mut b, w);
            }
        }
        v9(&[set(0, &b)])
    });
    check_good_exporter_and_bounds(&s, grown);
    let refused = s["errors"]["flow_template_limit"].as_u64().unwrap();
    assert!(refused > 100_000, "{s}");
    assert!(s["flow_state"]["templates_peak"].as_u64().unwrap() <= 2 * 1024 + 1);
}

#[test]
fn collect_refuses_a_template_timeout_that_is_not_a_duration() {
    for bad in ["-1", "nan", "inf"] {
        let flag = format!("--template-timeout={bad}");
        // -d 1: were the value accepted, the run would still end.
        let out = common::run(&["collect", "-l", "127.0.0.1:0", "-d", "1", &flag]);
        assert!(
            !out.status.success(),
            "--template-timeout {bad} was accepted"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--template-timeout"), "{err}");
    }
}
