//! Retention: what the next cleanup deletes and why everything else stays. Pure: a catalog and
//! `now` in, a plan out; the cleanup job, the preview route and `decide` all use this one function.
//!
//! Rules (the limits per kind are the `[retention]` keys of `schema/config.md`; the policy in
//! force is the last `retention_policy_set` of `schema/events.md`): a backup is deleted only when
//! it is expired AND no kept backup depends on it; the newest good full of every job is never
//! deleted; a plan that would delete every backup is refused as a whole. Reports expire under
//! their own rule and nothing depends on them.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::events::{BackupKind, RetentionPolicy, Ts};
use crate::projections::{Backup, Catalog};

pub const RULE_REPORT: &str = "retention.report";

/// The rule under which a backup of `kind` expires.
pub fn rule(kind: BackupKind) -> &'static str {
    match kind {
        BackupKind::Full => "retention.full",
        BackupKind::Incremental => "retention.incremental",
        BackupKind::Archive => "retention.archive",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub now: Ts,
    pub policy: RetentionPolicy,
    /// Backups to delete, dependants before their bases (the order cleanup deletes in).
    pub backups: Vec<Deletion>,
    pub reports: Vec<Deletion>,
    /// Every backup that stays, with the reason.
    pub kept: Vec<Kept>,
    /// Why nothing at all is deleted from the backups, when the plan was refused.
    pub refused: Option<String>,
    /// Bytes the deletions free.
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deletion {
    pub id: String,
    /// `full`, `incremental`, `archive` or `report`.
    pub kind: &'static str,
    pub rule: &'static str,
    pub created_at: Ts,
    pub expired_at: Ts,
    pub bytes: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kept {
    pub id: String,
    pub kind: &'static str,
    pub expires_at: Option<Ts>,
    pub reason: String,
}

impl Plan {
    /// Whether this plan deletes `id` under `rule`.
    pub fn allows(&self, id: &str, rule: &str) -> bool {
        self.backups
            .iter()
            .chain(&self.reports)
            .any(|d| d.id == id && d.rule == rule)
    }

    /// Why `id` is not deleted (for a refused deletion's message).
    pub fn why_kept(&self, id: &str) -> Option<&str> {
        self.kept
            .iter()
            .find(|k| k.id == id)
            .map(|k| k.reason.as_str())
    }
}

fn expired(b: &Backup, now: Ts) -> Option<Ts> {
    b.expires_at.filter(|e| *e <= now)
}

/// The newest full of each job that was not verified bad (an unverified one counts as good).
pub(crate) fn newest_good_fulls(catalog: &Catalog) -> BTreeMap<&str, &Backup> {
    let mut newest: BTreeMap<&str, &Backup> = BTreeMap::new();
    for b in catalog.backups.values() {
        if b.record.kind != BackupKind::Full || !b.is_good() {
            continue;
        }
        let key = (b.record.created_at, &b.record.id);
        newest
            .entry(b.record.job_id.as_str())
            .and_modify(|cur| {
                if key > (cur.record.created_at, &cur.record.id) {
                    *cur = b;
                }
            })
            .or_insert(b);
    }
    newest
}

pub fn plan(catalog: &Catalog, now: Ts) -> Plan {
    let mut reasons: BTreeMap<&str, String> = BTreeMap::new();
    for b in catalog.backups.values() {
        if expired(b, now).is_none() {
            let reason = match b.expires_at {
                Some(at) => format!("not expired: {} keeps it until {at}", rule(b.record.kind)),
                None => format!("{} keeps it forever", rule(b.record.kind)),
            };
            reasons.insert(&b.record.id, reason);
        }
    }
    for (job, b) in newest_good_fulls(catalog) {
        reasons
            .entry(&b.record.id)
            .or_insert_with(|| format!("the newest good full backup of job {job:?}"));
    }
    // Everything a kept backup's restore reads stays too: walk each kept chain to its base.
    let mut pending: Vec<&str> = reasons.keys().copied().collect();
    while let Some(id) = pending.pop() {
        let parent = catalog.backups[id].record.parent.as_deref();
        if let Some(parent) = parent.and_then(|p| catalog.backups.get_key_value(p)) {
            let parent = parent.0.as_str();
            if !reasons.contains_key(parent) {
                reasons.insert(parent, format!("expired, but {id:?} depends on it"));
                pending.push(parent);
            }
        }
    }

    let mut backups: Vec<Deletion> = catalog
        .backups
        .values()
        .filter(|b| !reasons.contains_key(b.record.id.as_str()))
        .filter_map(|b| {
            let expired_at = expired(b, now)?;
            Some(Deletion {
                id: b.record.id.clone(),
                kind: b.record.kind.as_str(),
                rule: rule(b.record.kind),
                created_at: b.record.created_at,
                expired_at,
                bytes: b.record.bytes,
                reason: format!(
                    "expired at {expired_at} under {}; no kept backup depends on it",
                    rule(b.record.kind)
                ),
            })
        })
        .collect();
    // A dependant is always younger than its base, so newest first deletes dependants first.
    backups.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));

    let mut refused = None;
    if !backups.is_empty() && backups.len() == catalog.backups.len() {
        let why = format!(
            "the policy would delete every backup ({}): refused, nothing deleted",
            backups.len()
        );
        for d in backups.drain(..) {
            reasons.insert(&catalog.backups[&d.id].record.id, why.clone());
        }
        refused = Some(why);
    }

    let reports: Vec<Deletion> = catalog
        .reports
        .values()
        .filter_map(|r| {
            let at = r.expires_at.filter(|e| *e <= now)?;
            Some(Deletion {
                id: r.id.clone(),
                kind: "report",
                rule: RULE_REPORT,
                created_at: r.created_at,
                expired_at: at,
                bytes: r.bytes,
                reason: format!("expired at {at} under {RULE_REPORT}"),
            })
        })
        .collect();

    let kept = catalog
        .backups
        .values()
        .filter_map(|b| {
            Some(Kept {
                reason: reasons.get(b.record.id.as_str())?.clone(),
                id: b.record.id.clone(),
                kind: b.record.kind.as_str(),
                expires_at: b.expires_at,
            })
        })
        .collect();
    let bytes = backups.iter().chain(&reports).map(|d| d.bytes).sum();
    Plan {
        now,
        policy: catalog.policy,
        backups,
        reports,
        kept,
        refused,
        bytes,
    }
}

/// The ids a backup's restore depends on (its parents, transitively), for the property test and
/// for callers that need the closure.
pub fn bases_of<'a>(catalog: &'a Catalog, id: &str) -> BTreeSet<&'a str> {
    catalog
        .chain(id)
        .into_iter()
        .skip(1)
        .map(|b| b.record.id.as_str())
        .collect()
}

#[cfg(test)]
mod tests;
