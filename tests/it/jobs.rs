//! The job model over real HTTP (issue 11): the specification's body verbatim, ids from names,
//! incremental jobs on chosen sources, updates that cannot be lost (patches merged in `decide`,
//! `If-Match`), backups of nothing refused, `GET sources`, and the tasks log's run lines.

use crate::support::{reply, Served};
use serde_json::{json, Value};
use std::fs;
use std::path::Path;

/// The specification's create example, byte for byte.
const SPEC_EXAMPLE: &str = r#"{"name":"custom_backup","trigger_type":"cron","trigger_config":{"hour":6,"minute":0},
 "backup_config":{"type":"database","description":"自定义数据库备份",
                  "options":{"include_database":true,"include_files":false}}}"#;

/// The README's incremental example, byte for byte.
const README_INCREMENTAL: &str = r#"{"name":"uploads_inc","trigger_type":"interval","trigger_config":{"hours":24},"backup_config":{"type":"files","mode":"incremental","options":{"sources":["uploads"]}}}"#;

/// Sources `uploads` (3 files), `other` (2 files), `etc` (config) and the database `app` (a
/// command dump), under `root`; `with_other` = false leaves `other` out of the configuration.
fn config(root: &Path, with_other: bool) -> String {
    for (dir, files) in [
        ("uploads", &["a.txt", "b.txt", "c.txt"][..]),
        ("other", &["x.txt", "y.txt"][..]),
        ("etc", &["app.conf"][..]),
    ] {
        fs::create_dir_all(root.join(dir)).unwrap();
        for f in files {
            fs::write(root.join(dir).join(f), format!("{dir}/{f}\n")).unwrap();
        }
    }
    let other = if with_other {
        format!(
            "[[sources.files]]\npath = \"{}\"\n",
            root.join("other").display()
        )
    } else {
        String::new()
    };
    format!(
        "[scheduler]\ntimezone = \"Asia/Shanghai\"\nautostart = true\n\
         [[sources.files]]\npath = \"{}\"\n{other}\
         [[sources.config]]\npath = \"{}\"\n\
         [[sources.database]]\nname = \"app\"\nkind = \"command\"\ncommand = [\"echo\", \"-- dump of app\"]\n",
        root.join("uploads").display(),
        root.join("etc").display(),
    )
}

fn served(root: &Path) -> Served {
    Served::with_config(&config(root, true))
}

fn post_raw(server: &Served, body: &str) -> (u16, Value) {
    server.raw(
        "POST",
        "/scheduler/jobs",
        Some("application/json"),
        body.as_bytes(),
    )
}

/// Status, body and ETag of a request with an optional `If-Match`.
fn conditional(
    server: &Served,
    method: &str,
    path: &str,
    if_match: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, Option<String>) {
    let mut req = server.request(method, path);
    if let Some(tag) = if_match {
        req = req.set("If-Match", tag);
    }
    let result = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    let etag = match &result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r.header("ETag").map(str::to_string),
        Err(_) => None,
    };
    let (status, body) = reply(result);
    (status, body, etag)
}

fn tasks_log(server: &Served) -> String {
    fs::read_to_string(server.data_dir().join("logs/backup_tasks.log")).unwrap_or_default()
}

#[test]
fn the_specifications_example_verbatim_and_the_job_by_its_name() {
    let root = tempfile::tempdir().unwrap();
    let server = served(root.path());

    let (status, job) = post_raw(&server, SPEC_EXAMPLE);
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["id"], "custom_backup");
    assert_eq!(job["name"], "custom_backup");
    assert_eq!(job["description"], "自定义数据库备份");
    assert_eq!(job["backup_config"]["description"], "自定义数据库备份");
    assert_eq!(job["backup_config"]["mode"], "full");
    assert_eq!(job["version"], 1);
    // 06:00 in the scheduler's zone
    let next = job["next_run_time"].as_str().unwrap();
    assert!(next.ends_with("T06:00:00+08:00"), "{next}");
    let (_, shown, etag) = conditional(&server, "GET", "/scheduler/jobs/custom_backup", None, None);
    assert_eq!(shown, job);
    assert_eq!(etag.as_deref(), Some("\"1\""));

    // the same name again: the id is taken
    let (status, again) = post_raw(&server, SPEC_EXAMPLE);
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"]["code"], "conflict");

    // the seed's flow by that id
    let (status, paused) = server.send("POST", "/scheduler/jobs/custom_backup/pause", None);
    assert_eq!((status, &paused["paused"]), (200, &json!(true)));
    assert_eq!(paused["next_run_time"], Value::Null);
    let (status, resumed) = server.send("POST", "/scheduler/jobs/custom_backup/resume", None);
    assert_eq!((status, &resumed["paused"]), (200, &json!(false)));
    assert_eq!(resumed["version"], 3, "created, paused, resumed");
    let run = server.run("custom_backup");
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        (&run["job_name"], &run["job_description"]),
        (&json!("custom_backup"), &json!("自定义数据库备份"))
    );
    let backup = server.get(&format!("/backups/{}", run["backup_id"].as_str().unwrap()));
    let (_, verified) = server.send(
        "POST",
        &format!("/backups/{}/verify", backup["id"].as_str().unwrap()),
        None,
    );
    // only the database: one entry, the dump's bytes
    assert_eq!(
        (
            &verified["summary"]["entries"],
            &verified["summary"]["content_bytes"]
        ),
        (&json!(1), &json!("-- dump of app\n".len())),
        "{verified}"
    );
    let (status, _) = server.send("DELETE", "/scheduler/jobs/custom_backup", None);
    assert_eq!(status, 204);
    let (status, gone) = server.send("GET", "/scheduler/jobs/custom_backup", None);
    assert_eq!(status, 404, "{gone}");

    // the run's line in the tasks log names the job, run, mode, backup, figures and note
    let log = tasks_log(&server);
    let run_id = run["run_id"].as_str().unwrap();
    let line = log
        .lines()
        .find(|l| {
            l.contains(&format!("run {run_id} of job custom_backup")) && l.contains("succeeded")
        })
        .unwrap_or_else(|| panic!("no outcome line for {run_id} in:\n{log}"));
    for part in [
        "mode full".to_string(),
        format!("backup {}", backup["id"].as_str().unwrap()),
        format!("{} bytes", run["bytes"]),
        format!("{} files", run["files"]),
        " ms".to_string(),
        "note: -".to_string(),
    ] {
        assert!(line.contains(&part), "{part:?} missing from {line}");
    }
}

#[test]
fn sources_are_listed_by_name_without_credentials() {
    let root = tempfile::tempdir().unwrap();
    let server = served(root.path());
    let sources = server.get("/sources");
    let names: Vec<(&str, &str)> = sources["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("uploads", "files"),
            ("other", "files"),
            ("etc", "config"),
            ("app", "database")
        ]
    );
    assert_eq!(sources["sources"][3]["database_kind"], "command");
    assert!(!sources.to_string().contains("dump of app"), "{sources}");
}

#[test]
fn a_custom_incremental_job_on_a_chosen_source_stores_only_what_changed() {
    let root = tempfile::tempdir().unwrap();
    let server = served(root.path());
    let (status, job) = post_raw(&server, README_INCREMENTAL);
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["backup_mode"], "incremental");
    assert_eq!(
        job["backup_config"]["options"]["sources"],
        json!(["uploads"])
    );

    let verify = |run: &Value| {
        let id = run["backup_id"].as_str().unwrap();
        let (_, v) = server.send("POST", &format!("/backups/{id}/verify"), None);
        (server.get(&format!("/backups/{id}")), v["summary"].clone())
    };
    let first = server.run("uploads_inc");
    assert_eq!(first["status"], "succeeded", "{first}");
    assert!(
        first["note"]
            .as_str()
            .unwrap()
            .contains("took a full backup"),
        "{first}"
    );
    let (b1, s1) = verify(&first);
    assert_eq!(b1["kind"], "full");
    // exactly the chosen source: uploads (its directory and 3 files of 14 bytes), not other's
    // 2 files, no dump
    assert_eq!(
        (&s1["entries"], &s1["content_bytes"], &s1["parent_refs"]),
        (&json!(4), &json!(3 * 14), &json!(0)),
        "{s1}"
    );

    fs::write(root.path().join("uploads/b.txt"), "b changed, longer\n").unwrap();
    let second = server.run("uploads_inc");
    assert_eq!(second["status"], "succeeded", "{second}");
    let (b2, s2) = verify(&second);
    assert_eq!(b2["kind"], "incremental");
    assert_eq!(b2["parent"], b1["id"]);
    // one file stored again; the two unchanged ones are references to the full
    assert_eq!(
        (&s2["entries"], &s2["parent_refs"], &s2["content_bytes"]),
        (&json!(4), &json!(2), &json!("b changed, longer\n".len())),
        "{s2}"
    );
    assert!(tasks_log(&server).contains("mode incremental"));
}

#[test]
fn racing_puts_on_different_fields_lose_nothing_and_a_stale_if_match_is_412() {
    let root = tempfile::tempdir().unwrap();
    let server = served(root.path());
    let (status, _) = post_raw(
        &server,
        r#"{"name":"raced","trigger_type":"cron","trigger_config":{"hour":6,"minute":0},"misfire_grace_time":1000}"#,
    );
    assert_eq!(status, 201);
    const N: u64 = 50;
    // two clients, each with its own connection, over real HTTP
    let url = server.url("/scheduler/jobs/raced");
    let client = |field: &'static str, base: u64| {
        let url = url.clone();
        std::thread::spawn(move || {
            let agent = ureq::AgentBuilder::new().build();
            for i in 1..=N {
                let (status, body) = reply(agent.put(&url).send_json(json!({ field: base + i })));
                assert_eq!(status, 200, "{body}");
            }
        })
    };
    let (a, b) = (client("jitter", 0), client("misfire_grace_time", 1000));
    a.join().unwrap();
    b.join().unwrap();
    let job = server.get("/scheduler/jobs/raced");
    assert_eq!(job["jitter"], N);
    assert_eq!(job["misfire_grace_time"], 1000 + N);
    assert_eq!(job["version"], 1 + 2 * N);

    // the log: every update carries both fields, each only ever moving forward
    let events = server.get("/events?after=0&limit=1000");
    let updates: Vec<(u64, u64)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "job_updated" && e["data"]["job"]["id"] == "raced")
        .map(|e| {
            let job = &e["data"]["job"];
            (
                job["jitter_secs"].as_u64().unwrap(),
                job["misfire_grace_secs"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(updates.len() as u64, 2 * N);
    for pair in updates.windows(2) {
        let ((j0, g0), (j1, g1)) = (pair[0], pair[1]);
        assert!(j1 >= j0 && g1 >= g0, "a change was undone: {pair:?}");
        assert_eq!((j1 - j0) + (g1 - g0), 1, "one change per event: {pair:?}");
    }
    assert_eq!(updates.last(), Some(&(N, 1000 + N)));

    // If-Match: the current version passes, a stale one is 412 and changes nothing
    let path = "/scheduler/jobs/raced";
    let current = format!("\"{}\"", 1 + 2 * N);
    let (status, body, etag) = conditional(
        &server,
        "PUT",
        path,
        Some(&current),
        Some(json!({"name": "renamed"})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(etag, Some(format!("\"{}\"", 2 + 2 * N)));
    let (status, body, _) = conditional(
        &server,
        "PUT",
        path,
        Some(&current),
        Some(json!({"name": "lost"})),
    );
    assert_eq!(status, 412, "{body}");
    assert_eq!(body["error"]["code"], "precondition_failed");
    assert_eq!(body["error"]["field"], "If-Match");
    let (status, body, _) = conditional(&server, "DELETE", path, Some(&current), None);
    assert_eq!(status, 412, "{body}");
    let (status, body, _) = conditional(&server, "DELETE", path, Some("\"x\""), None);
    assert_eq!(status, 412, "{body}");
    assert_eq!(server.get(path)["name"], "renamed");
    let fresh = format!("\"{}\"", 2 + 2 * N);
    let (status, _, _) = conditional(&server, "DELETE", path, Some(&fresh), None);
    assert_eq!(status, 204);
}

#[test]
fn a_backup_of_nothing_is_refused_and_a_stopped_scheduler_plans_nothing() {
    let root = tempfile::tempdir().unwrap();
    let config_file = root.path().join("backupd.toml");
    fs::write(&config_file, config(root.path(), true)).unwrap();
    let data = root.path().join("data");
    let server = Served::with_config_file(&config_file, &data);

    let job = |backup_config: Value| {
        json!({"name": "nothing", "trigger_type": "cron", "trigger_config": {"hour": 1},
               "backup_config": backup_config})
    };
    let refused = [
        (
            json!({"type": "full", "options": {"include_database": false, "include_files": false, "include_config": false}}),
            "backup_config.options",
        ),
        (
            json!({"type": "files", "options": {"include_files": false}}),
            "backup_config.options",
        ),
        (
            json!({"type": "full", "options": {"sources": []}}),
            "backup_config.options.sources",
        ),
        (
            json!({"type": "full", "options": {"sources": ["uploads", "nope"]}}),
            "backup_config.options.sources",
        ),
    ];
    for (cfg, field) in &refused {
        let (status, body) = server.send("POST", "/scheduler/jobs", Some(job(cfg.clone())));
        assert_eq!(status, 400, "{cfg}: {body}");
        assert_eq!(body["error"]["field"], *field, "{cfg}: {body}");
    }
    let (_, unknown) = server.send("POST", "/scheduler/jobs", Some(job(refused[3].0.clone())));
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"nope\""),
        "{unknown}"
    );
    // an update to nothing is refused too, and the job stays as it was
    let (status, _) = server.send(
        "POST",
        "/scheduler/jobs",
        Some(job(
            json!({"type": "files", "options": {"sources": ["other"]}}),
        )),
    );
    assert_eq!(status, 201);
    for (cfg, field) in &refused {
        let (status, body) = server.send(
            "PUT",
            "/scheduler/jobs/nothing",
            Some(json!({"backup_config": cfg})),
        );
        assert_eq!(
            (status, &body["error"]["field"]),
            (400, &json!(field)),
            "{cfg}: {body}"
        );
    }
    assert_eq!(server.get("/scheduler/jobs/nothing")["version"], 1);

    // stopped: no job has a next run; started: they have again
    let (status, _) = server.send("POST", "/scheduler/stop", None);
    assert_eq!(status, 200);
    let jobs = server.get("/scheduler/jobs");
    assert!(
        jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["next_run_time"].is_null()),
        "{jobs}"
    );
    assert!(server.get("/scheduler/jobs/nothing")["next_run_time"].is_null());
    let (status, _) = server.send("POST", "/scheduler/start", None);
    assert_eq!(status, 200);
    assert!(server.get("/scheduler/jobs/nothing")["next_run_time"].is_string());

    // the configuration loses `other`: the job's run fails as a config fault, never an empty
    // success
    let _holder = server.stop();
    fs::write(&config_file, config(root.path(), false)).unwrap();
    let server = Served::with_config_file(&config_file, &data);
    let run = server.run("nothing");
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error_kind"], "config", "{run}");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("selects no configured source"),
        "{run}"
    );
    let log = tasks_log(&server);
    let run_id = run["run_id"].as_str().unwrap();
    let line = log
        .lines()
        .find(|l| l.contains(&format!("run {run_id} of job nothing")) && l.contains("failed"))
        .unwrap_or_else(|| panic!("no failure line for {run_id} in:\n{log}"));
    for part in [
        "ERROR",
        "mode full",
        "(config)",
        "selects no configured source",
    ] {
        assert!(line.contains(part), "{part:?} missing from {line}");
    }
}
