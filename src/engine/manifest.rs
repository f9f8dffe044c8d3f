//! The sidecar manifest next to each archive: the stat facts of every file when it was read,
//! which the next incremental compares against. The archive's index holds size, mode and mtime;
//! inode and ctime live only here (they mean nothing after a restore, so not in the format).
//!
//! One JSON object per line: `{"path": .., "size": .., "mtime": [s, ns], "ino": .., "ctime": [s, ns]}`.
//! A missing or unreadable sidecar is not fatal: the comparison falls back to the index alone.

use rustc_hash::FxHashMap as HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::layout::io_err;
use super::EngineError;

/// What marks a file as possibly changed: any difference means its content is read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    pub size: u64,
    pub mtime: (i64, i64),
    pub ino: u64,
    /// Changes with every write, chmod, chown or rename, even when mtime is put back.
    pub ctime: (i64, i64),
}

impl Stat {
    pub fn of(m: &std::fs::Metadata) -> Stat {
        Stat {
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ino: m.ino(),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Line {
    path: String,
    #[serde(flatten)]
    stat: Stat,
}

/// Writes the sidecar (to a `.partial` the caller syncs and renames).
pub fn write<'a>(
    path: &Path,
    files: impl Iterator<Item = (&'a str, Stat)>,
) -> Result<File, EngineError> {
    let f = File::create_new(path).map_err(io_err(format!("creating {}", path.display())))?;
    let mut w = BufWriter::new(f);
    for (p, stat) in files {
        let line = Line {
            path: p.to_string(),
            stat,
        };
        serde_json::to_writer(&mut w, &line)
            .map_err(std::io::Error::from)
            .and_then(|()| w.write_all(b"\n"))
            .map_err(io_err(format!("writing {}", path.display())))?;
    }
    let f = w
        .into_inner()
        .map_err(|e| e.into_error())
        .map_err(io_err(format!("writing {}", path.display())))?;
    f.sync_all()
        .map_err(io_err(format!("syncing {}", path.display())))?;
    Ok(f)
}

/// Reads a sidecar; `None` when it is missing or damaged (then only the index is compared).
pub fn read(path: &Path) -> Option<HashMap<String, Stat>> {
    let f = File::open(path).ok()?;
    let mut map = HashMap::default();
    for line in BufReader::new(f).lines() {
        let line: Line = serde_json::from_str(&line.ok()?).ok()?;
        map.insert(line.path, line.stat);
    }
    Some(map)
}
