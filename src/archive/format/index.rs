//! The archive's index: entry metadata, kinds and locations, the frame table, and their
//! encoding and bounds-checked decoding (schema/archive.md, "Index").

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::archive::error::ArchiveError;

/// A modification time with nanosecond precision, seconds relative to the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mtime {
    pub secs: i64,
    /// Always < 1_000_000_000.
    pub nanos: u32,
}

impl Mtime {
    pub fn new(secs: i64, nanos: u32) -> Mtime {
        Mtime {
            secs: secs.saturating_add(i64::from(nanos / 1_000_000_000)),
            nanos: nanos % 1_000_000_000,
        }
    }

    pub fn now() -> Mtime {
        Mtime::from(SystemTime::now())
    }

    /// `None` when the time is outside what `SystemTime` can represent on this platform.
    pub fn to_system_time(self) -> Option<SystemTime> {
        if self.secs >= 0 {
            UNIX_EPOCH.checked_add(Duration::new(self.secs as u64, self.nanos))
        } else {
            UNIX_EPOCH
                .checked_sub(Duration::from_secs(self.secs.unsigned_abs()))?
                .checked_add(Duration::from_nanos(u64::from(self.nanos)))
        }
    }
}

impl From<SystemTime> for Mtime {
    fn from(t: SystemTime) -> Mtime {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Mtime::new(d.as_secs() as i64, d.subsec_nanos()),
            Err(e) => {
                let d = e.duration();
                let (secs, nanos) = (d.as_secs() as i64, d.subsec_nanos());
                if nanos == 0 {
                    Mtime::new(-secs, 0)
                } else {
                    Mtime::new(-secs - 1, 1_000_000_000 - nanos)
                }
            }
        }
    }
}

/// Metadata the caller supplies for an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntryMeta {
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    pub mtime: Mtime,
}

impl EntryMeta {
    pub fn new(mode: u32, mtime: Mtime) -> EntryMeta {
        EntryMeta { mode, mtime }
    }

    /// Mode and mtime of a file on disk (what the backup engine passes in).
    pub fn from_metadata(m: &std::fs::Metadata) -> EntryMeta {
        use std::os::unix::fs::MetadataExt;
        EntryMeta {
            mode: m.mode() & 0o7777,
            mtime: Mtime::new(m.mtime(), m.mtime_nsec().clamp(0, 999_999_999) as u32),
        }
    }
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntryKind {
    File,
    Dir,
    Symlink {
        target: String,
    },
    /// The path existed in the parent backup and is gone (incrementals).
    Deletion,
    /// Content with no file behind it, such as a database dump.
    Stream,
}

impl EntryKind {
    pub fn id(&self) -> u8 {
        match self {
            EntryKind::File => 1,
            EntryKind::Dir => 2,
            EntryKind::Symlink { .. } => 3,
            EntryKind::Deletion => 4,
            EntryKind::Stream => 5,
        }
    }

    /// Files and streams have content bytes; the other kinds are metadata only.
    pub fn has_content(&self) -> bool {
        matches!(self, EntryKind::File | EntryKind::Stream)
    }

    pub fn name(&self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink { .. } => "symlink",
            EntryKind::Deletion => "deletion",
            EntryKind::Stream => "stream",
        }
    }
}

/// Where an entry's content bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// No content (directories, symlinks, deletions).
    None,
    /// In this archive, at this offset of the uncompressed body (the concatenation of all frames).
    Here { offset: u64 },
    /// Unchanged since a parent backup in the chain, which holds the bytes.
    Parent { backup: String },
}

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndexEntry {
    /// Relative, `/`-separated path (or the stream's name).
    pub path: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub mtime: Mtime,
    /// Content length in bytes (0 for kinds without content).
    pub size: u64,
    /// CRC32 of the content (0 for kinds without content).
    pub crc32: u32,
    pub location: Location,
}

impl IndexEntry {
    /// This entry as an unchanged reference for the next incremental: bytes held in this
    /// archive become bytes held by `backup` (this archive's backup id); a reference to an
    /// older backup stays as it is. Feed the result to `ArchiveWriter::add_parent_ref`.
    pub fn in_parent(&self, backup: &str) -> IndexEntry {
        let location = match &self.location {
            Location::Here { .. } => Location::Parent {
                backup: backup.to_string(),
            },
            other => other.clone(),
        };
        IndexEntry {
            location,
            ..self.clone()
        }
    }
}

/// Where one frame is and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// File offset of the frame header.
    pub offset: u64,
    pub stored_len: u32,
    pub raw_len: u32,
}

/// The decoded index plus the header facts a caller wants next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub codec: Codec,
    pub level: i32,
    pub flags: u32,
    pub version: u16,
    pub entries: Vec<IndexEntry>,
    pub frames: Vec<FrameInfo>,
}

impl Index {
    /// The entry with this exact path.
    pub fn get(&self, path: &str) -> Option<&IndexEntry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// Total uncompressed body length (sum of frame raw lengths).
    pub fn body_len(&self) -> u64 {
        self.frames.iter().map(|f| u64::from(f.raw_len)).sum()
    }
}

const LOC_NONE: u8 = 0;
const LOC_HERE: u8 = 1;
const LOC_PARENT: u8 = 2;

/// Encodes frame table and entries (the raw index, before compression).
pub fn encode_index(frames: &[FrameInfo], entries: &[IndexEntry], out: &mut Vec<u8>) {
    out.extend_from_slice(&(frames.len() as u64).to_le_bytes());
    for f in frames {
        out.extend_from_slice(&f.offset.to_le_bytes());
        out.extend_from_slice(&f.stored_len.to_le_bytes());
        out.extend_from_slice(&f.raw_len.to_le_bytes());
    }
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for e in entries {
        encode_entry(e, out);
    }
}

fn put_str(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn encode_entry(e: &IndexEntry, out: &mut Vec<u8>) {
    out.push(e.kind.id());
    put_str(&e.path, out);
    out.extend_from_slice(&e.mode.to_le_bytes());
    out.extend_from_slice(&e.mtime.secs.to_le_bytes());
    out.extend_from_slice(&e.mtime.nanos.to_le_bytes());
    out.extend_from_slice(&e.size.to_le_bytes());
    out.extend_from_slice(&e.crc32.to_le_bytes());
    match &e.location {
        Location::None => out.push(LOC_NONE),
        Location::Here { offset } => {
            out.push(LOC_HERE);
            out.extend_from_slice(&offset.to_le_bytes());
        }
        Location::Parent { backup } => {
            out.push(LOC_PARENT);
            put_str(backup, out);
        }
    }
    if let EntryKind::Symlink { target } = &e.kind {
        put_str(target, out);
    }
}

/// Smallest encoded entry: kind, empty path, mode, mtime, size, crc, location tag.
const MIN_ENTRY_LEN: usize = 1 + 4 + 4 + 8 + 4 + 8 + 4 + 1;
const FRAME_ENTRY_LEN: usize = 16;

/// A bounds-checked cursor over the raw index.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ArchiveError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| {
                ArchiveError::bad_index(format!(
                    "{what} at index byte {} runs past the index end",
                    self.pos
                ))
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8, ArchiveError> {
        Ok(self.take(1, what)?[0])
    }
    fn arr<const N: usize>(&mut self, what: &str) -> Result<[u8; N], ArchiveError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }
    fn u32(&mut self, what: &str) -> Result<u32, ArchiveError> {
        Ok(u32::from_le_bytes(self.arr(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, ArchiveError> {
        Ok(u64::from_le_bytes(self.arr(what)?))
    }
    fn i64(&mut self, what: &str) -> Result<i64, ArchiveError> {
        Ok(i64::from_le_bytes(self.arr(what)?))
    }
    fn string(&mut self, what: &str) -> Result<String, ArchiveError> {
        let len = self.u32(what)? as usize;
        if len > MAX_NAME_LEN {
            return Err(ArchiveError::bad_index(format!(
                "{what} is {len} bytes (limit {MAX_NAME_LEN})"
            )));
        }
        let at = self.pos;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| ArchiveError::bad_index(format!("{what} at index byte {at} is not UTF-8")))
    }
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
}

/// Decodes and validates the raw index against the layout facts the reader knows:
/// frames must tile the body exactly from the header to the index, entries must be well formed,
/// unique, and their in-archive ranges in order and inside the body.
pub fn decode_index(raw: &[u8], header: &Header, index_offset: u64) -> Result<Index, ArchiveError> {
    let mut c = Cursor { buf: raw, pos: 0 };
    let frame_count = c.u64("frame count")?;
    if frame_count > (c.remaining() / FRAME_ENTRY_LEN) as u64 {
        return Err(ArchiveError::bad_index(format!(
            "frame count {frame_count} does not fit in the index"
        )));
    }
    let mut frames = Vec::with_capacity(frame_count as usize);
    let mut expect = header.body_start();
    let overhead = header.unit_overhead();
    for i in 0..frame_count {
        let f = FrameInfo {
            offset: c.u64("frame offset")?,
            stored_len: c.u32("frame stored length")?,
            raw_len: c.u32("frame raw length")?,
        };
        if f.offset != expect {
            return Err(ArchiveError::bad_index(format!(
                "frame {i} is at offset {}, expected {expect}",
                f.offset
            )));
        }
        if f.raw_len as usize > MAX_FRAME_RAW
            || f.stored_len > f.raw_len + overhead
            || f.stored_len < overhead
            || f.raw_len == 0
        {
            return Err(ArchiveError::bad_index(format!(
                "frame {i}: stored {} / raw {} bytes is impossible (raw 1..={MAX_FRAME_RAW}, stored <= raw + {overhead})",
                f.stored_len, f.raw_len
            )));
        }
        expect = f.offset + FRAME_HEADER_LEN as u64 + u64::from(f.stored_len);
        if expect > index_offset {
            return Err(ArchiveError::bad_index(format!(
                "frame {i} ends at {expect}, past the index at {index_offset}"
            )));
        }
        frames.push(f);
    }
    if expect != index_offset {
        return Err(ArchiveError::bad_index(format!(
            "frames end at {expect} but the index starts at {index_offset}"
        )));
    }
    let body_len: u64 = frames.iter().map(|f| u64::from(f.raw_len)).sum();

    let entry_count = c.u64("entry count")?;
    if entry_count > (c.remaining() / MIN_ENTRY_LEN) as u64 {
        return Err(ArchiveError::bad_index(format!(
            "entry count {entry_count} does not fit in the index"
        )));
    }
    // Pre-allocate for at most 64 Ki entries: the count is only plausible, not yet proven, and
    // an in-memory entry is a few times larger than its smallest encoding.
    let prealloc = entry_count.min(1 << 16) as usize;
    let mut entries = Vec::with_capacity(prealloc);
    let mut body_pos = 0u64;
    for i in 0..entry_count {
        let e = decode_entry(&mut c)?;
        check_entry_shape(&e)
            .map_err(|r| ArchiveError::bad_index(format!("entry {i} ({:?}): {r}", e.path)))?;
        if let Location::Here { offset } = e.location {
            let end = offset.checked_add(e.size).filter(|&end| end <= body_len);
            match end {
                Some(end) if offset >= body_pos => body_pos = end,
                _ => {
                    return Err(ArchiveError::bad_index(format!(
                        "entry {i} ({:?}): bytes {offset}+{} are out of order or outside the body of {body_len} bytes",
                        e.path, e.size
                    )))
                }
            }
        }
        entries.push(e);
    }
    // Borrowed and with a fast hash: a clone and a SipHash per path were most of the time it
    // takes to open a 100,000-entry index (the first listing of a backup waits for it).
    let mut seen = rustc_hash::FxHashSet::default();
    seen.reserve(entries.len());
    if let Some((i, e)) = entries
        .iter()
        .enumerate()
        .find(|(_, e)| !seen.insert(e.path.as_str()))
    {
        return Err(ArchiveError::bad_index(format!(
            "entry {i}: duplicate path {:?}",
            e.path
        )));
    }
    if c.remaining() != 0 {
        return Err(ArchiveError::bad_index(format!(
            "{} unexpected bytes after the last entry",
            c.remaining()
        )));
    }
    Ok(Index {
        codec: header.codec,
        level: header.level,
        flags: header.flags,
        version: header.version,
        entries,
        frames,
    })
}

fn decode_entry(c: &mut Cursor<'_>) -> Result<IndexEntry, ArchiveError> {
    let kind_id = c.u8("entry kind")?;
    let path = c.string("entry path")?;
    let mode = c.u32("entry mode")?;
    let secs = c.i64("entry mtime")?;
    let nanos = c.u32("entry mtime nanoseconds")?;
    if nanos >= 1_000_000_000 {
        return Err(ArchiveError::bad_index(format!(
            "entry {path:?}: mtime nanoseconds {nanos} >= 10^9"
        )));
    }
    let size = c.u64("entry size")?;
    let crc32 = c.u32("entry crc")?;
    let location = match c.u8("entry location")? {
        LOC_NONE => Location::None,
        LOC_HERE => Location::Here {
            offset: c.u64("entry offset")?,
        },
        LOC_PARENT => Location::Parent {
            backup: c.string("parent backup id")?,
        },
        t => {
            return Err(ArchiveError::bad_index(format!(
                "entry {path:?}: unknown location tag {t}"
            )))
        }
    };
    let kind = match kind_id {
        1 => EntryKind::File,
        2 => EntryKind::Dir,
        3 => EntryKind::Symlink {
            target: c.string("symlink target")?,
        },
        4 => EntryKind::Deletion,
        5 => EntryKind::Stream,
        k => {
            return Err(ArchiveError::bad_index(format!(
                "entry {path:?}: unknown kind {k}"
            )))
        }
    };
    Ok(IndexEntry {
        path,
        kind,
        mode,
        mtime: Mtime { secs, nanos },
        size,
        crc32,
        location,
    })
}

/// Rules shared by writer and reader: what a well-formed entry looks like.
pub fn check_entry_shape(e: &IndexEntry) -> Result<(), String> {
    if e.path.is_empty() {
        return Err("empty path".into());
    }
    if e.path.len() > MAX_NAME_LEN {
        return Err(format!("path longer than {MAX_NAME_LEN} bytes"));
    }
    if e.path.contains('\0') {
        return Err("path contains NUL".into());
    }
    if e.mode > 0o7777 {
        return Err(format!("mode {:o} has bits outside 0o7777", e.mode));
    }
    if e.kind.has_content() {
        match &e.location {
            Location::None => return Err("content entry without a location".into()),
            Location::Parent { backup } if backup.is_empty() => {
                return Err("empty parent backup id".into())
            }
            _ => {}
        }
    } else {
        if e.location != Location::None || e.size != 0 || e.crc32 != 0 {
            return Err(format!("{} entry with content", e.kind.name()));
        }
        if let EntryKind::Symlink { target } = &e.kind {
            if target.is_empty() || target.contains('\0') {
                return Err("empty symlink target or NUL in it".into());
            }
        }
    }
    Ok(())
}
