//! The per-epoch flow table: an epoch's packets summed exactly per flow
//! (the 5-tuple), in first-seen order, in a small cache-resident table.

use capture::{tcp_flags as tf, FlowUpdate};

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

/// Zeroes the open-addressing slots of every item (item `idx`, whose hash
/// is the `idx`-th of `hashes`, is stored as `idx + 1` from its home slot
/// `hash >> 32`): slot by slot when few are used, a fill otherwise. Every
/// item is being cleared, so slots already zeroed on a probe path are
/// walked over, not stopped at.
pub(super) fn clear_slots(slots: &mut [u32], hashes: impl ExactSizeIterator<Item = u64>) {
    if 8 * hashes.len() >= slots.len() {
        slots.fill(0);
        return;
    }
    let mask = slots.len() - 1;
    for (idx, h) in hashes.enumerate() {
        let want = idx as u32 + 1;
        let mut i = (h >> 32) as usize & mask;
        while slots[i] != want {
            i = (i + 1) & mask;
        }
        slots[i] = 0;
    }
}

/// The flow hash of an update: the key of the distinct-flows sketches and
/// of the aggregation table.
#[inline]
pub fn flow_hash(u: &FlowUpdate) -> u64 {
    crate::keys::flow_key_hash(u.src, u.dst, u.sport, u.dport, u.proto)
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

    /// Whether every slot is empty (tests of the sparse clear).
    #[cfg(test)]
    pub(super) fn slots_empty(&self) -> bool {
        self.slots.iter().all(|&s| s == 0)
    }

    /// The flows, in first-seen order.
    pub fn flows(&self) -> &[FlowEntry] {
        &self.flows
    }

    /// Empties the table, keeping its storage (zeroing only the slots
    /// used, when few are).
    pub fn clear(&mut self) {
        clear_slots(&mut self.slots, self.flows.iter().map(|f| f.hash));
        self.flows.clear();
    }
}

#[cfg(test)]
pub(super) mod tests {

    use super::super::flush::Flush;
    use super::*;
    use crate::keys::{prefix_hash, Hashes};
    use capture::Ip;

    pub(crate) fn pkt(src: u8, dst: u8, dport: u16, bytes: u64, flags: u8) -> FlowUpdate {
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
        let f = t.flows().to_vec();
        assert_eq!(f.len(), 3);
        assert_eq!((f[0].src as u8, f[0].packets, f[0].bytes), (2, 3, 1600));
        assert_eq!((f[0].syn, f[0].synack, f[0].rst), (1, 0, 1));
        assert_eq!((f[1].src as u8, f[1].packets, f[1].bytes), (1, 1, 40));
        assert_eq!((f[2].dport, f[2].synack), (443, 1));
        // Summed again per key family, in first-seen order.
        let mut out = Flush::new(1);
        out.take_from(&mut t);
        out.seal();
        assert!(t.is_empty());
        let out = &out.parts[0];
        let src: Vec<(u8, u64, u64, u64)> = out
            .src
            .items
            .iter()
            .map(|(k, _, v)| (*k as u8, v.packets, v.bytes, v.synack))
            .collect();
        assert_eq!(src, [(2, 4, 1652, 1), (1, 1, 40, 0)]);
        let dst = &out.dst.items;
        assert_eq!(dst.len(), 1);
        assert_eq!((dst[0].2.packets, dst[0].2.syn, dst[0].2.rst), (5, 2, 1));
        let dport: Vec<(u16, u64)> = out
            .dport
            .items
            .iter()
            .map(|(k, _, v)| (*k, v.packets))
            .collect();
        assert_eq!(dport, [(80, 4), (443, 1)]);
        assert_eq!(out.pair.items.len(), 2);
        assert_eq!(out.flows.len(), 3);
        // Both sources share their /24, /16 and /8 (each address is its
        // own Count-Min key, its bytes in `src`).
        assert_eq!(out.cm_src.items.len(), 3);
        assert_eq!(out.cm_src.items[0].2, 1692);
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
        let mut out = Flush::new(1);
        out.take_from(&mut t);
        out.seal();
        let out = &out.parts[0];
        let h = Hashes::of(&u);
        assert_eq!((out.src.items[0].1, out.dst.items[0].1), (h.src, h.dst));
        assert_eq!(
            (out.pair.items[0].1, out.flows[0].flow_hash),
            (h.pair, h.flow)
        );
        assert_eq!(
            (out.dport.items[0].1, out.sport.items[0].1),
            (h.dport, h.sport)
        );
        assert_eq!(out.cm_src.items[0].0, prefix_hash(u.src, 24));
        // An address's Count-Min key is its own hash.
        assert_eq!(prefix_hash(u.src, 32), h.src);
        let v6 = Ip::from("2001:db8::1".parse::<std::net::IpAddr>().unwrap());
        assert_eq!(prefix_hash(v6, 128), Hashes::of_key(v6, v6, 0, 0, 6).src);
    }
}
