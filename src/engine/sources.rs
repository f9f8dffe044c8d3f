//! Walking the `files` and `config` sources into a flat, sorted list of what a backup holds.
//!
//! Archive paths (the layout every backup shares):
//! ```text
//! files/<source path without its leading '/'>/<relative path>    a `files` source (canonical path)
//! config/<source path without its leading '/'>[/<relative path>] a `config` file or directory
//! databases/<name>.<kind ext>                                    a database dump (see `dump`)
//! ```
//! Naming by the source's canonical path keeps a path's archive name stable when sources are
//! reordered or added (an incremental compares by name), and a restore shows where things were.

use rustc_hash::FxHashSet as HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::manifest::Stat;
use super::EngineError;
use crate::archive::EntryMeta;
use crate::config::{Config, ConfigSource, DatabaseSource, FilesSource};
use crate::domain::selection::Category;
use crate::error::ErrorKind;
use crate::events::{BackupConfig, RunWarning};

/// One thing found on disk.
#[derive(Debug, Clone)]
pub struct Item {
    /// The archive path.
    pub name: String,
    pub fs_path: PathBuf,
    pub meta: EntryMeta,
    pub kind: ItemKind,
}

#[derive(Debug, Clone)]
pub enum ItemKind {
    Dir,
    File(Stat),
    Symlink(String),
}

/// What a scan found, plus what it had to leave out and why (the run's warnings).
#[derive(Debug, Default)]
pub struct Scan {
    pub items: Vec<Item>,
    pub skipped: Vec<RunWarning>,
    /// Directories never descended into: the data directory, so a source that contains it
    /// does not back up the backups (and the archive being written).
    pub avoid: Vec<PathBuf>,
}

impl Scan {
    fn skip(&mut self, path: &Path, reason: impl ToString) {
        self.skipped.push(RunWarning {
            path: path.display().to_string(),
            reason: reason.to_string(),
        });
    }

    pub fn files(&self) -> impl Iterator<Item = (&Item, &Stat)> {
        self.items.iter().filter_map(|i| match &i.kind {
            ItemKind::File(s) => Some((i, s)),
            _ => None,
        })
    }
}

/// Exclude patterns of one source. A pattern without `/` matches a name at any depth
/// (`*.tmp`, `node_modules`); one with `/` matches the path relative to the source root
/// (`cache/**`). An excluded directory is not descended into.
pub struct Excludes {
    by_name: GlobSet,
    by_path: GlobSet,
}

impl Excludes {
    pub fn new(patterns: &[String], source: &Path) -> Result<Excludes, EngineError> {
        let mut by_name = GlobSetBuilder::new();
        let mut by_path = GlobSetBuilder::new();
        for p in patterns {
            let glob = Glob::new(p).map_err(|e| EngineError::Source {
                source_path: source.to_path_buf(),
                reason: format!("exclude pattern {p:?}: {e}"),
                kind: ErrorKind::Config,
            })?;
            if p.contains('/') {
                by_path.add(glob);
            } else {
                by_name.add(glob);
            }
        }
        let build = |b: GlobSetBuilder| {
            b.build().map_err(|e| EngineError::Source {
                source_path: source.to_path_buf(),
                reason: format!("exclude patterns: {e}"),
                kind: ErrorKind::Config,
            })
        };
        Ok(Excludes {
            by_name: build(by_name)?,
            by_path: build(by_path)?,
        })
    }

    pub fn none() -> Excludes {
        Excludes {
            by_name: GlobSet::empty(),
            by_path: GlobSet::empty(),
        }
    }

    /// `rel` is relative to the source root, `/`-separated.
    pub fn excluded(&self, rel: &str, is_dir: bool) -> bool {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        self.by_name.is_match(name)
            || self.by_path.is_match(rel)
            // `cache/**` names everything below `cache`; then `cache` itself goes too.
            || (is_dir && self.by_path.is_match(format!("{rel}/")))
    }
}

/// The sources a backup job selects (named, or by category). None is a configuration fault,
/// never an empty "successful" backup.
pub struct Selected<'c> {
    pub files: Vec<&'c FilesSource>,
    pub configs: Vec<&'c ConfigSource>,
    pub databases: Vec<&'c DatabaseSource>,
}

impl<'c> Selected<'c> {
    pub fn of(config: &'c Config, cfg: &BackupConfig, job_id: &str) -> Result<Self, EngineError> {
        let selected = Selected {
            files: (config.files.iter())
                .filter(|s| cfg.selects(&s.name, Category::Files))
                .collect(),
            configs: (config.config_paths.iter())
                .filter(|s| cfg.selects(&s.name, Category::Config))
                .collect(),
            databases: (config.databases.iter())
                .filter(|s| cfg.selects(&s.name, Category::Database))
                .collect(),
        };
        if selected.files.is_empty() && selected.configs.is_empty() && selected.databases.is_empty()
        {
            return Err(EngineError::NothingSelected {
                job_id: job_id.to_string(),
            });
        }
        Ok(selected)
    }

    /// Walks the file and config sources (never into the data directory) and names each
    /// database dump in the backup; a dump whose name another entry has is refused.
    pub fn scan(&self, data_dir: &Path) -> Result<(Scan, Vec<String>), EngineError> {
        let mut scan = Scan::default();
        // `walk` sees canonical paths (the root is canonicalized, children are joined to it).
        scan.avoid.extend(fs::canonicalize(data_dir).ok());
        let mut seen = HashSet::default();
        for s in &self.files {
            let ex = Excludes::new(&s.exclude, &s.path)?;
            scan_source("files", &s.path, &ex, &mut seen, &mut scan)?;
        }
        for s in &self.configs {
            scan_source("config", &s.path, &Excludes::none(), &mut seen, &mut scan)?;
        }
        let mut dump_names = Vec::new();
        for src in &self.databases {
            let name = super::dump::archive_name(src)?;
            if !seen.insert(name.clone()) {
                return Err(EngineError::Dump {
                    name: src.name.clone(),
                    reason: "two database sources share this name".into(),
                });
            }
            dump_names.push(name);
        }
        Ok((scan, dump_names))
    }
}

/// The archive name of a source root: `<group>/<canonical path without the leading '/'>`.
pub fn root_name(group: &str, canonical: &Path) -> Result<String, EngineError> {
    let s = canonical.to_str().ok_or_else(|| EngineError::Source {
        source_path: canonical.to_path_buf(),
        reason: "the path is not UTF-8".into(),
        // Archive names are UTF-8: such a source can only be configured away.
        kind: ErrorKind::Config,
    })?;
    let rel = s.trim_start_matches('/');
    Ok(if rel.is_empty() {
        group.to_string()
    } else {
        format!("{group}/{rel}")
    })
}

/// Adds one source (a directory walked recursively, or a single file) to `scan`.
/// `seen` keeps archive names unique when sources overlap (the first source wins).
pub fn scan_source(
    group: &str,
    path: &Path,
    excludes: &Excludes,
    seen: &mut HashSet<String>,
    scan: &mut Scan,
) -> Result<(), EngineError> {
    let unusable = |e: std::io::Error| EngineError::Source {
        source_path: path.to_path_buf(),
        reason: e.to_string(),
        // A source that does not exist is a configuration fault; one not readable is refused.
        kind: ErrorKind::of_io(&e),
    };
    let root = fs::canonicalize(path).map_err(unusable)?;
    let name = root_name(group, &root)?;
    let meta = fs::symlink_metadata(&root).map_err(unusable)?;
    if meta.is_dir() {
        walk(&root, "", &name, excludes, seen, scan).map_err(|e| match e {
            EngineError::Io { source, .. } => unusable(source),
            other => other,
        })
    } else {
        push(&root, name, &meta, seen, scan);
        Ok(())
    }
}

/// Records one entry; special files (sockets, fifos, devices) and names seen before are left out.
fn push(
    fs_path: &Path,
    name: String,
    meta: &fs::Metadata,
    seen: &mut HashSet<String>,
    scan: &mut Scan,
) {
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        ItemKind::Dir
    } else if ft.is_file() {
        ItemKind::File(Stat::of(meta))
    } else if ft.is_symlink() {
        match fs::read_link(fs_path).map(|t| t.to_str().map(str::to_string)) {
            Ok(Some(t)) if !t.is_empty() => ItemKind::Symlink(t),
            Ok(_) => {
                scan.skip(fs_path, "symlink target is not UTF-8");
                return;
            }
            Err(e) => {
                scan.skip(fs_path, e);
                return;
            }
        }
    } else {
        use std::os::unix::fs::FileTypeExt;
        let what = if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_socket() {
            "a socket"
        } else if ft.is_block_device() || ft.is_char_device() {
            "a device"
        } else {
            "not a file, directory or symlink"
        };
        scan.skip(fs_path, format!("skipped: {what}"));
        return;
    };
    if !seen.insert(name.clone()) {
        return;
    }
    scan.items.push(Item {
        name,
        fs_path: fs_path.to_path_buf(),
        meta: EntryMeta::from_metadata(meta),
        kind,
    });
}

fn walk(
    dir: &Path,
    rel: &str,
    name: &str,
    excludes: &Excludes,
    seen: &mut HashSet<String>,
    scan: &mut Scan,
) -> Result<(), EngineError> {
    let meta = fs::symlink_metadata(dir)
        .map_err(super::layout::io_err(format!("reading {}", dir.display())))?;
    push(dir, name.to_string(), &meta, seen, scan);
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        // The source root must be readable; below it, an unreadable directory is reported
        // and the rest is still backed up.
        Err(e) if !rel.is_empty() => {
            scan.skip(dir, e);
            return Ok(());
        }
        Err(e) => {
            return Err(EngineError::Io {
                context: format!("listing {}", dir.display()),
                source: e,
            })
        }
    };
    let mut children = Vec::new();
    for entry in rd {
        match entry {
            Ok(e) => children.push(e.file_name()),
            Err(e) => scan.skip(dir, e),
        }
    }
    children.sort();
    // Only this directory's device: a mount point below a source is another file system.
    let dev = meta.dev();
    for child in children {
        let fs_path = dir.join(&child);
        let Some(child) = child.to_str() else {
            scan.skip(&fs_path, "the name is not UTF-8");
            continue;
        };
        let child_rel = if rel.is_empty() {
            child.to_string()
        } else {
            format!("{rel}/{child}")
        };
        let m = match fs::symlink_metadata(&fs_path) {
            Ok(m) => m,
            // Removed between listing and looking: it is simply not part of this backup.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                scan.skip(&fs_path, e);
                continue;
            }
        };
        if excludes.excluded(&child_rel, m.is_dir()) {
            continue;
        }
        let child_name = format!("{name}/{child}");
        if m.is_dir() && scan.avoid.contains(&fs_path) {
            continue;
        }
        if m.is_dir() && m.dev() == dev {
            walk(&fs_path, &child_rel, &child_name, excludes, seen, scan)?;
        } else if m.is_dir() {
            scan.skip(&fs_path, "another file system (mount point), not descended");
        } else {
            push(&fs_path, child_name, &m, seen, scan);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_by_name_anywhere_and_by_path_from_the_root() {
        let ex = Excludes::new(
            &["*.tmp".into(), "cache/**".into(), "node_modules".into()],
            Path::new("/src"),
        )
        .unwrap();
        assert!(ex.excluded("a.tmp", false));
        assert!(ex.excluded("deep/er/a.tmp", false));
        assert!(ex.excluded("cache/x", false));
        assert!(ex.excluded("cache/x/y", false));
        assert!(ex.excluded("cache", true));
        assert!(ex.excluded("web/node_modules", true));
        assert!(!ex.excluded("sub/cache/x", false));
        assert!(!ex.excluded("cache", false));
        assert!(!ex.excluded("a.tmpx", false));
        assert!(!ex.excluded("keep.txt", false));
    }

    #[test]
    fn a_bad_pattern_names_the_source() {
        let e = Excludes::new(&["a[".into()], Path::new("/srv/x"))
            .err()
            .expect("a[ is not a glob");
        assert!(e.to_string().contains("/srv/x"), "{e}");
    }

    #[test]
    fn root_names_strip_the_leading_slash() {
        assert_eq!(
            root_name("files", Path::new("/srv/app/uploads")).unwrap(),
            "files/srv/app/uploads"
        );
        assert_eq!(root_name("files", Path::new("/")).unwrap(), "files");
    }
}
