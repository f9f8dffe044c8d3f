//! SQLite sources need nothing installed: the real binary backs up and restores one with no
//! `sqlite3` program on its PATH, and a snapshot taken while a WAL-mode writer commits is a
//! consistent database holding a moment between the writer's first and last commits.

use crate::engine::Rig;
use crate::support::{bin, reply, stderr_lines, terminate, wait_for_line};
use backupd::config::{DatabaseKind, DatabaseSource};
use backupd::events::{BackupMode, BackupType};
use rusqlite::Connection;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A database of `rows` rows of `size` random bytes in table `t`.
fn make(path: &Path, wal: bool, rows: u32, size: u32) {
    let c = Connection::open(path).unwrap();
    if wal {
        let mode: String = c
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
    c.execute_batch(&format!(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
         INSERT INTO t(payload) SELECT randomblob({size}) FROM n;"
    ))
    .unwrap();
}

fn count(db: &Path) -> i64 {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap()
}

/// `PRAGMA integrity_check` of a restored snapshot.
fn integrity(db: &Path) -> String {
    let c = Connection::open(db).unwrap();
    c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// Every row of `t` in order, to compare a restored copy with its source.
fn rows(db: &Path) -> Vec<(i64, Vec<u8>)> {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut st = c.prepare("SELECT id, payload FROM t ORDER BY id").unwrap();
    let all = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    all
}

#[test]
fn an_sqlite_source_is_backed_up_and_restored_with_no_sqlite3_on_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    make(&db, false, 200, 300);
    // The service's whole PATH: an empty directory, so no sqlite3 (nor any other program).
    let no_tools = dir.path().join("empty-path");
    std::fs::create_dir(&no_tools).unwrap();
    let config = dir.path().join("backupd.toml");
    std::fs::write(
        &config,
        format!("[[sources.database]]\nname = \"app\"\nkind = \"sqlite\"\npath = {db:?}\n"),
    )
    .unwrap();
    let data = dir.path().join("data");
    // The restore below goes into the test's temporary directory: allowed there.
    let (config, _scratch) = crate::support::with_scratch_targets(&config);
    let mut child = bin()
        .env("PATH", &no_tools)
        .args(["serve", "--bind", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stderr_lines(&mut child);
    let line = wait_for_line(&mut child, &lines, "listening on ", 60);
    let server = KilledOnDrop(Some(child));
    let root = line.split_once("listening on ").unwrap().1;
    let base = format!(
        "{}{}",
        root.split_whitespace().next().unwrap(),
        backupd::api::BASE
    );
    let call = |method: &str, path: &str, body: Option<Value>| -> (u16, Value) {
        let req = ureq::request(method, &format!("{base}{path}"));
        reply(match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        })
    };

    let (code, job) = call(
        "POST",
        "/scheduler/jobs",
        Some(json!({
            "id": "db", "name": "db", "trigger_type": "cron",
            "trigger_config": {"hour": 5, "minute": 0},
            "backup_config": {"type": "database"}
        })),
    );
    assert_eq!(code, 201, "{job}");
    let (code, run) = call("POST", "/scheduler/jobs/db/run", None);
    assert_eq!(code, 202, "{run}");
    let path = format!(
        "/runs/{}",
        run["run_id"].as_str().unwrap().replace('@', "%40")
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let run = loop {
        let (_, r) = call("GET", &path, None);
        if r["status"] != "running" {
            break r;
        }
        assert!(Instant::now() < deadline, "the run never finished: {r}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(run["status"], "succeeded", "{run}");

    let (_, list) = call("GET", "/backups", None);
    let backups = list["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 1, "{list}");
    let id = backups[0]["id"].as_str().unwrap().to_string();
    let target = dir.path().join("restored");
    let (code, sum) = call(
        "POST",
        &format!("/backups/{id}/restore"),
        Some(json!({ "target": target })),
    );
    assert_eq!(code, 200, "{sum}");
    server.stop();

    let snap = target.join("databases/app.sqlite");
    assert_eq!(integrity(&snap), "ok");
    assert_eq!(rows(&snap).len(), 200);
    assert!(rows(&snap) == rows(&db), "the restored rows differ");
}

/// The server child, killed if the test fails before `stop` (an orphan would keep the test
/// harness's output pipe open).
struct KilledOnDrop(Option<std::process::Child>);

impl KilledOnDrop {
    fn stop(mut self) {
        terminate(self.0.take().unwrap());
    }
}

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn a_snapshot_under_a_concurrent_wal_writer_is_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    // ~6 MB: more pages than one step copies, so the writer's commits restart the copy.
    make(&db, true, 6000, 1000);
    let before = count(&db);

    let stop = Arc::new(AtomicBool::new(false));
    let writing = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let c = Connection::open(&db).unwrap();
            c.busy_timeout(Duration::from_secs(10)).unwrap();
            let mut commits = 0u64;
            while !stop.load(Ordering::Relaxed) {
                c.execute_batch(
                    "BEGIN; INSERT INTO t(payload) SELECT randomblob(300) FROM t LIMIT 5;
                     UPDATE t SET payload = randomblob(100) WHERE id % 97 = 0; COMMIT;",
                )
                .unwrap();
                commits += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            commits
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&db) == before {
        assert!(Instant::now() < deadline, "the writer never committed");
        std::thread::sleep(Duration::from_millis(10));
    }

    let src = DatabaseSource {
        name: "app".into(),
        kind: DatabaseKind::Sqlite,
        url: None,
        path: Some(db.clone()),
        command: None,
        password_env: None,
        password_file: None,
    };
    let mut rig = Rig::new(&dir.path().join("data"), vec![], vec![src]);
    let job = rig.job("db", BackupType::Database, BackupMode::Full);
    let (rec, _) = rig.backup(&job);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let commits = writing.join().unwrap();
    let after = count(&db);

    let target = dir.path().join("restored");
    let sum = rig.restore(&rec.id, &target, &[], false).unwrap();
    let snap = target.join("databases/app.sqlite");
    assert_eq!(sum.dumps[0].path, snap);
    assert_eq!(integrity(&snap), "ok");
    let n = count(&snap);
    assert!(
        before < n && n < after,
        "the snapshot ({n} rows) was not taken while the writer ran ({before} → {after}, {commits} commits)"
    );
}
