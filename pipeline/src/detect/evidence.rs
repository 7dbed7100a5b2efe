//! What an alert shows for itself: [`Evidence`], the figures of the epoch
//! that raised or updated it, every estimate with its bounds. Typed here;
//! tools renders it (the keys of the alert JSON are the field names).

use sketches::Estimate;

use super::config::Side;
use crate::handshake::ServiceStats;
use crate::summary::TopItem;

/// A per-second rate from a counter's bounds: `value` is the upper bound
/// (sketches never undershoot), `lower` the lower one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// The estimate.
    pub value: f64,
    /// Never above the truth.
    pub lower: f64,
    /// Never below the truth.
    pub upper: f64,
}

impl Rate {
    /// Counter bounds `(lower, upper)` over an epoch, times `per_s`.
    pub fn of(b: (u64, u64), per_s: f64) -> Rate {
        Rate {
            value: b.1 as f64 * per_s,
            lower: b.0 as f64 * per_s,
            upper: b.1 as f64 * per_s,
        }
    }
}

/// The evidence of an alert, by what its victim is.
#[derive(Debug, Clone)]
pub enum Evidence {
    /// A host's DoS alert.
    Host(Box<HostEvidence>),
    /// A destination prefix's (carpet bombing).
    Prefix(PrefixEvidence),
    /// A service's SLA alert.
    Service(Box<ServiceEvidence>),
}

/// Packets per protocol condition to (or, for SYN-ACKs, from) a host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Protocols {
    /// TCP SYNs in.
    pub tcp_syn_pps: Rate,
    /// SYN-ACKs out.
    pub tcp_synack_out_pps: Rate,
    /// SYNs in less SYN-ACKs out.
    pub tcp_unanswered_syn_pps: Rate,
    /// ICMP in.
    pub icmp_pps: Rate,
    /// UDP from reflector source ports in.
    pub udp_reflector_pps: Rate,
}

/// A host's learned normal before the epoch that flagged it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    /// EWMA of its packet rate.
    pub mean: f64,
    /// Its standard deviation.
    pub stddev: f64,
    /// Epochs learned from.
    pub epochs: u32,
}

/// A host victim's traffic in one epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct HostEvidence {
    /// Packets per second to it.
    pub pps: Rate,
    /// Bits per second (IP bytes) to it.
    pub bps: Rate,
    /// Packets per second from it.
    pub reply_pps: Rate,
    /// By protocol condition.
    pub protocols: Protocols,
    /// New flows (distinct 5-tuples) per second, when tracked for it.
    pub flows_per_s: Option<Estimate>,
    /// Distinct sources in the epoch, when tracked for it.
    pub distinct_sources: Option<Estimate>,
    /// Its heaviest sources by packets (at most 5).
    pub top_sources: Vec<TopItem>,
    /// `baseline_change`: the normal it left.
    pub baseline: Option<Baseline>,
}

/// A host of a bombed prefix and its packet rate.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRate {
    /// The address as printed.
    pub key: String,
    /// Packets per second to it.
    pub pps: Rate,
}

/// A destination prefix's traffic in one epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefixEvidence {
    /// Packets per second to the prefix.
    pub pps: Rate,
    /// Its heaviest hosts (at most 5).
    pub top_hosts: Vec<HostRate>,
    /// The hostgroup's `prefix_pps`.
    pub threshold_pps: f64,
}

/// The round-trip quantile an SLA latency threshold is judged on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Which handshake round trip.
    pub side: Side,
    /// The quantile (0.5 to 1).
    pub quantile: f64,
    /// Its HdrHistogram bucket, when there were enough samples.
    pub lower_ns: Option<u64>,
    /// The bucket's top.
    pub upper_ns: Option<u64>,
    /// The threshold.
    pub threshold_ms: f64,
}

/// A service's handshakes in one epoch.
#[derive(Debug, Clone)]
pub struct ServiceEvidence {
    /// Its counts and round-trip histograms.
    pub stats: ServiceStats,
    /// Answered plus failed handshakes.
    pub outcomes: u64,
    /// Events it may have had before it was tracked (0: complete).
    pub missed_events_upper: u64,
    /// The latency condition's figures.
    pub latency: Latency,
    /// The service group's `failure_ratio`.
    pub failure_threshold: f64,
}

impl Evidence {
    /// Packets per second to the victim (none for a service).
    pub fn pps(&self) -> Option<Rate> {
        match self {
            Evidence::Host(h) => Some(h.pps),
            Evidence::Prefix(p) => Some(p.pps),
            Evidence::Service(_) => None,
        }
    }
}
