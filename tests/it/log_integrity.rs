//! The event log detects its own damage, and a lost log is never silently replaced: a byte
//! flipped anywhere in a recorded `events.redb`, an event rewritten by hand, an emptied or
//! missing log next to backups, and a `serve` that cannot bind.

use crate::support::{bin, spawn_serve, terminate, wait_for_line, Served};
use backupd::events::{self, Event};
use backupd::store::EventStore;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// A real log: a served binary that booted and ran the health check three times.
fn recorded_log() -> (tempfile::TempDir, PathBuf) {
    let server = Served::demo();
    for _ in 0..3 {
        server.run("health_check");
    }
    let holder = server.stop();
    let log = holder.path().join("events.redb");
    (holder, log)
}

/// Runs `backupd ARGS --data-dir DIR`, killing it past `limit` (a damaged file must not hang).
fn run_on(dir: &Path, args: &[&str], limit: Duration) -> Output {
    let mut child = bin()
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "backupd {args:?} on {} hung: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.wait_with_output().unwrap()
}

/// `serve` on the demo config and `data_dir`, run until it exits (the tests here expect it to
/// refuse to start).
fn serve_to_its_end(data_dir: &Path) -> Output {
    bin()
        .current_dir(crate::support::repo())
        .args([
            "serve",
            "--config",
            "fixtures/demo.toml",
            "--bind",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The three outcomes allowed for a damaged log, and which one this was.
#[derive(Debug, Default)]
struct Tally {
    identical: usize,
    typed_error: usize,
}

/// stdout with the data dir's path made neutral (`log verify` names the file it checked).
fn neutral(out: &Output, dir: &Path) -> String {
    String::from_utf8_lossy(&out.stdout).replace(&dir.display().to_string(), "<dir>")
}

fn judge(what: &str, out: &Output, undamaged: &str, dir: &Path, tally: &mut Tally) {
    let err = stderr(out);
    assert!(
        !err.contains("panicked"),
        "{what}: a panic reached the user: {err}"
    );
    let Some(code) = out.status.code() else {
        panic!("{what}: killed by a signal ({:?}): {err}", out.status);
    };
    if code == 0 {
        let got = neutral(out, dir);
        assert!(
            got == undamaged,
            "{what}: exit 0 with different output:\n{got}\n--- undamaged ---\n{undamaged}"
        );
        tally.identical += 1;
    } else {
        assert!(
            err.starts_with("backupd: ") && (err.contains("position") || err.contains("event log")),
            "{what}: exit {code} without naming the position or the store: {err}"
        );
        tally.typed_error += 1;
    }
}

/// Where the records of events sit in the file (found by their bytes), and the 4 KiB pages
/// around them.
fn event_regions(file: &[u8], log: &Path) -> (Vec<Range<usize>>, Vec<Range<usize>>) {
    let store = EventStore::open_read_only(log).unwrap();
    let (mut records, mut pages): (Vec<Range<usize>>, Vec<Range<usize>>) = (vec![], vec![]);
    for p in 1..=store.last_position() {
        let raw = store.raw_event_blocking(p).unwrap().unwrap();
        let at = file
            .windows(raw.len())
            .position(|w| w == raw.as_slice())
            .unwrap_or_else(|| panic!("event {p} not found in the file"));
        records.push(at..at + raw.len());
        let page = at / 4096 * 4096..((at + raw.len()).div_ceil(4096) * 4096).min(file.len());
        if !pages.iter().any(|r| r.contains(&page.start)) {
            pages.push(page);
        }
    }
    (records, pages)
}

/// Which offsets are flipped. With `BACKUPD_FLIP_ALL` set, every one. Otherwise (one offset
/// costs two runs of the binary, ~20 ms; every offset of a 72 KiB log takes ~25 min): every
/// offset of redb's header and commit slots (the first 512 bytes), of the records of the first,
/// a middle and the last event, every 13th of the rest of the pages that hold events, and every
/// 97th elsewhere (redb's other tables, allocator state, free space).
fn offsets_to_flip(len: usize, records: &[Range<usize>], pages: &[Range<usize>]) -> Vec<usize> {
    if std::env::var_os("BACKUPD_FLIP_ALL").is_some() {
        return (0..len).collect();
    }
    let chosen = [
        records[0].clone(),
        records[records.len() / 2].clone(),
        records[records.len() - 1].clone(),
    ];
    (0..len)
        .filter(|&o| {
            o < 512
                || chosen.iter().any(|r| r.contains(&o))
                || (o % 13 == 0 && pages.iter().any(|r| r.contains(&o)))
                || o % 97 == 0
        })
        .collect()
}

#[test]
fn a_byte_flipped_anywhere_in_the_log_is_a_typed_error_or_changes_nothing() {
    let (_holder, log) = recorded_log();
    let file = std::fs::read(&log).unwrap();
    let (records, pages) = event_regions(&file, &log);
    let offsets = offsets_to_flip(file.len(), &records, &pages);

    let scratch = tempfile::tempdir().unwrap();
    let base = scratch.path().join("undamaged");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::copy(&log, base.join("events.redb")).unwrap();
    // The head file belongs to the log: it is what shows a log that reads as sound but ends early.
    let head = std::fs::read(log.with_file_name("events.redb.head")).unwrap();
    std::fs::write(base.join("events.redb.head"), &head).unwrap();
    let commands: [&[&str]; 2] = [&["events"], &["log", "verify"]];
    let undamaged: Vec<String> = commands
        .iter()
        .map(|args| {
            let out = run_on(&base, args, Duration::from_secs(30));
            assert!(out.status.success(), "{}", stderr(&out));
            neutral(&out, &base)
        })
        .collect();
    assert!(undamaged[1].contains("every checksum"));

    let started = Instant::now();
    let workers = 2;
    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (offsets, file, undamaged, scratch, head) =
                    (&offsets, &file, &undamaged, &scratch, &head);
                s.spawn(move || {
                    let mut tally = Tally::default();
                    let dir = scratch.path().join(format!("w{w}"));
                    std::fs::create_dir_all(&dir).unwrap();
                    std::fs::write(dir.join("events.redb.head"), head).unwrap();
                    for &offset in offsets.iter().skip(w).step_by(workers) {
                        let mut damaged = file.clone();
                        damaged[offset] ^= 0xFF;
                        std::fs::write(dir.join("events.redb"), &damaged).unwrap();
                        for (args, clean) in commands.iter().zip(undamaged) {
                            let out = run_on(&dir, args, Duration::from_secs(30));
                            judge(
                                &format!("byte {offset} flipped, backupd {args:?}"),
                                &out,
                                clean,
                                &dir,
                                &mut tally,
                            );
                        }
                    }
                    tally
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let identical: usize = tallies.iter().map(|t| t.identical).sum();
    let typed: usize = tallies.iter().map(|t| t.typed_error).sum();
    eprintln!(
        "log of {} bytes, {} event pages, {} of its offsets flipped in {:?}: {identical} runs \
         unchanged, {typed} typed errors",
        file.len(),
        pages.len(),
        offsets.len(),
        started.elapsed()
    );
    // Both outcomes happen: flips in records are caught, flips in free space change nothing.
    assert!(typed > 0 && identical > 0, "{identical} {typed}");
}

/// A record rewritten by hand, checksum and all, breaks the chain at the event after it.
#[test]
fn an_event_rewritten_with_a_valid_checksum_breaks_the_chain_at_the_next_position() {
    let (_holder, log) = recorded_log();
    let dir = log.parent().unwrap();
    {
        use redb::ReadableTable;
        let db = redb::Database::open(&log).unwrap();
        let table: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("events");
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(table).unwrap();
            let raw = t.get(2).unwrap().unwrap().value().to_vec();
            let record = events::decode_record(&raw).unwrap();
            let mut forged = record.envelope.clone();
            forged.payload = Event::SchedulerStarted;
            let bytes = events::encode_linked(&forged, &record.link.unwrap()).unwrap();
            t.insert(2, bytes.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    for args in [&["events"][..], &["state"], &["log", "verify"]] {
        let out = run_on(dir, args, Duration::from_secs(30));
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            err.contains("position 3") && err.contains("does not link"),
            "{args:?}: {err}"
        );
    }
    // serve refuses too: it replays the log before it does anything
    let (mut child, lines) = spawn_serve(dir);
    let line = wait_for_line(&mut child, &lines, "position 3", 30);
    assert!(line.contains("does not link"), "{line}");
    assert!(!child.wait().unwrap().success());
}

#[test]
fn log_verify_names_the_first_bad_position_and_prints_the_head_hash() {
    let (_holder, log) = recorded_log();
    let dir = log.parent().unwrap();
    let ok = run_on(dir, &["log", "verify"], Duration::from_secs(30));
    assert!(ok.status.success(), "{}", stderr(&ok));
    let text = String::from_utf8(ok.stdout).unwrap();
    let store = EventStore::open_read_only(&log).unwrap();
    let last = store.last_position();
    let head = events::hash_of(&store.raw_event_blocking(last).unwrap().unwrap());
    drop(store);
    assert!(text.contains(&format!("{last} events")), "{text}");
    assert!(text.contains(&events::hex(&head)), "{text}");
    assert!(text.contains("from position 1"), "{text}");
}

/// Offline commands never create or rewrite a log: a missing one stays missing, an empty one
/// stays empty, and each says so.
#[test]
fn offline_commands_never_create_or_reinitialise_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.redb");
    let commands: [&[&str]; 5] = [
        &["events"],
        &["state"],
        &["log", "verify"],
        &["verify", "backup-x"],
        &["restore", "backup-x", "--to", "/nonexistent/target"],
    ];
    for args in commands {
        let out = run_on(dir.path(), args, Duration::from_secs(30));
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr(&out).contains("no event log at"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!log.exists(), "{args:?} created a log");
    }
    std::fs::write(&log, b"").unwrap();
    for args in commands {
        let out = run_on(dir.path(), args, Duration::from_secs(30));
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr(&out).contains("is empty"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::metadata(&log).unwrap().len(),
            0,
            "{args:?} wrote the log"
        );
    }
}

/// `serve` next to backups but without their log refuses, and says what to do.
#[test]
fn serve_refuses_a_missing_or_empty_log_when_the_data_dir_holds_backups() {
    for (sub, empty_log) in [("backups", false), ("archives", true), ("backups", true)] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        std::fs::write(dir.path().join(sub).join("full-1.bka"), b"archive").unwrap();
        let log = dir.path().join("events.redb");
        if empty_log {
            std::fs::write(&log, b"").unwrap();
        }
        let out = serve_to_its_end(dir.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{sub} {empty_log}: {err}");
        assert!(
            err.contains("missing or empty")
                && err.contains("from a copy")
                && err.contains("recover"),
            "{err}"
        );
        match empty_log {
            true => assert_eq!(std::fs::metadata(&log).unwrap().len(), 0),
            false => assert!(!log.exists()),
        }
    }
}

/// An unreadable log (not a redb file at all) beside backups: `serve` refuses and leaves it as
/// it was; so does every offline command.
#[test]
fn an_unreadable_log_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("backups")).unwrap();
    std::fs::write(dir.path().join("backups/full-1.bka"), b"archive").unwrap();
    let log = dir.path().join("events.redb");
    let garbage: Vec<u8> = (0..20_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&log, &garbage).unwrap();
    let out = serve_to_its_end(dir.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("from a copy"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for args in [&["events"][..], &["state"], &["log", "verify"]] {
        let out = run_on(dir.path(), args, Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains("event log"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert_eq!(std::fs::read(&log).unwrap(), garbage, "the log was changed");
}

/// A `serve` that cannot listen records nothing: the log ends where it did.
#[test]
fn serve_that_cannot_bind_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _lines) = spawn_serve(dir.path());
    let mut child = child;
    wait_for_line(&mut child, &_lines, "booted at position", 30);
    terminate(child);
    let before = run_on(dir.path(), &["events"], Duration::from_secs(30));
    assert!(before.status.success());

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = bin()
        .current_dir(crate::support::repo())
        .args(["serve", "--config", "fixtures/demo.toml", "--bind", &addr])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("binding the API"), "{}", stderr(&out));
    let after = run_on(dir.path(), &["events"], Duration::from_secs(30));
    assert_eq!(
        String::from_utf8_lossy(&after.stdout),
        String::from_utf8_lossy(&before.stdout)
    );
}

/// A full disk under the log: the run that cannot be recorded is refused, health and status say
/// why, and once space is freed the next run is recorded by the same process.
#[test]
fn a_full_disk_under_the_log_is_reported_and_freeing_space_recovers_without_a_restart() {
    use crate::health::{named, Tmpfs};
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Dropped last: the server (declared after) is stopped before the unmount.
    let _mount = Tmpfs::mount(&data, "16m");
    let server =
        Served::with_config_file(&crate::support::repo().join("fixtures/demo.toml"), &data);
    let first = server.run("health_check");
    assert_eq!(first["status"], "succeeded", "{first}");
    let status = server.get("/scheduler/status");
    assert_eq!(status["can_record"], true, "{status}");
    assert_eq!(status["record_error"], serde_json::Value::Null, "{status}");

    // Fill the volume to the last byte: real pages, so the log's next commit finds no room.
    let filler = data.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        while f.write_all(&chunk[..1]).is_ok() {}
    }
    // redb may still find room in pages freed by earlier commits: run until a commit fails,
    // the run's start (refused) or its outcome (the run stays open; its outcome is retried).
    let mut refused = None;
    'runs: for _ in 0..100 {
        let (code, body) = server.send("POST", "/scheduler/jobs/health_check/run", None);
        if code != 202 {
            assert_eq!(code, 503, "{body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains("commit failed"), "{body}");
            refused = Some(body);
            break;
        }
        let path = format!(
            "/runs/{}",
            body["run_id"].as_str().unwrap().replace('@', "%40")
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if server.get("/scheduler/status")["can_record"] == false {
                break 'runs;
            }
            if server.get(&path)["status"] != "running" {
                continue 'runs;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("a run neither finished nor failed to record");
    }
    eprintln!("refused: {refused:?}");

    let status = server.get("/scheduler/status");
    assert_eq!(status["can_record"], false, "{status}");
    let why = status["record_error"]
        .as_str()
        .unwrap_or_else(|| panic!("{status}"));
    assert!(why.contains("No space left"), "{status}");
    let health = server.get("/health");
    assert_eq!(health["status"], "critical", "{health}");
    let log_check = named(&health, "event_log");
    assert_eq!(log_check["status"], "critical", "{health}");
    assert!(
        log_check["reason"]
            .as_str()
            .unwrap()
            .contains("No space left"),
        "{health}"
    );

    std::fs::remove_file(&filler).unwrap();
    // A run whose outcome could not be recorded is finished by the retry once there is room.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.get("/runs?job_id=health_check&status=running")["runs"] != serde_json::json!([]) {
        assert!(
            Instant::now() < deadline,
            "a run stayed open after space was freed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let again = server.run("health_check");
    assert_eq!(again["status"], "succeeded", "{again}");
    let status = server.get("/scheduler/status");
    assert_eq!(status["can_record"], true, "{status}");
    let health = server.get("/health");
    assert_eq!(named(&health, "event_log")["status"], "ok", "{health}");
    let events = server.get("/events?limit=1000")["events"].clone();
    let run_id = again["run_id"].as_str().unwrap();
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "run_started" && e["data"]["run_id"] == run_id),
        "the run after the recovery is in the log"
    );
}
