//! Threads, channels, epochs and windows.
//!
//! ```text
//! source thread ──Arc<batch>──► worker 0 (shards 0, N, 2N, ...) ──partials──┐
//!   (parse, epoch,   (bounded,    ...                                          ├─► merging thread (caller):
//!    lateness)        broadcast)  worker N-1                 ──partials──┘     epochs, window ring, callbacks
//!       └────────────── epoch totals ─────────────────────────────────────────┘
//! ```
//!
//! Channels: worker queues are bounded (`queue_batches`). A file source
//! blocks when a queue is full and loses nothing; a live source sheds the
//! batch and counts it (`netsketch_drops_total{reason="queue_full"}`). The
//! merge channel is bounded too, to about two epochs of messages: when
//! merging falls behind (a long, sparse trace closes an epoch every few
//! packets), workers wait for it, and through them the source, instead of
//! closed epochs piling up in memory. No cycle: the merging thread only
//! receives.

mod config;
mod merge;
mod window;
mod worker;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use capture::FlowUpdate;
use crossbeam_channel::{bounded, Sender};

use crate::metrics::Metrics;
use crate::shard::Budget;
use crate::summary::{EpochTotals, Summary};

pub use config::{EngineConfig, EngineError, WindowSpec};
use merge::{MergeMsg, MERGE_EPOCHS};
use worker::{WorkerMsg, WorkerState};

/// What happens when a worker queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backpressure {
    /// Wait: nothing is lost (file replay).
    Block,
    /// Drop the batch and count it (live capture, flow collection).
    Shed,
}

/// Where updates come from. `fill` runs on the source thread.
pub trait Source: Send {
    /// A short label for metrics (`file`, `live`, `generated`).
    fn name(&self) -> &'static str;
    /// Appends up to `max` updates to `out`; returns false when the input
    /// is exhausted (what was appended still counts).
    fn fill(&mut self, out: &mut Vec<FlowUpdate>, max: usize) -> bool;
    /// What to do with full queues.
    fn backpressure(&self) -> Backpressure {
        Backpressure::Block
    }
    /// The wall clock, ns since the Unix epoch, for live sources whose
    /// event times follow it: epochs then close on time even when no
    /// update comes (a quiet link, an idle exporter). `None` (files): event
    /// time alone closes epochs, so a replay gives the same answers at any
    /// speed.
    fn clock_ns(&self) -> Option<u64> {
        None
    }
}

/// The wall clock in ns since the Unix epoch: what a live source's
/// [`Source::clock_ns`] returns, and what stamps records on arrival.
pub fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

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
    /// Updates dropped on full queues.
    pub dropped: u64,
    /// Batches handed to the workers.
    pub batches: u64,
}

/// A built, validated engine; [`Engine::run`] may be called repeatedly.
#[derive(Debug)]
pub struct Engine {
    cfg: EngineConfig,
    budget: Budget,
    cores: Vec<Option<core_affinity::CoreId>>,
    metrics: Arc<Metrics>,
}

impl Engine {
    /// Validates the configuration and sizes the sketches.
    pub fn new(cfg: EngineConfig) -> Result<Engine, EngineError> {
        let budget = config::validate(&cfg)?;
        let cores = config::pin_plan(&cfg)?;
        Ok(Engine {
            cfg,
            budget,
            cores,
            metrics: Arc::new(Metrics::new()),
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

    /// Runs `source` to its end (or until `stop` is set), calling
    /// `on_window(index into the window specs, window)` for every window as
    /// it closes, and returns the whole run.
    pub fn run<S: Source>(
        &self,
        source: &mut S,
        stop: &AtomicBool,
        on_window: impl FnMut(usize, &Summary),
    ) -> RunOutput {
        self.run_observed(source, stop, |_| {}, on_window)
    }

    /// As [`Engine::run`], also calling `on_epoch` with every closed epoch,
    /// in event-time order, before the windows it completes (where the
    /// detectors read).
    pub fn run_observed<S: Source>(
        &self,
        source: &mut S,
        stop: &AtomicBool,
        mut on_epoch: impl FnMut(&Summary),
        mut on_window: impl FnMut(usize, &Summary),
    ) -> RunOutput {
        let n = self.cfg.workers;
        // The metrics count over the engine's life; a run reports its own share.
        let drops_before = self.metrics.drops.with_label_values(&["queue_full"]).get();
        let batches_before = self.metrics.batches.get();
        // Per epoch: the source's totals, and a partial and a close from
        // each worker (or the inline state).
        let (merge_tx, merge_rx) = bounded::<MergeMsg>(MERGE_EPOCHS * (2 * n.max(1) + 1));
        let mut worker_tx = Vec::with_capacity(n);
        let mut worker_rx = Vec::with_capacity(n);
        for _ in 0..n {
            let (tx, rx) = bounded::<WorkerMsg>(self.cfg.queue_batches);
            worker_tx.push(tx);
            worker_rx.push(rx);
        }
        let mut out = std::thread::scope(|scope| {
            for (w, rx) in worker_rx.into_iter().enumerate() {
                let tx = merge_tx.clone();
                let core = self.cores[w + 1];
                scope.spawn(move || {
                    if let Some(c) = core {
                        core_affinity::set_for_current(c);
                    }
                    self.worker(w, rx, tx)
                });
            }
            let core = self.cores[0];
            let src_merge = merge_tx.clone();
            scope.spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(c);
                }
                self.source_loop(source, stop, worker_tx, src_merge)
            });
            drop(merge_tx);
            self.merge_loop(merge_rx, &mut on_epoch, &mut on_window)
        });
        out.dropped -= drops_before;
        out.batches -= batches_before;
        out
    }

    fn source_loop<S: Source>(
        &self,
        source: &mut S,
        stop: &AtomicBool,
        tx: Vec<Sender<WorkerMsg>>,
        merge: Sender<MergeMsg>,
    ) {
        let e_ns = self.cfg.epoch_ns;
        let label = source.name();
        let shed = source.backpressure() == Backpressure::Shed;
        // Labelled series looked up once, not per batch (a lookup hashes
        // the labels under a lock; the queue labels are formatted too).
        let metrics = &self.metrics;
        let (packets, wire_bytes) = (
            metrics.packets.with_label_values(&[label]),
            metrics.wire_bytes.with_label_values(&[label]),
        );
        let queue_full = metrics.drops.with_label_values(&["queue_full"]);
        let depth: Vec<prometheus::IntGauge> = (0..tx.len())
            .map(|w| {
                metrics
                    .queue_depth
                    .with_label_values(&[&format!("worker{w}")])
            })
            .collect();
        let mut open: BTreeMap<u64, EpochTotals> = BTreeMap::new();
        let mut closed_through: Option<u64> = None;
        let mut max_ts: Option<u64> = None;
        let mut more = true;
        // No workers: run to completion, applying updates on this thread.
        let mut inline = (self.cfg.workers == 0).then(|| WorkerState::new(self, 0));
        let send_all = |msg: &dyn Fn() -> WorkerMsg| {
            for t in &tx {
                // A worker only hangs up when the run is over.
                let _ = t.send(msg());
            }
        };
        // Closes every epoch through `x`: the source's totals, then the
        // workers (or the inline state) flush their partials.
        let close_through = |x: u64,
                             open: &mut BTreeMap<u64, EpochTotals>,
                             inline: &mut Option<WorkerState<'_>>| {
            let done: Vec<u64> = open.range(..=x).map(|(e, _)| *e).collect();
            for e in done {
                let t = open.remove(&e).unwrap_or_default();
                let _ = merge.send(MergeMsg::Totals(e, t));
            }
            match inline.as_mut() {
                Some(state) => state.close(x, &merge),
                None => send_all(&|| WorkerMsg::Close(x)),
            }
        };
        while more && !stop.load(Ordering::Relaxed) {
            let mut staging = Vec::with_capacity(self.cfg.batch_size);
            more = source.fill(&mut staging, self.cfg.batch_size);
            // A live source's epochs follow its clock: they close on time
            // when no update comes (a quiet link, an idle exporter), and
            // updates older than the clock allows (flow records of long
            // flows, a burst from an exporter reading a file) are late,
            // counted, in the current epoch, rather than reopening the past.
            let clock = source.clock_ns();
            if let Some(now) = clock {
                let watermark = now.saturating_sub(self.cfg.lateness_ns);
                if let Some(x) = (watermark / e_ns).checked_sub(1) {
                    if closed_through.is_none_or(|c| x > c) {
                        close_through(x, &mut open, &mut inline);
                        closed_through = Some(x);
                        max_ts = Some(max_ts.map_or(now, |m| m.max((x + 1) * e_ns)));
                    }
                }
            }
            if staging.is_empty() {
                continue;
            }
            if shed && tx.iter().any(|t| t.is_full()) {
                queue_full.inc_by(staging.len() as u64);
                continue;
            }
            packets.inc_by(staging.len() as u64);
            wire_bytes.inc_by(staging.iter().map(|u| u.wire_len as u64).sum());
            // Epochs and lateness are decided update by update, and a batch
            // is cut wherever an epoch closes, so neither the batch size nor
            // the timing of the workers changes what lands in which epoch.
            let mut cuts: Vec<(usize, u64)> = Vec::new();
            // A live source's updates may not run ahead of its clock by
            // more than an epoch: one bogus timestamp would otherwise close
            // every epoch up to it and make all later updates late.
            let ceiling = clock.map(|now| now.saturating_add(e_ns));
            for (i, u) in staging.iter_mut().enumerate() {
                let mut future = false;
                if let Some(c) = ceiling {
                    if u.ts_ns > c {
                        u.ts_ns = c - e_ns;
                        future = true;
                    }
                }
                let mut e = u.ts_ns / e_ns;
                if let Some(c) = closed_through {
                    if e <= c {
                        let now = (max_ts.unwrap_or(0) / e_ns).max(c + 1);
                        u.ts_ns = now * e_ns;
                        e = now;
                        open.entry(e).or_default().late += 1;
                        self.metrics.late.inc();
                    }
                }
                let t = open.entry(e).or_default();
                t.add(u);
                if future {
                    t.future += 1;
                    self.metrics.future.inc();
                }
                let m = max_ts.map_or(u.ts_ns, |m| m.max(u.ts_ns));
                max_ts = Some(m);
                let watermark = m.saturating_sub(self.cfg.lateness_ns);
                // Epochs ending at or before the watermark close.
                let closable = (watermark / e_ns).checked_sub(1);
                if let Some(x) = closable {
                    if closed_through.is_none_or(|c| x > c) {
                        cuts.push((i + 1, x));
                        closed_through = Some(x);
                    }
                }
            }
            let data = Arc::new(staging);
            let mut start = 0;
            let total = data.len();
            cuts.push((total, u64::MAX));
            for (end, close) in cuts {
                if end > start {
                    self.metrics.batches.inc();
                    match inline.as_mut() {
                        Some(state) => state.apply(&data[start..end]),
                        None => send_all(&|| WorkerMsg::Batch(Arc::clone(&data), start..end)),
                    }
                    start = end;
                }
                if close != u64::MAX {
                    close_through(close, &mut open, &mut inline);
                }
            }
            for (g, t) in depth.iter().zip(&tx) {
                g.set(t.len() as i64);
            }
            if let (Some(m), Some(c)) = (max_ts, closed_through) {
                self.metrics
                    .epoch_lag
                    .set(m.saturating_sub((c + 1) * e_ns) as f64 / 1e9);
            }
        }
        for (e, t) in open {
            let _ = merge.send(MergeMsg::Totals(e, t));
        }
        if let Some(state) = inline {
            state.finish(&merge);
        }
        // Dropping the senders ends the workers, which flush what is open.
    }
}
