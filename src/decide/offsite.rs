//! Off-site copies: the replication queue's outcomes. The queue decides what to upload and when
//! to retry; the rules here keep the record well-formed (a remote and a key named, attempts
//! counted from 1 unless the sweeper found the object there), and refuse to record a remote
//! deletion of a file that still exists locally: a remote copy goes only after the local one.

use crate::domain::Rejection;
use crate::events::Event;
use crate::projections::State;

/// How one replication step ended (`Command::RecordReplication`).
#[derive(Debug, Clone, PartialEq)]
pub enum Replication {
    /// The object is on the remote; `attempt` 0 = found there by the sweeper.
    Replicated { bytes: u64, attempt: u32 },
    Failed {
        reason: String,
        attempt: u32,
        will_retry: bool,
    },
    /// The remote copy is about to be deleted (the local file was).
    Deleted { reason: String },
}

pub(super) fn record(
    state: &State,
    remote: &str,
    key: &str,
    outcome: &Replication,
) -> Result<Vec<Event>, Rejection> {
    if remote.is_empty() {
        return Err(Rejection::invalid(
            "remote",
            "a replication names its remote",
        ));
    }
    if key.is_empty() {
        return Err(Rejection::invalid("key", "a replication names its key"));
    }
    let (remote, key) = (remote.to_string(), key.to_string());
    Ok(vec![match outcome {
        Replication::Replicated { bytes, attempt } => Event::ObjectReplicated {
            remote,
            key,
            bytes: *bytes,
            attempt: *attempt,
        },
        Replication::Failed {
            reason,
            attempt,
            will_retry,
        } => {
            if *attempt == 0 {
                return Err(Rejection::invalid("attempt", "attempts count from 1"));
            }
            Event::ReplicationFailed {
                remote,
                key,
                reason: reason.clone(),
                attempt: *attempt,
                will_retry: *will_retry,
            }
        }
        Replication::Deleted { reason } => {
            if state.offsite.objects.contains_key(&key) {
                return Err(Rejection::invalid(
                    "key",
                    format!("{key} still exists locally; its remote copy stays"),
                ));
            }
            Event::RemoteObjectDeleted {
                remote,
                key,
                reason: reason.clone(),
            }
        }
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{BackupKind, BackupRecord, Envelope, Ts};

    #[test]
    fn a_live_file_keeps_its_remote_copy() {
        let mut state = State::default();
        state.apply(&Envelope {
            position: 1,
            recorded_at: Ts::from_unix_nanos(0),
            actor: "t".into(),
            correlation: None,
            payload: Event::BackupRecorded {
                backup: BackupRecord {
                    id: "b".into(),
                    job_id: "j".into(),
                    run_id: "r".into(),
                    kind: BackupKind::Full,
                    parent: None,
                    location: "backups/j/b.bka".into(),
                    bytes: 1,
                    entries: 1,
                    checksum: 0,
                    compression: "zstd".into(),
                    created_at: Ts::from_unix_nanos(0),
                },
            },
        });
        let del = Replication::Deleted { reason: "x".into() };
        assert!(record(&state, "r", "backups/j/b.bka", &del).is_err());
        assert!(record(&state, "r", "backups/j/other.bka", &del).is_ok());
        let failed0 = Replication::Failed {
            reason: "x".into(),
            attempt: 0,
            will_retry: true,
        };
        assert!(record(&state, "r", "k", &failed0).is_err());
    }
}
