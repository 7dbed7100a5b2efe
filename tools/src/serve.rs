//! The HTTP endpoint (`--serve ADDR:PORT`, 127.0.0.1:9464 by default in
//! `run`): Prometheus metrics, the JSON query API, and a health check.
//!
//! The server ([`crate::http`]: hyper on a small runtime of its own
//! thread, with limits for exposure) never makes the pipeline wait for a
//! client: once per closed epoch and window the merging thread updates the
//! traffic metrics and swaps the latest window into a shared state under a
//! mutex (microseconds, a few times a second at most); a request holds
//! that mutex only while its body is built, never while it is written, so
//! a client that stalls stalls only its own connection. Nothing happens
//! per packet.
//!
//! API (all GET, JSON):
//! - `/api/v1/status`: uptime, source, epochs and windows so far, done.
//! - `/api/v1/windows`: the recent windows (index, start, end).
//! - `/api/v1/window[?index=N]`: a whole window (default the latest), the
//!   same object `--json` prints as its window line.
//! - `/api/v1/top?dim=src|dst|pair|dport|sport&metric=bytes|packets&k=10`:
//!   top-k with bounds, each row with the other metric beside it.
//! - `/api/v1/estimate?prefix=ADDR[/LEN]&direction=src|dst`: bytes with bounds.
//! - `/api/v1/distinct[?dst=ADDR]`: distinct sources, destinations and
//!   flows, or the distinct sources of one destination.
//! - `/api/v1/alerts`: active alerts and the recent ones.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use pipeline::{Dimension, Metric, Summary};
use prometheus::{Encoder, GaugeVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};
use serde_json::{json, Value};

use crate::args::engine::Query;
use crate::render::{estimate_json, window_json};

/// Windows kept for `/api/v1/windows` and `/api/v1/window?index=`.
const KEEP_WINDOWS: usize = 32;
/// Alerts kept for `/api/v1/alerts`.
const KEEP_ALERTS: usize = 200;

/// What the API answers from.
#[derive(Debug)]
struct State {
    started: Instant,
    source: String,
    epochs: u64,
    reported: u64,
    windows: VecDeque<(u64, Value, Summary)>,
    alerts: Vec<Value>,
    done: bool,
    k: usize,
}

/// Traffic metrics, beside the engine's self-metrics in its registry.
#[derive(Debug, Clone)]
struct Traffic {
    packets: IntCounter,
    bytes: IntCounter,
    updates: IntCounterVec,
    top_bytes: GaugeVec,
    distinct: GaugeVec,
    distinct_to: GaugeVec,
    rtt: GaugeVec,
}

impl Traffic {
    fn new(registry: &Registry) -> Result<Traffic> {
        let t = Traffic {
            packets: IntCounter::new(
                "netsketch_traffic_packets_total",
                "Packets seen (flow input: packets the records stand for), exact",
            )?,
            bytes: IntCounter::new(
                "netsketch_traffic_bytes_total",
                "IP-layer bytes seen (flow input: bytes the records stand for), exact",
            )?,
            updates: IntCounterVec::new(
                Opts::new(
                    "netsketch_traffic_updates_total",
                    "Packets by transport protocol (flow input: the packets the records stand for), exact",
                ),
                &["protocol"],
            )?,
            top_bytes: GaugeVec::new(
                Opts::new(
                    "netsketch_top_bytes",
                    "Bytes of the top talkers in the latest window (estimate; rank 1 is the largest)",
                ),
                &["direction", "rank", "address"],
            )?,
            distinct: GaugeVec::new(
                Opts::new(
                    "netsketch_distinct",
                    "Distinct sources, destinations or flows in the latest window (estimate)",
                ),
                &["what"],
            )?,
            distinct_to: GaugeVec::new(
                Opts::new(
                    "netsketch_distinct_sources_to",
                    "Distinct sources of the destinations with the most, latest window (estimate)",
                ),
                &["address"],
            )?,
            rtt: GaugeVec::new(
                Opts::new(
                    "netsketch_handshake_rtt_seconds",
                    "TCP handshake round-trip time of the busiest services, latest window",
                ),
                &["service", "side", "quantile"],
            )?,
        };
        for c in [
            Box::new(t.packets.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(t.bytes.clone()),
            Box::new(t.updates.clone()),
            Box::new(t.top_bytes.clone()),
            Box::new(t.distinct.clone()),
            Box::new(t.distinct_to.clone()),
            Box::new(t.rtt.clone()),
        ] {
            registry.register(c)?;
        }
        Ok(t)
    }
}

/// A running endpoint.
#[derive(Debug)]
pub struct Server {
    state: Arc<Mutex<State>>,
    traffic: Traffic,
    series: usize,
    addr: SocketAddr,
}

impl Server {
    /// Binds `addr` and serves `registry` and the API on a thread.
    /// `series` caps the labelled series per metric family (top talkers,
    /// services); `k` is the top-k of window answers.
    pub fn start(
        addr: &str,
        registry: Registry,
        source: &str,
        k: usize,
        series: usize,
        limits: crate::http::Limits,
    ) -> Result<Server> {
        let addr: SocketAddr = addr
            .parse()
            .with_context(|| format!("--serve {addr:?}: expected ADDR:PORT like 127.0.0.1:9464"))?;
        let traffic = Traffic::new(&registry)?;
        let state = Arc::new(Mutex::new(State {
            started: Instant::now(),
            source: source.to_string(),
            epochs: 0,
            reported: 0,
            windows: VecDeque::new(),
            alerts: Vec::new(),
            done: false,
            k,
        }));
        let st = Arc::clone(&state);
        let reg = registry.clone();
        let handler: crate::http::Handler = Arc::new(move |target: &str| {
            let (code, content_type, body) = respond(target, &reg, &st);
            crate::http::Reply {
                code,
                content_type,
                body,
            }
        });
        let bound = crate::http::spawn(addr, limits, &registry, handler)?;
        Ok(Server {
            state,
            traffic,
            series,
            addr: bound,
        })
    }

    /// The address actually bound (port 0 resolved).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A closed epoch: exact traffic counters; and the alerts so far.
    pub fn on_epoch(&self, s: &Summary, alerts: Option<&[Value]>) {
        let t = &s.totals;
        self.traffic.packets.inc_by(t.packets);
        self.traffic.bytes.inc_by(t.proto.ip_bytes);
        for (p, n) in [
            ("tcp", t.proto.tcp),
            ("udp", t.proto.udp),
            ("icmp", t.proto.icmp),
            ("other", t.proto.other_l4),
        ] {
            self.traffic.updates.with_label_values(&[p]).inc_by(n);
        }
        let mut st = self.lock();
        st.epochs += 1;
        if let Some(a) = alerts {
            let from = a.len().saturating_sub(KEEP_ALERTS);
            st.alerts = a[from..].to_vec();
        }
    }

    /// A window closed: it becomes the latest answer, and the labelled
    /// gauges show it (at most `series` series each).
    pub fn on_window(&self, w: &Summary) {
        let n = self.series;
        self.traffic.top_bytes.reset();
        for d in [Dimension::Src, Dimension::Dst] {
            for (i, t) in w.top(d, Metric::Bytes, n).iter().enumerate() {
                self.traffic
                    .top_bytes
                    .with_label_values(&[d.name(), &(i + 1).to_string(), &t.key.to_string()])
                    .set(t.value as f64);
            }
        }
        for (what, e) in [
            ("sources", w.distinct_src()),
            ("destinations", w.distinct_dst()),
            ("flows", w.distinct_flows()),
        ] {
            self.traffic
                .distinct
                .with_label_values(&[what])
                .set(e.value);
        }
        self.traffic.distinct_to.reset();
        for (ip, e) in w.distinct_sources_top(n) {
            self.traffic
                .distinct_to
                .with_label_values(&[&ip.to_string()])
                .set(e.value);
        }
        self.traffic.rtt.reset();
        for svc in w.services(n) {
            let name = svc.name();
            let st = &svc.stats;
            for (side, r) in [("server", &st.server_rtt), ("client", &st.client_rtt)] {
                let Some(r) = r.quantiles() else { continue };
                for (ns, label) in [(r.p50, "0.5"), (r.p90, "0.9"), (r.p99, "0.99")] {
                    self.traffic
                        .rtt
                        .with_label_values(&[&name, side, label])
                        .set(ns as f64 / 1e9);
                }
            }
        }
        let mut st = self.lock();
        let index = st.reported;
        st.reported += 1;
        let k = st.k;
        let mut v = window_json(w, k);
        v["index"] = json!(index);
        st.windows.push_back((index, v, w.clone()));
        while st.windows.len() > KEEP_WINDOWS {
            st.windows.pop_front();
        }
    }

    /// The input is over (the endpoint stays up while the process runs).
    pub fn done(&self) {
        self.lock().done = true;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn respond(url: &str, registry: &Registry, st: &Mutex<State>) -> (u16, &'static str, Vec<u8>) {
    const JSON: &str = "application/json";
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let param = |name: &str| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let bad = |msg: String| (400, JSON, json!({"error": msg}).to_string().into_bytes());
    match path {
        "/metrics" => {
            let mut buf = Vec::new();
            let enc = TextEncoder::new();
            match enc.encode(&registry.gather(), &mut buf) {
                Ok(()) => (200, "text/plain; version=0.0.4", buf),
                Err(e) => (500, "text/plain", e.to_string().into_bytes()),
            }
        }
        "/healthz" => (200, "text/plain", b"ok\n".to_vec()),
        "/" => (
            200,
            "text/plain",
            b"netsketch: /metrics, /healthz, /api/v1/{status,windows,window,top,estimate,distinct,alerts}\n"
                .to_vec(),
        ),
        p if p.starts_with("/api/v1/") => {
            let st = st.lock().unwrap_or_else(|e| e.into_inner());
            let latest = st.windows.back();
            let brief = |(i, v, _): &(u64, Value, Summary)| {
                json!({"index": i, "start_ts_ns": v["start_ts_ns"], "end_ts_ns": v["end_ts_ns"]})
            };
            let body = match &p["/api/v1/".len()..] {
                "status" => json!({
                    "uptime_s": st.started.elapsed().as_secs_f64(),
                    "source": st.source,
                    "epochs": st.epochs,
                    "windows": st.reported,
                    "done": st.done,
                    "latest_window": latest.map(brief),
                }),
                "windows" => Value::Array(st.windows.iter().map(brief).collect()),
                "window" => {
                    let w = match param("index") {
                        None => latest,
                        Some(i) => match i.parse::<u64>() {
                            Ok(i) => st.windows.iter().find(|(x, _, _)| *x == i),
                            Err(_) => return bad(format!("index {i:?} is not a number")),
                        },
                    };
                    match w {
                        Some((_, v, _)) => v.clone(),
                        None => return (404, JSON, json!({"error": "no such window (yet)"}).to_string().into_bytes()),
                    }
                }
                "top" | "estimate" | "distinct" => {
                    let Some((_, _, s)) = latest else {
                        return (404, JSON, json!({"error": "no window closed yet"}).to_string().into_bytes());
                    };
                    match api_query(&p["/api/v1/".len()..], s, &param) {
                        Ok(v) => v,
                        Err(e) => return bad(e),
                    }
                }
                "alerts" => {
                    let active: Vec<&Value> =
                        st.alerts.iter().filter(|a| a["event"] != "end").collect();
                    json!({"active": active, "recent": st.alerts})
                }
                other => {
                    return (404, JSON, json!({"error": format!("no API {other:?}")}).to_string().into_bytes())
                }
            };
            (200, JSON, body.to_string().into_bytes())
        }
        _ => (404, "text/plain", b"not found\n".to_vec()),
    }
}

fn api_query(
    what: &str,
    s: &Summary,
    param: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<Value, String> {
    let window = json!({"start_ts_ns": s.start_ns, "end_ts_ns": s.end_ns});
    match what {
        "top" => {
            let d = param("dim");
            let d = d.as_deref().unwrap_or("src");
            let Some(dim) = Dimension::ALL.into_iter().find(|x| x.name() == d) else {
                return Err(format!("dim {d:?}: use src, dst, pair, dport or sport"));
            };
            let metric = match param("metric").as_deref().unwrap_or("bytes") {
                "bytes" => Metric::Bytes,
                "packets" => Metric::Packets,
                m => return Err(format!("metric {m:?}: use bytes or packets")),
            };
            let k: usize = param("k")
                .map(|k| k.parse().map_err(|_| format!("k {k:?} is not a number")))
                .transpose()?
                .unwrap_or(10)
                .min(1000);
            // Each row carries the other metric too, as the text report's
            // rows do: bytes (IP layer) and packets with their bounds.
            let items: Vec<Value> = s
                .top_rows(dim, metric, k)
                .into_iter()
                .map(|r| {
                    let (v, o) = match metric {
                        Metric::Bytes => (r.bytes, ("packets", r.packets)),
                        Metric::Packets => (r.packets, ("bytes", r.bytes)),
                    };
                    let mut item = json!({"key": r.key, "value": v.1, "lower": v.0, "upper": v.1});
                    item[o.0] = json!({"value": o.1 .1, "lower": o.1 .0, "upper": o.1 .1});
                    item
                })
                .collect();
            Ok(
                json!({"window": window, "dim": dim.name(), "metric": metric.name(),
                "bytes": "IP-layer bytes", "items": items}),
            )
        }
        "estimate" => {
            let p = param("prefix").ok_or("give prefix=ADDR[/LEN]")?;
            let q: Query = p.parse()?;
            let source = match param("direction").as_deref().unwrap_or("src") {
                "src" => true,
                "dst" => false,
                d => return Err(format!("direction {d:?}: use src or dst")),
            };
            let e = s.bytes_of(q.addr, q.len, source).ok_or(format!(
                "/{} is not tracked (IPv4 /8 /16 /24 /32, IPv6 /32 /48 /64 /128)",
                q.len
            ))?;
            Ok(
                json!({"window": window, "prefix": p, "direction": if source {"src"} else {"dst"}, "bytes": estimate_json(&e)}),
            )
        }
        _ => match param("dst") {
            Some(d) => {
                let ip: std::net::IpAddr =
                    d.parse().map_err(|_| format!("{d:?} is not an address"))?;
                let ip = capture::Ip::from(ip);
                Ok(json!({
                    "window": window,
                    "dst": d,
                    "sources": s.distinct_sources_of(ip).map(|e| estimate_json(&e)),
                    "flows": s.distinct_flows_to(ip).map(|e| estimate_json(&e)),
                }))
            }
            None => Ok(json!({
                "window": window,
                "sources": estimate_json(&s.distinct_src()),
                "destinations": estimate_json(&s.distinct_dst()),
                "flows": estimate_json(&s.distinct_flows()),
            })),
        },
    }
}

impl crate::args::cli::ServeArgs {
    /// Starts the endpoint if `--serve` was given, saying where on stderr.
    pub fn start(&self, registry: Registry, source: &str, k: usize) -> Result<Option<Server>> {
        let Some(addr) = &self.serve else {
            return Ok(None);
        };
        anyhow::ensure!(
            (1..=1000).contains(&self.metrics_series),
            "--metrics-series must be 1 to 1000"
        );
        anyhow::ensure!(
            (1..=1 << 20).contains(&self.http_max_connections),
            "--http-max-connections must be 1 to 1048576"
        );
        let limits = crate::http::Limits {
            max_connections: self.http_max_connections,
            ..Default::default()
        };
        // A unit's LimitNOFILE= (or `ulimit -Hn`) is the hard limit; take it.
        let fds = crate::http::raise_fd_limit();
        let s = Server::start(addr, registry, source, k, self.metrics_series, limits)?;
        eprintln!(
            "netsketch: serving http://{}/metrics and /api/v1/",
            s.addr()
        );
        if let Some(fds) = fds.filter(|f| *f < limits.max_connections as u64 + 64) {
            eprintln!(
                "netsketch: warning: the open-file limit ({fds}) is below --http-max-connections \
                 ({}) plus the run's own files; accepts that fail are counted \
                 (netsketch_http_accept_errors_total) and retried. Raise it (LimitNOFILE=) or \
                 lower --http-max-connections",
                limits.max_connections
            );
        }
        Ok(Some(s))
    }
}
