//! The scenarios' own traffic: floods from attack sources, and the streams
//! of flows to a slow or failing service or from a flash crowd.

use capture::{tcp_flags as tf, Ip};
use rand::RngExt;

use super::addr::*;
use super::{Fail, Kind, Meta, Model, Src, MS, US};
use crate::gen::frame::L4;
use crate::gen::scenario::Scenario;

impl Model {
    /// Streams of flows to one service: the slow and failing services have
    /// them all along (so their normal is known), the flash crowd only
    /// during the event.
    pub(super) fn stream_flow(&mut self, ts: u64, s: Scenario) {
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

    pub(super) fn attack(&mut self, ts: u64, s: Scenario, buf: &mut Vec<u8>) -> Option<Meta> {
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
