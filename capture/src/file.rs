//! Opening a capture: format detection by magic number (never by file
//! name), transparent gzip, and one reader interface over both formats.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::bufread::MultiGzDecoder;

use crate::pcap_file::{is_pcap_magic, PcapReader};
use crate::pcapng::{PcapngReader, SHB_TYPE};
use crate::stream::ByteStream;
use crate::{Linktype, RawPacket, ReadError};

/// The container format of an open capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Classic libpcap format.
    Pcap,
    /// pcapng.
    Pcapng,
}

#[derive(Debug)]
enum Inner {
    Pcap(PcapReader),
    Pcapng(PcapngReader),
}

/// A capture file being read in one streaming pass; packets are borrowed
/// from an internal buffer, so reading allocates nothing per packet.
#[derive(Debug)]
pub struct CaptureFile {
    inner: Inner,
    gzip: bool,
    source_bytes: Arc<AtomicU64>,
}

/// Counts the bytes taken from the underlying file (compressed bytes for
/// gzip), for progress reporting. Updated once per `read` call, not per
/// packet.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl CaptureFile {
    /// Opens a capture file; `-` reads standard input.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ReadError> {
        let path = path.as_ref();
        if path.as_os_str() == "-" {
            return Self::from_reader(Box::new(io::stdin()));
        }
        Self::from_reader(Box::new(File::open(path)?))
    }

    /// Reads a capture from any byte source (pcap, pcapng, or either
    /// gzip-compressed).
    pub fn from_reader(src: Box<dyn Read + Send>) -> Result<Self, ReadError> {
        let count = Arc::new(AtomicU64::new(0));
        let mut buffered = BufReader::with_capacity(
            1 << 16,
            Counting {
                inner: src,
                count: Arc::clone(&count),
            },
        );
        let head = buffered.fill_buf()?;
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        let src: Box<dyn Read + Send> = if gzip {
            Box::new(MultiGzDecoder::new(buffered))
        } else {
            Box::new(buffered)
        };
        let mut stream = ByteStream::new(src);
        stream.fill(4)?;
        let head = stream.available();
        if head.len() < 4 {
            return Err(ReadError::NotACapture {
                magic: head.to_vec(),
            });
        }
        let magic = [head[0], head[1], head[2], head[3]];
        let inner = if is_pcap_magic(magic) {
            Inner::Pcap(PcapReader::new(stream)?)
        } else if u32::from_le_bytes(magic) == SHB_TYPE {
            Inner::Pcapng(PcapngReader::new(stream)?)
        } else {
            return Err(ReadError::NotACapture {
                magic: magic.to_vec(),
            });
        };
        Ok(CaptureFile {
            inner,
            gzip,
            source_bytes: count,
        })
    }

    /// Reads the next packet. `Ok(None)` at the end of the input. After an
    /// error for which [`ReadError::is_fatal`] is false, reading may go on.
    #[inline]
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, ReadError> {
        match &mut self.inner {
            Inner::Pcap(r) => r.next_packet(),
            Inner::Pcapng(r) => r.next_packet(),
        }
    }

    /// The container format.
    pub fn format(&self) -> FileFormat {
        match self.inner {
            Inner::Pcap(_) => FileFormat::Pcap,
            Inner::Pcapng(_) => FileFormat::Pcapng,
        }
    }

    /// Whether the input is gzip-compressed.
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// The file's link type (pcap) or that of its first interface (pcapng).
    pub fn linktype(&self) -> Option<Linktype> {
        match &self.inner {
            Inner::Pcap(r) => Some(r.linktype()),
            Inner::Pcapng(r) => r.linktype(),
        }
    }

    /// A shared counter of bytes read from the underlying source so far
    /// (compressed bytes for gzip), for progress bars in another thread.
    pub fn source_bytes(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.source_bytes)
    }
}
