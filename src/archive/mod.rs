//! The archive container: header, independently compressed frames, per-entry CRC32, index, trailer.
//!
//! The byte layout is specified in `schema/archive.md`. Writing streams in bounded memory with
//! frames compressed on all cores ([`ArchiveWriter`]); reading lists the index without touching
//! the body, verifies every checksum, and extracts all or selected entries ([`ArchiveReader`]).
//! Any byte string given to the reader yields `Ok` or a typed [`ArchiveError`], never a panic.

mod codec;
mod error;
mod extract;
mod format;
pub mod path;
mod reader;
/// A copy held in memory, for the tests of whatever reads another copy (packs, archives).
#[cfg(test)]
pub(crate) use reader::tests::InMemory;
mod seal;
mod writer;

pub use codec::Codec;
pub use error::ArchiveError;
pub use extract::{select_entries, DamagedEntry, ExtractOptions, ExtractSummary, OnFile};
pub use format::{
    check_entry_shape, EntryKind, EntryMeta, FrameInfo, Index, IndexEntry, Location, Mtime,
    FLAG_SEALED, VERSION,
};
pub use reader::{
    verify_file, verify_file_with, ArchiveReader, OtherCopy, PackFile, PackFrames, VerifySummary,
};
pub use seal::Seal;
pub use writer::{ArchiveWriter, WriteSummary, WriterOptions};
