//! The log's one writer thread: group commit of every append request that is waiting.

use super::{redb_err, Appended, Expected, NewEvent, StoreError, EVENTS, IDEMPOTENCY};
use crate::events::{self, Envelope};
use redb::{Database, Durability, ReadableTable};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A commit takes at most this many requests, so one huge burst cannot starve its first caller.
const MAX_BATCH: usize = 4096;

pub(super) struct Request {
    pub events: Vec<NewEvent>,
    pub expected: Expected,
    pub idempotency_key: Option<String>,
    pub reply: smol::channel::Sender<Result<Appended, StoreError>>,
}

pub(super) fn spawn(
    db: Arc<Database>,
    requests: smol::channel::Receiver<Request>,
    last: Arc<AtomicU64>,
    changed: Arc<event_listener::Event>,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("event-log-writer".into())
        .spawn(move || {
            while let Ok(first) = requests.recv_blocking() {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match requests.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                let start = last.load(Ordering::Acquire);
                match commit(&db, &batch, start) {
                    Ok((outcomes, end)) => {
                        last.store(end, Ordering::Release);
                        changed.notify(usize::MAX);
                        for (req, outcome) in batch.into_iter().zip(outcomes) {
                            let _ = req.reply.try_send(outcome);
                        }
                    }
                    Err(e) => {
                        // Nothing of the batch is durable: every caller hears why.
                        let msg = e.to_string();
                        log::error!("event log commit failed: {msg}");
                        for req in batch {
                            let _ = req.reply.try_send(Err(StoreError::Commit {
                                message: msg.clone(),
                                kind: e.kind(),
                            }));
                        }
                    }
                }
            }
        })
        .expect("spawning the event log writer thread")
}

type Outcomes = Vec<Result<Appended, StoreError>>;

/// One durable transaction for the whole batch. A request that is refused (stale expected
/// position, unencodable event) writes nothing and does not disturb the others.
fn commit(db: &Database, batch: &[Request], start: u64) -> Result<(Outcomes, u64), StoreError> {
    let mut txn = db.begin_write().map_err(redb_err("begin"))?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| StoreError::Commit {
            message: format!("cannot make the commit durable: {e}"),
            // Durability::Immediate is always allowed on a write transaction we just began.
            kind: crate::error::ErrorKind::Internal,
        })?;
    let mut last = start;
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
            let encoded: Result<Vec<Vec<u8>>, _> = envelopes.iter().map(events::encode).collect();
            let encoded = match encoded {
                Ok(e) => e,
                Err(e) => {
                    outcomes.push(Err(e.into()));
                    continue;
                }
            };
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
    Ok((outcomes, last))
}
