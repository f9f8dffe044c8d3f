//! An update of a job as the fields a client gave (`PUT scheduler/jobs/{id}`), applied inside
//! `decide` to the job as it is then — never to a spec the handler read earlier — so two clients
//! changing different fields both keep their change.

use super::Rejection;
use crate::events::{BackupConfig, Hooks, JobAction, JobSpec, Trigger};

/// The fields given; `None` = not given, keep the current value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobPatch {
    pub name: Option<String>,
    pub trigger: Option<TriggerPatch>,
    pub backup: Option<BackupPatch>,
    /// `Some(None)`: back to the scheduler's zone.
    pub timezone: Option<Option<String>>,
    /// `Some(None)`: always catch up.
    pub misfire_grace_secs: Option<Option<u64>>,
    pub jitter_secs: Option<u32>,
    /// `Some(None)`: back to the configured `scheduler.run_timeout`. Backup jobs only.
    pub timeout_secs: Option<Option<u64>>,
    /// Replaces all three hooks (`Hooks::default()`: none). Backup jobs only.
    pub hooks: Option<Hooks>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TriggerPatch {
    /// `trigger_type` and `trigger_config` both given.
    Set(Trigger),
    /// Only `trigger_config`, read as the type the job had when the request was read: refused
    /// if another client changed the type since, rather than read as the wrong type.
    Config(Trigger),
    /// Only `trigger_type`: the same type is no change; another needs its config.
    Type(String),
}

/// A new `backup_config` replaces the old one whole; the mode and the keep rules stay unless
/// given (`"keep": null` is given: back to the age rules).
#[derive(Debug, Clone, PartialEq)]
pub struct BackupPatch {
    pub config: BackupConfig,
    pub mode_given: bool,
    /// Retention is rarely what a client changing the sources means to change: a
    /// `backup_config` without `keep` leaves the job's rules be.
    pub keep_given: bool,
}

/// The seed's `trigger_type` of a trigger.
pub fn trigger_kind(trigger: &Trigger) -> &'static str {
    match trigger {
        Trigger::Cron { .. } | Trigger::CronV2 { .. } => "cron",
        Trigger::Interval { .. } => "interval",
    }
}

impl JobPatch {
    /// Every field of `spec` (its id and kind of action excepted): an update to exactly `spec`.
    pub fn whole(spec: &JobSpec) -> JobPatch {
        JobPatch {
            name: Some(spec.name.clone()),
            trigger: Some(TriggerPatch::Set(spec.trigger.clone())),
            backup: spec.action.backup_config().map(|cfg| BackupPatch {
                config: cfg.into_owned(),
                mode_given: true,
                keep_given: true,
            }),
            timezone: Some(spec.timezone.clone()),
            misfire_grace_secs: Some(spec.misfire_grace_secs),
            jitter_secs: Some(spec.jitter_secs),
            timeout_secs: spec.action.backup_config().map(|cfg| cfg.timeout_secs),
            hooks: spec.action.backup_config().map(|cfg| cfg.hooks.clone()),
        }
    }

    /// `current` with the given fields changed (not yet validated as a whole).
    pub fn apply(&self, current: &JobSpec) -> Result<JobSpec, Rejection> {
        let mut spec = current.clone();
        if let Some(name) = &self.name {
            spec.name = name.clone();
        }
        match &self.trigger {
            None => {}
            Some(TriggerPatch::Set(trigger)) => spec.trigger = trigger.clone(),
            Some(TriggerPatch::Config(trigger)) => {
                let (now, read_as) = (trigger_kind(&current.trigger), trigger_kind(trigger));
                if now != read_as {
                    return Err(Rejection::conflict(
                        "trigger_type",
                        format!(
                            "the job's trigger type changed to {now:?} meanwhile; send trigger_type with trigger_config"
                        ),
                    ));
                }
                spec.trigger = trigger.clone();
            }
            Some(TriggerPatch::Type(kind)) if kind == trigger_kind(&current.trigger) => {}
            Some(TriggerPatch::Type(kind)) => {
                return Err(if matches!(kind.as_str(), "cron" | "interval") {
                    Rejection::invalid(
                        "trigger_config",
                        format!("changing trigger_type to {kind:?} needs its trigger_config"),
                    )
                } else {
                    Rejection::invalid(
                        "trigger_type",
                        format!("{kind:?} is not a trigger type: use \"cron\" or \"interval\""),
                    )
                });
            }
        }
        if let Some(patch) = &self.backup {
            let Some(old) = current.action.backup_config() else {
                return Err(Rejection::invalid(
                    "backup_config",
                    format!(
                        "job {:?} is a maintenance job; it has no backup_config",
                        current.id
                    ),
                ));
            };
            let mut cfg = patch.config.clone();
            if !patch.mode_given {
                cfg.mode = old.mode;
            }
            if !patch.keep_given {
                cfg.keep = old.keep;
            }
            // Job-level fields kept in the backup config: a new backup_config leaves them be.
            cfg.timeout_secs = old.timeout_secs;
            cfg.hooks = old.hooks.clone();
            spec.action = JobAction::Backup(cfg);
        }
        if self.timeout_secs.is_some() || self.hooks.is_some() {
            let Some(mut cfg) = spec.action.backup_config().map(|c| c.into_owned()) else {
                let field = if self.timeout_secs.is_some() {
                    "timeout"
                } else {
                    "hooks"
                };
                return Err(Rejection::invalid(
                    field,
                    format!(
                        "job {:?} is a maintenance job; it has no {field}",
                        current.id
                    ),
                ));
            };
            if let Some(timeout) = self.timeout_secs {
                cfg.timeout_secs = timeout;
            }
            if let Some(hooks) = &self.hooks {
                cfg.hooks = hooks.clone();
            }
            spec.action = JobAction::Backup(cfg);
        }
        if let Some(zone) = &self.timezone {
            spec.timezone = zone.clone();
        }
        if let Some(grace) = self.misfire_grace_secs {
            spec.misfire_grace_secs = grace;
        }
        if let Some(jitter) = self.jitter_secs {
            spec.jitter_secs = jitter;
        }
        Ok(spec)
    }
}
