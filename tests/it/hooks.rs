//! A backup job's hooks and its own timeout, against the real binary: `before` runs before the
//! backup (what it writes is backed up) with the job's and run's ids, `after` gets the backup's
//! id, a failing `before` fails the run with no backup, `on_failure` gets the error, a hanging
//! hook (or dump) is killed at the job's `timeout` although the configured one is an hour, every
//! hook's output tail is in the run's record, and bad hooks and timeouts are 400s naming them.

use crate::support::{pid_in, running, Served};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

fn sh(script: String) -> Value {
    json!(["sh", "-c", script])
}

/// A files job on a daily interval (only `run` starts it), with `extra` fields.
fn create(server: &Served, id: &str, kind: &str, extra: Value) {
    let mut body = json!({"job_id": id, "name": id, "trigger_type": "interval",
        "trigger_config": {"hours": 24}, "backup_config": {"type": kind}});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (code, job) = server.send("POST", "/scheduler/jobs", Some(body));
    assert_eq!(code, 201, "{job}");
}

fn files_server(scratch: &Path, extra_config: &str) -> (Served, std::path::PathBuf) {
    let src = scratch.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("data.txt"), "payload").unwrap();
    let server = Served::with_config(&format!(
        "{extra_config}[[sources.files]]\npath = {src:?}\n"
    ));
    (server, src)
}

#[test]
fn before_runs_first_with_its_ids_and_after_gets_the_backup_id() {
    let scratch = tempfile::tempdir().unwrap();
    let (server, src) = files_server(scratch.path(), "");
    let after_file = scratch.path().join("after");
    // The marker is written into the source: that the backup holds it shows `before` ran first.
    let before = sh(format!(
        "printf '%s %s' \"$BACKUPD_JOB_ID\" \"$BACKUPD_RUN_ID\" > {}; echo before ran; echo to stderr >&2",
        src.join("marker").display()
    ));
    let after = sh(format!(
        "printf '%s|%s' \"$BACKUPD_BACKUP_ID\" \"$BACKUPD_JOB_ID\" > {}; echo after ran",
        after_file.display()
    ));
    create(
        &server,
        "hooked",
        "files",
        json!({"hooks": {"before": before, "after": after}}),
    );
    let job = server.get("/scheduler/jobs/hooked");
    assert_eq!(job["hooks"]["before"], before, "{job}");
    assert_eq!(job["hooks"]["on_failure"], Value::Null, "{job}");
    assert_eq!(job["timeout"], Value::Null, "{job}");

    let run = server.run("hooked");
    assert_eq!(run["status"], "succeeded", "{run}");
    let run_id = run["run_id"].as_str().unwrap();
    let marker = std::fs::read_to_string(src.join("marker")).unwrap();
    assert_eq!(marker, format!("hooked {run_id}"));
    // data.txt and the marker
    assert_eq!(run["files"], 2, "{run}");
    let backup_id = run["backup_id"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(&after_file).unwrap(),
        format!("{backup_id}|hooked")
    );
    assert_eq!(
        run["note"], "hook before: exit 0: before ran | to stderr; hook after: exit 0: after ran",
        "{run}"
    );

    // A failing `after` does not lose the backup: recorded, the run succeeded, the note says so.
    let (code, job) = server.send(
        "PUT",
        "/scheduler/jobs/hooked",
        Some(json!({"hooks": {"after": sh("echo cannot notify; exit 7".into())}})),
    );
    assert_eq!(code, 200, "{job}");
    assert_eq!(job["hooks"]["before"], Value::Null, "{job}");
    let run = server.run("hooked");
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["note"], "hook after: exit 7: cannot notify", "{run}");
    let id = run["backup_id"].as_str().unwrap();
    assert_eq!(server.get(&format!("/backups/{id}"))["id"], id);
}

#[test]
fn a_failing_before_hook_fails_the_run_takes_no_backup_and_on_failure_runs() {
    let scratch = tempfile::tempdir().unwrap();
    let (server, _src) = files_server(scratch.path(), "");
    let error_file = scratch.path().join("error");
    let on_failure = sh(format!(
        "printf '%s|%s' \"$BACKUPD_ERROR\" \"$BACKUPD_RUN_ID\" > {}; echo notified",
        error_file.display()
    ));
    create(
        &server,
        "guarded",
        "files",
        json!({"hooks": {"before": sh("echo disk not mounted >&2; exit 3".into()),
                         "on_failure": on_failure}}),
    );
    let run = server.run("guarded");
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(
        run["error"], "hook before: exit 3: disk not mounted; hook on_failure: exit 0: notified",
        "{run}"
    );
    assert_eq!(run["error_kind"], "refused", "{run}");
    assert_eq!(run["backup_id"], Value::Null, "{run}");
    assert_eq!(server.get("/backups")["backups"], json!([]));
    assert_eq!(
        std::fs::read_to_string(&error_file).unwrap(),
        format!(
            "hook before: exit 3: disk not mounted|{}",
            run["run_id"].as_str().unwrap()
        )
    );

    // a hook program that is not there: a configuration error, named
    let (code, job) = server.send(
        "PUT",
        "/scheduler/jobs/guarded",
        Some(json!({"hooks": {"before": ["/nonexistent/check-disk", "--now"]}})),
    );
    assert_eq!(code, 200, "{job}");
    let run = server.run("guarded");
    assert_eq!(
        (&run["status"], &run["error"], &run["error_kind"]),
        (
            &json!("failed"),
            &json!("hook before: cannot start \"/nonexistent/check-disk\": not found"),
            &json!("config")
        ),
        "{run}"
    );
    assert_eq!(server.get("/backups")["backups"], json!([]));
}

#[test]
fn on_failure_runs_when_the_backup_itself_fails() {
    let scratch = tempfile::tempdir().unwrap();
    let error_file = scratch.path().join("error");
    let server = Served::with_config(
        "[[sources.database]]\nname = \"broken\"\nkind = \"command\"\n\
         command = [\"sh\", \"-c\", \"echo dump exploded >&2; exit 1\"]\n",
    );
    create(
        &server,
        "db",
        "database",
        json!({"hooks": {"on_failure": sh(format!(
            "printf '%s' \"$BACKUPD_ERROR\" > {}", error_file.display()))}}),
    );
    let run = server.run("db");
    assert_eq!(run["status"], "failed", "{run}");
    let error = std::fs::read_to_string(&error_file).unwrap();
    assert!(error.contains("dump exploded"), "{error}");
    assert_eq!(
        run["error"],
        format!("{error}; hook on_failure: exit 0: (no output)"),
        "{run}"
    );
}

#[test]
fn a_hanging_before_hook_is_killed_at_the_jobs_timeout() {
    let scratch = tempfile::tempdir().unwrap();
    let (server, _src) = files_server(scratch.path(), "[scheduler]\nrun_timeout = 3600\n\n");
    let (shell, sleeper) = (scratch.path().join("shell"), scratch.path().join("sleeper"));
    let before = sh(format!(
        "echo $$ > {}; sleep 600 & echo $! > {}; wait",
        shell.display(),
        sleeper.display()
    ));
    create(
        &server,
        "hangs",
        "files",
        json!({"timeout": 2, "hooks": {"before": before}}),
    );
    assert_eq!(server.get("/scheduler/jobs/hangs")["timeout"], 2);
    let (code, started) = server.send("POST", "/scheduler/jobs/hangs/run", None);
    assert_eq!(code, 202, "{started}");
    let (shell, sleeper) = (pid_in(&shell), pid_in(&sleeper));
    assert!(running(shell) && running(sleeper));
    let run = server.finished_within(started["run_id"].as_str().unwrap(), Duration::from_secs(30));
    assert_eq!(run["status"], "cancelled", "{run}");
    assert_eq!(run["error"], "timed out after 2 s", "{run}");
    let ms = run["duration_ms"].as_u64().unwrap();
    assert!((2000..20_000).contains(&ms), "{run}");
    assert!(!running(shell), "the hook {shell} still runs");
    assert!(!running(sleeper), "the hook's child {sleeper} still runs");
    assert_eq!(server.get("/backups")["backups"], json!([]));
}

#[test]
fn a_hanging_dump_is_cancelled_at_the_jobs_timeout_not_the_configured_one() {
    let scratch = tempfile::tempdir().unwrap();
    let pid_file = scratch.path().join("dump");
    let script = format!("echo $$ > {}; exec sleep 600", pid_file.display());
    let server = Served::with_config(&format!(
        "[scheduler]\nrun_timeout = 3600\n\n[[sources.database]]\nname = \"hang\"\n\
         kind = \"command\"\ncommand = [\"sh\", \"-c\", {script:?}]\n"
    ));
    create(&server, "slow", "database", json!({"timeout": 2}));
    let (code, started) = server.send("POST", "/scheduler/jobs/slow/run", None);
    assert_eq!(code, 202, "{started}");
    let dump = pid_in(&pid_file);
    let run = server.finished_within(started["run_id"].as_str().unwrap(), Duration::from_secs(30));
    assert_eq!(
        (&run["status"], &run["error"]),
        (&json!("cancelled"), &json!("timed out after 2 s")),
        "{run}"
    );
    assert!(run["duration_ms"].as_u64().unwrap() < 20_000, "{run}");
    assert!(!running(dump), "the dump {dump} still runs");

    // timeout 0: none, whatever the configuration says; null: the configured one again
    let (code, job) = server.send("PUT", "/scheduler/jobs/slow", Some(json!({"timeout": 0})));
    assert_eq!((code, &job["timeout"]), (200, &json!(0)), "{job}");
    let (code, job) = server.send(
        "PUT",
        "/scheduler/jobs/slow",
        Some(json!({"timeout": null})),
    );
    assert_eq!((code, &job["timeout"]), (200, &Value::Null), "{job}");
}

/// The README's example, byte for byte.
const README_HOOKS: &str = r#"{"name":"offsite","trigger_type":"cron","trigger_config":{"hour":3},"backup_config":{"type":"full"},
       "timeout":1800,"hooks":{"before":["mountpoint","-q","/mnt/offsite"],
       "after":["sh","-c","logger -t backupd \"backup $BACKUPD_BACKUP_ID written\""],
       "on_failure":["sh","-c","logger -t backupd \"backup failed: $BACKUPD_ERROR\""]}}"#;

#[test]
fn bad_hooks_and_timeouts_are_refused_naming_the_field() {
    let server = Served::demo();
    let (code, job) = server.raw(
        "POST",
        "/scheduler/jobs",
        Some("application/json"),
        README_HOOKS.as_bytes(),
    );
    assert_eq!(code, 201, "{job}");
    assert_eq!(job["timeout"], 1800, "{job}");
    assert_eq!(
        job["hooks"]["before"],
        json!(["mountpoint", "-q", "/mnt/offsite"]),
        "{job}"
    );
    assert_eq!(
        job["hooks"]["on_failure"][2], "logger -t backupd \"backup failed: $BACKUPD_ERROR\"",
        "{job}"
    );
    let base = json!({"name": "bad", "trigger_type": "cron", "trigger_config": {"hour": 1},
                      "backup_config": {"type": "full"}});
    #[rustfmt::skip]
    let table = [
        (json!({"timeout": -1}), "timeout"),
        (json!({"timeout": "10m"}), "timeout"),
        (json!({"hooks": "echo hi"}), "hooks"),
        (json!({"hooks": {"before": []}}), "hooks.before"),
        (json!({"hooks": {"before": [""]}}), "hooks.before"),
        (json!({"hooks": {"after": "echo hi"}}), "hooks.after"),
        (json!({"hooks": {"after": ["echo", 1]}}), "hooks.after"),
        (json!({"hooks": {"on_failure": ["echo", "a\u{0}b"]}}), "hooks.on_failure"),
        (json!({"hooks": {"on_failure": vec!["x"; 65]}}), "hooks.on_failure"),
        (json!({"hooks": {"during": ["echo"]}}), "hooks.during"),
    ];
    for (extra, field) in table {
        let mut body = base.clone();
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (code, answer) = server.send("POST", "/scheduler/jobs", Some(body));
        assert_eq!(code, 400, "{extra}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{extra}: {answer}");
        assert_eq!(answer["error"]["code"], "validation", "{extra}: {answer}");
    }
    // a maintenance job has neither
    for (body, field) in [
        (json!({"timeout": 60}), "timeout"),
        (json!({"hooks": {"before": ["true"]}}), "hooks"),
    ] {
        let (code, answer) = server.send("PUT", "/scheduler/jobs/cleanup_expired", Some(body));
        assert_eq!(
            (code, &answer["error"]["field"]),
            (400, &json!(field)),
            "{answer}"
        );
    }
    let cleanup = server.get("/scheduler/jobs/cleanup_expired");
    assert_eq!(
        (&cleanup["timeout"], &cleanup["hooks"]),
        (&Value::Null, &Value::Null)
    );
    // PUT merges: a new backup_config keeps the job's timeout and hooks
    let mut good = base.clone();
    good["timeout"] = json!(90);
    good["hooks"] = json!({"on_failure": ["true"]});
    let (code, job) = server.send("POST", "/scheduler/jobs", Some(good));
    assert_eq!(code, 201, "{job}");
    let (code, job) = server.send(
        "PUT",
        "/scheduler/jobs/bad",
        Some(json!({"backup_config": {"type": "files"}})),
    );
    assert_eq!(code, 200, "{job}");
    assert_eq!(
        (&job["timeout"], &job["hooks"]),
        (
            &json!(90),
            &json!({"before": null, "after": null, "on_failure": ["true"]})
        ),
        "{job}"
    );
}
