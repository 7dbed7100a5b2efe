//! What a flush carries: an epoch's flows summed again per key family
//! (source, destination, pair, ports, attack prefix, Count-Min prefixes),
//! each key with its hash, in first-seen order.

use capture::{FlowUpdate, Ip};
use sketches::hash::{hash_u128, DEFAULT_SEED};

use super::table::{clear_slots, FlowEntry, FlowTable};
use crate::keys::{prefix_hash, prefixes, Hashes};
use crate::shard::{attack_prefix, is_reflector_port};

/// A small map from a key to its sums, in first-seen order: open
/// addressing over a power-of-two slot array at most half full, by a hash
/// the caller already has. It grows with its keys (a quiet epoch's flush
/// stays small) and keeps its storage across uses.
#[derive(Debug)]
pub struct AggMap<K, V> {
    slots: Vec<u32>,
    pub items: Vec<(K, u64, V)>,
}

impl<K: Copy + PartialEq, V: Default> AggMap<K, V> {
    const MIN_SLOTS: usize = 64;

    /// An empty map.
    pub fn new() -> AggMap<K, V> {
        AggMap {
            slots: vec![0; Self::MIN_SLOTS],
            items: Vec::new(),
        }
    }

    /// The sums of `key` (hash `hash`), inserted as defaults if new.
    #[inline]
    pub fn entry(&mut self, key: K, hash: u64) -> &mut V {
        let mask = self.slots.len() - 1;
        let mut i = (hash >> 32) as usize & mask;
        loop {
            let s = self.slots[i] as usize;
            if s == 0 {
                break;
            }
            if self.items[s - 1].1 == hash && self.items[s - 1].0 == key {
                return &mut self.items[s - 1].2;
            }
            i = (i + 1) & mask;
        }
        self.items.push((key, hash, V::default()));
        self.slots[i] = self.items.len() as u32;
        if 2 * self.items.len() > self.slots.len() {
            self.grow();
        }
        &mut self.items.last_mut().expect("just pushed").2
    }

    #[cold]
    fn grow(&mut self) {
        let n = 2 * self.slots.len();
        self.slots.clear();
        self.slots.resize(n, 0);
        self.reindex();
    }

    /// Keeps the items `keep` says to (it may change their sums), in
    /// order, keeping the storage.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut V) -> bool) {
        self.items.retain_mut(|(_, _, v)| keep(v));
        self.slots.fill(0);
        self.reindex();
    }

    /// Puts every item in the (empty) slots.
    fn reindex(&mut self) {
        let mask = self.slots.len() - 1;
        for (idx, item) in self.items.iter().enumerate() {
            let mut i = (item.1 >> 32) as usize & mask;
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = idx as u32 + 1;
        }
    }

    /// Empties the map, keeping its storage. A map grown by one busy
    /// flush and reused for small ones zeroes only the slots it used.
    pub fn clear(&mut self) {
        clear_slots(&mut self.slots, self.items.iter().map(|i| i.1));
        self.items.clear();
    }
}

impl<K: Copy + PartialEq, V: Default> Default for AggMap<K, V> {
    fn default() -> Self {
        AggMap::new()
    }
}
/// What a source address sums to in a flush.
#[derive(Debug, Clone, Copy, Default)]
pub struct SrcSums {
    pub packets: u64,
    pub bytes: u64,
    pub synack: u64,
}

/// What a destination address sums to in a flush.
#[derive(Debug, Clone, Copy, Default)]
pub struct DstSums {
    pub packets: u64,
    pub bytes: u64,
    pub syn: u64,
    pub rst: u64,
    pub icmp: u64,
    /// UDP packets from reflector ports.
    pub amp: u64,
}

/// Packets and bytes of a key.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sums {
    pub packets: u64,
    pub bytes: u64,
}

/// One flow's keys for the distinct counts: the destination (and its
/// hash), the source's hash, the flow's hash.
#[derive(Debug, Clone, Copy)]
pub struct FlowKeys {
    pub dst: u128,
    pub dst_hash: u64,
    pub src_hash: u64,
    pub flow_hash: u64,
}

/// One flush of an epoch's flows, summed again per key family (source,
/// destination, pair, ports, attack prefix, Count-Min prefixes), each key
/// with its hash, in first-seen order: what the workers apply. A key
/// repeats across flows (a host's connections, a port's clients, a /16's
/// hosts), so each sketch sees one weighted update per key per flush.
#[derive(Debug)]
pub struct Flush {
    pub src: AggMap<u128, SrcSums>,
    pub dst: AggMap<u128, DstSums>,
    pub pair: AggMap<(u128, u128), Sums>,
    pub dport: AggMap<u16, Sums>,
    pub sport: AggMap<u16, Sums>,
    /// Packets per destination attack prefix.
    pub prefix: AggMap<u128, u64>,
    /// Bytes per Count-Min source prefix key (the map key is its hash).
    pub cm_src: AggMap<u64, u64>,
    /// Bytes per Count-Min destination prefix key.
    pub cm_dst: AggMap<u64, u64>,
    pub flows: Vec<FlowKeys>,
    /// The flush's number in the run (its sampling coin's seed): set as it
    /// goes out, at a fixed point of the stream.
    pub seq: u64,
}

impl Flush {
    /// An empty flush; its maps grow with their keys.
    pub fn new() -> Flush {
        Flush {
            src: AggMap::new(),
            dst: AggMap::new(),
            pair: AggMap::new(),
            dport: AggMap::new(),
            sport: AggMap::new(),
            prefix: AggMap::new(),
            cm_src: AggMap::new(),
            cm_dst: AggMap::new(),
            flows: Vec::new(),
            seq: 0,
        }
    }

    /// Empties it, keeping its storage.
    pub fn clear(&mut self) {
        self.src.clear();
        self.dst.clear();
        self.pair.clear();
        self.dport.clear();
        self.sport.clear();
        self.prefix.clear();
        self.cm_src.clear();
        self.cm_dst.clear();
        self.flows.clear();
    }

    /// Sums `table`'s flows, in first-seen order, after what this flush
    /// holds, and empties the table. [`Flush::seal`] completes it.
    pub fn take_from(&mut self, table: &mut FlowTable) {
        for f in table.flows() {
            self.add(f);
        }
        table.clear();
    }

    /// Sums the prefix families (attack prefixes, Count-Min prefixes) from
    /// the address sums, once, when the flush is complete: per distinct
    /// address, not per flow. Prefixes come in the order of the first
    /// address holding them, which is the order of the first flow holding
    /// them, so the result is what summing each flow would give.
    pub fn seal(&mut self) {
        self.prefix.clear();
        self.cm_src.clear();
        self.cm_dst.clear();
        for &(src, _, v) in &self.src.items {
            for &len in prefixes(Ip(src)) {
                let ph = prefix_hash(Ip(src), len);
                let c = self.cm_src.entry(ph, ph);
                *c = c.saturating_add(v.bytes);
            }
        }
        for &(dst, _, v) in &self.dst.items {
            let ap = attack_prefix(dst);
            *self.prefix.entry(ap, hash_u128(ap, DEFAULT_SEED ^ 0x24)) += v.packets;
            for &len in prefixes(Ip(dst)) {
                let ph = prefix_hash(Ip(dst), len);
                let c = self.cm_dst.entry(ph, ph);
                *c = c.saturating_add(v.bytes);
            }
        }
    }

    /// Adds one flow: hashes its keys and sums it into each family.
    fn add(&mut self, f: &FlowEntry) {
        let (src, dst) = (Ip(f.src), Ip(f.dst));
        let h = Hashes::of_key(src, dst, f.sport, f.dport, f.proto);
        debug_assert_eq!(h.flow, f.hash);
        let (p, b) = (f.packets, f.bytes);
        let s = self.src.entry(f.src, h.src);
        s.packets += p;
        s.bytes = s.bytes.saturating_add(b);
        s.synack += f.synack;
        let d = self.dst.entry(f.dst, h.dst);
        d.packets += p;
        d.bytes = d.bytes.saturating_add(b);
        d.syn += f.syn;
        d.rst += f.rst;
        match f.proto {
            FlowUpdate::ICMP | FlowUpdate::ICMPV6 => d.icmp += p,
            FlowUpdate::UDP if f.has_ports && is_reflector_port(f.sport) => d.amp += p,
            _ => {}
        }
        let pr = self.pair.entry((f.src, f.dst), h.pair);
        pr.packets += p;
        pr.bytes = pr.bytes.saturating_add(b);
        if f.has_ports {
            let dp = self.dport.entry(f.dport, h.dport);
            dp.packets += p;
            dp.bytes = dp.bytes.saturating_add(b);
            let sp = self.sport.entry(f.sport, h.sport);
            sp.packets += p;
            sp.bytes = sp.bytes.saturating_add(b);
        }
        self.flows.push(FlowKeys {
            dst: f.dst,
            dst_hash: h.dst,
            src_hash: h.src,
            flow_hash: h.flow,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::tests::pkt;
    use super::*;

    #[test]
    fn a_map_grown_by_a_busy_flush_and_cleared_sparsely_holds_no_stale_slot() {
        let mut m: AggMap<u64, u64> = AggMap::new();
        // Colliding hashes (one home slot) make long probe paths.
        for k in 0..5_000u64 {
            *m.entry(k, (k % 7) << 32 | k) += k;
        }
        let grown = m.slots.len();
        m.clear();
        assert!(m.slots.iter().all(|&s| s == 0));
        // A few keys: cleared slot by slot, not by a fill.
        for k in 0..100u64 {
            *m.entry(k, (k % 3) << 32) += 1;
            *m.entry(k, (k % 3) << 32) += 1;
        }
        assert_eq!(m.slots.len(), grown);
        assert_eq!(m.items.len(), 100);
        assert!(m.items.iter().all(|(_, _, v)| *v == 2));
        m.clear();
        assert!(m.slots.iter().all(|&s| s == 0) && m.items.is_empty());
        let mut t = FlowTable::new(4096);
        for i in 0..10 {
            assert!(t.add(&pkt(i, i, 80, 40, 0)));
        }
        t.clear();
        assert!(t.slots_empty() && t.is_empty());
    }
}
