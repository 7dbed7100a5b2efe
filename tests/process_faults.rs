//! The process failing cleanly (issue 17): options checked against the
//! machine before any thread starts, notify commands that hang, standard
//! output that goes away or fills up, outputs that fail, the exit-code
//! table (README "Exit codes") and the configuration file's schema.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{gen, netsketch, run, signal, TempDir};
use serde_json::Value;

const USAGE: i32 = 2;
const TRUNCATED: i32 = 3;
const OUTPUT: i32 = 4;
const INTERRUPTED: i32 = 130;

/// A generated capture: `scenario` for `secs` seconds at `rate` packets/s.
fn trace(dir: &TempDir, name: &str, scenario: &str, secs: u32, rate: u32) -> String {
    let (secs, rate) = (secs.to_string(), rate.to_string());
    let args = ["--scenario", scenario, "-r", &rate, "-d", &secs];
    gen(dir, name, &args).to_str().unwrap().to_string()
}

/// Waits for `child` at most `limit`; kills it and fails if it is still
/// running then.
fn wait_at_most(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut s);
    }
    s
}

fn assert_no_panic(stderr: &str) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("PoisonError"),
        "{stderr}"
    );
}

#[test]
fn memory_beyond_the_machine_is_refused_before_any_thread_starts() {
    // `--memory 100000000` panicked a worker and hung; `--memory 1000000`
    // (976 GiB) was accepted on a 24 GiB machine.
    let dir = TempDir::new("faults-memory");
    let p = trace(&dir, "t.pcap", "baseline", 1, 100);
    for mib in ["100000000", "1000000", "18446744073709551615"] {
        let t0 = Instant::now();
        let out = run(&["replay", "--memory", mib, &p]);
        assert_eq!(out.status.code(), Some(USAGE), "--memory {mib}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--memory"), "{err}");
        assert!(out.stdout.is_empty());
        assert!(t0.elapsed() < Duration::from_secs(10));
    }
}

#[test]
fn a_budget_beyond_the_sketch_limits_is_refused_by_the_engine() {
    // Whatever the machine: the engine checks the sketch capacities the
    // budget gives before it starts a thread ("heavy-hitter capacity must
    // be 1..=2^24" was a worker's panic).
    let cfg = pipeline::EngineConfig {
        memory_bytes: 100_000_000 << 20,
        ..Default::default()
    };
    let err = pipeline::Engine::new(cfg).unwrap_err().to_string();
    assert!(err.contains("give at most"), "{err}");
    let most: usize = err
        .rsplit("give at most ")
        .next()
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    let fits = pipeline::EngineConfig {
        memory_bytes: most << 20,
        ..Default::default()
    };
    assert!(pipeline::Engine::new(fits).is_ok(), "{most} MiB");
}

#[test]
fn a_hanging_notify_command_is_killed_and_never_blocks_shutdown() {
    // A `--notify` that hangs blocked shutdown forever.
    let dir = TempDir::new("faults-notify");
    let p = trace(&dir, "syn.pcap", "baseline,syn-flood", 20, 1000);
    let marker = dir.join("started");
    let cmd = format!("touch {}; sleep 1000", marker.display());
    let mut child = netsketch()
        .args(["replay", "--json", "--no-progress", "--notify", &cmd])
        .args(["--notify-timeout", "1", &p])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let st = wait_at_most(&mut child, Duration::from_secs(30));
    let err = stderr_of(&mut child);
    assert!(marker.exists(), "the notify command never ran");
    assert_eq!(st.code(), Some(OUTPUT), "{err}");
    assert!(err.contains("killed"), "{err}");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let s: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert!(!s["alerts"].as_array().unwrap().is_empty());
    // The whole process group went: no `sleep 1000` of ours is left
    // (its shell's command line names the marker).
    let marker = marker.display().to_string();
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&marker))
        .collect();
    assert!(left.is_empty(), "left running: {left:?}");
}

#[test]
fn sigterm_with_a_hanging_notify_command_still_reports() {
    // The first SIGTERM was ignored while a notify command hung; the
    // second exited 130 with no summary.
    let dir = TempDir::new("faults-notify-term");
    let p = trace(&dir, "syn.pcap", "baseline,syn-flood", 40, 500);
    let mut child = netsketch()
        .args(["replay", "--json", "--no-progress", "--speed", "4"])
        .args(["--notify", "sleep 1000", "--notify-timeout", "2", &p])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The flood starts at 40% of the trace: 16 s of it, 4 s at --speed 4.
    std::thread::sleep(Duration::from_secs(6));
    assert!(signal(&child, "TERM"));
    let t0 = Instant::now();
    let st = wait_at_most(&mut child, Duration::from_secs(15));
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    let err = stderr_of(&mut child);
    assert!(err.contains("killed"), "{err}");
    // Interrupted, and a notify command failed: the output failure wins.
    assert_eq!(st.code(), Some(OUTPUT), "{err}");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let s: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(s["interrupted"], true);
}

#[test]
fn a_closed_stdout_ends_replay_with_a_message_not_a_panic() {
    // `replay ... | head -3` exited 101 ("failed printing to stdout", then
    // a PoisonError).
    let dir = TempDir::new("faults-epipe");
    let p = trace(&dir, "t.pcap", "baseline", 30, 500);
    for json in [false, true] {
        let mut cmd = netsketch();
        cmd.args(["replay", "--no-progress", "--window", "1", &p]);
        if json {
            cmd.arg("--json");
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            let mut out = BufReader::new(child.stdout.take().unwrap());
            if json {
                // `head -1`: one line read, then the pipe closed. The 30
                // window lines are more than a pipe holds, so the run is
                // still writing when it closes.
                let mut line = String::new();
                out.read_line(&mut line).unwrap();
            }
            // The table comes at the end: closed before it is written.
        }
        let st = wait_at_most(&mut child, Duration::from_secs(30));
        let err = stderr_of(&mut child);
        assert_no_panic(&err);
        assert_eq!(st.code(), Some(OUTPUT), "json {json}: {err}");
        assert!(
            err.contains("cannot write the report to standard output"),
            "{err}"
        );
    }
}

#[test]
fn a_full_stdout_ends_the_run_with_a_message_not_a_panic() {
    // `> /dev/full` exited 101.
    let dir = TempDir::new("faults-full");
    let p = trace(&dir, "t.pcap", "baseline", 2, 500);
    for extra in [&[][..], &["--json", "--window", "1"]] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = netsketch()
            .args(["replay", "--no-progress", &p])
            .args(extra)
            .stdout(full)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_no_panic(&err);
        assert_eq!(out.status.code(), Some(OUTPUT), "{extra:?}: {err}");
        assert!(err.contains("No space left on device"), "{err}");
    }
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = netsketch()
        .args(["demo", "-n", "20000", "--no-pin"])
        .stdout(full)
        .output()
        .unwrap();
    assert_no_panic(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(OUTPUT));
}

/// NetFlow v5 datagrams of one record each, to 127.0.0.1:`port`, every
/// 20 ms until `stop`.
fn send_v5(port: u16, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut seq = 0u32;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32;
        let mut d = Vec::with_capacity(72);
        for x in [5u16, 1] {
            d.extend_from_slice(&x.to_be_bytes());
        }
        for x in [100_000u32, now, 0, seq] {
            d.extend_from_slice(&x.to_be_bytes());
        }
        d.extend_from_slice(&[0, 0, 0, 0]);
        for x in [0x0a00_0001u32, 0x0a00_0002, 0] {
            d.extend_from_slice(&x.to_be_bytes());
        }
        d.extend_from_slice(&[0, 1, 0, 2]);
        for x in [10u32, 1000, 99_000, 100_000] {
            d.extend_from_slice(&x.to_be_bytes());
        }
        d.extend_from_slice(&[0x04, 0xd2, 0, 80, 0, 0x18, 6, 0, 0, 0, 0, 0, 24, 24, 0, 0]);
        let _ = s.send_to(&d, ("127.0.0.1", port));
        seq += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn collect_json_into_a_closed_pipe_stops_receiving_and_exits() {
    // `collect --json | head -1` killed the merging thread; the process
    // kept its port and received on, reporting nothing.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = netsketch()
        .args(["collect", "--json", "--no-detect", "--window", "1"])
        .args(["-l", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || send_v5(port, stop))
    };
    {
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert!(line.starts_with("{\"type\":\"window\""), "{line}");
    }
    let st = wait_at_most(&mut child, Duration::from_secs(20));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sender.join().unwrap();
    let err = stderr_of(&mut child);
    assert_no_panic(&err);
    assert_eq!(st.code(), Some(OUTPUT), "{err}");
}

#[test]
fn enospc_on_alerts_is_warned_and_fails_the_run() {
    // Under 8 KiB of alerts, ENOSPC on --alerts gave no warning and exit 0.
    let dir = TempDir::new("faults-alerts");
    // A start and an end, 2.6 KB: all of it sits in the file's buffer
    // until the flushes, which are what fail.
    let p = trace(&dir, "syn.pcap", "baseline,syn-flood", 8, 1000);
    let out = run(&["replay", "--json", "--alerts", "/dev/full", &p]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(OUTPUT), "{err}");
    assert!(
        err.contains("alert output") && err.contains("No space left"),
        "{err}"
    );
    // The report itself is whole.
    let s: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(s["type"], "summary");
    assert!(!s["alerts"].as_array().unwrap().is_empty());
}

#[test]
fn enospc_on_export_sketches_keeps_the_report_and_fails_the_run() {
    // ENOSPC on --export-sketches suppressed the whole report.
    let dir = TempDir::new("faults-export");
    let p = trace(&dir, "t.pcap", "baseline", 2, 500);
    let sketches = dir.join("sketches");
    std::fs::create_dir_all(&sketches).unwrap();
    std::os::unix::fs::symlink("/dev/full", sketches.join("distinct_src.hll")).unwrap();
    let out = run(&[
        "replay",
        "--json",
        "--export-sketches",
        sketches.to_str().unwrap(),
        &p,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(OUTPUT), "{err}");
    assert!(err.contains("distinct_src.hll"), "{err}");
    let s: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(s["type"], "summary");
    // The sketches that could be written were.
    assert!(sketches.join("distinct_dst.hll").metadata().unwrap().len() > 0);
}

#[test]
fn a_cut_gz_and_the_same_capture_cut_uncompressed_agree() {
    // A cut .gz exited 1 (read_error), the same capture cut uncompressed 0
    // (truncated_file).
    let dir = TempDir::new("faults-cut");
    let gz = trace(&dir, "t.pcap.gz", "baseline", 5, 2000);
    let bytes = std::fs::read(&gz).unwrap();
    let cut_gz = dir.join("cut.pcap.gz");
    std::fs::write(&cut_gz, &bytes[..bytes.len() / 3]).unwrap();
    // The same capture, cut where the compressed one ends.
    let mut plain = Vec::new();
    let _ = std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&bytes[..bytes.len() / 3]),
        &mut plain,
    );
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &plain).unwrap();
    let a = run(&["replay", "--json", cut_gz.to_str().unwrap()]);
    let b = run(&["replay", "--json", cut.to_str().unwrap()]);
    let sa: Value = common::last_json(&a.stdout);
    let sb: Value = common::last_json(&b.stdout);
    assert_eq!(a.status.code(), Some(TRUNCATED));
    assert_eq!(b.status.code(), Some(TRUNCATED));
    assert_eq!(sa["errors"], sb["errors"]);
    assert_eq!(sa["errors"]["truncated_file"], 1);
    assert_eq!(sa["packets"], sb["packets"]);
}

#[test]
fn an_interrupted_replay_is_marked_and_exits_130() {
    // An interrupted replay exited 0 with partial counts and no mark.
    let dir = TempDir::new("faults-interrupt");
    let p = trace(&dir, "t.pcap", "baseline", 60, 200);
    let mut child = netsketch()
        .args(["replay", "--json", "--no-progress", "--speed", "1", &p])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(signal(&child, "INT"));
    let st = wait_at_most(&mut child, Duration::from_secs(20));
    assert_eq!(st.code(), Some(INTERRUPTED));
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let s: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(s["interrupted"], true);
    assert!(s["packets"].as_u64().unwrap() < 12_000, "{}", s["packets"]);
    // A run that ends by itself says so too.
    let whole = run(&["replay", "--json", &p]);
    assert_eq!(whole.status.code(), Some(0));
    let text = String::from_utf8_lossy(&whole.stdout);
    let s: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(s["interrupted"], false);
}

#[test]
fn run_config_typos_name_the_key_the_file_and_the_line() {
    // `threds = 2` passed --dry-run (printed `--threds 2`); the real run
    // named the CLI flag, not the TOML key and line.
    let dir = TempDir::new("faults-config");
    let p = trace(&dir, "t.pcap", "baseline", 1, 100);
    let head = format!("[[source]]\nkind = \"file\"\nfiles = [\"{p}\"]\n");
    for (body, key, line) in [
        ("[engine]\nthreds = 2\n", "threds", 5),
        ("[engine]\nmemroy = 64\n", "memroy", 5),
        ("[engine]\nmemory = \"lots\"\n", "\"lots\"", 5),
        ("[serve]\nlistn = \"127.0.0.1:9464\"\n", "listn", 5),
        ("threads = 2\n", "threads", 4),
        ("[output]\nalert = \"x\"\n", "alert", 5),
    ] {
        let cfg = dir.join("bad.toml");
        std::fs::write(&cfg, format!("{head}{body}")).unwrap();
        for dry in [true, false] {
            let mut args = vec!["run", "--config", cfg.to_str().unwrap()];
            if dry {
                args.push("--dry-run");
            }
            let out = run(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(USAGE), "{body:?}: {err}");
            assert!(out.stdout.is_empty(), "{body:?}");
            assert!(err.contains(key), "{body:?}: {err}");
            assert!(err.contains("bad.toml"), "{body:?}: {err}");
            assert!(
                err.contains(&format!("line {line}")) || err.contains(&format!("bad.toml:{line}")),
                "{body:?}: {err}"
            );
        }
    }
    // Values the command line refuses are refused by --dry-run too.
    let cfg = dir.join("zero.toml");
    std::fs::write(&cfg, format!("{head}[engine]\nmemory = 0\n")).unwrap();
    let out = run(&["run", "--config", cfg.to_str().unwrap(), "--dry-run"]);
    assert_eq!(out.status.code(), Some(USAGE));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--memory"));
    // And the example configuration passes.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/netsketch.toml");
    let out = run(&["run", "--config", example, "--dry-run"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn demo_refuses_rates_that_are_not_positive_and_finite() {
    // `demo -r 0` ran 2,088 s of traffic "from +1844674407 s"; `-r nan`
    // was accepted.
    for r in ["0", "nan", "-5", "inf", "1e-9"] {
        let t0 = Instant::now();
        let out = run(&["demo", &format!("--rate={r}")]);
        assert_eq!(out.status.code(), Some(USAGE), "-r {r}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--rate"));
        assert!(t0.elapsed() < Duration::from_secs(5), "-r {r}");
    }
}
