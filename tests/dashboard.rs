//! deploy/grafana-dashboard.json against a real Prometheus: every panel's
//! every expression, run through Prometheus's HTTP API while it scrapes a
//! packet replay and a flow collector, must return data.

mod common;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::Child;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{
    promql, require, run, signal, spawn_announced, spawn_piped, spawn_prometheus, TempDir,
};
use serde_json::Value;

fn u16b(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_be_bytes());
}
fn u32b(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_be_bytes());
}

/// A NetFlow v5 datagram with one record (1 packet, 100 bytes, UDP).
fn v5(seq: u32) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let mut d = Vec::new();
    for x in [5u16, 1] {
        u16b(&mut d, x);
    }
    for x in [10_000u32, now, 0, seq, 0] {
        u32b(&mut d, x);
    }
    d.extend_from_slice(&[198, 51, 100, 7, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    for w in [1u32, 100, 9_000, 10_000] {
        u32b(&mut d, w);
    }
    d.extend_from_slice(&[0, 53, 13, 5, 0, 0, 17, 0]);
    d.extend_from_slice(&[0; 8]);
    d
}

/// Every `expr` of every panel, with the panel's title.
fn panel_queries() -> Vec<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana-dashboard.json");
    let d: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                out.push((
                    p["title"].as_str().unwrap_or("?").to_string(),
                    e.to_string(),
                ));
            }
        }
    }
    out
}

fn kill(mut c: Child) {
    signal(&c, "TERM");
    let _ = c.wait();
}

#[test]
#[ignore = "needs prometheus and curl (Debian prometheus, curl); run by .ci/run"]
fn every_dashboard_panel_returns_data_from_prometheus() {
    require("prometheus", "prometheus");
    require("curl", "curl");
    let queries = panel_queries();
    assert!(queries.len() >= 12, "{queries:?}");
    let dir = TempDir::new("dashboard");
    // Packets: a flood and a slow service, replayed in real time.
    let file = dir.join("t.pcap");
    let out = run(&[
        "gen",
        "--scenario",
        "syn-flood,slow-service",
        "-d",
        "40",
        "-r",
        "2000",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let (replay, rest) = spawn_announced(
        &[
            "replay",
            "--no-pin",
            "--json",
            "--speed",
            "1",
            "--serve",
            "127.0.0.1:0",
            file.to_str().unwrap(),
        ],
        "serving http://",
    );
    let replay_target = rest.split('/').next().unwrap().to_string();
    // Flows: a collector fed NetFlow v5 and some garbage (flow errors).
    let mut collect = spawn_piped(&[
        "collect",
        "--json",
        "-l",
        "127.0.0.1:0",
        "--serve",
        "127.0.0.1:0",
        "-d",
        "60",
    ]);
    let (mut port, mut collect_target) = (0u16, String::new());
    let mut err = BufReader::new(collect.stderr.take().unwrap());
    while port == 0 || collect_target.is_empty() {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "collect ended early");
        if let Some(r) = line.split_once("collecting on ") {
            let addr = r.1.split([' ', ',']).next().unwrap();
            port = addr.rsplit(':').next().unwrap().trim().parse().unwrap();
        }
        if let Some(r) = line.split_once("serving http://") {
            collect_target = r.1.split('/').next().unwrap().to_string();
        }
    }
    let (prom, web) = spawn_prometheus(&dir, &[&replay_target, &collect_target]);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let start = Instant::now();
    let mut seq = 0;
    while start.elapsed() < Duration::from_secs(25) {
        for _ in 0..50 {
            tx.send_to(&v5(seq), ("127.0.0.1", port)).unwrap();
            seq += 1;
        }
        tx.send_to(b"not a flow export", ("127.0.0.1", port))
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut empty = Vec::new();
    for (title, q) in &queries {
        let v = promql(&web.to_string(), q);
        let n = v["data"]["result"].as_array().map_or(0, Vec::len);
        if v["status"] != "success" || n == 0 {
            empty.push(format!("{title}: {q} -> {v}"));
        }
    }
    kill(prom);
    kill(collect);
    kill(replay);
    assert!(
        empty.is_empty(),
        "panels without data:\n{}",
        empty.join("\n")
    );
}
