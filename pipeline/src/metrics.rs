//! Self-metrics in a Prometheus registry. Updated per batch or per epoch,
//! never per packet.

use prometheus::{
    Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
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
    /// Updates of a live source stamped ahead of its clock.
    pub future: IntCounter,
    /// How far the newest event time is ahead of the last closed epoch's end.
    pub epoch_lag: Gauge,
    /// Time per batch (worker) and per epoch (merge), by stage.
    pub stage_seconds: HistogramVec,
    /// Flow records decoded by the collector.
    pub flow_records: IntCounter,
    /// Flow export datagrams decoded by the collector.
    pub flow_datagrams: IntCounter,
    /// Flow datagrams, sets or records given up, by reason and exporter.
    pub flow_errors: IntCounterVec,
    /// Packets or datagrams the kernel dropped before netsketch read them.
    pub kernel_drops: IntCounterVec,
    /// The overload mode: the packets below which flushed sums are sampled
    /// (0: off, every sum counted).
    pub sample_below: IntGauge,
    /// Flushed sums the overload mode's coin left out of the sampled
    /// rankings (each worker counts its own shards').
    pub sampled_out: IntCounter,
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
        let future = IntCounter::new(
            "netsketch_future_updates_total",
            "Updates of a live source stamped ahead of its clock, counted at the clock",
        )
        .expect("valid");
        reg(Box::new(future.clone()));
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
        let flow_records = IntCounter::new(
            "netsketch_flow_records_total",
            "Flow records decoded by the collector",
        )
        .expect("valid");
        let flow_datagrams = IntCounter::new(
            "netsketch_flow_datagrams_total",
            "Flow export datagrams decoded by the collector",
        )
        .expect("valid");
        let flow_errors = IntCounterVec::new(
            Opts::new(
                "netsketch_flow_errors_total",
                "Flow datagrams, sets or records given up, by reason and exporter",
            ),
            &["reason", "exporter"],
        )
        .expect("valid");
        let kernel_drops = IntCounterVec::new(
            Opts::new(
                "netsketch_kernel_drops_total",
                "Packets or datagrams the kernel dropped before netsketch read them",
            ),
            &["source"],
        )
        .expect("valid");
        let sample_below = IntGauge::new(
            "netsketch_sample_below_packets",
            "Overload mode: flushed sums under this many packets reach the source, pair and \
             port rankings sampled (0: off)",
        )
        .expect("valid");
        let sampled_out = IntCounter::new(
            "netsketch_sampled_out_total",
            "Overload mode: flushed sums the sampling left out of the sampled rankings",
        )
        .expect("valid");
        reg(Box::new(sample_below.clone()));
        reg(Box::new(sampled_out.clone()));
        reg(Box::new(flow_records.clone()));
        reg(Box::new(flow_datagrams.clone()));
        reg(Box::new(flow_errors.clone()));
        reg(Box::new(kernel_drops.clone()));
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
            future,
            epoch_lag,
            stage_seconds,
            flow_records,
            flow_datagrams,
            flow_errors,
            kernel_drops,
            sample_below,
            sampled_out,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
