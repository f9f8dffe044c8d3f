//! Off-site copies (schema v6 `object_replicated`, `replication_failed`,
//! `remote_object_deleted`): which files of the data directory exist locally and must be on every
//! remote, which are on which remote, and which remote copies are to be deleted. The replication
//! queue (`remote::queue`) works from this; health, `/metrics` and the backup JSON read it.
//!
//! Objects are keyed by their path relative to the data directory: an archive's or a snapshot
//! index's `location`, a pack's `location`, a report's JSON `location` and the HTML page beside
//! it. What a backup needs off-site: its own file, and for a snapshot the packs it references.

use crate::events::{Envelope, Event, Ts};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalObject {
    /// Bytes as recorded (0 where the event does not say: a report's HTML page).
    pub bytes: u64,
    pub recorded_at: Ts,
}

/// A remote's record of outcomes (only remotes that had one).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RemoteRecord {
    /// Keys on the remote in full, with their bytes (deleted ones leave).
    pub replicated: BTreeMap<String, u64>,
    /// Keys whose remote deletion was recorded: the sweeper deletes any still there.
    pub deleted: BTreeSet<String>,
    pub last_success: Option<Ts>,
    /// The latest failed attempt (cleared by the next success): when, why, and whether the
    /// queue gave up.
    pub last_failure: Option<Failure>,
    /// Failed attempts recorded, ever.
    pub failures: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub at: Ts,
    pub key: String,
    pub reason: String,
    pub will_retry: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Offsite {
    /// Files that exist locally and belong off-site.
    pub objects: BTreeMap<String, LocalObject>,
    /// A live backup's keys (its file; a snapshot's packs too), and when it was recorded.
    pub backups: BTreeMap<String, (Ts, Vec<String>)>,
    reports: BTreeMap<String, Vec<String>>,
    /// Pack id → its key.
    packs: BTreeMap<String, String>,
    /// Keys deleted locally, with the reason (the event that did it): a remote that holds one
    /// (or records one late) must delete it. One entry per deleted file, like the catalog's
    /// `deleted_ids`.
    pub gone: BTreeMap<String, String>,
    pub remotes: BTreeMap<String, RemoteRecord>,
}

/// One remote's figures for health, metrics and the report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pending {
    pub objects: u64,
    pub bytes: u64,
    /// When the oldest live backup that is not wholly on this remote was recorded.
    pub oldest_backup: Option<Ts>,
    pub last_success: Option<Ts>,
    pub last_failure: Option<Failure>,
}

/// The HTML page a report's JSON `location` has beside it.
pub fn report_page(location: &str) -> String {
    match location.strip_suffix(".json") {
        Some(stem) => format!("{stem}.html"),
        None => format!("{location}.html"),
    }
}

impl Offsite {
    pub fn apply(&mut self, env: &Envelope) {
        let at = env.recorded_at;
        match &env.payload {
            Event::BackupRecorded { backup } => {
                self.add(&backup.location, backup.bytes, at);
                self.backups
                    .insert(backup.id.clone(), (at, vec![backup.location.clone()]));
            }
            Event::PackWritten { pack } => {
                self.add(&pack.location, pack.bytes, at);
                self.packs.insert(pack.id.clone(), pack.location.clone());
            }
            Event::SnapshotRecorded { backup, snapshot } => {
                self.add(&backup.location, backup.bytes, at);
                let mut keys = vec![backup.location.clone()];
                keys.extend(
                    snapshot
                        .packs
                        .iter()
                        .filter_map(|p| self.packs.get(&p.pack).cloned()),
                );
                self.backups.insert(backup.id.clone(), (at, keys));
            }
            Event::PacksRepacked { from, into, .. } => {
                // References move from `from` to `into`: a snapshot needs the new packs now.
                let into: Vec<String> = into
                    .iter()
                    .filter_map(|p| self.packs.get(p).cloned())
                    .collect();
                let from: BTreeSet<String> = from
                    .iter()
                    .filter_map(|p| self.packs.get(p).cloned())
                    .collect();
                for (_, keys) in self.backups.values_mut() {
                    if keys.iter().any(|k| from.contains(k)) {
                        keys.retain(|k| !from.contains(k));
                        for k in &into {
                            if !keys.contains(k) {
                                keys.push(k.clone());
                            }
                        }
                    }
                }
            }
            Event::ReportGenerated {
                report_id,
                location,
                bytes,
            } => {
                let page = report_page(location);
                self.add(location, *bytes, at);
                self.add(&page, 0, at);
                self.reports
                    .insert(report_id.clone(), vec![location.clone(), page]);
            }
            Event::BackupDeleted {
                backup_id, rule, ..
            } => self.drop_backup(backup_id, format!("backup_deleted: {rule}")),
            Event::BackupForgotten { backup_id, .. } => {
                self.drop_backup(backup_id, "backup_forgotten".into())
            }
            Event::ReportDeleted {
                report_id, rule, ..
            } => {
                for key in self.reports.remove(report_id).unwrap_or_default() {
                    self.remove(&key, format!("report_deleted: {rule}"));
                }
            }
            Event::PacksDeleted { packs, reason, .. } => {
                for p in packs {
                    if let Some(key) = self.packs.remove(p) {
                        self.remove(&key, format!("packs_deleted: {reason}"));
                    }
                }
            }
            Event::ObjectReplicated {
                remote, key, bytes, ..
            } => {
                let r = self.remotes.entry(remote.clone()).or_default();
                r.replicated.insert(key.clone(), *bytes);
                r.deleted.remove(key);
                r.last_success = Some(at);
                r.last_failure = None;
            }
            Event::ReplicationFailed {
                remote,
                key,
                reason,
                will_retry,
                ..
            } => {
                let r = self.remotes.entry(remote.clone()).or_default();
                r.failures += 1;
                r.last_failure = Some(Failure {
                    at,
                    key: key.clone(),
                    reason: reason.clone(),
                    will_retry: *will_retry,
                });
            }
            Event::RemoteObjectDeleted { remote, key, .. } => {
                let r = self.remotes.entry(remote.clone()).or_default();
                r.replicated.remove(key);
                r.deleted.insert(key.clone());
                // `gone` keeps the key: another remote's upload may still be recorded late.
            }
            _ => {}
        }
    }

    fn add(&mut self, key: &str, bytes: u64, recorded_at: Ts) {
        self.gone.remove(key);
        self.objects
            .insert(key.to_string(), LocalObject { bytes, recorded_at });
    }

    /// Kept in `gone` even when no remote has it yet: an upload in flight when the local file
    /// was deleted is recorded after, and its copy must then be deleted too.
    fn remove(&mut self, key: &str, reason: String) {
        if self.objects.remove(key).is_some() {
            self.gone.insert(key.to_string(), reason);
        }
    }

    fn drop_backup(&mut self, backup_id: &str, reason: String) {
        if let Some((_, keys)) = self.backups.remove(backup_id) {
            // A snapshot's packs are shared: only prune (`packs_deleted`) removes them.
            let own = keys.first().cloned();
            if let Some(k) = own {
                self.remove(&k, reason);
            }
        }
    }

    /// Live objects not (yet) on `remote`, oldest first.
    pub fn pending(&self, remote: &str) -> Vec<(&String, &LocalObject)> {
        let on = self.remotes.get(remote).map(|r| &r.replicated);
        let mut v: Vec<_> = self
            .objects
            .iter()
            .filter(|(k, _)| on.is_none_or(|m| !m.contains_key(*k)))
            .collect();
        v.sort_by_key(|(k, o)| (o.recorded_at, (*k).clone()));
        v
    }

    /// Remote copies of locally deleted files still on `remote`, with the reason.
    pub fn to_delete(&self, remote: &str) -> Vec<(String, String)> {
        let Some(r) = self.remotes.get(remote) else {
            return Vec::new();
        };
        self.gone
            .iter()
            .filter(|(k, _)| r.replicated.contains_key(*k))
            .map(|(k, why)| (k.clone(), why.clone()))
            .collect()
    }

    /// Is every object backup `id` needs on `remote`?
    pub fn backup_on(&self, id: &str, remote: &str) -> bool {
        match (self.backups.get(id), self.remotes.get(remote)) {
            (Some((_, keys)), Some(r)) => keys.iter().all(|k| r.replicated.contains_key(k)),
            _ => false,
        }
    }

    /// The remotes (that had any outcome) holding all of backup `id`.
    pub fn on_remotes(&self, id: &str) -> Vec<String> {
        self.remotes
            .keys()
            .filter(|r| self.backup_on(id, r))
            .cloned()
            .collect()
    }

    pub fn figures(&self, remote: &str) -> Pending {
        let pending = self.pending(remote);
        let r = self.remotes.get(remote);
        Pending {
            objects: pending.len() as u64,
            bytes: pending.iter().map(|(_, o)| o.bytes).sum(),
            oldest_backup: self
                .backups
                .iter()
                .filter(|(id, _)| !self.backup_on(id, remote))
                .map(|(_, (at, _))| *at)
                .min(),
            last_success: r.and_then(|r| r.last_success),
            last_failure: r.and_then(|r| r.last_failure.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{BackupKind, BackupRecord};

    fn env(position: u64, payload: Event) -> Envelope {
        Envelope {
            position,
            recorded_at: Ts::from_unix_nanos(position as i64 * 1_000_000_000),
            actor: "t".into(),
            correlation: None,
            payload,
        }
    }

    fn backup(id: &str) -> Event {
        Event::BackupRecorded {
            backup: BackupRecord {
                id: id.into(),
                job_id: "j".into(),
                run_id: format!("{id}-run"),
                kind: BackupKind::Full,
                parent: None,
                location: format!("backups/j/{id}.bka"),
                bytes: 10,
                entries: 1,
                checksum: 0,
                compression: "zstd".into(),
                created_at: Ts::from_unix_nanos(0),
            },
        }
    }

    fn replicated(remote: &str, key: &str) -> Event {
        Event::ObjectReplicated {
            remote: remote.into(),
            key: key.into(),
            bytes: 10,
            attempt: 1,
        }
    }

    /// A backup is pending on a remote until its file is replicated there; deleting it locally
    /// makes its remote copy one to delete, and the recorded deletion ends that.
    #[test]
    fn pending_then_offsite_then_deleted() {
        let mut o = Offsite::default();
        o.apply(&env(1, backup("b1")));
        assert_eq!(o.figures("r").objects, 1);
        assert_eq!(
            o.figures("r").oldest_backup,
            Some(Ts::from_unix_nanos(1_000_000_000))
        );
        assert!(!o.backup_on("b1", "r"));
        o.apply(&env(2, replicated("r", "backups/j/b1.bka")));
        assert!(o.backup_on("b1", "r"));
        assert_eq!(o.figures("r").objects, 0);
        assert_eq!(o.figures("r").oldest_backup, None);
        assert_eq!(
            o.figures("other").objects,
            1,
            "another remote still needs it"
        );
        o.apply(&env(
            3,
            Event::BackupDeleted {
                backup_id: "b1".into(),
                rule: "keep_daily".into(),
                bytes: 10,
            },
        ));
        assert_eq!(
            o.to_delete("r"),
            vec![(
                "backups/j/b1.bka".to_string(),
                "backup_deleted: keep_daily".to_string()
            )]
        );
        assert!(
            o.pending("other").is_empty(),
            "a deleted file is not uploaded"
        );
        o.apply(&env(
            4,
            Event::RemoteObjectDeleted {
                remote: "r".into(),
                key: "backups/j/b1.bka".into(),
                reason: "backup_deleted: keep_daily".into(),
            },
        ));
        assert!(o.to_delete("r").is_empty());
        assert!(o.remotes["r"].deleted.contains("backups/j/b1.bka"));
    }

    /// An upload that completes after its local file was deleted is recorded, then its remote
    /// copy is one to delete.
    #[test]
    fn an_upload_recorded_after_the_local_deletion_is_deleted_too() {
        let mut o = Offsite::default();
        o.apply(&env(1, backup("b1")));
        o.apply(&env(
            2,
            Event::BackupForgotten {
                backup_id: "b1".into(),
                reason: None,
                bytes: 10,
            },
        ));
        assert!(o.to_delete("r").is_empty());
        o.apply(&env(3, replicated("r", "backups/j/b1.bka")));
        assert_eq!(o.to_delete("r").len(), 1);
        assert!(o.pending("r").is_empty());
    }

    fn pack(id: &str) -> Event {
        Event::PackWritten {
            pack: crate::events::PackRecord {
                id: id.into(),
                run_id: "r".into(),
                location: format!("repository/packs/{id}.pack"),
                bytes: 100,
                chunks: vec![],
            },
        }
    }

    /// A snapshot is off-site when its index and every pack it references are; a repack moves
    /// what it needs to the new packs; prune's deletion makes the pack's remote copy one to
    /// delete, and forgetting a snapshot leaves its (shared) packs alone.
    #[test]
    fn a_snapshot_needs_its_packs() {
        use crate::events::{PackRefs, SnapshotRefs};
        let mut o = Offsite::default();
        o.apply(&env(1, pack("p1")));
        o.apply(&env(2, pack("p2")));
        let Event::BackupRecorded { mut backup } = backup("s1") else {
            unreachable!()
        };
        backup.location = "repository/snapshots/s1.snap".into();
        let refs = |p: &[&str]| SnapshotRefs {
            packs: p
                .iter()
                .map(|p| PackRefs {
                    pack: p.to_string(),
                    frames: vec![1],
                })
                .collect(),
            logical_bytes: 0,
            new_bytes: 0,
            new_chunks: 0,
            chunks: 0,
        };
        o.apply(&env(
            3,
            Event::SnapshotRecorded {
                backup,
                snapshot: refs(&["p1"]),
            },
        ));
        o.apply(&env(4, replicated("r", "repository/snapshots/s1.snap")));
        assert!(!o.backup_on("s1", "r"), "its pack is not there yet");
        o.apply(&env(5, replicated("r", "repository/packs/p1.pack")));
        assert!(o.backup_on("s1", "r"));
        o.apply(&env(
            6,
            Event::PacksRepacked {
                from: vec!["p1".into()],
                into: vec!["p2".into()],
                bytes_freed: 1,
            },
        ));
        assert!(!o.backup_on("s1", "r"), "now it needs p2");
        o.apply(&env(7, replicated("r", "repository/packs/p2.pack")));
        assert!(o.backup_on("s1", "r"));
        o.apply(&env(
            8,
            Event::PacksDeleted {
                packs: vec!["p1".into()],
                reason: "repacked".into(),
                bytes: 100,
            },
        ));
        assert_eq!(
            o.to_delete("r"),
            vec![(
                "repository/packs/p1.pack".to_string(),
                "packs_deleted: repacked".to_string()
            )]
        );
        o.apply(&env(
            9,
            Event::BackupForgotten {
                backup_id: "s1".into(),
                reason: None,
                bytes: 1,
            },
        ));
        let gone: Vec<String> = o.to_delete("r").into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            gone,
            ["repository/packs/p1.pack", "repository/snapshots/s1.snap"],
            "p2 stays: only prune removes packs"
        );
    }

    #[test]
    fn a_report_brings_its_page() {
        assert_eq!(
            report_page("reports/2026-05-31.json"),
            "reports/2026-05-31.html"
        );
        let mut o = Offsite::default();
        o.apply(&env(
            1,
            Event::ReportGenerated {
                report_id: "2026-05-31".into(),
                location: "reports/2026-05-31.json".into(),
                bytes: 5,
            },
        ));
        assert_eq!(o.pending("r").len(), 2);
    }
}
