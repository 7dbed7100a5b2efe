//! Sketch keys, their hashes and the shard a key belongs to.

use capture::Ip;
use sketches::hash::{hash_u128, hash_u128_pair, hash_u64, DEFAULT_SEED};

/// Fixed number of key shards. Workers own shards round-robin, so up to
/// this many workers share the sketch work; the number never changes with
/// the worker count, which is what keeps answers identical.
pub const SHARDS: usize = 16;

/// The shard of a key, from its hash. Multiplying first makes the shard
/// independent of the bits Count-Min and HyperLogLog index by.
#[inline(always)]
pub fn shard_of(h: u64) -> usize {
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize
}

/// A heavy-hitter dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// Source address.
    Src,
    /// Destination address.
    Dst,
    /// Source/destination pair.
    Pair,
    /// Destination port (ICMP: type << 8 | code).
    Dport,
    /// Source port.
    Sport,
}

impl Dimension {
    /// Every dimension, in report order.
    pub const ALL: [Dimension; 5] = [
        Dimension::Src,
        Dimension::Dst,
        Dimension::Pair,
        Dimension::Dport,
        Dimension::Sport,
    ];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Src => "src",
            Dimension::Dst => "dst",
            Dimension::Pair => "pair",
            Dimension::Dport => "dport",
            Dimension::Sport => "sport",
        }
    }
}

/// What a heavy hitter is ranked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// IP-layer bytes.
    Bytes,
    /// Packets.
    Packets,
}

impl Metric {
    /// Both metrics, in report order.
    pub const ALL: [Metric; 2] = [Metric::Bytes, Metric::Packets];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Bytes => "bytes",
            Metric::Packets => "packets",
        }
    }
}

/// The hashes of every key one update touches, computed once.
#[derive(Debug, Clone, Copy)]
pub struct Hashes {
    pub src: u64,
    pub dst: u64,
    pub pair: u64,
    pub dport: u64,
    pub sport: u64,
    pub flow: u64,
}

impl Hashes {
    #[cfg(test)]
    pub fn of(u: &capture::FlowUpdate) -> Hashes {
        Hashes::of_key(u.src, u.dst, u.sport, u.dport, u.proto)
    }

    /// The hashes of a flow's keys (the flush takes the flow hash from its
    /// table, [`Hashes::with_flow`]).
    #[cfg(test)]
    pub fn of_key(src: Ip, dst: Ip, sport: u16, dport: u16, proto: u8) -> Hashes {
        let flow = flow_key_hash(src, dst, sport, dport, proto);
        Hashes::with_flow(src, dst, sport, dport, flow)
    }

    /// The hashes of a flow's keys when its flow hash (the aggregation
    /// table's key) is known already.
    #[inline]
    pub fn with_flow(src: Ip, dst: Ip, sport: u16, dport: u16, flow: u64) -> Hashes {
        let s = DEFAULT_SEED;
        Hashes {
            src: hash_u128(src.0, s),
            dst: hash_u128(dst.0, s),
            pair: hash_u128_pair(src.0, dst.0, s),
            dport: hash_u64(dport as u64, s),
            sport: hash_u64(sport as u64, s),
            flow,
        }
    }
}

/// The hash of a flow's 5-tuple: the key of the aggregation table and of
/// the distinct-flows sketches.
#[inline]
pub fn flow_key_hash(src: Ip, dst: Ip, sport: u16, dport: u16, proto: u8) -> u64 {
    let ports = (sport as u64) << 24 | (dport as u64) << 8 | proto as u64;
    hash_u64(ports, hash_u128_pair(src.0, dst.0, DEFAULT_SEED ^ 1))
}

/// Prefix lengths tracked for point and prefix queries, finest first.
pub const V4_PREFIXES: [u8; 4] = [32, 24, 16, 8];
/// IPv6 prefix lengths tracked.
pub const V6_PREFIXES: [u8; 4] = [128, 64, 48, 32];

/// The Count-Min key hash of `addr` cut to `len` bits (length counted in
/// the address's own family). The whole address's is its own hash
/// ([`Hashes`]' `src` and `dst`), so a flush's address sums are their own
/// Count-Min updates and only the shorter prefixes are hashed again.
#[inline]
pub fn prefix_hash(addr: Ip, len: u8) -> u64 {
    let v4 = addr.to_v4().is_some();
    if len == if v4 { 32 } else { 128 } {
        return hash_u128(addr.0, DEFAULT_SEED);
    }
    PrefixKey::new(len, v4).hash(addr)
}

/// A tracked prefix length shorter than an address, ready to key by: its
/// mask in the 128-bit key space and its hash seed, so a flush's prefix
/// keys cost an AND and a hash (the one formula [`prefix_hash`] uses too).
#[derive(Debug, Clone, Copy)]
pub struct PrefixKey {
    mask: u128,
    seed: u64,
}

impl PrefixKey {
    const fn new(len: u8, v4: bool) -> PrefixKey {
        let bits = if v4 { 96 + len as u32 } else { len as u32 };
        PrefixKey {
            mask: capture::prefix::mask(bits),
            seed: DEFAULT_SEED ^ ((len as u64) << 32 | v4 as u64),
        }
    }

    /// The Count-Min key hash of `addr`'s prefix (an address of this
    /// key's family).
    #[inline]
    pub fn hash(self, addr: Ip) -> u64 {
        hash_u128(addr.0 & self.mask, self.seed)
    }
}

/// The keys of a family's tracked lengths after the first (the address).
const fn shorter(lens: [u8; 4], v4: bool) -> [PrefixKey; 3] {
    [
        PrefixKey::new(lens[1], v4),
        PrefixKey::new(lens[2], v4),
        PrefixKey::new(lens[3], v4),
    ]
}

const V4_SHORT: [PrefixKey; 3] = shorter(V4_PREFIXES, true);
const V6_SHORT: [PrefixKey; 3] = shorter(V6_PREFIXES, false);

/// The tracked prefixes of an address's family shorter than the whole
/// address, finest first (a flush sums these; the address itself is its
/// own key).
#[inline]
pub fn short_prefixes(addr: Ip) -> &'static [PrefixKey; 3] {
    if addr.to_v4().is_some() {
        &V4_SHORT
    } else {
        &V6_SHORT
    }
}

/// The tracked prefix lengths of an address's family.
#[inline]
pub fn prefixes(addr: Ip) -> &'static [u8; 4] {
    if addr.to_v4().is_some() {
        &V4_PREFIXES
    } else {
        &V6_PREFIXES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_keys_prefixes_as_queries_do() {
        let v4 = Ip::v4([203, 0, 113, 77]);
        let v6 = Ip::from(
            "2001:db8:1:2:3:4:5:6"
                .parse::<std::net::IpAddr>()
                .expect("an address"),
        );
        for a in [v4, v6] {
            let (keys, lens) = (short_prefixes(a), &prefixes(a)[1..]);
            for (k, &len) in keys.iter().zip(lens) {
                assert_eq!(k.hash(a), prefix_hash(a, len), "{a}/{len}");
            }
        }
        // Each level is a key of its own, and an address's whole-length
        // key is its own hash.
        assert_ne!(
            short_prefixes(v4)[0].hash(v4),
            short_prefixes(v4)[1].hash(v4)
        );
        assert_eq!(prefix_hash(v4, 32), hash_u128(v4.0, DEFAULT_SEED));
    }
}
