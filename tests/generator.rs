//! `netsketch gen` (issue 4): determinism, exact agreement between the
//! truth file and `replay`, and each scenario's victim where the truth says.

mod common;

use capture::Ip;
use common::{gen, run, summary, TempDir};
use netsketch_tools::gen::{Config, Model, Scenario};

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let dir = TempDir::new("gen-seed");
    let args = ["--scenario", "baseline,syn-flood", "-d", "2", "-r", "3000"];
    let a = std::fs::read(gen(&dir, "a.pcap", &[&args[..], &["-s", "7"]].concat())).unwrap();
    let b = std::fs::read(gen(&dir, "b.pcap", &[&args[..], &["-s", "7"]].concat())).unwrap();
    let c = std::fs::read(gen(&dir, "c.pcap", &[&args[..], &["-s", "8"]].concat())).unwrap();
    assert!(a.len() > 100_000);
    assert!(a == b, "same seed must give byte-identical traces");
    assert!(a != c, "different seeds must differ");
}

#[test]
fn replay_agrees_exactly_with_the_truth_in_every_format() {
    let dir = TempDir::new("gen-truth");
    for name in ["t.pcap", "t.pcapng", "t.pcap.gz"] {
        let truth_path = dir.join("truth.json");
        let p = gen(
            &dir,
            name,
            &[
                "--scenario",
                "baseline,udp-amplification,icmp-flood",
                "-d",
                "3",
                "-r",
                "4000",
                "--truth",
                truth_path.to_str().unwrap(),
            ],
        );
        let truth: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&truth_path).unwrap()).unwrap();
        let s = summary(&["replay", "--json", p.to_str().unwrap()]);
        for k in [
            "packets",
            "wire_bytes",
            "ip_bytes",
            "ipv4",
            "ipv6",
            "tcp",
            "udp",
            "icmp",
            "first_ts_ns",
            "last_ts_ns",
        ] {
            assert_eq!(s[k], truth[k], "{name}: {k}");
        }
        assert_eq!(s["errors"], serde_json::json!({}), "{name}");
        let epoch_packets: u64 = truth["epochs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["packets"].as_u64().unwrap())
            .sum();
        assert_eq!(epoch_packets, truth["packets"].as_u64().unwrap());
    }
}

#[test]
fn packet_limit_and_stdout() {
    let out = run(&["gen", "-n", "1234", "-o", "-"]);
    assert!(out.status.success());
    let dir = TempDir::new("gen-stdout");
    let p = dir.join("s.pcap");
    std::fs::write(&p, &out.stdout).unwrap();
    assert_eq!(
        summary(&["replay", "--json", p.to_str().unwrap()])["packets"],
        1234
    );
    let bad = run(&["gen", "--scenario", "tsunami", "-o", "-"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown scenario \"tsunami\""));
}

/// Packets per second to `victim` (a predicate on destination) inside and
/// outside the event window.
fn victim_rates(s: Scenario, hit: impl Fn(Ip, u16, u8, u8) -> bool) -> (f64, f64) {
    let cfg = Config {
        scenarios: vec![Scenario::Baseline, s],
        rate_pps: 5000.0,
        duration_ns: 10_000_000_000,
        max_packets: None,
        until_count: false,
        seed: 3,
        start_ns: 0,
        attack_rate_pps: 5000.0,
    };
    let (start, end) = cfg.event_window();
    let mut m = Model::new(cfg);
    let mut buf = Vec::new();
    let (mut inside, mut outside) = (0u64, 0u64);
    while let Some(p) = m.next(&mut buf) {
        if hit(p.dst, p.dport, p.proto, p.flags) {
            if (start..end).contains(&p.ts_ns) {
                inside += 1;
            } else {
                outside += 1;
            }
        }
    }
    let win = (end - start) as f64 / 1e9;
    (inside as f64 / win, outside as f64 / (10.0 - win))
}

/// Whether a packet (destination, port, protocol, flags) hits the victim.
type Hit = dyn Fn(Ip, u16, u8, u8) -> bool;

#[test]
fn each_flood_hits_its_victim_only_during_the_event() {
    let v = |s: &str| s.parse::<std::net::IpAddr>().map(Ip::from).unwrap();
    let cases: Vec<(Scenario, Box<Hit>)> = vec![
        (
            Scenario::SynFlood,
            Box::new(move |d, _, p, f| d == v("10.2.0.10") && p == 6 && f == 2),
        ),
        (
            Scenario::UdpAmplification,
            Box::new(move |d, _, p, _| d == v("10.2.0.11") && p == 17),
        ),
        (
            Scenario::IcmpFlood,
            Box::new(move |d, _, p, _| d == v("10.2.0.12") && p == 1),
        ),
        (
            Scenario::DistributedFlood,
            Box::new(move |d, _, p, _| d == v("10.2.0.13") && p == 17),
        ),
        (
            Scenario::CarpetBombing,
            Box::new(|d, _, p, _| {
                p == 17 && d.to_v4().is_some_and(|a| a.octets()[..3] == [10, 2, 1])
            }),
        ),
    ];
    for (s, hit) in cases {
        let (inside, outside) = victim_rates(s, hit);
        assert!(inside > 4000.0, "{s}: {inside} pps inside the window");
        // Background traffic to the same host stays; the flood is gone.
        assert!(
            outside < inside / 100.0,
            "{s}: {outside} pps outside the window, {inside} inside"
        );
        assert!(s.victim().is_some());
    }
}

#[test]
fn slow_service_and_failures_show_in_the_truth_for_their_service_only() {
    let dir = TempDir::new("gen-sla");
    let tp = dir.join("t.json");
    gen(
        &dir,
        "s.pcap",
        &[
            "--scenario",
            "slow-service,connection-failures",
            "-d",
            "10",
            "-r",
            "2000",
            "--truth",
            tp.to_str().unwrap(),
        ],
    );
    let t: serde_json::Value = serde_json::from_slice(&std::fs::read(&tp).unwrap()).unwrap();
    let rtt = t["services"].as_array().unwrap();
    let slow = rtt
        .iter()
        .find(|r| r["service"] == "10.2.0.20:443")
        .unwrap();
    // 40% of handshakes fall in the event, at 250-350 ms; the rest under 1 ms.
    assert!(
        slow["server_rtt_ns"]["p50"].as_u64().unwrap() < 2_000_000,
        "{slow}"
    );
    assert!(
        slow["server_rtt_ns"]["p90"].as_u64().unwrap() > 250_000_000,
        "{slow}"
    );
    for r in rtt.iter().filter(|r| r["service"] != "10.2.0.20:443") {
        let s = r["service"].as_str().unwrap();
        if s.starts_with("10.2.") {
            assert!(
                r["server_rtt_ns"]["p99"].as_u64().unwrap() < 2_000_000,
                "{r}"
            );
        }
    }
    let events = t["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(events
        .iter()
        .any(|e| e["type"] == "sla_latency" && e["victim"] == "10.2.0.20:443"));
    assert!(events
        .iter()
        .any(|e| e["type"] == "sla_failures" && e["victim"] == "10.2.0.21:25"));
}

#[test]
fn connection_failures_leave_syns_unanswered_or_reset_only_in_the_event() {
    let cfg = Config {
        scenarios: vec![Scenario::ConnectionFailures],
        rate_pps: 1000.0,
        duration_ns: 10_000_000_000,
        max_packets: None,
        until_count: false,
        seed: 5,
        start_ns: 0,
        attack_rate_pps: 0.0,
    };
    let (start, end) = cfg.event_window();
    let svc: Ip = "10.2.0.21"
        .parse::<std::net::IpAddr>()
        .map(Ip::from)
        .unwrap();
    let mut m = Model::new(cfg);
    let mut buf = Vec::new();
    let (mut synack_in, mut rst_in, mut synack_out) = (0, 0, 0);
    while let Some(p) = m.next(&mut buf) {
        if p.src == svc && p.sport == 25 {
            let inside = (start..end + 2_000_000_000).contains(&p.ts_ns);
            match p.flags {
                0x12 if inside && p.ts_ns < end => synack_in += 1,
                0x12 => synack_out += 1,
                0x14 if inside => rst_in += 1,
                _ => {}
            }
        }
    }
    assert_eq!(synack_in, 0, "no handshake completes during the event");
    assert!(rst_in > 20 && synack_out > 100, "{rst_in} {synack_out}");
}

#[test]
fn flash_crowd_is_many_new_clients_on_one_service() {
    let cfg = Config {
        scenarios: vec![Scenario::FlashCrowd],
        rate_pps: 5000.0,
        duration_ns: 10_000_000_000,
        max_packets: None,
        until_count: false,
        seed: 9,
        start_ns: 0,
        attack_rate_pps: 0.0,
    };
    let (start, end) = cfg.event_window();
    let svc: Ip = "10.2.0.10"
        .parse::<std::net::IpAddr>()
        .map(Ip::from)
        .unwrap();
    let mut m = Model::new(cfg);
    let mut buf = Vec::new();
    let mut inside = std::collections::HashSet::new();
    let mut outside = std::collections::HashSet::new();
    while let Some(p) = m.next(&mut buf) {
        if p.dst == svc && p.dport == 443 && p.flags == 2 {
            if (start..end).contains(&p.ts_ns) {
                inside.insert(p.src)
            } else {
                outside.insert(p.src)
            };
        }
    }
    assert!(
        inside.len() > 5 * outside.len().max(1),
        "{} vs {}",
        inside.len(),
        outside.len()
    );
}

#[test]
#[ignore = "needs tshark (apt-get install tshark); run by .ci/run"]
fn generated_traces_open_cleanly_in_tshark() {
    common::require("tshark", "tshark");
    let dir = TempDir::new("gen-tshark");
    let all: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
    let p = gen(
        &dir,
        "all.pcapng",
        &[
            "--scenario",
            &all.join(","),
            "-d",
            "4",
            "-r",
            "3000",
            "--attack-rate",
            "2000",
        ],
    );
    let out = std::process::Command::new("tshark")
        .args(["-r", p.to_str().unwrap(), "-q", "-z", "expert,note"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("Errors ("), "tshark reports errors:\n{text}");
    assert!(!text.contains("Malformed"), "{text}");
    assert!(
        !text.contains("out-of-order"),
        "sequence numbers must advance:\n{text}"
    );
    let synacks = std::process::Command::new("tshark")
        .args([
            "-r",
            p.to_str().unwrap(),
            "-Y",
            "tcp.flags.syn==1 && tcp.flags.ack==1 && tcp.ack==1",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&synacks.stdout).lines().count() > 100,
        "handshakes visible to tshark"
    );
    let c = summary(&["replay", "--json", p.to_str().unwrap()]);
    let capinfos = std::process::Command::new("capinfos")
        .args(["-c", "-M", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&capinfos.stdout).contains(&format!("{}", c["packets"])));
}
