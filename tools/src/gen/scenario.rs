//! Scenario names, their victims and the event vocabulary shared with
//! alerts.

use std::fmt;
use std::str::FromStr;

use pipeline::detect::AlertKind;

/// One scenario layered over (or replacing) background traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    /// Background traffic only, no event.
    Baseline,
    /// SYNs from spoofed random sources to one web server.
    SynFlood,
    /// Responses from reflectors (source ports 53/123/389/1900/11211).
    UdpAmplification,
    /// ICMP echo requests from a hundred sources.
    IcmpFlood,
    /// UDP from twenty thousand real-looking sources, each slow.
    DistributedFlood,
    /// A whole /24 hit, no single host over a per-host threshold.
    CarpetBombing,
    /// One service's server-side handshake RTT rises.
    SlowService,
    /// One service's SYNs go unanswered or get RST.
    ConnectionFailures,
    /// Many legitimate new clients on one service (benign).
    FlashCrowd,
}

impl Scenario {
    /// Every scenario, for help texts and tests.
    pub const ALL: [Scenario; 9] = [
        Scenario::Baseline,
        Scenario::SynFlood,
        Scenario::UdpAmplification,
        Scenario::IcmpFlood,
        Scenario::DistributedFlood,
        Scenario::CarpetBombing,
        Scenario::SlowService,
        Scenario::ConnectionFailures,
        Scenario::FlashCrowd,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Baseline => "baseline",
            Scenario::SynFlood => "syn-flood",
            Scenario::UdpAmplification => "udp-amplification",
            Scenario::IcmpFlood => "icmp-flood",
            Scenario::DistributedFlood => "distributed-flood",
            Scenario::CarpetBombing => "carpet-bombing",
            Scenario::SlowService => "slow-service",
            Scenario::ConnectionFailures => "connection-failures",
            Scenario::FlashCrowd => "flash-crowd",
        }
    }

    /// The event type, in the alert vocabulary (`None` for baseline; a
    /// flash crowd is the one event that must raise no alert).
    pub fn event_type(self) -> Option<&'static str> {
        Some(match self {
            Scenario::Baseline => return None,
            Scenario::SynFlood => AlertKind::SynFlood.as_str(),
            Scenario::UdpAmplification => AlertKind::UdpAmplification.as_str(),
            Scenario::IcmpFlood => AlertKind::IcmpFlood.as_str(),
            Scenario::DistributedFlood => AlertKind::DistributedFlood.as_str(),
            Scenario::CarpetBombing => AlertKind::CarpetBombing.as_str(),
            Scenario::SlowService => AlertKind::SlaLatency.as_str(),
            Scenario::ConnectionFailures => AlertKind::SlaFailures.as_str(),
            Scenario::FlashCrowd => "flash_crowd",
        })
    }

    /// The victim in alert notation: an address, a prefix, or `addr:port`.
    pub fn victim(self) -> Option<&'static str> {
        Some(match self {
            Scenario::Baseline => return None,
            Scenario::SynFlood => "10.2.0.10",
            Scenario::UdpAmplification => "10.2.0.11",
            Scenario::IcmpFlood => "10.2.0.12",
            Scenario::DistributedFlood => "10.2.0.13",
            Scenario::CarpetBombing => "10.2.1.0/24",
            Scenario::SlowService => "10.2.0.20:443",
            Scenario::ConnectionFailures => "10.2.0.21:25",
            Scenario::FlashCrowd => "10.2.0.10:443",
        })
    }

    /// Parses a comma-separated list (`baseline,syn-flood`).
    pub fn parse_list(s: &str) -> Result<Vec<Scenario>, String> {
        let mut v: Vec<Scenario> = s
            .split(',')
            .map(str::trim)
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        v.sort();
        v.dedup();
        Ok(v)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Scenario, String> {
        Scenario::ALL
            .iter()
            .copied()
            .find(|x| x.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Scenario::ALL.iter().map(|x| x.name()).collect();
                format!("unknown scenario {s:?}; choose from {}", names.join(", "))
            })
    }
}
