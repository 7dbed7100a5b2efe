//! A worker: the epochs it holds open for the shards it owns. Worker
//! threads (hand-off) run one each; with no workers the source thread runs
//! one itself (run-to-completion).

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::handshake::ServiceTable;
use crate::shard::{Batches, CouponCache, ExactAddresses, OwnedShards, Sampler, ShardSketches};

use super::aggregate::Flush;
use super::merge::MergeMsg;
use super::setup::Engine;
use super::window::WindowRing;

/// The epochs a worker holds open, for the shards it owns.
pub(super) struct WorkerState<'e> {
    engine: &'e Engine,
    owner: usize,
    owners: usize,
    /// The units the sketches are kept in, open, oldest first: epochs, or
    /// chunks of `chunk` epochs (chunk `c` is epochs `c * chunk ..`).
    open: Vec<(u64, OwnedShards)>,
    /// Epochs per chunk when no one reads an epoch's sketches and windows
    /// tumble ([`super::EngineConfig::chunk_epochs`]); `None`: per epoch.
    chunk: Option<u64>,
    /// The run total of the owned shards: address rankings fed from the
    /// flushes (through `exact`), everything else merged as each epoch
    /// leaves.
    total: OwnedShards,
    /// The total's address sums, exact while they fit its rankings.
    exact: ExactAddresses,
    coupons: CouponCache,
    batches: Batches,
    /// Spent epoch sketches handed back by the merging thread.
    pool: Receiver<ShardSketches>,
    /// The total's sketches but its address rankings come from the
    /// windows ([`WindowRing::take_total`]), not from each epoch here.
    total_from_windows: bool,
    hist: prometheus::Histogram,
    sampled_out: prometheus::IntCounter,
}

/// What the source thread sends a worker.
pub(super) enum WorkerMsg {
    /// Flows of an epoch, summed (every worker gets the same flush and
    /// applies its own part: the keys of the shards it owns).
    Flows(u64, Arc<Flush>),
    /// The handshake statistics of the owned shards of a closing epoch.
    Services(u64, Vec<(usize, ServiceTable)>),
    /// Every epoch through this one is closed.
    Close(u64),
}

impl<'e> WorkerState<'e> {
    pub(super) fn new(
        engine: &'e Engine,
        owner: usize,
        pool: Receiver<ShardSketches>,
    ) -> WorkerState<'e> {
        let total = OwnedShards::new_total(&engine.budget, owner, engine.cfg.workers.max(1));
        WorkerState {
            exact: ExactAddresses::new(&total, engine.budget.total_hh_capacity),
            total,
            engine,
            owner,
            owners: engine.cfg.workers.max(1),
            open: Vec::new(),
            chunk: engine.cfg.chunk_epochs(),
            coupons: CouponCache::new(),
            batches: Batches::default(),
            pool,
            total_from_windows: WindowRing::totals_windows(&engine.cfg.windows),
            hist: engine.metrics.stage_seconds.with_label_values(&["worker"]),
            sampled_out: engine.metrics.sampled_out.clone(),
        }
    }

    /// The unit epoch `e` is kept in: itself, or its chunk.
    fn unit(&self, e: u64) -> u64 {
        self.chunk.map_or(e, |g| e / g)
    }

    /// The last epoch of unit `u`.
    fn last_epoch(&self, u: u64) -> u64 {
        self.chunk
            .map_or(u, |g| u.saturating_mul(g).saturating_add(g - 1))
    }

    /// Applies summed flows of epoch `e` to the owned shards.
    pub(super) fn apply(&mut self, e: u64, flush: &Flush) {
        let t0 = Instant::now();
        let i = self.unit_index(self.unit(e));
        let sampler = (self.engine.cfg.sample).map(|t| Sampler::new(t, flush.seq));
        let b = &mut self.batches;
        let part = &flush.parts[self.owner];
        self.open[i]
            .1
            .apply(part, &mut self.coupons, b, sampler.as_ref());
        let src = sampler.is_some().then(|| b.sampled_sources());
        if sampler.is_some() {
            self.sampled_out.inc_by(b.sampled_out());
        }
        self.exact.add(part, src);
        self.hist.observe(t0.elapsed().as_secs_f64());
    }

    /// Installs the handshake statistics of owned shards of epoch `e`
    /// (adds them to its chunk's).
    pub(super) fn services(&mut self, e: u64, tables: Vec<(usize, ServiceTable)>) {
        let i = self.unit_index(self.unit(e));
        let shards = &mut self.open[i].1;
        for (s, t) in tables {
            if let Some(sk) = shards.shards[s].as_mut() {
                match self.chunk {
                    Some(_) => sk.services.merge(&t),
                    None => sk.services = t,
                }
            }
        }
    }

    /// Sends the units whose epochs are all closed through `through`: an
    /// epoch's sketches as its partial, a chunk's as a chunk (ahead of the
    /// close that completes its last epoch: each sender's messages arrive
    /// in order).
    fn flush(&mut self, through: u64, merge: &Sender<MergeMsg>) {
        while let Some(&(u, _)) = self.open.first() {
            if self.last_epoch(u) > through {
                break;
            }
            let (_, shards) = self.open.remove(0);
            let parts: Vec<(usize, ShardSketches)> = shards.into_owned().collect();
            if self.chunk.is_some() {
                let _ = merge.send(MergeMsg::Chunk(u, parts));
                continue;
            }
            let e = u;
            // Tumbling windows partition the stream, and the merging
            // thread makes the rest of the total from them.
            if !self.total_from_windows {
                for (s, sk) in &parts {
                    if let Some(t) = self.total.shards[*s].as_mut() {
                        t.merge_rest(sk);
                    }
                }
            }
            let _ = merge.send(MergeMsg::Partial(e, parts));
        }
    }

    /// The index in `open` of unit `e`, opening it if needed.
    fn unit_index(&mut self, e: u64) -> usize {
        match self.open.binary_search_by_key(&e, |(x, _)| *x) {
            Ok(i) => i,
            Err(i) => {
                let shards = OwnedShards::from_pool(
                    &self.engine.budget,
                    self.owner,
                    self.owners,
                    &self.pool,
                );
                self.open.insert(i, (e, shards));
                i
            }
        }
    }

    pub(super) fn close(&mut self, x: u64, merge: &Sender<MergeMsg>) {
        self.flush(x, merge);
        let _ = merge.send(MergeMsg::Closed(self.owner, x));
    }

    pub(super) fn finish(mut self, merge: &Sender<MergeMsg>) {
        self.flush(u64::MAX, merge);
        self.exact.finish(&mut self.total);
        let _ = merge.send(MergeMsg::Total(self.total.into_owned().collect()));
        let _ = merge.send(MergeMsg::Done(self.owner));
    }

    /// Handles one message from the source.
    pub(super) fn handle(&mut self, msg: WorkerMsg, merge: &Sender<MergeMsg>) {
        match msg {
            WorkerMsg::Flows(e, flows) => self.apply(e, &flows),
            WorkerMsg::Services(e, tables) => self.services(e, tables),
            WorkerMsg::Close(x) => self.close(x, merge),
        }
    }
}

impl Engine {
    pub(super) fn worker(
        &self,
        w: usize,
        rx: Receiver<WorkerMsg>,
        merge: Sender<MergeMsg>,
        pool: Receiver<ShardSketches>,
    ) {
        let mut state = WorkerState::new(self, w, pool);
        for msg in rx {
            state.handle(msg, &merge);
        }
        state.finish(&merge);
    }
}
