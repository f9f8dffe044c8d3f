//! Database sources against this machine's servers: PostgreSQL and MariaDB dumps that load
//! back after the table is dropped, an SQLite snapshot taken under a concurrent writer, and
//! dump commands that fail or succeed. Servers that are down are started, not skipped.

use crate::engine::Rig;
use backupd::config::{DatabaseKind, DatabaseSource};
use backupd::decide::RunOutcome;
use backupd::events::{BackupMode, BackupType};
use backupd::projections::RunStatus;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

pub(crate) fn output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not come up");
        std::thread::sleep(Duration::from_millis(300));
    }
}

pub(crate) fn ensure_postgres() {
    let up = || {
        Command::new("pg_isready")
            .args(["-h", "127.0.0.1", "-p", "5432"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !up() {
        let version = std::fs::read_dir("/etc/postgresql")
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .file_name();
        let _ = Command::new("pg_ctlcluster")
            .arg("--skip-systemctl-redirect")
            .arg(version)
            .args(["main", "start"])
            .status();
        wait_for("PostgreSQL", up);
    }
}

pub(crate) fn ensure_mariadb() {
    let up = || {
        Command::new("mariadb-admin")
            .args(["-h", "127.0.0.1", "-uroot", "ping"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !up() {
        let _ = Command::new("start-stop-daemon")
            .args([
                "--start",
                "--oknodo",
                "--background",
                "--exec",
                "/usr/sbin/mariadbd",
            ])
            .status();
        wait_for("MariaDB", up);
    }
}

fn psql(sql: &str) -> String {
    output(
        Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test"])
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql]),
    )
}

fn mariadb(sql: &str) -> String {
    output(Command::new("mariadb").args([
        "-h",
        "127.0.0.1",
        "-uroot",
        "test",
        "-N",
        "-B",
        "-e",
        sql,
    ]))
}

fn db_source(name: &str, kind: DatabaseKind) -> DatabaseSource {
    DatabaseSource {
        name: name.into(),
        kind,
        url: None,
        path: None,
        command: None,
        password_env: None,
        password_file: None,
    }
}

#[test]
fn postgresql_dump_loads_back_after_the_table_is_dropped() {
    ensure_postgres();
    let table = unique("bk_pg");
    psql(&format!(
        "CREATE TABLE {table} (id int PRIMARY KEY, name text, amount numeric(12,2));
         INSERT INTO {table} SELECT i, 'row ''' || i || ''' ünïcode', i * 1.25 FROM generate_series(1, 500) i;"
    ));
    let before = psql(&format!("SELECT * FROM {table} ORDER BY id"));
    assert_eq!(before.lines().count(), 500);

    let dir = tempfile::tempdir().unwrap();
    let mut src = db_source("app", DatabaseKind::Postgresql);
    src.url = Some("postgresql://postgres@127.0.0.1:5432/test".into());
    let mut rig = Rig::new(&dir.path().join("data"), vec![], vec![src]);
    let job = rig.job("db", BackupType::Database, BackupMode::Full);
    let (rec, _) = rig.backup(&job);
    psql(&format!("DROP TABLE {table}"));

    let target = dir.path().join("restored");
    let sum = rig.restore(&rec.id, &target, &[], false).unwrap();
    assert_eq!(sum.dumps.len(), 1);
    let dump = &sum.dumps[0];
    assert_eq!(dump.path, target.join("databases/app.postgresql.sql"));
    assert!(
        dump.load_with.starts_with("psql -d test -f "),
        "{}",
        dump.load_with
    );
    // Other tables of the shared `test` database may already exist: errors about them are
    // expected (no ON_ERROR_STOP); the dropped table comes back.
    output(
        Command::new("psql")
            .args([
                "-q",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "test",
                "-f",
            ])
            .arg(&dump.path)
            .stderr(Stdio::null()),
    );
    let after = psql(&format!("SELECT * FROM {table} ORDER BY id"));
    psql(&format!("DROP TABLE {table}"));
    assert_eq!(after, before);
}

#[test]
fn mariadb_dump_loads_back_after_the_table_is_dropped() {
    ensure_mariadb();
    let table = unique("bk_my");
    mariadb(&format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, name VARCHAR(100), amount DECIMAL(12,2)) CHARACTER SET utf8mb4;
         INSERT INTO {table} SELECT seq, CONCAT('row \\'', seq, '\\' ünïcode'), seq * 1.25 FROM seq_1_to_500;"
    ));
    let before = mariadb(&format!("SELECT * FROM {table} ORDER BY id"));
    assert_eq!(before.lines().count(), 500);

    let dir = tempfile::tempdir().unwrap();
    let mut src = db_source("shop", DatabaseKind::Mysql);
    src.url = Some("mysql://root@127.0.0.1:3306/test".into());
    let mut rig = Rig::new(&dir.path().join("data"), vec![], vec![src]);
    let job = rig.job("db", BackupType::Database, BackupMode::Full);
    let (rec, _) = rig.backup(&job);
    mariadb(&format!("DROP TABLE {table}"));

    let target = dir.path().join("restored");
    let sum = rig.restore(&rec.id, &target, &[], false).unwrap();
    assert_eq!(sum.dumps.len(), 1);
    let dump = &sum.dumps[0];
    assert!(
        dump.load_with.starts_with("mariadb test < "),
        "{}",
        dump.load_with
    );
    let status = Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-uroot", "test"])
        .stdin(std::fs::File::open(&dump.path).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let after = mariadb(&format!("SELECT * FROM {table} ORDER BY id"));
    mariadb(&format!("DROP TABLE {table}"));
    assert_eq!(after, before);
}

pub(crate) fn sqlite_count(db: &Path) -> u64 {
    output(
        Command::new("sqlite3")
            .args(["-readonly", "-cmd", ".timeout 5000"])
            .arg(db)
            .arg("SELECT count(*) FROM t"),
    )
    .trim()
    .parse()
    .unwrap()
}

#[test]
fn sqlite_snapshot_under_a_concurrent_writer_passes_integrity_check() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    output(Command::new("sqlite3").arg(&db).arg(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
         INSERT INTO t(payload) SELECT hex(randomblob(150)) FROM n;",
    ));
    let initial = sqlite_count(&db);

    // A writer committing small transactions all through the backup.
    let mut writer = Command::new("sqlite3")
        .arg(&db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = writer.stdin.take().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let feeding = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            writeln!(stdin, ".timeout 10000").unwrap();
            while !stop.load(Ordering::Relaxed) {
                let batch = "BEGIN; INSERT INTO t(payload) SELECT hex(randomblob(300)) FROM t LIMIT 20; \
                             UPDATE t SET payload = hex(randomblob(100)) WHERE id % 97 = 0; COMMIT;\n";
                if stdin.write_all(batch.as_bytes()).is_err() {
                    break;
                }
                // A busy application, not a lock held 100% of the time: without gaps a
                // rollback-journal database starves every reader, the snapshot included.
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    wait_for("the writer's first commits", || sqlite_count(&db) > initial);

    let mut src = db_source("app", DatabaseKind::Sqlite);
    src.path = Some(db.clone());
    let mut rig = Rig::new(&dir.path().join("data"), vec![], vec![src]);
    let job = rig.job("db", BackupType::Database, BackupMode::Full);
    let (rec, _) = rig.backup(&job);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    feeding.join().unwrap();
    assert!(writer.wait().unwrap().success());
    let last = sqlite_count(&db);

    let target = dir.path().join("restored");
    let sum = rig.restore(&rec.id, &target, &[], false).unwrap();
    let snap = target.join("databases/app.sqlite");
    assert!(sum.dumps[0].load_with.starts_with("cp "), "{:?}", sum.dumps);
    let check = output(
        Command::new("sqlite3")
            .arg(&snap)
            .arg("PRAGMA integrity_check"),
    );
    assert_eq!(check.trim(), "ok");
    let in_snapshot = sqlite_count(&snap);
    assert!(
        initial < in_snapshot && in_snapshot < last,
        "the snapshot ({in_snapshot} rows) was not taken while the writer ran ({initial} → {last})"
    );
}

#[test]
fn a_failing_dump_command_fails_the_run_with_its_stderr_and_records_no_backup() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut bad = db_source("bad", DatabaseKind::Command);
    bad.command = Some(vec![
        "sh".into(),
        "-c".into(),
        "echo 'CREATE TABLE half;'; echo 'pg_dumpall: connection refused' >&2; exit 1".into(),
    ]);
    let mut rig = Rig::new(&data, vec![], vec![bad]);
    let job = rig.job("db", BackupType::Database, BackupMode::Full);
    let error = match rig.run(&job) {
        RunOutcome::Failed { error, kind } => {
            assert_eq!(kind, backupd::error::ErrorKind::Transient, "{error}");
            error
        }
        other => panic!("expected a failure, got {other:?}"),
    };
    assert!(error.contains("connection refused"), "{error}");
    assert!(error.contains("exited with 1"), "{error}");
    let (backups, status) = rig.service.read(|s| {
        (
            s.catalog.backups.len(),
            s.schedule
                .runs
                .values()
                .map(|r| r.status)
                .collect::<Vec<_>>(),
        )
    });
    assert_eq!(backups, 0);
    assert_eq!(status, vec![RunStatus::Failed]);
    let left: Vec<_> = std::fs::read_dir(data.join("backups"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // The run's scratch directory went with it.
    let scratch_left = std::fs::read_dir(data.join("tmp"))
        .map(|rd| rd.count())
        .unwrap_or(0);
    assert_eq!(scratch_left, 0);
}

#[test]
fn a_dump_command_streams_its_stdout_as_the_dump() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = db_source("all", DatabaseKind::Command);
    // 3 MB of output: more than a pipe buffer, so it must stream.
    cmd.command = Some(vec![
        "sh".into(),
        "-c".into(),
        "seq 1 400000; echo done >&2".into(),
    ]);
    let mut rig = Rig::new(&dir.path().join("data"), vec![], vec![cmd]);
    let job = rig.job("db", BackupType::Database, BackupMode::Full);
    let (rec, _) = rig.backup(&job);
    let target = dir.path().join("r");
    rig.restore(&rec.id, &target, &[], false).unwrap();
    let expected = output(Command::new("seq").args(["1", "400000"]));
    assert_eq!(
        std::fs::read_to_string(target.join("databases/all.dump")).unwrap(),
        expected
    );
}

#[test]
fn a_mysql_password_reaches_the_tool_and_never_the_error() {
    ensure_mariadb();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut src = db_source("shop", DatabaseKind::Mysql);
    // root has an empty password here: a wrong one must be refused by the server, which
    // shows the password got there (through the defaults file, not argv).
    src.url = Some("mysql://root:Wr0ng%20S3cret@127.0.0.1:3306/test".into());
    let mut rig = Rig::new(&data, vec![], vec![src]);
    let job = rig.job("db", BackupType::Database, BackupMode::Full);
    let error = match rig.run(&job) {
        RunOutcome::Failed { error, kind } => {
            assert_eq!(kind, backupd::error::ErrorKind::Refused, "{error}");
            error
        }
        other => panic!("expected a failure, got {other:?}"),
    };
    assert!(error.contains("Access denied"), "{error}");
    assert!(error.contains("database \"shop\""), "{error}");
    assert!(!error.contains("S3cret"), "{error}");
    // The defaults file went with the run's scratch directory.
    let left = std::fs::read_dir(data.join("tmp"))
        .map(|rd| rd.count())
        .unwrap_or(0);
    assert_eq!(left, 0);
}

/// Runs `sql` in PostgreSQL database `db` (stopping at the first error); its output.
pub(crate) fn psql_on(db: &str, sql: &str) -> String {
    output(
        Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", db])
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql]),
    )
}

/// Runs `sql` in MariaDB database `db`; its output.
pub(crate) fn mariadb_on(db: &str, sql: &str) -> String {
    output(Command::new("mariadb").args([
        "-h",
        "127.0.0.1",
        "-uroot",
        "-N",
        "-B",
        "-D",
        db,
        "-e",
        sql,
    ]))
}

/// Drops the databases a test created, however the test ends.
#[derive(Default)]
pub(crate) struct Dbs {
    pub(crate) pg: Vec<String>,
    pub(crate) my: Vec<String>,
}

impl Drop for Dbs {
    fn drop(&mut self) {
        for db in &self.pg {
            let _ = Command::new("psql")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-X",
                    "-q",
                    "-c",
                ])
                .arg(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
                .output();
        }
        for db in &self.my {
            let _ = Command::new("mariadb")
                .args(["-h", "127.0.0.1", "-uroot", "-e"])
                .arg(format!("DROP DATABASE IF EXISTS `{db}`"))
                .output();
        }
    }
}
