//! Database restore over HTTP against the real binary and this machine's servers: PostgreSQL
//! and MariaDB dumps loaded into fresh databases (`POST backups/{id}/restore` with `database`),
//! loaded again over the schema they left, the live database refused unless asked by name, an
//! SQLite snapshot into a file, a command source refused, a load from an incremental, a loader
//! that cannot connect, and the offline `restore --database`.
//!
//! Each test works in databases of its own (named with the pid and a clock reading) and drops
//! them at the end, failed or not: the shared `test` databases are left alone, so no other
//! test's load (`--clean` drops what its dump holds) reaches into these.

use crate::databases::{
    ensure_mariadb, ensure_postgres, mariadb_on, output, psql_on, sqlite_count, unique, Dbs,
};
use crate::support::{offline, stdout_ok, Served};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// The rows of every table of the PostgreSQL source, in order: what a restore must reproduce.
fn pg_rows(db: &str) -> Vec<String> {
    ["items", "notes"]
        .iter()
        .map(|t| psql_on(db, &format!("SELECT * FROM {t} ORDER BY id")))
        .collect()
}

fn pg_counts(db: &str) -> (u64, u64) {
    let c = |t: &str| {
        psql_on(db, &format!("SELECT count(*) FROM {t}"))
            .trim()
            .parse()
            .unwrap()
    };
    (c("items"), c("notes"))
}

fn my_rows(db: &str) -> Vec<String> {
    ["orders", "order_lines"]
        .iter()
        .map(|t| mariadb_on(db, &format!("SELECT * FROM {t} ORDER BY id")))
        .collect()
}

fn my_counts(db: &str) -> (u64, u64) {
    let c = |t: &str| {
        mariadb_on(db, &format!("SELECT count(*) FROM {t}"))
            .trim()
            .parse()
            .unwrap()
    };
    (c("orders"), c("order_lines"))
}

/// A PostgreSQL source database with two tables (and a serial sequence), created for the test.
fn pg_source(dbs: &mut Dbs) -> String {
    ensure_postgres();
    let db = unique("bkr_pg");
    psql_on("postgres", &format!("CREATE DATABASE \"{db}\""));
    dbs.pg.push(db.clone());
    psql_on(
        &db,
        "CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, price numeric(10,2));
         INSERT INTO items (name, price) SELECT 'item ''' || i || ''' ü', i * 0.5 FROM generate_series(1, 1200) i;
         CREATE TABLE notes (id int PRIMARY KEY, item int REFERENCES items(id), body text);
         INSERT INTO notes SELECT i, i, repeat('n', i % 50) FROM generate_series(1, 37) i;",
    );
    db
}

fn my_source(dbs: &mut Dbs) -> String {
    ensure_mariadb();
    let db = unique("bkr_my");
    output(
        Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-uroot", "-e"])
            .arg(format!("CREATE DATABASE `{db}` CHARACTER SET utf8mb4")),
    );
    dbs.my.push(db.clone());
    mariadb_on(
        &db,
        "CREATE TABLE orders (id INT PRIMARY KEY, customer VARCHAR(100), total DECIMAL(12,2));
         INSERT INTO orders SELECT seq, CONCAT('cust \\'', seq, '\\' ü'), seq * 2.5 FROM seq_1_to_800;
         CREATE TABLE order_lines (id INT PRIMARY KEY, order_id INT, qty INT);
         INSERT INTO order_lines SELECT seq, seq % 800 + 1, seq % 7 FROM seq_1_to_2100;",
    );
    db
}

fn config(pg: &str, my: &str, lite: &Path) -> String {
    format!(
        r#"[[sources.database]]
name = "pg"
kind = "postgresql"
url = "postgresql://postgres@127.0.0.1:5432/{pg}"

[[sources.database]]
name = "my"
kind = "mysql"
url = "mysql://root@127.0.0.1:3306/{my}"

[[sources.database]]
name = "lite"
kind = "sqlite"
path = {lite:?}

[[sources.database]]
name = "cmd"
kind = "command"
command = ["printf", "-- a dump of nothing known\n"]
"#
    )
}

fn backup(server: &Served, job: &str) -> String {
    let run = server.run(job);
    assert_eq!(run["status"], "succeeded", "{run}");
    run["backup_id"].as_str().unwrap().to_string()
}

fn restore(server: &Served, id: &str, body: Value) -> (u16, Value) {
    server.send("POST", &format!("/backups/{id}/restore"), Some(body))
}

/// `<yyyymmddThhmmss>` of the backup's creation, as the default target's name carries it.
fn stamp(server: &Served, id: &str) -> String {
    let created = server.get(&format!("/backups/{id}"))["created_at"]
        .as_str()
        .unwrap()
        .to_string();
    created[..19].replace(['-', ':'], "")
}

fn sqlite_db(dir: &Path, rows: u32) -> std::path::PathBuf {
    let db = dir.join("live.db");
    output(Command::new("sqlite3").arg(&db).arg(format!(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
         INSERT INTO t(payload) SELECT hex(randomblob(40)) FROM n;"
    )));
    db
}

#[test]
fn postgresql_and_mariadb_dumps_load_into_fresh_databases_and_again_over_their_schema() {
    let mut dbs = Dbs::default();
    let (pg, my) = (pg_source(&mut dbs), my_source(&mut dbs));
    let dir = tempfile::tempdir().unwrap();
    let lite = sqlite_db(dir.path(), 10);
    let server = Served::with_config(&config(&pg, &my, &lite));
    let id = backup(&server, "daily_full_backup");
    let (pg_want, my_want) = (pg_rows(&pg), my_rows(&my));
    assert_eq!(pg_counts(&pg), (1200, 37));
    assert_eq!(my_counts(&my), (800, 2100));

    // PostgreSQL into a database that does not exist yet: created, then loaded.
    let fresh = unique("bkr_pg_into");
    dbs.pg.push(fresh.clone());
    let (code, body) = restore(&server, &id, json!({"database": "pg", "into": fresh}));
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        (
            &body["database"],
            &body["into"],
            &body["tool"],
            &body["kind"]
        ),
        (
            &json!("pg"),
            &json!(fresh),
            &json!("psql"),
            &json!("postgresql")
        ),
        "{body}"
    );
    assert_eq!(
        (&body["live"], &body["holder"]),
        (&json!(false), &json!(id)),
        "{body}"
    );
    assert!(body["bytes"].as_u64().unwrap() > 10_000, "{body}");
    assert!(body["duration_ms"].is_u64(), "{body}");
    assert_eq!(pg_counts(&fresh), (1200, 37));
    assert_eq!(pg_rows(&fresh), pg_want);

    // Again over the schema it left (changed since): the dump's DROPs replace every table.
    psql_on(
        &fresh,
        "DELETE FROM notes WHERE id > 30; INSERT INTO items (name) VALUES ('extra')",
    );
    let (code, again) = restore(&server, &id, json!({"database": "pg", "into": fresh}));
    assert_eq!(code, 200, "{again}");
    assert_eq!(again["bytes"], body["bytes"], "{again}");
    assert_eq!(pg_counts(&fresh), (1200, 37));
    assert_eq!(pg_rows(&fresh), pg_want);

    // MariaDB, the same two ways.
    let fresh_my = unique("bkr_my_into");
    dbs.my.push(fresh_my.clone());
    for round in 0..2 {
        let (code, body) = restore(&server, &id, json!({"database": "my", "into": fresh_my}));
        assert_eq!(code, 200, "round {round}: {body}");
        assert_eq!(
            (&body["into"], &body["tool"]),
            (&json!(fresh_my), &json!("mariadb")),
            "{body}"
        );
        assert_eq!(my_counts(&fresh_my), (800, 2100), "round {round}");
        assert_eq!(my_rows(&fresh_my), my_want, "round {round}");
        mariadb_on(
            &fresh_my,
            "DELETE FROM order_lines WHERE id > 5; INSERT INTO orders VALUES (9999, 'x', 1)",
        );
    }

    // Without `into`: a new database named after the live one and the backup's creation.
    let stamp = stamp(&server, &id);
    let default_my = format!("{my}_restored_{stamp}");
    dbs.my.push(default_my.clone());
    let (code, body) = restore(&server, &id, json!({"database": "my"}));
    assert_eq!((code, &body["into"]), (200, &json!(default_my)), "{body}");
    assert_eq!(my_counts(&default_my), (800, 2100));
    let default_pg = format!("{pg}_restored_{stamp}");
    dbs.pg.push(default_pg.clone());
    let (code, body) = restore(&server, &id, json!({"database": "pg", "dry_run": true}));
    assert_eq!(
        (code, &body["into"], &body["dry_run"]),
        (200, &json!(default_pg), &json!(true)),
        "{body}"
    );
    let exists = psql_on(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{default_pg}'"),
    );
    assert_eq!(exists.trim(), "0", "a dry run created the database");

    // The live database only by name and with "live": true.
    psql_on(
        &pg,
        "INSERT INTO notes VALUES (1000, 1, 'after the backup')",
    );
    for (body, db) in [
        (json!({"database": "pg", "into": pg}), &pg),
        (json!({"database": "my", "into": my}), &my),
    ] {
        let (code, refused) = restore(&server, &id, body);
        assert_eq!(
            (code, &refused["error"]["field"]),
            (409, &json!("live")),
            "{refused}"
        );
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("\"live\": true") && message.contains(db.as_str()),
            "{message}"
        );
    }
    assert_eq!(
        pg_counts(&pg),
        (1200, 38),
        "a refused load touched the live database"
    );
    let (code, body) = restore(
        &server,
        &id,
        json!({"database": "pg", "into": pg, "live": true}),
    );
    assert_eq!((code, &body["live"]), (200, &json!(true)), "{body}");
    assert_eq!(pg_rows(&pg), pg_want);

    // What the request names wrong, by field.
    let cases = [
        (json!({"database": "nope"}), 404, "database"),
        (json!({"database": "cmd"}), 422, "database"),
        (json!({"database": "pg", "target": "/tmp/x"}), 400, "target"),
        (json!({"database": "pg", "paths": ["db:pg"]}), 400, "paths"),
        (json!({"database": "pg", "into": ""}), 400, "into"),
    ];
    for (body, status, field) in cases {
        let (code, e) = restore(&server, &id, body.clone());
        assert_eq!(
            (code, &e["error"]["field"]),
            (status, &json!(field)),
            "{body}: {e}"
        );
    }
    let (_, e) = restore(&server, &id, json!({"database": "cmd"}));
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("restore it as a file"),
        "{e}"
    );
    server.stop();
}

#[test]
fn sqlite_loads_into_a_file_from_an_incremental_and_a_loader_that_fails_says_why() {
    let mut dbs = Dbs::default();
    let (pg, my) = (pg_source(&mut dbs), my_source(&mut dbs));
    let dir = tempfile::tempdir().unwrap();
    let lite = sqlite_db(dir.path(), 250);
    let server = Served::with_config(&config(&pg, &my, &lite));
    let full = backup(&server, "daily_full_backup");
    output(
        Command::new("sqlite3")
            .arg(&lite)
            .arg("INSERT INTO t(payload) VALUES ('later')"),
    );
    let inc = backup(&server, "incremental_backup");
    assert_eq!(
        server.get(&format!("/backups/{inc}"))["parent"],
        json!(full)
    );

    // Into a file of the caller's: the incremental's snapshot (251 rows), the full's (250).
    let copy = dir.path().join("copies/copy.db");
    let (code, body) = restore(&server, &inc, json!({"database": "lite", "into": copy}));
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        (&body["tool"], &body["kind"]),
        (&json!("file"), &json!("sqlite")),
        "{body}"
    );
    assert_eq!(
        body["bytes"].as_u64().unwrap(),
        std::fs::metadata(&copy).unwrap().len()
    );
    assert_eq!(sqlite_count(&copy), 251);
    let (code, e) = restore(&server, &full, json!({"database": "lite", "into": copy}));
    assert_eq!((code, &e["error"]["field"]), (409, &json!("into")), "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"force\": true"),
        "{e}"
    );
    assert_eq!(sqlite_count(&copy), 251);
    let (code, body) = restore(
        &server,
        &full,
        json!({"database": "lite", "into": copy, "force": true}),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(sqlite_count(&copy), 250);
    // The default file, and the live one refused.
    let (code, body) = restore(&server, &inc, json!({"database": "lite"}));
    assert_eq!(code, 200, "{body}");
    let default = server
        .data_dir()
        .join(format!("restores/lite-{inc}.sqlite"));
    assert_eq!(body["into"], json!(default), "{body}");
    assert_eq!(sqlite_count(&default), 251);
    let (code, e) = restore(&server, &inc, json!({"database": "lite", "into": lite}));
    assert_eq!((code, &e["error"]["field"]), (409, &json!("live")), "{e}");
    let inside = server.data_dir().join("backups/x.sqlite");
    let (code, e) = restore(&server, &inc, json!({"database": "lite", "into": inside}));
    assert_eq!((code, &e["error"]["field"]), (400, &json!("into")), "{e}");

    // PostgreSQL and MariaDB from the incremental, through its chain.
    let into_pg = unique("bkr_pg_inc");
    let into_my = unique("bkr_my_inc");
    dbs.pg.push(into_pg.clone());
    dbs.my.push(into_my.clone());
    let (code, body) = restore(&server, &inc, json!({"database": "pg", "into": into_pg}));
    assert_eq!((code, &body["backup_id"]), (200, &json!(inc)), "{body}");
    assert_eq!(pg_counts(&into_pg), (1200, 37));
    let (code, body) = restore(&server, &inc, json!({"database": "my", "into": into_my}));
    assert_eq!(code, 200, "{body}");
    assert_eq!(my_counts(&into_my), (800, 2100));

    // The same data with the sources pointing at a server that is not there, a password in
    // the URL: the loader's failure is a typed error with its stderr, and no password.
    let holder = server.stop();
    let moved = config(&pg, &my, &lite)
        .replace("postgres@127.0.0.1:5432", "postgres:s3cretpw@127.0.0.1:1")
        .replace("root@127.0.0.1:3306", "root:s3cretpw@127.0.0.1:1");
    let file = holder.path().join("moved.toml");
    std::fs::write(&file, moved).unwrap();
    let server = Served::with_config_file(&file, &holder.path().join("data"));
    for source in ["pg", "my"] {
        let (code, e) = restore(
            &server,
            &inc,
            json!({"database": source, "into": unique("bkr_never")}),
        );
        assert_eq!(
            (code, &e["error"]["code"]),
            (503, &json!("load_failed")),
            "{e}"
        );
        let message = e["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("database {source:?}")),
            "{message}"
        );
        assert!(!message.contains("s3cretpw"), "{message}");
    }
    // Every load is a restore run: the earlier ones succeeded into their databases, these two
    // failed with the loader's kind; a refused request (the 409s above) recorded none.
    let runs = server.get("/runs?kind=restore")["runs"]
        .as_array()
        .unwrap()
        .clone();
    for (db, source) in [(&into_pg, "pg"), (&into_my, "my")] {
        let r: Vec<_> = runs.iter().filter(|r| r["target"] == json!(db)).collect();
        assert_eq!(r.len(), 1, "{runs:?}");
        assert_eq!(
            (&r[0]["status"], &r[0]["database"], &r[0]["backup_id"]),
            (&json!("succeeded"), &json!(source), &json!(inc)),
            "{}",
            r[0]
        );
        assert!(r[0]["bytes"].as_u64().unwrap() > 1000, "{}", r[0]);
    }
    let failed: Vec<_> = runs.iter().filter(|r| r["status"] == "failed").collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed.iter().all(|r| r["error_kind"] == "transient"
            && !r["error"].as_str().unwrap().contains("s3cretpw")),
        "{failed:?}"
    );
    // Three SQLite loads, the two above and the two failures; none for the three refusals.
    assert_eq!(runs.len(), 7, "{runs:?}");
    server.stop();

    // Offline, the CLI: the full's MariaDB dump into a database of its own; the live refused.
    let cfg = holder.path().join("backupd.toml");
    let data = holder.path().join("data");
    let cli_db = unique("bkr_my_cli");
    dbs.my.push(cli_db.clone());
    let cli = |rest: &[&str]| {
        let mut args: Vec<std::ffi::OsString> = ["restore", full.as_str()].map(Into::into).to_vec();
        args.extend(rest.iter().map(Into::into));
        args.extend(["--config".into(), cfg.clone().into_os_string()]);
        offline(args, &data)
    };
    let out = stdout_ok(cli(&["--database", "my", "--into", &cli_db]));
    assert!(
        out.contains(&format!("into {cli_db} (mysql, mariadb)")),
        "{out}"
    );
    assert_eq!(my_counts(&cli_db), (800, 2100));
    let out = cli(&["--database", "pg", "--into", &pg]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--live"), "{err}");
}
