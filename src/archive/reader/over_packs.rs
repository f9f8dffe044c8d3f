//! A reader whose frames live in other archives: a repository snapshot opened over its packs
//! (schema/repository.md). Its index is the snapshot's entries, `here` at offsets of a virtual
//! body that is the concatenation of their chunks; frame `i` of that body is one frame of a
//! pack. Everything that streams entries (verify, read_entry, extract) works unchanged.
//!
//! A `.bka` archive with another copy (a restore's, from a remote) is such a reader too, its
//! one pack being itself (`over_itself`): its frames are then read as a pack's are, so a local
//! frame that fails its checks is read from the other copy.

use std::fs::File;

use super::{ArchiveReader, PackFile, PackFrames};
use crate::archive::error::ArchiveError;
use crate::archive::format::{FrameInfo, Index, IndexEntry, Location, VERSION};
use crate::archive::Codec;

impl ArchiveReader<File> {
    /// A reader over `packs`: virtual frame `i` is frame `map[i].1` of `packs[map[i].0]` and
    /// must hold `raw_lens[i]` bytes. `file` (the snapshot's own file, `file_len` bytes) and
    /// `index_crc32` stand for the reader's file. Entries must be `here` in ascending order
    /// inside the virtual body (or have no content), as in any index. A frame mapped to
    /// `(PackFrames::MISSING, k)` is nowhere: reading it fails with `missing[k]` as its reason
    /// (a damaged frame: `skip_damaged` loses only the entries with bytes in it).
    #[allow(clippy::too_many_arguments)]
    pub fn over_packs(
        file: File,
        file_len: u64,
        index_crc32: u32,
        entries: Vec<IndexEntry>,
        packs: Vec<ArchiveReader<PackFile>>,
        map: Vec<(u32, u32)>,
        raw_lens: &[u32],
        missing: Vec<String>,
    ) -> Result<ArchiveReader<File>, ArchiveError> {
        if map.len() != raw_lens.len() {
            return Err(ArchiveError::invalid("one raw length per virtual frame"));
        }
        let mut frames = Vec::with_capacity(map.len());
        let mut frame_starts = Vec::with_capacity(map.len());
        let mut pos = 0u64;
        for (i, (&(p, f), &raw)) in map.iter().zip(raw_lens).enumerate() {
            if p == PackFrames::MISSING {
                if f as usize >= missing.len() || raw == 0 {
                    return Err(ArchiveError::invalid(format!("frame {i}: no reason {f}")));
                }
                frames.push(FrameInfo {
                    offset: 0,
                    stored_len: 0,
                    raw_len: raw,
                });
                frame_starts.push(pos);
                pos += u64::from(raw);
                continue;
            }
            let info = packs
                .get(p as usize)
                .and_then(|pk| pk.index.frames.get(f as usize))
                .ok_or_else(|| {
                    ArchiveError::bad_index(format!("frame {i}: pack {p} has no frame {f}"))
                })?;
            if info.raw_len != raw {
                return Err(ArchiveError::bad_index(format!(
                    "frame {i}: frame {f} of pack {p} holds {} bytes, the snapshot says {raw}",
                    info.raw_len
                )));
            }
            frames.push(*info);
            frame_starts.push(pos);
            pos += u64::from(raw);
        }
        let mut at = 0u64;
        for e in &entries {
            if let Location::Here { offset } = e.location {
                match offset.checked_add(e.size) {
                    Some(end) if offset >= at && end <= pos => at = end,
                    _ => {
                        return Err(ArchiveError::bad_index(format!(
                            "entry {:?}: bytes {offset}+{} out of order or outside the body",
                            e.path, e.size
                        )))
                    }
                }
            }
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(ArchiveReader {
            index_crc32,
            r: file,
            index: Index {
                // Each frame decodes with its own pack's codec; this one is only shown.
                codec: packs.first().map_or(Codec::None, |p| p.index.codec),
                level: 0,
                flags: 0,
                version: VERSION,
                entries,
                frames,
            },
            frame_starts,
            file_len,
            threads,
            sealing: None,
            packs: Some(Box::new(PackFrames {
                packs,
                map,
                missing,
            })),
        })
    }
}

impl ArchiveReader<PackFile> {
    /// This archive as a reader whose one pack is itself: frame `i` is its own frame `i`, read
    /// through the pack's path (a local frame failing its CRC or seal, or a local file cut
    /// short, is read from the pack file's other copy and checked the same way; the log names
    /// both). Each frame is opened with this archive's own codec and seal, as any pack's is.
    /// The entries move to the new reader; its own handle is another handle on the same copies
    /// (only `into_inner` gives it back: reads go through the pack).
    pub fn over_itself(mut self) -> Result<ArchiveReader<PackFile>, ArchiveError> {
        let r = self.r.try_clone().map_err(ArchiveError::io(
            "opening another handle on the archive to read it as its own pack",
        ))?;
        let frames = self.index.frames.clone();
        let count = u32::try_from(frames.len()).map_err(|_| ArchiveError::LimitExceeded {
            what: format!("{} frames in one archive", frames.len()),
        })?;
        let index = Index {
            codec: self.index.codec,
            level: self.index.level,
            flags: self.index.flags,
            version: self.index.version,
            entries: std::mem::take(&mut self.index.entries),
            frames,
        };
        Ok(ArchiveReader {
            index_crc32: self.index_crc32,
            r,
            index,
            frame_starts: self.frame_starts.clone(),
            file_len: self.file_len,
            threads: self.threads,
            // Each frame is opened by its pack's seal, which is this archive's.
            sealing: None,
            packs: Some(Box::new(PackFrames {
                map: (0..count).map(|f| (0, f)).collect(),
                packs: vec![self],
                missing: Vec::new(),
            })),
        })
    }
}
