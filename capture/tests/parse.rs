//! Packet parsing across link types and encapsulations, one `check` line a
//! case: the frame, its link type, and what must come out.

use capture::{parse_packet, FlowUpdate, Ip, Layer, Linktype, ParseError, RawPacket};
use etherparse::PacketBuilder;

const SRC4: [u8; 4] = [10, 0, 0, 1];
const DST4: [u8; 4] = [192, 168, 1, 2];

fn tcp4_ip(flags_syn: bool) -> Vec<u8> {
    let mut b = PacketBuilder::ipv4(SRC4, DST4, 64).tcp(1234, 80, 1000, 4096);
    if flags_syn {
        b = b.syn();
    } else {
        b = b.ack(77).psh();
    }
    let mut v = Vec::new();
    b.write(&mut v, b"hello").unwrap();
    v
}

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn parse(lt: Linktype, data: &[u8]) -> (FlowUpdate, Result<(), ParseError>) {
    let mut u = FlowUpdate::default();
    let pkt = RawPacket {
        ts_ns: 42,
        linktype: lt,
        wire_len: data.len() as u32,
        data,
    };
    let r = parse_packet(&pkt, &mut u);
    (u, r)
}

/// Expected essentials: (ip version, proto, sport, dport, bytes).
fn check(lt: Linktype, data: &[u8], expect: (u8, u8, u16, u16, u64), err: Option<ParseError>) {
    let (u, r) = parse(lt, data);
    assert_eq!(
        (u.ip_version, u.proto, u.sport, u.dport, u.bytes),
        expect,
        "{data:02x?}"
    );
    assert_eq!(r.err(), err);
    assert_eq!(u.ts_ns, 42);
}

const TCP4: (u8, u8, u16, u16, u64) = (4, 6, 1234, 80, 45);

#[test]
fn link_types_and_encapsulations() {
    let ip = tcp4_ip(true);
    check(Linktype::ETHERNET, &eth(0x0800, &ip), TCP4, None);
    check(Linktype::RAW, &ip, TCP4, None);
    check(Linktype::IPV4, &ip, TCP4, None);
    // VLAN and QinQ.
    let mut vlan = vec![0, 10, 0x08, 0x00];
    vlan.extend_from_slice(&ip);
    check(Linktype::ETHERNET, &eth(0x8100, &vlan), TCP4, None);
    let mut qinq = vec![0, 20, 0x81, 0x00];
    qinq.extend_from_slice(&vlan);
    check(Linktype::ETHERNET, &eth(0x88a8, &qinq), TCP4, None);
    // MPLS: two labels, bottom of stack on the second.
    let mut mpls = vec![0, 1, 0, 64, 0, 2, 1, 64];
    mpls.extend_from_slice(&ip);
    check(Linktype::ETHERNET, &eth(0x8847, &mpls), TCP4, None);
    // Linux cooked v1 and v2.
    let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&ip);
    check(Linktype::LINUX_SLL, &sll, TCP4, None);
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
    ];
    sll2.extend_from_slice(&ip);
    check(Linktype::LINUX_SLL2, &sll2, TCP4, None);
    // BSD loopback in either byte order, OpenBSD loop big-endian.
    for fam in [2u32.to_le_bytes(), 2u32.to_be_bytes()] {
        let mut null = fam.to_vec();
        null.extend_from_slice(&ip);
        check(Linktype::NULL, &null, TCP4, None);
    }
    let mut lo = 2u32.to_be_bytes().to_vec();
    lo.extend_from_slice(&ip);
    check(Linktype::LOOP, &lo, TCP4, None);
    // PPPoE session carrying IPv4.
    let mut pppoe = vec![0x11, 0, 0, 1, 0, 0, 0x00, 0x21];
    pppoe.extend_from_slice(&ip);
    check(Linktype::ETHERNET, &eth(0x8864, &pppoe), TCP4, None);
    // MAC-in-MAC: I-TAG then a customer frame.
    let mut pbb = vec![0, 0, 0, 1];
    pbb.extend_from_slice(&eth(0x0800, &ip));
    check(Linktype::ETHERNET, &eth(0x88e7, &pbb), TCP4, None);
    // 802.3 with LLC/SNAP.
    let mut snap = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
    snap.extend_from_slice(&ip);
    check(
        Linktype::ETHERNET,
        &eth(snap.len() as u16, &snap),
        TCP4,
        None,
    );
    // PPP with and without address/control, Cisco HDLC.
    let mut ppp = vec![0xff, 0x03, 0x00, 0x21];
    ppp.extend_from_slice(&ip);
    check(Linktype::PPP, &ppp, TCP4, None);
    let mut chdlc = vec![0x0f, 0x00, 0x08, 0x00];
    chdlc.extend_from_slice(&ip);
    check(Linktype::C_HDLC, &chdlc, TCP4, None);
    check(Linktype::PPP, &chdlc, TCP4, None);
}

#[test]
fn non_ip_and_unsupported_frames() {
    let arp = eth(
        0x0806,
        &[
            0, 1, 8, 0, 6, 4, 0, 1, 1, 2, 3, 4, 5, 6, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
        ],
    );
    check(Linktype::ETHERNET, &arp, (0, 0, 0, 0, 0), None);
    check(
        Linktype::IEEE802_11,
        &[0; 40],
        (0, 0, 0, 0, 0),
        Some(ParseError::UnsupportedLinktype(Linktype(105))),
    );
    check(Linktype::NULL, &[7, 0, 0, 0, 0x45], (0, 0, 0, 0, 0), None);
}

#[test]
fn ipv6_udp_icmp_and_tcp_fields() {
    let mut v = Vec::new();
    PacketBuilder::ipv6([1; 16], [2; 16], 64)
        .udp(53, 5353)
        .write(&mut v, &[0; 12])
        .unwrap();
    check(Linktype::IPV6, &v, (6, 17, 53, 5353, 60), None);
    let (u, _) = parse(Linktype::IPV6, &v);
    assert_eq!(u.src, Ip::v6([1; 16]));
    let mut icmp = Vec::new();
    PacketBuilder::ipv4(SRC4, DST4, 64)
        .icmpv4_echo_request(1, 2)
        .write(&mut icmp, b"ping")
        .unwrap();
    check(Linktype::RAW, &icmp, (4, 1, 0, 8 << 8, 32), None);
    let (u, _) = parse(Linktype::RAW, &tcp4_ip(false));
    assert_eq!((u.tcp_seq, u.tcp_ack, u.tcp_flags), (1000, 77, 0x18));
    assert_eq!(u.src.to_string(), "10.0.0.1");
    assert_eq!(u.dst.to_string(), "192.168.1.2");
}

#[test]
fn fragments_first_carries_ports_later_ones_only_the_protocol() {
    let ip = tcp4_ip(true);
    let mut first = ip.clone();
    first[6] = 0x20; // more fragments, offset 0
    first[10..12].copy_from_slice(&[0, 0]);
    let (u, r) = parse(Linktype::RAW, &first);
    assert_eq!(
        (u.proto, u.sport, u.dport, u.tcp_flags, r),
        (6, 1234, 80, 0x02, Ok(()))
    );
    let mut later = ip.clone();
    later[6] = 0x00;
    later[7] = 0x03; // offset 24 bytes
    let (u, r) = parse(Linktype::RAW, &later);
    assert_eq!(
        (u.ip_version, u.proto, u.sport, u.dport, u.has_ports, r),
        (4, 6, 0, 0, false, Ok(()))
    );
}

#[test]
fn truncation_keeps_what_was_parsed_and_names_the_layer() {
    let ip = tcp4_ip(true);
    // Cut inside the TCP header (a snaplen of 30 bytes of IP): addresses
    // and protocol survive, the error names the transport layer.
    let frame = eth(0x0800, &ip[..30]);
    let (u, r) = parse(Linktype::ETHERNET, &frame);
    assert_eq!(
        (u.ip_version, u.proto, u.src, u.bytes),
        (4, 6, Ip::v4(SRC4), 45)
    );
    assert_eq!(r, Err(ParseError::Truncated(Layer::Transport)));
    check(
        Linktype::ETHERNET,
        &eth(0x0800, &ip[..10]),
        (0, 0, 0, 0, 0),
        Some(ParseError::Truncated(Layer::Ip)),
    );
    check(
        Linktype::ETHERNET,
        &[1, 2, 3],
        (0, 0, 0, 0, 0),
        Some(ParseError::Truncated(Layer::Link)),
    );
    check(
        Linktype::LINUX_SLL,
        &[0; 10],
        (0, 0, 0, 0, 0),
        Some(ParseError::Truncated(Layer::Link)),
    );
    let mut bad_version = ip.clone();
    bad_version[0] = 0x35;
    check(
        Linktype::RAW,
        &bad_version,
        (0, 0, 0, 0, 0),
        Some(ParseError::Malformed(Layer::Ip)),
    );
    // Ethertype IPv6 announcing an IPv4 header.
    check(
        Linktype::ETHERNET,
        &eth(0x86dd, &ip),
        (0, 0, 0, 0, 0),
        Some(ParseError::Malformed(Layer::Ip)),
    );
}

#[test]
fn endless_encapsulation_is_bounded() {
    // 40 nested MAC-in-MAC headers: peeled a bounded number of times.
    let mut frame = eth(0x0800, &tcp4_ip(true));
    for _ in 0..40 {
        let mut pbb = vec![0, 0, 0, 1];
        pbb.extend_from_slice(&frame);
        frame = eth(0x88e7, &pbb);
    }
    check(
        Linktype::ETHERNET,
        &frame,
        (0, 0, 0, 0, 0),
        Some(ParseError::Malformed(Layer::Link)),
    );
}

#[test]
fn ipv6_extension_header_cut_mid_way_is_bounds_checked() {
    // Regression: etherparse's extension iterator reads past a lax slice
    // that ends inside a header; the fragment lookup must not use it.
    let mut v = vec![0x60, 0, 0, 0, 0, 48, 0, 64];
    v.extend_from_slice(&[1; 16]);
    v.extend_from_slice(&[2; 16]);
    // Hop-by-hop header claiming 48 bytes, then a fragment header claim,
    // cut after 12 bytes.
    v.extend_from_slice(&[44, 5, 0, 0, 0, 0, 0, 0, 17, 0, 0, 8]);
    let (u, _) = parse(Linktype::IPV6, &v);
    assert_eq!(u.ip_version, 6);
}
