//! The event log on redb: append with an expected position and an idempotency key, group commit,
//! range reads, the last position, an async wait for "positions beyond N", and the snapshot slot.
//!
//! Only this module touches redb. Writes go through one writer thread (`writer.rs`) that drains
//! every request waiting and commits them in one durable transaction, so concurrent callers share
//! an fsync; each caller is answered only after its transaction is durable. Async callers never
//! block the executor: they wait on a channel, and reads run on the blocking pool.

mod chain;
mod error;
mod guard;
mod head;
mod raw;
mod requests;
mod writer;

pub(crate) use error::redb_err;
pub use error::StoreError;
pub use raw::{Import, RawRecord};

use crate::error::ErrorKind;
use crate::events::{Envelope, Event, Hash, Ts, GENESIS};
use chain::Chain;
use guard::guarded;
use redb::{
    Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
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

/// The open file: read-write for `serve` (and the offline `verify`, which records its result),
/// read-only for the offline readers, which never change the file.
pub(super) enum Db {
    Rw(Database),
    Ro(ReadOnlyDatabase),
    /// A read-only open of a file that was not closed cleanly: redb must repair it before it
    /// can be read, and a read-only command must not change it, so the repair happens on a copy
    /// in memory (the file's size of RAM, for as long as the command runs).
    Copy(Database),
}

impl Db {
    pub(super) fn begin_read(&self) -> Result<ReadTransaction, redb::TransactionError> {
        match self {
            Db::Rw(db) | Db::Copy(db) => db.begin_read(),
            Db::Ro(db) => db.begin_read(),
        }
    }
}

/// The database, shared by readers and the writer. `None` while the writer reopens it after an
/// I/O error (redb refuses every call after one until the file is opened again).
type Slot = Arc<RwLock<Option<Arc<Db>>>>;

/// Why the log cannot be written right now (cleared by the next durable commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteFailure {
    pub message: String,
    pub kind: ErrorKind,
    /// Commits that failed since the last one that went through.
    pub failed_commits: u64,
}

/// What `verify_blocking` found in a sound log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSummary {
    pub events: u64,
    /// Records with a checksum and a link (schema v4 on); the rest are older and unchained.
    pub chained: u64,
    pub first_chained: Option<u64>,
    /// The hash of the last event: the chain's head (`GENESIS` for an empty log). Kept
    /// elsewhere, it shows a log cut short or rewritten from the start, which a chain alone
    /// cannot.
    pub head: Hash,
}

struct Inner {
    db: Slot,
    path: PathBuf,
    requests: Option<smol::channel::Sender<writer::Request>>,
    writer: Option<JoinHandle<()>>,
    /// The last durable position; readers and waiters never see beyond it.
    last: Arc<AtomicU64>,
    changed: Arc<event_listener::Event>,
    failure: Arc<Mutex<Option<WriteFailure>>>,
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
    /// Open the log at `path` for writing, creating it if there is none (`serve` checks first
    /// that a missing log is a first start, not a lost one).
    pub fn open(path: &Path) -> Result<EventStore, StoreError> {
        Self::open_rw(path, true)
    }

    /// Open an existing log for writing; a missing or empty file is an error, never a new log.
    pub fn open_existing(path: &Path) -> Result<EventStore, StoreError> {
        check_present(path)?;
        Self::open_rw(path, false)
    }

    /// Open an existing log read-only: the file is never created, repaired or changed.
    pub fn open_read_only(path: &Path) -> Result<EventStore, StoreError> {
        check_present(path)?;
        let db = guarded("open", || match ReadOnlyDatabase::open(path) {
            Ok(db) => Ok(Db::Ro(db)),
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => Err(StoreError::InUse {
                path: path.to_path_buf(),
            }),
            Err(redb::DatabaseError::RepairAborted) => Ok(Db::Copy(repaired_copy(path)?)),
            Err(e) => Err(redb_err("open")(e)),
        })?;
        let (last, _) = tail(&db)?;
        head::check(path, last, |p| hash_at(&db, p))?;
        Ok(Self::assemble(
            path,
            Arc::new(RwLock::new(Some(Arc::new(db)))),
            last,
            None,
        ))
    }

    fn open_rw(path: &Path, create: bool) -> Result<EventStore, StoreError> {
        let db = open_database(path, create)?;
        let (last, head) = tail(&db)?;
        head::check(path, last, |p| hash_at(&db, p))?;
        if last > 0 {
            // A log of an older release gets its head file now; a current one rewrites the same.
            head::write(
                path,
                head::Head {
                    position: last,
                    hash: head,
                },
            );
        }
        let slot: Slot = Arc::new(RwLock::new(Some(Arc::new(db))));
        Ok(Self::assemble(path, slot, last, Some(head)))
    }

    fn assemble(path: &Path, db: Slot, last: u64, head: Option<Hash>) -> EventStore {
        let last = Arc::new(AtomicU64::new(last));
        let changed = Arc::new(event_listener::Event::new());
        let failure = Arc::new(Mutex::new(None));
        let (requests, writer) = match head {
            Some(head) => {
                let (tx, rx) = smol::channel::unbounded();
                let writer = writer::spawn(writer::Writer {
                    db: db.clone(),
                    path: path.to_path_buf(),
                    head,
                    requests: rx,
                    last: last.clone(),
                    changed: changed.clone(),
                    failure: failure.clone(),
                });
                (Some(tx), Some(writer))
            }
            None => (None, None),
        };
        EventStore {
            inner: Arc::new(Inner {
                db,
                path: path.to_path_buf(),
                requests,
                writer,
                last,
                changed,
                failure,
            }),
        }
    }

    /// Why the last commit failed, while no later commit has gone through.
    pub fn write_failure(&self) -> Option<WriteFailure> {
        self.inner
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// True when this handle can append (not opened read-only).
    pub fn writable(&self) -> bool {
        self.inner.requests.is_some()
    }

    pub(super) fn db(&self) -> Result<Arc<Db>, StoreError> {
        self.inner
            .db
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(StoreError::Closed)
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
        let sender = self.inner.requests.as_ref().ok_or(StoreError::ReadOnly)?;
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
    /// Streams: memory does not grow with the log. Every record is checked on the way (checksum,
    /// position, link to the one before): a damaged one ends the walk with its typed error.
    pub fn scan_blocking(
        &self,
        after: u64,
        mut visit: impl FnMut(Envelope) -> bool,
    ) -> Result<(), StoreError> {
        let upto = self.last_position();
        let start = after.saturating_add(1);
        if start > upto {
            return Ok(());
        }
        let db = self.db()?;
        guarded("read", || {
            let txn = db.begin_read().map_err(redb_err("read"))?;
            let table = txn.open_table(EVENTS).map_err(redb_err("read"))?;
            let mut chain = match after {
                0 => Chain::start(),
                p => match table.get(p).map_err(redb_err("read"))? {
                    Some(v) => Chain::after(p, v.value()),
                    None => return Err(StoreError::Gap { position: p }),
                },
            };
            for item in table.range(start..=upto).map_err(redb_err("read"))? {
                let (k, v) = item.map_err(redb_err("read"))?;
                let env = chain.check(k.value(), v.value())?;
                if !guard::outside(|| visit(env)) {
                    return Ok(());
                }
            }
            match chain.check_end(upto) {
                Some(e) => Err(e),
                None => Ok(()),
            }
        })
    }

    /// Feed every durable event before `before` (all of them when `None`) to `visit`, newest
    /// first, until it returns false. The log is read forward in windows of `BACK_BATCH` events
    /// (each through `scan_blocking`, so every checksum and link is checked as on a forward
    /// read: a window's first link is checked against the stored bytes of the event below it,
    /// which the next window reads and checks), then handed out in reverse: memory holds one
    /// window, never the log.
    pub fn scan_back_blocking(
        &self,
        before: Option<u64>,
        mut visit: impl FnMut(Envelope) -> bool,
    ) -> Result<(), StoreError> {
        const BACK_BATCH: u64 = 256;
        let last = self.last_position();
        let mut hi = match before {
            Some(b) => b.saturating_sub(1).min(last),
            None => last,
        };
        while hi > 0 {
            let lo = hi.saturating_sub(BACK_BATCH - 1).max(1);
            let mut window = Vec::with_capacity((hi - lo + 1) as usize);
            self.scan_blocking(lo - 1, |env| {
                let more = env.position < hi;
                window.push(env);
                more
            })?;
            for env in window.into_iter().rev() {
                if !visit(env) {
                    return Ok(());
                }
            }
            hi = lo - 1;
        }
        Ok(())
    }

    /// Walk the whole log, checking every record and link.
    pub fn verify_blocking(&self) -> Result<LogSummary, StoreError> {
        let db = self.db()?;
        let upto = self.last_position();
        guarded("verify", || {
            let txn = db.begin_read().map_err(redb_err("read"))?;
            let table = txn.open_table(EVENTS).map_err(redb_err("read"))?;
            let mut chain = Chain::start();
            for item in table.range(1..=upto).map_err(redb_err("read"))? {
                let (k, v) = item.map_err(redb_err("read"))?;
                chain.check(k.value(), v.value())?;
            }
            if let Some(e) = chain.check_end(upto) {
                return Err(e);
            }
            Ok(LogSummary {
                events: upto,
                chained: chain.chained,
                first_chained: chain.first_chained,
                head: chain.head(),
            })
        })
    }

    /// The stored bytes of one event (snapshots use them to check they still match the log).
    pub fn raw_event_blocking(&self, position: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let db = self.db()?;
        guarded("read", || {
            let txn = db.begin_read().map_err(redb_err("read"))?;
            let table = txn.open_table(EVENTS).map_err(redb_err("read"))?;
            let value = table.get(position).map_err(redb_err("read"))?;
            Ok(value.map(|v| v.value().to_vec()))
        })
    }

    /// The positions an idempotency key produced, if it was seen.
    pub fn idempotency_blocking(&self, key: &str) -> Result<Option<(u64, u64)>, StoreError> {
        let db = self.db()?;
        guarded("read", || {
            let txn = db.begin_read().map_err(redb_err("read"))?;
            let table = txn.open_table(IDEMPOTENCY).map_err(redb_err("read"))?;
            let value = table.get(key).map_err(redb_err("read"))?;
            Ok(value.map(|v| v.value()))
        })
    }

    pub fn snapshot_blocking(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let db = self.db()?;
        guarded("snapshot", || {
            let txn = db.begin_read().map_err(redb_err("snapshot"))?;
            let table = txn.open_table(SNAPSHOTS).map_err(redb_err("snapshot"))?;
            let value = table.get(name).map_err(redb_err("snapshot"))?;
            Ok(value.map(|v| v.value().to_vec()))
        })
    }

    /// Replace the named snapshot. Goes through its own transaction; redb serialises it with the
    /// writer's, so events and snapshots never interleave inside one commit.
    pub fn put_snapshot_blocking(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.write_snapshot(|table| table.insert(name, bytes).map(drop))
    }

    pub fn drop_snapshot_blocking(&self, name: &str) -> Result<(), StoreError> {
        self.write_snapshot(|table| table.remove(name).map(drop))
    }

    fn write_snapshot(
        &self,
        change: impl FnOnce(&mut redb::Table<&str, &[u8]>) -> Result<(), redb::StorageError>,
    ) -> Result<(), StoreError> {
        let db = self.db()?;
        let Db::Rw(db) = &*db else {
            return Err(StoreError::ReadOnly);
        };
        guarded("snapshot", || {
            let txn = db.begin_write().map_err(redb_err("snapshot"))?;
            {
                let mut table = txn.open_table(SNAPSHOTS).map_err(redb_err("snapshot"))?;
                change(&mut table).map_err(redb_err("snapshot"))?;
            }
            txn.commit().map_err(redb_err("snapshot"))
        })
    }
}

/// A log that should be there: missing or 0 bytes is an error, never a fresh start.
fn check_present(path: &Path) -> Result<(), StoreError> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::Missing {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(redb_err("open")(redb::Error::Io(e))),
        Ok(m) if m.len() == 0 => Err(StoreError::Empty {
            path: path.to_path_buf(),
        }),
        Ok(_) => Ok(()),
    }
}

/// The hash of the event at `position`, as the next event links to it.
fn hash_at(db: &Db, position: u64) -> Result<Option<Hash>, StoreError> {
    guarded("read", || {
        let txn = db.begin_read().map_err(redb_err("read"))?;
        let table = txn.open_table(EVENTS).map_err(redb_err("read"))?;
        let value = table.get(position).map_err(redb_err("read"))?;
        Ok(value.map(|v| crate::events::hash_of(v.value())))
    })
}

/// The file read into memory and opened (and so repaired) there; the file is not touched.
fn repaired_copy(path: &Path) -> Result<Database, StoreError> {
    use redb::StorageBackend;
    let bytes = std::fs::read(path).map_err(|e| redb_err("open")(redb::Error::Io(e)))?;
    let backend = redb::backends::InMemoryBackend::new();
    backend
        .set_len(bytes.len() as u64)
        .and_then(|()| backend.write(0, &bytes))
        .map_err(|e| redb_err("open")(redb::Error::Io(e)))?;
    let db = Database::builder()
        .create_with_backend(backend)
        .map_err(redb_err("open"))?;
    // A file with no tables is a log that was never written: the same as an empty one.
    let txn = db.begin_read().map_err(redb_err("open"))?;
    if let Err(e) = txn.open_table(EVENTS) {
        return Err(redb_err("open")(e));
    }
    drop(txn);
    Ok(db)
}

/// Open read-write, creating the tables on a new file.
fn open_database(path: &Path, create: bool) -> Result<Db, StoreError> {
    guarded("open", || {
        let opened = match create {
            true => Database::create(path),
            false => Database::open(path),
        };
        let db = match opened {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::InUse {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(redb_err("open")(e)),
        };
        let txn = db.begin_write().map_err(redb_err("open"))?;
        {
            txn.open_table(EVENTS).map_err(redb_err("open"))?;
            txn.open_table(IDEMPOTENCY).map_err(redb_err("open"))?;
            txn.open_table(SNAPSHOTS).map_err(redb_err("open"))?;
        }
        txn.commit().map_err(redb_err("open"))?;
        Ok(Db::Rw(db))
    })
}

/// The last position and the hash the next event links to. The last record is decoded (its
/// checksum checked): a damaged tail stops the open rather than being chained onto.
fn tail(db: &Db) -> Result<(u64, Hash), StoreError> {
    guarded("open", || {
        let txn = db.begin_read().map_err(redb_err("open"))?;
        let table = txn.open_table(EVENTS).map_err(redb_err("open"))?;
        let Some((k, v)) = table.last().map_err(redb_err("open"))? else {
            return Ok((0, GENESIS));
        };
        let position = k.value();
        let record = crate::events::decode_record(v.value())
            .map_err(|source| StoreError::Decode { position, source })?;
        if record.envelope.position != position {
            return Err(StoreError::Misplaced {
                position,
                recorded: record.envelope.position,
            });
        }
        Ok((position, record.hash))
    })
}

#[cfg(test)]
mod scan_back_tests {
    use super::*;

    /// Newest first across several windows (600 events, windows of 256), from the head or
    /// below a cursor, stopping when told: every event once, in reverse order.
    #[test]
    fn scan_back_hands_out_every_event_once_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(&dir.path().join("events.redb")).unwrap();
        let events = (0..600)
            .map(|i| NewEvent {
                recorded_at: Ts::from_unix_nanos(i),
                actor: format!("a{i}"),
                correlation: None,
                payload: Event::SchedulerStarted,
            })
            .collect();
        store.append_blocking(events, Expected::Any, None).unwrap();
        let back = |before: Option<u64>, stop: usize| {
            let mut seen = Vec::new();
            store
                .scan_back_blocking(before, |env| {
                    assert_eq!(env.actor, format!("a{}", env.position - 1));
                    seen.push(env.position);
                    seen.len() < stop
                })
                .unwrap();
            seen
        };
        assert_eq!(back(None, usize::MAX), (1..=600).rev().collect::<Vec<_>>());
        assert_eq!(
            back(Some(300), usize::MAX),
            (1..300).rev().collect::<Vec<_>>()
        );
        assert_eq!(back(Some(10_000), 3), vec![600, 599, 598]);
        assert_eq!(back(Some(258), 2), vec![257, 256]);
        assert!(back(Some(1), usize::MAX).is_empty());
    }
}
