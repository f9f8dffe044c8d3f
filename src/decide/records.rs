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
