//! The replication queue: a coordinator thread that compares the `offsite` projection with what
//! is in flight, hands uploads and deletions to a few worker threads per remote (`concurrency`),
//! and records every outcome as an event (actor `remote`). It never holds a backup run up: runs
//! only append their events; this thread reads the state after them.
//!
//! Crash safety. An upload is recorded (`object_replicated`) after it completed, so a crash
//! before that leaves an object that is on the remote but not recorded: the start-up sweep lists
//! each remote and records what it finds there with the local size (attempt 0) instead of
//! uploading it again. A remote deletion is recorded before it is done (`remote_object_deleted`),
//! so a crash after that leaves a recorded deletion: the sweep deletes what is still there. Keys
//! are immutable (a pack by its hash, a backup by its id), so an upload repeated after a crash
//! writes the same bytes under the same key: nothing is duplicated.
//!
//! Retries: a transient failure (network, 5xx, local I/O) is retried with exponential backoff
//! (`BACKOFF_BASE` doubling, capped at `BACKOFF_CAP`, ±25 % jitter) up to `MAX_ATTEMPTS`; a
//! permanent one (wrong credentials, a missing bucket) gives up at once. Either way the attempt
//! is an event. A key given up on is tried again after `GIVEN_UP_RETRY` (one attempt, which
//! gives up again at once if it fails: attempts go on counting past `MAX_ATTEMPTS`), or at the
//! next start, so a remote down for a day catches up without a restart.

use super::{ObjectStore, RemoteConfig, RemoteError};
use crate::decide::{Command, Replication};
use crate::service::{Meta, Service};
use smol::future::FutureExt;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const BACKOFF_BASE: Duration = Duration::from_millis(500);
pub const BACKOFF_CAP: Duration = Duration::from_secs(300);
pub const MAX_ATTEMPTS: u32 = 12;
/// How long a key given up on waits before one more attempt (an outage longer than the
/// backoffs' ~30 minutes, or credentials that were fixed in the bucket's policy).
pub const GIVEN_UP_RETRY: Duration = Duration::from_secs(3600);
/// How often the coordinator looks without being woken (due retries).
const TICK: Duration = Duration::from_millis(500);

enum Job {
    /// Upload `key` (attempt number).
    Upload { key: String, attempt: u32 },
    /// Delete the remote copy of `key` (its deletion is recorded).
    Delete { key: String },
    /// At start: record what is there already, delete recorded deletions still there.
    Sweep {
        wanted: BTreeMap<String, u64>,
        deleted: BTreeSet<String>,
    },
}

enum Outcome {
    Uploaded {
        key: String,
        bytes: u64,
        attempt: u32,
    },
    UploadFailed {
        key: String,
        attempt: u32,
        error: RemoteError,
    },
    /// The local file is gone (deleted while queued): nothing to record.
    Vanished {
        key: String,
    },
    Deleted {
        key: String,
    },
    DeleteFailed {
        key: String,
        error: RemoteError,
    },
    Swept {
        found: Vec<(String, u64)>,
        error: Option<RemoteError>,
    },
}

struct Remote {
    cfg: RemoteConfig,
    jobs: smol::channel::Sender<Job>,
    /// The sweep has not finished: nothing is uploaded before it says what is there.
    sweeping: bool,
    in_flight: BTreeSet<String>,
    /// Key → (attempts so far, not before).
    retry: BTreeMap<String, (u32, Instant)>,
    /// Keys given up on → when to try once more (`GIVEN_UP_RETRY` after giving up).
    given_up: BTreeMap<String, Instant>,
    /// Recorded remote deletions that failed: key → (attempts, not before).
    redelete: BTreeMap<String, (u32, Instant)>,
}

/// The running queue; dropping it stops the coordinator (an upload in flight is abandoned and
/// done again at the next start).
pub struct Replicator {
    _thread: crate::background::Background,
}

/// Starts the queue for the configured remotes (none: nothing to start).
pub fn start(
    service: Service,
    remotes: Vec<RemoteConfig>,
    data_dir: PathBuf,
) -> Option<Replicator> {
    if remotes.is_empty() {
        return None;
    }
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let thread = std::thread::Builder::new()
        .name("remote-queue".into())
        .spawn(move || smol::block_on(coordinate(service, remotes, data_dir, stopped)))
        .expect("a thread for the replication queue");
    Some(Replicator {
        _thread: crate::background::Background::new(stop, thread),
    })
}

fn spawn_workers(
    cfg: &RemoteConfig,
    store: Arc<dyn ObjectStore>,
    data_dir: &std::path::Path,
    outcomes: &smol::channel::Sender<(String, Outcome)>,
) -> smol::channel::Sender<Job> {
    let (tx, rx) = smol::channel::unbounded::<Job>();
    for i in 0..cfg.concurrency {
        let (rx, store, out) = (rx.clone(), store.clone(), outcomes.clone());
        let (name, data_dir) = (cfg.name.clone(), data_dir.to_path_buf());
        std::thread::Builder::new()
            .name(format!("remote-{name}-{i}"))
            .spawn(move || {
                while let Ok(job) = rx.recv_blocking() {
                    let o = work(store.as_ref(), &data_dir, job);
                    if out.send_blocking((name.clone(), o)).is_err() {
                        return;
                    }
                }
            })
            .expect("a replication worker thread");
    }
    tx
}

fn work(store: &dyn ObjectStore, data_dir: &std::path::Path, job: Job) -> Outcome {
    match job {
        Job::Upload { key, attempt } => {
            let path = data_dir.join(&key);
            let bytes = match std::fs::metadata(&path) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Outcome::Vanished { key }
                }
                Err(e) => {
                    return Outcome::UploadFailed {
                        error: RemoteError::Io {
                            remote: store.name().into(),
                            key: key.clone(),
                            source: e,
                        },
                        key,
                        attempt,
                    }
                }
            };
            match store.put_file(&key, &path, false) {
                Ok(()) => Outcome::Uploaded {
                    key,
                    bytes,
                    attempt,
                },
                Err(_) if !path.exists() => Outcome::Vanished { key },
                Err(error) => Outcome::UploadFailed {
                    key,
                    attempt,
                    error,
                },
            }
        }
        Job::Delete { key } => match store.delete(&key) {
            Ok(()) => Outcome::Deleted { key },
            Err(error) => Outcome::DeleteFailed { key, error },
        },
        Job::Sweep { wanted, deleted } => match store.list("") {
            Ok(listed) => {
                let mut found = Vec::new();
                let mut error = None;
                for (key, size) in listed {
                    if deleted.contains(&key) {
                        if let Err(e) = store.delete(&key) {
                            error = Some(e);
                        }
                    } else if let Some(want) = wanted.get(&key) {
                        // The local file's size now (a report page's is not recorded).
                        let local = std::fs::metadata(data_dir.join(&key))
                            .map(|m| m.len())
                            .unwrap_or(*want);
                        if local == size {
                            found.push((key, size));
                        }
                    }
                }
                Outcome::Swept { found, error }
            }
            Err(e) => Outcome::Swept {
                found: Vec::new(),
                error: Some(e),
            },
        },
    }
}

/// The wait before attempt `attempt + 1`, jittered by ±25 %.
pub fn backoff(attempt: u32) -> Duration {
    let base = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(BACKOFF_CAP);
    let jitter = (super::random() % 500) as f64 / 1000.0 + 0.75;
    base.mul_f64(jitter)
}

async fn record(service: &Service, remote: &str, key: &str, outcome: Replication) -> bool {
    let command = Command::RecordReplication {
        remote: remote.into(),
        key: key.into(),
        outcome,
    };
    match service.execute(command, Meta::actor("remote")).await {
        Ok(_) => true,
        Err(e) => {
            log::error!("replication outcome for {remote} {key} not recorded: {e}");
            false
        }
    }
}

async fn coordinate(
    service: Service,
    configs: Vec<RemoteConfig>,
    data_dir: PathBuf,
    stopped: smol::channel::Receiver<()>,
) {
    let (out_tx, outcomes) = smol::channel::unbounded::<(String, Outcome)>();
    let mut remotes: BTreeMap<String, Remote> = BTreeMap::new();
    for cfg in configs {
        let store: Arc<dyn ObjectStore> = match super::open(&cfg) {
            Ok(s) => Arc::from(s),
            Err(e) => {
                log::error!("remote {} not opened: {e}", cfg.name);
                continue;
            }
        };
        let jobs = spawn_workers(&cfg, store, &data_dir, &out_tx);
        let (wanted, deleted) = service.read(|s| {
            let wanted = s
                .offsite
                .pending(&cfg.name)
                .into_iter()
                .map(|(k, o)| (k.clone(), o.bytes))
                .collect();
            let deleted = s
                .offsite
                .remotes
                .get(&cfg.name)
                .map(|r| r.deleted.clone())
                .unwrap_or_default();
            (wanted, deleted)
        });
        let _ = jobs.send(Job::Sweep { wanted, deleted }).await;
        remotes.insert(
            cfg.name.clone(),
            Remote {
                cfg,
                jobs,
                sweeping: true,
                in_flight: BTreeSet::new(),
                retry: BTreeMap::new(),
                given_up: BTreeMap::new(),
                redelete: BTreeMap::new(),
            },
        );
    }
    drop(out_tx);
    let mut seen = service.position();
    loop {
        while let Ok((name, o)) = outcomes.try_recv() {
            if let Some(r) = remotes.get_mut(&name) {
                settle(&service, r, o).await;
            }
        }
        for r in remotes.values_mut() {
            dispatch(&service, r).await;
        }
        seen = seen.max(service.position());
        let woken = async {
            service.wait_beyond(seen).await;
            Wake::Look
        }
        .or(async {
            match outcomes.recv().await {
                Ok((name, o)) => Wake::Outcome(name, Box::new(o)),
                // Never while the workers live (they hold the senders).
                Err(_) => std::future::pending().await,
            }
        })
        .or(async {
            smol::Timer::after(TICK).await;
            Wake::Look
        })
        .or(async {
            let _ = stopped.recv().await;
            Wake::Stop
        });
        match woken.await {
            Wake::Outcome(name, o) => {
                if let Some(r) = remotes.get_mut(&name) {
                    settle(&service, r, *o).await;
                }
            }
            Wake::Stop => return,
            Wake::Look => {}
        }
    }
}

enum Wake {
    Look,
    Outcome(String, Box<Outcome>),
    Stop,
}

/// Records one outcome and updates what is in flight and when to retry.
async fn settle(service: &Service, r: &mut Remote, o: Outcome) {
    let name = r.cfg.name.clone();
    match o {
        Outcome::Uploaded {
            key,
            bytes,
            attempt,
        } => {
            r.in_flight.remove(&key);
            r.retry.remove(&key);
            r.given_up.remove(&key);
            record(
                service,
                &name,
                &key,
                Replication::Replicated { bytes, attempt },
            )
            .await;
        }
        Outcome::UploadFailed {
            key,
            attempt,
            error,
        } => {
            r.in_flight.remove(&key);
            let will_retry = error.is_transient() && attempt < MAX_ATTEMPTS;
            if will_retry {
                r.retry
                    .insert(key.clone(), (attempt, Instant::now() + backoff(attempt)));
            } else {
                // Kept in `retry` so the attempt after the wait continues the count.
                r.retry.insert(key.clone(), (attempt, Instant::now()));
                r.given_up
                    .insert(key.clone(), Instant::now() + GIVEN_UP_RETRY);
            }
            log::warn!("upload attempt {attempt} failed: {error}");
            let reason = error.to_string();
            record(
                service,
                &name,
                &key,
                Replication::Failed {
                    reason,
                    attempt,
                    will_retry,
                },
            )
            .await;
        }
        Outcome::Vanished { key } => {
            r.in_flight.remove(&key);
            r.retry.remove(&key);
            r.given_up.remove(&key);
        }
        Outcome::Deleted { key } => {
            r.in_flight.remove(&key);
            r.redelete.remove(&key);
        }
        Outcome::DeleteFailed { key, error } => {
            // The deletion is recorded: tried again with backoff while transient, and by the
            // next start's sweep in any case.
            r.in_flight.remove(&key);
            let attempt = r.redelete.get(&key).map_or(1, |(a, _)| a + 1);
            if error.is_transient() && attempt < MAX_ATTEMPTS {
                r.redelete
                    .insert(key, (attempt, Instant::now() + backoff(attempt)));
                log::warn!("remote copy not deleted, attempt {attempt} (retried): {error}");
            } else {
                r.redelete.remove(&key);
                log::warn!("remote copy not deleted (the next start's sweep retries): {error}");
            }
        }
        Outcome::Swept { found, error } => {
            r.sweeping = false;
            if let Some(e) = error {
                log::warn!("sweep of remote {name} incomplete: {e}");
            }
            for (key, bytes) in found {
                record(
                    service,
                    &name,
                    &key,
                    Replication::Replicated { bytes, attempt: 0 },
                )
                .await;
            }
        }
    }
}

/// Deletions first (recorded, then handed to a worker), then due uploads, at most
/// `2 × concurrency` in flight so a new backup does not wait behind a long queue.
async fn dispatch(service: &Service, r: &mut Remote) {
    if r.sweeping {
        return;
    }
    let name = r.cfg.name.clone();
    let to_delete = service.read(|s| s.offsite.to_delete(&name));
    for (key, reason) in to_delete {
        if r.in_flight.contains(&key) {
            continue;
        }
        // Recorded first; a deletion that could not be recorded is not done (tried next time).
        if !record(service, &name, &key, Replication::Deleted { reason }).await {
            continue;
        }
        r.in_flight.insert(key.clone());
        let _ = r.jobs.send(Job::Delete { key }).await;
    }
    let now = Instant::now();
    let due: Vec<String> = r
        .redelete
        .iter()
        .filter(|(k, (_, at))| *at <= now && !r.in_flight.contains(*k))
        .map(|(k, _)| k.clone())
        .collect();
    for key in due {
        r.in_flight.insert(key.clone());
        let _ = r.jobs.send(Job::Delete { key }).await;
    }
    let limit = 2 * r.cfg.concurrency;
    if r.in_flight.len() >= limit {
        return;
    }
    let pending: Vec<String> = service.read(|s| {
        s.offsite
            .pending(&name)
            .into_iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !r.in_flight.contains(k) && upload_due(&r.retry, &r.given_up, k, now))
            .take(limit - r.in_flight.len())
            .collect()
    });
    for key in pending {
        r.given_up.remove(&key);
        let attempt = r.retry.get(&key).map(|(a, _)| a + 1).unwrap_or(1);
        r.in_flight.insert(key.clone());
        let _ = r.jobs.send(Job::Upload { key, attempt }).await;
    }
}

/// Is an upload of `key` due at `now`: never tried, its backoff over, or given up on longer
/// than `GIVEN_UP_RETRY` ago.
fn upload_due(
    retry: &BTreeMap<String, (u32, Instant)>,
    given_up: &BTreeMap<String, Instant>,
    key: &str,
    now: Instant,
) -> bool {
    match given_up.get(key) {
        Some(at) => *at <= now,
        None => retry.get(key).is_none_or(|(_, at)| *at <= now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key given up on is not due during `GIVEN_UP_RETRY`, then is, once (the attempt clears
    /// the mark; failing again sets it again); a key backing off is due after its backoff.
    #[test]
    fn a_given_up_key_is_tried_again_after_the_long_wait() {
        let now = Instant::now();
        let mut retry = BTreeMap::new();
        let mut given_up = BTreeMap::new();
        assert!(upload_due(&retry, &given_up, "new", now));
        retry.insert("backing".to_string(), (3, now + Duration::from_secs(4)));
        assert!(!upload_due(&retry, &given_up, "backing", now));
        assert!(upload_due(
            &retry,
            &given_up,
            "backing",
            now + Duration::from_secs(4)
        ));
        retry.insert("gone".to_string(), (MAX_ATTEMPTS, now));
        given_up.insert("gone".to_string(), now + GIVEN_UP_RETRY);
        assert!(!upload_due(&retry, &given_up, "gone", now));
        assert!(!upload_due(&retry, &given_up, "gone", now + BACKOFF_CAP));
        assert!(upload_due(&retry, &given_up, "gone", now + GIVEN_UP_RETRY));
    }
}
