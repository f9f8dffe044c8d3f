//! The catalog projection: backups, their chain parents, expiry under the policy in force, bytes by kind.

use crate::events::{BackupKind, BackupRecord, Envelope, Event, RetentionPolicy, Ts};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            policy: DEFAULT_POLICY,
            backups: BTreeMap::new(),
            bytes_by_kind: BackupKind::ALL.iter().map(|k| (*k, 0)).collect(),
            deleted_count: 0,
            deleted_bytes: 0,
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
            }
            Event::BackupRecorded { backup } => {
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
            }
            Event::BackupDeleted { backup_id, .. } => {
                if let Some(b) = self.backups.remove(backup_id) {
                    let kind = self.bytes_by_kind.entry(b.record.kind).or_default();
                    *kind = kind.saturating_sub(b.record.bytes);
                    self.deleted_count += 1;
                    self.deleted_bytes += b.record.bytes;
                }
            }
            _ => {}
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
    }?;
    let secs = i64::try_from(secs).ok()?;
    record
        .created_at
        .get()
        .checked_add(Duration::seconds(secs))
        .map(Ts)
}
