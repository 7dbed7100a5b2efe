//! The fixed-offset fast path must agree exactly with the general
//! (etherparse) path on every frame, valid or mangled.

use capture::{parse_packet, parse_packet_general, FlowUpdate, Linktype, RawPacket};
use etherparse::PacketBuilder;
use proptest::prelude::*;

fn both(frame: &[u8]) {
    let pkt = RawPacket {
        ts_ns: 7,
        linktype: Linktype::ETHERNET,
        wire_len: frame.len() as u32,
        data: frame,
    };
    let (mut a, mut b) = (FlowUpdate::default(), FlowUpdate::default());
    let ra = parse_packet(&pkt, &mut a);
    let rb = parse_packet_general(&pkt, &mut b);
    assert_eq!((a, ra), (b, rb), "frame {frame:02x?}");
}

fn build(kind: u8, v6: bool, vlan: bool, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2([1; 6], [2; 6]);
    let mut out = Vec::new();
    macro_rules! finish {
        ($ip:expr) => {{
            let ip = $ip;
            match kind % 4 {
                0 => ip
                    .tcp(sport, dport, 1, 100)
                    .syn()
                    .ack(5)
                    .write(&mut out, payload),
                1 => ip.udp(sport, dport).write(&mut out, payload),
                2 if v6 => ip
                    .icmpv6_echo_request(sport, dport)
                    .write(&mut out, payload),
                2 => ip
                    .icmpv4_echo_request(sport, dport)
                    .write(&mut out, payload),
                _ => ip.udp(sport, dport).write(&mut out, &[]),
            }
            .unwrap()
        }};
    }
    match (v6, vlan) {
        (false, false) => finish!(eth.ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)),
        (true, false) => finish!(eth.ipv6([1; 16], [2; 16], 64)),
        (false, true) => {
            finish!(eth
                .single_vlan(7.try_into().unwrap())
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64))
        }
        (true, true) => finish!(eth
            .single_vlan(7.try_into().unwrap())
            .ipv6([1; 16], [2; 16], 64)),
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn fast_and_general_paths_agree(
        kind in 0u8..4,
        v6 in any::<bool>(),
        vlan in any::<bool>(),
        sport in any::<u16>(),
        dport in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        edits in proptest::collection::vec((0usize..120, any::<u8>()), 0..6),
        cut in 0usize..140,
        pad in 0usize..20,
        proto in any::<u8>(),
    ) {
        let mut f = build(kind, v6, vlan, sport, dport, &payload);
        both(&f);
        // Every protocol number behind an IPv4 or IPv6 header.
        let mut g = f.clone();
        let at = if vlan { 18 } else { 14 } + if v6 { 6 } else { 9 };
        g[at] = proto;
        both(&g);
        // Ethernet padding after the IP packet.
        f.extend(std::iter::repeat_n(0u8, pad));
        both(&f);
        for (i, v) in edits {
            if i < f.len() { f[i] = v; }
        }
        both(&f);
        f.truncate(cut);
        both(&f);
    }
}
