//! The compact summary of one packet or flow record that every input
//! becomes and every sketch is updated from.

use crate::Ip;

/// TCP flag bits as they appear in byte 13 of the TCP header.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;
    /// Names in bit order, for reports.
    pub const NAMES: [&str; 8] = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"];
}

/// What the rest of netsketch knows about one packet or one flow record:
/// a compact, fixed-size summary the sketches are updated from.
///
/// For a packet `packets` is 1 and `bytes` its IP-layer length (IPv4 total
/// length, IPv6 payload length plus 40), as NetFlow and IPFIX count bytes,
/// so packet and flow inputs agree. For ICMP, `sport` is 0 and `dport`
/// holds `type << 8 | code`, the NetFlow convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowUpdate {
    /// Event time in nanoseconds since the Unix epoch (packet time, or flow
    /// end time for flow records).
    pub ts_ns: u64,
    /// Source address.
    pub src: Ip,
    /// Destination address.
    pub dst: Ip,
    /// IP-layer bytes (already scaled by `sampling_rate` for flow input).
    pub bytes: u64,
    /// Packets (1 for a captured packet).
    pub packets: u32,
    /// Frame length on the wire (0 for flow input).
    pub wire_len: u32,
    /// TCP sequence number (0 when not TCP or not known).
    pub tcp_seq: u32,
    /// TCP acknowledgement number.
    pub tcp_ack: u32,
    /// Sampling rate the counts were scaled by (1 = unsampled).
    pub sampling_rate: u32,
    /// Source port (TCP/UDP), 0 otherwise.
    pub sport: u16,
    /// Destination port (TCP/UDP), ICMP type and code, 0 otherwise.
    pub dport: u16,
    /// IP protocol number of the transport (after IPv6 extension headers).
    pub proto: u8,
    /// OR of the TCP flags seen ([`tcp_flags`]).
    pub tcp_flags: u8,
    /// 4, 6, or 0 when the packet carries no IP.
    pub ip_version: u8,
    /// True when ports and flags are known (TCP/UDP/ICMP header parsed).
    pub has_ports: bool,
}

impl FlowUpdate {
    /// IP protocol number of TCP.
    pub const TCP: u8 = 6;
    /// IP protocol number of UDP.
    pub const UDP: u8 = 17;
    /// IP protocol number of ICMP.
    pub const ICMP: u8 = 1;
    /// IP protocol number of ICMPv6.
    pub const ICMPV6: u8 = 58;

    /// Whether this is an IP packet or flow.
    #[inline]
    pub fn is_ip(&self) -> bool {
        self.ip_version != 0
    }
}
