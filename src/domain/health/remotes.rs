//! `remotes`: per `[[remotes]]` entry, can it be reached (the health check's probe), did the
//! queue give up on an upload (wrong credentials, a missing bucket), and how long has the oldest
//! backup not wholly on it waited (its own `warn_after` / `critical_after`).

use super::check;
use crate::events::{HealthCheck, HealthStatus, Ts};
use crate::projections::State;

/// One configured remote as the health check found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFact {
    pub name: String,
    /// `Ok(what answered)` or `Err(why not)`: a HEAD of a probe key.
    pub probe: Result<String, String>,
    pub warn_after_secs: u64,
    pub critical_after_secs: u64,
}

pub fn remotes(state: &State, facts: &[RemoteFact], now: Ts) -> HealthCheck {
    if facts.is_empty() {
        return check("remotes", HealthStatus::Ok, "no remote configured");
    }
    let mut worst = HealthStatus::Ok;
    let mut parts = Vec::new();
    for f in facts {
        let p = state.offsite.figures(&f.name);
        let mut status = HealthStatus::Ok;
        let mut why = Vec::new();
        if let Err(e) = &f.probe {
            status = status.max(HealthStatus::Warning);
            why.push(format!("unreachable: {e}"));
        }
        if let Some(fail) = p.last_failure.as_ref().filter(|f| !f.will_retry) {
            status = status.max(HealthStatus::Warning);
            why.push(format!("gave up on {}: {}", fail.key, fail.reason));
        }
        if let Some(oldest) = p.oldest_backup {
            let age = oldest.millis_until(now) / 1000;
            let s = if age >= f.critical_after_secs {
                HealthStatus::Critical
            } else if age >= f.warn_after_secs {
                HealthStatus::Warning
            } else {
                HealthStatus::Ok
            };
            status = status.max(s);
            why.push(format!(
                "oldest backup not off-site waits {age}s; {} object(s), {} bytes pending",
                p.objects, p.bytes
            ));
        } else {
            why.push(format!(
                "all backups off-site; {} object(s) pending",
                p.objects
            ));
        }
        worst = worst.max(status);
        parts.push(format!("{}: {}", f.name, why.join("; ")));
    }
    check("remotes", worst, parts.join(" | "))
}
