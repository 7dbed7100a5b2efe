//! NetFlow v5: fixed 48-byte records after a 24-byte header.

use super::*;
use crate::{FlowUpdate, Ip};

impl FlowDecoder {
    pub(super) fn v5(&mut self, d: &[u8], out: &mut Vec<FlowUpdate>) -> Result<(), FlowError> {
        const HDR: usize = 24;
        const REC: usize = 48;
        if d.len() < HDR {
            return Err(FlowError::TruncatedHeader);
        }
        let count = be16(d, 2).unwrap_or(0) as usize;
        if count == 0 || count > 30 || HDR + count * REC > d.len() {
            return Err(FlowError::BadCount);
        }
        let uptime = be32(d, 4).unwrap_or(0) as u64;
        let secs = be32(d, 8).unwrap_or(0) as u64;
        let nsecs = be32(d, 12).unwrap_or(0) as u64;
        let export_ns = secs * 1_000_000_000 + nsecs.min(999_999_999);
        // Top two bits: sampling mode; low 14: the interval.
        let interval = (be16(d, 22).unwrap_or(0) & 0x3fff) as u32;
        let rate = self.limits.rate(|| (interval > 1).then_some(interval));
        for i in 0..count {
            let r = &d[HDR + i * REC..HDR + (i + 1) * REC];
            let last = be32(r, 28).unwrap_or(0) as u64;
            let end_ns = export_ns.saturating_sub(uptime.saturating_sub(last) * 1_000_000);
            let rec = Rec {
                src4: Some(Ip::v4([r[0], r[1], r[2], r[3]])),
                dst4: Some(Ip::v4([r[4], r[5], r[6], r[7]])),
                packets: Some(be32(r, 16).unwrap_or(0) as u64),
                bytes: Some(be32(r, 20).unwrap_or(0) as u64),
                sport: be16(r, 32).unwrap_or(0),
                dport: be16(r, 34).unwrap_or(0),
                flags: r[37],
                proto: r[38],
                end_ns: Some(end_ns),
                ..Rec::default()
            };
            self.emit(&rec, rate, export_ns, out);
        }
        Ok(())
    }
}
