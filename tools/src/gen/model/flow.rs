//! One flow's packets, step by step: the TCP handshake, data and
//! teardown (or the failure a scenario asks for), and the UDP and ICMP
//! exchanges; `emit` builds each frame and its ground-truth record.

use capture::{tcp_flags as tf, Ip};

use super::addr::*;
use super::{ConnEvent, Fail, Kind, Meta, Model, Src, MS, US};
use crate::gen::frame::{build, L4};

impl Model {
    pub(super) fn emit(
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

    pub(super) fn finish(&mut self, id: u32) {
        self.free.push(id);
    }

    pub(super) fn flow_step(&mut self, ts: u64, id: u32, buf: &mut Vec<u8>) -> Option<Meta> {
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
}
