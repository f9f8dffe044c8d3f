//! The maintenance records: a health check's results (its status is the worst check) and a
//! generated report (each id once).

use crate::domain::Rejection;
use crate::events::{Event, HealthCheck};
use crate::projections::State;

pub(super) fn health(checks: &[HealthCheck]) -> Result<Vec<Event>, Rejection> {
    let status =
        checks.iter().map(|c| c.status).max().ok_or_else(|| {
            Rejection::invalid("checks", "a health check records at least one check")
        })?;
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
        return Err(Rejection::conflict(
            "report_id",
            format!("report id {report_id:?} is taken"),
        ));
    }
    Ok(vec![Event::ReportGenerated {
        report_id: report_id.to_string(),
        location: location.to_string(),
        bytes,
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
    fn a_report_id_is_recorded_once() {
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
    }
}
