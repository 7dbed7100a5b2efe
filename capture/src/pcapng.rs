//! pcapng: section header, interface description (per-interface link type,
//! snaplen, `if_tsresol`, `if_tsoffset`), enhanced, simple and obsolete
//! packet blocks, several interfaces and sections in one file, both byte
//! orders. Other block types are skipped by their length.

use crate::pcap_file::{read_u16, read_u32};
use crate::stream::ByteStream;
use crate::{Linktype, RawPacket, ReadError};

const FORMAT: &str = "pcapng";
pub(crate) const SHB_TYPE: u32 = 0x0A0D_0D0A;
const IDB_TYPE: u32 = 1;
const OPB_TYPE: u32 = 2;
const SPB_TYPE: u32 = 3;
const EPB_TYPE: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// Largest block accepted. The format sets no limit; Wireshark refuses
/// blocks over 16 MiB, and so do we, so a lying length cannot make us
/// allocate or wait for gigabytes.
const MAX_BLOCK_LEN: u32 = 16 << 20;

const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: Linktype,
    snaplen: u32,
    /// Timestamp units per second (10^n or 2^n, from `if_tsresol`).
    units_per_sec: u128,
    /// `if_tsoffset`, in seconds.
    offset_s: i64,
}

impl Interface {
    #[inline]
    fn ts_ns(&self, ts: u64) -> u64 {
        let ns = match self.units_per_sec {
            1_000_000 => ts.saturating_mul(1000),
            1_000_000_000 => ts,
            u => (ts as u128 * 1_000_000_000 / u).min(u64::MAX as u128) as u64,
        };
        ns.saturating_add_signed(self.offset_s.saturating_mul(1_000_000_000))
    }
}

/// Where a packet block's frame lies, decided before its bytes are borrowed.
#[derive(Debug, Clone, Copy)]
struct PacketAt {
    block_start: usize,
    data_off: usize,
    caplen: usize,
    wire_len: u32,
    ts_ns: u64,
    linktype: Linktype,
}

#[derive(Debug)]
pub(crate) struct PcapngReader {
    stream: ByteStream,
    big_endian: bool,
    interfaces: Vec<Interface>,
}

impl PcapngReader {
    pub(crate) fn new(stream: ByteStream) -> Result<Self, ReadError> {
        let mut r = PcapngReader {
            stream,
            big_endian: false,
            interfaces: Vec::new(),
        };
        if !r.stream.fill(28)? {
            return Err(ReadError::TruncatedHeader {
                format: FORMAT,
                len: r.stream.available().len(),
            });
        }
        // The first block is a section header (the caller checked its type);
        // reading it sets the byte order.
        r.read_block().map_err(|e| match e {
            ReadError::CorruptBlock { offset, what } => ReadError::BadHeader {
                format: FORMAT,
                offset,
                what,
            },
            e => e,
        })?;
        Ok(r)
    }

    /// The link type of the first interface of the current section.
    pub(crate) fn linktype(&self) -> Option<Linktype> {
        self.interfaces.first().map(|i| i.linktype)
    }

    pub(crate) fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, ReadError> {
        loop {
            if self.stream.at_end()? {
                return Ok(None);
            }
            if let Some(p) = self.read_block()? {
                let block = self.stream.consumed(p.block_start, p.data_off + p.caplen);
                return Ok(Some(RawPacket {
                    ts_ns: p.ts_ns,
                    linktype: p.linktype,
                    wire_len: p.wire_len,
                    data: &block[p.data_off..],
                }));
            }
        }
    }

    /// Reads one whole block; returns where its frame is for packet blocks.
    fn read_block(&mut self) -> Result<Option<PacketAt>, ReadError> {
        let offset = self.stream.offset();
        if !self.stream.fill(12)? {
            return Err(ReadError::Truncated {
                offset,
                needed: 12,
                available: self.stream.available().len(),
            });
        }
        let head = self.stream.available();
        let btype_raw = [head[0], head[1], head[2], head[3]];
        if u32::from_le_bytes(btype_raw) == SHB_TYPE {
            // A new section may switch byte order: the magic decides.
            let bom = [head[8], head[9], head[10], head[11]];
            self.big_endian = if u32::from_le_bytes(bom) == BYTE_ORDER_MAGIC {
                false
            } else if u32::from_be_bytes(bom) == BYTE_ORDER_MAGIC {
                true
            } else {
                return Err(ReadError::CorruptBlock {
                    offset,
                    what: format!("section header with bad byte-order magic {bom:02x?}"),
                });
            };
        }
        let be = self.big_endian;
        let btype = read_u32(&head[0..4], be);
        let len = read_u32(&head[4..8], be);
        let min_len = if btype == SHB_TYPE { 28 } else { 12 };
        if len < min_len || len % 4 != 0 || len > MAX_BLOCK_LEN {
            return Err(ReadError::CorruptBlock {
                offset,
                what: format!("block type {btype:#x} with length {len}"),
            });
        }
        let len = len as usize;
        if !self.stream.fill(len)? {
            return Err(ReadError::Truncated {
                offset,
                needed: len,
                available: self.stream.available().len(),
            });
        }
        let trailer = read_u32(&self.stream.available()[len - 4..len], be) as usize;
        if trailer != len {
            return Err(ReadError::CorruptBlock {
                offset,
                what: format!("leading length {len} and trailing length {trailer} differ"),
            });
        }
        let start = self.stream.skip(len);
        let body = &self.stream.consumed(start, len)[8..len - 4];
        match btype {
            SHB_TYPE => {
                let major = read_u16(&body[4..6], be);
                if major != 1 {
                    return Err(ReadError::CorruptBlock {
                        offset,
                        what: format!("section header version {major}, expected 1"),
                    });
                }
                self.interfaces.clear();
                Ok(None)
            }
            IDB_TYPE => {
                let iface = parse_interface(body, be).ok_or_else(|| ReadError::CorruptBlock {
                    offset,
                    what: "interface description block too short".into(),
                })?;
                self.interfaces.push(iface);
                Ok(None)
            }
            EPB_TYPE | OPB_TYPE => {
                if body.len() < 20 {
                    return Err(ReadError::BadPacketBlock {
                        offset,
                        what: "packet block shorter than its fixed fields",
                    });
                }
                let iface_id = if btype == EPB_TYPE {
                    read_u32(&body[0..4], be)
                } else {
                    read_u16(&body[0..2], be) as u32
                };
                let ts =
                    (read_u32(&body[4..8], be) as u64) << 32 | read_u32(&body[8..12], be) as u64;
                let caplen = read_u32(&body[12..16], be) as usize;
                let wire_len = read_u32(&body[16..20], be);
                if caplen > body.len() - 20 {
                    return Err(ReadError::BadPacketBlock {
                        offset,
                        what: "captured length exceeds the block",
                    });
                }
                let iface = self.interface(iface_id, offset)?;
                Ok(Some(PacketAt {
                    block_start: start,
                    data_off: 28,
                    caplen,
                    wire_len,
                    ts_ns: iface.ts_ns(ts),
                    linktype: iface.linktype,
                }))
            }
            SPB_TYPE => {
                if body.len() < 4 {
                    return Err(ReadError::BadPacketBlock {
                        offset,
                        what: "simple packet block shorter than its fixed fields",
                    });
                }
                let wire_len = read_u32(&body[0..4], be);
                let iface = self.interface(0, offset)?;
                // The captured length is implied: the original length, cut
                // by the snaplen and by the block (which includes padding).
                let mut caplen = (wire_len as usize).min(body.len() - 4);
                if iface.snaplen != 0 {
                    caplen = caplen.min(iface.snaplen as usize);
                }
                Ok(Some(PacketAt {
                    block_start: start,
                    data_off: 12,
                    caplen,
                    wire_len,
                    // Simple packet blocks carry no timestamp.
                    ts_ns: 0,
                    linktype: iface.linktype,
                }))
            }
            _ => Ok(None),
        }
    }

    fn interface(&self, id: u32, offset: u64) -> Result<Interface, ReadError> {
        self.interfaces
            .get(id as usize)
            .copied()
            .ok_or(ReadError::UnknownInterface {
                offset,
                interface: id,
            })
    }
}

fn parse_interface(body: &[u8], be: bool) -> Option<Interface> {
    if body.len() < 8 {
        return None;
    }
    let mut iface = Interface {
        linktype: Linktype(read_u16(&body[0..2], be) as u32),
        snaplen: read_u32(&body[4..8], be),
        units_per_sec: 1_000_000,
        offset_s: 0,
    };
    let mut opts = &body[8..];
    while opts.len() >= 4 {
        let code = read_u16(&opts[0..2], be);
        let len = read_u16(&opts[2..4], be) as usize;
        let padded = (len + 3) & !3;
        if code == OPT_END || 4 + padded > opts.len() {
            break;
        }
        let val = &opts[4..4 + len];
        match (code, len) {
            (OPT_IF_TSRESOL, 1) => {
                let r = val[0];
                let exp = (r & 0x7f) as u32;
                // 10^38 and 2^127 still fit a u128; anything finer than that
                // is nonsense and keeps the default.
                if r & 0x80 == 0 && exp <= 38 {
                    iface.units_per_sec = 10u128.pow(exp);
                } else if r & 0x80 != 0 && exp <= 127 {
                    iface.units_per_sec = 1u128 << exp;
                }
            }
            (OPT_IF_TSOFFSET, 8) => {
                let mut b = [0u8; 8];
                b.copy_from_slice(val);
                iface.offset_s = if be {
                    i64::from_be_bytes(b)
                } else {
                    i64::from_le_bytes(b)
                };
            }
            _ => {}
        }
        opts = &opts[4 + padded..];
    }
    Some(iface)
}
