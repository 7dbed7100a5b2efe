//! One shard's services over an epoch or window: Space-Saving admission
//! over handshake events, and how a pending handshake ends.

use capture::Ip;

use super::rtt::histogram_bytes;
use super::service::ServiceStats;

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
pub(super) enum Outcome {
    Completed,
    Refused,
    Unanswered,
    Incomplete,
    Open,
}

/// Which event to count for a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
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

    pub(super) fn count(&mut self, key: (u128, u16), ev: Event) {
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
pub(super) struct Pending {
    pub(super) syn_ts: u64,
    pub(super) syn_seq: u32,
    /// SYN-ACK time and sequence number, once answered.
    pub(super) synack: Option<(u64, u32)>,
}

impl Pending {
    /// The event of the handshake ending with `outcome`; `unanswered` (or
    /// what stands for it) becomes incomplete after a SYN-ACK.
    #[inline]
    pub(super) fn ended(&self, outcome: Outcome) -> Event {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One attempt ended (open, no round trip), for the Space-Saving tests.
    const ATTEMPT: Event = Event::Ended {
        outcome: Outcome::Open,
        server_rtt_ns: None,
        client_rtt_ns: None,
    };

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
