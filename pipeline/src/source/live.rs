//! A live interface as a pipeline source (feature `live`): a shedding
//! source, so when the workers fall behind whole batches are dropped and
//! counted (`queue_full`) rather than the kernel's buffer left to overflow
//! silently. Its event times are the kernel's clock, and its own clock
//! closes epochs on a quiet link.

use std::sync::Arc;
use std::time::{Duration, Instant};

use capture::live::{KernelStats, LiveCapture, LiveError};
use capture::{parse_packet, FlowUpdate, Totals};

use super::Source;
use crate::Metrics;

/// The interface as a pipeline source.
pub struct LiveSource {
    cap: LiveCapture,
    /// Exact counters of everything captured.
    pub totals: Totals,
    limit: u64,
    /// Why the capture ended early (a read or statistics error), if it did.
    pub error: Option<LiveError>,
    metrics: Arc<Metrics>,
    /// Kernel counters as last published, and when.
    published: KernelStats,
    last_sync: Instant,
}

impl std::fmt::Debug for LiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSource")
            .field("totals", &self.totals)
            .field("limit", &self.limit)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl LiveSource {
    /// Reads `cap` until `limit` packets, publishing the kernel's drop
    /// counters into `metrics` once a second.
    pub fn new(cap: LiveCapture, limit: u64, metrics: Arc<Metrics>) -> LiveSource {
        LiveSource {
            cap,
            totals: Totals::default(),
            limit,
            error: None,
            metrics,
            published: KernelStats::default(),
            last_sync: Instant::now(),
        }
    }

    /// Reads the kernel's counters and publishes what is new as
    /// `netsketch_kernel_drops_total{source="pcap"|"interface"}`.
    pub fn sync_kernel(&mut self) -> Result<KernelStats, LiveError> {
        let k = self.cap.stats()?;
        let m = &self.metrics.kernel_drops;
        m.with_label_values(&["pcap"])
            .inc_by(k.dropped - self.published.dropped);
        m.with_label_values(&["interface"])
            .inc_by(k.if_dropped - self.published.if_dropped);
        self.published = k;
        self.last_sync = Instant::now();
        Ok(k)
    }
}

impl Source for LiveSource {
    fn name(&self) -> &'static str {
        "live"
    }

    // Packet times are the kernel's clock: a quiet link still closes
    // its epochs (and ends its alerts) on time; full queues shed.
    fn live(&self) -> bool {
        true
    }

    fn fill(&mut self, out: &mut Vec<FlowUpdate>, max: usize) -> bool {
        if self.last_sync.elapsed() >= Duration::from_secs(1) {
            if let Err(e) = self.sync_kernel() {
                self.error = Some(e);
                return false;
            }
        }
        let mut u = FlowUpdate::default();
        while out.len() < max && self.totals.packets < self.limit {
            match self.cap.next_packet() {
                Ok(Some(pkt)) => {
                    let res = parse_packet(&pkt, &mut u);
                    self.totals.record(&pkt, &u, res.err());
                    out.push(u);
                }
                // A read timeout or a wake-up: hand over what we have,
                // so a quiet link still closes epochs and sees Ctrl-C.
                Ok(None) => return true,
                Err(e) => {
                    self.error = Some(e);
                    return false;
                }
            }
        }
        self.totals.packets < self.limit
    }
}
