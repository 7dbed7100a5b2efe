//! `replay --archive DIR`: exact per-epoch flow aggregates as Parquet,
//! partitioned by hour, with bounded disk use.

#![cfg(feature = "archive")]

mod common;

use std::path::Path;
use std::process::Command;

use common::{netsketch, summary, TempDir};
use serde_json::Value;

fn parquet_files(dir: &Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push((p, e.metadata().unwrap().len()));
            }
        }
    }
    out
}

#[test]
#[ignore = "needs python3 with `pip install duckdb` (.ci/run installs it)"]
fn duckdb_over_the_archive_gives_the_exact_counters_and_top_10() {
    let dir = TempDir::new("archive");
    let pcap = dir.join("t.pcap");
    let truth_path = dir.join("truth.json");
    let st = netsketch()
        .args(["gen", "--scenario", "baseline,udp-amplification"])
        .args(["-d", "8", "-r", "3000", "-o"])
        .arg(&pcap)
        .arg("--truth")
        .arg(&truth_path)
        .status()
        .unwrap();
    assert!(st.success());
    let arch = dir.join("arch");
    let s = summary(&[
        "replay",
        "--json",
        "--archive",
        arch.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(s["archive"]["deleted_files"], 0);
    let files = parquet_files(&arch);
    assert!(!files.is_empty());
    for (p, _) in &files {
        let rel = p.strip_prefix(&arch).unwrap().to_string_lossy().to_string();
        assert!(rel.starts_with("date=2024-01-01/hour=00/part-"), "{rel}");
    }
    let sql = format!(
        "import duckdb, json\n\
         con = duckdb.connect()\n\
         t = \"read_parquet('{}/**/*.parquet', hive_partitioning=true)\"\n\
         c = con.sql(f'select sum(packets), sum(ip_bytes), sum(wire_bytes), \
           sum(packets) filter (where ip_version = 4), sum(packets) filter (where ip_version = 6), \
           sum(packets) filter (where proto = 6), sum(packets) filter (where proto = 17) from {{t}}').fetchall()[0]\n\
         top = con.sql(f'select src, sum(ip_bytes) b from {{t}} group by src order by b desc, src limit 10').fetchall()\n\
         print(json.dumps({{'counters': [int(x or 0) for x in c], 'top': [[k, int(v)] for k, v in top]}}))\n",
        arch.display()
    );
    let out = Command::new("python3").args(["-c", &sql]).output().unwrap();
    assert!(
        out.status.success(),
        "duckdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c: Vec<u64> = d["counters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    let want: Vec<u64> = [
        "packets",
        "ip_bytes",
        "wire_bytes",
        "ipv4",
        "ipv6",
        "tcp",
        "udp",
    ]
    .iter()
    .map(|k| s[*k].as_u64().unwrap())
    .collect();
    assert_eq!(c, want, "DuckDB's sums against the replay's exact counters");
    // The exact top 10 sources by bytes: the generator's truth.
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(&truth_path).unwrap()).unwrap();
    let exact: Vec<(String, u64)> = truth["top"]["src"]["bytes"]
        .as_array()
        .unwrap()
        .iter()
        .take(10)
        .map(|t| {
            (
                t["key"].as_str().unwrap().to_string(),
                t["value"].as_u64().unwrap(),
            )
        })
        .collect();
    let got: Vec<(String, u64)> = d["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t[0].as_str().unwrap().to_string(), t[1].as_u64().unwrap()))
        .collect();
    assert_eq!(got, exact);
}

#[test]
fn archive_over_its_budget_deletes_the_oldest_files_and_counts_them() {
    let dir = TempDir::new("archive_rotate");
    let pcap = dir.join("t.pcap");
    // Three hours of sparse traffic: files in three hour partitions.
    let st = netsketch()
        .args(["gen", "-d", "10800", "-r", "8", "-o"])
        .arg(&pcap)
        .status()
        .unwrap();
    assert!(st.success());
    let arch = dir.join("arch");
    let max: u64 = 200_000;
    let s = summary(&[
        "replay",
        "--json",
        "--epoch",
        "60",
        "--archive",
        arch.to_str().unwrap(),
        "--archive-max-bytes",
        &max.to_string(),
        pcap.to_str().unwrap(),
    ]);
    let a = &s["archive"];
    let files = parquet_files(&arch);
    let on_disk: u64 = files.iter().map(|f| f.1).sum();
    assert!(a["deleted_files"].as_u64().unwrap() >= 1, "{a}");
    assert_eq!(
        a["files"].as_u64().unwrap() - a["deleted_files"].as_u64().unwrap(),
        files.len() as u64,
        "{a}"
    );
    assert_eq!(
        a["bytes"].as_u64().unwrap() - a["deleted_bytes"].as_u64().unwrap(),
        on_disk
    );
    assert!(on_disk <= max, "{on_disk} bytes on disk, budget {max}");
    // The newest hour survives.
    assert!(files
        .iter()
        .any(|(p, _)| p.to_string_lossy().contains("hour=02")));
}

/// A NetFlow v5 datagram of `n` records, each 3 packets and 300 bytes from
/// 198.51.100.(1 + i) to 10.0.0.1, stamped now.
fn v5(n: u8, seq: u32) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let mut d = Vec::new();
    for w in [5u16, u16::from(n)] {
        d.extend_from_slice(&w.to_be_bytes());
    }
    for w in [10_000u32, now, 0, seq, 0] {
        d.extend_from_slice(&w.to_be_bytes());
    }
    for i in 0..n {
        d.extend_from_slice(&[198, 51, 100, 1 + i, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        for w in [3u32, 300, 9_000, 10_000] {
            d.extend_from_slice(&w.to_be_bytes());
        }
        d.extend_from_slice(&[0, 53, 13, 5, 0, 0, 17, 0]);
        d.extend_from_slice(&[0; 8]);
    }
    d
}

#[test]
fn collect_archives_the_records_it_collects() {
    let dir = TempDir::new("archive-collect");
    let arch = dir.join("arch");
    let (child, rest) = common::spawn_announced(
        &[
            "collect",
            "--json",
            "--listen",
            "127.0.0.1:0",
            "--archive",
            arch.to_str().unwrap(),
            "-d",
            "3",
        ],
        "collecting on ",
    );
    let addr = rest.split([' ', ',']).next().unwrap().to_string();
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for seq in 0..10 {
        sock.send_to(&v5(5, seq * 5), &addr).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = common::last_json(&out.stdout);
    assert_eq!(s["flow_records"], 50, "{s}");
    let a = &s["archive"];
    // Five 5-tuples (one per source), in one or two epochs.
    let rows = a["rows"].as_u64().unwrap();
    assert!((5..=10).contains(&rows), "{a}");
    assert_eq!(a["dropped_updates"], 0, "{a}");
    let files = parquet_files(&arch);
    assert!(!files.is_empty(), "{a}");
    assert_eq!(
        files.iter().map(|f| f.1).sum::<u64>(),
        a["bytes"].as_u64().unwrap()
    );
}
