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
//! Per victim, one alert of the most specific type whose condition holds:
//! `syn_flood` (unanswered SYNs: SYNs to it minus SYN-ACKs from it),
//! `udp_amplification` (UDP from reflector source ports), `icmp_flood`,
//! `distributed_flood` (many distinct sources and a packet rate),
//! `volumetric` (packets, bits or new flows per second), `baseline_change`
//! (far above its own learned normal, an EWMA of its packet rate with
//! k-sigma); and per destination prefix `carpet_bombing` (a /24 or /64 over
//! threshold with no host of it alerting). Traffic its victim answers
//! (packets back at least `answered_ratio` of those in, 0.25 by default:
//! bulk TCP is acknowledged about every second segment) is a busy service,
//! not an attack, for the volumetric, distributed and baseline conditions:
//! a flash crowd does not raise a DoS alert. Floods that are one-way by
//! nature (SYN, reflection, ICMP) are judged on their own counters.
//!
//! Per service (`addr:port`, from [`crate::handshake`]): `sla_failures`
//! (refused and unanswered handshakes over a share of the outcomes) and
//! `sla_latency` (a handshake round-trip quantile's whole HdrHistogram
//! bucket over the threshold), held for `epochs` (3 by default) before
//! they start. A service whose host is under a DoS alert, or was within
//! the last 10 epochs, is left to that alert.
//!
//! Lifecycle: an alert starts after its condition held `start_epochs`
//! epochs in a row, is updated every epoch it still holds, and ends after
//! `end_epochs` quiet epochs.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use capture::Ip;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::shard::attack_prefix;
use crate::summary::{Counter, Summary};

/// A network: address and prefix length, IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// First address, IPv4-mapped for IPv4.
    pub addr: u128,
    /// Prefix length in the IPv6 (mapped) space.
    pub len: u8,
}

impl Cidr {
    /// Whether `ip` is inside.
    pub fn contains(&self, ip: Ip) -> bool {
        self.len == 0 || (ip.0 ^ self.addr) >> (128 - self.len as u32) == 0
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (a, l) = s.split_once('/').unwrap_or((s, ""));
        let ip: IpAddr = a
            .parse()
            .map_err(|_| format!("`{s}` is not an address or CIDR prefix"))?;
        let (max, base) = match ip {
            IpAddr::V4(_) => (32u8, 96u8),
            IpAddr::V6(_) => (128, 0),
        };
        let len = if l.is_empty() {
            max
        } else {
            l.parse::<u8>()
                .ok()
                .filter(|&n| n <= max)
                .ok_or_else(|| format!("`{s}`: prefix length must be 0..={max}"))?
        };
        let len = base + len;
        let addr = Ip::from(ip).0;
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - len as u32)
        };
        Ok(Cidr {
            addr: addr & mask,
            len,
        })
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Thresholds of one group of protected networks. Rates are per second of
/// event time.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HostGroup {
    /// Name used in alerts.
    pub name: String,
    /// The networks (IPv4 and IPv6 CIDR prefixes).
    pub networks: Vec<Cidr>,
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
                "0.0.0.0/0".parse().expect("valid"),
                "::/0".parse().expect("valid"),
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

/// SLA thresholds for a group of services (the `[[detect.service]]` list
/// of the configuration file).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceGroup {
    /// Name used in alerts.
    pub name: String,
    /// Server networks; empty means any server.
    pub networks: Vec<Cidr>,
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
    fn covers(&self, ip: Ip, port: u16) -> bool {
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
    pub whitelist: Vec<Cidr>,
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

impl DetectConfig {
    /// Checks ranges; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.start_epochs == 0 || self.end_epochs == 0 {
            return Err("start_epochs and end_epochs must be at least 1".into());
        }
        if !(self.baseline_alpha > 0.0 && self.baseline_alpha <= 1.0) {
            return Err("baseline_alpha must be in (0, 1]".into());
        }
        if self.candidates == 0 {
            return Err("candidates must be at least 1".into());
        }
        for g in &self.hostgroups {
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
                    return Err(format!("hostgroup `{}`: {k} must be positive", g.name));
                }
            }
            if g.networks.is_empty() {
                return Err(format!("hostgroup `{}`: networks is empty", g.name));
            }
        }
        for g in &self.services {
            let bad = |k: &str, what: &str| Err(format!("service `{}`: {k} {what}", g.name));
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

/// Epochs after a host's DoS alert during which its services raise no SLA
/// alert.
const SLA_COOLDOWN: u64 = 10;

/// One alert line: `event` (`start`, `update`, `end`), `type`, `victim`,
/// `start_ts_ns` and the evidence.
pub type AlertLine = Value;

#[derive(Debug)]
struct Track {
    kind: &'static str,
    group: String,
    held: u32,
    quiet: u32,
    active: bool,
    start_ts_ns: u64,
    last: Value,
    peak_pps: f64,
    detected_ts_ns: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Ewma {
    mean: f64,
    var: f64,
    epochs: u32,
    seen: u64,
}

/// Alert state across epochs.
#[derive(Debug)]
pub struct Detector {
    cfg: DetectConfig,
    groups: Vec<HostGroup>,
    service_groups: Vec<ServiceGroup>,
    tracks: BTreeMap<String, Track>,
    /// DoS victims and the last epoch they were under an alert.
    dos_seen: BTreeMap<String, u64>,
    baselines: HashMap<u128, Ewma>,
    epoch_ns: u64,
    last_epoch: Option<u64>,
    /// Every alert that started, with its latest state, in start order.
    history: Vec<Value>,
}

struct Finding {
    victim: String,
    kind: &'static str,
    group: String,
    pps: f64,
    evidence: Value,
    /// Epochs the condition must hold before the alert starts (`None`:
    /// the configured `start_epochs`).
    need: Option<u32>,
}

fn est(b: (u64, u64), per_s: f64) -> Value {
    json!({"value": b.1 as f64 * per_s, "lower": b.0 as f64 * per_s, "upper": b.1 as f64 * per_s})
}

impl Detector {
    /// A detector for epochs of `epoch_ns`.
    pub fn new(cfg: DetectConfig, epoch_ns: u64) -> Result<Detector, String> {
        cfg.validate()?;
        let groups = if cfg.hostgroups.is_empty() {
            vec![HostGroup::default()]
        } else {
            cfg.hostgroups.clone()
        };
        let service_groups = if cfg.services.is_empty() {
            vec![ServiceGroup::default()]
        } else {
            cfg.services.clone()
        };
        Ok(Detector {
            cfg,
            groups,
            service_groups,
            tracks: BTreeMap::new(),
            dos_seen: BTreeMap::new(),
            baselines: HashMap::new(),
            epoch_ns,
            last_epoch: None,
            history: Vec::new(),
        })
    }

    fn group_of(&self, ip: Ip) -> Option<&HostGroup> {
        if self.cfg.whitelist.iter().any(|c| c.contains(ip)) {
            return None;
        }
        self.groups
            .iter()
            .find(|g| g.networks.iter().any(|c| c.contains(ip)))
    }

    /// Reads one closed epoch and returns the alert lines it causes.
    pub fn on_epoch(&mut self, s: &Summary) -> Vec<AlertLine> {
        let epoch = s.start_ns / self.epoch_ns;
        // An empty epoch with nothing held or active changes nothing (no
        // candidate, no baseline, no service): the cheap case that keeps a
        // gap of days in a replay, every epoch of it closed, fast.
        if s.totals.packets == 0 && self.tracks.is_empty() {
            self.last_epoch = Some(epoch);
            return Vec::new();
        }
        // The engine closes every epoch, empty ones included; a caller
        // that skips some still ends alerts: missing epochs are quiet.
        let gap = self.last_epoch.map_or(0, |l| epoch.saturating_sub(l + 1));
        self.last_epoch = Some(epoch);
        let mut out = Vec::new();
        for _ in 0..gap.min(self.cfg.end_epochs as u64) {
            self.quiet_all(&mut out, s.start_ns, &[]);
        }
        let findings = self.findings(s);
        let now = s.end_ns;
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
                    start_ts_ns: s.start_ns,
                    last: Value::Null,
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
                    t.start_ts_ns = s.start_ns;
                }
            }
            let event = if t.active {
                "update"
            } else if t.held >= f.need.unwrap_or(self.cfg.start_epochs) {
                t.active = true;
                t.detected_ts_ns = now;
                "start"
            } else {
                continue;
            };
            let line = json!({
                "event": event, "type": t.kind, "victim": f.victim, "hostgroup": t.group,
                "start_ts_ns": t.start_ts_ns, "detected_ts_ns": t.detected_ts_ns, "ts_ns": now,
                "window": {"start_ts_ns": s.start_ns, "end_ts_ns": s.end_ns},
                "evidence": f.evidence,
            });
            t.last = line.clone();
            if event == "start" {
                self.history.push(line.clone());
            }
            out.push(line);
        }
        self.quiet_all(&mut out, now, &holding);
        self.refresh_history();
        out
    }

    fn quiet_all(&mut self, out: &mut Vec<AlertLine>, now: u64, holding: &[String]) {
        let end_after = self.cfg.end_epochs;
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
                let mut line = t.last.clone();
                line["event"] = json!("end");
                line["ts_ns"] = json!(now);
                line["end_ts_ns"] = json!(now);
                line["peak_pps"] = json!(t.peak_pps);
                t.last = line.clone();
                out.push(line);
                ended.push(v.clone());
            }
        }
        for v in ended {
            if let Some(t) = self.tracks.remove(&v) {
                if t.active {
                    self.set_history(&v, t.start_ts_ns, t.last);
                }
            }
        }
    }

    fn set_history(&mut self, victim: &str, start: u64, last: Value) {
        if let Some(h) = self
            .history
            .iter_mut()
            .rev()
            .find(|h| h["victim"] == victim && h["start_ts_ns"] == start)
        {
            *h = last;
        }
    }

    fn refresh_history(&mut self) {
        let active: Vec<(String, u64, Value)> = self
            .tracks
            .iter()
            .filter(|(_, t)| t.active)
            .map(|(v, t)| (v.clone(), t.start_ts_ns, t.last.clone()))
            .collect();
        for (v, s, l) in active {
            self.set_history(&v, s, l);
        }
    }

    /// Alerts active now, by type.
    pub fn active_by_type(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for t in self.tracks.values().filter(|t| t.active) {
            *m.entry(t.kind).or_insert(0) += 1;
        }
        m
    }

    /// Every alert that started, each in its latest state (`event` `end`
    /// once ended, else its last `start` or `update`).
    pub fn alerts(&self) -> &[Value] {
        &self.history
    }

    fn findings(&mut self, s: &Summary) -> Vec<Finding> {
        let per_s = 1e9 / (s.end_ns - s.start_ns).max(1) as f64;
        let k = self.cfg.candidates;
        let mut victims: Vec<Ip> = Vec::new();
        for c in [
            Counter::DstPackets,
            Counter::DstBytes,
            Counter::SynTo,
            Counter::IcmpTo,
            Counter::AmpTo,
        ] {
            for (ip, _, _) in s.counter_top(c, k) {
                if !victims.contains(&ip) {
                    victims.push(ip);
                }
            }
        }
        let mut out = Vec::new();
        let mut alerting_prefixes = Vec::new();
        for v in victims {
            let Some(g) = self.group_of(v).cloned() else {
                continue;
            };
            let b = |c| s.counter_bounds(c, v);
            let (pkts, bytes, back) = (
                b(Counter::DstPackets),
                b(Counter::DstBytes),
                b(Counter::SrcPackets),
            );
            let (syn, synack) = (b(Counter::SynTo), b(Counter::SynAckFrom));
            let (icmp, amp) = (b(Counter::IcmpTo), b(Counter::AmpTo));
            let distinct = s.distinct_sources_of(v);
            let flows = s.distinct_flows_to(v);
            let flows_lo = flows.map_or(0.0, |e| e.lower) * per_s;
            let pps_lo = pkts.0 as f64 * per_s;
            let bps_lo = bytes.0 as f64 * 8.0 * per_s;
            // Unanswered SYNs, at least: SYNs in (lower) less SYN-ACKs out
            // (upper).
            let unanswered = (
                syn.0.saturating_sub(synack.1),
                syn.1.saturating_sub(synack.0),
            );
            let answered = back.1 as f64 >= self.cfg.answered_ratio * pkts.0 as f64;
            let ds_lo = distinct.map_or(0.0, |e| e.lower);
            let baseline = self.baseline_check(v, pps_lo, &g, answered);
            let kind = if unanswered.0 as f64 * per_s >= g.syn_pps {
                "syn_flood"
            } else if amp.0 as f64 * per_s >= g.udp_amp_pps {
                "udp_amplification"
            } else if icmp.0 as f64 * per_s >= g.icmp_pps {
                "icmp_flood"
            } else if !answered && ds_lo >= g.distinct_sources && pps_lo >= g.distributed_pps {
                "distributed_flood"
            } else if !answered && (pps_lo >= g.pps || bps_lo >= g.bps || flows_lo >= g.flows) {
                "volumetric"
            } else if let Some(b) = baseline {
                let mut ev = self.evidence(
                    s, v, per_s, pkts, bytes, back, syn, synack, icmp, amp, distinct, unanswered,
                );
                ev["baseline_pps"] = b;
                out.push(Finding {
                    victim: Ip(v.0).to_string(),
                    kind: "baseline_change",
                    group: g.name.clone(),
                    pps: pps_lo,
                    evidence: ev,
                    need: None,
                });
                alerting_prefixes.push(attack_prefix(v.0));
                continue;
            } else {
                continue;
            };
            alerting_prefixes.push(attack_prefix(v.0));
            out.push(Finding {
                victim: v.to_string(),
                kind,
                group: g.name.clone(),
                pps: pps_lo,
                evidence: self.evidence(
                    s, v, per_s, pkts, bytes, back, syn, synack, icmp, amp, distinct, unanswered,
                ),
                need: None,
            });
        }
        // Carpet bombing: a prefix over threshold none of whose hosts is.
        for (p, lo, hi) in s.counter_top(Counter::PrefixTo, k) {
            let Some(g) = self.group_of(p).cloned() else {
                continue;
            };
            if (lo as f64) * per_s < g.prefix_pps || alerting_prefixes.contains(&p.0) {
                continue;
            }
            let v4 = p.to_v4().is_some();
            let len = if v4 { 24 } else { 64 };
            // A prefix that answers is busy, not bombed: bytes back (upper
            // bound) at least `answered_bytes_ratio` of bytes in (lower).
            // Bytes, as only per-prefix bytes are kept (Count-Min): a
            // download's ACKs are 2-4% of its bytes.
            if let (Some(back), Some(inb)) = (s.bytes_of(p, len, true), s.bytes_of(p, len, false)) {
                if back.upper >= self.cfg.answered_bytes_ratio * inb.lower {
                    continue;
                }
            }
            let victim = format!("{p}/{len}");
            let top: Vec<(Ip, u64, u64)> = s
                .counter_top(Counter::DstPackets, 4 * k)
                .into_iter()
                .filter(|(ip, _, _)| attack_prefix(ip.0) == p.0)
                .take(5)
                .collect();
            // Spread over the prefix: one host carrying half of it is that
            // host's traffic (a busy server), judged on its own above.
            if top.first().is_some_and(|h| 2 * h.2 >= lo) {
                continue;
            }
            let hosts: Vec<Value> = top
                .iter()
                .map(|&(ip, l, u)| json!({"key": ip.to_string(), "pps": est((l, u), per_s)}))
                .collect();
            out.push(Finding {
                victim,
                kind: "carpet_bombing",
                group: g.name.clone(),
                pps: lo as f64 * per_s,
                evidence: json!({"pps": est((lo, hi), per_s), "top_hosts": hosts,
                    "threshold_pps": g.prefix_pps}),
                need: None,
            });
        }
        // Hosts under a DoS alert, now, still active, or ended less than
        // SLA_COOLDOWN epochs ago: a flood's tail (its last SYNs timing
        // out, a trickle below the thresholds) is that attack, not a
        // service fault.
        let epoch = self.last_epoch.unwrap_or(0);
        for (v, t) in &self.tracks {
            if t.active && !t.kind.starts_with("sla_") {
                self.dos_seen.insert(v.clone(), epoch);
            }
        }
        for f in &out {
            self.dos_seen.insert(f.victim.clone(), epoch);
        }
        self.dos_seen
            .retain(|_, e| epoch.saturating_sub(*e) <= SLA_COOLDOWN);
        let dos_hosts: Vec<String> = self.dos_seen.keys().cloned().collect();
        out.extend(self.sla_findings(s, &dos_hosts));
        out
    }

    /// Services over their SLA thresholds, except on `dos_hosts`.
    fn sla_findings(&self, s: &Summary, dos_hosts: &[String]) -> Vec<Finding> {
        let mut out = Vec::new();
        for r in s.services(usize::MAX) {
            if dos_hosts.contains(&r.server.to_string())
                || self.cfg.whitelist.iter().any(|c| c.contains(r.server))
            {
                continue;
            }
            let Some(g) = self
                .service_groups
                .iter()
                .find(|g| g.covers(r.server, r.port))
            else {
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
            let side = match g.latency_side {
                Side::Server => "server",
                Side::Client => "client",
            };
            let mut ev = st.to_json();
            ev["outcomes"] = json!(outcomes);
            ev["missed_events_upper"] = json!(r.missed_upper);
            ev["latency"] = json!({
                "side": side,
                "quantile": g.latency_quantile,
                "lower_ns": latency.map(|l| l.0),
                "upper_ns": latency.map(|l| l.1),
                "threshold_ms": g.latency_ms,
            });
            ev["failure_threshold"] = json!(g.failure_ratio);
            out.push(Finding {
                victim: r.name(),
                kind: if failing {
                    "sla_failures"
                } else {
                    "sla_latency"
                },
                group: g.name.clone(),
                pps: 0.0,
                evidence: ev,
                need: Some(g.epochs),
            });
        }
        out
    }

    /// Updates `v`'s learned rate and says whether `pps` is far above it.
    fn baseline_check(&mut self, v: Ip, pps: f64, g: &HostGroup, answered: bool) -> Option<Value> {
        if !g.baseline {
            return None;
        }
        let cfg = &self.cfg;
        let epoch = self.last_epoch.unwrap_or(0);
        if self.baselines.len() >= cfg.baseline_hosts && !self.baselines.contains_key(&v.0) {
            // Forget the host seen least recently.
            if let Some((&old, _)) = self.baselines.iter().min_by_key(|(k, e)| (e.seen, **k)) {
                self.baselines.remove(&old);
            }
        }
        let e = self.baselines.entry(v.0).or_default();
        let sd = e.var.sqrt();
        let flagged = !answered
            && e.epochs >= cfg.baseline_warmup
            && pps >= cfg.baseline_min_pps
            && pps >= cfg.baseline_factor * e.mean
            && pps >= e.mean + cfg.baseline_k * sd;
        let before = json!({"mean": e.mean, "stddev": sd, "epochs": e.epochs});
        if !flagged {
            // Learn only from normal epochs, so an attack does not become
            // the normal.
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

    #[allow(clippy::too_many_arguments)]
    fn evidence(
        &self,
        s: &Summary,
        v: Ip,
        per_s: f64,
        pkts: (u64, u64),
        bytes: (u64, u64),
        back: (u64, u64),
        syn: (u64, u64),
        synack: (u64, u64),
        icmp: (u64, u64),
        amp: (u64, u64),
        distinct: Option<sketches::Estimate>,
        unanswered: (u64, u64),
    ) -> Value {
        let bits = (bytes.0 * 8, bytes.1 * 8);
        json!({
            "pps": est(pkts, per_s),
            "bps": est(bits, per_s),
            "reply_pps": est(back, per_s),
            "protocols": {
                "tcp_syn_pps": est(syn, per_s),
                "tcp_synack_out_pps": est(synack, per_s),
                "tcp_unanswered_syn_pps": est(unanswered, per_s),
                "icmp_pps": est(icmp, per_s),
                "udp_reflector_pps": est(amp, per_s),
            },
            "flows_per_s": s.distinct_flows_to(v).map(|e| json!({
                "value": e.value * per_s, "lower": e.lower * per_s, "upper": e.upper * per_s,
                "confidence": e.confidence
            })),
            "distinct_sources": distinct.map(|e| json!({
                "value": e.value, "lower": e.lower, "upper": e.upper, "confidence": e.confidence
            })),
            "top_sources": s.top_sources_to(v, 5).iter().map(|t| json!({
                "key": t.key, "packets": t.value, "lower": t.lower, "upper": t.upper
            })).collect::<Vec<_>>(),
        })
    }
}
