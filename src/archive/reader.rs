//! The reader: opens an archive from its trailer and index without touching the body, then
//! streams selected frames (decoded on worker threads) to entries, checking every checksum.

use std::fmt;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::codec::{decompress, Codec};
use super::error::ArchiveError;
use super::format::{
    decode_index, EntryKind, Header, Index, Location, Trailer, HEADER_LEN, MAX_INDEX_RAW,
    SEAL_BLOCK_LEN, TRAILER_LEN,
};
use super::seal::Sealing;
use crate::keys::MasterKey;

/// What `verify` found, printed by `backupd verify FILE` as one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifySummary {
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub streams: u64,
    pub deletions: u64,
    /// Files and streams whose bytes live in a parent backup (not checked here).
    pub parent_refs: u64,
    /// Content bytes stored in this archive, all checked.
    pub content_bytes: u64,
    pub frames: u64,
    pub archive_bytes: u64,
    pub codec: Codec,
}

impl fmt::Display for VerifySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ok: {} entries ({} files, {} dirs, {} symlinks, {} streams, {} deletions, {} in parent backups), \
             {} content bytes in {} frames, codec {}, archive {} bytes",
            self.entries,
            self.files,
            self.dirs,
            self.symlinks,
            self.streams,
            self.deletions,
            self.parent_refs,
            self.content_bytes,
            self.frames,
            self.codec,
            self.archive_bytes
        )
    }
}

/// Reads an archive from any `Read + Seek`.
pub struct ArchiveReader<R: Read + Seek> {
    /// The index's CRC32 from the trailer (checked against the index on open): what the
    /// catalog records as a backup's checksum.
    index_crc32: u32,
    pub(crate) r: R,
    pub(crate) index: Index,
    /// Body offset of each frame's first byte.
    pub(crate) frame_starts: Vec<u64>,
    file_len: u64,
    pub(crate) threads: usize,
    /// The archive's key when it is sealed.
    pub(crate) sealing: Option<Sealing>,
    /// A repository snapshot's reader: its frames are chunks in these packs (`over_packs`); or
    /// an archive read as its own one pack, to read its damaged frames elsewhere (`over_itself`).
    pub(crate) packs: Option<Box<PackFrames>>,
}

fn read_exact_at<R: Read + Seek>(
    r: &mut R,
    offset: u64,
    buf: &mut [u8],
    what: &str,
) -> Result<(), ArchiveError> {
    r.seek(SeekFrom::Start(offset))
        .map_err(ArchiveError::io(format!(
            "seeking to {what} at offset {offset}"
        )))?;
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ArchiveError::Truncated {
                what: what.to_string(),
                offset,
            }
        } else {
            ArchiveError::Io {
                context: format!("reading {what} at offset {offset}"),
                source: e,
            }
        }
    })
}

impl<R: Read + Seek> ArchiveReader<R> {
    /// Reads header, trailer and index (not the body) and checks the layout is consistent.
    /// A sealed archive gives `KeyRequired`: open it with `open_with`.
    pub fn open(r: R) -> Result<Self, ArchiveError> {
        Self::open_with(r, None)
    }

    /// `open` with the master key for sealed archives (an unsealed archive opens whatever the
    /// key: old data stays readable).
    pub fn open_with(mut r: R, key: Option<&MasterKey>) -> Result<Self, ArchiveError> {
        let file_len = r
            .seek(SeekFrom::End(0))
            .map_err(ArchiveError::io("finding the archive length"))?;
        let mut hb = [0u8; HEADER_LEN];
        if file_len < MAGIC_LEN {
            return Err(ArchiveError::Truncated {
                what: "header".into(),
                offset: 0,
            });
        }
        let head_len = file_len.min(HEADER_LEN as u64) as usize;
        read_exact_at(&mut r, 0, &mut hb[..head_len], "header")?;
        if hb[..8] != super::format::MAGIC {
            return Err(ArchiveError::BadMagic);
        }
        if head_len < HEADER_LEN || file_len < (HEADER_LEN + TRAILER_LEN) as u64 {
            return Err(ArchiveError::Truncated {
                what: "archive (shorter than header and trailer)".into(),
                offset: file_len,
            });
        }
        let header = Header::decode(&hb)?;
        let body_start = header.body_start();
        let overhead = u64::from(header.unit_overhead());
        let sealing = if header.sealed() {
            let key = key.ok_or(ArchiveError::KeyRequired)?;
            if file_len < body_start + TRAILER_LEN as u64 {
                return Err(ArchiveError::Truncated {
                    what: "seal block".into(),
                    offset: HEADER_LEN as u64,
                });
            }
            let mut block = [0u8; SEAL_BLOCK_LEN];
            read_exact_at(&mut r, HEADER_LEN as u64, &mut block, "seal block")?;
            Some(Sealing::open(key, &hb, &block)?)
        } else {
            None
        };
        let trailer_at = file_len - TRAILER_LEN as u64;
        let mut tb = [0u8; TRAILER_LEN];
        read_exact_at(&mut r, trailer_at, &mut tb, "trailer")?;
        let t = Trailer::decode(&tb, trailer_at)?;
        let index_end = t.index_offset.checked_add(t.index_stored_len);
        if t.index_offset < body_start || index_end != Some(trailer_at) {
            return Err(ArchiveError::BadTrailer {
                offset: trailer_at,
                reason: format!(
                    "index at {} with {} bytes does not end where the trailer starts",
                    t.index_offset, t.index_stored_len
                ),
            });
        }
        if t.index_raw_len > MAX_INDEX_RAW {
            return Err(ArchiveError::LimitExceeded {
                what: format!("index of {} bytes (limit {MAX_INDEX_RAW})", t.index_raw_len),
            });
        }
        if t.index_stored_len > t.index_raw_len + overhead || t.index_stored_len < overhead {
            return Err(ArchiveError::BadTrailer {
                offset: trailer_at,
                reason: "stored index longer than the raw index".into(),
            });
        }
        // Bounded by the file length (checked above), not by a field alone.
        let mut stored = vec![0u8; t.index_stored_len as usize];
        read_exact_at(&mut r, t.index_offset, &mut stored, "index")?;
        if crc32fast::hash(&stored) != t.index_crc32 {
            return Err(ArchiveError::IndexChecksum {
                offset: t.index_offset,
            });
        }
        if let Some(s) = &sealing {
            s.open_index(t.index_raw_len, t.index_offset, &mut stored)?;
        }
        let raw = if stored.len() as u64 == t.index_raw_len {
            stored
        } else {
            decompress(header.codec, &stored, t.index_raw_len as usize)
                .map_err(|e| ArchiveError::bad_index(format!("index does not decompress: {e}")))?
        };
        let index = decode_index(&raw, &header, t.index_offset)?;
        let mut frame_starts = Vec::with_capacity(index.frames.len());
        let mut pos = 0u64;
        for f in &index.frames {
            frame_starts.push(pos);
            pos += u64::from(f.raw_len);
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(ArchiveReader {
            index_crc32: t.index_crc32,
            r,
            index,
            frame_starts,
            file_len,
            threads,
            sealing,
            packs: None,
        })
    }

    /// The manifest: entries, frames, codec and flags.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The CRC32 of the stored index, as the trailer holds it and the catalog records it.
    pub fn index_crc32(&self) -> u32 {
        self.index_crc32
    }

    /// Decoding threads for verify, read_entry and extract (default: one per core).
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.clamp(1, 256);
    }

    /// Gives the underlying reader back.
    pub fn into_inner(self) -> R {
        self.r
    }

    /// The same reader over `f(reader)`, another handle on the same bytes (a snapshot's file
    /// as a `PackFile`, so that a caller holds snapshots and archives alike).
    pub fn map_inner<S: Read + Seek>(self, f: impl FnOnce(R) -> S) -> ArchiveReader<S> {
        ArchiveReader {
            index_crc32: self.index_crc32,
            r: f(self.r),
            index: self.index,
            frame_starts: self.frame_starts,
            file_len: self.file_len,
            threads: self.threads,
            sealing: self.sealing,
            packs: self.packs,
        }
    }

    /// Reads every frame and checks every frame and entry checksum; writes nothing.
    pub fn verify(&mut self) -> Result<VerifySummary, ArchiveError> {
        let mut s = VerifySummary {
            entries: self.index.entries.len() as u64,
            files: 0,
            dirs: 0,
            symlinks: 0,
            streams: 0,
            deletions: 0,
            parent_refs: 0,
            content_bytes: 0,
            frames: self.index.frames.len() as u64,
            archive_bytes: self.file_len,
            codec: self.index.codec,
        };
        let mut ids = Vec::new();
        for (i, e) in self.index.entries.iter().enumerate() {
            match e.kind {
                EntryKind::File => s.files += 1,
                EntryKind::Dir => s.dirs += 1,
                EntryKind::Symlink { .. } => s.symlinks += 1,
                EntryKind::Deletion => s.deletions += 1,
                EntryKind::Stream => s.streams += 1,
            }
            match e.location {
                Location::Here { .. } => {
                    s.content_bytes += e.size;
                    ids.push(i);
                }
                Location::Parent { .. } => s.parent_refs += 1,
                Location::None => {}
            }
        }
        // Every frame, not only those entries use: a damaged unreferenced frame still means
        // the file is not what was written.
        let all: Vec<usize> = (0..self.index.frames.len()).collect();
        let mut hasher = crc32fast::Hasher::new();
        let entries = &self.index.entries;
        stream_entries(
            &mut self.r,
            &self.index,
            Via::of(self.sealing.as_ref(), self.packs.as_deref()),
            &self.frame_starts,
            self.threads,
            &ids,
            &all,
            false,
            |id, piece| {
                match piece {
                    Piece::Data(d) => hasher.update(d),
                    Piece::End => {
                        let crc = std::mem::take(&mut hasher).finalize();
                        if crc != entries[id].crc32 {
                            return Err(ArchiveError::EntryChecksum {
                                path: entries[id].path.clone(),
                            });
                        }
                    }
                    // Never delivered without skip_damaged: a damaged frame is an error.
                    Piece::Lost(e) => return Err(ArchiveError::invalid(e.to_string())),
                }
                Ok(())
            },
        )?;
        Ok(s)
    }

    /// Streams one file or stream entry into `out`, checking its CRC at the end (on a mismatch
    /// `out` has received the bad bytes and the error says so).
    pub fn read_entry(&mut self, path: &str, out: &mut dyn Write) -> Result<u64, ArchiveError> {
        let id = self
            .index
            .entries
            .iter()
            .position(|e| e.path == path)
            .ok_or_else(|| ArchiveError::NotFound { path: path.into() })?;
        let e = &self.index.entries[id];
        match &e.location {
            Location::Here { .. } => {}
            Location::Parent { backup } => {
                return Err(ArchiveError::EntryInParent {
                    path: path.into(),
                    backup: backup.clone(),
                })
            }
            Location::None => {
                return Err(ArchiveError::invalid(format!(
                    "{path:?} is a {} and has no content",
                    e.kind.name()
                )))
            }
        }
        let wanted = self.frames_for(&[id]);
        let mut hasher = crc32fast::Hasher::new();
        let entries = &self.index.entries;
        stream_entries(
            &mut self.r,
            &self.index,
            Via::of(self.sealing.as_ref(), self.packs.as_deref()),
            &self.frame_starts,
            self.threads,
            &[id],
            &wanted,
            false,
            |id, piece| match piece {
                Piece::Data(d) => {
                    hasher.update(d);
                    out.write_all(d)
                        .map_err(ArchiveError::io(format!("writing out {path:?}")))
                }
                Piece::End => {
                    if std::mem::take(&mut hasher).finalize() != entries[id].crc32 {
                        return Err(ArchiveError::EntryChecksum { path: path.into() });
                    }
                    Ok(())
                }
                Piece::Lost(e) => Err(ArchiveError::invalid(e.to_string())),
            },
        )?;
        Ok(self.index.entries[id].size)
    }

    /// The frames holding the content of these in-archive entries, ascending, each once.
    pub(crate) fn frames_for(&self, ids: &[usize]) -> Vec<usize> {
        let mut wanted: Vec<usize> = Vec::new();
        for &id in ids {
            let e = &self.index.entries[id];
            let Location::Here { offset } = e.location else {
                continue;
            };
            if e.size == 0 {
                continue;
            }
            let first = self
                .frame_starts
                .partition_point(|&s| s <= offset)
                .saturating_sub(1);
            let last_byte = offset + e.size - 1;
            let last = self
                .frame_starts
                .partition_point(|&s| s <= last_byte)
                .saturating_sub(1);
            for f in first..=last {
                if wanted.last().is_none_or(|&w| w < f) {
                    wanted.push(f);
                }
            }
        }
        wanted
    }
}

const MAGIC_LEN: u64 = 8;

/// Opens and verifies an archive file (`backupd verify FILE`).
pub fn verify_file(path: &Path) -> Result<VerifySummary, ArchiveError> {
    verify_file_with(path, None)
}

/// `verify_file` with the master key for sealed archives.
pub fn verify_file_with(
    path: &Path,
    key: Option<&MasterKey>,
) -> Result<VerifySummary, ArchiveError> {
    let f = std::fs::File::open(path)
        .map_err(ArchiveError::io(format!("opening {}", path.display())))?;
    ArchiveReader::open_with(f, key)?.verify()
}

mod frames;
mod over_packs;
mod pack_file;
pub use frames::PackFrames;
pub(crate) use frames::{stream_entries, Piece, Via};
pub use pack_file::{OtherCopy, PackFile};

#[cfg(test)]
pub(crate) mod tests;
