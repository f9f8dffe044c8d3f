//! The archive module's error type: every failure names what is wrong and where.

use std::io;

/// Everything that can go wrong writing, reading, verifying or extracting an archive.
///
/// Reader-side variants carry the position (byte offset, frame number or entry path) so that
/// `backupd verify` can point at the first bad structure.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("not a backupd archive: bad magic at offset 0")]
    BadMagic,
    #[error("unsupported archive format version {version} (this build reads version {supported})")]
    UnsupportedVersion { version: u16, supported: u16 },
    #[error("unsupported archive flags {flags:#010x}: {reason}")]
    UnsupportedFlags { flags: u32, reason: &'static str },
    #[error("bad archive header: {reason}")]
    BadHeader { reason: String },
    #[error("bad archive trailer at offset {offset}: {reason}")]
    BadTrailer { offset: u64, reason: String },
    #[error("archive truncated: {what} at offset {offset} runs past the end of the file")]
    Truncated { what: String, offset: u64 },
    #[error("frame {frame} at offset {offset}: checksum mismatch")]
    FrameChecksum { frame: u64, offset: u64 },
    #[error("entry {path:?}: content checksum mismatch")]
    EntryChecksum { path: String },
    #[error("index at offset {offset}: checksum mismatch")]
    IndexChecksum { offset: u64 },
    #[error("bad index: {reason}")]
    BadIndex { reason: String },
    #[error("frame {frame}: cannot decompress: {reason}")]
    Decompress { frame: u64, reason: String },
    #[error("unsafe path {path:?}: {reason}")]
    UnsafePath { path: String, reason: &'static str },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("no entry {path:?} in the archive")]
    NotFound { path: String },
    #[error("entry {path:?}: its bytes live in parent backup {backup:?}, not in this archive")]
    EntryInParent { path: String, backup: String },
    #[error("limit exceeded: {what}")]
    LimitExceeded { what: String },
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
}

impl ArchiveError {
    /// Wraps an I/O error with what was being done when it happened.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> ArchiveError {
        let context = context.into();
        move |source| ArchiveError::Io { context, source }
    }

    pub(crate) fn bad_index(reason: impl Into<String>) -> ArchiveError {
        ArchiveError::BadIndex {
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> ArchiveError {
        ArchiveError::InvalidInput {
            reason: reason.into(),
        }
    }
}
