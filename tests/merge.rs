//! `netsketch merge`: snapshots of disjoint parts of a capture merge into
//! the answer of one replay over the whole capture.

mod common;

use std::path::Path;

use common::{netsketch, output_ok, split_pcap, summary, TempDir};
use serde_json::Value;

fn replay_export(pcap: &Path, dir: &Path) -> Value {
    let (p, d) = (pcap.to_str().unwrap(), dir.to_str().unwrap());
    summary(&[
        "replay",
        "--json",
        "--memory",
        "64",
        "--export-sketches",
        d,
        p,
    ])
}

fn keys(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x["key"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn merge_of_two_halves_equals_one_replay() {
    let dir = TempDir::new("merge");
    let all = dir.join("all.pcap");
    let truth_path = dir.join("truth.json");
    // Background plus a flood from many sources: the HLLs go dense and the
    // rankings fill, so bounds are not trivially exact.
    let st = netsketch()
        .args(["gen", "--scenario", "baseline,distributed-flood"])
        .args(["-d", "6", "-r", "4000", "--attack-rate", "6000", "-o"])
        .arg(&all)
        .arg("--truth")
        .arg(&truth_path)
        .status()
        .unwrap();
    assert!(st.success());
    let (a, b) = (dir.join("a.pcap"), dir.join("b.pcap"));
    split_pcap(&all, 20_000, &a, &b);
    let whole = replay_export(&all, &dir.join("e_all"));
    let ha = replay_export(&a, &dir.join("e_a"));
    let hb = replay_export(&b, &dir.join("e_b"));
    assert_eq!(
        ha["packets"].as_u64().unwrap() + hb["packets"].as_u64().unwrap(),
        whole["packets"].as_u64().unwrap()
    );
    assert!(ha["packets"].as_u64().unwrap() == 20_000);

    let out = output_ok(
        netsketch()
            .args(["merge", "--json", "-k", "10"])
            .arg(dir.join("e_a"))
            .arg(dir.join("e_b")),
    );
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["type"], "merge");
    assert_eq!(m["inputs"], 2);

    // Distinct counts: the merged HLL estimates what one run estimates,
    // exactly (the same registers), and the halves alone do not.
    for dim in ["src", "dst"] {
        assert_eq!(
            m["distinct"][dim]["value"], whole["distinct"][dim]["value"],
            "distinct {dim}"
        );
        assert!(
            m["distinct"][dim]["value"].as_u64() > ha["distinct"][dim]["value"].as_u64(),
            "distinct {dim}: the merge adds the second half"
        );
    }
    assert!(whole["distinct"]["src"]["value"].as_u64().unwrap() > 5_000);

    // Top 10: the same keys in the same order, every truth inside the
    // merged bounds.
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(&truth_path).unwrap()).unwrap();
    for dim in ["src", "dst"] {
        for metric in ["bytes", "packets"] {
            let merged = &m["top"][dim][metric];
            let single: Vec<String> = keys(&whole["top"][dim][metric])
                .into_iter()
                .take(10)
                .collect();
            assert_eq!(keys(merged), single, "top {dim} {metric}");
            assert_eq!(
                m["top"][dim][format!("{metric}_total")].as_u64().unwrap(),
                truth[if metric == "bytes" {
                    "ip_bytes"
                } else {
                    "packets"
                }]
                .as_u64()
                .unwrap(),
                "{dim} {metric}: total weight"
            );
            let exact = &truth["top"][dim][metric];
            for t in exact.as_array().unwrap() {
                let key = t["key"].as_str().unwrap();
                let v = t["value"].as_u64().unwrap();
                if let Some(x) = merged.as_array().unwrap().iter().find(|x| x["key"] == key) {
                    let (lo, hi) = (x["lower"].as_u64().unwrap(), x["upper"].as_u64().unwrap());
                    assert!(
                        lo <= v && v <= hi,
                        "{dim} {metric} {key}: {lo} <= {v} <= {hi}"
                    );
                }
            }
        }
    }
}

#[test]
fn merge_refuses_what_is_not_a_snapshot() {
    let dir = TempDir::new("merge_bad");
    let junk = dir.join("x.hll");
    std::fs::write(&junk, b"not a sketch").unwrap();
    let out = netsketch().arg("merge").arg(&junk).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a DataSketches HLL"));
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = netsketch().arg("merge").arg(&empty).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
