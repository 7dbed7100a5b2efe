//! DoS and SLA detection over closed epochs.
//!
//! Runs on the merging thread, once per closed epoch, reading that epoch's
//! [`Summary`]; never on the per-packet path. Every figure that triggers an
//! alert is a sketch bound: a condition holds when the *lower* bound of the
//! rate is over its threshold, so sketch error can delay an alert but never
//! raise one. Victims are candidates from the per-destination heavy hitters
//! (packets, bytes, SYN, ICMP, reflector UDP, destination prefix), so a
//! victim is found whatever traffic its attack uses.
//!
//! Per victim, one alert of the most specific type whose condition holds
//! ([`AlertKind`]; the rules are in `dos.rs`): `syn_flood` (unanswered
//! SYNs: SYNs to it minus SYN-ACKs from it), `udp_amplification` (UDP from
//! reflector source ports), `icmp_flood`, `distributed_flood` (many
//! distinct sources and a packet rate), `volumetric` (packets, bits or new
//! flows per second), `baseline_change` (far above its own learned normal,
//! an EWMA of its packet rate with k-sigma); and per destination prefix
//! `carpet_bombing` (a /24 or /64 over threshold with no host of it
//! alerting). Traffic its victim answers (packets back at least
//! `answered_ratio` of those in, 0.25 by default: bulk TCP is acknowledged
//! about every second segment) is a busy service, not an attack, for the
//! volumetric, distributed and baseline conditions: a flash crowd does not
//! raise a DoS alert. Floods that are one-way by nature (SYN, reflection,
//! ICMP) are judged on their own counters.
//!
//! Per service (`sla.rs`): `sla_failures` and `sla_latency`, held for the
//! group's `epochs` before they start, and left alone on a host under a
//! DoS alert.
//!
//! Lifecycle (`lifecycle.rs`): an alert starts after its condition held
//! `start_epochs` epochs in a row, is updated every epoch it still holds,
//! and ends after `end_epochs` quiet epochs. Alerts are typed values
//! ([`Alert`], [`Evidence`]); tools renders them.

use std::collections::BTreeMap;

use crate::summary::Summary;

mod config;
mod dos;
mod evidence;
mod kind;
mod lifecycle;
mod sla;
#[cfg(test)]
mod tests;

pub use config::{ConfigError, DetectConfig, HostGroup, ServiceGroup, Side};
pub use evidence::{
    Baseline, Evidence, HostEvidence, HostRate, Latency, PrefixEvidence, Protocols, Rate,
    ServiceEvidence,
};
pub use kind::{AlertKind, Event, UnknownKind};
pub use lifecycle::{Alert, Ended, Span};
pub use sla::SLA_COOLDOWN;

use dos::DosRules;
use lifecycle::Lifecycle;
use sla::SlaRules;

/// Alert state across epochs: the rules, what they learned, and every
/// victim's alert.
#[derive(Debug)]
pub struct Detector {
    dos: DosRules,
    sla: SlaRules,
    life: Lifecycle,
    end_epochs: u32,
    epoch_ns: u64,
    last_epoch: Option<u64>,
}

impl Detector {
    /// A detector for epochs of `epoch_ns`; the error names the
    /// configuration key out of range.
    pub fn new(cfg: DetectConfig, epoch_ns: u64) -> Result<Detector, ConfigError> {
        cfg.validate()?;
        Ok(Detector {
            dos: DosRules::new(&cfg),
            sla: SlaRules::new(&cfg),
            life: Lifecycle::new(&cfg),
            end_epochs: cfg.end_epochs,
            epoch_ns,
            last_epoch: None,
        })
    }

    /// Reads one closed epoch and returns the alert lines it causes.
    pub fn on_epoch(&mut self, s: &Summary) -> Vec<Alert> {
        let epoch = s.start_ns / self.epoch_ns;
        // An empty epoch with nothing held or active changes nothing (no
        // candidate, no baseline, no service): the cheap case that keeps a
        // gap of days in a replay, every epoch of it closed, fast.
        if s.totals.packets == 0 && self.life.is_idle() {
            self.last_epoch = Some(epoch);
            return Vec::new();
        }
        // The engine closes every epoch, empty ones included; a caller
        // that skips some still ends alerts: missing epochs are quiet.
        let gap = self.last_epoch.map_or(0, |l| epoch.saturating_sub(l + 1));
        self.last_epoch = Some(epoch);
        let mut out = Vec::new();
        for _ in 0..gap.min(self.end_epochs as u64) {
            self.life.quiet_all(&mut out, s.start_ns, &[]);
        }
        let mut findings = self.dos.findings(s, epoch);
        let dos = self
            .life
            .active_dos()
            .chain(findings.iter().map(|f| f.victim.as_str()));
        let sla = self.sla.findings(s, epoch, dos);
        findings.extend(sla);
        let span = Span {
            start_ts_ns: s.start_ns,
            end_ts_ns: s.end_ns,
        };
        self.life.apply(findings, span, &mut out);
        out
    }

    /// Alerts active now, by kind.
    pub fn active_by_type(&self) -> BTreeMap<AlertKind, usize> {
        self.life.active_by_kind()
    }

    /// Every alert that started, each in its latest state (`End` once
    /// ended, else its last `Start` or `Update`).
    pub fn alerts(&self) -> &[Alert] {
        self.life.alerts()
    }
}
