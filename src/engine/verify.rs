//! Verify by backup id: every checksum of the backup's archive, every frame and checksum of each
//! backup its restore needs (its chain of bases: an incremental is only as restorable as its
//! full), and every parent reference resolved (the parent is in the catalog, its archive opens,
//! and its index holds that path's bytes with the same size and CRC). A damaged base is named
//! (`DamagedBase`) and recorded against that base too (`verify_commands`).

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
    /// The backups this one builds on (newest first, ending at its full), every frame and
    /// entry checksum of each checked.
    pub bases_checked: Vec<String>,
}

impl std::fmt::Display for VerifySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ok: backup {}: {} entries, {} content bytes in {} frames checked, {} parent references resolved in {} parent backups, archive {} bytes{}",
            self.backup_id,
            self.entries,
            self.content_bytes,
            self.frames,
            self.parent_refs,
            self.parents.len(),
            self.archive_bytes,
            if self.bases_checked.is_empty() {
                String::new()
            } else {
                format!("; bases checked: {}", self.bases_checked.join(", "))
            }
        )
    }
}

pub fn verify(
    config: &Config,
    state: &State,
    backup_id: &str,
) -> Result<VerifySummary, EngineError> {
    let layout = Layout::of(config).local_frames_only();
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
    // Then every link of the chain, newest first, in full (the references only say each base
    // holds the right entries): the first damaged one is what the error names.
    let bases: Vec<String> = state
        .catalog
        .chain(backup_id)
        .iter()
        .skip(1)
        .map(|b| b.record.id.clone())
        .collect();
    for base in &bases {
        let damaged = |reason: String| EngineError::DamagedBase {
            id: backup_id.to_string(),
            base: base.clone(),
            reason,
        };
        let mut br = open_backup(&layout, state, base).map_err(|e| damaged(e.to_string()))?;
        br.verify().map_err(|e| damaged(e.to_string()))?;
    }
    Ok(VerifySummary {
        backup_id: backup_id.to_string(),
        entries: checked.entries,
        content_bytes: checked.content_bytes,
        frames: checked.frames,
        archive_bytes: checked.archive_bytes,
        parent_refs: checked.parent_refs,
        parents: by_parent.keys().map(|s| s.to_string()).collect(),
        bases_checked: bases,
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

/// Everything a verification establishes, as commands: the verified backup's result, and when
/// a base was found damaged, that base's own failed verification (it was read in full, so its
/// record says so, and the base rule and health see the damage where it is).
pub fn verify_commands(
    backup_id: &str,
    result: &Result<VerifySummary, EngineError>,
) -> Vec<Command> {
    let mut commands = vec![verify_command(backup_id, result)];
    if let Err(EngineError::DamagedBase { base, reason, .. }) = result {
        commands.push(Command::VerifyBackup {
            backup_id: base.clone(),
            ok: false,
            detail: Some(format!(
                "backup {base:?}: {reason} (found verifying {backup_id:?}, which builds on it)"
            )),
        });
    }
    commands
}
