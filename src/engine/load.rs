//! Loading a dump into a database: the dump's bytes are read from the backup (through the
//! chain: from the parent's archive when the parent holds them, as browsing reads a file) and
//! streamed into the loader's stdin, never written to disk on the way.
//!
//! - PostgreSQL: the database is created when missing (`psql` on the maintenance database
//!   `postgres`), then `psql -v ON_ERROR_STOP=1 --single-transaction` loads the plain SQL. A
//!   load stopped half-way (a damaged archive, a cancel) kills psql before its stdin closes, so
//!   the transaction is rolled back, never committed short.
//! - MariaDB/MySQL: `CREATE DATABASE IF NOT EXISTS`, then `mariadb` (or `mysql`) on it.
//! - SQLite: the snapshot is written to a temporary name beside the target and renamed onto it.
//! - `command` sources: refused; nobody knows the tool that loads their output.
//!
//! The live database is never the target unless asked by name (`live`): the default target is
//! a new database named after the backup (`<live name>_restored_<created yyyymmddThhmmss>`,
//! for SQLite `<data_dir>/restores/<source>-<backup id>.sqlite`). Credentials travel as the
//! dumps' do (`PG*` variables, an owner-only defaults file), never in argv or messages.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

mod server;

use server::{Counted, Loader};

use super::browse::{self, BrowseError, FileRef};
use super::dump::{extension, DbUrl};
use super::paths::DB_PREFIX;
use super::EngineError;
use crate::config::{Config, DatabaseKind};
use crate::error::{ErrorKind, Front};
use crate::progress::{Cancel, ProgressHandle};
use crate::projections::State;

/// What to load, and where: the API's restore body with `database`, or `restore --database`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadRequest {
    /// The database source's name (the dump `db:<source>` of the backup).
    pub source: String,
    /// The database (a name; for SQLite an absolute file path) to load into; `None` = a new one
    /// named after the backup.
    pub into: Option<String>,
    /// Loading into the source's live database is allowed.
    pub live: bool,
    /// SQLite: replace an existing file.
    pub force: bool,
    /// Resolve and check everything, load nothing.
    pub dry_run: bool,
}

/// What a load did (or, dry, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadSummary {
    pub backup_id: String,
    /// The source name.
    pub database: String,
    /// `postgresql`, `mysql` or `sqlite`.
    pub kind: &'static str,
    /// The database (or SQLite file) loaded into.
    pub into: String,
    /// Whether `into` is the source's live database.
    pub live: bool,
    /// The loading program (`psql`, `mariadb`, `mysql`; `file` for SQLite).
    pub tool: String,
    /// The backup whose archive held the dump: this one, or a parent.
    pub holder: String,
    /// Bytes streamed into the loader (a dry run: the dump's size).
    pub bytes: u64,
    pub duration_ms: u64,
    pub dry_run: bool,
}

/// What loading can fail with; each names the source.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("backup {backup_id:?} has no dump of database {source_name:?}")]
    NotInBackup {
        backup_id: String,
        source_name: String,
    },
    /// Nothing here knows how to load this dump (a `command` source, a source no longer
    /// configured or configured as another kind).
    #[error("database {source_name:?}: cannot be loaded: {reason}")]
    NoLoader { source_name: String, reason: String },
    #[error("{}", live_refused(source_name, database, Front::Cli))]
    Live {
        source_name: String,
        database: String,
    },
    #[error("{}", exists(path, Front::Cli))]
    Exists { path: PathBuf },
    #[error("{reason}")]
    Into { reason: String },
    /// The loader ran and failed; `reason` has its exit and the tail of its stderr.
    #[error("database {source_name:?}: loading into {into:?} failed: {reason}")]
    Failed {
        source_name: String,
        into: String,
        reason: String,
        kind: ErrorKind,
    },
}

fn live_refused(source: &str, database: &str, front: Front) -> String {
    format!(
        "{database:?} is the live database of source {source:?}: loading into it replaces its \
         tables; name another database with into, or use {} to load into the live one",
        front.flag("live")
    )
}

fn exists(path: &Path, front: Front) -> String {
    format!(
        "{} exists (use {} to replace it)",
        path.display(),
        front.flag("force")
    )
}

impl LoadError {
    /// The message as `front` shows it: overrides named as that front end's parameters.
    pub fn message_for(&self, front: Front) -> String {
        match self {
            LoadError::Engine(e) => e.message_for(front),
            LoadError::Live {
                source_name,
                database,
            } => live_refused(source_name, database, front),
            LoadError::Exists { path } => exists(path, front),
            other => other.to_string(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            LoadError::Engine(e) => e.kind(),
            LoadError::NotInBackup { .. } | LoadError::NoLoader { .. } | LoadError::Into { .. } => {
                ErrorKind::Config
            }
            LoadError::Live { .. } | LoadError::Exists { .. } => ErrorKind::Refused,
            LoadError::Failed { kind, .. } => *kind,
        }
    }
}

/// Loads the dump of `req.source` in backup `backup_id` into a database (see the module).
/// Stopping `cancel` kills the loader's process group (its transaction is rolled back).
pub fn load(
    config: &Config,
    state: &State,
    backup_id: &str,
    req: &LoadRequest,
    cancel: &Cancel,
) -> Result<LoadSummary, LoadError> {
    load_with(config, state, backup_id, req, cancel, None)
}

/// `load` as a run: `progress` is told the dump's size once it is found, then the bytes streamed
/// into the loader (or the SQLite file) as they go; its stop switch is the load's `cancel`.
pub fn load_tracked(
    config: &Config,
    state: &State,
    backup_id: &str,
    req: &LoadRequest,
    progress: &ProgressHandle,
) -> Result<LoadSummary, LoadError> {
    let loaded = load_with(
        config,
        state,
        backup_id,
        req,
        progress.cancel(),
        Some(progress),
    );
    if let Ok(s) = &loaded {
        progress.update(|p| {
            p.files_done = 1;
            p.bytes_done = s.bytes;
        });
    }
    loaded
}

fn load_with(
    config: &Config,
    state: &State,
    backup_id: &str,
    req: &LoadRequest,
    cancel: &Cancel,
    progress: Option<&ProgressHandle>,
) -> Result<LoadSummary, LoadError> {
    let started = Instant::now();
    let backup =
        state
            .catalog
            .backups
            .get(backup_id)
            .ok_or_else(|| EngineError::UnknownBackup {
                id: backup_id.to_string(),
            })?;
    let file = browse::find_file(
        config,
        state,
        backup_id,
        &format!("{DB_PREFIX}{}", req.source),
    )
    .map_err(|e| match e {
        BrowseError::Engine(e) => LoadError::Engine(e),
        _ => LoadError::NotInBackup {
            backup_id: backup_id.to_string(),
            source_name: req.source.clone(),
        },
    })?;
    if let Some(p) = progress {
        p.update(|p| {
            p.phase = "loading".into();
            p.files_total = Some(1);
            p.bytes_total = Some(file.size);
        });
    }
    let tell = |bytes: u64| {
        if let Some(p) = progress {
            p.update(|p| p.bytes_done = bytes);
        }
    };
    let tell: Option<&dyn Fn(u64)> = progress.map(|_| &tell as &dyn Fn(u64));
    let kind =
        dump_kind(&file.archive_path, &req.source).ok_or_else(|| LoadError::NotInBackup {
            backup_id: backup_id.to_string(),
            source_name: req.source.clone(),
        })?;
    let no_loader = |reason: String| LoadError::NoLoader {
        source_name: req.source.clone(),
        reason,
    };
    if kind == DatabaseKind::Command {
        return Err(no_loader(
            "it is the output of a dump command, and no loader for it is known; restore it as a \
             file (target, paths [\"db:<source>\"]) and load it with the command's counterpart"
                .into(),
        ));
    }
    let configured = config.databases.iter().find(|s| s.name == req.source);
    let stamp = backup
        .record
        .created_at
        .get()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]"
        ))
        .map_err(|e| EngineError::Internal {
            reason: format!("formatting a backup's creation time: {e}"),
        })?;
    let mut summary = LoadSummary {
        backup_id: backup_id.to_string(),
        database: req.source.clone(),
        kind: kind_name(kind),
        into: String::new(),
        live: false,
        tool: String::new(),
        holder: file.holder.clone(),
        bytes: file.size,
        duration_ms: 0,
        dry_run: req.dry_run,
    };
    if kind == DatabaseKind::Sqlite {
        let into = match &req.into {
            Some(p) => {
                let into = sqlite_target(p)?;
                // The service's own archives are no place for it (the default `restores/` is
                // the one exception, chosen by the service).
                if super::check_request(config, &into, &[]).is_err() {
                    return Err(LoadError::Into {
                        reason: format!(
                            "into {p:?} is inside the data directory; name a file elsewhere, \
                             or leave into out for <data_dir>/restores/"
                        ),
                    });
                }
                into
            }
            None => config
                .data_dir
                .join("restores")
                .join(format!("{}-{backup_id}.sqlite", req.source)),
        };
        let live_path = configured
            .filter(|s| s.kind == DatabaseKind::Sqlite)
            .and_then(|s| s.path.clone());
        summary.live = live_path.is_some_and(|p| same_file(&p, &into));
        summary.into = into.display().to_string();
        summary.tool = "file".into();
        if summary.live && !req.live {
            return Err(LoadError::Live {
                source_name: req.source.clone(),
                database: summary.into,
            });
        }
        if into.symlink_metadata().is_ok() && !req.force {
            return Err(LoadError::Exists { path: into });
        }
        if !req.dry_run {
            summary.bytes = write_sqlite(config, state, &file, &into, tell)?;
        }
        summary.duration_ms = started.elapsed().as_millis() as u64;
        return Ok(summary);
    }
    let Some(src) = configured else {
        return Err(no_loader(format!(
            "no database source {:?} is configured, so where to load it is unknown; restore it \
             as a file (target, paths [\"db:{}\"])",
            req.source, req.source
        )));
    };
    if src.kind != kind {
        return Err(no_loader(format!(
            "the dump is {} but the source is now configured as {}",
            kind_name(kind),
            kind_name(src.kind)
        )));
    }
    let url = DbUrl::of(src)?;
    let live_name = match kind {
        DatabaseKind::Postgresql => url
            .pg_env(src)?
            .into_iter()
            .rev()
            .find(|(k, _)| *k == "PGDATABASE")
            .map(|(_, v)| v)
            .or_else(|| url.user.clone()),
        _ => url.database.clone(),
    };
    let into = match &req.into {
        Some(n) => database_name(n)?,
        None => format!(
            "{}_restored_{stamp}",
            live_name.as_deref().unwrap_or(&req.source)
        ),
    };
    summary.live = live_name.as_deref() == Some(into.as_str());
    summary.into = into.clone();
    if summary.live && !req.live {
        return Err(LoadError::Live {
            source_name: req.source.clone(),
            database: into,
        });
    }
    let loader = Loader {
        config,
        state,
        file: &file,
        src,
        into: &into,
        cancel,
        tell,
    };
    let (tool, bytes) = if req.dry_run {
        let tool = if kind == DatabaseKind::Postgresql {
            "psql"
        } else {
            "mariadb"
        };
        (tool.to_string(), file.size)
    } else if kind == DatabaseKind::Postgresql {
        loader.postgresql(&url)?
    } else {
        loader.mysql(&url)?
    };
    summary.tool = tool;
    summary.bytes = bytes;
    summary.duration_ms = started.elapsed().as_millis() as u64;
    Ok(summary)
}

fn kind_name(kind: DatabaseKind) -> &'static str {
    match kind {
        DatabaseKind::Postgresql => "postgresql",
        DatabaseKind::Mysql => "mysql",
        DatabaseKind::Sqlite => "sqlite",
        DatabaseKind::Command => "command",
    }
}

/// The kind of dump `databases/<source>.<ext>` is, by its extension.
fn dump_kind(archive_path: &str, source: &str) -> Option<DatabaseKind> {
    let ext = archive_path
        .strip_prefix("databases/")?
        .strip_prefix(source)?
        .strip_prefix('.')?;
    [
        DatabaseKind::Postgresql,
        DatabaseKind::Mysql,
        DatabaseKind::Sqlite,
        DatabaseKind::Command,
    ]
    .into_iter()
    .find(|k| extension(*k) == ext)
}

/// A database name as given: one that every server takes as it is (no quoting surprises in a
/// name, and within PostgreSQL's 63 bytes, which it would silently cut).
fn database_name(name: &str) -> Result<String, LoadError> {
    let bad = |why: &str| LoadError::Into {
        reason: format!("into {name:?} is not a usable database name: {why}"),
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > 63 {
        return Err(bad("longer than 63 bytes"));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err(bad("control characters, '/' and '\\' are not allowed"));
    }
    Ok(name.to_string())
}

/// An SQLite target: an absolute file path without `.`/`..` components.
fn sqlite_target(path: &str) -> Result<PathBuf, LoadError> {
    let p = PathBuf::from(path);
    // By the text: `Path::components` quietly drops a `.` in the middle.
    let plain = path
        .split('/')
        .skip(1)
        .all(|c| !c.is_empty() && c != "." && c != "..");
    if !p.is_absolute() || !plain || path.ends_with('/') || path.contains('\0') {
        return Err(LoadError::Into {
            reason: format!(
                "into {path:?} must be an absolute file path (no '.' or '..') for an SQLite dump"
            ),
        });
    }
    Ok(p)
}

/// The same file: the same path, or (both existing) the same inode.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    a == b
        || matches!((fs::metadata(a), fs::metadata(b)),
            (Ok(x), Ok(y)) if x.dev() == y.dev() && x.ino() == y.ino())
}

/// The snapshot written beside `into` under a temporary name, synced, then renamed onto it: a
/// reader never sees half a database.
fn write_sqlite(
    config: &Config,
    state: &State,
    file: &FileRef,
    into: &Path,
    tell: Option<&dyn Fn(u64)>,
) -> Result<u64, EngineError> {
    let io_err = |what: String| {
        move |e| EngineError::Io {
            context: what,
            source: e,
        }
    };
    let dir = into.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    let name = into.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.backupd-load-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let written = (|| {
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err(format!("creating {}", tmp.display())))?;
        let mut counted = Counted::new(&mut out).telling(tell);
        browse::read_range(config, state, file, 0, u64::MAX, &mut counted)?;
        let bytes = counted.bytes;
        out.sync_all()
            .map_err(io_err(format!("syncing {}", tmp.display())))?;
        fs::rename(&tmp, into).map_err(io_err(format!("renaming onto {}", into.display())))?;
        super::layout::fsync_dir(dir)?;
        Ok(bytes)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests;
