//! Classic pcap (libpcap) files: microsecond and nanosecond variants, both
//! byte orders, and the rare "modified" (Kuznetzov) record header.

use crate::stream::ByteStream;
use crate::{Linktype, RawPacket, ReadError};

const FORMAT: &str = "pcap";
const FILE_HEADER_LEN: usize = 24;
/// Largest captured length accepted. libpcap's own limit is 262,144; some
/// tools write larger snaplens, so accept up to 16 MiB and treat anything
/// bigger as corruption rather than allocating it.
pub(crate) const MAX_CAPLEN: u32 = 16 << 20;

const MAGIC_US: u32 = 0xa1b2_c3d4;
const MAGIC_NS: u32 = 0xa1b2_3c4d;
const MAGIC_MODIFIED: u32 = 0xa1b2_cd34;

mod field {
    use std::ops::Range;
    pub const MAGIC: Range<usize> = 0..4;
    pub const VERSION_MAJOR: Range<usize> = 4..6;
    pub const LINKTYPE: Range<usize> = 20..24;
    pub const TS_SEC: Range<usize> = 0..4;
    pub const TS_FRAC: Range<usize> = 4..8;
    pub const CAPLEN: Range<usize> = 8..12;
    pub const ORIGLEN: Range<usize> = 12..16;
}

/// Whether `magic` (the first four bytes, as read) starts a pcap file.
pub(crate) fn is_pcap_magic(magic: [u8; 4]) -> bool {
    let le = u32::from_le_bytes(magic);
    let be = u32::from_be_bytes(magic);
    [MAGIC_US, MAGIC_NS, MAGIC_MODIFIED]
        .iter()
        .any(|&m| m == le || m == be)
}

#[derive(Debug)]
pub(crate) struct PcapReader {
    stream: ByteStream,
    big_endian: bool,
    nanos: bool,
    record_header_len: usize,
    linktype: Linktype,
}

impl PcapReader {
    pub(crate) fn new(mut stream: ByteStream) -> Result<Self, ReadError> {
        if !stream.fill(FILE_HEADER_LEN)? {
            return Err(ReadError::TruncatedHeader {
                format: FORMAT,
                len: stream.available().len(),
            });
        }
        let hdr = stream.take(FILE_HEADER_LEN);
        let magic = [hdr[field::MAGIC][0], hdr[1], hdr[2], hdr[3]];
        let (big_endian, m) =
            if [MAGIC_US, MAGIC_NS, MAGIC_MODIFIED].contains(&u32::from_le_bytes(magic)) {
                (false, u32::from_le_bytes(magic))
            } else {
                (true, u32::from_be_bytes(magic))
            };
        let u16_at = |r: std::ops::Range<usize>| {
            let b = [hdr[r.start], hdr[r.start + 1]];
            if big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }
        };
        let u32_at = |r: std::ops::Range<usize>| read_u32(&hdr[r], big_endian);
        let major = u16_at(field::VERSION_MAJOR);
        if major != 2 {
            return Err(ReadError::BadHeader {
                format: FORMAT,
                offset: 0,
                what: format!("version {major}, expected 2"),
            });
        }
        // The upper bits of the link-type field carry FCS information
        // (draft-ietf-opsawg-pcap); the type itself is the low 16 bits.
        let linktype = Linktype(u32_at(field::LINKTYPE) & 0xffff);
        Ok(PcapReader {
            stream,
            big_endian,
            nanos: m == MAGIC_NS,
            record_header_len: if m == MAGIC_MODIFIED { 24 } else { 16 },
            linktype,
        })
    }

    pub(crate) fn linktype(&self) -> Linktype {
        self.linktype
    }

    pub(crate) fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, ReadError> {
        let hlen = self.record_header_len;
        if !self.stream.fill(hlen)? {
            let left = self.stream.available().len();
            if left == 0 {
                return Ok(None);
            }
            return Err(ReadError::Truncated {
                offset: self.stream.offset(),
                needed: hlen,
                available: left,
            });
        }
        let offset = self.stream.offset();
        let hdr = &self.stream.available()[..hlen];
        let be = self.big_endian;
        let sec = read_u32(&hdr[field::TS_SEC], be) as u64;
        let frac = read_u32(&hdr[field::TS_FRAC], be) as u64;
        let caplen = read_u32(&hdr[field::CAPLEN], be);
        let wire_len = read_u32(&hdr[field::ORIGLEN], be);
        if caplen > MAX_CAPLEN {
            return Err(ReadError::CorruptRecord {
                offset,
                caplen,
                limit: MAX_CAPLEN,
            });
        }
        let total = hlen + caplen as usize;
        if !self.stream.fill(total)? {
            return Err(ReadError::Truncated {
                offset,
                needed: total,
                available: self.stream.available().len(),
            });
        }
        let ts_ns = sec * 1_000_000_000 + if self.nanos { frac } else { frac * 1000 };
        let rec = self.stream.take(total);
        Ok(Some(RawPacket {
            ts_ns,
            linktype: self.linktype,
            wire_len,
            data: &rec[hlen..],
        }))
    }
}

#[inline]
pub(crate) fn read_u32(b: &[u8], big_endian: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if big_endian {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

#[inline]
pub(crate) fn read_u16(b: &[u8], big_endian: bool) -> u16 {
    let a = [b[0], b[1]];
    if big_endian {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}
