//! The decoder: its state, and the dispatch of a datagram on its version.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::*;
use crate::{FlowUpdate, Ip};

/// NetFlow's and IPFIX's version: the first 16 bits.
const VERSION: Field = 0..2;
/// sFlow's version: the first 32-bit word.
const SFLOW_VERSION: Field = 0..4;

/// A data set waiting for its template.
#[derive(Debug)]
pub(super) struct Held {
    /// Arrival order, for giving up the oldest first.
    pub(super) seq: u64,
    /// When it arrived (decoder clock), for the idle timeout.
    pub(super) at_ns: u64,
    pub(super) hdr: Header,
    pub(super) data: Vec<u8>,
}

impl Held {
    /// What it counts against the hold limits.
    pub(super) fn cost(&self) -> usize {
        HELD_OVERHEAD + self.data.len()
    }
}

/// What the message header says, for decoding its records.
#[derive(Debug, Clone, Copy)]
pub(super) struct Header {
    /// Export time, ns since the Unix epoch.
    pub(super) export_ns: u64,
    /// Exporter uptime at export, ms (v9), if known.
    pub(super) sys_uptime_ms: Option<u64>,
}

/// The state of one observation domain (IPFIX) or source id (v9) of one
/// exporter: its templates and what its options data said.
#[derive(Debug, Default)]
pub(super) struct DomainState {
    pub(super) templates: HashMap<u16, Template>,
    /// Rates by sampler or selector id (IE 48/302).
    pub(super) sampler_rates: HashMap<u64, u32>,
    /// Rate stated without a sampler id.
    pub(super) rate: Option<u32>,
    /// systemInitTimeMilliseconds (IE 160).
    pub(super) init_ms: Option<u64>,
}

/// What one exporter address holds in a decoder.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Quota {
    pub(super) templates: usize,
    pub(super) held_bytes: usize,
}

/// `(domain, template id)`.
pub(super) type Key = (Domain, u16);

/// Decodes flow export datagrams, keeping templates and sampling state
/// across them.
///
/// Held data is indexed by template key (a definition finds its sets
/// without scanning) with one arrival order for eviction; every size it
/// keeps is bounded by [`Limits`] and the [`SharedBudget`].
#[derive(Debug)]
pub struct FlowDecoder {
    pub(super) limits: Limits,
    pub(super) budget: Arc<SharedBudget>,
    pub(super) domains: HashMap<Domain, DomainState>,
    /// Templates this decoder keeps (its share of the budget).
    pub(super) templates: usize,
    pub(super) samplers: usize,
    pub(super) per_exporter: HashMap<u128, Quota>,
    pub(super) held: HashMap<Key, VecDeque<Held>>,
    /// `(seq, key)` in arrival order; entries whose set was decoded since
    /// are stale and skipped (and compacted away).
    pub(super) held_order: VecDeque<(u64, Key)>,
    pub(super) held_sets: usize,
    /// Accounted bytes this decoder holds (its share of the budget).
    pub(super) held_bytes: usize,
    pub(super) next_seq: u64,
    /// The decoder's clock: the latest receive time seen.
    pub(super) now_ns: u64,
    pub(super) next_sweep_ns: u64,
    pub(super) last_forced_sweep_ns: Option<u64>,
    /// Templates yielded to newcomers in the clock second `yield_second`.
    pub(super) yields: usize,
    pub(super) yield_second: u64,
    pub(super) sflow: crate::sflow::SflowDecoder,
    /// Counters so far.
    pub counts: FlowCounts,
}

impl FlowDecoder {
    /// A decoder with these limits and a budget of its own.
    pub fn new(limits: Limits) -> FlowDecoder {
        FlowDecoder::with_budget(limits, Arc::new(SharedBudget::default()))
    }

    /// A decoder whose template and hold totals are shared with every
    /// other decoder given the same `budget`.
    pub fn with_budget(limits: Limits, budget: Arc<SharedBudget>) -> FlowDecoder {
        FlowDecoder {
            limits,
            budget,
            domains: HashMap::new(),
            templates: 0,
            samplers: 0,
            per_exporter: HashMap::new(),
            held: HashMap::new(),
            held_order: VecDeque::new(),
            held_sets: 0,
            held_bytes: 0,
            next_seq: 0,
            now_ns: 0,
            next_sweep_ns: 0,
            last_forced_sweep_ns: None,
            yields: 0,
            yield_second: 0,
            sflow: crate::sflow::SflowDecoder::default(),
            counts: FlowCounts::default(),
        }
    }

    /// Templates this decoder keeps.
    pub fn templates_kept(&self) -> usize {
        self.templates
    }

    /// Data sets held for a template, and their accounted bytes.
    pub fn held(&self) -> (usize, usize) {
        (self.held_sets, self.held_bytes)
    }

    /// Decodes one datagram from `exporter` (address and UDP port),
    /// received at `recv_ns` (the event time of sFlow samples, which carry
    /// no clock, and the clock of template timeouts), appending its flow
    /// records to `out`. Errors of single sets or records are counted and
    /// skipped; an error of the whole datagram is counted and returned.
    pub fn decode(
        &mut self,
        exporter: (Ip, u16),
        d: &[u8],
        recv_ns: u64,
        out: &mut Vec<FlowUpdate>,
    ) -> Result<(), FlowError> {
        self.counts.current = exporter.0;
        self.now_ns = self.now_ns.max(recv_ns);
        if self.now_ns >= self.next_sweep_ns {
            self.sweep();
        }
        let r = match u16_at(d, VERSION) {
            None => Err(FlowError::TruncatedHeader),
            // sFlow's version is a 32-bit word; NetFlow has no version 0.
            Some(0) if u32_at(d, SFLOW_VERSION) == Some(5) => {
                let mut cx = crate::sflow::Ctx {
                    counts: &mut self.counts,
                    sender: exporter.0,
                    recv_ns,
                    limits: &self.limits,
                };
                self.sflow.decode(&mut cx, d, out)
            }
            Some(5) => self.v5(d, out),
            Some(9) => self.v9(exporter, d, out),
            Some(10) => self.ipfix(exporter, d, out),
            Some(_) => Err(FlowError::UnknownVersion),
        };
        match r {
            Ok(()) => self.counts.datagrams += 1,
            Err(e) => self.counts.error(e),
        }
        r
    }

    /// Gives up what is still waiting for a template (counted as
    /// `flow_missing_template`, one per data set).
    pub fn finish(&mut self) {
        while self.evict_oldest() {}
        self.held_order.clear();
    }

    /// The latest sFlow interface counters, by agent and ifIndex.
    pub fn sflow_interfaces(&self) -> impl Iterator<Item = &crate::sflow::SflowInterface> {
        self.sflow.interfaces.values()
    }
}

impl Drop for FlowDecoder {
    /// Gives this decoder's share back to the shared budget.
    fn drop(&mut self) {
        SharedBudget::give(&self.budget.templates, self.templates);
        SharedBudget::give(&self.budget.held_bytes, self.held_bytes);
    }
}
