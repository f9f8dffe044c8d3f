//! What a notification is about: the names a channel's `events` filter and the recorded `kind`
//! use.

use serde::{Deserialize, Serialize};

/// The notices a channel may subscribe to (`[[notify]] events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A backup run failed.
    RunFailed,
    /// A job's run succeeded after its previous run failed.
    Recovered,
    /// A run succeeded with warnings (entries skipped or changed while read).
    RunWarnings,
    /// The health check's overall status changed (ok → warning → critical and back).
    HealthChanged,
    /// The daily report was written (e-mail carries the page inline).
    DailyReport,
    /// A job has not succeeded within `alert_after` (the dead-man's switch).
    Overdue,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::RunFailed,
        Kind::Recovered,
        Kind::RunWarnings,
        Kind::HealthChanged,
        Kind::DailyReport,
        Kind::Overdue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::RunFailed => "run_failed",
            Kind::Recovered => "recovered",
            Kind::RunWarnings => "run_warnings",
            Kind::HealthChanged => "health_changed",
            Kind::DailyReport => "daily_report",
            Kind::Overdue => "overdue",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// The recorded kind of a digest of held notices, and of a test message.
pub const DIGEST: &str = "digest";
pub const TEST: &str = "test";
