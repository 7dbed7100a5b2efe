//! Property tests: readers and the packet parser on random and mutated
//! bytes never panic, never hang, and stop within the input.

use capture::write::{PcapWriter, PcapngWriter};
use capture::{parse_packet, CaptureFile, FlowUpdate, Linktype, RawPacket, Totals};
use proptest::prelude::*;

/// Reads everything, skipping non-fatal errors; returns packets read.
fn drain(bytes: Vec<u8>) -> usize {
    let len = bytes.len();
    let Ok(mut f) = CaptureFile::from_reader(Box::new(std::io::Cursor::new(bytes))) else {
        return 0;
    };
    let mut n = 0;
    let mut totals = Totals::default();
    let mut u = FlowUpdate::default();
    // Every packet or skipped block consumes at least 12 bytes, so this
    // many steps prove termination.
    for _ in 0..len / 12 + 2 {
        match f.next_packet() {
            Ok(Some(p)) => {
                let r = parse_packet(&p, &mut u);
                totals.record(&p, &u, r.err());
                n += 1;
            }
            Ok(None) => return n,
            Err(e) if e.is_fatal() => return n,
            Err(_) => {}
        }
    }
    panic!("reader did not finish a {len}-byte input");
}

fn sample_files() -> Vec<Vec<u8>> {
    let mut ip = Vec::new();
    etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(1, 2, 3, 4)
        .write(&mut ip, b"payload")
        .unwrap();
    let mut pcap = PcapWriter::new(Vec::new(), Linktype::ETHERNET, 65535).unwrap();
    let mut ng = PcapngWriter::new(Vec::new()).unwrap();
    let i = ng.add_interface(Linktype::ETHERNET, 0).unwrap();
    for t in 0..8 {
        pcap.write_packet(t, ip.len() as u32, &ip).unwrap();
        ng.write_packet(i, t, ip.len() as u32, &ip).unwrap();
    }
    vec![pcap.into_inner().unwrap(), ng.into_inner().unwrap()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        drain(bytes);
    }

    #[test]
    fn random_bytes_behind_a_valid_magic_never_panic(
        ng in any::<bool>(),
        tail in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = sample_files()[usize::from(ng)][..if ng { 28 } else { 24 }].to_vec();
        bytes.extend_from_slice(&tail);
        drain(bytes);
    }

    #[test]
    fn mutated_files_never_panic(
        which in 0usize..2,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = sample_files()[which].clone();
        for (at, v) in edits {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        let keep = cut.index(bytes.len() + 1);
        bytes.truncate(keep.max(bytes.len() / 2));
        drain(bytes);
    }

    #[test]
    fn parser_never_panics_on_any_link_type(
        lt in prop::sample::select(vec![0u32, 1, 9, 12, 50, 101, 104, 108, 113, 192, 228, 229, 276, 105, 9999]),
        data in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut u = FlowUpdate::default();
        let pkt = RawPacket { ts_ns: 1, linktype: Linktype(lt), wire_len: data.len() as u32, data: &data };
        let _ = parse_packet(&pkt, &mut u);
    }

    #[test]
    fn parser_never_panics_on_mutated_ethernet_ip(
        edits in proptest::collection::vec((0usize..80, any::<u8>()), 1..8),
        keep in 0usize..80,
    ) {
        let mut frame = Vec::new();
        etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv6([1; 16], [2; 16], 64)
            .udp(1, 2)
            .write(&mut frame, b"0123456789")
            .unwrap();
        for (i, v) in edits {
            if i < frame.len() { frame[i] = v; }
        }
        frame.truncate(keep);
        let mut u = FlowUpdate::default();
        let pkt = RawPacket { ts_ns: 1, linktype: Linktype::ETHERNET, wire_len: 80, data: &frame };
        let _ = parse_packet(&pkt, &mut u);
    }
}
