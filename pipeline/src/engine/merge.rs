//! The merging thread: completes epochs from the workers' partials and the
//! source's totals, keeps the ring of closed epochs and forms the sliding
//! windows and the run total from it. Every epoch index from the stream's
//! first to its last is closed, those without updates as empty summaries
//! (`Summary::nothing`), so detection and the windows see quiet time too.

use std::collections::BTreeMap;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::keys::SHARDS;
use crate::shard::{Budget, ShardSketches};
use crate::summary::{EpochTotals, Summary};

use super::setup::{Engine, RunOutput};
use super::window::WindowRing;

pub(super) enum MergeMsg {
    Totals(u64, EpochTotals),
    Partial(u64, Vec<(usize, ShardSketches)>),
    /// A worker's sketches of a chunk of epochs (chunk mode), sent before
    /// the close that completes the chunk's last epoch.
    Chunk(u64, Vec<(usize, ShardSketches)>),
    Closed(usize, u64),
    /// A worker's run total of its shards, sent once, before `Done`.
    Total(Vec<(usize, ShardSketches)>),
    Done(usize),
}

/// What the merging thread does with each closed epoch, in order: detection
/// (`on_epoch`), the run total and the window ring.
struct Closer<'a> {
    on_epoch: &'a mut dyn FnMut(&Summary),
    on_window: &'a mut dyn FnMut(usize, &Summary),
    ring: WindowRing,
    total: Option<Summary>,
    epochs: u64,
    late: u64,
    future: u64,
    /// Empty epochs of very long gaps not closed (see `QUIET_EPOCHS`).
    skipped: u64,
    /// Epochs per chunk in chunk mode ([`super::EngineConfig::chunk_epochs`]).
    chunk: Option<u64>,
    /// The chunks' sketches the workers sent, by chunk and shard, until
    /// their last epoch closes.
    chunks: BTreeMap<u64, Vec<Option<ShardSketches>>>,
    budget: &'a Budget,
}

/// Empty epochs in one gap beyond which the middle of the gap is skipped:
/// 2^23 (97 days of 1 s epochs), so a 47-day gap still closes every epoch.
const QUIET_EPOCHS: u64 = 1 << 23;

/// Per-shard sketches, a new empty set for shards none came for.
fn fill(shards: Vec<Option<ShardSketches>>, budget: &Budget) -> Vec<ShardSketches> {
    (shards.into_iter())
        .map(|s| s.unwrap_or_else(|| ShardSketches::new(budget)))
        .collect()
}

impl Closer<'_> {
    fn close(&mut self, e: u64, mut summary: Summary) {
        self.epochs += 1;
        self.late += summary.totals.late;
        self.future += summary.totals.future;
        (self.on_epoch)(&summary);
        // Chunk mode: a chunk's sketches join its last epoch on its way
        // into the windows, after the epoch was observed; the windows
        // (unions of whole chunks) and the total see each chunk once.
        if let Some(g) = self.chunk.filter(|g| (e + 1) % g == 0) {
            if let Some(parts) = self.chunks.remove(&(e / g)) {
                debug_assert!(summary.shards.is_empty(), "no partials in chunk mode");
                summary.shards = fill(parts, self.budget);
            }
        }
        // The run total's sketches are merged by the workers, each for its
        // own shards, in parallel; here only its counters.
        let t = self
            .total
            .get_or_insert_with(|| Summary::nothing(summary.start_ns, summary.end_ns));
        t.start_ns = t.start_ns.min(summary.start_ns);
        t.end_ns = t.end_ns.max(summary.end_ns);
        t.totals.merge(&summary.totals);
        self.ring.push(e, summary, self.on_window);
    }

    /// Closes the empty epochs before `e`, since the last one closed. An
    /// empty epoch is an epoch: detection sees it (alerts end) and windows
    /// whose last epochs are quiet are still emitted; it allocates nothing.
    fn fill_before(&mut self, e: u64, e_ns: u64) {
        // A gap longer than QUIET_EPOCHS (merged captures months or years
        // apart): its first QUIET_EPOCHS / 2 epochs and the last windows
        // before `e` close as usual (every alert has ended by then), the
        // middle is skipped and counted, so a gap of years costs what one
        // of 48 days does, not hours.
        if let Some(n) = self.ring.next_epoch() {
            let tail = self.ring.span();
            if e > n && e - n > QUIET_EPOCHS && e - n > QUIET_EPOCHS / 2 + 2 * tail {
                let head = n + QUIET_EPOCHS / 2;
                while let Some(n) = self.ring.next_epoch().filter(|n| *n < head) {
                    self.close(n, Summary::nothing(n * e_ns, (n + 1) * e_ns));
                }
                let resume = e - tail;
                self.skipped += resume - head;
                self.ring.skip_to(resume);
            }
        }
        while let Some(n) = self.ring.next_epoch().filter(|n| *n < e) {
            self.close(n, Summary::nothing(n * e_ns, (n + 1) * e_ns));
        }
    }
}

impl Engine {
    pub(super) fn merge_loop(
        &self,
        rx: Receiver<MergeMsg>,
        on_epoch: &mut dyn FnMut(&Summary),
        on_window: &mut dyn FnMut(usize, &Summary),
        pool: &Sender<ShardSketches>,
    ) -> RunOutput {
        // With no workers the source thread is the one participant.
        let n = self.cfg.workers.max(1);
        let e_ns = self.cfg.epoch_ns;
        let mut pending: BTreeMap<u64, (Option<EpochTotals>, Vec<Option<ShardSketches>>)> =
            BTreeMap::new();
        let mut through: Vec<Option<u64>> = vec![None; n];
        let mut closer = Closer {
            on_epoch,
            on_window,
            ring: WindowRing::new(&self.cfg.windows, e_ns),
            total: None,
            epochs: 0,
            late: 0,
            future: 0,
            skipped: 0,
            chunk: self.cfg.chunk_epochs(),
            chunks: BTreeMap::new(),
            budget: &self.budget,
        };
        // A stream that starts with closes and no updates (a live source on
        // a quiet link) starts after the first epoch closed.
        let mut started = false;
        let mut counted = 0u64;
        let hist = self.metrics.stage_seconds.with_label_values(&["merge"]);
        let new_pending = || (None, (0..SHARDS).map(|_| None).collect::<Vec<_>>());
        let mut total_shards: Vec<Option<ShardSketches>> = (0..SHARDS).map(|_| None).collect();
        for msg in rx {
            match msg {
                MergeMsg::Totals(e, t) => pending.entry(e).or_insert_with(new_pending).0 = Some(t),
                MergeMsg::Partial(e, parts) => {
                    let p = pending.entry(e).or_insert_with(new_pending);
                    for (s, sk) in parts {
                        p.1[s] = Some(sk);
                    }
                }
                MergeMsg::Chunk(c, parts) => {
                    let p = closer.chunks.entry(c).or_insert_with(|| new_pending().1);
                    for (s, sk) in parts {
                        p[s] = Some(sk);
                    }
                }
                MergeMsg::Closed(w, x) => through[w] = Some(x),
                MergeMsg::Total(parts) => {
                    for (s, sk) in parts {
                        total_shards[s] = Some(sk);
                    }
                }
                MergeMsg::Done(w) => through[w] = Some(u64::MAX),
            }
            let Some(all) = through
                .iter()
                .map(|t| t.unwrap_or(0))
                .min()
                .filter(|_| through.iter().all(Option::is_some))
            else {
                continue;
            };
            // An epoch is complete when every worker closed it and the
            // source sent its totals.
            while let Some((&e, p)) = pending.first_key_value() {
                if e > all || p.0.is_none() {
                    break;
                }
                let (t, shards) = pending.remove(&e).expect("first key exists");
                let t0 = Instant::now();
                // No sketches at all (an epoch of non-IP packets, or chunk
                // mode): none, as for an empty epoch.
                let shards = match shards.iter().any(Option::is_some) {
                    true => fill(shards, &self.budget),
                    false => Vec::new(),
                };
                let summary = Summary {
                    start_ns: e * e_ns,
                    end_ns: (e + 1) * e_ns,
                    totals: t.unwrap_or_default(),
                    partial: false,
                    shards,
                };
                started = true;
                closer.fill_before(e, e_ns);
                closer.close(e, summary);
                // Spent sketches go back to the workers (while the pool
                // has room; the rest are freed).
                for s in closer.ring.take_spent() {
                    for sk in s.shards {
                        if pool.try_send(sk).is_err() {
                            break;
                        }
                    }
                }
                hist.observe(t0.elapsed().as_secs_f64());
            }
            // Every participant closed through `all` (a finite close, not
            // the end of input) and the source sent the totals of every
            // epoch with updates up to it before the close: the epochs up
            // to `all` without totals are empty, and close now.
            if all != u64::MAX {
                let upto = pending
                    .first_key_value()
                    .map_or(all, |(&e, _)| all.min(e.saturating_sub(1)));
                if !started {
                    started = true;
                    // Nothing came before: the stream begins after `all`.
                    closer.ring.start_after(upto);
                }
                closer.fill_before(upto.saturating_add(1), e_ns);
            }
            self.metrics.epochs.inc_by(closer.epochs - counted);
            counted = closer.epochs;
        }
        // Chunks whose last epoch the stream did not reach: into the
        // windows that hold their epochs, before those end.
        for (_, parts) in std::mem::take(&mut closer.chunks) {
            closer.ring.absorb(fill(parts, &self.budget));
        }
        closer.ring.finish(closer.on_window);
        let windows_total = closer.ring.take_total();
        let total = match closer.total {
            Some(mut t) => {
                t.shards = total_shards
                    .into_iter()
                    .map(|s| s.unwrap_or_else(|| ShardSketches::new_total(&self.budget)))
                    .collect();
                // Tumbling windows: the workers' totals hold the address
                // rankings, the windows the rest.
                if let Some(w) = &windows_total {
                    for (a, b) in t.shards.iter_mut().zip(&w.shards) {
                        a.merge_rest(b);
                    }
                }
                t
            }
            None => Summary::empty(0, 0, &self.budget),
        };
        RunOutput {
            total,
            epochs: closer.epochs,
            late: closer.late,
            future: closer.future,
            skipped_epochs: closer.skipped,
            dropped: self.metrics.drops.with_label_values(&["queue_full"]).get(),
            batches: self.metrics.batches.get(),
        }
    }
}
