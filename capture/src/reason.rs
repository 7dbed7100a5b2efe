//! The closed set of drop reasons, with stable labels, and a count per reason.

use std::fmt;

/// Why a packet, record or the rest of a file was given up, as a stable
/// snake_case label for reports and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Reason {
    /// Frame of a link type the parser does not decode.
    UnsupportedLinktype,
    /// Frame too short for its link-layer header.
    TruncatedLink,
    /// Link-layer header with impossible contents.
    MalformedLink,
    /// IP header cut short.
    TruncatedIp,
    /// IP header with impossible contents (bad version, header length...).
    MalformedIp,
    /// TCP/UDP/ICMP header cut short.
    TruncatedTransport,
    /// TCP header with impossible contents (data offset below 5).
    MalformedTransport,
    /// File ends in the middle of a record.
    TruncatedFile,
    /// pcap record header with an impossible length; the rest of the file is
    /// unreadable.
    CorruptRecord,
    /// pcapng block with impossible lengths.
    CorruptBlock,
    /// pcapng packet for an interface never described.
    UnknownInterface,
    /// I/O error while reading.
    ReadError,
}

impl Reason {
    /// Every reason, in label order of declaration.
    pub const ALL: [Reason; 12] = [
        Reason::UnsupportedLinktype,
        Reason::TruncatedLink,
        Reason::MalformedLink,
        Reason::TruncatedIp,
        Reason::MalformedIp,
        Reason::TruncatedTransport,
        Reason::MalformedTransport,
        Reason::TruncatedFile,
        Reason::CorruptRecord,
        Reason::CorruptBlock,
        Reason::UnknownInterface,
        Reason::ReadError,
    ];

    /// The label used in reports, JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::UnsupportedLinktype => "unsupported_linktype",
            Reason::TruncatedLink => "truncated_link",
            Reason::MalformedLink => "malformed_link",
            Reason::TruncatedIp => "truncated_ip",
            Reason::MalformedIp => "malformed_ip",
            Reason::TruncatedTransport => "truncated_transport",
            Reason::MalformedTransport => "malformed_transport",
            Reason::TruncatedFile => "truncated_file",
            Reason::CorruptRecord => "corrupt_record",
            Reason::CorruptBlock => "corrupt_block",
            Reason::UnknownInterface => "unknown_interface",
            Reason::ReadError => "read_error",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A counter per [`Reason`], as a fixed array: counting is one add, no map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReasonCounts([u64; Reason::ALL.len()]);

impl ReasonCounts {
    /// Adds `n` to the counter of `reason`.
    #[inline]
    pub fn add(&mut self, reason: Reason, n: u64) {
        self.0[reason as usize] += n;
    }

    /// The count of `reason`.
    pub fn get(&self, reason: Reason) -> u64 {
        self.0[reason as usize]
    }

    /// Sum over all reasons.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The non-zero counters, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = (Reason, u64)> + '_ {
        Reason::ALL
            .iter()
            .map(|&r| (r, self.get(r)))
            .filter(|&(_, n)| n > 0)
    }

    /// Adds every counter of `other`.
    pub fn merge(&mut self, other: &ReasonCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }
}
