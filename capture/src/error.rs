//! Errors of the capture file readers, and whether reading can go on.

use std::io;

use crate::Reason;

/// What went wrong while reading a capture file.
///
/// [`ReadError::is_fatal`] says whether reading can go on: a record-level
/// problem inside intact framing (a packet for an unknown interface) skips
/// that record, anything that breaks the framing ends the file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The underlying reader failed.
    #[error("read error: {0}")]
    Io(#[from] io::Error),
    /// The first bytes are not a pcap, pcapng or gzip magic number.
    #[error(
        "not a pcap or pcapng file (starts with {magic:02x?}); netsketch reads pcap, pcapng and their .gz forms"
    )]
    NotACapture {
        /// The first bytes of the file.
        magic: Vec<u8>,
    },
    /// The file ends inside its file header.
    #[error("file too short for a {format} header ({len} bytes)")]
    TruncatedHeader {
        /// Format whose header was expected.
        format: &'static str,
        /// Bytes present.
        len: usize,
    },
    /// A header field the format does not allow.
    #[error("bad {format} header at offset {offset}: {what}")]
    BadHeader {
        /// Format whose header is bad.
        format: &'static str,
        /// Byte offset of the header.
        offset: u64,
        /// What is wrong with it.
        what: String,
    },
    /// The input ends in the middle of a record or block.
    #[error("capture cut short at offset {offset}: record needs {needed} bytes, {available} left")]
    Truncated {
        /// Byte offset where the record starts.
        offset: u64,
        /// Bytes the record claims.
        needed: usize,
        /// Bytes left in the input.
        available: usize,
    },
    /// A pcap record header with an impossible captured length.
    #[error("corrupt pcap record at offset {offset}: captured length {caplen} exceeds {limit}")]
    CorruptRecord {
        /// Byte offset of the record header.
        offset: u64,
        /// Claimed captured length.
        caplen: u32,
        /// Largest length accepted.
        limit: u32,
    },
    /// A pcapng block whose length fields are impossible or disagree.
    #[error("corrupt pcapng block at offset {offset}: {what}")]
    CorruptBlock {
        /// Byte offset of the block.
        offset: u64,
        /// What is wrong with it.
        what: String,
    },
    /// A packet block names an interface no description block declared.
    /// Not fatal: the block is skipped.
    #[error("pcapng packet at offset {offset} refers to undeclared interface {interface}")]
    UnknownInterface {
        /// Byte offset of the block.
        offset: u64,
        /// Interface id in the block.
        interface: u32,
    },
    /// A packet block whose inner lengths exceed the block. Not fatal: the
    /// block's own framing is intact, so it is skipped.
    #[error("pcapng packet block at offset {offset} is inconsistent: {what}")]
    BadPacketBlock {
        /// Byte offset of the block.
        offset: u64,
        /// What is wrong with it.
        what: &'static str,
    },
}

impl ReadError {
    /// Whether reading this file must stop.
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            ReadError::UnknownInterface { .. } | ReadError::BadPacketBlock { .. }
        )
    }

    /// The drop reason this error is counted under when it happens after the
    /// file header (mid-file), `None` for errors that reject the file outright.
    pub fn reason(&self) -> Option<Reason> {
        Some(match self {
            ReadError::Truncated { .. } => Reason::TruncatedFile,
            ReadError::CorruptRecord { .. } => Reason::CorruptRecord,
            ReadError::CorruptBlock { .. } => Reason::CorruptBlock,
            ReadError::UnknownInterface { .. } => Reason::UnknownInterface,
            ReadError::BadPacketBlock { .. } => Reason::CorruptBlock,
            // A compressed capture cut short ends its stream early: the
            // same truncation as the uncompressed file cut at that point.
            ReadError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Reason::TruncatedFile
            }
            ReadError::Io(_) => Reason::ReadError,
            ReadError::NotACapture { .. }
            | ReadError::TruncatedHeader { .. }
            | ReadError::BadHeader { .. } => return None,
        })
    }
}
