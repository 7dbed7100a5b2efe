//! Data held for its template (indexed by template key, given up oldest
//! first) and the idle timeout of templates and held sets.

use super::*;
use crate::{FlowUpdate, Ip};

impl FlowDecoder {
    /// Drops templates and held sets idle for longer than the timeout,
    /// and domains left without templates; schedules the next sweep.
    pub(super) fn sweep(&mut self) {
        let timeout = self.limits.template_timeout_ns;
        if timeout == 0 {
            self.next_sweep_ns = u64::MAX;
            return;
        }
        // A few sweeps per timeout, at least every 10 s of clock.
        self.next_sweep_ns = self
            .now_ns
            .saturating_add((timeout / 4).clamp(1, 10_000_000_000));
        let Some(cutoff) = self.now_ns.checked_sub(timeout) else {
            return;
        };
        let mut gone = 0usize;
        let mut samplers_gone = 0usize;
        let per_exporter = &mut self.per_exporter;
        self.domains.retain(|domain, st| {
            let before = st.templates.len();
            st.templates.retain(|_, t| t.last_used_ns >= cutoff);
            let n = before - st.templates.len();
            if n > 0 {
                gone += n;
                if let Some(q) = per_exporter.get_mut(&domain.0) {
                    q.templates = q.templates.saturating_sub(n);
                }
            }
            let keep = !st.templates.is_empty();
            if !keep {
                samplers_gone += st.sampler_rates.len();
            }
            keep
        });
        self.templates -= gone;
        self.samplers -= samplers_gone;
        SharedBudget::give(&self.budget.templates, gone);
        // Held sets in arrival order: the oldest go first.
        while let Some(&(seq, key)) = self.held_order.front() {
            match self.held.get(&key).and_then(|q| q.front()) {
                Some(h) if h.seq == seq && h.at_ns >= cutoff => break,
                Some(h) if h.seq == seq => {
                    self.evict_oldest();
                }
                _ => {
                    self.held_order.pop_front();
                }
            }
        }
        self.per_exporter
            .retain(|_, q| q.templates > 0 || q.held_bytes > 0);
    }

    /// Gives up the oldest held data set, counted against its exporter;
    /// `false` when nothing is held.
    pub(super) fn evict_oldest(&mut self) -> bool {
        while let Some((seq, key)) = self.held_order.pop_front() {
            let Some(q) = self.held.get_mut(&key) else {
                continue;
            };
            if q.front().map(|h| h.seq) != Some(seq) {
                continue;
            }
            let h = q.pop_front().expect("front checked above");
            if q.is_empty() {
                self.held.remove(&key);
            }
            self.unaccount_held(key.0 .0, h.cost());
            self.counts
                .error_from(Ip(key.0 .0), FlowError::MissingTemplate);
            return true;
        }
        false
    }

    pub(super) fn unaccount_held(&mut self, exporter: u128, cost: usize) {
        self.held_sets -= 1;
        self.held_bytes -= cost;
        SharedBudget::give(&self.budget.held_bytes, cost);
        if let Some(q) = self.per_exporter.get_mut(&exporter) {
            q.held_bytes = q.held_bytes.saturating_sub(cost);
        }
    }

    /// Decodes the data sets held for a template that just arrived.
    pub(super) fn release(&mut self, domain: Domain, id: u16, out: &mut Vec<FlowUpdate>) {
        let Some(ready) = self.held.remove(&(domain, id)) else {
            return;
        };
        for h in ready {
            self.unaccount_held(domain.0, h.cost());
            self.counts.pending_decoded += 1;
            self.data_set((domain, id), h.hdr, &h.data, out);
        }
        // Their places in the arrival order are stale now: compact it
        // once they outnumber the live ones.
        if self.held_order.len() > 2 * self.held_sets + 1024 {
            let held = &self.held;
            self.held_order.retain(|(seq, key)| {
                held.get(key)
                    .and_then(|q| q.front())
                    .is_some_and(|h| h.seq <= *seq)
            });
        }
    }

    /// Keeps a data set until its template comes: refused (counted) when
    /// its exporter's quota is used up; the oldest held sets of this
    /// decoder are given up (counted) to make room in the shared budget.
    pub(super) fn hold(&mut self, domain: Domain, id: u16, hdr: Header, c: &[u8]) {
        let cost = HELD_OVERHEAD + c.len();
        let mine = self.per_exporter.get(&domain.0).map_or(0, |q| q.held_bytes);
        if mine + cost > self.limits.pending_per_exporter || cost > self.limits.pending_bytes {
            self.counts.error(FlowError::MissingTemplate);
            return;
        }
        while !self.budget.take_held(cost, self.limits.pending_bytes) {
            if !self.evict_oldest() {
                // Other decoders hold the budget.
                self.counts.error(FlowError::MissingTemplate);
                return;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.held_sets += 1;
        self.held_bytes += cost;
        self.per_exporter.entry(domain.0).or_default().held_bytes += cost;
        self.held_order.push_back((seq, (domain, id)));
        self.held.entry((domain, id)).or_default().push_back(Held {
            seq,
            at_ns: self.now_ns,
            hdr,
            data: c.to_vec(),
        });
    }
}
