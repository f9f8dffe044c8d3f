//! The on-disk layout: constants, header, frame header and trailer here; the index (entries and
//! the frame table) in `index`. Byte by byte in schema/archive.md. Decoding checks every length
//! before using it.

mod index;

pub use index::*;

use super::codec::Codec;
use super::error::ArchiveError;

/// First 8 bytes of every archive.
pub const MAGIC: [u8; 8] = *b"BKPDARC\x00";
/// Last 8 bytes of every archive.
pub const END_MAGIC: [u8; 8] = *b"BKPDEND\x00";
/// The format version this build writes and reads.
pub const VERSION: u16 = 1;

/// Header flag: frames and index are sealed with XChaCha20-Poly1305; a seal block follows the header.
pub const FLAG_SEALED: u32 = 1 << 0;
/// Flags this build understands.
pub const SUPPORTED_FLAGS: u32 = FLAG_SEALED;

/// Frame flag: the stored bytes are the raw bytes (the frame did not compress).
pub const FRAME_RAW: u8 = 1 << 0;

pub const HEADER_LEN: usize = 24;
pub const FRAME_HEADER_LEN: usize = 16;
pub const TRAILER_LEN: usize = 40;
/// The seal block after the header of a sealed archive: salt, nonce prefix, reserved, key check.
pub const SEAL_BLOCK_LEN: usize = 64;

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
    pub fn sealed(&self) -> bool {
        self.flags & FLAG_SEALED != 0
    }

    /// Where frame 0 starts: after the header, and the seal block of a sealed archive.
    pub fn body_start(&self) -> u64 {
        if self.sealed() {
            (HEADER_LEN + SEAL_BLOCK_LEN) as u64
        } else {
            HEADER_LEN as u64
        }
    }

    /// Bytes a stored unit (frame or index) has beyond its payload: the AEAD tag when sealed.
    pub fn unit_overhead(&self) -> u32 {
        if self.sealed() {
            crate::keys::TAG_LEN as u32
        } else {
            0
        }
    }

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

#[cfg(test)]
mod tests;
