//! The notification deliveries (`notification_sent`, `notification_failed`): every attempt, for
//! `GET /api/backup/notifications`, and each channel's latest outcome, for the health check.

use crate::events::{Envelope, Event, Ts};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Attempts kept for the listing: a channel down for weeks retries every message, and the
/// listing need not hold all of that in memory and in every snapshot; the events themselves stay
/// in the log (`GET /events`).
pub const MAX_KEPT: usize = 10_000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Notifications {
    /// The newest `MAX_KEPT` attempts (up to a tenth more between trims), oldest first.
    pub attempts: Vec<Attempt>,
    /// By channel name: how its deliveries stand now.
    pub channels: BTreeMap<String, ChannelState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub position: u64,
    pub at: Ts,
    pub channel: String,
    pub kind: String,
    pub sent: bool,
    /// Sent: the subject.
    pub subject: Option<String>,
    pub run_id: Option<String>,
    /// Failed: why, and whether the queue tries again.
    pub reason: Option<String>,
    pub will_retry: bool,
    pub attempt: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelState {
    pub last_sent_at: Option<Ts>,
    /// Failed attempts since the last success (0 = the channel works, as far as known).
    pub failures: u64,
    pub last_failed_at: Option<Ts>,
    pub last_reason: Option<String>,
}

impl Notifications {
    pub fn apply(&mut self, env: &Envelope) {
        match &env.payload {
            Event::NotificationSent {
                channel,
                kind,
                subject,
                run_id,
                attempt,
            } => {
                self.attempts.push(Attempt {
                    position: env.position,
                    at: env.recorded_at,
                    channel: channel.clone(),
                    kind: kind.clone(),
                    sent: true,
                    subject: Some(subject.clone()),
                    run_id: run_id.clone(),
                    reason: None,
                    will_retry: false,
                    attempt: *attempt,
                });
                let c = self.channels.entry(channel.clone()).or_default();
                c.last_sent_at = Some(env.recorded_at);
                c.failures = 0;
            }
            Event::NotificationFailed {
                channel,
                kind,
                reason,
                attempt,
                will_retry,
            } => {
                self.attempts.push(Attempt {
                    position: env.position,
                    at: env.recorded_at,
                    channel: channel.clone(),
                    kind: kind.clone(),
                    sent: false,
                    subject: None,
                    run_id: None,
                    reason: Some(reason.clone()),
                    will_retry: *will_retry,
                    attempt: *attempt,
                });
                let c = self.channels.entry(channel.clone()).or_default();
                c.failures += 1;
                c.last_failed_at = Some(env.recorded_at);
                c.last_reason = Some(reason.clone());
            }
            _ => return,
        }
        // Trimmed a tenth at a time so the cost is not paid on every event.
        if self.attempts.len() > MAX_KEPT + MAX_KEPT / 10 {
            let excess = self.attempts.len() - MAX_KEPT;
            self.attempts.drain(..excess);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(position: u64, payload: Event) -> Envelope {
        Envelope {
            position,
            recorded_at: Ts::from_unix_nanos(position as i64 * 1_000_000_000),
            actor: "notify".into(),
            correlation: None,
            payload,
        }
    }

    fn failed(channel: &str) -> Event {
        Event::NotificationFailed {
            channel: channel.into(),
            kind: "run_failed".into(),
            reason: "refused".into(),
            attempt: 1,
            will_retry: true,
        }
    }

    #[test]
    fn attempts_are_listed_and_a_success_clears_the_failures() {
        let mut n = Notifications::default();
        n.apply(&env(1, failed("mail")));
        n.apply(&env(2, failed("mail")));
        n.apply(&env(3, failed("hook")));
        assert_eq!(n.channels["mail"].failures, 2);
        assert_eq!(n.channels["hook"].failures, 1);
        n.apply(&env(
            4,
            Event::NotificationSent {
                channel: "mail".into(),
                kind: "run_failed".into(),
                subject: "s".into(),
                run_id: Some("r".into()),
                attempt: 3,
            },
        ));
        assert_eq!(n.channels["mail"].failures, 0);
        assert_eq!(n.channels["mail"].last_reason.as_deref(), Some("refused"));
        assert_eq!(n.channels["hook"].failures, 1);
        assert_eq!(n.attempts.len(), 4);
        assert!(n.attempts[3].sent && n.attempts[3].attempt == 3);
        assert_eq!(n.attempts[3].run_id.as_deref(), Some("r"));
    }

    #[test]
    fn only_the_newest_attempts_are_kept_for_the_listing() {
        let mut n = Notifications::default();
        let total = MAX_KEPT as u64 + MAX_KEPT as u64 / 10 + 1;
        for p in 1..=total {
            n.apply(&env(p, failed("mail")));
        }
        assert_eq!(n.attempts.len(), MAX_KEPT);
        assert_eq!(n.attempts.last().unwrap().position, total);
        assert_eq!(n.attempts[0].position, total - MAX_KEPT as u64 + 1);
        assert_eq!(
            n.channels["mail"].failures, total,
            "the counts see every attempt"
        );
    }
}
