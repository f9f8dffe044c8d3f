//! Retention cleanup for real: the binary with `incremental = "2s"`, a full and an incremental
//! chain on it, then the preview and the `cleanup_expired` job delete exactly the expired files.

use crate::support::Served;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn ts(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().unwrap(), &Rfc3339).unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect()
}

#[test]
fn a_real_cleanup_deletes_exactly_the_expired_incrementals_and_records_why() {
    let src = tempfile::tempdir().unwrap();
    for i in 0..30 {
        std::fs::write(src.path().join(format!("f{i}.txt")), format!("file {i}\n")).unwrap();
    }
    let server = Served::with_config(&format!(
        "[[sources.files]]\npath = {:?}\n\n[retention]\nfull = \"30d\"\nincremental = \"2s\"\n",
        src.path()
    ));

    let full = server.run("daily_full_backup");
    assert_eq!(full["status"], "succeeded", "{full}");
    std::fs::write(src.path().join("f1.txt"), "changed once\n").unwrap();
    let inc1 = server.run("incremental_backup");
    std::fs::write(src.path().join("f2.txt"), "changed twice\n").unwrap();
    let inc2 = server.run("incremental_backup");
    let (f, i1, i2) = (
        full["backup_id"].as_str().unwrap(),
        inc1["backup_id"].as_str().unwrap(),
        inc2["backup_id"].as_str().unwrap(),
    );
    // The preset incremental builds on the nightly full's chain (same sources), not on its own.
    let backup = |id: &str| server.get(&format!("/backups/{id}"));
    assert_eq!(backup(i1)["parent"], f, "{}", backup(i1));
    assert_eq!(backup(i2)["parent"], i1);
    assert_eq!(backup(i2)["kind"], "incremental");

    // Until the newest incremental expires it holds its chain: nothing is deletable; after, both
    // go together, never the base alone. The wall clock picks the branch here;
    // `until_the_newest_incremental_expires_it_holds_its_chain` pins the first with the manual
    // clock.
    let preview = server.get("/retention/preview");
    if ts(&preview["now"]) < ts(&backup(i2)["expires_at"]) {
        assert_eq!(ids(&preview["backups"]), Vec::<&str>::new(), "{preview}");
    } else {
        assert_eq!(ids(&preview["backups"]), [i2, i1], "{preview}");
    }
    assert_eq!(preview["policy"]["incremental"], "2s");

    let deadline = Instant::now() + Duration::from_secs(20);
    let preview = loop {
        let p = server.get("/retention/preview");
        if !p["backups"].as_array().unwrap().is_empty() {
            break p;
        }
        assert!(Instant::now() < deadline, "nothing ever expired: {p}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(ids(&preview["backups"]), [i2, i1], "{preview}");
    for d in preview["backups"].as_array().unwrap() {
        assert_eq!(d["rule"], "retention.incremental");
    }
    let kept = &preview["kept"].as_array().unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["id"], f);
    assert!(kept[0]["reason"].as_str().unwrap().contains("not expired"));

    let sizes: u64 = [i1, i2]
        .iter()
        .map(|id| backup(id)["size"].as_u64().unwrap())
        .sum();
    assert_eq!(preview["bytes"].as_u64().unwrap(), sizes);
    let stored = |s: &Served| -> u64 {
        s.get("/backups")["backups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["size"].as_u64().unwrap())
            .sum()
    };
    let before = stored(&server);
    let backups_dir = server.data_dir().join("backups");
    let on_disk = |dir: &Path| -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    let disk_before = on_disk(&backups_dir);
    let storage = |s: &Served| s.get("/scheduler/status")["stats"]["storage_bytes"].clone();
    let storage_before = storage(&server);

    let cleanup = server.run("cleanup_expired");
    assert_eq!(cleanup["status"], "succeeded", "{cleanup}");
    assert!(
        cleanup["note"]
            .as_str()
            .unwrap()
            .starts_with("deleted 2 backup(s)"),
        "{cleanup}"
    );
    assert_eq!(
        files_in(&backups_dir),
        [format!("{f}.bka"), format!("{f}.manifest")]
    );
    assert_eq!(stored(&server), before - sizes);
    // The service's own storage figures drop by exactly the deleted backups' size.
    let storage_after = storage(&server);
    for (kind, drop) in [("incremental", sizes), ("full", 0), ("total", sizes)] {
        let (b, a) = (storage_before[kind].as_u64(), storage_after[kind].as_u64());
        assert_eq!(
            a.unwrap() + drop,
            b.unwrap(),
            "{kind}: {storage_before} -> {storage_after}"
        );
    }
    let sidecars: u64 = disk_before - on_disk(&backups_dir) - sizes;
    assert!(sidecars > 0, "the deleted backups' sidecars went too");
    assert_eq!(ids(&server.get("/backups")["backups"]), [f]);
    let (status, _) = server.send("GET", &format!("/backups/{i1}"), None);
    assert_eq!(status, 404);

    // The log says who deleted what under which rule, dependants first.
    let events = server.get("/events?limit=1000");
    let deleted: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "backup_deleted")
        .collect();
    assert_eq!(deleted.len(), 2);
    for (e, id) in deleted.iter().zip([i2, i1]) {
        assert_eq!(e["data"]["backup_id"], id);
        assert_eq!(e["data"]["rule"], "retention.incremental");
        // The cleanup was run now through the API: its deletions are its requester's.
        assert_eq!(e["actor"], "api:anonymous");
        assert_eq!(e["correlation"], cleanup["run_id"]);
    }

    // Nothing left to delete; the full stays.
    assert!(server.get("/retention/preview")["backups"]
        .as_array()
        .unwrap()
        .is_empty());
    let again = server.run("cleanup_expired");
    assert!(again["note"]
        .as_str()
        .unwrap()
        .starts_with("deleted 0 backup(s)"));
    // A chain is not extended past the incremental retention (it would keep its base forever):
    // the next incremental run starts a new chain with a full and says why.
    let inc3 = server.run("incremental_backup");
    let b3 = backup(inc3["backup_id"].as_str().unwrap());
    assert_eq!((&b3["kind"], &b3["parent"]), (&"full".into(), &Value::Null));
    assert!(
        inc3["note"]
            .as_str()
            .unwrap()
            .contains("older than retention.incremental"),
        "{inc3}"
    );
    server.stop();
}

#[test]
fn files_of_a_deletion_recorded_just_before_a_crash_go_with_the_next_cleanup() {
    use crate::engine::Rig;
    use backupd::decide::{Command, RunOutcome};
    use backupd::events::{BackupMode, BackupType, JobAction};
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.txt"), "a").unwrap();
    let mut rig = Rig::new(&dir.path().join("data"), vec![src], vec![]);
    let job = rig.job("f", BackupType::Files, BackupMode::Full);
    let (old, _) = rig.backup(&job);
    let (new, _) = rig.backup(&job);
    let mut cleanup = rig.job("cleanup", BackupType::Files, BackupMode::Full);
    cleanup.action = JobAction::Cleanup;
    rig.command(Command::UpdateJob {
        job_id: cleanup.id.clone(),
        patch: backupd::domain::patch::JobPatch::whole(&cleanup),
        if_version: None,
        sources: None,
    });

    // 31 days on, both fulls are expired; the newer is the job's newest good full and stays.
    rig.clock.advance(time::Duration::days(31));
    // What a crash between the event and the unlink leaves: deleted in the log, files on disk.
    rig.command(Command::DeleteBackup {
        backup_id: old.id.clone(),
        rule: "retention.full".into(),
    });
    let backups = rig.config.data_dir.join("backups");
    assert!(backups.join(format!("{}.bka", old.id)).exists());

    match rig.run(&cleanup) {
        RunOutcome::Succeeded { note: Some(n), .. } => {
            assert!(n.starts_with("deleted 0 backup(s)"), "{n}");
            assert!(n.contains("removed 2 leftover file(s)"), "{n}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        files_in(&backups),
        [format!("{}.bka", new.id), format!("{}.manifest", new.id)]
    );
    // And the newest good full is refused to retention outright.
    let state = rig.service.read(|s| s.clone());
    let refused = backupd::decide::decide(
        &state,
        &Command::DeleteBackup {
            backup_id: new.id.clone(),
            rule: "retention.full".into(),
        },
        rig.service.clock().now().into(),
    )
    .unwrap_err();
    assert!(
        refused.message.contains("newest good full"),
        "{}",
        refused.message
    );
}

/// What the real cleanup test above can check only while the wall clock allows, on the manual
/// clock so it always runs: until the newest incremental of a chain expires, the chain stays
/// whole, even when its older links expired already; at the instant it expires, the incrementals
/// go, dependants first, and the full stays.
#[test]
fn until_the_newest_incremental_expires_it_holds_its_chain() {
    use crate::engine::Rig;
    use backupd::decide::Command;
    use backupd::domain::retention;
    use backupd::events::{BackupKind, BackupMode, BackupType, RetentionPolicy};
    use time::Duration as Span;
    const HOUR: u64 = 3600;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.txt"), "a").unwrap();
    let mut rig = Rig::new(&dir.path().join("data"), vec![src.clone()], vec![]);
    rig.command(Command::Boot {
        version: "test".into(),
        pid: 1,
        presets: vec![],
        retention: RetentionPolicy {
            full_secs: Some(30 * 24 * HOUR),
            incremental_secs: Some(3 * HOUR),
            archive_secs: None,
            report_secs: Some(90 * 24 * HOUR),
        },
        autostart: false,
    });
    // Each run is an hour after the last (`Rig::run`): f, then i1 and i2 on it.
    let job = rig.job("inc", BackupType::Files, BackupMode::Incremental);
    let (f, _) = rig.backup(&job);
    std::fs::write(src.join("a.txt"), "changed once").unwrap();
    let (i1, _) = rig.backup(&job);
    std::fs::write(src.join("a.txt"), "changed twice").unwrap();
    let (i2, _) = rig.backup(&job);
    assert_eq!((f.kind, &f.parent), (BackupKind::Full, &None));
    assert_eq!(i1.parent.as_deref(), Some(f.id.as_str()));
    assert_eq!(i2.parent.as_deref(), Some(i1.id.as_str()));

    let plan_at = |rig: &mut Rig, at: time::OffsetDateTime| {
        let now = rig.service.clock().now();
        assert!(at >= now, "the clock only moves forward");
        rig.clock.advance(at - now);
        rig.service.read(|s| retention::plan_for(s, at.into()))
    };
    let deleted =
        |p: &retention::Plan| -> Vec<String> { p.backups.iter().map(|d| d.id.clone()).collect() };
    let (i1_expires, i2_expires) = (
        i1.created_at.get() + Span::hours(3),
        i2.created_at.get() + Span::hours(3),
    );
    let now = rig.service.clock().now();
    let p = plan_at(&mut rig, now);
    assert_eq!(deleted(&p), Vec::<String>::new(), "nothing expired yet");
    // i1 expired, i2 not yet: i2 reads through i1, so both stay.
    for at in [i1_expires, i2_expires - Span::seconds(1)] {
        let p = plan_at(&mut rig, at);
        assert_eq!(deleted(&p), Vec::<String>::new(), "at {at}: {p:?}");
        assert_eq!(
            p.why_kept(&i1.id),
            Some(format!("expired, but {:?} depends on it", i2.id).as_str())
        );
        assert!(p.why_kept(&i2.id).unwrap().starts_with("not expired"));
    }
    let p = plan_at(&mut rig, i2_expires);
    assert_eq!(deleted(&p), [i2.id.clone(), i1.id.clone()]);
    assert!(p.backups.iter().all(|d| d.rule == "retention.incremental"));
    assert_eq!(p.kept.len(), 1);
    assert_eq!(p.kept[0].id, f.id);
    assert!(p.kept[0].reason.starts_with("not expired"), "{:?}", p.kept);
}
