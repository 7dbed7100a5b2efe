//! Pending handshakes, per shard, across epochs: the connection state
//! machine that turns SYN, SYN-ACK, ACK and RST into handshake events.

use std::collections::HashMap;

use capture::{tcp_flags as tf, FlowUpdate};
use sketches::hash::{hash_u128, DEFAULT_SEED};

use super::table::{Event, Outcome, Pending, ServiceTable};
use crate::keys::shard_of;

/// The shard whose tables hold a service's handshakes.
#[inline]
pub fn service_shard(server: u128, port: u16) -> usize {
    shard_of(hash_u128(
        server,
        DEFAULT_SEED ^ 0x5e7 ^ ((port as u64) << 40),
    ))
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
    use crate::handshake::ServiceStats;
    use capture::Ip;

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
}
