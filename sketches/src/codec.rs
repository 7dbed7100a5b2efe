//! The versioned byte format shared by every sketch:
//!
//! ```text
//! magic "NSKT" | version u8 | kind u8 | kind-specific body | crc32 (LE) of all before
//! ```
//!
//! Integers are little-endian. The decoder checks length, checksum, magic,
//! version and kind before reading the body, and every body read is bounds
//! checked, so malformed bytes give [`SketchError::Decode`], never a panic.

use crate::SketchError;

/// Magic bytes at the start of every snapshot.
pub const MAGIC: [u8; 4] = *b"NSKT";
/// Current format version.
pub const VERSION: u8 = 1;

/// Which sketch a snapshot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// [`crate::CountMin`].
    CountMin = 1,
    /// [`crate::HyperLogLog`].
    HyperLogLog = 2,
    /// [`crate::SpaceSaving`].
    SpaceSaving = 3,
}

pub(crate) struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    pub(crate) fn new(kind: Kind) -> Encoder {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&MAGIC);
        buf.push(VERSION);
        buf.push(kind as u8);
        Encoder { buf }
    }
    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }
    pub(crate) fn raw(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let crc = crc32fast::hash(&self.buf);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.buf
    }
}

pub(crate) struct Decoder<'a> {
    b: &'a [u8],
    pos: usize,
}

fn err(what: impl Into<String>) -> SketchError {
    SketchError::Decode(what.into())
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(bytes: &'a [u8], kind: Kind) -> Result<Decoder<'a>, SketchError> {
        if bytes.len() < 10 {
            return Err(err(format!(
                "{} bytes is too short for a sketch",
                bytes.len()
            )));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if bytes[..4] != MAGIC {
            return Err(err("not a netsketch sketch (bad magic)"));
        }
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err(err("checksum mismatch"));
        }
        if body[4] != VERSION {
            return Err(err(format!(
                "format version {} is not supported (expected {VERSION})",
                body[4]
            )));
        }
        if body[5] != kind as u8 {
            return Err(err(format!(
                "sketch kind {} where {kind:?} was expected",
                body[5]
            )));
        }
        Ok(Decoder { b: body, pos: 6 })
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], SketchError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| err("truncated body"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, SketchError> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32, SketchError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, SketchError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
    pub(crate) fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
    pub(crate) fn finish(self) -> Result<(), SketchError> {
        if self.pos != self.b.len() {
            return Err(err(format!("{} trailing bytes", self.b.len() - self.pos)));
        }
        Ok(())
    }
}
