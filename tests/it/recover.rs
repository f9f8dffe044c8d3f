//! `backupd recover` and orphan archives, on the real binary: a lost log rebuilt from the
//! archives (same ids, kinds, parents and bytes; restores of each kind work; damaged archives
//! named and left out), and an archive no event names listed by health and the API and removed
//! by the cleanup once older than the grace.

use crate::engine::{generate_tree, restored_root, snapshot};
use crate::support::{bin, Served};
use serde_json::{json, Value};
use std::fs;
use std::path::Path;

/// id, kind, parent, size and job of every backup the API lists, sorted by id.
fn catalog(server: &Served) -> Vec<Value> {
    let mut all: Vec<Value> = server.get("/backups?limit=1000")["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            json!({"id": b["id"], "kind": b["kind"], "parent": b["parent"],
                   "size": b["size"], "job_id": b["job_id"]})
        })
        .collect();
    all.sort_by_key(|b| b["id"].as_str().unwrap().to_string());
    all
}

fn recover(data: &Path, extra: &[&str]) -> std::process::Output {
    bin()
        .arg("recover")
        .arg("--data-dir")
        .arg(data)
        .args(extra)
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Flips one byte in the middle of a copy of `from`, written as `to`.
fn damaged_copy(from: &Path, to: &Path) {
    let mut bytes = fs::read(from).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    fs::write(to, bytes).unwrap();
}

#[test]
fn recover_rebuilds_a_lost_catalog_from_the_archives_and_restores_work() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    generate_tree(&src, 60, 11);
    let server = Served::with_config(&format!("[[sources.files]]\npath = {src:?}\n"));
    let full = server.run("daily_full_backup");
    assert_eq!(full["status"], "succeeded", "{full}");
    let full = full["backup_id"].as_str().unwrap().to_string();
    let at_full = snapshot(&src);
    fs::write(src.join("a/added.txt"), "after the full").unwrap();
    fs::write(src.join("z/changed"), "changed after the full").unwrap();
    let inc = server.run("incremental_backup");
    assert_eq!(inc["status"], "succeeded", "{inc}");
    let inc = inc["backup_id"].as_str().unwrap().to_string();
    let at_inc = snapshot(&src);
    let weekly = server.run("weekly_archive");
    assert_eq!(weekly["status"], "succeeded", "{weekly}");
    let before = catalog(&server);
    let kinds: Vec<&str> = before.iter().map(|b| b["kind"].as_str().unwrap()).collect();
    assert_eq!(before.len(), 3, "{before:?}");
    assert_eq!(
        before
            .iter()
            .find(|b| b["id"] == inc.as_str())
            .map(|b| &b["parent"]),
        Some(&json!(full)),
        "{before:?}"
    );
    let archive = before
        .iter()
        .find(|b| b["kind"] == "archive")
        .unwrap_or_else(|| panic!("no archive among {kinds:?}"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let data = server.data_dir().to_path_buf();
    let holder = server.stop();
    let config = holder.path().join("backupd.toml");

    // The log is lost; a damaged archive lies beside the good ones.
    fs::remove_file(data.join("events.redb")).unwrap();
    let bad = "daily_full_backup-20200101T000000Z-0badc0de.bka";
    damaged_copy(
        &data.join(format!("backups/{full}.bka")),
        &data.join("backups").join(bad),
    );
    // `serve` refuses the lost log and points to `recover`.
    let mut refused = bin()
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .args(["--bind", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while refused.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = refused.kill();
            panic!("serve started on a lost log");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let refused = refused.wait_with_output().unwrap();
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("backupd recover"),
        "{}",
        text(&refused)
    );
    assert!(!data.join("events.redb").exists());

    let out = recover(&data, &[]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("recovered 3 backup(s)"), "{said}");
    assert!(said.contains("left out 1 archive(s)"), "{said}");
    assert!(said.contains(&format!("backups/{bad}: damaged")), "{said}");

    // The recovery itself is on record, by `system:recover`, after the three backups.
    let events = bin()
        .arg("events")
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(events.status.success(), "{}", text(&events));
    let lines: Vec<Value> = String::from_utf8(events.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = lines.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let last = lines.last().unwrap().to_string();
    assert_eq!(
        names,
        [
            "backup_recorded",
            "backup_recorded",
            "backup_recorded",
            "catalog_recovered"
        ],
        "{last}"
    );
    assert_eq!(lines[3]["actor"], "system:recover", "{last}");
    assert_eq!(lines[3]["data"]["backups"], 3, "{last}");
    assert!(last.contains(bad), "{last}");

    // A log that exists is never written over without --force, and --force moves it aside.
    let again = recover(&data, &[]);
    assert!(!again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("--force"), "{}", text(&again));
    let forced = recover(&data, &["--force"]);
    assert!(forced.status.success(), "{}", text(&forced));
    let aside: Vec<String> = fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("events.redb.damaged-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(fs::metadata(data.join(&aside[0])).unwrap().len() > 0);
    fs::remove_file(data.join("backups").join(bad)).unwrap();

    // `serve` starts on the recovered log: the same backups, and each kind restores.
    let server = Served::with_config_file(&config, &data);
    assert_eq!(catalog(&server), before);
    for (id, want) in [(&full, &at_full), (&inc, &at_inc), (&archive, &at_inc)] {
        let target = scratch.path().join(format!("restored-{id}"));
        let (code, sum) = server.send(
            "POST",
            &format!("/backups/{id}/restore"),
            Some(json!({ "target": target })),
        );
        assert_eq!(code, 200, "{id}: {sum}");
        assert_eq!(&snapshot(&restored_root(&target, &src)), want, "{id}");
    }
    drop(server);
    drop(holder);
}

#[test]
fn recover_with_only_damaged_archives_fails_and_writes_no_log() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    generate_tree(&src, 10, 3);
    let server = Served::with_config(&format!("[[sources.files]]\npath = {src:?}\n"));
    let full = server.run("daily_full_backup");
    let full = full["backup_id"].as_str().unwrap().to_string();
    let inc = server.run("incremental_backup");
    let inc = inc["backup_id"].as_str().unwrap().to_string();
    let data = server.data_dir().to_path_buf();
    let holder = server.stop();
    fs::remove_file(data.join("events.redb")).unwrap();
    let path = data.join(format!("backups/{full}.bka"));
    let good = fs::read(&path).unwrap();
    damaged_copy(&path, &path);
    let out = recover(&data, &[]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(&format!("backups/{full}.bka: damaged")),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "backups/{inc}.bka: an incremental whose parent backup {full}"
        )),
        "{said}"
    );
    assert!(!data.join("events.redb").exists(), "{said}");
    // The full mended, both come back.
    fs::write(&path, good).unwrap();
    let out = recover(&data, &[]);
    assert!(
        text(&out).contains("recovered 2 backup(s)"),
        "{}",
        text(&out)
    );
    drop(holder);
}

#[test]
fn an_archive_no_event_names_is_listed_and_removed_by_cleanup_after_the_grace() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    generate_tree(&src, 10, 5);
    let server = Served::with_config(&format!("[[sources.files]]\npath = {src:?}\n"));
    let full = server.run("daily_full_backup");
    let full = full["backup_id"].as_str().unwrap().to_string();
    let data = server.data_dir().to_path_buf();
    let orphan = "daily_full_backup-20200101T000000Z-0000beef.bka";
    let orphan_path = data.join("backups").join(orphan);
    fs::copy(data.join(format!("backups/{full}.bka")), &orphan_path).unwrap();

    let listed = server.get("/backups/unrecorded");
    assert_eq!(listed["grace_secs"], 3600, "{listed}");
    let archives = listed["archives"].as_array().unwrap();
    assert_eq!(archives.len(), 1, "{listed}");
    assert_eq!(archives[0]["path"], format!("backups/{orphan}"), "{listed}");
    assert_eq!(archives[0]["removed_by_next_cleanup"], false, "{listed}");
    let (code, body) = server.send("GET", "/backups/unrecorded?x=1", None);
    assert_eq!(code, 400, "{body}");

    let health = server.run("health_check");
    assert_eq!(health["status"], "succeeded", "{health}");
    let checks = server.get("/health")["checks"].clone();
    let check = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "unrecorded_archives")
        .cloned()
        .unwrap_or_else(|| panic!("{checks}"));
    assert_eq!(check["status"], "warning", "{check}");
    assert!(
        check["reason"].as_str().unwrap().contains(orphan),
        "{check}"
    );

    // Within the grace, cleanup keeps it (a run may be about to record it) and says so.
    let cleanup = server.run("cleanup_expired");
    assert_eq!(cleanup["status"], "succeeded", "{cleanup}");
    let note = cleanup["note"].as_str().unwrap().to_string();
    assert!(
        note.contains("kept 1 archive file(s) no event names"),
        "{note}"
    );
    assert!(orphan_path.exists());

    // Two hours old: the next cleanup removes it, names it, and leaves the recorded backup.
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    fs::File::options()
        .write(true)
        .open(&orphan_path)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    assert_eq!(
        server.get("/backups/unrecorded")["archives"][0]["removed_by_next_cleanup"],
        true
    );
    let cleanup = server.run("cleanup_expired");
    let note = cleanup["note"].as_str().unwrap().to_string();
    assert!(
        note.contains(&format!(
            "removed 1 archive file(s) no event names, older than 3600 s: backups/{orphan}"
        )),
        "{note}"
    );
    assert!(!orphan_path.exists());
    assert!(data.join(format!("backups/{full}.bka")).exists());
    assert_eq!(server.get("/backups/unrecorded")["archives"], json!([]));
    let health = server.run("health_check");
    assert_eq!(health["status"], "succeeded", "{health}");
    let checks = server.get("/health")["checks"].clone();
    assert!(
        checks
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "unrecorded_archives" && c["status"] == "ok"),
        "{checks}"
    );
}
