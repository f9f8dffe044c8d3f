//! `notifications`: a channel whose latest delivery attempts failed. A warning, not critical:
//! the backups are fine, but the next failure may reach nobody.

use super::check;
use crate::events::{HealthCheck, HealthStatus};
use crate::projections::State;

/// `channels`: the configured `[[notify]]` names (a channel removed from the configuration is
/// not judged, whatever its past).
pub fn notifications(state: &State, channels: &[String]) -> HealthCheck {
    if channels.is_empty() {
        return check(
            "notifications",
            HealthStatus::Ok,
            "no notification channel configured",
        );
    }
    let failing: Vec<String> = channels
        .iter()
        .filter_map(|name| {
            let c = state.notifications.channels.get(name)?;
            (c.failures > 0).then(|| {
                format!(
                    "{name}: {} failed attempt(s) since its last delivery, the latest at {}: {}",
                    c.failures,
                    c.last_failed_at.map(|t| t.rfc3339()).unwrap_or_default(),
                    c.last_reason.as_deref().unwrap_or("")
                )
            })
        })
        .collect();
    if failing.is_empty() {
        check(
            "notifications",
            HealthStatus::Ok,
            format!(
                "{} channel(s) delivering (or not used yet): {}",
                channels.len(),
                channels.join(", ")
            ),
        )
    } else {
        check(
            "notifications",
            HealthStatus::Warning,
            format!("channel down: {}", failing.join("; ")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Envelope, Event, Ts};

    fn failed(position: u64, channel: &str) -> Envelope {
        Envelope {
            position,
            recorded_at: Ts::from_unix_nanos(position as i64 * 1_000_000_000),
            actor: "notify".into(),
            correlation: None,
            payload: Event::NotificationFailed {
                channel: channel.into(),
                kind: "run_failed".into(),
                reason: "connection refused".into(),
                attempt: 1,
                will_retry: true,
            },
        }
    }

    #[test]
    fn a_failing_channel_is_a_warning_until_it_delivers() {
        let names = vec!["mail".to_string(), "hook".to_string()];
        let mut s = State::default();
        assert_eq!(notifications(&s, &[]).status, HealthStatus::Ok);
        assert_eq!(notifications(&s, &names).status, HealthStatus::Ok);
        s.apply(&failed(1, "mail"));
        s.apply(&failed(2, "gone"));
        let c = notifications(&s, &names);
        assert_eq!(c.status, HealthStatus::Warning);
        assert!(
            c.reason.contains("mail: 1 failed attempt(s)"),
            "{}",
            c.reason
        );
        assert!(c.reason.contains("connection refused"), "{}", c.reason);
        assert!(!c.reason.contains("gone"), "{}", c.reason);
        s.apply(&Envelope {
            position: 3,
            recorded_at: Ts::from_unix_nanos(3_000_000_000),
            actor: "notify".into(),
            correlation: None,
            payload: Event::NotificationSent {
                channel: "mail".into(),
                kind: "run_failed".into(),
                subject: "s".into(),
                run_id: None,
                attempt: 2,
            },
        });
        assert_eq!(notifications(&s, &names).status, HealthStatus::Ok);
    }
}
