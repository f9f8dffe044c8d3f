//! Browsing a backup by original paths: one directory of its complete manifest at a time, and
//! one file's bytes. An incremental's index lists every path (unchanged ones as references to
//! the parent that holds the bytes), so a listing reads only the chosen backup's index; only
//! content may come from a parent's archive.
//!
//! The index is in walk order, nearly but not exactly path order, so each opened index is put
//! in path order once (usually a check that finds it already is) and kept (a few, by archive
//! file: archives never change once written). A directory's children are then one contiguous
//! range (`dir/` ..= `dir/\u{10FFFF}`), found by binary search, so a page costs what it returns
//! plus the descendants skipped inside that range.
//!
//! Reading and ordering a 100,000-entry index takes longer than a page may (the target is 50 ms),
//! so the trees are cached (`cache`, bounded by entries) and built ahead: at `serve` start for the
//! newest backups and right after each backup is recorded (`cache::start_prefetch`).

mod cache;

pub use cache::{start_prefetch, Prefetch};

use std::io::Write;
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::layout::Layout;
use super::paths::{archive_candidates, has_original, original, DB_PREFIX};
use super::restore::open_backup;
use super::EngineError;
use crate::archive::{EntryKind, IndexEntry, Location};
use crate::config::Config;
use crate::projections::State;

/// Entries per page unless asked otherwise, and the most a page holds.
pub const DEFAULT_LIMIT: usize = 1000;
pub const MAX_LIMIT: usize = 10_000;

/// What browsing can fail with besides the engine's own errors; each names the `path` asked for.
#[derive(Debug)]
pub enum BrowseError {
    Engine(EngineError),
    NotFound { path: String },
    NotADirectory { path: String },
    NotAFile { path: String },
}

impl std::fmt::Display for BrowseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BrowseError::Engine(e) => write!(f, "{e}"),
            BrowseError::NotFound { path } => write!(f, "{path:?} is not in this backup"),
            BrowseError::NotADirectory { path } => write!(f, "{path:?} is not a directory"),
            BrowseError::NotAFile { path } => {
                write!(f, "{path:?} is not a file or a database dump")
            }
        }
    }
}

impl From<EngineError> for BrowseError {
    fn from(e: EngineError) -> Self {
        BrowseError::Engine(e)
    }
}

/// One entry of a listing, as the API and `backupd ls` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedEntry {
    /// The last component (at the top level: the source's whole original path).
    pub name: String,
    /// The original path.
    pub path: String,
    /// `file`, `dir`, `symlink` or `stream`.
    pub kind: &'static str,
    pub size: u64,
    pub mode: u32,
    /// RFC 3339, UTC.
    pub mtime: String,
    pub target: Option<String>,
    /// The backup whose archive holds the bytes: this one, or a parent for an unchanged file.
    pub holder: String,
}

/// One page of a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    pub backup_id: String,
    pub path: String,
    pub entries: Vec<ListedEntry>,
    /// The `after` of the next page, when there is one.
    pub next: Option<String>,
}

/// A backup's manifest sorted by archive path (deletion markers left out), and its top level.
struct Tree {
    entries: Vec<IndexEntry>,
    /// Indexes of the source roots (and dumps), sorted by original path. Worked out on the first
    /// listing of the top level only: it costs a lookup per entry, which the first listing of a
    /// deep directory (the common case, and the one with a latency target) need not pay.
    roots: OnceLock<Vec<(String, usize)>>,
}

impl Tree {
    fn new(index: Vec<IndexEntry>) -> Tree {
        let mut entries: Vec<IndexEntry> = index
            .into_iter()
            .filter(|e| e.kind != EntryKind::Deletion && has_original(&e.path))
            .collect();
        // Walk order is nearly path order (a directory's children are walked sorted by name;
        // only names sorting before '/' break it), so the check is usually all it costs, and the
        // stable sort's run detection keeps the rest cheap.
        if !entries.is_sorted_by(|a, b| a.path <= b.path) {
            entries.sort_by(|a, b| a.path.cmp(&b.path));
        }
        Tree {
            entries,
            roots: OnceLock::new(),
        }
    }

    fn roots(&self) -> &[(String, usize)] {
        self.roots.get_or_init(|| {
            let entries = &self.entries;
            let mut roots: Vec<(String, usize)> = entries
                .iter()
                .enumerate()
                .filter(|(_, e)| {
                    let parent = e.path.rsplit_once('/').map(|(p, _)| p);
                    e.path.starts_with("databases/")
                        || parent
                            .is_none_or(|p| original(p).is_none_or(|_| find(entries, p).is_none()))
                })
                .filter_map(|(i, e)| Some((original(&e.path)?, i)))
                .collect();
            roots.sort();
            roots
        })
    }

    /// The entry with this original path.
    fn lookup(&self, path: &str) -> Option<usize> {
        if path.starts_with(DB_PREFIX) {
            let lo = self
                .entries
                .partition_point(|e| e.path.as_str() < "databases/");
            let hi = self
                .entries
                .partition_point(|e| e.path.as_str() < "databases0");
            return (lo..hi).find(|&i| original(&self.entries[i].path).as_deref() == Some(path));
        }
        archive_candidates(path)?
            .iter()
            .find_map(|c| find(&self.entries, c))
    }
}

fn find(entries: &[IndexEntry], path: &str) -> Option<usize> {
    entries.binary_search_by(|e| e.path.as_str().cmp(path)).ok()
}

/// A backup's tree from the cache (`cache`), built now if it is not there.
fn tree(layout: &Layout, state: &State, id: &str) -> Result<Arc<Tree>, EngineError> {
    cache::tree(layout, state, id)
}

/// A backup's tree read from its archive and put in path order: what a cold listing pays.
fn build(layout: &Layout, state: &State, id: &str) -> Result<Tree, EngineError> {
    let mut reader = open_backup(layout, state, id)?;
    // Taken, not cloned: the reader is dropped here and the entries are most of its memory.
    Ok(Tree::new(std::mem::take(&mut reader.index.entries)))
}

fn listed(e: &IndexEntry, name: String, path: String, id: &str) -> ListedEntry {
    let mtime = OffsetDateTime::from_unix_timestamp(e.mtime.secs)
        .map(|t| t + time::Duration::nanoseconds(i64::from(e.mtime.nanos)))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    ListedEntry {
        name,
        path,
        kind: e.kind.name(),
        size: e.size,
        mode: e.mode,
        mtime,
        target: match &e.kind {
            EntryKind::Symlink { target } => Some(target.clone()),
            _ => None,
        },
        holder: match &e.location {
            Location::Parent { backup } => backup.clone(),
            _ => id.to_string(),
        },
    }
}

/// One page of the directory at original path `path` (`/` or empty: the source roots and
/// dumps), entries sorted by name after `after`, at most `limit` of them.
pub fn list(
    config: &Config,
    state: &State,
    id: &str,
    path: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Listing, BrowseError> {
    let t = tree(&Layout::of(config), state, id)?;
    let limit = limit.clamp(1, MAX_LIMIT);
    let mut out = Listing {
        backup_id: id.to_string(),
        path: if path.is_empty() {
            "/".into()
        } else {
            path.to_string()
        },
        entries: Vec::new(),
        next: None,
    };
    if path.is_empty() || path == "/" {
        let start = after.map_or(0, |a| t.roots().partition_point(|(n, _)| n.as_str() <= a));
        for (name, i) in &t.roots()[start..] {
            if out.entries.len() == limit {
                out.next = out.entries.last().map(|e| e.name.clone());
                break;
            }
            out.entries
                .push(listed(&t.entries[*i], name.clone(), name.clone(), id));
        }
        return Ok(out);
    }
    let not_found = || BrowseError::NotFound {
        path: path.to_string(),
    };
    let dir = t.lookup(path).ok_or_else(not_found)?;
    let dir_entry = &t.entries[dir];
    if dir_entry.kind != EntryKind::Dir {
        return Err(BrowseError::NotADirectory {
            path: path.to_string(),
        });
    }
    let prefix = format!("{}/", dir_entry.path);
    let base = original(&dir_entry.path).ok_or_else(not_found)?;
    let base = base.trim_end_matches('/');
    let start = match after {
        Some(a) => {
            let from = format!("{prefix}{a}");
            t.entries
                .partition_point(|e| e.path.as_str() <= from.as_str())
        }
        None => t
            .entries
            .partition_point(|e| e.path.as_str() < prefix.as_str()),
    };
    for e in &t.entries[start..] {
        let Some(name) = e.path.strip_prefix(&prefix) else {
            break;
        };
        if name.contains('/') {
            continue;
        }
        if out.entries.len() == limit {
            out.next = out.entries.last().map(|e| e.name.clone());
            break;
        }
        out.entries
            .push(listed(e, name.to_string(), format!("{base}/{name}"), id));
    }
    Ok(out)
}

/// A file (or dump) found by original path, and where its bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    pub archive_path: String,
    pub size: u64,
    /// The backup whose archive holds the bytes.
    pub holder: String,
}

/// The file or dump at original path `path` of backup `id`.
pub fn find_file(
    config: &Config,
    state: &State,
    id: &str,
    path: &str,
) -> Result<FileRef, BrowseError> {
    let t = tree(&Layout::of(config), state, id)?;
    let e = &t.entries[t.lookup(path).ok_or_else(|| BrowseError::NotFound {
        path: path.to_string(),
    })?];
    if !e.kind.has_content() {
        return Err(BrowseError::NotAFile {
            path: path.to_string(),
        });
    }
    Ok(FileRef {
        archive_path: e.path.clone(),
        size: e.size,
        holder: match &e.location {
            Location::Parent { backup } => backup.clone(),
            _ => id.to_string(),
        },
    })
}

/// Writes bytes `from..=to` of the file to `out`, reading only the frames that hold the file
/// (from the holder's archive), and checks the whole file's CRC on the way.
pub fn read_range(
    config: &Config,
    state: &State,
    file: &FileRef,
    from: u64,
    to: u64,
    out: &mut dyn Write,
) -> Result<(), EngineError> {
    let mut reader = open_backup(&Layout::of(config), state, &file.holder)?;
    let mut window = Window {
        out,
        pos: 0,
        from,
        end: to.saturating_add(1),
    };
    reader
        .read_entry(&file.archive_path, &mut window)
        .map_err(|source| EngineError::Archive {
            context: format!("reading {} of backup {}", file.archive_path, file.holder),
            source,
        })?;
    Ok(())
}

/// Passes on only the bytes in `from..end` of what is written through it.
struct Window<'a> {
    out: &'a mut dyn Write,
    pos: u64,
    from: u64,
    end: u64,
}

impl Write for Window<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let start = self.pos;
        let stop = start + buf.len() as u64;
        let lo = self.from.max(start);
        let hi = self.end.min(stop);
        if lo < hi {
            self.out
                .write_all(&buf[(lo - start) as usize..(hi - start) as usize])?;
        }
        self.pos = stop;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: EntryKind, location: Location) -> IndexEntry {
        IndexEntry {
            path: path.into(),
            kind,
            mode: 0o644,
            mtime: crate::archive::Mtime::new(1_700_000_000, 5),
            size: 3,
            crc32: 0,
            location,
        }
    }

    #[test]
    fn the_top_level_is_the_source_roots_and_dumps_and_paths_find_their_entries() {
        let here = Location::Here { offset: 0 };
        // Walk order, not path order, as the engine writes it.
        let tree = Tree::new(vec![
            entry("files/srv/app", EntryKind::Dir, Location::None),
            entry("files/srv/app/z", EntryKind::File, here.clone()),
            entry("files/srv/app/b", EntryKind::Dir, Location::None),
            entry("files/srv/app/b/c", EntryKind::File, here.clone()),
            entry("files/srv/app/gone", EntryKind::Deletion, Location::None),
            entry("config/etc/app.toml", EntryKind::File, here.clone()),
            entry(
                "databases/app.postgresql.sql",
                EntryKind::Stream,
                here.clone(),
            ),
            entry("stray", EntryKind::File, here),
        ]);
        let roots: Vec<&str> = tree.roots().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(roots, ["/etc/app.toml", "/srv/app", "db:app"]);
        let at = |p: &str| tree.lookup(p).map(|i| tree.entries[i].path.as_str());
        assert_eq!(at("/srv/app/b/c"), Some("files/srv/app/b/c"));
        assert_eq!(at("/srv/app/b/"), Some("files/srv/app/b"));
        assert_eq!(at("/etc/app.toml"), Some("config/etc/app.toml"));
        assert_eq!(at("db:app"), Some("databases/app.postgresql.sql"));
        for missing in [
            "/srv/app/gone",
            "/srv",
            "db:other",
            "stray",
            "/srv/app/../app",
        ] {
            assert_eq!(at(missing), None, "{missing}");
        }
        let e = listed(
            &tree.entries[tree.lookup("/srv/app/z").unwrap()],
            "z".into(),
            "/srv/app/z".into(),
            "b1",
        );
        assert_eq!((e.kind, e.holder.as_str()), ("file", "b1"));
        assert_eq!(e.mtime, "2023-11-14T22:13:20.000000005Z");
        let parent = entry(
            "files/x",
            EntryKind::File,
            Location::Parent {
                backup: "b0".into(),
            },
        );
        assert_eq!(listed(&parent, "x".into(), "/x".into(), "b1").holder, "b0");
    }

    #[test]
    fn a_window_passes_on_only_its_slice() {
        let data: Vec<u8> = (0..=255u8).collect();
        for (from, to) in [(0, 255), (10, 20), (0, 0), (255, 255), (100, 400)] {
            let mut got = Vec::new();
            let mut w = Window {
                out: &mut got,
                pos: 0,
                from,
                end: to + 1,
            };
            for chunk in data.chunks(7) {
                w.write_all(chunk).unwrap();
            }
            let want = &data[from as usize..=(to as usize).min(255)];
            assert_eq!(got, want, "{from}-{to}");
        }
    }
}
