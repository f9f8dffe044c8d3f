//! The preset jobs: the seed's six and the weekly sampled verify. Each is installed once (the first
//! start installs them all; a later start installs one a newer version added, never one an
//! operator deleted) and is an ordinary job afterwards.

use crate::events::{
    BackupConfig, BackupMode, BackupType, JobAction, JobSpec, Trigger, VerifySample,
};

fn cron(minute: &str, hour: Option<&str>, day_of_week: Option<&str>) -> Trigger {
    Trigger::Cron {
        minute: Some(minute.into()),
        hour: hour.map(Into::into),
        day: None,
        day_of_week: day_of_week.map(Into::into),
    }
}

fn job(id: &str, name: &str, trigger: Trigger, action: JobAction) -> JobSpec {
    JobSpec {
        id: id.into(),
        name: name.into(),
        trigger,
        action,
        misfire_grace_secs: Some(3600),
        timezone: None,
        jitter_secs: 0,
    }
}

fn backup(mode: BackupMode) -> JobAction {
    JobAction::Backup(BackupConfig::new(BackupType::Full, mode))
}

/// Times are on the scheduler's zone. The daily report runs at 06:00, after the night's full
/// backup (02:00), cleanup (03:00) and archive (04:00), so it reports on all of them.
pub fn presets() -> Vec<JobSpec> {
    vec![
        job(
            "daily_full_backup",
            "Daily full backup",
            cron("0", Some("2"), None),
            backup(BackupMode::Full),
        ),
        job(
            "incremental_backup",
            "Incremental backup every 4 hours",
            Trigger::Interval {
                seconds: 4 * 3600,
                start_at: None,
            },
            backup(BackupMode::Incremental),
        ),
        job(
            "cleanup_expired",
            "Cleanup of expired backups",
            cron("0", Some("3"), None),
            JobAction::Cleanup,
        ),
        job(
            "weekly_archive",
            "Weekly archive",
            cron("0", Some("4"), Some("0")),
            JobAction::Archive,
        ),
        job(
            "weekly_verify",
            "Weekly sampled verify",
            cron("0", Some("5"), Some("0")),
            JobAction::VerifySample(VerifySample { per_mille: 50 }),
        ),
        job(
            "health_check",
            "Hourly health check",
            cron("0", None, None),
            JobAction::HealthCheck,
        ),
        job(
            "daily_report",
            "Daily report",
            cron("0", Some("6"), None),
            JobAction::Report,
        ),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn presets_are_valid_and_distinct() {
        let p = super::presets();
        assert_eq!(p.len(), 7);
        for j in &p {
            crate::domain::job::validate(j).unwrap();
        }
        let mut ids: Vec<_> = p.iter().map(|j| &j.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 7);
    }
}
