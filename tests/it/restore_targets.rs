//! Issue 14 item 6: a restore through the API writes only below `[restore] allowed_targets`
//! (default `<data_dir>/restores`): a target directory or an SQLite `into` outside them is 403
//! `target_not_allowed`, checked lexically and on the real path (a link inside an allowed root
//! cannot lead out), and a refusal records nothing. Offline restores are not limited.

use crate::support::{bin, offline, stdout_ok, Opts, Served};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

fn restore(server: &Served, id: &str, body: Value) -> (u16, Value) {
    server.send("POST", &format!("/backups/{id}/restore"), Some(body))
}

fn backup(server: &Served) -> String {
    let run = server.run("daily_full_backup");
    assert_eq!(run["status"], "succeeded", "{run}");
    run["backup_id"].as_str().unwrap().to_string()
}

fn restore_runs(server: &Served) -> usize {
    let runs = server.get("/runs?kind=restore&limit=1000");
    runs["runs"].as_array().unwrap().len()
}

fn refused(code: u16, body: &Value, field: &str, roots: &[&Path]) {
    assert_eq!(code, 403, "{body}");
    let body = &body["error"];
    assert_eq!(body["code"], "target_not_allowed", "{body}");
    assert_eq!(body["field"], field, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("allowed_targets"), "{message}");
    for root in roots {
        assert!(message.contains(&root.display().to_string()), "{message}");
    }
}

fn sources(files: &Path, lite: &Path) -> String {
    format!(
        "[[sources.files]]\npath = {:?}\n\n[[sources.database]]\nname = \"lite\"\nkind = \"sqlite\"\npath = {:?}\n",
        files.display().to_string(),
        lite.display().to_string()
    )
}

fn sqlite_db(dir: &Path) -> std::path::PathBuf {
    let db = dir.join("live.db");
    let ok = Command::new("sqlite3")
        .arg(&db)
        .arg("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3);")
        .status()
        .unwrap()
        .success();
    assert!(ok);
    db
}

#[test]
fn by_default_only_the_data_dirs_restores_are_allowed() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.txt"), "alpha").unwrap();
    let lite = sqlite_db(src.path());
    let outside = tempfile::tempdir().unwrap();
    let server = Served::with_opts(
        &sources(src.path(), &lite),
        &Opts {
            exact: true,
            ..Opts::default()
        },
    );
    let id = backup(&server);
    let restores = server.data_dir().join("restores");
    let before = restore_runs(&server);

    // A directory anywhere else: refused, dry run or not, naming the one allowed root.
    for dry_run in [false, true] {
        let target = outside.path().join("here");
        let (code, body) = restore(&server, &id, json!({"target": target, "dry_run": dry_run}));
        refused(code, &body, "target", &[&restores]);
        assert!(!target.exists());
    }
    // An SQLite file elsewhere: refused on `into`.
    let file = outside.path().join("copy.sqlite");
    let (code, body) = restore(&server, &id, json!({"database": "lite", "into": file}));
    refused(code, &body, "into", &[&restores]);
    assert!(!file.exists());
    assert_eq!(restore_runs(&server), before, "a refusal records nothing");

    // Below <data_dir>/restores: allowed, for files and for the SQLite default.
    let target = restores.join("first");
    let (code, body) = restore(&server, &id, json!({"target": target}));
    assert_eq!(code, 200, "{body}");
    let restored = walk_find(&target, "a.txt");
    assert_eq!(std::fs::read_to_string(restored).unwrap(), "alpha");
    let (code, body) = restore(&server, &id, json!({"database": "lite"}));
    assert_eq!(code, 200, "{body}");
    assert!(body["into"]
        .as_str()
        .unwrap()
        .starts_with(&restores.display().to_string()));
    assert_eq!(
        restore_runs(&server),
        before + 2,
        "the allowed restores are runs"
    );

    // A link inside the allowed root that leads out: refused, nothing written through it.
    std::os::unix::fs::symlink(outside.path(), restores.join("escape")).unwrap();
    let (code, body) = restore(&server, &id, json!({"target": restores.join("escape/x")}));
    refused(code, &body, "target", &[&restores]);
    let (code, body) = restore(
        &server,
        &id,
        json!({"database": "lite", "into": restores.join("escape/x.sqlite")}),
    );
    refused(code, &body, "into", &[&restores]);
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing was written outside"
    );
    server.stop();
}

/// The first file named `name` below `dir`.
fn walk_find(dir: &Path, name: &str) -> std::path::PathBuf {
    find(dir, name).unwrap_or_else(|| panic!("{name} not under {}", dir.display()))
}

fn find(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
        if path.is_dir() {
            if let Some(found) = find(&path, name) {
                return Some(found);
            }
        }
    }
    None
}

#[test]
fn configured_roots_allow_exactly_their_trees() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("b.txt"), "bravo").unwrap();
    let lite = sqlite_db(src.path());
    let roots = tempfile::tempdir().unwrap();
    let (one, two, other) = (
        roots.path().join("one"),
        roots.path().join("two"),
        roots.path().join("other"),
    );
    for d in [&one, &two, &other] {
        std::fs::create_dir(d).unwrap();
    }
    let config = format!(
        "{}\n[restore]\nallowed_targets = [{:?}, {:?}]\n",
        sources(src.path(), &lite),
        one.display().to_string(),
        two.display().to_string()
    );
    let server = Served::with_opts(
        &config,
        &Opts {
            exact: true,
            ..Opts::default()
        },
    );
    let id = backup(&server);
    for target in [one.join("r1"), two.join("deep/r2"), one.clone()] {
        let (code, body) = restore(&server, &id, json!({"target": target, "force": true}));
        assert_eq!(code, 200, "{}: {body}", target.display());
        assert_eq!(
            std::fs::read_to_string(walk_find(&target, "b.txt")).unwrap(),
            "bravo"
        );
    }
    let (code, body) = restore(
        &server,
        &id,
        json!({"database": "lite", "into": two.join("copy.sqlite")}),
    );
    assert_eq!(code, 200, "{body}");
    // Outside both (a sibling, a prefix look-alike, the default): refused, naming both roots.
    let lookalike = roots.path().join("one-more");
    let default = server.data_dir().join("restores/x");
    for target in [other.join("r"), lookalike.clone(), default] {
        let (code, body) = restore(&server, &id, json!({"target": target}));
        refused(code, &body, "target", &[&one, &two]);
    }
    let (code, body) = restore(
        &server,
        &id,
        json!({"database": "lite", "into": other.join("c.sqlite")}),
    );
    refused(code, &body, "into", &[&one, &two]);
    // A link in `one` to `other`.
    std::os::unix::fs::symlink(&other, one.join("link")).unwrap();
    let (code, body) = restore(&server, &id, json!({"target": one.join("link/r")}));
    refused(code, &body, "target", &[&one, &two]);
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 0);
    assert!(!lookalike.exists());
    let data = server.data_dir().to_path_buf();
    let holder = server.stop();

    // Offline, the operator's own restore is not limited by the list.
    let anywhere = other.join("offline");
    stdout_ok(
        bin()
            .args(["restore", &id, "--to"])
            .arg(&anywhere)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap(),
    );
    assert_eq!(
        std::fs::read_to_string(walk_find(&anywhere, "b.txt")).unwrap(),
        "bravo"
    );
    drop(holder);
}

#[test]
fn allowed_targets_must_be_absolute() {
    let dir = tempfile::tempdir().unwrap();
    for (value, key) in [
        ("[\"relative/dir\"]", "restore.allowed_targets[0]"),
        (
            "[\"/srv/ok\", \"/srv/../etc\"]",
            "restore.allowed_targets[1]",
        ),
    ] {
        let file = dir.path().join("c.toml");
        std::fs::write(&file, format!("[restore]\nallowed_targets = {value}\n")).unwrap();
        let out = offline(["events", "--config", file.to_str().unwrap()], dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(key), "{stderr}");
    }
}
