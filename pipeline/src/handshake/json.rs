//! Transitional: `ServiceStats::to_json` for detect.rs's SLA evidence only,
//! until detection returns typed evidence (issue 19, the detection branch).
//! Reports and the HTTP API render services in tools (`render/handshake.rs`);
//! delete this file, and serde_json from pipeline, once detect.rs no longer
//! calls it.

use serde_json::{json, Value};

use super::service::ServiceStats;

impl ServiceStats {
    /// Counts, failure ratio and round-trip quantiles as JSON, in the
    /// shape tools' `render::handshake` writes.
    pub fn to_json(&self) -> Value {
        let rtt = |r: &super::Rtt| {
            r.quantiles().map_or(Value::Null, |q| {
                json!({"count": q.count, "p50": q.p50, "p90": q.p90, "p99": q.p99, "max": q.max})
            })
        };
        json!({
            "attempts": self.attempts,
            "started": self.started,
            "syn_retransmits": self.syn_retransmits,
            "answered": self.answered,
            "completed": self.completed,
            "refused": self.refused,
            "unanswered": self.unanswered,
            "incomplete": self.incomplete,
            "open": self.open,
            "failure_ratio": self.failure_ratio(),
            "server_rtt_ns": rtt(&self.server_rtt),
            "client_rtt_ns": rtt(&self.client_rtt),
        })
    }
}
