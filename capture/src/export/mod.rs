//! Flow export decoding: NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX
//! (RFC 7011), from UDP payloads into [`FlowUpdate`](crate::FlowUpdate)s.
//!
//! Every datagram is a zero-copy view checked before use (lengths against
//! the buffer, set lengths against the message, template field counts and
//! lengths against sane limits); a bad datagram, set or record is an error
//! with a stable reason label ([`FlowError::reason`]), counted by the caller,
//! never a panic.
//!
//! Templates (and options templates) are kept per exporter, observation
//! domain (IPFIX) or source id (v9), and template id; refreshed by any new
//! definition, withdrawn by IPFIX withdrawals. Memory is bounded: at most
//! [`Limits::templates_per_exporter`] per exporter and
//! [`Limits::templates_total`] overall (new ones beyond are refused and
//! counted). Data sets that arrive before their template are held
//! ([`Limits::pending_bytes`] in all, oldest given up first, counted) and
//! decoded when the template comes.
//!
//! Sampling: a record's own sampling interval (IEs 34, 50, 305/306) wins;
//! else the rate its sampler id (IE 48/302) announced in options data; else
//! the exporter's (v5 header, or options data without a sampler id); else
//! the configured default. Packets and bytes are scaled by it and the
//! update carries it in `sampling_rate`.
//!
//! Event time is the flow's end: absolute (IEs 151/153/155/157), or relative
//! to the exporter's uptime (v5 `Last`, IE 21 with the header's sysUptime),
//! or the export time when the record has neither.
//!
//! Layout: `dispatch` (the decoder and its state), `netflow5`, `ipfix` (v9
//! and IPFIX messages and records), `templates`, `held` (data waiting for
//! its template, timeouts), `record` (information elements, fields and
//! sampling), `limits`, `counts` (errors counted in an array indexed by
//! [`FlowError`]), `sflow` (its own decoder, owning its interface table).
//! Fixed layouts are named field ranges (`mod header { pub const COUNT:
//! Field = 2..4; }`) read with `u16_at`/`u32_at`/`ip4_at`.

mod counts;
mod dispatch;
mod held;
mod ipfix;
mod limits;
mod netflow5;
mod record;
pub mod sflow;
mod templates;

pub use counts::{FlowCounts, FlowError, FlowErrorCounts, MAX_EXPORTER_ERROR_KEYS};
pub use dispatch::FlowDecoder;
pub use limits::{
    Limits, SharedBudget, DEFAULT_TEMPLATE_TIMEOUT_NS, HELD_OVERHEAD, MAX_SAMPLERS,
    MAX_YIELDS_PER_SECOND,
};

use dispatch::*;
use record::*;
use templates::*;

/// Which export protocol a template belongs to (their field encodings
/// differ slightly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Proto {
    V9,
    Ipfix,
}

/// `(exporter address, exporter port, domain or source id, protocol)`.
pub(super) type Domain = (u128, u16, u32, Proto);

/// Big-endian unsigned of 1 to 8 bytes (IPFIX reduced-size encoding).
pub(super) fn be(b: &[u8]) -> u64 {
    b.iter().take(8).fold(0u64, |a, &x| a << 8 | x as u64)
}

/// A field's bytes in a fixed layout (smoltcp style: `mod field { pub
/// const COUNT: Field = 2..4; }`).
pub(super) type Field = std::ops::Range<usize>;

/// The big-endian u16 at `f`, if `d` holds it (`f` is 2 bytes long).
pub(super) fn u16_at(d: &[u8], f: Field) -> Option<u16> {
    Some(u16::from_be_bytes(d.get(f)?.try_into().ok()?))
}

/// The big-endian u32 at `f`, if `d` holds it (`f` is 4 bytes long).
pub(super) fn u32_at(d: &[u8], f: Field) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(f)?.try_into().ok()?))
}

/// The IPv4 address at `f`, if `d` holds it (`f` is 4 bytes long).
pub(super) fn ip4_at(d: &[u8], f: Field) -> Option<crate::Ip> {
    Some(crate::Ip::v4(d.get(f)?.try_into().ok()?))
}

pub(super) fn be16(d: &[u8], at: usize) -> Option<u16> {
    d.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

/// `a / b` rounded to the nearest, without overflow (`b` > 0).
pub(super) fn ratio(a: u64, b: u64) -> u64 {
    ((a as u128 + b as u128 / 2) / b as u128) as u64
}

pub(super) fn u128_of(v: &[u8]) -> u128 {
    v.iter().fold(0u128, |a, &x| a << 8 | x as u128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_reads_refuse_short_buffers_and_wrong_widths() {
        let d = [0x12, 0x34, 0x56, 0x78, 10, 0, 0, 1];
        assert_eq!(u16_at(&d, 2..4), Some(0x5678));
        assert_eq!(u32_at(&d, 0..4), Some(0x1234_5678));
        assert_eq!(ip4_at(&d, 4..8), Some(crate::Ip::v4([10, 0, 0, 1])));
        assert_eq!(u16_at(&d, 7..9), None);
        assert_eq!(u32_at(&d, 6..10), None);
        assert_eq!(u16_at(&d, 0..4), None);
    }
}
