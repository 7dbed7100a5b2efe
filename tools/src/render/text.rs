//! The human report: the totals table, the answer rows (rankings,
//! distinct counts, TCP services), `--query` answers and the alert notes.

use std::fmt::Write as _;

use capture::{tcp_flags, Totals};
use pipeline::detect::AlertKind;
use pipeline::Summary;
use serde_json::Value;
use sketches::Estimate;

use super::format::{si, thousands, ts_text};
use super::rates::Rates;
use crate::args::engine::Query;

/// Answers to `--query` for the human report.
pub fn queries_text(s: &Summary, queries: &[Query]) -> String {
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

/// The same answers for the text report; alert times are absolute, and
/// relative to `trace_start_ns` too when given (replays).
pub fn run_answers_text(
    total: &Summary,
    ranks: &crate::rankings::Rankings,
    queries: &[Query],
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
                && a["type"]
                    .as_str()
                    .and_then(|t| t.parse::<AlertKind>().ok())
                    .is_some_and(|k| !k.is_sla())
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

/// The answer rows of the human report: the rankings (every row as nfdump
/// prints one), distinct counts and TCP services.
pub fn answers_text(s: &Summary, r: &crate::rankings::Rankings) -> String {
    let k = r.k;
    let mut out = crate::rankings::rankings_text(s, r);
    if let Some(x) = s.sampling() {
        let _ = writeln!(
            out,
            "  sampled (--sample {n}): source, pair and port rankings from sums under {n} packets kept with probability packets/{n}; their bounds hold at {:.0}% each, within {:.2}% of the packets and {:.2}% of the bytes; destinations, distinct counts and totals exact",
            x.confidence * 100.0,
            x.eps.1 * 100.0,
            x.eps.0 * 100.0,
            n = x.below_packets,
        );
    }
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
    let ms = |r: &pipeline::handshake::Rtt, q: fn(&pipeline::handshake::RttQuantiles) -> u64| {
        r.quantiles()
            .map_or("-".to_string(), |x| format!("{:.1}", q(&x) as f64 / 1e6))
    };
    for r in services {
        let (srv, cli) = (&r.stats.server_rtt, &r.stats.client_rtt);
        let _ = writeln!(
            out,
            "    {:<46} {:>9}  {:>7}/{:<7} ms  {:>7}/{:<7} ms  {:>5.1}%{}",
            r.name(),
            thousands(r.stats.attempts),
            ms(srv, |q| q.p50),
            ms(srv, |q| q.p99),
            ms(cli, |q| q.p50),
            ms(cli, |q| q.p99),
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
    let p = &totals.proto;
    row(
        "network",
        counts(&[("ipv4", p.ipv4), ("ipv6", p.ipv6), ("non-ip", p.non_ip)]),
    );
    row(
        "transport",
        counts(&[
            ("tcp", p.tcp),
            ("udp", p.udp),
            ("icmp", p.icmp),
            ("other", p.other_l4),
        ]),
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

/// `name N  name N ...`, each count with thousands separators.
fn counts(items: &[(&str, u64)]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|(name, n)| format!("{name} {}", thousands(*n)))
        .collect();
    parts.join("  ")
}
