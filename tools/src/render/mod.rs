//! Rendering a run's answers: the JSON lines of DESIGN.md's output
//! contract (`json`), the human report (`text`), the flow-input parts of
//! both (`flows`), number and time formatting (`format`), writing to
//! standard output (`stdout`) and what /proc says of the process (`proc`).

use std::time::Duration;

use capture::Totals;

pub mod alert;
mod contract;
mod flows;
mod format;
mod handshake;
mod json;
mod proc;
mod stdout;
mod text;

pub use flows::{flow_errors_into, flow_json, flow_rows};
pub(crate) use format::ts_text;
pub use format::{si, thousands};
use handshake::services_json;
pub use json::{
    answers_json, estimate_json, queries_json, run_answers_json, summary_json, window_json,
    window_line_cached, window_printer,
};
pub use proc::peak_rss_bytes;
pub use stdout::{check_stdout, print, println};
pub use text::{run_answers_text, table};

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
