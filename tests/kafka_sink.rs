//! The Kafka sink without a broker: configuration, and what it counts
//! when nothing can be delivered. (With a broker: tests/fleet.rs.)

mod common;

use common::{run, run_ok, TempDir};
#[cfg(feature = "kafka")]
use {common::netsketch, serde_json::Value};

#[test]
fn run_config_output_kafka_becomes_the_kafka_flags() {
    let dir = TempDir::new("kafka_config");
    let cfg = dir.join("k.toml");
    std::fs::write(
        &cfg,
        "[[source]]\nkind = \"file\"\nfiles = [\"x.pcap\"]\n\
         [output.kafka]\nbrokers = [\"127.0.0.1:9092\", \"127.0.0.1:9093\"]\n\
         appliance_id = \"edge-1\"\ntopic = \"w\"\nitems = 64\n",
    )
    .unwrap();
    let out = run_ok(&["run", "--config", cfg.to_str().unwrap(), "--dry-run"]);
    let argv = String::from_utf8_lossy(&out.stdout);
    for want in [
        "--kafka 127.0.0.1:9092,127.0.0.1:9093",
        "--appliance-id edge-1",
        "--kafka-topic w",
        "--kafka-items 64",
    ] {
        assert!(argv.contains(want), "{want} missing from {argv}");
    }
    std::fs::write(
        &cfg,
        "[[source]]\nkind = \"file\"\nfiles = [\"x.pcap\"]\n[output.kafka]\ntopc = \"w\"\n",
    )
    .unwrap();
    let out = run(&["run", "--config", cfg.to_str().unwrap(), "--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("topc"));
}

#[cfg(feature = "kafka")]
#[test]
fn kafka_sink_without_a_broker_counts_every_window_given_up() {
    let dir = TempDir::new("kafka_down");
    let pcap = dir.join("t.pcap");
    let st = netsketch()
        .args(["gen", "-d", "5", "-r", "500", "-o"])
        .arg(&pcap)
        .status()
        .unwrap();
    assert!(st.success());
    let t0 = std::time::Instant::now();
    // Port 1 on loopback: nothing listens there.
    let out = netsketch()
        .args([
            "replay",
            "--json",
            "--window",
            "1",
            "--kafka",
            "127.0.0.1:1",
        ])
        .args(["--kafka-flush-timeout", "1"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(t0.elapsed().as_secs() < 30, "the run waited for Kafka");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let windows = lines.iter().filter(|l| l["type"] == "window").count() as u64;
    let k = &lines.last().unwrap()["kafka"];
    assert!(windows >= 5);
    assert_eq!(k["windows_sent"], 0);
    assert_eq!(
        k["dropped"]["given_up"].as_u64().unwrap() + k["dropped"]["queue_full"].as_u64().unwrap(),
        windows,
        "{k}"
    );
}

#[cfg(feature = "kafka")]
#[test]
fn kafka_queue_full_drops_are_counted_not_waited_for() {
    let dir = TempDir::new("kafka_full");
    let pcap = dir.join("t.pcap");
    let st = netsketch()
        .args(["gen", "-d", "20", "-r", "200", "-o"])
        .arg(&pcap)
        .status()
        .unwrap();
    assert!(st.success());
    let out = netsketch()
        .args([
            "replay",
            "--json",
            "--window",
            "1",
            "--kafka",
            "127.0.0.1:1",
        ])
        .args(["--kafka-queue", "2", "--kafka-flush-timeout", "0"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let windows = lines.iter().filter(|l| l["type"] == "window").count() as u64;
    let k = &lines.last().unwrap()["kafka"];
    let full = k["dropped"]["queue_full"].as_u64().unwrap();
    assert!(full >= windows - 3, "{windows} windows, {k}");
    assert_eq!(
        full + k["dropped"]["given_up"].as_u64().unwrap(),
        windows,
        "{k}"
    );
}
