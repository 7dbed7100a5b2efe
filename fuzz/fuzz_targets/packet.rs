//! The packet parser: first byte picks the link type, the rest is the
//! frame. The fast and general parse paths must agree, and the UDP
//! datagram view must stay within the frame.
#![no_main]

use capture::{parse_packet, parse_packet_general, udp_datagram, FlowUpdate, Linktype, RawPacket};
use libfuzzer_sys::fuzz_target;

const LINKTYPES: [Linktype; 8] = [
    Linktype::ETHERNET,
    Linktype::RAW,
    Linktype::IPV4,
    Linktype::IPV6,
    Linktype::LINUX_SLL,
    Linktype::LINUX_SLL2,
    Linktype::NULL,
    Linktype(12345),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let pkt = RawPacket {
        ts_ns: 1,
        linktype: LINKTYPES[pick as usize % LINKTYPES.len()],
        // A snaplen-cut frame some of the time.
        wire_len: frame.len() as u32 + if pick & 0x80 != 0 { 100 } else { 0 },
        data: frame,
    };
    let mut fast = FlowUpdate::default();
    let mut general = FlowUpdate::default();
    let a = parse_packet(&pkt, &mut fast);
    let b = parse_packet_general(&pkt, &mut general);
    // The fixed-offset fast path must give exactly what the general one does.
    assert_eq!((fast, a), (general, b), "fast and general parsers disagree");
    if let Ok(Some(u)) = udp_datagram(&pkt) {
        assert!(u.payload.len() <= frame.len());
    }
});
