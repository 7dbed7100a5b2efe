//! The HTTP endpoint end to end: `replay --serve` answers its JSON API
//! exactly as its own report, `netsketch query` and `netsketch top` read
//! it, a real Prometheus server scrapes it during a real-time replay, and
//! promtool accepts the exposition.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    gen, http_get, metric, netsketch, output_ok, query, serve_replay, signal, wait_done, TempDir,
};
use serde_json::Value;

/// A generated trace with a SYN flood and a slow service.
fn trace(dir: &TempDir, seconds: u32) -> String {
    let secs = seconds.to_string();
    let args = [
        "--scenario",
        "baseline,syn-flood,slow-service",
        "-r",
        "2000",
        "-d",
        &secs,
    ];
    gen(dir, "t.pcap", &args).to_str().unwrap().to_string()
}

#[test]
fn the_api_answers_what_the_report_says() {
    let dir = TempDir::new("serve-api");
    let file = trace(&dir, 8);
    let (child, url) = serve_replay(&file, &["--window", "4", "--linger", "30"]);
    wait_done(&url);
    let api_window = query(&url, "window");
    let top = query(&url, "top?dim=dst&metric=packets&k=5");
    // Every dimension and metric of the report has its API ranking.
    let mut tops = Vec::new();
    for dim in ["src", "dst", "pair", "dport", "sport"] {
        for metric in ["bytes", "packets"] {
            tops.push((
                dim,
                metric,
                query(&url, &format!("top?dim={dim}&metric={metric}&k=3")),
            ));
        }
    }
    let distinct = query(&url, "distinct");
    let alerts = query(&url, "alerts");
    let metrics = http_get(&format!("{url}/metrics"));
    assert_eq!(http_get(&format!("{url}/healthz")), "ok\n");
    // One screen for a script: not cut to a terminal, every ranking row.
    let once = output_ok(netsketch().args(["top", "--once", "--url", &url]));
    let once = String::from_utf8_lossy(&once.stdout);
    assert!(once.contains("top sources (10 by bytes)"), "{once}");
    assert!(once.contains("alerts: "), "{once}");
    // Stop lingering; the report is printed after.
    signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.last().unwrap();
    let windows: Vec<&Value> = lines.iter().filter(|l| l["type"] == "window").collect();
    assert_eq!(windows.len(), 2, "8 s in 4 s windows");
    let mut last = windows.last().unwrap().to_owned().clone();
    let mut api = api_window.clone();
    assert_eq!(api["index"], 1);
    api.as_object_mut().unwrap().remove("index");
    last.as_object_mut().unwrap().remove("point");
    assert_eq!(
        api, last,
        "the API's latest window is the report's last window"
    );
    let w = windows.last().unwrap();
    assert_eq!(top["items"].as_array().unwrap().len(), 5);
    let same = |item: &Value, want: &Value| {
        for f in ["key", "value", "lower", "upper"] {
            assert_eq!(item[f], want[f], "{item} vs {want}");
        }
    };
    for (i, item) in top["items"].as_array().unwrap().iter().enumerate() {
        same(item, &w["top"]["dst"]["packets"][i]);
        // The other metric rides along (the text report's columns).
        assert!(
            item["bytes"]["upper"].as_u64().unwrap() >= item["bytes"]["lower"].as_u64().unwrap()
        );
    }
    for (dim, metric, t) in &tops {
        let items = t["items"].as_array().unwrap();
        assert!(!items.is_empty(), "top?dim={dim}&metric={metric}: {t}");
        for (i, item) in items.iter().enumerate() {
            same(item, &w["top"][*dim][*metric][i]);
        }
    }
    assert_eq!(distinct["sources"], w["distinct"]["src"]);
    assert_eq!(distinct["flows"], w["distinct"]["flows"]);
    // Exact totals on /metrics equal the report's.
    assert_eq!(
        metric(&metrics, "netsketch_traffic_packets_total"),
        summary["packets"].as_f64().unwrap()
    );
    assert_eq!(
        metric(&metrics, "netsketch_traffic_bytes_total"),
        summary["ip_bytes"].as_f64().unwrap()
    );
    // The flood is reported as an alert by the API too.
    let recent = alerts["recent"].as_array().unwrap();
    assert!(
        recent
            .iter()
            .any(|a| a["type"] == "syn_flood" && a["victim"] == "10.2.0.10"),
        "{alerts}"
    );
    // A bad query is a 400 with the reason, through the client.
    let bad = netsketch()
        .args(["query", "top?dim=sideways", "--url", &url])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[test]
#[ignore = "needs promtool and prometheus (Debian package prometheus); run by .ci/run"]
fn prometheus_scrapes_a_real_time_replay() {
    common::require("prometheus", "prometheus");
    common::require("promtool", "prometheus");
    let dir = TempDir::new("serve-prometheus");
    let file = trace(&dir, 10);
    let (child, url) = serve_replay(&file, &["--speed", "1", "--linger", "6"]);
    let target = url.trim_start_matches("http://").to_string();
    let (mut prom, web) = common::spawn_prometheus(&dir, &[&target]);
    // promtool on a mid-run exposition.
    std::thread::sleep(Duration::from_secs(4));
    let exposition = http_get(&format!("{url}/metrics"));
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(check.stdin.as_mut().unwrap(), exposition.as_bytes()).unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    wait_done(&url);
    // Two more scrapes after the end.
    std::thread::sleep(Duration::from_secs(3));
    let promql = |q: &str| common::promql(&web.to_string(), q);
    let value = |q: &str| -> f64 {
        let v = promql(q);
        v["data"]["result"][0]["value"][1]
            .as_str()
            .unwrap_or_else(|| panic!("{q}: {v}"))
            .parse()
            .unwrap()
    };
    let packets = value("netsketch_traffic_packets_total");
    let epochs = value("netsketch_epochs_closed_total");
    let syn = value("netsketch_alerts_active{type=\"syn_flood\"}");
    let series = promql("netsketch_top_bytes{direction=\"src\"}");
    let status = query(&url, "status");
    signal(&prom, "TERM");
    let _ = prom.wait();
    let out = child.wait_with_output().unwrap();
    let summary: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(
        packets,
        summary["packets"].as_f64().unwrap(),
        "packets via PromQL"
    );
    assert_eq!(
        epochs,
        status["epochs"].as_f64().unwrap(),
        "self-metric via PromQL"
    );
    assert_eq!(epochs, 10.0);
    assert!(syn <= 1.0);
    let n = series["data"]["result"].as_array().map_or(0, Vec::len);
    assert!((1..=10).contains(&n), "top talker series: {n}");
}

/// The pane of a tmux session: as shown (`-J` off: a wrapped line shows
/// as two rows) and with wrapped lines joined (`-J`).
fn pane(session: &str, joined: bool) -> String {
    let mut c = Command::new("tmux");
    c.args(["capture-pane", "-p", "-t", session]);
    if joined {
        c.arg("-J");
    }
    let text = String::from_utf8_lossy(&c.output().unwrap().stdout).into_owned();
    // `-J` keeps trailing spaces, which are not a wrap.
    text.lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect()
}

fn tmux(args: &[&str]) {
    assert!(
        Command::new("tmux").args(args).status().unwrap().success(),
        "tmux {args:?}"
    );
}

#[test]
#[ignore = "needs tmux; run by .ci/run"]
fn top_fits_80x24_without_wrapping_and_switches_views() {
    common::require("tmux", "tmux");
    let dir = TempDir::new("serve-top");
    let file = trace(&dir, 10);
    let (child, url) = serve_replay(&file, &["--speed", "2", "--linger", "30"]);
    wait_done(&url);
    let bin = env!("CARGO_BIN_EXE_netsketch");
    let cmd = format!("{bin} top --url {url} --interval 0.5");
    let mut screens = Vec::new();
    for (w, h) in [("80", "24"), ("160", "50")] {
        let session = format!("netsketch-top-{}-{w}", std::process::id());
        tmux(&["new-session", "-d", "-s", &session, "-x", w, "-y", h, &cmd]);
        std::thread::sleep(Duration::from_secs(2));
        let mut shots = vec![("talkers", pane(&session, false), pane(&session, true))];
        for (keys, view) in [
            ("p", "pairs"),
            ("o", "ports"),
            ("d", "distinct"),
            ("tb", "packets"),
        ] {
            for key in keys.split("").filter(|k| !k.is_empty()) {
                tmux(&["send-keys", "-t", &session, key]);
            }
            std::thread::sleep(Duration::from_millis(1500));
            shots.push((view, pane(&session, false), pane(&session, true)));
        }
        tmux(&["send-keys", "-t", &session, "q"]);
        std::thread::sleep(Duration::from_millis(500));
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &session])
            .status();
        screens.push((w.parse::<usize>().unwrap(), shots));
    }
    signal(&child, "INT");
    let _ = child.wait_with_output();
    for (w, shots) in &screens {
        for (view, shown, joined) in shots {
            // No wrapped line: joining wrapped rows changes nothing, and
            // the header is the first row.
            assert_eq!(shown, joined, "{view} at {w} columns wraps:\n{joined}");
            assert!(
                shown.starts_with("netsketch top: replay source"),
                "{view} at {w}: header scrolled away:\n{shown}"
            );
            assert!(
                shown.lines().all(|l| l.chars().count() <= *w),
                "{view}:\n{shown}"
            );
            assert!(shown.contains("(input ended)"), "{view}:\n{shown}");
            // The flood's alert, with its start time and rate.
            assert!(shown.contains("syn_flood"), "{view} at {w}:\n{shown}");
            assert!(shown.contains("pps"), "{view} at {w}:\n{shown}");
        }
        let text = |v: &str| &shots.iter().find(|s| s.0 == v).unwrap().1;
        assert!(text("talkers").contains("top sources (") && text("talkers").contains("10.2.0.10"));
        assert!(text("pairs").contains("top pairs"), "{}", text("pairs"));
        assert!(
            text("ports").contains("top destination ports"),
            "{}",
            text("ports")
        );
        assert!(
            text("distinct").contains("most distinct sources"),
            "{}",
            text("distinct")
        );
        assert!(
            text("packets").contains("by packets)"),
            "{}",
            text("packets")
        );
        if *w >= 120 {
            assert!(text("talkers").contains("upper"), "{}", text("talkers"));
        }
    }
}
