//! Typed records of DESIGN.md's JSON contract. serde writes a struct's
//! fields in declaration order, so the order here is the order on the wire:
//! reorder a field and the bytes change.

use serde::Serialize;
use serde_json::{Map, Value};

/// An estimate with its bounds, rounded outwards to whole counts.
#[derive(Serialize)]
pub struct EstimateOut {
    pub value: u64,
    pub lower: u64,
    pub upper: u64,
    pub confidence: f64,
}

/// An estimate for one key (distinct sources of a destination): the
/// estimate's fields, then the key.
#[derive(Serialize)]
pub struct KeyedEstimate {
    #[serde(flatten)]
    pub estimate: EstimateOut,
    pub key: String,
}

/// Exact traffic of a summary: packets and IP-layer bytes.
#[derive(Serialize)]
pub struct Traffic {
    pub packets: u64,
    pub bytes: u64,
}

/// Distinct sources, destinations and flows.
#[derive(Serialize)]
pub struct Distinct {
    pub src: EstimateOut,
    pub dst: EstimateOut,
    pub flows: EstimateOut,
}

/// One top-k item with its bounds.
#[derive(Serialize)]
pub struct TopItemOut {
    pub key: String,
    pub value: u64,
    pub lower: u64,
    pub upper: u64,
}

/// An answer to `--query`: bytes from and to an address or prefix (null
/// where the run kept no sketch for it).
#[derive(Serialize)]
pub struct QueryOut {
    pub key: String,
    pub src_bytes: Option<EstimateOut>,
    pub dst_bytes: Option<EstimateOut>,
}

/// The overload mode's statement: sampled rankings' bounds hold with
/// probability `confidence` each, within `eps` of the total.
#[derive(Serialize)]
pub struct SamplingOut {
    pub below_packets: u64,
    pub confidence: f64,
    pub max_increment: Traffic,
    pub eps: EpsOut,
}

/// `eps` per metric, relative to the window's (or run's) packets and bytes.
#[derive(Serialize)]
pub struct EpsOut {
    pub packets: f64,
    pub bytes: f64,
}

/// The exact counters that open a window line; the answers follow.
#[derive(Serialize)]
pub struct WindowHead {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub start_ts_ns: u64,
    pub end_ts_ns: u64,
    pub packets: u64,
    pub wire_bytes: u64,
    pub ip_bytes: u64,
    pub ipv4: u64,
    pub ipv6: u64,
    pub tcp: u64,
    pub udp: u64,
    pub icmp: u64,
    pub late: u64,
    pub partial: bool,
}

/// The exact counters and throughput that open the summary object; the
/// command's own keys follow.
#[derive(Serialize)]
pub struct SummaryHead {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub packets: u64,
    pub wire_bytes: u64,
    pub captured_bytes: u64,
    pub ip_bytes: u64,
    pub first_ts_ns: Option<u64>,
    pub last_ts_ns: Option<u64>,
    pub ipv4: u64,
    pub ipv6: u64,
    pub non_ip: u64,
    pub tcp: u64,
    pub udp: u64,
    pub icmp: u64,
    pub other_l4: u64,
    pub tcp_flags: Map<String, Value>,
    pub linktypes: Map<String, Value>,
    pub errors: Map<String, Value>,
    pub elapsed_s: f64,
    pub packets_per_s: u64,
    pub bits_per_s: u64,
    pub peak_rss_bytes: Option<u64>,
}

/// A record as a JSON object, to which a command adds its own keys.
pub fn object(record: &impl Serialize) -> Map<String, Value> {
    match serde_json::to_value(record) {
        Ok(Value::Object(m)) => m,
        // A struct of numbers, strings and maps always serialises to an
        // object; anything else would be a broken invariant of this file.
        _ => Map::new(),
    }
}
