//! Forgetting one backup through the real binary (`DELETE /backups/{id}`): refused while kept
//! backups depend on it (naming every one), `cascade` forgets the chain dependants first, each
//! recorded with the actor and reason before its files go; a job's newest good full needs
//! `force`. And the API's messages name the API's own parameters, the CLI's its flags.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::support::{bin, Served};

fn backup_of(server: &Served, job: &str) -> String {
    let run = server.run(job);
    assert_eq!(run["status"], "succeeded", "{run}");
    run["backup_id"].as_str().unwrap().to_string()
}

/// The archive and manifest of a backup, from its recorded location.
fn files_of(server: &Served, id: &str) -> [PathBuf; 2] {
    let b = server.get(&format!("/backups/{id}"));
    let bka = server.data_dir().join(b["location"].as_str().unwrap());
    assert!(bka.is_file(), "{}", bka.display());
    let manifest = bka.with_extension("manifest");
    assert!(manifest.is_file(), "{}", manifest.display());
    [bka, manifest]
}

fn forget(server: &Served, id: &str, body: Option<Value>) -> (u16, Value) {
    server.send("DELETE", &format!("/backups/{id}"), body)
}

fn events(server: &Served) -> Vec<Value> {
    server.get("/events?limit=1000")["events"]
        .as_array()
        .unwrap()
        .clone()
}

fn tree(src: &Path) {
    fs::create_dir_all(src).unwrap();
    for i in 0..5 {
        fs::write(src.join(format!("f{i}")), format!("file {i} ").repeat(200)).unwrap();
    }
}

#[test]
fn forgetting_is_refused_for_dependants_cascades_dependants_first_and_guards_the_newest_full() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    tree(&src);
    let server = Served::with_config(&format!("[[sources.files]]\npath = {src:?}\n"));
    let f1 = backup_of(&server, "daily_full_backup");
    fs::write(src.join("f0"), "changed once").unwrap();
    let i1 = backup_of(&server, "incremental_backup");
    fs::write(src.join("f1"), "changed twice").unwrap();
    let i2 = backup_of(&server, "incremental_backup");
    // i2 builds on i1, which builds on f1: i2 depends on f1 only through i1.
    let detail = server.get(&format!("/backups/{i2}"));
    assert_eq!(detail["chain"], json!([i2, i1, f1]), "{detail}");
    let f2 = backup_of(&server, "daily_full_backup");
    let chain_files: Vec<[PathBuf; 2]> = [&i2, &i1, &f1]
        .iter()
        .map(|id| files_of(&server, id))
        .collect();

    // Unknown backup: 404; unknown field and wrong types: 400, nothing recorded.
    let before = events(&server).len();
    let (code, err) = forget(&server, "zz-nothing", None);
    assert_eq!(
        (code, &err["error"]["code"]),
        (404, &json!("not_found")),
        "{err}"
    );
    let (code, err) = forget(&server, &i2, Some(json!({"cascde": true})));
    assert_eq!(code, 400, "{err}");
    assert_eq!(err["error"]["field"], "cascde", "{err}");
    let (code, err) = forget(&server, &i2, Some(json!({"force": "yes"})));
    assert_eq!(
        (code, &err["error"]["field"]),
        (400, &json!("force")),
        "{err}"
    );

    // Depended on (directly by i1, through i1 by i2): 409 naming both, nothing forgotten.
    let (code, err) = forget(&server, &f1, None);
    assert_eq!(code, 409, "{err}");
    assert_eq!(err["error"]["field"], "cascade", "{err}");
    let message = err["error"]["message"].as_str().unwrap();
    assert_eq!(
        message,
        format!(
            "backup {f1:?} is the base of {i2:?}, {i1:?}; forget those first, or send \
             \"cascade\": true to forget them with it"
        )
    );
    assert_eq!(events(&server).len(), before);
    for [bka, manifest] in &chain_files {
        assert!(bka.is_file() && manifest.is_file());
    }

    // Cascade: the dependants first, each recorded with the actor and the reason, files gone.
    let (code, done) = forget(
        &server,
        &f1,
        Some(json!({"cascade": true, "reason": "taken with the wrong sources"})),
    );
    assert_eq!(code, 200, "{done}");
    let ids: Vec<&str> = done["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["backup_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [&i2, &i1, &f1]);
    let each: u64 = done["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["bytes"].as_u64().unwrap())
        .sum();
    assert!(each > 0);
    assert_eq!(done["bytes"], json!(each), "{done}");
    let recorded: Vec<Value> = events(&server)
        .into_iter()
        .filter(|e| e["type"] == "backup_forgotten")
        .collect();
    let shown: Vec<(&str, &str, &str)> = recorded
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["data"]["backup_id"].as_str().unwrap(),
                e["data"]["reason"].as_str().unwrap(),
            )
        })
        .collect();
    let why = "taken with the wrong sources";
    assert_eq!(
        shown,
        [
            ("api:anonymous", i2.as_str(), why),
            ("api:anonymous", i1.as_str(), why),
            ("api:anonymous", f1.as_str(), why),
        ]
    );
    for [bka, manifest] in &chain_files {
        assert!(!bka.exists(), "{}", bka.display());
        assert!(!manifest.exists(), "{}", manifest.display());
    }
    for id in [&i2, &i1, &f1] {
        let (code, _) = server.send("GET", &format!("/backups/{id}"), None);
        assert_eq!(code, 404);
    }

    // The job's newest good full: only with force, and the message names the API's field.
    let f2_files = files_of(&server, &f2);
    let (code, err) = forget(&server, &f2, Some(json!({"reason": "test"})));
    assert_eq!(
        (code, &err["error"]["field"]),
        (409, &json!("force")),
        "{err}"
    );
    assert_eq!(
        err["error"]["message"],
        format!(
            "backup {f2:?} is the newest good full backup of job \"daily_full_backup\"; send \
             \"force\": true to forget it anyway"
        ),
        "{err}"
    );
    assert!(f2_files.iter().all(|f| f.is_file()));
    let (code, done) = forget(&server, &f2, Some(json!({"force": true})));
    assert_eq!(code, 200, "{done}");
    assert_eq!(done["deleted"][0]["backup_id"], f2.as_str(), "{done}");
    let last = events(&server).pop().unwrap();
    assert_eq!(
        (&last["type"], &last["data"]["reason"]),
        (&json!("backup_forgotten"), &Value::Null),
        "{last}"
    );
    assert!(f2_files.iter().all(|f| !f.exists()));
}

#[test]
fn the_api_names_its_fields_and_the_cli_its_flags_and_the_route_when_the_service_holds_the_log() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    tree(&src);
    let server = Served::with_config(&format!("[[sources.files]]\npath = {src:?}\n"));
    let id = backup_of(&server, "daily_full_backup");
    let target = scratch.path().join("target");
    fs::create_dir_all(&target).unwrap();
    fs::write(target.join("already-here"), "x").unwrap();

    // The API's refusal names the body field, not the CLI flag.
    let (code, err) = server.send(
        "POST",
        &format!("/backups/{id}/restore"),
        Some(json!({"target": target})),
    );
    assert_eq!(code, 409, "{err}");
    assert_eq!(
        err["error"]["message"],
        format!(
            "restore target {} is not empty (use \"force\": true to restore into it anyway)",
            target.display()
        ),
        "{err}"
    );

    // The CLI on a data dir `serve` holds: the route (and body) that does the same.
    let restore = |data: &Path| {
        bin()
            .args(["restore", &id, "--force", "--to"])
            .arg(&target)
            .arg("--data-dir")
            .arg(data)
            .output()
            .unwrap()
    };
    let out = restore(server.data_dir());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let body = json!({"target": target, "force": true});
    assert!(
        stderr.contains(&format!(
            "is in use by a running backupd; stop it first, or ask the service: \
             POST /api/backup/backups/{id}/restore {body}"
        )),
        "{stderr}"
    );
    let out = bin()
        .args(["verify", &id, "--data-dir"])
        .arg(server.data_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "ask the service: POST /api/backup/backups/{id}/verify"
        )),
        "{stderr}"
    );
    // The catalog's reads name their GET routes (query values encoded as a URL needs them).
    let src_path = fs::canonicalize(&src).unwrap();
    let src_path = src_path.to_str().unwrap();
    let held_reads = [
        (vec!["backups"], "GET /api/backup/backups".to_string()),
        (
            vec!["backups", "--job", "daily_full_backup"],
            "GET /api/backup/backups?job_id=daily_full_backup".to_string(),
        ),
        (
            vec!["ls", &id],
            format!("GET /api/backup/backups/{id}/files?path=/"),
        ),
        (
            vec!["ls", &id, src_path],
            format!("GET /api/backup/backups/{id}/files?path={src_path}"),
        ),
        (
            vec!["ls", &id, "/a dir"],
            format!("GET /api/backup/backups/{id}/files?path=/a%20dir"),
        ),
    ];
    for (args, route) in held_reads {
        let out = bin()
            .args(&args)
            .arg("--data-dir")
            .arg(server.data_dir())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "is in use by a running backupd; stop it first, or ask the service: {route}\n"
            )),
            "{args:?}: {stderr}"
        );
    }

    // Offline, the same refusal names the CLI's flag.
    let data = server.data_dir().to_path_buf();
    let _holder = server.stop();
    let out = bin()
        .args(["restore", &id, "--to"])
        .arg(&target)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "restore target {} is not empty (use --force to restore into it anyway)",
            target.display()
        )),
        "{stderr}"
    );
}
