//! Prune of the repository through the real binary: after a backup is forgotten, the cleanup
//! run repacks the pack it left sparse (new pack, moved references, old file gone) and the
//! remaining backup still restores byte-identical through the moved chunks; files of recorded
//! deletions and unnamed packs are swept as a restart after a crash would find them; the
//! storage figures (status, /metrics) say what a prune would free and agree after a restart.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::repository::{backup, data_tree, identical, landed, noise, packs, restore, verify};
use crate::support::{Rng, Served};

fn events(server: &Served, kind: &str) -> Vec<Value> {
    server.get("/events?limit=1000")["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind)
        .cloned()
        .collect()
}

fn figures(server: &Served) -> Value {
    server.get("/scheduler/status")["storage"]["repository"].clone()
}

fn gauge(server: &Served, name: &str) -> u64 {
    let text = ureq::get(&format!("{}/metrics", server.root))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} missing in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

fn forget(server: &Served, id: &str, force: bool) {
    let (code, v) = server.send(
        "DELETE",
        &format!("/backups/{}", id.replace('@', "%40")),
        Some(json!({"force": force})),
    );
    assert_eq!(code, 200, "{v}");
}

/// Sets a file's mtime `hours` back (an old leftover, past the unrecorded grace).
fn age(path: &Path, hours: u32) {
    let ok = Command::new("touch")
        .arg("-d")
        .arg(format!("{hours} hours ago"))
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn prune_repacks_a_sparse_pack_deletes_unreferenced_ones_and_the_rest_restores() {
    let scratch = tempfile::tempdir().unwrap();
    let s = scratch.path();
    let data = s.join("data");
    data_tree(&data, 30, 5);
    let server = Served::with_config(&format!(
        "[repository]\nenabled = true\n\
         [[sources.files]]\nname = \"data\"\npath = {data:?}\n"
    ));
    let (code, job) = server.send(
        "PUT",
        "/scheduler/jobs/daily_full_backup",
        Some(json!({"backup_config": {"type": "files", "mode": "full",
            "options": {"sources": ["data"]}}})),
    );
    assert_eq!(code, 200, "{job}");
    let packs_dir = server.data_dir().join("repository/packs");

    let day1 = backup(&server, "daily_full_backup");
    let first: Vec<_> = packs(&packs_dir);
    assert_eq!(first.len(), 1, "{first:?}");
    // Most of the data changes: the first pack keeps a small live share once day 1 is gone.
    let mut rng = Rng(99);
    for i in 0..20 {
        let dir = ["a", "a/b", "c"][i % 3];
        fs::write(
            data.join(format!("{dir}/f{i:03}")),
            noise(&mut rng, 200_000),
        )
        .unwrap();
    }
    for i in 0..2 {
        fs::write(data.join(format!("big{i}")), noise(&mut rng, 5 << 20)).unwrap();
    }
    let day2 = backup(&server, "daily_full_backup");
    let before = figures(&server);
    assert_eq!(before["packs"], 2, "{before}");
    assert_eq!(before["snapshots"], 2, "{before}");
    assert_eq!(
        before["prunable_bytes"], 0,
        "both backups use every frame: {before}"
    );
    assert!(before["logical_bytes"].as_u64().unwrap() > before["stored_bytes"].as_u64().unwrap());

    forget(&server, &day1, false);
    let sparse = figures(&server);
    let prunable = sparse["prunable_bytes"].as_u64().unwrap();
    assert!(
        prunable > 10 << 20,
        "most of the first pack is dead: {sparse}"
    );
    assert_eq!(
        gauge(&server, "backupd_repository_prunable_bytes"),
        prunable
    );
    assert_eq!(gauge(&server, "backupd_repository_packs"), 2);
    let old_pack = fs::read(&first[0]).unwrap();

    let cleanup = server.run("cleanup_expired");
    assert_eq!(cleanup["status"], "succeeded", "{cleanup}");
    let note = cleanup["note"].as_str().unwrap();
    assert!(note.contains("repacked 1"), "{note}");
    let repacked = events(&server, "packs_repacked");
    assert_eq!(repacked.len(), 1, "{repacked:?}");
    let old_id = first[0].file_stem().unwrap().to_str().unwrap();
    assert_eq!(repacked[0]["data"]["from"], json!([old_id]));
    assert_eq!(repacked[0]["correlation"], cleanup["run_id"]);
    let deleted = events(&server, "packs_deleted");
    assert_eq!(deleted[0]["data"]["packs"], json!([old_id]));
    assert_eq!(deleted[0]["data"]["reason"], "repacked");
    assert!(!first[0].exists(), "the repacked pack's file is gone");
    let after = figures(&server);
    assert_eq!(after["packs"], 2, "the day-2 pack and the new one: {after}");
    assert_eq!(after["prunable_bytes"], 0, "{after}");
    let freed = before["stored_bytes"].as_u64().unwrap() - after["stored_bytes"].as_u64().unwrap();
    assert!(freed > 10 << 20, "freed {freed}: {after}");
    assert_eq!(cleanup["bytes"].as_u64().unwrap(), freed, "{cleanup}");

    // Day 2 reads its unchanged files through the moved chunks.
    let target = restore(&server, &day2, s);
    identical(&data, &landed(&target, "files", &data));
    verify(&server, &day2);

    // As a crash would leave them: the deleted pack's file back, an unnamed pack from long ago
    // and one just written (a run may still record it).
    fs::write(&first[0], &old_pack).unwrap();
    let stale = packs_dir
        .join("ab")
        .join(format!("{}.pack", "ab".repeat(32)));
    let young = packs_dir
        .join("cd")
        .join(format!("{}.pack", "cd".repeat(32)));
    for p in [&stale, &young] {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, b"not a pack").unwrap();
    }
    age(&stale, 2);
    let again = server.run("cleanup_expired");
    assert_eq!(again["status"], "succeeded", "{again}");
    let note = again["note"].as_str().unwrap();
    assert!(!first[0].exists() && !stale.exists(), "{note}");
    assert!(young.exists(), "{note}");
    assert!(
        note.contains("removed 1 pack file(s) of earlier deletions"),
        "{note}"
    );
    assert!(note.contains("kept 1 young pack file(s)"), "{note}");
    assert_eq!(
        events(&server, "packs_deleted").len(),
        1,
        "nothing new to record"
    );

    // A restart folds the same repository from the log.
    let live = figures(&server);
    let holder = server.stop();
    let server = Served::with_config_file(
        &holder.path().join("backupd.toml"),
        &holder.path().join("data"),
    );
    assert_eq!(figures(&server), live);
    let target = restore(&server, &day2, &s.join("after-restart"));
    identical(&data, &landed(&target, "files", &data));

    // The last backup forgotten: every pack is unreferenced and goes.
    forget(&server, &day2, true);
    let last = server.run("cleanup_expired");
    assert_eq!(last["status"], "succeeded", "{last}");
    let deleted = events(&server, "packs_deleted");
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    assert_eq!(deleted[1]["data"]["reason"], "unreferenced");
    assert_eq!(deleted[1]["data"]["packs"].as_array().unwrap().len(), 2);
    assert_eq!(packs(&packs_dir), vec![young.clone()]);
    let empty = figures(&server);
    assert_eq!(
        (empty["packs"].as_u64(), empty["stored_bytes"].as_u64()),
        (Some(0), Some(0))
    );
}

/// `X of Y frame(s)` from a frame verify's summary.
fn counts(summary: &str) -> (u64, u64) {
    let mut words = summary.split_whitespace();
    let x = words.next().unwrap().parse().unwrap();
    assert_eq!(words.next(), Some("of"), "{summary}");
    (x, words.next().unwrap().parse().unwrap())
}

#[test]
fn verify_by_sample_reads_shared_frames_once_and_finds_a_damaged_one() {
    use crate::support::{offline, stdout_ok};
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("data");
    data_tree(&data, 12, 3);
    let server = Served::with_config(&format!(
        "[repository]\nenabled = true\n[[sources.files]]\nname = \"data\"\npath = {data:?}\n"
    ));
    let (code, job) = server.send(
        "PUT",
        "/scheduler/jobs/daily_full_backup",
        Some(json!({"backup_config": {"type": "files", "mode": "full",
            "options": {"sources": ["data"]}}})),
    );
    assert_eq!(code, 200, "{job}");
    let day1 = backup(&server, "daily_full_backup");
    fs::write(data.join("c/notes.txt"), "other text\n".repeat(4000)).unwrap();
    let day2 = backup(&server, "daily_full_backup");
    let chunks = figures(&server)["chunks"].as_u64().unwrap();
    let holder = server.stop();
    let dir = holder.path().join("data");

    // Every frame once: the two snapshots share all but the changed file's chunk and the tree
    // chunk that lists it (schema/repository.md, version 2).
    let all = stdout_ok(offline(["verify", "--sample", "100%"], &dir));
    assert_eq!(counts(&all), (chunks, chunks), "{all}");
    let one = stdout_ok(offline(["verify", &day1, "--sample", "100%"], &dir));
    assert_eq!(counts(&one).0, chunks - 2, "{one}");
    // A quarter a round: ceil(n / 4) frames each time.
    for round in ["0", "1", "2", "3"] {
        let part = stdout_ok(offline(
            ["verify", "--sample", "25%", "--round", round],
            &dir,
        ));
        assert_eq!(counts(&part), (chunks.div_ceil(4), chunks), "{part}");
    }
    let bad = offline(["verify", "--sample", "0%"], &dir);
    assert!(!bad.status.success());

    // One byte changed inside the largest pack's frames: a full sample finds it, and the
    // backup's verification is recorded as failed.
    let pack = packs(&dir.join("repository/packs"))
        .into_iter()
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = fs::read(&pack).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    fs::write(&pack, bytes).unwrap();
    let out = offline(["verify", &day2, "--sample", "100%"], &dir);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("damaged"), "{err}");
    let events = stdout_ok(offline(["events"], &dir));
    let verified: Vec<Value> = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "backup_verified")
        .collect();
    assert_eq!(verified.len(), 2, "{verified:?}");
    assert_eq!(verified[0]["data"]["ok"], true);
    assert_eq!(verified[1]["data"]["backup_id"], json!(day2));
    assert_eq!(verified[1]["data"]["ok"], false);
    assert!(verified[1]["data"]["detail"]
        .as_str()
        .unwrap()
        .starts_with("sample: "));
}

#[test]
fn the_api_verifies_a_sample_of_a_snapshot_and_refuses_bad_shares() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("data");
    data_tree(&data, 8, 4);
    let server = Served::with_config(&format!(
        "[repository]\nenabled = true\n[[sources.files]]\nname = \"data\"\npath = {data:?}\n"
    ));
    let id = backup(&server, "daily_full_backup");
    let chunks = figures(&server)["chunks"].as_u64().unwrap();
    let path = format!("/backups/{}/verify", id.replace('@', "%40"));
    let (code, v) = server.send("POST", &format!("{path}?sample=50%25&round=1"), None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["sample"]["needed"], chunks, "{v}");
    assert_eq!(v["sample"]["frames"], chunks.div_ceil(2), "{v}");
    assert_eq!(v["sample"]["round"], 1, "{v}");
    for (query, field) in [
        ("sample=0", "sample"),
        ("sample=150%25", "sample"),
        ("sample=x", "sample"),
        ("round=2", "round"),
        ("sample=5%25&round=-1", "round"),
        ("samples=5", "samples"),
    ] {
        let (code, err) = server.send("POST", &format!("{path}?{query}"), None);
        assert_eq!(
            (code, &err["error"]["field"]),
            (400, &json!(field)),
            "{query}: {err}"
        );
    }
}
