//! What both DataSketches formats share: the preamble constants and a
//! bounds-checked little-endian reader.

use crate::SketchError;

/// DataSketches' default update seed (HLL always uses it).
pub const UPDATE_SEED: u32 = 9001;

pub(super) const SERIAL_VERSION: u8 = 1;
pub(super) const FAMILY_HLL: u8 = 7;
pub(super) const FAMILY_FREQUENCY: u8 = 10;

pub(super) const EMPTY_FLAG: u8 = 4;
pub(super) const COMPACT_FLAG: u8 = 8;
pub(super) const OUT_OF_ORDER_FLAG: u8 = 16;

pub(super) fn bad(msg: String) -> SketchError {
    SketchError::Decode(format!("DataSketches: {msg}"))
}

/// Bounds-checked little-endian reads.
pub(super) struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b }
    }
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], SketchError> {
        if n > self.b.len() {
            return Err(bad(format!(
                "truncated: wanted {n} more bytes, {} left",
                self.b.len()
            )));
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Ok(head)
    }
    pub(super) fn u8(&mut self) -> Result<u8, SketchError> {
        Ok(self.take(1)?[0])
    }
    pub(super) fn u32(&mut self) -> Result<u32, SketchError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    pub(super) fn u64(&mut self) -> Result<u64, SketchError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    pub(super) fn f64(&mut self) -> Result<f64, SketchError> {
        Ok(f64::from_bits(self.u64()?))
    }
    pub(super) fn rest(&self) -> usize {
        self.b.len()
    }
}
