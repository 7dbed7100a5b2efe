//! The traffic model: an event-driven simulation of an edge link.
//!
//! Background: our clients (10.1.0.0/16, some on 2001:db8:1::/64) open
//! flows to Internet servers with Zipf(1.1) popularity, and Internet
//! clients open flows to our servers (10.2.0.0/24). TCP flows have a full
//! handshake whose server-side round-trip time (SYN to SYN-ACK, as a
//! monitor at the edge sees it) is a property of the server, Pareto-sized
//! data phases and FIN or RST teardown; UDP flows are DNS, NTP and
//! QUIC-like exchanges; ICMP flows are echo request/reply. Flow arrivals are
//! Poisson at the rate that yields the requested packets per second.
//!
//! Scenarios add their own sources (floods) or streams of flows (slow or
//! failing services, a flash crowd) with a known victim, start and end.
//! Everything is drawn from one seeded generator, so a seed gives the same
//! packets byte for byte.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use capture::Ip;
use rand::{RngExt, SeedableRng};
use rand_distr::{Exp, Pareto, Zipf};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::scenario::Scenario;

mod addr;
mod attack;
mod flow;

use addr::*;

const MS: u64 = 1_000_000;
const US: u64 = 1_000;

/// What a run is asked to produce.
#[derive(Debug, Clone)]
pub struct Config {
    /// Scenarios to layer (an empty list means baseline).
    pub scenarios: Vec<Scenario>,
    /// Background packets per second.
    pub rate_pps: f64,
    /// Length of the trace in event time.
    pub duration_ns: u64,
    /// Stop after this many packets (whichever comes first).
    pub max_packets: Option<u64>,
    /// Ignore `duration_ns` as an end and run until `max_packets`; the
    /// duration then only places the event window.
    pub until_count: bool,
    /// Seed of every random choice.
    pub seed: u64,
    /// Timestamp of the start of the trace.
    pub start_ns: u64,
    /// Packets per second of each flood scenario.
    pub attack_rate_pps: f64,
}

impl Config {
    /// Start and end of the scenarios' event: the middle 40% of the trace,
    /// on millisecond boundaries.
    pub fn event_window(&self) -> (u64, u64) {
        let d = self.duration_ns;
        let s = self.start_ns + d * 3 / 10 / MS * MS;
        let e = self.start_ns + d * 7 / 10 / MS * MS;
        (s, e)
    }
}

/// One generated packet: the frame is in the caller's buffer; this is what
/// the ground truth needs.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub ts_ns: u64,
    pub wire_len: u32,
    pub ip_len: u32,
    pub src: Ip,
    pub dst: Ip,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub flags: u8,
    pub v6: bool,
    /// What the packet does to a TCP handshake of the service (server,
    /// port).
    pub conn: Option<(Ip, u16, ConnEvent)>,
}

/// A step of a TCP handshake, for the ground truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnEvent {
    /// The first SYN of a connection.
    Attempt,
    /// The SYN-ACK, after this server-side round trip (first SYN to
    /// SYN-ACK), ns.
    Answered(u64),
    /// The client's ACK, after this client-side round trip (SYN-ACK to
    /// ACK), ns.
    Completed(u64),
    /// The server refused with a RST.
    Refused,
    /// The client's last SYN retransmission, never answered.
    Unanswered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tcp,
    Dns,
    Ntp,
    Quic,
    Icmp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    None,
    NoAnswer,
    Rst,
}

#[derive(Debug, Clone)]
struct Flow {
    kind: Kind,
    client: Ip,
    server: Ip,
    cport: u16,
    sport: u16,
    rtt_s: u64,
    rtt_c: u64,
    step: u32,
    data: u32,
    upload: bool,
    cseq: u32,
    sseq: u32,
    syn_ts: u64,
    fail: Fail,
    rst_end: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Src {
    Outbound,
    Inbound,
    Attack(Scenario),
    FlowStream(Scenario),
    Flow(u32),
}

/// The generator: call [`Model::next`] until it returns `None`.
#[derive(Debug)]
pub struct Model {
    cfg: Config,
    rng: Xoshiro256PlusPlus,
    queue: BinaryHeap<Reverse<(u64, u64, Src)>>,
    seq: u64,
    flows: Vec<Flow>,
    free: Vec<u32>,
    emitted: u64,
    end_ns: u64,
    window: (u64, u64),
    out_rate: f64,
    in_rate: f64,
    servers: Zipf<f64>,
    clients: Zipf<f64>,
    sizes: Pareto<f64>,
    flash_clients: u32,
}

impl Model {
    /// Builds the model; the first packet comes from [`Model::next`].
    pub fn new(cfg: Config) -> Model {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(cfg.seed);
        let sizes = Pareto::new(4.0, 1.2).expect("valid Pareto");
        // Mean packets per flow of the background mix, measured on a
        // separate stream so the arrival rate yields the requested pps.
        let mut probe = Xoshiro256PlusPlus::seed_from_u64(cfg.seed ^ 0x5eed);
        let mean_packets = (0..4096)
            .map(|_| {
                let data = (probe.sample(sizes) as u32).min(3000) as f64;
                match probe.random_range(0..100) {
                    0..=66 => 3.0 + data + 3.0,
                    67..=86 => 2.0,
                    87..=94 => data,
                    95..=97 => 2.0,
                    _ => 6.0,
                }
            })
            .sum::<f64>()
            / 4096.0;
        let flows_per_s = cfg.rate_pps / mean_packets;
        let end_ns = if cfg.until_count && cfg.max_packets.is_some() {
            u64::MAX
        } else {
            cfg.start_ns + cfg.duration_ns
        };
        let window = cfg.event_window();
        let mut m = Model {
            out_rate: flows_per_s * 0.8,
            in_rate: flows_per_s * 0.2,
            servers: Zipf::new(SERVERS as f64, 1.1).expect("valid Zipf"),
            clients: Zipf::new(CLIENTS as f64, 0.7).expect("valid Zipf"),
            sizes,
            queue: BinaryHeap::new(),
            seq: 0,
            flows: Vec::new(),
            free: Vec::new(),
            emitted: 0,
            end_ns,
            window,
            flash_clients: 0,
            rng: Xoshiro256PlusPlus::seed_from_u64(0),
            cfg,
        };
        std::mem::swap(&mut m.rng, &mut rng);
        let t0 = m.cfg.start_ns;
        m.push(t0, Src::Outbound);
        m.push(t0, Src::Inbound);
        for s in m.cfg.scenarios.clone() {
            match s {
                Scenario::Baseline => {}
                Scenario::SlowService | Scenario::ConnectionFailures => {
                    m.push(t0, Src::FlowStream(s))
                }
                Scenario::FlashCrowd => m.push(window.0, Src::FlowStream(s)),
                _ => m.push(window.0, Src::Attack(s)),
            }
        }
        m
    }

    fn push(&mut self, ts: u64, src: Src) {
        self.seq += 1;
        self.queue.push(Reverse((ts, self.seq, src)));
    }

    fn exp_gap(&mut self, rate: f64) -> u64 {
        let e = Exp::new(rate.max(1e-9)).expect("positive rate");
        (self.rng.sample(e) * 1e9) as u64 + 1
    }

    fn in_window(&self, ts: u64) -> bool {
        ts >= self.window.0 && ts < self.window.1
    }

    /// Writes the next packet into `buf` and describes it; `None` when the
    /// trace is complete.
    pub fn next(&mut self, buf: &mut Vec<u8>) -> Option<Meta> {
        if self.cfg.max_packets.is_some_and(|m| self.emitted >= m) {
            return None;
        }
        loop {
            let Reverse((ts, _, src)) = self.queue.pop()?;
            if ts >= self.end_ns {
                return None;
            }
            let meta = match src {
                Src::Outbound => {
                    self.new_background_flow(ts, false);
                    let g = self.exp_gap(self.out_rate);
                    self.push(ts + g, Src::Outbound);
                    None
                }
                Src::Inbound => {
                    self.new_background_flow(ts, true);
                    let g = self.exp_gap(self.in_rate);
                    self.push(ts + g, Src::Inbound);
                    None
                }
                Src::FlowStream(s) => {
                    self.stream_flow(ts, s);
                    None
                }
                Src::Attack(s) => self.attack(ts, s, buf),
                Src::Flow(id) => self.flow_step(ts, id, buf),
            };
            if let Some(m) = meta {
                self.emitted += 1;
                return Some(m);
            }
        }
    }

    fn alloc(&mut self, f: Flow) -> u32 {
        match self.free.pop() {
            Some(id) => {
                self.flows[id as usize] = f;
                id
            }
            None => {
                self.flows.push(f);
                (self.flows.len() - 1) as u32
            }
        }
    }

    fn new_flow(
        &mut self,
        ts: u64,
        kind: Kind,
        (client, server, sport): (Ip, Ip, u16),
        (rtt_s, rtt_c): (u64, u64),
    ) -> u32 {
        let data = (self.rng.sample(self.sizes) as u32).min(3000);
        let f = Flow {
            kind,
            client,
            server,
            cport: ephemeral(self.rng.random()),
            sport,
            // Each handshake varies around the path's RTT by up to 20%.
            rtt_s: (rtt_s + self.rng.random_range(0..=rtt_s / 5)).max(20 * US),
            rtt_c: rtt_c.max(20 * US),
            step: 0,
            data,
            upload: self.rng.random_range(0..5) == 0,
            cseq: self.rng.random(),
            sseq: self.rng.random(),
            syn_ts: ts,
            fail: Fail::None,
            rst_end: self.rng.random_range(0..20) == 0,
        };
        let id = self.alloc(f);
        self.push(ts, Src::Flow(id));
        id
    }

    fn new_background_flow(&mut self, ts: u64, inbound: bool) {
        if inbound {
            // An Internet client to one of our servers.
            let c = self.rng.random_range(0..1_000_000u64);
            let client = public_v4(c, 0xc1);
            let srv = (self
                .rng
                .sample(Zipf::new(OUR_SERVERS as f64, 1.0).expect("valid Zipf"))
                as u64
                - 1)
            .min(OUR_SERVERS - 1);
            let server = our_server(srv);
            let port = [443, 443, 443, 80, 25][self.rng.random_range(0..5)];
            let rtt_s = 300 * US + self.rng.random_range(0..400) * US;
            let rtt_c = lognormal_from(mix(c, 0xc2), 40.0 * MS as f64, 0.5) as u64;
            self.new_flow(ts, Kind::Tcp, (client, server, port), (rtt_s, rtt_c));
            return;
        }
        let s = self.rng.sample(self.servers) as u64;
        let c = self.rng.sample(self.clients) as u64;
        let v6 = mix(s, 0x76) % 10 < 3 && mix(c, 0x76) % 10 < 3;
        let server = if v6 {
            public_v6(s, 0x5e)
        } else {
            public_v4(s, 0x5e)
        };
        let client = our_client(c, v6);
        let rtt_s = lognormal_from(mix(s, 0x277), 30.0 * MS as f64, 0.6) as u64;
        let rtt_c = 100 * US + mix(c, 0x278) % (300 * US);
        let (kind, port) = match self.rng.random_range(0..100) {
            0..=54 => (Kind::Tcp, 443),
            55..=64 => (Kind::Tcp, 80),
            65..=66 => (Kind::Tcp, 22),
            67..=86 => (Kind::Dns, 53),
            87..=94 => (Kind::Quic, 443),
            95..=97 => (Kind::Ntp, 123),
            _ => (Kind::Icmp, 0),
        };
        self.new_flow(ts, kind, (client, server, port), (rtt_s, rtt_c));
    }
}
