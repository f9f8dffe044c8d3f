//! The deduplicated repository (schema/repository.md): file and dump contents cut into
//! content-defined chunks (`chunker`), identified by keyed BLAKE3 (`id`), stored once in pack
//! files of the archive container, one frame per chunk (`pack`); each backup a complete
//! snapshot index of paths, metadata and chunk ids (`snapshot`; since version 2 its entries
//! are themselves chunks, `tree`, deduplicated like data) that opens as an archive reader
//! over the packs (`open`), so restore, browse and verify read it like an archive. Where a
//! chunk lives is asked through `ChunkLookup` (`lookup`); `store` puts streams in as chunks.
//!
//! Layout under the data directory: `repository/config` (the chunk-id key's origin),
//! `repository/packs/<2 hex>/<64 hex>.pack`, `repository/snapshots/<backup id>.snap`,
//! `repository/tmp/` (packs and snapshots being written).

pub mod chunker;
pub mod hashed;
pub mod id;
pub mod lookup;
pub mod open;
pub mod pack;
pub mod snapshot;
pub mod store;
pub mod tree;

pub use chunker::{Chunker, AVG_CHUNK, MAX_CHUNK, MIN_CHUNK};
pub use hashed::{hash_stream, Hashed, HashedChunk};
pub use id::ChunkKey;
pub use lookup::{ChunkLoc, ChunkLookup, MemoryLookup, NoChunks};
pub use open::{load_snapshot, open_snapshot, open_snapshot_with};
pub use pack::{open_pack, pack_location, PackWriter, PACK_TARGET};
pub use snapshot::{SnapChunk, SnapEntry, Snapshot};
pub use store::{Stored, Writer};

use std::path::Path;

use crate::archive::ArchiveError;
use crate::error::ErrorKind;

/// Where packs (and repacks) are written before they are published, relative to the data
/// directory.
pub const TMP: &str = "repository/tmp";

/// Directory of snapshot files, relative to the data directory.
pub const SNAPSHOTS: &str = "repository/snapshots";

/// The `.snap` path of a backup, relative to the data directory (its catalog location).
pub fn snapshot_location(backup_id: &str) -> String {
    format!("{SNAPSHOTS}/{backup_id}.snap")
}

/// Whether a catalog location is a repository snapshot (else an archive).
pub fn is_snapshot_location(location: &str) -> bool {
    location.starts_with("repository/") && location.ends_with(".snap")
}

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Archive {
        context: String,
        #[source]
        source: ArchiveError,
    },
    #[error("bad snapshot at byte {offset}: {reason}")]
    BadSnapshot { offset: u64, reason: String },
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    Other(String),
}

impl RepoError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RepoError::Io { source, .. } => ErrorKind::of_io(source),
            RepoError::Archive { source, .. } => source.kind(),
            RepoError::BadSnapshot { .. } | RepoError::Corrupt(_) => ErrorKind::Integrity,
            RepoError::Other(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RepoError {
        let context = context.into();
        move |source| RepoError::Io { context, source }
    }

    pub(crate) fn archive(path: &Path) -> impl FnOnce(ArchiveError) -> RepoError + '_ {
        move |source| RepoError::Archive {
            context: path.display().to_string(),
            source,
        }
    }
}

/// Syncs a directory, so a rename in it survives a crash.
pub(crate) fn fsync_dir(dir: &Path) -> Result<(), RepoError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(RepoError::io(format!(
            "syncing directory {}",
            dir.display()
        )))
}

#[cfg(test)]
mod tests;
