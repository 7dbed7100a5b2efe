//! NetFlow v5: fixed 48-byte records after a 24-byte header.

use super::*;
use crate::FlowUpdate;

/// The header's layout.
mod header {
    use super::Field;

    pub const COUNT: Field = 2..4;
    pub const SYS_UPTIME: Field = 4..8;
    pub const UNIX_SECS: Field = 8..12;
    pub const UNIX_NSECS: Field = 12..16;
    /// Top two bits: sampling mode; low 14: the interval.
    pub const SAMPLING: Field = 22..24;
    pub const LEN: usize = 24;
}

/// A record's layout.
mod record {
    use super::Field;

    pub const SRC_ADDR: Field = 0..4;
    pub const DST_ADDR: Field = 4..8;
    pub const PACKETS: Field = 16..20;
    pub const OCTETS: Field = 20..24;
    /// sysUptime at the flow's last packet, ms.
    pub const LAST: Field = 28..32;
    pub const SRC_PORT: Field = 32..34;
    pub const DST_PORT: Field = 34..36;
    pub const TCP_FLAGS: usize = 37;
    pub const PROTO: usize = 38;
    pub const LEN: usize = 48;
}

/// Records a datagram may hold, at most.
const MAX_COUNT: usize = 30;

impl FlowDecoder {
    pub(super) fn v5(&mut self, d: &[u8], out: &mut Vec<FlowUpdate>) -> Result<(), FlowError> {
        const HDR: usize = header::LEN;
        const REC: usize = record::LEN;
        if d.len() < HDR {
            return Err(FlowError::TruncatedHeader);
        }
        let count = u16_at(d, header::COUNT).unwrap_or(0) as usize;
        if count == 0 || count > MAX_COUNT || HDR + count * REC > d.len() {
            return Err(FlowError::BadCount);
        }
        let uptime = u32_at(d, header::SYS_UPTIME).unwrap_or(0) as u64;
        let secs = u32_at(d, header::UNIX_SECS).unwrap_or(0) as u64;
        let nsecs = u32_at(d, header::UNIX_NSECS).unwrap_or(0) as u64;
        let export_ns = secs * 1_000_000_000 + nsecs.min(999_999_999);
        let interval = (u16_at(d, header::SAMPLING).unwrap_or(0) & 0x3fff) as u32;
        let rate = self.limits.rate(|| (interval > 1).then_some(interval));
        for i in 0..count {
            let r = &d[HDR + i * REC..HDR + (i + 1) * REC];
            let last = u32_at(r, record::LAST).unwrap_or(0) as u64;
            let end_ns = export_ns.saturating_sub(uptime.saturating_sub(last) * 1_000_000);
            let rec = Rec {
                src4: ip4_at(r, record::SRC_ADDR),
                dst4: ip4_at(r, record::DST_ADDR),
                packets: Some(u32_at(r, record::PACKETS).unwrap_or(0) as u64),
                bytes: Some(u32_at(r, record::OCTETS).unwrap_or(0) as u64),
                sport: u16_at(r, record::SRC_PORT).unwrap_or(0),
                dport: u16_at(r, record::DST_PORT).unwrap_or(0),
                flags: r[record::TCP_FLAGS],
                proto: r[record::PROTO],
                end_ns: Some(end_ns),
                ..Rec::default()
            };
            self.emit(&rec, rate, export_ns, out);
        }
        Ok(())
    }
}
