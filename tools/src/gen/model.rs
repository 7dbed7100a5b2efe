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

use capture::{tcp_flags as tf, Ip};
use rand::{RngExt, SeedableRng};
use rand_distr::{Exp, Pareto, Zipf};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::frame::{build, L4};
use super::scenario::Scenario;

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

/// A well-mixed 64-bit hash, to derive stable per-host properties
/// (address, RTT) from a rank without storing them.
fn mix(x: u64, salt: u64) -> u64 {
    sketches::hash::hash_u64(x, salt)
}

/// A public-looking IPv4 address for rank `r` of a population.
fn public_v4(r: u64, salt: u64) -> Ip {
    let h = mix(r, salt) as u32;
    let mut o = h.to_be_bytes();
    // Keep clear of private, loopback, multicast and reserved space.
    o[0] = match o[0] {
        0 | 10 | 127 | 100 | 169 | 172 | 192 => o[0] ^ 0x40,
        x if x >= 224 => x - 100,
        x => x,
    };
    Ip::v4(o)
}

fn public_v6(r: u64, salt: u64) -> Ip {
    let h = mix(r, salt) as u128;
    Ip(0x2a00_0000_0000_0000_0000_0000_0000_0000
        | (mix(r, salt ^ 7) as u128) << 32
        | (h & 0xffff_ffff))
}

fn our_client(i: u64, v6: bool) -> Ip {
    if v6 {
        Ip(0x2001_0db8_0001_0000_0000_0000_0000_0000 | (i as u128 + 1))
    } else {
        Ip::v4([10, 1, (i / 250) as u8, (i % 250 + 1) as u8])
    }
}

fn our_server(i: u64) -> Ip {
    Ip::v4([10, 2, 0, 10 + i as u8])
}

/// A lognormal value from a hash: median `m`, shape `sigma`.
fn lognormal_from(h: u64, m: f64, sigma: f64) -> f64 {
    let u1 = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let u2 = ((mix(h, 3) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    m * (sigma * z).exp()
}

/// A port in the dynamic range (49152-65535), where floods and client
/// stacks pick theirs and no well-known service (or dissector) lives.
///
/// 54328 is skipped: Wireshark dissects it as Elasticsearch discovery and
/// flags our zero-filled payloads as malformed (the only such port found in
/// a million generated packets).
fn ephemeral(r: u64) -> u16 {
    match 49152 + (r % 16384) as u16 {
        54328 => 54329,
        p => p,
    }
}

const SERVERS: u64 = 5000;
const CLIENTS: u64 = 2000;
const OUR_SERVERS: u64 = 20;
const REFLECTOR_PORTS: [u16; 5] = [53, 123, 389, 1900, 11211];

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

    /// Streams of flows to one service: the slow and failing services have
    /// them all along (so their normal is known), the flash crowd only
    /// during the event.
    fn stream_flow(&mut self, ts: u64, s: Scenario) {
        let (server, port, rate) = match s {
            Scenario::SlowService => (Ip::v4([10, 2, 0, 20]), 443, 40.0),
            Scenario::ConnectionFailures => (Ip::v4([10, 2, 0, 21]), 25, 40.0),
            _ => (Ip::v4([10, 2, 0, 10]), 443, (self.in_rate * 5.0).max(200.0)),
        };
        let c = if s == Scenario::FlashCrowd {
            self.flash_clients += 1;
            5_000_000 + self.flash_clients as u64
        } else {
            self.rng.random_range(0..1_000_000u64)
        };
        let client = public_v4(c, 0xc1);
        let during = self.in_window(ts);
        let rtt_s = if s == Scenario::SlowService && during {
            250 * MS + self.rng.random_range(0..100) * MS
        } else {
            300 * US + self.rng.random_range(0..400) * US
        };
        let rtt_c = lognormal_from(mix(c, 0xc2), 40.0 * MS as f64, 0.5) as u64;
        let id = self.new_flow(ts, Kind::Tcp, (client, server, port), (rtt_s, rtt_c));
        if s == Scenario::ConnectionFailures && during {
            self.flows[id as usize].fail = if self.rng.random_range(0..10) < 6 {
                Fail::NoAnswer
            } else {
                Fail::Rst
            };
        }
        let next = ts + self.exp_gap(rate);
        if s != Scenario::FlashCrowd || next < self.window.1 {
            self.push(next, Src::FlowStream(s));
        }
    }

    fn emit(
        &mut self,
        buf: &mut Vec<u8>,
        ts: u64,
        (src, dst): (Ip, Ip),
        l4: L4,
        payload: usize,
        conn: Option<(Ip, u16, ConnEvent)>,
    ) -> Meta {
        let ip_len = build(buf, src, dst, l4, payload, 64);
        let (sport, dport, proto, flags) = match l4 {
            L4::Tcp {
                sport,
                dport,
                flags,
                ..
            } => (sport, dport, 6, flags),
            L4::Udp { sport, dport } => (sport, dport, 17, 0),
            L4::Icmp { kind, code } => (
                0,
                (kind as u16) << 8 | code as u16,
                if src.to_v4().is_some() { 1 } else { 58 },
                0,
            ),
        };
        Meta {
            ts_ns: ts,
            wire_len: buf.len() as u32,
            ip_len: ip_len as u32,
            src,
            dst,
            sport,
            dport,
            proto,
            flags,
            v6: src.to_v4().is_none(),
            conn,
        }
    }

    fn finish(&mut self, id: u32) {
        self.free.push(id);
    }

    fn flow_step(&mut self, ts: u64, id: u32, buf: &mut Vec<u8>) -> Option<Meta> {
        let f = self.flows[id as usize].clone();
        let c2s = (f.client, f.server);
        let s2c = (f.server, f.client);
        let step = f.step;
        self.flows[id as usize].step += 1;
        let gap = |rtt: u64| (rtt / 10).max(20 * US);
        let (meta, next) = match f.kind {
            Kind::Tcp => {
                // Sequence numbers advance as on the wire: SYN and FIN count
                // one, data its length; every segment after the SYN
                // acknowledges what the peer has sent.
                let (cseq, sseq) = (f.cseq, f.sseq);
                let c = |seq, flags| L4::Tcp {
                    sport: f.cport,
                    dport: f.sport,
                    seq,
                    ack: sseq,
                    flags,
                };
                let s = |flags| L4::Tcp {
                    sport: f.sport,
                    dport: f.cport,
                    seq: sseq,
                    ack: cseq,
                    flags,
                };
                let syn = L4::Tcp {
                    sport: f.cport,
                    dport: f.sport,
                    seq: f.cseq,
                    ack: 0,
                    flags: tf::SYN,
                };
                // After the SYN counted one, a retransmission repeats its number.
                let retrans = L4::Tcp {
                    sport: f.cport,
                    dport: f.sport,
                    seq: cseq.wrapping_sub(1),
                    ack: 0,
                    flags: tf::SYN,
                };
                let ev = |e| Some((f.server, f.sport, e));
                let (meta, next, dc, ds) = match (step, f.fail) {
                    (0, _) => (
                        self.emit(buf, ts, c2s, syn, 0, ev(ConnEvent::Attempt)),
                        Some(f.rtt_s),
                        1,
                        0,
                    ),
                    // Unanswered: the client retransmits its SYN twice, then gives up.
                    (1, Fail::NoAnswer) => (
                        self.emit(buf, ts, c2s, retrans, 0, None),
                        Some(1000 * MS),
                        0,
                        0,
                    ),
                    (2, Fail::NoAnswer) => (
                        self.emit(buf, ts, c2s, retrans, 0, ev(ConnEvent::Unanswered)),
                        None,
                        0,
                        0,
                    ),
                    (1, Fail::Rst) => {
                        let rst = L4::Tcp {
                            sport: f.sport,
                            dport: f.cport,
                            seq: 0,
                            ack: cseq,
                            flags: tf::RST | tf::ACK,
                        };
                        (
                            self.emit(buf, ts, s2c, rst, 0, ev(ConnEvent::Refused)),
                            None,
                            0,
                            0,
                        )
                    }
                    (1, _) => {
                        let hs = ev(ConnEvent::Answered(ts - f.syn_ts));
                        (
                            self.emit(buf, ts, s2c, s(tf::SYN | tf::ACK), 0, hs),
                            Some(f.rtt_c),
                            0,
                            1,
                        )
                    }
                    // The ACK leaves the client rtt_c after the SYN-ACK.
                    (2, _) => (
                        self.emit(
                            buf,
                            ts,
                            c2s,
                            c(cseq, tf::ACK),
                            0,
                            ev(ConnEvent::Completed(f.rtt_c)),
                        ),
                        Some(gap(f.rtt_s)),
                        0,
                        0,
                    ),
                    (k, _) if k < 3 + f.data => {
                        let i = k - 3;
                        let from_server = (i % 3 != 2) != f.upload;
                        let data = i % 3 != 2;
                        let (flags, len) = if data {
                            (tf::ACK | tf::PSH, 1448)
                        } else {
                            (tf::ACK, 0)
                        };
                        let m = if from_server {
                            self.emit(buf, ts, s2c, s(flags), len, None)
                        } else {
                            self.emit(buf, ts, c2s, c(cseq, flags), len, None)
                        };
                        let adv = len as u32;
                        let (dc, ds) = if from_server { (0, adv) } else { (adv, 0) };
                        (m, Some(gap(f.rtt_s)), dc, ds)
                    }
                    (k, _) if f.rst_end && k == 3 + f.data => (
                        self.emit(buf, ts, s2c, s(tf::RST | tf::ACK), 0, None),
                        None,
                        0,
                        0,
                    ),
                    (k, _) if k == 3 + f.data => (
                        self.emit(buf, ts, c2s, c(cseq, tf::FIN | tf::ACK), 0, None),
                        Some(f.rtt_s),
                        1,
                        0,
                    ),
                    (k, _) if k == 4 + f.data => (
                        self.emit(buf, ts, s2c, s(tf::FIN | tf::ACK), 0, None),
                        Some(f.rtt_c),
                        0,
                        1,
                    ),
                    _ => (
                        self.emit(buf, ts, c2s, c(cseq, tf::ACK), 0, None),
                        None,
                        0,
                        0,
                    ),
                };
                let fl = &mut self.flows[id as usize];
                fl.cseq = fl.cseq.wrapping_add(dc);
                fl.sseq = fl.sseq.wrapping_add(ds);
                (meta, next)
            }
            Kind::Dns | Kind::Ntp => {
                let (q, r) = if f.kind == Kind::Dns {
                    (
                        30 + (mix(id as u64 ^ f.cseq as u64, 1) % 30) as usize,
                        100 + (f.sseq % 300) as usize,
                    )
                } else {
                    (48, 48)
                };
                if step == 0 {
                    (
                        self.emit(
                            buf,
                            ts,
                            c2s,
                            L4::Udp {
                                sport: f.cport,
                                dport: f.sport,
                            },
                            q,
                            None,
                        ),
                        Some(f.rtt_s),
                    )
                } else {
                    (
                        self.emit(
                            buf,
                            ts,
                            s2c,
                            L4::Udp {
                                sport: f.sport,
                                dport: f.cport,
                            },
                            r,
                            None,
                        ),
                        None,
                    )
                }
            }
            Kind::Quic => {
                let last = step + 1 >= f.data.max(2);
                let (dir, l4, payload) = if step % 3 == 2 {
                    (
                        c2s,
                        L4::Udp {
                            sport: f.cport,
                            dport: f.sport,
                        },
                        40,
                    )
                } else {
                    (
                        s2c,
                        L4::Udp {
                            sport: f.sport,
                            dport: f.cport,
                        },
                        1200,
                    )
                };
                let (dir, l4, payload) = if step == 0 {
                    (
                        c2s,
                        L4::Udp {
                            sport: f.cport,
                            dport: f.sport,
                        },
                        1200,
                    )
                } else {
                    (dir, l4, payload)
                };
                (
                    self.emit(buf, ts, dir, l4, payload, None),
                    (!last).then(|| if step == 0 { f.rtt_s } else { gap(f.rtt_s) }),
                )
            }
            Kind::Icmp => {
                let (dir, kind) = if step % 2 == 0 { (c2s, 8) } else { (s2c, 0) };
                // ICMPv6 echo request is 128, reply 129.
                let kind = match (f.client.to_v4().is_none(), kind) {
                    (true, 8) => 128,
                    (true, _) => 129,
                    (false, k) => k,
                };
                let next = if step % 2 == 0 {
                    Some(f.rtt_s)
                } else {
                    Some(10 * MS)
                };
                (
                    self.emit(buf, ts, dir, L4::Icmp { kind, code: 0 }, 56, None),
                    (step < 5).then_some(next).flatten(),
                )
            }
        };
        match next {
            Some(d) => self.push(ts + d, Src::Flow(id)),
            None => self.finish(id),
        }
        Some(meta)
    }

    fn attack(&mut self, ts: u64, s: Scenario, buf: &mut Vec<u8>) -> Option<Meta> {
        if ts >= self.window.1 {
            return None;
        }
        let rate = self.cfg.attack_rate_pps;
        let victim = |last: u8| Ip::v4([10, 2, 0, last]);
        let r: u64 = self.rng.random();
        let meta = match s {
            Scenario::SynFlood => {
                let src = public_v4(r, 0x5f);
                let l4 = L4::Tcp {
                    sport: ephemeral(r >> 40),
                    dport: 80,
                    seq: (r >> 8) as u32,
                    ack: 0,
                    flags: tf::SYN,
                };
                self.emit(buf, ts, (src, victim(10)), l4, 0, None)
            }
            Scenario::UdpAmplification => {
                let refl = r % 500;
                let sport = REFLECTOR_PORTS[(refl % 5) as usize];
                let payload = match sport {
                    53 => 1200 + (r >> 20) as usize % 200,
                    123 => 440,
                    1900 => 300,
                    _ => 1400,
                };
                let l4 = L4::Udp {
                    sport,
                    dport: ephemeral(r >> 32),
                };
                self.emit(
                    buf,
                    ts,
                    (public_v4(refl, 0xa3), victim(11)),
                    l4,
                    payload,
                    None,
                )
            }
            Scenario::IcmpFlood => self.emit(
                buf,
                ts,
                (public_v4(r % 100, 0x1c), victim(12)),
                L4::Icmp { kind: 8, code: 0 },
                1000,
                None,
            ),
            Scenario::DistributedFlood => {
                let l4 = L4::Udp {
                    sport: ephemeral(r >> 32),
                    dport: 80,
                };
                self.emit(
                    buf,
                    ts,
                    (public_v4(r % 20_000, 0xb0), victim(13)),
                    l4,
                    512,
                    None,
                )
            }
            Scenario::CarpetBombing => {
                let dst = Ip::v4([10, 2, 1, (r >> 56) as u8]);
                let l4 = L4::Udp {
                    sport: ephemeral(r >> 32),
                    dport: ephemeral(r >> 16),
                };
                self.emit(buf, ts, (public_v4(r % 1000, 0xca), dst), l4, 1000, None)
            }
            _ => return None,
        };
        let gap = ((1e9 / rate) as u64).max(1);
        // Jitter keeps floods from locking step with background events.
        let jitter = r % gap.div_ceil(4).max(1);
        self.push(ts + gap - gap / 8 + jitter, Src::Attack(s));
        Some(meta)
    }
}
