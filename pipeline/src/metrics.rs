//! Self-metrics in a Prometheus registry. Updated per batch or per epoch,
//! never per packet.

use prometheus::{
    Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};

/// The engine's counters and gauges.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// The registry every metric is registered in; serve it on /metrics.
    pub registry: Registry,
    /// Packets (or flow-record packets) taken from each source.
    pub packets: IntCounterVec,
    /// Wire bytes taken from each source.
    pub wire_bytes: IntCounterVec,
    /// Batches handed to the workers.
    pub batches: IntCounter,
    /// Batches waiting in each worker's queue, sampled at each send.
    pub queue_depth: IntGaugeVec,
    /// Updates given up, by reason.
    pub drops: IntCounterVec,
    /// Updates that arrived after their epoch closed.
    pub late: IntCounter,
    /// Epochs closed.
    pub epochs: IntCounter,
    /// How far the newest event time is ahead of the last closed epoch's end.
    pub epoch_lag: Gauge,
    /// Time per batch (worker) and per epoch (merge), by stage.
    pub stage_seconds: HistogramVec,
}

impl Metrics {
    /// Registers every metric in a fresh registry.
    ///
    /// # Panics
    /// Only if two metrics share a name, which is a bug caught by the tests.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let reg = |c: Box<dyn prometheus::core::Collector>| {
            registry.register(c).expect("unique metric names")
        };
        let packets = IntCounterVec::new(
            Opts::new("netsketch_packets_total", "Packets taken from a source"),
            &["source"],
        )
        .expect("valid");
        let wire_bytes = IntCounterVec::new(
            Opts::new(
                "netsketch_wire_bytes_total",
                "Frame bytes taken from a source",
            ),
            &["source"],
        )
        .expect("valid");
        let batches = IntCounter::new("netsketch_batches_total", "Batches handed to the workers")
            .expect("valid");
        let queue_depth = IntGaugeVec::new(
            Opts::new(
                "netsketch_queue_depth_batches",
                "Batches waiting in a worker queue",
            ),
            &["queue"],
        )
        .expect("valid");
        let drops = IntCounterVec::new(
            Opts::new("netsketch_drops_total", "Updates given up, by reason"),
            &["reason"],
        )
        .expect("valid");
        let late = IntCounter::new(
            "netsketch_late_updates_total",
            "Updates that arrived after their epoch closed",
        )
        .expect("valid");
        let epochs =
            IntCounter::new("netsketch_epochs_closed_total", "Epochs closed").expect("valid");
        let epoch_lag = Gauge::new(
            "netsketch_epoch_lag_seconds",
            "Newest event time minus the end of the last closed epoch",
        )
        .expect("valid");
        let stage_seconds = HistogramVec::new(
            HistogramOpts::new(
                "netsketch_stage_seconds",
                "Processing time per batch or epoch, by stage",
            )
            .buckets(prometheus::exponential_buckets(1e-6, 4.0, 12).expect("valid buckets")),
            &["stage"],
        )
        .expect("valid");
        reg(Box::new(packets.clone()));
        reg(Box::new(wire_bytes.clone()));
        reg(Box::new(batches.clone()));
        reg(Box::new(queue_depth.clone()));
        reg(Box::new(drops.clone()));
        reg(Box::new(late.clone()));
        reg(Box::new(epochs.clone()));
        reg(Box::new(epoch_lag.clone()));
        reg(Box::new(stage_seconds.clone()));
        Metrics {
            registry,
            packets,
            wire_bytes,
            batches,
            queue_depth,
            drops,
            late,
            epochs,
            epoch_lag,
            stage_seconds,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
