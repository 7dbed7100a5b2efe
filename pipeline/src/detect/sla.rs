//! The SLA rules over one epoch's services (`addr:port`, from
//! [`crate::handshake`]): `sla_failures` (refused and unanswered
//! handshakes over a share of the outcomes) and `sla_latency` (a round-trip
//! quantile's whole HdrHistogram bucket over the threshold), held for the
//! group's `epochs` before they start. A service whose host is under a DoS
//! alert, or was within the last [`SLA_COOLDOWN`] epochs, is left to that
//! alert.

use std::collections::BTreeMap;

use capture::Prefix;

use super::config::{or_default_group, DetectConfig, ServiceGroup, Side};
use super::evidence::{Evidence, Latency, ServiceEvidence};
use super::kind::AlertKind;
use super::lifecycle::Finding;
use crate::summary::Summary;

/// Epochs after a host's DoS alert during which its services raise no SLA
/// alert.
pub const SLA_COOLDOWN: u64 = 10;

/// The SLA rules, and the hosts recently under a DoS alert.
#[derive(Debug)]
pub(super) struct SlaRules {
    /// The configured service groups, or one covering every service.
    groups: Vec<ServiceGroup>,
    whitelist: Vec<Prefix>,
    /// DoS victims and the last epoch they were under an alert.
    dos_seen: BTreeMap<String, u64>,
}

impl SlaRules {
    /// The rules of `cfg`.
    pub(super) fn new(cfg: &DetectConfig) -> SlaRules {
        SlaRules {
            groups: or_default_group(&cfg.services),
            whitelist: cfg.whitelist.clone(),
            dos_seen: BTreeMap::new(),
        }
    }

    /// The SLA findings of `epoch`, except on hosts under a DoS alert:
    /// `dos` (the victims of this epoch's DoS findings and of active DoS
    /// alerts), or within [`SLA_COOLDOWN`] epochs of one. A flood's tail
    /// (its last SYNs timing out, a trickle below the thresholds) is that
    /// attack, not a service fault.
    pub(super) fn findings<'a>(
        &mut self,
        s: &Summary,
        epoch: u64,
        dos: impl Iterator<Item = &'a str>,
    ) -> Vec<Finding> {
        for v in dos {
            self.dos_seen.insert(v.to_string(), epoch);
        }
        self.dos_seen
            .retain(|_, e| epoch.saturating_sub(*e) <= SLA_COOLDOWN);
        let dos_hosts: Vec<String> = self.dos_seen.keys().cloned().collect();
        self.services(s, &dos_hosts)
    }

    /// Services over their SLA thresholds, except on `dos_hosts`.
    fn services(&self, s: &Summary, dos_hosts: &[String]) -> Vec<Finding> {
        let mut out = Vec::new();
        for r in s.services(usize::MAX) {
            if dos_hosts.contains(&r.server.to_string())
                || self.whitelist.iter().any(|c| c.contains(r.server))
            {
                continue;
            }
            let Some(g) = self.groups.iter().find(|g| g.covers(r.server, r.port)) else {
                continue;
            };
            let st = &r.stats;
            // Unanswered SYNs are known only at the handshake timeout, so
            // during an outage outcomes lag the handshakes begun: either
            // gives volume.
            let outcomes = st.answered + st.failures();
            if outcomes == 0 || outcomes.max(st.started) < g.min_handshakes.max(1) {
                continue;
            }
            let ratio = st.failures() as f64 / outcomes as f64;
            let hist = match g.latency_side {
                Side::Server => &st.server_rtt,
                Side::Client => &st.client_rtt,
            };
            // The quantile's bucket: the true sample lies in [lower, upper].
            let latency = if hist.len() >= g.min_handshakes {
                hist.quantile_ns(g.latency_quantile)
            } else {
                None
            };
            let slow = latency.is_some_and(|(lo, _)| lo as f64 >= g.latency_ms * 1e6);
            let failing = ratio >= g.failure_ratio;
            if !slow && !failing {
                continue;
            }
            let evidence = ServiceEvidence {
                stats: r.stats.clone(),
                outcomes,
                missed_events_upper: r.missed_upper,
                latency: Latency {
                    side: g.latency_side,
                    quantile: g.latency_quantile,
                    lower_ns: latency.map(|l| l.0),
                    upper_ns: latency.map(|l| l.1),
                    threshold_ms: g.latency_ms,
                },
                failure_threshold: g.failure_ratio,
            };
            out.push(Finding {
                victim: r.name(),
                kind: if failing {
                    AlertKind::SlaFailures
                } else {
                    AlertKind::SlaLatency
                },
                group: g.name.clone(),
                pps: 0.0,
                evidence: Evidence::Service(Box::new(evidence)),
                need: Some(g.epochs),
            });
        }
        out
    }
}
