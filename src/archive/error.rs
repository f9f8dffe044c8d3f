//! The archive module's error type: every failure names what is wrong and where.

use crate::error::ErrorKind;
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
    /// A damaged frame (or index) cut this entry's content short during extraction.
    #[error("entry {path:?} cannot be restored: {source}")]
    EntryDamaged {
        path: String,
        #[source]
        source: Box<ArchiveError>,
    },
    #[error("limit exceeded: {what}")]
    LimitExceeded { what: String },
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
    /// A sealed archive opened without a key: configure `[encryption]`.
    #[error("the archive is encrypted and no key was given (configure [encryption])")]
    KeyRequired,
    /// The key check of the seal block failed: another master key sealed this archive (or its
    /// header or seal block was changed).
    #[error(
        "the key does not open this archive (wrong key, or its header or seal block was changed)"
    )]
    WrongKey,
    #[error("frame {frame} at offset {offset}: authentication failed (changed or moved bytes)")]
    Unseal { frame: u64, offset: u64 },
    #[error("index at offset {offset}: authentication failed (changed or moved bytes)")]
    UnsealIndex { offset: u64 },
}

impl ArchiveError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            // The bytes are not the archive that was written: a checksum fails,
            ArchiveError::FrameChecksum { .. }
            | ArchiveError::EntryChecksum { .. }
            | ArchiveError::IndexChecksum { .. }
            | ArchiveError::Unseal { .. }
            | ArchiveError::UnsealIndex { .. } => ErrorKind::Integrity,
            // the framing is damaged or cut short,
            ArchiveError::BadMagic
            | ArchiveError::BadHeader { .. }
            | ArchiveError::BadTrailer { .. }
            | ArchiveError::Truncated { .. } => ErrorKind::Integrity,
            // or the content: an index past any sane size (the reader's limits are far above
            // what a writer makes) is a damaged length.
            ArchiveError::BadIndex { .. }
            | ArchiveError::Decompress { .. }
            | ArchiveError::LimitExceeded { .. } => ErrorKind::Integrity,
            // Intact, but written by a newer build (or sealed): this binary is the wrong one.
            ArchiveError::UnsupportedVersion { .. } | ArchiveError::UnsupportedFlags { .. } => {
                ErrorKind::Config
            }
            // Sealed, and this service has no key or another one.
            ArchiveError::KeyRequired | ArchiveError::WrongKey => ErrorKind::Config,
            // Extraction will not write outside its target, whatever the archive says.
            ArchiveError::UnsafePath { .. } => ErrorKind::Refused,
            ArchiveError::Io { source, .. } => ErrorKind::of_io(source),
            ArchiveError::EntryDamaged { source, .. } => source.kind(),
            // The caller asked for an entry the archive does not have.
            ArchiveError::NotFound { .. } => ErrorKind::Config,
            // Callers resolve chains and validate settings first (a bad codec or level reaches
            // the engine as its own error): getting here means a caller is wrong.
            ArchiveError::EntryInParent { .. } | ArchiveError::InvalidInput { .. } => {
                ErrorKind::Internal
            }
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorKind::*;

    #[test]
    fn every_variant_has_its_kind() {
        let s = || String::from("x");
        let io = |k: io::ErrorKind| ArchiveError::Io {
            context: s(),
            source: io::Error::from(k),
        };
        let cases = [
            (ArchiveError::BadMagic, Integrity),
            (
                ArchiveError::UnsupportedVersion {
                    version: 9,
                    supported: 1,
                },
                Config,
            ),
            (
                ArchiveError::UnsupportedFlags {
                    flags: 1,
                    reason: "sealed",
                },
                Config,
            ),
            (ArchiveError::BadHeader { reason: s() }, Integrity),
            (
                ArchiveError::BadTrailer {
                    offset: 1,
                    reason: s(),
                },
                Integrity,
            ),
            (
                ArchiveError::Truncated {
                    what: s(),
                    offset: 1,
                },
                Integrity,
            ),
            (
                ArchiveError::FrameChecksum {
                    frame: 1,
                    offset: 1,
                },
                Integrity,
            ),
            (ArchiveError::EntryChecksum { path: s() }, Integrity),
            (ArchiveError::IndexChecksum { offset: 1 }, Integrity),
            (ArchiveError::bad_index("x"), Integrity),
            (
                ArchiveError::Decompress {
                    frame: 1,
                    reason: s(),
                },
                Integrity,
            ),
            (ArchiveError::LimitExceeded { what: s() }, Integrity),
            (
                ArchiveError::UnsafePath {
                    path: s(),
                    reason: "..",
                },
                Refused,
            ),
            (io(io::ErrorKind::StorageFull), Transient),
            (io(io::ErrorKind::PermissionDenied), Refused),
            (io(io::ErrorKind::UnexpectedEof), Integrity),
            (ArchiveError::NotFound { path: s() }, Config),
            (
                ArchiveError::EntryInParent {
                    path: s(),
                    backup: s(),
                },
                Internal,
            ),
            (ArchiveError::invalid("x"), Internal),
            (ArchiveError::KeyRequired, Config),
            (ArchiveError::WrongKey, Config),
            (
                ArchiveError::Unseal {
                    frame: 1,
                    offset: 1,
                },
                Integrity,
            ),
            (ArchiveError::UnsealIndex { offset: 1 }, Integrity),
        ];
        for (e, kind) in cases {
            assert_eq!(e.kind(), kind, "{e}");
        }
    }
}
