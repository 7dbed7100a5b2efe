//! Threads, channels, epochs and windows.
//!
//! ```text
//! source thread ──Arc<Flush>──► worker 0 (shards 0, N, 2N, ...) ──partials──┐
//!  (parse, epoch clock,         ...                                         ├─► merging thread (caller):
//!   handshakes, flow table)     worker N-1                     ──partials──┘    epochs, window ring,
//!       └──────────── epoch totals, service tables ────────────────────────┘    detection callbacks
//! ```
//!
//! [`feed`] is the source thread's side: the epoch clock ([`clock`]), the
//! handshake tracker and one flow table per open epoch ([`aggregate`]),
//! flushed at epoch close or when full into a [`Flush`] whose keys are
//! routed, one part per worker, to the owner of their shard: each worker
//! reads its own part ([`worker`], [`crate::shard`]). [`merge`] completes epochs from the workers'
//! partials and feeds the window ring ([`window`]). [`config`] validates
//! the options before any thread starts; [`setup`] is the validated engine.
//!
//! Channels: worker queues are bounded (`queue_batches`). A file source
//! blocks when a queue is full and loses nothing; a live source sheds the
//! batch and counts it (`netsketch_drops_total{reason="queue_full"}`). The
//! merge channel is bounded too, to about two epochs of messages: when
//! merging falls behind (a long, sparse trace closes an epoch every few
//! packets), workers wait for it, and through them the source, instead of
//! closed epochs piling up in memory. No cycle: the merging thread only
//! receives.

mod aggregate;
mod clock;
mod config;
mod feed;
mod merge;
mod setup;
mod window;
mod worker;

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::keys::SHARDS;
use crate::shard::ShardSketches;
use crate::summary::Summary;

use config::MERGE_EPOCHS;
pub use config::{EngineConfig, EngineError, WindowSpec};
use feed::{Feeder, Outlet};
use merge::MergeMsg;
pub use setup::{Engine, RunOutput};
use worker::{WorkerMsg, WorkerState};

pub use crate::source::{wall_clock_ns, Backpressure, Source};

#[cfg(test)]
pub(crate) use aggregate::Flush;
pub(crate) use aggregate::{AggMap, DstSums, FlushPart, SrcSums, Sums};

/// Epochs' worth of spent sketches kept for reuse when windows tumble:
/// those open and in flight to the merging thread.
const POOL_EPOCHS: usize = 4;

impl Engine {
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
        // Spent epoch sketches, from the merging thread back to the workers:
        // enough for the epochs in flight when windows tumble (the ring
        // then holds one window, not the `length` epochs the budget gives
        // it), one epoch's worth otherwise.
        let ring = self.cfg.windows.iter().map(|w| w.length as usize).max();
        let pooled = match ring {
            Some(len) if window::WindowRing::totals_windows(&self.cfg.windows) => {
                // The window being accumulated and the total's from windows.
                len.saturating_sub(2).clamp(1, POOL_EPOCHS)
            }
            _ => 1,
        };
        let (pool_tx, pool_rx) = bounded::<ShardSketches>(SHARDS * pooled);
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
                let pool = pool_rx.clone();
                scope.spawn(move || {
                    if let Some(c) = core {
                        core_affinity::set_for_current(c);
                    }
                    self.worker(w, rx, tx, pool)
                });
            }
            let core = self.cores[0];
            let src_merge = merge_tx.clone();
            scope.spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(c);
                }
                self.source_loop(source, stop, worker_tx, src_merge, pool_rx)
            });
            drop(merge_tx);
            self.merge_loop(merge_rx, &mut on_epoch, &mut on_window, &pool_tx)
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
        pool: Receiver<ShardSketches>,
    ) {
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
        // No workers: run to completion, applying updates on this thread.
        let outlet = if self.cfg.workers == 0 {
            Outlet::Inline(Box::new(WorkerState::new(self, 0, pool)))
        } else {
            Outlet::Workers(tx)
        };
        let mut feed = Feeder::new(self, outlet, merge);
        let mut staging = Vec::with_capacity(self.cfg.batch_size);
        let mut more = true;
        while more && !stop.load(Ordering::Relaxed) {
            staging.clear();
            more = source.fill(&mut staging, self.cfg.batch_size);
            // A live source's epochs follow its clock: they close on time
            // when no update comes (a quiet link, an idle exporter).
            if let Some(now) = source.clock_ns() {
                feed.tick(now);
            }
            if staging.is_empty() {
                continue;
            }
            if shed && feed.queues_full() {
                queue_full.inc_by(staging.len() as u64);
                continue;
            }
            packets.inc_by(staging.len() as u64);
            wire_bytes.inc_by(staging.iter().map(|u| u.wire_len as u64).sum());
            // Epochs are decided update by update and flows reach the
            // sketches only where an epoch closes or a table fills, so the
            // batch size cannot change what lands where.
            for u in staging.iter_mut() {
                feed.push(u);
            }
            if let Outlet::Workers(tx) = &feed.outlet {
                for (g, t) in depth.iter().zip(tx) {
                    g.set(t.len() as i64);
                }
            }
            if let Some(lag) = feed.clock.lag_ns() {
                self.metrics.epoch_lag.set(lag as f64 / 1e9);
            }
        }
        feed.finish();
        // Dropping the senders ends the workers, which flush what is open.
    }
}
