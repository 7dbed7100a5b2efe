//! sFlow version 5 (sflow.org, "sFlow Version 5", 2004): flow samples and
//! counter samples out of a UDP payload.
//!
//! A flow sample's raw packet header record goes through the packet parser
//! ([`crate::parse_packet`]), so an sFlow-sampled packet is summarised
//! exactly as a captured one, then scaled by the sample's sampling rate:
//! one sampled packet of L IP bytes at 1-in-N stands for N packets and
//! N x L bytes. Where an agent sends the decoded `sampled_ipv4`/`sampled_ipv6`
//! records instead of the header, those are used.
//!
//! Counter samples' generic interface counters (format 1) are kept, latest
//! per (agent, ifIndex), in a bounded table ([`SflowInterface`]).
//!
//! Every length is checked against the datagram before it is read (XDR:
//! big-endian, opaque data padded to 4 bytes); a bad sample is counted and
//! skipped, the samples after it in the same datagram too (their offsets
//! can no longer be trusted).

use std::collections::BTreeMap;

use crate::flows::{FlowCounts, FlowError, Limits};
use crate::{parse_packet, FlowUpdate, Ip, Linktype, RawPacket};

/// The datagram's version word (checked by the caller); the agent's
/// address follows.
const VERSION: std::ops::Range<usize> = 0..4;

/// Interfaces kept from counter samples, at most.
pub const MAX_INTERFACES: usize = 4096;

/// The latest generic interface counters (sFlow counter record 0:1) of one
/// agent's interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SflowInterface {
    /// The agent that sent them.
    pub agent: Ip,
    /// ifIndex.
    pub if_index: u32,
    /// ifSpeed, bits per second.
    pub speed_bps: u64,
    /// ifInOctets.
    pub in_octets: u64,
    /// ifInUcastPkts + ifInMulticastPkts + ifInBroadcastPkts.
    pub in_packets: u64,
    /// ifInDiscards.
    pub in_discards: u64,
    /// ifInErrors.
    pub in_errors: u64,
    /// ifOutOctets.
    pub out_octets: u64,
    /// ifOutUcastPkts + ifOutMulticastPkts + ifOutBroadcastPkts.
    pub out_packets: u64,
    /// ifOutDiscards.
    pub out_discards: u64,
    /// ifOutErrors.
    pub out_errors: u64,
    /// ifOperStatus up (bit 1 of ifStatus).
    pub oper_up: bool,
    /// Agent uptime when sampled, ms.
    pub uptime_ms: u32,
}

/// A big-endian XDR cursor over a checked slice.
struct Xdr<'a> {
    d: &'a [u8],
    at: usize,
}

impl<'a> Xdr<'a> {
    fn u32(&mut self) -> Option<u32> {
        let b = self.d.get(self.at..self.at + 4)?;
        self.at += 4;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Option<u64> {
        Some((self.u32()? as u64) << 32 | self.u32()? as u64)
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let b = self.d.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(b)
    }

    /// Opaque data of `n` bytes, padded to a multiple of 4.
    fn opaque(&mut self, n: usize) -> Option<&'a [u8]> {
        let b = self.bytes(n)?;
        self.bytes(n.next_multiple_of(4) - n)?;
        Some(b)
    }

    fn address(&mut self) -> Option<Ip> {
        match self.u32()? {
            1 => {
                let b = self.bytes(4)?;
                Some(Ip::v4([b[0], b[1], b[2], b[3]]))
            }
            2 => {
                let b = self.bytes(16)?;
                let mut o = [0u8; 16];
                o.copy_from_slice(b);
                Some(Ip::v6(o))
            }
            // "Unknown" agent address: the datagram's sender stands in.
            0 => Some(Ip(0)),
            _ => None,
        }
    }
}

/// What decoding an sFlow datagram needs besides its bytes and the
/// decoder's own state.
pub(crate) struct Ctx<'a> {
    /// The counters the datagram's samples and errors go to.
    pub(crate) counts: &'a mut FlowCounts,
    /// The datagram's sender, standing in for an unknown agent address.
    pub(crate) sender: Ip,
    /// Receive time: the event time of the samples, which carry no clock.
    pub(crate) recv_ns: u64,
    /// Decide each sample's rate (an override, else the sample's own,
    /// else the default).
    pub(crate) limits: &'a Limits,
}

/// The agent a datagram comes from, as its header says.
#[derive(Debug, Clone, Copy)]
struct Agent {
    addr: Ip,
    uptime_ms: u32,
}

/// The sFlow side of [`crate::flows::FlowDecoder`]: decodes sFlow v5
/// datagrams and owns what they leave behind (interface counters).
#[derive(Debug, Default)]
pub(crate) struct SflowDecoder {
    pub(crate) interfaces: BTreeMap<(Ip, u32), SflowInterface>,
}

impl SflowDecoder {
    /// Decodes one sFlow v5 datagram (the version word already checked by
    /// the caller), appending its flow samples to `out`.
    pub(crate) fn decode(
        &mut self,
        cx: &mut Ctx<'_>,
        d: &[u8],
        out: &mut Vec<FlowUpdate>,
    ) -> Result<(), FlowError> {
        let mut x = Xdr { d, at: VERSION.end };
        let addr = x.address().ok_or(FlowError::TruncatedHeader)?;
        let addr = if addr.0 == 0 { cx.sender } else { addr };
        let (Some(_sub_agent), Some(_seq), Some(uptime_ms), Some(n)) =
            (x.u32(), x.u32(), x.u32(), x.u32())
        else {
            return Err(FlowError::TruncatedHeader);
        };
        let agent = Agent { addr, uptime_ms };
        // Each sample takes at least its 8-byte header.
        if n as usize > (d.len() - x.at) / 8 {
            return Err(FlowError::BadCount);
        }
        for _ in 0..n {
            let (Some(format), Some(len)) = (x.u32(), x.u32()) else {
                return Err(FlowError::BadLength);
            };
            let Some(body) = x.bytes(len as usize) else {
                return Err(FlowError::BadLength);
            };
            let mut s = Xdr { d: body, at: 0 };
            let ok = match format {
                1 => flow_sample(&mut s, false, cx, out),
                3 => flow_sample(&mut s, true, cx, out),
                2 => self.counter_sample(&mut s, false, cx.counts, agent),
                4 => self.counter_sample(&mut s, true, cx.counts, agent),
                // Other enterprises' samples: skipped whole, their length
                // known.
                _ => {
                    cx.counts.sflow_other_samples += 1;
                    Some(())
                }
            };
            if ok.is_none() {
                cx.counts.error(FlowError::BadRecord);
            }
        }
        Ok(())
    }

    /// A counter sample (format 2, or 4 when `expanded`): its generic
    /// interface counters kept, latest per (agent, ifIndex).
    fn counter_sample(
        &mut self,
        s: &mut Xdr<'_>,
        expanded: bool,
        counts: &mut FlowCounts,
        agent: Agent,
    ) -> Option<()> {
        let Agent {
            addr: agent,
            uptime_ms,
        } = agent;
        s.u32()?; // sequence number
        s.u32()?; // source id
        if expanded {
            s.u32()?;
        }
        let records = s.u32()?;
        counts.sflow_counter_samples += 1;
        for _ in 0..records {
            let format = s.u32()?;
            let len = s.u32()? as usize;
            let body = s.opaque(len)?;
            if format != 1 {
                continue;
            }
            let mut r = Xdr { d: body, at: 0 };
            let if_index = r.u32()?;
            r.u32()?; // ifType
            let speed_bps = r.u64()?;
            r.u32()?; // ifDirection
            let status = r.u32()?;
            let in_octets = r.u64()?;
            let in_packets = r.u32()? as u64 + r.u32()? as u64 + r.u32()? as u64;
            let in_discards = r.u32()? as u64;
            let in_errors = r.u32()? as u64;
            r.u32()?; // unknown protos
            let out_octets = r.u64()?;
            let out_packets = r.u32()? as u64 + r.u32()? as u64 + r.u32()? as u64;
            let out_discards = r.u32()? as u64;
            let out_errors = r.u32()? as u64;
            let row = SflowInterface {
                agent,
                if_index,
                speed_bps,
                in_octets,
                in_packets,
                in_discards,
                in_errors,
                out_octets,
                out_packets,
                out_discards,
                out_errors,
                oper_up: status & 2 != 0,
                uptime_ms,
            };
            let key = (agent, if_index);
            if self.interfaces.len() < MAX_INTERFACES || self.interfaces.contains_key(&key) {
                self.interfaces.insert(key, row);
            } else {
                counts.sflow_interfaces_dropped += 1;
            }
        }
        Some(())
    }
}

/// A flow sample (format 1, or 3 when `expanded`): one update scaled by
/// its rate, from its packet header or sampled IP record.
fn flow_sample(
    s: &mut Xdr<'_>,
    expanded: bool,
    cx: &mut Ctx<'_>,
    out: &mut Vec<FlowUpdate>,
) -> Option<()> {
    let (recv_ns, limits) = (cx.recv_ns, cx.limits);
    let counts = &mut *cx.counts;
    s.u32()?; // sequence number
    s.u32()?; // source id (type, index)
    if expanded {
        s.u32()?;
    }
    let own = s.u32()?;
    let rate = limits.rate(|| (own > 0).then_some(own)).max(1);
    s.u32()?; // sample pool
    let drops = s.u32()?;
    // Input and output interfaces: one word each, two when expanded.
    for _ in 0..if expanded { 4 } else { 2 } {
        s.u32()?;
    }
    let records = s.u32()?;
    counts.sflow_flow_samples += 1;
    counts.sflow_agent_drops = counts.sflow_agent_drops.saturating_add(drops as u64);
    let mut u = FlowUpdate::default();
    let mut got = false;
    for _ in 0..records {
        let format = s.u32()?;
        let len = s.u32()? as usize;
        let body = s.opaque(len)?;
        if got {
            continue;
        }
        let mut r = Xdr { d: body, at: 0 };
        got = match format {
            1 => raw_header(&mut r, recv_ns, &mut u, counts)?,
            3 | 4 => sampled_ip(&mut r, format == 4, recv_ns, &mut u)?,
            _ => false,
        };
    }
    if !got {
        // Not IP (ARP, LLDP...) or no packet record at all: not an error,
        // but not silent either.
        counts.sflow_non_ip += 1;
        return Some(());
    }
    u.packets = rate;
    u.bytes = u.bytes.saturating_mul(rate as u64);
    u.sampling_rate = rate;
    // Sampled packets are not captured frames: no wire length, and the
    // handshake tracker (packets only) leaves them alone.
    u.wire_len = 0;
    counts.records += 1;
    out.push(u);
    Some(())
}

/// Raw packet header record (0:1). `Some(true)` when it held an IP packet.
fn raw_header(
    r: &mut Xdr<'_>,
    recv_ns: u64,
    u: &mut FlowUpdate,
    counts: &mut FlowCounts,
) -> Option<bool> {
    let protocol = r.u32()?;
    let frame_len = r.u32()?;
    r.u32()?; // stripped
    let n = r.u32()? as usize;
    let header = r.opaque(n)?;
    let linktype = match protocol {
        1 => Linktype::ETHERNET,
        11 => Linktype::IPV4,
        12 => Linktype::IPV6,
        _ => {
            counts.sflow_unknown_header += 1;
            return Some(false);
        }
    };
    let pkt = RawPacket {
        ts_ns: recv_ns,
        linktype,
        wire_len: frame_len.max(n as u32),
        data: header,
    };
    Some(parse_packet(&pkt, u).is_ok() && u.is_ip())
}

/// sampled_ipv4 (0:3) or sampled_ipv6 (0:4) record.
fn sampled_ip(r: &mut Xdr<'_>, v6: bool, recv_ns: u64, u: &mut FlowUpdate) -> Option<bool> {
    let len = r.u32()?;
    let proto = r.u32()? as u8;
    let (src, dst) = if v6 {
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        a.copy_from_slice(r.bytes(16)?);
        b.copy_from_slice(r.bytes(16)?);
        (Ip::v6(a), Ip::v6(b))
    } else {
        let a = r.bytes(4)?;
        let b = r.bytes(4)?;
        (
            Ip::v4([a[0], a[1], a[2], a[3]]),
            Ip::v4([b[0], b[1], b[2], b[3]]),
        )
    };
    let sport = r.u32()? as u16;
    let dport = r.u32()? as u16;
    let flags = r.u32()? as u8;
    *u = FlowUpdate {
        ts_ns: recv_ns,
        src,
        dst,
        bytes: len as u64,
        packets: 1,
        proto,
        tcp_flags: if proto == 6 { flags } else { 0 },
        sport,
        dport,
        ip_version: if v6 { 6 } else { 4 },
        has_ports: matches!(proto, 6 | 17 | 1 | 58),
        ..FlowUpdate::default()
    };
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(v: &[u32]) -> Vec<u8> {
        v.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    /// A datagram from an agent of unknown address (type 0) with one
    /// counter sample of one generic interface record, ifIndex 7.
    fn unknown_agent_counters() -> Vec<u8> {
        let mut rec = words(&[7, 6, 0, 1_000, 1, 3]); // ifIndex, type, speed, dir, status
        rec.extend(words(&[0; 15])); // octets, packets, discards, errors... (84 bytes in all)
        let mut sample = words(&[1, 0, 1, 1, rec.len() as u32]); // seq, source, records; format, len
        sample.extend(rec);
        let mut d = words(&[5, 0, 0, 9, 42, 1, 2, sample.len() as u32]);
        d.extend(sample);
        d
    }

    #[test]
    fn unknown_agent_address_stands_in_for_the_sender() {
        let mut dec = SflowDecoder::default();
        let mut counts = FlowCounts::default();
        let limits = Limits::default();
        let sender = Ip::v4([127, 0, 0, 2]);
        let mut cx = Ctx {
            counts: &mut counts,
            sender,
            recv_ns: 1,
            limits: &limits,
        };
        let mut out = Vec::new();
        dec.decode(&mut cx, &unknown_agent_counters(), &mut out)
            .unwrap();
        assert!(out.is_empty());
        assert_eq!(counts.sflow_counter_samples, 1);
        let row = dec.interfaces[&(sender, 7)];
        assert_eq!(
            (row.speed_bps, row.oper_up, row.uptime_ms),
            (1_000, true, 42)
        );
        assert!(counts.errors.is_empty());
    }
}
