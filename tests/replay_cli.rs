//! `netsketch replay` end to end: exact counters on generated files, input
//! order, stdin, gzip, and the exit status and message for bad input.

mod common;

use std::io::Write;
use std::process::Stdio;

use capture::write::{PcapWriter, PcapngWriter};
use capture::Linktype;
use common::{captures_under, netsketch, run, summary, traces_dir, TempDir};

/// A small Ethernet capture: `n` TCP SYNs, then `n` UDP datagrams, 1 ms apart.
fn sample(n: u64) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..n {
        let mut f = Vec::new();
        etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000 + i as u16, 443, 1, 1024)
            .syn()
            .write(&mut f, &[])
            .unwrap();
        out.push((1_700_000_000_000_000_000 + i * 1_000_000, f));
    }
    for i in 0..n {
        let mut f = Vec::new();
        etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv6([1; 16], [2; 16], 64)
            .udp(53, 5000)
            .write(&mut f, &[0; 20])
            .unwrap();
        out.push((1_700_000_001_000_000_000 + i * 1_000_000, f));
    }
    out
}

fn write_pcap(path: &std::path::Path, pkts: &[(u64, Vec<u8>)]) {
    let mut w = PcapWriter::new(
        std::fs::File::create(path).unwrap(),
        Linktype::ETHERNET,
        65535,
    )
    .unwrap();
    for (ts, d) in pkts {
        w.write_packet(*ts, d.len() as u32, d).unwrap();
    }
    w.into_inner().unwrap();
}

#[test]
fn exact_counters_on_a_generated_capture() {
    let dir = TempDir::new("exact");
    let p = dir.join("a.pcap");
    let pkts = sample(50);
    write_pcap(&p, &pkts);
    let s = summary(&["replay", "--json", p.to_str().unwrap()]);
    let wire: u64 = pkts.iter().map(|(_, d)| d.len() as u64).sum();
    assert_eq!(s["type"], "summary");
    assert_eq!(s["packets"], 100);
    assert_eq!(s["wire_bytes"], wire);
    assert_eq!(
        (s["ipv4"].as_u64(), s["ipv6"].as_u64()),
        (Some(50), Some(50))
    );
    assert_eq!(
        (s["tcp"].as_u64(), s["udp"].as_u64(), s["icmp"].as_u64()),
        (Some(50), Some(50), Some(0))
    );
    assert_eq!(s["tcp_flags"]["syn"], 50);
    assert_eq!(s["first_ts_ns"], 1_700_000_000_000_000_000u64);
    assert_eq!(s["last_ts_ns"], 1_700_000_001_049_000_000u64);
    assert_eq!(s["ip_bytes"], 50 * 40 + 50 * (40 + 28));
    assert_eq!(s["errors"], serde_json::json!({}));
    assert!(s["packets_per_s"].as_u64().unwrap() > 0);
}

#[test]
fn several_files_in_order_and_stdin_and_gzip_agree() {
    let dir = TempDir::new("multi");
    let pkts = sample(30);
    let a = dir.join("a.pcap");
    write_pcap(&a, &pkts[..30]);
    let b = dir.join("b.pcapng");
    let mut w = PcapngWriter::new(std::fs::File::create(&b).unwrap()).unwrap();
    let i = w.add_interface(Linktype::ETHERNET, 0).unwrap();
    for (ts, d) in &pkts[30..] {
        w.write_packet(i, *ts, d.len() as u32, d).unwrap();
    }
    w.into_inner().unwrap();
    let both = summary(&["replay", "--json", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(
        (both["packets"].as_u64(), both["files"].as_u64()),
        (Some(60), Some(2))
    );
    assert_eq!(
        (both["tcp"].as_u64(), both["udp"].as_u64()),
        (Some(30), Some(30))
    );

    let gz = dir.join("b.pcapng.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(&std::fs::read(&b).unwrap()).unwrap();
    enc.finish().unwrap();
    let plain = summary(&["replay", "--json", b.to_str().unwrap()]);
    let zipped = summary(&["replay", "--json", gz.to_str().unwrap()]);
    for k in [
        "packets",
        "wire_bytes",
        "ipv6",
        "udp",
        "first_ts_ns",
        "last_ts_ns",
    ] {
        assert_eq!(plain[k], zipped[k], "{k}");
    }

    let mut child = netsketch()
        .args(["replay", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&gz).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["packets"], plain["packets"]);
}

#[test]
fn bad_input_gets_a_clear_error_and_nonzero_exit() {
    let dir = TempDir::new("bad");
    let junk = dir.join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture at all").unwrap();
    let out = run(&["replay", junk.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("not a pcap or pcapng file"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "nothing is processed when an input is rejected"
    );

    let out = run(&["replay", dir.join("missing.pcap").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.pcap"));

    let out = run(&["replay", "--no-such-flag", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["replay"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn cut_short_file_keeps_its_packets_and_counts_the_tail() {
    let dir = TempDir::new("cut");
    let p = dir.join("cut.pcap");
    write_pcap(&p, &sample(10));
    let mut bytes = std::fs::read(&p).unwrap();
    bytes.truncate(bytes.len() - 5);
    std::fs::write(&p, &bytes).unwrap();
    let out = run(&["replay", "--json", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cut short"));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["packets"], 19);
    assert_eq!(s["errors"]["truncated_file"], 1);
}

#[test]
fn corrupt_block_mid_file_prints_counters_and_fails() {
    let dir = TempDir::new("corrupt");
    let p = dir.join("c.pcapng");
    let pkts = sample(5);
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    let i = w.add_interface(Linktype::ETHERNET, 0).unwrap();
    for (ts, d) in &pkts {
        w.write_packet(i, *ts, d.len() as u32, d).unwrap();
    }
    let mut bytes = w.into_inner().unwrap();
    // Make the last block's trailing length lie.
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(&8u32.to_le_bytes());
    std::fs::write(&p, &bytes).unwrap();
    let out = run(&["replay", "--json", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("corrupt pcapng block"));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["packets"], 9);
    assert_eq!(s["errors"]["corrupt_block"], 1);
}

#[test]
fn human_table_names_every_counter() {
    let dir = TempDir::new("table");
    let p = dir.join("t.pcap");
    write_pcap(&p, &sample(3));
    let out = run(&["replay", p.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "packets",
        "wire bytes",
        "ipv4 3",
        "tcp 3",
        "udp 3",
        "syn 3",
        "ethernet 6",
        "errors",
        "throughput",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

#[cfg(not(feature = "live"))]
#[test]
fn capture_without_libpcap_says_how_to_enable_it() {
    let out = run(&["capture", "-i", "lo"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--features live") && err.contains("libpcap-dev"),
        "{err}"
    );
}

#[test]
#[ignore = "needs ../shared/traces; run by .ci/run"]
fn gzip_of_real_captures_reads_the_same() {
    let dir = TempDir::new("gzreal");
    let files = captures_under(&traces_dir().join("small/chrissanders"));
    assert!(!files.is_empty());
    for f in files.iter().take(20) {
        let gz = dir.join("x.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        enc.write_all(&std::fs::read(f).unwrap()).unwrap();
        enc.finish().unwrap();
        let a = summary(&["replay", "--json", f.to_str().unwrap()]);
        let b = summary(&["replay", "--json", gz.to_str().unwrap()]);
        for k in [
            "packets",
            "wire_bytes",
            "ipv4",
            "ipv6",
            "tcp",
            "udp",
            "icmp",
            "errors",
        ] {
            assert_eq!(a[k], b[k], "{}: {k}", f.display());
        }
    }
}
