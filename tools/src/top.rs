//! `netsketch top` and `netsketch query`: clients of a running instance's
//! JSON API (`--serve`, `run`). `top` redraws an iftop-like view every
//! `--interval` seconds: the latest window's top talkers with bounds and
//! rates, distinct counts, the destinations with the most sources, and the
//! active alerts; `--once --json` prints one snapshot for scripts.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::cli::{QueryArgs, TopArgs};
use crate::render::{si, thousands};
use crate::stop::StopFlag;

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
    Ok(json!({"status": status, "window": window, "alerts": alerts["active"]}))
}

/// The view as text, `k` rows per list.
pub fn render(snap: &Value, k: usize) -> String {
    let mut o = String::new();
    let st = &snap["status"];
    let w = &snap["window"];
    let _ = writeln!(
        o,
        "netsketch top: {} source, up {:.0} s, {} epochs, {} windows{}",
        st["source"].as_str().unwrap_or("?"),
        st["uptime_s"].as_f64().unwrap_or(0.0),
        st["epochs"],
        st["windows"],
        if st["done"] == true {
            " (input ended)"
        } else {
            ""
        }
    );
    if w.is_null() {
        let _ = writeln!(o, "  no window closed yet");
        return o;
    }
    let secs = (w["end_ts_ns"].as_u64().unwrap_or(0) - w["start_ts_ns"].as_u64().unwrap_or(0))
        as f64
        / 1e9;
    let secs = secs.max(1e-9);
    let bytes = w["traffic"]["bytes"].as_u64().unwrap_or(0);
    let packets = w["traffic"]["packets"].as_u64().unwrap_or(0);
    let _ = writeln!(
        o,
        "  window {} ({:.0} s): {} packets, {} bytes, {}bit/s, {} packets/s",
        w["index"],
        secs,
        thousands(packets),
        thousands(bytes),
        si(bytes as f64 * 8.0 / secs),
        si(packets as f64 / secs)
    );
    let d = &w["distinct"];
    let est = |v: &Value| {
        format!(
            "{} [{}, {}]",
            thousands(v["value"].as_u64().unwrap_or(0)),
            thousands(v["lower"].as_u64().unwrap_or(0)),
            thousands(v["upper"].as_u64().unwrap_or(0))
        )
    };
    let _ = writeln!(
        o,
        "  distinct: sources {}  destinations {}  flows {}",
        est(&d["src"]),
        est(&d["dst"]),
        est(&d["flows"])
    );
    for dim in ["src", "dst"] {
        let _ = writeln!(
            o,
            "\n  {:<40} {:>12} {:>27} {:>10}",
            format!("top {dim} by bytes"),
            "bytes",
            "[lower, upper]",
            "bit/s"
        );
        for t in w["top"][dim]["bytes"]
            .as_array()
            .into_iter()
            .flatten()
            .take(k)
        {
            let v = t["value"].as_u64().unwrap_or(0);
            let _ = writeln!(
                o,
                "  {:<40} {:>12} {:>27} {:>10}",
                t["key"].as_str().unwrap_or("?"),
                thousands(v),
                format!(
                    "[{}, {}]",
                    thousands(t["lower"].as_u64().unwrap_or(0)),
                    thousands(t["upper"].as_u64().unwrap_or(0))
                ),
                si(v as f64 * 8.0 / secs)
            );
        }
    }
    let _ = writeln!(o, "\n  {:<40} {:>12}", "most distinct sources", "sources");
    for t in w["distinct_src_per_dst"]
        .as_array()
        .into_iter()
        .flatten()
        .take(k.min(5))
    {
        let _ = writeln!(
            o,
            "  {:<40} {:>12}",
            t["key"].as_str().unwrap_or("?"),
            est(t)
        );
    }
    let alerts = snap["alerts"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(o, "\n  active alerts: {}", alerts.len());
    for a in alerts.iter().take(k) {
        let _ = writeln!(
            o,
            "  {:<18} {}",
            a["type"].as_str().unwrap_or("?"),
            a["victim"]
                .as_str()
                .or(a["service"].as_str())
                .unwrap_or("?")
        );
    }
    o
}

pub fn run(args: &TopArgs) -> Result<ExitCode> {
    anyhow::ensure!(
        args.interval.is_finite() && args.interval >= 0.1,
        "--interval must be at least 0.1 seconds"
    );
    if args.once {
        let snap = snapshot(&args.url)?;
        if args.json {
            println!("{snap}");
        } else {
            print!("{}", render(&snap, args.rows));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let stop = StopFlag::install();
    while !stop.flag().load(std::sync::atomic::Ordering::Relaxed) {
        let text = match snapshot(&args.url) {
            Ok(s) => render(&s, args.rows),
            Err(e) => format!("netsketch top: {e:#}\n"),
        };
        // Home, clear, draw: one write per refresh.
        print!("\x1b[H\x1b[2J{text}");
        let _ = std::io::Write::flush(&mut std::io::stdout());
        std::thread::sleep(Duration::from_secs_f64(args.interval));
    }
    Ok(ExitCode::SUCCESS)
}
