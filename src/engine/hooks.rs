//! A backup job's hooks: programs run around the backup (`BackupConfig::hooks`).
//!
//! - `before` runs first. If it fails (non-zero exit, not found, killed) the run fails with the
//!   hook's line as its error and the backup is not taken.
//! - `after` runs once the backup is published. Its failure does not fail the run: the backup
//!   exists and is recorded; the run's note says the hook failed (and the tasks log warns). A
//!   backup thrown away because a notification script failed would be the worse loss.
//! - `on_failure` runs after a failed run (a failed `before` included); its own failure is only
//!   logged and added to the run's error. A cancelled or interrupted run is not a failure: its
//!   stop switch is thrown, and a hook started then would be killed at once.
//!
//! A hook inherits the service's environment less its secrets (`dump::child_env`: the
//! passphrase, the databases' `password_env` variables), since what it prints is recorded. Each
//! hook gets `BACKUPD_JOB_ID` and `BACKUPD_RUN_ID`; `after` also `BACKUPD_BACKUP_ID`
//! (published, recorded when the run is), `on_failure` also `BACKUPD_ERROR`. No shell: the argv
//! is executed as given (`["sh", "-c", "…"]` for one). Its stdout and stderr share one pipe, of
//! which the last `OUTPUT_TAIL` bytes go into the run's record as `hook <stage>: <exit>: <tail>`.
//!
//! A hook runs like a dump tool, in a process group of its own registered with the run's stop
//! switch, so the run's timeout, a cancel or the shutdown kills it and all it spawned. When it
//! exits, whatever it left in its group is killed too: nothing may hold the output pipe (and so
//! the run) open or outlive the run. A hook that means to leave a daemon running detaches it
//! into a session of its own (`setsid`).

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};

use super::dump::{child_env, read_tail};
use crate::decide::RunOutcome;
use crate::error::ErrorKind;
use crate::events::Hooks;
use crate::progress::Cancel;

/// Bytes of a hook's output (stdout and stderr together) kept for the run's record.
pub const OUTPUT_TAIL: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Before,
    After,
    OnFailure,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Before => "before",
            Stage::After => "after",
            Stage::OnFailure => "on_failure",
        }
    }
}

/// What one hook did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookReport {
    /// `hook before: exit 0: <tail>`, for the run's note or error.
    pub line: String,
    /// `None` when it exited 0; else the kind of its failure.
    pub failure: Option<ErrorKind>,
}

/// Runs `argv` with `env` added, in its own process group watched by `cancel`, and waits for it.
pub fn run_hook(
    stage: Stage,
    argv: &[String],
    env: &[(&str, &str)],
    cancel: &Cancel,
) -> HookReport {
    let head = format!("hook {}", stage.name());
    let fail = |what: String, kind| HookReport {
        line: format!("{head}: {what}"),
        failure: Some(kind),
    };
    let Some((program, args)) = argv.split_first() else {
        // Validation refuses an empty argv; a log written otherwise still gets an answer.
        return fail("no program given".into(), ErrorKind::Config);
    };
    let (reader, writer) = match io::pipe() {
        Ok(pipe) => pipe,
        Err(e) => return fail(format!("cannot make its pipe: {e}"), ErrorKind::of_io(&e)),
    };
    let writer2 = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => return fail(format!("cannot make its pipe: {e}"), ErrorKind::of_io(&e)),
    };
    let mut cmd = Command::new(program);
    child_env::scrub(&mut cmd)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer2)
        .process_group(0);
    let spawned = cmd.spawn();
    // The command holds our copies of the pipe's write end: the reader sees its end only once
    // they are closed.
    drop(cmd);
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return fail(
                format!("cannot start {program:?}: not found"),
                ErrorKind::Config,
            )
        }
        Err(e) => {
            return fail(
                format!("cannot start {program:?}: {e}"),
                ErrorKind::of_io(&e),
            )
        }
    };
    let group = cancel.watch_group(child.id());
    let output = std::thread::spawn(move || read_tail(reader, OUTPUT_TAIL));
    let status = child.wait();
    // What the hook left behind in its group would keep the pipe open (and the run waiting).
    group.kill();
    let output = output.join().unwrap_or_default();
    drop(group);
    let tail = tail(&output);
    match status {
        Ok(status) if status.success() => HookReport {
            line: format!("{head}: exit 0: {tail}"),
            failure: None,
        },
        Ok(status) => {
            let (what, kind) = exit_text(status);
            fail(format!("{what}: {tail}"), kind)
        }
        Err(e) => fail(format!("waiting for it failed: {e}"), ErrorKind::of_io(&e)),
    }
}

/// A non-zero exit is the hook saying no (`Refused`: a check that the disk is mounted, say); a
/// hook killed by a signal (the OOM killer) may do better next time.
fn exit_text(status: ExitStatus) -> (String, ErrorKind) {
    match status.code() {
        Some(code) => (format!("exit {code}"), ErrorKind::Refused),
        None => (format!("killed ({status})"), ErrorKind::Transient),
    }
}

/// The last `OUTPUT_TAIL` bytes of the output as text on one line.
fn tail(output: &[u8]) -> String {
    let start = output.len().saturating_sub(OUTPUT_TAIL);
    let text = String::from_utf8_lossy(&output[start..]);
    let text = text.trim();
    if text.is_empty() {
        "(no output)".into()
    } else {
        text.replace('\n', " | ")
    }
}

/// The run `run` (the backup) between the job's hooks, as the module says.
pub fn around(
    hooks: &Hooks,
    job_id: &str,
    run_id: &str,
    cancel: &Cancel,
    run: impl FnOnce() -> RunOutcome,
) -> RunOutcome {
    let env = [("BACKUPD_JOB_ID", job_id), ("BACKUPD_RUN_ID", run_id)];
    let mut notes = Vec::new();
    let outcome = match &hooks.before {
        None => run(),
        Some(argv) => {
            let report = run_hook(Stage::Before, argv, &env, cancel);
            match report.failure {
                None => {
                    notes.push(report.line);
                    run()
                }
                // Killed by a cancel or the timeout: the scheduler records the stop's cause.
                Some(kind) => {
                    warn(job_id, run_id, &report.line);
                    RunOutcome::Failed {
                        error: report.line,
                        kind,
                    }
                }
            }
        }
    };
    match outcome {
        RunOutcome::Succeeded {
            backup,
            bytes,
            files,
            note,
            warnings,
            perf,
        } => {
            if let Some(argv) = &hooks.after {
                let id = backup.as_ref().map(|b| b.id.as_str()).unwrap_or_default();
                let mut env = env.to_vec();
                env.push(("BACKUPD_BACKUP_ID", id));
                let report = run_hook(Stage::After, argv, &env, cancel);
                if report.failure.is_some() {
                    warn(job_id, run_id, &report.line);
                }
                notes.push(report.line);
            }
            let note = note.into_iter().chain(notes).collect::<Vec<_>>();
            RunOutcome::Succeeded {
                backup,
                bytes,
                files,
                note: (!note.is_empty()).then(|| note.join("; ")),
                warnings,
                perf,
            }
        }
        RunOutcome::Failed { error, kind } => match &hooks.on_failure {
            Some(argv) if !cancel.is_stopped() => {
                let mut env = env.to_vec();
                env.push(("BACKUPD_ERROR", &error));
                let report = run_hook(Stage::OnFailure, argv, &env, cancel);
                if report.failure.is_some() {
                    warn(job_id, run_id, &report.line);
                }
                RunOutcome::Failed {
                    error: format!("{error}; {}", report.line),
                    kind,
                }
            }
            _ => RunOutcome::Failed { error, kind },
        },
        other => other,
    }
}

fn warn(job_id: &str, run_id: &str, line: &str) {
    log::warn!(target: crate::logging::TASKS, "job {job_id} run {run_id}: {line} failed");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_hook_reports_its_exit_and_output_tail() {
        let cancel = Cancel::default();
        let ok = run_hook(
            Stage::Before,
            &argv(&["sh", "-c", "echo out; echo err >&2; echo $BACKUPD_RUN_ID"]),
            &[("BACKUPD_RUN_ID", "r1")],
            &cancel,
        );
        assert_eq!(ok.line, "hook before: exit 0: out | err | r1");
        assert_eq!(ok.failure, None);
        let bad = run_hook(Stage::After, &argv(&["sh", "-c", "exit 3"]), &[], &cancel);
        assert_eq!(bad.line, "hook after: exit 3: (no output)");
        assert_eq!(bad.failure, Some(ErrorKind::Refused));
        let missing = run_hook(Stage::Before, &argv(&["/nonexistent/hook"]), &[], &cancel);
        assert_eq!(
            missing.line,
            "hook before: cannot start \"/nonexistent/hook\": not found"
        );
        assert_eq!(missing.failure, Some(ErrorKind::Config));
        // a flood of output: only the tail is kept
        let flood = run_hook(
            Stage::Before,
            &argv(&["sh", "-c", "yes x | head -c 1000000; echo; echo last"]),
            &[],
            &cancel,
        );
        assert!(flood.line.ends_with("| last"), "{}", flood.line);
        let kept = flood.line.matches('x').count();
        assert!((500..OUTPUT_TAIL).contains(&kept), "{kept}");
    }

    #[test]
    fn a_stopped_run_kills_its_hook_and_what_the_hook_left_behind_is_killed() {
        let cancel = Cancel::default();
        let stopper = cancel.clone();
        let started = std::time::Instant::now();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            stopper.stop(crate::progress::StopCause::Shutdown { reason: "x".into() });
        });
        let hung = run_hook(Stage::Before, &argv(&["sleep", "60"]), &[], &cancel);
        t.join().unwrap();
        assert!(
            hung.line.starts_with("hook before: killed"),
            "{}",
            hung.line
        );
        assert_eq!(hung.failure, Some(ErrorKind::Transient));
        // a background child holding the pipe does not keep the hook waiting
        let cancel = Cancel::default();
        let left = run_hook(
            Stage::After,
            &argv(&["sh", "-c", "sleep 60 & echo started"]),
            &[],
            &cancel,
        );
        assert_eq!(left.line, "hook after: exit 0: started");
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }
}
