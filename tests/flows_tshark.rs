//! Recorded flow exports (../shared/traces/netflow) against tshark's cflow
//! dissector: every capture decodes with no unexpected error, and for the
//! captures of real exporters (softflowd, pmacctd's nfprobe, fprobe; v5,
//! v9, IPFIX) the record count and the bytes per source agree exactly.

mod common;

use std::collections::HashMap;

use common::{summary, traces_dir};

/// tshark decoding every UDP port of the capture as NetFlow/IPFIX.
fn tshark_fields(path: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let ports = std::process::Command::new("tshark")
        .args(["-n", "-r", path, "-T", "fields", "-e", "udp.dstport"])
        .output()
        .unwrap();
    let mut ports: Vec<String> = String::from_utf8_lossy(&ports.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    ports.sort();
    ports.dedup();
    let mut args: Vec<String> = vec!["-n".into(), "-r".into(), path.into()];
    for p in ports {
        args.push("-d".into());
        args.push(format!("udp.port=={p},cflow"));
    }
    tshark_columns(args, fields)
}

/// tshark with `args`, printing `fields` (every occurrence, joined by
/// commas): one row per frame, one column per field.
/// The JSON summary of `replay --flows --no-detect --top TOP FILES...`.
fn replay_flows(top: &str, files: &[&str]) -> serde_json::Value {
    let mut args = vec!["replay", "--flows", "--json", "--no-detect", "--top", top];
    args.extend_from_slice(files);
    summary(&args)
}

fn tshark_columns(mut args: Vec<String>, fields: &[&str]) -> Vec<Vec<String>> {
    args.extend(["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"].map(String::from));
    for f in fields {
        args.push("-e".into());
        args.push((*f).into());
    }
    let out = std::process::Command::new("tshark")
        .args(&args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[test]
#[ignore = "needs ../shared/traces and tshark; run by .ci/run"]
fn real_exporters_agree_with_tshark_record_for_record() {
    common::require("tshark", "tshark");
    let dir = traces_dir().join("netflow");
    let mut checked = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("netflow-") {
            continue;
        }
        let p = path.to_str().unwrap();
        let s = replay_flows("10", &[p]);
        // tshark: one source address per flow record (options records
        // have none). Bytes per source where every row pairs them up.
        let rows = tshark_fields(p, &["cflow.srcaddr", "cflow.srcaddrv6", "cflow.octets"]);
        let mut records = 0u64;
        let mut by_src: HashMap<String, u64> = HashMap::new();
        let mut paired = true;
        let list = |r: &Vec<String>, i: usize| -> Vec<String> {
            r.get(i).map_or(vec![], |x| {
                x.split(',')
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect()
            })
        };
        for r in &rows {
            let (v4, v6, octets) = (list(r, 0), list(r, 1), list(r, 2));
            records += (v4.len() + v6.len()) as u64;
            if !v6.is_empty() || v4.len() != octets.len() {
                paired &= v4.is_empty() && v6.is_empty();
                continue;
            }
            for (a, o) in v4.iter().zip(&octets) {
                *by_src.entry(a.clone()).or_default() += o.parse::<u64>().unwrap();
            }
        }
        assert_eq!(s["flow_records"], records, "{name}");
        assert!(
            s["errors"].as_object().unwrap().is_empty(),
            "{name}: {}",
            s["errors"]
        );
        // Bytes per source: the truth inside netsketch's bounds for every
        // one of its top 10 (exact where the bounds meet, as they do
        // without spoofed sources).
        for t in s["top"]["src"]["bytes"].as_array().unwrap() {
            if !paired {
                break;
            }
            let k = t["key"].as_str().unwrap();
            let truth = by_src.get(k).copied().unwrap_or(0);
            let (lo, hi) = (t["lower"].as_u64().unwrap(), t["upper"].as_u64().unwrap());
            assert!(
                lo <= truth && truth <= hi,
                "{name} {k}: {truth} not in [{lo}, {hi}]"
            );
            if !name.contains("synflood") {
                assert_eq!(lo, hi, "{name} {k}");
            }
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} exporter captures");
}

#[test]
#[ignore = "needs ../shared/traces; run by .ci/run"]
fn every_recorded_export_decodes_without_unexpected_errors() {
    let dir = traces_dir().join("netflow");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".pcap"))
        .collect();
    names.sort();
    for name in &names {
        let p = dir.join(name);
        let s = replay_flows("10", &[p.to_str().unwrap()]);
        let errors = s["errors"].as_object().unwrap();
        // Akvorado's test captures come in halves: `*-data.pcap` holds data
        // whose template is in `*-template(s).pcap` (decoded together
        // below). Its datalink, MPLS, SRv6 and Juniper captures describe
        // flows by L2 frame sections or labels, without IP addresses.
        let allowed: &[&str] =
            if name.ends_with("-data.pcap") || name == "akvorado_netflow_data.pcap" {
                &["flow_missing_template"]
            } else {
                &[]
            };
        for (reason, n) in errors {
            assert!(allowed.contains(&reason.as_str()), "{name}: {reason} x{n}");
        }
    }
    // The halves together: the templates come first, then every data set
    // decodes (records without IP addresses are counted, not lost).
    for (t, d, want) in [
        ("icmp-template", "icmp-data", 4),
        ("samplingrate-template", "samplingrate-data", 6),
        ("ipfixprobe-templates", "ipfixprobe-data", 4),
        ("datalink-template", "datalink-data", 0),
    ] {
        let tp = dir.join(format!("akvorado_netflow_{t}.pcap"));
        let dp = dir.join(format!("akvorado_netflow_{d}.pcap"));
        let s = replay_flows("10", &[tp.to_str().unwrap(), dp.to_str().unwrap()]);
        assert_eq!(s["flow_records"], want, "{t}: {s}");
        let errors = s["errors"].as_object().unwrap();
        assert!(
            errors.keys().all(|k| k == "flow_no_address"),
            "{t}: {errors:?}"
        );
    }
}

/// tshark's sFlow fields, one row per frame, every occurrence.
fn tshark_sflow(path: &str, fields: &[&str]) -> Vec<Vec<Vec<String>>> {
    let args = ["-n", "-r", path, "-Y", "sflow"].map(String::from).to_vec();
    tshark_columns(args, fields)
        .into_iter()
        .map(|row| {
            row.iter()
                .map(|c| {
                    c.split(',')
                        .filter(|x| !x.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .collect()
        })
        .collect()
}

#[test]
#[ignore = "needs ../shared/traces and tshark; run by .ci/run"]
fn sflow_captures_agree_with_tshark_sample_for_sample() {
    common::require("tshark", "tshark");
    let dir = traces_dir().join("sflow");
    let mut byte_checked = 0;
    let mut files = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let p = path.to_str().unwrap();
        let s = replay_flows("1000", &[p]);
        let rows = tshark_sflow(
            p,
            &[
                "sflow_245.sampletype",
                "sflow.flow_sample.sampling_rate",
                "ip.len",
                "ipv6.plen",
                "eth.type",
            ],
        );
        let (mut flow, mut counter) = (0u64, 0u64);
        // Bytes, where every flow sample of the frame holds exactly one IP
        // header (outer IPv4 + one per sample) and tshark shows its rate.
        let mut bytes = 0u64;
        let mut aligned = true;
        for r in &rows {
            let n = |i: usize| r.get(i).cloned().unwrap_or_default();
            let types = n(0);
            let f = types.iter().filter(|t| *t == "1" || *t == "3").count();
            flow += f as u64;
            counter += types.iter().filter(|t| *t == "2" || *t == "4").count() as u64;
            let rates: Vec<u64> = n(1).iter().map(|x| x.parse().unwrap()).collect();
            // The datagram's own IP header comes first.
            let outer_v6 = n(4).first().is_some_and(|t| t == "0x86dd");
            let v4: Vec<u64> = n(2)
                .iter()
                .skip(usize::from(!outer_v6))
                .map(|x| x.parse().unwrap())
                .collect();
            let v6: Vec<u64> = n(3)
                .iter()
                .skip(usize::from(outer_v6))
                .map(|x| x.parse::<u64>().unwrap() + 40)
                .collect();
            if f == 0 {
                continue;
            }
            if rates.len() != f || v4.len() + v6.len() != f || rates.iter().any(|x| *x != rates[0])
            {
                aligned = false;
                continue;
            }
            bytes += rates[0] * (v4.iter().sum::<u64>() + v6.iter().sum::<u64>());
        }
        let name = path.file_name().unwrap().to_string_lossy();
        let sf = &s["sflow"];
        assert_eq!(sf["flow_samples"], flow, "{name}: flow samples");
        assert_eq!(sf["counter_samples"], counter, "{name}: counter samples");
        assert_eq!(s["errors"], serde_json::json!({}), "{name}: errors");
        if aligned && flow > 0 {
            let ours: u64 = s["top"]["src"]["bytes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["value"].as_u64().unwrap())
                .sum();
            assert_eq!(ours, bytes, "{name}: scaled bytes");
            byte_checked += 1;
        }
        files += 1;
    }
    assert_eq!(files, 12, "sFlow captures read");
    assert!(
        byte_checked >= 7,
        "only {byte_checked} files had bytes compared"
    );
}
