//! What a flush carries: an epoch's flows summed again per key family
//! (source, destination, pair, ports, attack prefix, Count-Min prefixes),
//! each key with its hash, in first-seen order, and routed: each key goes
//! to the part of the worker owning its shard, so a worker reads its own
//! share and nothing else.

use capture::{FlowUpdate, Ip};
use sketches::hash::{hash_u128, DEFAULT_SEED};

use super::map::AggMap;
use super::table::{FlowEntry, FlowTable};
use crate::keys::{flow_key_hash, shard_of, short_prefixes, Hashes, SHARDS};
use crate::shard::{attack_prefix, is_reflector_port};

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

/// One flow's keys for its destination's distinct counts: the destination
/// (and its hash), the source's hash, the flow's hash.
#[derive(Debug, Clone, Copy)]
pub struct FlowKeys {
    pub dst: u128,
    pub dst_hash: u64,
    pub src_hash: u64,
    pub flow_hash: u64,
}

/// One worker's share of a flush: the keys of the shards it owns, per key
/// family, each in the flush's first-seen order. A key repeats across
/// flows (a host's connections, a port's clients, a /16's hosts), so each
/// sketch sees one weighted update per key per flush.
#[derive(Debug)]
pub struct FlushPart {
    pub src: AggMap<u128, SrcSums>,
    pub dst: AggMap<u128, DstSums>,
    pub pair: AggMap<(u128, u128), Sums>,
    pub dport: AggMap<u16, Sums>,
    pub sport: AggMap<u16, Sums>,
    /// Packets per destination attack prefix.
    pub prefix: AggMap<u128, u64>,
    /// Bytes per Count-Min source prefix key shorter than an address (the
    /// map key is its hash; an address is its own key, its bytes in `src`).
    pub cm_src: AggMap<u64, u64>,
    /// Bytes per Count-Min destination prefix key shorter than an address.
    pub cm_dst: AggMap<u64, u64>,
    /// Flows by the owner of their destination (its distinct counts).
    pub flows: Vec<FlowKeys>,
    /// Flow hashes by the owner of the flow (the distinct-flows count).
    pub flow_hashes: Vec<u64>,
}

impl FlushPart {
    fn new() -> FlushPart {
        FlushPart {
            src: AggMap::new(),
            dst: AggMap::new(),
            pair: AggMap::new(),
            dport: AggMap::new(),
            sport: AggMap::new(),
            prefix: AggMap::new(),
            cm_src: AggMap::new(),
            cm_dst: AggMap::new(),
            flows: Vec::new(),
            flow_hashes: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.src.clear();
        self.dst.clear();
        self.pair.clear();
        self.dport.clear();
        self.sport.clear();
        self.clear_prefixes();
        self.flows.clear();
        self.flow_hashes.clear();
    }

    fn clear_prefixes(&mut self) {
        self.prefix.clear();
        self.cm_src.clear();
        self.cm_dst.clear();
    }
}

/// One flush of an epoch's flows, summed again per key family, in one
/// part per worker ([`FlushPart`]): what the workers apply. The source
/// hashes each key once and routes it by its shard's owner, so no worker
/// walks the keys of another's shards. Within a shard the keys keep the
/// flush's first-seen order whatever the number of parts, so the sketches
/// see the same stream for any `--workers`.
#[derive(Debug)]
pub struct Flush {
    pub parts: Vec<FlushPart>,
    /// The part (worker) owning each shard.
    owner: [u8; SHARDS],
    /// Sources and destinations in first-seen order across the parts
    /// (part, index): their prefixes take this order ([`Flush::seal`]),
    /// which conservative Count-Min and the attack-prefix ranking depend on.
    src_order: Vec<(u32, u32)>,
    dst_order: Vec<(u32, u32)>,
    /// Flows summed so far.
    flows: usize,
    /// The flush's number in the run (its sampling coin's seed): set as it
    /// goes out, at a fixed point of the stream.
    pub seq: u64,
}

impl Flush {
    /// An empty flush in one part per worker (`workers` at least 1); its
    /// maps grow with their keys.
    pub fn new(workers: usize) -> Flush {
        let n = workers.clamp(1, SHARDS);
        Flush {
            parts: (0..n).map(|_| FlushPart::new()).collect(),
            owner: std::array::from_fn(|s| (s % n) as u8),
            src_order: Vec::new(),
            dst_order: Vec::new(),
            flows: 0,
            seq: 0,
        }
    }

    /// Empties it, keeping its storage.
    pub fn clear(&mut self) {
        for p in &mut self.parts {
            p.clear();
        }
        self.src_order.clear();
        self.dst_order.clear();
        self.flows = 0;
    }

    /// Flows summed so far.
    pub fn flows(&self) -> usize {
        self.flows
    }

    /// The part that owns the shard of hash `h`.
    #[inline]
    pub fn part_of(&self, h: u64) -> usize {
        self.owner[shard_of(h)] as usize
    }

    /// Sums `table`'s flows, in first-seen order, after what this flush
    /// holds, and empties the table. [`Flush::seal`] completes it.
    pub fn take_from(&mut self, table: &mut FlowTable) {
        for f in table.flows() {
            self.add(f);
        }
        table.clear();
    }

    /// Sums the prefix families (attack prefixes, Count-Min prefixes
    /// shorter than an address) from the address sums, once, when the
    /// flush is complete: per distinct address, not per flow. Prefixes
    /// come in the order of the first address holding them across the
    /// parts, which is the order of the first flow holding them, so the
    /// result is what summing each flow would give, whatever the number of
    /// parts (conservative Count-Min's counters, like Space-Saving's,
    /// depend on the order of updates).
    pub fn seal(&mut self) {
        for p in &mut self.parts {
            p.clear_prefixes();
        }
        for &(a, i) in &self.src_order {
            let (src, _, v) = self.parts[a as usize].src.items[i as usize];
            for k in short_prefixes(Ip(src)) {
                let ph = k.hash(Ip(src));
                let p = self.owner[shard_of(ph)] as usize;
                let c = self.parts[p].cm_src.entry(ph, ph);
                *c = c.saturating_add(v.bytes);
            }
        }
        for &(a, i) in &self.dst_order {
            let (dst, _, v) = self.parts[a as usize].dst.items[i as usize];
            let ap = attack_prefix(dst);
            let aph = hash_u128(ap, DEFAULT_SEED ^ 0x24);
            let p = self.owner[shard_of(aph)] as usize;
            *self.parts[p].prefix.entry(ap, aph) += v.packets;
            for k in short_prefixes(Ip(dst)) {
                let ph = k.hash(Ip(dst));
                let p = self.owner[shard_of(ph)] as usize;
                let c = self.parts[p].cm_dst.entry(ph, ph);
                *c = c.saturating_add(v.bytes);
            }
        }
    }

    /// Adds one flow: hashes its keys and sums each into its owner's part.
    fn add(&mut self, f: &FlowEntry) {
        self.flows += 1;
        let (src, dst) = (Ip(f.src), Ip(f.dst));
        let h = Hashes::with_flow(src, dst, f.sport, f.dport, f.hash);
        debug_assert_eq!(h.flow, flow_key_hash(src, dst, f.sport, f.dport, f.proto));
        let (p, b) = (f.packets, f.bytes);
        let part = self.part_of(h.src);
        let srcs = &mut self.parts[part].src;
        let known = srcs.items.len();
        let s = srcs.entry(f.src, h.src);
        s.packets += p;
        s.bytes = s.bytes.saturating_add(b);
        s.synack += f.synack;
        if srcs.items.len() > known {
            self.src_order.push((part as u32, known as u32));
        }
        let part = self.part_of(h.dst);
        let dsts = &mut self.parts[part].dst;
        let known = dsts.items.len();
        let d = dsts.entry(f.dst, h.dst);
        d.packets += p;
        d.bytes = d.bytes.saturating_add(b);
        d.syn += f.syn;
        d.rst += f.rst;
        match f.proto {
            FlowUpdate::ICMP | FlowUpdate::ICMPV6 => d.icmp += p,
            FlowUpdate::UDP if f.has_ports && is_reflector_port(f.sport) => d.amp += p,
            _ => {}
        }
        if dsts.items.len() > known {
            self.dst_order.push((part as u32, known as u32));
        }
        self.parts[part].flows.push(FlowKeys {
            dst: f.dst,
            dst_hash: h.dst,
            src_hash: h.src,
            flow_hash: h.flow,
        });
        let pr = self.part_of(h.pair);
        let pr = self.parts[pr].pair.entry((f.src, f.dst), h.pair);
        pr.packets += p;
        pr.bytes = pr.bytes.saturating_add(b);
        if f.has_ports {
            let dp = self.part_of(h.dport);
            let dp = self.parts[dp].dport.entry(f.dport, h.dport);
            dp.packets += p;
            dp.bytes = dp.bytes.saturating_add(b);
            let sp = self.part_of(h.sport);
            let sp = self.parts[sp].sport.entry(f.sport, h.sport);
            sp.packets += p;
            sp.bytes = sp.bytes.saturating_add(b);
        }
        let fl = self.part_of(h.flow);
        self.parts[fl].flow_hashes.push(h.flow);
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::tests::pkt;
    use super::*;

    /// A flush of `n` flows from a few hundred sources to a few dozen
    /// destinations, in `parts` parts.
    fn flush(parts: usize, n: u32) -> Flush {
        let mut t = FlowTable::new(4096);
        let mut f = Flush::new(parts);
        for i in 0..n {
            let mut u = pkt((i % 251) as u8, (i % 37) as u8, 80 + (i % 7) as u16, 60, 0);
            u.dst = Ip::v4([10, (i % 5) as u8, (i % 3) as u8, (i % 37) as u8]);
            u.sport = 1024 + (i % 11) as u16;
            if !t.add(&u) {
                f.take_from(&mut t);
                assert!(t.add(&u));
            }
        }
        f.take_from(&mut t);
        f.seal();
        f
    }

    /// Shard `s`'s items of one family across the parts, in order.
    fn shard_items<K: Copy, V: Copy>(
        f: &Flush,
        s: usize,
        family: impl Fn(&FlushPart) -> &AggMap<K, V>,
    ) -> Vec<(K, V)> {
        let mut out = Vec::new();
        for (p, part) in f.parts.iter().enumerate() {
            for &(k, h, v) in &family(part).items {
                assert_eq!(f.part_of(h), p, "a key in its owner's part");
                if shard_of(h) == s {
                    out.push((k, v));
                }
            }
        }
        out
    }

    #[test]
    fn each_key_goes_to_its_owners_part_in_the_same_order_for_any_part_count() {
        let one = flush(1, 3000);
        assert_eq!(one.flows(), 3000);
        for parts in [2, 3, 16] {
            let f = flush(parts, 3000);
            assert_eq!(f.parts.len(), parts);
            assert!(f.parts.iter().all(|p| !p.src.items.is_empty()));
            for s in 0..SHARDS {
                let (a, b) = (&one, &f);
                let src = |f: &Flush| -> Vec<(u128, u64, u64)> {
                    let x = shard_items(f, s, |p| &p.src);
                    x.iter().map(|(k, v)| (*k, v.packets, v.bytes)).collect()
                };
                assert_eq!(src(a), src(b));
                let dst = |f: &Flush| -> Vec<(u128, u64)> {
                    let x = shard_items(f, s, |p| &p.dst);
                    x.iter().map(|(k, v)| (*k, v.packets)).collect()
                };
                assert_eq!(dst(a), dst(b));
                // The attack prefixes' order is the destinations' order.
                let pre = |f| shard_items(f, s, |p| &p.prefix);
                assert_eq!(pre(a), pre(b));
                // Count-Min's prefixes take the sources' and destinations'
                // order too (conservative update depends on it).
                let cm_src = |f| shard_items(f, s, |p| &p.cm_src);
                assert_eq!(cm_src(a), cm_src(b));
                let cm_dst = |f| shard_items(f, s, |p| &p.cm_dst);
                assert_eq!(cm_dst(a), cm_dst(b));
            }
            let flows: usize = f.parts.iter().map(|p| p.flows.len()).sum();
            let hashes: usize = f.parts.iter().map(|p| p.flow_hashes.len()).sum();
            assert_eq!((flows, hashes), (3000, 3000));
            for (p, part) in f.parts.iter().enumerate() {
                assert!(part.flows.iter().all(|k| f.part_of(k.dst_hash) == p));
                assert!(part.flow_hashes.iter().all(|&h| f.part_of(h) == p));
            }
        }
    }
}
