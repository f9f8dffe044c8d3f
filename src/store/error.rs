//! The event log's error type, and which kind of failure each is.

use crate::error::ErrorKind;
use crate::events::{self, DecodeError};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the event log {path} is in use by a running backupd; stop it first, or read through the API (GET /api/backup/events)")]
    InUse { path: PathBuf },
    #[error("no event log at {path}")]
    Missing { path: PathBuf },
    #[error(
        "the event log {path} is empty (0 bytes): its events are lost; restore it from a copy"
    )]
    Empty { path: PathBuf },
    #[error("the event log was opened read-only: nothing can be written")]
    ReadOnly,
    #[error("event log {context}: the file is damaged (the store stopped on: {message})")]
    Panicked {
        context: &'static str,
        message: String,
    },
    #[error("event at position {position} does not link to the event before it (it links to {found}, the event at position {} hashes to {expected}): an event was altered, removed or inserted", position - 1)]
    Chain {
        position: u64,
        expected: String,
        found: String,
    },
    #[error("event at position {position} is not chained (schema version {version}) although the hash chain began before it: it was replaced or inserted")]
    Unchained { position: u64, version: u8 },
    #[error("the event log ends at position {last}, but {path} says position {head} was committed: the latest events are lost (the file was damaged, or replaced by an older copy). Restore the log from a copy; to accept the loss, delete {path}")]
    Shortened { last: u64, head: u64, path: PathBuf },
    #[error("the event at position {position} hashes to {found}, but {path} says {expected} was committed there: the log was rewritten or replaced. Restore it from a copy; to accept it as it is, delete {path}")]
    Rewritten {
        position: u64,
        expected: String,
        found: String,
        path: PathBuf,
    },
    #[error("the event log's head file {path} is damaged ({reason}): delete it to go on without the check it gives")]
    HeadFile { path: PathBuf, reason: String },
    #[error("the event at position {position} is missing from the log")]
    Gap { position: u64 },
    #[error("the record stored at position {position} says it is position {recorded}: it was moved or altered")]
    Misplaced { position: u64, recorded: u64 },
    #[error(
        "expected the log to end at position {expected}, it ends at {actual}: nothing written"
    )]
    Conflict { expected: u64, actual: u64 },
    #[error("event at position {position} cannot be decoded: {source}")]
    Decode {
        position: u64,
        #[source]
        source: DecodeError,
    },
    #[error(transparent)]
    Encode(#[from] events::EncodeError),
    #[error("event log {context}: {source}")]
    Redb {
        context: &'static str,
        #[source]
        source: redb::Error,
    },
    #[error("event log commit failed, nothing of it is durable: {message}")]
    Commit {
        message: String,
        /// The kind of the error that failed the commit (its text is `message`).
        kind: ErrorKind,
    },
    #[error("the event log writer has stopped")]
    Closed,
    #[error("{path} exists: a log is imported only into a new file, never over one")]
    Exists { path: PathBuf },
}

impl StoreError {
    /// The position of the event that is damaged, where the error is about one event.
    pub fn position(&self) -> Option<u64> {
        match self {
            StoreError::Decode { position, .. }
            | StoreError::Chain { position, .. }
            | StoreError::Unchained { position, .. }
            | StoreError::Gap { position, .. }
            | StoreError::Misplaced { position, .. }
            | StoreError::Rewritten { position, .. } => Some(*position),
            StoreError::Shortened { last, .. } => Some(last + 1),
            _ => None,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            // Events are lost or altered: the log cannot be trusted as it is.
            StoreError::Empty { .. }
            | StoreError::Panicked { .. }
            | StoreError::Chain { .. }
            | StoreError::Unchained { .. }
            | StoreError::Gap { .. }
            | StoreError::Misplaced { .. }
            | StoreError::Shortened { .. }
            | StoreError::Rewritten { .. }
            | StoreError::HeadFile { .. } => ErrorKind::Integrity,
            // Offline commands open the log read-only and never append.
            StoreError::ReadOnly => ErrorKind::Internal,
            // One writer per log, by design: the other process must stop first.
            StoreError::InUse { .. } => ErrorKind::Refused,
            // Pointed at a data directory without a log (offline commands never create one).
            StoreError::Missing { .. } => ErrorKind::Config,
            // Someone appended first: decide again on the new state and append again.
            StoreError::Conflict { .. } => ErrorKind::Transient,
            StoreError::Decode { source, .. } => match source {
                // Written by a newer binary: the log is fine, this binary is too old for it.
                DecodeError::UnknownVersion { .. } | DecodeError::UnknownVariant { .. } => {
                    ErrorKind::Config
                }
                DecodeError::Truncated { .. }
                | DecodeError::TrailingBytes { .. }
                | DecodeError::TooLarge
                | DecodeError::Malformed { .. }
                | DecodeError::Checksum { .. } => ErrorKind::Integrity,
            },
            // Every event `decide` makes is encodable and far below the size limit.
            StoreError::Encode(_) => ErrorKind::Internal,
            StoreError::Redb { source, .. } => redb_kind(source),
            StoreError::Commit { kind, .. } => *kind,
            // The writer stops when the store is dropped, at shutdown: after the restart the
            // same command goes through.
            StoreError::Closed => ErrorKind::Transient,
            StoreError::Exists { .. } => ErrorKind::Refused,
        }
    }
}

fn redb_kind(e: &redb::Error) -> ErrorKind {
    match e {
        redb::Error::Io(io) => ErrorKind::of_io(io),
        redb::Error::Corrupted(_) => ErrorKind::Integrity,
        // Someone else holds the file or a transaction for now; reopening clears an earlier
        // I/O failure (which was reported when it happened).
        redb::Error::DatabaseAlreadyOpen
        | redb::Error::WouldBlock
        | redb::Error::TransactionInProgress
        | redb::Error::PreviousIo => ErrorKind::Transient,
        // A file format or locking protocol of another redb release: the binary is the wrong one.
        redb::Error::UpgradeRequired(_) | redb::Error::LockProtocolMismatch => ErrorKind::Config,
        // Tables, types and transactions are this module's own: anything else is a bug here.
        _ => ErrorKind::Internal,
    }
}

pub(crate) fn redb_err<E: Into<redb::Error>>(
    context: &'static str,
) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Redb {
        context,
        source: e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorKind::*;

    #[test]
    fn every_variant_has_its_kind() {
        let decode = |source| StoreError::Decode {
            position: 7,
            source,
        };
        let redb = |source| StoreError::Redb {
            context: "read",
            source,
        };
        let cases = [
            (StoreError::InUse { path: "/d".into() }, Refused),
            (StoreError::Missing { path: "/d".into() }, Config),
            (
                StoreError::Conflict {
                    expected: 1,
                    actual: 2,
                },
                Transient,
            ),
            (decode(DecodeError::UnknownVersion { version: 9 }), Config),
            (decode(DecodeError::UnknownVariant { index: 99 }), Config),
            (decode(DecodeError::Truncated { at: "header" }), Integrity),
            (decode(DecodeError::TrailingBytes { count: 1 }), Integrity),
            (decode(DecodeError::TooLarge), Integrity),
            (
                decode(DecodeError::Malformed {
                    at: "payload",
                    reason: "bad utf-8".into(),
                }),
                Integrity,
            ),
            (
                redb(redb::Error::Io(std::io::Error::from_raw_os_error(
                    libc::ENOSPC,
                ))),
                Transient,
            ),
            (
                redb(redb::Error::Io(std::io::ErrorKind::PermissionDenied.into())),
                Refused,
            ),
            (redb(redb::Error::Corrupted("page".into())), Integrity),
            (redb(redb::Error::DatabaseAlreadyOpen), Transient),
            (redb(redb::Error::PreviousIo), Transient),
            (redb(redb::Error::UpgradeRequired(2)), Config),
            (redb(redb::Error::ValueTooLarge(1 << 33)), Internal),
            (
                StoreError::Commit {
                    message: "disk full".into(),
                    kind: Transient,
                },
                Transient,
            ),
            (StoreError::Closed, Transient),
            (StoreError::Empty { path: "/d".into() }, Integrity),
            (StoreError::ReadOnly, Internal),
            (
                StoreError::Panicked {
                    context: "read",
                    message: "x".into(),
                },
                Integrity,
            ),
            (
                StoreError::Chain {
                    position: 3,
                    expected: "a".into(),
                    found: "b".into(),
                },
                Integrity,
            ),
            (
                StoreError::Unchained {
                    position: 3,
                    version: 3,
                },
                Integrity,
            ),
            (StoreError::Gap { position: 3 }, Integrity),
            (
                StoreError::Misplaced {
                    position: 3,
                    recorded: 4,
                },
                Integrity,
            ),
            (
                decode(DecodeError::Checksum {
                    stored: "a".into(),
                    computed: "b".into(),
                }),
                Integrity,
            ),
        ];
        let oversized = events::encode(&events::Envelope {
            position: 1,
            recorded_at: events::Ts::from_unix_nanos(0),
            actor: "x".repeat(events::MAX_EVENT_BYTES),
            correlation: None,
            payload: events::Event::SchedulerStarted,
        })
        .unwrap_err();
        assert_eq!(StoreError::Encode(oversized).kind(), Internal);
        for (e, kind) in cases {
            assert_eq!(e.kind(), kind, "{e}");
        }
    }
}
