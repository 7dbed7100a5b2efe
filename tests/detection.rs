//! DoS detection end to end (issue 6): generated scenarios with known
//! victims and event windows through the binary, one trace per family of
//! events, the public attack captures, a configuration file and its errors,
//! and the alert outputs. The rules themselves (every kind's start, update
//! and end, the answered ratio, carpet bombing, SLA hold and suppression,
//! hostgroups, the whitelist) are unit-tested in `pipeline::detect`.

mod common;

use common::{netsketch, run, summary, traces_dir, TempDir};
use serde_json::Value;

const EPOCH_NS: u64 = 1_000_000_000;

fn gen(dir: &TempDir, scenario: &str, seed: u64) -> (String, Value) {
    let pcap = dir.join(&format!("{scenario}-{seed}.pcap"));
    let truth = dir.join(&format!("{scenario}-{seed}.json"));
    let out = run(&[
        "gen",
        "--scenario",
        &format!("baseline,{scenario}"),
        "-d",
        "20",
        "-r",
        "4000",
        "--attack-rate",
        "8000",
        "-s",
        &seed.to_string(),
        "-o",
        pcap.to_str().unwrap(),
        "--truth",
        truth.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t: Value = serde_json::from_slice(&std::fs::read(&truth).unwrap()).unwrap();
    (pcap.to_str().unwrap().to_string(), t)
}

fn alerts_of(pcap: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["replay", "--json", pcap];
    args.extend_from_slice(extra);
    summary(&args)["alerts"].as_array().unwrap().clone()
}

/// Seconds, for messages.
fn secs(a: u64, b: u64) -> f64 {
    (a as f64 - b as f64) / 1e9
}

/// Replays scenario `s` (seed 1) and checks that every event of its truth
/// is found, with its victim and type, in time, and nothing else is.
fn check_events(s: &str) {
    let dir = TempDir::new(&format!("detect-{}", s.replace(',', "-")));
    let seed = 1;
    let (pcap, truth) = gen(&dir, s, seed);
    let alerts = alerts_of(&pcap, &[]);
    // A flash crowd is busy, not an attack: no alert.
    let events: Vec<&Value> = truth["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] != "flash_crowd")
        .collect();
    assert_eq!(alerts.len(), events.len(), "{s} seed {seed}: {alerts:#?}");
    for e in events {
        let a = alerts
            .iter()
            .find(|a| a["victim"] == e["victim"])
            .unwrap_or_else(|| panic!("{s} seed {seed}: no alert for {e}: {alerts:#?}"));
        assert_eq!(a["type"], e["type"], "{s} seed {seed}");
        let (start, end) = (
            e["start_ns"].as_u64().unwrap(),
            e["end_ns"].as_u64().unwrap(),
        );
        // Floods: within 2 epochs of the start, ended within the
        // quiet period (3 epochs) plus 2. SLA conditions must hold
        // 3 epochs first (the default), and an unanswered SYN is
        // known only at the 3 s handshake timeout.
        let sla = e["type"].as_str().unwrap().starts_with("sla_");
        let (late_start, late_end) = if sla { (3 + 2, 3 + 3 + 2) } else { (2, 3 + 2) };
        let detected = a["detected_ts_ns"].as_u64().unwrap();
        assert!(
            detected >= start && detected <= start + late_start * EPOCH_NS,
            "{s} seed {seed}: detected {} s after the start",
            secs(detected, start)
        );
        assert_eq!(a["event"], "end", "{s} seed {seed}: {a}");
        let ended = a["end_ts_ns"].as_u64().unwrap();
        assert!(
            ended > end && ended <= end + late_end * EPOCH_NS,
            "{s} seed {seed}: ended {} s after the event",
            secs(ended, end)
        );
        let ev = &a["evidence"];
        if sla {
            // The evidence: the service's handshakes, with the
            // latency quantile's bucket or the failure counts.
            let volume = ev["outcomes"].as_u64().max(ev["attempts"].as_u64());
            assert!(volume.unwrap() >= 10, "{a}");
            if e["type"] == "sla_latency" {
                let lat = &ev["latency"];
                assert!(lat["lower_ns"].as_u64().unwrap() >= 200_000_000, "{a}");
                assert!(lat["lower_ns"].as_u64() <= lat["upper_ns"].as_u64());
            } else {
                assert!(ev["failure_ratio"].as_f64().unwrap() >= 0.2, "{a}");
                let failed = ev["refused"].as_u64().unwrap() + ev["unanswered"].as_u64().unwrap();
                assert!(failed > 0, "{a}");
            }
        } else {
            // The evidence carries bounds that contain the rate.
            let pps = &ev["pps"];
            assert!(pps["lower"].as_f64().unwrap() <= pps["upper"].as_f64().unwrap());
        }
    }
}

// One trace per family, each event with its own victim: one-way floods,
// the many-source ones, SLA faults, and a flash crowd (busy, not an attack:
// no alert). Separate tests, so that they run side by side.

#[test]
fn one_way_floods_are_found_in_time_and_nothing_else_is() {
    check_events("syn-flood,udp-amplification,icmp-flood");
}

#[test]
fn many_source_floods_and_carpet_bombing_are_found_in_time_and_nothing_else_is() {
    check_events("distributed-flood,carpet-bombing");
}

#[test]
fn sla_faults_are_found_in_time_and_nothing_else_is() {
    check_events("slow-service,connection-failures");
}

#[test]
fn a_flash_crowd_raises_no_alert() {
    check_events("flash-crowd");
}

#[test]
fn handshake_round_trips_and_failures_match_the_generator() {
    let dir = TempDir::new("detect-rtt");
    let (pcap, truth) = gen(&dir, "slow-service,connection-failures", 5);
    for workers in ["0", "2"] {
        let s = summary(&["replay", "--json", "--top", "20", "-w", workers, &pcap]);
        let ours = s["services"]["top"].as_array().unwrap();
        let mut checked = 0;
        for t in truth["services"].as_array().unwrap() {
            let Some(o) = ours.iter().find(|o| o["service"] == t["service"]) else {
                continue;
            };
            if o["missed_events_upper"] != 0 {
                // Admitted late in some epoch: part of its handshakes are
                // in `other`. Its counts are then at most the truth.
                assert!(o["answered"].as_u64() <= t["answered"].as_u64(), "{o} {t}");
                continue;
            }
            for k in ["attempts", "answered", "refused", "unanswered"] {
                assert_eq!(o[k], t[k], "{k}: {o} {t}");
            }
            // Handshakes still open when the trace ends never complete.
            let done = o["completed"].as_u64().unwrap();
            assert!(
                done <= t["completed"].as_u64().unwrap()
                    && done + 20 >= t["completed"].as_u64().unwrap()
            );
            for side in ["server_rtt_ns", "client_rtt_ns"] {
                if side == "client_rtt_ns" && o["completed"] != t["completed"] {
                    continue;
                }
                for q in ["p50", "p90", "p99", "max"] {
                    // HdrHistogram at 2 digits reports the top of the
                    // sample's bucket (µs): at most 1/128 above it.
                    let (ours, exact) =
                        (o[side][q].as_u64().unwrap(), t[side][q].as_u64().unwrap());
                    assert!(
                        ours + 1000 >= exact && ours <= exact + exact / 128 + 1000,
                        "{} {side} {q}: {ours} vs exact {exact}",
                        t["service"]
                    );
                }
            }
            checked += 1;
        }
        assert!(checked >= 5, "only {checked} services compared");
        let slow = ours
            .iter()
            .find(|o| o["service"] == "10.2.0.20:443")
            .unwrap();
        assert!(slow["server_rtt_ns"]["p99"].as_u64().unwrap() > 250_000_000);
    }
}

#[test]
fn configuration_decides_what_is_protected_and_bad_files_name_line_and_key() {
    let dir = TempDir::new("detect-config");
    let (pcap, _) = gen(&dir, "syn-flood", 3);
    // A hostgroup from the file holds the victim under its name (which
    // groups and thresholds apply is unit-tested in pipeline::detect).
    let cfg3 = dir.join("servers.toml");
    std::fs::write(
        &cfg3,
        "[[detect.hostgroup]]\nname = \"servers\"\nnetworks = [\"10.2.0.0/16\"]\nsyn_pps = 500\n",
    )
    .unwrap();
    let a = alerts_of(&pcap, &["--config", cfg3.to_str().unwrap()]);
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(a[0]["hostgroup"], "servers");

    for (text, want) in [
        (
            "[detect]\nstart_epochs = 2\nstrat_epochs = 3\n",
            ["line 3", "strat_epochs"],
        ),
        (
            "[[detect.hostgroup]]\nname = \"x\"\nnetworks = [\"10.0.0.0/33\"]\n",
            ["line 3", "10.0.0.0/33"],
        ),
        (
            "[detect]\nanswered_ratio = \"high\"\n",
            ["line 2", "answered_ratio"],
        ),
    ] {
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, text).unwrap();
        let out = run(&["replay", &pcap, "--config", bad.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        for w in want {
            assert!(err.contains(w), "{text:?}: {err}");
        }
    }
    let bad = dir.join("zero.toml");
    std::fs::write(
        &bad,
        "[[detect.hostgroup]]\nname = \"x\"\nnetworks = [\"10.0.0.0/8\"]\npps = 0\n",
    )
    .unwrap();
    let out = run(&["replay", &pcap, "--config", bad.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("pps must be positive"));
}

#[test]
fn alerts_go_to_a_file_and_a_notify_command() {
    let dir = TempDir::new("detect-out");
    let (pcap, _) = gen(&dir, "icmp-flood", 4);
    let lines = dir.join("alerts.jsonl");
    let notified = dir.join("notified.jsonl");
    let out = netsketch()
        .args(["replay", &pcap, "--alerts"])
        .arg(&lines)
        .arg("--notify")
        .arg(format!("cat >> '{}'", notified.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("icmp_flood") && text.contains("10.2.0.12"),
        "{text}"
    );
    let events: Vec<Value> = std::fs::read_to_string(&lines)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.first().unwrap()["event"], "start");
    assert_eq!(events.last().unwrap()["event"], "end");
    assert!(events[1..events.len() - 1]
        .iter()
        .all(|e| e["event"] == "update"));
    assert!(events.len() > 5);
    let n: Vec<Value> = std::fs::read_to_string(&notified)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = n.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["start", "end"]);
    assert_eq!(n[0]["type"], "icmp_flood");
}

/// The public attack captures, each with the type an operator would give
/// it. Captures too slow for any default threshold raise nothing.
#[test]
#[ignore = "needs ../shared/traces (CI has it)"]
fn public_attack_captures_are_detected_as_what_they_are() {
    let dir = traces_dir().join("ddos");
    for (file, want) in [
        // Spoofed SYNs at ~5,000/s to one host, none answered.
        (
            "pkt.TCP.synflood.spoofed.pcap",
            Some(("syn_flood", "10.10.10.10")),
        ),
        // SYN-ACKs reflected off thousands of servers onto one host: a
        // flood from many sources (no TCP-reflection type of its own).
        (
            "amp.TCP.reflection.SYNACK.pcap",
            Some(("distributed_flood", "10.10.10.10")),
        ),
        // UDP from port 37810 (DVR discovery) reflectors.
        (
            "amp.UDP.bacnet.IOT.37810.pcapng",
            Some(("udp_amplification", "10.10.10.1")),
        ),
        // UDP from port 500 (ISAKMP) reflectors.
        (
            "amp.UDP.isakmp.pcap",
            Some(("udp_amplification", "10.10.10.10")),
        ),
        // DNS RRSIG fragments at ~150 packets/s: a sample, under thresholds.
        ("amp.dns.RRSIG.fragmented.pcap", None),
        // 896 SYNs over 13 minutes.
        ("amp.TCP.syn.optionallyACK.optionallysamePort.pcapng", None),
        // 100 packets.
        ("chrissanders_ppa1e_dosattack.pcap", None),
        // A port scan is not a DoS.
        ("chrissanders_synscan.pcap", None),
        // 500 DHCP requests over 5 s.
        ("zeek_dhcp_flood.pcap", None),
    ] {
        let mut a = alerts_of(dir.join(file).to_str().unwrap(), &[]);
        if file == "pkt.TCP.synflood.spoofed.pcap" {
            // Ten seconds after the flood (5,000 SYN/s for 5 s) a trickle of
            // ~80 unanswered SYN/s to port 25565 lasts 10 s: under every DoS
            // threshold, and after the DoS cooldown, it is what an operator
            // sees as that service not answering.
            assert_eq!(a.len(), 2, "{file}: {a:#?}");
            assert_eq!(a[1]["type"], "sla_failures");
            assert_eq!(a[1]["victim"], "10.10.10.10:25565");
            a.truncate(1);
        }
        match want {
            Some((t, v)) => {
                assert_eq!(a.len(), 1, "{file}: {a:#?}");
                assert_eq!(
                    (
                        a[0]["type"].as_str().unwrap(),
                        a[0]["victim"].as_str().unwrap()
                    ),
                    (t, v),
                    "{file}"
                );
            }
            None => assert!(a.is_empty(), "{file}: {a:#?}"),
        }
    }
}
