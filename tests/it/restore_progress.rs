//! Live progress of a restore, through the real binary: while `POST /backups/{id}/restore`
//! writes into a target, `GET /runs?kind=restore` shows the run running with its files and bytes
//! growing as each file lands (not only once the archive is done), and afterwards the finished
//! run with its files, bytes and duration.

use std::fs;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{incompressible_file, reply, Served};

#[test]
fn a_restore_into_a_target_shows_its_bytes_growing_file_by_file() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    fs::create_dir_all(src.join("deep/er")).unwrap();
    // 96 files of 1 MiB: one archive, so before per-file progress the bytes went from 0 to the
    // total in one step at its end.
    let (files, size) = (96u64, 1usize << 20);
    for i in 0..files {
        let dir = if i % 2 == 0 { "deep" } else { "deep/er" };
        incompressible_file(&src.join(dir).join(format!("f{i:03}")), size, i);
    }
    let total = files * size as u64;
    let server = Served::with_config(&format!("[[sources.files]]\npath = {src:?}\n"));
    let run = server.run("daily_full_backup");
    assert_eq!(run["status"], "succeeded", "{run}");
    let id = run["backup_id"].as_str().unwrap().to_string();

    // The restore answers when it is done: it runs on its own thread while this one watches.
    let target = scratch.path().join("target");
    let url = server.url(&format!("/backups/{id}/restore"));
    let restoring = {
        let target = target.clone();
        std::thread::spawn(move || {
            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(300))
                .build();
            reply(agent.post(&url).send_json(json!({ "target": target })))
        })
    };
    let mut seen: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !restoring.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the restore never ended: {seen:?}"
        );
        let runs = server.get("/runs?kind=restore")["runs"].clone();
        let running = runs
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["status"] == "running" && r["progress"].is_object());
        if let Some(r) = running {
            seen.push(r["progress"].clone());
        }
    }
    let (code, sum) = restoring.join().unwrap();
    assert_eq!(code, 200, "{sum}");
    assert_eq!(
        (sum["files"].as_u64(), sum["bytes"].as_u64()),
        (Some(files), Some(total))
    );

    // Every sample knows the totals; bytes and files only grow; and at least one sample was
    // taken mid-way, strictly between nothing and everything.
    // (Before the backup is opened the entry is there with nothing in it yet.)
    let (opening, seen): (Vec<Value>, Vec<Value>) =
        seen.into_iter().partition(|p| p["phase"] == "");
    for p in &opening {
        assert_eq!(
            (&p["bytes_done"], &p["files_done"]),
            (&json!(0), &json!(0)),
            "{p}"
        );
    }
    assert!(!seen.is_empty(), "the restore was never seen running");
    for p in &seen {
        assert_eq!(p["phase"], "restoring", "{p}");
        assert_eq!(
            (p["bytes_total"].as_u64(), p["files_total"].as_u64()),
            (Some(total), Some(files)),
            "{p}"
        );
    }
    let bytes: Vec<u64> = seen
        .iter()
        .map(|p| p["bytes_done"].as_u64().unwrap())
        .collect();
    let done: Vec<u64> = seen
        .iter()
        .map(|p| p["files_done"].as_u64().unwrap())
        .collect();
    assert!(bytes.is_sorted() && done.is_sorted(), "{seen:?}");
    let mid = seen
        .iter()
        .find(|p| {
            let b = p["bytes_done"].as_u64().unwrap();
            let f = p["files_done"].as_u64().unwrap();
            0 < b && b < total && 0 < f && f < files && b == f * size as u64
        })
        .unwrap_or_else(|| panic!("no sample between 0 and {total} bytes: {seen:?}"));
    println!("{} samples, e.g. {mid}", seen.len());

    // The finished run: its outcome, files, bytes and how long it took.
    let run_id = sum["run_id"].as_str().unwrap();
    let done = server.get(&format!("/runs/{run_id}"));
    assert_eq!(
        (
            &done["status"],
            &done["outcome"],
            &done["kind"],
            done["files"].as_u64(),
            done["bytes"].as_u64()
        ),
        (
            &json!("succeeded"),
            &json!("succeeded"),
            &json!("restore"),
            Some(files),
            Some(total)
        ),
        "{done}"
    );
    assert!(done["duration_ms"].as_u64().is_some(), "{done}");
    assert!(done["finished_at"].is_string(), "{done}");
    assert!(done.get("progress").is_none_or(Value::is_null), "{done}");
    let restored = crate::engine::restored_root(&target, &src);
    assert_eq!(
        fs::read(restored.join("deep/er/f095")).unwrap(),
        fs::read(src.join("deep/er/f095")).unwrap()
    );
}
