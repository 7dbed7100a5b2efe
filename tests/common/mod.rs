//! Helpers shared by the end-to-end tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Read};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// The public captures beside the checkout (`../shared/traces`), or
/// `$NETSKETCH_TRACES`.
pub fn traces_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("NETSKETCH_TRACES") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/traces")
}

/// Every capture file under `dir`, sorted.
pub fn captures_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in
            std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot read {}: {e}", d.display()))
        {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("pcap" | "pcapng" | "cap" | "gz")
            ) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The netsketch binary under test.
pub fn netsketch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_netsketch"))
}

/// Runs netsketch with `args` and returns its output.
pub fn run(args: &[&str]) -> Output {
    netsketch().args(args).output().expect("netsketch runs")
}

/// Runs netsketch with `args` and asserts it exits 0, with its stderr in
/// the failure message; returns its output.
pub fn run_ok(args: &[&str]) -> Output {
    let out = run(args);
    assert!(
        out.status.success(),
        "netsketch {args:?}: {}; stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs an outside program (or netsketch with its own environment) and
/// asserts it exits 0, with its stderr in the failure message.
pub fn output_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}; stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every stdout line of a successful `--json` run, parsed (windows, then
/// the summary).
pub fn json_lines(args: &[&str]) -> Vec<Value> {
    String::from_utf8_lossy(&run_ok(args).stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l:?}: {e}")))
        .collect()
}

/// `netsketch gen ARGS -o DIR/NAME`: the generated capture's path.
pub fn gen(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let p = dir.join(name);
    run_ok(&[&["gen", "-o", p.to_str().unwrap()][..], args].concat());
    p
}

/// `netsketch gen ARGS -o DIR/NAME --truth DIR/NAME.json`: the capture's
/// path and its exact truth, parsed.
pub fn gen_with_truth(dir: &Path, name: &str, args: &[&str]) -> (PathBuf, Value) {
    let t = dir.join(format!("{name}.json"));
    let p = gen(
        dir,
        name,
        &[args, &["--truth", t.to_str().unwrap()]].concat(),
    );
    let truth = serde_json::from_slice(&std::fs::read(&t).unwrap()).unwrap();
    (p, truth)
}

/// A trace with its truth generated once per test binary and shared by its
/// tests (in cargo's scratch directory for integration tests, kept between
/// runs and overwritten): generating is a good part of a debug test's time.
pub fn shared_trace(
    cell: &'static OnceLock<(PathBuf, Value)>,
    name: &str,
    args: &[&str],
) -> &'static (PathBuf, Value) {
    cell.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(env!("CARGO_CRATE_NAME"));
        std::fs::create_dir_all(&dir).unwrap();
        gen_with_truth(&dir, name, args)
    })
}

/// The last line of a `--json` run's stdout (the summary), parsed: window
/// lines come before it.
pub fn last_json(stdout: &[u8]) -> Value {
    let text = String::from_utf8_lossy(stdout);
    let last = text.lines().last().unwrap_or("");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("bad JSON {last:?}: {e}"))
}

/// Runs netsketch and parses the last stdout line (the summary) as JSON.
pub fn summary(args: &[&str]) -> Value {
    let out = run(args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_else(|| {
        panic!(
            "netsketch {args:?} printed nothing; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    serde_json::from_str(last).unwrap_or_else(|e| panic!("bad JSON {last:?}: {e}"))
}

/// Whether an outside program is installed.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Asserts an outside program is there, with an install hint: ignored tests
/// fail loudly rather than pass without checking anything.
pub fn require(program: &str, package: &str) {
    assert!(
        have(program),
        "{program} is not installed: `apt-get install {package}` (.ci/run does this)"
    );
}

/// A scratch directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("netsketch-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sends `sig` (`TERM`, `INT`) to a child; true if it was delivered.
pub fn signal(child: &Child, sig: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// Spawns `netsketch ARGS` with stdout and stderr piped.
pub fn spawn_piped(args: &[&str]) -> Child {
    netsketch()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Starts a Prometheus server on a free loopback port that scrapes
/// `targets` (`host:port`) every second, with its configuration and data
/// in `dir` and its output discarded; returns it and its `host:port`.
pub fn spawn_prometheus(dir: &Path, targets: &[&str]) -> (Child, String) {
    let web = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let conf = dir.join("prometheus.yml");
    let targets = targets.join("', '");
    std::fs::write(
        &conf,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
             - job_name: netsketch\n    static_configs:\n      - targets: ['{targets}']\n"
        ),
    )
    .unwrap();
    let prom = Command::new("prometheus")
        .arg(format!("--config.file={}", conf.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (prom, web)
}

/// The answer of the Prometheus server at `web` to the instant query `q`
/// (`Null` when it does not answer).
pub fn promql(web: &str, q: &str) -> Value {
    let out = Command::new("curl")
        .args([
            "-s",
            "--get",
            &format!("http://{web}/api/v1/query"),
            "--data-urlencode",
        ])
        .arg(format!("query={q}"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// Spawns `netsketch ARGS` with piped output and waits for its first stderr
/// line, which must contain `marker` (`collecting on `, `serving http://`);
/// returns the child and the rest of that line after the marker.
pub fn spawn_announced(args: &[&str], marker: &str) -> (Child, String) {
    let mut child = spawn_piped(args);
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let rest = line
        .split_once(marker)
        .unwrap_or_else(|| panic!("expected {marker:?} on stderr, got {line:?}"))
        .1
        .to_string();
    (child, rest)
}

/// Splits a classic pcap file into its first `n` records and the rest.
pub fn split_pcap(src: &Path, n: usize, a: &Path, b: &Path) {
    let bytes = std::fs::read(src).unwrap();
    // Little-endian pcap, microsecond or nanosecond stamps.
    assert!(matches!(
        bytes[..4],
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1]
    ));
    let (header, mut rest) = bytes.split_at(24);
    let mut first = header.to_vec();
    let mut i = 0;
    while i < n && !rest.is_empty() {
        let len = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
        first.extend_from_slice(&rest[..16 + len]);
        rest = &rest[16 + len..];
        i += 1;
    }
    let mut second = header.to_vec();
    second.extend_from_slice(rest);
    std::fs::write(a, first).unwrap();
    std::fs::write(b, second).unwrap();
}

/// `GET url` over a plain HTTP/1.0 connection: the body.
pub fn http_get(url: &str) -> String {
    // curl would do; the query command already proves the client, so use a
    // plain TCP request here to see the raw exposition.
    let (host, path) = url
        .trim_start_matches("http://")
        .split_once('/')
        .map(|(h, p)| (h.to_string(), format!("/{p}")))
        .unwrap();
    let mut s = std::net::TcpStream::connect(&host).unwrap();
    std::io::Write::write_all(
        &mut s,
        format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// The value of series `name` (with its labels, if any, as the exposition
/// writes them) in a Prometheus exposition.
pub fn metric(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("no {name} in the exposition"))
        .parse()
        .unwrap()
}

/// A JSON output line without the keys that measure the run rather than
/// the traffic (timings, worker count, memory).
pub fn answers(v: &Value) -> Value {
    let mut v = v.clone();
    for k in [
        "elapsed_s",
        "packets_per_s",
        "bits_per_s",
        "workers",
        "peak_rss_bytes",
    ] {
        v.as_object_mut().unwrap().remove(k);
    }
    v
}

/// Runs `base` with each of `splits` (worker counts, batch sizes) added and
/// asserts every output line gives the same answers: 4 windows or more and
/// a summary.
pub fn assert_same_answers(base: &[&str], splits: &[&[&str]]) {
    let runs: Vec<Vec<Value>> = splits
        .iter()
        .map(|extra| json_lines(&[base, extra].concat()))
        .collect();
    assert!(runs[0].len() >= 5, "4 windows and a summary");
    for r in &runs[1..] {
        assert_eq!(r.len(), runs[0].len());
        for (a, b) in runs[0].iter().zip(r) {
            let mut diffs = Vec::new();
            diff(&answers(a), &answers(b), String::new(), &mut diffs);
            assert!(diffs.is_empty(), "answers differ:\n{}", diffs.join("\n"));
        }
    }
}

/// The JSON paths where two values differ, with both values.
fn diff(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                diff(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    format!("{path}.{k}"),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff(p, q, format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} vs {b}")),
        _ => {}
    }
}

/// Every ranked item of a `--json` summary `s` (the five dimensions by
/// bytes and by packets) checked against the truth file's top lists: a key
/// the truth lists must lie in `[lower, upper]`, one it does not list (so
/// at most its last value) must have `lower` at or below that value.
/// Returns how many items were checked and the ones that miss.
pub fn bound_misses(truth: &Value, s: &Value) -> (usize, Vec<String>) {
    let (mut items, mut misses) = (0, Vec::new());
    for dim in ["src", "dst", "pair", "dport", "sport"] {
        for m in ["bytes", "packets"] {
            let list = truth["top"][dim][m].as_array().unwrap();
            let exact: std::collections::HashMap<&str, u64> = list
                .iter()
                .map(|x| (x["key"].as_str().unwrap(), x["value"].as_u64().unwrap()))
                .collect();
            let floor = list.last().unwrap()["value"].as_u64().unwrap();
            let got = s["top"][dim][m].as_array().unwrap();
            assert!(!got.is_empty(), "no {dim}/{m} ranking");
            for it in got {
                items += 1;
                let (lo, hi) = (it["lower"].as_u64().unwrap(), it["upper"].as_u64().unwrap());
                match exact.get(it["key"].as_str().unwrap()) {
                    Some(&t) if !(lo <= t && t <= hi) => {
                        misses.push(format!("{dim}/{m} {it}: truth {t}"))
                    }
                    None if lo > floor => misses.push(format!(
                        "{dim}/{m} {it} claims more than the truth's last ({floor})"
                    )),
                    _ => {}
                }
            }
        }
    }
    (items, misses)
}

/// Starts `replay --serve 127.0.0.1:0 --json --no-progress` with `extra`
/// options on `file`; returns it with its endpoint once it says where it
/// serves.
pub fn serve_replay(file: &str, extra: &[&str]) -> (Child, String) {
    let mut args = vec![
        "replay",
        "--serve",
        "127.0.0.1:0",
        "--json",
        "--no-progress",
    ];
    args.extend_from_slice(extra);
    args.push(file);
    let (child, rest) = spawn_announced(&args, "serving http://");
    let addr = rest.split('/').next().unwrap_or_default();
    (child, format!("http://{addr}"))
}

/// `netsketch query PATH --url URL`: the API's answer, parsed.
pub fn query(url: &str, path: &str) -> Value {
    let out = netsketch()
        .args(["query", path, "--url", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "query {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Waits (at most 60 s) until a serving replay says it read all its input.
pub fn wait_done(url: &str) {
    let t0 = std::time::Instant::now();
    while query(url, "status")["done"] != true {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(60),
            "replay never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
