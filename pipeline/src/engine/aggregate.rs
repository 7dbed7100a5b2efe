//! Exact pre-aggregation in front of the sketches.
//!
//! A packet touches two dozen sketch counters (source, destination, pair
//! and port rankings, attack counters, prefix Count-Min rows, distinct
//! counts). Real traffic repeats its flows within an epoch (5-15 packets
//! per flow per second), so the source thread first sums packets and bytes
//! per flow (the 5-tuple) in a small table and the sketches see one
//! weighted update per flow instead of one per packet. Weighted updates
//! keep every contract: Count-Min stays an over-estimate within `eps * N`,
//! Space-Saving keeps `count - error <= truth <= count`, HyperLogLog is
//! idempotent.
//!
//! The table is flushed at fixed points of the stream only: when its epoch
//! closes, or when it is full. Both depend on the input alone (one source
//! thread sees every update in order), never on `--batch` or `--workers`,
//! so the sketches see the same weighted stream however the work is split.
//! A flushed flow carries every hash its keys need, computed once, so the
//! workers hash nothing.

use capture::{tcp_flags as tf, FlowUpdate, Ip};
use sketches::hash::{hash_u128, hash_u128_pair, hash_u64, DEFAULT_SEED};

use crate::keys::{prefix_hash, prefixes, Hashes};
use crate::shard::attack_prefix;

/// One flow's traffic in one epoch (or part of it), summed exactly: what
/// the aggregation table holds (96 bytes, so the table stays in cache).
#[derive(Debug, Clone, Copy)]
pub struct FlowEntry {
    pub src: u128,
    pub dst: u128,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub has_ports: bool,
    /// [`flow_hash`].
    pub hash: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Packets with SYN and not ACK.
    pub syn: u64,
    /// Packets with SYN and ACK.
    pub synack: u64,
    /// Packets with RST.
    pub rst: u64,
}

impl FlowEntry {
    #[inline]
    fn new(u: &FlowUpdate, hash: u64) -> FlowEntry {
        FlowEntry {
            src: u.src.0,
            dst: u.dst.0,
            sport: u.sport,
            dport: u.dport,
            proto: u.proto,
            has_ports: u.has_ports,
            hash,
            packets: 0,
            bytes: 0,
            syn: 0,
            synack: 0,
            rst: 0,
        }
    }

    #[inline]
    fn add(&mut self, u: &FlowUpdate) {
        let p = u.packets as u64;
        self.packets = self.packets.saturating_add(p);
        self.bytes = self.bytes.saturating_add(u.bytes);
        if u.proto == FlowUpdate::TCP {
            let f = u.tcp_flags;
            if f & (tf::SYN | tf::ACK) == tf::SYN {
                self.syn = self.syn.saturating_add(p);
            } else if f & (tf::SYN | tf::ACK) == tf::SYN | tf::ACK {
                self.synack = self.synack.saturating_add(p);
            }
            if f & tf::RST != 0 {
                self.rst = self.rst.saturating_add(p);
            }
        }
    }

    #[inline]
    fn same_flow(&self, u: &FlowUpdate) -> bool {
        self.src == u.src.0
            && self.dst == u.dst.0
            && self.sport == u.sport
            && self.dport == u.dport
            && self.proto == u.proto
            && self.has_ports == u.has_ports
    }
}

/// A flushed flow: its sums and the hash of every sketch key it updates,
/// computed once on the source thread.
#[derive(Debug, Clone, Copy)]
pub struct FlowAgg {
    pub flow: FlowEntry,
    pub hashes: Hashes,
    /// Count-Min keys of the source's and the destination's prefixes.
    pub src_prefix: [u64; 4],
    pub dst_prefix: [u64; 4],
    /// The destination's attack prefix and its hash.
    pub attack_prefix: u128,
    pub attack_prefix_hash: u64,
}

impl FlowAgg {
    /// Hashes every key of `f`.
    pub fn of(f: &FlowEntry) -> FlowAgg {
        let (src, dst) = (Ip(f.src), Ip(f.dst));
        let h = Hashes::of_key(src, dst, f.sport, f.dport, f.proto);
        debug_assert_eq!(h.flow, f.hash);
        let mut src_prefix = [0; 4];
        for (o, &len) in src_prefix.iter_mut().zip(prefixes(src)) {
            *o = prefix_hash(src, len);
        }
        let mut dst_prefix = [0; 4];
        for (o, &len) in dst_prefix.iter_mut().zip(prefixes(dst)) {
            *o = prefix_hash(dst, len);
        }
        let ap = attack_prefix(f.dst);
        FlowAgg {
            flow: *f,
            hashes: h,
            src_prefix,
            dst_prefix,
            attack_prefix: ap,
            attack_prefix_hash: hash_u128(ap, DEFAULT_SEED ^ 0x24),
        }
    }
}

/// The flow hash of an update: the key of the distinct-flows sketches and
/// of the aggregation table.
#[inline]
pub fn flow_hash(u: &FlowUpdate) -> u64 {
    let ports = (u.sport as u64) << 24 | (u.dport as u64) << 8 | u.proto as u64;
    hash_u64(ports, hash_u128_pair(u.src.0, u.dst.0, DEFAULT_SEED ^ 1))
}

/// Flows of one epoch summed exactly, in first-seen order. Open
/// addressing over a power-of-two slot array at most half full; the flows
/// themselves sit in one vector, so a flush walks them in order.
#[derive(Debug)]
pub struct FlowTable {
    /// `flow index + 1`, 0 for an empty slot.
    slots: Box<[u32]>,
    flows: Vec<FlowEntry>,
    capacity: usize,
}

impl FlowTable {
    /// A table holding up to `capacity` flows (a power of two at least 16).
    pub fn new(capacity: usize) -> FlowTable {
        let capacity = capacity.next_power_of_two().max(16);
        FlowTable {
            slots: vec![0; 2 * capacity].into_boxed_slice(),
            flows: Vec::with_capacity(capacity),
            capacity,
        }
    }

    /// Whether no flow is held.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Whether the next new flow would not fit.
    pub fn is_full(&self) -> bool {
        self.flows.len() >= self.capacity
    }

    /// Adds an IP update to its flow; false, and nothing added, when it
    /// is a new flow and the table is full (flush it, then add again).
    #[inline]
    pub fn add(&mut self, u: &FlowUpdate) -> bool {
        let h = flow_hash(u);
        let mask = self.slots.len() - 1;
        let mut i = (h >> 32) as usize & mask;
        loop {
            let s = self.slots[i];
            if s == 0 {
                if self.is_full() {
                    return false;
                }
                let mut f = FlowEntry::new(u, h);
                f.add(u);
                self.flows.push(f);
                self.slots[i] = self.flows.len() as u32;
                return true;
            }
            let f = &mut self.flows[s as usize - 1];
            if f.hash == h && f.same_flow(u) {
                f.add(u);
                return true;
            }
            i = (i + 1) & mask;
        }
    }

    /// Appends the flows, hashed, in first-seen order to `out` and
    /// empties the table.
    pub fn drain_into(&mut self, out: &mut Vec<FlowAgg>) {
        out.extend(self.flows.iter().map(FlowAgg::of));
        self.clear();
    }

    /// The flows, in first-seen order.
    #[cfg(test)]
    pub fn flows(&self) -> &[FlowEntry] {
        &self.flows
    }

    /// Empties the table, keeping its storage.
    pub fn clear(&mut self) {
        self.slots.fill(0);
        self.flows.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(src: u8, dst: u8, dport: u16, bytes: u64, flags: u8) -> FlowUpdate {
        FlowUpdate {
            src: Ip::v4([10, 0, 0, src]),
            dst: Ip::v4([10, 0, 1, dst]),
            sport: 40000,
            dport,
            proto: FlowUpdate::TCP,
            has_ports: true,
            ip_version: 4,
            packets: 1,
            bytes,
            tcp_flags: flags,
            ..FlowUpdate::default()
        }
    }

    #[test]
    fn packets_of_one_flow_sum_exactly_in_first_seen_order() {
        let mut t = FlowTable::new(16);
        for u in [
            pkt(2, 1, 80, 60, tf::SYN),
            pkt(1, 1, 80, 40, tf::SYN),
            pkt(2, 1, 80, 1500, tf::ACK),
            pkt(2, 1, 80, 40, tf::RST | tf::ACK),
            pkt(2, 1, 443, 52, tf::SYN | tf::ACK),
        ] {
            assert!(t.add(&u));
        }
        let mut out = Vec::new();
        t.drain_into(&mut out);
        let f: Vec<FlowEntry> = out.iter().map(|a| a.flow).collect();
        assert_eq!(f.len(), 3);
        assert_eq!((f[0].src as u8, f[0].packets, f[0].bytes), (2, 3, 1600));
        assert_eq!((f[0].syn, f[0].synack, f[0].rst), (1, 0, 1));
        assert_eq!((f[1].src as u8, f[1].packets, f[1].bytes), (1, 1, 40));
        assert_eq!((f[2].dport, f[2].synack), (443, 1));
        assert!(t.is_empty());
    }

    #[test]
    fn the_table_fills_at_its_capacity_and_probes_past_collisions() {
        let mut t = FlowTable::new(16);
        for i in 0..16 {
            assert!(!t.is_full());
            assert!(t.add(&pkt(i, i, 80, 40, 0)));
            assert!(t.add(&pkt(i, i, 80, 40, 0)));
        }
        assert!(t.is_full());
        // A known flow still adds; a new one does not.
        assert!(t.add(&pkt(3, 3, 80, 40, 0)));
        assert!(!t.add(&pkt(99, 99, 80, 40, 0)));
        assert_eq!(t.flows()[3].packets, 3);
        t.clear();
        assert!(t.is_empty() && !t.is_full());
    }

    #[test]
    fn a_flow_carries_the_hashes_the_sketches_key_by() {
        let mut t = FlowTable::new(16);
        let u = pkt(7, 9, 53, 80, 0);
        assert!(t.add(&u));
        let mut out = Vec::new();
        t.drain_into(&mut out);
        let f = out[0];
        let h = Hashes::of(&u);
        assert_eq!(
            (f.hashes.src, f.hashes.dst, f.hashes.pair, f.hashes.flow),
            (h.src, h.dst, h.pair, h.flow)
        );
        assert_eq!((f.hashes.dport, f.hashes.sport), (h.dport, h.sport));
        assert_eq!(f.src_prefix[1], prefix_hash(u.src, 24));
    }
}
