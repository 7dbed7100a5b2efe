//! pcap, pcapng and gzip readers on hand-built files: every header variant,
//! and every kind of corruption we promise to report rather than panic on.

use std::io::Write;

use capture::write::{PcapWriter, PcapngWriter};
use capture::{CaptureFile, FileFormat, Linktype, ReadError};

/// A packet as (ts_ns, wire_len, data, linktype).
type Pkt = (u64, u32, Vec<u8>, Linktype);

fn read_all(bytes: Vec<u8>) -> Result<Vec<Pkt>, ReadError> {
    let mut f = CaptureFile::from_reader(Box::new(std::io::Cursor::new(bytes)))?;
    let mut out = Vec::new();
    while let Some(p) = f.next_packet()? {
        out.push((p.ts_ns, p.wire_len, p.data.to_vec(), p.linktype));
    }
    Ok(out)
}

/// A classic pcap file in the given byte order and resolution.
fn pcap_bytes(big_endian: bool, nanos: bool, records: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
    let w32 = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut b = Vec::new();
    b.extend_from_slice(&w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    b.extend_from_slice(&w16(2));
    b.extend_from_slice(&w16(4));
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&w32(65535));
    b.extend_from_slice(&w32(1));
    for &(sec, frac, data, wire) in records {
        b.extend_from_slice(&w32(sec));
        b.extend_from_slice(&w32(frac));
        b.extend_from_slice(&w32(data.len() as u32));
        b.extend_from_slice(&w32(wire));
        b.extend_from_slice(data);
    }
    b
}

#[test]
fn pcap_all_four_variants() {
    for be in [false, true] {
        for nanos in [false, true] {
            let bytes = pcap_bytes(be, nanos, &[(10, 5, b"abcd", 60), (11, 999, b"xyz", 3)]);
            let pkts = read_all(bytes).unwrap();
            let unit = if nanos { 1 } else { 1000 };
            assert_eq!(pkts.len(), 2, "be={be} nanos={nanos}");
            assert_eq!(pkts[0].0, 10_000_000_000 + 5 * unit);
            assert_eq!(pkts[0].1, 60);
            assert_eq!(pkts[0].2, b"abcd");
            assert_eq!(pkts[1].0, 11_000_000_000 + 999 * unit);
            assert_eq!(pkts[1].3, Linktype::ETHERNET);
        }
    }
}

/// pcapng blocks, built by hand so that both byte orders are covered.
struct Ng {
    be: bool,
    b: Vec<u8>,
}

impl Ng {
    fn new(be: bool) -> Ng {
        Ng { be, b: Vec::new() }
    }
    fn u32(&self, v: u32) -> [u8; 4] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn u16(&self, v: u16) -> [u8; 2] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn block(&mut self, btype: u32, body: &[u8]) -> &mut Self {
        let pad = (4 - body.len() % 4) % 4;
        let len = (12 + body.len() + pad) as u32;
        let (t, l) = (self.u32(btype), self.u32(len));
        self.b.extend_from_slice(&t);
        self.b.extend_from_slice(&l);
        self.b.extend_from_slice(body);
        self.b.extend(std::iter::repeat_n(0, pad));
        self.b.extend_from_slice(&l);
        self
    }
    fn shb(&mut self) -> &mut Self {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u32(0x1A2B_3C4D));
        body.extend_from_slice(&self.u16(1));
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&[0xff; 8]);
        self.block(0x0A0D_0D0A, &body)
    }
    fn idb(&mut self, linktype: u16, snaplen: u32, tsresol: Option<u8>) -> &mut Self {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u16(linktype));
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&self.u32(snaplen));
        if let Some(r) = tsresol {
            body.extend_from_slice(&self.u16(9));
            body.extend_from_slice(&self.u16(1));
            body.extend_from_slice(&[r, 0, 0, 0]);
            body.extend_from_slice(&self.u16(0));
            body.extend_from_slice(&self.u16(0));
        }
        self.block(1, &body)
    }
    fn epb(&mut self, iface: u32, ts: u64, data: &[u8], wire: u32) -> &mut Self {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u32(iface));
        body.extend_from_slice(&self.u32((ts >> 32) as u32));
        body.extend_from_slice(&self.u32(ts as u32));
        body.extend_from_slice(&self.u32(data.len() as u32));
        body.extend_from_slice(&self.u32(wire));
        body.extend_from_slice(data);
        body.extend(std::iter::repeat_n(0, (4 - data.len() % 4) % 4));
        self.block(6, &body)
    }
    fn spb(&mut self, data: &[u8]) -> &mut Self {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u32(data.len() as u32));
        body.extend_from_slice(data);
        self.block(3, &body)
    }
}

#[test]
fn pcapng_interfaces_resolutions_and_block_kinds() {
    for be in [false, true] {
        let mut ng = Ng::new(be);
        ng.shb()
            .idb(1, 0, None) // microseconds by default
            .idb(101, 0, Some(9)) // nanoseconds
            .idb(113, 0, Some(0x80 | 20)) // 2^-20 s
            .block(0x0BAD, b"unknown block is skipped")
            .epb(0, 1_500_000, b"eth", 64)
            .epb(1, 1_500_000_123, b"raw", 20)
            .epb(2, 3 << 20, b"sll", 30)
            .spb(b"simple!");
        let pkts = read_all(ng.b.clone()).unwrap();
        assert_eq!(pkts.len(), 4, "be={be}");
        assert_eq!(
            (pkts[0].0, pkts[0].3, pkts[0].2.as_slice()),
            (1_500_000_000, Linktype(1), &b"eth"[..])
        );
        assert_eq!((pkts[1].0, pkts[1].3), (1_500_000_123, Linktype(101)));
        assert_eq!((pkts[2].0, pkts[2].3), (3_000_000_000, Linktype(113)));
        assert_eq!((pkts[3].2.as_slice(), pkts[3].1), (&b"simple!"[..], 7));
    }
}

#[test]
fn pcapng_sections_may_switch_byte_order_and_reset_interfaces() {
    let mut a = Ng::new(false);
    a.shb().idb(1, 0, None).epb(0, 1, b"le", 2);
    let mut b = Ng::new(true);
    b.shb().idb(101, 0, Some(9)).epb(0, 7, b"be", 2);
    let mut bytes = a.b;
    bytes.extend_from_slice(&b.b);
    let pkts = read_all(bytes).unwrap();
    assert_eq!(pkts.len(), 2);
    assert_eq!((pkts[0].0, pkts[0].3), (1000, Linktype(1)));
    assert_eq!((pkts[1].0, pkts[1].3), (7, Linktype(101)));
}

#[test]
fn writers_round_trip_and_gzip_is_transparent() {
    let packets: Vec<(u64, Vec<u8>)> = (0..1000u64)
        .map(|i| (i * 1_000_123, vec![i as u8; (i % 97) as usize]))
        .collect();
    let mut w = PcapWriter::new(Vec::new(), Linktype::ETHERNET, 65535).unwrap();
    for (ts, d) in &packets {
        w.write_packet(*ts, d.len() as u32 + 4, d).unwrap();
    }
    let pcap = w.into_inner().unwrap();
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    let ifc = w.add_interface(Linktype::ETHERNET, 65535).unwrap();
    for (ts, d) in &packets {
        w.write_packet(ifc, *ts, d.len() as u32 + 4, d).unwrap();
    }
    let pcapng = w.into_inner().unwrap();
    for (bytes, format) in [(pcap, FileFormat::Pcap), (pcapng, FileFormat::Pcapng)] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        let gz = gz.finish().unwrap();
        for (input, gzip) in [(bytes.clone(), false), (gz, true)] {
            let f =
                CaptureFile::from_reader(Box::new(std::io::Cursor::new(input.clone()))).unwrap();
            assert_eq!((f.format(), f.is_gzip()), (format, gzip));
            let got = read_all(input).unwrap();
            assert_eq!(got.len(), packets.len());
            for ((ts, d), g) in packets.iter().zip(&got) {
                assert_eq!((g.0, &g.2, g.1), (*ts, d, d.len() as u32 + 4));
            }
        }
    }
}

fn err_of(bytes: Vec<u8>) -> ReadError {
    read_all(bytes).expect_err("corrupt input must give an error")
}

#[test]
fn bogus_headers_are_rejected_with_a_clear_error() {
    assert!(matches!(
        err_of(b"GIF89a not a capture".to_vec()),
        ReadError::NotACapture { .. }
    ));
    assert!(matches!(err_of(vec![]), ReadError::NotACapture { .. }));
    let mut short = pcap_bytes(false, false, &[]);
    short.truncate(20);
    assert!(matches!(err_of(short), ReadError::TruncatedHeader { .. }));
    let mut v3 = pcap_bytes(false, false, &[]);
    v3[4] = 3;
    let e = err_of(v3);
    assert!(matches!(e, ReadError::BadHeader { .. }), "{e}");
    assert!(e.to_string().contains("version 3"), "{e}");
    let mut ng = Ng::new(false);
    ng.shb();
    ng.b[8..12].copy_from_slice(b"XXXX");
    assert!(matches!(err_of(ng.b), ReadError::BadHeader { .. }));
}

#[test]
fn truncated_record_is_reported_with_its_offset() {
    let mut bytes = pcap_bytes(
        false,
        false,
        &[(1, 0, b"complete", 8), (2, 0, b"cut short", 9)],
    );
    bytes.truncate(bytes.len() - 3);
    let mut f = CaptureFile::from_reader(Box::new(std::io::Cursor::new(bytes))).unwrap();
    assert!(f.next_packet().unwrap().is_some());
    let e = f.next_packet().unwrap_err();
    assert!(matches!(e, ReadError::Truncated { offset: 48, .. }), "{e}");
    assert!(e.is_fatal());
    assert_eq!(e.reason(), Some(capture::Reason::TruncatedFile));
}

#[test]
fn absurd_pcap_caplen_is_corruption_not_an_allocation() {
    let mut bytes = pcap_bytes(false, false, &[(1, 0, b"x", 1)]);
    bytes[24 + 8..24 + 12].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    assert!(matches!(
        err_of(bytes),
        ReadError::CorruptRecord {
            caplen: 0xffff_fff0,
            ..
        }
    ));
}

#[test]
fn pcapng_lying_lengths_are_corrupt_blocks() {
    // Leading length larger than the rest of the file.
    let mut ng = Ng::new(false);
    ng.shb().idb(1, 0, None).epb(0, 1, b"data", 4);
    let epb_at = ng.b.len() - 36; // an EPB with 4 data bytes is 36 bytes long
    let mut lying = ng.b.clone();
    lying[epb_at + 4..epb_at + 8].copy_from_slice(&1000u32.to_le_bytes());
    assert!(matches!(err_of(lying), ReadError::Truncated { .. }));
    // Leading and trailing lengths disagree.
    let mut mismatch = ng.b.clone();
    let n = mismatch.len();
    mismatch[n - 4..].copy_from_slice(&40u32.to_le_bytes());
    assert!(matches!(err_of(mismatch), ReadError::CorruptBlock { .. }));
    // Not a multiple of four, and absurdly large.
    for bad in [45u32, 0x7fff_fff0] {
        let mut b = ng.b.clone();
        b[epb_at + 4..epb_at + 8].copy_from_slice(&bad.to_le_bytes());
        assert!(
            matches!(err_of(b), ReadError::CorruptBlock { .. }),
            "length {bad}"
        );
    }
}

#[test]
fn pcapng_packet_for_unknown_interface_is_skipped_not_fatal() {
    let mut ng = Ng::new(false);
    ng.shb()
        .idb(1, 0, None)
        .epb(5, 1, b"orphan", 6)
        .epb(0, 2, b"ok", 2);
    let mut f = CaptureFile::from_reader(Box::new(std::io::Cursor::new(ng.b))).unwrap();
    let e = f.next_packet().unwrap_err();
    assert!(matches!(
        e,
        ReadError::UnknownInterface { interface: 5, .. }
    ));
    assert!(!e.is_fatal());
    assert_eq!(f.next_packet().unwrap().unwrap().data, b"ok");
    assert!(f.next_packet().unwrap().is_none());
}

#[test]
fn pcapng_caplen_beyond_block_is_skipped_not_fatal() {
    let mut ng = Ng::new(false);
    ng.shb()
        .idb(1, 0, None)
        .epb(0, 1, b"abcd", 4)
        .epb(0, 2, b"next", 4);
    // First EPB's caplen field: SHB (28) + IDB (20) + 8 + 12.
    let at = 28 + 20 + 8 + 12;
    ng.b[at..at + 4].copy_from_slice(&200u32.to_le_bytes());
    let mut f = CaptureFile::from_reader(Box::new(std::io::Cursor::new(ng.b))).unwrap();
    assert!(!f.next_packet().unwrap_err().is_fatal());
    assert_eq!(f.next_packet().unwrap().unwrap().data, b"next");
}
