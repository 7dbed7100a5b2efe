//! What a shard ranks: the address, pair and port rankings, listed once.
//! A shard's sketches index their rankings by these ([`super::ShardSketches`]).

/// The address-keyed rankings of a shard, by what they rank: one line here
/// (and one in [`Rank::ALL`]) adds a dimension. The run total keeps larger
/// rankings for the first four ([`Rank::ADDRESSES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rank {
    /// Bytes per source address.
    SrcBytes,
    /// Packets per source address.
    SrcPackets,
    /// Bytes per destination address.
    DstBytes,
    /// Packets per destination address.
    DstPackets,
    /// SYNs (without ACK) per destination.
    SynTo,
    /// SYN-ACKs per source (the server answering).
    SynAckFrom,
    /// RSTs per destination.
    RstTo,
    /// ICMP and ICMPv6 packets per destination.
    IcmpTo,
    /// UDP packets from reflector ports ([`super::budget::REFLECTOR_PORTS`]) per
    /// destination.
    AmpTo,
    /// Packets per destination prefix ([`super::attack_prefix`]).
    PrefixTo,
}

impl Rank {
    /// Every address ranking, in index order.
    pub const ALL: [Rank; 10] = [
        Rank::SrcBytes,
        Rank::SrcPackets,
        Rank::DstBytes,
        Rank::DstPackets,
        Rank::SynTo,
        Rank::SynAckFrom,
        Rank::RstTo,
        Rank::IcmpTo,
        Rank::AmpTo,
        Rank::PrefixTo,
    ];
    /// The four rankings of top talkers, first in index order.
    pub const ADDRESSES: usize = 4;
}

/// The rankings of address pairs (source, destination).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairRank {
    Bytes,
    Packets,
}

impl PairRank {
    pub const ALL: [PairRank; 2] = [PairRank::Bytes, PairRank::Packets];
}

/// The rankings of transport ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortRank {
    DportBytes,
    DportPackets,
    SportBytes,
    SportPackets,
}

impl PortRank {
    pub const ALL: [PortRank; 4] = [
        PortRank::DportBytes,
        PortRank::DportPackets,
        PortRank::SportBytes,
        PortRank::SportPackets,
    ];
}
