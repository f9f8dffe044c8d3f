//! Retention: what the next cleanup deletes and why everything else stays. Pure: a catalog and
//! `now` in, a plan out; the cleanup job, the preview route and `decide` all use this one function.
//!
//! Rules (the limits per kind are the `[retention]` keys of `schema/config.md`; the policy in
//! force is the last `retention_policy_set` of `schema/events.md`): a backup is deleted only when
//! it is expired AND no kept backup depends on it; the newest good full of every job is never
//! deleted; a plan that would delete every backup is refused as a whole. Reports expire under
//! their own rule and nothing depends on them.
//!
//! A backup job with `keep` rules (`domain::keep`) replaces the ages for its own fulls and
//! incrementals: each is kept iff a keep rule keeps it, and the one that is not goes under
//! `retention.keep` (the safety rules above still apply on top). Archives, reports and the
//! backups of jobs without keep rules — or of a deleted job, whose rules are gone — keep the ages.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::domain::keep;
use crate::events::{BackupKind, KeepRules, RetentionPolicy, Ts};
use crate::projections::{Backup, Catalog, Schedule, State};

pub const RULE_REPORT: &str = "retention.report";
/// The rule a backup of a job with keep rules is deleted under when no keep rule keeps it.
pub const RULE_KEEP: &str = "retention.keep";

/// Each job's keep rules, for the jobs that have them.
pub type KeepByJob = BTreeMap<String, KeepRules>;

/// The keep rules of the jobs in `schedule` that have them.
pub fn keep_rules(schedule: &Schedule) -> KeepByJob {
    schedule
        .jobs
        .iter()
        .filter_map(|(id, job)| Some((id.clone(), job.spec.action.backup_config()?.keep?)))
        .collect()
}

/// The plan for `state` now: its catalog under its jobs' keep rules.
pub fn plan_for(state: &State, now: Ts) -> Plan {
    plan(&state.catalog, &keep_rules(&state.schedule), now)
}

/// Whether `b` is governed by its job's keep rules rather than by the ages.
fn by_keep<'a>(b: &Backup, keep: &'a KeepByJob) -> Option<&'a KeepRules> {
    match b.record.kind {
        BackupKind::Full | BackupKind::Incremental => keep.get(&b.record.job_id),
        BackupKind::Archive => None,
    }
}

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
    /// When the age rule lets it go; `None` for forever and for a backup under keep rules.
    pub expires_at: Option<Ts>,
    pub reason: String,
    /// The keep rules that keep it (`keep.daily 2026-11-29`, …); empty when an age or a safety
    /// rule keeps it.
    pub rules: Vec<String>,
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

pub fn plan(catalog: &Catalog, keep: &KeepByJob, now: Ts) -> Plan {
    let mut reasons: BTreeMap<&str, String> = BTreeMap::new();
    // Why the chain a kept backup heads is kept (its head's reason), for the reasons of its bases.
    let mut roots: BTreeMap<&str, String> = BTreeMap::new();
    let mut rules: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for b in catalog.backups.values() {
        if by_keep(b, keep).is_some() || expired(b, now).is_some() {
            continue;
        }
        let reason = match b.expires_at {
            Some(at) => format!("not expired: {} keeps it until {at}", rule(b.record.kind)),
            None => format!("{} keeps it forever", rule(b.record.kind)),
        };
        reasons.insert(&b.record.id, reason);
    }
    for (job, rules_of_job) in keep {
        let points: Vec<(&str, Ts)> = catalog
            .backups
            .values()
            .filter(|b| &b.record.job_id == job && by_keep(b, keep).is_some())
            .map(|b| (b.record.id.as_str(), b.record.created_at))
            .collect();
        for (id, why) in keep::kept(rules_of_job, &points) {
            let text = why.join(", ");
            reasons.insert(id, format!("kept by {text}"));
            rules.insert(id, why);
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
        if let Some((parent, base)) = parent.and_then(|p| catalog.backups.get_key_value(p)) {
            let parent = parent.as_str();
            if !reasons.contains_key(parent) {
                let root = roots
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| reasons[id].clone());
                let reason = if by_keep(base, keep).is_some() {
                    // Not "expired": keep rules have no ages; it stays for what it carries.
                    format!("base of {id:?} ({root})")
                } else {
                    format!("expired, but {id:?} depends on it")
                };
                reasons.insert(parent, reason);
                roots.insert(parent, root);
                pending.push(parent);
            }
        }
    }

    let mut backups: Vec<Deletion> = catalog
        .backups
        .values()
        .filter(|b| !reasons.contains_key(b.record.id.as_str()))
        .filter_map(|b| {
            if by_keep(b, keep).is_some() {
                return Some(Deletion {
                    id: b.record.id.clone(),
                    kind: b.record.kind.as_str(),
                    rule: RULE_KEEP,
                    created_at: b.record.created_at,
                    expired_at: now,
                    bytes: b.record.bytes,
                    reason: format!(
                        "no keep rule of job {:?} keeps it; no kept backup depends on it",
                        b.record.job_id
                    ),
                });
            }
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
                expires_at: b.expires_at.filter(|_| by_keep(b, keep).is_none()),
                rules: rules.get(b.record.id.as_str()).cloned().unwrap_or_default(),
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
