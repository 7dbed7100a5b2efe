//! The test-only traffic builder and [`check`]: an [`Epoch`] is built from
//! traffic (floods, replies, background, handshakes with their outcome);
//! [`check`] runs the epochs' packets through the engine (one epoch a
//! second, a live clock, so a link with no traffic still closes its
//! epochs), feeds every closed epoch's real `Summary` to a [`Detector`] and
//! compares event, kind and victim of every alert line with the expected
//! ones.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;

use capture::{tcp_flags, FlowUpdate, Ip};

use super::super::{Alert, AlertKind, DetectConfig, Detector, Event};
use crate::{Engine, EngineConfig, Source, WindowSpec};

const S: u64 = 1_000_000_000;
const BASE: u64 = 1_800_000_000 * S;

/// An epoch's updates, their times as offsets into the epoch.
#[derive(Debug, Clone, Default)]
pub(super) struct Epoch {
    updates: Vec<FlowUpdate>,
}

/// What a flood is made of.
#[derive(Debug, Clone, Copy)]
pub(super) enum Flood {
    /// TCP SYNs to port 80, never answered.
    Syn,
    /// UDP from memcached's port (a reflector).
    Amp,
    /// ICMP echo requests.
    Icmp,
    /// UDP to port 53 from high ports.
    Udp,
}

/// How a service answers its handshakes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Answer {
    /// SYN-ACK after this many milliseconds, then the client's ACK.
    After(u64),
    /// RST.
    Refused,
}

fn v4(s: &str) -> Ip {
    Ip::from(s.parse::<std::net::IpAddr>().expect("a test address"))
}

fn update(at: u64, src: Ip, dst: Ip, proto: u8, ports: (u16, u16), packets: u32) -> FlowUpdate {
    FlowUpdate {
        ts_ns: at,
        src,
        dst,
        bytes: 60 * packets as u64,
        packets,
        wire_len: 74,
        proto,
        sport: ports.0,
        dport: ports.1,
        has_ports: true,
        ip_version: 4,
        ..FlowUpdate::default()
    }
}

/// The `i`-th of `n` sources, in 198.18.0.0/15.
fn source(i: u32) -> Ip {
    Ip::v4([198, 18 + (i >> 16) as u8, (i >> 8) as u8, i as u8])
}

impl Epoch {
    /// No packets at all.
    pub(super) fn quiet() -> Epoch {
        Epoch::default()
    }

    /// `pps` packets to `dst` from `sources` sources, spread over the
    /// epoch (weighted updates, one per source).
    pub(super) fn flood(mut self, dst: &str, kind: Flood, pps: u32, sources: u32) -> Epoch {
        let dst = v4(dst);
        for i in 0..sources {
            let at = i as u64 * (S / 2) / sources as u64;
            let sport = 1024 + (i % 60_000) as u16;
            let mut u = match kind {
                Flood::Syn => update(at, source(i), dst, FlowUpdate::TCP, (sport, 80), 0),
                Flood::Amp => update(at, source(i), dst, FlowUpdate::UDP, (11211, sport), 0),
                Flood::Icmp => update(at, source(i), dst, FlowUpdate::ICMP, (0, 8 << 8), 0),
                Flood::Udp => update(at, source(i), dst, FlowUpdate::UDP, (sport, 53), 0),
            };
            if let Flood::Syn = kind {
                u.tcp_flags = tcp_flags::SYN;
                u.tcp_seq = 1000 + i;
            }
            u.packets = pps / sources;
            u.bytes = 60 * u.packets as u64;
            self.updates.push(u);
        }
        self
    }

    /// `pps` UDP packets from `host` back to the flood's first sources.
    pub(super) fn replies(mut self, host: &str, pps: u32) -> Epoch {
        let src = v4(host);
        for i in 0..10 {
            let at = S / 2 + i as u64 * S / 40;
            self.updates.push(update(
                at,
                src,
                source(i),
                FlowUpdate::UDP,
                (4444, 1024 + i as u16),
                pps / 10,
            ));
        }
        self
    }

    /// `pps` packets to each of `hosts` addresses of a /24, from four
    /// sources, unanswered.
    pub(super) fn spread(mut self, prefix: [u8; 3], hosts: u8, pps: u32) -> Epoch {
        for h in 1..=hosts {
            let dst = Ip::v4([prefix[0], prefix[1], prefix[2], h]);
            let u = update(
                h as u64 * S / 512,
                source(h as u32 % 4),
                dst,
                17,
                (4000, 53),
                pps,
            );
            self.updates.push(u);
        }
        self
    }

    /// Ten hosts talking both ways at 50 packets a second: an epoch that
    /// is not empty and raises nothing.
    pub(super) fn background(mut self) -> Epoch {
        for i in 0..10u8 {
            let (a, b) = (Ip::v4([192, 0, 2, i]), Ip::v4([10, 9, 0, i]));
            let at = i as u64 * S / 20;
            self.updates
                .push(update(at, a, b, FlowUpdate::UDP, (5000, 5000), 50));
            self.updates
                .push(update(at + 1, b, a, FlowUpdate::UDP, (5000, 5000), 50));
        }
        self
    }

    /// `n` handshakes from distinct clients to `server:port`, begun in the
    /// first half of the epoch and answered as `answer` says.
    pub(super) fn handshakes(mut self, server: &str, port: u16, n: u32, answer: Answer) -> Epoch {
        let srv = v4(server);
        for i in 0..n {
            let (cli, cport) = (Ip::v4([203, 0, 113, i as u8]), 30_000 + i as u16);
            let at = i as u64 * (S / 2) / n as u64;
            let tcp = |at, src, dst, ports, flags, seq, ack| FlowUpdate {
                tcp_flags: flags,
                tcp_seq: seq,
                tcp_ack: ack,
                ..update(at, src, dst, FlowUpdate::TCP, ports, 1)
            };
            let seq = 7 * i;
            self.updates
                .push(tcp(at, cli, srv, (cport, port), tcp_flags::SYN, seq, 0));
            match answer {
                Answer::After(ms) => {
                    let back = at + ms * 1_000_000;
                    let sa = tcp_flags::SYN | tcp_flags::ACK;
                    self.updates
                        .push(tcp(back, srv, cli, (port, cport), sa, 500, seq + 1));
                    let ack = tcp_flags::ACK;
                    self.updates.push(tcp(
                        back + 1_000_000,
                        cli,
                        srv,
                        (cport, port),
                        ack,
                        seq + 1,
                        501,
                    ));
                }
                Answer::Refused => {
                    let rst = tcp_flags::RST | tcp_flags::ACK;
                    self.updates.push(tcp(
                        at + 1_000_000,
                        srv,
                        cli,
                        (port, cport),
                        rst,
                        0,
                        seq + 1,
                    ));
                }
            }
        }
        self
    }
}

/// An epoch of background traffic alone.
pub(super) fn bg() -> Epoch {
    Epoch::quiet().background()
}

/// `n` copies of `e`.
pub(super) fn times(n: usize, e: Epoch) -> Vec<Epoch> {
    vec![e; n]
}

/// The epochs in order, one fill each, with a clock at each epoch's start;
/// a last clock step closes the final epoch.
struct Script {
    steps: VecDeque<(u64, Vec<FlowUpdate>)>,
    clock: Option<u64>,
}

impl Source for Script {
    fn name(&self) -> &'static str {
        "detect-test"
    }

    fn fill(&mut self, out: &mut Vec<FlowUpdate>, _max: usize) -> bool {
        if let Some((clock, mut updates)) = self.steps.pop_front() {
            updates.sort_by_key(|u| u.ts_ns);
            self.clock = Some(clock);
            out.extend(updates);
        }
        !self.steps.is_empty()
    }

    fn clock_ns(&self) -> Option<u64> {
        self.clock
    }
}

/// An expected alert line: epoch (from 0), event, kind, victim.
pub(super) type Line = (u64, Event, AlertKind, &'static str);

/// Runs `epochs` through the engine and a detector with `cfg`; the alert
/// lines must be `want`, in order. Returns the detector's alerts.
pub(super) fn check(name: &str, cfg: DetectConfig, epochs: &[Epoch], want: &[Line]) -> Vec<Alert> {
    let mut steps: VecDeque<(u64, Vec<FlowUpdate>)> = epochs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let start = BASE + i as u64 * S;
            let updates = e
                .updates
                .iter()
                .map(|u| FlowUpdate {
                    ts_ns: start + u.ts_ns,
                    ..*u
                })
                .collect();
            (start, updates)
        })
        .collect();
    steps.push_back((BASE + epochs.len() as u64 * S, Vec::new()));
    let engine = Engine::new(EngineConfig {
        workers: 0,
        pin: false,
        memory_bytes: 64 << 20,
        windows: vec![WindowSpec {
            length: 1,
            slide: 1,
        }],
        ..EngineConfig::default()
    })
    .expect("a valid engine");
    let mut det = Detector::new(cfg, S).expect("a valid configuration");
    let mut got = Vec::new();
    let mut src = Script { steps, clock: None };
    engine.run_observed(
        &mut src,
        &AtomicBool::new(false),
        |s| {
            for a in det.on_epoch(s) {
                got.push(((s.start_ns - BASE) / S, a.event, a.kind, a.victim));
            }
        },
        |_, _| {},
    );
    let got: Vec<(u64, Event, AlertKind, &str)> = got
        .iter()
        .map(|(e, ev, k, v)| (*e, *ev, *k, v.as_str()))
        .collect();
    assert_eq!(got, want, "{name}");
    det.alerts().to_vec()
}
