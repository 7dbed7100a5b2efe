//! Rendering exact counters: the JSON summary object of DESIGN.md
//! ("Machine-readable output") and the human table.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use capture::{tcp_flags, Totals};
use pipeline::{Dimension, EpochTotals, Handshake, Metric, Summary, TopItem};
use serde_json::{json, Map, Value};
use sketches::Estimate;

/// An estimate in the output contract's shape.
pub fn estimate_json(e: &Estimate) -> Value {
    json!({
        "value": e.value.round() as u64,
        "lower": e.lower.floor() as u64,
        "upper": e.upper.ceil() as u64,
        "confidence": e.confidence,
    })
}

/// Answers to `--query`: bytes from and to each address or prefix.
pub fn queries_json(s: &Summary, queries: &[crate::args::engine::Query]) -> Value {
    Value::Array(
        queries
            .iter()
            .map(|q| {
                let est = |src| {
                    s.bytes_of(q.addr, q.len, src)
                        .map(|e| estimate_json(&e))
                        .unwrap_or(Value::Null)
                };
                json!({"key": q.to_string(), "src_bytes": est(true), "dst_bytes": est(false)})
            })
            .collect(),
    )
}

/// Answers to `--query` for the human report.
pub fn queries_text(s: &Summary, queries: &[crate::args::engine::Query]) -> String {
    let f = |e: Option<Estimate>| {
        e.map(|e| {
            format!(
                "{} [{}, {}]",
                thousands(e.value as u64),
                thousands(e.lower as u64),
                thousands(e.upper as u64)
            )
        })
        .unwrap_or_default()
    };
    let mut out = String::new();
    for q in queries {
        let _ = writeln!(
            out,
            "  bytes {:<22} from {}  to {}",
            q.to_string(),
            f(s.bytes_of(q.addr, q.len, true)),
            f(s.bytes_of(q.addr, q.len, false))
        );
    }
    out
}

/// `top` and `distinct` of a summary, as DESIGN.md's contract has them.
pub fn answers_json(s: &Summary, k: usize) -> Map<String, Value> {
    let items = top_items_json;
    let mut top = Map::new();
    for d in Dimension::ALL {
        let mut by = Map::new();
        for m in Metric::ALL {
            by.insert(m.name().into(), items(s.top(d, m, k)));
        }
        top.insert(d.name().into(), Value::Object(by));
    }
    let mut handshake = Map::new();
    for h in Handshake::ALL {
        handshake.insert(h.name().into(), items(s.top_handshake(h, k)));
    }
    let per_dst: Vec<Value> = s
        .distinct_sources_top(k)
        .into_iter()
        .map(|(d, e)| {
            let mut v = estimate_json(&e);
            v["key"] = json!(d.to_string());
            v
        })
        .collect();
    let mut m = Map::new();
    // Exact: the pipeline counts every update.
    m.insert(
        "traffic".into(),
        json!({"packets": s.totals.packets, "bytes": s.totals.proto.ip_bytes}),
    );
    m.insert("top".into(), Value::Object(top));
    m.insert(
        "distinct".into(),
        json!({
            "src": estimate_json(&s.distinct_src()),
            "dst": estimate_json(&s.distinct_dst()),
            "flows": estimate_json(&s.distinct_flows()),
        }),
    );
    m.insert("distinct_src_per_dst".into(), Value::Array(per_dst));
    m.insert("tcp_handshake".into(), Value::Object(handshake));
    m.insert("services".into(), services_json(s, k));
    m
}

/// TCP handshakes of the busiest services (round-trip times in ns, with
/// HdrHistogram's 2-digit precision) and of all others together.
pub fn services_json(s: &Summary, k: usize) -> Value {
    let top: Vec<Value> = s
        .services(k)
        .into_iter()
        .map(|r| {
            let mut v = json!({"service": r.name(), "missed_events_upper": r.missed_upper});
            if let (Value::Object(m), Value::Object(st)) = (&mut v, r.stats.to_json()) {
                m.extend(st);
            }
            v
        })
        .collect();
    let (other, untracked) = s.services_other();
    json!({
        "top": top,
        "other": other.to_json(),
        "untracked_syns": untracked,
        "rtt_relative_precision": 1.0 / 128.0,
    })
}

/// A window line of the JSON output.
pub fn window_json(s: &Summary, k: usize) -> Value {
    let t: &EpochTotals = &s.totals;
    let mut v = json!({
        "type": "window",
        "start_ts_ns": s.start_ns,
        "end_ts_ns": s.end_ns,
        "packets": t.packets,
        "wire_bytes": t.wire_bytes,
        "ip_bytes": t.proto.ip_bytes,
        "ipv4": t.proto.ipv4,
        "ipv6": t.proto.ipv6,
        "tcp": t.proto.tcp,
        "udp": t.proto.udp,
        "icmp": t.proto.icmp,
        "late": t.late,
        "partial": s.partial,
    });
    if let Value::Object(m) = &mut v {
        m.extend(answers_json(s, k));
    }
    v
}

/// A run's answers into its JSON summary: top-k and distinct counts, the
/// `--query` answers, and the alerts when detection ran.
pub fn run_answers_json(
    m: &mut Map<String, Value>,
    total: &Summary,
    k: usize,
    queries: &[crate::args::engine::Query],
    alerts: Option<&[Value]>,
) {
    m.extend(answers_json(total, k));
    if !queries.is_empty() {
        m.insert("point".into(), queries_json(total, queries));
    }
    if let Some(a) = alerts {
        m.insert("alerts".into(), json!(a));
    }
}

/// The same answers for the text report; alert times are absolute, and
/// relative to `trace_start_ns` too when given (replays).
pub fn run_answers_text(
    total: &Summary,
    ranks: &crate::rankings::Rankings,
    queries: &[crate::args::engine::Query],
    alerts: Option<&[Value]>,
    trace_start_ns: Option<u64>,
) -> String {
    let k = ranks.k;
    let mut out = answers_text(total, ranks);
    out.push_str(&queries_text(total, queries));
    if let Some(a) = alerts {
        out.push_str(&crate::alerts::alerts_text(a, trace_start_ns));
        out.push_str(&sla_notes(total, k, a));
    }
    out
}

/// Why a failing service listed in the report raised no SLA alert: its
/// host was under a DoS alert, and detection leaves a flood's victim to
/// that alert (its failures are the attack's).
fn sla_notes(total: &Summary, k: usize, alerts: &[Value]) -> String {
    let mut out = String::new();
    for r in total.services(k) {
        let name = r.name();
        let failures = r.stats.failures();
        if failures == 0 || alerts.iter().any(|a| a["victim"] == name.as_str()) {
            continue;
        }
        let host = r.server.to_string();
        let Some(dos) = alerts.iter().find(|a| {
            a["victim"] == host.as_str()
                && a["type"].as_str().is_some_and(|t| !t.starts_with("sla_"))
        }) else {
            continue;
        };
        let _ = writeln!(
            out,
            "  note: {name} failed {:.1}% with no sla_failures alert: its host was under a {} alert, which covers its failures",
            r.stats.failure_ratio() * 100.0,
            dos["type"].as_str().unwrap_or("DoS")
        );
    }
    out
}

/// Top-k items with their bounds, as every report and the API show them.
pub fn top_items_json(v: Vec<TopItem>) -> Value {
    let items = v
        .into_iter()
        .map(|t| json!({"key": t.key, "value": t.value, "lower": t.lower, "upper": t.upper}));
    Value::Array(items.collect())
}

/// A window line with the answers to `--query`, as every command prints it.
pub fn window_line(s: &Summary, k: usize, queries: &[crate::args::engine::Query]) -> Value {
    let mut v = window_json(s, k);
    if !queries.is_empty() {
        v["point"] = queries_json(s, queries);
    }
    v
}

/// The first failure to write standard output (EPIPE under `| head`,
/// ENOSPC, `/dev/full`).
static STDOUT_FAILED: OnceLock<String> = OnceLock::new();

/// Writes `text` to standard output and flushes it. Never panics: false
/// if it could not be written, the failure kept for [`check_stdout`]
/// (nothing more is written after one).
pub fn print(text: &str) -> bool {
    if STDOUT_FAILED.get().is_some() {
        return false;
    }
    let mut o = std::io::stdout().lock();
    match o.write_all(text.as_bytes()).and_then(|()| o.flush()) {
        Ok(()) => true,
        Err(e) => {
            let _ = STDOUT_FAILED.set(e.to_string());
            false
        }
    }
}

/// [`print`] with a newline.
pub fn println(text: impl std::fmt::Display) -> bool {
    print(&format!("{text}\n"))
}

/// Ends a run's output: a failure to write standard output is said on
/// stderr and marks the outcome.
pub fn check_stdout(outcome: &mut crate::exit::Outcome) {
    if let Some(e) = STDOUT_FAILED.get() {
        eprintln!("netsketch: error: cannot write the report to standard output: {e}");
        outcome.output_failed = true;
    }
}

/// [`window_line`] as text, rendering the answers of a window without
/// packets once: all such windows answer alike (no sketch holds anything)
/// but for their times, and a gap of days in a replay emits hundreds of
/// thousands of them (rendered one by one, 20 µs each, a 47-day gap took
/// 9 s of CPU; this way under 1 s).
pub fn window_line_cached(
    s: &Summary,
    k: usize,
    queries: &[crate::args::engine::Query],
    empty: &mut Option<String>,
) -> String {
    if s.totals.packets != 0 || s.totals.late != 0 {
        return window_line(s, k, queries).to_string();
    }
    let rest = empty.get_or_insert_with(|| {
        let mut v = window_line(s, k, queries);
        if let Value::Object(m) = &mut v {
            for key in ["start_ts_ns", "end_ts_ns", "partial"] {
                m.remove(key);
            }
        }
        v.to_string()
    });
    // `rest` is a non-empty object: `{"key":...}`.
    format!(
        "{{\"start_ts_ns\":{},\"end_ts_ns\":{},\"partial\":{},{}",
        s.start_ns,
        s.end_ns,
        s.partial,
        &rest[1..]
    )
}

/// The `on_window` callback of a command: prints each window as a JSON
/// line when `json` is set. If standard output fails, sets `stop`: a run
/// whose report cannot be written ends.
pub fn window_printer<'a>(
    json: bool,
    k: usize,
    queries: &'a [crate::args::engine::Query],
    stop: &'a AtomicBool,
) -> impl FnMut(usize, &Summary) + 'a {
    let mut empty = None;
    move |_, w| {
        if json && !println(window_line_cached(w, k, queries, &mut empty)) {
            stop.store(true, Ordering::SeqCst);
        }
    }
}

/// The answer rows of the human report: the rankings (every row as nfdump
/// prints one), distinct counts and TCP services.
pub fn answers_text(s: &Summary, r: &crate::rankings::Rankings) -> String {
    let k = r.k;
    let mut out = crate::rankings::rankings_text(s, r);
    let e = |x: Estimate| {
        format!(
            "{} [{}, {}] at {:.1}%",
            thousands(x.value.round() as u64),
            thousands(x.lower.floor() as u64),
            thousands(x.upper.ceil() as u64),
            x.confidence * 100.0
        )
    };
    let _ = writeln!(out, "  distinct sources      {}", e(s.distinct_src()));
    let _ = writeln!(out, "  distinct destinations {}", e(s.distinct_dst()));
    let _ = writeln!(out, "  distinct flows        {}", e(s.distinct_flows()));
    let services = s.services(k);
    if !services.is_empty() {
        let _ = writeln!(
            out,
            "  TCP services (handshakes ended; server-side RTT p50/p99, client-side p50/p99; failed):"
        );
        let _ = writeln!(
            out,
            "    (counts exact for each service listed, except `+N`: up to N handshake events counted under other services)"
        );
    }
    let ms = |h: &Value, q: &str| {
        h[q].as_u64()
            .map_or("-".to_string(), |ns| format!("{:.1}", ns as f64 / 1e6))
    };
    for r in services {
        let st = r.stats.to_json();
        let _ = writeln!(
            out,
            "    {:<46} {:>9}  {:>7}/{:<7} ms  {:>7}/{:<7} ms  {:>5.1}%{}",
            r.name(),
            thousands(r.stats.attempts),
            ms(&st["server_rtt_ns"], "p50"),
            ms(&st["server_rtt_ns"], "p99"),
            ms(&st["client_rtt_ns"], "p50"),
            ms(&st["client_rtt_ns"], "p99"),
            r.stats.failure_ratio() * 100.0,
            if r.missed_upper > 0 {
                format!("  +{}", thousands(r.missed_upper))
            } else {
                String::new()
            }
        );
    }
    out
}

/// Peak resident memory of this process (Linux: VmHWM), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Throughput figures of a run.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub elapsed_s: f64,
    pub packets_per_s: f64,
    pub bits_per_s: f64,
}

impl Rates {
    pub fn new(totals: &Totals, elapsed: Duration) -> Rates {
        let s = elapsed.as_secs_f64().max(1e-9);
        Rates {
            elapsed_s: elapsed.as_secs_f64(),
            packets_per_s: totals.packets as f64 / s,
            bits_per_s: totals.wire_bytes as f64 * 8.0 / s,
        }
    }
}

/// The summary object; `extra` adds command-specific keys.
pub fn summary_json(totals: &Totals, rates: Rates, extra: Map<String, Value>) -> Value {
    let mut errors = Map::new();
    for (reason, n) in totals.errors.iter() {
        errors.insert(reason.as_str().to_string(), json!(n));
    }
    let mut flags = Map::new();
    for (i, name) in tcp_flags::NAMES.iter().enumerate() {
        flags.insert((*name).to_string(), json!(totals.proto.tcp_flags[i]));
    }
    let mut linktypes = Map::new();
    for (lt, n) in totals.linktypes.sorted() {
        linktypes.insert(lt.to_string(), json!(n));
    }
    let mut v = json!({
        "type": "summary",
        "packets": totals.packets,
        "wire_bytes": totals.wire_bytes,
        "captured_bytes": totals.captured_bytes,
        "ip_bytes": totals.proto.ip_bytes,
        "first_ts_ns": totals.first_ts(),
        "last_ts_ns": totals.first_ts().map(|_| totals.last_ts_ns),
        "ipv4": totals.proto.ipv4,
        "ipv6": totals.proto.ipv6,
        "non_ip": totals.proto.non_ip,
        "tcp": totals.proto.tcp,
        "udp": totals.proto.udp,
        "icmp": totals.proto.icmp,
        "other_l4": totals.proto.other_l4,
        "tcp_flags": flags,
        "linktypes": linktypes,
        "errors": errors,
        "elapsed_s": rates.elapsed_s,
        "packets_per_s": rates.packets_per_s.round() as u64,
        "bits_per_s": rates.bits_per_s.round() as u64,
        "peak_rss_bytes": peak_rss_bytes(),
    });
    if let Value::Object(m) = &mut v {
        m.extend(extra);
    }
    v
}

/// Formats an integer with thousands separators.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate with an SI prefix: `1.23 M`.
pub fn si(x: f64) -> String {
    let (v, p) = if x >= 1e9 {
        (x / 1e9, "G")
    } else if x >= 1e6 {
        (x / 1e6, "M")
    } else if x >= 1e3 {
        (x / 1e3, "k")
    } else {
        (x, "")
    };
    format!("{v:.2} {p}")
}

/// `ns` since the Unix epoch as RFC 3339 in UTC, with nanoseconds.
pub(crate) fn ts_text(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm),
    // to print UTC without a date-time dependency.
    let days = (secs / 86_400) as i64;
    let tod = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

/// The human-readable table.
pub fn table(
    title: &str,
    totals: &Totals,
    rates: Rates,
    extra_rows: &[(String, String)],
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{title}");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(s, "  {k:<18} {v}");
    };
    row("packets", thousands(totals.packets));
    row("wire bytes", thousands(totals.wire_bytes));
    row("captured bytes", thousands(totals.captured_bytes));
    row("ip bytes", thousands(totals.proto.ip_bytes));
    if let Some(first) = totals.first_ts() {
        row("first packet", ts_text(first));
        row("last packet", ts_text(totals.last_ts_ns));
    }
    row(
        "network",
        format!(
            "ipv4 {}  ipv6 {}  non-ip {}",
            thousands(totals.proto.ipv4),
            thousands(totals.proto.ipv6),
            thousands(totals.proto.non_ip)
        ),
    );
    row(
        "transport",
        format!(
            "tcp {}  udp {}  icmp {}  other {}",
            thousands(totals.proto.tcp),
            thousands(totals.proto.udp),
            thousands(totals.proto.icmp),
            thousands(totals.proto.other_l4)
        ),
    );
    let flags: Vec<String> = tcp_flags::NAMES
        .iter()
        .zip(totals.proto.tcp_flags)
        .map(|(n, c)| format!("{n} {}", thousands(c)))
        .collect();
    row("tcp flags", flags.join("  "));
    let lts: Vec<String> = totals
        .linktypes
        .sorted()
        .iter()
        .map(|(l, n)| format!("{l} {}", thousands(*n)))
        .collect();
    row("link types", lts.join("  "));
    let errs: Vec<String> = totals
        .errors
        .iter()
        .map(|(r, n)| format!("{r} {}", thousands(n)))
        .collect();
    row(
        "errors",
        if errs.is_empty() {
            "none".into()
        } else {
            errs.join("  ")
        },
    );
    for (k, v) in extra_rows {
        row(k, v.clone());
    }
    row(
        "throughput",
        format!(
            "{:.3} s, {}packets/s, {}bit/s",
            rates.elapsed_s,
            si(rates.packets_per_s),
            si(rates.bits_per_s)
        ),
    );
    s
}

/// Flow-input figures of a summary: records, datagrams, templates, sFlow
/// samples and interface counters, errors by exporter. (Errors by reason go
/// into the summary's `errors` with [`flow_errors_into`].)
pub fn flow_json(
    c: &capture::flows::FlowCounts,
    interfaces: &[capture::sflow::SflowInterface],
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("flow_records".into(), json!(c.records));
    m.insert("flow_datagrams".into(), json!(c.datagrams));
    m.insert("flow_templates".into(), json!(c.templates));
    let mut by_exporter = Map::new();
    for ((ip, reason), n) in &c.exporter_errors {
        let e = by_exporter
            .entry(ip.to_string())
            .or_insert_with(|| json!({}));
        e[*reason] = json!(n);
    }
    m.insert("flow_errors_by_exporter".into(), Value::Object(by_exporter));
    if c.sflow_flow_samples + c.sflow_counter_samples + c.sflow_other_samples > 0 {
        let ifs: Vec<Value> = interfaces
            .iter()
            .map(|i| {
                json!({
                    "agent": i.agent.to_string(), "if_index": i.if_index,
                    "speed_bps": i.speed_bps, "oper_up": i.oper_up,
                    "in_octets": i.in_octets, "in_packets": i.in_packets,
                    "in_discards": i.in_discards, "in_errors": i.in_errors,
                    "out_octets": i.out_octets, "out_packets": i.out_packets,
                    "out_discards": i.out_discards, "out_errors": i.out_errors,
                    "uptime_ms": i.uptime_ms,
                })
            })
            .collect();
        m.insert(
            "sflow".into(),
            json!({
                "flow_samples": c.sflow_flow_samples,
                "counter_samples": c.sflow_counter_samples,
                "other_samples": c.sflow_other_samples,
                "non_ip_samples": c.sflow_non_ip,
                "unknown_header_samples": c.sflow_unknown_header,
                "agent_drops": c.sflow_agent_drops,
                "interfaces_not_kept": c.sflow_interfaces_dropped,
                "interfaces": ifs,
            }),
        );
    }
    m
}

/// Adds the flow decoder's errors by reason to a summary's `errors`.
pub fn flow_errors_into(summary: &mut Value, c: &capture::flows::FlowCounts) {
    for (reason, n) in &c.errors {
        summary["errors"][*reason] = json!(n);
    }
}

/// The text report's `flow records` row (and an `sflow` row when sFlow
/// came in).
pub fn flow_rows(c: &capture::flows::FlowCounts) -> Vec<(String, String)> {
    let errs: Vec<String> = c.errors.iter().map(|(r, n)| format!("{r} {n}")).collect();
    let mut rows = vec![(
        "flow records".to_string(),
        format!(
            "{} from {} datagrams, {} templates; given up: {}",
            thousands(c.records),
            thousands(c.datagrams),
            thousands(c.templates),
            if errs.is_empty() {
                "none".to_string()
            } else {
                errs.join(", ")
            }
        ),
    )];
    if c.sflow_flow_samples + c.sflow_counter_samples > 0 {
        rows.push((
            "sflow".to_string(),
            format!(
                "{} flow samples ({} not IP), {} counter samples, agents dropped {}",
                thousands(c.sflow_flow_samples),
                thousands(c.sflow_non_ip),
                thousands(c.sflow_counter_samples),
                thousands(c.sflow_agent_drops)
            ),
        ));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn timestamps_render_in_utc() {
        assert_eq!(ts_text(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            ts_text(1_704_067_200_000_000_001),
            "2024-01-01T00:00:00.000000001Z"
        );
        assert_eq!(
            ts_text(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
    }
}
