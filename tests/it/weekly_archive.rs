//! The weekly archive's body on real files: a full + two incrementals merged into one
//! self-contained xz archive that restores the chain's newest state, survives the chain's
//! deletion, and is refused (leaving nothing behind) when the chain is damaged.

use crate::engine::{generate_tree, restored_root, snapshot, Node, Rig};
use backupd::archive::{ArchiveReader, Codec, EntryKind, Location};
use backupd::config::{DatabaseKind, DatabaseSource};
use backupd::decide::{Command, RunOutcome};
use backupd::engine::{self, sources::root_name, ConsolidateDone, EngineError};
use backupd::events::{
    BackupKind, BackupMode, BackupRecord, BackupType, JobAction, JobSpec, RunReason, Trigger,
};
use backupd::progress::Progress;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

/// Sorted regular files below `src`, relative.
fn files_of(src: &Path) -> Vec<String> {
    snapshot(src)
        .into_iter()
        .filter(|(_, n)| matches!(n, Node::File { .. }))
        .map(|(p, _)| p)
        .collect()
}

/// Content changes (one growing, the rest same-size), deletions, additions, a mode-only change,
/// a new symlink, a new empty directory. `round` keeps the two rounds' picks apart.
fn mutate(src: &Path, round: usize) {
    let files = files_of(src);
    for p in files.iter().skip(round).step_by(29).take(8) {
        let old = fs::read(src.join(p)).unwrap();
        let new: Vec<u8> = if old.is_empty() {
            format!("round {round} filled an empty file").into_bytes()
        } else {
            old.iter().map(|b| b.wrapping_add(1)).collect()
        };
        fs::write(src.join(p), new).unwrap();
    }
    for p in files.iter().skip(3 + round).step_by(53).take(3) {
        fs::remove_file(src.join(p)).unwrap();
    }
    let dir = src.join(format!("added-{round}"));
    fs::create_dir_all(&dir).unwrap();
    for i in 0..6 {
        fs::write(
            dir.join(format!("n{i}.txt")),
            format!("added in round {round}: {i}"),
        )
        .unwrap();
    }
    fs::write(dir.join("empty"), "").unwrap();
    fs::create_dir_all(src.join(format!("empty-dir-{round}"))).unwrap();
    // Mode only: same bytes, same size.
    let chmod = &files[files.len() - 1 - round];
    if src.join(chmod).exists() {
        fs::set_permissions(src.join(chmod), fs::Permissions::from_mode(0o604)).unwrap();
    }
    symlink(
        format!("added-{round}/n1.txt"),
        src.join(format!("link-{round}")),
    )
    .unwrap();
}

fn archive_job(rig: &Rig) -> JobSpec {
    let job = JobSpec {
        id: "weekly".into(),
        name: "weekly archive".into(),
        trigger: Trigger::Interval {
            seconds: 7 * 86_400,
            start_at: None,
        },
        action: JobAction::Archive,
        misfire_grace_secs: Some(3600),
        timezone: None,
        jitter_secs: 0,
    };
    rig.command(Command::CreateJob(job.clone()));
    job
}

/// One archive run as the scheduler would record it: started, consolidated, finished (with the
/// backup on success).
fn run_consolidate(
    rig: &Rig,
    job: &JobSpec,
    n: u32,
    source: &str,
) -> Result<ConsolidateDone, EngineError> {
    rig.clock.advance(time::Duration::hours(1));
    let run_id = format!("weekly-run-{n}");
    rig.command(Command::StartRun {
        run_id: run_id.clone(),
        job_id: job.id.clone(),
        slot: None,
        reason: RunReason::Manual,
    });
    let progress = Progress::default();
    let handle = progress.begin(&run_id);
    let result = engine::consolidate(&rig.config, &rig.service, &job.id, &run_id, source, &handle);
    let outcome = match &result {
        Ok(done) => RunOutcome::Succeeded {
            bytes: done.record.bytes,
            files: done.files,
            note: None,
            warnings: Vec::new(),
            perf: None,
            backup: Some(done.record.clone()),
        },
        Err(e) => RunOutcome::Failed {
            error: e.to_string(),
            kind: e.kind(),
        },
    };
    rig.command(Command::FinishRun { run_id, outcome });
    result
}

fn dump_source() -> DatabaseSource {
    DatabaseSource {
        name: "app".into(),
        kind: DatabaseKind::Command,
        url: None,
        path: None,
        command: Some(vec![
            "sh".into(),
            "-c".into(),
            "echo 'CREATE TABLE t (x int);'; echo 'INSERT INTO t VALUES (1);'".into(),
        ]),
        password_env: None,
        password_file: None,
    }
}

/// A full and two incrementals of `src` (with a command dump); the records, oldest first.
fn chain(rig: &mut Rig, src: &Path) -> Vec<BackupRecord> {
    let job = rig.job("chain", BackupType::Full, BackupMode::Incremental);
    let (full, _) = rig.backup(&job);
    assert_eq!(full.kind, BackupKind::Full);
    mutate(src, 1);
    let (inc1, _) = rig.backup(&job);
    assert_eq!(inc1.parent.as_deref(), Some(full.id.as_str()));
    mutate(src, 2);
    let (inc2, _) = rig.backup(&job);
    assert_eq!(inc2.parent.as_deref(), Some(inc1.id.as_str()));
    vec![full, inc1, inc2]
}

fn listing(dir: &Path) -> Vec<PathBuf> {
    match fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => vec![],
    }
}

#[test]
fn a_merged_chain_restores_the_newest_state_and_stands_alone() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    generate_tree(&src, 300, 23);
    let data = dir.path().join("data");
    let mut rig = Rig::new(&data, vec![src.clone()], vec![dump_source()]);
    let backups = chain(&mut rig, &src);
    let newest = &backups[2];
    let source_tree = snapshot(&src);

    // The chain really is a chain: the newest holds few bytes, and refers to both parents.
    let holders: BTreeSet<String> = rig
        .archive(&newest.id)
        .index()
        .entries
        .iter()
        .filter_map(|e| match &e.location {
            Location::Parent { backup } => Some(backup.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        holders,
        [backups[0].id.clone(), backups[1].id.clone()].into()
    );

    let job = archive_job(&rig);
    let done = run_consolidate(&rig, &job, 1, &newest.id).unwrap();
    let rec = &done.record;
    assert_eq!(done.source_id, newest.id);
    assert_eq!(
        done.merged,
        vec![
            backups[2].id.clone(),
            backups[1].id.clone(),
            backups[0].id.clone()
        ]
    );
    assert_eq!(rec.kind, BackupKind::Archive);
    assert_eq!(rec.parent, None);
    assert_eq!(rec.job_id, "weekly");
    assert_eq!(rec.run_id, "weekly-run-1");
    assert_eq!(rec.compression, "xz");
    assert_eq!(rec.location, format!("archives/{}.bka", rec.id));
    assert!(rec.id.starts_with("weekly-2026"), "{}", rec.id);
    let path = data.join(&rec.location);
    assert_eq!(rec.bytes, fs::metadata(&path).unwrap().len());
    assert_eq!(listing(&data.join("archives")), vec![path.clone()]);
    assert!(!data.join("tmp").join(&rec.id).exists());
    // Recorded as the scheduler records it.
    let recorded = rig
        .service
        .read(|s| s.catalog.backups.get(&rec.id).map(|b| b.record.clone()));
    assert_eq!(recorded.as_ref(), Some(rec));

    // Self-contained, at the archive codec, and the manifest of the newest state.
    let r = ArchiveReader::open(fs::File::open(&path).unwrap()).unwrap();
    assert_eq!((r.index().codec, r.index().level), (Codec::Xz, 9));
    // The recorded checksum is the index CRC the trailer holds (bytes 24..28 of its 40).
    let file = fs::read(&path).unwrap();
    let t = file.len() - 40;
    assert_eq!(
        rec.checksum,
        u32::from_le_bytes(file[t + 24..t + 28].try_into().unwrap())
    );
    let src_index = rig.archive(&newest.id);
    let expected: BTreeSet<(String, String, u32, u64, u32)> = src_index
        .index()
        .entries
        .iter()
        .filter(|e| e.kind != EntryKind::Deletion)
        .map(|e| {
            (
                e.path.clone(),
                format!("{:?}{:?}", e.kind, e.mtime),
                e.mode,
                e.size,
                e.crc32,
            )
        })
        .collect();
    let got: BTreeSet<(String, String, u32, u64, u32)> = r
        .index()
        .entries
        .iter()
        .map(|e| {
            (
                e.path.clone(),
                format!("{:?}{:?}", e.kind, e.mtime),
                e.mode,
                e.size,
                e.crc32,
            )
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!(rec.entries, got.len() as u64);
    for e in &r.index().entries {
        assert!(!matches!(e.location, Location::Parent { .. }), "{e:?}");
        assert_ne!(e.kind, EntryKind::Deletion);
        assert_eq!(
            e.kind.has_content(),
            matches!(e.location, Location::Here { .. }),
            "{e:?}"
        );
    }
    let streams = r
        .index()
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Stream)
        .count();
    assert_eq!(streams, 1);
    assert_eq!(
        done.files,
        r.index()
            .entries
            .iter()
            .filter(|e| e.kind.has_content())
            .count() as u64
    );
    let v = rig.verify(&rec.id).unwrap();
    assert_eq!((v.parent_refs, v.parents.len()), (0, 0));

    // Restoring it gives the tree the chain's newest backup gives, which is the source's.
    let t_arc = dir.path().join("r-archive");
    let s = rig.restore(&rec.id, &t_arc, &[], false).unwrap();
    assert!(s.parents_used.is_empty());
    let t_inc = dir.path().join("r-inc");
    rig.restore(&newest.id, &t_inc, &[], false).unwrap();
    let from_archive = snapshot(&restored_root(&t_arc, &src));
    assert_eq!(from_archive, snapshot(&restored_root(&t_inc, &src)));
    assert_eq!(from_archive, source_tree);
    assert_eq!(s.dumps.len(), 1);
    let dump_rel = s.dumps[0].path.strip_prefix(&t_arc).unwrap().to_path_buf();
    let dump = |t: &Path| {
        let p = t.join(&dump_rel);
        let m = fs::metadata(&p).unwrap();
        (
            fs::read(&p).unwrap(),
            m.permissions().mode(),
            m.modified().unwrap(),
        )
    };
    assert_eq!(dump(&t_arc), dump(&t_inc));
    assert!(dump(&t_arc).0.starts_with(b"CREATE TABLE t"));

    // The chain gone (archives and catalog entries' files), the archive still restores alone.
    for b in &backups {
        fs::remove_file(data.join(&b.location)).unwrap();
    }
    assert!(matches!(
        rig.restore(&newest.id, &dir.path().join("r-gone"), &[], false),
        Err(EngineError::MissingArchive { .. } | EngineError::BrokenChain { .. })
    ));
    let t_alone = dir.path().join("r-alone");
    rig.restore(&rec.id, &t_alone, &[], false).unwrap();
    assert_eq!(snapshot(&restored_root(&t_alone, &src)), source_tree);
    assert!(rig.verify(&rec.id).is_ok());

    // Boot reconciliation knows the archives directory: the recorded archive is left alone, a
    // leftover partial is removed, an unrecorded archive reported.
    fs::write(
        data.join("archives/weekly-20200101T000000Z-00000000.bka.partial"),
        "half",
    )
    .unwrap();
    fs::copy(
        &path,
        data.join("archives/weekly-20200102T000000Z-00000000.bka"),
    )
    .unwrap();
    let report = rig
        .service
        .read(|st| engine::reconcile(&rig.config, st))
        .unwrap();
    // (The deleted chain's lone sidecars in backups/ go too; its records are reported missing.)
    let removed_here: Vec<&PathBuf> = report
        .removed
        .iter()
        .filter(|p| p.starts_with(data.join("archives")))
        .collect();
    assert_eq!(
        removed_here,
        vec![&data.join("archives/weekly-20200101T000000Z-00000000.bka.partial")]
    );
    assert!(!data
        .join("archives/weekly-20200101T000000Z-00000000.bka.partial")
        .exists());
    let missing: BTreeSet<&String> = report.missing.iter().collect();
    assert_eq!(missing, backups.iter().map(|b| &b.id).collect());
    assert_eq!(
        report.unrecorded,
        vec![data.join("archives/weekly-20200102T000000Z-00000000.bka")]
    );
    assert!(path.exists());
}

#[test]
fn a_damaged_parent_fails_the_merge_naming_backup_and_entry_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    generate_tree(&src, 200, 5);
    let data = dir.path().join("data");
    let mut rig = Rig::new(&data, vec![src.clone()], vec![]);
    let backups = chain(&mut rig, &src);
    let (full, newest) = (&backups[0], &backups[2]);

    // One byte inside the stored bytes of the full's first frame (header 24 + frame header 16).
    let full_path = data.join(&full.location);
    let mut bytes = fs::read(&full_path).unwrap();
    bytes[24 + 16 + 40] ^= 0x20;
    fs::write(&full_path, &bytes).unwrap();
    // The entries of that frame: the full holds them and the newest state still refers to them.
    let root = root_name("files", &fs::canonicalize(&src).unwrap()).unwrap();
    let referred: BTreeSet<String> = rig
        .archive(&newest.id)
        .index()
        .entries
        .iter()
        .filter(|e| matches!(&e.location, Location::Parent { backup } if *backup == full.id))
        .map(|e| e.path.clone())
        .collect();

    let job = archive_job(&rig);
    let e = run_consolidate(&rig, &job, 1, &newest.id).unwrap_err();
    let msg = e.to_string();
    match &e {
        EngineError::BrokenChain {
            id, path, parent, ..
        } => {
            assert_eq!(id, &newest.id);
            assert_eq!(parent, &full.id);
            assert!(referred.contains(path), "{path} in {msg}");
            assert!(path.starts_with(&root), "{msg}");
        }
        other => panic!("expected a broken chain, got {other:?}"),
    }
    assert!(msg.contains(&newest.id) && msg.contains(&full.id), "{msg}");
    assert!(msg.contains("checksum"), "{msg}");
    assert!(
        listing(&data.join("archives")).is_empty(),
        "{:?}",
        listing(&data.join("archives"))
    );
    assert!(
        listing(&data.join("tmp")).is_empty(),
        "{:?}",
        listing(&data.join("tmp"))
    );
    let failed = rig.service.read(|s| {
        s.catalog
            .backups
            .values()
            .filter(|b| b.record.kind == BackupKind::Archive)
            .count()
    });
    assert_eq!(failed, 0);

    // A parent archive that is gone altogether: also a broken chain, also nothing left.
    fs::remove_file(&full_path).unwrap();
    let e = run_consolidate(&rig, &job, 2, &newest.id).unwrap_err();
    assert!(
        matches!(&e, EngineError::BrokenChain { parent, .. } if *parent == full.id),
        "{e}"
    );
    assert!(listing(&data.join("archives")).is_empty());

    // An unknown source is an error, not a panic.
    let e = run_consolidate(&rig, &job, 3, "nope").unwrap_err();
    assert!(matches!(e, EngineError::UnknownBackup { .. }), "{e}");
}

/// The preset through the real binary: the weekly archive of the incremental chain restores the
/// same tree as the chain, is recorded with what it copies, and is not written twice.
#[test]
fn the_weekly_archive_job_over_http_restores_what_the_chain_restores() {
    use crate::support::Served;
    use serde_json::{json, Value};
    let src = tempfile::tempdir().unwrap();
    generate_tree(src.path(), 120, 7);
    let server = Served::with_config(&format!("[[sources.files]]\npath = {:?}\n", src.path()));
    let full = server.run("daily_full_backup");
    mutate(src.path(), 1);
    let inc = server.run("incremental_backup");
    assert_eq!(inc["status"], "succeeded", "{inc}");
    let (full_id, inc_id) = (
        full["backup_id"].as_str().unwrap(),
        inc["backup_id"].as_str().unwrap(),
    );

    let weekly = server.run("weekly_archive");
    assert_eq!(weekly["status"], "succeeded", "{weekly}");
    let archives = server.get("/backups?kind=archive")["backups"].clone();
    assert_eq!(archives.as_array().unwrap().len(), 1, "{archives}");
    let a = &archives[0];
    let archive_id = a["id"].as_str().unwrap();
    assert_eq!(
        (
            &a["job_id"],
            &a["parent"],
            &a["compression"],
            &a["expires_at"]
        ),
        (
            &json!("weekly_archive"),
            &Value::Null,
            &json!("xz"),
            &Value::Null
        )
    );
    assert!(a["location"].as_str().unwrap().starts_with("archives/"));
    assert!(server
        .data_dir()
        .join(a["location"].as_str().unwrap())
        .is_file());
    let events = server.get("/events?limit=1000");
    let archived: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "backup_archived")
        .collect();
    assert_eq!(archived.len(), 1);
    assert_eq!(
        archived[0]["data"],
        json!({"backup_id": archive_id, "source_id": inc_id, "merged": [inc_id, full_id]})
    );
    assert_eq!(archived[0]["correlation"], weekly["run_id"]);

    let out = tempfile::tempdir().unwrap();
    let restore = |id: &str, name: &str| {
        let target = out.path().join(name);
        let resp = ureq::post(&format!("{}/backups/{id}/restore", server.base))
            .send_json(json!({ "target": target }))
            .unwrap();
        assert_eq!(resp.status(), 200);
        // Below the source's root: the directories above it are made by the restore, not restored.
        snapshot(&restored_root(&target, src.path()))
    };
    let from_chain = restore(inc_id, "chain");
    let from_archive = restore(archive_id, "archive");
    assert!(from_chain.len() > 100);
    assert_eq!(
        from_chain,
        snapshot(src.path()),
        "the chain restores the source as it is"
    );
    let differ: Vec<String> = from_chain
        .keys()
        .chain(from_archive.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| from_chain.get(*k) != from_archive.get(*k))
        .map(|k| {
            let brief = |n: Option<&Node>| match n {
                Some(Node::File {
                    mode,
                    mtime,
                    content,
                }) => {
                    format!("file {mode:o} {mtime:?} {} bytes", content.len())
                }
                other => format!("{other:?}"),
            };
            format!(
                "{k}: chain {} / archive {}",
                brief(from_chain.get(k)),
                brief(from_archive.get(k))
            )
        })
        .collect();
    assert!(differ.is_empty(), "{differ:#?}");

    // The newest backup has its archive: a second run writes nothing.
    let again = server.run("weekly_archive");
    assert!(
        again["note"]
            .as_str()
            .unwrap()
            .starts_with("nothing to archive"),
        "{again}"
    );
    assert_eq!(
        server.get("/backups?kind=archive")["backups"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Archives are kept forever under the seed's policy.
    let preview = server.get("/retention/preview");
    let kept = preview["kept"].as_array().unwrap();
    let reason = kept.iter().find(|k| k["id"] == archive_id).unwrap();
    assert_eq!(reason["reason"], "retention.archive keeps it forever");
    server.stop();
}

/// Seven backup jobs, one per combination of database / files / config, each with a backup: the
/// weekly archive writes seven archives, each with its own id and file, each restorable, and
/// health stays ok about them.
#[test]
fn seven_backup_jobs_each_get_their_weekly_archive() {
    use crate::support::Served;
    use serde_json::{json, Value};
    let scratch = tempfile::tempdir().unwrap();
    let (files, etc) = (scratch.path().join("files"), scratch.path().join("etc"));
    generate_tree(&files, 40, 11);
    generate_tree(&etc, 10, 12);
    let db = scratch.path().join("app.db");
    let made = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg("create table t(x); insert into t values (1), (2);")
        .status()
        .unwrap();
    assert!(made.success());
    let server = Served::with_config(&format!(
        "[[sources.files]]\npath = {files:?}\n\n[[sources.config]]\npath = {etc:?}\n\n\
         [[sources.database]]\nname = \"app\"\nkind = \"sqlite\"\npath = {db:?}\n"
    ));
    let mut jobs = Vec::new();
    for combo in 1..8u8 {
        let (d, f, c) = (combo & 1 != 0, combo & 2 != 0, combo & 4 != 0);
        let id = format!("combo{combo}");
        let body = json!({
            "id": id, "name": id, "trigger_type": "cron",
            "trigger_config": {"hour": 5, "minute": combo},
            "backup_config": {"type": "full", "options": {
                "include_database": d, "include_files": f, "include_config": c}}
        });
        let (code, job) = server.send("POST", "/scheduler/jobs", Some(body));
        assert_eq!(code, 201, "{job}");
        let run = server.run(&id);
        assert_eq!(run["status"], "succeeded", "{run}");
        jobs.push(id);
    }

    let weekly = server.run("weekly_archive");
    assert_eq!(weekly["status"], "succeeded", "{weekly}");
    let archives = server.get("/backups?kind=archive")["backups"].clone();
    let archives = archives.as_array().unwrap();
    assert_eq!(archives.len(), 7, "{archives:?}");
    let ids: BTreeSet<&str> = archives.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 7, "archive ids are unique: {ids:?}");
    for a in archives {
        let id = a["id"].as_str().unwrap();
        let file = server.data_dir().join(a["location"].as_str().unwrap());
        assert!(file.is_file(), "{id}: {} is missing", file.display());
        let (code, v) = server.send("POST", &format!("/backups/{id}/verify"), None);
        assert_eq!((code, &v["ok"]), (200, &json!(true)), "{id}: {v}");
        let target = scratch.path().join(format!("restore-{id}"));
        let (code, sum) = server.send(
            "POST",
            &format!("/backups/{id}/restore"),
            Some(json!({ "target": target })),
        );
        assert_eq!(code, 200, "{id}: {sum}");
    }
    let health = server.run("health_check");
    assert_eq!(health["status"], "succeeded", "{health}");
    let h = server.get("/health");
    // The machine's own disk may be nearly full (its check is about the host, not the archives):
    // every other check must not be critical.
    let critical: Vec<&Value> = h["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "critical" && c["name"] != "disk_space")
        .collect();
    assert!(critical.is_empty(), "{h}");
}
