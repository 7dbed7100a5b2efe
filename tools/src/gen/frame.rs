//! Building Ethernet frames by hand into a reusable buffer: IPv4/IPv6 with
//! TCP, UDP or ICMP, correct IP, TCP, UDP and ICMP checksums. Payloads are
//! zeros (they add nothing to a checksum), so a frame costs its headers.

use capture::Ip;

/// Smallest Ethernet frame without FCS; shorter frames are padded.
const MIN_FRAME: usize = 60;

/// What goes above IP.
#[derive(Debug, Clone, Copy)]
pub enum L4 {
    Tcp {
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
    },
    Udp {
        sport: u16,
        dport: u16,
    },
    /// ICMP or ICMPv6 by the address family: type, code.
    Icmp {
        kind: u8,
        code: u8,
    },
}

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [last] = chunks.remainder() {
        acc += (*last as u32) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Writes one frame into `buf` (cleared first) and returns its IP-layer
/// length. `payload` zero bytes follow the transport header.
pub fn build(buf: &mut Vec<u8>, src: Ip, dst: Ip, l4: L4, payload: usize, ttl: u8) -> usize {
    buf.clear();
    let v4 = src.to_v4().zip(dst.to_v4());
    buf.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]);
    buf.extend_from_slice(if v4.is_some() {
        &[0x08, 0x00]
    } else {
        &[0x86, 0xdd]
    });
    let (l4_len, proto) = match l4 {
        L4::Tcp { .. } => (20, 6u8),
        L4::Udp { .. } => (8, 17),
        L4::Icmp { .. } => (8, if v4.is_some() { 1 } else { 58 }),
    };
    let ip_start = buf.len();
    let ip_len;
    // Pseudo-header sum for the transport checksum.
    let mut pseudo: u32;
    if let Some((s, d)) = v4 {
        ip_len = 20 + l4_len + payload;
        let mut h = [0u8; 20];
        h[0] = 0x45;
        h[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        h[6] = 0x40; // don't fragment
        h[8] = ttl;
        h[9] = proto;
        h[12..16].copy_from_slice(&s.octets());
        h[16..20].copy_from_slice(&d.octets());
        let c = fold(sum16(&h, 0));
        h[10..12].copy_from_slice(&c.to_be_bytes());
        buf.extend_from_slice(&h);
        pseudo = sum16(&h[12..20], 0) + proto as u32 + (l4_len + payload) as u32;
    } else {
        ip_len = 40 + l4_len + payload;
        let mut h = [0u8; 40];
        h[0] = 0x60;
        h[4..6].copy_from_slice(&((l4_len + payload) as u16).to_be_bytes());
        h[6] = proto;
        h[7] = ttl;
        h[8..24].copy_from_slice(&src.0.to_be_bytes());
        h[24..40].copy_from_slice(&dst.0.to_be_bytes());
        buf.extend_from_slice(&h);
        pseudo = sum16(&h[8..40], 0) + proto as u32 + (l4_len + payload) as u32;
    }
    let l4_start = buf.len();
    match l4 {
        L4::Tcp {
            sport,
            dport,
            seq,
            ack,
            flags,
        } => {
            let mut t = [0u8; 20];
            t[0..2].copy_from_slice(&sport.to_be_bytes());
            t[2..4].copy_from_slice(&dport.to_be_bytes());
            t[4..8].copy_from_slice(&seq.to_be_bytes());
            t[8..12].copy_from_slice(&ack.to_be_bytes());
            t[12] = 5 << 4;
            t[13] = flags;
            t[14..16].copy_from_slice(&65535u16.to_be_bytes());
            buf.extend_from_slice(&t);
        }
        L4::Udp { sport, dport } => {
            let mut u = [0u8; 8];
            u[0..2].copy_from_slice(&sport.to_be_bytes());
            u[2..4].copy_from_slice(&dport.to_be_bytes());
            u[4..6].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
            buf.extend_from_slice(&u);
        }
        L4::Icmp { kind, code } => {
            buf.extend_from_slice(&[kind, code, 0, 0, 0, 1, 0, 1]);
            if v4.is_some() {
                // ICMPv4 has no pseudo-header.
                pseudo = 0;
            }
        }
    }
    let csum_at = match l4 {
        L4::Tcp { .. } => 16,
        L4::Udp { .. } => 6,
        L4::Icmp { .. } => 2,
    };
    let c = fold(sum16(&buf[l4_start..], pseudo));
    // A computed UDP checksum of 0 is sent as 0xffff (0 means "none").
    let c = if c == 0 && matches!(l4, L4::Udp { .. }) {
        0xffff
    } else {
        c
    };
    buf[l4_start + csum_at..l4_start + csum_at + 2].copy_from_slice(&c.to_be_bytes());
    buf.resize(ip_start + ip_len, 0);
    if buf.len() < MIN_FRAME {
        buf.resize(MIN_FRAME, 0);
    }
    ip_len
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture::{parse_packet, FlowUpdate, Linktype, RawPacket};

    fn parsed(buf: &[u8]) -> FlowUpdate {
        let mut u = FlowUpdate::default();
        let pkt = RawPacket {
            ts_ns: 0,
            linktype: Linktype::ETHERNET,
            wire_len: buf.len() as u32,
            data: buf,
        };
        parse_packet(&pkt, &mut u).unwrap();
        u
    }

    #[test]
    fn frames_parse_back_with_valid_checksums() {
        let mut buf = Vec::new();
        let (s, d) = (Ip::v4([10, 1, 2, 3]), Ip::v4([8, 8, 8, 8]));
        let n = build(
            &mut buf,
            s,
            d,
            L4::Tcp {
                sport: 1,
                dport: 443,
                seq: 5,
                ack: 0,
                flags: 2,
            },
            0,
            64,
        );
        assert_eq!((n, buf.len()), (40, 60));
        let u = parsed(&buf);
        assert_eq!(
            (u.src, u.dst, u.dport, u.tcp_flags, u.bytes),
            (s, d, 443, 2, 40)
        );
        let ip = etherparse::Ipv4HeaderSlice::from_slice(&buf[14..34])
            .unwrap()
            .to_header();
        assert_eq!(ip.header_checksum, ip.calc_header_checksum());
        let tcp = etherparse::TcpHeaderSlice::from_slice(&buf[34..54])
            .unwrap()
            .to_header();
        assert_eq!(tcp.checksum, tcp.calc_checksum_ipv4(&ip, &[]).unwrap());
        let (s6, d6) = (
            Ip::v6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            Ip::v6([0xfe; 16]),
        );
        build(
            &mut buf,
            s6,
            d6,
            L4::Udp {
                sport: 53,
                dport: 9999,
            },
            100,
            64,
        );
        let u = parsed(&buf);
        assert_eq!(
            (u.ip_version, u.sport, u.bytes, buf.len()),
            (6, 53, 148, 162)
        );
        let ip6 = etherparse::Ipv6HeaderSlice::from_slice(&buf[14..54])
            .unwrap()
            .to_header();
        let udp = etherparse::UdpHeaderSlice::from_slice(&buf[54..62])
            .unwrap()
            .to_header();
        assert_eq!(
            udp.checksum,
            udp.calc_checksum_ipv6(&ip6, &buf[62..]).unwrap()
        );
    }
}
