//! The closed sets of alert names: [`AlertKind`] (what an alert is) and
//! [`Event`] (where in its life a line is). Their names are written here
//! and nowhere else; tools renders and labels with [`AlertKind::as_str`].

use std::fmt;
use std::str::FromStr;

/// What an alert is about, from the most specific DoS condition to the
/// SLA ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertKind {
    /// Packets, bits or new flows per second over the thresholds.
    Volumetric,
    /// Unanswered SYNs.
    SynFlood,
    /// UDP from reflector source ports.
    UdpAmplification,
    /// ICMP.
    IcmpFlood,
    /// Many distinct sources and a packet rate.
    DistributedFlood,
    /// A destination prefix over threshold, no host of it alerting.
    CarpetBombing,
    /// Far above the host's learned normal rate.
    BaselineChange,
    /// A service's handshake round trip over its threshold.
    SlaLatency,
    /// A service's refused and unanswered handshakes over their share.
    SlaFailures,
}

impl AlertKind {
    /// Every kind, in the order the Prometheus gauge lists them.
    pub const ALL: [AlertKind; 9] = [
        AlertKind::Volumetric,
        AlertKind::SynFlood,
        AlertKind::UdpAmplification,
        AlertKind::IcmpFlood,
        AlertKind::DistributedFlood,
        AlertKind::CarpetBombing,
        AlertKind::BaselineChange,
        AlertKind::SlaLatency,
        AlertKind::SlaFailures,
    ];

    /// The name in alert lines and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Volumetric => "volumetric",
            AlertKind::SynFlood => "syn_flood",
            AlertKind::UdpAmplification => "udp_amplification",
            AlertKind::IcmpFlood => "icmp_flood",
            AlertKind::DistributedFlood => "distributed_flood",
            AlertKind::CarpetBombing => "carpet_bombing",
            AlertKind::BaselineChange => "baseline_change",
            AlertKind::SlaLatency => "sla_latency",
            AlertKind::SlaFailures => "sla_failures",
        }
    }

    /// Whether it is a service (SLA) alert rather than a DoS one.
    pub fn is_sla(self) -> bool {
        matches!(self, AlertKind::SlaLatency | AlertKind::SlaFailures)
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an alert kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown alert type `{0}`")]
pub struct UnknownKind(pub String);

impl FromStr for AlertKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<AlertKind, UnknownKind> {
        AlertKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.into()))
    }
}

/// Where in its life an alert line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The condition held `start_epochs` epochs: the alert begins.
    Start,
    /// An epoch in which the active alert's condition still held.
    Update,
    /// `end_epochs` quiet epochs: the alert is over.
    End,
}

impl Event {
    /// The name in alert lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Start => "start",
            Event::Update => "update",
            Event::End => "end",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for k in AlertKind::ALL {
            assert_eq!(k.as_str().parse::<AlertKind>(), Ok(k));
        }
        assert!("flash_crowd".parse::<AlertKind>().is_err());
    }
}
