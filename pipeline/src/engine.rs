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

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use capture::FlowUpdate;
use crossbeam_channel::{bounded, Receiver, Sender};

use crate::handshake::ConnTables;
use crate::keys::SHARDS;
use crate::metrics::Metrics;
use crate::shard::{Budget, CouponCache, OwnedShards, ShardSketches};
use crate::summary::{EpochTotals, Summary};

/// Closed epochs the merge channel holds before workers wait for it.
const MERGE_EPOCHS: usize = 2;

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

/// A sliding window: `length` epochs, reported every `slide` epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    /// Epochs covered.
    pub length: u32,
    /// Epochs between reports.
    pub slide: u32,
}

/// Engine options. Every one is checked by [`Engine::new`], before any
/// thread starts.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Worker threads (0..=16). 0 runs to completion: the source thread
    /// parses and updates the sketches itself.
    pub workers: usize,
    /// CPUs to pin to: the source thread to the first, workers to the
    /// following ones round-robin. `None`: the machine's cores in order.
    pub cpus: Option<Vec<usize>>,
    /// Pin threads at all.
    pub pin: bool,
    /// Updates per batch.
    pub batch_size: usize,
    /// Epoch length.
    pub epoch_ns: u64,
    /// How far behind the newest event time an update may be and still
    /// count in its own epoch.
    pub lateness_ns: u64,
    /// Memory for all sketches, in bytes (the window ring, open epochs and
    /// the run total).
    pub memory_bytes: usize,
    /// Windows to report.
    pub windows: Vec<WindowSpec>,
    /// Batches a worker queue holds.
    pub queue_batches: usize,
    /// A TCP handshake with no answer after this long is a failure.
    pub handshake_timeout_ns: u64,
    /// Pending TCP handshakes held at most (all shards together; about 80
    /// bytes each).
    pub handshake_table: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(SHARDS),
            cpus: None,
            pin: true,
            batch_size: 1024,
            epoch_ns: 1_000_000_000,
            lateness_ns: 0,
            memory_bytes: 256 << 20,
            windows: vec![WindowSpec {
                length: 10,
                slide: 10,
            }],
            queue_batches: 64,
            handshake_timeout_ns: 3_000_000_000,
            handshake_table: 1 << 18,
        }
    }
}

/// A configuration the engine refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// An option out of range, with what to do.
    #[error("{0}")]
    Invalid(String),
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

/// The epochs a worker holds open, for the shards it owns. Used by worker
/// threads (hand-off) and by the source thread itself when there are no
/// workers (run-to-completion).
struct WorkerState<'e> {
    engine: &'e Engine,
    owner: usize,
    owners: usize,
    open: Vec<(u64, OwnedShards)>,
    conns: ConnTables,
    coupons: CouponCache,
    hist: prometheus::Histogram,
}

impl<'e> WorkerState<'e> {
    fn new(engine: &'e Engine, owner: usize) -> WorkerState<'e> {
        let owners = engine.cfg.workers.max(1);
        WorkerState {
            engine,
            owner,
            owners,
            open: Vec::new(),
            conns: ConnTables::new(
                owner,
                owners,
                engine.cfg.handshake_table.div_ceil(SHARDS),
                engine.cfg.handshake_timeout_ns,
            ),
            coupons: CouponCache::new(),
            hist: engine.metrics.stage_seconds.with_label_values(&["worker"]),
        }
    }

    fn apply(&mut self, updates: &[FlowUpdate]) {
        let t0 = Instant::now();
        let e_ns = self.engine.cfg.epoch_ns;
        let mut cur = usize::MAX;
        let mut cur_e = u64::MAX;
        for u in updates {
            let e = u.ts_ns / e_ns;
            if e != cur_e {
                cur = self.epoch_index(e);
                cur_e = e;
            }
            let shards = &mut self.open[cur].1;
            shards.apply(u, &mut self.coupons);
            // Packets only: a flow record's flags are an OR over the flow.
            if u.proto == FlowUpdate::TCP && u.has_ports && u.wire_len > 0 {
                self.conns.observe(u, shards);
            }
        }
        self.hist.observe(t0.elapsed().as_secs_f64());
    }

    fn flush(&mut self, through: u64, merge: &Sender<MergeMsg>) {
        while self.open.first().is_some_and(|(e, _)| *e <= through) {
            let (e, shards) = self.open.remove(0);
            let _ = merge.send(MergeMsg::Partial(e, shards.into_owned().collect()));
        }
    }

    /// The index in `open` of epoch `e`, opening it if needed.
    fn epoch_index(&mut self, e: u64) -> usize {
        match self.open.binary_search_by_key(&e, |(x, _)| *x) {
            Ok(i) => i,
            Err(i) => {
                let shards = OwnedShards::new(&self.engine.budget, self.owner, self.owners);
                self.open.insert(i, (e, shards));
                i
            }
        }
    }

    fn close(&mut self, x: u64, merge: &Sender<MergeMsg>) {
        // Handshakes that timed out by the end of the closing epoch fail,
        // counted in the newest open epoch up to `x`, else the oldest after
        // it: never in an epoch of their own, which would have no totals
        // from the source (and no updates to make it exist).
        let now = (x + 1).saturating_mul(self.engine.cfg.epoch_ns);
        let i = self
            .open
            .iter()
            .rposition(|(e, _)| *e <= x)
            .or_else(|| self.open.iter().position(|(e, _)| *e > x));
        if let Some(i) = i {
            self.conns.expire(now, &mut self.open[i].1);
        }
        self.flush(x, merge);
        let _ = merge.send(MergeMsg::Closed(self.owner, x));
    }

    fn finish(mut self, merge: &Sender<MergeMsg>) {
        self.flush(u64::MAX, merge);
        let _ = merge.send(MergeMsg::Done(self.owner));
    }
}

enum WorkerMsg {
    Batch(Arc<Vec<FlowUpdate>>, Range<usize>),
    Close(u64),
}

enum MergeMsg {
    Totals(u64, EpochTotals),
    Partial(u64, Vec<(usize, ShardSketches)>),
    Closed(usize, u64),
    Done(usize),
}

impl Engine {
    /// Validates the configuration and sizes the sketches.
    pub fn new(cfg: EngineConfig) -> Result<Engine, EngineError> {
        let bad = |m: String| Err(EngineError::Invalid(m));
        if cfg.workers > SHARDS {
            return bad(format!(
                "--workers must be 0 (the reader does all the work) to {SHARDS}, got {}",
                cfg.workers
            ));
        }
        if cfg.batch_size == 0 || cfg.batch_size > 1 << 20 {
            return bad(format!(
                "--batch must be 1 to 1048576, got {}",
                cfg.batch_size
            ));
        }
        if cfg.epoch_ns < 1_000_000 {
            return bad("--epoch must be at least 1ms".into());
        }
        if cfg.queue_batches == 0 {
            return bad("queue size must be at least 1 batch".into());
        }
        for w in &cfg.windows {
            if w.length == 0 || w.slide == 0 || w.slide > w.length || w.length > 3600 {
                return bad(format!(
                    "window {}/{} epochs: length must be 1 to 3600 epochs and slide 1 to length",
                    w.length, w.slide
                ));
            }
        }
        let ring = cfg
            .windows
            .iter()
            .map(|w| w.length as usize)
            .max()
            .unwrap_or(1);
        // The ring, the run total, one window being merged, the epochs
        // held open by lateness, and the closed epochs on their way to the
        // merging thread. Workers split an open epoch's shards among
        // themselves, so the worker count does not enter: sketch sizes, and
        // with them the answers, are the same however many workers run.
        let open = 2 + cfg.lateness_ns.div_ceil(cfg.epoch_ns) as usize;
        let copies = ring + 2 + open + MERGE_EPOCHS;
        let budget = Budget::for_epoch(cfg.memory_bytes / copies);
        if budget.epoch_bytes() * copies > cfg.memory_bytes.max(1) * 2 {
            return bad(format!(
                "--memory {} MiB is too small for a {ring}-epoch window; give at least {} MiB",
                cfg.memory_bytes >> 20,
                (budget.epoch_bytes() * copies) >> 20
            ));
        }
        let available = core_affinity::get_core_ids().unwrap_or_default();
        let cores = if !cfg.pin {
            vec![None; cfg.workers + 1]
        } else {
            let wanted: Vec<usize> = match &cfg.cpus {
                Some(c) if c.is_empty() => return bad("--cpus needs at least one CPU".into()),
                Some(c) => c.clone(),
                None => available.iter().map(|c| c.id).collect(),
            };
            for c in &wanted {
                if !available.iter().any(|a| a.id == *c) {
                    let ids: Vec<String> = available.iter().map(|a| a.id.to_string()).collect();
                    return bad(format!(
                        "CPU {c} is not available; this machine has {}",
                        ids.join(",")
                    ));
                }
            }
            if wanted.is_empty() {
                vec![None; cfg.workers + 1]
            } else {
                // Workers take the CPUs in order; the source shares the last.
                let mut v: Vec<Option<core_affinity::CoreId>> = (0..cfg.workers)
                    .map(|w| {
                        Some(core_affinity::CoreId {
                            id: wanted[w % wanted.len()],
                        })
                    })
                    .collect();
                v.insert(
                    0,
                    Some(core_affinity::CoreId {
                        id: wanted[wanted.len() - 1],
                    }),
                );
                v
            }
        };
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

    fn worker(&self, w: usize, rx: Receiver<WorkerMsg>, merge: Sender<MergeMsg>) {
        let mut state = WorkerState::new(self, w);
        for msg in rx {
            match msg {
                WorkerMsg::Batch(data, range) => state.apply(&data[range]),
                WorkerMsg::Close(x) => state.close(x, &merge),
            }
        }
        state.finish(&merge);
    }

    fn merge_loop(
        &self,
        rx: Receiver<MergeMsg>,
        on_epoch: &mut dyn FnMut(&Summary),
        on_window: &mut dyn FnMut(usize, &Summary),
    ) -> RunOutput {
        // With no workers the source thread is the one participant.
        let n = self.cfg.workers.max(1);
        let e_ns = self.cfg.epoch_ns;
        let ring_len = self
            .cfg
            .windows
            .iter()
            .map(|w| w.length as usize)
            .max()
            .unwrap_or(1);
        let mut pending: BTreeMap<u64, (Option<EpochTotals>, Vec<Option<ShardSketches>>)> =
            BTreeMap::new();
        let mut through: Vec<Option<u64>> = vec![None; n];
        let mut ring: VecDeque<(u64, Summary)> = VecDeque::new();
        let mut total: Option<Summary> = None;
        let mut epochs = 0u64;
        let mut late = 0u64;
        let mut future = 0u64;
        let hist = self.metrics.stage_seconds.with_label_values(&["merge"]);
        let new_pending = || (None, (0..SHARDS).map(|_| None).collect::<Vec<_>>());
        for msg in rx {
            match msg {
                MergeMsg::Totals(e, t) => pending.entry(e).or_insert_with(new_pending).0 = Some(t),
                MergeMsg::Partial(e, parts) => {
                    let p = pending.entry(e).or_insert_with(new_pending);
                    for (s, sk) in parts {
                        p.1[s] = Some(sk);
                    }
                }
                MergeMsg::Closed(w, x) => through[w] = Some(x),
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
                let summary = Summary {
                    start_ns: e * e_ns,
                    end_ns: (e + 1) * e_ns,
                    totals: t.unwrap_or_default(),
                    shards: shards
                        .into_iter()
                        .map(|s| s.unwrap_or_else(|| ShardSketches::new(&self.budget)))
                        .collect(),
                };
                epochs += 1;
                late += summary.totals.late;
                future += summary.totals.future;
                on_epoch(&summary);
                self.metrics.epochs.inc();
                match &mut total {
                    Some(tot) => tot.merge(&summary),
                    None => total = Some(summary.clone()),
                }
                ring.push_back((e, summary));
                while ring.front().is_some_and(|(x, _)| x + ring_len as u64 <= e) {
                    ring.pop_front();
                }
                for (i, spec) in self.cfg.windows.iter().enumerate() {
                    if (e + 1) % spec.slide as u64 == 0 {
                        let first = (e + 1).saturating_sub(spec.length as u64);
                        let mut win: Option<Summary> = None;
                        for (_, s) in ring.iter().filter(|(x, _)| *x >= first) {
                            match &mut win {
                                Some(w) => w.merge(s),
                                None => win = Some(s.clone()),
                            }
                        }
                        if let Some(mut w) = win {
                            w.start_ns = first * e_ns;
                            w.end_ns = (e + 1) * e_ns;
                            on_window(i, &w);
                        }
                    }
                }
                hist.observe(t0.elapsed().as_secs_f64());
            }
        }
        RunOutput {
            total: total.unwrap_or_else(|| Summary::empty(0, 0, &self.budget)),
            epochs,
            late,
            future,
            dropped: self.metrics.drops.with_label_values(&["queue_full"]).get(),
            batches: self.metrics.batches.get(),
        }
    }
}
