use super::frames::*;
use super::*;
use crate::archive::format::{
    EntryMeta, FrameHeader, FrameInfo, Mtime, FRAME_HEADER_LEN, FRAME_RAW, MIN_FRAME_SIZE,
};
use crate::archive::{ArchiveWriter, WriterOptions};
use std::io::Cursor;

/// With `skip_damaged`, a damaged frame loses exactly the entries with bytes in it (one
/// spanning three frames, one ending or starting at its edges), empty entries anywhere are
/// never lost, and every other entry arrives whole; on one thread and on several.
#[test]
fn skip_damaged_loses_exactly_the_entries_in_the_damaged_frame() {
    const F: usize = MIN_FRAME_SIZE;
    let sizes = [10, 3 * F, 0, F - 10, 5, 0, 2 * F + 7, 1];
    let mut w = ArchiveWriter::new(
        Vec::new(),
        WriterOptions {
            codec: Codec::None,
            level: 0,
            frame_size: F,
            threads: 1,
        },
    )
    .unwrap();
    let meta = EntryMeta::new(0o644, Mtime::new(0, 0));
    for (i, &n) in sizes.iter().enumerate() {
        let bytes: Vec<u8> = (0..n).map(|b| (b * 7 + i) as u8).collect();
        w.add_file(&format!("e{i}"), &meta, &bytes[..]).unwrap();
    }
    let archive = w.finish().unwrap().0;
    let frames = ArchiveReader::open(Cursor::new(&archive))
        .unwrap()
        .index()
        .frames
        .clone();
    assert!(frames.len() >= 6, "{} frames", frames.len());
    for bad in 0..frames.len() {
        let mut damaged = archive.clone();
        let f = frames[bad];
        damaged[f.offset as usize + FRAME_HEADER_LEN] ^= 1;
        for threads in [1, 3] {
            let mut r = ArchiveReader::open(Cursor::new(&damaged)).unwrap();
            r.set_threads(threads);
            let start = r.frame_starts[bad];
            let end = start + u64::from(f.raw_len);
            let ids: Vec<usize> = (0..sizes.len()).collect();
            let wanted: Vec<usize> = (0..frames.len()).collect();
            let want_lost: Vec<usize> = ids
                .iter()
                .copied()
                .filter(|&i| {
                    let e = &r.index.entries[i];
                    let Location::Here { offset } = e.location else {
                        return false;
                    };
                    e.size > 0 && offset < end && offset + e.size > start
                })
                .collect();
            let (mut lost, mut whole) = (Vec::new(), Vec::new());
            let mut hasher = crc32fast::Hasher::new();
            let entries = r.index.entries.clone();
            stream_entries(
                &mut r.r,
                &r.index,
                r.sealing.as_ref(),
                &r.frame_starts,
                threads,
                &ids,
                &wanted,
                true,
                |id, piece| {
                    match piece {
                        Piece::Data(d) => hasher.update(d),
                        Piece::End => {
                            let crc = std::mem::take(&mut hasher).finalize();
                            assert_eq!(crc, entries[id].crc32, "e{id}");
                            whole.push(id);
                        }
                        Piece::Lost(e) => {
                            assert!(matches!(e, ArchiveError::FrameChecksum { .. }), "{e}");
                            hasher = crc32fast::Hasher::new();
                            lost.push(id);
                        }
                    }
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(lost, want_lost, "frame {bad}, {threads} threads");
            let rest: Vec<usize> = ids.iter().copied().filter(|i| !lost.contains(i)).collect();
            assert_eq!(whole, rest, "frame {bad}, {threads} threads");
            // Strict: the frame's error, nothing skipped.
            let mut r = ArchiveReader::open(Cursor::new(&damaged)).unwrap();
            let e = stream_entries(
                &mut r.r,
                &r.index,
                r.sealing.as_ref(),
                &r.frame_starts,
                threads,
                &ids,
                &wanted,
                false,
                |_, _| Ok(()),
            )
            .unwrap_err();
            assert!(
                matches!(e, ArchiveError::FrameChecksum { frame, .. } if frame == bad as u64),
                "{e}"
            );
        }
    }
}

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
        decode_frame(Codec::Zstd, 0, false, &info(&raw, 6), ok, raw.clone()).unwrap(),
        raw
    );

    let mut bad_crc = ok;
    bad_crc.crc32 ^= 1;
    let e = decode_frame(Codec::Zstd, 3, false, &info(&raw, 6), bad_crc, raw.clone()).unwrap_err();
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
        let e = decode_frame(Codec::None, 0, false, &info(&raw, 6), h, raw.clone()).unwrap_err();
        assert!(matches!(e, ArchiveError::Decompress { .. }), "{e}");
    }
    // The frame header and the index disagree on the lengths.
    let e = decode_frame(
        Codec::None,
        0,
        false,
        &info(&raw, 6),
        raw_mismatch,
        raw.clone(),
    )
    .unwrap_err();
    assert!(matches!(e, ArchiveError::BadIndex { .. }), "{e}");
    // Compressed flag with garbage bytes: a decompression error, not a panic.
    let garbage = reseal(FrameHeader { flags: 0, ..ok });
    for codec in [Codec::Zstd, Codec::Xz, Codec::Gzip] {
        let e = decode_frame(codec, 0, false, &info(&raw, 6), garbage, raw.clone()).unwrap_err();
        assert!(
            matches!(e, ArchiveError::Decompress { frame: 0, .. }),
            "{codec}: {e}"
        );
    }
}

/// Another copy of an archive or pack held in memory, counting the bytes read from it (the
/// repository's tests use it for packs too).
pub(crate) struct InMemory(
    pub(crate) Vec<u8>,
    pub(crate) std::sync::Arc<std::sync::atomic::AtomicU64>,
);

impl OtherCopy for InMemory {
    fn describe(&self) -> String {
        "memory".into()
    }
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.0.len() as u64)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let at = offset as usize;
        let src = self.0.get(at..at + buf.len()).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "past the end")
        })?;
        buf.copy_from_slice(src);
        self.1
            .fetch_add(buf.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// Sealed and not: an archive read as its own pack (`over_itself`) reads a frame damaged in
/// its local file from the other copy (and fails as before without one, or when both copies
/// are damaged); only the damaged frame is read there; and an archive opened over the other
/// copy alone reads only the frames an entry needs.
#[test]
fn an_archive_over_itself_reads_damaged_frames_from_its_other_copy() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    const F: usize = MIN_FRAME_SIZE;
    for key in [None, Some(MasterKey::from_bytes([5; 32]))] {
        let seal = key.clone().map(crate::archive::Seal::new);
        let mut w = ArchiveWriter::with_seal(
            Vec::new(),
            WriterOptions {
                codec: Codec::Zstd,
                level: 1,
                frame_size: F,
                threads: 1,
            },
            seal.as_ref(),
        )
        .unwrap();
        let meta = EntryMeta::new(0o644, Mtime::new(0, 0));
        let big: Vec<u8> = (0..4 * F).map(|b| (b * 31 % 251) as u8).collect();
        w.add_file("big", &meta, &big[..]).unwrap();
        w.add_file("small", &meta, &b"hello"[..]).unwrap();
        let archive = w.finish().unwrap().0;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.bka");
        let frames = ArchiveReader::open_with(Cursor::new(&archive), key.as_ref())
            .unwrap()
            .index()
            .frames
            .clone();
        let bad = frames[1];
        let mut damaged = archive.clone();
        damaged[bad.offset as usize + FRAME_HEADER_LEN + 3] ^= 1;
        std::fs::write(&path, &damaged).unwrap();
        let read = |other: Option<Vec<u8>>, name: &str| {
            let fetched = Arc::new(AtomicU64::new(0));
            let copy = other.map(|b| Box::new(InMemory(b, fetched.clone())) as Box<dyn OtherCopy>);
            let file = std::fs::File::open(&path).unwrap();
            let r = ArchiveReader::open_with(PackFile::local(file, &path, copy), key.as_ref());
            let mut r = r.unwrap().over_itself().unwrap();
            let mut out = Vec::new();
            let got = r.read_entry(name, &mut out).map(|_| out);
            (got, fetched.load(Ordering::Relaxed))
        };
        let (got, fetched) = read(Some(archive.clone()), "big");
        assert!(got.unwrap() == big, "sealed: {}", key.is_some());
        assert_eq!(fetched, FRAME_HEADER_LEN as u64 + u64::from(bad.stored_len));
        assert!(matches!(
            read(None, "big").0,
            Err(ArchiveError::FrameChecksum { frame: 1, .. } | ArchiveError::Unseal { .. })
        ));
        let (got, _) = read(Some(damaged.clone()), "big");
        assert!(got.is_err(), "both copies damaged");
        // The local copy intact where the entry is: the other copy is never read.
        let (got, fetched) = read(Some(archive.clone()), "small");
        assert_eq!(got.unwrap(), b"hello");
        assert_eq!(fetched, 0);
        // No local file: only the header, trailer, index and the entry's frame are read.
        let fetched = Arc::new(AtomicU64::new(0));
        let only = PackFile::other(Box::new(InMemory(archive.clone(), fetched.clone())));
        let mut r = ArchiveReader::open_with(only, key.as_ref()).unwrap();
        let mut out = Vec::new();
        r.read_entry("small", &mut out).unwrap();
        assert_eq!(out, b"hello");
        let fetched = fetched.load(Ordering::Relaxed);
        assert!(
            fetched < archive.len() as u64 / 2,
            "{fetched} of {}",
            archive.len()
        );
    }
}
