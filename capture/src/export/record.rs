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

/// An information element id (IPFIX, RFC 7012) or field type (v9, RFC
/// 3954 8), as read from a field specifier: in IPFIX its top bit is the
/// enterprise bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ie(pub(super) u16);

impl Ie {
    pub(super) const OCTET_DELTA_COUNT: Ie = Ie(1);
    pub(super) const PACKET_DELTA_COUNT: Ie = Ie(2);
    pub(super) const PROTOCOL_IDENTIFIER: Ie = Ie(4);
    pub(super) const TCP_CONTROL_BITS: Ie = Ie(6);
    pub(super) const SOURCE_TRANSPORT_PORT: Ie = Ie(7);
    pub(super) const SOURCE_IPV4_ADDRESS: Ie = Ie(8);
    pub(super) const DESTINATION_TRANSPORT_PORT: Ie = Ie(11);
    pub(super) const DESTINATION_IPV4_ADDRESS: Ie = Ie(12);
    pub(super) const FLOW_END_SYS_UP_TIME: Ie = Ie(21);
    pub(super) const POST_OCTET_DELTA_COUNT: Ie = Ie(23);
    pub(super) const POST_PACKET_DELTA_COUNT: Ie = Ie(24);
    pub(super) const SOURCE_IPV6_ADDRESS: Ie = Ie(27);
    pub(super) const DESTINATION_IPV6_ADDRESS: Ie = Ie(28);
    pub(super) const ICMP_TYPE_CODE_IPV4: Ie = Ie(32);
    pub(super) const SAMPLING_INTERVAL: Ie = Ie(34);
    /// v9 FLOW_SAMPLER_ID.
    pub(super) const SAMPLER_ID: Ie = Ie(48);
    pub(super) const SAMPLER_RANDOM_INTERVAL: Ie = Ie(50);
    pub(super) const ICMP_TYPE_CODE_IPV6: Ie = Ie(139);
    pub(super) const FLOW_END_SECONDS: Ie = Ie(151);
    pub(super) const FLOW_END_MILLISECONDS: Ie = Ie(153);
    pub(super) const FLOW_END_MICROSECONDS: Ie = Ie(155);
    pub(super) const FLOW_END_NANOSECONDS: Ie = Ie(157);
    pub(super) const SYSTEM_INIT_TIME_MILLISECONDS: Ie = Ie(160);
    pub(super) const SELECTOR_ID: Ie = Ie(302);
    pub(super) const SAMPLING_PACKET_INTERVAL: Ie = Ie(305);
    pub(super) const SAMPLING_PACKET_SPACE: Ie = Ie(306);
    pub(super) const SAMPLING_SIZE: Ie = Ie(309);
    pub(super) const SAMPLING_POPULATION: Ie = Ie(310);
    pub(super) const SAMPLING_PROBABILITY: Ie = Ie(311);

    /// An IPFIX id with this bit set is enterprise-specific: an
    /// enterprise number follows its length (RFC 7011 3.2).
    const ENTERPRISE_BIT: u16 = 0x8000;

    /// Enterprise-specific, in a protocol (IPFIX) that has the bit; v9
    /// ids are all IETF ones.
    pub(super) fn is_enterprise(self, proto: Proto) -> bool {
        proto == Proto::Ipfix && self.0 & Ie::ENTERPRISE_BIT != 0
    }

    /// The field netsketch reads for this (IETF) element, if any.
    pub(super) fn pick(self) -> Option<Pick> {
        Some(match self {
            Ie::OCTET_DELTA_COUNT => Pick::Bytes,
            Ie::PACKET_DELTA_COUNT => Pick::Packets,
            Ie::POST_OCTET_DELTA_COUNT => Pick::PostBytes,
            Ie::POST_PACKET_DELTA_COUNT => Pick::PostPackets,
            Ie::PROTOCOL_IDENTIFIER => Pick::Proto,
            Ie::TCP_CONTROL_BITS => Pick::TcpFlags,
            Ie::SOURCE_TRANSPORT_PORT => Pick::SrcPort,
            Ie::DESTINATION_TRANSPORT_PORT => Pick::DstPort,
            Ie::SOURCE_IPV4_ADDRESS => Pick::Src4,
            Ie::DESTINATION_IPV4_ADDRESS => Pick::Dst4,
            Ie::SOURCE_IPV6_ADDRESS => Pick::Src6,
            Ie::DESTINATION_IPV6_ADDRESS => Pick::Dst6,
            Ie::ICMP_TYPE_CODE_IPV4 | Ie::ICMP_TYPE_CODE_IPV6 => Pick::IcmpType,
            Ie::FLOW_END_SYS_UP_TIME => Pick::EndSysUp,
            Ie::FLOW_END_SECONDS => Pick::EndSec,
            Ie::FLOW_END_MILLISECONDS => Pick::EndMs,
            Ie::FLOW_END_MICROSECONDS => Pick::EndUs,
            Ie::FLOW_END_NANOSECONDS => Pick::EndNs,
            Ie::SAMPLING_INTERVAL => Pick::SamplingInterval,
            Ie::SAMPLER_RANDOM_INTERVAL => Pick::SamplerRandomInterval,
            Ie::SAMPLER_ID | Ie::SELECTOR_ID => Pick::SamplerId,
            Ie::SAMPLING_PACKET_INTERVAL => Pick::PacketInterval,
            Ie::SAMPLING_PACKET_SPACE => Pick::PacketSpace,
            // RFC 5477: random n-out-of-N (309, 310), probabilistic (311).
            Ie::SAMPLING_SIZE => Pick::SamplingSize,
            Ie::SAMPLING_POPULATION => Pick::SamplingPopulation,
            Ie::SAMPLING_PROBABILITY => Pick::SamplingProbability,
            Ie::SYSTEM_INIT_TIME_MILLISECONDS => Pick::SystemInitMs,
            _ => return None,
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enterprise_bit_marks_ipfix_ids_only() {
        let e = Ie(0x8000 | Ie::SOURCE_IPV4_ADDRESS.0);
        assert!(e.is_enterprise(Proto::Ipfix));
        assert!(!e.is_enterprise(Proto::V9));
        assert!(!Ie::SOURCE_IPV4_ADDRESS.is_enterprise(Proto::Ipfix));
        // An id with the bit set is none of the IETF elements read.
        assert_eq!(e.pick(), None);
        assert_eq!(Ie::SOURCE_IPV4_ADDRESS.pick(), Some(Pick::Src4));
        assert_eq!(Ie::SELECTOR_ID.pick(), Some(Pick::SamplerId));
        assert_eq!(Ie(0).pick(), None);
    }
}
