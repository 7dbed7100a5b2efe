//! What operators read: the text report's rankings (checked against
//! nfdump's `-s srcip/bytes`), replay's filter and time range, and the
//! command line's messages for common slips.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{gen, netsketch, output_ok, require, run, run_ok, summary, traces_dir, TempDir};

/// A generated trace of `secs` seconds with a SYN flood.
fn trace(dir: &TempDir, secs: u32) -> std::path::PathBuf {
    let secs = secs.to_string();
    gen(
        dir,
        "t.pcap",
        &["--scenario", "syn-flood", "-d", &secs, "-r", "2000"],
    )
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
    // The column header; destinations carry a flows column first.
    let header = lines.next().unwrap_or_default();
    let at = 1 + usize::from(header.contains("~flows"));
    lines
        .take_while(|l| l.starts_with("    "))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), num(f[at]), num(f[at + 1]))
        })
        .collect()
}

#[test]
fn text_report_has_every_ranking_with_nfdump_columns() {
    let dir = TempDir::new("reports-rankings");
    let file = trace(&dir, 6);
    let out = run_ok(&[
        "replay",
        "--no-pin",
        "--top-by",
        "both",
        file.to_str().unwrap(),
    ]);
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
    // Each row's other figure is that key's in the other ranking.
    for dim in ["src", "dst", "pair", "dport", "sport"] {
        let packets = s["top"][dim]["packets"].as_array().unwrap();
        for r in ranking(&text, dim, "bytes") {
            if let Some(p) = packets.iter().find(|p| p["key"] == r.0.as_str()) {
                assert_eq!(r.1, p["value"].as_u64().unwrap(), "{dim} {r:?}: packets");
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
    let out = run_ok(&[
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
    output_ok(
        Command::new("tcpdump")
            .args(["-r", input.to_str().unwrap(), "-w", cut.to_str().unwrap()])
            .arg(NFDUMP_COMPARABLE),
    );
    let whole = dir.join("whole.pcap");
    output_ok(
        Command::new("tshark")
            .args([
                "-r",
                cut.to_str().unwrap(),
                "-Y",
                "frame.cap_len == frame.len",
                "-F",
                "pcap",
                "-w",
            ])
            .arg(&whole),
    );
    let cut = whole;
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    output_ok(Command::new("nfpcapd").args([
        "-r",
        cut.to_str().unwrap(),
        "-w",
        flows.to_str().unwrap(),
        "-s",
        "65535",
    ]));
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
    let out = output_ok(Command::new("nfdump").args([
        "-R",
        flows.to_str().unwrap(),
        "-s",
        stat,
        "-n",
        &n.to_string(),
        "-o",
        "csv",
        "-q",
    ]));
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

/// `replay --json` on `file` with `args` before it: the summary.
fn replay_json(file: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["replay", "--no-pin", "--json"];
    a.extend_from_slice(args);
    a.push(file.to_str().unwrap());
    summary(&a)
}

#[test]
#[cfg(feature = "live")]
#[ignore = "needs tcpdump and ../shared/traces; run by .ci/run"]
fn filter_expression_keeps_what_tcpdump_keeps() {
    require("tcpdump", "tcpdump");
    require("tshark", "tshark");
    let dir = TempDir::new("reports-filter");
    let input = traces_dir().join("mixed/real-merged.pcap");
    let all = replay_json(&input, &[]);
    for expr in [
        "host 10.0.0.1 and (port 53 or tcp)",
        "udp",
        "tcp[tcpflags] & tcp-syn != 0",
        "ip6 and tcp port 443",
        "vlan",
        "net 192.168.0.0/16 and not port 443",
    ] {
        let cut = dir.join("cut.pcap");
        output_ok(Command::new("tcpdump").args([
            "-r",
            input.to_str().unwrap(),
            "-w",
            cut.to_str().unwrap(),
            expr,
        ]));
        // tshark counts the frames tcpdump kept (one line per frame).
        let out = Command::new("tshark")
            .args([
                "-r",
                cut.to_str().unwrap(),
                "-T",
                "fields",
                "-e",
                "frame.number",
            ])
            .output()
            .unwrap();
        let want = String::from_utf8_lossy(&out.stdout).lines().count() as u64;
        assert!(want > 0, "{expr} keeps nothing");
        let s = replay_json(&input, &["-f", expr]);
        assert_eq!(s["packets"], want, "{expr}: packets");
        assert_eq!(
            s["filtered"].as_u64().unwrap() + want,
            all["packets"].as_u64().unwrap(),
            "{expr}: every packet read is kept or counted as filtered"
        );
        // And the pipeline sees what it sees replaying tcpdump's cut.
        let c = replay_json(&cut, &[]);
        for k in ["ip_bytes", "tcp", "udp", "icmp"] {
            assert_eq!(s[k], c[k], "{expr}: {k}");
        }
        assert_eq!(s["top"]["src"]["bytes"], c["top"]["src"]["bytes"], "{expr}");
    }
}

#[test]
#[cfg(feature = "live")]
fn a_bad_filter_expression_fails_before_any_work() {
    let dir = TempDir::new("reports-badfilter");
    let file = trace(&dir, 2);
    let out = run(&["replay", "-f", "port fifty", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("-f: filter \"port fifty\""), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
#[cfg(not(feature = "live"))]
fn filter_without_libpcap_says_how_to_get_it() {
    let dir = TempDir::new("reports-nolive");
    let file = trace(&dir, 2);
    let out = run(&["replay", "-f", "udp", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--features live"), "{err}");
}

#[test]
fn time_range_keeps_its_packets_and_counts_the_rest() {
    let dir = TempDir::new("reports-range");
    let file = trace(&dir, 10);
    let all = replay_json(&file, &[]);
    // The generator starts at 2024-01-01T00:00:00Z.
    let t0 = 1_704_067_200_000_000_000u64;
    for (from, to) in [
        ("2024-01-01T00:00:02Z", "2024-01-01T00:00:05.5Z"),
        ("1704067203", "1704067204.25"),
        ("2024-01-01T01:00:07+01:00", "2024-01-01T00:00:20Z"),
    ] {
        let s = replay_json(&file, &["--from", from, "--to", to]);
        let (p, out) = (
            s["packets"].as_u64().unwrap(),
            s["out_of_range"].as_u64().unwrap(),
        );
        assert!(p > 0 && out > 0, "{from}..{to}: {p} kept, {out} out");
        assert_eq!(p + out, all["packets"].as_u64().unwrap(), "{from}..{to}");
        assert_eq!(s["filtered"], 0);
        let first = s["first_ts_ns"].as_u64().unwrap();
        let last = s["last_ts_ns"].as_u64().unwrap();
        let (f, t) = (
            s["selection"]["from_ns"].as_u64().unwrap(),
            s["selection"]["to_ns"].as_u64().unwrap(),
        );
        assert!(
            f >= t0 && first >= f && last < t,
            "{from}..{to}: {first}..{last} in {f}..{t}"
        );
    }
    let out = run(&["replay", "--from", "tomorrow", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
    let out = run(&[
        "replay",
        "--from",
        "1704067205",
        "--to",
        "1704067201",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("later than --from"));
}

/// `replay --report` on a generated flood: the page and its path.
fn html_report(dir: &TempDir) -> (String, std::path::PathBuf) {
    let file = trace(dir, 12);
    let page = dir.join("report.html");
    run_ok(&[
        "replay",
        "--no-pin",
        "--window",
        "1",
        "--report",
        page.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    (std::fs::read_to_string(&page).unwrap(), page)
}

#[test]
fn html_report_is_one_self_contained_page_with_its_charts() {
    let dir = TempDir::new("reports-html");
    let (html, _) = html_report(&dir);
    assert!(html.starts_with("<!doctype html>"), "{}", &html[..100]);
    // Nothing to fetch: no script, no external reference of any kind.
    for bad in [
        "<script", "http:", "https:", "src=", "href=", "@import", "url(",
    ] {
        assert!(!html.contains(bad), "the page holds {bad:?}");
    }
    for id in [
        "traffic-protocols",
        "traffic-bits",
        "top-src",
        "top-dst",
        "distinct-counts",
        "alert-timeline",
    ] {
        assert!(html.contains(&format!("<svg id=\"{id}\"")), "no chart {id}");
    }
    // One point per 1 s window in each series of the traffic chart.
    let chart = &html[html.find("<svg id=\"traffic-protocols\"").unwrap()..];
    let chart = &chart[..chart.find("</svg>").unwrap()];
    let tcp = chart.split("data-series=\"TCP\"").nth(1).unwrap();
    let points = tcp
        .split("points=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(points.split_whitespace().count(), 12, "{points}");
    // The flood is on the alert timeline.
    assert!(html.contains("data-type=\"syn_flood\""), "no alert bar");
    assert!(html.contains("10.2.0.10"));
}

#[test]
#[ignore = "needs chromium (Debian chromium); run by .ci/run"]
fn html_report_renders_in_headless_chromium() {
    require("chromium", "chromium");
    let dir = TempDir::new("reports-chromium");
    let (_, page) = html_report(&dir);
    let profile = dir.join("profile");
    let chromium = |extra: &[&str]| {
        let out = output_ok(
            Command::new("chromium")
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-component-update",
                    "--disable-sync",
                ])
                .arg(format!("--user-data-dir={}", profile.display()))
                .args(extra)
                .arg(format!("file://{}", page.display())),
        );
        out
    };
    // The DOM chromium built: every chart is there with its marks.
    let dom = String::from_utf8_lossy(&chromium(&["--dump-dom"]).stdout).into_owned();
    for id in [
        "traffic-protocols",
        "traffic-bits",
        "top-src",
        "top-dst",
        "distinct-counts",
        "alert-timeline",
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "chromium's DOM has no {id}"
        );
    }
    assert_eq!(dom.matches("<polyline").count(), 4 + 1 + 3, "series drawn");
    assert!(dom.matches("class=\"bar\"").count() >= 10, "talker bars");
    assert!(dom.contains("class=\"alert\""), "alert bars");
    // And a screenshot with something on it (a blank page is a few KB).
    let shot = dir.join("report.png");
    chromium(&[
        "--window-size=1000,2400",
        &format!("--screenshot={}", shot.display()),
    ]);
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        png.len() > 40_000,
        "screenshot of {} bytes: blank?",
        png.len()
    );
}

/// Runs `netsketch ARGS` in a tmux pane (a terminal) and returns what the
/// pane shows after `wait`.
fn on_a_terminal(tag: &str, args: &str, wait: Duration) -> String {
    let session = format!("netsketch-progress-{tag}-{}", std::process::id());
    let bin = env!("CARGO_BIN_EXE_netsketch");
    // The command's output goes to /dev/null: what stays is stderr's bar.
    let ok = Command::new("tmux")
        .args(["new-session", "-d", "-s", &session, "-x", "160", "-y", "10"])
        .arg(format!("{bin} {args} >/dev/null; sleep 30"))
        .status()
        .unwrap();
    assert!(ok.success());
    std::thread::sleep(wait);
    let pane = Command::new("tmux")
        .args(["capture-pane", "-p", "-t", &session])
        .output()
        .unwrap();
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", &session])
        .status();
    String::from_utf8_lossy(&pane.stdout).into_owned()
}

const SMALL_ACCURACY: &str =
    "accuracy --updates 3000000 --keys 1000 --runs 2 --max-distinct 1000000";

#[test]
#[ignore = "needs tmux (Debian tmux); run by .ci/run"]
fn long_work_shows_progress_on_a_terminal() {
    require("tmux", "tmux");
    let pane = on_a_terminal("accuracy", SMALL_ACCURACY, Duration::from_secs(3));
    assert!(
        pane.contains("sketch updates") && pane.contains('%'),
        "accuracy:\n{pane}"
    );
    assert!(
        pane.contains("Zipf"),
        "accuracy says what it is on:\n{pane}"
    );
    let pane = on_a_terminal("demo", "demo --no-pin -n 3000000", Duration::from_secs(4));
    assert!(
        pane.contains("packets") && pane.contains('%'),
        "demo:\n{pane}"
    );
    let dir = TempDir::new("progress-replay");
    let file = trace(&dir, 30);
    // A stream of unknown length: a spinner with the bytes read. At 5x
    // the 30 s trace takes 6 s, so the spinner is still up when the pane
    // is read (at 20x the replay could end, and the bar clear, by then).
    let pane = on_a_terminal(
        "stdin",
        &format!("replay --no-pin --speed 5 - < {}", file.display()),
        Duration::from_secs(2),
    );
    assert!(pane.contains("read ("), "replay of stdin:\n{pane}");
}

#[test]
fn progress_is_silent_when_stderr_is_not_a_terminal() {
    let mut args: Vec<&str> = SMALL_ACCURACY.split(' ').collect();
    args[2] = "300000";
    let out = run(&args);
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_ok(&["demo", "--no-pin", "-n", "100000"]);
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn epoch_minus_one_is_refused_by_netsketch_not_taken_for_a_file_name() {
    // clap answered "to pass '-1' as a value, use '-- -1'", which would
    // have made -1 a file to read.
    for args in [
        &["replay", "--epoch", "-1", "x.pcap"][..],
        &["replay", "--lateness", "-2", "x.pcap"],
        &["replay", "--speed", "-3", "x.pcap"],
        &["top", "--interval", "-1", "--once"],
    ] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains("-- -"), "{args:?}: {err}");
        assert!(err.contains(args[1]), "{args:?} names its flag: {err}");
    }
}

#[test]
fn epoch_of_a_millisecond_needs_no_window_of_its_own() {
    // `--epoch 0.001` failed over "window 10000/10000 epochs", a window
    // the user never gave.
    let dir = TempDir::new("reports-ms-epoch");
    let file = dir.join("t.pcap");
    let out = run(&[
        "gen",
        "-d",
        "0.3",
        "-r",
        "2000",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let s = replay_json(&file, &["--epoch", "0.001"]);
    assert!(s["packets"].as_u64().unwrap() > 0, "{s}");
    assert!(s["epochs"].as_u64().unwrap() >= 290, "{}", s["epochs"]);
    // A window that is too long is said in seconds and epochs.
    let out = run(&[
        "replay",
        "--epoch",
        "0.001",
        "--window",
        "5",
        file.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--window 5") && err.contains("3600 epochs"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_said_once() {
    // "read error: No such file or directory (os error 2): No such file
    // or directory (os error 2)".
    let out = run(&["replay", "/nonexistent/netsketch-test.pcap"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim(),
        "netsketch: cannot read /nonexistent/netsketch-test.pcap: no such file"
    );
}

#[test]
fn top_url_without_a_scheme_says_how_to_write_it() {
    // ureq answered "RelativeUrlWithoutBase", blaming the URL's base.
    for cmd in [&["top", "--once"][..], &["query", "status"]] {
        let mut args = cmd.to_vec();
        args.extend_from_slice(&["--url", "127.0.0.1:19999"]);
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("http://127.0.0.1:19999"), "{err}");
        assert!(!err.to_lowercase().contains("base"), "{err}");
    }
}

#[test]
fn per_source_threads_do_not_silently_become_the_collectors() {
    // `threads = 2` in one of two collect sources became `--threads 2`
    // for every address.
    let dir = TempDir::new("reports-threads");
    let cfg = dir.join("two.toml");
    std::fs::write(
        &cfg,
        "[[source]]\nkind = \"collect\"\nlisten = \"127.0.0.1:2055\"\nthreads = 2\n\n\
         [[source]]\nkind = \"collect\"\nlisten = [\"127.0.0.1:4739\", \"127.0.0.1:6343\"]\n",
    )
    .unwrap();
    let out = run(&["run", "--config", cfg.to_str().unwrap(), "--dry-run"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("two.toml:1") && err.contains("line 6"),
        "{err}"
    );
    assert!(err.contains("whole collector"), "{err}");
    // The same value in each: one collector, every address, one --threads.
    std::fs::write(
        &cfg,
        "[[source]]\nkind = \"collect\"\nlisten = \"127.0.0.1:2055\"\nthreads = 2\n\n\
         [[source]]\nkind = \"collect\"\nlisten = \"127.0.0.1:4739\"\nthreads = 2\n",
    )
    .unwrap();
    let out = run(&["run", "--config", cfg.to_str().unwrap(), "--dry-run"]);
    let cmd = String::from_utf8_lossy(&out.stdout);
    assert!(
        cmd.contains("--listen 127.0.0.1:2055 --listen 127.0.0.1:4739 --threads 2 "),
        "{cmd}"
    );
    assert_eq!(cmd.matches("--threads").count(), 1, "{cmd}");
}

/// A window line's keys come in the contract's order (DESIGN.md,
/// "Machine-readable output"), the overload mode's `sampling` after `top`
/// and the `--query` answers last: window lines are written straight from
/// typed answers, not through a JSON value.
#[test]
fn a_window_line_keeps_the_contract_order() {
    let dir = TempDir::new("rep-order");
    let p = trace(&dir, 2);
    let out = run_ok(&[
        "replay",
        "--json",
        "--no-pin",
        "--sample",
        "4",
        "--query",
        "10.0.0.1",
        p.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().expect("a window line");
    let w: serde_json::Value = serde_json::from_str(line).unwrap();
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&w),
        [
            "type",
            "start_ts_ns",
            "end_ts_ns",
            "packets",
            "wire_bytes",
            "ip_bytes",
            "ipv4",
            "ipv6",
            "tcp",
            "udp",
            "icmp",
            "late",
            "partial",
            "traffic",
            "top",
            "sampling",
            "distinct",
            "distinct_src_per_dst",
            "tcp_handshake",
            "services",
            "point",
        ]
    );
    assert_eq!(keys(&w["top"]), ["src", "dst", "pair", "dport", "sport"]);
    assert_eq!(keys(&w["top"]["pair"]), ["bytes", "packets"]);
    let item = &w["top"]["dst"]["packets"][0];
    assert_eq!(keys(item), ["key", "value", "lower", "upper"]);
    assert_eq!(
        keys(&w["tcp_handshake"]),
        ["syn_to", "synack_from", "rst_to"]
    );
    assert_eq!(
        keys(&w["services"]),
        ["top", "other", "untracked_syns", "rtt_relative_precision"]
    );
    assert_eq!(w["point"][0]["key"], "10.0.0.1/32");
}
