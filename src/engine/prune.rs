//! Prune of the repository after retention cleanup: deletions recorded (`packs_deleted`) before
//! any file is removed; the files of recorded deletions a crash left behind, and pack files no
//! `pack_written` names (a run that died between the rename and the record), removed on the next
//! prune. What goes is decided by `decide::prune` from the projection alone: prune reads no pack.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::layout::Layout;
use super::maintenance::record;
use super::EngineError;
use crate::config::Config;
use crate::decide::{prune, Command};
use crate::progress::ProgressHandle;
use crate::service::Service;

/// What a prune did, for the cleanup run's note and figures.
#[derive(Debug, Default, PartialEq)]
pub struct Pruned {
    pub deleted: Vec<String>,
    pub repacked: Vec<String>,
    /// Bytes of pack files deleted, less those of new packs written by repacks.
    pub freed: u64,
    /// Files of packs deleted earlier (a crash after the record) removed now.
    pub leftovers: u64,
    /// Pack files no event names, older than the grace, removed.
    pub orphans: Vec<String>,
    /// Pack files no event names, younger than the grace: a run may still record them.
    pub young: Vec<String>,
    /// Why nothing was pruned, when a run in flight held it off.
    pub waited: Option<String>,
    /// Repack not done, and why.
    pub repack_note: Option<String>,
}

impl Pruned {
    /// What the run's note says of the prune; empty when it found nothing to do.
    pub fn note(&self) -> String {
        let mut parts = Vec::new();
        if let Some(why) = &self.waited {
            parts.push(format!("prune skipped: {why}"));
        } else if !self.deleted.is_empty() || !self.repacked.is_empty() {
            parts.push(format!(
                "pruned {} pack(s), repacked {}, {} bytes freed",
                self.deleted.len(),
                self.repacked.len(),
                self.freed
            ));
        }
        if let Some(why) = &self.repack_note {
            parts.push(why.clone());
        }
        if self.leftovers > 0 {
            parts.push(format!(
                "removed {} pack file(s) of earlier deletions",
                self.leftovers
            ));
        }
        if !self.orphans.is_empty() {
            parts.push(format!(
                "removed {} pack file(s) no event names: {}",
                self.orphans.len(),
                self.orphans.join(", ")
            ));
        }
        if !self.young.is_empty() {
            parts.push(format!(
                "kept {} young pack file(s) no event names (a run may still record them): {}",
                self.young.len(),
                self.young.join(", ")
            ));
        }
        parts.join("; ")
    }
}

/// Prunes the repository for the cleanup run `run_id`.
pub fn prune(
    config: &Config,
    service: &Service,
    run_id: &str,
    progress: &ProgressHandle,
) -> Result<Pruned, EngineError> {
    let layout = Layout::of(config);
    let mut done = Pruned {
        leftovers: leftovers(service, &layout)?,
        ..Pruned::default()
    };
    let grace = u64::try_from(config.health.unrecorded_grace_secs).unwrap_or(0);
    (done.orphans, done.young) = orphans(service, &layout, grace)?;
    let plan = service.read(|s| prune::plan(s, config.repository.repack_below));
    if plan.delete.is_empty() && plan.repack.is_empty() {
        return Ok(done);
    }
    let blocking = service.read(prune::blocking_runs);
    if !blocking.is_empty() {
        done.waited = Some(format!(
            "runs in flight may use packs: {}",
            blocking.join(", ")
        ));
        return Ok(done);
    }
    progress.update(|p| p.phase = "pruning the repository".into());
    if !plan.repack.is_empty() {
        let from: Vec<String> = plan.repack.iter().map(|p| p.id.clone()).collect();
        match repack(config, service, &layout, run_id, &from)? {
            Repacked::Done { into, freed } => {
                done.freed += freed;
                done.repacked = from;
                done.repack_note = Some(format!("into {}", into.join(", ")));
            }
            Repacked::Refused(why) => {
                done.waited = Some(why);
                return Ok(done);
            }
        }
    }
    if !plan.delete.is_empty() {
        let packs: Vec<String> = plan.delete.iter().map(|p| p.id.clone()).collect();
        let command = Command::DeletePacks {
            packs: packs.clone(),
            reason: "unreferenced".into(),
        };
        // A backup that started since the plan makes decide refuse: the packs stay for the
        // next prune, and this one says why.
        if let Err(e) = record(service, run_id, command) {
            done.waited = Some(e.to_string());
            return Ok(done);
        }
        super::snapshot_backup::crash(crate::failpoint::PRUNE_BEFORE_REMOVE)?;
        remove_packs(service, &layout, &packs)?;
        done.freed += plan.delete.iter().map(|p| p.bytes).sum::<u64>();
        done.deleted = packs;
    }
    Ok(done)
}

enum Repacked {
    Done {
        into: Vec<String>,
        freed: u64,
    },
    /// decide refused (a run started meanwhile): the new packs were removed again.
    Refused(String),
}

/// Copies the live chunks of the packs `from` into new packs (the configured codec, sealed as
/// new archives are), records them with the repack and the deletion of `from` in one append,
/// then removes `from`'s files. Nothing is recorded if anything fails: the new files are
/// removed, and `from` stays as it was.
fn repack(
    config: &Config,
    service: &Service,
    layout: &Layout,
    run_id: &str,
    from: &[String],
) -> Result<Repacked, EngineError> {
    // Each live chunk once, from the pack the projection lists it in.
    let work: Vec<(String, Vec<[u8; 32]>)> = service.read(|s| {
        let repo = &s.repository;
        let live = repo.liveness();
        let mut seen = HashSet::new();
        from.iter()
            .filter_map(|id| {
                let pack = repo.pack(id)?;
                let bits = &live.iter().find(|l| &l.id == id)?.live;
                let ids = pack
                    .frames
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| crate::projections::repository_bit(bits, *i))
                    .map(|(_, f)| repo.chunk_id(f.chunk))
                    .filter(|c| seen.insert(*c))
                    .collect();
                Some((pack.location.clone(), ids))
            })
            .collect()
    });
    let mut written: Vec<crate::events::PackRecord> = Vec::new();
    let copied = copy_chunks(config, layout, run_id, &work, &mut written);
    let forget = |written: &[crate::events::PackRecord]| {
        for p in written {
            super::layout::remove_quietly(&layout.resolve(&p.location));
        }
    };
    if let Err(e) = copied {
        forget(&written);
        return Err(e);
    }
    let into: Vec<String> = written.iter().map(|p| p.id.clone()).collect();
    let command = Command::RepackPacks {
        from: from.to_vec(),
        into: written.clone(),
    };
    super::snapshot_backup::crash(crate::failpoint::REPACK_BEFORE_RECORD)?;
    if let Err(e) = record(service, run_id, command) {
        forget(&written);
        return Ok(Repacked::Refused(e.to_string()));
    }
    let from_bytes: u64 = service.read(|s| {
        s.repository
            .all_packs()
            .iter()
            .filter(|p| from.contains(&p.id))
            .map(|p| p.bytes)
            .sum()
    });
    super::snapshot_backup::crash(crate::failpoint::REPACK_BEFORE_REMOVE)?;
    remove_packs(service, layout, from)?;
    let into_bytes: u64 = written.iter().map(|p| p.bytes).sum();
    Ok(Repacked::Done {
        into,
        freed: from_bytes.saturating_sub(into_bytes),
    })
}

/// Reads each chunk of `work` (pack location, chunk ids) and writes it into new packs, pushing
/// each finished one onto `written`.
fn copy_chunks(
    config: &Config,
    layout: &Layout,
    run_id: &str,
    work: &[(String, Vec<[u8; 32]>)],
    written: &mut Vec<crate::events::PackRecord>,
) -> Result<(), EngineError> {
    use crate::repository::{open_pack, PackWriter};
    let codec: crate::archive::Codec =
        config
            .codec
            .parse()
            .map_err(|e: crate::archive::ArchiveError| EngineError::Compression {
                reason: e.to_string(),
            })?;
    let seal = layout.seal().map_err(|source| EngineError::Archive {
        context: "sealing repacked packs".into(),
        source,
    })?;
    let mut n = 0;
    let start = |n: &mut u32| {
        *n += 1;
        PackWriter::create(
            &config.data_dir,
            &format!("repack-{run_id}-{n}"),
            codec,
            config.level,
            seal.as_ref(),
        )
        .map_err(repo_err)
    };
    let mut writer: Option<PackWriter> = None;
    let mut buf = Vec::new();
    for (location, ids) in work {
        let path = layout.resolve(location);
        let mut reader = open_pack(&path, layout.key()).map_err(repo_err)?;
        for id in ids {
            buf.clear();
            reader
                .read_entry(&crate::keys::hex(id), &mut buf)
                .map_err(|source| EngineError::Archive {
                    context: format!("reading a chunk of {}", path.display()),
                    source,
                })?;
            let w = match &mut writer {
                Some(w) => w,
                None => writer.insert(start(&mut n)?),
            };
            w.add(*id, &buf).map_err(repo_err)?;
            if w.full() {
                let full = writer.take().expect("a writer is open");
                written.push(full.finish(run_id, layout.key()).map_err(repo_err)?);
            }
        }
    }
    if let Some(w) = writer.filter(|w| !w.is_empty()) {
        written.push(w.finish(run_id, layout.key()).map_err(repo_err)?);
    }
    Ok(())
}

fn repo_err(e: crate::repository::RepoError) -> EngineError {
    use crate::repository::RepoError as R;
    match e {
        R::Io { context, source } => EngineError::Io { context, source },
        R::Archive { context, source } => EngineError::Archive { context, source },
        other => EngineError::DamagedEntry {
            id: "repository".into(),
            path: String::new(),
            reason: other.to_string(),
        },
    }
}

/// Removes the files of packs whose deletion is recorded; files already gone are fine.
fn remove_packs(service: &Service, layout: &Layout, ids: &[String]) -> Result<(), EngineError> {
    let locations: Vec<String> = service.read(|s| {
        s.repository
            .all_packs()
            .iter()
            .filter(|p| ids.contains(&p.id))
            .map(|p| p.location.clone())
            .collect()
    });
    let mut dirs = HashSet::new();
    for location in locations {
        let path = layout.resolve(&location);
        remove(&path)?;
        super::snapshot_backup::crash(crate::failpoint::PRUNE_REMOVING)?;
        if let Some(dir) = path.parent() {
            dirs.insert(dir.to_path_buf());
        }
    }
    for dir in dirs {
        if dir.is_dir() {
            super::layout::fsync_dir(&dir)?;
        }
    }
    Ok(())
}

/// Files of packs the log says were deleted that are still there (a crash between the record and
/// the removal), and snapshot index files of deleted backups. A pack's name is the hash of its
/// bytes, so a run in flight may be writing a deleted pack's file again (the same chunks stored
/// anew) and record it as live: while a run that may write packs is in flight, pack files are
/// left for a later prune.
fn leftovers(service: &Service, layout: &Layout) -> Result<u64, EngineError> {
    let (packs, snapshots): (Vec<PathBuf>, Vec<PathBuf>) = service.read(|s| {
        let quiet = prune::blocking_runs(s).is_empty();
        let packs = s
            .repository
            .all_packs()
            .iter()
            .filter(|p| p.deleted && quiet)
            .map(|p| layout.resolve(&p.location))
            .collect();
        let snapshots = s
            .catalog
            .deleted_ids
            .iter()
            .map(|id| layout.resolve(&format!("repository/snapshots/{id}.snap")))
            .collect();
        (packs, snapshots)
    });
    let mut removed = 0;
    for path in packs.iter().chain(&snapshots) {
        if path.exists() {
            remove(path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// `.pack` files under `repository/packs/` that no `pack_written` names: removed once older than
/// `grace` seconds (the crash of a run between a pack's rename and its record), kept while
/// younger (a run may be about to record it). Returns (removed, kept), relative paths.
fn orphans(
    service: &Service,
    layout: &Layout,
    grace: u64,
) -> Result<(Vec<String>, Vec<String>), EngineError> {
    let root = layout.resolve("repository/packs");
    let mut files = Vec::new();
    pack_files(&root, &mut files)?;
    if files.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let named: HashSet<PathBuf> = service.read(|s| {
        s.repository
            .all_packs()
            .iter()
            .map(|p| layout.resolve(&p.location))
            .collect()
    });
    let now = std::time::SystemTime::now();
    let (mut removed, mut kept) = (Vec::new(), Vec::new());
    for path in files.into_iter().filter(|p| !named.contains(p)) {
        let age = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .map_or(0, |d| d.as_secs());
        let shown = path
            .strip_prefix(layout.resolve(""))
            .unwrap_or(&path)
            .display()
            .to_string();
        if age < grace {
            kept.push(shown);
        } else {
            remove(&path)?;
            removed.push(shown);
        }
    }
    Ok((removed, kept))
}

/// Every `*.pack` below `dir` (packs sit one directory down, by their id's first two digits).
fn pack_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), EngineError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(EngineError::Io {
                context: format!("listing {}", dir.display()),
                source: e,
            })
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            pack_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "pack") {
            out.push(path);
        }
    }
    Ok(())
}

fn remove(path: &Path) -> Result<(), EngineError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(EngineError::Io {
            context: format!("removing {}", path.display()),
            source: e,
        }),
        _ => Ok(()),
    }
}
