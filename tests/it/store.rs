//! The redb event log: optimistic concurrency, idempotency, group commit, waits, crash safety.

use crate::support::Rng;
use backupd::events::{Event, Ts};
use backupd::store::{EventStore, Expected, NewEvent, StoreError};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

fn ev(job: &str) -> NewEvent {
    NewEvent {
        recorded_at: Ts::from_unix_nanos(1_000),
        actor: "test".into(),
        correlation: None,
        payload: Event::JobPaused { job_id: job.into() },
    }
}

fn job_of(store: &EventStore, position: u64) -> String {
    match store
        .read_blocking(position - 1, 1)
        .unwrap()
        .remove(0)
        .payload
    {
        Event::JobPaused { job_id } => job_id,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn stale_expected_position_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(&dir.path().join("e.redb")).unwrap();
    let a = store
        .append_blocking(vec![ev("a"), ev("b")], Expected::Position(0), None)
        .unwrap();
    assert_eq!(
        a.envelopes.iter().map(|e| e.position).collect::<Vec<_>>(),
        [1, 2]
    );
    let stale = store.append_blocking(vec![ev("c")], Expected::Position(1), None);
    assert!(matches!(
        stale,
        Err(StoreError::Conflict {
            expected: 1,
            actual: 2
        })
    ));
    assert_eq!(store.last_position(), 2);
    assert_eq!(store.read_blocking(0, 100).unwrap().len(), 2);
}

#[test]
fn the_same_idempotency_key_returns_the_first_result() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(&dir.path().join("e.redb")).unwrap();
    let key = Some("k1".to_string());
    let first = store
        .append_blocking(vec![ev("a"), ev("b")], Expected::Any, key.clone())
        .unwrap();
    assert!(!first.replayed);
    // a retry with other content and a stale position: still the first answer, nothing written
    let again = store
        .append_blocking(vec![ev("zzz")], Expected::Position(0), key)
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.envelopes, first.envelopes);
    assert_eq!(store.last_position(), 2);
}

#[test]
fn the_log_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.redb");
    {
        let store = EventStore::open(&path).unwrap();
        store
            .append_blocking(vec![ev("a")], Expected::Any, None)
            .unwrap();
        // a second handle while the first is open is refused with a clear error
        let err = EventStore::open(&path)
            .err()
            .expect("second open must fail");
        assert!(err.to_string().contains("in use"), "{err}");
    }
    let store = EventStore::open(&path).unwrap();
    assert_eq!(store.last_position(), 1);
    assert_eq!(job_of(&store, 1), "a");
}

#[test]
fn concurrent_writers_share_commits_and_positions_stay_gapless() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(&dir.path().join("e.redb")).unwrap();
    let writers = 16;
    let per = 50;
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                (0..per)
                    .map(|i| {
                        let job = format!("w{w}-{i}");
                        let a = store
                            .append_blocking(vec![ev(&job)], Expected::Any, None)
                            .unwrap();
                        (a.envelopes[0].position, job)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let acked: Vec<(u64, String)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(store.last_position(), (writers * per) as u64);
    let all = store.read_blocking(0, usize::MAX).unwrap();
    for (i, env) in all.iter().enumerate() {
        assert_eq!(env.position, i as u64 + 1);
    }
    for (position, job) in acked {
        assert_eq!(job_of(&store, position), job);
    }
}

#[test]
fn waiters_wake_when_the_log_moves() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(&dir.path().join("e.redb")).unwrap();
    let waiter = {
        let store = store.clone();
        std::thread::spawn(move || smol::block_on(store.wait_beyond(0)))
    };
    std::thread::sleep(Duration::from_millis(20));
    assert!(!waiter.is_finished());
    smol::block_on(store.append(vec![ev("a")], Expected::Any, None)).unwrap();
    waiter.join().unwrap();
}

const CHILD_ENV: &str = "BACKUPD_CRASH_CHILD_LOG";

/// Not a test on its own: the child process of `acknowledged_appends_survive_sigkill`. It appends
/// from four threads and prints each position only after the store acknowledged it.
#[test]
#[ignore = "run by acknowledged_appends_survive_sigkill as its child process"]
fn crash_child() {
    let path = std::env::var(CHILD_ENV).expect("only run as the crash test's child");
    let store = Arc::new(EventStore::open(std::path::Path::new(&path)).unwrap());
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (store, out) = (store.clone(), out.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    let job = format!("t{t}-{i}-{}", std::process::id());
                    let a = store
                        .append_blocking(vec![ev(&job), ev(&job)], Expected::Any, None)
                        .unwrap();
                    let mut out = out.lock().unwrap();
                    writeln!(out, "ACK {} {job}", a.envelopes[0].position).unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.redb");
    let mut rng = Rng(0x5EED_CAFE);
    let mut acked: HashMap<u64, String> = HashMap::new();
    for round in 0..50 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "store::crash_child", "--nocapture"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| {
                    let mut parts = l.strip_prefix("ACK ")?.split(' ');
                    let pos = parts.next()?.parse::<u64>().ok()?;
                    Some((pos, parts.next()?.to_string()))
                })
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(20 + rng.below(120)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        acked.extend(reader.join().unwrap());

        let store = EventStore::open(&path)
            .unwrap_or_else(|e| panic!("round {round}: the log does not open: {e}"));
        let all = store.read_blocking(0, usize::MAX).unwrap();
        assert_eq!(all.len() as u64, store.last_position(), "round {round}");
        for (i, env) in all.iter().enumerate() {
            assert_eq!(env.position, i as u64 + 1, "round {round}: gap");
        }
        for (position, job) in &acked {
            assert!(
                *position < store.last_position(),
                "round {round}: lost {position}"
            );
            assert_eq!(&job_of(&store, *position), job, "round {round}");
            assert_eq!(
                &job_of(&store, position + 1),
                job,
                "round {round}: torn command"
            );
        }
    }
    assert!(
        acked.len() > 50,
        "the child acknowledged only {} appends: the test exercised nothing",
        acked.len()
    );
}
