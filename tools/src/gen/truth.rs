//! Exact ground truth, computed while generating, in the vocabulary of the
//! replay summary (DESIGN.md, "Machine-readable output").

use std::collections::{BTreeMap, HashMap, HashSet};

use capture::Ip;
use serde_json::{json, Value};

use super::model::{Config, ConnEvent, Meta};
use super::scenario::Scenario;

const TOP: usize = 100;
const EPOCH_NS: u64 = 1_000_000_000;

type Counter<K> = HashMap<K, (u64, u64), foldhash::fast::FixedState>;

/// Exact counts over every generated packet. Memory grows with distinct
/// keys (a spoofed flood adds an entry per packet), which is the price of
/// exactness; the generator itself needs none of it.
#[derive(Debug, Default)]
pub struct Truth {
    packets: u64,
    wire_bytes: u64,
    ip_bytes: u64,
    ipv4: u64,
    ipv6: u64,
    tcp: u64,
    udp: u64,
    icmp: u64,
    first_ts: Option<u64>,
    last_ts: u64,
    epochs: BTreeMap<u64, (u64, u64)>,
    src: Counter<Ip>,
    dst: Counter<Ip>,
    pair: Counter<(Ip, Ip)>,
    dport: Counter<u16>,
    sport: Counter<u16>,
    flows: HashSet<(Ip, Ip, u16, u16, u8), foldhash::fast::FixedState>,
    services: HashMap<(Ip, u16), Service, foldhash::fast::FixedState>,
}

/// One service's handshakes.
#[derive(Debug, Default)]
struct Service {
    attempts: u64,
    refused: u64,
    unanswered: u64,
    server_rtt: Vec<u64>,
    client_rtt: Vec<u64>,
}

fn quantiles(v: &[u64]) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    json!({
        "count": s.len(),
        "p50": quantile(&s, 0.5),
        "p90": quantile(&s, 0.9),
        "p99": quantile(&s, 0.99),
        "max": s[s.len() - 1],
    })
}

fn add<K: std::hash::Hash + Eq>(m: &mut Counter<K>, k: K, bytes: u64) {
    let e = m.entry(k).or_default();
    e.0 += bytes;
    e.1 += 1;
}

fn top<K: Clone + Ord>(m: &Counter<K>, name: impl Fn(&K) -> String) -> Value {
    let by = |metric: usize| {
        let mut v: Vec<(&K, u64)> = m
            .iter()
            .map(|(k, c)| (k, if metric == 0 { c.0 } else { c.1 }))
            .collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.truncate(TOP);
        Value::Array(
            v.into_iter()
                .map(|(k, n)| json!({"key": name(k), "value": n}))
                .collect(),
        )
    };
    json!({"bytes": by(0), "packets": by(1)})
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

impl Truth {
    /// Counts one packet.
    pub fn record(&mut self, m: &Meta) {
        self.packets += 1;
        self.wire_bytes += m.wire_len as u64;
        let b = m.ip_len as u64;
        self.ip_bytes += b;
        if m.v6 {
            self.ipv6 += 1;
        } else {
            self.ipv4 += 1;
        }
        match m.proto {
            6 => self.tcp += 1,
            17 => self.udp += 1,
            _ => self.icmp += 1,
        }
        self.first_ts.get_or_insert(m.ts_ns);
        self.last_ts = m.ts_ns;
        let e = self.epochs.entry(m.ts_ns / EPOCH_NS).or_default();
        e.0 += 1;
        e.1 += b;
        add(&mut self.src, m.src, b);
        add(&mut self.dst, m.dst, b);
        add(&mut self.pair, (m.src, m.dst), b);
        add(&mut self.dport, m.dport, b);
        add(&mut self.sport, m.sport, b);
        self.flows.insert((m.src, m.dst, m.sport, m.dport, m.proto));
        if let Some((server, port, ev)) = m.conn {
            let s = self.services.entry((server, port)).or_default();
            match ev {
                ConnEvent::Attempt => s.attempts += 1,
                ConnEvent::Answered(rtt) => s.server_rtt.push(rtt),
                ConnEvent::Completed(rtt) => s.client_rtt.push(rtt),
                ConnEvent::Refused => s.refused += 1,
                ConnEvent::Unanswered => s.unanswered += 1,
            }
        }
    }

    /// The truth document.
    pub fn to_json(&self, cfg: &Config) -> Value {
        let epochs: Vec<Value> = self
            .epochs
            .iter()
            .map(|(e, (p, b))| json!({"start_ns": e * EPOCH_NS, "packets": p, "bytes": b}))
            .collect();
        // Distinct sources per destination, for the top destinations by
        // bytes: the number of pairs with that destination.
        let mut per_dst: HashMap<Ip, u64> = HashMap::new();
        for (_, d) in self.pair.keys() {
            *per_dst.entry(*d).or_default() += 1;
        }
        let mut dsts: Vec<(&Ip, u64)> = self.dst.iter().map(|(k, c)| (k, c.0)).collect();
        dsts.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let per_dst: Vec<Value> = dsts
            .iter()
            .take(TOP)
            .map(|(d, _)| json!({"key": d.to_string(), "value": per_dst[*d]}))
            .collect();
        // Services by handshake attempts: counts and round-trip quantiles
        // (the definition HdrHistogram uses: the smallest sample with at
        // least q of all at or below it).
        let mut services: Vec<(&(Ip, u16), &Service)> = self.services.iter().collect();
        services.sort_unstable_by(|a, b| b.1.attempts.cmp(&a.1.attempts).then(a.0.cmp(b.0)));
        let services: Vec<Value> = services
            .iter()
            .take(TOP)
            .map(|((ip, port), s)| {
                json!({
                    "service": pipeline::handshake::service_name(*ip, *port),
                    "attempts": s.attempts,
                    "answered": s.server_rtt.len(),
                    "completed": s.client_rtt.len(),
                    "refused": s.refused,
                    "unanswered": s.unanswered,
                    "server_rtt_ns": quantiles(&s.server_rtt),
                    "client_rtt_ns": quantiles(&s.client_rtt),
                })
            })
            .collect();
        let (start, end) = cfg.event_window();
        let events: Vec<Value> = cfg
            .scenarios
            .iter()
            .filter_map(|s| {
                Some(json!({"type": s.event_type()?, "victim": s.victim()?, "start_ns": start, "end_ns": end}))
            })
            .collect();
        let scenarios: Vec<&str> = cfg.scenarios.iter().map(|s| Scenario::name(*s)).collect();
        json!({
            "type": "truth",
            "scenario": scenarios.join(","),
            "seed": cfg.seed,
            "rate_pps": cfg.rate_pps,
            "packets": self.packets,
            "wire_bytes": self.wire_bytes,
            "ip_bytes": self.ip_bytes,
            "first_ts_ns": self.first_ts,
            "last_ts_ns": self.first_ts.map(|_| self.last_ts),
            "ipv4": self.ipv4,
            "ipv6": self.ipv6,
            "tcp": self.tcp,
            "udp": self.udp,
            "icmp": self.icmp,
            "epochs": epochs,
            "top": {
                "src": top(&self.src, fmt_ip),
                "dst": top(&self.dst, fmt_ip),
                "pair": top(&self.pair, |(s, d)| format!("{}>{}", fmt_ip(s), fmt_ip(d))),
                "dport": top(&self.dport, |k| k.to_string()),
                "sport": top(&self.sport, |k| k.to_string()),
            },
            "distinct": {
                "src": self.src.len(),
                "dst": self.dst.len(),
                "flows": self.flows.len(),
            },
            "distinct_src_per_dst": per_dst,
            "services": services,
            "events": events,
        })
    }
}

fn fmt_ip(ip: &Ip) -> String {
    ip.to_string()
}
