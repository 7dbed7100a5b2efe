//! The JSON lines of DESIGN.md's output contract ("Machine-readable
//! output"): estimates, top-k items, a summary's answers, window lines and
//! the summary object. Field order is the contract's: the typed structs
//! below serialise their fields in declaration order.

use std::sync::atomic::{AtomicBool, Ordering};

use capture::{tcp_flags, Totals};
use pipeline::{Dimension, EpochTotals, Handshake, Metric, Summary, TopItem};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sketches::datasketches::ip_string;
use sketches::Estimate;

use super::contract::{
    object, Distinct, EpsOut, EstimateOut, KeyedEstimate, QueryOut, SamplingOut, SummaryHead,
    TopItemOut, Traffic, WindowHead,
};
use super::handshake::{services_out, ServicesJson};
use super::proc::peak_rss_bytes;
use super::rates::Rates;
use super::stdout::println;
use crate::args::engine::Query;

/// An estimate in the output contract's shape.
pub fn estimate_out(e: &Estimate) -> EstimateOut {
    EstimateOut {
        value: e.value.round() as u64,
        lower: e.lower.floor() as u64,
        upper: e.upper.ceil() as u64,
        confidence: e.confidence,
    }
}

/// [`estimate_out`] as a JSON value.
pub fn estimate_json(e: &Estimate) -> Value {
    json!(estimate_out(e))
}

/// Answers to `--query`: bytes from and to each address or prefix.
fn queries_out(s: &Summary, queries: &[Query]) -> Vec<QueryOut> {
    queries
        .iter()
        .map(|q| {
            let est = |src| s.bytes_of(q.addr, q.len, src).map(|e| estimate_out(&e));
            QueryOut {
                key: q.to_string(),
                src_bytes: est(true),
                dst_bytes: est(false),
            }
        })
        .collect()
}

/// [`queries_out`] as a JSON value.
pub fn queries_json(s: &Summary, queries: &[Query]) -> Value {
    json!(queries_out(s, queries))
}

/// A JSON object whose keys are names chosen here (dimensions, metrics,
/// handshake rankings), in this order.
struct Named<T>(Vec<(&'static str, T)>);

impl<T: Serialize> Serialize for Named<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// `top` and `distinct` of a summary and the rest of its answers, in
/// DESIGN.md's contract order, serialised as they are: a window line goes
/// into its text without a `Value` tree, which cost more than the answers.
#[derive(Serialize)]
struct Answers {
    /// Exact: the pipeline counts every update.
    traffic: Traffic,
    top: Named<Named<Vec<TopItemOut>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sampling: Option<SamplingOut>,
    distinct: Distinct,
    distinct_src_per_dst: Vec<KeyedEstimate>,
    tcp_handshake: Named<Vec<TopItemOut>>,
    services: ServicesJson,
}

fn answers(s: &Summary, k: usize) -> Answers {
    let top = Dimension::ALL.map(|d| {
        let by = Metric::ALL.map(|m| (m.name(), top_items(s.top(d, m, k))));
        (d.name(), Named(by.into()))
    });
    let handshake = Handshake::ALL.map(|h| (h.name(), top_items(s.top_handshake(h, k))));
    let per_dst = s
        .distinct_sources_top(k)
        .into_iter()
        .map(|(d, e)| KeyedEstimate {
            estimate: estimate_out(&e),
            key: ip_string(d.to_ip_addr()),
        })
        .collect();
    Answers {
        traffic: Traffic {
            packets: s.totals.packets,
            bytes: s.totals.proto.ip_bytes,
        },
        top: Named(top.into()),
        sampling: s.sampling().map(|x| SamplingOut {
            below_packets: x.below_packets,
            confidence: x.confidence,
            max_increment: Traffic {
                packets: x.max_increment.1,
                bytes: x.max_increment.0,
            },
            eps: EpsOut {
                packets: x.eps.1,
                bytes: x.eps.0,
            },
        }),
        distinct: Distinct {
            src: estimate_out(&s.distinct_src()),
            dst: estimate_out(&s.distinct_dst()),
            flows: estimate_out(&s.distinct_flows()),
        },
        distinct_src_per_dst: per_dst,
        tcp_handshake: Named(handshake.into()),
        services: services_out(s, k),
    }
}

/// `top` and `distinct` of a summary, as DESIGN.md's contract has them.
pub fn answers_json(s: &Summary, k: usize) -> Map<String, Value> {
    object(&answers(s, k))
}

fn window_head(s: &Summary) -> WindowHead {
    let t: &EpochTotals = &s.totals;
    WindowHead {
        kind: "window",
        start_ts_ns: s.start_ns,
        end_ts_ns: s.end_ns,
        packets: t.packets,
        wire_bytes: t.wire_bytes,
        ip_bytes: t.proto.ip_bytes,
        ipv4: t.proto.ipv4,
        ipv6: t.proto.ipv6,
        tcp: t.proto.tcp,
        udp: t.proto.udp,
        icmp: t.proto.icmp,
        late: t.late,
        partial: s.partial,
    }
}

/// A window line: its head, its answers, the answers to `--query`.
#[derive(Serialize)]
struct WindowLine {
    #[serde(flatten)]
    head: WindowHead,
    #[serde(flatten)]
    answers: Answers,
    #[serde(skip_serializing_if = "Option::is_none")]
    point: Option<Vec<QueryOut>>,
}

fn window_out(s: &Summary, k: usize, queries: &[Query]) -> WindowLine {
    WindowLine {
        head: window_head(s),
        answers: answers(s, k),
        point: (!queries.is_empty()).then(|| queries_out(s, queries)),
    }
}

/// A window line of the JSON output.
pub fn window_json(s: &Summary, k: usize) -> Value {
    window_line(s, k, &[])
}

/// A run's answers into its JSON summary: top-k and distinct counts, the
/// `--query` answers, and the alerts when detection ran.
pub fn run_answers_json(
    m: &mut Map<String, Value>,
    total: &Summary,
    k: usize,
    queries: &[Query],
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

/// Top-k items with their bounds, as every report and the API show them.
fn top_items(v: Vec<TopItem>) -> Vec<TopItemOut> {
    v.into_iter()
        .map(|t| TopItemOut {
            key: t.key,
            value: t.value,
            lower: t.lower,
            upper: t.upper,
        })
        .collect()
}

/// A window line with the answers to `--query`, as every command prints it.
pub fn window_line(s: &Summary, k: usize, queries: &[Query]) -> Value {
    json!(window_out(s, k, queries))
}

/// [`window_line`] as text, written straight from the answers; a window
/// without packets is rendered once: all such windows answer alike (no
/// sketch holds anything) but for their times, and a gap of days in a
/// replay emits hundreds of thousands of them (rendered one by one, 20 µs
/// each, a 47-day gap took 9 s of CPU; this way under 1 s).
pub fn window_line_cached(
    s: &Summary,
    k: usize,
    queries: &[Query],
    empty: &mut Option<String>,
) -> String {
    if s.totals.packets != 0 || s.totals.late != 0 {
        return text(&window_out(s, k, queries));
    }
    let rest = empty.get_or_insert_with(|| {
        let mut v = window_line(s, k, queries);
        if let Value::Object(m) = &mut v {
            for key in ["start_ts_ns", "end_ts_ns", "partial"] {
                m.remove(key);
            }
        }
        text(&v)
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

/// A record (string keys only) as compact JSON text, written into one
/// buffer: a `Value`'s `Display` passes each token through a formatter,
/// which cost 3x as much on a window line.
fn text(v: &impl Serialize) -> String {
    serde_json::to_string(v).expect("a record with string keys always serialises")
}

/// The `on_window` callback of a command: prints each window as a JSON
/// line when `json` is set. If standard output fails, sets `stop`: a run
/// whose report cannot be written ends.
pub fn window_printer<'a>(
    json: bool,
    k: usize,
    queries: &'a [Query],
    stop: &'a AtomicBool,
) -> impl FnMut(usize, &Summary) + 'a {
    let mut empty = None;
    move |_, w| {
        if json && !println(window_line_cached(w, k, queries, &mut empty)) {
            stop.store(true, Ordering::SeqCst);
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
    let mut m = object(&SummaryHead {
        kind: "summary",
        packets: totals.packets,
        wire_bytes: totals.wire_bytes,
        captured_bytes: totals.captured_bytes,
        ip_bytes: totals.proto.ip_bytes,
        first_ts_ns: totals.first_ts(),
        last_ts_ns: totals.first_ts().map(|_| totals.last_ts_ns),
        ipv4: totals.proto.ipv4,
        ipv6: totals.proto.ipv6,
        non_ip: totals.proto.non_ip,
        tcp: totals.proto.tcp,
        udp: totals.proto.udp,
        icmp: totals.proto.icmp,
        other_l4: totals.proto.other_l4,
        tcp_flags: flags,
        linktypes,
        errors,
        elapsed_s: rates.elapsed_s,
        packets_per_s: rates.packets_per_s.round() as u64,
        bits_per_s: rates.bits_per_s.round() as u64,
        peak_rss_bytes: peak_rss_bytes(),
    });
    m.extend(extra);
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The object's keys in the order they are written.
    fn keys(v: &Value) -> Vec<&str> {
        v.as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    #[test]
    fn estimate_rounds_outwards_in_contract_order() {
        let e = Estimate {
            value: 10.4,
            lower: 9.9,
            upper: 10.1,
            confidence: 0.9545,
        };
        assert_eq!(
            estimate_json(&e).to_string(),
            r#"{"value":10,"lower":9,"upper":11,"confidence":0.9545}"#
        );
    }

    #[test]
    fn summary_head_keeps_contract_order_and_extra_keys_follow() {
        let totals = Totals::default();
        let mut extra = Map::new();
        extra.insert("workers".into(), json!(2));
        let v = summary_json(&totals, Rates::new(&totals, Duration::from_secs(1)), extra);
        assert_eq!(
            keys(&v),
            [
                "type",
                "packets",
                "wire_bytes",
                "captured_bytes",
                "ip_bytes",
                "first_ts_ns",
                "last_ts_ns",
                "ipv4",
                "ipv6",
                "non_ip",
                "tcp",
                "udp",
                "icmp",
                "other_l4",
                "tcp_flags",
                "linktypes",
                "errors",
                "elapsed_s",
                "packets_per_s",
                "bits_per_s",
                "peak_rss_bytes",
                "workers",
            ]
        );
        assert_eq!(v["type"], "summary");
        // No packet: no first or last time, written as null.
        assert!(v["first_ts_ns"].is_null() && v["last_ts_ns"].is_null());
    }
}
