//! The Kafka sink (`--kafka BROKERS`, `[output.kafka]`): one message per
//! closed window (exact counters, DataSketches HLL and frequent-items
//! bytes) and one per alert event, keyed by the appliance id, for a fleet
//! merge on Spark (fleet/spark_merge.py) or anything else that reads
//! DataSketches. Schema: [`message`], docs/kafka-schema.md.
//!
//! Delivery: the merging thread hands each message to a bounded queue
//! (`--kafka-queue` messages) and never waits: a full queue drops the
//! message and counts it (`netsketch_kafka_drops_total{reason="queue_full"}`).
//! A sender thread drains the queue in order, one record per produce
//! request (Tansu, the broker CI runs, mishandles multi-record batches),
//! and keeps a message until the broker acknowledges it: at-least-once. On
//! an error it reconnects with backoff (100 ms doubling to 2 s;
//! `netsketch_kafka_reconnects_total`) and sends the same message again.
//! At the end of the run it has `--kafka-flush-timeout` seconds to deliver
//! what is queued; what it cannot is counted as `given_up`. A retried
//! produce can store a message twice: readers drop duplicates by
//! (appliance, window_index, start_ts_ns).

pub mod message;
#[cfg(feature = "kafka")]
mod sender;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use pipeline::Summary;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use serde_json::{json, Value};

/// The Kafka options of replay, capture and collect.
#[derive(Debug, Args, Clone)]
pub struct KafkaArgs {
    /// Publish every closed window (and alert) to Kafka: bootstrap
    /// brokers, comma-separated HOST:PORT (needs the `kafka` feature).
    #[arg(long, value_name = "BROKERS")]
    pub kafka: Option<String>,
    /// Topic of the window messages.
    #[arg(long, default_value = "netsketch.windows", value_name = "TOPIC")]
    pub kafka_topic: String,
    /// Topic of the alert messages.
    #[arg(long, default_value = "netsketch.alerts", value_name = "TOPIC")]
    pub kafka_alerts_topic: String,
    /// This appliance's id: the key of its messages (default: the host
    /// name).
    #[arg(long, value_name = "ID")]
    pub appliance_id: Option<String>,
    /// Items per ranking in a window message at most (the heaviest; any
    /// other key is bounded by the sketch's offset).
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub kafka_items: usize,
    /// Messages queued for the sender at most; more are dropped and
    /// counted.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub kafka_queue: usize,
    /// Seconds the sender has at the end of the run to deliver what is
    /// queued (the rest is counted as given up).
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub kafka_flush_timeout: f64,
}

/// One record for the sender.
// Without the `kafka` feature there is no sender to read it (and no sink
// can start).
#[cfg_attr(not(feature = "kafka"), allow(dead_code))]
#[derive(Debug)]
pub(crate) struct Outgoing {
    alert: bool,
    timestamp_ms: i64,
    value: Vec<u8>,
}

/// Counters shared by the sink and its sender, also registered as
/// Prometheus metrics.
#[derive(Debug, Clone)]
pub(crate) struct Counters {
    pub sent: IntCounterVec,
    pub sent_bytes: IntCounter,
    pub drops: IntCounterVec,
    pub reconnects: IntCounter,
    pub queued: IntGauge,
}

impl Counters {
    fn new(registry: &Registry) -> Counters {
        let sent = IntCounterVec::new(
            Opts::new(
                "netsketch_kafka_messages_total",
                "Messages the Kafka broker acknowledged, by topic kind (window, alert)",
            ),
            &["kind"],
        )
        .expect("valid");
        let sent_bytes = IntCounter::new(
            "netsketch_kafka_sent_bytes_total",
            "Bytes of acknowledged Kafka message values",
        )
        .expect("valid");
        let drops = IntCounterVec::new(
            Opts::new(
                "netsketch_kafka_drops_total",
                "Kafka messages given up, by reason (queue_full, given_up at shutdown)",
            ),
            &["reason"],
        )
        .expect("valid");
        let reconnects = IntCounter::new(
            "netsketch_kafka_reconnects_total",
            "Reconnections to the Kafka brokers after a failed connect or produce",
        )
        .expect("valid");
        let queued = IntGauge::new(
            "netsketch_kafka_queue_messages",
            "Messages waiting for the Kafka sender",
        )
        .expect("valid");
        for m in [
            Box::new(sent.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(sent_bytes.clone()),
            Box::new(drops.clone()),
            Box::new(reconnects.clone()),
            Box::new(queued.clone()),
        ] {
            let _ = registry.register(m);
        }
        for r in ["queue_full", "given_up"] {
            drops.with_label_values(&[r]);
        }
        Counters {
            sent,
            sent_bytes,
            drops,
            reconnects,
            queued,
        }
    }
}

/// What the sender was told to do, read by the sender thread.
// Without the `kafka` feature there is no sender thread to read it.
#[cfg_attr(not(feature = "kafka"), allow(dead_code))]
#[derive(Debug)]
pub(crate) struct Plan {
    pub brokers: Vec<String>,
    pub windows_topic: String,
    pub alerts_topic: String,
    pub key: Vec<u8>,
    /// Set when the run ends: the sender gives up after this instant.
    pub deadline: OnceLock<Instant>,
    pub counters: Counters,
    /// Messages queued, not yet taken by the sender.
    pub depth: AtomicU64,
}

/// A running sink: the queue's sending end and the sender thread.
#[derive(Debug)]
pub struct Kafka {
    handle: Option<Handle>,
    plan: Arc<Plan>,
    appliance: String,
    flush_timeout: Duration,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A sending end of the queue (alert detection holds one); the sender
/// ends when the sink and every handle are gone.
#[derive(Debug, Clone)]
pub struct Handle {
    tx: SyncSender<Outgoing>,
    plan: Arc<Plan>,
    appliance: Arc<str>,
    max_items: usize,
}

impl Handle {
    fn queue(&self, o: Outgoing) {
        // Counted before it is sent, so the sender never takes one away
        // first.
        let d = self
            .plan
            .depth
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        match self.tx.try_send(o) {
            Ok(()) => self.plan.counters.queued.set(d as i64),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.plan.depth.fetch_sub(1, Ordering::Relaxed);
                self.plan
                    .counters
                    .drops
                    .with_label_values(&["queue_full"])
                    .inc();
            }
        }
    }

    /// Queues window `w` of `--window` spec `index`; never blocks.
    pub fn window(&self, index: usize, w: &Summary) {
        self.queue(Outgoing {
            alert: false,
            timestamp_ms: (w.end_ns / 1_000_000) as i64,
            value: message::window_value(&self.appliance, index, w, self.max_items),
        });
    }

    /// Queues an alert event; never blocks.
    pub fn alert(&self, line: &Value) {
        let ts = line["ts_ns"].as_u64().unwrap_or(0);
        self.queue(Outgoing {
            alert: true,
            timestamp_ms: (ts / 1_000_000) as i64,
            value: message::alert_value(&self.appliance, line),
        });
    }
}

/// The host name, for the default appliance id.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "netsketch".to_string())
}

impl Kafka {
    /// Checks the options and starts the sender, or `None` without
    /// `--kafka`. Nothing connects yet: a broker that is down is retried
    /// by the sender, never an error here.
    pub fn start(args: &KafkaArgs, registry: &Registry) -> Result<Option<Kafka>> {
        let Some(brokers) = &args.kafka else {
            return Ok(None);
        };
        let brokers: Vec<String> = brokers
            .split(',')
            .map(|b| b.trim().to_string())
            .filter(|b| !b.is_empty())
            .collect();
        if brokers.is_empty() || brokers.iter().any(|b| !b.contains(':')) {
            return Err(crate::exit::usage(
                "--kafka takes HOST:PORT brokers, comma-separated, like 127.0.0.1:9092",
            ));
        }
        if args.kafka_queue == 0 || args.kafka_queue > 1 << 20 {
            return Err(crate::exit::usage(
                "--kafka-queue must be 1 to 1048576 messages",
            ));
        }
        let t = args.kafka_flush_timeout;
        if !(t.is_finite() && (0.0..=3600.0).contains(&t)) {
            return Err(crate::exit::usage(
                "--kafka-flush-timeout must be 0 to 3600 seconds",
            ));
        }
        let appliance = args.appliance_id.clone().unwrap_or_else(host_name);
        if appliance.is_empty() {
            return Err(crate::exit::usage("--appliance-id must not be empty"));
        }
        let plan = Arc::new(Plan {
            brokers,
            windows_topic: args.kafka_topic.clone(),
            alerts_topic: args.kafka_alerts_topic.clone(),
            key: appliance.as_bytes().to_vec(),
            deadline: OnceLock::new(),
            counters: Counters::new(registry),
            depth: AtomicU64::new(0),
        });
        let (tx, rx) = sync_channel(args.kafka_queue);
        let thread = spawn(plan.clone(), rx)?;
        Ok(Some(Kafka {
            handle: Some(Handle {
                tx,
                plan: plan.clone(),
                appliance: appliance.as_str().into(),
                max_items: args.kafka_items.max(1),
            }),
            plan,
            appliance,
            flush_timeout: Duration::from_secs_f64(t),
            thread: Some(thread),
        }))
    }

    /// Queues window `w` of `--window` spec `index`; never blocks.
    pub fn window(&self, index: usize, w: &Summary) {
        if let Some(h) = &self.handle {
            h.window(index, w);
        }
    }

    /// A handle for alert detection to queue its events with.
    pub fn handle(&self) -> Option<Handle> {
        self.handle.clone()
    }

    /// Ends the queue, gives the sender `--kafka-flush-timeout` to deliver
    /// what is left, and returns the run's delivery counts.
    pub fn finish(mut self) -> Report {
        let _ = self.plan.deadline.set(Instant::now() + self.flush_timeout);
        self.handle = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let c = &self.plan.counters;
        Report {
            appliance: self.appliance.clone(),
            windows: c.sent.with_label_values(&["window"]).get(),
            alerts: c.sent.with_label_values(&["alert"]).get(),
            bytes: c.sent_bytes.get(),
            queue_full: c.drops.with_label_values(&["queue_full"]).get(),
            given_up: c.drops.with_label_values(&["given_up"]).get(),
            reconnects: c.reconnects.get(),
        }
    }
}

#[cfg(feature = "kafka")]
fn spawn(
    plan: Arc<Plan>,
    rx: std::sync::mpsc::Receiver<Outgoing>,
) -> Result<std::thread::JoinHandle<()>> {
    Ok(std::thread::Builder::new()
        .name("kafka".into())
        .spawn(move || sender::run(&plan, &rx))?)
}

#[cfg(not(feature = "kafka"))]
fn spawn(
    _plan: Arc<Plan>,
    _rx: std::sync::mpsc::Receiver<Outgoing>,
) -> Result<std::thread::JoinHandle<()>> {
    Err(crate::exit::usage(
        "this netsketch was built without Kafka; rebuild with `cargo build --release --features kafka`",
    ))
}

/// A run's delivery counts, for its summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    appliance: String,
    /// Window messages acknowledged.
    pub windows: u64,
    /// Alert messages acknowledged.
    pub alerts: u64,
    /// Bytes of acknowledged values.
    pub bytes: u64,
    /// Dropped: the queue was full.
    pub queue_full: u64,
    /// Not delivered by the end of the flush timeout.
    pub given_up: u64,
    /// Reconnections after an error.
    pub reconnects: u64,
}

impl Report {
    /// The summary's `kafka` object.
    pub fn json(&self) -> Value {
        json!({
            "appliance": self.appliance,
            "windows_sent": self.windows,
            "alerts_sent": self.alerts,
            "bytes_sent": self.bytes,
            "dropped": {"queue_full": self.queue_full, "given_up": self.given_up},
            "reconnects": self.reconnects,
        })
    }

    /// The text report's row.
    pub fn row(&self) -> (String, String) {
        (
            "kafka".to_string(),
            format!(
                "{} windows and {} alerts sent as {} ({} bytes), {} dropped (queue full), {} given up, {} reconnects",
                self.windows,
                self.alerts,
                self.appliance,
                self.bytes,
                self.queue_full,
                self.given_up,
                self.reconnects
            ),
        )
    }
}

/// Finishes the sink, if any, into the summary's `kafka` object and the
/// text report's row.
pub fn finish(kafka: Option<Kafka>) -> Option<Report> {
    kafka.map(Kafka::finish)
}
