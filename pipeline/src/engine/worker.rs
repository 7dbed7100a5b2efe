//! A worker: the epochs it holds open for the shards it owns. Worker
//! threads (hand-off) run one each; with no workers the source thread runs
//! one itself (run-to-completion).

use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use capture::FlowUpdate;
use crossbeam_channel::{Receiver, Sender};

use crate::handshake::ConnTables;
use crate::keys::SHARDS;
use crate::shard::{CouponCache, OwnedShards};

use super::merge::MergeMsg;
use super::Engine;

/// The epochs a worker holds open, for the shards it owns. Used by worker
/// threads (hand-off) and by the source thread itself when there are no
/// workers (run-to-completion).
pub(super) struct WorkerState<'e> {
    engine: &'e Engine,
    owner: usize,
    owners: usize,
    open: Vec<(u64, OwnedShards)>,
    conns: ConnTables,
    coupons: CouponCache,
    hist: prometheus::Histogram,
}

impl<'e> WorkerState<'e> {
    pub(super) fn new(engine: &'e Engine, owner: usize) -> WorkerState<'e> {
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

    pub(super) fn apply(&mut self, updates: &[FlowUpdate]) {
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

    pub(super) fn close(&mut self, x: u64, merge: &Sender<MergeMsg>) {
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

    pub(super) fn finish(mut self, merge: &Sender<MergeMsg>) {
        // Handshakes still in progress count as `open` in the last epoch.
        if let Some((_, shards)) = self.open.last_mut() {
            self.conns.finish(shards);
        }
        self.flush(u64::MAX, merge);
        let _ = merge.send(MergeMsg::Done(self.owner));
    }
}

pub(super) enum WorkerMsg {
    Batch(Arc<Vec<FlowUpdate>>, Range<usize>),
    Close(u64),
}

impl Engine {
    pub(super) fn worker(&self, w: usize, rx: Receiver<WorkerMsg>, merge: Sender<MergeMsg>) {
        let mut state = WorkerState::new(self, w);
        for msg in rx {
            match msg {
                WorkerMsg::Batch(data, range) => state.apply(&data[range]),
                WorkerMsg::Close(x) => state.close(x, &merge),
            }
        }
        state.finish(&merge);
    }
}
