//! The reader: opens an archive from its trailer and index without touching the body, then
//! streams selected frames (decoded on worker threads) to entries, checking every checksum.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{mpsc, Mutex};

use super::codec::{decompress, Codec};
use super::error::ArchiveError;
use super::format::{
    decode_index, EntryKind, FrameHeader, FrameInfo, Header, Index, Location, Trailer,
    FRAME_HEADER_LEN, FRAME_RAW, HEADER_LEN, MAX_INDEX_RAW, TRAILER_LEN,
};

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
    pub fn open(mut r: R) -> Result<Self, ArchiveError> {
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
        let trailer_at = file_len - TRAILER_LEN as u64;
        let mut tb = [0u8; TRAILER_LEN];
        read_exact_at(&mut r, trailer_at, &mut tb, "trailer")?;
        let t = Trailer::decode(&tb, trailer_at)?;
        let index_end = t.index_offset.checked_add(t.index_stored_len);
        if t.index_offset < HEADER_LEN as u64 || index_end != Some(trailer_at) {
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
        if t.index_stored_len > t.index_raw_len {
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
        let raw = if t.index_stored_len == t.index_raw_len {
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
    let f = std::fs::File::open(path)
        .map_err(ArchiveError::io(format!("opening {}", path.display())))?;
    ArchiveReader::open(f)?.verify()
}

/// What `stream_entries` hands its sink for an entry.
pub(crate) enum Piece<'a> {
    /// The next bytes of the entry's content.
    Data(&'a [u8]),
    /// The entry's content is complete (its CRC is the sink's to check).
    End,
    /// A frame holding (part of) the entry is damaged: the entry is lost, nothing more of it
    /// comes. Only with `skip_damaged`.
    Lost(&'a ArchiveError),
}

/// Delivers the content of in-archive entries `ids` (ascending body offsets) to `sink` as
/// `Data` pieces followed by `End` at each entry's end. `wanted` must list every frame those
/// entries touch, ascending.
///
/// A frame that fails its CRC or does not decode stops the stream with its error, unless
/// `skip_damaged`: then every entry with bytes in that frame is `Lost` (an entry spanning it
/// included) and the stream goes on with the next entry in the frames after it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn stream_entries<R: Read + Seek>(
    r: &mut R,
    index: &Index,
    starts: &[u64],
    threads: usize,
    ids: &[usize],
    wanted: &[usize],
    skip_damaged: bool,
    mut sink: impl FnMut(usize, Piece<'_>) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    let mut at = Cursor {
        index,
        ids,
        cur: 0,
        got: 0,
    };
    for_each_frame(
        r,
        index.codec,
        &index.frames,
        threads,
        wanted,
        skip_damaged,
        |fi, data| match data {
            Ok(data) => at.place(Some((starts[fi], data)), &mut sink),
            Err(why) => {
                let end = starts[fi] + u64::from(index.frames[fi].raw_len);
                at.lose(end, &why, &mut sink)
            }
        },
    )?;
    at.place(None, &mut sink)
}

type Sink<'s> = dyn FnMut(usize, Piece<'_>) -> Result<(), ArchiveError> + 's;

/// Where `stream_entries` is: the entry being filled (`ids[cur]`) and how many of its bytes
/// were delivered.
struct Cursor<'a> {
    index: &'a Index,
    ids: &'a [usize],
    cur: usize,
    got: u64,
}

impl Cursor<'_> {
    fn offset(&self) -> Result<u64, ArchiveError> {
        match self.index.entries[self.ids[self.cur]].location {
            Location::Here { offset } => Ok(offset),
            _ => Err(ArchiveError::bad_index(
                "content requested for an entry not in this archive",
            )),
        }
    }

    /// Hands out the bytes of a decoded frame starting at body offset `fs` (`None`: no more
    /// frames, so every remaining entry must be complete).
    fn place(&mut self, frame: Option<(u64, &[u8])>, sink: &mut Sink) -> Result<(), ArchiveError> {
        while self.cur < self.ids.len() {
            let id = self.ids[self.cur];
            let e = &self.index.entries[id];
            let offset = self.offset()?;
            if self.got == e.size {
                sink(id, Piece::End)?;
                self.cur += 1;
                self.got = 0;
                continue;
            }
            let Some((fs, data)) = frame else {
                return Err(ArchiveError::bad_index(format!(
                    "entry {:?} runs past the frames read",
                    e.path
                )));
            };
            let fe = fs + data.len() as u64;
            let pos = offset + self.got;
            if pos >= fe {
                break;
            }
            if pos < fs {
                return Err(ArchiveError::bad_index(format!(
                    "entry {:?} starts in a frame not read",
                    e.path
                )));
            }
            let end = (offset + e.size).min(fe);
            sink(
                id,
                Piece::Data(&data[(pos - fs) as usize..(end - fs) as usize]),
            )?;
            self.got += end - pos;
        }
        Ok(())
    }

    /// A damaged frame ending at body offset `end`: entries complete before it end, every
    /// entry with bytes before `end` still to come is lost (its later bytes are passed over,
    /// since the next entry starts after them).
    fn lose(&mut self, end: u64, why: &ArchiveError, sink: &mut Sink) -> Result<(), ArchiveError> {
        while self.cur < self.ids.len() {
            let id = self.ids[self.cur];
            let size = self.index.entries[id].size;
            if self.got == size {
                sink(id, Piece::End)?;
            } else if self.offset()? + self.got < end {
                sink(id, Piece::Lost(why))?;
            } else {
                break;
            }
            self.cur += 1;
            self.got = 0;
        }
        Ok(())
    }
}

/// Reads a frame's header and stored bytes. The stored length comes from the index (already
/// checked to tile the file), so a damaged frame header cannot make us read or allocate more.
fn read_stored<R: Read + Seek>(
    r: &mut R,
    frames: &[FrameInfo],
    i: usize,
) -> Result<(FrameHeader, Vec<u8>), ArchiveError> {
    let f = frames[i];
    let mut hb = [0u8; FRAME_HEADER_LEN];
    read_exact_at(r, f.offset, &mut hb, &format!("frame {i} header"))?;
    let mut stored = vec![0u8; f.stored_len as usize];
    r.read_exact(&mut stored).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ArchiveError::Truncated {
                what: format!("frame {i}"),
                offset: f.offset,
            }
        } else {
            ArchiveError::Io {
                context: format!("reading frame {i} at offset {}", f.offset),
                source: e,
            }
        }
    })?;
    Ok((FrameHeader::decode(&hb), stored))
}

/// Checks a frame's CRC and agreement with the index, then decompresses it.
fn decode_frame(
    codec: Codec,
    i: usize,
    info: &FrameInfo,
    h: FrameHeader,
    stored: Vec<u8>,
) -> Result<Vec<u8>, ArchiveError> {
    if h.compute_crc(&stored) != h.crc32 {
        return Err(ArchiveError::FrameChecksum {
            frame: i as u64,
            offset: info.offset,
        });
    }
    if h.stored_len != info.stored_len || h.raw_len != info.raw_len {
        return Err(ArchiveError::bad_index(format!(
            "frame {i} header says {}/{} bytes, the index says {}/{}",
            h.stored_len, h.raw_len, info.stored_len, info.raw_len
        )));
    }
    let fail = |reason: String| ArchiveError::Decompress {
        frame: i as u64,
        reason,
    };
    if h.reserved != [0; 3] {
        return Err(fail(format!(
            "reserved frame header bytes are {:?}, not zero",
            h.reserved
        )));
    }
    match h.flags {
        FRAME_RAW if h.stored_len == h.raw_len => Ok(stored),
        FRAME_RAW => Err(fail("raw frame whose stored and raw lengths differ".into())),
        0 if codec == Codec::None => Err(fail(
            "compressed frame in an archive with codec none".into(),
        )),
        0 => decompress(codec, &stored, h.raw_len as usize).map_err(fail),
        f => Err(fail(format!("unknown frame flags {f:#04x}"))),
    }
}

type Decoded = (usize, Result<Vec<u8>, ArchiveError>);

/// Calls `consume(frame, raw_bytes)` for each frame in `wanted`, in order. Reading happens on
/// this thread (`R` need not be `Send`); checking and decompressing on `threads` workers, with
/// at most `2 * threads` frames in flight so memory stays bounded. A frame that fails its check
/// or decoding ends the walk with its error, or with `tolerate` is handed to `consume` as
/// `Err` and the walk goes on (a read error always ends it).
fn for_each_frame<R: Read + Seek>(
    r: &mut R,
    codec: Codec,
    frames: &[FrameInfo],
    threads: usize,
    wanted: &[usize],
    tolerate: bool,
    mut consume: impl FnMut(usize, Result<&[u8], ArchiveError>) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    let mut deliver = |i: usize, decoded: Result<Vec<u8>, ArchiveError>| match decoded {
        Ok(raw) => consume(i, Ok(&raw)),
        Err(e) if tolerate => consume(i, Err(e)),
        Err(e) => Err(e),
    };
    if let Some(&bad) = wanted.iter().find(|&&i| i >= frames.len()) {
        return Err(ArchiveError::bad_index(format!(
            "frame {bad} does not exist"
        )));
    }
    let threads = threads.min(wanted.len());
    if threads <= 1 {
        for &i in wanted {
            let (h, stored) = read_stored(r, frames, i)?;
            deliver(i, decode_frame(codec, i, &frames[i], h, stored))?;
        }
        return Ok(());
    }
    let (job_tx, job_rx) = mpsc::sync_channel::<(usize, usize, FrameHeader, Vec<u8>)>(threads);
    let job_rx = Mutex::new(job_rx);
    let (res_tx, res_rx) = mpsc::channel::<Decoded>();
    std::thread::scope(|s| {
        // Moved in so that returning from this closure closes the job channel before the
        // scope joins the workers (otherwise they would wait for jobs forever).
        let job_tx = job_tx;
        for _ in 0..threads {
            let res_tx = res_tx.clone();
            let job_rx = &job_rx;
            s.spawn(move || loop {
                let job = match job_rx.lock() {
                    Ok(g) => g.recv(),
                    Err(_) => return,
                };
                let Ok((seq, i, h, stored)) = job else { return };
                let out = decode_frame(codec, i, &frames[i], h, stored);
                if res_tx.send((seq, out)).is_err() {
                    return;
                }
            });
        }
        drop(res_tx);
        let max_in_flight = threads * 2;
        let (mut sent, mut done, mut in_flight) = (0usize, 0usize, 0usize);
        let mut pending: BTreeMap<usize, Result<Vec<u8>, ArchiveError>> = BTreeMap::new();
        // Returning drops job_tx, which lets the workers finish before the scope joins them.
        while done < wanted.len() {
            while sent < wanted.len() && in_flight < max_in_flight {
                let i = wanted[sent];
                let (h, stored) = read_stored(r, frames, i)?;
                if job_tx.send((sent, i, h, stored)).is_err() {
                    return Err(ArchiveError::invalid(
                        "decoding threads stopped unexpectedly",
                    ));
                }
                sent += 1;
                in_flight += 1;
            }
            while let Some(res) = pending.remove(&done) {
                deliver(wanted[done], res)?;
                done += 1;
            }
            if done == wanted.len() {
                break;
            }
            let Ok((seq, res)) = res_rx.recv() else {
                return Err(ArchiveError::invalid(
                    "decoding threads stopped unexpectedly",
                ));
            };
            in_flight -= 1;
            pending.insert(seq, res);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(stored: &[u8], raw_len: u32) -> FrameInfo {
        FrameInfo {
            offset: 24,
            stored_len: stored.len() as u32,
            raw_len,
        }
    }

    #[test]
    fn decode_frame_checks_crc_reserved_bytes_flags_and_lengths() {
        let raw = b"abcdef".to_vec();
        let ok = FrameHeader::seal(&raw, 6, FRAME_RAW);
        assert_eq!(
            decode_frame(Codec::Zstd, 0, &info(&raw, 6), ok, raw.clone()).unwrap(),
            raw
        );

        let mut bad_crc = ok;
        bad_crc.crc32 ^= 1;
        let e = decode_frame(Codec::Zstd, 3, &info(&raw, 6), bad_crc, raw.clone()).unwrap_err();
        assert!(
            matches!(
                e,
                ArchiveError::FrameChecksum {
                    frame: 3,
                    offset: 24
                }
            ),
            "{e}"
        );

        // Each of these is re-sealed, so only the semantic check can catch it.
        let reseal = |mut h: FrameHeader| {
            h.crc32 = h.compute_crc(&raw);
            h
        };
        let reserved = reseal(FrameHeader {
            reserved: [0, 1, 0],
            ..ok
        });
        let unknown_flag = reseal(FrameHeader { flags: 0x80, ..ok });
        let raw_mismatch = reseal(FrameHeader { raw_len: 7, ..ok });
        let none_compressed = reseal(FrameHeader { flags: 0, ..ok });
        for h in [reserved, unknown_flag, none_compressed] {
            let e = decode_frame(Codec::None, 0, &info(&raw, 6), h, raw.clone()).unwrap_err();
            assert!(matches!(e, ArchiveError::Decompress { .. }), "{e}");
        }
        // The frame header and the index disagree on the lengths.
        let e =
            decode_frame(Codec::None, 0, &info(&raw, 6), raw_mismatch, raw.clone()).unwrap_err();
        assert!(matches!(e, ArchiveError::BadIndex { .. }), "{e}");
        // Compressed flag with garbage bytes: a decompression error, not a panic.
        let garbage = reseal(FrameHeader { flags: 0, ..ok });
        for codec in [Codec::Zstd, Codec::Xz, Codec::Gzip] {
            let e = decode_frame(codec, 0, &info(&raw, 6), garbage, raw.clone()).unwrap_err();
            assert!(
                matches!(e, ArchiveError::Decompress { frame: 0, .. }),
                "{codec}: {e}"
            );
        }
    }
}
