//! The snapshot index of one backup: every path with its metadata and its chunks, so it
//! restores alone. Encoded byte by byte as schema/repository.md says, and kept as
//! `repository/snapshots/<backup id>.snap`: a container archive with one stream, `snapshot`,
//! whose content is the encoding (CRC, compression and sealing come from the container).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::chunker::MAX_CHUNK;
use super::tree::{SnapFile, VERSION_2};
use super::RepoError;
use crate::archive::{
    check_entry_shape, ArchiveReader, ArchiveWriter, Codec, EntryKind, EntryMeta, IndexEntry,
    Location, Mtime, Seal, WriterOptions,
};
use crate::keys::MasterKey;

pub const MAGIC: [u8; 8] = *b"BKPDSNAP";
pub const VERSION: u16 = 1;
/// The stream inside a `.snap` container.
pub const STREAM: &str = "snapshot";
/// A snapshot's encoding is read whole: no larger than this.
pub const MAX_ENCODED: u64 = 1 << 30;
/// Longest path or symlink target.
const MAX_NAME: usize = 16 << 10;

/// One distinct chunk a snapshot references, with where it was when the backup wrote it
/// (a hint: a repack moves chunks, and then the reader asks the chunk lookup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapChunk {
    pub id: [u8; 32],
    pub raw_len: u32,
    /// Index into `Snapshot::packs`.
    pub pack: u32,
    pub frame: u32,
}

/// One path of the backup. Files and streams list their chunks (indexes into
/// `Snapshot::chunks`) whose lengths add up to `size`; other kinds have none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapEntry {
    pub path: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub mtime: Mtime,
    pub size: u64,
    pub crc32: u32,
    pub chunks: Vec<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub chunks: Vec<SnapChunk>,
    /// Pack ids (BLAKE3 of the pack file) the hints name.
    pub packs: Vec<[u8; 32]>,
    pub entries: Vec<SnapEntry>,
    /// Version 2: the numbers (in `chunks`) of the tree chunks the entries were read from, which
    /// the snapshot references as it does its data (schema/repository.md); none in version 1.
    pub trees: Vec<u32>,
}

impl SnapEntry {
    /// The archive index entry of this path (content `here` at `offset` of the virtual body).
    pub fn index_entry(&self, offset: u64) -> IndexEntry {
        IndexEntry {
            path: self.path.clone(),
            kind: self.kind.clone(),
            mode: self.mode,
            mtime: self.mtime,
            size: self.size,
            crc32: self.crc32,
            location: if self.kind.has_content() {
                Location::Here { offset }
            } else {
                Location::None
            },
        }
    }

    pub fn meta(&self) -> EntryMeta {
        EntryMeta::new(self.mode, self.mtime)
    }
}

pub(super) fn put_str(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl Snapshot {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.chunks.len() * 44 + self.entries.len() * 64);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(self.packs.len() as u32).to_le_bytes());
        for p in &self.packs {
            out.extend_from_slice(p);
        }
        out.extend_from_slice(&(self.chunks.len() as u32).to_le_bytes());
        for c in &self.chunks {
            put_chunk(c, &mut out);
        }
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for e in &self.entries {
            put_entry(e, &mut out, |k, out| {
                out.extend_from_slice(&k.to_le_bytes())
            });
        }
        out
    }

    /// Decodes and checks a snapshot: any byte string gives a snapshot or `BadSnapshot` naming
    /// what is wrong and where; allocation is bounded by the input's length.
    pub fn decode(buf: &[u8]) -> Result<Snapshot, RepoError> {
        let mut c = Cur { buf, pos: 0 };
        header(&mut c, VERSION)?;
        let pack_count = c.count(32, "pack count")?;
        let mut packs = Vec::with_capacity(pack_count);
        for _ in 0..pack_count {
            packs.push(c.arr::<32>("pack id")?);
        }
        let chunk_count = c.count(44, "chunk count")?;
        let mut chunks = Vec::with_capacity(chunk_count);
        for i in 0..chunk_count {
            chunks.push(take_chunk(&mut c, i, packs.len())?);
        }
        let entry_count = c.u64("entry count")?;
        if entry_count > (c.remaining() / MIN_ENTRY) as u64 {
            return Err(bad(
                c.pos,
                format!("entry count {entry_count} does not fit"),
            ));
        }
        let mut entries = Vec::with_capacity(entry_count.min(1 << 16) as usize);
        let mut seen = rustc_hash::FxHashSet::default();
        for i in 0..entry_count {
            let e = take_entry(&mut c, i, &mut |c, at| {
                let k = c.u32("chunk number")?;
                let ch = chunks
                    .get(k as usize)
                    .ok_or_else(|| bad(at, format!("entry {i}: chunk {k} of {}", chunks.len())))?;
                Ok((k, ch.raw_len))
            })?;
            entries.push(e);
        }
        for (i, e) in entries.iter().enumerate() {
            if !seen.insert(e.path.as_str()) {
                return Err(bad(0, format!("entry {i}: duplicate path {:?}", e.path)));
            }
        }
        if c.remaining() != 0 {
            return Err(bad(
                c.pos,
                format!("{} bytes after the last entry", c.remaining()),
            ));
        }
        Ok(Snapshot {
            chunks,
            packs,
            entries,
            trees: Vec::new(),
        })
    }

    /// Content bytes of every file and stream.
    pub fn logical_bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }
}

/// Appends one entry's encoding; `chunk` writes one reference of its chunk list (a number in
/// version 1, an id and length in a tree: schema/repository.md).
pub(super) fn put_entry(e: &SnapEntry, out: &mut Vec<u8>, chunk: impl Fn(u32, &mut Vec<u8>)) {
    out.push(e.kind.id());
    put_str(&e.path, out);
    out.extend_from_slice(&e.mode.to_le_bytes());
    out.extend_from_slice(&e.mtime.secs.to_le_bytes());
    out.extend_from_slice(&e.mtime.nanos.to_le_bytes());
    out.extend_from_slice(&e.size.to_le_bytes());
    out.extend_from_slice(&e.crc32.to_le_bytes());
    match &e.kind {
        EntryKind::Symlink { target } => put_str(target, out),
        k if k.has_content() => {
            out.extend_from_slice(&(e.chunks.len() as u32).to_le_bytes());
            for &c in &e.chunks {
                chunk(c, out);
            }
        }
        _ => {}
    }
}

/// The 12-byte header of a snapshot of `version`: magic, version, zero reserved bytes.
pub(super) fn header(c: &mut Cur, version: u16) -> Result<(), RepoError> {
    if c.take(8, "magic")? != MAGIC {
        return Err(bad(0, "not a snapshot (bad magic)"));
    }
    let v = c.u16("version")?;
    if v != version {
        return Err(bad(8, format!("version {v}, expected {version}")));
    }
    if c.u16("reserved")? != 0 {
        return Err(bad(10, "reserved bytes are not zero"));
    }
    Ok(())
}

/// The version of a snapshot encoding (bytes 8..10 after the magic), `None` if it has none.
pub fn version_of(buf: &[u8]) -> Option<u16> {
    (buf.len() >= 10 && buf[..8] == MAGIC).then(|| u16::from_le_bytes([buf[8], buf[9]]))
}

/// One 44-byte chunk record (id, length, pack, frame), checked against `pack_count`.
pub(super) fn take_chunk(c: &mut Cur, i: usize, pack_count: usize) -> Result<SnapChunk, RepoError> {
    let at = c.pos;
    let ch = SnapChunk {
        id: c.arr("chunk id")?,
        raw_len: c.u32("chunk length")?,
        pack: c.u32("chunk pack")?,
        frame: c.u32("chunk frame")?,
    };
    if ch.raw_len == 0 || ch.raw_len > MAX_CHUNK {
        return Err(bad(
            at,
            format!("chunk {i}: length {} not in 1..={MAX_CHUNK}", ch.raw_len),
        ));
    }
    if ch.pack as usize >= pack_count {
        return Err(bad(
            at,
            format!("chunk {i}: pack {} of {pack_count}", ch.pack),
        ));
    }
    Ok(ch)
}

pub(super) fn put_chunk(c: &SnapChunk, out: &mut Vec<u8>) {
    out.extend_from_slice(&c.id);
    out.extend_from_slice(&c.raw_len.to_le_bytes());
    out.extend_from_slice(&c.pack.to_le_bytes());
    out.extend_from_slice(&c.frame.to_le_bytes());
}

/// The smallest entry's encoding: kind, empty path, mode, mtime, size, crc.
pub(super) const MIN_ENTRY: usize = 33;

/// Reads one reference of a chunk list at the cursor (given the entry's offset, for errors):
/// the chunk's number and length.
pub(super) type ChunkRef<'f> = dyn FnMut(&mut Cur, usize) -> Result<(u32, u32), RepoError> + 'f;

/// Decodes and checks entry `i` at the cursor; `chunk(cursor, entry offset)` reads one reference
/// of its chunk list and gives the chunk's number and length. Checks what an entry alone can
/// be checked for (kind, nanoseconds, lengths adding up to the size, the path's shape);
/// uniqueness of paths is the caller's.
pub(super) fn take_entry(
    c: &mut Cur,
    i: u64,
    chunk: &mut ChunkRef,
) -> Result<SnapEntry, RepoError> {
    let at = c.pos;
    let kind_id = c.u8("entry kind")?;
    let path = c.string("entry path")?;
    let mode = c.u32("entry mode")?;
    let secs = c.i64("entry mtime")?;
    let nanos = c.u32("entry mtime nanoseconds")?;
    if nanos >= 1_000_000_000 {
        return Err(bad(at, format!("entry {i}: nanoseconds {nanos}")));
    }
    let size = c.u64("entry size")?;
    let crc32 = c.u32("entry crc")?;
    let kind = match kind_id {
        1 => EntryKind::File,
        2 => EntryKind::Dir,
        3 => EntryKind::Symlink {
            target: c.string("symlink target")?,
        },
        5 => EntryKind::Stream,
        k => {
            return Err(bad(
                at,
                format!("entry {i}: kind {k} (a snapshot has no deletions)"),
            ))
        }
    };
    let mut list = Vec::new();
    if kind.has_content() {
        let n = c.count(4, "chunk list length")?;
        list.reserve_exact(n);
        let mut total = 0u64;
        for _ in 0..n {
            let (k, raw_len) = chunk(c, at)?;
            total += u64::from(raw_len);
            list.push(k);
        }
        if total != size {
            return Err(bad(
                at,
                format!("entry {i}: chunks hold {total} bytes, size is {size}"),
            ));
        }
    }
    let e = SnapEntry {
        path,
        kind,
        mode,
        mtime: Mtime { secs, nanos },
        size,
        crc32,
        chunks: list,
    };
    check_entry_shape(&e.index_entry(0)).map_err(|r| bad(at, format!("entry {i}: {r}")))?;
    crate::archive::path::components(&e.path)
        .map_err(|r| bad(at, format!("entry {i}: path {:?}: {r}", e.path)))?;
    Ok(e)
}

pub(super) fn bad(offset: usize, reason: impl Into<String>) -> RepoError {
    RepoError::BadSnapshot {
        offset: offset as u64,
        reason: reason.into(),
    }
}

/// A bounds-checked cursor.
pub(super) struct Cur<'a> {
    pub(super) buf: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Cur<'a> {
    pub(super) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], RepoError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| bad(self.pos, format!("{what} runs past the end")))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub(super) fn arr<const N: usize>(&mut self, what: &str) -> Result<[u8; N], RepoError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }
    pub(super) fn u8(&mut self, what: &str) -> Result<u8, RepoError> {
        Ok(self.take(1, what)?[0])
    }
    pub(super) fn u16(&mut self, what: &str) -> Result<u16, RepoError> {
        Ok(u16::from_le_bytes(self.arr(what)?))
    }
    pub(super) fn u32(&mut self, what: &str) -> Result<u32, RepoError> {
        Ok(u32::from_le_bytes(self.arr(what)?))
    }
    pub(super) fn u64(&mut self, what: &str) -> Result<u64, RepoError> {
        Ok(u64::from_le_bytes(self.arr(what)?))
    }
    pub(super) fn i64(&mut self, what: &str) -> Result<i64, RepoError> {
        Ok(i64::from_le_bytes(self.arr(what)?))
    }
    /// A u32 count of items of at least `each` bytes, checked against what is left.
    pub(super) fn count(&mut self, each: usize, what: &str) -> Result<usize, RepoError> {
        let at = self.pos;
        let n = self.u32(what)? as usize;
        if n > self.remaining() / each {
            return Err(bad(at, format!("{what} {n} does not fit in the rest")));
        }
        Ok(n)
    }
    pub(super) fn string(&mut self, what: &str) -> Result<String, RepoError> {
        let at = self.pos;
        let len = self.u32(what)? as usize;
        if len > MAX_NAME {
            return Err(bad(at, format!("{what} of {len} bytes (limit {MAX_NAME})")));
        }
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| bad(at, format!("{what} is not UTF-8")))
    }
    pub(super) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
}

/// Writes a snapshot's encoding (`Snapshot::encode`, version 1, or `SnapFile::encode`, version
/// 2) to `path` (a `.snap` container, sealed with `seal`), synced. Returns the file's length and
/// the container's index CRC (the catalog's checksum).
pub fn write(
    path: &Path,
    bytes: &[u8],
    codec: Codec,
    level: i32,
    seal: Option<&Seal>,
) -> Result<(u64, u32), RepoError> {
    let f =
        File::create_new(path).map_err(RepoError::io(format!("creating {}", path.display())))?;
    let opts = WriterOptions {
        codec,
        level,
        threads: 1,
        ..WriterOptions::default()
    };
    let mut w = ArchiveWriter::with_seal(BufWriter::new(f), opts, seal)
        .map_err(RepoError::archive(path))?;
    w.add_stream_with(STREAM, &EntryMeta::new(0o600, Mtime::new(0, 0)), bytes)
        .map_err(RepoError::archive(path))?;
    let (out, summary) = w.finish().map_err(RepoError::archive(path))?;
    let mut f = out
        .into_inner()
        .map_err(|e| e.into_error())
        .map_err(RepoError::io(format!("writing {}", path.display())))?;
    f.flush()
        .and_then(|()| f.sync_all())
        .map_err(RepoError::io(format!("syncing {}", path.display())))?;
    Ok((summary.bytes_written, summary.index_crc32))
}

/// A `.snap` file's encoding, decoded: version 1 holds everything; version 2 names the tree
/// chunks that hold its entries (`open::expand` reads them).
#[derive(Debug)]
pub enum SnapBody {
    V1(Snapshot),
    V2(SnapFile),
}

/// Reads a `.snap` file: the container checked (every CRC, the seal), the snapshot decoded.
/// Returns the open container too (its file and index CRC stand for the backup's).
pub fn read(
    path: &Path,
    key: Option<&MasterKey>,
) -> Result<(SnapBody, ArchiveReader<File>), RepoError> {
    let f = File::open(path).map_err(RepoError::io(format!("opening {}", path.display())))?;
    let mut r = ArchiveReader::open_with(f, key).map_err(RepoError::archive(path))?;
    let e = r
        .index()
        .get(STREAM)
        .ok_or_else(|| RepoError::Corrupt(format!("{}: no {STREAM:?} stream", path.display())))?;
    if e.size > MAX_ENCODED {
        return Err(RepoError::Corrupt(format!(
            "{}: snapshot of {} bytes (limit {MAX_ENCODED})",
            path.display(),
            e.size
        )));
    }
    let mut buf = Vec::with_capacity(e.size as usize);
    r.read_entry(STREAM, &mut buf)
        .map_err(RepoError::archive(path))?;
    let body = match version_of(&buf) {
        Some(VERSION_2) => SnapBody::V2(SnapFile::decode(&buf)?),
        _ => SnapBody::V1(Snapshot::decode(&buf)?),
    };
    Ok((body, r))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Snapshot {
        Snapshot {
            packs: vec![[9; 32], [8; 32]],
            chunks: vec![
                SnapChunk {
                    id: [1; 32],
                    raw_len: 10,
                    pack: 0,
                    frame: 0,
                },
                SnapChunk {
                    id: [2; 32],
                    raw_len: 5,
                    pack: 1,
                    frame: 3,
                },
            ],
            entries: vec![
                SnapEntry {
                    path: "etc".into(),
                    kind: EntryKind::Dir,
                    mode: 0o755,
                    mtime: Mtime::new(1, 2),
                    size: 0,
                    crc32: 0,
                    chunks: vec![],
                },
                SnapEntry {
                    path: "etc/a".into(),
                    kind: EntryKind::File,
                    mode: 0o644,
                    mtime: Mtime::new(-5, 999_999_999),
                    size: 20,
                    crc32: 77,
                    chunks: vec![0, 1, 1],
                },
                SnapEntry {
                    path: "etc/link".into(),
                    kind: EntryKind::Symlink {
                        target: "/nowhere".into(),
                    },
                    mode: 0o777,
                    mtime: Mtime::new(3, 0),
                    size: 0,
                    crc32: 0,
                    chunks: vec![],
                },
                SnapEntry {
                    path: "empty".into(),
                    kind: EntryKind::File,
                    mode: 0o600,
                    mtime: Mtime::new(3, 0),
                    size: 0,
                    crc32: 0,
                    chunks: vec![],
                },
                SnapEntry {
                    path: "db/main.sql".into(),
                    kind: EntryKind::Stream,
                    mode: 0o600,
                    mtime: Mtime::new(3, 0),
                    size: 10,
                    crc32: 1,
                    chunks: vec![0],
                },
            ],
            trees: vec![],
        }
    }

    /// Version 1's bytes, kept forever: a build that reads them differently breaks old snapshots.
    /// (`cargo test --lib regenerate_golden_snapshot -- --ignored` writes it anew, on purpose only.)
    const GOLDEN: &str = "fixtures/repository/snapshot-v1.bin";

    #[test]
    fn the_golden_snapshot_decodes_and_encodes_byte_for_byte() {
        let golden = include_bytes!("../../fixtures/repository/snapshot-v1.bin");
        assert_eq!(Snapshot::decode(golden).unwrap(), sample());
        assert!(sample().encode() == golden);
    }

    #[test]
    #[ignore]
    fn regenerate_golden_snapshot() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
        std::fs::write(path, sample().encode()).unwrap();
    }

    #[test]
    fn a_snapshot_round_trips() {
        let s = sample();
        assert_eq!(Snapshot::decode(&s.encode()).unwrap(), s);
        assert_eq!(
            Snapshot::decode(&Snapshot::default().encode()).unwrap(),
            Snapshot::default()
        );
    }

    #[test]
    fn damage_gives_a_typed_error_never_a_panic() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            let e = Snapshot::decode(&bytes[..cut]).unwrap_err();
            assert!(matches!(e, RepoError::BadSnapshot { .. }), "{e}");
        }
        let mut n = 0;
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= bit;
                match Snapshot::decode(&b) {
                    Err(RepoError::BadSnapshot { .. }) => n += 1,
                    Err(e) => panic!("{e}"),
                    // Some flips give another valid snapshot (an id, a crc, a mode).
                    Ok(_) => {}
                }
            }
        }
        assert!(n > bytes.len() / 4, "{n}");
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(Snapshot::decode(&extra)
            .unwrap_err()
            .to_string()
            .contains("after the last entry"));
        // A size that the chunks do not add up to.
        let mut s = sample();
        s.entries[1].size = 21;
        assert!(Snapshot::decode(&s.encode())
            .unwrap_err()
            .to_string()
            .contains("chunks hold"));
        let mut s = sample();
        s.entries[2].path = "../up".into();
        assert!(Snapshot::decode(&s.encode()).is_err());
    }

    #[test]
    fn a_snap_file_is_a_sealed_container_that_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::from_bytes([5; 32]);
        let path = dir.path().join("b.snap");
        let (len, crc) = write(
            &path,
            &sample().encode(),
            Codec::Zstd,
            3,
            Some(&Seal::new(key.clone())),
        )
        .unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
        let (s, r) = read(&path, Some(&key)).unwrap();
        assert!(matches!(s, SnapBody::V1(s) if s == sample()));
        assert_eq!(r.index_crc32(), crc);
        assert!(read(&path, None).is_err());
    }
}
