//! A stream cut and hashed away from the writer: a full backup reads and hashes every file, and
//! most of what it reads the repository already has, so that work runs on several threads
//! (`hash_stream`, one file each) while the one `Writer` only looks up ids and stores what is
//! new (`Writer::put_hashed`). Only the bytes of chunks the lookup lacks are kept, so a file
//! hashed ahead costs its new chunks in memory, not its size.

use std::io::{self, Read};

use super::chunker::Chunker;
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

/// Cuts `r` into chunks and hashes them with `key`, keeping the bytes of those `lookup` lacks;
/// `None` as soon as those would exceed `hold_max` (the stream is then better stored as it is
/// read). `buf` is the chunker's buffer, handed back for the next stream whatever the outcome.
pub fn hash_stream(
    r: impl Read,
    key: &ChunkKey,
    lookup: &dyn ChunkLookup,
    hold_max: u64,
    buf: Vec<u8>,
) -> (io::Result<Option<Hashed>>, Vec<u8>) {
    let mut out = Hashed::default();
    let mut crc = crc32fast::Hasher::new();
    let mut chunks = Chunker::with_buffer(r, buf);
    let mut held = 0u64;
    let res = loop {
        match chunks.next_chunk() {
            Ok(Some(data)) => {
                crc.update(data);
                out.size += data.len() as u64;
                let id = key.id(data);
                let new = lookup.locate(&id).is_none();
                if new {
                    held += data.len() as u64;
                    if held > hold_max {
                        break Ok(false);
                    }
                }
                out.chunks.push(HashedChunk {
                    id,
                    len: data.len() as u32,
                    data: new.then(|| data.to_vec()),
                });
            }
            Ok(None) => break Ok(true),
            Err(e) => break Err(e),
        }
    };
    let buf = chunks.into_buffer();
    out.crc32 = crc.finalize();
    (res.map(|whole| whole.then_some(out)), buf)
}
