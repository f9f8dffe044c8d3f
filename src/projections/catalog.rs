//! The catalog projection: backups, their chain parents, expiry under the policy in force, bytes by kind.

use crate::events::{BackupKind, BackupRecord, Envelope, Event, RetentionPolicy, Ts};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use time::Duration;

/// The seed's policy, in force until a `RetentionPolicySet` says otherwise.
pub const DEFAULT_POLICY: RetentionPolicy = RetentionPolicy {
    full_secs: Some(30 * 86_400),
    incremental_secs: Some(7 * 86_400),
    archive_secs: None,
    report_secs: Some(90 * 86_400),
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub policy: RetentionPolicy,
    /// Backups whose files exist (deleted ones leave the catalog; their events stay in the log).
    pub backups: BTreeMap<String, Backup>,
    /// Bytes of live backups by kind.
    pub bytes_by_kind: BTreeMap<BackupKind, u64>,
    pub deleted_count: u64,
    pub deleted_bytes: u64,
    /// Every backup ever deleted: a crash between the deletion event and the unlink leaves files
    /// that the next cleanup recognises and removes.
    pub deleted_ids: BTreeSet<String>,
    /// What each weekly archive is a copy of (kept after either side is deleted: it happened).
    pub archives: BTreeMap<String, ArchiveOrigin>,
    /// Reports whose files exist.
    pub reports: BTreeMap<String, Report>,
    pub report_bytes: u64,
    /// Storage at the end of each UTC day (Unix day number) on which it changed: the report's
    /// storage chart and the health check's growth rate read it.
    pub storage_by_day: BTreeMap<i64, StoragePoint>,
    /// When the catalog was rebuilt from the archives (`catalog_recovered`): what came before
    /// is not in this log.
    pub recovered: Option<Recovered>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovered {
    pub at: Ts,
    pub backups: u32,
    pub skipped: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveOrigin {
    pub source_id: String,
    /// The chain that supplied the bytes, newest first.
    pub merged: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub id: String,
    pub location: String,
    pub bytes: u64,
    pub created_at: Ts,
    /// `None` = kept forever under the current policy.
    pub expires_at: Option<Ts>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoragePoint {
    pub full: u64,
    pub incremental: u64,
    pub archive: u64,
    pub reports: u64,
}

impl StoragePoint {
    pub fn total(&self) -> u64 {
        self.full + self.incremental + self.archive + self.reports
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            policy: DEFAULT_POLICY,
            backups: BTreeMap::new(),
            bytes_by_kind: BackupKind::ALL.iter().map(|k| (*k, 0)).collect(),
            deleted_count: 0,
            deleted_bytes: 0,
            deleted_ids: BTreeSet::new(),
            archives: BTreeMap::new(),
            reports: BTreeMap::new(),
            report_bytes: 0,
            storage_by_day: BTreeMap::new(),
            recovered: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backup {
    pub record: BackupRecord,
    /// `None` = kept forever under the current policy.
    pub expires_at: Option<Ts>,
    pub last_verified: Option<Verification>,
}

impl Backup {
    /// Not known to be damaged: never verified, or its last verification passed. Only good
    /// backups are bases, archive sources, or "the newest good full".
    pub fn is_good(&self) -> bool {
        self.last_verified.as_ref().is_none_or(|v| v.ok)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub at: Ts,
    pub ok: bool,
    pub detail: Option<String>,
}

impl Catalog {
    pub fn apply(&mut self, env: &Envelope) {
        match &env.payload {
            Event::RetentionPolicySet { policy } => {
                self.policy = *policy;
                for b in self.backups.values_mut() {
                    b.expires_at = expiry(policy, &b.record);
                }
                for r in self.reports.values_mut() {
                    r.expires_at = after(r.created_at, policy.report_secs);
                }
                return;
            }
            // A repository snapshot is a backup in the catalog like an archive; what it
            // references is the repository projection's.
            Event::BackupRecorded { backup } | Event::SnapshotRecorded { backup, .. } => {
                if self.backups.contains_key(&backup.id) {
                    return;
                }
                *self.bytes_by_kind.entry(backup.kind).or_default() += backup.bytes;
                self.backups.insert(
                    backup.id.clone(),
                    Backup {
                        expires_at: expiry(&self.policy, backup),
                        record: backup.clone(),
                        last_verified: None,
                    },
                );
            }
            Event::BackupVerified {
                backup_id,
                ok,
                detail,
            } => {
                if let Some(b) = self.backups.get_mut(backup_id) {
                    b.last_verified = Some(Verification {
                        at: env.recorded_at,
                        ok: *ok,
                        detail: detail.clone(),
                    });
                }
                return;
            }
            Event::BackupDeleted { backup_id, .. } | Event::BackupForgotten { backup_id, .. } => {
                if let Some(b) = self.backups.remove(backup_id) {
                    let kind = self.bytes_by_kind.entry(b.record.kind).or_default();
                    *kind = kind.saturating_sub(b.record.bytes);
                    self.deleted_count += 1;
                    self.deleted_bytes += b.record.bytes;
                    self.deleted_ids.insert(backup_id.clone());
                }
            }
            Event::BackupArchived {
                backup_id,
                source_id,
                merged,
            } => {
                self.archives.insert(
                    backup_id.clone(),
                    ArchiveOrigin {
                        source_id: source_id.clone(),
                        merged: merged.clone(),
                    },
                );
                return;
            }
            Event::CatalogRecovered {
                backups, skipped, ..
            } => {
                self.recovered = Some(Recovered {
                    at: env.recorded_at,
                    backups: *backups,
                    skipped: skipped.clone(),
                });
                return;
            }
            Event::ReportGenerated {
                report_id,
                location,
                bytes,
            } => {
                if self.reports.contains_key(report_id) {
                    return;
                }
                self.report_bytes += bytes;
                self.reports.insert(
                    report_id.clone(),
                    Report {
                        id: report_id.clone(),
                        location: location.clone(),
                        bytes: *bytes,
                        created_at: env.recorded_at,
                        expires_at: after(env.recorded_at, self.policy.report_secs),
                    },
                );
            }
            Event::ReportDeleted { report_id, .. } => {
                if let Some(r) = self.reports.remove(report_id) {
                    self.report_bytes = self.report_bytes.saturating_sub(r.bytes);
                }
            }
            _ => return,
        }
        // Only events that change what is stored reach here.
        let point = self.storage_point();
        self.storage_by_day.insert(
            env.recorded_at.get().unix_timestamp().div_euclid(86_400),
            point,
        );
    }

    pub fn storage_point(&self) -> StoragePoint {
        let kind = |k| self.bytes_by_kind.get(&k).copied().unwrap_or(0);
        StoragePoint {
            full: kind(BackupKind::Full),
            incremental: kind(BackupKind::Incremental),
            archive: kind(BackupKind::Archive),
            reports: self.report_bytes,
        }
    }

    /// The backups a backup's restore needs, newest first, ending at its full base.
    pub fn chain(&self, backup_id: &str) -> Vec<&Backup> {
        let mut chain = Vec::new();
        let mut next = self.backups.get(backup_id);
        while let Some(b) = next {
            // A cycle can only come from a corrupt log; stop rather than loop.
            if chain.len() > self.backups.len() {
                break;
            }
            chain.push(b);
            next = b.record.parent.as_ref().and_then(|p| self.backups.get(p));
        }
        chain
    }

    pub fn total_bytes(&self) -> u64 {
        self.bytes_by_kind.values().sum()
    }
}

fn expiry(policy: &RetentionPolicy, record: &BackupRecord) -> Option<Ts> {
    let secs = match record.kind {
        BackupKind::Full => policy.full_secs,
        BackupKind::Incremental => policy.incremental_secs,
        BackupKind::Archive => policy.archive_secs,
    };
    after(record.created_at, secs)
}

/// `at` plus `secs`; `None` (forever) when there is no limit or it lies beyond the calendar.
fn after(at: Ts, secs: Option<u64>) -> Option<Ts> {
    let secs = i64::try_from(secs?).ok()?;
    at.get().checked_add(Duration::seconds(secs)).map(Ts)
}
