//! The log's one writer thread: group commit of every append request that is waiting.

use super::guard::guarded;
use super::{
    open_database, redb_err, tail, Appended, Db, Expected, NewEvent, Slot, StoreError,
    WriteFailure, EVENTS, IDEMPOTENCY,
};
use crate::events::{self, Envelope, Hash};
use redb::{Database, Durability, ReadableTable};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A commit takes at most this many requests, so one huge burst cannot starve its first caller.
const MAX_BATCH: usize = 4096;

pub(super) struct Request {
    pub events: Vec<NewEvent>,
    pub expected: Expected,
    pub idempotency_key: Option<String>,
    pub reply: smol::channel::Sender<Result<Appended, StoreError>>,
}

/// The writer thread's own state: it alone appends, so it alone keeps the chain's head.
pub(super) struct Writer {
    pub db: Slot,
    pub path: PathBuf,
    /// The hash the next appended event links to.
    pub head: Hash,
    pub requests: smol::channel::Receiver<Request>,
    pub last: Arc<AtomicU64>,
    pub changed: Arc<event_listener::Event>,
    pub failure: Arc<Mutex<Option<WriteFailure>>>,
}

pub(super) fn spawn(mut w: Writer) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("event-log-writer".into())
        .spawn(move || {
            while let Ok(first) = w.requests.recv_blocking() {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match w.requests.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                w.write(batch);
            }
        })
        .expect("spawning the event log writer thread")
}

impl Writer {
    /// Commit the batch. After a failure the file is reopened (redb refuses every call after an
    /// I/O error until then) and the batch is tried once more, so a passing fault costs nothing;
    /// a lasting one (a full disk) is answered as an error and kept in `failure` until a later
    /// commit goes through: health and status show it, and the next append tries again.
    fn write(&mut self, batch: Vec<Request>) {
        let mut result = self.try_commit(&batch);
        if result.is_err() {
            if let Err(e) = self.reopen() {
                log::error!("event log not reopened: {e}");
            }
            result = self.try_commit(&batch);
        }
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok((outcomes, end, head)) => {
                if let Some(f) = failure.take() {
                    log::info!(
                        "event log writable again after {} failed commits ({})",
                        f.failed_commits,
                        f.message
                    );
                }
                drop(failure);
                if end != self.last.load(Ordering::Acquire) {
                    super::head::write(
                        &self.path,
                        super::head::Head {
                            position: end,
                            hash: head,
                        },
                    );
                }
                self.head = head;
                self.last.store(end, Ordering::Release);
                self.changed.notify(usize::MAX);
                for (req, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = req.reply.try_send(outcome);
                }
            }
            Err(e) => {
                // Nothing of the batch is durable: every caller hears why.
                let message = e.to_string();
                log::error!("event log commit failed: {message}");
                let failed_commits = failure.as_ref().map_or(0, |f| f.failed_commits) + 1;
                *failure = Some(WriteFailure {
                    message: message.clone(),
                    kind: e.kind(),
                    failed_commits,
                });
                drop(failure);
                for req in batch {
                    let _ = req.reply.try_send(Err(StoreError::Commit {
                        message: message.clone(),
                        kind: e.kind(),
                    }));
                }
            }
        }
    }

    fn try_commit(&self, batch: &[Request]) -> Result<(Outcomes, u64, Hash), StoreError> {
        let db = self
            .db
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(StoreError::Closed)?;
        let Db::Rw(db) = &*db else {
            return Err(StoreError::ReadOnly);
        };
        let start = self.last.load(Ordering::Acquire);
        guarded("append", || commit(db, batch, start, self.head))
    }

    /// Close the file and open it again. Readers holding the old handle for a moment keep its
    /// lock, so the open is retried briefly. The tail is read again: what failed is not in it.
    fn reopen(&mut self) -> Result<(), StoreError> {
        let old = self.db.write().unwrap_or_else(|p| p.into_inner()).take();
        drop(old);
        let mut tries = 0;
        let db = loop {
            match open_database(&self.path, false) {
                Err(StoreError::InUse { .. }) if tries < 50 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => break other?,
            }
        };
        let (last, head) = tail(&db)?;
        *self.db.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(db));
        self.head = head;
        self.last.store(last, Ordering::Release);
        Ok(())
    }
}

type Outcomes = Vec<Result<Appended, StoreError>>;

/// One durable transaction for the whole batch. A request that is refused (stale expected
/// position, unencodable event) writes nothing and does not disturb the others.
fn commit(
    db: &Database,
    batch: &[Request],
    start: u64,
    head: Hash,
) -> Result<(Outcomes, u64, Hash), StoreError> {
    let mut txn = db.begin_write().map_err(redb_err("begin"))?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| StoreError::Commit {
            message: format!("cannot make the commit durable: {e}"),
            // Durability::Immediate is always allowed on a write transaction we just began.
            kind: crate::error::ErrorKind::Internal,
        })?;
    let mut last = start;
    let mut head = head;
    let mut outcomes = Vec::with_capacity(batch.len());
    {
        let mut table = txn.open_table(EVENTS).map_err(redb_err("append"))?;
        let mut keys = txn.open_table(IDEMPOTENCY).map_err(redb_err("append"))?;
        for req in batch {
            if let Some(key) = &req.idempotency_key {
                let seen = keys.get(key.as_str()).map_err(redb_err("append"))?;
                if let Some((first, end)) = seen.map(|v| v.value()) {
                    let mut envelopes = Vec::new();
                    for item in table.range(first..=end).map_err(redb_err("append"))? {
                        let (k, v) = item.map_err(redb_err("append"))?;
                        let position = k.value();
                        envelopes.push(
                            events::decode(v.value())
                                .map_err(|source| StoreError::Decode { position, source })?,
                        );
                    }
                    outcomes.push(Ok(Appended {
                        envelopes,
                        replayed: true,
                    }));
                    continue;
                }
            }
            if let Expected::Position(expected) = req.expected {
                if expected != last {
                    outcomes.push(Err(StoreError::Conflict {
                        expected,
                        actual: last,
                    }));
                    continue;
                }
            }
            let envelopes: Vec<Envelope> = req
                .events
                .iter()
                .enumerate()
                .map(|(i, e)| Envelope {
                    position: last + 1 + i as u64,
                    recorded_at: e.recorded_at,
                    actor: e.actor.clone(),
                    correlation: e.correlation.clone(),
                    payload: e.payload.clone(),
                })
                .collect();
            // Each record links to the one before; a refused request leaves the head as it was.
            let mut link = head;
            let encoded: Result<Vec<Vec<u8>>, _> = envelopes
                .iter()
                .map(|env| {
                    let bytes = events::encode_linked(env, &link)?;
                    link = events::hash_of(&bytes);
                    Ok::<_, events::EncodeError>(bytes)
                })
                .collect();
            let encoded = match encoded {
                Ok(e) => e,
                Err(e) => {
                    outcomes.push(Err(e.into()));
                    continue;
                }
            };
            head = link;
            for (env, bytes) in envelopes.iter().zip(&encoded) {
                table
                    .insert(env.position, bytes.as_slice())
                    .map_err(redb_err("append"))?;
            }
            if let (Some(key), Some(first), Some(end)) =
                (&req.idempotency_key, envelopes.first(), envelopes.last())
            {
                keys.insert(key.as_str(), (first.position, end.position))
                    .map_err(redb_err("append"))?;
            }
            last += envelopes.len() as u64;
            outcomes.push(Ok(Appended {
                envelopes,
                replayed: false,
            }));
        }
    }
    txn.commit().map_err(redb_err("commit"))?;
    Ok((outcomes, last, head))
}
