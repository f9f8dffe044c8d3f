//! Which events are worth a notice: a pure fold over the log as it grows. It remembers only what
//! a notice needs from the past (each job's last outcome, for "recovered"; the last health
//! status, for "changed"), and starts from the projections, so a restart neither repeats old
//! notices nor forgets that a job was failing.

use super::Kind;
use crate::events::{Envelope, Event, HealthStatus, Ts};
use crate::projections::{RunKind, RunStatus, State};
use std::collections::BTreeMap;

/// Something worth telling; rendered per channel into a message (`message.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub kind: Kind,
    pub at: Ts,
    pub job_id: Option<String>,
    pub run_id: Option<String>,
    /// The first line: what, and which job.
    pub subject: String,
    /// The body: what, which job, when, the error; the link is added per channel.
    pub lines: Vec<String>,
    /// A daily report: its id and the page's file (e-mail carries it inline).
    pub report: Option<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Watch {
    last: BTreeMap<String, Last>,
    health: Option<HealthStatus>,
}

impl Watch {
    /// What the log up to `state` says: each job's newest finished backup run, the last health.
    pub fn from_state(state: &State) -> Watch {
        let mut newest: BTreeMap<&str, (Ts, Last)> = BTreeMap::new();
        for run in state.schedule.runs.values() {
            let (Some(at), RunKind::Backup) = (run.finished_at, run.kind) else {
                continue;
            };
            let last = match run.status {
                RunStatus::Succeeded => Last::Succeeded,
                RunStatus::Failed => Last::Failed,
                _ => continue,
            };
            let entry = newest.entry(run.job_id.as_str()).or_insert((at, last));
            if at >= entry.0 {
                *entry = (at, last);
            }
        }
        Watch {
            last: newest
                .into_iter()
                .map(|(job, (_, last))| (job.to_string(), last))
                .collect(),
            health: state.health.as_ref().map(|h| h.status),
        }
    }

    /// The notices one event gives; `state` is the projections with the event folded in (for
    /// the run's job and the job's name).
    pub fn observe(&mut self, env: &Envelope, state: &State) -> Vec<Notice> {
        let at = env.recorded_at;
        match &env.payload {
            Event::RunFailed { run_id, error, .. } | Event::RunFailedV2 { run_id, error, .. } => {
                self.failed(state, run_id, "failed", error, at)
            }
            // A crash or a stop in the middle, and a run its timeout stopped (a hung dump), are
            // failures to whoever waits for the backup; an operator's cancel is not news to them.
            Event::RunInterrupted { run_id, reason } => {
                self.failed(state, run_id, "was interrupted", reason, at)
            }
            Event::RunCancelled {
                run_id,
                reason,
                by: None,
                ..
            } => self.failed(state, run_id, "timed out", reason, at),
            Event::RunSucceeded { run_id, .. }
            | Event::RunSucceededV2 { run_id, .. }
            | Event::RunSucceededV3 { run_id, .. } => {
                let Some(job) = backup_job(state, run_id) else {
                    return vec![];
                };
                let before = self.last.insert(job.clone(), Last::Succeeded);
                let name = job_name(state, &job);
                let mut out = vec![];
                if before == Some(Last::Failed) {
                    out.push(Notice {
                        kind: Kind::Recovered,
                        at,
                        subject: format!("backupd: {name} recovered"),
                        lines: vec![
                            format!(
                                "The backup run {run_id} of job {name} ({job}) succeeded after a failure."
                            ),
                            format!("When: {}", at.rfc3339()),
                        ],
                        job_id: Some(job.clone()),
                        run_id: Some(run_id.clone()),
                        report: None,
                    });
                }
                if let Event::RunSucceededV2 {
                    warnings_total,
                    warnings,
                    ..
                }
                | Event::RunSucceededV3 {
                    warnings_total,
                    warnings,
                    ..
                } = &env.payload
                {
                    if *warnings_total > 0 {
                        let mut lines = vec![
                            format!(
                                "The backup run {run_id} of job {name} ({job}) succeeded with {warnings_total} warning(s)."
                            ),
                            format!("When: {}", at.rfc3339()),
                        ];
                        lines.extend(warnings.iter().take(10).map(|w| format!("- {w:?}")));
                        out.push(Notice {
                            kind: Kind::RunWarnings,
                            at,
                            subject: format!(
                                "backupd: {name} succeeded with {warnings_total} warning(s)"
                            ),
                            lines,
                            job_id: Some(job),
                            run_id: Some(run_id.clone()),
                            report: None,
                        });
                    }
                }
                out
            }
            Event::HealthChecked { status, checks } => {
                let before = self.health.replace(*status);
                match before {
                    Some(b) if b != *status => {
                        let mut lines = vec![
                            format!(
                                "The health of backupd changed from {} to {}.",
                                health_name(b),
                                health_name(*status)
                            ),
                            format!("When: {}", at.rfc3339()),
                        ];
                        lines.extend(checks.iter().filter(|c| c.status != HealthStatus::Ok).map(
                            |c| format!("- {} {}: {}", c.name, health_name(c.status), c.reason),
                        ));
                        vec![Notice {
                            kind: Kind::HealthChanged,
                            at,
                            subject: format!("backupd: health is {}", health_name(*status)),
                            lines,
                            job_id: None,
                            run_id: env.correlation.clone(),
                            report: None,
                        }]
                    }
                    _ => vec![],
                }
            }
            Event::ReportGenerated {
                report_id,
                location,
                ..
            } => vec![Notice {
                kind: Kind::DailyReport,
                at,
                subject: format!("backupd: daily report {report_id}"),
                lines: vec![
                    format!("The daily report {report_id} was written."),
                    format!("When: {}", at.rfc3339()),
                ],
                job_id: None,
                run_id: env.correlation.clone(),
                report: Some((report_id.clone(), location.clone())),
            }],
            _ => vec![],
        }
    }
}

impl Watch {
    fn failed(
        &mut self,
        state: &State,
        run_id: &str,
        what: &str,
        error: &str,
        at: Ts,
    ) -> Vec<Notice> {
        let Some(job) = backup_job(state, run_id) else {
            return vec![];
        };
        self.last.insert(job.clone(), Last::Failed);
        let name = job_name(state, &job);
        vec![Notice {
            kind: Kind::RunFailed,
            at,
            subject: format!("backupd: {name} {what}"),
            lines: vec![
                format!("The backup run {run_id} of job {name} ({job}) {what}."),
                format!("When: {}", at.rfc3339()),
                format!("Error: {error}"),
            ],
            job_id: Some(job),
            run_id: Some(run_id.to_string()),
            report: None,
        }]
    }
}

/// The job of a backup run (restore runs have none and are not notified here).
fn backup_job(state: &State, run_id: &str) -> Option<String> {
    state
        .schedule
        .runs
        .get(run_id)
        .filter(|r| r.kind == RunKind::Backup && !r.job_id.is_empty())
        .map(|r| r.job_id.clone())
}

fn job_name(state: &State, job_id: &str) -> String {
    state
        .schedule
        .jobs
        .get(job_id)
        .map(|j| j.spec.name.clone())
        .unwrap_or_else(|| job_id.to_string())
}

pub fn health_name(s: HealthStatus) -> &'static str {
    match s {
        HealthStatus::Ok => "ok",
        HealthStatus::Warning => "warning",
        HealthStatus::Critical => "critical",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{HealthCheck, JobAction, JobSpec, RunReason, Trigger};

    fn t(secs: i64) -> Ts {
        Ts::from_unix_nanos(1_790_000_000_000_000_000 + secs * 1_000_000_000)
    }

    /// Folds `events` into a state and a watch started empty, returning every notice.
    struct Given {
        state: State,
        watch: Watch,
        position: u64,
    }

    impl Given {
        fn new() -> Given {
            let mut g = Given {
                state: State::default(),
                watch: Watch::default(),
                position: 0,
            };
            for job in ["nightly", "hourly"] {
                g.when(Event::JobCreated {
                    job: JobSpec {
                        id: job.into(),
                        name: format!("{job} files"),
                        trigger: Trigger::Interval {
                            seconds: 60,
                            start_at: None,
                        },
                        action: JobAction::HealthCheck,
                        misfire_grace_secs: None,
                        timezone: None,
                        jitter_secs: 0,
                    },
                });
            }
            g
        }

        fn when(&mut self, payload: Event) -> Vec<Notice> {
            self.position += 1;
            let env = Envelope {
                position: self.position,
                recorded_at: t(self.position as i64),
                actor: "test".into(),
                correlation: None,
                payload,
            };
            self.state.apply(&env);
            self.watch.observe(&env, &self.state)
        }

        fn run(&mut self, run: &str, job: &str, fail: Option<&str>) -> Vec<Notice> {
            self.when(Event::RunStarted {
                run_id: run.into(),
                job_id: job.into(),
                slot: None,
                reason: RunReason::Manual,
            });
            self.when(match fail {
                Some(e) => Event::RunFailedV2 {
                    run_id: run.into(),
                    error: e.into(),
                    kind: crate::events::FailureKind::Transient,
                    duration_ms: 5,
                },
                None => Event::RunSucceeded {
                    run_id: run.into(),
                    backup_id: None,
                    bytes: 1,
                    files: 1,
                    duration_ms: 5,
                    note: None,
                },
            })
        }
    }

    fn kinds(notices: &[Notice]) -> Vec<Kind> {
        notices.iter().map(|n| n.kind).collect()
    }

    #[test]
    fn a_failure_then_a_success_is_failed_then_recovered_per_job() {
        let mut g = Given::new();
        // given a first success: nothing to say
        assert!(g.run("r1", "nightly", None).is_empty());
        // when it fails: the notice says what, which job, when, the error
        let failed = g.run("r2", "nightly", Some("disk full"));
        assert_eq!(kinds(&failed), vec![Kind::RunFailed]);
        assert_eq!(failed[0].subject, "backupd: nightly files failed");
        assert_eq!(failed[0].run_id.as_deref(), Some("r2"));
        assert!(failed[0].lines.iter().any(|l| l == "Error: disk full"));
        assert!(failed[0].lines.iter().any(|l| l.starts_with("When: ")));
        // a run its timeout stopped is a failure too; an operator's cancel is not
        g.when(Event::RunStarted {
            run_id: "t".into(),
            job_id: "hourly".into(),
            slot: None,
            reason: RunReason::Manual,
        });
        let timed_out = g.when(Event::RunCancelled {
            run_id: "t".into(),
            reason: "run_timeout of 3600 s reached".into(),
            by: None,
            duration_ms: 1,
        });
        assert_eq!(timed_out[0].subject, "backupd: hourly files timed out");
        g.when(Event::RunStarted {
            run_id: "c".into(),
            job_id: "hourly".into(),
            slot: None,
            reason: RunReason::Manual,
        });
        let cancelled = g.when(Event::RunCancelled {
            run_id: "c".into(),
            reason: "asked".into(),
            by: Some("api:ops".into()),
            duration_ms: 1,
        });
        assert!(cancelled.is_empty());
        // hourly recovers from its timeout; that is no recovery of nightly
        assert_eq!(kinds(&g.run("r3", "hourly", None)), vec![Kind::Recovered]);
        assert!(g.run("r3b", "hourly", None).is_empty());
        // then its next success is a recovery, once
        let back = g.run("r4", "nightly", None);
        assert_eq!(kinds(&back), vec![Kind::Recovered]);
        assert_eq!(back[0].subject, "backupd: nightly files recovered");
        assert!(g.run("r5", "nightly", None).is_empty());
    }

    #[test]
    fn a_restart_remembers_a_failing_job() {
        let mut g = Given::new();
        g.run("r1", "nightly", Some("x"));
        g.run("r2", "hourly", None);
        let mut restarted = Watch::from_state(&g.state);
        g.watch = std::mem::take(&mut restarted);
        assert_eq!(kinds(&g.run("r3", "hourly", None)), vec![]);
        assert_eq!(kinds(&g.run("r4", "nightly", None)), vec![Kind::Recovered]);
    }

    #[test]
    fn health_changes_are_told_and_repeats_are_not() {
        let mut g = Given::new();
        let check = |status| Event::HealthChecked {
            status,
            checks: vec![HealthCheck {
                name: "disk_space".into(),
                status,
                reason: "92% used".into(),
            }],
        };
        // the first check is where we start, not a change
        assert!(g.when(check(HealthStatus::Ok)).is_empty());
        let worse = g.when(check(HealthStatus::Critical));
        assert_eq!(kinds(&worse), vec![Kind::HealthChanged]);
        assert_eq!(worse[0].subject, "backupd: health is critical");
        assert!(worse[0]
            .lines
            .iter()
            .any(|l| l.contains("disk_space critical: 92% used")));
        assert!(g.when(check(HealthStatus::Critical)).is_empty());
        assert_eq!(
            kinds(&g.when(check(HealthStatus::Ok))),
            vec![Kind::HealthChanged]
        );
    }

    #[test]
    fn a_report_and_warnings_are_notices_of_their_own() {
        let mut g = Given::new();
        let r = g.when(Event::ReportGenerated {
            report_id: "2026-05-30".into(),
            location: "/d/reports/2026-05-30.html".into(),
            bytes: 10,
        });
        assert_eq!(kinds(&r), vec![Kind::DailyReport]);
        assert_eq!(
            r[0].report,
            Some(("2026-05-30".into(), "/d/reports/2026-05-30.html".into()))
        );
        g.when(Event::RunStarted {
            run_id: "w".into(),
            job_id: "hourly".into(),
            slot: None,
            reason: RunReason::Manual,
        });
        let w = g.when(Event::RunSucceededV2 {
            run_id: "w".into(),
            backup_id: None,
            bytes: 1,
            files: 1,
            duration_ms: 1,
            note: None,
            warnings_total: 3,
            warnings: vec![],
        });
        assert_eq!(kinds(&w), vec![Kind::RunWarnings]);
        assert_eq!(
            w[0].subject,
            "backupd: hourly files succeeded with 3 warning(s)"
        );
    }
}
