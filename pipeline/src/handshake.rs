//! TCP handshakes per service: round-trip times and connection failures.
//!
//! A *service* is a server address and port. For every connection the
//! pipeline sees open, it measures two round trips from the vantage point:
//!
//! ```text
//!   client            vantage            server
//!     │── SYN ───────────►│─────────────────►│   ┐
//!     │                   │◄──────── SYN-ACK ─│   ┘ server side
//!     │◄──────────────────│                   │   ┐
//!     │── ACK ───────────►│                   │   ┘ client side
//! ```
//!
//! and classifies attempts that fail: `refused` (the server answered the
//! SYN with a RST), `unanswered` (no SYN-ACK or RST within the handshake
//! timeout), `incomplete` (SYN-ACK sent, no ACK from the client in time, or
//! the client reset).
//!
//! Accounting: a handshake is counted once, when it ends (completed,
//! refused, timed out, reset) or at the end of input (`open`), in the
//! epoch where that happens: its attempt, its outcome and its round trips
//! together, in one service's statistics. So in every epoch, window and run
//! total, `attempts = completed + incomplete + refused + unanswered + open`
//! and `answered` (SYN-ACKed: completed, incomplete, or open after a
//! SYN-ACK) is at most `attempts`, ratios are at most 1, whatever the
//! epochs or the Space-Saving admission did. A SYN with the sequence number
//! of the pending one is a retransmission, counted apart, never an attempt.
//! (Counting the attempt at the SYN and the outcome at the timeout put them
//! in different epochs, and Space-Saving could admit a service between the
//! two: windows showed more unanswered than attempts.)
//!
//! Determinism: pending handshakes live in per-shard tables sharded by the
//! service, so all of one service's connections are in one shard, which
//! sees the same packets in the same order whatever the worker count. A
//! timed-out handshake is counted in the epoch whose close finds it expired,
//! and closes fall at fixed points of the stream, so the counts do not
//! depend on threads or speed either.
//!
//! Bounded memory: each shard holds at most `table_capacity` pending
//! handshakes (SYNs beyond that are counted as `untracked`, not measured)
//! and each shard's epoch statistics track at most `capacity` services with
//! Space-Saving admission (every service with more than `attempts /
//! capacity` attempts in the shard is tracked; the rest, and what a
//! tracked service did before it was admitted, go to `other`). Round-trip
//! times are HdrHistograms with 2 significant digits (relative error under
//! 1/128) from 1 µs to 60 s, allocated only for services that have one.

use std::collections::HashMap;

use capture::{tcp_flags as tf, FlowUpdate, Ip};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use sketches::hash::{hash_u128, DEFAULT_SEED};

use crate::keys::shard_of;

/// Round-trip times are recorded in microseconds from 1 µs...
pub const RTT_LOW_US: u64 = 1;
/// ...to 60 s (larger values are clamped)...
pub const RTT_HIGH_US: u64 = 60_000_000;
/// ...with 2 significant digits.
pub const RTT_SIGFIG: u8 = 2;

/// A round-trip time histogram, in microseconds.
pub type RttHistogram = Histogram<u32>;

fn new_histogram() -> RttHistogram {
    Histogram::new_with_bounds(RTT_LOW_US, RTT_HIGH_US, RTT_SIGFIG).expect("valid bounds")
}

/// Bytes one round-trip histogram takes.
pub fn histogram_bytes() -> usize {
    new_histogram().distinct_values() * std::mem::size_of::<u32>() + 64
}

/// The shard whose tables hold a service's handshakes.
#[inline]
pub fn service_shard(server: u128, port: u16) -> usize {
    shard_of(hash_u128(
        server,
        DEFAULT_SEED ^ 0x5e7 ^ ((port as u64) << 40),
    ))
}

/// Round-trip samples of one service: the first few kept as they are (a
/// busy link sees thousands of services with a handshake or two each, and
/// a histogram costs 10 KiB), an HdrHistogram beyond.
#[derive(Debug, Clone)]
pub enum Rtt {
    /// Up to [`Rtt::SPARSE`] samples, in µs.
    Sparse(u8, [u32; Rtt::SPARSE]),
    /// Every sample, in µs.
    Dense(Box<RttHistogram>),
}

impl Default for Rtt {
    fn default() -> Rtt {
        Rtt::Sparse(0, [0; Rtt::SPARSE])
    }
}

impl Rtt {
    /// Samples held before switching to a histogram.
    pub const SPARSE: usize = 8;

    /// Records one round trip of `ns`.
    #[inline]
    pub fn record_ns(&mut self, ns: u64) {
        self.record_us((ns / 1000).clamp(RTT_LOW_US, RTT_HIGH_US));
    }

    fn record_us(&mut self, us: u64) {
        match self {
            Rtt::Sparse(n, v) if (*n as usize) < Rtt::SPARSE => {
                v[*n as usize] = us as u32;
                *n += 1;
            }
            Rtt::Sparse(..) => {
                let mut h = self.to_histogram();
                h.saturating_record(us);
                *self = Rtt::Dense(Box::new(h));
            }
            Rtt::Dense(h) => h.saturating_record(us),
        }
    }

    /// Adds every sample of `o`.
    pub fn merge(&mut self, o: &Rtt) {
        match o {
            Rtt::Sparse(n, v) => {
                for &us in &v[..*n as usize] {
                    self.record_us(us as u64);
                }
            }
            Rtt::Dense(oh) => match self {
                // Same bounds by construction; counts saturate.
                Rtt::Dense(h) => {
                    let _ = h.add(&**oh);
                }
                Rtt::Sparse(..) => {
                    let mine = std::mem::replace(self, Rtt::Dense(oh.clone()));
                    self.merge(&mine);
                }
            },
        }
    }

    /// Samples held.
    pub fn len(&self) -> u64 {
        match self {
            Rtt::Sparse(n, _) => *n as u64,
            Rtt::Dense(h) => h.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples as a histogram (a copy).
    pub fn to_histogram(&self) -> RttHistogram {
        match self {
            Rtt::Sparse(n, v) => {
                let mut h = new_histogram();
                for &us in &v[..*n as usize] {
                    h.saturating_record(us as u64);
                }
                h
            }
            Rtt::Dense(h) => (**h).clone(),
        }
    }

    /// The `q` quantile's HdrHistogram bucket `(lowest, highest)`, in ns:
    /// the true sample lies inside it. `None` without samples.
    pub fn quantile_ns(&self, q: f64) -> Option<(u64, u64)> {
        if self.is_empty() {
            return None;
        }
        let with = |h: &RttHistogram| {
            let v = h.value_at_quantile(q);
            (
                h.lowest_equivalent(v) * 1000,
                h.highest_equivalent(v) * 1000,
            )
        };
        Some(match self {
            Rtt::Dense(h) => with(h),
            Rtt::Sparse(..) => with(&self.to_histogram()),
        })
    }
}

/// Handshake counts and round-trip times of one service (or of the
/// `other` bucket) over an epoch or window.
#[derive(Debug, Clone, Default)]
pub struct ServiceStats {
    /// Connection attempts that ended here (first SYNs; retransmissions
    /// not counted): the sum of the five outcomes below.
    pub attempts: u64,
    /// Handshakes begun here (first SYNs), whenever they end: what an
    /// outage shows before its SYNs time out. Not part of `attempts`.
    pub started: u64,
    /// SYN retransmissions (same sequence number).
    pub syn_retransmits: u64,
    /// Attempts a SYN-ACK answered (completed, incomplete, or open after
    /// the SYN-ACK).
    pub answered: u64,
    /// Handshakes completed by the client's ACK.
    pub completed: u64,
    /// SYNs answered with a RST by the server.
    pub refused: u64,
    /// SYNs with neither SYN-ACK nor RST within the timeout.
    pub unanswered: u64,
    /// SYN-ACKs the client never acknowledged in time, or reset.
    pub incomplete: u64,
    /// Handshakes still in progress at the end of input.
    pub open: u64,
    /// Server side: SYN (the first) to SYN-ACK.
    pub server_rtt: Rtt,
    /// Client side: SYN-ACK to the client's ACK.
    pub client_rtt: Rtt,
}

impl ServiceStats {
    /// Adds every count and histogram of `o`.
    pub fn merge(&mut self, o: &ServiceStats) {
        self.attempts += o.attempts;
        self.started += o.started;
        self.syn_retransmits += o.syn_retransmits;
        self.answered += o.answered;
        self.completed += o.completed;
        self.refused += o.refused;
        self.unanswered += o.unanswered;
        self.incomplete += o.incomplete;
        self.open += o.open;
        self.server_rtt.merge(&o.server_rtt);
        self.client_rtt.merge(&o.client_rtt);
    }

    /// Failed attempts: refused or unanswered.
    pub fn failures(&self) -> u64 {
        self.refused + self.unanswered
    }
}

/// Quantiles of round-trip samples, in ns, as JSON: `count`, `p50`, `p90`,
/// `p99`, `max`, each the top of its HdrHistogram bucket (at most 1/128
/// above the true sample). `null` without samples.
pub fn rtt_json(r: &Rtt) -> Value {
    if r.is_empty() {
        return Value::Null;
    }
    let h = match r {
        Rtt::Dense(h) => std::borrow::Cow::Borrowed(&**h),
        Rtt::Sparse(..) => std::borrow::Cow::Owned(r.to_histogram()),
    };
    let q = |x: f64| h.value_at_quantile(x) * 1000;
    json!({
        "count": h.len(),
        "p50": q(0.5),
        "p90": q(0.9),
        "p99": q(0.99),
        "max": h.highest_equivalent(h.max()) * 1000,
    })
}

/// A service's handshakes over an epoch or window.
#[derive(Debug, Clone)]
pub struct ServiceReport {
    /// Server address.
    pub server: Ip,
    /// Server port.
    pub port: u16,
    /// Handshake events (attempts, answers, failures) it may have had
    /// before it was tracked, counted in `other` instead: 0 means its
    /// statistics are complete.
    pub missed_upper: u64,
    /// Counts and round-trip times.
    pub stats: ServiceStats,
}

impl ServiceReport {
    /// `addr:port` (`[v6]:port` for IPv6).
    pub fn name(&self) -> String {
        service_name(self.server, self.port)
    }
}

/// `addr:port`, with brackets around IPv6 addresses.
pub fn service_name(ip: Ip, port: u16) -> String {
    if ip.to_v4().is_some() {
        format!("{ip}:{port}")
    } else {
        format!("[{ip}]:{port}")
    }
}

impl ServiceStats {
    /// Counts, failure ratio and round-trip quantiles as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "attempts": self.attempts,
            "started": self.started,
            "syn_retransmits": self.syn_retransmits,
            "answered": self.answered,
            "completed": self.completed,
            "refused": self.refused,
            "unanswered": self.unanswered,
            "incomplete": self.incomplete,
            "open": self.open,
            "failure_ratio": self.failure_ratio(),
            "server_rtt_ns": rtt_json(&self.server_rtt),
            "client_rtt_ns": rtt_json(&self.client_rtt),
        })
    }

    /// Failures over attempts (0 without attempts).
    pub fn failure_ratio(&self) -> f64 {
        if self.attempts == 0 {
            0.0
        } else {
            self.failures() as f64 / self.attempts as f64
        }
    }
}

/// One tracked service.
#[derive(Debug, Clone)]
struct Slot {
    key: (u128, u16),
    /// Events counted for it, plus what it inherited on admission.
    weight: u64,
    /// What it inherited: its attempts are at least `weight - error`.
    error: u64,
    stats: ServiceStats,
}

/// The services of one shard over an epoch or window.
#[derive(Debug, Clone)]
pub struct ServiceTable {
    slots: Vec<Slot>,
    /// What tracked services did before they were admitted, and what
    /// services evicted since did.
    pub other: ServiceStats,
    /// SYNs not tracked because the pending-handshake table was full.
    pub untracked: u64,
    /// Most events a service not tracked here can have in `other`: the
    /// sum, over the merged epochs, of the largest weight evicted.
    evicted: u64,
    capacity: usize,
}

/// How a handshake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Completed,
    Refused,
    Unanswered,
    Incomplete,
    Open,
}

/// Which event to count for a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// A first SYN.
    Started,
    Retransmit,
    /// One attempt, ended: its outcome and its round trips (server side
    /// once answered, client side once completed).
    Ended {
        outcome: Outcome,
        server_rtt_ns: Option<u64>,
        client_rtt_ns: Option<u64>,
    },
}

impl ServiceTable {
    /// An empty table tracking up to `capacity` services.
    pub fn new(capacity: usize) -> ServiceTable {
        ServiceTable {
            slots: Vec::new(),
            other: ServiceStats::default(),
            untracked: 0,
            evicted: 0,
            capacity: capacity.max(1),
        }
    }

    fn count(&mut self, key: (u128, u16), ev: Event) {
        // A first SYN is noted where its service is tracked, else under
        // `other`, and weighs nothing: admission stays a matter of the
        // handshakes that ended (and retransmissions), as before `started`.
        if ev == Event::Started {
            match self.slots.iter_mut().find(|s| s.key == key) {
                Some(s) => s.stats.started += 1,
                None => self.other.started += 1,
            }
            return;
        }
        // Space-Saving over events: a newcomer takes the least-weighted
        // slot and inherits its weight. Any event admits (a SYN-ACK can
        // open an epoch for its service, its SYN in the one before).
        let i = match self.slots.iter().position(|s| s.key == key) {
            Some(i) => i,
            None => self.admit(key),
        };
        self.slots[i].weight += 1;
        let st = &mut self.slots[i].stats;
        match ev {
            Event::Started => st.started += 1,
            Event::Retransmit => st.syn_retransmits += 1,
            Event::Ended {
                outcome,
                server_rtt_ns,
                client_rtt_ns,
            } => {
                st.attempts += 1;
                if let Some(ns) = server_rtt_ns {
                    st.answered += 1;
                    st.server_rtt.record_ns(ns);
                }
                if let Some(ns) = client_rtt_ns {
                    st.client_rtt.record_ns(ns);
                }
                match outcome {
                    Outcome::Completed => st.completed += 1,
                    Outcome::Refused => st.refused += 1,
                    Outcome::Unanswered => st.unanswered += 1,
                    Outcome::Incomplete => st.incomplete += 1,
                    Outcome::Open => st.open += 1,
                }
            }
        }
    }

    fn admit(&mut self, key: (u128, u16)) -> usize {
        if self.slots.len() < self.capacity {
            self.slots.push(Slot {
                key,
                weight: 0,
                error: 0,
                stats: ServiceStats::default(),
            });
            return self.slots.len() - 1;
        }
        // The least weight; on ties the lowest key, so the choice is a
        // function of the counts alone.
        let (i, _) = self
            .slots
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| (s.weight, s.key))
            .expect("capacity >= 1");
        let old = std::mem::replace(
            &mut self.slots[i],
            Slot {
                key,
                weight: 0,
                error: 0,
                stats: ServiceStats::default(),
            },
        );
        self.other.merge(&old.stats);
        self.evicted = self.evicted.max(old.weight);
        self.slots[i].weight = old.weight;
        self.slots[i].error = old.weight;
        i
    }

    /// Adds another table of the same shard (another epoch). Services are
    /// joined by key; past capacity the least-weighted go to `other`.
    pub fn merge(&mut self, o: &ServiceTable) {
        self.other.merge(&o.other);
        self.untracked += o.untracked;
        self.evicted += o.evicted;
        // A service missing from one side may have been evicted there: its
        // bound grows by that side's eviction bound.
        let mine = self.evicted - o.evicted;
        for m in &mut self.slots {
            if !o.slots.iter().any(|s| s.key == m.key) {
                m.error += o.evicted;
            }
        }
        for s in &o.slots {
            match self.slots.iter_mut().find(|m| m.key == s.key) {
                Some(m) => {
                    m.weight += s.weight;
                    m.error += s.error;
                    m.stats.merge(&s.stats);
                }
                None => {
                    let mut s = s.clone();
                    s.error += mine;
                    self.slots.push(s);
                }
            }
        }
        if self.slots.len() > self.capacity {
            self.slots
                .sort_by(|a, b| b.weight.cmp(&a.weight).then(a.key.cmp(&b.key)));
            let mut dropped = 0;
            for s in self.slots.drain(self.capacity..) {
                dropped = dropped.max(s.weight);
                self.other.merge(&s.stats);
            }
            self.evicted += dropped;
        }
    }

    /// The tracked services: key, the most handshake events it may have
    /// in `other` instead of its statistics (from before it was admitted,
    /// or from an epoch it was evicted in), and its statistics.
    pub fn services(&self) -> impl Iterator<Item = ((Ip, u16), u64, &ServiceStats)> {
        self.slots
            .iter()
            .map(|s| ((Ip(s.key.0), s.key.1), s.error, &s.stats))
    }

    /// Memory the table may take at most, in bytes.
    pub fn max_bytes(capacity: usize) -> usize {
        capacity * (2 * histogram_bytes() + std::mem::size_of::<Slot>())
    }
}

/// A handshake in progress.
#[derive(Debug, Clone, Copy)]
struct Pending {
    syn_ts: u64,
    syn_seq: u32,
    /// SYN-ACK time and sequence number, once answered.
    synack: Option<(u64, u32)>,
}

impl Pending {
    /// The event of the handshake ending with `outcome`; `unanswered` (or
    /// what stands for it) becomes incomplete after a SYN-ACK.
    fn ended(&self, outcome: Outcome) -> Event {
        let outcome = match (outcome, self.synack) {
            (Outcome::Refused | Outcome::Unanswered, Some(_)) => Outcome::Incomplete,
            (o, _) => o,
        };
        Event::Ended {
            outcome,
            server_rtt_ns: self.synack.map(|(ts, _)| ts.saturating_sub(self.syn_ts)),
            client_rtt_ns: None,
        }
    }
}

/// `(client, server, client port, server port)`.
type ConnKey = (u128, u128, u16, u16);

/// Pending handshakes of the shards one worker owns; they persist across
/// epochs.
#[derive(Debug)]
pub struct ConnTables {
    tables: Vec<Option<HashMap<ConnKey, Pending, foldhash::fast::FixedState>>>,
    capacity: usize,
    timeout_ns: u64,
}

/// Where handshake events are counted: one epoch's service tables, by
/// shard.
pub trait ServiceSink {
    /// The table of `shard`, if this worker owns it.
    fn table(&mut self, shard: usize) -> Option<&mut ServiceTable>;
}

impl ServiceSink for Vec<ServiceTable> {
    fn table(&mut self, shard: usize) -> Option<&mut ServiceTable> {
        self.get_mut(shard)
    }
}

impl ConnTables {
    /// Tables for the shards `owner` holds among `owners`, each with room
    /// for `capacity` pending handshakes, which time out after
    /// `timeout_ns`.
    pub fn new(owner: usize, owners: usize, capacity: usize, timeout_ns: u64) -> ConnTables {
        let tables = (0..crate::SHARDS)
            .map(|s| {
                (s % owners == owner)
                    .then(|| HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0x5e7)))
            })
            .collect();
        ConnTables {
            tables,
            capacity,
            timeout_ns,
        }
    }

    /// Follows one TCP segment through its handshake. `tables.table(shard)`
    /// gives the statistics of the segment's epoch for an owned shard.
    #[inline]
    pub fn observe(&mut self, u: &FlowUpdate, tables: &mut impl ServiceSink) {
        let f = u.tcp_flags;
        let (syn, ack, rst) = (f & tf::SYN != 0, f & tf::ACK != 0, f & tf::RST != 0);
        let (src, dst) = (u.src.0, u.dst.0);
        if syn && !ack {
            // Client to server: a new attempt or a retransmission.
            let shard = service_shard(dst, u.dport);
            let Some(t) = self.tables[shard].as_mut() else {
                return;
            };
            let Some(stats) = tables.table(shard) else {
                return;
            };
            let key = (src, dst, u.sport, u.dport);
            let service = (dst, u.dport);
            let full = t.len() >= self.capacity;
            match t.get_mut(&key) {
                // The same sequence number: the client sending its SYN
                // again (also after a SYN-ACK it did not get).
                Some(p) if p.syn_seq == u.tcp_seq => {
                    stats.count(service, Event::Retransmit);
                }
                Some(p) => {
                    // The port pair reused for a new connection: the old
                    // attempt ends unanswered or incomplete.
                    stats.count(service, p.ended(Outcome::Unanswered));
                    *p = Pending {
                        syn_ts: u.ts_ns,
                        syn_seq: u.tcp_seq,
                        synack: None,
                    };
                    stats.count(service, Event::Started);
                }
                None if full => stats.untracked += 1,
                None => {
                    t.insert(
                        key,
                        Pending {
                            syn_ts: u.ts_ns,
                            syn_seq: u.tcp_seq,
                            synack: None,
                        },
                    );
                    stats.count(service, Event::Started);
                }
            }
        } else if syn {
            // SYN-ACK, server to client: acknowledges the SYN's number + 1.
            let shard = service_shard(src, u.sport);
            let Some(t) = self.tables[shard].as_mut() else {
                return;
            };
            let key = (dst, src, u.dport, u.sport);
            let Some(p) = t.get_mut(&key) else { return };
            if p.synack.is_some() || u.tcp_ack != p.syn_seq.wrapping_add(1) {
                return;
            }
            // Counted when the handshake ends, with its attempt.
            p.synack = Some((u.ts_ns, u.tcp_seq));
        } else if rst {
            // From the server (refusing, or the handshake aborted) or from
            // the client (giving up on a SYN-ACK).
            let from_server = ((dst, src, u.dport, u.sport), Outcome::Refused);
            let from_client = ((src, dst, u.sport, u.dport), Outcome::Unanswered);
            for (key, before_answer) in [from_server, from_client] {
                let shard = service_shard(key.1, key.3);
                if let Some(p) = self.tables[shard].as_mut().and_then(|t| t.remove(&key)) {
                    if let Some(stats) = tables.table(shard) {
                        stats.count((key.1, key.3), p.ended(before_answer));
                    }
                    return;
                }
            }
        } else if ack {
            // Client to server, completing an answered handshake: the
            // client's ACK acknowledges the SYN-ACK's number + 1 (data
            // segments carrying that ACK complete it too, if the pure ACK
            // was not captured).
            let shard = service_shard(dst, u.dport);
            let Some(t) = self.tables[shard].as_mut() else {
                return;
            };
            if t.is_empty() {
                return;
            }
            let key = (src, dst, u.sport, u.dport);
            let Some(&p) = t.get(&key) else { return };
            let Some((synack_ts, synack_seq)) = p.synack else {
                return;
            };
            if u.tcp_ack != synack_seq.wrapping_add(1) {
                return;
            }
            t.remove(&key);
            if let Some(stats) = tables.table(shard) {
                let ev = Event::Ended {
                    outcome: Outcome::Completed,
                    server_rtt_ns: Some(synack_ts.saturating_sub(p.syn_ts)),
                    client_rtt_ns: Some(u.ts_ns.saturating_sub(synack_ts)),
                };
                stats.count((dst, u.dport), ev);
            }
        }
    }

    /// Ends the handshakes that timed out by `now_ns` (the end of the
    /// epoch being closed), counting them in that epoch's tables.
    pub fn expire(&mut self, now_ns: u64, tables: &mut impl ServiceSink) {
        let timeout = self.timeout_ns;
        for (shard, t) in self.tables.iter_mut().enumerate() {
            let Some(t) = t.as_mut() else { continue };
            // Count in time and key order, so the services admitted (and
            // any eviction) do not depend on the hash map's iteration order.
            let mut gone: Vec<(ConnKey, Pending)> = t
                .iter()
                .filter(|(_, p)| p.syn_ts.saturating_add(timeout) <= now_ns)
                .map(|(k, p)| (*k, *p))
                .collect();
            if gone.is_empty() {
                continue;
            }
            let Some(stats) = tables.table(shard) else {
                continue;
            };
            gone.sort_unstable_by_key(|(k, p)| (p.syn_ts, *k));
            for (k, p) in gone {
                t.remove(&k);
                stats.count((k.1, k.3), p.ended(Outcome::Unanswered));
            }
        }
    }

    /// Ends every handshake still in progress at the end of input, as
    /// `open` (answered or not), counting them in `tables`.
    pub fn finish(&mut self, tables: &mut impl ServiceSink) {
        for (shard, t) in self.tables.iter_mut().enumerate() {
            let Some(t) = t.as_mut() else { continue };
            if t.is_empty() {
                continue;
            }
            let Some(stats) = tables.table(shard) else {
                continue;
            };
            // Time and key order, as in `expire`.
            let mut left: Vec<(ConnKey, Pending)> = t.drain().collect();
            left.sort_unstable_by_key(|(k, p)| (p.syn_ts, *k));
            for (k, p) in left {
                stats.count((k.1, k.3), p.ended(Outcome::Open));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(ts_ms: u64, src: [u8; 4], dst: [u8; 4], ports: (u16, u16), flags: u8) -> FlowUpdate {
        FlowUpdate {
            ts_ns: ts_ms * 1_000_000,
            src: Ip::v4(src),
            dst: Ip::v4(dst),
            bytes: 40,
            packets: 1,
            proto: FlowUpdate::TCP,
            sport: ports.0,
            dport: ports.1,
            tcp_flags: flags,
            has_ports: true,
            ip_version: 4,
            ..FlowUpdate::default()
        }
    }

    /// One attempt ended (open, no round trip), for the Space-Saving tests.
    const ATTEMPT: Event = Event::Ended {
        outcome: Outcome::Open,
        server_rtt_ns: None,
        client_rtt_ns: None,
    };

    const C: [u8; 4] = [192, 0, 2, 1];
    const S: [u8; 4] = [10, 0, 0, 1];

    /// Runs segments through one worker owning every shard; returns the
    /// merged table.
    fn run(segs: &[FlowUpdate], expire_at_ms: Option<u64>) -> ServiceTable {
        let mut conns = ConnTables::new(0, 1, 1000, 3_000_000_000);
        let mut tables: Vec<ServiceTable> =
            (0..crate::SHARDS).map(|_| ServiceTable::new(8)).collect();
        for u in segs {
            conns.observe(u, &mut tables);
        }
        if let Some(t) = expire_at_ms {
            conns.expire(t * 1_000_000, &mut tables);
        }
        let mut all = ServiceTable::new(8 * crate::SHARDS);
        for t in &tables {
            all.merge(t);
        }
        all
    }

    fn with_seq(mut u: FlowUpdate, seq: u32, ack: u32) -> FlowUpdate {
        u.tcp_seq = seq;
        u.tcp_ack = ack;
        u
    }

    fn service(t: &ServiceTable) -> &ServiceStats {
        t.services().next().expect("one service").2
    }

    #[test]
    fn measures_both_sides_of_a_handshake() {
        let segs = [
            with_seq(seg(1000, C, S, (40000, 443), tf::SYN), 100, 0),
            with_seq(seg(1030, S, C, (443, 40000), tf::SYN | tf::ACK), 900, 101),
            with_seq(seg(1032, C, S, (40000, 443), tf::ACK), 101, 901),
        ];
        let t = run(&segs, None);
        let s = service(&t);
        assert_eq!((s.attempts, s.answered, s.completed), (1, 1, 1));
        assert_eq!(s.server_rtt.len(), 1);
        let (lo, hi) = s.server_rtt.quantile_ns(0.5).unwrap();
        assert!(lo <= 30_000_000 && 30_000_000 <= hi, "{lo} {hi}");
        let (lo, hi) = s.client_rtt.quantile_ns(0.5).unwrap();
        assert!(lo <= 2_000_000 && 2_000_000 <= hi, "{lo} {hi}");
    }

    #[test]
    fn sparse_samples_turn_dense_with_the_same_quantiles() {
        let samples: Vec<u64> = (1..=50).map(|i| i * 7_919_000).collect();
        let mut exact = new_histogram();
        let mut r = Rtt::default();
        let mut merged = Rtt::default();
        for (i, &ns) in samples.iter().enumerate() {
            r.record_ns(ns);
            exact.saturating_record(ns / 1000);
            let mut one = Rtt::default();
            one.record_ns(ns);
            merged.merge(&one);
            assert_eq!(matches!(r, Rtt::Sparse(..)), i < Rtt::SPARSE);
            for q in [0.5, 0.9, 0.99, 1.0] {
                let want = exact.value_at_quantile(q) * 1000;
                assert_eq!(r.quantile_ns(q).unwrap().1, want);
                assert_eq!(merged.quantile_ns(q).unwrap().1, want);
            }
        }
        assert_eq!(r.len(), 50);
    }

    #[test]
    fn classifies_failures() {
        let segs = [
            // Refused.
            with_seq(seg(0, C, S, (1, 25), tf::SYN), 5, 0),
            with_seq(seg(1, S, C, (25, 1), tf::RST | tf::ACK), 0, 6),
            // Retransmitted, then unanswered at the timeout.
            with_seq(seg(0, C, S, (2, 25), tf::SYN), 7, 0),
            with_seq(seg(1000, C, S, (2, 25), tf::SYN), 7, 0),
            // Answered, never acknowledged.
            with_seq(seg(0, C, S, (3, 25), tf::SYN), 9, 0),
            with_seq(seg(5, S, C, (25, 3), tf::SYN | tf::ACK), 50, 10),
            // A SYN-ACK acknowledging the wrong number is not an answer.
            with_seq(seg(0, C, S, (4, 25), tf::SYN), 11, 0),
            with_seq(seg(5, S, C, (25, 4), tf::SYN | tf::ACK), 50, 99),
        ];
        let t = run(&segs, Some(2999));
        let s = service(&t);
        // Attempts count when they end: only the refused one has.
        assert_eq!(s.attempts, 1);
        assert_eq!(s.refused, 1);
        assert_eq!(s.unanswered, 0, "nothing has timed out at 2.999 s");
        let t = run(&segs, Some(3000));
        let s = service(&t);
        assert_eq!(
            (s.refused, s.unanswered, s.incomplete, s.syn_retransmits),
            (1, 2, 1, 1)
        );
        assert_eq!(s.answered, 1);
        assert_eq!(s.attempts, 4);
        assert_eq!(s.failures(), 3);
    }

    /// Issue 16: `unanswered 48 > attempts 42`, failure ratios of 114% and
    /// 200%. Every outcome, however far from its SYN, counts with its
    /// attempt; SYNs sent again (before or after a lost SYN-ACK) are
    /// retransmissions.
    #[test]
    fn outcomes_never_exceed_attempts_across_epochs_and_retransmissions() {
        let mut conns = ConnTables::new(0, 1, 1000, 3_000_000_000);
        let tables =
            |n| -> Vec<ServiceTable> { (0..crate::SHARDS).map(|_| ServiceTable::new(n)).collect() };
        // Epoch 0: ten SYNs, each sent three times; one answered, whose
        // client sends its SYN again (the SYN-ACK lost on the way back).
        let mut e0 = tables(8);
        for p in 0..10u16 {
            for t in [0, 1000, 2000] {
                conns.observe(
                    &with_seq(seg(t, C, S, (p, 80), tf::SYN), 100 + p as u32, 0),
                    &mut e0,
                );
            }
        }
        conns.observe(
            &with_seq(seg(10, S, C, (80, 0), tf::SYN | tf::ACK), 7, 101),
            &mut e0,
        );
        conns.observe(
            &with_seq(seg(2500, C, S, (0, 80), tf::SYN), 100, 0),
            &mut e0,
        );
        // Epoch 5: every one times out, counted there.
        let mut e5 = tables(8);
        conns.expire(5_000_000_000, &mut e5);
        let mut window = tables(8);
        for (w, (a, b)) in window.iter_mut().zip(e0.iter().zip(&e5)) {
            w.merge(a);
            w.merge(b);
        }
        for (name, t) in [("epoch 0", &e0), ("epoch 5", &e5), ("both", &window)] {
            let mut all = ServiceStats::default();
            for s in t {
                all.merge(&s.other);
                for (_, _, st) in s.services() {
                    all.merge(st);
                }
            }
            let outcomes = all.completed + all.incomplete + all.refused + all.unanswered + all.open;
            assert_eq!(all.attempts, outcomes, "{name}: {all:?}");
            assert!(
                all.answered + all.refused + all.unanswered <= all.attempts,
                "{name}"
            );
            assert!(all.failure_ratio() <= 1.0, "{name}");
        }
        let s = service(&e5[service_shard(Ip::v4(S).0, 80)]);
        assert_eq!(
            (s.attempts, s.unanswered, s.incomplete, s.answered),
            (10, 9, 1, 1)
        );
        let s0 = service(&e0[service_shard(Ip::v4(S).0, 80)]);
        // The first SYNs came before the service was tracked (by its first
        // retransmission): under `other`.
        let started: u64 = e0.iter().map(|t| t.other.started).sum::<u64>() + s0.started;
        assert_eq!((s0.attempts, started, s0.syn_retransmits), (0, 10, 21));
    }

    #[test]
    fn handshakes_open_at_the_end_of_input_count_as_open_attempts() {
        let mut conns = ConnTables::new(0, 1, 1000, 3_000_000_000);
        let mut tables: Vec<ServiceTable> =
            (0..crate::SHARDS).map(|_| ServiceTable::new(8)).collect();
        conns.observe(&with_seq(seg(0, C, S, (1, 80), tf::SYN), 5, 0), &mut tables);
        conns.observe(&with_seq(seg(0, C, S, (2, 80), tf::SYN), 9, 0), &mut tables);
        conns.observe(
            &with_seq(seg(5, S, C, (80, 2), tf::SYN | tf::ACK), 50, 10),
            &mut tables,
        );
        conns.finish(&mut tables);
        let s = service(&tables[service_shard(Ip::v4(S).0, 80)]);
        assert_eq!(
            (s.attempts, s.open, s.answered, s.server_rtt.len()),
            (2, 2, 1, 1)
        );
    }

    #[test]
    fn full_table_counts_untracked_syns() {
        let mut conns = ConnTables::new(0, 1, 2, 3_000_000_000);
        let mut tables: Vec<ServiceTable> =
            (0..crate::SHARDS).map(|_| ServiceTable::new(8)).collect();
        for p in 0..5u16 {
            let u = seg(0, C, S, (p, 80), tf::SYN);
            conns.observe(&u, &mut tables);
        }
        conns.finish(&mut tables);
        let untracked: u64 = tables.iter().map(|t| t.untracked).sum();
        let attempts: u64 = tables
            .iter()
            .flat_map(|t| t.services().map(|s| s.2.attempts))
            .sum();
        assert_eq!((attempts, untracked), (2, 3));
    }

    #[test]
    fn space_saving_admission_keeps_busy_services_and_folds_the_rest() {
        // 400 events over capacity 3: any service above 400 / 3 is kept.
        let mut t = ServiceTable::new(3);
        for i in 0..100u16 {
            t.count((1, 443), ATTEMPT);
            t.count((1, 443), ATTEMPT);
            t.count((2, 80), ATTEMPT);
            t.count((3, 1000 + i), ATTEMPT);
        }
        let busy = t.services().find(|s| s.0 .1 == 443).expect("443 is kept");
        // Its statistics hold what it did since admission; what it missed
        // is at most the inherited error.
        assert!(
            busy.2.attempts <= 200 && 200 <= busy.2.attempts + busy.1,
            "{busy:?}"
        );
        let total: u64 = t.services().map(|s| s.2.attempts).sum::<u64>() + t.other.attempts;
        assert_eq!(total, 400, "nothing lost: tracked plus other");
    }

    #[test]
    fn merge_joins_services_and_respects_capacity() {
        let mut a = ServiceTable::new(2);
        let mut b = ServiceTable::new(2);
        for _ in 0..3 {
            a.count((1, 1), ATTEMPT);
            b.count((1, 1), ATTEMPT);
            b.count((2, 2), ATTEMPT);
        }
        a.count((3, 3), ATTEMPT);
        a.merge(&b);
        let mut v: Vec<(u16, u64)> = a.services().map(|s| (s.0 .1, s.2.attempts)).collect();
        v.sort();
        assert_eq!(v, vec![(1, 6), (2, 3)]);
        assert_eq!(a.other.attempts, 1);
    }
}
