//! The on-disk layout: constants, header, frame header, index and trailer encoding and decoding
//! (byte by byte in schema/archive.md). Decoding checks every length before using it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::codec::Codec;
use super::error::ArchiveError;

/// First 8 bytes of every archive.
pub const MAGIC: [u8; 8] = *b"BKPDARC\x00";
/// Last 8 bytes of every archive.
pub const END_MAGIC: [u8; 8] = *b"BKPDEND\x00";
/// The format version this build writes and reads.
pub const VERSION: u16 = 1;

/// Header flag: frames are sealed with an AEAD (reserved for the encryption issue; rejected today).
pub const FLAG_SEALED: u32 = 1 << 0;
/// Flags this build understands. Empty: the only defined flag is reserved.
pub const SUPPORTED_FLAGS: u32 = 0;

/// Frame flag: the stored bytes are the raw bytes (the frame did not compress).
pub const FRAME_RAW: u8 = 1 << 0;

pub const HEADER_LEN: usize = 24;
pub const FRAME_HEADER_LEN: usize = 16;
pub const TRAILER_LEN: usize = 40;

/// Largest uncompressed frame the writer produces and the reader accepts.
pub const MAX_FRAME_RAW: usize = 64 << 20;
/// Smallest frame size the writer accepts (smaller frames only add overhead).
pub const MIN_FRAME_SIZE: usize = 4 << 10;
/// Largest uncompressed index the reader accepts (about 2.5 million entries).
pub const MAX_INDEX_RAW: u64 = 256 << 20;
/// Longest path, symlink target or backup id.
pub const MAX_NAME_LEN: usize = 16 << 10;

/// Decoded fixed-size header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub codec: Codec,
    pub flags: u32,
    pub level: i32,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&self.version.to_le_bytes());
        b[10] = self.codec.id();
        b[11] = 0;
        b[12..16].copy_from_slice(&self.flags.to_le_bytes());
        b[16..20].copy_from_slice(&self.level.to_le_bytes());
        let crc = crc32fast::hash(&b[0..20]);
        b[20..24].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Checks in the order that gives the most useful message: magic, version, checksum, flags, codec.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Result<Header, ArchiveError> {
        if b[0..8] != MAGIC {
            return Err(ArchiveError::BadMagic);
        }
        let version = u16::from_le_bytes([b[8], b[9]]);
        if version != VERSION {
            return Err(ArchiveError::UnsupportedVersion {
                version,
                supported: VERSION,
            });
        }
        let crc = u32::from_le_bytes([b[20], b[21], b[22], b[23]]);
        if crc != crc32fast::hash(&b[0..20]) {
            return Err(ArchiveError::BadHeader {
                reason: "header checksum mismatch".into(),
            });
        }
        let flags = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
        if flags & FLAG_SEALED != 0 {
            return Err(ArchiveError::UnsupportedFlags {
                flags,
                reason: "frames sealed with an AEAD (encryption) are not supported by this build",
            });
        }
        if flags & !SUPPORTED_FLAGS != 0 {
            return Err(ArchiveError::UnsupportedFlags {
                flags,
                reason: "unknown flag bits",
            });
        }
        let codec = Codec::from_id(b[10]).ok_or_else(|| ArchiveError::BadHeader {
            reason: format!("unknown codec id {}", b[10]),
        })?;
        if b[11] != 0 {
            return Err(ArchiveError::BadHeader {
                reason: format!("reserved byte 11 is {} (must be 0)", b[11]),
            });
        }
        let level = i32::from_le_bytes([b[16], b[17], b[18], b[19]]);
        Ok(Header {
            version,
            codec,
            flags,
            level,
        })
    }
}

/// Decoded frame header (the 16 bytes in front of each frame's stored bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub stored_len: u32,
    pub raw_len: u32,
    pub flags: u8,
    /// Must be zero; kept as read so the checksum covers them too.
    pub reserved: [u8; 3],
    pub crc32: u32,
}

impl FrameHeader {
    /// Builds the header for stored bytes; the CRC covers the first 12 header bytes and the
    /// stored bytes, so lengths and flags are protected too.
    pub fn seal(stored: &[u8], raw_len: u32, flags: u8) -> FrameHeader {
        let mut h = FrameHeader {
            stored_len: stored.len() as u32,
            raw_len,
            flags,
            reserved: [0; 3],
            crc32: 0,
        };
        h.crc32 = h.compute_crc(stored);
        h
    }

    pub fn compute_crc(&self, stored: &[u8]) -> u32 {
        let b = self.encode();
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&b[0..12]);
        hasher.update(stored);
        hasher.finalize()
    }

    pub fn encode(&self) -> [u8; FRAME_HEADER_LEN] {
        let mut b = [0u8; FRAME_HEADER_LEN];
        b[0..4].copy_from_slice(&self.stored_len.to_le_bytes());
        b[4..8].copy_from_slice(&self.raw_len.to_le_bytes());
        b[8] = self.flags;
        b[9..12].copy_from_slice(&self.reserved);
        b[12..16].copy_from_slice(&self.crc32.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8; FRAME_HEADER_LEN]) -> FrameHeader {
        FrameHeader {
            stored_len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            raw_len: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            flags: b[8],
            reserved: [b[9], b[10], b[11]],
            crc32: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        }
    }
}

/// Decoded trailer: where the index is and how to check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    pub index_offset: u64,
    pub index_stored_len: u64,
    pub index_raw_len: u64,
    /// CRC32 of the stored (possibly compressed) index bytes.
    pub index_crc32: u32,
}

impl Trailer {
    pub fn encode(&self) -> [u8; TRAILER_LEN] {
        let mut b = [0u8; TRAILER_LEN];
        b[0..8].copy_from_slice(&self.index_offset.to_le_bytes());
        b[8..16].copy_from_slice(&self.index_stored_len.to_le_bytes());
        b[16..24].copy_from_slice(&self.index_raw_len.to_le_bytes());
        b[24..28].copy_from_slice(&self.index_crc32.to_le_bytes());
        let crc = crc32fast::hash(&b[0..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        b[32..40].copy_from_slice(&END_MAGIC);
        b
    }

    /// `offset` is where the trailer starts in the file (for messages).
    pub fn decode(b: &[u8; TRAILER_LEN], offset: u64) -> Result<Trailer, ArchiveError> {
        let bad = |reason: &str| ArchiveError::BadTrailer {
            offset,
            reason: reason.to_string(),
        };
        if b[32..40] != END_MAGIC {
            return Err(bad(
                "end magic missing (the archive is truncated or not finished)",
            ));
        }
        let crc = u32::from_le_bytes([b[28], b[29], b[30], b[31]]);
        if crc != crc32fast::hash(&b[0..28]) {
            return Err(bad("trailer checksum mismatch"));
        }
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        Ok(Trailer {
            index_offset: u64_at(0),
            index_stored_len: u64_at(8),
            index_raw_len: u64_at(16),
            index_crc32: u32::from_le_bytes([b[24], b[25], b[26], b[27]]),
        })
    }
}

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
    let mut expect = HEADER_LEN as u64;
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
        if f.raw_len as usize > MAX_FRAME_RAW || f.stored_len > f.raw_len || f.raw_len == 0 {
            return Err(ArchiveError::bad_index(format!(
                "frame {i}: stored {} / raw {} bytes is impossible (raw 1..={MAX_FRAME_RAW}, stored <= raw)",
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
    let mut seen = std::collections::HashSet::with_capacity(prealloc);
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
        if !seen.insert(e.path.clone()) {
            return Err(ArchiveError::bad_index(format!(
                "entry {i}: duplicate path {:?}",
                e.path
            )));
        }
        entries.push(e);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            version: VERSION,
            codec: Codec::Zstd,
            flags: 0,
            level: 3,
        }
    }

    #[test]
    fn header_round_trips_and_rejects_sealed_flag() {
        let h = header();
        assert_eq!(Header::decode(&h.encode()).unwrap(), h);
        let sealed = Header {
            flags: FLAG_SEALED,
            ..h
        }
        .encode();
        assert!(matches!(
            Header::decode(&sealed),
            Err(ArchiveError::UnsupportedFlags { .. })
        ));
        let mut b = h.encode();
        b[0] ^= 1;
        assert!(matches!(Header::decode(&b), Err(ArchiveError::BadMagic)));
        let v2 = Header { version: 2, ..h }.encode();
        assert!(matches!(
            Header::decode(&v2),
            Err(ArchiveError::UnsupportedVersion { version: 2, .. })
        ));
    }

    #[test]
    fn trailer_round_trips() {
        let t = Trailer {
            index_offset: 24,
            index_stored_len: 10,
            index_raw_len: 16,
            index_crc32: 7,
        };
        assert_eq!(Trailer::decode(&t.encode(), 34).unwrap(), t);
        let mut b = t.encode();
        b[3] ^= 0x10;
        assert!(matches!(
            Trailer::decode(&b, 34),
            Err(ArchiveError::BadTrailer { .. })
        ));
    }

    #[test]
    fn mtime_converts_both_sides_of_the_epoch() {
        for (s, n) in [
            (0, 0),
            (1_700_000_000, 123_456_789),
            (-1, 500),
            (-86_400, 0),
        ] {
            let m = Mtime::new(s, n);
            assert_eq!(Mtime::from(m.to_system_time().unwrap()), m);
        }
    }

    #[test]
    fn index_round_trips_and_counts_are_checked_against_size() {
        let frames = [FrameInfo {
            offset: HEADER_LEN as u64,
            stored_len: 5,
            raw_len: 10,
        }];
        let entries = vec![
            IndexEntry {
                path: "a b/ü.txt".into(),
                kind: EntryKind::File,
                mode: 0o644,
                mtime: Mtime::new(5, 6),
                size: 10,
                crc32: 1,
                location: Location::Here { offset: 0 },
            },
            IndexEntry {
                path: "l".into(),
                kind: EntryKind::Symlink {
                    target: "a b".into(),
                },
                mode: 0o777,
                mtime: Mtime::new(-5, 0),
                size: 0,
                crc32: 0,
                location: Location::None,
            },
            IndexEntry {
                path: "db.sql".into(),
                kind: EntryKind::Stream,
                mode: 0o600,
                mtime: Mtime::new(1, 0),
                size: 99,
                crc32: 2,
                location: Location::Parent {
                    backup: "b-1".into(),
                },
            },
        ];
        let mut raw = Vec::new();
        encode_index(&frames, &entries, &mut raw);
        let idx = decode_index(&raw, &header(), HEADER_LEN as u64 + 16 + 5).unwrap();
        assert_eq!(idx.entries, entries);
        assert_eq!(idx.frames, frames);
        // A frame that does not end where the index starts is refused.
        assert!(decode_index(&raw, &header(), HEADER_LEN as u64 + 16 + 6).is_err());
        // A huge entry count in a short index is refused before anything is allocated.
        let mut huge = raw.clone();
        huge[8 + 16..8 + 16 + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            decode_index(&huge, &header(), HEADER_LEN as u64 + 21),
            Err(ArchiveError::BadIndex { .. })
        ));
        // Trailing bytes are refused.
        raw.push(0);
        assert!(decode_index(&raw, &header(), HEADER_LEN as u64 + 21).is_err());
    }
}
