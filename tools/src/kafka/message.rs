//! The Kafka message schema (version 1; docs/kafka-schema.md is its
//! reference). One JSON object per record value, keyed by the appliance id.
//! Sketch bytes are Apache DataSketches formats, base64 (RFC 4648, with
//! padding), which Spark's `unbase64` and every DataSketches library read.

use base64::Engine as _;
use pipeline::Summary;
use serde_json::{json, Map, Value};

/// The schema version every message carries in `schema`. A reader refuses
/// versions it does not know; adding keys keeps the version.
pub const SCHEMA_VERSION: u64 = 1;

/// The value of one closed window's message on the windows topic.
/// At most `max_items` items per ranking (see
/// `Summary::datasketches_export_top`).
pub fn window_value(appliance: &str, index: usize, w: &Summary, max_items: usize) -> Vec<u8> {
    let t = &w.totals;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut hll = Map::new();
    let mut fi = Map::new();
    for (name, bytes) in w.datasketches_export_top(max_items) {
        if let Some(dim) = name
            .strip_suffix(".hll")
            .and_then(|n| n.strip_prefix("distinct_"))
        {
            hll.insert(dim.to_string(), json!(b64(&bytes)));
        } else if let Some(rank) = name
            .strip_suffix(".fi")
            .and_then(|n| n.strip_prefix("top_"))
        {
            fi.insert(rank.to_string(), json!(b64(&bytes)));
        }
    }
    // A window of empty epochs holds no sketch: its HLLs are null (every
    // engine's HLL union skips nulls) and its rankings absent.
    for dim in ["src", "dst"] {
        hll.entry(dim).or_insert(Value::Null);
    }
    let v = json!({
        "schema": SCHEMA_VERSION,
        "type": "window",
        "appliance": appliance,
        "window_index": index,
        "start_ts_ns": w.start_ns,
        "end_ts_ns": w.end_ns,
        "partial": w.partial,
        "counters": {
            "packets": t.packets,
            "wire_bytes": t.wire_bytes,
            "ip_bytes": t.proto.ip_bytes,
            "ipv4": t.proto.ipv4,
            "ipv6": t.proto.ipv6,
            "tcp": t.proto.tcp,
            "udp": t.proto.udp,
            "icmp": t.proto.icmp,
            "late": t.late,
            "future": t.future,
        },
        "hll": hll,
        "frequent_items": fi,
    });
    v.to_string().into_bytes()
}

/// The value of one alert event (start, update, end) on the alerts topic.
pub fn alert_value(appliance: &str, line: &Value) -> Vec<u8> {
    json!({
        "schema": SCHEMA_VERSION,
        "type": "alert",
        "appliance": appliance,
        "alert": line,
    })
    .to_string()
    .into_bytes()
}
