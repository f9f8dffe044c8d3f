//! The command line: `serve`, and the offline `events`, `state`, `backups`, `ls`, `verify`,
//! `restore`, `recover`, `token` and `key` on a data directory.

use anyhow::{bail, Context};
use backupd::api;
use backupd::clock::SystemClock;
use backupd::config::Config;
use backupd::decide::Command;
use backupd::domain::presets::presets;
use backupd::progress::Progress;
use backupd::projections::State;
use backupd::scheduler::Scheduler;
use backupd::service::{Meta, Service};
use backupd::store::EventStore;
use backupd::{archive, engine};
use clap::{Parser, Subcommand};
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
fn load_keyed(at: &Where, bind: Option<&str>) -> anyhow::Result<Config> {
    let mut config = load_config(at, bind)?;
    unlock(&mut config)?;
    Ok(config)
}

fn unlock(config: &mut Config) -> anyhow::Result<Option<backupd::keys::Unlocked>> {
    let Some(enc) = config.encryption.as_mut() else {
        return Ok(None);
    };
    let u = backupd::keys::unlock(
        &config.data_dir,
        enc.passphrase_file.as_deref(),
        enc.key_file.as_deref(),
        backupd::keys::KeyParams::DEFAULT,
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
        Cmd::Serve { at, bind } => serve(load_keyed(&at, bind.as_deref())?),
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
/// `restore BACKUP_ID --database SOURCE`: the dump loaded into a database, offline.
fn restore_database(
    config: &Config,
    backup_id: &str,
    req: &engine::LoadRequest,
) -> anyhow::Result<()> {
    let body = serde_json::json!({
        "database": req.source, "into": req.into, "live": req.live, "force": req.force,
        "dry_run": req.dry_run,
    });
    let route = format!("POST {}/backups/{backup_id}/restore {body}", api::BASE);
    let store = EventStore::open_read_only(&config.events_path()).map_err(held(route))?;
    let (_store, state) = offline_state(store)?;
    let cancel = backupd::progress::Cancel::default();
    let sum = engine::load(config, &state, backup_id, req, &cancel)?;
    println!(
        "{} the dump of database {} of backup {} into {} ({}, {}): {} bytes{}",
        if sum.dry_run { "would load" } else { "loaded" },
        sum.database,
        sum.backup_id,
        sum.into,
        sum.kind,
        sum.tool,
        sum.bytes,
        if sum.dry_run {
            String::new()
        } else {
            format!(" in {} ms", sum.duration_ms)
        }
    );
    Ok(())
}

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

/// `backupd backups [--job J]`: the catalog, read-only on the log.
fn backups(config: &Config, job: Option<&str>) -> anyhow::Result<()> {
    let (_store, state) = offline_state(EventStore::open_read_only(&config.events_path())?)?;
    let mut all: Vec<_> = state
        .catalog
        .backups
        .values()
        .filter(|b| job.is_none_or(|j| b.record.job_id == j))
        .collect();
    all.sort_by(|a, b| {
        (a.record.created_at, &a.record.id).cmp(&(b.record.created_at, &b.record.id))
    });
    let mut out = std::io::stdout().lock();
    for b in all {
        let r = &b.record;
        let line = writeln!(
            out,
            "{} {} {} {} {} {}",
            r.id,
            r.kind.as_str(),
            r.job_id,
            r.created_at,
            r.bytes,
            r.parent.as_deref().unwrap_or("-")
        );
        match line {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
    }
    Ok(())
}

/// `backupd ls ID [PATH]`: every entry of one directory, a page at a time, read-only.
fn ls(config: &Config, id: &str, path: &str) -> anyhow::Result<()> {
    use engine::browse::{list, BrowseError, MAX_LIMIT};
    let (_store, state) = offline_state(EventStore::open_read_only(&config.events_path())?)?;
    let mut out = std::io::stdout().lock();
    let mut after: Option<String> = None;
    loop {
        let page =
            list(config, &state, id, path, after.as_deref(), MAX_LIMIT).map_err(|e| match e {
                BrowseError::Engine(e) => anyhow::Error::from(e),
                other => anyhow::anyhow!("backup {id}: {other}"),
            })?;
        for e in &page.entries {
            let line = serde_json::to_string(e)?;
            match writeln!(out, "{line}") {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                other => other?,
            }
        }
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(()),
        }
    }
}

/// `backupd verify BACKUP_ID|FILE`: a path that exists is checked as an archive file; anything
/// else is a backup id, verified through the catalog (parents included) and recorded.
fn verify(target: &str, at: &Where) -> anyhow::Result<()> {
    let path = std::path::Path::new(target);
    let config = load_keyed(at, None)?;
    if path.exists() {
        let sum = archive::verify_file_with(path, config.master_key())
            .with_context(|| format!("{} is damaged", path.display()))?;
        println!("{}: {sum}", path.display());
        return Ok(());
    }
    // Read-write (the result is recorded) but never created: a missing log is an error.
    let route = format!("POST {}/backups/{target}/verify", api::BASE);
    let store = EventStore::open_existing(&config.events_path()).map_err(held(route))?;
    let (store, state) = offline_state(store)?;
    let result = engine::verify(&config, &state, target);
    if state.catalog.backups.contains_key(target) {
        let (service, _) = Service::open(store, Arc::new(SystemClock), 0)?;
        for command in engine::verify_commands(target, &result) {
            smol::block_on(service.execute(command, Meta::actor("cli")))
                .context("recording the verification")?;
        }
    }
    let sum = result.with_context(|| format!("backup {target} failed verification"))?;
    println!("{sum}");
    Ok(())
}

fn parse_share(text: &str) -> Result<f64, String> {
    engine::sample::parse_share(text)
}

/// `backupd verify [ID] --sample 5%`: reads round `round` of a rotating share of the frames the
/// snapshot `target` (or every live snapshot) needs; a named backup's result is recorded.
fn verify_sample(
    target: Option<&str>,
    share: f64,
    round: Option<u64>,
    at: &Where,
) -> anyhow::Result<()> {
    let config = load_keyed(at, None)?;
    let route = format!("POST {}/backups/ID/verify?sample=", api::BASE);
    let store = EventStore::open_existing(&config.events_path()).map_err(held(route))?;
    let (store, state) = offline_state(store)?;
    let backups: Option<Vec<String>> = target.map(|t| vec![t.to_string()]);
    if let Some(id) = target {
        if state.repository.snapshot(id).is_none() {
            bail!("{id:?} is not a live snapshot of the repository (only snapshots are sampled)");
        }
    }
    let day = (time::OffsetDateTime::now_utc().unix_timestamp() / 86_400) as u64;
    let sum = engine::sample::verify_frames(
        &config,
        &state.repository,
        backups.as_deref(),
        share,
        round.unwrap_or(day),
    )?;
    if let Some(id) = target {
        let (service, _) = Service::open(store, Arc::new(SystemClock), 0)?;
        let command = backupd::decide::Command::VerifyBackup {
            backup_id: id.to_string(),
            ok: sum.damaged.is_empty(),
            detail: Some(format!("sample: {sum}")),
        };
        smol::block_on(service.execute(command, Meta::actor("cli")))
            .context("recording the verification")?;
    }
    if !sum.damaged.is_empty() {
        bail!("the repository is damaged: {sum}");
    }
    println!("{sum}");
    Ok(())
}

/// `backupd recover`: the archives' records into a new log, with the recovery itself on record.
fn recover(config: &Config, force: bool) -> anyhow::Result<()> {
    let log = config.events_path();
    let mut note = format!("rebuilt from the archives in {}", config.data_dir.display());
    let found = engine::recover::scan(&config.data_dir, config.master_key())?;
    if found.found == 0 {
        println!(
            "no archives in {}: nothing to recover",
            config.data_dir.display()
        );
        return Ok(());
    }
    if found.records.is_empty() {
        for why in &found.skipped {
            eprintln!("left out: {why}");
        }
        bail!(
            "none of the {} archive(s) could be recovered; no log was written",
            found.found
        );
    }
    if let Ok(meta) = std::fs::metadata(&log) {
        if meta.len() > 0 && !force {
            bail!(
                "{} exists and is not empty: recover rebuilds a lost log and never writes over one; \
                 use --force to move it aside (as events.redb.damaged-<time>) and recover",
                log.display()
            );
        }
    }
    // The old log, and the head file that vouches for it (it would call the new log truncated),
    // are moved aside, never deleted: they are evidence, and may yet be mended.
    let at = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "damaged-{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    let mut head = log.as_os_str().to_os_string();
    head.push(".head");
    for old in [log.clone(), PathBuf::from(head)] {
        if std::fs::symlink_metadata(&old).is_err() {
            continue;
        }
        // Two recoveries in one second must not put one aside copy over another.
        let aside = (0..)
            .map(|n| {
                let mut name = old.file_name().unwrap_or_default().to_os_string();
                name.push(format!(".{stamp}"));
                if n > 0 {
                    name.push(format!("-{n}"));
                }
                old.with_file_name(name)
            })
            .find(|p| std::fs::symlink_metadata(p).is_err())
            .unwrap_or_default();
        std::fs::rename(&old, &aside)
            .with_context(|| format!("moving {} aside to {}", old.display(), aside.display()))?;
        println!("moved aside: {}", aside.display());
        note.push_str(&format!(
            "; {} was moved aside as {}",
            old.file_name().unwrap_or_default().to_string_lossy(),
            aside.file_name().unwrap_or_default().to_string_lossy()
        ));
    }
    let store = EventStore::open(&log)?;
    let (service, _) = Service::open(store, Arc::new(SystemClock), 0)?;
    let command = Command::RecoverCatalog {
        backups: found.records.clone(),
        skipped: found.skipped.clone(),
        note,
    };
    smol::block_on(service.execute(command, Meta::actor("system:recover")))
        .context("recording the recovered catalog")?;
    println!("recovered {} backup(s):", found.records.len());
    for b in &found.records {
        let kind = serde_json::to_value(b.kind).unwrap_or_default();
        let kind = kind.as_str().unwrap_or("?");
        match &b.parent {
            Some(p) => println!("  {} ({kind} on {p}, job {})", b.id, b.job_id),
            None => println!("  {} ({kind}, job {})", b.id, b.job_id),
        }
    }
    println!("left out {} archive(s)", found.skipped.len());
    for why in &found.skipped {
        println!("  {why}");
    }
    Ok(())
}

/// The `[[remotes]]` entry `name`, opened.
fn open_remote(
    config: &Config,
    name: &str,
) -> anyhow::Result<Box<dyn backupd::remote::ObjectStore>> {
    let Some(cfg) = config.remotes.iter().find(|r| r.name == name) else {
        let known: Vec<&str> = config.remotes.iter().map(|r| r.name.as_str()).collect();
        return Err(ConfigFailure(format!(
            "no [[remotes]] entry named {name:?} in the configuration (known: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
        .into());
    };
    Ok(backupd::remote::open(cfg)?)
}

/// `backupd verify [ID] --remote NAME [--sample P%]`: the remote copies' every checksum, read in
/// place; exits non-zero when any is missing or damaged.
fn verify_remote(
    config: &Config,
    name: &str,
    target: Option<String>,
    sample: Option<f64>,
) -> anyhow::Result<()> {
    let remote: Arc<dyn backupd::remote::ObjectStore> = Arc::from(open_remote(config, name)?);
    let store = EventStore::open_read_only(&config.events_path())?;
    let (_store, state) = offline_state(store)?;
    let all: Vec<(String, String)> = state
        .catalog
        .backups
        .values()
        .filter(|b| target.as_ref().is_none_or(|t| *t == b.record.id))
        .map(|b| (b.record.id.clone(), b.record.location.clone()))
        .collect();
    if let Some(t) = &target {
        if all.is_empty() {
            bail!("no backup {t:?} in the catalog");
        }
    }
    let picked = match sample {
        None => all,
        Some(share) => backupd::remote::ranged::sample(&all, share * 100.0),
    };
    let mut bad = 0;
    for v in backupd::remote::ranged::verify_remote(remote, &picked, config.master_key()) {
        match &v.result {
            Ok(sum) => println!(
                "remote {name}: backup {} ({}): ok, {} frames, {} bytes read in {} ranged GET(s)",
                v.backup_id, v.location, sum.frames, v.fetched, v.gets
            ),
            Err(why) => {
                bad += 1;
                println!(
                    "remote {name}: backup {} ({}): {why}",
                    v.backup_id, v.location
                );
            }
        }
    }
    if bad > 0 {
        bail!(
            "{bad} of {} remote copies on {name} are missing or damaged",
            picked.len()
        );
    }
    println!("remote {name}: {} backup(s) verified", picked.len());
    Ok(())
}

/// `backupd recover --from-remote NAME`: a lost machine's data dir rebuilt from a remote. The
/// master key is not unlocked here (an empty data dir has none: unlocking would make a new
/// one); the key files come back with the rest when `key export` put them on the remote.
fn recover_from_remote(config: &Config, name: &str) -> anyhow::Result<()> {
    let remote = open_remote(config, name)?;
    let done = backupd::remote::recover::recover(remote.as_ref(), &config.data_dir)
        .with_context(|| format!("recover from remote {name}"))?;
    println!(
        "recovered the log from remote {name}: {} segment(s), positions 1..={}, head hash {}",
        done.segments,
        done.last,
        backupd::events::hex(&done.head)
    );
    let bytes: u64 = done.downloaded.iter().map(|(_, b)| b).sum();
    println!(
        "downloaded {} object(s), {bytes} bytes, into {}",
        done.downloaded.len(),
        config.data_dir.display()
    );
    for k in &done.keys {
        println!("key file: {k}");
    }
    for s in &done.strays {
        eprintln!("not a log segment, left alone: {s}");
    }
    if !done.missing.is_empty() {
        for m in &done.missing {
            eprintln!("missing on the remote: {m}");
        }
        bail!(
            "{} object(s) the log names are not on remote {name}: the log is recovered, the \
             backups they hold cannot be restored from this remote",
            done.missing.len()
        );
    }
    Ok(())
}

/// `backupd token create|list|revoke`, offline: through the store like every offline writer; a
/// log that `serve` holds gets the API route that does the same.
/// `backupd key …`: offline on the data directory's key files.
fn key(command: KeyCmd) -> anyhow::Result<()> {
    use backupd::keys::{passphrase, KeyParams, Keyring, NEW_PASSPHRASE_ENV};
    let encrypted = |at: &Where| -> anyhow::Result<Config> {
        let config = load_config(at, None)?;
        if config.encryption.is_none() {
            return Err(ConfigFailure(
                "key: the configuration has no [encryption] section: backups are not encrypted"
                    .into(),
            )
            .into());
        }
        Ok(config)
    };
    let new_passphrase = |file: Option<&std::path::Path>| {
        passphrase(file, NEW_PASSPHRASE_ENV).map_err(|e| match e {
            backupd::keys::KeyError::NoPassphrase => ConfigFailure(format!(
                "key: no new passphrase given: set {NEW_PASSPHRASE_ENV} or --new-passphrase-file"
            )),
            e => ConfigFailure(format!("key: new passphrase: {e}")),
        })
    };
    match command {
        KeyCmd::List { at } => {
            let config = encrypted(&at)?;
            for k in Keyring::in_data_dir(&config.data_dir).list()? {
                println!("{}", serde_json::to_string(&k)?);
            }
        }
        KeyCmd::Add {
            new_passphrase_file,
            at,
        } => {
            let mut config = encrypted(&at)?;
            let new = new_passphrase(new_passphrase_file.as_deref())?;
            let u = unlock(&mut config)?.context("encryption is configured")?;
            let id =
                Keyring::in_data_dir(&config.data_dir).add(&u.key, &new, KeyParams::DEFAULT)?;
            println!("added key {id}");
        }
        KeyCmd::Remove { id, at } => {
            let mut config = encrypted(&at)?;
            // Only a holder of a working passphrase (or the key file) may remove one.
            unlock(&mut config)?;
            Keyring::in_data_dir(&config.data_dir).remove(&id)?;
            println!("removed key {id}");
        }
        KeyCmd::Passwd {
            new_passphrase_file,
            at,
        } => {
            let mut config = encrypted(&at)?;
            let new = new_passphrase(new_passphrase_file.as_deref())?;
            let u = unlock(&mut config)?.context("encryption is configured")?;
            let Some(old) = u.key_file_id else {
                bail!("key passwd changes a key file's passphrase; with key_file use `key add`");
            };
            let id = Keyring::in_data_dir(&config.data_dir).passwd(
                &u.key,
                &old,
                &new,
                KeyParams::DEFAULT,
            )?;
            println!("replaced key {old} by {id}");
        }
        KeyCmd::Export { remote, at } => {
            let config = encrypted(&at)?;
            let store = open_remote(&config, &remote)?;
            for k in backupd::remote::recover::export_keys(store.as_ref(), &config.data_dir)? {
                println!("exported {k} to remote {remote}");
            }
        }
        KeyCmd::Import { remote, at } => {
            let config = load_config(&at, None)?;
            let store = open_remote(&config, &remote)?;
            let keys = backupd::remote::recover::import_keys(store.as_ref(), &config.data_dir)?;
            if keys.is_empty() {
                bail!(
                    "remote {remote} holds no key files under keys/ (`key export` puts them there)"
                );
            }
            for k in keys {
                println!("imported {k} from remote {remote}");
            }
        }
    }
    Ok(())
}

fn token(command: TokenCmd) -> anyhow::Result<()> {
    use backupd::auth::{self, token, Scope};
    match command {
        TokenCmd::Create {
            name,
            scopes,
            expires,
            at,
        } => {
            let config = load_config(&at, None)?;
            let scopes = scopes
                .iter()
                .map(|s| {
                    Scope::parse(s).with_context(|| {
                        format!("--scope {s:?} is not read, operate, manage, restore or admin")
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let now = backupd::events::Ts::from(time::OffsetDateTime::now_utc());
            let expires_at = auth::expiry(expires.as_deref(), now)
                .map_err(|why| anyhow::anyhow!("--expires: {why}"))?;
            // A token must not make a lost log look present (`refuse_lost_log`).
            refuse_lost_log(&config)?;
            let body = serde_json::json!({"name": name, "scopes": scopes, "expires": expires});
            let route = format!("POST {}/tokens {body}", api::BASE);
            let store = EventStore::open(&config.events_path()).map_err(held(route))?;
            let (service, _) = Service::open(store, Arc::new(SystemClock), 0)?;
            let secret = token::generate().context("reading random bytes for the token")?;
            let command = Command::CreateToken {
                name: name.clone(),
                scopes: scopes.clone(),
                expires_at,
                hash: secret.hash(),
            };
            smol::block_on(service.execute(command, Meta::actor("cli")))
                .map_err(|e| anyhow::anyhow!("token {name:?} not created: {e}"))?;
            println!("{}", secret.expose());
            let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            eprintln!(
                "token {name:?} created: scopes {}; expires {}. The secret above is shown this \
                 once and stored nowhere: keep it now, and send it as `Authorization: Bearer <token>`",
                names.join(", "),
                expires_at.map_or("never".to_string(), |t| t.to_string())
            );
            Ok(())
        }
        TokenCmd::List { at } => {
            let config = load_config(&at, None)?;
            let route = format!("GET {}/tokens", api::BASE);
            let store = EventStore::open_read_only(&config.events_path()).map_err(held(route))?;
            let (_store, state) = offline_state(store)?;
            let now = backupd::events::Ts::from(time::OffsetDateTime::now_utc());
            let mut out = std::io::stdout().lock();
            for t in state.tokens.by_name.values() {
                match writeln!(out, "{}", api::token_json(t, now)) {
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                    other => other?,
                }
            }
            Ok(())
        }
        TokenCmd::Revoke { name, at } => {
            let config = load_config(&at, None)?;
            let route = format!("DELETE {}/tokens/{name}", api::BASE);
            let store = EventStore::open_existing(&config.events_path()).map_err(held(route))?;
            let (service, _) = Service::open(store, Arc::new(SystemClock), 0)?;
            let command = Command::RevokeToken { name: name.clone() };
            smol::block_on(service.execute(command, Meta::actor("cli")))
                .map_err(|e| anyhow::anyhow!("token {name:?} not revoked: {e}"))?;
            println!("token {name:?} revoked");
            Ok(())
        }
    }
}

/// The API off loopback needs tokens, and TLS (`[server.tls]`): `server.insecure = true` stands
/// for TLS on a trusted network (and is warned about at every start).
fn refuse_open_bind(config: &Config, tokens: bool) -> anyhow::Result<()> {
    if config.insecure && config.tls.is_none() {
        log::warn!(
            "server.insecure = true: the API on {} is plain HTTP, so tokens and data cross the \
             network unencrypted; use it only on a trusted network",
            config.bind
        );
    }
    if config.bind.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    let mut fixes = Vec::new();
    if !tokens {
        fixes.push(format!(
            "no API token exists: create one first, offline, with `backupd token create NAME \
             --scope admin --data-dir {}` (every request will then need one)",
            config.data_dir.display()
        ));
    }
    if !config.insecure && config.tls.is_none() {
        fixes.push(
            "the API would be plain HTTP: configure TLS with `cert` and `key` (PEM files) under \
             [server.tls], or, on a trusted network only, set `insecure = true` under [server]"
                .to_string(),
        );
    }
    if fixes.is_empty() {
        return Ok(());
    }
    Err(ConfigFailure(format!(
        "refusing to serve the API on {}, which is not a loopback address: {}; or bind \
         127.0.0.1 (the default) and put a TLS proxy in front",
        config.bind,
        fixes.join("; and ")
    ))
    .into())
}

/// `backupd log verify`: every record read and checked, read-only.
fn log_verify(config: &Config) -> anyhow::Result<()> {
    let store = EventStore::open_read_only(&config.events_path())?;
    let sum = match store.verify_blocking() {
        Ok(sum) => sum,
        Err(e) => match e.position() {
            Some(p) => bail!("event log damaged at position {p}: {e}"),
            None => bail!("event log unreadable: {e}"),
        },
    };
    println!(
        "event log {}: {} events; every checksum, position and link holds",
        config.events_path().display(),
        sum.events
    );
    println!(
        "  {} chained (schema v4 on{}), {} older events without a chain",
        sum.chained,
        sum.first_chained
            .map(|p| format!(", from position {p}"))
            .unwrap_or_default(),
        sum.events - sum.chained
    );
    println!(
        "  head hash {} (keep it elsewhere: a log cut short or rewritten will not end in it)",
        backupd::events::hex(&sum.head)
    );
    Ok(())
}

/// A data dir with backups but no log lost its history: starting afresh would record a new
/// empty catalog over it. `serve` refuses and says what to do instead.
fn refuse_lost_log(config: &Config) -> anyhow::Result<()> {
    let log = config.events_path();
    let lost = match std::fs::metadata(&log) {
        Ok(m) => m.len() == 0,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    };
    let layout = engine::layout::Layout::new(&config.data_dir);
    let holds = |dir: PathBuf| {
        std::fs::read_dir(dir)
            .map(|mut d| {
                d.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "bka")))
            })
            .unwrap_or(false)
    };
    if lost && (holds(layout.backups_dir()) || holds(layout.archives_dir())) {
        bail!(
            "the event log {} is missing or empty, but {} holds backups: starting would record a \
             new, empty history over them, so backupd refuses. Restore events.redb from a copy \
             (a file backup of the data dir), or rebuild the catalog from the archives with \
             `backupd recover --data-dir {}`; then start again",
            log.display(),
            config.data_dir.display(),
            config.data_dir.display()
        );
    }
    Ok(())
}

/// A log `serve` cannot read is never started afresh: the error says what to do.
fn damaged_log(e: backupd::store::StoreError) -> anyhow::Error {
    match e.kind() {
        backupd::error::ErrorKind::Integrity => anyhow::anyhow!(
            "{e}\nbackupd does not start on a damaged log: `backupd log verify` shows where it \
             is damaged; restore events.redb from a copy (or rebuild the catalog from the \
             archives with `backupd recover --force`, which moves the damaged log aside)"
        ),
        _ => e.into(),
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(config.logs_dir())
        .with_context(|| format!("creating {}", config.logs_dir().display()))?;
    let _logger = backupd::logging::start(&config)?;
    log::info!(
        "backupd {} starting: data dir {}, zone {}",
        env!("CARGO_PKG_VERSION"),
        config.data_dir.display(),
        config.timezone
    );
    if config.encryption.is_some() {
        // Never the key or the passphrase: only that there is one.
        log::info!("encryption at rest: the master key is unlocked; new archives are sealed");
    }
    // Registered before anything says it is up: a SIGTERM that arrives after "booted" (or
    // "listening on") must stop the service in order, not kill it with the default action.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])?;
    // A bad certificate or key stops the start here, with the file and the reason.
    let tls = match &config.tls {
        Some(files) => Some(Arc::new(api::tls::Tls::load(files).map_err(ConfigFailure)?)),
        None => None,
    };
    for db in &config.databases {
        if engine::dump::url_has_password(db) {
            log::warn!(
                "database source {:?}: its url holds a password, so the configuration file is a \
                 secret too; give it with password_env or password_file instead",
                db.name
            );
        }
    }
    refuse_lost_log(&config)?;
    let started = Instant::now();
    let store = EventStore::open(&config.events_path()).map_err(damaged_log)?;
    let (service, boot) =
        Service::open(store, Arc::new(SystemClock), config.snapshot_every).map_err(damaged_log)?;
    log::info!(
        "replayed the log: position {}, snapshot {:?}, {} events folded in {} ms{}",
        boot.position,
        boot.snapshot_position,
        boot.replayed,
        started.elapsed().as_millis(),
        boot.snapshot_unused
            .map(|why| format!(" (snapshot dropped: {why})"))
            .unwrap_or_default()
    );
    let now = backupd::events::Ts::from(time::OffsetDateTime::now_utc());
    refuse_open_bind(&config, service.read(|s| s.tokens.any_live(now)))?;
    // Bound before anything is recorded: a serve that cannot listen leaves the log as it was.
    let progress = Progress::default();
    // One shared copy for the engine and the API.
    let shared = Arc::new(config.clone());
    let api = api::bind(
        api::ApiContext::new(
            service.clone(),
            progress.clone(),
            config.timezone,
            shared.clone(),
        ),
        config.bind,
    )
    .with_context(|| format!("binding the API to {}", config.bind))?
    .with_tls(tls.clone());
    let booted = smol::block_on(service.execute(
        Command::Boot {
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            presets: presets(),
            retention: config.retention,
            autostart: config.autostart,
        },
        Meta::actor("system"),
    ))?;
    let (jobs, backups) = service.read(|s| (s.schedule.jobs.len(), s.catalog.backups.len()));
    log::info!(
        "booted at position {} ({} events recorded at boot): {jobs} jobs, {backups} backups",
        service.position(),
        booted.len()
    );
    // Before any run starts: partial files of interrupted runs go, unexpected files are reported.
    match service.read(|s| engine::reconcile(&config, s)) {
        Ok(report) if report.is_clean() => {}
        Ok(report) => log::warn!(
            "data dir reconciled: removed {:?}; archives no event names {:?}; recorded archives missing {:?}",
            report.removed,
            report.unrecorded,
            report.missing
        ),
        Err(e) => log::error!("data dir not reconciled: {e}"),
    }
    // Follows the log from here on (before the scheduler can start a run, so no outcome is
    // missed): a run only appends its outcome; delivery is the notifier's.
    let notifier = backupd::notify::start(
        service.clone(),
        config.notify.clone(),
        format!("http://{}", api.local_addr()),
        config.data_dir.clone(),
    );
    // Off-site copies: uploads what is recorded and not yet on each remote, from its own threads.
    let replicator = backupd::remote::queue::start(
        service.clone(),
        config.remotes.clone(),
        config.data_dir.clone(),
    );
    // The log goes to every remote after each run and once more at shutdown (dropped below,
    // after the scheduler stopped: the last runs' outcomes are in that shipment).
    let mut shipping = Vec::new();
    for r in &config.remotes {
        match backupd::remote::open(r) {
            Ok(store) => shipping.push(Arc::from(store)),
            Err(e) => log::error!(
                "remote {}: not opened, the log is not shipped there: {e}",
                r.name
            ),
        }
    }
    let log_shipper = backupd::remote::logship::start(service.clone(), shipping);
    let (stop_scheduler, stop_rx) = smol::channel::bounded::<()>(1);
    let scheduler = smol::spawn(
        Scheduler::new(
            service.clone(),
            config.timezone,
            Arc::new(engine::Engine::new(shared.clone(), service.clone())),
            progress.clone(),
        )
        .with_config(shared.clone())
        .run(stop_rx, Duration::from_secs(30)),
    );
    // The real address (with `--bind 127.0.0.1:0` the port is chosen here); tests read this line.
    log::info!(
        "listening on {}://{} (API under {})",
        if tls.is_some() { "https" } else { "http" },
        api.local_addr(),
        api::BASE
    );

    // signal-hook's iterator blocks, so it waits on a thread and forwards into the async world.
    let (signal_tx, signal_rx) = smol::channel::bounded::<i32>(1);
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal == signal_hook::consts::SIGHUP {
                // SIGHUP reloads the certificate; it never stops the service.
                match &tls {
                    Some(tls) => match tls.reload() {
                        Ok(()) => log::info!("SIGHUP: TLS certificate and key reloaded"),
                        Err(e) => log::error!(
                            "SIGHUP: TLS certificate not reloaded, the one in service stays: {e}"
                        ),
                    },
                    None => log::info!("SIGHUP: no [server.tls] configured, nothing to reload"),
                }
                continue;
            }
            let _ = signal_tx.send_blocking(signal);
            break;
        }
    });
    smol::block_on(async {
        let serving = async { api.run().await.map(|()| None) };
        let signalled = async { Ok(signal_rx.recv().await.ok()) };
        // Dropping the server future closes the listener: no new connections from here on.
        match serving.or(signalled).await {
            Ok(Some(signal)) => log::info!("signal {signal}: stopping"),
            Ok(None) => log::warn!("the API stopped accepting; stopping"),
            Err(e) => log::error!("the API failed: {e}; stopping"),
        }
        let _ = stop_scheduler.send(()).await;
        scheduler.await;
    });
    drop(log_shipper);
    drop(notifier);
    drop(replicator);
    drop(service);
    log::info!("stopped");
    Ok(())
}

fn parse_overwrite(s: &str) -> Result<backupd::events::Overwrite, String> {
    backupd::events::Overwrite::named(s)
        .ok_or_else(|| format!("{s:?} is not one of always, if-changed, if-newer, never"))
}

/// `backupd restore ID --in-place`: the offline twin of `POST …/restore {"in_place": true}`
/// (the log is read, not written: restore runs are recorded by the service).
fn restore_in_place(
    config: &Config,
    backup_id: &str,
    paths: &[String],
    overwrite: backupd::events::Overwrite,
    skip_damaged: bool,
    dry_run: bool,
) -> anyhow::Result<()> {
    let body =
        serde_json::json!({"in_place": true, "paths": paths, "overwrite": overwrite.as_str()});
    let route = format!("POST {}/backups/{backup_id}/restore {body}", api::BASE);
    let store = EventStore::open_read_only(&config.events_path()).map_err(held(route))?;
    let (_store, state) = offline_state(store)?;
    if dry_run {
        let plan = engine::plan_in_place(config, &state, backup_id, paths, overwrite)?;
        for e in &plan.entries {
            match &e.reason {
                Some(why) => println!("would {} {} {} ({why})", e.action, e.kind, e.path),
                None => println!(
                    "would {} {} {} ({} bytes)",
                    e.action, e.kind, e.path, e.size
                ),
            }
        }
        println!(
            "dry run of backup {} in place (overwrite {}): would write {} files, {} dirs, {} symlinks, {} bytes; {} kept",
            plan.backup_id,
            overwrite.as_str(),
            plan.files,
            plan.dirs,
            plan.symlinks,
            plan.bytes,
            plan.kept
        );
        return Ok(());
    }
    let opts = engine::InPlaceOptions {
        overwrite,
        skip_damaged,
    };
    let sum = engine::restore_in_place(config, &state, backup_id, paths, &opts, None)?;
    println!(
        "restored backup {} in place (overwrite {}): {} files, {} dirs, {} symlinks, {} bytes; {} created, {} replaced, {} unchanged, {} kept",
        sum.backup_id,
        overwrite.as_str(),
        sum.files,
        sum.dirs,
        sum.symlinks,
        sum.bytes,
        sum.created,
        sum.replaced,
        sum.unchanged,
        sum.kept.len()
    );
    for k in &sum.kept {
        println!("kept {}: {}", k.path, k.reason);
    }
    for lost in &sum.damaged {
        eprintln!("damaged, not restored: {}: {}", lost.path, lost.reason);
    }
    if !sum.complete {
        return Err(Incomplete(sum.damaged.len()).into());
    }
    Ok(())
}
