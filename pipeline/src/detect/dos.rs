//! The DoS rules over one epoch's [`Summary`]. Victims are the candidates
//! of the per-destination heavy hitters; per victim the most specific
//! condition that holds names the alert ([`HOST_RULES`], in order, then
//! `baseline_change`); then destination prefixes with no host alerting are
//! judged for carpet bombing. Every condition is on lower bounds, so
//! sketch error can delay an alert but never raise one.

use std::collections::{BTreeSet, HashMap};

use capture::Ip;
use sketches::Estimate;

use super::config::{or_default_group, DetectConfig, HostGroup};
use super::evidence::{
    Baseline, Evidence, HostEvidence, HostRate, PrefixEvidence, Protocols, Rate,
};
use super::kind::AlertKind;
use super::lifecycle::{baseline_step, Ewma, Finding};
use crate::shard::attack_prefix;
use crate::summary::{Counter, Summary};

/// One victim's counters in one epoch: `(lower, upper)` bounds of packets
/// (bytes for `bytes`) in the epoch.
#[derive(Debug, Clone, Copy)]
struct Host {
    per_s: f64,
    pkts: (u64, u64),
    bytes: (u64, u64),
    back: (u64, u64),
    syn: (u64, u64),
    synack: (u64, u64),
    icmp: (u64, u64),
    amp: (u64, u64),
    /// SYNs in (lower) less SYN-ACKs out (upper), and the other way round.
    unanswered: (u64, u64),
    distinct: Option<Estimate>,
    flows: Option<Estimate>,
    /// Packets back at least `answered_ratio` of those in: a busy service.
    answered: bool,
}

impl Host {
    fn pps_lo(&self) -> f64 {
        self.pkts.0 as f64 * self.per_s
    }
}

/// A per-host rule: whether its condition holds for the host's group.
type Rule = fn(&Host, &HostGroup) -> bool;

/// The host rules, most specific first: the first that holds names the
/// alert. Floods one-way by nature (SYN, reflection, ICMP) are judged on
/// their own counters; the others only on unanswered traffic, so a flash
/// crowd raises nothing.
const HOST_RULES: [(AlertKind, Rule); 5] = [
    (AlertKind::SynFlood, syn_flood),
    (AlertKind::UdpAmplification, udp_amplification),
    (AlertKind::IcmpFlood, icmp_flood),
    (AlertKind::DistributedFlood, distributed_flood),
    (AlertKind::Volumetric, volumetric),
];

fn syn_flood(h: &Host, g: &HostGroup) -> bool {
    h.unanswered.0 as f64 * h.per_s >= g.syn_pps
}

fn udp_amplification(h: &Host, g: &HostGroup) -> bool {
    h.amp.0 as f64 * h.per_s >= g.udp_amp_pps
}

fn icmp_flood(h: &Host, g: &HostGroup) -> bool {
    h.icmp.0 as f64 * h.per_s >= g.icmp_pps
}

fn distributed_flood(h: &Host, g: &HostGroup) -> bool {
    let sources = h.distinct.map_or(0.0, |e| e.lower);
    !h.answered && sources >= g.distinct_sources && h.pps_lo() >= g.distributed_pps
}

fn volumetric(h: &Host, g: &HostGroup) -> bool {
    let bps = h.bytes.0 as f64 * 8.0 * h.per_s;
    let flows = h.flows.map_or(0.0, |e| e.lower) * h.per_s;
    !h.answered && (h.pps_lo() >= g.pps || bps >= g.bps || flows >= g.flows)
}

/// An estimate times `per_s` (its confidence kept).
fn scaled(e: Estimate, per_s: f64) -> Estimate {
    Estimate {
        value: e.value * per_s,
        lower: e.lower * per_s,
        upper: e.upper * per_s,
        confidence: e.confidence,
    }
}

/// The DoS rules and what they learn: each host's baseline.
#[derive(Debug)]
pub(super) struct DosRules {
    cfg: DetectConfig,
    /// The configured hostgroups, or one covering everything.
    groups: Vec<HostGroup>,
    baselines: HashMap<u128, Ewma>,
    /// `(last seen, host)` of every baseline, least recent first: which
    /// one a full table forgets, found in O(log n) (a scan of the table
    /// per new host cost a third of the merging thread on a busy trace).
    by_seen: BTreeSet<(u64, u128)>,
}

impl DosRules {
    /// The rules of `cfg`.
    pub(super) fn new(cfg: &DetectConfig) -> DosRules {
        DosRules {
            cfg: cfg.clone(),
            groups: or_default_group(&cfg.hostgroups),
            baselines: HashMap::new(),
            by_seen: BTreeSet::new(),
        }
    }

    /// The hostgroup protecting `ip`, unless whitelisted.
    fn group_of(&self, ip: Ip) -> Option<&HostGroup> {
        if self.cfg.whitelist.iter().any(|c| c.contains(ip)) {
            return None;
        }
        self.groups
            .iter()
            .find(|g| g.networks.iter().any(|c| c.contains(ip)))
    }

    /// The DoS findings of `epoch`: hosts, then prefixes.
    pub(super) fn findings(&mut self, s: &Summary, epoch: u64) -> Vec<Finding> {
        let per_s = 1e9 / (s.end_ns - s.start_ns).max(1) as f64;
        let mut out = Vec::new();
        let mut alerting_prefixes = Vec::new();
        for v in self.candidates(s) {
            if let Some(f) = self.host_finding(s, v, per_s, epoch) {
                alerting_prefixes.push(attack_prefix(v.0));
                out.push(f);
            }
        }
        for (p, lo, hi) in s.counter_top(Counter::PrefixTo, self.cfg.candidates) {
            if !alerting_prefixes.contains(&p.0) {
                out.extend(self.carpet_bombing(s, p, (lo, hi), per_s));
            }
        }
        out
    }

    /// Candidate victims: the heaviest destinations by every counter that
    /// an attack can use.
    fn candidates(&self, s: &Summary) -> Vec<Ip> {
        let mut victims: Vec<Ip> = Vec::new();
        for c in [
            Counter::DstPackets,
            Counter::DstBytes,
            Counter::SynTo,
            Counter::IcmpTo,
            Counter::AmpTo,
        ] {
            for (ip, _, _) in s.counter_top(c, self.cfg.candidates) {
                if !victims.contains(&ip) {
                    victims.push(ip);
                }
            }
        }
        victims
    }

    /// The most specific condition that holds for host `v`, if any; its
    /// baseline learns from the epoch either way.
    fn host_finding(&mut self, s: &Summary, v: Ip, per_s: f64, epoch: u64) -> Option<Finding> {
        let g = self.group_of(v)?.clone();
        let b = |c| s.counter_bounds(c, v);
        let (pkts, back) = (b(Counter::DstPackets), b(Counter::SrcPackets));
        let (syn, synack) = (b(Counter::SynTo), b(Counter::SynAckFrom));
        let h = Host {
            per_s,
            pkts,
            bytes: b(Counter::DstBytes),
            back,
            syn,
            synack,
            icmp: b(Counter::IcmpTo),
            amp: b(Counter::AmpTo),
            unanswered: (
                syn.0.saturating_sub(synack.1),
                syn.1.saturating_sub(synack.0),
            ),
            distinct: s.distinct_sources_of(v),
            flows: s.distinct_flows_to(v),
            answered: back.1 as f64 >= self.cfg.answered_ratio * pkts.0 as f64,
        };
        let baseline = self.baseline_check(v, &h, &g, epoch);
        let kind = match HOST_RULES.iter().find(|(_, rule)| rule(&h, &g)) {
            Some(&(kind, _)) => kind,
            None if baseline.is_some() => AlertKind::BaselineChange,
            None => return None,
        };
        let evidence = HostEvidence {
            pps: Rate::of(h.pkts, per_s),
            bps: Rate::of((h.bytes.0 * 8, h.bytes.1 * 8), per_s),
            reply_pps: Rate::of(h.back, per_s),
            protocols: Protocols {
                tcp_syn_pps: Rate::of(h.syn, per_s),
                tcp_synack_out_pps: Rate::of(h.synack, per_s),
                tcp_unanswered_syn_pps: Rate::of(h.unanswered, per_s),
                icmp_pps: Rate::of(h.icmp, per_s),
                udp_reflector_pps: Rate::of(h.amp, per_s),
            },
            flows_per_s: h.flows.map(|e| scaled(e, per_s)),
            distinct_sources: h.distinct,
            top_sources: s.top_sources_to(v, 5),
            baseline: baseline.filter(|_| kind == AlertKind::BaselineChange),
        };
        Some(Finding {
            victim: v.to_string(),
            kind,
            group: g.name,
            pps: h.pps_lo(),
            evidence: Evidence::Host(Box::new(evidence)),
            need: None,
        })
    }

    /// Updates `v`'s learned rate; its normal if the epoch is far above.
    fn baseline_check(&mut self, v: Ip, h: &Host, g: &HostGroup, epoch: u64) -> Option<Baseline> {
        if !g.baseline {
            return None;
        }
        match self.baselines.get(&v.0) {
            Some(e) => {
                self.by_seen.remove(&(e.seen(), v.0));
            }
            None if self.baselines.len() >= self.cfg.baseline_hosts => {
                // Forget the host seen least recently (ties: the lowest).
                if let Some((_, old)) = self.by_seen.pop_first() {
                    self.baselines.remove(&old);
                }
            }
            None => {}
        }
        let e = self.baselines.entry(v.0).or_default();
        let step = baseline_step(&self.cfg, e, h.pps_lo(), h.answered, epoch);
        self.by_seen.insert((e.seen(), v.0));
        step
    }

    /// Carpet bombing: prefix `p` (packets `b` in the epoch) over its
    /// threshold, not answering, and spread over its hosts.
    fn carpet_bombing(&self, s: &Summary, p: Ip, b: (u64, u64), per_s: f64) -> Option<Finding> {
        let g = self.group_of(p)?;
        if (b.0 as f64) * per_s < g.prefix_pps {
            return None;
        }
        let len = if p.to_v4().is_some() { 24 } else { 64 };
        // A prefix that answers is busy, not bombed: bytes back (upper
        // bound) at least `answered_bytes_ratio` of bytes in (lower).
        // Bytes, as only per-prefix bytes are kept (Count-Min): a
        // download's ACKs are 2-4% of its bytes.
        if let (Some(back), Some(inb)) = (s.bytes_of(p, len, true), s.bytes_of(p, len, false)) {
            if back.upper >= self.cfg.answered_bytes_ratio * inb.lower {
                return None;
            }
        }
        let top: Vec<(Ip, u64, u64)> = s
            .counter_top(Counter::DstPackets, 4 * self.cfg.candidates)
            .into_iter()
            .filter(|(ip, _, _)| attack_prefix(ip.0) == p.0)
            .take(5)
            .collect();
        // Spread over the prefix: one host carrying half of it is that
        // host's traffic (a busy server), judged on its own.
        if top.first().is_some_and(|h| 2 * h.2 >= b.0) {
            return None;
        }
        let top_hosts = top
            .iter()
            .map(|&(ip, l, u)| HostRate {
                key: ip.to_string(),
                pps: Rate::of((l, u), per_s),
            })
            .collect();
        Some(Finding {
            victim: format!("{p}/{len}"),
            kind: AlertKind::CarpetBombing,
            group: g.name.clone(),
            pps: b.0 as f64 * per_s,
            evidence: Evidence::Prefix(PrefixEvidence {
                pps: Rate::of(b, per_s),
                top_hosts,
                threshold_pps: g.prefix_pps,
            }),
            need: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(pps: f64) -> Host {
        let z = (0, 0);
        Host {
            per_s: 1.0,
            pkts: (pps as u64, pps as u64),
            bytes: z,
            back: z,
            syn: z,
            synack: z,
            icmp: z,
            amp: z,
            unanswered: z,
            distinct: None,
            flows: None,
            answered: false,
        }
    }

    #[test]
    fn a_full_baseline_table_forgets_the_host_seen_least_recently() {
        let cfg = DetectConfig {
            baseline_hosts: 3,
            ..DetectConfig::default()
        };
        let mut d = DosRules::new(&cfg);
        let g = d.groups[0].clone();
        let ip = |n: u8| Ip::v4([10, 0, 0, n]);
        // Seen at epochs: 1 -> 0, 2 -> 1, 3 -> 2, then 1 again at 3.
        for (e, n) in [(0, 1), (1, 2), (2, 3), (3, 1)] {
            d.baseline_check(ip(n), &host(100.0), &g, e);
        }
        // Host 4 evicts host 2 (least recent), then host 5 evicts host 3.
        d.baseline_check(ip(4), &host(100.0), &g, 4);
        d.baseline_check(ip(5), &host(100.0), &g, 5);
        let mut kept: Vec<u128> = d.baselines.keys().copied().collect();
        kept.sort_unstable();
        assert_eq!(kept, [ip(1).0, ip(4).0, ip(5).0]);
        // The index holds exactly the table's hosts, at their last epochs.
        let index: Vec<(u64, u128)> = d.by_seen.iter().copied().collect();
        assert_eq!(index, [(3, ip(1).0), (4, ip(4).0), (5, ip(5).0)]);
        // Host 1, seen again at 6, outlives host 4 at the next eviction.
        d.baseline_check(ip(1), &host(100.0), &g, 6);
        d.baseline_check(ip(6), &host(100.0), &g, 7);
        assert!(d.baselines.contains_key(&ip(1).0) && !d.baselines.contains_key(&ip(4).0));
        assert_eq!(d.by_seen.len(), d.baselines.len());
    }
}
