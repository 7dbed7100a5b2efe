//! One captured frame, as every reader hands it out.

use crate::Linktype;

/// One captured frame as read from a file or an interface, borrowing its
/// bytes from the reader's buffer until the next read.
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    /// Capture time in nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Link-layer header type of the frame.
    pub linktype: Linktype,
    /// Length of the frame on the wire (may exceed `data.len()` when the
    /// capture was taken with a snaplen).
    pub wire_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}
