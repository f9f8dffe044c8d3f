//! The event log on redb: append with an expected position and an idempotency key, group commit,
//! range reads, the last position, an async wait for "positions beyond N", and the snapshot slot.
//!
//! Only this module touches redb. Writes go through one writer thread (`writer.rs`) that drains
//! every request waiting and commits them in one durable transaction, so concurrent callers share
//! an fsync; each caller is answered only after its transaction is durable. Async callers never
//! block the executor: they wait on a channel, and reads run on the blocking pool.

mod error;
mod requests;
mod writer;

pub(crate) use error::redb_err;
pub use error::StoreError;

use crate::events::{self, Envelope, Event, Ts};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// position -> encoded envelope
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// idempotency key -> (first, last) position it produced
const IDEMPOTENCY: TableDefinition<&str, (u64, u64)> = TableDefinition::new("idempotency");
/// name -> bytes (the projection snapshot); a cache, never the truth
const SNAPSHOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshots");

/// An event to be appended; the store gives it its position.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub recorded_at: Ts,
    pub actor: String,
    pub correlation: Option<String>,
    pub payload: Event,
}

/// Optimistic concurrency: what the caller believes the last position is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Any,
    Position(u64),
}

/// What an append produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    pub envelopes: Vec<Envelope>,
    /// True when the idempotency key had been seen: nothing was written, these are the first result.
    pub replayed: bool,
}

struct Inner {
    db: Arc<Database>,
    path: PathBuf,
    requests: Option<smol::channel::Sender<writer::Request>>,
    writer: Option<JoinHandle<()>>,
    /// The last durable position; readers and waiters never see beyond it.
    last: Arc<AtomicU64>,
    changed: Arc<event_listener::Event>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the writer after it answers what it has; joining it releases
        // the file lock before a reopen in the same process.
        self.requests.take();
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
    }
}

/// A handle on the log; cheap to clone.
#[derive(Clone)]
pub struct EventStore {
    inner: Arc<Inner>,
}

impl EventStore {
    /// Open (or create) the log at `path`.
    pub fn open(path: &Path) -> Result<EventStore, StoreError> {
        let db = match Database::create(path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::InUse {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(redb_err("open")(e)),
        };
        let txn = db.begin_write().map_err(redb_err("open"))?;
        let last = {
            let events = txn.open_table(EVENTS).map_err(redb_err("open"))?;
            txn.open_table(IDEMPOTENCY).map_err(redb_err("open"))?;
            txn.open_table(SNAPSHOTS).map_err(redb_err("open"))?;
            let last = events.last().map_err(redb_err("open"))?;
            last.map(|(k, _)| k.value()).unwrap_or(0)
        };
        txn.commit().map_err(redb_err("open"))?;

        let db = Arc::new(db);
        let last = Arc::new(AtomicU64::new(last));
        let changed = Arc::new(event_listener::Event::new());
        let (tx, rx) = smol::channel::unbounded();
        let writer = writer::spawn(db.clone(), rx, last.clone(), changed.clone());
        Ok(EventStore {
            inner: Arc::new(Inner {
                db,
                path: path.to_path_buf(),
                requests: Some(tx),
                writer: Some(writer),
                last,
                changed,
            }),
        })
    }

    /// Open an existing log; a missing file is an error rather than a new empty log.
    pub fn open_existing(path: &Path) -> Result<EventStore, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        Self::open(path)
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The position of the last durable event (0 = empty).
    pub fn last_position(&self) -> u64 {
        self.inner.last.load(Ordering::Acquire)
    }

    /// Append all `events` in one transaction, durably, after checking `expected` and the key.
    pub async fn append(
        &self,
        events: Vec<NewEvent>,
        expected: Expected,
        idempotency_key: Option<String>,
    ) -> Result<Appended, StoreError> {
        let reply = self.submit(events, expected, idempotency_key)?;
        reply.recv().await.map_err(|_| StoreError::Closed)?
    }

    /// The same as `append`, for threads that are not on the executor.
    pub fn append_blocking(
        &self,
        events: Vec<NewEvent>,
        expected: Expected,
        idempotency_key: Option<String>,
    ) -> Result<Appended, StoreError> {
        let reply = self.submit(events, expected, idempotency_key)?;
        reply.recv_blocking().map_err(|_| StoreError::Closed)?
    }

    fn submit(
        &self,
        events: Vec<NewEvent>,
        expected: Expected,
        idempotency_key: Option<String>,
    ) -> Result<smol::channel::Receiver<Result<Appended, StoreError>>, StoreError> {
        let (reply, rx) = smol::channel::bounded(1);
        let sender = self.inner.requests.as_ref().ok_or(StoreError::Closed)?;
        sender
            .try_send(writer::Request {
                events,
                expected,
                idempotency_key,
                reply,
            })
            .map_err(|_| StoreError::Closed)?;
        Ok(rx)
    }

    /// Wait until the log holds a position beyond `position`.
    pub async fn wait_beyond(&self, position: u64) {
        loop {
            let listener = self.inner.changed.listen();
            if self.last_position() > position {
                return;
            }
            listener.await;
        }
    }

    /// Up to `limit` events after `after`, in order.
    pub fn read_blocking(&self, after: u64, limit: usize) -> Result<Vec<Envelope>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        self.scan_blocking(after, |env| {
            out.push(env);
            out.len() < limit
        })?;
        Ok(out)
    }

    pub async fn read(&self, after: u64, limit: usize) -> Result<Vec<Envelope>, StoreError> {
        let store = self.clone();
        smol::unblock(move || store.read_blocking(after, limit)).await
    }

    /// Feed every durable event after `after` to `visit`, in order, until it returns false.
    /// Streams: memory does not grow with the log.
    pub fn scan_blocking(
        &self,
        after: u64,
        mut visit: impl FnMut(Envelope) -> bool,
    ) -> Result<(), StoreError> {
        let upto = self.last_position();
        let txn = self.inner.db.begin_read().map_err(redb_err("read"))?;
        let table = txn.open_table(EVENTS).map_err(redb_err("read"))?;
        let start = after.saturating_add(1);
        if start > upto {
            return Ok(());
        }
        for item in table.range(start..=upto).map_err(redb_err("read"))? {
            let (k, v) = item.map_err(redb_err("read"))?;
            let position = k.value();
            let env = events::decode(v.value())
                .map_err(|source| StoreError::Decode { position, source })?;
            if !visit(env) {
                break;
            }
        }
        Ok(())
    }

    /// The stored bytes of one event (snapshots use them to check they still match the log).
    pub fn raw_event_blocking(&self, position: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.inner.db.begin_read().map_err(redb_err("read"))?;
        let table = txn.open_table(EVENTS).map_err(redb_err("read"))?;
        let value = table.get(position).map_err(redb_err("read"))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    /// The positions an idempotency key produced, if it was seen.
    pub fn idempotency_blocking(&self, key: &str) -> Result<Option<(u64, u64)>, StoreError> {
        let txn = self.inner.db.begin_read().map_err(redb_err("read"))?;
        let table = txn.open_table(IDEMPOTENCY).map_err(redb_err("read"))?;
        let value = table.get(key).map_err(redb_err("read"))?;
        Ok(value.map(|v| v.value()))
    }

    pub fn snapshot_blocking(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.inner.db.begin_read().map_err(redb_err("snapshot"))?;
        let table = txn.open_table(SNAPSHOTS).map_err(redb_err("snapshot"))?;
        let value = table.get(name).map_err(redb_err("snapshot"))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    /// Replace the named snapshot. Goes through its own transaction; redb serialises it with the
    /// writer's, so events and snapshots never interleave inside one commit.
    pub fn put_snapshot_blocking(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let txn = self.inner.db.begin_write().map_err(redb_err("snapshot"))?;
        {
            let mut table = txn.open_table(SNAPSHOTS).map_err(redb_err("snapshot"))?;
            table.insert(name, bytes).map_err(redb_err("snapshot"))?;
        }
        txn.commit().map_err(redb_err("snapshot"))
    }

    pub fn drop_snapshot_blocking(&self, name: &str) -> Result<(), StoreError> {
        let txn = self.inner.db.begin_write().map_err(redb_err("snapshot"))?;
        {
            let mut table = txn.open_table(SNAPSHOTS).map_err(redb_err("snapshot"))?;
            table.remove(name).map_err(redb_err("snapshot"))?;
        }
        txn.commit().map_err(redb_err("snapshot"))
    }
}
