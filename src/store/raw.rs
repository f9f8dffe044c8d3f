//! The log as stored bytes, for shipping it off-site and bringing it back (`remote::logship`,
//! `remote::recover`): a range of records exactly as redb holds them, and a new log written
//! from such records with their positions and hashes unchanged.
//!
//! An import never re-encodes: the bytes that arrive are the bytes stored, so every digest and
//! link is the one the original machine computed, and `log verify` on the new machine prints the
//! same head hash. Every record is checked on the way in exactly as a read checks it (`Chain`).

use super::chain::Chain;
use super::guard::guarded;
use super::{head, redb_err, Db, EventStore, StoreError, EVENTS};
use crate::events::Hash;
use redb::{Database, Durability};
use std::path::{Path, PathBuf};

/// One stored record: its position and its bytes.
pub type RawRecord = (u64, Vec<u8>);

impl EventStore {
    /// Up to `limit` stored records after `after`, in order, as their stored bytes; each is
    /// checked (checksum, position, link) as a read checks it, so damage is never shipped.
    pub fn raw_range_blocking(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RawRecord>, StoreError> {
        let upto = self.last_position();
        let start = after.saturating_add(1);
        let mut out = Vec::new();
        if start > upto || limit == 0 {
            return Ok(out);
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
                chain.check(k.value(), v.value())?;
                out.push((k.value(), v.value().to_vec()));
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        })
    }

    /// The hash the event at `position` is linked to by the next one (`GENESIS` for 0), or
    /// `None` when the log does not reach it.
    pub fn hash_at_blocking(&self, position: u64) -> Result<Option<Hash>, StoreError> {
        if position == 0 {
            return Ok(Some(crate::events::GENESIS));
        }
        let db = self.db()?;
        super::hash_at(&db, position)
    }
}

/// A new log being written from records that already carry their positions and links (a
/// recovery from a remote). Nothing else can write it meanwhile: it is not an `EventStore`.
pub struct Import {
    db: Database,
    path: PathBuf,
    chain: Chain,
    last: u64,
}

impl Import {
    /// Create the log at `path`; an existing file is never written over.
    pub fn create(path: &Path) -> Result<Import, StoreError> {
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(StoreError::Exists {
                path: path.to_path_buf(),
            });
        }
        let Db::Rw(db) = super::open_database(path, true)? else {
            unreachable!("open_database opens read-write");
        };
        Ok(Import {
            db,
            path: path.to_path_buf(),
            chain: Chain::start(),
            last: 0,
        })
    }

    /// Append `records` (the next positions, in order) in one durable transaction, each checked
    /// against the one before it: a gap, a damaged record or a broken link writes none of them.
    pub fn append(&mut self, records: &[RawRecord]) -> Result<(), StoreError> {
        let mut chain = self.chain.clone();
        for (position, bytes) in records {
            chain.check(*position, bytes)?;
        }
        let db = &self.db;
        guarded("import", || {
            let mut txn = db.begin_write().map_err(redb_err("import"))?;
            txn.set_durability(Durability::Immediate)
                .map_err(|e| StoreError::Commit {
                    message: format!("cannot make the import durable: {e}"),
                    kind: crate::error::ErrorKind::Internal,
                })?;
            {
                let mut table = txn.open_table(EVENTS).map_err(redb_err("import"))?;
                for (position, bytes) in records {
                    table
                        .insert(*position, bytes.as_slice())
                        .map_err(redb_err("import"))?;
                }
            }
            txn.commit().map_err(redb_err("import"))
        })?;
        self.chain = chain;
        if let Some((p, _)) = records.last() {
            self.last = *p;
        }
        Ok(())
    }

    /// The last position imported and its hash (what the next record must link to).
    pub fn head(&self) -> (u64, Hash) {
        (self.last, self.chain.head())
    }

    /// Close the log and write its head file, as the writer does after a commit.
    pub fn finish(self) -> Result<(u64, Hash), StoreError> {
        let head = self.head();
        // Idempotency keys and projection snapshots are not shipped: `open_database` made their
        // tables empty, and both fill again as they are needed.
        drop(self.db);
        if head.0 > 0 {
            head::write(
                &self.path,
                head::Head {
                    position: head.0,
                    hash: head.1,
                },
            );
        }
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, Ts};
    use crate::store::{Expected, NewEvent};

    fn log_of(n: u64) -> (tempfile::TempDir, EventStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(&dir.path().join("events.redb")).unwrap();
        let events = (0..n)
            .map(|i| NewEvent {
                recorded_at: Ts::from_unix_nanos(i as i64),
                actor: format!("a{i}"),
                correlation: None,
                payload: Event::SchedulerStarted,
            })
            .collect();
        store.append_blocking(events, Expected::Any, None).unwrap();
        (dir, store)
    }

    /// Records read raw and imported in pieces make a log with the same events, positions and
    /// head hash; a record out of place or altered is refused and writes nothing.
    #[test]
    fn an_imported_log_is_the_same_log() {
        let (_dir, store) = log_of(50);
        let first = store.raw_range_blocking(0, 20).unwrap();
        let rest = store.raw_range_blocking(20, 1000).unwrap();
        assert_eq!((first.len(), rest.len()), (20, 30));
        let to = tempfile::tempdir().unwrap();
        let path = to.path().join("events.redb");
        let mut import = Import::create(&path).unwrap();
        import.append(&first).unwrap();
        // a gap: position 22 after 20
        assert!(matches!(
            import.append(&rest[1..]),
            Err(StoreError::Gap { position: 21 })
        ));
        let mut altered = rest.clone();
        let b = altered[3].1.len() / 2;
        altered[3].1[b] ^= 1;
        assert!(matches!(
            import.append(&altered),
            Err(StoreError::Decode { position: 24, .. })
        ));
        import.append(&rest).unwrap();
        let (last, head) = import.finish().unwrap();
        let sum = store.verify_blocking().unwrap();
        assert_eq!((last, head), (50, sum.head));
        drop(store);
        let copy = EventStore::open_read_only(&path).unwrap();
        assert_eq!(copy.verify_blocking().unwrap(), sum);
        assert!(Import::create(&path).is_err(), "never over an existing log");
    }
}
