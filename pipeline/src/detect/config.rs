//! Detection settings: [`DetectConfig`] (the `[detect]` table of the
//! configuration file), its [`HostGroup`]s (protected networks and their
//! DoS thresholds) and [`ServiceGroup`]s (SLA thresholds), with their
//! defaults, serde schema and range checks.

use capture::{Ip, Prefix};
use serde::{Deserialize, Deserializer};

/// Prefixes from strings, each worded as [`capture::PrefixError`] says.
fn prefixes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Prefix>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| s.parse().map_err(serde::de::Error::custom))
        .collect()
}

/// Thresholds of one group of protected networks. Rates are per second of
/// event time.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HostGroup {
    /// Name used in alerts.
    pub name: String,
    /// The networks (IPv4 and IPv6 CIDR prefixes).
    #[serde(deserialize_with = "prefixes")]
    pub networks: Vec<Prefix>,
    /// Packets per second to one host.
    pub pps: f64,
    /// Bits per second (IP bytes) to one host.
    pub bps: f64,
    /// New flows (distinct 5-tuples) per second to one host.
    pub flows: f64,
    /// Unanswered SYNs per second to one host.
    pub syn_pps: f64,
    /// UDP packets per second from reflector ports to one host.
    pub udp_amp_pps: f64,
    /// ICMP packets per second to one host.
    pub icmp_pps: f64,
    /// Distinct sources per epoch to one host (with `distributed_pps`).
    pub distinct_sources: f64,
    /// Packets per second a many-source flood needs.
    pub distributed_pps: f64,
    /// Packets per second to one /24 (IPv4) or /64 (IPv6).
    pub prefix_pps: f64,
    /// Learn each host's normal packet rate and flag change against it.
    pub baseline: bool,
}

impl Default for HostGroup {
    fn default() -> HostGroup {
        HostGroup {
            name: "any".into(),
            networks: vec![
                "0.0.0.0/0".parse().expect("a valid prefix"),
                "::/0".parse().expect("a valid prefix"),
            ],
            pps: 10_000.0,
            bps: 1e9,
            flows: 5_000.0,
            syn_pps: 1_000.0,
            udp_amp_pps: 1_000.0,
            icmp_pps: 1_000.0,
            distinct_sources: 1_000.0,
            distributed_pps: 1_000.0,
            prefix_pps: 5_000.0,
            baseline: true,
        }
    }
}

/// Which handshake round trip an SLA latency threshold applies to.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// SYN to SYN-ACK: the network to the server and the server's stack.
    Server,
    /// SYN-ACK to the client's ACK: the network to the client.
    Client,
}

impl Side {
    /// The name in the configuration file and in alert evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Server => "server",
            Side::Client => "client",
        }
    }
}

/// SLA thresholds for a group of services (the `[[detect.service]]` list
/// of the configuration file).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceGroup {
    /// Name used in alerts.
    pub name: String,
    /// Server networks; empty means any server.
    #[serde(deserialize_with = "prefixes")]
    pub networks: Vec<Prefix>,
    /// Server ports; empty means any port.
    pub ports: Vec<u16>,
    /// `sla_latency` when the round trip's `latency_quantile` is at least
    /// this many milliseconds...
    pub latency_ms: f64,
    /// ...(0.5 to 1)...
    pub latency_quantile: f64,
    /// ...on this side of the handshake.
    pub latency_side: Side,
    /// `sla_failures` when failed attempts (refused or unanswered) are at
    /// least this share of the epoch's handshake outcomes.
    pub failure_ratio: f64,
    /// Attempts or outcomes (answered, refused, unanswered) an epoch needs
    /// before a service is judged at all.
    pub min_handshakes: u64,
    /// Epochs a condition must hold before the alert starts.
    pub epochs: u32,
}

impl Default for ServiceGroup {
    fn default() -> ServiceGroup {
        ServiceGroup {
            name: "any".into(),
            networks: Vec::new(),
            ports: Vec::new(),
            latency_ms: 200.0,
            latency_quantile: 0.99,
            latency_side: Side::Server,
            failure_ratio: 0.2,
            min_handshakes: 10,
            epochs: 3,
        }
    }
}

impl ServiceGroup {
    pub(super) fn covers(&self, ip: Ip, port: u16) -> bool {
        (self.networks.is_empty() || self.networks.iter().any(|c| c.contains(ip)))
            && (self.ports.is_empty() || self.ports.contains(&port))
    }
}

/// Detection settings (the `[detect]` table and `[[hostgroup]]` list of
/// the configuration file).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    /// Epochs a condition must hold before an alert starts.
    pub start_epochs: u32,
    /// Quiet epochs before an alert ends.
    pub end_epochs: u32,
    /// Packets back over packets in at or above which traffic counts as
    /// answered (a busy service, not a flood).
    pub answered_ratio: f64,
    /// Bytes back over bytes in at or above which a destination prefix's
    /// traffic counts as answered (carpet bombing is judged on bytes).
    pub answered_bytes_ratio: f64,
    /// Addresses and networks never reported as victims.
    #[serde(deserialize_with = "prefixes")]
    pub whitelist: Vec<Prefix>,
    /// Candidate victims examined per epoch and counter.
    pub candidates: usize,
    /// Baseline: smoothing factor of the EWMA of each host's packet rate.
    pub baseline_alpha: f64,
    /// Baseline: flag at `mean + k * stddev`...
    pub baseline_k: f64,
    /// ...and at least this many times the mean...
    pub baseline_factor: f64,
    /// ...and at least this many packets per second.
    pub baseline_min_pps: f64,
    /// Baseline: epochs of history before a host can be flagged.
    pub baseline_warmup: u32,
    /// Hosts whose baseline is kept (the least recently seen go first).
    pub baseline_hosts: usize,
    /// Protected networks and their thresholds, first match wins; empty
    /// means one group covering everything with default thresholds.
    #[serde(rename = "hostgroup")]
    pub hostgroups: Vec<HostGroup>,
    /// Services and their SLA thresholds, first match wins; empty means
    /// one group covering every service with default thresholds.
    #[serde(rename = "service")]
    pub services: Vec<ServiceGroup>,
}

impl Default for DetectConfig {
    fn default() -> DetectConfig {
        DetectConfig {
            start_epochs: 1,
            end_epochs: 3,
            answered_ratio: 0.25,
            answered_bytes_ratio: 0.01,
            whitelist: Vec::new(),
            candidates: 20,
            baseline_alpha: 0.1,
            baseline_k: 4.0,
            baseline_factor: 10.0,
            baseline_min_pps: 500.0,
            baseline_warmup: 5,
            baseline_hosts: 4096,
            hostgroups: Vec::new(),
            services: Vec::new(),
        }
    }
}

/// A detection setting out of its range; the message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A key of `[detect]` itself.
    #[error("{key} {what}")]
    Detect {
        /// The key (or keys).
        key: &'static str,
        /// What it must be.
        what: &'static str,
    },
    /// A key of a `[[detect.hostgroup]]` or `[[detect.service]]`.
    #[error("{section} `{group}`: {key} {what}")]
    Group {
        /// `hostgroup` or `service`.
        section: &'static str,
        /// The group's name.
        group: String,
        /// The key.
        key: &'static str,
        /// What it must be.
        what: &'static str,
    },
}

/// The configured groups, or one default group covering everything.
pub(super) fn or_default_group<T: Clone + Default>(groups: &[T]) -> Vec<T> {
    if groups.is_empty() {
        vec![T::default()]
    } else {
        groups.to_vec()
    }
}

impl DetectConfig {
    /// Checks ranges; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let detect = |key, what| Err(ConfigError::Detect { key, what });
        if self.start_epochs == 0 || self.end_epochs == 0 {
            return detect("start_epochs and end_epochs", "must be at least 1");
        }
        if !(self.baseline_alpha > 0.0 && self.baseline_alpha <= 1.0) {
            return detect("baseline_alpha", "must be in (0, 1]");
        }
        if self.candidates == 0 {
            return detect("candidates", "must be at least 1");
        }
        for g in &self.hostgroups {
            let bad = |key, what| group_error("hostgroup", &g.name, key, what);
            for (k, v) in [
                ("pps", g.pps),
                ("bps", g.bps),
                ("flows", g.flows),
                ("syn_pps", g.syn_pps),
                ("udp_amp_pps", g.udp_amp_pps),
                ("icmp_pps", g.icmp_pps),
                ("distinct_sources", g.distinct_sources),
                ("distributed_pps", g.distributed_pps),
                ("prefix_pps", g.prefix_pps),
            ] {
                if !(v.is_finite() && v > 0.0) {
                    return bad(k, "must be positive");
                }
            }
            if g.networks.is_empty() {
                return bad("networks", "is empty");
            }
        }
        for g in &self.services {
            let bad = |key, what| group_error("service", &g.name, key, what);
            if !(g.latency_ms.is_finite() && g.latency_ms > 0.0) {
                return bad("latency_ms", "must be positive");
            }
            if !(0.5..=1.0).contains(&g.latency_quantile) {
                return bad("latency_quantile", "must be 0.5 to 1");
            }
            if !(g.failure_ratio > 0.0 && g.failure_ratio <= 1.0) {
                return bad("failure_ratio", "must be in (0, 1]");
            }
            if g.epochs == 0 {
                return bad("epochs", "must be at least 1");
            }
        }
        Ok(())
    }
}

/// A group's key out of range.
fn group_error(
    section: &'static str,
    group: &str,
    key: &'static str,
    what: &'static str,
) -> Result<(), ConfigError> {
    Err(ConfigError::Group {
        section,
        group: group.into(),
        key,
        what,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_out_of_range_name_their_key() {
        let group = |pps| HostGroup {
            name: "dmz".into(),
            pps,
            ..HostGroup::default()
        };
        for (cfg, want) in [
            (
                DetectConfig {
                    end_epochs: 0,
                    ..DetectConfig::default()
                },
                "start_epochs and end_epochs must be at least 1",
            ),
            (
                DetectConfig {
                    hostgroups: vec![group(0.0)],
                    ..DetectConfig::default()
                },
                "hostgroup `dmz`: pps must be positive",
            ),
            (
                DetectConfig {
                    services: vec![ServiceGroup {
                        latency_quantile: 0.1,
                        ..ServiceGroup::default()
                    }],
                    ..DetectConfig::default()
                },
                "service `any`: latency_quantile must be 0.5 to 1",
            ),
        ] {
            assert_eq!(cfg.validate().unwrap_err().to_string(), want);
        }
        assert_eq!(DetectConfig::default().validate(), Ok(()));
        let ok = DetectConfig {
            hostgroups: vec![group(1.0)],
            ..DetectConfig::default()
        };
        assert_eq!(ok.validate(), Ok(()));
    }
}
