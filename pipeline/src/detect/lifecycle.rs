//! The life of an alert: a [`Finding`] (a condition that held in an epoch)
//! becomes a [`Track`] per victim, which starts an [`Alert`] after its
//! condition held `start_epochs` epochs in a row, updates it every epoch it
//! still holds, and ends it after `end_epochs` quiet epochs; and [`Ewma`],
//! the learned normal packet rate of a host for `baseline_change`.

use std::collections::BTreeMap;

use super::config::DetectConfig;
use super::evidence::{Baseline, Evidence};
use super::kind::{AlertKind, Event};

/// A condition that held for one victim in one epoch.
#[derive(Debug)]
pub(super) struct Finding {
    pub victim: String,
    pub kind: AlertKind,
    pub group: String,
    /// Packets per second (lower bound) to the victim; 0 for a service.
    pub pps: f64,
    pub evidence: Evidence,
    /// Epochs the condition must hold before the alert starts (`None`:
    /// the configured `start_epochs`).
    pub need: Option<u32>,
}

/// The epoch an alert line was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Its first nanosecond.
    pub start_ts_ns: u64,
    /// The first nanosecond after it.
    pub end_ts_ns: u64,
}

/// What an ended alert adds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ended {
    /// When it ended (the end of its last quiet epoch).
    pub end_ts_ns: u64,
    /// Its highest packet rate (lower bounds), 0 for a service.
    pub peak_pps: f64,
}

/// One alert line: a start, an update or the end of one alert.
#[derive(Debug, Clone)]
pub struct Alert {
    /// Where in its life.
    pub event: Event,
    /// What it is.
    pub kind: AlertKind,
    /// A host, a prefix (`10.1.2.0/24`) or a service (`10.1.2.3:443`).
    pub victim: String,
    /// The hostgroup or service group that matched.
    pub hostgroup: String,
    /// The first epoch its condition held.
    pub start_ts_ns: u64,
    /// When it started (the end of the epoch that started it).
    pub detected_ts_ns: u64,
    /// When this line was written.
    pub ts_ns: u64,
    /// The epoch of its latest evidence.
    pub window: Span,
    /// That epoch's figures.
    pub evidence: Evidence,
    /// Set once it ended.
    pub ended: Option<Ended>,
}

/// Alert state of one victim.
#[derive(Debug)]
struct Track {
    kind: AlertKind,
    group: String,
    held: u32,
    quiet: u32,
    active: bool,
    start_ts_ns: u64,
    last: Option<Alert>,
    peak_pps: f64,
    detected_ts_ns: u64,
}

/// A host's learned packet rate: an exponentially weighted mean and
/// variance.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Ewma {
    mean: f64,
    var: f64,
    epochs: u32,
    /// The last epoch it was looked at (the least recent is forgotten
    /// first).
    seen: u64,
}

/// Every victim's track, and every alert that started.
#[derive(Debug)]
pub(super) struct Lifecycle {
    start_epochs: u32,
    end_epochs: u32,
    /// Per victim, the condition held or the alert active.
    tracks: BTreeMap<String, Track>,
    /// Every alert that started, with its latest state, in start order.
    history: Vec<Alert>,
}

impl Lifecycle {
    /// No alert yet, with `cfg`'s hysteresis.
    pub(super) fn new(cfg: &DetectConfig) -> Lifecycle {
        Lifecycle {
            start_epochs: cfg.start_epochs,
            end_epochs: cfg.end_epochs,
            tracks: BTreeMap::new(),
            history: Vec::new(),
        }
    }

    /// Nothing held, nothing active.
    pub(super) fn is_idle(&self) -> bool {
        self.tracks.is_empty()
    }

    /// Victims of the active DoS (not SLA) alerts.
    pub(super) fn active_dos(&self) -> impl Iterator<Item = &str> {
        self.tracks
            .iter()
            .filter(|(_, t)| t.active && !t.kind.is_sla())
            .map(|(v, _)| v.as_str())
    }

    /// Alerts active now, by kind.
    pub(super) fn active_by_kind(&self) -> BTreeMap<AlertKind, usize> {
        let mut m = BTreeMap::new();
        for t in self.tracks.values().filter(|t| t.active) {
            *m.entry(t.kind).or_insert(0) += 1;
        }
        m
    }

    /// Every alert that started, each in its latest state.
    pub(super) fn alerts(&self) -> &[Alert] {
        &self.history
    }

    /// Applies one epoch's findings: starts and updates alerts, counts the
    /// others' quiet epochs; appends the lines to `out`.
    pub(super) fn apply(&mut self, findings: Vec<Finding>, epoch: Span, out: &mut Vec<Alert>) {
        let now = epoch.end_ts_ns;
        let holding: Vec<String> = findings.iter().map(|f| f.victim.clone()).collect();
        for f in findings {
            let t = self
                .tracks
                .entry(f.victim.clone())
                .or_insert_with(|| Track {
                    kind: f.kind,
                    group: f.group.clone(),
                    held: 0,
                    quiet: 0,
                    active: false,
                    start_ts_ns: epoch.start_ts_ns,
                    last: None,
                    peak_pps: 0.0,
                    detected_ts_ns: 0,
                });
            t.held += 1;
            t.quiet = 0;
            t.peak_pps = t.peak_pps.max(f.pps);
            if !t.active {
                // The type is fixed when the alert starts; until then the
                // most specific condition of the latest epoch names it.
                t.kind = f.kind;
                if t.held == 1 {
                    t.start_ts_ns = epoch.start_ts_ns;
                }
            }
            let event = if t.active {
                Event::Update
            } else if t.held >= f.need.unwrap_or(self.start_epochs) {
                t.active = true;
                t.detected_ts_ns = now;
                Event::Start
            } else {
                continue;
            };
            let line = Alert {
                event,
                kind: t.kind,
                victim: f.victim,
                hostgroup: t.group.clone(),
                start_ts_ns: t.start_ts_ns,
                detected_ts_ns: t.detected_ts_ns,
                ts_ns: now,
                window: epoch,
                evidence: f.evidence,
                ended: None,
            };
            t.last = Some(line.clone());
            if event == Event::Start {
                self.history.push(line.clone());
            }
            out.push(line);
        }
        self.quiet_all(out, now, &holding);
        self.refresh_history();
    }

    /// One quiet epoch for every track not in `holding`: ends the alerts
    /// quiet for `end_epochs`, forgets conditions that never started.
    pub(super) fn quiet_all(&mut self, out: &mut Vec<Alert>, now: u64, holding: &[String]) {
        let end_after = self.end_epochs;
        let mut ended = Vec::new();
        for (v, t) in self.tracks.iter_mut() {
            if holding.contains(v) {
                continue;
            }
            t.held = 0;
            if !t.active {
                ended.push(v.clone());
                continue;
            }
            t.quiet += 1;
            if t.quiet >= end_after {
                if let Some(line) = t.last.as_mut() {
                    line.event = Event::End;
                    line.ts_ns = now;
                    line.ended = Some(Ended {
                        end_ts_ns: now,
                        peak_pps: t.peak_pps,
                    });
                    out.push(line.clone());
                }
                ended.push(v.clone());
            }
        }
        for v in ended {
            if let Some(t) = self.tracks.remove(&v) {
                if let (true, Some(last)) = (t.active, t.last) {
                    self.set_history(t.start_ts_ns, last);
                }
            }
        }
    }

    /// Replaces the history entry of `last`'s alert with `last`.
    fn set_history(&mut self, start: u64, last: Alert) {
        if let Some(h) = self
            .history
            .iter_mut()
            .rev()
            .find(|h| h.victim == last.victim && h.start_ts_ns == start)
        {
            *h = last;
        }
    }

    /// Brings the history entries of active alerts to their latest line.
    fn refresh_history(&mut self) {
        let active: Vec<(u64, Alert)> = self
            .tracks
            .values()
            .filter(|t| t.active)
            .filter_map(|t| Some((t.start_ts_ns, t.last.clone()?)))
            .collect();
        for (s, l) in active {
            self.set_history(s, l);
        }
    }
}

/// Updates `e`, the learned rate of a host, with this epoch's `pps`, and
/// says whether `pps` is far above it (then it is not learned: an attack
/// does not become the normal). `answered` traffic is never flagged.
pub(super) fn baseline_step(
    cfg: &DetectConfig,
    e: &mut Ewma,
    pps: f64,
    answered: bool,
    epoch: u64,
) -> Option<Baseline> {
    let sd = e.var.sqrt();
    let flagged = !answered
        && e.epochs >= cfg.baseline_warmup
        && pps >= cfg.baseline_min_pps
        && pps >= cfg.baseline_factor * e.mean
        && pps >= e.mean + cfg.baseline_k * sd;
    let before = Baseline {
        mean: e.mean,
        stddev: sd,
        epochs: e.epochs,
    };
    if !flagged {
        let a = cfg.baseline_alpha;
        let d = pps - e.mean;
        if e.epochs == 0 {
            e.mean = pps;
        } else {
            e.mean += a * d;
            e.var = (1.0 - a) * (e.var + a * d * d);
        }
        e.epochs += 1;
    }
    e.seen = epoch;
    flagged.then_some(before)
}

impl Ewma {
    /// The last epoch it was looked at.
    pub(super) fn seen(&self) -> u64 {
        self.seen
    }
}
