//! The schema of `netsketch run`'s TOML file beside `[detect]`: the
//! `[engine]`, `[serve]`, `[output]` and `[[source]]` tables, each checked
//! by serde (unknown keys refused) before `cmd/run.rs` turns them into the
//! equivalent command line.

use serde::{Deserialize, Serialize};

/// One value or a list of them (`listen = "0.0.0.0:2055"` or
/// `listen = ["0.0.0.0:2055", "[::]:4739"]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

/// `[engine]`: pipeline options, as on the command line.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    pub(crate) workers: Option<usize>,
    pub(crate) cpus: Option<Vec<usize>>,
    pub(crate) no_pin: Option<bool>,
    pub(crate) batch: Option<usize>,
    pub(crate) epoch: Option<f64>,
    pub(crate) lateness: Option<f64>,
    pub(crate) memory: Option<usize>,
    pub(crate) window: Option<OneOrMany<String>>,
    pub(crate) report_every: Option<f64>,
    pub(crate) top: Option<usize>,
    pub(crate) query: Option<OneOrMany<String>>,
    pub(crate) handshake_timeout: Option<f64>,
    pub(crate) sample: Option<u64>,
}

/// `[serve]`: the HTTP endpoint.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSection {
    #[serde(skip_serializing)]
    pub(crate) listen: Option<String>,
    pub(crate) metrics_series: Option<usize>,
    pub(crate) http_max_connections: Option<usize>,
}

/// `[output]`: where alerts go (or `no_detect = true`: none).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    pub(crate) alerts: Option<String>,
    pub(crate) notify: Option<String>,
    pub(crate) notify_timeout: Option<f64>,
    pub(crate) no_detect: Option<bool>,
    /// `[output.kafka]`: the Kafka sink (`--kafka` and its options).
    #[serde(skip_serializing)]
    pub(crate) kafka: Option<KafkaSection>,
}

/// `[output.kafka]`: `brokers` (one or a list of HOST:PORT) and the
/// `--kafka-*` options without their prefix; `appliance_id` as is.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSection {
    #[serde(skip_serializing)]
    pub(crate) brokers: Option<OneOrMany<String>>,
    #[serde(rename(serialize = "kafka_topic"))]
    pub(crate) topic: Option<String>,
    #[serde(rename(serialize = "kafka_alerts_topic"))]
    pub(crate) alerts_topic: Option<String>,
    pub(crate) appliance_id: Option<String>,
    #[serde(rename(serialize = "kafka_items"))]
    pub(crate) items: Option<usize>,
    #[serde(rename(serialize = "kafka_queue"))]
    pub(crate) queue: Option<usize>,
    #[serde(rename(serialize = "kafka_flush_timeout"))]
    pub(crate) flush_timeout: Option<f64>,
}

/// The input kinds of `[[source]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Collect,
    Capture,
    File,
}

/// `[[source]]`: every key any kind takes; [`SourceSection::check`] refuses
/// the ones its kind does not.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    #[serde(skip_serializing)]
    pub(crate) kind: SourceKind,
    // collect
    pub(crate) listen: Option<OneOrMany<String>>,
    pub(crate) threads: Option<usize>,
    pub(crate) recv_buffer: Option<usize>,
    pub(crate) allow: Option<OneOrMany<String>>,
    pub(crate) template_timeout: Option<f64>,
    // collect and file (with flows)
    pub(crate) default_sampling: Option<u32>,
    pub(crate) sampling_override: Option<u32>,
    // collect and capture
    pub(crate) duration: Option<f64>,
    // capture
    pub(crate) interface: Option<String>,
    pub(crate) filter: Option<String>,
    pub(crate) snaplen: Option<u32>,
    pub(crate) no_promisc: Option<bool>,
    pub(crate) buffer_size: Option<u32>,
    pub(crate) immediate: Option<bool>,
    pub(crate) count: Option<u64>,
    // file
    #[serde(skip_serializing)]
    pub(crate) files: Option<OneOrMany<String>>,
    pub(crate) flows: Option<bool>,
    pub(crate) speed: Option<f64>,
    pub(crate) linger: Option<f64>,
    pub(crate) export_sketches: Option<String>,
}

impl SourceSection {
    /// The keys set that `kind` does not take.
    pub fn foreign_keys(&self) -> Vec<&'static str> {
        use SourceKind::*;
        let set = [
            ("listen", self.listen.is_some(), &[Collect][..]),
            ("threads", self.threads.is_some(), &[Collect]),
            ("recv_buffer", self.recv_buffer.is_some(), &[Collect]),
            ("allow", self.allow.is_some(), &[Collect]),
            (
                "template_timeout",
                self.template_timeout.is_some(),
                &[Collect],
            ),
            (
                "default_sampling",
                self.default_sampling.is_some(),
                &[Collect, File],
            ),
            (
                "sampling_override",
                self.sampling_override.is_some(),
                &[Collect, File],
            ),
            ("duration", self.duration.is_some(), &[Collect, Capture]),
            ("interface", self.interface.is_some(), &[Capture]),
            ("filter", self.filter.is_some(), &[Capture]),
            ("snaplen", self.snaplen.is_some(), &[Capture]),
            ("no_promisc", self.no_promisc.is_some(), &[Capture]),
            ("buffer_size", self.buffer_size.is_some(), &[Capture]),
            ("immediate", self.immediate.is_some(), &[Capture]),
            ("count", self.count.is_some(), &[Capture]),
            ("files", self.files.is_some(), &[File]),
            ("flows", self.flows.is_some(), &[File]),
            ("speed", self.speed.is_some(), &[File]),
            ("linger", self.linger.is_some(), &[File]),
            ("export_sketches", self.export_sketches.is_some(), &[File]),
        ];
        set.iter()
            .filter(|(_, present, kinds)| *present && !kinds.contains(&self.kind))
            .map(|(k, _, _)| *k)
            .collect()
    }
}

/// The 1-based line of byte offset `at` in `text`.
pub fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}
