//! [`ReadBuffer`]: received bytes waiting to be decoded.

/// A growable byte buffer with a read offset: bytes are appended at the
/// back (by socket reads) and frames are taken off the front.
///
/// Consumed bytes are not moved on every frame; the live bytes are shifted
/// to the front only when the free space at the back runs out, so decoding
/// a batch of frames costs one copy per frame (into its payload), not one
/// per frame per frame.
#[derive(Debug, Default)]
pub struct ReadBuffer {
    /// Storage; `data[start..end]` holds the unconsumed bytes, the rest is
    /// scratch space for the next read (kept initialised, so no `unsafe`).
    data: Vec<u8>,
    start: usize,
    end: usize,
}

/// Least free space [`ReadBuffer::unfilled`] offers a read.
const MIN_FREE: usize = 4 * 1024;

impl ReadBuffer {
    /// An empty buffer (allocates on first use).
    pub fn new() -> ReadBuffer {
        ReadBuffer::default()
    }

    /// An empty buffer with room for `capacity` bytes: the size of the
    /// largest single read (the RPC layer uses 64 KiB).
    pub fn with_capacity(capacity: usize) -> ReadBuffer {
        ReadBuffer { data: vec![0; capacity], start: 0, end: 0 }
    }

    /// The unconsumed bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Number of unconsumed bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Drops `n` bytes from the front (at most all of them).
    pub fn consume(&mut self, n: usize) {
        self.start += n.min(self.len());
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free space to read into (at least 4 KiB). After reading `n` bytes
    /// into it, call [`advance`](ReadBuffer::advance).
    pub fn unfilled(&mut self) -> &mut [u8] {
        if self.data.len() - self.end < MIN_FREE {
            self.compact();
            if self.data.len() - self.end < MIN_FREE {
                // Still short: grow, doubling.
                let grown = (self.data.len() * 2).max(self.end + MIN_FREE);
                self.data.resize(grown, 0);
            }
        }
        &mut self.data[self.end..]
    }

    /// Shifts the live bytes to the front of the storage.
    fn compact(&mut self) {
        self.data.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
    }

    /// Marks `n` bytes of [`unfilled`](ReadBuffer::unfilled) as received
    /// (as tokio's `ReadBuf::advance`: the filled part grows by `n`).
    pub fn advance(&mut self, n: usize) {
        self.end = (self.end + n).min(self.data.len());
    }

    /// Appends bytes (for tests and for sources that are not sockets).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        if self.data.len() - self.end < bytes.len() {
            self.compact();
        }
        // Drop the scratch tail and append: no zero-filling of spare room.
        self.data.truncate(self.end);
        self.data.extend_from_slice(bytes);
        self.end = self.data.len();
    }

    /// Releases memory beyond `keep` bytes of capacity when the buffer is
    /// empty (after a burst of large frames).
    pub fn shrink_if_empty(&mut self, keep: usize) {
        if self.is_empty() && self.data.len() > keep {
            self.data.truncate(keep);
            self.data.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_buffer_compacts_and_grows() {
        let mut buf = ReadBuffer::new();
        buf.extend_from_slice(&[7; 100_000]);
        buf.consume(99_990);
        assert_eq!(buf.as_slice(), &[7; 10]);
        let space = buf.unfilled().len();
        assert!((MIN_FREE..=200_000).contains(&space), "{space}");
        buf.consume(10);
        buf.shrink_if_empty(0);
        assert!(buf.is_empty());
    }
}
