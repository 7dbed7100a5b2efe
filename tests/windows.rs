//! Time (issue 16): every window emitted, every alert ended, pacing that
//! follows the clock. Epochs in, windows out through the engine (a file's
//! event time, and a live source's clock on a quiet link); tumbling windows
//! partitioning every trace at full speed and paced; a 47-day gap replayed
//! at `--speed 1`; Ctrl-C during a paced sleep; handshake accounting on
//! every real capture.

mod common;

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use capture::{FlowUpdate, Ip};
use common::{captures_under, gen, netsketch, run, summary, traces_dir, TempDir};
use pipeline::detect::{DetectConfig, Detector, Event};
use pipeline::{Engine, EngineConfig, Source, Summary, WindowSpec};
use serde_json::Value;

const S: u64 = 1_000_000_000;

/// Fill calls scripted in advance: each hands out its updates and sets the
/// clock (`None`: a file, event time alone).
struct Script {
    steps: VecDeque<(Option<u64>, Vec<FlowUpdate>)>,
    clock: Option<u64>,
}

impl Source for Script {
    fn name(&self) -> &'static str {
        "script"
    }

    fn fill(&mut self, out: &mut Vec<FlowUpdate>, _max: usize) -> bool {
        if let Some((clock, updates)) = self.steps.pop_front() {
            self.clock = clock;
            out.extend(updates);
        }
        !self.steps.is_empty()
    }

    fn clock_ns(&self) -> Option<u64> {
        self.clock
    }
}

fn packet(ts_ns: u64, dst: [u8; 4]) -> FlowUpdate {
    FlowUpdate {
        ts_ns,
        src: Ip::v4([192, 0, 2, 1]),
        dst: Ip::v4(dst),
        bytes: 40,
        packets: 1,
        wire_len: 54,
        proto: FlowUpdate::UDP,
        sport: 1000,
        dport: 53,
        has_ports: true,
        ip_version: 4,
        ..FlowUpdate::default()
    }
}

/// A window as the tests compare it: start and end in seconds, packets,
/// partial.
type Win = (u64, u64, u64, bool);

fn engine(workers: usize, windows: &[(u32, u32)]) -> Engine {
    Engine::new(EngineConfig {
        workers,
        pin: false,
        memory_bytes: 64 << 20,
        windows: windows
            .iter()
            .map(|&(length, slide)| WindowSpec { length, slide })
            .collect(),
        ..EngineConfig::default()
    })
    .unwrap()
}

/// Packets at `secs` (one each, event time only, one fill per packet);
/// returns the epochs (start s, packets) and windows of spec 0.
fn check(windows: &[(u32, u32)], secs: &[f64]) -> (Vec<(u64, u64)>, Vec<Win>) {
    let mut result = None;
    for workers in [0, 2] {
        let mut src = Script {
            steps: secs
                .iter()
                .map(|&s| (None, vec![packet((s * 1e9) as u64, [10, 0, 0, 1])]))
                .collect(),
            clock: None,
        };
        let (mut epochs, mut wins) = (Vec::new(), Vec::new());
        let out = engine(workers, windows).run_observed(
            &mut src,
            &AtomicBool::new(false),
            |e| epochs.push((e.start_ns / S, e.totals.packets)),
            |i, w| {
                if i == 0 {
                    wins.push((w.start_ns / S, w.end_ns / S, w.totals.packets, w.partial));
                }
            },
        );
        assert_eq!(out.epochs, epochs.len() as u64);
        assert_eq!(out.total.totals.packets, secs.len() as u64);
        match &result {
            None => result = Some((epochs, wins)),
            Some(r) => assert_eq!(r, &(epochs, wins), "workers {workers}"),
        }
    }
    result.unwrap()
}

/// Window specs (length, slide), packet times in seconds, the windows of
/// the first spec.
type Case<'a> = (&'a [(u32, u32)], &'a [f64], &'a [Win]);

#[test]
fn epochs_in_windows_out() {
    let cases: &[Case] = &[
        // The synflood capture's shape (21.1 s to 44.8 s, windows of 10):
        // the flood's window [20, 30) and the tail [40, 50) used to be lost.
        (
            &[(10, 10)],
            &[21.1, 22.0, 22.5, 29.9, 30.0, 35.0, 44.8],
            &[(20, 30, 4, true), (30, 40, 2, false), (40, 50, 1, true)],
        ),
        // A burst, then nothing: the windows of empty epochs are emitted.
        (
            &[(2, 2)],
            &[22.0, 22.1, 22.2, 27.5],
            &[(22, 24, 3, false), (24, 26, 0, false), (26, 28, 1, false)],
        ),
        // Sliding: partial at the start, then every slide, then the
        // final partial one.
        (
            &[(4, 2)],
            &[0.5, 1.5, 2.5, 4.5],
            &[(0, 2, 2, true), (0, 4, 3, false), (2, 6, 2, true)],
        ),
        // One epoch: one partial window.
        (&[(10, 10)], &[3.0], &[(0, 10, 1, true)]),
    ];
    for (specs, secs, want) in cases {
        let (epochs, wins) = check(specs, secs);
        assert_eq!(&wins[..], *want, "{secs:?}");
        // Every epoch from the first to the last closes, empty or not.
        let first = secs[0] as u64;
        let last = secs[secs.len() - 1] as u64;
        let idx: Vec<u64> = epochs.iter().map(|e| e.0).collect();
        assert_eq!(idx, (first..=last).collect::<Vec<_>>());
    }
}

/// A gap of days between two packets: every epoch and window of it is
/// emitted (the contract), as empty summaries that allocate nothing. (The
/// 47-day gap runs through the CLI below.)
#[test]
fn a_gap_of_days_closes_every_epoch_cheaply() {
    let gap = 3 * 86_400;
    let t0 = Instant::now();
    let (epochs, wins) = check(&[(10, 10)], &[5.0, (gap + 5) as f64]);
    assert_eq!(epochs.len() as u64, gap + 1);
    assert_eq!(wins.len() as u64, gap / 10 + 1);
    assert_eq!(wins.iter().map(|w| w.2).sum::<u64>(), 2);
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
}

/// Issue 16: after a flood on a live link stops, the alert stayed active
/// (no epoch closed without packets) and notify "end" never fired. The
/// clock alone must now close the quiet epochs, their windows and the
/// alert, within `end_epochs` + 2 epochs.
#[test]
fn a_live_source_closes_quiet_epochs_and_ends_its_alert_on_its_clock() {
    let base = 1_800_000_000 * S;
    let mut steps = VecDeque::new();
    // Three seconds of 5,000 packets/s from memcached's port to one host
    // (udp_amplification over 1,000 pps), in 100 ms fills...
    for tick in 0..30u64 {
        let now = base + tick * S / 10;
        let updates = (0..500u64)
            .map(|i| {
                let mut u = packet(now + i * 100_000, [10, 9, 9, 9]);
                u.sport = 11211;
                u.src = Ip::v4([198, 51, 100, (i % 200) as u8]);
                u
            })
            .collect();
        steps.push_back((Some(now), updates));
    }
    // ...then twelve seconds of a clock and no packets.
    for tick in 30..150u64 {
        steps.push_back((Some(base + tick * S / 10), Vec::new()));
    }
    for workers in [0, 2] {
        let mut src = Script {
            steps: steps.clone(),
            clock: None,
        };
        let cfg = DetectConfig::default();
        let end_epochs = cfg.end_epochs as u64;
        let mut det = Detector::new(cfg, S).unwrap();
        let mut ended_at = None;
        let mut windows: Vec<Win> = Vec::new();
        let out = engine(workers, &[(1, 1)]).run_observed(
            &mut src,
            &AtomicBool::new(false),
            |e: &Summary| {
                for line in det.on_epoch(e) {
                    if line.event == Event::End {
                        ended_at.get_or_insert(line.ts_ns);
                    }
                }
            },
            |_, w| windows.push((w.start_ns / S, w.end_ns / S, w.totals.packets, w.partial)),
        );
        let flood_end = base + 3 * S;
        let ended = ended_at.unwrap_or_else(|| panic!("no end: {:?}", det.alerts()));
        assert!(
            ended <= flood_end + (end_epochs + 2) * S,
            "alert ended {} s after the flood",
            (ended - flood_end) / S
        );
        assert!(det.active_by_type().is_empty());
        // Every second of the quiet stretch closed its window.
        let quiet = windows.iter().filter(|w| w.2 == 0).count();
        assert!(quiet >= 8, "{windows:?}");
        assert_eq!(
            windows.iter().map(|w| w.2).sum::<u64>(),
            out.total.totals.packets
        );
        assert_eq!(out.total.totals.packets, 15_000);
    }
}

/// Window lines and the summary of a `replay --json` run.
fn windows_and_summary(args: &[&str]) -> (Vec<Value>, Value) {
    let out = run(args);
    // 3: a capture cut short, what it held counted (the shared traces
    // include truncated and fuzzed files).
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let s = lines.pop().expect("a summary line");
    assert_eq!(s["type"], "summary");
    (lines, s)
}

/// Tumbling windows partition the packets: their sum is the run's (every
/// frame read goes to the pipeline, non-IP and broken ones included, so
/// window totals and the summary count the same packets).
fn assert_windows_partition(file: &str, extra: &[&str]) {
    // Windows of ten epochs: 10 s by default, ten minutes at `--epoch 60`.
    let epoch_s = extra
        .iter()
        .position(|a| *a == "--epoch")
        .and_then(|i| extra.get(i + 1))
        .map_or(1, |e| e.parse::<u64>().expect("whole seconds"));
    let window = (10 * epoch_s).to_string();
    let mut args = vec![
        "replay",
        "--json",
        "--no-pin",
        "--window",
        &window,
        "--no-detect",
    ];
    args.extend_from_slice(extra);
    args.push(file);
    let (wins, s) = windows_and_summary(&args);
    let sum: u64 = wins.iter().map(|w| w["packets"].as_u64().unwrap()).sum();
    // Each window is [k*w, (k+1)*w): consecutive, none missing
    // (but for the middle of a gap of over 2^23 epochs, skipped).
    let skipped = s["skipped_epochs"].as_u64().unwrap_or(0) > 0;
    for p in wins.windows(2).filter(|_| !skipped) {
        assert_eq!(
            p[0]["end_ts_ns"], p[1]["start_ts_ns"],
            "{file}: a window is missing between {} and {}",
            p[0], p[1]
        );
    }
    // The first and last timestamps bound the windows unless some packets
    // came out of order (late: counted in a later epoch than their stamp).
    let in_order = s["late"].as_u64() == Some(0);
    if let (Some(f), Some(l), true) = (wins.first(), wins.last(), in_order) {
        let first_ts = s["first_ts_ns"].as_u64().unwrap();
        let last_ts = s["last_ts_ns"].as_u64().unwrap();
        assert!(f["start_ts_ns"].as_u64().unwrap() <= first_ts, "{file}");
        assert!(l["end_ts_ns"].as_u64().unwrap() > last_ts, "{file}");
        // The last window is partial when the last epoch does not end its
        // slide, or when it reaches before the first epoch.
        let epoch_ns = epoch_s * S;
        let first_epoch_start = first_ts / epoch_ns * epoch_ns;
        let last_epoch_end = (last_ts / epoch_ns + 1) * epoch_ns;
        assert_eq!(
            l["partial"],
            l["end_ts_ns"].as_u64().unwrap() > last_epoch_end
                || l["start_ts_ns"].as_u64().unwrap() < first_epoch_start,
            "{file}: {l}"
        );
    }
    assert_eq!(
        sum,
        s["packets"].as_u64().unwrap(),
        "{file} {extra:?}: window packets {sum} against the run's"
    );
}

#[test]
fn tumbling_windows_partition_generated_scenarios_at_full_speed_and_paced() {
    let dir = TempDir::new("win-part");
    for scenario in ["baseline,syn-flood", "baseline,connection-failures"] {
        let args = [
            "--scenario",
            scenario,
            "-d",
            "25",
            "-r",
            "400",
            "-s",
            "5",
            "--start-ns",
            "1704067203500000000",
        ];
        let p = gen(&dir, "t.pcap", &args);
        assert_windows_partition(p.to_str().unwrap(), &[]);
    }
    // Paced: a 2.5 s trace at 10x, windows of 1 s.
    let args = [
        "-d",
        "2.5",
        "-r",
        "400",
        "--start-ns",
        "1704067200300000000",
    ];
    let p = gen(&dir, "short.pcap", &args);
    let p = p.to_str().unwrap();
    let t0 = Instant::now();
    assert_windows_partition(p, &["--speed", "10"]);
    assert!(t0.elapsed() >= Duration::from_millis(200), "not paced");
    let fast = summary(&["replay", "--json", "--no-pin", "--no-detect", p]);
    let paced = summary(&[
        "replay",
        "--json",
        "--no-pin",
        "--no-detect",
        "--speed",
        "10",
        p,
    ]);
    assert_eq!(fast["top"], paced["top"], "pacing moves no packet");
    assert_eq!(paced["pacing"]["capped_gaps"], 0, "{}", paced["pacing"]);
}

#[test]
#[ignore = "needs ../shared/traces (683 captures, minutes in a debug build); run by .ci/run"]
fn tumbling_windows_partition_every_real_capture() {
    let files = captures_under(&traces_dir());
    assert!(
        !files.is_empty(),
        "no captures under {}",
        traces_dir().display()
    );
    // One-hour epochs: 683 captures, some spanning decades (fuzzed
    // timestamps: at one-minute epochs a 21-year capture is a million
    // windows), in a debug build; the partition does not depend on the
    // epoch length.
    for f in &files {
        assert_windows_partition(f.to_str().unwrap(), &["--epoch", "3600"]);
    }
    // Paced, on the shortest real captures (a paced replay takes its
    // trace's duration, capped gaps aside).
    let mut paced = 0;
    for f in &files {
        let s = summary(&[
            "replay",
            "--json",
            "--no-pin",
            "--no-detect",
            "--epoch",
            "60",
            f.to_str().unwrap(),
        ]);
        let (Some(a), Some(b)) = (s["first_ts_ns"].as_u64(), s["last_ts_ns"].as_u64()) else {
            continue;
        };
        if b - a < S && s["packets"].as_u64() > Some(10) {
            assert_windows_partition(f.to_str().unwrap(), &["--speed", "2"]);
            paced += 1;
            if paced == 5 {
                break;
            }
        }
    }
    assert!(paced > 0);
}

/// Two captures 47 days apart.
fn two_files_47_days_apart(dir: &TempDir) -> Vec<String> {
    let mut files = Vec::new();
    let start = 1_704_067_200u64;
    for (name, at) in [("a", start), ("b", start + 47 * 86_400)] {
        let p = dir.join(&format!("{name}.pcap"));
        let out = run(&[
            "gen",
            "-d",
            "1",
            "-r",
            "200",
            "--start-ns",
            &format!("{at}000000000"),
            "-o",
            p.to_str().unwrap(),
        ]);
        assert!(out.status.success());
        files.push(p.to_str().unwrap().to_string());
    }
    files
}

/// Replays `files` at `--speed 1` with `extra` options; checks the gap
/// was capped at `--max-gap` (1 s) and reported, every epoch of it closed
/// and every window emitted, within `limit`.
fn check_47_day_gap(files: &[String], extra: &[&str], epoch_s: u64, limit: Duration) {
    let mut args = vec!["replay", "--json", "--no-pin", "--speed", "1"];
    args.extend_from_slice(extra);
    args.extend(files.iter().map(String::as_str));
    let t0 = Instant::now();
    let out = run(&args);
    let took = t0.elapsed();
    assert!(out.status.success());
    assert!(took < limit, "{took:?}");
    assert!(
        took >= Duration::from_secs(2),
        "{took:?}: two 1 s traces at x1"
    );
    // Line by line: with 1 s epochs the output is 375 MB of JSON.
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines().peekable();
    let (mut n, mut packets) = (0u64, 0u64);
    let (mut empty, mut full) = (None, None);
    let mut s = Value::Null;
    while let Some(l) = lines.next() {
        let v: Value = serde_json::from_str(l).unwrap();
        if lines.peek().is_none() {
            s = v;
            break;
        }
        n += 1;
        packets += v["packets"].as_u64().unwrap();
        let slot = if v["packets"] == 0 {
            &mut empty
        } else {
            &mut full
        };
        if slot.is_none() {
            *slot = Some(v);
        }
    }
    assert_eq!(s["type"], "summary");
    assert_eq!(s["pacing"]["capped_gaps"], 1, "{}", s["pacing"]);
    let skipped = s["pacing"]["skipped_trace_s"].as_f64().unwrap();
    assert!(
        (skipped - (47.0 * 86_400.0 - 2.0)).abs() < 5.0,
        "{skipped} s skipped"
    );
    let gap_epochs = 47 * 86_400 / epoch_s;
    assert!(
        s["epochs"].as_u64().unwrap() >= gap_epochs,
        "{}",
        s["epochs"]
    );
    assert!(n >= gap_epochs / 10, "{n} windows");
    assert_eq!(packets, s["packets"].as_u64().unwrap());
    // Empty windows carry the same fields as the others.
    let keys = |w: &Value| {
        let mut k: Vec<String> = w.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&empty.unwrap()), keys(&full.unwrap()));
}

/// Two captures 47 days apart at `--speed 1` used to sleep 47 days; the gap
/// is capped at `--max-gap` (1 s) and reported. 10 s epochs here (406,080
/// of them, 40,608 windows) keep the debug build quick; the next test runs
/// the default 1 s epochs.
#[test]
fn a_47_day_gap_at_speed_1_finishes_in_seconds() {
    let dir = TempDir::new("win-gap");
    let files = two_files_47_days_apart(&dir);
    // About 4 s in a debug build on an idle machine; it used to sleep 47
    // days.
    let limit = if cfg!(debug_assertions) { 60 } else { 20 };
    check_47_day_gap(&files, &["--epoch", "10"], 10, Duration::from_secs(limit));
}

/// The same with 1 s epochs: 4,060,801 epochs and 406,082 window lines
/// (375 MB of JSON). 1.1 s at full speed and 7 s at `--speed 1` through a
/// pipe on the release binary; 30 s and more in a debug build.
#[test]
#[ignore = "slow in a debug build (4 million epochs); run by .ci/run"]
fn a_47_day_gap_of_one_second_epochs_at_speed_1_finishes_in_seconds() {
    let dir = TempDir::new("win-gap1");
    let files = two_files_47_days_apart(&dir);
    let limit = if cfg!(debug_assertions) { 300 } else { 20 };
    check_47_day_gap(&files, &[], 1, Duration::from_secs(limit));
}

/// Ctrl-C used to be ignored during a paced sleep (15 s and more), and a
/// second signal exited 130 without a summary. Exit status on a stop: 0
/// with the summary (130 accepted too, should the interrupted status land).
#[test]
fn sigint_mid_replay_prints_the_summary_within_100_ms() {
    let dir = TempDir::new("win-int");
    let p = dir.join("long.pcap");
    let out = run(&["gen", "-d", "60", "-r", "200", "-o", p.to_str().unwrap()]);
    assert!(out.status.success());
    let child = netsketch()
        .args(["replay", "--json", "--no-pin", "--speed", "1"])
        .arg(&p)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Well into the replay, so the stop handler is installed and the
    // replay is sleeping between batches.
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = Instant::now();
    assert!(common::signal(&child, "INT"));
    let out = child.wait_with_output().unwrap();
    let took = t0.elapsed();
    assert!(
        matches!(out.status.code(), Some(0) | Some(130)),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let s: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(s["type"], "summary");
    let packets = s["packets"].as_u64().unwrap();
    assert!(packets > 0 && packets < 60 * 200, "{packets}");
    // 22-27 ms measured on the release binary; a debug build renders the
    // report several times slower, on a machine shared with other tests.
    let limit = if cfg!(debug_assertions) { 300 } else { 100 };
    assert!(took < Duration::from_millis(limit), "{took:?}");
}

/// Issue 16: `unanswered 48 > attempts 42` and failure ratios of 114% and
/// 200% on real captures.
#[test]
#[ignore = "needs ../shared/traces (683 captures, minutes in a debug build); run by .ci/run"]
fn no_service_fails_more_than_it_attempts_on_any_real_capture() {
    let files = captures_under(&traces_dir());
    assert!(!files.is_empty());
    let mut services = 0;
    for f in &files {
        // One-minute epochs, as above: handshake accounting holds per
        // epoch whatever its length.
        let s = summary(&[
            "replay",
            "--json",
            "--no-pin",
            "--epoch",
            "60",
            "--top",
            "100",
            f.to_str().unwrap(),
        ]);
        let sv = &s["services"];
        let mut all: Vec<&Value> = sv["top"].as_array().unwrap().iter().collect();
        all.push(&sv["other"]);
        for v in all {
            let n = |k: &str| v[k].as_u64().unwrap();
            let outcomes =
                n("completed") + n("incomplete") + n("refused") + n("unanswered") + n("open");
            assert_eq!(n("attempts"), outcomes, "{}: {v}", f.display());
            assert!(
                n("answered") + n("refused") + n("unanswered") <= n("attempts"),
                "{}: {v}",
                f.display()
            );
            assert!(
                v["failure_ratio"].as_f64().unwrap() <= 1.0,
                "{}: {v}",
                f.display()
            );
            services += 1;
        }
        for a in s["alerts"].as_array().unwrap() {
            if a["type"] == "sla_failures" {
                let r = a["evidence"]["failure_ratio"].as_f64().unwrap();
                assert!(r <= 1.0, "{}: {a}", f.display());
            }
        }
    }
    assert!(services > 0);
}

/// A NetFlow v5 datagram with one record: `packets` UDP packets from
/// 198.51.100.7:11211 (memcached, a reflector port) to 10.9.9.9, ending
/// now.
fn v5_datagram(packets: u32, seq: u32) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let uptime_ms = 100_000u32;
    let mut d = Vec::with_capacity(24 + 48);
    d.extend_from_slice(&5u16.to_be_bytes());
    d.extend_from_slice(&1u16.to_be_bytes());
    d.extend_from_slice(&uptime_ms.to_be_bytes());
    d.extend_from_slice(&(now.as_secs() as u32).to_be_bytes());
    d.extend_from_slice(&now.subsec_nanos().to_be_bytes());
    d.extend_from_slice(&seq.to_be_bytes());
    d.extend_from_slice(&[0, 0, 0, 0]); // engine type, id, sampling
    d.extend_from_slice(&[198, 51, 100, 7, 10, 9, 9, 9, 0, 0, 0, 0]);
    d.extend_from_slice(&[0, 1, 0, 2]); // input, output interfaces
    d.extend_from_slice(&packets.to_be_bytes());
    d.extend_from_slice(&(packets * 400).to_be_bytes());
    d.extend_from_slice(&(uptime_ms - 50).to_be_bytes()); // first
    d.extend_from_slice(&uptime_ms.to_be_bytes()); // last
    d.extend_from_slice(&11211u16.to_be_bytes());
    d.extend_from_slice(&40000u16.to_be_bytes());
    d.extend_from_slice(&[0, 0, 17, 0]); // pad, flags, protocol, tos
    d.extend_from_slice(&[0; 8]); // AS numbers, masks, pad
    d
}

/// Issue 16: `collect` fed by softflowd reported `"epochs": 5,
/// "windows": 0` after 46 s, and its alerts never ended. Records for 3 s,
/// then an idle exporter: the quiet epochs close on the clock, windows
/// with them, and the alert ends within `end_epochs` + 2 epochs, notify
/// "end" included.
#[test]
#[ignore = "runs 10 s of wall time on a live clock; run by .ci/run"]
fn collect_closes_windows_and_ends_alerts_when_the_exporter_goes_quiet() {
    let dir = TempDir::new("win-collect");
    let alerts = dir.join("alerts.jsonl");
    let notified = dir.join("notify.jsonl");
    let notify = format!("cat >> {}", notified.display());
    let (child, rest) = common::spawn_announced(
        &[
            "collect",
            "-l",
            "127.0.0.1:0",
            "--json",
            "--window",
            "1",
            "--alerts",
            alerts.to_str().unwrap(),
            "--notify",
            &notify,
        ],
        "collecting on 127.0.0.1:",
    );
    let port: u16 = rest
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {rest:?}"));
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // 3 s of 5,000 packets/s (500 per record, ten records a second).
    let t0 = Instant::now();
    let mut seq = 0;
    while t0.elapsed() < Duration::from_secs(3) {
        sock.send_to(&v5_datagram(500, seq), ("127.0.0.1", port))
            .unwrap();
        seq += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let stopped = Instant::now();
    let has_end = |p: &std::path::Path| {
        std::fs::read_to_string(p).is_ok_and(|t| t.contains("\"event\":\"end\""))
    };
    while !(has_end(&alerts) && has_end(&notified)) && stopped.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let waited = stopped.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    assert!(common::signal(&child, "TERM"));
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let text = std::fs::read_to_string(&alerts).unwrap_or_default();
    assert!(
        text.contains("udp_amplification"),
        "no alert from the records: {text}"
    );
    assert!(has_end(&alerts), "no end within {waited:?}: {text}");
    assert!(has_end(&notified), "notify got no end");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (summary, windows) = lines.split_last().unwrap();
    assert!(summary["epochs"].as_u64().unwrap() >= 8, "{summary}");
    assert!(windows.len() >= 8, "{} windows", windows.len());
    let sum: u64 = windows.iter().map(|w| w["packets"].as_u64().unwrap()).sum();
    assert_eq!(sum, seq as u64 * 500);
}
