//! The real binary: `serve` boots and holds the log, `events` and `state --at N` read it offline.

use crate::support::{bin, open_service, spawn_serve, terminate, wait_for_line};
use backupd::clock::Clock;
use backupd::decide::{Command, RunOutcome};
use backupd::events::{BackupKind, BackupRecord, RunReason, Ts};
use backupd::service::Meta;
use std::path::Path;
use std::process::Child;
use std::sync::mpsc;

fn events_json(data_dir: &Path) -> Vec<serde_json::Value> {
    let out = bin()
        .args(["events", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Start `serve` and wait for its "booted" log line.
fn serve(data_dir: &Path) -> (Child, mpsc::Receiver<String>) {
    let (mut child, lines) = spawn_serve(data_dir);
    wait_for_line(&mut child, &lines, "booted at position", 30);
    (child, lines)
}

#[test]
fn serve_boots_holds_the_log_and_restarts_without_reinstalling_presets() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _log) = serve(dir.path());
    // while it runs, the offline reader says the log is in use, and how to read it instead
    let out = bin()
        .args(["events", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(
        msg.contains("in use") && msg.contains("/api/backup/events"),
        "{msg}"
    );
    terminate(child);

    let first = events_json(dir.path());
    let types: Vec<_> = first.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["service_booted", "presets_installed", "scheduler_started"]
    );
    assert_eq!(first[1]["data"]["jobs"].as_array().unwrap().len(), 7);
    assert_eq!(first[0]["actor"], "system");
    assert!(dir.path().join("logs/backup_scheduler.log").exists());

    let (child, _log) = serve(dir.path());
    terminate(child);
    let second = events_json(dir.path());
    assert_eq!(second.len(), 4);
    assert_eq!(second[3]["type"], "service_booted");
    assert_eq!(second[3]["position"], 4);

    let page = bin()
        .args(["events", "--after", "1", "--limit", "2", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(page.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines
            .iter()
            .map(|e| e["position"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [2, 3]
    );
}

#[test]
fn a_bad_config_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[server]\nbindd = \"127.0.0.1:1\"\n", "bindd"),
        ("[retention]\nfull = \"thirty days\"\n", "retention.full"),
        (
            "[scheduler]\ntimezone = \"Nowhere/City\"\n",
            "scheduler.timezone",
        ),
    ];
    for (text, key) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let out = bin()
            .args(["serve", "--config"])
            .arg(&path)
            .args(["--data-dir"])
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{text}: {err}");
    }
    let out = bin()
        .args(["state", "--data-dir"])
        .arg(dir.path().join("nothing-here"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no event log"));
}

#[test]
fn state_at_every_position_reproduces_the_state_as_it_was_then() {
    let dir = tempfile::tempdir().unwrap();
    let (service, clock) = open_service(dir.path(), 4);
    let mut seen = vec![(
        0u64,
        serde_json::to_value(service.read(|s| s.clone())).unwrap(),
    )];
    let run = |cmd: Command| smol::block_on(service.execute(cmd, Meta::actor("api:admin")));
    let mut session = vec![Command::Boot {
        version: "t".into(),
        pid: 1,
        presets: backupd::domain::presets::presets(),
        retention: backupd::projections::DEFAULT_POLICY,
        autostart: true,
    }];
    let mut job = backupd::domain::presets::presets().remove(0);
    job.id = "custom_backup".into();
    job.name = "Custom".into();
    session.push(Command::CreateJob(job.clone()));
    session.push(Command::PauseJob {
        job_id: "custom_backup".into(),
    });
    session.push(Command::StartRun {
        run_id: "r1".into(),
        job_id: "daily_full_backup".into(),
        slot: None,
        reason: RunReason::Manual,
    });
    session.push(Command::FinishRun {
        run_id: "r1".into(),
        outcome: RunOutcome::Succeeded {
            backup: Some(BackupRecord {
                id: "b1".into(),
                job_id: "daily_full_backup".into(),
                run_id: "r1".into(),
                kind: BackupKind::Full,
                parent: None,
                location: "backups/b1.bka".into(),
                bytes: 4096,
                entries: 3,
                checksum: 42,
                compression: "zstd".into(),
                created_at: Ts::from(clock.now()),
            }),
            bytes: 4096,
            files: 3,
            note: None,
            warnings: Vec::new(),
            perf: None,
        },
    });
    session.push(Command::ResumeJob {
        job_id: "custom_backup".into(),
    });
    session.push(Command::DeleteJob {
        job_id: "weekly_archive".into(),
        if_version: None,
    });
    session.push(Command::StopScheduler {
        reason: "api".into(),
    });
    for cmd in session {
        clock.advance(time::Duration::minutes(7));
        run(cmd).unwrap();
        seen.push((
            service.position(),
            serde_json::to_value(service.read(|s| s.clone())).unwrap(),
        ));
    }
    let last = service.position();
    drop(service);

    let state_at = |n: u64| -> serde_json::Value {
        let out = bin()
            .args(["state", "--at", &n.to_string(), "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // at every command boundary: exactly what the live service showed then
    for (position, live) in &seen {
        assert_eq!(&state_at(*position), live, "state --at {position}");
    }
    // and every position in between folds without error, moving forward one event at a time
    for n in 0..=last {
        assert_eq!(state_at(n)["position"], n);
    }
    let out = bin()
        .args(["state", "--at", &(last + 1).to_string(), "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
}
