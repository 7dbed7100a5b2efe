//! Template fields and the record they read: which information elements
//! netsketch picks, and the sampling rate a record states.

use super::*;
use crate::Ip;

/// A field of interest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pick {
    Bytes,
    Packets,
    PostBytes,
    PostPackets,
    Proto,
    TcpFlags,
    SrcPort,
    DstPort,
    Src4,
    Dst4,
    Src6,
    Dst6,
    IcmpType,
    EndSysUp,
    EndSec,
    EndMs,
    EndUs,
    EndNs,
    SamplingInterval,
    SamplerRandomInterval,
    SamplerId,
    PacketInterval,
    PacketSpace,
    SamplingSize,
    SamplingPopulation,
    SamplingProbability,
    SystemInitMs,
}

pub(super) fn pick_of(id: u16) -> Option<Pick> {
    Some(match id {
        1 => Pick::Bytes,
        2 => Pick::Packets,
        23 => Pick::PostBytes,
        24 => Pick::PostPackets,
        4 => Pick::Proto,
        6 => Pick::TcpFlags,
        7 => Pick::SrcPort,
        11 => Pick::DstPort,
        8 => Pick::Src4,
        12 => Pick::Dst4,
        27 => Pick::Src6,
        28 => Pick::Dst6,
        32 | 139 => Pick::IcmpType,
        21 => Pick::EndSysUp,
        151 => Pick::EndSec,
        153 => Pick::EndMs,
        155 => Pick::EndUs,
        157 => Pick::EndNs,
        34 => Pick::SamplingInterval,
        50 => Pick::SamplerRandomInterval,
        48 | 302 => Pick::SamplerId,
        305 => Pick::PacketInterval,
        306 => Pick::PacketSpace,
        // RFC 5477: random n-out-of-N (309, 310), probabilistic (311).
        309 => Pick::SamplingSize,
        310 => Pick::SamplingPopulation,
        311 => Pick::SamplingProbability,
        160 => Pick::SystemInitMs,
        _ => return None,
    })
}

/// What one record holds.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Rec {
    pub(super) bytes: Option<u64>,
    pub(super) packets: Option<u64>,
    pub(super) proto: u8,
    pub(super) flags: u8,
    pub(super) sport: u16,
    pub(super) dport: u16,
    pub(super) src4: Option<Ip>,
    pub(super) dst4: Option<Ip>,
    pub(super) src6: Option<Ip>,
    pub(super) dst6: Option<Ip>,
    pub(super) icmp: Option<u16>,
    pub(super) end_sysup_ms: Option<u64>,
    pub(super) end_ns: Option<u64>,
    pub(super) sampling: Option<u64>,
    pub(super) sampler_id: Option<u64>,
    pub(super) packet_interval: Option<u64>,
    pub(super) packet_space: Option<u64>,
    pub(super) sampling_size: Option<u64>,
    pub(super) sampling_population: Option<u64>,
    pub(super) sampling_probability: Option<f64>,
    pub(super) init_ms: Option<u64>,
}

impl Rec {
    pub(super) fn set(&mut self, p: Pick, v: &[u8]) {
        let n = be(v);
        match p {
            Pick::Bytes => self.bytes = Some(n),
            Pick::Packets => self.packets = Some(n),
            Pick::PostBytes => {
                self.bytes.get_or_insert(n);
            }
            Pick::PostPackets => {
                self.packets.get_or_insert(n);
            }
            Pick::Proto => self.proto = n as u8,
            Pick::TcpFlags => self.flags = n as u8,
            Pick::SrcPort => self.sport = n as u16,
            Pick::DstPort => self.dport = n as u16,
            Pick::Src4 if v.len() == 4 => self.src4 = Some(Ip::v4([v[0], v[1], v[2], v[3]])),
            Pick::Dst4 if v.len() == 4 => self.dst4 = Some(Ip::v4([v[0], v[1], v[2], v[3]])),
            Pick::Src6 if v.len() == 16 => self.src6 = Some(Ip(u128_of(v))),
            Pick::Dst6 if v.len() == 16 => self.dst6 = Some(Ip(u128_of(v))),
            Pick::IcmpType => self.icmp = Some(n as u16),
            Pick::EndSysUp => self.end_sysup_ms = Some(n),
            Pick::EndSec => self.end_ns = Some(n.saturating_mul(1_000_000_000)),
            Pick::EndMs => self.end_ns = Some(n.saturating_mul(1_000_000)),
            // NTP format (RFC 7011 6.1.9): seconds since 1900, fraction.
            Pick::EndUs | Pick::EndNs if v.len() == 8 => {
                let secs = (n >> 32).saturating_sub(2_208_988_800);
                let frac = ((n & 0xffff_ffff) * 1_000_000_000) >> 32;
                self.end_ns = Some(secs * 1_000_000_000 + frac);
            }
            Pick::SamplingInterval | Pick::SamplerRandomInterval => self.sampling = Some(n),
            Pick::SamplerId => self.sampler_id = Some(n),
            Pick::PacketInterval => self.packet_interval = Some(n),
            Pick::PacketSpace => self.packet_space = Some(n),
            Pick::SamplingSize => self.sampling_size = Some(n),
            Pick::SamplingPopulation => self.sampling_population = Some(n),
            Pick::SamplingProbability if v.len() == 8 => {
                self.sampling_probability = Some(f64::from_bits(n))
            }
            Pick::SamplingProbability if v.len() == 4 => {
                self.sampling_probability = Some(f32::from_bits(n as u32) as f64)
            }
            Pick::SystemInitMs => self.init_ms = Some(n),
            _ => {}
        }
    }

    /// The flow's addresses: templates with both IPv4 and IPv6 fields fill
    /// one pair and leave the other unspecified (0.0.0.0, ::).
    pub(super) fn addrs(&self) -> Option<(Ip, Ip)> {
        let zero = Ip::v4([0; 4]);
        let unspecified =
            |p: (Ip, Ip)| (p.0 .0 == 0 && p.1 .0 == 0) || (p.0 == zero && p.1 == zero);
        let v4 = self.src4.zip(self.dst4);
        let v6 = self.src6.zip(self.dst6);
        match (v4, v6) {
            (Some(a), Some(b)) if unspecified(a) && !unspecified(b) => Some(b),
            (Some(a), _) => Some(a),
            (None, b) => b,
        }
    }

    /// The sampling rate the record itself states: a sampling interval
    /// (IE 34/50), else systematic count-based sampling (RFC 5477: 305
    /// packets selected, then 306 skipped: 1 in (interval + space) /
    /// interval), else random n-out-of-N (309 of 310: N / n), else uniform
    /// probabilistic sampling (311: 1 / p); rounded to the nearest rate.
    pub(super) fn own_rate(&self) -> Option<u32> {
        let clamp = |r: u64| r.clamp(1, u32::MAX as u64) as u32;
        if let Some(s) = self.sampling.filter(|&s| s > 0) {
            return Some(clamp(s));
        }
        if let (Some(i), Some(sp)) = (self.packet_interval, self.packet_space) {
            if i > 0 {
                return Some(clamp(ratio(i.saturating_add(sp), i)));
            }
        }
        if let (Some(n), Some(pop)) = (self.sampling_size, self.sampling_population) {
            if n > 0 && pop >= n {
                return Some(clamp(ratio(pop, n)));
            }
        }
        match self.sampling_probability {
            Some(p) if p > 0.0 && p <= 1.0 => Some(clamp((1.0 / p).round() as u64)),
            _ => None,
        }
    }
}

/// Reads one record; returns the bytes it took, `None` if it does not fit.
pub(super) fn read_record(t: &Template, c: &[u8], proto: Proto, rec: &mut Rec) -> Option<usize> {
    let mut at = 0;
    for &(pick, len) in t.fields.iter() {
        let n = if len == VARIABLE && proto == Proto::Ipfix {
            let first = *c.get(at)? as usize;
            at += 1;
            if first == 255 {
                let l = be16(c, at)? as usize;
                at += 2;
                l
            } else {
                first
            }
        } else {
            len as usize
        };
        let v = c.get(at..at + n)?;
        if let Some(p) = pick {
            rec.set(p, v);
        }
        at += n;
    }
    Some(at)
}
