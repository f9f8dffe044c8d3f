//! Content-defined chunking: FastCDC 2020 over a `Read`, streaming (at most one maximum-size
//! chunk is buffered), so an insertion shifts only the chunks around it and the rest of a file
//! keeps its ids. A file shorter than the minimum is one chunk.

use std::io::{self, Read};

use fastcdc::v2020::{Error, StreamCDC};

/// No chunk is shorter, except a file's (or dump's) last one.
pub const MIN_CHUNK: u32 = 256 << 10;
/// The average chunk size the cut-point mask aims at.
pub const AVG_CHUNK: u32 = 1 << 20;
/// No chunk is longer: a chunk is one frame of a pack, so this bounds a frame too.
pub const MAX_CHUNK: u32 = 4 << 20;

/// The chunks of one stream, in order, each as its bytes.
pub struct Chunker<R: Read> {
    inner: StreamCDC<R>,
}

impl<R: Read> Chunker<R> {
    pub fn new(source: R) -> Self {
        Chunker {
            inner: StreamCDC::new(source, MIN_CHUNK, AVG_CHUNK, MAX_CHUNK),
        }
    }
}

impl<R: Read> Iterator for Chunker<R> {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<io::Result<Vec<u8>>> {
        match self.inner.next()? {
            Ok(c) => Some(Ok(c.data)),
            // The source's own error comes back as it was (the caller tells a vanished or
            // changed file from a failed output by it).
            Err(Error::IoError(e)) => Some(Err(e)),
            Err(e) => Some(Err(io::Error::other(e.to_string()))),
        }
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
