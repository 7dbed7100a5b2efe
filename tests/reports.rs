//! What operators read: the text report's rankings (checked against
//! nfdump's `-s srcip/bytes`), replay's filter and time range, and the
//! command line's messages for common slips.

mod common;

use std::path::Path;
use std::process::Command;

use common::{netsketch, require, run, summary, traces_dir, TempDir};

/// A generated trace of `secs` seconds with a SYN flood.
fn trace(dir: &TempDir, secs: u32) -> std::path::PathBuf {
    let file = dir.join("t.pcap");
    let out = run(&[
        "gen",
        "--scenario",
        "syn-flood",
        "-d",
        &secs.to_string(),
        "-r",
        "2000",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    file
}

/// The rows of one text ranking (`top DIM by METRIC`): key, packets, bytes.
fn ranking(text: &str, dim: &str, metric: &str) -> Vec<(String, u64, u64)> {
    let head = format!("  top {dim} by {metric} ");
    let mut lines = text.lines().skip_while(|l| !l.starts_with(&head));
    assert!(lines.next().is_some(), "no ranking {head:?} in:\n{text}");
    let num = |s: &str| {
        s.trim_start_matches('~')
            .replace(',', "")
            .parse::<u64>()
            .unwrap()
    };
    lines
        .skip(1) // the column header
        .take_while(|l| l.starts_with("    "))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), num(f[1]), num(f[2]))
        })
        .collect()
}

#[test]
fn text_report_has_every_ranking_with_nfdump_columns() {
    let dir = TempDir::new("reports-rankings");
    let file = trace(&dir, 6);
    let out = run(&[
        "replay",
        "--no-pin",
        "--top-by",
        "both",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let s = summary(&["replay", "--no-pin", "--json", file.to_str().unwrap()]);
    for dim in ["src", "dst", "pair", "dport", "sport"] {
        for metric in ["bytes", "packets"] {
            let rows = ranking(&text, dim, metric);
            let want = s["top"][dim][metric].as_array().unwrap();
            assert_eq!(rows.len(), want.len(), "{dim} by {metric}");
            for (r, w) in rows.iter().zip(want) {
                assert_eq!(r.0, w["key"].as_str().unwrap(), "{dim} by {metric}");
                let v = if metric == "bytes" { r.2 } else { r.1 };
                assert_eq!(v, w["value"].as_u64().unwrap(), "{dim} by {metric}: {r:?}");
            }
        }
    }
    assert!(text.contains("bytes are IP-layer bytes"), "{text}");
    for col in ["packets", "bytes", "share", "pps", "bps", "bpp", "bound"] {
        assert!(text.contains(col), "no column {col}:\n{text}");
    }
    let line = text
        .lines()
        .find(|l| l.starts_with("  summary: "))
        .unwrap_or_else(|| panic!("no summary line:\n{text}"));
    assert!(
        line.contains(&format!(
            "{} packets",
            common_thousands(s["packets"].as_u64().unwrap())
        )),
        "{line}"
    );
    // --rankings narrows the text report.
    let out = run(&[
        "replay",
        "--no-pin",
        "--rankings",
        "dport",
        file.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("  top dport by bytes "), "{text}");
    assert!(!text.contains("  top src by bytes "), "{text}");
}

fn common_thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// nfpcapd turns packets into flows differently from netsketch in three
/// ways: it reassembles IP fragments (one packet, the datagram's length),
/// it looks inside tunnels (GRE, IP-in-IP, VXLAN, Geneve), and it skips
/// frames cut by the snap length ("short caplen"). netsketch counts packets
/// as they are on the wire, outermost IP header, cut ones too. On the
/// packets where the two agree on what a packet is (this filter, then
/// tshark's `frame.cap_len == frame.len`), every row must match.
const NFDUMP_COMPARABLE: &str = "not (ip[6:2] & 0x3fff != 0) and not (ip proto 4 or ip proto 41 \
     or ip proto 47) and not (udp port 4789 or udp port 6081) \
     and not (ip6 and ip6[6] != 6 and ip6[6] != 17 and ip6[6] != 58)";

/// nfdump prints an IPv6 address whose first 96 bits are zero (`::1`) as
/// IPv4 (`0.0.0.1`).
fn nfdump_key(ours: &str) -> String {
    match ours.parse::<std::net::Ipv6Addr>() {
        Ok(a) if a.segments()[..6] == [0; 6] => {
            let o = a.octets();
            format!("{}.{}.{}.{}", o[12], o[13], o[14], o[15])
        }
        _ => ours.to_string(),
    }
}

#[test]
#[ignore = "needs nfdump, nfpcapd, tcpdump and tshark (Debian nfdump, tcpdump, tshark) and ../shared/traces; run by .ci/run"]
fn top_sources_by_bytes_match_nfdump_row_for_row() {
    require("nfdump", "nfdump");
    require("nfpcapd", "nfdump");
    require("tcpdump", "tcpdump");
    require("tshark", "tshark");
    let dir = TempDir::new("reports-nfdump");
    let input = traces_dir().join("mixed/real-merged.pcap");
    let cut = dir.join("comparable.pcap");
    let ok = Command::new("tcpdump")
        .args(["-r", input.to_str().unwrap(), "-w", cut.to_str().unwrap()])
        .arg(NFDUMP_COMPARABLE)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let whole = dir.join("whole.pcap");
    let ok = Command::new("tshark")
        .args([
            "-r",
            cut.to_str().unwrap(),
            "-Y",
            "frame.cap_len == frame.len",
            "-F",
            "pcap",
            "-w",
        ])
        .arg(&whole)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let cut = whole;
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    let ok = Command::new("nfpcapd")
        .args([
            "-r",
            cut.to_str().unwrap(),
            "-w",
            flows.to_str().unwrap(),
            "-s",
            "65535",
        ])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let nf = nfdump_rows(&flows, "srcip/bytes", 20);
    assert_eq!(nf.len(), 20);
    let out = run(&[
        "replay",
        "--no-pin",
        "--top",
        "20",
        "--rankings",
        "src",
        cut.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let ours = ranking(&text, "src", "bytes");
    assert_eq!(ours.len(), 20, "{text}");
    for (i, (o, n)) in ours.iter().zip(&nf).enumerate() {
        assert_eq!(
            (nfdump_key(&o.0), o.1, o.2),
            n.clone(),
            "row {i}: netsketch {o:?}, nfdump {n:?}\n{text}"
        );
    }
}

/// nfdump's statistics rows as CSV: key, packets, bytes.
fn nfdump_rows(flows: &Path, stat: &str, n: usize) -> Vec<(String, u64, u64)> {
    let out = Command::new("nfdump")
        .args([
            "-R",
            flows.to_str().unwrap(),
            "-s",
            stat,
            "-n",
            &n.to_string(),
            "-o",
            "csv",
            "-q",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    let (val, pkt, byt) = (col("val"), col("pkt"), col("byt"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[val].to_string(),
                f[pkt].parse().unwrap(),
                f[byt].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn top_zero_is_refused_with_the_reason() {
    let out = netsketch().args(["demo", "--top", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 to 100000"), "{err}");
}
