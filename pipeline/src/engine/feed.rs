//! The source thread's side of the hot path: each update is placed in its
//! epoch ([`EpochClock`]), counted exactly, shown to the handshake tracker
//! and summed into its flow ([`FlowTable`]); flows reach the workers (or,
//! with no workers, the sketches on this thread) when their epoch closes
//! or their table fills, both fixed points of the stream.
//!
//! The handshake tracker runs here, on the one thread that sees every
//! packet in order: it needs individual SYN, SYN-ACK, ACK and RST segments,
//! which aggregation would hide, and it costs one table probe per TCP
//! segment. Its statistics travel to the shard owners when the epoch
//! closes.

use std::sync::Arc;

use capture::FlowUpdate;
use crossbeam_channel::Sender;

use crate::handshake::{ConnTables, ServiceTable};
use crate::keys::SHARDS;
use crate::summary::EpochTotals;

use super::aggregate::{FlowTable, Flush};
use super::clock::EpochClock;
use super::merge::MergeMsg;
use super::setup::Engine;
use super::worker::{WorkerMsg, WorkerState};

/// Flows one aggregation table holds: 4,096 flows of 96 bytes, plus the
/// slot array, stay in a core's L2 cache.
pub(super) const FLOW_TABLE: usize = 4096;

/// Flows a flush gathers (from four full tables) before it goes out
/// mid-epoch: a flood's new keys then reach each ranking in batches large
/// enough to be merged at once.
const FLUSH_FLOWS: usize = 4 * FLOW_TABLE;

/// Flush buffers in use at once, beyond two per worker (each is handed to
/// the workers as one `Arc`, each reading its part, and reused once they
/// dropped it). A fixed set
/// bounds what is in flight: when every buffer is out, the source waits for
/// the workers, as it would on a full queue.
const SPARE_FLUSHES: usize = 2;

/// What the source holds for one open epoch.
struct OpenEpoch {
    epoch: u64,
    totals: EpochTotals,
    flows: FlowTable,
    /// Full tables summed so far, not yet sent.
    pending: Option<Flush>,
    services: Vec<ServiceTable>,
}

/// Where flows go: the workers' queues, or this thread's own worker.
pub(super) enum Outlet<'e> {
    Workers(Vec<Sender<WorkerMsg>>),
    Inline(Box<WorkerState<'e>>),
}

/// The source thread's epoch state.
pub(super) struct Feeder<'e> {
    engine: &'e Engine,
    pub clock: EpochClock,
    open: Vec<OpenEpoch>,
    spare: Vec<FlowTable>,
    conns: ConnTables,
    pub outlet: Outlet<'e>,
    merge: Sender<MergeMsg>,
    pool: Vec<Arc<Flush>>,
    /// Flushes sent so far: the next one's number ([`Flush::seq`]).
    flushes: u64,
    late: prometheus::IntCounter,
    future: prometheus::IntCounter,
}

impl<'e> Feeder<'e> {
    pub fn new(engine: &'e Engine, outlet: Outlet<'e>, merge: Sender<MergeMsg>) -> Feeder<'e> {
        let cfg = &engine.cfg;
        Feeder {
            engine,
            clock: EpochClock::new(cfg.epoch_ns, cfg.lateness_ns),
            open: Vec::new(),
            spare: Vec::new(),
            conns: ConnTables::new(
                0,
                1,
                cfg.handshake_table.div_ceil(SHARDS),
                cfg.handshake_timeout_ns,
            ),
            outlet,
            merge,
            pool: Vec::new(),
            flushes: 0,
            late: engine.metrics.late.clone(),
            future: engine.metrics.future.clone(),
        }
    }

    /// The index in `open` of epoch `e`, opening it if needed.
    #[inline]
    fn epoch_index(&mut self, e: u64) -> usize {
        // Open epochs are few (one, plus those lateness holds) and updates
        // come mostly for the newest.
        if let Some(i) = self.open.iter().rposition(|o| o.epoch <= e) {
            if self.open[i].epoch == e {
                return i;
            }
            self.open_at(i + 1, e)
        } else {
            self.open_at(0, e)
        }
    }

    #[cold]
    fn open_at(&mut self, i: usize, e: u64) -> usize {
        let services_per_shard = self.engine.budget.services_per_shard;
        let flows = self
            .spare
            .pop()
            .unwrap_or_else(|| FlowTable::new(FLOW_TABLE));
        self.open.insert(
            i,
            OpenEpoch {
                epoch: e,
                totals: EpochTotals::default(),
                flows,
                pending: None,
                services: (0..SHARDS)
                    .map(|_| ServiceTable::new(services_per_shard))
                    .collect(),
            },
        );
        i
    }

    /// Takes one update in: its epoch, its exact totals, the handshake
    /// tracker, its flow; closes the epochs its event time completes.
    #[inline]
    pub fn push(&mut self, u: &mut FlowUpdate) {
        let p = self.clock.place(&mut u.ts_ns);
        let i = self.epoch_index(p.epoch);
        let ep = &mut self.open[i];
        ep.totals.add(u);
        if p.late {
            ep.totals.late += 1;
            self.late.inc();
        }
        if p.future {
            ep.totals.future += 1;
            self.future.inc();
        }
        if u.is_ip() {
            // Packets only: a flow record's flags are an OR over the flow.
            if u.proto == FlowUpdate::TCP && u.has_ports && u.wire_len > 0 {
                self.conns.observe(u, &mut ep.services);
            }
            if !ep.flows.add(u) {
                self.table_full(i);
                self.open[i].flows.add(u);
            }
        }
        if let Some(x) = p.close {
            self.close_through(x);
        }
    }

    /// A live source's clock reads `now`: closes the epochs it completes.
    pub fn tick(&mut self, now: u64) {
        if let Some(x) = self.clock.tick(now) {
            self.close_through(x);
        }
    }

    /// A flush buffer, reused once the workers let go of it.
    fn buffer(&mut self) -> Flush {
        let most = SPARE_FLUSHES + 2 * self.workers();
        loop {
            if let Some(i) = self.pool.iter().position(|b| Arc::strong_count(b) == 1) {
                if let Ok(mut f) = Arc::try_unwrap(self.pool.swap_remove(i)) {
                    f.clear();
                    return f;
                }
            }
            if self.pool.len() < most {
                return Flush::new(self.workers());
            }
            // Every buffer is with the workers: wait for one.
            std::thread::sleep(std::time::Duration::from_micros(20));
        }
    }

    fn workers(&self) -> usize {
        match &self.outlet {
            Outlet::Workers(tx) => tx.len(),
            Outlet::Inline(_) => 0,
        }
    }

    /// Sums the flows of open epoch `i`'s full table into its flush, and
    /// sends the flush once it holds [`FLUSH_FLOWS`] flows.
    fn table_full(&mut self, i: usize) {
        if self.open[i].pending.is_none() {
            let buf = self.buffer();
            self.open[i].pending = Some(buf);
        }
        let ep = &mut self.open[i];
        if let Some(p) = ep.pending.as_mut() {
            p.take_from(&mut ep.flows);
            if p.flows() >= FLUSH_FLOWS {
                self.flush_flows(i);
            }
        }
    }

    /// Hands the flows of open epoch `i` to the sketches.
    fn flush_flows(&mut self, i: usize) {
        let ep = &mut self.open[i];
        if ep.flows.is_empty() && ep.pending.is_none() {
            return;
        }
        let e = ep.epoch;
        let mut buf = match ep.pending.take() {
            Some(b) => b,
            None => self.buffer(),
        };
        buf.take_from(&mut self.open[i].flows);
        buf.seal();
        buf.seq = self.flushes;
        self.flushes += 1;
        self.engine.metrics.batches.inc();
        match &mut self.outlet {
            Outlet::Inline(state) => {
                state.apply(e, &buf);
                self.pool.push(Arc::new(buf));
            }
            Outlet::Workers(tx) => {
                let buf = Arc::new(buf);
                for t in tx.iter() {
                    // A worker only hangs up when the run is over.
                    let _ = t.send(WorkerMsg::Flows(e, Arc::clone(&buf)));
                }
                self.pool.push(buf);
            }
        }
    }

    /// Closes every epoch through `x`: handshakes that timed out by its end
    /// fail, then each epoch's flows, handshake statistics and totals go
    /// out, and the workers (or the inline state) flush their partials.
    fn close_through(&mut self, x: u64) {
        // Timed-out handshakes count in the newest open epoch up to `x`,
        // else the oldest after it: never in an epoch of their own, which
        // would have no totals.
        let now = (x + 1).saturating_mul(self.engine.cfg.epoch_ns);
        let i = self
            .open
            .iter()
            .rposition(|o| o.epoch <= x)
            .or_else(|| self.open.iter().position(|o| o.epoch > x));
        if let Some(i) = i {
            self.conns.expire(now, &mut self.open[i].services);
        }
        while self.open.first().is_some_and(|o| o.epoch <= x) {
            self.ship(0);
        }
        match &mut self.outlet {
            Outlet::Inline(state) => state.close(x, &self.merge),
            Outlet::Workers(tx) => {
                for t in tx.iter() {
                    let _ = t.send(WorkerMsg::Close(x));
                }
            }
        }
    }

    /// Sends everything of open epoch `i` and forgets it.
    fn ship(&mut self, i: usize) {
        self.flush_flows(i);
        let mut ep = self.open.remove(i);
        let e = ep.epoch;
        let services: Vec<ServiceTable> = std::mem::take(&mut ep.services);
        match &mut self.outlet {
            Outlet::Inline(state) => state.services(e, services.into_iter().enumerate().collect()),
            Outlet::Workers(tx) => {
                let n = tx.len();
                let mut per: Vec<Vec<(usize, ServiceTable)>> = (0..n).map(|_| Vec::new()).collect();
                for (s, t) in services.into_iter().enumerate() {
                    per[s % n].push((s, t));
                }
                for (t, tables) in tx.iter().zip(per) {
                    let _ = t.send(WorkerMsg::Services(e, tables));
                }
            }
        }
        let _ = self.merge.send(MergeMsg::Totals(e, ep.totals));
        self.spare.push(ep.flows);
    }

    /// The end of input: every open epoch goes out; the workers flush
    /// theirs when their queues disconnect.
    pub fn finish(mut self) {
        // Handshakes still in progress count as `open` in the last epoch.
        if let Some(ep) = self.open.last_mut() {
            self.conns.finish(&mut ep.services);
        }
        while !self.open.is_empty() {
            self.ship(0);
        }
        if let Outlet::Inline(state) = self.outlet {
            state.finish(&self.merge);
        }
    }

    /// Whether any worker queue is full (a shedding source drops then).
    pub fn queues_full(&self) -> bool {
        match &self.outlet {
            Outlet::Workers(tx) => tx.iter().any(|t| t.is_full()),
            Outlet::Inline(_) => false,
        }
    }
}
