//! A stream cut and hashed away from the writer: a full backup reads and hashes every file, and
//! most of what it reads the repository already has, so that work runs on several threads
//! (`hash_stream`, one file each) while the one `Writer` only looks up ids and stores what is
//! new (`Writer::put_hashed`). Only the bytes of chunks the lookup lacks are kept, so a file
//! hashed ahead costs its new chunks in memory, not its size.

use std::io::{self, Read};

use super::chunker::{Chunker, MAX_CHUNK};
use super::id::ChunkKey;
use super::lookup::ChunkLookup;

/// One chunk of a hashed stream: its id and length, and its bytes if the lookup did not know it
/// when it was hashed.
#[derive(Debug)]
pub struct HashedChunk {
    pub id: [u8; 32],
    pub len: u32,
    pub data: Option<Vec<u8>>,
}

/// A stream's chunks in order, its length and CRC32.
#[derive(Debug, Default)]
pub struct Hashed {
    pub chunks: Vec<HashedChunk>,
    pub size: u64,
    pub crc32: u32,
}

impl Hashed {
    /// Bytes held for chunks the lookup lacked.
    pub fn held(&self) -> u64 {
        self.chunks
            .iter()
            .filter_map(|c| c.data.as_ref())
            .map(|d| d.len() as u64)
            .sum()
    }
}

/// The chunks of a stream as the stream's previous backup cut them (id, length), given for a
/// stream of the same length: each range is hashed and compared instead of being cut again.
pub type Hint<'h> = &'h [([u8; 32], u32)];
/// A `Hint` owned: one per file to read.
pub type HintBuf = Vec<([u8; 32], u32)>;

/// Cuts `r` into chunks and hashes them with `key`, keeping the bytes of those `lookup` lacks;
/// `None` as soon as those would exceed `hold_max` (the stream is then better stored as it is
/// read). `buf` is the chunker's buffer, handed back for the next stream whatever the outcome.
///
/// With a `hint`, the stream is read range by range as the hint cuts it, and each range's id is
/// compared with the hint's: where all agree, the stream is those chunks, exactly what cutting
/// would have given (the same bytes from the same cut points, in a stream of the same length),
/// for the price of reading and hashing without cutting. From the first range that differs (or
/// past the hint's end) the rest is cut as usual, starting at that range's start, which is a cut
/// point of the same bytes. Every byte is read and hashed either way.
pub fn hash_stream(
    mut r: impl Read,
    key: &ChunkKey,
    lookup: &dyn ChunkLookup,
    hold_max: u64,
    mut buf: Vec<u8>,
    hint: Option<Hint>,
) -> (io::Result<Option<Hashed>>, Vec<u8>) {
    let mut acc = Acc {
        out: Hashed::default(),
        crc: crc32fast::Hasher::new(),
        held: 0,
        hold_max,
    };
    let mut filled = 0;
    if let Some(hint) = hint {
        buf.resize(2 * MAX_CHUNK as usize, 0);
        for &(id, len) in hint {
            let len = (len as usize).min(MAX_CHUNK as usize);
            let n = match read_up_to(&mut r, &mut buf[..len]) {
                Ok(n) => n,
                Err(e) => return (Err(e), buf),
            };
            if n == len && key.id(&buf[..n]) == id {
                if !acc.add(id, &buf[..n], lookup) {
                    return (Ok(None), buf);
                }
            } else {
                filled = n;
                break;
            }
        }
    }
    let mut chunks = Chunker::with_filled(r, buf, filled);
    let res = loop {
        match chunks.next_chunk() {
            Ok(Some(data)) => {
                if !acc.add(key.id(data), data, lookup) {
                    break Ok(false);
                }
            }
            Ok(None) => break Ok(true),
            Err(e) => break Err(e),
        }
    };
    let buf = chunks.into_buffer();
    let mut out = acc.out;
    out.crc32 = acc.crc.finalize();
    (res.map(|whole| whole.then_some(out)), buf)
}

/// A stream's chunks as they are hashed.
struct Acc {
    out: Hashed,
    crc: crc32fast::Hasher,
    held: u64,
    hold_max: u64,
}

impl Acc {
    /// Adds a chunk; false when the new bytes held would pass `hold_max`.
    fn add(&mut self, id: [u8; 32], data: &[u8], lookup: &dyn ChunkLookup) -> bool {
        self.crc.update(data);
        self.out.size += data.len() as u64;
        let new = lookup.locate(&id).is_none();
        if new {
            self.held += data.len() as u64;
            if self.held > self.hold_max {
                return false;
            }
        }
        self.out.chunks.push(HashedChunk {
            id,
            len: data.len() as u32,
            data: new.then(|| data.to_vec()),
        });
        true
    }
}

/// Reads until `buf` is full or the stream ends; the count read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
