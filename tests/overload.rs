//! The overload mode end to end: `replay --sample N` on a generated
//! spoofed-source flood keeps its stated bounds against the truth file,
//! leaves the unsampled answers exactly as the exact run gives them, gives
//! the same answers for any worker count and batch size, says it is on in
//! its JSON and its metrics, and refuses a meaningless threshold.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::{
    assert_same_answers, bound_misses, http_get, metric, run, serve_replay, shared_trace, summary,
    wait_done,
};
use serde_json::Value;

/// Baseline traffic under a 40 k packets/s spoofed-source SYN flood: most
/// sources send one packet, the victim receives thousands per second.
fn flood() -> &'static (PathBuf, Value) {
    static CELL: OnceLock<(PathBuf, Value)> = OnceLock::new();
    let args = "--scenario baseline,syn-flood -d 4 -r 3000 --attack-rate 40000 -s 5";
    let args: Vec<&str> = args.split(' ').collect();
    shared_trace(&CELL, "flood.pcap", &args)
}

fn path() -> &'static str {
    flood().0.to_str().unwrap()
}

#[test]
fn sampled_rankings_keep_their_stated_bounds_and_the_rest_stays_exact() {
    let (_, truth) = flood();
    let base = ["replay", "--json", "--no-pin", "--top", "100", path()];
    let exact = summary(&base);
    let sampled = summary(&[&base[..], &["--sample", "16"]].concat());
    assert!(exact.get("sampling").is_none(), "off by default: {exact}");
    let s = &sampled["sampling"];
    assert_eq!(s["below_packets"], 16, "{s}");
    assert_eq!(s["confidence"], 0.99, "{s}");
    assert_eq!(s["max_increment"]["packets"], 16, "{s}");
    for m in ["packets", "bytes"] {
        let eps = s["eps"][m].as_f64().unwrap();
        assert!(eps > 0.0 && eps < 1.0, "eps {m}: {s}");
    }

    // Every reported bound, sampled or not, against the exact truth. A
    // sampled bound holds with probability 0.99, so allow one miss in 100.
    let (items, misses) = bound_misses(truth, &sampled);
    assert!(items > 500, "only {items} items ranked");
    assert!(
        misses.len() * 100 <= items,
        "{} of {items} bounds miss the truth: {misses:?}",
        misses.len()
    );
    // The sampled rankings say they are approximate: their bounds widen.
    let widened = ["src", "pair", "dport", "sport"].iter().any(|dim| {
        ["bytes", "packets"].iter().any(|m| {
            sampled["top"][dim][m]
                .as_array()
                .unwrap()
                .iter()
                .any(|it| it["upper"].as_u64().unwrap() - it["lower"].as_u64().unwrap() >= 16)
        })
    });
    assert!(widened, "no widened bound");

    // Destinations, distinct counts and totals are not sampled: the same
    // as the exact run, and the totals equal to the truth.
    assert_eq!(sampled["top"]["dst"], exact["top"]["dst"]);
    assert_eq!(sampled["distinct"], exact["distinct"]);
    assert_eq!(
        sampled["distinct_src_per_dst"],
        exact["distinct_src_per_dst"]
    );
    for k in ["packets", "wire_bytes", "ip_bytes", "tcp", "udp", "icmp"] {
        assert_eq!(sampled[k], truth[k], "{k}");
    }
    // The flood is detected exactly as without sampling.
    let victims = |v: &Value| -> Vec<(Value, Value)> {
        v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["type"].clone(), a["victim"].clone()))
            .collect()
    };
    assert!(!victims(&exact).is_empty(), "no alert: {exact}");
    assert_eq!(victims(&sampled), victims(&exact));
}

#[test]
fn sampled_answers_do_not_depend_on_how_work_is_split() {
    let mut base: Vec<&str> = "replay --json --no-pin --report-every 1 --sample 8"
        .split(' ')
        .collect();
    base.push(path());
    assert_same_answers(&base, &[&["-w", "0"], &["-w", "2", "--batch", "7"]]);
}

#[test]
fn a_threshold_below_two_is_refused() {
    for bad in ["0", "1", "x"] {
        let out = run(&["replay", "--sample", bad, path()]);
        assert_eq!(out.status.code(), Some(2), "--sample {bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--sample"), "--sample {bad}: {err}");
    }
}

#[test]
fn the_metrics_say_sampling_is_on() {
    let (mut child, url) = serve_replay(path(), &["--linger", "30", "--sample", "16"]);
    wait_done(&url);
    let text = http_get(&format!("{url}/metrics"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(metric(&text, "netsketch_sample_below_packets"), 16.0);
    assert!(metric(&text, "netsketch_sampled_out_total") > 0.0, "{text}");
}

#[test]
fn the_text_report_says_what_is_sampled() {
    let out = run(&["replay", "--no-progress", "--sample", "16", path()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("sampled (--sample 16)"))
        .unwrap_or_else(|| panic!("no sampling line in:\n{text}"));
    assert!(line.contains("hold at 99% each"), "{line}");
    let plain = run(&["replay", "--no-progress", path()]);
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("sampled ("));
}
