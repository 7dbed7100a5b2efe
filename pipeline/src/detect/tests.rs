//! Table-driven tests of the detection rules and the alert lifecycle.
//!
//! A case is a list of epochs, each built from traffic ([`Epoch`]: floods,
//! replies, background, handshakes with their outcome), and the alert lines
//! expected, by epoch. [`check`] runs the packets through the engine (one
//! epoch a second, a live clock, so a link with no traffic still closes its
//! epochs), feeds every closed epoch's real `Summary` to a [`Detector`] and
//! compares event, kind and victim of every line.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;

use capture::{tcp_flags, FlowUpdate, Ip};

use super::{AlertKind, DetectConfig, Detector, Event};
use crate::{Engine, EngineConfig, Source, WindowSpec};

const S: u64 = 1_000_000_000;
const BASE: u64 = 1_800_000_000 * S;

/// An epoch's updates, their times as offsets into the epoch.
#[derive(Debug, Clone, Default)]
struct Epoch {
    updates: Vec<FlowUpdate>,
}

/// What a flood is made of.
#[derive(Debug, Clone, Copy)]
enum Flood {
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
enum Answer {
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
    fn quiet() -> Epoch {
        Epoch::default()
    }

    /// `pps` packets to `dst` from `sources` sources, spread over the
    /// epoch (weighted updates, one per source).
    fn flood(mut self, dst: &str, kind: Flood, pps: u32, sources: u32) -> Epoch {
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
    fn replies(mut self, host: &str, pps: u32) -> Epoch {
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
    fn spread(mut self, prefix: [u8; 3], hosts: u8, pps: u32) -> Epoch {
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
    fn background(mut self) -> Epoch {
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
    fn handshakes(mut self, server: &str, port: u16, n: u32, answer: Answer) -> Epoch {
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
fn bg() -> Epoch {
    Epoch::quiet().background()
}

/// `n` copies of `e`.
fn times(n: usize, e: Epoch) -> Vec<Epoch> {
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
type Line = (u64, Event, AlertKind, &'static str);

/// Runs `epochs` through the engine and a detector with `cfg`; every alert
/// line must be one of `want`, in order.
fn check(name: &str, cfg: DetectConfig, epochs: &[Epoch], want: &[Line]) {
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
}

/// Start, an update per further epoch of the flood, end after the third
/// quiet epoch.
fn lifecycle(kind: AlertKind, victim: &'static str, flood: u64, end: u64) -> Vec<Line> {
    let mut v = vec![(0, Event::Start, kind, victim)];
    v.extend((1..flood).map(|e| (e, Event::Update, kind, victim)));
    v.push((end, Event::End, kind, victim));
    v
}

#[test]
fn every_dos_rule_starts_updates_and_ends_its_alert() {
    let cases: Vec<(&str, Epoch, AlertKind, &str)> = vec![
        (
            "unanswered SYNs",
            bg().flood("10.0.0.1", Flood::Syn, 5_000, 50),
            AlertKind::SynFlood,
            "10.0.0.1",
        ),
        (
            "UDP from a reflector port",
            bg().flood("10.0.0.2", Flood::Amp, 5_000, 50),
            AlertKind::UdpAmplification,
            "10.0.0.2",
        ),
        (
            "ICMP",
            bg().flood("10.0.0.3", Flood::Icmp, 5_000, 50),
            AlertKind::IcmpFlood,
            "10.0.0.3",
        ),
        (
            "many sources, under the volumetric rate",
            bg().flood("10.0.0.4", Flood::Udp, 3_000, 1_500),
            AlertKind::DistributedFlood,
            "10.0.0.4",
        ),
        (
            "packets per second from a few sources",
            bg().flood("10.0.0.5", Flood::Udp, 20_000, 10),
            AlertKind::Volumetric,
            "10.0.0.5",
        ),
        (
            "a /24 over prefix_pps, no host over any threshold",
            bg().spread([10, 5, 5], 250, 30),
            AlertKind::CarpetBombing,
            "10.5.5.0/24",
        ),
    ];
    for (name, flood, kind, victim) in cases {
        // Three epochs of flood, then background: ended by the third quiet
        // epoch.
        let epochs = [times(3, flood), times(4, bg())].concat();
        let want = lifecycle(kind, victim, 3, 5);
        check(name, DetectConfig::default(), &epochs, &want);
    }
}

#[test]
fn an_alert_ends_on_a_quiet_link_with_no_traffic_at_all() {
    let flood = Epoch::quiet().flood("10.0.0.1", Flood::Syn, 5_000, 50);
    let epochs = [times(2, flood), times(4, Epoch::quiet())].concat();
    let want = lifecycle(AlertKind::SynFlood, "10.0.0.1", 2, 4);
    check("quiet link", DetectConfig::default(), &epochs, &want);
}

#[test]
fn start_epochs_and_end_epochs_are_the_configured_ones() {
    let cfg = DetectConfig {
        start_epochs: 2,
        end_epochs: 1,
        ..DetectConfig::default()
    };
    let flood = bg().flood("10.0.0.3", Flood::Icmp, 5_000, 50);
    let k = AlertKind::IcmpFlood;
    // One epoch of flood is not enough; three start at the second.
    let epochs = [
        vec![flood.clone(), Epoch::quiet().background()],
        times(3, flood),
        times(2, Epoch::quiet().background()),
    ]
    .concat();
    let want = [
        (3, Event::Start, k, "10.0.0.3"),
        (4, Event::Update, k, "10.0.0.3"),
        (5, Event::End, k, "10.0.0.3"),
    ];
    check("start 2, end 1", cfg, &epochs, &want);
}

#[test]
fn answered_traffic_is_a_flash_crowd_not_a_flood() {
    for (name, epoch) in [
        (
            "volumetric, answered",
            bg().flood("10.0.0.5", Flood::Udp, 20_000, 10)
                .replies("10.0.0.5", 10_000),
        ),
        (
            "many sources, answered",
            bg().flood("10.0.0.4", Flood::Udp, 3_000, 1_500)
                .replies("10.0.0.4", 1_000),
        ),
    ] {
        check(name, DetectConfig::default(), &times(4, epoch), &[]);
    }
    // Below answered_ratio (0.25) it is a flood again.
    let under = bg()
        .flood("10.0.0.5", Flood::Udp, 20_000, 10)
        .replies("10.0.0.5", 4_000);
    let want = lifecycle(AlertKind::Volumetric, "10.0.0.5", 2, 4);
    let epochs = [times(2, under), times(3, bg())].concat();
    check("answered 20%", DetectConfig::default(), &epochs, &want);
}

#[test]
fn a_host_far_above_its_learned_normal_is_a_baseline_change() {
    let normal = bg().flood("10.0.0.6", Flood::Udp, 100, 5);
    let surge = bg().flood("10.0.0.6", Flood::Udp, 3_000, 5);
    let k = AlertKind::BaselineChange;
    let epochs = [times(8, normal.clone()), times(2, surge), times(3, normal)].concat();
    let want = [
        (8, Event::Start, k, "10.0.0.6"),
        (9, Event::Update, k, "10.0.0.6"),
        (12, Event::End, k, "10.0.0.6"),
    ];
    check("baseline", DetectConfig::default(), &epochs, &want);
    // Without warm-up history the same surge raises nothing.
    let surge = bg().flood("10.0.0.6", Flood::Udp, 3_000, 5);
    check("no history", DetectConfig::default(), &times(3, surge), &[]);
}

#[test]
fn carpet_bombing_needs_a_spread_unanswered_prefix() {
    // One host carrying the prefix is that host's traffic.
    let one = bg()
        .spread([10, 5, 5], 250, 2)
        .flood("10.5.5.7", Flood::Udp, 6_000, 3);
    // Under prefix_pps (5,000).
    let thin = bg().spread([10, 5, 5], 250, 15);
    for (name, e) in [("one heavy host", one), ("under threshold", thin)] {
        check(name, DetectConfig::default(), &times(3, e), &[]);
    }
}

#[test]
fn sla_alerts_hold_their_epochs_and_end() {
    let srv = "10.0.0.9:443";
    for (name, answer, kind) in [
        ("refused", Answer::Refused, AlertKind::SlaFailures),
        ("slow", Answer::After(300), AlertKind::SlaLatency),
    ] {
        let bad = bg().handshakes("10.0.0.9", 443, 40, answer);
        let good = bg().handshakes("10.0.0.9", 443, 40, Answer::After(5));
        let epochs = [times(5, bad), times(4, good)].concat();
        // Held 3 epochs (the default), so it starts in the third.
        let want = [
            (2, Event::Start, kind, srv),
            (3, Event::Update, kind, srv),
            (4, Event::Update, kind, srv),
            (7, Event::End, kind, srv),
        ];
        check(name, DetectConfig::default(), &epochs, &want);
    }
    // Fast and answered: nothing.
    let good = bg().handshakes("10.0.0.9", 443, 40, Answer::After(5));
    check("healthy", DetectConfig::default(), &times(5, good), &[]);
}

#[test]
fn a_service_on_a_host_under_a_dos_alert_raises_no_sla_alert() {
    // The flood's SYNs (to port 80) time out unanswered after 3 s, and the
    // host refuses port 443 meanwhile: both are the attack's, not SLA.
    let attacked = bg().flood("10.0.0.1", Flood::Syn, 5_000, 50).handshakes(
        "10.0.0.1",
        443,
        40,
        Answer::Refused,
    );
    let after = bg().handshakes("10.0.0.1", 443, 40, Answer::Refused);
    let epochs = [times(4, attacked), times(6, after)].concat();
    let want = lifecycle(AlertKind::SynFlood, "10.0.0.1", 4, 6);
    check("cooldown", DetectConfig::default(), &epochs, &want);
}
