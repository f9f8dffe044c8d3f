//! The maintenance records: a health check's results (its status is the worst check), and
//! reports (each id once; deleted only once expired under the retention policy).

use super::{found, taken};
use crate::domain::{retention, Rejection};
use crate::events::{Event, HealthCheck, Ts};
use crate::projections::State;

pub(super) fn health(checks: &[HealthCheck]) -> Result<Vec<Event>, Rejection> {
    let Some(status) = checks.iter().map(|c| c.status).max() else {
        return Err(Rejection::invalid(
            "checks",
            "a health check records at least one check",
        ));
    };
    Ok(vec![Event::HealthChecked {
        status,
        checks: checks.to_vec(),
    }])
}

/// A delivery attempt names its channel and counts from 1; the rest is the notifier's to say.
pub(super) fn delivery(
    channel: &str,
    kind: &str,
    attempt: u32,
    outcome: &super::Delivery,
) -> Result<Vec<Event>, Rejection> {
    if channel.is_empty() {
        return Err(Rejection::invalid(
            "channel",
            "a delivery names its channel",
        ));
    }
    if attempt == 0 {
        return Err(Rejection::invalid("attempt", "attempts count from 1"));
    }
    let (channel, kind) = (channel.to_string(), kind.to_string());
    Ok(vec![match outcome {
        super::Delivery::Sent { subject, run_id } => Event::NotificationSent {
            channel,
            kind,
            subject: subject.clone(),
            run_id: run_id.clone(),
            attempt,
        },
        super::Delivery::Failed { reason, will_retry } => Event::NotificationFailed {
            channel,
            kind,
            reason: reason.clone(),
            attempt,
            will_retry: *will_retry,
        },
    }])
}

pub(super) fn report(
    state: &State,
    report_id: &str,
    location: &str,
    bytes: u64,
) -> Result<Vec<Event>, Rejection> {
    if state.catalog.reports.contains_key(report_id) {
        return Err(taken("report_id", "report", report_id));
    }
    Ok(vec![Event::ReportGenerated {
        report_id: report_id.to_string(),
        location: location.to_string(),
        bytes,
    }])
}

pub(super) fn delete_report(
    state: &State,
    report_id: &str,
    rule: &str,
    now: Ts,
) -> Result<Vec<Event>, Rejection> {
    let r = found(&state.catalog.reports, "report_id", "report", report_id)?;
    if !retention::plan_for(state, now).allows(report_id, rule) {
        return Err(Rejection::conflict(
            "report_id",
            format!("{rule} does not delete report {report_id:?} now"),
        ));
    }
    Ok(vec![Event::ReportDeleted {
        report_id: report_id.to_string(),
        rule: rule.to_string(),
        bytes: r.bytes,
    }])
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use crate::decide::{decide, Command};
    use crate::domain::job::RejectionCode;
    use crate::events::{Event, HealthCheck, HealthStatus};

    #[test]
    fn health_results_are_recorded_with_the_worst_status() {
        let ok = |name: &str, status| HealthCheck {
            name: name.into(),
            status,
            reason: "r".into(),
        };
        let checks = vec![
            ok("scheduler", HealthStatus::Ok),
            ok("disk_space", HealthStatus::Critical),
            ok("sources", HealthStatus::Warning),
        ];
        let empty = given(vec![]);
        assert_eq!(
            decide(
                &empty,
                &Command::RecordHealth {
                    checks: checks.clone()
                },
                t(0)
            )
            .unwrap(),
            vec![Event::HealthChecked {
                status: HealthStatus::Critical,
                checks
            }]
        );
        let none = Command::RecordHealth { checks: vec![] };
        assert_eq!(code(decide(&empty, &none, t(0))), RejectionCode::Validation);
    }

    #[test]
    fn a_delivery_attempt_is_recorded_as_sent_or_failed() {
        let empty = given(vec![]);
        let sent = Command::RecordDelivery {
            channel: "mail".into(),
            kind: "run_failed".into(),
            attempt: 2,
            outcome: crate::decide::Delivery::Sent {
                subject: "s".into(),
                run_id: Some("r1".into()),
            },
        };
        assert_eq!(
            decide(&empty, &sent, t(0)).unwrap(),
            vec![Event::NotificationSent {
                channel: "mail".into(),
                kind: "run_failed".into(),
                subject: "s".into(),
                run_id: Some("r1".into()),
                attempt: 2
            }]
        );
        let failed = Command::RecordDelivery {
            channel: "hook".into(),
            kind: "test".into(),
            attempt: 1,
            outcome: crate::decide::Delivery::Failed {
                reason: "refused".into(),
                will_retry: false,
            },
        };
        assert_eq!(
            decide(&empty, &failed, t(0)).unwrap(),
            vec![Event::NotificationFailed {
                channel: "hook".into(),
                kind: "test".into(),
                reason: "refused".into(),
                attempt: 1,
                will_retry: false
            }]
        );
        let Command::RecordDelivery { outcome, .. } = failed else {
            unreachable!()
        };
        let zeroth = Command::RecordDelivery {
            channel: "hook".into(),
            kind: "test".into(),
            attempt: 0,
            outcome: outcome.clone(),
        };
        assert_eq!(
            code(decide(&empty, &zeroth, t(0))),
            RejectionCode::Validation
        );
        let nameless = Command::RecordDelivery {
            channel: String::new(),
            kind: "test".into(),
            attempt: 1,
            outcome,
        };
        assert_eq!(
            code(decide(&empty, &nameless, t(0))),
            RejectionCode::Validation
        );
    }

    #[test]
    fn a_report_is_recorded_once_and_deleted_only_once_expired() {
        let empty = given(vec![]);
        let report = Command::RecordReport {
            report_id: "rep".into(),
            location: "reports/rep.json".into(),
            bytes: 5,
        };
        let events = decide(&empty, &report, t(0)).unwrap();
        assert_eq!(
            events,
            vec![Event::ReportGenerated {
                report_id: "rep".into(),
                location: "reports/rep.json".into(),
                bytes: 5
            }]
        );
        let with_report = given(events);
        assert_eq!(
            code(decide(&with_report, &report, t(1))),
            RejectionCode::Conflict
        );
        let del = Command::DeleteReport {
            report_id: "rep".into(),
            rule: "retention.report".into(),
        };
        // recorded at t(0); the seed keeps reports 90 days
        assert_eq!(
            code(decide(&with_report, &del, t(90 * 86_400 - 1))),
            RejectionCode::Conflict
        );
        assert_eq!(
            decide(&with_report, &del, t(90 * 86_400)).unwrap(),
            vec![Event::ReportDeleted {
                report_id: "rep".into(),
                rule: "retention.report".into(),
                bytes: 5
            }]
        );
    }
}
