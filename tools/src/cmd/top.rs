//! `netsketch top` and `netsketch query`: clients of a running instance's
//! JSON API (`--serve`, `run`). `top` redraws an iftop-like view every
//! `--interval` seconds: the latest window's top talkers with bounds and
//! rates, distinct counts, the destinations with the most sources, and the
//! active alerts; `--once --json` prints one snapshot for scripts.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::args::cli::{QueryArgs, TopArgs};
use crate::stop::StopFlag;
use crate::top_view::{self, render, Layout, View};

fn get(base: &str, path: &str) -> Result<Value> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let resp = match ureq::get(&url).timeout(Duration::from_secs(5)).call() {
        Ok(r) => r,
        // The API's own errors carry a JSON body worth showing.
        Err(ureq::Error::Status(code, r)) => {
            let body = r.into_string().unwrap_or_default();
            anyhow::bail!("{url}: HTTP {code}: {}", body.trim());
        }
        Err(e) => anyhow::bail!(
            "cannot reach netsketch at {base}: {e}; start one with --serve ADDR:PORT (or `netsketch run`)"
        ),
    };
    let text = resp
        .into_string()
        .with_context(|| format!("{url}: reading the answer"))?;
    serde_json::from_str(&text).with_context(|| format!("{url}: not JSON"))
}

pub fn query(args: &QueryArgs) -> Result<ExitCode> {
    check_url(&args.url)?;
    let path = args.path.trim_start_matches('/');
    let path = path.strip_prefix("api/v1/").unwrap_or(path);
    let v = get(&args.url, &format!("/api/v1/{path}"))?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(ExitCode::SUCCESS)
}

/// One snapshot: status, the latest window, alerts.
fn snapshot(url: &str) -> Result<Value> {
    let status = get(url, "/api/v1/status")?;
    let window = if status["windows"].as_u64().unwrap_or(0) > 0 {
        get(url, "/api/v1/window")?
    } else {
        Value::Null
    };
    let alerts = get(url, "/api/v1/alerts")?;
    Ok(
        json!({"status": status, "window": window, "alerts": alerts["active"],
        "recent_alerts": alerts["recent"]}),
    )
}

/// The terminal's size, if standard output is one.
fn terminal_size() -> Option<(usize, usize)> {
    let ws = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    (ws.ws_col > 0 && ws.ws_row > 0).then_some((ws.ws_col as usize, ws.ws_row as usize))
}

/// Standard input in single-key mode (no line buffering, no echo) while
/// `top` runs; the terminal's settings come back when it is dropped.
/// Signals stay on: Ctrl-C still stops `top`.
struct KeyMode(Option<rustix::termios::Termios>);

impl KeyMode {
    fn enter() -> KeyMode {
        use rustix::termios::{
            tcgetattr, tcsetattr, LocalModes, OptionalActions, SpecialCodeIndex,
        };
        let stdin = std::io::stdin();
        if !rustix::termios::isatty(&stdin) {
            return KeyMode(None);
        }
        let Ok(saved) = tcgetattr(&stdin) else {
            return KeyMode(None);
        };
        let mut t = saved.clone();
        t.local_modes.remove(LocalModes::ICANON | LocalModes::ECHO);
        t.special_codes[SpecialCodeIndex::VMIN] = 1;
        t.special_codes[SpecialCodeIndex::VTIME] = 0;
        if tcsetattr(&stdin, OptionalActions::Now, &t).is_err() {
            return KeyMode(None);
        }
        KeyMode(Some(saved))
    }
}

impl Drop for KeyMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                t,
            );
        }
    }
}

/// Keys pressed, one byte each, from a thread of their own.
fn keys() -> std::sync::mpsc::Receiver<u8> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut b = [0u8; 1];
        let mut stdin = std::io::stdin();
        while let Ok(1) = stdin.read(&mut b) {
            if tx.send(b[0]).is_err() {
                break;
            }
        }
    });
    rx
}

pub fn run(args: &TopArgs) -> Result<ExitCode> {
    if !(args.interval.is_finite() && args.interval >= 0.1) {
        return Err(crate::exit::usage(
            "--interval must be at least 0.1 seconds",
        ));
    }
    check_url(&args.url)?;
    let size = terminal_size();
    let (width, height) = size.unwrap_or((80, 24));
    let mut layout = Layout {
        width,
        // A snapshot printed to a pipe is not cut to a screen.
        height: if args.once && size.is_none() {
            usize::MAX
        } else {
            height
        },
        rows: args.rows,
        view: View::Talkers,
        packets: false,
    };
    if args.once {
        let snap = snapshot(&args.url)?;
        if args.json {
            println!("{snap}");
        } else {
            println!("{}", render(&snap, &layout).join("\n"));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let stop = StopFlag::install();
    let _mode = KeyMode::enter();
    let keys = keys();
    let mut snap: Option<Value> = None;
    let mut next = std::time::Instant::now();
    let mut out = std::io::stdout();
    while !stop.flag().load(std::sync::atomic::Ordering::Relaxed) {
        if std::time::Instant::now() >= next {
            snap = Some(match snapshot(&args.url) {
                Ok(s) => s,
                Err(e) => json!({"error": format!("{e:#}")}),
            });
            next = std::time::Instant::now() + Duration::from_secs_f64(args.interval);
        }
        if let Some((w, h)) = terminal_size() {
            layout.width = w;
            layout.height = h;
        }
        let lines = match &snap {
            Some(s) if s.get("error").is_some() => {
                vec![top_view::fit_line(
                    &format!("netsketch top: {}", s["error"].as_str().unwrap_or("?")),
                    layout.width,
                )]
            }
            Some(s) => render(s, &layout),
            None => Vec::new(),
        };
        // Home, clear, draw without a final newline (the screen never
        // scrolls): one write per refresh.
        let text = format!("\x1b[H\x1b[2J{}", lines.join("\r\n"));
        if std::io::Write::write_all(&mut out, text.as_bytes())
            .and_then(|()| std::io::Write::flush(&mut out))
            .is_err()
        {
            break;
        }
        let wait = next.saturating_duration_since(std::time::Instant::now());
        match keys.recv_timeout(wait.min(Duration::from_millis(250))) {
            Ok(b'q' | b'Q') => break,
            Ok(b'b' | b'B') => layout.packets = !layout.packets,
            Ok(b'v' | b' ') => layout.view = layout.view.next(),
            Ok(k) => {
                if let Some((v, _, _)) = View::ALL.iter().find(|(_, c, _)| *c == k as char) {
                    layout.view = *v;
                }
            }
            Err(_) => {}
        }
    }
    println!();
    Ok(ExitCode::SUCCESS)
}

/// A `--url` that is not an http URL is refused before any request, with
/// the form it takes (a bare `127.0.0.1:19999` is the common slip).
fn check_url(url: &str) -> Result<()> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(());
    }
    Err(crate::exit::usage(format!(
        "--url {url:?}: give the instance's endpoint as an http URL, like http://{url}"
    )))
}
