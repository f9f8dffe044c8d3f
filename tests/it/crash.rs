//! Crash safety of the repository, in process on real files and a real redb log: random
//! sequences of full and incremental backups of two source trees (with files the two share),
//! forgets, cleanup runs that prune and repack, and crashes at every step boundary
//! (`backupd::failpoint`). A crash leaves the data directory and the log as a killed process
//! would (no `run_finished`, no clean-up); the "restart" reopens the log, boots (settling the
//! run as interrupted) and reconciles, as `serve` does. After every op: every live backup
//! restores byte-identical to the tree it was taken of, and no `.partial` survives a restart.
//! At the end, after one uncrashed cleanup: every pack file on disk is one a live snapshot
//! needs, and every chunk a live snapshot needs is in a pack on disk.

mod cases;

use crate::support::{start_time, Rng};
use backupd::clock::ManualClock;
use backupd::config::{Config, FilesSource, Repository};
use backupd::decide::{Command, RunOutcome};
use backupd::engine::{self, sources::root_name, Engine};
use backupd::events::{
    BackupConfig, BackupMode, BackupType, JobAction, JobSpec, RetentionPolicy, RunReason, Trigger,
};
use backupd::failpoint;
use backupd::progress::Progress;
use backupd::repository;
use backupd::service::{Meta, Service};
use backupd::store::EventStore;
use proptest::prelude::*;
use proptest::test_runner::{Config as PropConfig, TestCaseError, TestRunner};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Relative path → content of every regular file below a source root.
type Tree = BTreeMap<String, Vec<u8>>;

#[derive(Debug, Clone)]
enum Op {
    /// Edits the trees (`edits` random changes), then backs up with job `job` (0..4).
    Backup { job: usize, edits: u8 },
    /// Forgets the `pick`th live backup (modulo their number), files removed as the API does.
    Forget { pick: usize },
    /// A cleanup run: retention, prune, repack.
    Cleanup,
    /// The op that reaches `failpoint::POINTS[point]` dies there, on its `nth` hit: a backup
    /// (`job`, `edits`) for a backup's points; for a prune's, a forget (`pick`) and a cleanup;
    /// for a cleanup's, a cleanup a day later (retention has deletions to make).
    Crash {
        point: usize,
        nth: u32,
        job: usize,
        edits: u8,
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..4usize, 1..6u8).prop_map(|(job, edits)| Op::Backup { job, edits }),
        2 => any::<usize>().prop_map(|pick| Op::Forget { pick }),
        2 => Just(Op::Cleanup),
        4 => (0..failpoint::POINTS.len(), prop_oneof![3 => Just(1u32), 1 => Just(2u32)], 0..4usize, 1..6u8, any::<usize>()).prop_map(
            |(point, nth, job, edits, pick)| Op::Crash { point, nth, job, edits, pick }
        ),
    ]
}

/// The jobs: (id, mode, sources).
const JOBS: [(&str, BackupMode, &[&str]); 4] = [
    ("full_ab", BackupMode::Full, &["a", "b"]),
    ("incr_ab", BackupMode::Incremental, &["a", "b"]),
    ("full_b", BackupMode::Full, &["b"]),
    ("incr_b", BackupMode::Incremental, &["b"]),
];

struct World {
    _dir: tempfile::TempDir,
    data: PathBuf,
    sources: [PathBuf; 2],
    clock: Arc<ManualClock>,
    config: Arc<Config>,
    service: Option<Service>,
    engine: Option<Engine>,
    runs: u32,
    rng: Rng,
    /// The trees each backup run was started on (by run id): what its backup must restore to.
    taken: HashMap<String, [Tree; 2]>,
    jobs: Vec<JobSpec>,
    cleanup: JobSpec,
    /// The points this world crashed at, in order.
    crashes: Vec<&'static str>,
}

fn job_spec(id: &str, action: JobAction) -> JobSpec {
    JobSpec {
        id: id.into(),
        name: format!("job {id}"),
        trigger: Trigger::Interval {
            seconds: 3600,
            start_at: None,
        },
        action,
        misfire_grace_secs: Some(3600),
        timezone: None,
        jitter_secs: 0,
    }
}

impl World {
    fn new(seed: u64) -> World {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let sources = [dir.path().join("a"), dir.path().join("b")];
        fs::create_dir_all(&data).unwrap();
        let mut config = Config {
            data_dir: data.clone(),
            files: ["a", "b"]
                .iter()
                .zip(&sources)
                .map(|(name, path)| FilesSource {
                    name: (*name).into(),
                    path: path.clone(),
                    exclude: vec![],
                })
                .collect(),
            // Fulls kept 8 simulated hours, incrementals 4: cleanups delete some on their own.
            retention: RetentionPolicy {
                full_secs: Some(8 * 3600),
                incremental_secs: Some(4 * 3600),
                archive_secs: None,
                report_secs: None,
            },
            repository: Repository {
                enabled: true,
                // Most packs that lose a backup go under this: repacks happen often.
                repack_below: 0.9,
            },
            ..Config::default()
        };
        // Unrecorded pack files are swept by the next prune, whatever their age (no run is
        // in flight when one runs here).
        config.health.unrecorded_grace_secs = 0;
        let mut w = World {
            _dir: dir,
            data,
            sources,
            clock: Arc::new(ManualClock::new(start_time())),
            config: Arc::new(config),
            service: None,
            engine: None,
            runs: 0,
            rng: Rng(seed | 1),
            taken: HashMap::new(),
            jobs: Vec::new(),
            cleanup: job_spec("cleanup", JobAction::Cleanup),
            crashes: Vec::new(),
        };
        for s in &w.sources {
            fs::create_dir_all(s).unwrap();
        }
        for i in 0..6 {
            let len = 1000 + w.rng.below(40_000) as usize;
            let content = noise(&mut w.rng, len);
            let side = i % 2;
            fs::write(w.sources[side].join(format!("f{i}")), content).unwrap();
        }
        w.start();
        let specs: Vec<JobSpec> = JOBS
            .iter()
            .map(|(id, mode, sources)| {
                let mut cfg = BackupConfig::new(BackupType::Files, *mode);
                cfg.sources = Some(sources.iter().map(|s| s.to_string()).collect());
                job_spec(id, JobAction::Backup(cfg))
            })
            .collect();
        for j in specs.iter().chain([&w.cleanup]) {
            w.command(Command::CreateJob(j.clone()));
        }
        w.jobs = specs;
        w
    }

    fn service(&self) -> &Service {
        self.service.as_ref().unwrap()
    }

    fn command(&self, c: Command) {
        smol::block_on(self.service().execute(c, Meta::actor("test"))).unwrap();
    }

    /// Opens the log, boots and reconciles, as `serve` does at start.
    fn start(&mut self) {
        let store = EventStore::open(&self.data.join("events.redb")).unwrap();
        let (service, _) = Service::open(store, self.clock.clone(), 0).unwrap();
        self.service = Some(service.clone());
        self.command(Command::Boot {
            version: "t".into(),
            pid: 1,
            presets: vec![],
            retention: self.config.retention,
            autostart: false,
        });
        service
            .read(|s| engine::reconcile(&self.config, s))
            .unwrap();
        self.engine = Some(Engine::new(self.config.clone(), service));
        let partials = partials(&self.data);
        assert!(partials.is_empty(), "after reconcile: {partials:?}");
    }

    /// The process dies: nothing more is recorded; then it starts again.
    fn restart(&mut self) {
        self.engine = None;
        self.service = None;
        self.start();
    }

    /// One run as the scheduler does it. A crash inside leaves it in flight and restarts.
    /// Returns the outcome, `None` after a crash.
    fn run(&mut self, job: &JobSpec) -> Option<RunOutcome> {
        self.runs += 1;
        self.clock.advance(time::Duration::hours(1));
        let run_id = format!("{}-run-{}", job.id, self.runs);
        if job.action.backup_config().is_some() {
            self.taken.insert(run_id.clone(), self.trees());
        }
        self.command(Command::StartRun {
            run_id: run_id.clone(),
            job_id: job.id.clone(),
            slot: None,
            reason: RunReason::Manual,
        });
        let progress = Progress::default();
        let handle = progress.begin(&run_id);
        let engine = self.engine.as_ref().unwrap();
        let outcome = backupd::scheduler::RunExecutor::run(engine, job, &run_id, &handle);
        drop(handle);
        if let Some(point) = failpoint::disarm() {
            self.crashes.push(point);
            self.restart();
            return None;
        }
        self.command(Command::FinishRun {
            run_id,
            outcome: outcome.clone(),
        });
        Some(outcome)
    }

    fn trees(&self) -> [Tree; 2] {
        [tree(&self.sources[0]), tree(&self.sources[1])]
    }

    /// Random edits: add, modify (always to another length: an incremental trusts size and
    /// mtime), delete, rename, or the same new content into both trees (shared by the jobs).
    fn edit(&mut self, n: u8) {
        for _ in 0..n {
            let side = self.rng.below(2) as usize;
            let root = self.sources[side].clone();
            let names: Vec<String> = tree(&root).into_keys().collect();
            let pick = |rng: &mut Rng| names[rng.below(names.len() as u64) as usize].clone();
            let fresh = format!("n{}", self.rng.next() % 100_000);
            match self.rng.below(5) {
                1 if !names.is_empty() => {
                    let name = pick(&mut self.rng);
                    let old = fs::read(root.join(&name)).unwrap().len();
                    let len = (old + 1 + self.rng.below(30_000) as usize) % 60_000 + 1;
                    let len = if len == old { len + 1 } else { len };
                    fs::write(root.join(name), noise(&mut self.rng, len)).unwrap();
                }
                2 if names.len() > 1 => {
                    fs::remove_file(root.join(pick(&mut self.rng))).unwrap();
                }
                3 if !names.is_empty() => {
                    let name = pick(&mut self.rng);
                    fs::rename(root.join(name), root.join(fresh)).unwrap();
                }
                4 => {
                    let len = 500 + self.rng.below(50_000) as usize;
                    let content = noise(&mut self.rng, len);
                    for s in &self.sources {
                        fs::write(s.join(&fresh), &content).unwrap();
                    }
                }
                _ => {
                    // Now and then a file of several chunks.
                    let len = if self.rng.below(6) == 0 {
                        2_500_000
                    } else {
                        1 + self.rng.below(40_000) as usize
                    };
                    fs::write(root.join(fresh), noise(&mut self.rng, len)).unwrap();
                }
            }
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Backup { job, edits } => {
                self.edit(*edits);
                let spec = self.jobs[*job].clone();
                match self.run(&spec) {
                    // Crashed: whether it left a backup shows in the catalog.
                    None => {}
                    Some(RunOutcome::Succeeded {
                        backup: Some(_), ..
                    }) => {}
                    Some(other) => panic!("backup {}: {other:?}", spec.id),
                }
            }
            Op::Forget { pick } => {
                let live = self.live();
                if live.is_empty() {
                    return;
                }
                let (id, location) = live[pick % live.len()].clone();
                self.command(Command::ForgetBackup {
                    backup_id: id.clone(),
                    reason: None,
                    cascade: true,
                    force: true,
                });
                let layout = engine::layout::Layout::new(&self.data);
                engine::maintenance::remove_backup_files(&layout, &id, Some(&location)).unwrap();
            }
            Op::Cleanup => {
                let spec = self.cleanup.clone();
                if let Some(out) = self.run(&spec) {
                    assert!(cleaned(&out), "cleanup: {out:?}");
                }
            }
            Op::Crash {
                point,
                nth,
                job,
                edits,
                pick,
            } => {
                let point = failpoint::POINTS[*point];
                let then = if point.starts_with("pack.") || point.starts_with("snapshot.") {
                    Op::Backup {
                        job: *job,
                        edits: *edits,
                    }
                } else {
                    if point.starts_with("cleanup.") {
                        self.clock.advance(time::Duration::hours(24));
                    } else {
                        self.apply(&Op::Forget { pick: *pick });
                    }
                    Op::Cleanup
                };
                failpoint::arm(point, *nth);
                self.apply(&then);
                // Armed for this op only (`run` disarms), reached or not.
                failpoint::disarm();
            }
        }
    }

    /// Live backups: (id, location).
    fn live(&self) -> Vec<(String, String)> {
        self.service().read(|s| {
            s.catalog
                .backups
                .values()
                .map(|b| (b.record.id.clone(), b.record.location.clone()))
                .collect()
        })
    }

    /// Every live backup restores to the trees its run was started on.
    fn check_restores(&self) -> Result<(), TestCaseError> {
        let scratch = tempfile::tempdir().unwrap();
        let backups: Vec<(String, String, String)> = self.service().read(|s| {
            s.catalog
                .backups
                .values()
                .map(|b| {
                    (
                        b.record.id.clone(),
                        b.record.run_id.clone(),
                        b.record.job_id.clone(),
                    )
                })
                .collect()
        });
        for (n, (id, run_id, job_id)) in backups.iter().enumerate() {
            let target = scratch.path().join(n.to_string());
            self.service()
                .read(|s| engine::restore(&self.config, s, id, &target, &[], false))
                .map_err(|e| TestCaseError::fail(format!("restore {id}: {e}")))?;
            let expected = &self.taken[run_id];
            let selected = JOBS.iter().find(|j| j.0 == job_id).unwrap().2;
            for (side, name) in ["a", "b"].iter().enumerate() {
                let root = target.join(
                    root_name("files", &fs::canonicalize(&self.sources[side]).unwrap()).unwrap(),
                );
                if !selected.contains(name) {
                    prop_assert!(!root.exists(), "{id} restored source {name}");
                    continue;
                }
                let got = tree(&root);
                prop_assert!(
                    got == expected[side],
                    "{id} source {name}: restored {:?}, taken {:?}",
                    got.keys().collect::<Vec<_>>(),
                    expected[side].keys().collect::<Vec<_>>()
                );
            }
        }
        Ok(())
    }

    /// After an uncrashed prune: the pack files on disk are exactly those holding a chunk some
    /// live snapshot uses, and each such chunk is found in a pack on disk.
    fn check_packs(&self) -> Result<(), TestCaseError> {
        let layout = engine::layout::Layout::new(&self.data);
        let mut needed = BTreeSet::new();
        for (id, location) in self.live() {
            let snap = self
                .service()
                .read(|s| {
                    repository::load_snapshot(
                        &self.data,
                        &layout.resolve(&location),
                        None,
                        &s.repository,
                    )
                })
                .map_err(|e| TestCaseError::fail(format!("snapshot {id}: {e}")))?;
            // Its data and its trees.
            let used: BTreeSet<u32> = snap
                .entries
                .iter()
                .flat_map(|e| e.chunks.clone())
                .chain(snap.trees.iter().copied())
                .collect();
            for k in used {
                let chunk = snap.chunks[k as usize].id;
                let loc = self.service().read(|s| s.repository.locate(&chunk));
                let loc =
                    loc.ok_or_else(|| TestCaseError::fail(format!("{id}: chunk {k} is nowhere")))?;
                let path = layout.resolve(&loc.location);
                prop_assert!(path.exists(), "{id}: chunk {k} in missing {path:?}");
                needed.insert(path);
            }
        }
        let mut on_disk = BTreeSet::new();
        files_with(&self.data.join("repository/packs"), ".pack", &mut on_disk);
        let extra: Vec<_> = on_disk.difference(&needed).collect();
        prop_assert!(extra.is_empty(), "packs no live backup needs: {extra:?}");
        Ok(())
    }
}

/// Which crash points fired, over every case.
static FIRED: Mutex<BTreeMap<&'static str, u32>> = Mutex::new(BTreeMap::new());

/// A cleanup did its work: it succeeded, or retention refused a plan that would delete every
/// backup (all expired on the simulated clock; by design) after the prune ran all the same.
fn cleaned(out: &RunOutcome) -> bool {
    match out {
        RunOutcome::Succeeded { .. } => true,
        RunOutcome::Failed { error, kind } => {
            *kind == backupd::error::ErrorKind::Refused
                && error.contains("would delete every backup")
        }
        _ => false,
    }
}

fn noise(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(len);
    out
}

fn tree(root: &Path) -> Tree {
    let mut files = BTreeSet::new();
    files_with(root, "", &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let content = fs::read(&p).unwrap();
            (rel, content)
        })
        .collect()
}

/// Every regular file below `dir` whose name ends with `suffix`.
fn files_with(dir: &Path, suffix: &str, out: &mut BTreeSet<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            files_with(&p, suffix, out);
        } else if t.is_file() && p.to_string_lossy().ends_with(suffix) {
            out.insert(p);
        }
    }
}

fn partials(data: &Path) -> Vec<PathBuf> {
    let mut out = BTreeSet::new();
    files_with(data, ".partial", &mut out);
    out.into_iter().collect()
}

fn case(seed: u64, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut w = World::new(seed);
    for op in ops {
        w.apply(op);
        w.check_restores()?;
    }
    let mut fired = FIRED.lock().unwrap();
    for p in &w.crashes {
        *fired.entry(p).or_default() += 1;
    }
    drop(fired);
    settle(w)
}

/// Whatever the sequence ended with: an armed point is dropped, then one cleanup that does not
/// crash (no run is in flight, so its prune is not held off); then every live backup restores
/// and the packs on disk are exactly the needed ones.
fn settle(mut w: World) -> Result<(), TestCaseError> {
    failpoint::disarm();
    let out = w.run(&w.cleanup.clone()).expect("not armed");
    prop_assert!(cleaned(&out), "final cleanup: {out:?}");
    w.check_restores()?;
    w.check_packs()?;
    Ok(())
}

#[test]
fn random_backups_forgets_prunes_and_crashes_keep_every_live_backup_whole() {
    let mut runner = TestRunner::new(PropConfig {
        cases: 20,
        failure_persistence: None,
        ..PropConfig::default()
    });
    let strategy = (any::<u64>(), prop::collection::vec(op(), 6..=15));
    runner
        .run(&strategy, |(seed, ops)| {
            let res = case(seed, &ops);
            failpoint::disarm();
            res
        })
        .unwrap();
    let fired = FIRED.lock().unwrap().clone();
    // Across the cases, most step boundaries were crashed at (which ones a case reaches
    // depends on its ops).
    assert!(fired.len() >= 5, "crash points fired: {fired:?}");
    eprintln!("crash points fired: {fired:?}");
}
