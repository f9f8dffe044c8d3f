//! Issue 14 item 5: database passwords come from the environment (`password_env`) or a file
//! (`password_file`) and never appear in an event, a log line, an API answer, a report or an
//! error. A unique secret is planted as the password (by both ways, and inside a URL), backups
//! succeed and fail, a health check, a report, database restores and their errors run; then
//! every answer fetched (notifications, health history, performance, the state, job details,
//! whoami included), the webhook bodies the failures sent, the log files, `backupd events` and
//! `state`, an offline command's failure, and every byte under the data directory (the redb log,
//! reports, archives) are searched for it.

use crate::databases::{ensure_mariadb, ensure_postgres, psql_on, unique, Dbs};
use crate::notify::servers::Receiver;
use crate::support::{bin, offline, Opts, Served};
use serde_json::{json, Value};
use std::path::Path;

const VAR: &str = "BKPD_IT_PG_PASSWORD";

/// Every regular file below `dir` that holds `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    found
}

/// Every log file's text.
fn log_text(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        text += &std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
    }
    text
}

fn job(server: &Served, id: &str, sources: &[&str]) {
    let (code, body) = server.send(
        "POST",
        "/scheduler/jobs",
        Some(json!({
            "job_id": id,
            "name": id,
            "trigger_type": "interval",
            "trigger_config": {"hours": 24},
            "backup_config": {"type": "database", "options": {"sources": sources}}
        })),
    );
    assert_eq!(code, 201, "{body}");
}

#[test]
fn a_planted_password_appears_nowhere() {
    ensure_postgres();
    ensure_mariadb();
    let secret = unique("PlantedPw");
    let in_url = unique("UrlPw");
    let mut dbs = Dbs::default();
    let live = unique("bkp_secret_src");
    dbs.pg.push(live.clone());
    psql_on("postgres", &format!("CREATE DATABASE \"{live}\""));
    psql_on(
        &live,
        "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2), (3);",
    );

    let dir = tempfile::tempdir().unwrap();
    let pw_file = dir.path().join("db.password");
    std::fs::write(&pw_file, format!("{secret}\n")).unwrap();
    // A remote (issue 16) whose credentials file holds the planted secret as its secret key:
    // the real S3 server refuses it, so uploads fail and the health probe is denied, with
    // reasons recorded and logged, none of them holding the secret.
    let s3 = crate::remote::server::S3::start();
    // The failures' notices go to a webhook: what it receives is searched too.
    let hook = Receiver::start();
    let s3_creds = dir.path().join("s3.credentials");
    std::fs::write(
        &s3_creds,
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {secret}\n",
            crate::remote::server::ACCESS
        ),
    )
    .unwrap();
    // trust authentication on PostgreSQL takes any password: the backups through it succeed
    // with the secret sent; MariaDB's root has none, so the secret sent there is refused.
    let config = format!(
        r#"[[sources.database]]
name = "pg_env"
kind = "postgresql"
url = "postgresql://postgres@127.0.0.1:5432/{live}"
password_env = "{VAR}"

[[sources.database]]
name = "pg_down"
kind = "postgresql"
url = "postgresql://postgres@127.0.0.1:1/{live}"
password_file = {pw_file:?}

[[sources.database]]
name = "my_file"
kind = "mysql"
url = "mysql://root@127.0.0.1:3306/test"
password_file = {pw_file:?}

[[sources.database]]
name = "pg_url"
kind = "postgresql"
url = "postgresql://postgres:{in_url}@127.0.0.1:5432/{live}"

[[remotes]]
name = "s3_planted"
kind = "s3"
endpoint = "{endpoint}"
bucket = "offsite"
credentials_file = {s3_creds:?}

[[notify]]
name = "planted_hook"
kind = "webhook"
url = "{hook_url}"
min_interval = "0s"
"#,
        endpoint = s3.endpoint(),
        hook_url = hook.url,
    );
    let server = Served::with_opts(
        &config,
        &Opts {
            env: vec![(VAR.to_string(), secret.clone())],
            ..Opts::default()
        },
    );
    // Warned at start (before "listening on"), in the log file.
    let logs = log_text(&server.data_dir().join("logs"));
    let warning = logs
        .lines()
        .find(|l| l.contains("its url holds a password"))
        .unwrap_or_else(|| panic!("no warning in {logs}"));
    assert!(warning.contains("pg_url"), "{warning}");
    let mut answers: Vec<String> = Vec::new();
    let mut keep = |what: &str, body: &Value| answers.push(format!("{what}: {body}"));

    for (id, sources) in [
        ("secret_ok", &["pg_env", "pg_url"][..]),
        ("secret_down", &["pg_down"][..]),
        ("secret_denied", &["my_file"][..]),
    ] {
        job(&server, id, sources);
    }
    let ok = server.run("secret_ok");
    assert_eq!(ok["status"], "succeeded", "{ok}");
    keep("ok", &ok);
    let down = server.run("secret_down");
    assert_eq!(down["status"], "failed", "{down}");
    keep("down", &down);
    let denied = server.run("secret_denied");
    assert_eq!(denied["status"], "failed", "{denied}");
    // The password really went to MariaDB (and was refused there).
    assert!(
        denied["error"]
            .as_str()
            .unwrap()
            .contains("using password: YES"),
        "{denied}"
    );
    keep("denied", &denied);
    let health = server.run("health_check");
    keep("health run", &health);
    let report = server.run("daily_report");
    assert_eq!(report["status"], "succeeded", "{report}");
    keep("report run", &report);

    // Database restores: a load (credentials from the environment again) and refused ones.
    let backup_id = ok["backup_id"].as_str().unwrap().to_string();
    let fresh = unique("bkp_secret_into");
    dbs.pg.push(fresh.clone());
    let path = format!("/backups/{backup_id}/restore");
    let (code, body) = server.send(
        "POST",
        &path,
        Some(json!({"database": "pg_env", "into": fresh})),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(psql_on(&fresh, "SELECT count(*) FROM t").trim(), "3");
    keep("load", &body);
    for bad in [
        // the source's live database, not asked for by `live`
        json!({"database": "pg_env", "into": live}),
        // not in this backup
        json!({"database": "pg_down"}),
        json!({"database": "my_file"}),
        json!({"database": "pg_env", "live": "yes"}),
    ] {
        let (code, body) = server.send("POST", &path, Some(bad.clone()));
        assert!((400..500).contains(&code), "{bad}: {code} {body}");
        keep("restore error", &body);
    }

    // Both failures were notified by webhook (their reasons are in the bodies), and the
    // deliveries recorded (`/notifications`, read below).
    let bodies: Vec<String> = hook
        .wait_for(2)
        .iter()
        .map(|got| format!("{:?} {}", got.headers, String::from_utf8_lossy(&got.body)))
        .collect();
    assert!(
        bodies.iter().any(|b| b.contains("using password: YES")),
        "{bodies:?}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while server.get("/notifications")["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "run_failed" && n["outcome"] == "sent")
        .count()
        < 2
    {
        assert!(
            std::time::Instant::now() < deadline,
            "deliveries not recorded"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    // Everything a client can read.
    let mut paths = vec![
        "/runs?limit=1000".to_string(),
        "/events?limit=1000".to_string(),
        "/backups".to_string(),
        format!("/backups/{backup_id}"),
        format!("/backups/{backup_id}/files"),
        "/health".to_string(),
        "/sources".to_string(),
        "/scheduler/status".to_string(),
        "/scheduler/jobs".to_string(),
        "/reports".to_string(),
        "/reports/performance".to_string(),
        "/notifications".to_string(),
        "/health/history".to_string(),
        "/whoami".to_string(),
        "/state".to_string(),
        format!("/state?position={}", server.get("/state")["last_position"]),
    ];
    for id in ["secret_ok", "secret_down", "secret_denied"] {
        paths.push(format!("/scheduler/jobs/{id}"));
    }
    let runs = server.get("/runs?limit=1000");
    for r in runs["runs"].as_array().unwrap() {
        paths.push(format!(
            "/runs/{}",
            r["run_id"].as_str().unwrap().replace('@', "%40")
        ));
    }
    let reports = server.get("/reports");
    let report_ids: Vec<String> = reports["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!report_ids.is_empty());
    for id in &report_ids {
        paths.push(format!("/reports/{id}"));
        paths.push(format!("/reports/{id}.html"));
    }
    let mut texts = answers;
    for p in &paths {
        let (code, _, text) = server.exchange("GET", p, None);
        assert_eq!(code, 200, "{p}: {text}");
        texts.push(format!("{p}: {text}"));
    }
    let (code, _, metrics) = {
        let r = ureq::get(&format!("{}/metrics", server.root))
            .call()
            .unwrap();
        (r.status(), (), r.into_string().unwrap())
    };
    assert_eq!(code, 200);
    texts.push(metrics);
    texts.extend(bodies);
    // Everything the service said on stderr so far.
    texts.extend(server.log_so_far());
    let data = server.data_dir().to_path_buf();
    let holder = server.stop();

    // Offline views of the log.
    let events = offline(["events"], &data);
    assert!(events.status.success());
    texts.push(String::from_utf8_lossy(&events.stdout).into_owned());
    texts.push(String::from_utf8_lossy(&events.stderr).into_owned());
    let state = offline(["state"], &data);
    assert!(state.status.success());
    texts.push(String::from_utf8_lossy(&state.stdout).into_owned());
    // Offline commands that fail on the planted sources: loading a dump into the source's live
    // database (the URL holding a password, and the one whose password is in the environment).
    let config_file = data.parent().unwrap().join("backupd.toml");
    for source in ["pg_url", "pg_env"] {
        let out = bin()
            .env(VAR, &secret)
            .args(["restore", &backup_id, "--database", source, "--into", &live])
            .arg("--config")
            .arg(&config_file)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{source}: {stderr}");
        assert!(stderr.contains("live"), "{source}: {stderr}");
        texts.push(stderr);
        texts.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }

    // The searches must be able to find something: the failure reasons are really there.
    let all = texts.join("\n");
    assert!(all.contains("using password: YES"));
    assert!(all.contains("pg_down"));
    assert!(all.contains("replication_failed") && all.contains("s3_planted"));
    let seen = files_holding(&data, b"using password: YES");
    assert!(
        seen.iter().any(|f| f.ends_with("events.redb")),
        "the byte search reads the event log: {seen:?}"
    );
    for planted in [&secret, &in_url] {
        for t in &texts {
            assert!(!t.contains(planted.as_str()), "{planted} leaked in: {t}");
        }
        let holding = files_holding(&data, planted.as_bytes());
        assert!(holding.is_empty(), "{planted} is in {holding:?}");
    }
    // The data dir holds the log, the logs, reports and archives: all searched above.
    assert!(data.join("events.redb").is_file());
    assert!(std::fs::read_dir(data.join("logs")).unwrap().count() > 0);
    assert!(std::fs::read_dir(data.join("reports")).unwrap().count() > 0);
    drop(holder);
}

#[test]
fn a_password_source_that_is_missing_is_named_not_guessed() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("no-such-password");
    let config = format!(
        r#"[[sources.database]]
name = "pg_env"
kind = "postgresql"
url = "postgresql://postgres@127.0.0.1:5432/test"
password_env = "BKPD_IT_UNSET_VARIABLE"

[[sources.database]]
name = "pg_file"
kind = "postgresql"
url = "postgresql://postgres@127.0.0.1:5432/test"
password_file = {gone:?}
"#
    );
    let server = Served::with_config(&config);
    job(&server, "by_env", &["pg_env"]);
    job(&server, "by_file", &["pg_file"]);
    let run = server.run("by_env");
    assert_eq!(run["status"], "failed", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("BKPD_IT_UNSET_VARIABLE") && error.contains("not set"),
        "{error}"
    );
    let run = server.run("by_file");
    assert_eq!(run["status"], "failed", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(error.contains(&gone.display().to_string()), "{error}");
    server.stop();

    // Both ways at once, or a password for a source that takes none: refused at start.
    for (extra, key) in [
        (
            "password_env = \"A\"\npassword_file = \"/x\"",
            "sources.database[0].password_file",
        ),
        ("", "sources.database[0].password_env"),
    ] {
        let body = if extra.is_empty() {
            "[[sources.database]]\nname = \"c\"\nkind = \"command\"\ncommand = [\"true\"]\npassword_env = \"A\"\n".to_string()
        } else {
            format!("[[sources.database]]\nname = \"p\"\nkind = \"postgresql\"\nurl = \"postgresql://h/d\"\n{extra}\n")
        };
        let file = dir.path().join("c.toml");
        std::fs::write(&file, body).unwrap();
        let out = offline(["events", "--config", file.to_str().unwrap()], dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(key), "{stderr}");
    }
}
