//! The HTTP endpoint against hostile clients (issue 17): each reproduction
//! of the issue, run while another client must get /healthz within 1 s.
//! The server under test is `replay --serve 127.0.0.1:0 --linger` on a
//! small generated trace, so it keeps serving while the tests misbehave.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{metric, netsketch, signal, TempDir};

/// A running endpoint; stopped (SIGINT, then waited for) when dropped.
struct Endpoint {
    child: Child,
    addr: String,
    _dir: TempDir,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        signal(&self.child, "INT");
        let _ = self.child.wait();
    }
}

impl Endpoint {
    /// `netsketch replay --serve` of a 3 s trace, lingering; `shell` wraps
    /// the command (`ulimit -n 64; exec`), `extra` adds options.
    fn start(tag: &str, shell: Option<&str>, extra: &[&str]) -> Endpoint {
        let dir = TempDir::new(tag);
        let trace = dir.join("t.pcap");
        let out = netsketch()
            .args(["gen", "-r", "500", "-d", "3", "-o"])
            .arg(&trace)
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut args: Vec<String> = [
            "replay",
            "--serve",
            "127.0.0.1:0",
            "--no-progress",
            "--linger",
            "120",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(trace.display().to_string());
        let bin = env!("CARGO_BIN_EXE_netsketch");
        let mut cmd = match shell {
            None => {
                let mut c = std::process::Command::new(bin);
                c.args(&args);
                c
            }
            Some(prefix) => {
                let mut c = std::process::Command::new("sh");
                c.arg("-c")
                    .arg(format!("{prefix} \"$0\" \"$@\""))
                    .arg(bin)
                    .args(&args);
                c
            }
        };
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut err, &mut line).unwrap();
        let addr = line
            .split_once("serving http://")
            .unwrap_or_else(|| panic!("expected the serving line, got {line:?}"))
            .1
            .split('/')
            .next()
            .unwrap()
            .to_string();
        // Keep draining stderr so the child never blocks on it.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut err, &mut std::io::sink());
        });
        Endpoint {
            child,
            addr,
            _dir: dir,
        }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
        s
    }

    /// The well-behaved client: /healthz on a new connection answers "ok"
    /// within 1 s.
    fn healthy_within_1s(&self) {
        let t0 = Instant::now();
        let mut s = self.connect();
        let body = get(&mut s, "/healthz").unwrap_or_else(|e| panic!("/healthz: {e}"));
        assert_eq!(body, "ok\n");
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "/healthz took {:?}",
            t0.elapsed()
        );
    }

    fn alive(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the server process exited"
        );
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One value of the exposition, read on a new connection.
    fn metric(&self, series: &str) -> f64 {
        let mut s = self.connect();
        metric(&get(&mut s, "/metrics").unwrap(), series)
    }
}

/// One keep-alive HTTP/1.1 GET on `s`: the body of a 200 answer.
fn get(s: &mut TcpStream, path: &str) -> Result<String, String> {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: netsketch\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            Ok(_) => return Err("connection closed".into()),
            Err(e) => return Err(e.to_string()),
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("answer {head:?}"));
    }
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .ok_or("no content-length")?;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&body).to_string())
}

/// A field of /proc/PID/status in bytes or as a count (`VmRSS`, `Threads`).
fn proc_status(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap();
    let n: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    if line.ends_with("kB") {
        n * 1024
    } else {
        n
    }
}

/// Reads what the server sends until it closes; Err if it stays open past
/// `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> Result<Vec<u8>, String> {
    let t0 = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(got),
            Err(_) if t0.elapsed() < within => {}
            Err(e) => return Err(format!("still open after {within:?}: {e}")),
        }
    }
}

#[test]
fn a_huge_content_length_is_refused_without_allocating_it() {
    // tiny_http allocated the declared 99,999,999,999 bytes and aborted.
    let mut ep = Endpoint::start("http-huge-cl", None, &[]);
    let rss0 = proc_status(ep.pid(), "VmRSS");
    let mut s = ep.connect();
    s.write_all(
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nsome of it",
    )
    .unwrap();
    let answer = closed_within(&mut s, Duration::from_secs(5)).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    ep.alive();
    ep.healthy_within_1s();
    let grown = proc_status(ep.pid(), "VmRSS").saturating_sub(rss0);
    assert!(grown < 32 << 20, "RSS grew by {grown} bytes");
    assert_eq!(
        ep.metric("netsketch_http_requests_total{code=\"413\"}"),
        1.0
    );
}

#[test]
fn a_declared_body_never_sent_blocks_nobody() {
    // tiny_http waited for the 2,000 bytes and served no one else meanwhile.
    let ep = Endpoint::start("http-no-body", None, &[]);
    let mut s = ep.connect();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n")
        .unwrap();
    for _ in 0..5 {
        ep.healthy_within_1s();
        std::thread::sleep(Duration::from_millis(200));
    }
    let answer = closed_within(&mut s, Duration::from_secs(5)).unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 413"));
}

#[test]
fn pipelined_requests_never_read_block_nobody() {
    // 2,000 pipelined /metrics requests whose answers are never read.
    let ep = Endpoint::start("http-pipelined", None, &[]);
    let mut s = ep.connect();
    let one = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    let all: Vec<u8> = one.iter().copied().cycle().take(one.len() * 2000).collect();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    // The server stops reading once its answers back up; whatever it
    // did not take stays unsent.
    let _ = s.write_all(&all);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        ep.healthy_within_1s();
        std::thread::sleep(Duration::from_millis(250));
    }
    // The stalled connection is closed after the request timeout (10 s).
    let t0 = Instant::now();
    while ep.metric("netsketch_http_rejected_connections_total{reason=\"request_timeout\"}") < 1.0 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the stalled connection was never closed"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(s);
}

#[test]
fn half_open_connections_take_no_thread_each() {
    // tiny_http: 500 half-open connections, ~440 threads.
    let ep = Endpoint::start("http-half-open", None, &[]);
    let threads0 = proc_status(ep.pid(), "Threads");
    let mut conns = Vec::new();
    for i in 0..500 {
        let mut s = TcpStream::connect(&ep.addr).unwrap();
        if i % 2 == 0 {
            // Half of them start a request and never finish it.
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost:").unwrap();
        }
        conns.push(s);
    }
    ep.healthy_within_1s();
    std::thread::sleep(Duration::from_millis(300));
    ep.healthy_within_1s();
    let threads = proc_status(ep.pid(), "Threads");
    assert!(
        threads <= threads0 + 2,
        "{threads} threads with 500 connections open, {threads0} before"
    );
    assert!(ep.metric("netsketch_http_connections") >= 500.0);
    // The header timeout (5 s) closes every one of them.
    for s in &mut conns {
        closed_within(s, Duration::from_secs(8)).unwrap();
    }
    assert!(
        ep.metric("netsketch_http_rejected_connections_total{reason=\"header_timeout\"}") >= 500.0
    );
}

#[test]
fn a_64_mib_request_line_is_cut_off() {
    // tiny_http: 4 x 64 MiB request lines, +260 MB RSS.
    let ep = Endpoint::start("http-long-line", None, &[]);
    let rss0 = proc_status(ep.pid(), "VmRSS");
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(&ep.addr).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
            std::thread::spawn(move || {
                let chunk = vec![b'a'; 1 << 20];
                let _ = s.write_all(b"GET /");
                let mut sent = 0usize;
                for _ in 0..64 {
                    match s.write_all(&chunk) {
                        Ok(()) => sent += chunk.len(),
                        Err(_) => break,
                    }
                }
                sent
            })
        })
        .collect();
    ep.healthy_within_1s();
    let sent: Vec<usize> = senders.into_iter().map(|t| t.join().unwrap()).collect();
    // The server gives up after its 16 KiB head limit; the kernel's
    // buffers take a few MiB more before the writes fail.
    for n in &sent {
        assert!(
            *n < 32 << 20,
            "the server took {n} bytes of one request line"
        );
    }
    let grown = proc_status(ep.pid(), "VmRSS").saturating_sub(rss0);
    assert!(grown < 16 << 20, "RSS grew by {grown} bytes");
    ep.healthy_within_1s();
    assert!(
        ep.metric("netsketch_http_rejected_connections_total{reason=\"head_too_large\"}") >= 4.0
    );
}

#[test]
fn running_out_of_file_descriptors_keeps_the_listener() {
    // tiny_http's accept thread panicked on EMFILE and the endpoint was
    // gone for good. Here the process may hold 64 files, the cap allows
    // 512 connections: accepts fail, are counted, and the listener lives.
    let mut ep = Endpoint::start("http-emfile", Some("ulimit -n 64; exec"), &[]);
    // A client already connected keeps its keep-alive connection.
    let mut kept = ep.connect();
    assert_eq!(get(&mut kept, "/healthz").unwrap(), "ok\n");
    let mut flood = Vec::new();
    let to: std::net::SocketAddr = ep.addr.parse().unwrap();
    for _ in 0..200 {
        // Past the listen backlog a connect waits for SYN retries.
        match TcpStream::connect_timeout(&to, Duration::from_millis(200)) {
            Ok(s) => flood.push(s),
            Err(_) => break,
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    let exposition = get(&mut kept, "/metrics").unwrap();
    assert!(t0.elapsed() < Duration::from_secs(1));
    assert!(
        metric(
            &exposition,
            "netsketch_http_accept_errors_total{kind=\"fd_limit\"}"
        ) >= 1.0,
        "no accept ran out of file descriptors"
    );
    ep.alive();
    drop(flood);
    // Once the flood has gone, new clients are served again.
    let t0 = Instant::now();
    loop {
        let ok = TcpStream::connect(&ep.addr).ok().and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
            get(&mut s, "/healthz").ok()
        });
        if ok.as_deref() == Some("ok\n") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the listener did not come back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    ep.alive();
}

#[test]
fn connections_over_the_cap_are_closed_at_once() {
    let ep = Endpoint::start("http-cap", None, &["--http-max-connections", "8"]);
    let idle: Vec<TcpStream> = (0..8).map(|_| ep.connect()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut over = ep.connect();
    let t0 = Instant::now();
    let got = closed_within(&mut over, Duration::from_secs(1)).unwrap();
    assert!(got.is_empty() && t0.elapsed() < Duration::from_secs(1));
    drop(idle);
    // Freed slots serve again.
    let t0 = Instant::now();
    while TcpStream::connect(&ep.addr)
        .ok()
        .and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
            get(&mut s, "/healthz").ok()
        })
        .is_none()
    {
        assert!(t0.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        ep.metric("netsketch_http_rejected_connections_total{reason=\"connection_cap\"}") >= 1.0
    );
}

#[test]
fn other_methods_get_405_and_the_routes_stay() {
    let ep = Endpoint::start("http-methods", None, &[]);
    let mut s = ep.connect();
    s.write_all(b"DELETE /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let answer = closed_within(&mut s, Duration::from_secs(2)).unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 405"));
    let mut s = ep.connect();
    assert!(get(&mut s, "/").unwrap().contains("/api/v1/"));
    assert!(get(&mut s, "/nope").is_err());
}

#[test]
fn a_stalled_client_never_delays_the_pipeline() {
    // The merging thread updates the endpoint's state under a mutex that
    // requests hold only to build their body: a client that never reads
    // its answers does not slow the replay (3 s of trace at --speed 2).
    let t0 = Instant::now();
    let ep = Endpoint::start("http-stall", None, &["--speed", "2"]);
    let mut stalled = ep.connect();
    let one = b"GET /api/v1/window HTTP/1.1\r\nHost: x\r\n\r\n";
    let all: Vec<u8> = one.iter().copied().cycle().take(one.len() * 2000).collect();
    stalled
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let _ = stalled.write_all(&all);
    loop {
        let mut s = ep.connect();
        let status = get(&mut s, "/api/v1/status").unwrap();
        if status.contains("\"done\":true") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(8),
            "the replay did not finish beside a stalled client: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(stalled);
}
