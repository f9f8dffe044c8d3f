//! Opening a recorded backup for reading: a `.bka` archive or a repository snapshot over its
//! packs, from the data dir or, where a copy is missing or damaged, from a remote by ranged reads
//! (schema/remote.md). Restore, verify and browse all read backups through here.

use std::fs::File;
use std::path::Path;

use crate::archive::{ArchiveReader, PackFile};
use crate::engine::layout::Layout;
use crate::engine::EngineError;
use crate::projections::State;

/// What `open_backup` gives: a backup's archive, or a repository snapshot over its packs, read
/// from the local file or, where that is missing or damaged, from a remote's copy (`PackFile`).
pub(crate) type BackupReader = ArchiveReader<PackFile>;

/// Opens a recorded backup's archive.
///
/// A `.bka` missing from the data dir is read in place from the first remote that has a copy of
/// the recorded size, by ranged GETs of only what is read (header, index, the frames wanted);
/// nothing is written back. When restoring (`heals_from_remote`), a local archive is read as
/// its own one pack (`ArchiveReader::over_itself`), so a frame failing its checks is read from
/// the remote's copy as a pack's is; `verify` reads the local copy as it is. An incremental's
/// parents are opened through here too, so whatever it references reads the same way.
pub(crate) fn open_backup(
    layout: &Layout,
    state: &State,
    id: &str,
) -> Result<BackupReader, EngineError> {
    let b = state
        .catalog
        .backups
        .get(id)
        .ok_or_else(|| EngineError::UnknownBackup { id: id.to_string() })?;
    let location = &b.record.location;
    let path = layout.resolve(location);
    if !crate::repository::is_snapshot_location(location) {
        return open_archive(layout, id, &path, location, b.record.bytes);
    }
    if !layout.remotes.is_empty() && std::fs::symlink_metadata(&path).is_err() {
        // A snapshot's index file (small) missing here is fetched back whole first; its packs
        // are read in place (`open_snapshot_backup`). No remote has it: missing, as without
        // remotes. Its recorded bytes are what it added (new chunks too), not its file's size.
        let _ =
            crate::remote::ranged::fetch_missing(&layout.remotes, &layout.data_dir, location, None);
    }
    // The snapshot's own file is read for nothing once its index is loaded: as a `PackFile`,
    // snapshots and archives are one type for the callers.
    Ok(open_snapshot_backup(layout, id, &path, &state.repository)?
        .map_inner(|file| PackFile::local(file, &path, None)))
}

/// A `.bka` backup's archive at `path` (`location` in the data dir, `bytes` long as recorded):
/// see `open_backup`.
fn open_archive(
    layout: &Layout,
    id: &str,
    path: &Path,
    location: &str,
    bytes: u64,
) -> Result<BackupReader, EngineError> {
    let archive_err = |what: String| {
        move |source| EngineError::Archive {
            context: format!("backup {id} ({what})"),
            source,
        }
    };
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match remote_archive(layout, id, location, bytes)? {
                Some(r) => Ok(r),
                None => Err(EngineError::MissingArchive {
                    id: id.to_string(),
                    path: path.to_path_buf(),
                }),
            };
        }
        Err(e) => {
            return Err(EngineError::Io {
                context: format!("opening {}", path.display()),
                source: e,
            })
        }
    };
    let heal = layout.heals_from_remote() && !layout.remotes.is_empty();
    let other = heal.then(|| remote_copy(layout, location));
    match layout.open_reader(PackFile::local(f, path, other)) {
        Ok(r) if heal => r
            .over_itself()
            .map_err(archive_err(path.display().to_string())),
        Ok(r) => Ok(r),
        // Its header, trailer or index does not check here: the remote's copy, when restoring
        // (not for a missing key or a newer format: the copy is the same archive).
        Err(e) if heal && e.kind() == crate::error::ErrorKind::Integrity => {
            match remote_archive(layout, id, location, bytes)? {
                Some(r) => {
                    log::warn!("{}: {e}; its remote copy is read instead", path.display());
                    Ok(r)
                }
                None => Err(archive_err(path.display().to_string())(e)),
            }
        }
        Err(e) => Err(archive_err(path.display().to_string())(e)),
    }
}

/// The archive at `location` on the remotes, asked nothing until read.
fn remote_copy(layout: &Layout, location: &str) -> Box<dyn crate::archive::OtherCopy> {
    Box::new(crate::remote::ranged::RemoteCopy::new(
        &layout.remotes,
        location,
    ))
}

/// The archive at `location` opened over a remote's copy alone (`None`: no remote configured,
/// none has it, or its copy is not `bytes` long as recorded, so not this backup's).
fn remote_archive(
    layout: &Layout,
    id: &str,
    location: &str,
    bytes: u64,
) -> Result<Option<BackupReader>, EngineError> {
    if layout.remotes.is_empty() {
        return Ok(None);
    }
    let copy = remote_copy(layout, location);
    match copy.size() {
        Ok(size) if size == bytes => {}
        Ok(size) => {
            log::warn!(
                "{location}: the copy at {} holds {size} bytes, the backup recorded {bytes}",
                copy.describe()
            );
            return Ok(None);
        }
        Err(e) => {
            log::warn!("{location}: no copy of it at {}: {e}", copy.describe());
            return Ok(None);
        }
    }
    let what = format!("{location} at {}", copy.describe());
    layout
        .open_reader(PackFile::other(copy))
        .map(Some)
        .map_err(|source| EngineError::Archive {
            context: format!("backup {id} ({what})"),
            source,
        })
}

/// A repository snapshot opened as a reader over its packs (each chunk where the snapshot saw
/// it, or where `lookup` finds it once a prune repacked that pack; schema/repository.md).
pub(crate) fn open_snapshot_backup(
    layout: &Layout,
    id: &str,
    path: &Path,
    lookup: &dyn crate::repository::ChunkLookup,
) -> Result<ArchiveReader<File>, EngineError> {
    if !path.exists() {
        return Err(EngineError::MissingArchive {
            id: id.to_string(),
            path: path.to_path_buf(),
        });
    }
    // A pack missing or damaged here is read from a remote that has it, frame by frame by
    // ranged GETs (only the frames read), and checked as any pack is.
    // `verify` reads only the local copy of a pack that is there.
    let remote = |location: &str| -> Option<Box<dyn crate::archive::OtherCopy>> {
        let wanted = layout.heals_from_remote() || !layout.data_dir.join(location).exists();
        (wanted && !layout.remotes.is_empty()).then(|| {
            Box::new(crate::remote::ranged::RemoteCopy::new(
                &layout.remotes,
                location,
            )) as _
        })
    };
    crate::repository::open_snapshot_with(&layout.data_dir, path, layout.key(), lookup, &remote)
        .map_err(|e| match crate::engine::snapshot_backup::repo_err(e) {
            EngineError::Archive { context, source } => EngineError::Archive {
                context: format!("backup {id} ({context})"),
                source,
            },
            other => other,
        })
}
