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

/// The sFlow side of [`crate::flows::FlowDecoder`]: interface counters.
#[derive(Debug, Default)]
pub(crate) struct SflowState {
    pub(crate) interfaces: BTreeMap<(Ip, u32), SflowInterface>,
}

/// Decodes one sFlow v5 datagram (the version word already checked by the
/// caller) received from `sender` at `recv_ns`; `limits` decide each
/// sample's rate (an override, else the sample's own, else the default).
pub(crate) fn decode(
    state: &mut SflowState,
    counts: &mut FlowCounts,
    sender: Ip,
    d: &[u8],
    recv_ns: u64,
    limits: &Limits,
    out: &mut Vec<FlowUpdate>,
) -> Result<(), FlowError> {
    let mut x = Xdr { d, at: VERSION.end };
    let agent = x.address().ok_or(FlowError::TruncatedHeader)?;
    let agent = if agent.0 == 0 { sender } else { agent };
    let (Some(_sub_agent), Some(_seq), Some(uptime), Some(n)) =
        (x.u32(), x.u32(), x.u32(), x.u32())
    else {
        return Err(FlowError::TruncatedHeader);
    };
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
            1 => flow_sample(&mut s, false, counts, recv_ns, limits, out),
            3 => flow_sample(&mut s, true, counts, recv_ns, limits, out),
            2 => counter_sample(&mut s, false, state, counts, agent, uptime),
            4 => counter_sample(&mut s, true, state, counts, agent, uptime),
            // Other enterprises' samples: skipped whole, their length known.
            _ => {
                counts.sflow_other_samples += 1;
                Some(())
            }
        };
        if ok.is_none() {
            counts.error(FlowError::BadRecord);
        }
    }
    Ok(())
}

fn flow_sample(
    s: &mut Xdr<'_>,
    expanded: bool,
    counts: &mut FlowCounts,
    recv_ns: u64,
    limits: &Limits,
    out: &mut Vec<FlowUpdate>,
) -> Option<()> {
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

fn counter_sample(
    s: &mut Xdr<'_>,
    expanded: bool,
    state: &mut SflowState,
    counts: &mut FlowCounts,
    agent: Ip,
    uptime_ms: u32,
) -> Option<()> {
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
        if state.interfaces.len() < MAX_INTERFACES || state.interfaces.contains_key(&key) {
            state.interfaces.insert(key, row);
        } else {
            counts.sflow_interfaces_dropped += 1;
        }
    }
    Some(())
}
