//! SQLite sources: a consistent snapshot taken with SQLite's online backup API (the SQLite
//! built into the binary, so nothing has to be installed), then streamed into the archive as
//! one complete database file.
//!
//! The source is opened read-only: it is never modified (no checkpoint, no journal rollback,
//! a wrong path is never created), and a WAL-mode database is read through its WAL as any
//! reader would. The copy goes page by page in batches, each batch in its own short read
//! transaction with a pause after it, so a rollback-journal writer waits for at most one batch
//! (a WAL writer never waits for a reader). A writer that commits between two batches makes
//! SQLite restart the copy from the first page (its documented behaviour); after
//! `Pace::max_restarts` such restarts the rest is copied in one step, inside one read
//! transaction, so a constantly written database is still snapshotted (a rollback-journal writer
//! then waits for that one step, as it would for any long reader). Only a lock held past the
//! busy timeout fails the snapshot.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{dump_err, io_failed, EngineError};
use crate::archive::ArchiveError;
use crate::config::DatabaseSource;
use crate::error::ErrorKind;

/// How the copy is paced; `Pace::DEFAULT` in service, shorter ones in tests.
#[derive(Debug, Clone, Copy)]
struct Pace {
    /// Pages copied per step (one short read transaction each).
    pages_per_step: i32,
    /// Sleep between steps: room for a rollback-journal writer to take its lock.
    pause: Duration,
    /// Restarts caused by writers before the rest is copied in one step.
    max_restarts: u32,
    /// How long another connection's lock is waited out before the snapshot fails.
    busy_timeout: Duration,
}

impl Pace {
    const DEFAULT: Pace = Pace {
        // 4 MiB at the default 4 KiB page size: a few milliseconds of copying per step.
        pages_per_step: 1024,
        pause: Duration::from_millis(5),
        max_restarts: 3,
        busy_timeout: Duration::from_secs(30),
    };
}

/// What the copy took (for tests and the reasoning above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Copied {
    /// Times a writer's commit made SQLite start over.
    restarts: u32,
    /// The copy was finished in one step after `max_restarts`.
    one_pass: bool,
}

/// Why a snapshot failed, before it is worded for the source.
enum Failure {
    /// Another connection held its lock past the busy timeout.
    Busy(Duration),
    Sqlite(&'static str, rusqlite::Error),
    Io(&'static str, std::io::Error),
}

/// Snapshots the SQLite database of `src` into `scratch` and hands the snapshot file to `sink`;
/// the snapshot is removed on every path.
pub(super) fn dump(
    src: &DatabaseSource,
    scratch: &Path,
    sink: &mut dyn FnMut(&mut dyn Read) -> Result<(), ArchiveError>,
) -> Result<(), EngineError> {
    dump_paced(src, scratch, sink, Pace::DEFAULT).map(|_| ())
}

fn dump_paced(
    src: &DatabaseSource,
    scratch: &Path,
    sink: &mut dyn FnMut(&mut dyn Read) -> Result<(), ArchiveError>,
    pace: Pace,
) -> Result<Copied, EngineError> {
    let path = src.path.as_deref().unwrap_or(Path::new(""));
    let path = fs::canonicalize(path)
        .map_err(|e| io_failed(src, &format!("database file {}", path.display()), e))?;
    if !path.is_file() {
        return Err(dump_err(
            src,
            format!("{} is not a database file", path.display()),
        ));
    }
    // The name is one plain file name (checked by `archive_name` before any dump).
    let snapshot = Removed(scratch.join(format!("{}.snapshot.db", src.name)));
    let copied = take(&path, &snapshot.0, pace).map_err(|f| failed(src, &path, f))?;
    let mut f = File::open(&snapshot.0).map_err(|e| io_failed(src, "opening the snapshot", e))?;
    sink(&mut f).map_err(|e| EngineError::Archive {
        context: format!("storing the dump of database {:?}", src.name),
        source: e,
    })?;
    Ok(copied)
}

/// A failure on the database at `path`, named by the source, with its kind: a lock held too long
/// passes, a file that is not a database is the configuration's to fix, a corrupt one is damage.
fn failed(src: &DatabaseSource, path: &Path, f: Failure) -> EngineError {
    let p = path.display();
    let (reason, kind) = match f {
        Failure::Busy(t) => (
            format!("{p} stayed locked by another connection for more than {t:?}; no snapshot was taken"),
            ErrorKind::Transient,
        ),
        Failure::Sqlite(_, e) if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) => {
            (format!("{p} is not an SQLite database ({e})"), ErrorKind::Config)
        }
        Failure::Sqlite(_, e)
            if matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
            ) =>
        {
            (
                format!("{p} is locked by another connection ({e}); no snapshot was taken"),
                ErrorKind::Transient,
            )
        }
        Failure::Sqlite(doing, e) => {
            let kind = match e.sqlite_error_code() {
                Some(ErrorCode::DatabaseCorrupt) => ErrorKind::Integrity,
                Some(ErrorCode::DiskFull | ErrorCode::OutOfMemory) => ErrorKind::Transient,
                Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
                    ErrorKind::Refused
                }
                _ => ErrorKind::Internal,
            };
            (format!("{doing} {p}: {e}"), kind)
        }
        Failure::Io(doing, e) => (format!("{doing} of {p}: {e}"), ErrorKind::of_io(&e)),
    };
    EngineError::DumpFailed {
        name: src.name.clone(),
        reason,
        kind,
    }
}

/// Copies the database at `path` into a new owner-only file `dest` with the online backup API.
fn take(path: &Path, dest: &Path, pace: Pace) -> Result<Copied, Failure> {
    // Read-only: the source is never written, and a missing file is never created. One thread
    // uses each connection, so SQLite's per-connection mutex is not needed.
    let from = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Failure::Sqlite("opening", e))?;
    from.busy_timeout(pace.busy_timeout)
        .map_err(|e| Failure::Sqlite("opening", e))?;
    // The file exists (0600) before SQLite opens it, so the snapshot is never readable by others.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dest)
        .map_err(|e| Failure::Io("creating the snapshot", e))?;
    let mut to = Connection::open_with_flags(
        dest,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Failure::Sqlite("creating the snapshot of", e))?;
    // A scratch file read once and removed: no journal, no fsync (the archive is what is kept).
    to.pragma_update_and_check(None, "journal_mode", "OFF", |r| r.get::<_, String>(0))
        .and_then(|_| to.pragma_update(None, "synchronous", "OFF"))
        .map_err(|e| Failure::Sqlite("creating the snapshot of", e))?;
    let copied = {
        let backup = Backup::new(&from, &mut to).map_err(|e| Failure::Sqlite("snapshotting", e))?;
        copy(&backup, pace)?
    };
    to.close()
        .map_err(|(_, e)| Failure::Sqlite("writing the snapshot of", e))?;
    Ok(copied)
}

/// Steps the backup to its end; see the module comment for the pacing and the restarts.
fn copy(backup: &Backup<'_, '_>, pace: Pace) -> Result<Copied, Failure> {
    let mut restarts = 0;
    let mut left: Option<i32> = None;
    let mut last_progress = Instant::now();
    loop {
        let one_pass = restarts >= pace.max_restarts;
        let pages = if one_pass { -1 } else { pace.pages_per_step };
        match backup
            .step(pages)
            .map_err(|e| Failure::Sqlite("snapshotting", e))?
        {
            StepResult::Done => return Ok(Copied { restarts, one_pass }),
            StepResult::More => {
                // A step that copies pages always lowers `remaining`; one that does not
                // started over from the first page.
                let now_left = backup.progress().remaining;
                if left.is_some_and(|l| now_left >= l) {
                    restarts += 1;
                }
                left = Some(now_left);
                last_progress = Instant::now();
                thread::sleep(pace.pause);
            }
            // Busy: the source's busy handler has already waited; Locked cannot happen with a
            // private source connection but is retried the same way.
            _ => {
                if last_progress.elapsed() >= pace.busy_timeout {
                    return Err(Failure::Busy(pace.busy_timeout));
                }
                thread::sleep(pace.pause);
            }
        }
    }
}

/// Removes the snapshot (and any journal SQLite left beside it) when dropped.
struct Removed(PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
        for suffix in ["-journal", "-wal", "-shm"] {
            let mut side = self.0.clone().into_os_string();
            side.push(suffix);
            let _ = fs::remove_file(side);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseKind;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn source(path: &Path) -> DatabaseSource {
        DatabaseSource {
            name: "app".into(),
            kind: DatabaseKind::Sqlite,
            url: None,
            path: Some(path.to_path_buf()),
            command: None,
            password_env: None,
            password_file: None,
        }
    }

    /// A database of `rows` rows of ~1 KiB in table `t`.
    fn make(path: &Path, wal: bool, rows: u32) -> Connection {
        let c = Connection::open(path).unwrap();
        if wal {
            c.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
                .unwrap();
        }
        c.execute_batch(&format!(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
             INSERT INTO t(payload) SELECT randomblob(1000) FROM n;"
        ))
        .unwrap();
        c
    }

    fn count(c: &Connection) -> i64 {
        c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    /// Runs the dump into memory; also reports the snapshot file's mode while it existed.
    fn run(
        src: &DatabaseSource,
        scratch: &Path,
        pace: Pace,
    ) -> (Result<Copied, EngineError>, Vec<u8>, Option<u32>) {
        let (mut bytes, mut mode) = (Vec::new(), None);
        let snap = scratch.join("app.snapshot.db");
        let res = dump_paced(
            src,
            scratch,
            &mut |r| {
                mode = Some(fs::metadata(&snap).unwrap().permissions().mode() & 0o777);
                r.read_to_end(&mut bytes)
                    .map(|_| ())
                    .map_err(|e| ArchiveError::Io {
                        context: "reading the snapshot".into(),
                        source: e,
                    })
            },
            pace,
        );
        (res, bytes, mode)
    }

    fn empty(dir: &Path) -> bool {
        fs::read_dir(dir).unwrap().next().is_none()
    }

    /// The database file and its WAL with their bytes. Not the `-shm` index: every reader
    /// takes its read marks there, a read-only one too.
    fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.to_string_lossy().ends_with("-shm"))
            .map(|p| {
                let b = fs::read(&p).unwrap();
                (p, b)
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_wal_database_is_snapshotted_whole_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let (data, scratch) = (dir.path().join("data"), dir.path().join("scratch"));
        fs::create_dir_all(&data).unwrap();
        fs::create_dir_all(&scratch).unwrap();
        let db = data.join("app.db");
        let writer = make(&db, true, 300);
        // Rows still only in the WAL: the snapshot must see them through it.
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer
            .execute_batch("INSERT INTO t(payload) SELECT randomblob(10) FROM t LIMIT 50")
            .unwrap();
        let before = files(&data);
        assert_eq!(before.len(), 2, "the database and its WAL");
        assert!(before[1].0.ends_with("app.db-wal") && !before[1].1.is_empty());

        let (res, bytes, mode) = run(&source(&db), &scratch, Pace::DEFAULT);
        assert_eq!(
            res.unwrap(),
            Copied {
                restarts: 0,
                one_pass: false
            }
        );
        assert_eq!(mode, Some(0o600), "the snapshot is owner-only");
        assert!(empty(&scratch), "the snapshot is removed");
        // The source's files are byte for byte what they were: nothing checkpointed or written.
        assert!(files(&data) == before, "the source's files changed");

        let restored = dir.path().join("restored.db");
        fs::write(&restored, &bytes).unwrap();
        let c = Connection::open(&restored).unwrap();
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        assert_eq!(count(&c), 350);
    }

    #[test]
    fn a_file_that_is_no_database_a_missing_file_and_a_directory_fail_naming_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("scratch");
        fs::create_dir_all(&scratch).unwrap();
        let text = dir.path().join("notes.txt");
        fs::write(
            &text,
            "not a database at all, but long enough to have a header. ".repeat(20),
        )
        .unwrap();
        let missing = dir.path().join("gone.db");
        for (path, says, kind) in [
            (&text, "is not an SQLite database", ErrorKind::Config),
            (&missing, "No such file", ErrorKind::Config),
            (&scratch, "is not a database file", ErrorKind::Config),
        ] {
            let (res, bytes, _) = run(&source(path), &scratch, Pace::DEFAULT);
            let e = res.unwrap_err();
            assert!(
                matches!(e, EngineError::Dump { .. } | EngineError::DumpFailed { .. }),
                "{e:?}"
            );
            assert_eq!(e.kind(), kind, "{e:?}");
            let msg = e.to_string();
            assert!(msg.starts_with("database \"app\": "), "{msg}");
            assert!(msg.contains(says), "{msg}");
            assert!(bytes.is_empty());
            assert!(empty(&scratch), "{msg}: the snapshot is removed");
        }
        assert!(!missing.exists(), "a wrong path is never created");
        assert!(fs::read(&text).unwrap().starts_with(b"not a database"));
    }

    #[test]
    fn a_lock_held_past_the_busy_timeout_fails_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("scratch");
        fs::create_dir_all(&scratch).unwrap();
        let db = dir.path().join("app.db");
        let holder = make(&db, false, 10);
        // A rollback-journal writer in the middle of committing: no reader gets in.
        holder
            .execute_batch("BEGIN EXCLUSIVE; INSERT INTO t(payload) VALUES (x'00');")
            .unwrap();
        let pace = Pace {
            busy_timeout: Duration::from_millis(300),
            ..Pace::DEFAULT
        };
        let started = Instant::now();
        let (res, _, _) = run(&source(&db), &scratch, pace);
        let e = res.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transient, "a lock passes: {e:?}");
        let msg = e.to_string();
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(msg.starts_with("database \"app\": "), "{msg}");
        assert!(msg.contains("locked by another connection"), "{msg}");
        assert!(empty(&scratch));
        holder.execute_batch("COMMIT").unwrap();
        // Once the lock is gone the same source snapshots.
        let (res, _, _) = run(&source(&db), &scratch, pace);
        res.unwrap();
    }

    /// Tiny steps and long pauses: the writer commits between every two steps, so the copy
    /// restarts until it is taken in one step, and that snapshot is consistent.
    #[test]
    fn a_writer_committing_between_steps_is_outlasted_by_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("scratch");
        fs::create_dir_all(&scratch).unwrap();
        let db = dir.path().join("app.db");
        let before = count(&make(&db, true, 500));
        let stop = Arc::new(AtomicBool::new(false));
        let writing = {
            let (db, stop) = (db.clone(), stop.clone());
            thread::spawn(move || {
                let c = Connection::open(&db).unwrap();
                c.busy_timeout(Duration::from_secs(10)).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    c.execute("INSERT INTO t(payload) VALUES (randomblob(500))", [])
                        .unwrap();
                    thread::sleep(Duration::from_millis(1));
                }
            })
        };
        let pace = Pace {
            pages_per_step: 10,
            pause: Duration::from_millis(20),
            ..Pace::DEFAULT
        };
        let (res, bytes, _) = run(&source(&db), &scratch, pace);
        // Commits after the snapshot too, so its count lies strictly inside.
        thread::sleep(Duration::from_millis(100));
        stop.store(true, Ordering::Relaxed);
        writing.join().unwrap();
        let after = count(&Connection::open(&db).unwrap());
        assert_eq!(
            res.unwrap(),
            Copied {
                restarts: 3,
                one_pass: true
            }
        );
        let restored = dir.path().join("restored.db");
        fs::write(&restored, &bytes).unwrap();
        let c = Connection::open(&restored).unwrap();
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        let n = count(&c);
        assert!(before < n && n < after, "{before} < {n} < {after}");
        assert!(empty(&scratch));
    }
}
