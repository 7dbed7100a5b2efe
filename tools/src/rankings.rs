//! The text report's rankings, as an nfdump user reads `-s srcip/bytes`:
//! per key its packets, bytes, share of the total, rates, bytes per
//! packet and the bound of the ranked figure; and a summary line.

use std::fmt::Write as _;

use pipeline::{Dimension, Metric, Summary, TopRow};

use crate::render::format::{si, thousands};

/// What the text report ranks (`--top`, `--top-by`, `--rankings`).
#[derive(Debug, Clone)]
pub struct Rankings {
    /// Rows per ranking.
    pub k: usize,
    /// The metrics each dimension is ranked by, in order.
    pub by: Vec<Metric>,
    /// The dimensions ranked, in order.
    pub dims: Vec<Dimension>,
}

/// A heading's name for a dimension's keys.
fn key_name(d: Dimension) -> &'static str {
    match d {
        Dimension::Src => "source address",
        Dimension::Dst => "destination address",
        Dimension::Pair => "source>destination",
        Dimension::Dport => "destination port",
        Dimension::Sport => "source port",
    }
}

/// `lower..upper` as a bound: `exact` when they meet.
fn bound(b: (u64, u64)) -> String {
    if b.0 == b.1 {
        "exact".to_string()
    } else {
        format!("[{}, {}]", thousands(b.0), thousands(b.1))
    }
}

/// A figure whose bounds do not meet is marked `~` (its upper bound).
fn figure(b: (u64, u64)) -> String {
    if b.0 == b.1 {
        thousands(b.1)
    } else {
        format!("~{}", thousands(b.1))
    }
}

/// The seconds a summary's rates are over: the epochs it covers.
fn span_s(s: &Summary) -> f64 {
    (s.end_ns.saturating_sub(s.start_ns) as f64 / 1e9).max(1e-3)
}

/// One ranking as text: a heading, a column header and `rows`.
fn ranking_text(
    out: &mut String,
    d: Dimension,
    m: Metric,
    rows: &[TopRow],
    totals: (u64, u64),
    secs: f64,
    flows: &dyn Fn(&str) -> Option<u64>,
) {
    let (total_packets, total_bytes) = totals;
    let _ = writeln!(
        out,
        "  top {} by {} (bytes are IP-layer bytes; rates over {:.1} s; bound of the {}):",
        d.name(),
        m.name(),
        secs,
        m.name()
    );
    if rows.is_empty() {
        let _ = writeln!(out, "    (no traffic)");
        return;
    }
    let w = rows
        .iter()
        .map(|r| r.key.len())
        .max()
        .unwrap_or(0)
        .max(key_name(d).len());
    // Flows are known per destination (distinct 5-tuples, an estimate,
    // for the busiest destinations); nfdump's flows column.
    let with_flows = d == Dimension::Dst;
    let _ = writeln!(
        out,
        "    {:<w$} {}{:>12} {:>15} {:>6} {:>9} {:>10} {:>5}  bound",
        key_name(d),
        if with_flows {
            format!("{:>9} ", "~flows")
        } else {
            String::new()
        },
        "packets",
        "bytes",
        "share",
        "pps",
        "bps",
        "bpp"
    );
    for r in rows {
        let (v, total) = match m {
            Metric::Bytes => (r.bytes.1, total_bytes),
            Metric::Packets => (r.packets.1, total_packets),
        };
        let share = if total == 0 {
            0.0
        } else {
            v as f64 * 100.0 / total as f64
        };
        let bpp = if r.packets.1 == 0 {
            "-".to_string()
        } else {
            (r.bytes.1 as f64 / r.packets.1 as f64).round().to_string()
        };
        let f = if with_flows {
            format!("{:>9} ", flows(&r.key).map_or("-".to_string(), thousands))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "    {:<w$} {f}{:>12} {:>15} {:>5.1}% {:>9} {:>10} {:>5}  {}",
            r.key,
            figure(r.packets),
            figure(r.bytes),
            share,
            si(r.packets.1 as f64 / secs).trim_end(),
            si(r.bytes.1 as f64 * 8.0 / secs).trim_end(),
            bpp,
            bound(match m {
                Metric::Bytes => r.bytes,
                Metric::Packets => r.packets,
            })
        );
    }
}

/// The rankings of a summary and its summary line (nfdump's `Summary:`);
/// rates are over the epochs the summary covers.
pub fn rankings_text(s: &Summary, r: &Rankings) -> String {
    let mut out = String::new();
    let secs = span_s(s);
    let totals = (s.totals.packets, s.totals.proto.ip_bytes);
    let flows_to = |key: &str| {
        let ip: std::net::IpAddr = key.parse().ok()?;
        s.distinct_flows_to(capture::Ip::from(ip))
            .map(|e| e.value.round() as u64)
    };
    if r.k > 0 {
        for &d in &r.dims {
            for &m in &r.by {
                ranking_text(
                    &mut out,
                    d,
                    m,
                    &s.top_rows(d, m, r.k),
                    totals,
                    secs,
                    &flows_to,
                );
            }
        }
    }
    let flows = s.distinct_flows();
    let (p, b) = totals;
    let _ = writeln!(
        out,
        "  summary: {} packets, {} IP-layer bytes, ~{} flows (distinct 5-tuples, estimate), {:.1} s, \
         avg {}pps, {}bit/s, {} bytes/packet",
        thousands(p),
        thousands(b),
        thousands(flows.value.round() as u64),
        secs,
        si(p as f64 / secs),
        si(b as f64 * 8.0 / secs),
        if p == 0 { 0 } else { (b as f64 / p as f64).round() as u64 }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_that_meet_are_exact() {
        assert_eq!(bound((5, 5)), "exact");
        assert_eq!(bound((1000, 2000)), "[1,000, 2,000]");
        assert_eq!(figure((7, 9)), "~9");
        assert_eq!(figure((9, 9)), "9");
    }
}
