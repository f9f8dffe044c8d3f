//! The reference model of the replay property: what the service must know after a sequence of
//! commands, from the commands alone.

use backupd::decide::{Command, RunOutcome};
use backupd::events::{BackupKind, HealthStatus, JobSpec, RetentionPolicy, Ts};
use backupd::projections::{RunStatus, State, DEFAULT_POLICY};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use time::{Duration, OffsetDateTime};

/// Which command, told apart as the rules tell them apart: the coverage test asserts each was
/// accepted at least once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Boot,
    Create,
    Update,
    Delete,
    Pause,
    Resume,
    Start,
    Stop,
    Run,
    Succeed,
    SucceedWithBackup,
    LostBase,
    Fail,
    Interrupt,
    Skip,
    Missed,
    Verify,
    DeleteBackup,
    Retire,
    Health,
    Report,
    DeleteReport,
    Archive,
    /// A requested run that waits for a place.
    Queue,
    Admit,
    Cancel,
}

pub const KINDS: usize = Kind::Cancel as usize + 1;

#[derive(Debug, Clone)]
struct MJob {
    spec: JobSpec,
    paused: bool,
    running: Option<String>,
    queued: Option<String>,
    last_slot: Option<Ts>,
}

#[derive(Debug, Clone)]
struct MRun {
    job: String,
    status: RunStatus,
    backup: Option<String>,
}

#[derive(Debug, Clone)]
struct MBackup {
    job: String,
    kind: BackupKind,
    parent: Option<String>,
    created: OffsetDateTime,
    /// The last verification's verdict.
    verified: Option<bool>,
}

/// What the service must know after a sequence of commands, tracked from the commands alone with
/// the rules of `Command`'s documentation written out again: not from events, not with
/// `State::apply` or `decide`. `step` predicts whether a command is accepted and, if so, what it
/// changes.
#[derive(Debug, Clone)]
pub struct Model {
    presets_installed: bool,
    scheduler_running: bool,
    policy: RetentionPolicy,
    jobs: BTreeMap<String, MJob>,
    runs: BTreeMap<String, MRun>,
    /// Queued runs, first queued first.
    queue: Vec<String>,
    backups: BTreeMap<String, MBackup>,
    /// Report id → (created, bytes).
    reports: BTreeMap<String, (OffsetDateTime, u64)>,
    health: Option<HealthStatus>,
}

fn plus(at: OffsetDateTime, secs: Option<u64>) -> Option<OffsetDateTime> {
    secs.map(|s| at + Duration::seconds(s as i64))
}

impl Model {
    pub fn new() -> Model {
        Model {
            presets_installed: false,
            scheduler_running: false,
            policy: DEFAULT_POLICY,
            jobs: BTreeMap::new(),
            runs: BTreeMap::new(),
            queue: Vec::new(),
            backups: BTreeMap::new(),
            reports: BTreeMap::new(),
            health: None,
        }
    }

    fn limit(&self, kind: BackupKind) -> Option<u64> {
        match kind {
            BackupKind::Full => self.policy.full_secs,
            BackupKind::Incremental => self.policy.incremental_secs,
            BackupKind::Archive => self.policy.archive_secs,
        }
    }

    fn expires(&self, b: &MBackup) -> Option<OffsetDateTime> {
        plus(b.created, self.limit(b.kind))
    }

    fn has_dependant(&self, id: &str) -> bool {
        self.backups
            .values()
            .any(|b| b.parent.as_deref() == Some(id))
    }

    /// Retention, the long way: expired and not kept, where kept = not expired, or the newest
    /// not-bad full of its job, or a base of something kept; nothing if that is everything.
    fn retention_deletes(&self, id: &str, now: OffsetDateTime) -> bool {
        let expired = |b: &MBackup| self.expires(b).is_some_and(|e| e <= now);
        let mut keep: BTreeSet<&str> = self
            .backups
            .iter()
            .filter(|(_, b)| !expired(b))
            .map(|(id, _)| id.as_str())
            .collect();
        let mut newest: BTreeMap<&str, (OffsetDateTime, &str)> = BTreeMap::new();
        for (id, b) in &self.backups {
            if b.kind == BackupKind::Full && b.verified != Some(false) {
                let n = newest.entry(&b.job).or_insert((b.created, id));
                *n = (*n).max((b.created, id));
            }
        }
        keep.extend(newest.values().map(|(_, id)| *id));
        loop {
            let more: Vec<&str> = keep
                .iter()
                .filter_map(|k| self.backups[*k].parent.as_deref())
                .filter(|p| !keep.contains(p) && self.backups.contains_key(*p))
                .collect();
            if more.is_empty() {
                break;
            }
            keep.extend(more);
        }
        let deletable = self.backups.len() - keep.len();
        deletable < self.backups.len() && !keep.contains(id) && self.backups.contains_key(id)
    }

    fn finish(&mut self, run_id: &str, status: RunStatus, backup: Option<String>) {
        let run = self.runs.get_mut(run_id).unwrap();
        run.status = status;
        run.backup = backup;
        if let Some(job) = self.jobs.get_mut(&run.job) {
            if job.running.as_deref() == Some(run_id) {
                job.running = None;
            }
            if job.queued.as_deref() == Some(run_id) {
                job.queued = None;
            }
        }
        self.queue.retain(|q| q != run_id);
    }

    fn running(&self) -> usize {
        self.runs
            .values()
            .filter(|r| r.status == RunStatus::Running)
            .count()
    }

    /// Can `run_id` start on `job_id` at `slot` (StartRun's and RequestRun's rules)?
    fn may_start(&self, run_id: &str, job_id: &str, slot: &Option<Ts>) -> bool {
        let Some(job) = self.jobs.get(job_id) else {
            return false;
        };
        let settled = matches!((slot, job.last_slot), (Some(s), Some(l)) if *s <= l);
        job.running.is_none() && job.queued.is_none() && !self.runs.contains_key(run_id) && !settled
    }

    /// The run (new, or leaving the queue) is running.
    fn run(&mut self, run_id: &str, job_id: &str, slot: &Option<Ts>) {
        let job = self.jobs.get_mut(job_id).unwrap();
        job.running = Some(run_id.to_string());
        if job.queued.as_deref() == Some(run_id) {
            job.queued = None;
        }
        job.last_slot = job.last_slot.max(*slot);
        self.queue.retain(|q| q != run_id);
        let run = MRun {
            job: job_id.to_string(),
            status: RunStatus::Running,
            backup: None,
        };
        self.runs.insert(run_id.to_string(), run);
    }

    /// Is `command` accepted at `now`, and what does it change; `None` when rejected.
    pub fn step(&mut self, command: &Command, now: OffsetDateTime) -> Option<Kind> {
        use Command as C;
        let job_exists = |m: &Model, id: &str| m.jobs.contains_key(id);
        Some(match command {
            C::Boot {
                presets,
                retention,
                autostart,
                ..
            } => {
                let running: Vec<String> = self
                    .jobs
                    .values()
                    .filter_map(|j| j.running.clone())
                    .chain(self.queue.clone())
                    .collect();
                for run in running {
                    self.finish(&run, RunStatus::Interrupted, None);
                }
                if !self.presets_installed {
                    self.presets_installed = true;
                    for spec in presets {
                        self.jobs.insert(
                            spec.id.clone(),
                            MJob {
                                spec: spec.clone(),
                                paused: false,
                                running: None,
                                queued: None,
                                last_slot: None,
                            },
                        );
                    }
                }
                self.policy = *retention;
                self.scheduler_running |= autostart;
                Kind::Boot
            }
            C::CreateJob(spec) => {
                if job_exists(self, &spec.id) {
                    return None;
                }
                let job = MJob {
                    spec: spec.clone(),
                    paused: false,
                    running: None,
                    queued: None,
                    last_slot: None,
                };
                self.jobs.insert(spec.id.clone(), job);
                Kind::Create
            }
            C::UpdateJob { job_id, patch, .. } => {
                let job = self.jobs.get_mut(job_id)?;
                job.spec = patch.apply(&job.spec).ok()?;
                Kind::Update
            }
            C::DeleteJob { job_id, .. } => {
                if self.jobs.get(job_id)?.running.is_some() {
                    return None;
                }
                self.jobs.remove(job_id);
                Kind::Delete
            }
            C::PauseJob { job_id } => {
                self.jobs.get_mut(job_id)?.paused = true;
                Kind::Pause
            }
            C::ResumeJob { job_id } => {
                self.jobs.get_mut(job_id)?.paused = false;
                Kind::Resume
            }
            C::StartScheduler => {
                self.scheduler_running = true;
                Kind::Start
            }
            C::StopScheduler { .. } => {
                self.scheduler_running = false;
                Kind::Stop
            }
            C::StartRun {
                run_id,
                job_id,
                slot,
                ..
            } => {
                if !self.may_start(run_id, job_id, slot) {
                    return None;
                }
                self.run(run_id, job_id, slot);
                Kind::Run
            }
            C::RequestRun {
                run_id,
                job_id,
                slot,
                max_running,
                ..
            } => {
                if !self.may_start(run_id, job_id, slot) {
                    return None;
                }
                if self.running() < *max_running && self.queue.is_empty() {
                    self.run(run_id, job_id, slot);
                    return Some(Kind::Run);
                }
                let job = self.jobs.get_mut(job_id).unwrap();
                job.queued = Some(run_id.clone());
                job.last_slot = job.last_slot.max(*slot);
                self.queue.push(run_id.clone());
                let run = MRun {
                    job: job_id.clone(),
                    status: RunStatus::Queued,
                    backup: None,
                };
                self.runs.insert(run_id.clone(), run);
                Kind::Queue
            }
            C::AdmitQueued { max_running } => {
                for run_id in self.queue.clone() {
                    let job = self.runs[&run_id].job.clone();
                    let holds = self
                        .jobs
                        .get(&job)
                        .is_some_and(|j| j.queued.as_deref() == Some(run_id.as_str()));
                    if !holds {
                        self.finish(&run_id, RunStatus::Cancelled, None);
                    } else if self.running() < *max_running {
                        self.run(&run_id, &job, &None);
                    } else {
                        break;
                    }
                }
                Kind::Admit
            }
            C::CancelRun { run_id, .. } => {
                let status = self.runs.get(run_id)?.status;
                if !matches!(status, RunStatus::Running | RunStatus::Queued) {
                    return None;
                }
                self.finish(run_id, RunStatus::Cancelled, None);
                Kind::Cancel
            }
            C::FinishRun { run_id, outcome } => {
                if self.runs.get(run_id)?.status != RunStatus::Running {
                    return None;
                }
                match outcome {
                    RunOutcome::Succeeded {
                        backup: Some(b), ..
                    } => {
                        // Written on a base that is gone: the run fails instead.
                        if b.parent
                            .as_ref()
                            .is_some_and(|p| !self.backups.contains_key(p))
                        {
                            self.finish(run_id, RunStatus::Failed, None);
                            return Some(Kind::LostBase);
                        }
                        if self.backups.contains_key(&b.id) {
                            return None;
                        }
                        self.backups.insert(
                            b.id.clone(),
                            MBackup {
                                job: b.job_id.clone(),
                                kind: b.kind,
                                parent: b.parent.clone(),
                                created: now,
                                verified: None,
                            },
                        );
                        self.finish(run_id, RunStatus::Succeeded, Some(b.id.clone()));
                        Kind::SucceedWithBackup
                    }
                    RunOutcome::Succeeded { backup: None, .. } => {
                        self.finish(run_id, RunStatus::Succeeded, None);
                        Kind::Succeed
                    }
                    RunOutcome::Failed { .. } => {
                        self.finish(run_id, RunStatus::Failed, None);
                        Kind::Fail
                    }
                    RunOutcome::Interrupted { .. } => {
                        self.finish(run_id, RunStatus::Interrupted, None);
                        Kind::Interrupt
                    }
                    RunOutcome::Cancelled { .. } => {
                        self.finish(run_id, RunStatus::Cancelled, None);
                        Kind::Cancel
                    }
                }
            }
            C::SkipSlot { job_id, slot } => {
                let job = self.jobs.get_mut(job_id)?;
                job.running.as_ref()?;
                job.last_slot = job.last_slot.max(Some(*slot));
                Kind::Skip
            }
            C::RecordMissed { job_id, slots } => {
                let job = self.jobs.get_mut(job_id)?;
                job.last_slot = job.last_slot.max(slots.iter().copied().max());
                Kind::Missed
            }
            C::VerifyBackup { backup_id, ok, .. } => {
                self.backups.get_mut(backup_id)?.verified = Some(*ok);
                Kind::Verify
            }
            C::DeleteBackup { backup_id, rule } => {
                let retire = rule.starts_with("retention.");
                if !self.backups.contains_key(backup_id)
                    || self.has_dependant(backup_id)
                    || (retire && !self.retention_deletes(backup_id, now))
                {
                    return None;
                }
                self.backups.remove(backup_id);
                if retire {
                    Kind::Retire
                } else {
                    Kind::DeleteBackup
                }
            }
            // Not generated (the API's forget is tested in tests/it/forget.rs): a model of it here
            // would need the newest-good-full rule too.
            C::ForgetBackup { .. } => unreachable!("the generator sends no ForgetBackup"),
            C::DeleteReport { report_id, .. } => {
                let (created, _) = self.reports.get(report_id)?;
                let expired = plus(*created, self.policy.report_secs).is_some_and(|e| e <= now);
                if !expired {
                    return None;
                }
                self.reports.remove(report_id);
                Kind::DeleteReport
            }
            C::RecordArchive { backup, .. } => {
                if self.backups.contains_key(&backup.id) {
                    return None;
                }
                self.backups.insert(
                    backup.id.clone(),
                    MBackup {
                        job: backup.job_id.clone(),
                        kind: BackupKind::Archive,
                        parent: None,
                        created: now,
                        verified: None,
                    },
                );
                Kind::Archive
            }
            C::RecordHealth { checks } => {
                self.health = Some(checks.iter().map(|c| c.status).max()?);
                Kind::Health
            }
            C::RecordReport {
                report_id, bytes, ..
            } => {
                if self.reports.contains_key(report_id) {
                    return None;
                }
                self.reports.insert(report_id.clone(), (now, *bytes));
                Kind::Report
            }
            // Never generated: recovery is an offline rebuild into a log without a catalog
            // (decide/recover.rs has its own tests), not a step of a live history.
            C::RecoverCatalog { .. } => unreachable!("recovery is not a generated command"),
            // Not generated: restore runs hold no job and touch no other aggregate
            // (decide/restores.rs has its own tests).
            C::StartRestore { .. } | C::FinishRestore { .. } => {
                unreachable!("restores are not generated commands")
            }
            // Tokens change who may ask, not what the schedule or catalog hold.
            C::CreateToken { .. } | C::RevokeToken { .. } => {
                unreachable!("tokens are not a generated command")
            }
            // Delivery outcomes are the notifier's record; they touch no aggregate
            // (decide/records.rs tests them).
            C::RecordDelivery { .. } => unreachable!("deliveries are not a generated command"),
            C::DeferRun { .. } => unreachable!("deferrals are not a generated command"),
            // The repository's records (decide/snapshots.rs tests them).
            C::RecordPack { .. } | C::RecordSnapshot { .. } => {
                unreachable!("repository records are not a generated command")
            }
            // The repository's prune has its own model test (decide/prune_tests.rs).
            C::DeletePacks { .. } | C::RepackPacks { .. } => {
                unreachable!("prune is not a generated command")
            }
            // Log shipments record where the log went; they touch no aggregate
            // (decide/logship.rs tests them).
            C::RecordLogShipped { .. } => unreachable!("shipments are not a generated command"),
            // Replication outcomes are the queue's record (decide/offsite.rs tests them).
            C::RecordReplication { .. } => unreachable!("replications are not a generated command"),
        })
    }

    /// The projected state says what the model says.
    pub fn check_state(&self, s: &State) -> Result<(), TestCaseError> {
        let sched = &s.schedule;
        prop_assert_eq!(sched.scheduler_running, self.scheduler_running);
        prop_assert_eq!(!sched.presets_installed.is_empty(), self.presets_installed);
        prop_assert_eq!(s.retention(), self.policy);
        prop_assert_eq!(
            sched.jobs.keys().collect::<Vec<_>>(),
            self.jobs.keys().collect::<Vec<_>>()
        );
        for (id, m) in &self.jobs {
            let j = &sched.jobs[id];
            prop_assert_eq!(&j.spec, &m.spec, "job {}", id);
            prop_assert_eq!(j.paused, m.paused, "job {} paused", id);
            prop_assert_eq!(&j.running, &m.running, "job {} running", id);
            prop_assert_eq!(&j.queued, &m.queued, "job {} queued", id);
            prop_assert_eq!(j.last_slot, m.last_slot, "job {} last slot", id);
        }
        prop_assert_eq!(
            sched.runs.keys().collect::<Vec<_>>(),
            self.runs.keys().collect::<Vec<_>>()
        );
        for (id, m) in &self.runs {
            let r = &sched.runs[id];
            prop_assert_eq!(&r.job_id, &m.job, "run {}", id);
            prop_assert_eq!(r.status, m.status, "run {}", id);
            prop_assert_eq!(&r.backup_id, &m.backup, "run {}", id);
        }
        prop_assert_eq!(&sched.queue, &self.queue);
        let cat = &s.catalog;
        prop_assert_eq!(
            cat.backups.keys().collect::<Vec<_>>(),
            self.backups.keys().collect::<Vec<_>>()
        );
        for (id, m) in &self.backups {
            let b = &cat.backups[id];
            prop_assert_eq!(b.record.kind, m.kind, "backup {}", id);
            prop_assert_eq!(&b.record.parent, &m.parent, "backup {}", id);
            prop_assert_eq!(
                b.last_verified.as_ref().map(|v| v.ok),
                m.verified,
                "backup {}",
                id
            );
            prop_assert_eq!(b.expires_at, self.expires(m).map(Ts::from), "backup {}", id);
        }
        prop_assert_eq!(
            cat.reports.keys().collect::<Vec<_>>(),
            self.reports.keys().collect::<Vec<_>>()
        );
        for (id, (created, bytes)) in &self.reports {
            let r = &cat.reports[id];
            prop_assert_eq!(r.bytes, *bytes, "report {}", id);
            let expires = plus(*created, self.policy.report_secs).map(Ts::from);
            prop_assert_eq!(r.expires_at, expires, "report {}", id);
        }
        prop_assert_eq!(s.health.as_ref().map(|h| h.status), self.health);
        Ok(())
    }

    /// What the public read API answers says what the model says.
    pub fn check_api(&self, get: impl Fn(&str) -> Value) -> Result<(), TestCaseError> {
        let status = get("/scheduler/status");
        prop_assert_eq!(&status["running"], &json!(self.scheduler_running));
        prop_assert_eq!(&status["jobs"], &json!(self.jobs.len()));
        let paused = self.jobs.values().filter(|j| j.paused).count();
        prop_assert_eq!(&status["paused_jobs"], &json!(paused));
        let running = self
            .runs
            .values()
            .filter(|r| r.status == RunStatus::Running)
            .count();
        prop_assert_eq!(&status["runs"]["running"], &json!(running));
        prop_assert_eq!(&status["storage"]["backups"], &json!(self.backups.len()));

        let rows =
            |path: &str, key: &str| -> Vec<Value> { get(path)[key].as_array().unwrap().clone() };
        let jobs: BTreeSet<String> = rows("/scheduler/jobs", "jobs")
            .iter()
            .map(|j| format!("{} {} {} {}", j["id"], j["name"], j["paused"], j["running"]))
            .collect();
        let want: BTreeSet<String> = self
            .jobs
            .iter()
            .map(|(id, j)| {
                format!(
                    "{} {} {} {}",
                    json!(id),
                    json!(j.spec.name),
                    json!(j.paused),
                    json!(j.running)
                )
            })
            .collect();
        prop_assert_eq!(jobs, want);

        let runs: BTreeSet<String> = rows("/runs?limit=1000", "runs")
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} {}",
                    r["run_id"], r["job_id"], r["status"], r["backup_id"]
                )
            })
            .collect();
        let want: BTreeSet<String> = self
            .runs
            .iter()
            .map(|(id, r)| {
                format!(
                    "{} {} {} {}",
                    json!(id),
                    json!(r.job),
                    json!(r.status),
                    json!(r.backup)
                )
            })
            .collect();
        prop_assert_eq!(runs, want);

        let backups: BTreeSet<String> = rows("/backups?limit=1000", "backups")
            .iter()
            .map(|b| {
                let ok = &b["last_verified"]["ok"];
                format!(
                    "{} {} {} {} {}",
                    b["id"], b["kind"], b["parent"], ok, b["expires_at"]
                )
            })
            .collect();
        let want: BTreeSet<String> = self
            .backups
            .iter()
            .map(|(id, b)| {
                let ok = b.verified.map_or(Value::Null, |v| json!(v));
                let expires = json!(self.expires(b).map(Ts::from));
                format!(
                    "{} {} {} {} {}",
                    json!(id),
                    json!(b.kind.as_str()),
                    json!(b.parent),
                    ok,
                    expires
                )
            })
            .collect();
        prop_assert_eq!(backups, want);

        let reports: BTreeSet<String> = rows("/reports?limit=1000", "reports")
            .iter()
            .map(|r| format!("{} {} {}", r["id"], r["bytes"], r["expires_at"]))
            .collect();
        let want: BTreeSet<String> = self
            .reports
            .iter()
            .map(|(id, (created, bytes))| {
                let expires = json!(plus(*created, self.policy.report_secs).map(Ts::from));
                format!("{} {} {}", json!(id), bytes, expires)
            })
            .collect();
        prop_assert_eq!(reports, want);

        // Without a recorded check the route measures the machine instead: only a recorded one.
        if let Some(h) = self.health {
            let health = get("/health");
            prop_assert_eq!(&health["status"], &json!(h));
            prop_assert_eq!(&health["recorded"], &json!(true));
        }
        Ok(())
    }
}
