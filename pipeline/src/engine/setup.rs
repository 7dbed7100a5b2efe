//! The validated engine (its options, the sketch budget, the CPUs threads
//! are pinned to, its metrics) and what a run returns. Running it is
//! [`super`]'s: source thread, workers, merging thread.

use std::sync::Arc;

use super::config::{self, EngineConfig, EngineError};
use crate::metrics::Metrics;
use crate::shard::Budget;
use crate::summary::Summary;

/// What a run produced.
#[derive(Debug)]
pub struct RunOutput {
    /// The whole run merged: totals, top-k, distinct counts.
    pub total: Summary,
    /// Epochs closed.
    pub epochs: u64,
    /// Updates folded into a later epoch.
    pub late: u64,
    /// Updates of a live source stamped ahead of its clock, counted at
    /// the clock.
    pub future: u64,
    /// Empty epochs in the middle of gaps longer than 2^23 epochs, skipped
    /// rather than closed (every other epoch closes, empty or not).
    pub skipped_epochs: u64,
    /// Updates dropped on full queues.
    pub dropped: u64,
    /// Batches handed to the workers.
    pub batches: u64,
}

/// A built, validated engine; [`Engine::run`] may be called repeatedly.
#[derive(Debug)]
pub struct Engine {
    pub(super) cfg: EngineConfig,
    pub(super) budget: Budget,
    pub(super) cores: Vec<Option<core_affinity::CoreId>>,
    pub(super) metrics: Arc<Metrics>,
}

impl Engine {
    /// Validates the configuration and sizes the sketches.
    pub fn new(cfg: EngineConfig) -> Result<Engine, EngineError> {
        let budget = config::validate(&cfg)?;
        let cores = config::pin_plan(&cfg)?;
        let metrics = Metrics::new();
        metrics.sample_below.set(cfg.sample.unwrap_or(0) as i64);
        Ok(Engine {
            cfg,
            budget,
            cores,
            metrics: Arc::new(metrics),
        })
    }

    /// The per-epoch sketch sizes in use.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// The self-metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }
}
