//! How big each sketch of a shard is, derived from one memory budget, and
//! the attack keys (reflector ports, destination prefixes) sized by it.

use capture::Ip;
use sketches::SpaceSaving;

use super::rank::{PairRank, PortRank, Rank};
use crate::handshake::ServiceTable;
use crate::keys::SHARDS;

/// How big each sketch of a shard is, derived from one memory budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Counters of each heavy-hitter sketch, per shard.
    pub hh_capacity: usize,
    /// Count-Min width per shard (depth is fixed at 4).
    pub cm_width: usize,
    /// Precision of the distinct-count sketches.
    pub hll_p: u8,
    /// Destinations tracked for distinct sources, per shard.
    pub dst_sources_capacity: usize,
    /// Precision of each per-destination distinct-sources sketch.
    pub dst_sources_p: u8,
    /// Services whose handshakes are tracked, per shard.
    pub services_per_shard: usize,
    /// Counters of the run total's source and destination rankings, per
    /// shard: more than an epoch's, so that a whole run's top talkers stay
    /// exact while its distinct addresses fit.
    pub total_hh_capacity: usize,
}

/// What one counter of every ranking of a shard takes together (port
/// rankings are costed as address ones, as they always were).
fn ranking_bytes_per_counter() -> usize {
    (Rank::ALL.len() + PortRank::ALL.len()) * SpaceSaving::<u128>::bytes_per_counter()
        + PairRank::ALL.len() * SpaceSaving::<(u128, u128)>::bytes_per_counter()
}

/// UDP source ports of services abused for reflection and amplification
/// (QOTD, chargen, DNS, portmap, NTP, NetBIOS, SNMP, LDAP/CLDAP, SLP,
/// ISAKMP and IKE NAT-T, RIP, MS-SQL, SSDP, ARD, WS-Discovery, mDNS, CoAP,
/// Ubiquiti, memcached, DVR discovery, BACnet).
pub const REFLECTOR_PORTS: [u16; 22] = [
    17, 19, 53, 111, 123, 137, 161, 389, 427, 500, 520, 1434, 1900, 3283, 3702, 4500, 5353, 5683,
    10001, 11211, 37810, 47808,
];

#[inline]
pub fn is_reflector_port(p: u16) -> bool {
    REFLECTOR_PORTS.contains(&p)
}

/// The destination prefix carpet bombing is judged on: /24 for IPv4, /64
/// for IPv6 (addresses are IPv4-mapped, so a /24 is the top 120 bits).
#[inline]
pub fn attack_prefix(addr: u128) -> u128 {
    if Ip(addr).to_v4().is_some() {
        addr & !0xff
    } else {
        addr & !(u64::MAX as u128)
    }
}

/// Most counters a heavy-hitter sketch takes ([`SpaceSaving::new`]).
const MAX_HH_CAPACITY: usize = 1 << 24;
/// Widest Count-Min row ([`sketches::CountMin::with_shape`]).
const MAX_CM_WIDTH: usize = 1 << 30;

/// Count-Min rows: delta = e^-4, under 2%.
pub const CM_DEPTH: usize = 4;

impl Budget {
    /// Splits `bytes` (the most one epoch's sketches may take, all shards
    /// together): about half to heavy hitters, a third to Count-Min, the
    /// rest to distinct counting.
    pub fn for_epoch(bytes: usize) -> Budget {
        let per_shard = bytes / SHARDS;
        let hll_p = if per_shard >= 256 << 10 { 14 } else { 12 };
        let dst_sources_p = 10;
        let dst_sources_capacity = 32;
        let fixed = 3 * (1usize << hll_p) + dst_sources_capacity * 2 * ((1 << dst_sources_p) + 64);
        // Handshake statistics: up to 8 services per shard, an eighth of
        // the shard's memory at most.
        let services_per_shard = (per_shard / 8 / ServiceTable::max_bytes(1)).clamp(1, 8);
        let fixed = fixed + ServiceTable::max_bytes(services_per_shard);
        let rest = per_shard.saturating_sub(fixed);
        // Every ranking of the shard (address, pair, port) takes one
        // counter per unit of capacity.
        let per_counter = ranking_bytes_per_counter();
        let hh_capacity = (rest * 6 / 10 / per_counter).max(16);
        let cm_width = prev_pow2((rest * 4 / 10 / (2 * CM_DEPTH * 8)).max(64));
        Budget {
            hh_capacity,
            cm_width,
            hll_p,
            dst_sources_capacity,
            dst_sources_p,
            services_per_shard,
            total_hh_capacity: hh_capacity,
        }
    }

    /// Gives the run total's four address rankings `bytes` more (all shards
    /// together).
    pub fn with_total(mut self, bytes: usize) -> Budget {
        let per = Rank::ADDRESSES * SpaceSaving::<u128>::bytes_per_counter() * SHARDS;
        self.total_hh_capacity = self.hh_capacity + bytes / per;
        self
    }

    /// What the run total's larger rankings take beyond an epoch's sketches.
    pub fn total_extra_bytes(&self) -> usize {
        (self.total_hh_capacity - self.hh_capacity)
            * Rank::ADDRESSES
            * SpaceSaving::<u128>::bytes_per_counter()
            * SHARDS
    }

    /// Checks the sizes against the sketches' limits (a budget too large
    /// for them), so that an engine refuses it before any thread starts.
    pub fn check(&self) -> Result<(), String> {
        if self.total_hh_capacity > MAX_HH_CAPACITY || self.dst_sources_capacity > MAX_HH_CAPACITY {
            return Err(format!(
                "heavy-hitter capacity {} is over the sketch's limit of {MAX_HH_CAPACITY}",
                self.total_hh_capacity.max(self.dst_sources_capacity)
            ));
        }
        if self.cm_width > MAX_CM_WIDTH {
            return Err(format!(
                "Count-Min width {} is over the sketch's limit of {MAX_CM_WIDTH}",
                self.cm_width
            ));
        }
        Ok(())
    }

    /// Upper bound of one epoch's sketch memory under this budget.
    pub fn epoch_bytes(&self) -> usize {
        let hh = self.hh_capacity * ranking_bytes_per_counter();
        let cm = 2 * self.cm_width * CM_DEPTH * 8;
        let hll = 3 * (1 << self.hll_p)
            + self.dst_sources_capacity * 2 * ((1 << self.dst_sources_p) + 64);
        SHARDS * (hh + cm + hll + ServiceTable::max_bytes(self.services_per_shard))
    }
}

fn prev_pow2(x: usize) -> usize {
    1 << (usize::BITS - 1 - x.leading_zeros())
}
