//! What a closed epoch or a window holds, and the queries it answers:
//! the exact totals and the merge live here; rankings (`top.rs`),
//! distinct counts and DataSketches export (`distinct.rs`), and the
//! per-address counters and services the detectors read (`counters.rs`)
//! each answer from the shards' sketches.

use capture::{FlowUpdate, ProtocolCounts};

use crate::keys::SHARDS;
use crate::shard::{Budget, ShardSketches};

mod counters;
mod distinct;
mod top;

pub use counters::{Counter, Handshake};
pub use top::{TopItem, TopRow};

/// What the overload mode's sampling left in a summary's rankings: the
/// bounds of the source, pair and port rankings are widened by it
/// ([`crate::shard::widen`]) and hold with probability `confidence` each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// Flushed sums under this many packets were sampled.
    pub below_packets: u64,
    /// Each widened bound holds with this probability.
    pub confidence: f64,
    /// The largest weighed-up increment a sampled ranking took, bytes and
    /// packets.
    pub max_increment: (u64, u64),
    /// Every sampled estimate is within `eps * total` of the truth (total:
    /// the summary's IP bytes, packets) with probability `confidence`.
    pub eps: (f64, f64),
}

/// Exact counters of an epoch or window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochTotals {
    /// Packets (flow input: packets the records stand for).
    pub packets: u64,
    /// Sum of frame lengths.
    pub wire_bytes: u64,
    /// Per protocol and TCP flag.
    pub proto: ProtocolCounts,
    /// Updates that arrived after their epoch closed, folded into a later
    /// epoch.
    pub late: u64,
    /// Updates of a live source stamped ahead of its clock (an exporter's
    /// clock ahead, a garbage timestamp), counted at the clock instead.
    pub future: u64,
}

impl EpochTotals {
    /// Counts one update.
    #[inline]
    pub fn add(&mut self, u: &FlowUpdate) {
        self.packets = self.packets.saturating_add(u.packets as u64);
        self.wire_bytes = self.wire_bytes.saturating_add(u.wire_len as u64);
        self.proto.add(u);
    }

    /// Adds every counter of `o`.
    pub fn merge(&mut self, o: &EpochTotals) {
        self.packets = self.packets.saturating_add(o.packets);
        self.wire_bytes = self.wire_bytes.saturating_add(o.wire_bytes);
        self.proto.merge(&o.proto);
        self.late = self.late.saturating_add(o.late);
        self.future = self.future.saturating_add(o.future);
    }
}

/// A closed epoch, or the merge of several (a window, a whole run).
#[derive(Debug, Clone)]
pub struct Summary {
    /// Start of the first epoch covered, ns.
    pub start_ns: u64,
    /// End of the last epoch covered, ns (exclusive).
    pub end_ns: u64,
    /// Exact counters.
    pub totals: EpochTotals,
    /// A window that covers less of the stream than its length: the first
    /// windows of a stream (starting before its first epoch) and the last
    /// one at the end of input or on shutdown (ending after its last).
    /// Always false for epochs and the run total.
    pub partial: bool,
    /// One entry per key shard, or none at all for a summary of empty
    /// epochs: it allocates nothing and merges as the identity.
    pub(crate) shards: Vec<ShardSketches>,
}

/// Packets from which merging a summary into another is split over two
/// threads.
const PARALLEL_MERGE_PACKETS: u64 = 5_000;

impl Summary {
    /// The overload mode's effect on this summary, if anything was sampled.
    pub fn sampling(&self) -> Option<Sampling> {
        let mut m = crate::shard::SampledMax::default();
        for s in &self.shards {
            m.merge(&s.sampled);
        }
        (m.threshold > 0).then(|| Sampling {
            below_packets: m.threshold,
            confidence: 1.0 - crate::shard::DELTA,
            max_increment: (m.bytes, m.packets),
            eps: (
                crate::shard::epsilon(self.totals.proto.ip_bytes, m.bytes),
                crate::shard::epsilon(self.totals.packets, m.packets),
            ),
        })
    }

    /// A summary with every sketch allocated and empty (what a run with
    /// no traffic reports, so exports have sketches to write).
    pub(crate) fn empty(start_ns: u64, end_ns: u64, budget: &Budget) -> Summary {
        Summary {
            shards: (0..SHARDS).map(|_| ShardSketches::new(budget)).collect(),
            ..Summary::nothing(start_ns, end_ns)
        }
    }

    /// An epoch without updates: no sketch allocated, every query answers
    /// zero or nothing, and merging it changes only the time span. This is
    /// what keeps a long quiet stretch (a gap of days in a replay, an idle
    /// link) cheap while every epoch and window of it is still emitted.
    pub(crate) fn nothing(start_ns: u64, end_ns: u64) -> Summary {
        Summary {
            start_ns,
            end_ns,
            totals: EpochTotals::default(),
            partial: false,
            shards: Vec::new(),
        }
    }

    /// Merges a later (or earlier) epoch or window into this one.
    pub fn merge(&mut self, o: &Summary) {
        self.merge_with(o, ShardSketches::merge);
    }

    /// As [`Summary::merge`], taking `o`: into a summary without sketches
    /// (an empty epoch starting a window) `o`'s sketches move instead of
    /// being copied. Returns what is left of `o`, for its storage.
    pub(crate) fn absorb(&mut self, mut o: Summary) -> Summary {
        if self.shards.is_empty() {
            std::mem::swap(&mut self.shards, &mut o.shards);
        }
        self.merge(&o);
        o
    }

    /// As [`Summary::merge`], but for the four address rankings, which a
    /// run total takes from the flushes instead ([`ShardSketches::merge_rest`]).
    pub(crate) fn merge_rest(&mut self, o: &Summary) {
        self.merge_with(o, ShardSketches::merge_rest);
    }

    fn merge_with(&mut self, o: &Summary, merge: fn(&mut ShardSketches, &ShardSketches)) {
        self.start_ns = self.start_ns.min(o.start_ns);
        self.end_ns = self.end_ns.max(o.end_ns);
        self.totals.merge(&o.totals);
        if self.shards.is_empty() {
            self.shards.clone_from(&o.shards);
            return;
        }
        // A busy epoch's merge (dense Count-Min rows and HLL registers in
        // every shard, about a millisecond) is split over two threads: the
        // merging thread is the pipeline's one serial stage, and the
        // workers' cores have room. A quiet epoch's is not worth a thread.
        if o.totals.packets >= PARALLEL_MERGE_PACKETS && self.shards.len() == o.shards.len() {
            let half = self.shards.len() / 2;
            let (a1, a2) = self.shards.split_at_mut(half);
            let (b1, b2) = o.shards.split_at(half);
            std::thread::scope(|sc| {
                sc.spawn(|| {
                    for (a, b) in a2.iter_mut().zip(b2) {
                        merge(a, b);
                    }
                });
                for (a, b) in a1.iter_mut().zip(b1) {
                    merge(a, b);
                }
            });
            return;
        }
        for (a, b) in self.shards.iter_mut().zip(&o.shards) {
            merge(a, b);
        }
    }
}
