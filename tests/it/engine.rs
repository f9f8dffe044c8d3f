//! The backup engine on real files: round trip, incremental chains, verify, crash leftovers,
//! restore safety. Runs go through `RunExecutor::run` and `FinishRun`, as the scheduler does.

use crate::support::{open_service, Rng};
use backupd::archive::{ArchiveReader, EntryKind, Location};
use backupd::clock::ManualClock;
use backupd::config::{Config, DatabaseSource, FilesSource};
use backupd::decide::{Command, RunOutcome};
use backupd::engine::{self, sources::root_name, Engine, EngineError};
use backupd::events::{
    BackupConfig, BackupKind, BackupMode, BackupRecord, BackupType, JobAction, JobSpec, RunReason,
    Trigger,
};
use backupd::progress::{Progress, RunProgress};
use backupd::service::{Meta, Service};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A data dir with a service on the manual clock, and the engine over a given configuration.
pub struct Rig {
    pub service: Service,
    pub clock: Arc<ManualClock>,
    pub config: Arc<Config>,
    engine: Engine,
    runs: u32,
    /// The progress the last run left behind, read before its handle was dropped.
    pub last_progress: Option<RunProgress>,
}

impl Rig {
    pub fn new(data: &Path, files: Vec<PathBuf>, databases: Vec<DatabaseSource>) -> Rig {
        fs::create_dir_all(data).unwrap();
        let (service, clock) = open_service(data, 0);
        let config = Arc::new(Config {
            data_dir: data.to_path_buf(),
            files: files
                .into_iter()
                .map(|path| FilesSource {
                    name: String::new(),
                    path,
                    exclude: vec![],
                })
                .collect(),
            databases,
            ..Config::default()
        });
        Rig {
            engine: Engine::new(config.clone(), service.clone()),
            service,
            clock,
            config,
            runs: 0,
            last_progress: None,
        }
    }

    pub fn job(&self, id: &str, backup_type: BackupType, mode: BackupMode) -> JobSpec {
        let job = JobSpec {
            id: id.into(),
            name: format!("job {id}"),
            trigger: Trigger::Interval {
                seconds: 3600,
                start_at: None,
            },
            action: JobAction::Backup(BackupConfig::new(backup_type, mode)),
            misfire_grace_secs: Some(3600),
            timezone: None,
            jitter_secs: 0,
        };
        self.command(Command::CreateJob(job.clone()));
        job
    }

    pub fn command(&self, c: Command) {
        smol::block_on(self.service.execute(c, Meta::actor("test"))).unwrap();
    }

    /// One run as the scheduler does it: started event, executor, outcome command.
    pub fn run(&mut self, job: &JobSpec) -> RunOutcome {
        self.runs += 1;
        self.clock.advance(time::Duration::hours(1));
        let run_id = format!("{}-run-{}", job.id, self.runs);
        self.command(Command::StartRun {
            run_id: run_id.clone(),
            job_id: job.id.clone(),
            slot: None,
            reason: RunReason::Manual,
        });
        let progress = Progress::default();
        let handle = progress.begin(&run_id);
        let outcome = backupd::scheduler::RunExecutor::run(&self.engine, job, &run_id, &handle);
        self.last_progress = progress.get(&run_id);
        drop(handle);
        self.command(Command::FinishRun {
            run_id,
            outcome: outcome.clone(),
        });
        outcome
    }

    /// A run that must succeed with a backup; returns its record and note.
    pub fn backup(&mut self, job: &JobSpec) -> (BackupRecord, Option<String>) {
        match self.run(job) {
            RunOutcome::Succeeded {
                backup: Some(b),
                note,
                ..
            } => (b, note),
            other => panic!("expected a backup, got {other:?}"),
        }
    }

    pub fn restore(
        &self,
        id: &str,
        target: &Path,
        paths: &[String],
        force: bool,
    ) -> Result<engine::RestoreSummary, EngineError> {
        self.service
            .read(|s| engine::restore(&self.config, s, id, target, paths, force))
    }

    pub fn verify(&self, id: &str) -> Result<engine::VerifySummary, EngineError> {
        self.service.read(|s| engine::verify(&self.config, s, id))
    }

    pub fn archive(&self, id: &str) -> ArchiveReader<fs::File> {
        let f = fs::File::open(self.config.data_dir.join(format!("backups/{id}.bka"))).unwrap();
        ArchiveReader::open(f).unwrap()
    }
}

/// What a tree holds, for comparing a source with its restore: content, mode, mtime (ns) and
/// symlink targets of every entry below `root` (the root's own metadata included as "").
#[derive(Debug, PartialEq, Eq)]
pub enum Node {
    File {
        mode: u32,
        mtime: (i64, i64),
        content: Vec<u8>,
    },
    Dir {
        mode: u32,
        mtime: (i64, i64),
    },
    Link(PathBuf),
}

pub fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    fn walk(root: &Path, rel: &str, out: &mut BTreeMap<String, Node>) {
        let p = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(rel)
        };
        let m = fs::symlink_metadata(&p).unwrap();
        let mode = m.mode() & 0o7777;
        let mtime = (m.mtime(), m.mtime_nsec());
        if m.file_type().is_symlink() {
            out.insert(rel.into(), Node::Link(fs::read_link(&p).unwrap()));
        } else if m.is_file() {
            let content = fs::read(&p).unwrap();
            out.insert(
                rel.into(),
                Node::File {
                    mode,
                    mtime,
                    content,
                },
            );
        } else {
            for e in fs::read_dir(&p).unwrap() {
                let name = e.unwrap().file_name().into_string().unwrap();
                let child = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                walk(root, &child, out);
            }
            // After the children: reading does not change mtime, but keep the order obvious.
            out.insert(rel.into(), Node::Dir { mode, mtime });
        }
    }
    let mut out = BTreeMap::new();
    walk(root, "", &mut out);
    out
}

/// Where a source directory lands in a restore target.
pub fn restored_root(target: &Path, source: &Path) -> PathBuf {
    target.join(root_name("files", &fs::canonicalize(source).unwrap()).unwrap())
}

/// A generated tree: `n` files in nested directories (some empty, some unicode-named, some
/// with unusual modes), empty directories and relative symlinks.
pub fn generate_tree(root: &Path, n: usize, seed: u64) {
    let mut rng = Rng(seed);
    fs::create_dir_all(root).unwrap();
    let dirs = ["a", "a/b", "a/b/c", "données", "日本語/深い", "x y", "z"];
    for d in dirs {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::create_dir_all(root.join("empty/also-empty")).unwrap();
    for i in 0..n {
        let dir = dirs[rng.below(dirs.len() as u64) as usize];
        let name = match i % 7 {
            0 => format!("fïle-{i}.txt"),
            1 => format!("empty-{i}"),
            _ => format!("f{i}.bin"),
        };
        let len = if i % 7 == 1 {
            0
        } else {
            rng.below(3000) as usize
        };
        let content: Vec<u8> = (0..len).map(|_| (rng.next() % 7) as u8 + b'a').collect();
        let p = root.join(dir).join(name);
        fs::write(&p, content).unwrap();
        if i % 11 == 0 {
            fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        }
        if i % 13 == 0 {
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    symlink("../données", root.join("a/link-to-dir")).unwrap();
    symlink("f1.bin", root.join("z/dangling-or-not")).unwrap();
    symlink("b/c", root.join("a/link-down")).unwrap();
    fs::set_permissions(root.join("z"), fs::Permissions::from_mode(0o750)).unwrap();
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn round_trip_of_a_generated_tree_restores_content_modes_mtimes_and_links() {
    let dir = tempdir();
    let src = dir.path().join("src");
    generate_tree(&src, 2500, 7);
    let before = snapshot(&src);
    let mut rig = Rig::new(&dir.path().join("data"), vec![src.clone()], vec![]);
    let job = rig.job("files_full", BackupType::Files, BackupMode::Full);
    let (rec, note) = rig.backup(&job);
    assert_eq!(rec.kind, BackupKind::Full);
    assert_eq!(rec.parent, None);
    assert_eq!(note, None);
    assert!(rec.id.starts_with("files_full-2026"), "{}", rec.id);
    let p = rig.last_progress.clone().unwrap();
    assert_eq!((p.files_done, p.files_total), (2500, Some(2500)));
    assert_eq!(Some(p.bytes_done), p.bytes_total);
    assert!(p.bytes_done > 1_000_000, "{p:?}");
    assert!(dir.path().join("data").join(&rec.location).is_file());
    // The catalog has it, as the scheduler would have recorded it.
    let in_catalog = rig
        .service
        .read(|s| s.catalog.backups.get(&rec.id).map(|b| b.record.clone()));
    assert_eq!(in_catalog.as_ref(), Some(&rec));

    let target = dir.path().join("restored");
    let sum = rig.restore(&rec.id, &target, &[], false).unwrap();
    assert_eq!(sum.files, 2500);
    assert!(sum.parents_used.is_empty());
    assert_eq!(snapshot(&restored_root(&target, &src)), before);
    let diff = std::process::Command::new("diff")
        .arg("-r")
        .arg("--no-dereference")
        .arg(&src)
        .arg(restored_root(&target, &src))
        .status()
        .unwrap();
    assert!(diff.success(), "diff -r found differences");

    let v = rig.verify(&rec.id).unwrap();
    assert_eq!(v.parent_refs, 0);
    assert_eq!(v.entries, rec.entries);
}

/// Changes 10 files, deletes 3, adds 5; returns the archive paths of the 15 changed or new.
fn mutate(src: &Path, archive_root: &str) -> (Vec<String>, Vec<String>) {
    let mut files: Vec<String> = snapshot(src)
        .into_iter()
        .filter(|(_, n)| matches!(n, Node::File { .. }))
        .map(|(p, _)| p)
        .collect();
    files.sort();
    let mut changed = Vec::new();
    for p in files.iter().step_by(37).take(10) {
        // Same size where possible: only mtime/ctime can tell (content is not compared).
        let old = fs::read(src.join(p)).unwrap();
        let new: Vec<u8> = if old.is_empty() {
            b"now something".to_vec()
        } else {
            old.iter().map(|b| b.wrapping_add(1)).collect()
        };
        fs::write(src.join(p), new).unwrap();
        changed.push(format!("{archive_root}/{p}"));
    }
    let mut deleted = Vec::new();
    for p in files.iter().skip(5).step_by(41).take(3) {
        assert!(!changed.contains(&format!("{archive_root}/{p}")));
        fs::remove_file(src.join(p)).unwrap();
        deleted.push(format!("{archive_root}/{p}"));
    }
    for i in 0..5 {
        let p = format!("a/b/new-{i}.txt");
        fs::write(src.join(&p), format!("new file {i}")).unwrap();
        changed.push(format!("{archive_root}/{p}"));
    }
    changed.sort();
    deleted.sort();
    (changed, deleted)
}

#[test]
fn an_incremental_stores_only_changed_bytes_and_restores_the_tree_of_its_moment() {
    let dir = tempdir();
    let src = dir.path().join("src");
    generate_tree(&src, 600, 11);
    let mut rig = Rig::new(&dir.path().join("data"), vec![src.clone()], vec![]);
    let job = rig.job("inc", BackupType::Files, BackupMode::Incremental);

    // The first incremental of a job has no base: it takes a full backup and says so.
    let (full, note) = rig.backup(&job);
    assert_eq!(full.kind, BackupKind::Full);
    assert!(note.unwrap().contains("no usable base"));
    let full_tree = snapshot(&src);

    let root = root_name("files", &fs::canonicalize(&src).unwrap()).unwrap();
    let (changed, deleted) = mutate(&src, &root);
    assert_eq!((changed.len(), deleted.len()), (15, 3));
    let inc_tree = snapshot(&src);
    let (inc, note) = rig.backup(&job);
    assert_eq!(inc.kind, BackupKind::Incremental);
    assert_eq!(inc.parent.as_deref(), Some(full.id.as_str()));
    let note = note.unwrap();
    assert!(
        note.contains("15 of 602 files changed or new, 3 deleted"),
        "{note}"
    );

    // The incremental's index: content only for the 15, references for the rest, 3 deletions.
    let r = rig.archive(&inc.id);
    let here: Vec<String> = r
        .index()
        .entries
        .iter()
        .filter(|e| matches!(e.location, Location::Here { .. }))
        .map(|e| e.path.clone())
        .collect();
    let mut here_sorted = here.clone();
    here_sorted.sort();
    assert_eq!(here_sorted, changed);
    let gone: Vec<String> = r
        .index()
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Deletion)
        .map(|e| e.path.clone())
        .collect();
    assert_eq!(gone, deleted);
    let refs = r
        .index()
        .entries
        .iter()
        .filter(|e| matches!(&e.location, Location::Parent { backup } if *backup == full.id))
        .count();
    assert_eq!(refs, 602 - 15);

    // Change the tree again: a restore must give each backup's moment, not today's tree.
    fs::write(src.join("a/late.txt"), "after the incremental").unwrap();
    let t1 = dir.path().join("r-inc");
    let sum = rig.restore(&inc.id, &t1, &[], false).unwrap();
    assert_eq!(sum.parents_used, vec![full.id.clone()]);
    assert_eq!(snapshot(&restored_root(&t1, &src)), inc_tree);
    let t0 = dir.path().join("r-full");
    rig.restore(&full.id, &t0, &[], false).unwrap();
    assert_eq!(snapshot(&restored_root(&t0, &src)), full_tree);

    // A third backup in the chain refers to the full for untouched files and to the
    // incremental for the ones it holds.
    let (third, _) = rig.backup(&job);
    assert_eq!(third.parent.as_deref(), Some(inc.id.as_str()));
    let r3 = rig.archive(&third.id);
    let holders: std::collections::BTreeSet<String> = r3
        .index()
        .entries
        .iter()
        .filter_map(|e| match &e.location {
            Location::Parent { backup } => Some(backup.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        holders,
        [full.id.clone(), inc.id.clone()].into_iter().collect()
    );
    let t3 = dir.path().join("r-third");
    rig.restore(&third.id, &t3, &[], false).unwrap();
    assert_eq!(snapshot(&restored_root(&t3, &src)), snapshot(&src));
    let v = rig.verify(&third.id).unwrap();
    assert_eq!(v.parents.len(), 2);

    // A selected path: one file whose bytes the full holds, found through the newest index.
    let held_by_full = r3
        .index()
        .entries
        .iter()
        .find(|e| matches!(&e.location, Location::Parent { backup } if *backup == full.id))
        .unwrap()
        .path
        .clone();
    let t4 = dir.path().join("r-one");
    let s = rig
        .restore(&third.id, &t4, std::slice::from_ref(&held_by_full), false)
        .unwrap();
    assert_eq!((s.files, s.dirs), (1, 0));
    let rel = held_by_full.strip_prefix(&format!("{root}/")).unwrap();
    assert_eq!(
        fs::read(t4.join(&held_by_full)).unwrap(),
        fs::read(src.join(rel)).unwrap()
    );
    let restored_files = snapshot(&t4)
        .values()
        .filter(|n| matches!(n, Node::File { .. }))
        .count();
    assert_eq!(restored_files, 1);
}

#[test]
fn a_touched_file_with_the_same_mtime_is_still_caught_by_its_ctime() {
    let dir = tempdir();
    let src = dir.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("f"), "aaaa").unwrap();
    let mtime = fs::metadata(src.join("f")).unwrap().modified().unwrap();
    let mut rig = Rig::new(&dir.path().join("data"), vec![src.clone()], vec![]);
    let job = rig.job("inc", BackupType::Files, BackupMode::Incremental);
    rig.backup(&job);
    // Same size, mtime put back (as `touch -r` or an editor preserving times would).
    fs::write(src.join("f"), "bbbb").unwrap();
    fs::File::options()
        .write(true)
        .open(src.join("f"))
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let (inc, _) = rig.backup(&job);
    let r = rig.archive(&inc.id);
    let e = r
        .index()
        .entries
        .iter()
        .find(|e| e.path.ends_with("/f"))
        .unwrap();
    assert!(matches!(e.location, Location::Here { .. }), "{e:?}");
    let t = dir.path().join("r");
    rig.restore(&inc.id, &t, &[], false).unwrap();
    assert_eq!(
        fs::read_to_string(restored_root(&t, &src).join("f")).unwrap(),
        "bbbb"
    );
}

#[test]
fn an_incremental_whose_base_file_is_gone_takes_a_full_backup() {
    let dir = tempdir();
    let src = dir.path().join("src");
    generate_tree(&src, 20, 3);
    let mut rig = Rig::new(&dir.path().join("data"), vec![src.clone()], vec![]);
    let job = rig.job("inc", BackupType::Files, BackupMode::Incremental);
    let (first, _) = rig.backup(&job);
    fs::remove_file(dir.path().join("data").join(&first.location)).unwrap();
    let (second, note) = rig.backup(&job);
    assert_eq!(second.kind, BackupKind::Full);
    assert_eq!(second.parent, None);
    let note = note.unwrap();
    assert!(
        note.contains("no usable base") && note.contains(&first.id),
        "{note}"
    );
}

#[test]
fn excludes_leave_out_matching_files_and_directories() {
    let dir = tempdir();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("cache/deep")).unwrap();
    fs::create_dir_all(src.join("keep")).unwrap();
    fs::write(src.join("cache/deep/x"), "x").unwrap();
    fs::write(src.join("keep/a.tmp"), "tmp").unwrap();
    fs::write(src.join("keep/a.txt"), "txt").unwrap();
    let mut rig = Rig::new(&dir.path().join("data"), vec![], vec![]);
    let mut config = (*rig.config).clone();
    config.files = vec![FilesSource {
        name: "src".into(),
        path: src.clone(),
        exclude: vec!["*.tmp".into(), "cache/**".into()],
    }];
    rig.config = Arc::new(config);
    rig.engine = Engine::new(rig.config.clone(), rig.service.clone());
    let job = rig.job("f", BackupType::Files, BackupMode::Full);
    let (rec, _) = rig.backup(&job);
    let root = root_name("files", &fs::canonicalize(&src).unwrap()).unwrap();
    let paths: Vec<String> = rig
        .archive(&rec.id)
        .index()
        .entries
        .iter()
        .map(|e| e.path.strip_prefix(&root).unwrap().to_string())
        .collect();
    assert_eq!(paths, ["", "/keep", "/keep/a.txt"]);
}

#[test]
fn verify_finds_a_damaged_archive_and_a_missing_parent() {
    let dir = tempdir();
    let src = dir.path().join("src");
    generate_tree(&src, 50, 5);
    let mut rig = Rig::new(&dir.path().join("data"), vec![src.clone()], vec![]);
    let job = rig.job("inc", BackupType::Files, BackupMode::Incremental);
    let (full, _) = rig.backup(&job);
    fs::write(src.join("a/changed"), "changed").unwrap();
    let (inc, _) = rig.backup(&job);
    assert!(rig.verify(&inc.id).is_ok());

    // Flip one byte in the full's body: its verification names the failure.
    let path = dir.path().join("data").join(&full.location);
    let mut bytes = fs::read(&path).unwrap();
    bytes[100] ^= 0x40;
    fs::write(&path, &bytes).unwrap();
    let e = rig.verify(&full.id).unwrap_err();
    assert!(matches!(e, EngineError::Archive { .. }), "{e}");
    assert!(e.to_string().contains(&full.id), "{e}");
    // Recording it: the catalog shows the failed verification.
    let result = rig.verify(&full.id);
    rig.command(engine::verify_command(&full.id, &result));
    let last = rig
        .service
        .read(|s| s.catalog.backups[&full.id].last_verified.clone().unwrap());
    assert!(!last.ok);

    // The parent's archive gone: the incremental's references are broken.
    fs::remove_file(&path).unwrap();
    let e = rig.verify(&inc.id).unwrap_err();
    assert!(matches!(e, EngineError::BrokenChain { .. }), "{e}");
    let e = rig
        .restore(&inc.id, &dir.path().join("r"), &[], false)
        .unwrap_err();
    assert!(matches!(e, EngineError::BrokenChain { .. }), "{e}");
}

#[test]
fn restore_refuses_a_non_empty_target_unless_forced() {
    let dir = tempdir();
    let src = dir.path().join("src");
    generate_tree(&src, 10, 1);
    let mut rig = Rig::new(&dir.path().join("data"), vec![src.clone()], vec![]);
    let job = rig.job("f", BackupType::Files, BackupMode::Full);
    let (rec, _) = rig.backup(&job);
    let target = dir.path().join("busy");
    fs::create_dir_all(&target).unwrap();
    fs::write(target.join("precious"), "keep me").unwrap();
    let e = rig.restore(&rec.id, &target, &[], false).unwrap_err();
    assert!(matches!(e, EngineError::TargetNotEmpty { .. }), "{e}");
    assert_eq!(fs::read_dir(&target).unwrap().count(), 1);
    rig.restore(&rec.id, &target, &[], true).unwrap();
    assert_eq!(snapshot(&restored_root(&target, &src)), snapshot(&src));
    assert_eq!(
        fs::read_to_string(target.join("precious")).unwrap(),
        "keep me"
    );
    // An unknown path is refused before anything is written.
    let e = rig
        .restore(
            &rec.id,
            &dir.path().join("sel"),
            &["files/nope".into()],
            false,
        )
        .unwrap_err();
    assert!(matches!(e, EngineError::NotInBackup { .. }), "{e}");
    assert!(!dir.path().join("sel").exists());
}

#[test]
fn reconcile_removes_partials_and_reports_unrecorded_archives() {
    let dir = tempdir();
    let src = dir.path().join("src");
    generate_tree(&src, 5, 1);
    let data = dir.path().join("data");
    let mut rig = Rig::new(&data, vec![src.clone()], vec![]);
    let job = rig.job("f", BackupType::Files, BackupMode::Full);
    let (rec, _) = rig.backup(&job);
    let backups = data.join("backups");
    fs::write(
        backups.join("f-20260101T000000Z-00000000.bka.partial"),
        "half",
    )
    .unwrap();
    fs::write(
        backups.join("f-20260101T000000Z-00000000.manifest.partial"),
        "half",
    )
    .unwrap();
    fs::create_dir_all(data.join("tmp/f-20260101T000000Z-00000000")).unwrap();
    // A report interrupted while written; a finished one (not in the log here) is not touched.
    fs::create_dir_all(data.join("reports")).unwrap();
    fs::write(
        data.join("reports/report-20260101T060000Z.json.partial"),
        "{",
    )
    .unwrap();
    fs::write(data.join("reports/report-20260101T050000Z.json"), "{}").unwrap();
    // A pack and a snapshot of a repository run killed while writing them.
    fs::create_dir_all(data.join("repository/tmp")).unwrap();
    fs::create_dir_all(data.join("repository/snapshots")).unwrap();
    let pack_partial = data.join("repository/tmp/r-00000000-0.pack.partial");
    let snap_partial = data.join("repository/snapshots/r-20260101T000000Z-00000000.snap.partial");
    fs::write(&pack_partial, "half a pack").unwrap();
    fs::write(&snap_partial, "half a snapshot").unwrap();
    // Killed between the two renames: the sidecar is there, its archive is not.
    fs::write(backups.join("f-20260103T000000Z-00000000.manifest"), "").unwrap();
    fs::copy(
        data.join(&rec.location),
        backups.join("f-20260102T000000Z-00000000.bka"),
    )
    .unwrap();
    let report = rig
        .service
        .read(|s| engine::reconcile(&rig.config, s))
        .unwrap();
    assert_eq!(report.removed.len(), 7, "{report:?}");
    assert!(
        !pack_partial.exists() && !snap_partial.exists(),
        "{report:?}"
    );
    assert!(!data
        .join("reports/report-20260101T060000Z.json.partial")
        .exists());
    assert!(data.join("reports/report-20260101T050000Z.json").exists());
    assert!(!backups
        .join("f-20260103T000000Z-00000000.manifest")
        .exists());
    assert!(backups.join(format!("{}.manifest", rec.id)).exists());
    assert!(!backups
        .join("f-20260101T000000Z-00000000.bka.partial")
        .exists());
    assert!(!data.join("tmp/f-20260101T000000Z-00000000").exists());
    assert_eq!(
        report.unrecorded,
        vec![backups.join("f-20260102T000000Z-00000000.bka")]
    );
    assert!(backups.join("f-20260102T000000Z-00000000.bka").exists());
    assert!(report.missing.is_empty());
    // Nothing left to do the second time; the recorded archive is untouched.
    let again = rig
        .service
        .read(|s| engine::reconcile(&rig.config, s))
        .unwrap();
    assert!(again.removed.is_empty());
    assert!(rig.verify(&rec.id).is_ok());
}

#[test]
fn a_missing_source_fails_the_run_and_leaves_nothing() {
    let dir = tempdir();
    let mut rig = Rig::new(
        &dir.path().join("data"),
        vec![dir.path().join("does-not-exist")],
        vec![],
    );
    rig.job("f", BackupType::Files, BackupMode::Full);
    let files = rig.service.read(|s| s.schedule.jobs["f"].spec.clone());
    match rig.run(&files) {
        RunOutcome::Failed { error, kind } => {
            assert!(error.contains("does-not-exist"), "{error}");
            // a source that is not there is fixed in the configuration
            assert_eq!(kind, backupd::error::ErrorKind::Config, "{error}");
        }
        other => panic!("{other:?}"),
    }
    let backups = dir.path().join("data/backups");
    let left: Vec<_> = fs::read_dir(&backups)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    assert!(rig.service.read(|s| s.catalog.backups.is_empty()));
}

/// The issue's size: 10,000 files plus one 100 MB file, through a run and a restore (about 25 s
/// in a debug build on the 2-core machine, most of it making the files).
#[test]
fn big_round_trip_of_ten_thousand_files_and_a_100_mb_file() {
    let dir = tempdir();
    let src = dir.path().join("src");
    generate_tree(&src, 10_000, 99);
    let mut rng = Rng(5);
    let big: Vec<u8> = (0..100 << 20)
        .map(|i| {
            if i % 4096 < 2048 {
                (rng.next() >> 56) as u8
            } else {
                b'x'
            }
        })
        .collect();
    fs::write(src.join("big.bin"), &big).unwrap();
    drop(big);
    let before = snapshot(&src);
    let mut rig = Rig::new(&dir.path().join("data"), vec![src.clone()], vec![]);
    let job = rig.job("big", BackupType::Files, BackupMode::Full);
    let t = std::time::Instant::now();
    let (rec, _) = rig.backup(&job);
    eprintln!("backup: {:?}, archive {} bytes", t.elapsed(), rec.bytes);
    let target = dir.path().join("restored");
    let t = std::time::Instant::now();
    rig.restore(&rec.id, &target, &[], false).unwrap();
    eprintln!("restore: {:?}", t.elapsed());
    assert_eq!(snapshot(&restored_root(&target, &src)), before);
}

#[test]
fn cli_verify_and_restore_work_offline_on_the_data_dir() {
    use crate::support::bin;
    let dir = tempdir();
    let src = dir.path().join("src");
    generate_tree(&src, 30, 2);
    let data = dir.path().join("data");
    let (rec, full_location) = {
        let mut rig = Rig::new(&data, vec![src.clone()], vec![]);
        let job = rig.job("f", BackupType::Files, BackupMode::Full);
        let (rec, _) = rig.backup(&job);
        let loc = data.join(&rec.location);
        (rec, loc)
    }; // the rig (and its hold on the log) is gone: the CLI can open it

    let out = bin()
        .args(["verify", &rec.id, "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("ok: backup "), "{stdout}");
    assert_eq!(stdout.lines().count(), 1);

    let out = bin().arg("verify").arg(&full_location).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok: "));

    let target = dir.path().join("restored");
    let out = bin()
        .args(["restore", &rec.id, "--to"])
        .arg(&target)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(snapshot(&restored_root(&target, &src)), snapshot(&src));
    // Again into the now non-empty target: refused, exit non-zero, saying why.
    let out = bin()
        .args(["restore", &rec.id, "--to"])
        .arg(&target)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));

    // Damage the archive: verify by id fails, names the bad entry or frame, and records it.
    let mut bytes = fs::read(&full_location).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x01;
    fs::write(&full_location, &bytes).unwrap();
    let out = bin()
        .args(["verify", &rec.id, "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("failed verification") && stderr.contains("checksum"),
        "{stderr}"
    );
    let (service, _) = open_service(&data, 0);
    let verdicts: Vec<bool> = service.read(|s| {
        s.catalog.backups[&rec.id]
            .last_verified
            .iter()
            .map(|v| v.ok)
            .collect()
    });
    assert_eq!(verdicts, vec![false]);
}

/// Figures on the archive issue's ~450 MB mixed set (`cargo bench --bench archive -- --assemble
/// DIR`), side by side with tar and zstd. Works on a copy (1% of its files are changed).
/// `BACKUPD_BENCH_SET=/tmp/backupd-bench-set cargo test --release -- --ignored --nocapture mixed_set`
/// Ignored: it needs the ~450 MB set, which `cargo test` does not build (assembling it and the
/// runs take minutes even in release). `.ci/run` runs it when `BACKUPD_BENCH_SET` names the set.
#[test]
#[ignore]
fn mixed_set_figures() {
    use std::process::Command as Sh;
    use std::time::Instant;
    let set = PathBuf::from(
        std::env::var("BACKUPD_BENCH_SET").unwrap_or_else(|_| "/tmp/backupd-bench-set".into()),
    );
    assert!(set.is_dir(), "no benchmark set at {}", set.display());
    let dir = tempdir();
    let src = dir.path().join("set");
    assert!(Sh::new("cp")
        .arg("-a")
        .arg(&set)
        .arg(&src)
        .status()
        .unwrap()
        .success());
    let sh = |script: &str| {
        let t = Instant::now();
        let ok = Sh::new("sh")
            .arg("-c")
            .arg(script)
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
        t.elapsed()
    };
    let tar_zst = dir.path().join("set.tar.zst");
    let tar_time = sh(&format!(
        "tar -C {} -cf - set | zstd -q -3 -T2 -o {}",
        dir.path().display(),
        tar_zst.display()
    ));
    let untar_dir = dir.path().join("untar");
    fs::create_dir_all(&untar_dir).unwrap();
    let untar_time = sh(&format!(
        "zstd -q -dc -T2 {} | tar -C {} -xf -",
        tar_zst.display(),
        untar_dir.display()
    ));

    let mut rig = Rig::new(&dir.path().join("data"), vec![src.clone()], vec![]);
    let job = rig.job("bench", BackupType::Files, BackupMode::Incremental);
    let t = Instant::now();
    let (full, _) = rig.backup(&job);
    let full_time = t.elapsed();

    // Change 1% of the files, picked pseudo-randomly among those up to 10 MB (append a line: size, mtime and ctime
    // all move). Listed without reading content, so the peak RSS below is the engine's.
    fn list(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                list(&e.path(), out);
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    let mut files = Vec::new();
    list(&src, &mut files);
    files.sort();
    let mut rng = Rng(42);
    let mut changed_bytes = 0;
    let mut changed = 0;
    for p in &files {
        let len = fs::metadata(p).unwrap().len();
        // Incrementals are per file: a changed 172 MB database file is stored again whole, so
        // the pick leaves out files over 10 MB to measure what 1% of the files costs.
        if rng.below(100) == 0 && len <= 10 << 20 {
            changed_bytes += len;
            changed += 1;
            let mut f = fs::OpenOptions::new().append(true).open(p).unwrap();
            std::io::Write::write_all(&mut f, b"changed\n").unwrap();
        }
    }
    let t = Instant::now();
    let (inc, note) = rig.backup(&job);
    let inc_time = t.elapsed();

    let target = dir.path().join("restored");
    let t = Instant::now();
    rig.restore(&inc.id, &target, &[], false).unwrap();
    let restore_time = t.elapsed();
    let same = Sh::new("diff")
        .args(["-r", "--no-dereference"])
        .arg(&src)
        .arg(restored_root(&target, &src))
        .status()
        .unwrap()
        .success();
    assert!(same, "the restore differs from the source");
    let rss = fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?")
        .to_string();
    eprintln!(
        "files {}; tar|zstd -3 -T2: {:.2?} ({} bytes); backupd full: {:.2?} ({} bytes, {:.2}x tar's time); \
         incremental after changing {} files ({} bytes): {:.2?} ({} bytes, {:.1}% of the full's time; {}); \
         zstd -dc|tar -x: {:.2?}; backupd restore of the incremental: {:.2?} ({:.2}x); test process peak {rss}",
        files.len(),
        tar_time,
        fs::metadata(&tar_zst).unwrap().len(),
        full_time,
        full.bytes,
        full_time.as_secs_f64() / tar_time.as_secs_f64(),
        changed,
        changed_bytes,
        inc_time,
        inc.bytes,
        100.0 * inc_time.as_secs_f64() / full_time.as_secs_f64(),
        note.unwrap_or_default(),
        untar_time,
        restore_time,
        restore_time.as_secs_f64() / untar_time.as_secs_f64(),
    );
}

#[test]
fn the_demo_config_backs_up_files_config_and_its_sqlite_database() {
    use crate::support::repo;
    let dir = tempdir();
    let demo = Config::load(&repo().join("fixtures/demo.toml")).unwrap();
    let data = dir.path().join("data");
    let mut rig = Rig::new(&data, vec![], vec![]);
    // The demo's paths are relative to the repository root, where tests run.
    assert_eq!(std::env::current_dir().unwrap(), repo());
    rig.config = Arc::new(Config {
        data_dir: data.clone(),
        ..demo
    });
    rig.engine = Engine::new(rig.config.clone(), rig.service.clone());
    let job = rig.job("daily_full", BackupType::Full, BackupMode::Full);
    let (rec, _) = rig.backup(&job);
    assert_eq!(rec.compression, "zstd");
    let target = dir.path().join("r");
    let sum = rig.restore(&rec.id, &target, &[], false).unwrap();
    let uploads = fs::canonicalize(repo().join("fixtures/demo-data/uploads")).unwrap();
    let etc = fs::canonicalize(repo().join("fixtures/demo-data/etc")).unwrap();
    assert_eq!(
        snapshot(&target.join(root_name("files", &uploads).unwrap())),
        snapshot(&uploads)
    );
    assert_eq!(
        snapshot(&target.join(root_name("config", &etc).unwrap())),
        snapshot(&etc)
    );
    assert_eq!(sum.dumps.len(), 1);
    let snap = target.join("databases/demo.sqlite");
    assert_eq!(sum.dumps[0].path, snap);
    let check = std::process::Command::new("sqlite3")
        .arg(&snap)
        .arg("PRAGMA integrity_check")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), "ok");
    // The same tables as the original.
    let tables = |db: &Path| {
        std::process::Command::new("sqlite3")
            .arg("-readonly")
            .arg(db)
            .arg("SELECT name FROM sqlite_master ORDER BY name")
            .output()
            .unwrap()
            .stdout
    };
    let original = tables(&repo().join("fixtures/demo-data/demo.db"));
    assert!(!original.is_empty());
    assert_eq!(tables(&snap), original);
}

#[test]
fn the_scheduler_runs_the_engine_and_records_the_backup() {
    use backupd::projections::{RunStatus, DEFAULT_POLICY};
    use backupd::scheduler::Scheduler;
    let dir = tempdir();
    let src = dir.path().join("src");
    generate_tree(&src, 40, 8);
    let rig = Rig::new(&dir.path().join("data"), vec![src.clone()], vec![]);
    rig.command(Command::Boot {
        version: "t".into(),
        pid: 1,
        presets: vec![],
        retention: DEFAULT_POLICY,
        autostart: true,
    });
    let (stop, stop_rx) = smol::channel::bounded(1);
    let scheduler = Scheduler::new(
        rig.service.clone(),
        chrono_tz::UTC,
        Arc::new(Engine::new(rig.config.clone(), rig.service.clone())),
        Progress::default(),
    );
    let looping = std::thread::spawn(move || {
        smol::block_on(scheduler.run(stop_rx, std::time::Duration::from_secs(5)))
    });
    let job = rig.job("hourly_files", BackupType::Files, BackupMode::Incremental);
    // The first slot of an hourly interval job is an hour after its creation.
    rig.clock.advance(time::Duration::minutes(61));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let run = loop {
        let done = rig.service.read(|s| {
            s.schedule
                .runs
                .values()
                .find(|r| r.job_id == job.id && r.status != RunStatus::Running)
                .cloned()
        });
        if let Some(run) = done {
            break run;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = stop.try_send(());
    looping.join().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let backups: Vec<BackupRecord> = rig.service.read(|s| {
        s.catalog
            .backups
            .values()
            .map(|b| b.record.clone())
            .collect()
    });
    assert_eq!(backups.len(), 1);
    assert_eq!(backups[0].run_id, run.run_id);
    assert_eq!(backups[0].kind, BackupKind::Full);
    let target = dir.path().join("r");
    rig.restore(&backups[0].id, &target, &[], false).unwrap();
    assert_eq!(snapshot(&restored_root(&target, &src)), snapshot(&src));
}

#[test]
fn a_source_containing_the_data_dir_does_not_back_up_the_backups() {
    let dir = tempdir();
    let src = dir.path().join("srv");
    generate_tree(&src, 10, 4);
    let data = src.join("backupd-data");
    let mut rig = Rig::new(&data, vec![src.clone()], vec![]);
    let job = rig.job("f", BackupType::Files, BackupMode::Full);
    rig.backup(&job);
    let (second, _) = rig.backup(&job);
    let root = root_name("files", &fs::canonicalize(&src).unwrap()).unwrap();
    let inside: Vec<String> = rig
        .archive(&second.id)
        .index()
        .entries
        .iter()
        .map(|e| e.path.clone())
        .filter(|p| p.starts_with(&format!("{root}/backupd-data")))
        .collect();
    assert!(inside.is_empty(), "{inside:?}");
    assert!(rig.archive(&second.id).index().entries.len() > 10);
}

/// The child half of the SIGKILL test: a backup that hangs in a dump, killed from outside.
/// Ignored because it is not a test on its own (without `BACKUPD_CRASH_DIR` it does nothing):
/// `sigkill_during_a_run_…` below runs it as a child process with `--ignored --exact`.
#[test]
#[ignore]
fn crash_child() {
    let Ok(dir) = std::env::var("BACKUPD_CRASH_DIR") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let hang = DatabaseSource {
        name: "slow".into(),
        kind: backupd::config::DatabaseKind::Command,
        url: None,
        path: None,
        command: Some(vec![
            "sh".into(),
            "-c".into(),
            "echo begun; sleep 15".into(),
        ]),
        password_env: None,
        password_file: None,
    };
    let mut rig = Rig::new(&dir.join("data"), vec![dir.join("src")], vec![hang]);
    let job = rig.job("f", BackupType::Full, BackupMode::Full);
    rig.run(&job);
    panic!("the run was meant to be killed before it finished");
}

#[test]
fn sigkill_during_a_run_leaves_an_interrupted_run_no_partial_and_the_next_run_succeeds() {
    use backupd::projections::{RunStatus, DEFAULT_POLICY};
    let dir = tempdir();
    let src = dir.path().join("src");
    generate_tree(&src, 30, 6);
    let data = dir.path().join("data");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "engine::crash_child", "--nocapture"])
        .env("BACKUPD_CRASH_DIR", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let partial = || {
        fs::read_dir(data.join("backups"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .find(|p| p.to_string_lossy().ends_with(".bka.partial"))
            })
            .ok()
            .flatten()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let left = loop {
        if let Some(p) = partial() {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the child never started writing"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(left.exists());
    // The child's dump tool runs in a process group of its own and outlives the kill; forked
    // just before it, it shares the log's locked descriptor until it execs (close-on-exec), which
    // a loaded machine can delay: wait for the lock, anything else fails here by name.
    drop(crate::support::reopen_store(&data.join("events.redb")));

    // Restart: boot settles the run, reconcile cleans up, the next run succeeds.
    let mut rig = Rig::new(&data, vec![src.clone()], vec![]);
    rig.runs = 100;
    rig.command(Command::Boot {
        version: "t".into(),
        pid: 2,
        presets: vec![],
        retention: DEFAULT_POLICY,
        autostart: false,
    });
    let statuses: Vec<RunStatus> = rig
        .service
        .read(|s| s.schedule.runs.values().map(|r| r.status).collect());
    assert_eq!(statuses, vec![RunStatus::Interrupted]);
    let report = rig
        .service
        .read(|s| engine::reconcile(&rig.config, s))
        .unwrap();
    assert!(report.removed.contains(&left), "{report:?}");
    assert!(partial().is_none());
    assert!(report.unrecorded.is_empty() && report.missing.is_empty());
    let job = rig.service.read(|s| s.schedule.jobs["f"].spec.clone());
    let (rec, _) = rig.backup(&job);
    assert!(rig.verify(&rec.id).is_ok());
}
