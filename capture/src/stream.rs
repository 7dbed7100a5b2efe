//! A refillable byte buffer over any reader, so that file readers can hand
//! out packets as slices of one large buffer instead of allocating per
//! packet.

use std::io::{self, Read};

/// Initial buffer size: large enough that refills are rare and the cost of
/// `read` is amortised over thousands of packets.
const INITIAL_CAPACITY: usize = 1 << 20;

pub(crate) struct ByteStream {
    src: Box<dyn Read + Send>,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    /// Absolute offset (in the decompressed stream) of `buf[pos]`.
    offset: u64,
}

impl std::fmt::Debug for ByteStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteStream")
            .field("offset", &self.offset)
            .field("buffered", &(self.end - self.pos))
            .field("eof", &self.eof)
            .finish()
    }
}

impl ByteStream {
    pub(crate) fn new(src: Box<dyn Read + Send>) -> Self {
        ByteStream {
            src,
            buf: vec![0; INITIAL_CAPACITY],
            pos: 0,
            end: 0,
            eof: false,
            offset: 0,
        }
    }

    /// Makes at least `n` bytes available. Returns `Ok(false)` when the
    /// input ended first; what is there stays readable through
    /// [`Self::available`]. Callers bound `n` (record and block size limits),
    /// so the buffer cannot be grown without limit by a lying length field.
    #[inline]
    pub(crate) fn fill(&mut self, n: usize) -> io::Result<bool> {
        if self.end - self.pos >= n {
            return Ok(true);
        }
        self.refill(n)
    }

    /// [`Self::fill`] when the buffer runs short: once per buffer, not per
    /// record, so it stays out of the reader's loop.
    #[inline(never)]
    fn refill(&mut self, n: usize) -> io::Result<bool> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if n > self.buf.len() {
            self.buf.resize(n.next_power_of_two(), 0);
        }
        while self.end < n && !self.eof {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(r) => self.end += r,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end >= n)
    }

    /// The buffered, unread bytes.
    pub(crate) fn available(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    /// Consumes `n` buffered bytes and returns them.
    ///
    /// # Panics
    /// If fewer than `n` bytes are buffered; callers `fill` first.
    pub(crate) fn take(&mut self, n: usize) -> &[u8] {
        let start = self.pos;
        assert!(start + n <= self.end, "take beyond buffered bytes");
        self.pos += n;
        self.offset += n as u64;
        &self.buf[start..start + n]
    }

    /// Consumes `n` buffered bytes and returns where they start, for
    /// [`Self::consumed`]. Lets a reader decide what a block holds before
    /// borrowing its bytes.
    ///
    /// # Panics
    /// If fewer than `n` bytes are buffered; callers `fill` first.
    pub(crate) fn skip(&mut self, n: usize) -> usize {
        let start = self.pos;
        assert!(start + n <= self.end, "skip beyond buffered bytes");
        self.pos += n;
        self.offset += n as u64;
        start
    }

    /// Bytes consumed by [`Self::skip`] (`start` as it returned), valid
    /// until the next `fill`.
    pub(crate) fn consumed(&self, start: usize, len: usize) -> &[u8] {
        &self.buf[start..start + len]
    }

    /// Offset of the next unread byte from the start of the stream.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// True when the input is exhausted and nothing is buffered.
    pub(crate) fn at_end(&mut self) -> io::Result<bool> {
        Ok(!self.fill(1)?)
    }
}
