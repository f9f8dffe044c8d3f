//! Verify by backup id: every checksum of the backup's archive, and every parent reference
//! resolved (the parent is in the catalog, its archive opens, and its index holds that path's
//! bytes with the same size and CRC).

use std::collections::BTreeMap;

use serde::Serialize;

use super::layout::Layout;
use super::restore::open_backup;
use super::EngineError;
use crate::archive::{self, Location};
use crate::config::Config;
use crate::decide::Command;
use crate::projections::State;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifySummary {
    pub backup_id: String,
    pub entries: u64,
    pub content_bytes: u64,
    pub frames: u64,
    pub archive_bytes: u64,
    /// References to bytes in parent backups, all resolved.
    pub parent_refs: u64,
    pub parents: Vec<String>,
}

impl std::fmt::Display for VerifySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ok: backup {}: {} entries, {} content bytes in {} frames checked, {} parent references resolved in {} parent backups, archive {} bytes",
            self.backup_id,
            self.entries,
            self.content_bytes,
            self.frames,
            self.parent_refs,
            self.parents.len(),
            self.archive_bytes
        )
    }
}

pub fn verify(
    config: &Config,
    state: &State,
    backup_id: &str,
) -> Result<VerifySummary, EngineError> {
    let layout = Layout::new(&config.data_dir);
    let mut reader = open_backup(&layout, state, backup_id)?;
    let checked: archive::VerifySummary =
        reader.verify().map_err(|source| EngineError::Archive {
            context: format!("backup {backup_id}"),
            source,
        })?;
    let mut by_parent: BTreeMap<&str, Vec<&archive::IndexEntry>> = BTreeMap::new();
    for e in &reader.index().entries {
        if let Location::Parent { backup } = &e.location {
            by_parent.entry(backup.as_str()).or_default().push(e);
        }
    }
    for (parent, refs) in &by_parent {
        let broken = |path: &str, reason: String| EngineError::BrokenChain {
            id: backup_id.to_string(),
            path: path.to_string(),
            parent: parent.to_string(),
            reason,
        };
        let pr = open_backup(&layout, state, parent)
            .map_err(|e| broken(&refs[0].path, format!("cannot be read: {e}")))?;
        let held: std::collections::HashMap<&str, &archive::IndexEntry> = pr
            .index()
            .entries
            .iter()
            .map(|e| (e.path.as_str(), e))
            .collect();
        for r in refs {
            match held.get(r.path.as_str()) {
                Some(p)
                    if matches!(p.location, Location::Here { .. })
                        && p.size == r.size
                        && p.crc32 == r.crc32 => {}
                Some(_) => {
                    return Err(broken(
                        &r.path,
                        "does not hold these bytes (size, checksum or location differ)".into(),
                    ))
                }
                None => return Err(broken(&r.path, "has no such entry".into())),
            }
        }
    }
    Ok(VerifySummary {
        backup_id: backup_id.to_string(),
        entries: checked.entries,
        content_bytes: checked.content_bytes,
        frames: checked.frames,
        archive_bytes: checked.archive_bytes,
        parent_refs: checked.parent_refs,
        parents: by_parent.keys().map(|s| s.to_string()).collect(),
    })
}

/// The command that records a verification's result (`backup_verified`): ok, or the first bad
/// entry and why.
pub fn verify_command(backup_id: &str, result: &Result<VerifySummary, EngineError>) -> Command {
    Command::VerifyBackup {
        backup_id: backup_id.to_string(),
        ok: result.is_ok(),
        detail: Some(match result {
            Ok(s) => s.to_string(),
            Err(e) => e.to_string(),
        }),
    }
}
