//! Restore by backup id: the chosen backup's index is the complete manifest; bytes held by
//! parent backups are fetched from their archives. Path safety (absolute paths, `..`, escaping
//! links) is the archive extractor's job and is relied on here.
//!
//! Order matters for metadata: files from parent archives are written first, then the chosen
//! archive is extracted, which sets directory modes and mtimes last (writing into a directory
//! changes its mtime).

use std::collections::BTreeMap;
use std::fs::{self, File, FileTimes};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::dump::load_hint;
use super::layout::{io_err, Layout};
use super::EngineError;
use crate::archive::{
    self, ArchiveError, ArchiveReader, EntryKind, ExtractOptions, IndexEntry, Location,
};
use crate::config::Config;
use crate::projections::State;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RestoreSummary {
    pub backup_id: String,
    pub target: PathBuf,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
    /// Parent backups whose archives supplied bytes.
    pub parents_used: Vec<String>,
    /// Database dumps restored as files, each with the command that loads it.
    pub dumps: Vec<RestoredDump>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestoredDump {
    pub path: PathBuf,
    pub load_with: String,
}

/// Restores backup `backup_id` (all of it, or the entries at and below `paths`) into `target`.
/// A target that exists and is not empty is refused unless `force`.
pub fn restore(
    config: &Config,
    state: &State,
    backup_id: &str,
    target: &Path,
    paths: &[String],
    force: bool,
) -> Result<RestoreSummary, EngineError> {
    let layout = Layout::new(&config.data_dir);
    if !force && !is_empty_or_missing(target)? {
        return Err(EngineError::TargetNotEmpty {
            path: target.to_path_buf(),
        });
    }
    let mut reader = open_backup(&layout, state, backup_id)?;
    let entries = &reader.index().entries;
    let chosen = select(entries, paths, backup_id)?;

    // Bytes in parents, grouped by the backup that holds them.
    let mut from_parents: BTreeMap<String, Vec<&IndexEntry>> = BTreeMap::new();
    for e in chosen.iter().map(|&i| &entries[i]) {
        if let (true, Location::Parent { backup }) = (e.kind.has_content(), &e.location) {
            from_parents.entry(backup.clone()).or_default().push(e);
        }
    }
    let mut sum = RestoreSummary {
        backup_id: backup_id.to_string(),
        target: target.to_path_buf(),
        ..RestoreSummary::default()
    };
    for (parent, wanted) in &from_parents {
        let mut pr = open_backup(&layout, state, parent).map_err(|e| EngineError::BrokenChain {
            id: backup_id.to_string(),
            path: wanted[0].path.clone(),
            parent: parent.clone(),
            reason: format!("cannot be read: {e}"),
        })?;
        let names: Vec<String> = wanted.iter().map(|e| e.path.clone()).collect();
        let got = pr
            .extract_with(target, &names, &ExtractOptions::default())
            .map_err(|source| EngineError::Archive {
                context: format!("restoring from parent backup {parent}"),
                source,
            })?;
        sum.files += got.files + got.streams;
        sum.bytes += got.bytes;
        // The manifest of the chosen backup is authoritative for metadata. An unchanged file has
        // the same mode and mtime in both manifests (that is what unchanged means), so only the
        // others are touched again: a second open per file doubled the restore's metadata work.
        let held: rustc_hash::FxHashMap<&str, &IndexEntry> = pr
            .index()
            .entries
            .iter()
            .map(|p| (p.path.as_str(), p))
            .collect();
        for e in wanted {
            let same = held
                .get(e.path.as_str())
                .is_some_and(|p| p.mode == e.mode && p.mtime == e.mtime);
            if !same {
                set_meta(&target.join(&e.path), e)?;
            }
        }
        sum.parents_used.push(parent.clone());
    }

    let selection: Vec<String> = paths.to_vec();
    let got = reader
        .extract_with(
            target,
            &selection,
            &ExtractOptions {
                skip_parent_refs: true,
            },
        )
        .map_err(|source| EngineError::Archive {
            context: format!("restoring backup {backup_id}"),
            source,
        })?;
    sum.files += got.files + got.streams;
    sum.dirs += got.dirs;
    sum.symlinks += got.symlinks;
    sum.bytes += got.bytes;

    for e in chosen.iter().map(|&i| &reader.index().entries[i]) {
        if e.kind == EntryKind::Stream {
            let path = target.join(&e.path);
            if let Some(load_with) = load_hint(&e.path, &path, &config.databases) {
                sum.dumps.push(RestoredDump { path, load_with });
            }
        }
    }
    Ok(sum)
}

/// Opens a recorded backup's archive.
pub(super) fn open_backup(
    layout: &Layout,
    state: &State,
    id: &str,
) -> Result<ArchiveReader<File>, EngineError> {
    let b = state
        .catalog
        .backups
        .get(id)
        .ok_or_else(|| EngineError::UnknownBackup { id: id.to_string() })?;
    let path = layout.resolve(&b.record.location);
    let f = File::open(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            EngineError::MissingArchive {
                id: id.to_string(),
                path: path.clone(),
            }
        } else {
            EngineError::Io {
                context: format!("opening {}", path.display()),
                source: e,
            }
        }
    })?;
    ArchiveReader::open(f).map_err(|source| EngineError::Archive {
        context: format!("backup {id} ({})", path.display()),
        source,
    })
}

/// The extractor's own selection rule, checked up front so a wrong `--path` fails before
/// anything is written.
fn select(entries: &[IndexEntry], paths: &[String], id: &str) -> Result<Vec<usize>, EngineError> {
    archive::select_entries(entries, paths).map_err(|e| match e {
        ArchiveError::NotFound { path } => EngineError::NotInBackup {
            id: id.to_string(),
            path,
        },
        source => EngineError::Archive {
            context: format!("selecting paths in backup {id}"),
            source,
        },
    })
}

fn is_empty_or_missing(target: &Path) -> Result<bool, EngineError> {
    match fs::read_dir(target) {
        Ok(mut rd) => Ok(rd.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(EngineError::Io {
            context: format!("inspecting restore target {}", target.display()),
            source: e,
        }),
    }
}

fn set_meta(dest: &Path, e: &IndexEntry) -> Result<(), EngineError> {
    let f = File::options()
        .write(true)
        .open(dest)
        .or_else(|_| File::open(dest))
        .map_err(io_err(format!("opening {}", dest.display())))?;
    f.set_permissions(fs::Permissions::from_mode(e.mode))
        .map_err(io_err(format!("setting mode of {}", dest.display())))?;
    if let Some(t) = e.mtime.to_system_time() {
        f.set_times(FileTimes::new().set_modified(t))
            .map_err(io_err(format!("setting mtime of {}", dest.display())))?;
    }
    Ok(())
}
