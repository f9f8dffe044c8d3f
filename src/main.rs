//! The command line: `serve`, and the offline `events`, `state`, `backups`, `ls`, `verify`,
//! `restore`, `recover`, `token` and `key` on a data directory.

mod cli;

use anyhow::{bail, Context};
use backupd::api;
use backupd::clock::SystemClock;
use backupd::config::Config;
use backupd::decide::Command;
use backupd::domain::presets::presets;
use backupd::keys::Init;
use backupd::progress::Progress;
use backupd::projections::State;
use backupd::scheduler::Scheduler;
use backupd::service::{Meta, Service};
use backupd::store::EventStore;
use backupd::{archive, engine};
use clap::{Parser, Subcommand};
use cli::*;
use smol::future::FutureExt;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "backupd",
    version,
    about = "Self-hosted scheduled backups, event-sourced"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Args, Clone)]
struct Where {
    /// TOML configuration (default: the embedded defaults).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory (overrides `storage.data_dir`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the service: open the log, replay it, boot, and run until SIGTERM/SIGINT.
    Serve {
        #[command(flatten)]
        at: Where,
        /// Address to listen on (overrides `server.bind`).
        #[arg(long)]
        bind: Option<String>,
    },
    /// Print the event log, one JSON object per line.
    Events {
        #[command(flatten)]
        at: Where,
        /// Only events after this position.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// At most this many events.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Print the projected state (jobs, runs, catalog, stats) as of a position, as JSON.
    State {
        #[command(flatten)]
        at: Where,
        /// Fold the log up to and including this position (default: all of it).
        #[arg(long = "at")]
        position: Option<u64>,
    },
    /// Check every checksum of a backup (by id, through the log; the result is recorded) or of
    /// an archive file (a path that exists).
    Verify {
        /// A backup id from the catalog, or the path of an archive file. With --sample and no
        /// target: every live snapshot of the repository; with --remote and no target: every
        /// backup of the catalog (or --sample of them).
        #[arg(required_unless_present_any = ["sample", "remote"])]
        target: Option<String>,
        /// Read a rotating share of the repository frames the snapshot (or every snapshot)
        /// needs, each once: `5%` or `0.05`; `100%` reads them all (schema/repository.md).
        /// With --remote: this share of the catalog's backups, chosen at random (at least one).
        #[arg(long, value_parser = parse_share)]
        sample: Option<f64>,
        /// Which window of the rotation (default: the UTC day number, so daily runs of 1/n
        /// cover everything in n days).
        #[arg(long, requires = "sample", conflicts_with = "remote")]
        round: Option<u64>,
        /// Check the copy on this `[[remotes]]` entry instead, read in place by ranged GETs
        /// (nothing is recorded: the local copy's verification is not this one).
        #[arg(long, value_name = "NAME")]
        remote: Option<String>,
        #[command(flatten)]
        at: Where,
    },
    /// Restore a backup (all of it, or selected paths) into a directory, or load one of its
    /// database dumps into a database (--database).
    Restore {
        backup_id: String,
        /// The directory to restore into; must be empty or missing unless --force.
        #[arg(
            long,
            required_unless_present_any = ["database", "in_place"],
            conflicts_with_all = ["database", "in_place"]
        )]
        to: Option<PathBuf>,
        /// Restore files and configuration back to their original paths (no --to); files
        /// there are replaced atomically as --overwrite says.
        #[arg(long, conflicts_with = "database")]
        in_place: bool,
        /// With --in-place: always, if-changed, if-newer (the default: a file changed after the
        /// backup is kept) or never.
        #[arg(long, requires = "in_place", value_parser = parse_overwrite)]
        overwrite: Option<backupd::events::Overwrite>,
        /// Only this path of the backup (and what is below it); repeatable. The source's
        /// original absolute path (`/srv/app`), `db:<source name>` for a dump, or an archive path.
        #[arg(long = "path", conflicts_with = "database")]
        paths: Vec<String>,
        /// Load the dump of this database source into a database instead of writing files.
        #[arg(long)]
        database: Option<String>,
        /// With --database: the database to load into (SQLite: an absolute file path). Default:
        /// a new one, `<live name>_restored_<backup created yyyymmddThhmmss>`.
        #[arg(long, requires = "database")]
        into: Option<String>,
        /// With --database: allow loading into the source's live database.
        #[arg(long, requires = "database")]
        live: bool,
        /// Restore into a non-empty directory (existing files at restored paths are replaced).
        #[arg(long)]
        force: bool,
        /// Restore everything readable: files in damaged frames are listed on stderr (path and
        /// why) instead of stopping the restore; the exit code is then 3.
        #[arg(long, conflicts_with = "database")]
        skip_damaged: bool,
        /// Write nothing: list what would be written (original path, where it lands, size,
        /// kind) and the totals.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        at: Where,
    },
    /// Rebuild the catalog from the archives themselves when the log is lost: each archive in
    /// backups/ and archives/ is verified and recorded (damaged ones are named and left out).
    /// Refuses while a non-empty log exists, unless --force.
    Recover {
        #[command(flatten)]
        at: Where,
        /// Move an existing log aside (as events.redb.damaged-<time>, never deleted) first.
        #[arg(long, conflicts_with = "from_remote")]
        force: bool,
        /// Rebuild a lost machine's data dir from this `[[remotes]]` entry instead: the shipped
        /// log segments (each checked, positions and hashes kept), then every object the log
        /// names. --data-dir must be missing or empty.
        #[arg(long, value_name = "NAME")]
        from_remote: Option<String>,
    },
    /// List the catalog's backups, oldest first: id, kind, job, created, bytes, parent.
    Backups {
        /// Only this job's backups.
        #[arg(long)]
        job: Option<String>,
        #[command(flatten)]
        at: Where,
    },
    /// List one directory of a backup by the source's original path (`/` or none: the
    /// sources and database dumps), one JSON object per entry, as the API's
    /// `GET /backups/{id}/files` lists it.
    Ls {
        backup_id: String,
        /// An original absolute path, or `db:<source name>`.
        path: Option<String>,
        #[command(flatten)]
        at: Where,
    },
    /// The event log itself.
    Log {
        #[command(subcommand)]
        command: LogCmd,
    },
    /// API tokens: create (the secret is printed once), list, revoke. Offline on the data
    /// directory, or through the API (`/api/backup/tokens`, scope admin) while serve runs.
    Token {
        #[command(subcommand)]
        command: TokenCmd,
    },
    /// Measure this machine's read, compress (each codec and level) and write speed and
    /// recommend a codec and level for the data. Offline: needs no service.
    Bench {
        #[command(flatten)]
        args: backupd::bench::cli::BenchArgs,
        #[command(flatten)]
        at: Where,
    },
    /// Encryption keys (`[encryption]`): the key files in <data_dir>/keys/ that each wrap the
    /// master key under one passphrase. The current passphrase comes from BACKUPD_PASSPHRASE or
    /// `passphrase_file`, a new one from BACKUPD_NEW_PASSPHRASE or --new-passphrase-file.
    Key {
        #[command(subcommand)]
        command: KeyCmd,
    },
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Add a key file for a new passphrase (the same master key: every backup opens with it).
    Add {
        /// A file holding the new passphrase (default: BACKUPD_NEW_PASSPHRASE).
        #[arg(long)]
        new_passphrase_file: Option<PathBuf>,
        #[command(flatten)]
        at: Where,
    },
    /// Every key file, one JSON object per line (id, created, master key fingerprint).
    List {
        #[command(flatten)]
        at: Where,
    },
    /// Remove a key file by id; the last one is refused.
    Remove {
        id: String,
        #[command(flatten)]
        at: Where,
    },
    /// Change the passphrase: a new key file replaces the one the current passphrase opens.
    Passwd {
        /// A file holding the new passphrase (default: BACKUPD_NEW_PASSPHRASE).
        #[arg(long)]
        new_passphrase_file: Option<PathBuf>,
        #[command(flatten)]
        at: Where,
    },
    /// Copy every key file to a remote (`keys/<id>.json` there), so `recover --from-remote`
    /// can open sealed backups: each is the master key wrapped under a passphrase. Never done
    /// unless asked; never over a different file.
    Export {
        /// The `[[remotes]]` entry.
        #[arg(long)]
        remote: String,
        #[command(flatten)]
        at: Where,
    },
    /// Copy the key files a `key export` put on a remote into the data dir's keys/.
    Import {
        #[arg(long)]
        remote: String,
        #[command(flatten)]
        at: Where,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create a token and print its secret on stdout, once: only its SHA-256 is kept.
    Create {
        /// Unique among live tokens; 1-64 of A-Z a-z 0-9 . _ -; events it causes name it as
        /// the actor `api:<name>`.
        name: String,
        /// read, operate, manage, restore or admin (admin = every scope); repeatable.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Expire after this long ("90d", "12h"); default: never.
        #[arg(long)]
        expires: Option<String>,
        #[command(flatten)]
        at: Where,
    },
    /// Every token (the latest of each name), one JSON object per line: never a secret or hash.
    List {
        #[command(flatten)]
        at: Where,
    },
    /// Revoke a token: it opens nothing from then on.
    Revoke {
        name: String,
        #[command(flatten)]
        at: Where,
    },
}

#[derive(Subcommand)]
enum LogCmd {
    /// Walk the whole log read-only: every checksum, position and hash-chain link. Prints a
    /// summary and the chain's head hash; exits non-zero naming the first bad position.
    Verify {
        #[command(flatten)]
        at: Where,
    },
}

/// A bad configuration is exit code 2, as documented; everything else that fails is 1.
struct ConfigFailure(String);

/// A restore with `--skip-damaged` that could not restore everything: exit code 3 (the list
/// was already printed on stderr), so a script sees the loss however much was saved.
#[derive(Debug)]
struct Incomplete(usize);

impl std::fmt::Display for Incomplete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "restore incomplete: {} damaged file(s) not restored",
            self.0
        )
    }
}

impl std::error::Error for Incomplete {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(ConfigFailure(msg)) = e.downcast_ref::<ConfigFailure>() {
                eprintln!("backupd: {msg}");
                return ExitCode::from(2);
            }
            if let Some(incomplete) = e.downcast_ref::<Incomplete>() {
                eprintln!("backupd: {incomplete}");
                return ExitCode::from(3);
            }
            eprintln!("backupd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

impl std::fmt::Debug for ConfigFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::fmt::Display for ConfigFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ConfigFailure {}

fn load_config(at: &Where, bind: Option<&str>) -> anyhow::Result<Config> {
    let mut config = match &at.config {
        Some(path) => Config::load(path).map_err(|e| ConfigFailure(e.to_string()))?,
        None => Config::default(),
    };
    if let Some(dir) = &at.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(bind) = bind {
        config.bind = bind.parse().map_err(|_| {
            ConfigFailure(format!(
                "--bind {bind:?} is not an address like 127.0.0.1:8720"
            ))
        })?;
    }
    Ok(config)
}

/// `load_config`, then the master key unlocked when `[encryption]` is configured: for the
/// commands that write or read archives. A missing or wrong passphrase is a configuration
/// failure (exit 2) that names what to fix; the passphrase itself is never printed or logged.
/// Only `serve` (and `key add`) may create the master key: every other command refuses a data
/// directory without key files (`keys::Init`).
fn load_keyed(at: &Where, bind: Option<&str>) -> anyhow::Result<Config> {
    load_keyed_as(at, bind, Init::Refused)
}

fn load_keyed_as(at: &Where, bind: Option<&str>, init: Init) -> anyhow::Result<Config> {
    let mut config = load_config(at, bind)?;
    unlock(&mut config, init)?;
    Ok(config)
}

fn unlock(config: &mut Config, init: Init) -> anyhow::Result<Option<backupd::keys::Unlocked>> {
    let Some(enc) = config.encryption.as_mut() else {
        return Ok(None);
    };
    let u = backupd::keys::unlock(
        &config.data_dir,
        enc.passphrase_file.as_deref(),
        enc.key_file.as_deref(),
        backupd::keys::KeyParams::DEFAULT,
        init,
    )
    .map_err(|e| ConfigFailure(format!("encryption: {e}")))?;
    if let (true, Some(id)) = (u.created, &u.key_file_id) {
        eprintln!(
            "backupd: encryption: created the master key and its first key file keys/{id}.json \
             (keep the passphrase: without it no backup can be restored)"
        );
    }
    enc.key = Some(u.key.clone());
    Ok(Some(u))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Cmd::Serve { at, bind } => serve(load_keyed_as(&at, bind.as_deref(), Init::Allowed)?),
        Cmd::Log {
            command: LogCmd::Verify { at },
        } => log_verify(&load_config(&at, None)?),
        Cmd::Token { command } => token(command),
        Cmd::Key { command } => key(command),
        Cmd::Bench { args, at } => Ok(backupd::bench::cli::run(&args, &load_config(&at, None)?)?),
        Cmd::Events { at, after, limit } => {
            let config = load_config(&at, None)?;
            let store = EventStore::open_read_only(&config.events_path())?;
            let mut out = std::io::stdout().lock();
            let mut left = limit.unwrap_or(usize::MAX);
            let mut failed = None;
            store.scan_blocking(after, |env| {
                if left == 0 {
                    return false;
                }
                left -= 1;
                if let Err(e) = writeln!(out, "{}", env.to_json()) {
                    failed = Some(e);
                    return false;
                }
                true
            })?;
            match failed {
                // A closed pipe (`| head`) is the reader's choice, not our failure.
                Some(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
        Cmd::State { at, position } => {
            let config = load_config(&at, None)?;
            let store = EventStore::open_read_only(&config.events_path())?;
            let last = store.last_position();
            let upto = position.unwrap_or(last);
            if upto > last {
                bail!("the log ends at position {last}; there is no position {upto}");
            }
            let mut state = State::default();
            store.scan_blocking(0, |env| {
                if env.position > upto {
                    return false;
                }
                state.apply(&env);
                true
            })?;
            let mut out = std::io::stdout().lock();
            let written = serde_json::to_writer_pretty(&mut out, &state)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out));
            match written {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
        Cmd::Backups { job, at } => backups(&load_config(&at, None)?, job.as_deref()),
        Cmd::Ls {
            backup_id,
            path,
            at,
        } => ls(
            &load_keyed(&at, None)?,
            &backup_id,
            path.as_deref().unwrap_or("/"),
        ),
        Cmd::Verify {
            target,
            remote: Some(name),
            sample,
            at,
            ..
        } => verify_remote(&load_keyed(&at, None)?, &name, target, sample),
        Cmd::Verify {
            target,
            sample: Some(share),
            round,
            at,
            ..
        } => verify_sample(target.as_deref(), share, round, &at),
        Cmd::Verify { target, at, .. } => verify(&target.context("a target is required")?, &at),
        Cmd::Recover {
            at,
            from_remote: Some(name),
            ..
        } => recover_from_remote(&load_config(&at, None)?, &name),
        Cmd::Recover { at, force, .. } => recover(&load_keyed(&at, None)?, force),
        Cmd::Restore {
            backup_id,
            database: Some(source),
            into,
            live,
            force,
            dry_run,
            at,
            ..
        } => restore_database(
            &load_keyed(&at, None)?,
            &backup_id,
            &engine::LoadRequest {
                source,
                into,
                live,
                force,
                dry_run,
            },
        ),
        Cmd::Restore {
            backup_id,
            to: None,
            in_place: true,
            overwrite,
            paths,
            skip_damaged,
            dry_run,
            at,
            ..
        } => restore_in_place(
            &load_keyed(&at, None)?,
            &backup_id,
            &paths,
            overwrite.unwrap_or(backupd::events::Overwrite::IfNewer),
            skip_damaged,
            dry_run,
        ),
        Cmd::Restore {
            backup_id,
            to,
            paths,
            force,
            skip_damaged,
            dry_run,
            at,
            ..
        } => {
            let to = to.context("--to or --in-place is required")?;
            let config = load_keyed(&at, None)?;
            let mut body = serde_json::json!({ "target": to });
            if !paths.is_empty() {
                body["paths"] = serde_json::json!(paths);
            }
            for (name, on) in [
                ("force", force),
                ("skip_damaged", skip_damaged),
                ("dry_run", dry_run),
            ] {
                if on {
                    body[name] = serde_json::json!(true);
                }
            }
            let route = format!("POST {}/backups/{backup_id}/restore {body}", api::BASE);
            let store = EventStore::open_read_only(&config.events_path()).map_err(held(route))?;
            let (_store, state) = offline_state(store)?;
            if dry_run {
                let plan = engine::plan_restore(&config, &state, &backup_id, &to, &paths, force)?;
                for e in &plan.entries {
                    println!(
                        "would write {} {} ({} bytes) to {}",
                        e.kind,
                        e.path,
                        e.size,
                        e.lands_at.display()
                    );
                }
                println!(
                    "dry run of backup {} into {}: would write {} files, {} dirs, {} symlinks, {} bytes",
                    plan.backup_id,
                    plan.target.display(),
                    plan.files,
                    plan.dirs,
                    plan.symlinks,
                    plan.bytes
                );
                return Ok(());
            }
            let opts = engine::RestoreOptions {
                force,
                skip_damaged,
            };
            let sum = engine::restore_with(&config, &state, &backup_id, &to, &paths, &opts)?;
            println!(
                "restored backup {} into {}: {} files, {} dirs, {} symlinks, {} bytes{}",
                sum.backup_id,
                sum.target.display(),
                sum.files,
                sum.dirs,
                sum.symlinks,
                sum.bytes,
                if sum.parents_used.is_empty() {
                    String::new()
                } else {
                    format!(" (bytes also from {})", sum.parents_used.join(", "))
                }
            );
            for d in &sum.dumps {
                println!(
                    "database dump {}: load with: {}",
                    d.path.display(),
                    d.load_with
                );
            }
            for lost in &sum.damaged {
                eprintln!("damaged, not restored: {}: {}", lost.path, lost.reason);
            }
            if !sum.complete {
                return Err(Incomplete(sum.damaged.len()).into());
            }
            Ok(())
        }
    }
}

/// An offline command on a log `serve` holds: the message names the API route (and body) that
/// does the same through the running service.
fn held(route: String) -> impl FnOnce(backupd::store::StoreError) -> anyhow::Error {
    move |e| match e {
        backupd::store::StoreError::InUse { path } => anyhow::anyhow!(
            "the event log {} is in use by a running backupd; stop it first, or ask the \
             service: {route}",
            path.display()
        ),
        e => e.into(),
    }
}

/// The log's state, replayed offline. The store stays open (and so the data dir held) while
/// the caller works; a running service holding it gives the store's "in use" error.
fn offline_state(store: EventStore) -> anyhow::Result<(EventStore, State)> {
    let mut state = State::default();
    store.scan_blocking(0, |env| {
        state.apply(&env);
        true
    })?;
    Ok((store, state))
}
