//! Event log benchmark (release build): `cargo bench --bench eventlog`.
//!
//! 1. one durable append at a time: events/s and latency percentiles;
//! 2. 64 concurrent writers sharing group commits: events/s;
//! 3. replay of a 1,000,000-event log into the projections;
//! 4. `log verify` of the same log (every checksum and link) and boot from a snapshot;
//! 5. log bytes per event.
//!
//! `BENCH_EVENTS` changes the size of the big log (default 1,000,000).

use backupd::clock::SystemClock;
use backupd::events::{BackupKind, BackupRecord, Event, RunReason, Ts};
use backupd::service::Service;
use backupd::store::{EventStore, Expected, NewEvent};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn new_event(payload: Event) -> NewEvent {
    NewEvent {
        recorded_at: Ts::from_unix_nanos(1_780_000_000_000_000_000),
        actor: "scheduler".into(),
        correlation: None,
        payload,
    }
}

fn run_started(i: u64) -> Event {
    Event::RunStarted {
        run_id: format!("run-{i:08}"),
        job_id: format!("job-{}", i % 8),
        slot: Some(Ts::from_unix_nanos(
            1_780_000_000_000_000_000 + i as i64 * 60_000_000_000,
        )),
        reason: RunReason::Scheduled,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn single_appends(dir: &std::path::Path) {
    let store = EventStore::open(&dir.join("single.redb")).unwrap();
    let n = 2_000;
    let mut lat = Vec::with_capacity(n);
    let t0 = Instant::now();
    for i in 0..n as u64 {
        let t = Instant::now();
        store
            .append_blocking(vec![new_event(run_started(i))], Expected::Any, None)
            .unwrap();
        lat.push(t.elapsed());
    }
    let total = t0.elapsed();
    lat.sort();
    println!(
        "single durable append:   {:>9.0} events/s   p50 {:?}  p99 {:?}  max {:?}",
        n as f64 / total.as_secs_f64(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        lat[n - 1]
    );
}

fn concurrent_appends(dir: &std::path::Path) {
    let store = EventStore::open(&dir.join("concurrent.redb")).unwrap();
    let writers = 64u64;
    let per = 2_000u64;
    let t0 = Instant::now();
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(per as usize);
                for i in 0..per {
                    let t = Instant::now();
                    store
                        .append_blocking(
                            vec![new_event(run_started(w * per + i))],
                            Expected::Any,
                            None,
                        )
                        .unwrap();
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let total = t0.elapsed();
    lat.sort();
    let n = (writers * per) as f64;
    println!(
        "64 writers, group commit:{:>9.0} events/s   p50 {:?}  p99 {:?}  ({} events)",
        n / total.as_secs_f64(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        writers * per
    );
}

/// A plausible history: runs of eight jobs, every fourth one writing a backup, old backups
/// deleted by retention so the catalog stays the size a real one has.
fn build_big_log(store: &EventStore, events: u64) {
    let mut batch = Vec::with_capacity(10_000);
    let mut written = 0u64;
    let mut run = 0u64;
    while written < events {
        let run_id = format!("run-{run:08}");
        let mut evs = vec![run_started(run)];
        let backup_id = run.is_multiple_of(4).then(|| format!("bk-{run:08}"));
        if let Some(id) = &backup_id {
            evs.push(Event::BackupRecorded {
                backup: BackupRecord {
                    id: id.clone(),
                    job_id: format!("job-{}", run % 8),
                    run_id: run_id.clone(),
                    kind: if run.is_multiple_of(28) {
                        BackupKind::Full
                    } else {
                        BackupKind::Incremental
                    },
                    parent: None,
                    location: format!("backups/{id}.bka"),
                    bytes: 1_000_000 + run,
                    entries: 1000,
                    checksum: run as u32,
                    compression: "zstd".into(),
                    created_at: Ts::from_unix_nanos(1_780_000_000_000_000_000),
                },
            });
        }
        evs.push(Event::RunSucceeded {
            run_id,
            backup_id,
            bytes: 1_000_000 + run,
            files: 1000,
            duration_ms: 1234,
            note: None,
        });
        if run.is_multiple_of(4) && run >= 4 * 200 {
            evs.push(Event::BackupDeleted {
                backup_id: format!("bk-{:08}", run - 4 * 200),
                rule: "incremental older than 7d".into(),
                bytes: 1_000_000,
            });
        }
        written += evs.len() as u64;
        batch.extend(evs.into_iter().map(new_event));
        run += 1;
        if batch.len() >= 10_000 || written >= events {
            store
                .append_blocking(std::mem::take(&mut batch), Expected::Any, None)
                .unwrap();
        }
    }
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let events: u64 = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let base = std::env::var_os("BENCH_DIR").map(std::path::PathBuf::from);
    let dir = match &base {
        Some(b) => tempfile::tempdir_in(b).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    println!("event log benchmark in {}", dir.path().display());
    single_appends(dir.path());
    concurrent_appends(dir.path());

    let path = dir.path().join("big.redb");
    {
        let store = EventStore::open(&path).unwrap();
        let t = Instant::now();
        build_big_log(&store, events);
        println!(
            "built a {}-event log in {:.2} s (batched appends)",
            store.last_position(),
            t.elapsed().as_secs_f64()
        );
    }
    let bytes = std::fs::metadata(&path).unwrap().len();

    let clock = Arc::new(SystemClock);
    let (position, replay) = {
        let store = EventStore::open(&path).unwrap();
        let t = Instant::now();
        // snapshot_every = 0: a pure replay, and no snapshot written
        let (service, info) = Service::open(store, clock.clone(), 0).unwrap();
        let elapsed = t.elapsed();
        assert_eq!(info.snapshot_position, None);
        let runs = service.read(|s| (s.schedule.runs.len(), s.catalog.backups.len()));
        println!(
            "replay {} events:       {:.3} s  ({:.0} events/s; {} runs, {} live backups)",
            info.replayed,
            elapsed.as_secs_f64(),
            info.replayed as f64 / elapsed.as_secs_f64(),
            runs.0,
            runs.1
        );
        (info.position, elapsed)
    };
    {
        // `backupd log verify`: every record's checksum and link, read-only, nothing folded
        let store = EventStore::open_read_only(&path).unwrap();
        let t = Instant::now();
        let sum = store.verify_blocking().unwrap();
        println!(
            "log verify {} events:   {:.3} s  (every checksum, position and link; {} chained)",
            sum.events,
            t.elapsed().as_secs_f64(),
            sum.chained
        );
    }
    {
        // writes the snapshot at the end of this boot
        let store = EventStore::open(&path).unwrap();
        let t = Instant::now();
        let _ = Service::open(store, clock.clone(), 10_000).unwrap();
        println!(
            "replay + snapshot write:  {:.3} s",
            t.elapsed().as_secs_f64()
        );
    }
    {
        let t = Instant::now();
        let store = EventStore::open(&path).unwrap();
        let (_service, info) = Service::open(store, clock.clone(), 10_000).unwrap();
        let elapsed = t.elapsed();
        assert_eq!(info.snapshot_position, Some(position));
        println!(
            "boot with snapshot:       {:.3} s  (open + snapshot at {} + {} events; {:.1}x faster than replay)",
            elapsed.as_secs_f64(),
            position,
            info.replayed,
            replay.as_secs_f64() / elapsed.as_secs_f64()
        );
    }
    let with_snapshot = std::fs::metadata(&path).unwrap().len();
    println!(
        "log bytes per event:      {:.1} (file {} MB for {} events; {} MB with the snapshot)",
        bytes as f64 / position as f64,
        bytes / 1_000_000,
        position,
        with_snapshot / 1_000_000
    );
}
