//! A run's throughput figures, as the summary and the table show them.

use std::time::Duration;

use capture::Totals;

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
