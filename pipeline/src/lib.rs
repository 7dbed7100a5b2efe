//! The streaming engine: a source thread frames and parses input into
//! batches of [`capture::FlowUpdate`]s, pinned workers keep per-epoch
//! sketches, and the merging thread closes epochs, forms sliding windows and
//! answers queries with bounds.
//!
//! Architecture invariant: no byte parsing here (sources call
//! `capture::parse_packet`), and answers never depend on the number of
//! workers, the batch size or the replay speed: the source thread sums
//! updates exactly per flow and per key and flushes them at fixed points of
//! the stream (an epoch closing, a table filling), sketches are partitioned
//! into [`SHARDS`] fixed key shards, every worker sees every flush (shared,
//! not copied) and updates only the shards it owns, so each shard sees the
//! same weighted sub-stream in the same order however the work is split.
#![deny(missing_docs)]

pub mod collect;
pub mod detect;
mod engine;
pub mod handshake;
mod keys;
mod metrics;
mod shard;
mod source;
mod summary;

pub use collect::{CollectConfig, CollectError, Collector};
pub use engine::{Engine, EngineConfig, EngineError, RunOutput, WindowSpec};
pub use handshake::{ServiceReport, ServiceStats};
pub use keys::{Dimension, Metric, SHARDS};
pub use metrics::Metrics;
pub use shard::Budget;
#[cfg(feature = "live")]
pub use source::LiveSource;
pub use source::{
    wall_clock_ns, Backpressure, FileProblem, FileSource, Selected, Selector, Source,
};
pub use summary::{Counter, EpochTotals, Handshake, Sampling, Summary, TopItem, TopRow};
