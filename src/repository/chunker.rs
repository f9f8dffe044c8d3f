//! Content-defined chunking: FastCDC 2020 over a `Read`, streaming (at most one maximum-size
//! chunk is buffered), so an insertion shifts only the chunks around it and the rest of a file
//! keeps its ids. A file shorter than the minimum is one chunk.

use std::io::{self, Read};

use fastcdc::v2020::{cut, logarithm2, MASKS};

/// No chunk is shorter, except a file's (or dump's) last one.
pub const MIN_CHUNK: u32 = 256 << 10;
/// The average chunk size the cut-point mask aims at.
pub const AVG_CHUNK: u32 = 1 << 20;
/// No chunk is longer: a chunk is one frame of a pack, so this bounds a frame too.
pub const MAX_CHUNK: u32 = 4 << 20;

/// The chunks of one stream, in order: the cut points of the `fastcdc` crate's
/// `v2020::StreamCDC` (normalization level 1, the original gear table), found in a buffer of
/// twice the largest chunk that is refilled in place, so each byte is copied at most once
/// (`StreamCDC` moves its whole buffer and allocates for every chunk).
pub struct Chunker<R: Read> {
    source: R,
    buf: Vec<u8>,
    /// Bytes of `buf` holding data; `pos..len` is not chunked yet.
    len: usize,
    pos: usize,
    eof: bool,
    masks: (u64, u64),
}

impl<R: Read> Chunker<R> {
    pub fn new(source: R) -> Self {
        Self::with_buffer(source, Vec::new())
    }

    /// Reuses `buf` (from `into_buffer`): zeroing a fresh 8 MiB buffer for every small file
    /// was half of a backup's time.
    pub fn with_buffer(source: R, mut buf: Vec<u8>) -> Self {
        buf.resize(2 * MAX_CHUNK as usize, 0);
        let bits = logarithm2(AVG_CHUNK) as usize;
        Chunker {
            source,
            buf,
            len: 0,
            pos: 0,
            eof: false,
            // Level 1: a harder mask before the average size, an easier one after it.
            masks: (MASKS[bits + 1], MASKS[bits - 1]),
        }
    }

    /// `with_buffer` whose buffer already holds the stream's first `filled` bytes (at most twice
    /// the largest chunk), read by the caller before it chose to cut: they are cut first.
    pub fn with_filled(source: R, buf: Vec<u8>, filled: usize) -> Self {
        let mut c = Self::with_buffer(source, buf);
        c.len = filled.min(c.buf.len());
        c
    }

    /// The buffer, for the next stream's `with_buffer`.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// The next chunk's bytes (valid until the next call), `None` at the end of the source.
    pub fn next_chunk(&mut self) -> io::Result<Option<&[u8]>> {
        let max = MAX_CHUNK as usize;
        if self.len - self.pos < max && !self.eof {
            // Keep what is left at the front, then fill up to a whole maximum chunk or more.
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
            while self.len < self.buf.len() {
                match self.source.read(&mut self.buf[self.len..]) {
                    Ok(0) => {
                        self.eof = true;
                        break;
                    }
                    Ok(n) => self.len += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if self.pos == self.len {
            return Ok(None);
        }
        let (s, l) = self.masks;
        let (_, n) = cut(
            &self.buf[self.pos..self.len],
            MIN_CHUNK as usize,
            AVG_CHUNK as usize,
            max,
            s,
            l,
            s << 1,
            l << 1,
        );
        let start = self.pos;
        self.pos += n;
        Ok(Some(&self.buf[start..start + n]))
    }
}

impl<R: Read> Iterator for Chunker<R> {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<io::Result<Vec<u8>>> {
        self.next_chunk().map(|c| c.map(<[u8]>::to_vec)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic incompressible bytes (xorshift), so cut points are content-defined.
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn lens(data: &[u8]) -> Vec<Vec<u8>> {
        Chunker::new(data).map(|c| c.unwrap()).collect()
    }

    #[test]
    fn chunks_respect_the_bounds_and_concatenate_to_the_input() {
        let data = noise(24 << 20, 7);
        let chunks = lens(&data);
        assert!(chunks.len() > 8, "{} chunks", chunks.len());
        for c in &chunks[..chunks.len() - 1] {
            assert!((MIN_CHUNK as usize..=MAX_CHUNK as usize).contains(&c.len()));
        }
        assert_eq!(chunks.concat(), data);
        let avg = data.len() / chunks.len();
        assert!((512 << 10..=2 << 20).contains(&avg), "average {avg}");
    }

    #[test]
    fn a_small_file_is_one_chunk_and_an_empty_one_none() {
        assert_eq!(lens(&noise(1000, 3)).len(), 1);
        assert_eq!(lens(&noise(MIN_CHUNK as usize - 1, 3)).len(), 1);
        assert!(lens(&[]).is_empty());
    }

    #[test]
    fn inserting_a_byte_at_the_start_changes_only_the_first_chunks() {
        let data = noise(16 << 20, 11);
        let before = lens(&data);
        let mut shifted = vec![0x42];
        shifted.extend_from_slice(&data);
        let after = lens(&shifted);
        let old: std::collections::HashSet<&Vec<u8>> = before.iter().collect();
        let changed = after.iter().filter(|c| !old.contains(c)).count();
        assert!(changed <= 2, "{changed} of {} chunks changed", after.len());
        assert!(after.len() > 6);
        // The unchanged tail is the same chunks in the same order.
        assert_eq!(before[before.len() - 3..], after[after.len() - 3..]);
    }

    #[test]
    fn cut_points_are_those_of_the_crates_stream_chunker() {
        let data = noise(20 << 20, 5);
        let ours = lens(&data);
        let theirs: Vec<Vec<u8>> =
            fastcdc::v2020::StreamCDC::new(data.as_slice(), MIN_CHUNK, AVG_CHUNK, MAX_CHUNK)
                .map(|c| c.unwrap().data)
                .collect();
        assert!(ours == theirs);
        // Zeros cut at the maximum.
        let zeros = lens(&vec![0u8; 9 << 20]);
        assert_eq!(zeros.len(), 3);
        assert_eq!(zeros[0].len(), MAX_CHUNK as usize);
    }

    #[test]
    fn a_read_error_is_handed_back() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let e = Chunker::new(Broken).next().unwrap().unwrap_err();
        assert_eq!(e.to_string(), "disk on fire");
    }
}
