//! The API's idempotent requests, in a table of their own (`api_requests`): per
//! `Idempotency-Key`, bytes the API encodes (what the request was and its first answer).
//!
//! Beside the event log, not in it: an answer is not an event, and replay never reads this
//! table. The events a key produced stay in `idempotency` (see `writer.rs`).

use super::guard::guarded;
use super::{redb_err, Db, EventStore, StoreError};
use redb::{Durability, TableDefinition, TableError};

/// key -> the API's record of the request (`api::idempotency`)
const API_REQUESTS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_requests");

impl EventStore {
    /// The record kept for `key`, if any.
    pub fn api_request_blocking(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let db = self.db()?;
        guarded("read", || {
            let txn = db.begin_read().map_err(redb_err("read"))?;
            // Created by the first write: a log from before this table has no records.
            let table = match txn.open_table(API_REQUESTS) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(redb_err("read")(e)),
            };
            let value = table.get(key).map_err(redb_err("read"))?;
            Ok(value.map(|v| v.value().to_vec()))
        })
    }

    /// Durably set (`Some`) or remove (`None`) the record for `key`: durable before the request
    /// it binds is carried out, so a crash cannot leave events whose key is unbound.
    pub fn put_api_request_blocking(
        &self,
        key: &str,
        record: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let db = self.db()?;
        let Db::Rw(db) = &*db else {
            return Err(StoreError::ReadOnly);
        };
        guarded("write", || {
            let mut txn = db.begin_write().map_err(redb_err("write"))?;
            txn.set_durability(Durability::Immediate)
                .map_err(|e| StoreError::Commit {
                    message: format!("cannot make the write durable: {e}"),
                    // Always allowed on a write transaction just begun.
                    kind: crate::error::ErrorKind::Internal,
                })?;
            {
                let mut table = txn.open_table(API_REQUESTS).map_err(redb_err("write"))?;
                match record {
                    Some(bytes) => {
                        table.insert(key, bytes).map_err(redb_err("write"))?;
                    }
                    None => {
                        table.remove(key).map_err(redb_err("write"))?;
                    }
                }
            }
            txn.commit().map_err(redb_err("write"))
        })
    }
}
