//! What `netsketch top` draws: a snapshot of a running instance laid out
//! for the terminal's size. Every line is cut to the width (no line wraps)
//! and the whole view to the height (the header never scrolls away);
//! a wider terminal gets the bounds as columns of their own.

use pipeline::detect::AlertKind;
use serde_json::Value;

use crate::render::{si, thousands};

/// Which tables the view shows (keys as iftop's: one to switch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Top sources and destinations.
    Talkers,
    /// Top source>destination pairs.
    Pairs,
    /// Top destination and source ports.
    Ports,
    /// Destinations with the most distinct sources.
    Distinct,
}

impl View {
    /// The key that selects the view, and its name.
    pub const ALL: [(View, char, &'static str); 4] = [
        (View::Talkers, 't', "talkers"),
        (View::Pairs, 'p', "pairs"),
        (View::Ports, 'o', "ports"),
        (View::Distinct, 'd', "distinct"),
    ];

    /// The view after this one (`v` cycles).
    pub fn next(self) -> View {
        let i = View::ALL
            .iter()
            .position(|(v, _, _)| *v == self)
            .unwrap_or(0);
        View::ALL[(i + 1) % View::ALL.len()].0
    }
}

/// How the view is drawn.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub width: usize,
    pub height: usize,
    /// At most this many rows per table.
    pub rows: usize,
    pub view: View,
    /// Ranked by packets instead of bytes.
    pub packets: bool,
}

/// `s` cut to `w` characters, the cut marked with `…`.
fn fit(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(w - 1).collect();
    out.push('…');
    out
}

/// A line cut to the screen's width.
pub fn fit_line(s: &str, w: usize) -> String {
    fit(s, w)
}

/// A key cut in the middle, so both ends of an address or pair stay.
fn fit_middle(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w || w < 5 {
        return fit(s, w);
    }
    let head = (w - 1) / 2;
    let tail = w - 1 - head;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

/// An estimate's bound as the share of its value it may be off: `exact`
/// or `±1.2%`.
fn spread(value: u64, lower: u64, upper: u64) -> String {
    if lower == upper {
        return "exact".into();
    }
    let pct = (upper - lower) as f64 * 100.0 / (value.max(1)) as f64;
    format!("-{:.1}%", pct.min(999.0))
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// One ranking: a title, a column header and up to `n` rows in `w` columns.
fn ranking(
    out: &mut Vec<String>,
    title: &str,
    items: &[Value],
    l: &Layout,
    secs: f64,
    total: u64,
    n: usize,
) {
    let w = l.width;
    let wide = w >= 120;
    let unit = if l.packets { "packets" } else { "bytes" };
    let rate = if l.packets { "pkt/s" } else { "bit/s" };
    // "  " key, then " " before value 13, rate 10, share 6, bound 7 (and lower, upper 13 each when wide).
    let fixed = 2 + 14 + 11 + 7 + 8 + if wide { 28 } else { 0 };
    let kw = w.saturating_sub(fixed).max(8);
    out.push(fit(
        &format!("{title} ({} by {unit})", items.len().min(n)),
        w,
    ));
    let mut head = format!(
        "  {:<kw$} {:>13} {:>10} {:>6} {:>7}",
        "", unit, rate, "share", "bound"
    );
    if wide {
        head.push_str(&format!(" {:>13} {:>13}", "lower", "upper"));
    }
    out.push(fit(&head, w));
    for t in items.iter().take(n) {
        let v = u(&t["value"]);
        let r = if l.packets {
            v as f64 / secs
        } else {
            v as f64 * 8.0 / secs
        };
        let share = if total == 0 {
            0.0
        } else {
            v as f64 * 100.0 / total as f64
        };
        let mut line = format!(
            "  {:<kw$} {:>13} {:>10} {:>5.1}% {:>7}",
            fit_middle(t["key"].as_str().unwrap_or("?"), kw),
            thousands(v),
            si(r).trim_end(),
            share,
            spread(v, u(&t["lower"]), u(&t["upper"]))
        );
        if wide {
            line.push_str(&format!(
                " {:>13} {:>13}",
                thousands(u(&t["lower"])),
                thousands(u(&t["upper"]))
            ));
        }
        out.push(fit(&line, w));
    }
}

/// The alert lines: start time, type, victim, rate and evidence; active
/// alerts first (oldest first), then ended ones (latest first).
fn alert_lines(alerts: &[Value], w: usize, n: usize) -> Vec<String> {
    let ended = |a: &Value| a["event"] == "end" || a["end_ts_ns"].is_u64();
    let active = alerts.iter().filter(|a| !ended(a)).count();
    let mut out = vec![fit(
        &format!("alerts: {active} active, {} ended", alerts.len() - active),
        w,
    )];
    let mut sorted: Vec<&Value> = alerts.iter().collect();
    sorted.sort_by(|a, b| {
        ended(a).cmp(&ended(b)).then(if ended(a) {
            u(&b["start_ts_ns"]).cmp(&u(&a["start_ts_ns"]))
        } else {
            u(&a["start_ts_ns"]).cmp(&u(&b["start_ts_ns"]))
        })
    });
    let tod = |ns: u64| {
        let t = crate::alerts::alert_time(ns);
        // `YYYY-MM-DDTHH:MM:SSZ`: the time of day is what a console needs.
        t.get(11..).unwrap_or(&t).trim_end_matches('Z').to_string()
    };
    for a in sorted.into_iter().take(n) {
        let ev = &a["evidence"];
        let start = tod(u(&a["start_ts_ns"]));
        let until = if ended(a) {
            format!(" (ended {})", tod(u(&a["end_ts_ns"])))
        } else {
            String::new()
        };
        let kind = a["type"].as_str().and_then(|k| k.parse::<AlertKind>().ok());
        let rate = match kind {
            Some(AlertKind::SlaLatency) => format!(
                "p{:.0} RTT {:.1} ms",
                ev["latency"]["quantile"].as_f64().unwrap_or(0.0) * 100.0,
                ev["latency"]["upper_ns"].as_f64().unwrap_or(0.0) / 1e6
            ),
            Some(AlertKind::SlaFailures) => format!(
                "{:.0}% failed",
                ev["failure_ratio"].as_f64().unwrap_or(0.0) * 100.0
            ),
            _ => format!(
                "{}pps {}bit/s",
                si(ev["pps"]["value"].as_f64().unwrap_or(0.0)),
                si(ev["bps"]["value"].as_f64().unwrap_or(0.0))
            ),
        };
        let mut evidence = Vec::new();
        if let Some(d) = ev["distinct_sources"]["value"].as_f64() {
            evidence.push(format!("{} srcs", thousands(d.round() as u64)));
        }
        if let Some(s) = ev["protocols"]["tcp_syn_pps"]["value"]
            .as_f64()
            .filter(|x| *x > 0.0)
        {
            evidence.push(format!("SYN {}pps", si(s)));
        }
        if let Some(t) = ev["top_sources"][0]["key"].as_str() {
            evidence.push(format!("top src {t}"));
        }
        out.push(fit(
            &format!(
                "  {start} {:<17} {:<18} {} {}{until}",
                a["type"].as_str().unwrap_or("?"),
                a["victim"]
                    .as_str()
                    .or(a["service"].as_str())
                    .unwrap_or("?"),
                rate,
                evidence.join(", ")
            ),
            w,
        ));
    }
    out
}

/// The whole view: at most `l.height` lines, none wider than `l.width`.
pub fn render(snap: &Value, l: &Layout) -> Vec<String> {
    let w = l.width.max(20);
    let st = &snap["status"];
    let win = &snap["window"];
    let mut out = vec![fit(
        &format!(
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
        ),
        w,
    )];
    let keys: Vec<String> = View::ALL
        .iter()
        .map(|(v, k, name)| {
            if *v == l.view {
                format!("[{k}:{}]", name.to_uppercase())
            } else {
                format!("{k}:{name}")
            }
        })
        .collect();
    out.push(fit(
        &format!(
            "keys: {}  b:{}  q:quit",
            keys.join(" "),
            if l.packets { "by bytes" } else { "by packets" }
        ),
        w,
    ));
    if win.is_null() {
        out.push("no window closed yet".into());
        out.truncate(l.height.max(1));
        return out;
    }
    let secs =
        ((u(&win["end_ts_ns"]).saturating_sub(u(&win["start_ts_ns"]))) as f64 / 1e9).max(1e-9);
    let bytes = u(&win["traffic"]["bytes"]);
    let packets = u(&win["traffic"]["packets"]);
    out.push(fit(
        &format!(
            "window {} ({:.0} s): {}bit/s {}pkt/s, {} packets, {} IP bytes",
            win["index"],
            secs,
            si(bytes as f64 * 8.0 / secs),
            si(packets as f64 / secs),
            thousands(packets),
            thousands(bytes)
        ),
        w,
    ));
    let d = &win["distinct"];
    out.push(fit(
        &format!(
            "distinct: sources {}  destinations {}  flows {}",
            thousands(u(&d["src"]["value"])),
            thousands(u(&d["dst"]["value"])),
            thousands(u(&d["flows"]["value"]))
        ),
        w,
    ));
    let alerts = snap["recent_alerts"]
        .as_array()
        .or(snap["alerts"].as_array())
        .cloned()
        .unwrap_or_default();
    // Alerts keep at least their heading and three rows.
    let alert_rows = alerts.len().min(3);
    let body = l.height.saturating_sub(out.len() + 2 + alert_rows);
    let metric = if l.packets { "packets" } else { "bytes" };
    let total = if l.packets { packets } else { bytes };
    let lay = Layout { width: w, ..*l };
    let mut tables = Vec::new();
    let dims: &[(&str, &str)] = match l.view {
        View::Talkers => &[("src", "top sources"), ("dst", "top destinations")],
        View::Pairs => &[("pair", "top pairs (source>destination)")],
        View::Ports => &[
            ("dport", "top destination ports"),
            ("sport", "top source ports"),
        ],
        View::Distinct => &[],
    };
    if dims.is_empty() {
        let mut v: Vec<Value> = win["distinct_src_per_dst"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        v.sort_by(|a, b| {
            u(&b["value"])
                .cmp(&u(&a["value"]))
                .then(u(&b["upper"]).cmp(&u(&a["upper"])))
        });
        let n = body.saturating_sub(3).min(l.rows);
        if n > 0 {
            tables.push(String::new());
            ranking_distinct(&mut tables, &v, w, n);
        }
    } else {
        // Per table: a blank line, a title and a header.
        let n = (body / dims.len()).saturating_sub(3).min(l.rows);
        // A table without room for one row is left out, alerts stay.
        for (dim, title) in dims.iter().filter(|_| n > 0) {
            tables.push(String::new());
            let items = win["top"][*dim][metric]
                .as_array()
                .cloned()
                .unwrap_or_default();
            ranking(&mut tables, title, &items, &lay, secs, total, n);
        }
    }
    out.extend(tables);
    out.push(String::new());
    out.extend(alert_lines(&alerts, w, alert_rows));
    out.truncate(l.height.max(1));
    for line in &mut out {
        line.truncate(line.trim_end().len());
    }
    out
}

/// Destinations with the most distinct sources, most first.
fn ranking_distinct(out: &mut Vec<String>, v: &[Value], w: usize, n: usize) {
    let kw = w.saturating_sub(2 + 1 + 12 + 1 + 25).max(8);
    out.push(fit(
        "destinations with the most distinct sources (estimate [lower, upper])",
        w,
    ));
    out.push(fit(
        &format!("  {:<kw$} {:>12} {:>25}", "", "sources", "[lower, upper]"),
        w,
    ));
    for t in v.iter().take(n) {
        out.push(fit(
            &format!(
                "  {:<kw$} {:>12} {:>25}",
                fit_middle(t["key"].as_str().unwrap_or("?"), kw),
                thousands(u(&t["value"])),
                format!(
                    "[{}, {}]",
                    thousands(u(&t["lower"])),
                    thousands(u(&t["upper"]))
                )
            ),
            w,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snap() -> Value {
        let item = |k: &str, v: u64| json!({"key": k, "value": v, "lower": v - v / 10, "upper": v});
        let long6 = "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff";
        let items: Vec<Value> = (0..30)
            .map(|i| item(&format!("{long6}>{long6}{i}"), 1_000_000 - i * 1000))
            .collect();
        json!({
            "status": {"source": "replay", "uptime_s": 12.0, "epochs": 40, "windows": 4, "done": false},
            "window": {
                "index": 3, "start_ts_ns": 0u64, "end_ts_ns": 10_000_000_000u64,
                "traffic": {"packets": 123_456_789u64, "bytes": 98_765_432_100u64},
                "distinct": {"src": {"value": 1}, "dst": {"value": 2}, "flows": {"value": 3}},
                "top": {"src": {"bytes": items, "packets": items}, "dst": {"bytes": items},
                        "pair": {"bytes": items}, "dport": {"bytes": items}, "sport": {"bytes": items}},
                "distinct_src_per_dst": [item("10.0.0.1", 23), item("10.0.0.2", 1), item("10.0.0.3", 143), item("10.0.0.4", 86)],
            },
            "alerts": [
                {"type": "syn_flood", "victim": "10.2.0.10", "start_ts_ns": 1_704_067_212_000_000_000u64,
                 "evidence": {"pps": {"value": 120000.0}, "bps": {"value": 6.1e7},
                   "distinct_sources": {"value": 99999.0}, "protocols": {"tcp_syn_pps": {"value": 119000.0}},
                   "top_sources": [{"key": long6}]}},
                {"type": "udp_amplification", "victim": "10.2.0.11", "start_ts_ns": 1_704_067_211_000_000_000u64,
                 "evidence": {"pps": {"value": 5000.0}, "bps": {"value": 5.1e7}}},
            ],
        })
    }

    #[test]
    fn every_view_fits_80x24_and_uses_a_wider_terminal() {
        for (view, _, _) in View::ALL {
            for packets in [false, true] {
                for (w, h) in [(80, 24), (132, 43), (40, 10)] {
                    let l = Layout {
                        width: w,
                        height: h,
                        rows: 50,
                        view,
                        packets,
                    };
                    let lines = render(&snap(), &l);
                    assert!(lines.len() <= h, "{view:?} {w}x{h}: {} lines", lines.len());
                    for line in &lines {
                        assert!(line.chars().count() <= w, "{view:?} {w}x{h}: {line:?}");
                    }
                    let text = lines.join("\n");
                    assert!(
                        text.contains("alerts: 2 active, 0 ended"),
                        "{view:?} {w}x{h}:\n{text}"
                    );
                    if w >= 120 {
                        assert!(text.contains("upper"), "{text}");
                    }
                }
            }
        }
    }

    #[test]
    fn most_distinct_sources_are_sorted() {
        let l = Layout {
            width: 80,
            height: 24,
            rows: 10,
            view: View::Distinct,
            packets: false,
        };
        let text = render(&snap(), &l).join("\n");
        let order: Vec<usize> = ["10.0.0.3", "10.0.0.4", "10.0.0.1", "10.0.0.2"]
            .iter()
            .map(|k| text.find(k).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn alerts_show_start_time_rate_and_evidence() {
        let l = Layout {
            width: 132,
            height: 43,
            rows: 10,
            view: View::Talkers,
            packets: false,
        };
        let text = render(&snap(), &l).join("\n");
        // Earliest first, time of day, rate, evidence.
        let amp = text.find("00:00:11 udp_amplification").expect(&text);
        let syn = text.find("00:00:12 syn_flood").expect(&text);
        assert!(amp < syn);
        assert!(text.contains("120.00 kpps"), "{text}");
        assert!(
            text.contains("100,000 srcs") || text.contains("99,999 srcs"),
            "{text}"
        );
        assert!(text.contains("SYN 119.00 kpps"), "{text}");
    }
}
