//! The TOML configuration: every key, its default, and validation that names the key at fault.
//!
//! Parsing is two steps: serde reads the raw shape (unknown keys are refused there, by name), then
//! `validate` turns strings into typed values and reports the dotted key of a bad value.

pub mod notify;
pub mod remotes;
mod sources;
pub use sources::SourceInfo;

use crate::domain::health::Thresholds;
use crate::domain::{duration, job::level_range};
use crate::events::RetentionPolicy;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

// ---- the raw shape: what the file may say ----

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Raw {
    server: RawServer,
    storage: RawStorage,
    scheduler: RawScheduler,
    sources: RawSources,
    retention: RawRetention,
    compression: RawCompression,
    logging: RawLogging,
    health: RawHealth,
    restore: RawRestore,
    notify: Vec<notify::RawChannel>,
    encryption: Option<RawEncryption>,
    repository: RawRepository,
    remotes: Vec<remotes::RawRemote>,
}

/// `[repository]`: the deduplicated repository (schema/repository.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRepository {
    enabled: Option<bool>,
    /// Prune repacks a pack whose live share of bytes is below this (0 = never repack).
    repack_below: Option<f64>,
}

/// `[repository]` as validated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Repository {
    /// Backups of files and dumps go into the deduplicated repository as snapshots instead of
    /// archives. Off by default for now; existing archives stay readable either way.
    pub enabled: bool,
    /// Prune copies the live chunks of a pack whose live share of bytes is below this into a
    /// new pack (default 0.5; 0 = never repack).
    pub repack_below: f64,
}

/// `[encryption]`: present = backups are sealed. The passphrase comes from `passphrase_file`,
/// else from the environment (`BACKUPD_PASSPHRASE`); `key_file` holds the master key itself.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawEncryption {
    passphrase_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
}

/// `[restore]`: what a restore may do beyond writing into a directory of its own.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRestore {
    in_place: Option<bool>,
    allowed_targets: Option<Vec<PathBuf>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    bind: Option<String>,
    insecure: Option<bool>,
    metrics_anonymous: Option<bool>,
    tls: Option<TlsFiles>,
}

/// `[server.tls]`: the API's certificate chain and private key, PEM files (re-read on SIGHUP).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStorage {
    data_dir: Option<PathBuf>,
    snapshot_every: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawScheduler {
    timezone: Option<String>,
    autostart: Option<bool>,
    misfire_grace_time: Option<u64>,
    run_timeout: Option<u64>,
    max_concurrent_runs: Option<u64>,
    defer_while_load_above: Option<f64>,
    max_defer: Option<String>,
    nice: Option<i32>,
    ioprio_idle: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSources {
    files: Vec<FilesSource>,
    config: Vec<ConfigSource>,
    database: Vec<DatabaseSource>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRetention {
    full: Option<String>,
    incremental: Option<String>,
    archive: Option<String>,
    report: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCompression {
    default: Option<String>,
    level: Option<i32>,
    archive: Option<String>,
    archive_level: Option<i32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawHealth {
    full_age_warning: Option<String>,
    full_age_critical: Option<String>,
    failures_warning: Option<usize>,
    failures_critical: Option<usize>,
    disk_warning_percent: Option<u64>,
    disk_critical_percent: Option<u64>,
    days_until_full_warning: Option<f64>,
    days_until_full_critical: Option<f64>,
    unrecorded_grace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLogging {
    level: Option<String>,
    max_bytes: Option<u64>,
    keep_files: Option<usize>,
}

// ---- the validated configuration ----

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesSource {
    /// Unique among all sources; defaults to the path's last component (`config/sources.rs`).
    #[serde(default)]
    pub name: String,
    pub path: PathBuf,
    #[serde(default)]
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSource {
    /// Unique among all sources; defaults to the path's last component.
    #[serde(default)]
    pub name: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    Sqlite,
    Postgresql,
    Mysql,
    Command,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSource {
    pub name: String,
    pub kind: DatabaseKind,
    pub url: Option<String>,
    pub path: Option<PathBuf>,
    pub command: Option<Vec<String>>,
    /// The password, from this environment variable (PostgreSQL and MariaDB/MySQL sources).
    #[serde(default)]
    pub password_env: Option<String>,
    /// The password, from this file's first line (PostgreSQL and MariaDB/MySQL sources).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// When due runs wait for a quiet machine (`[scheduler] defer_while_load_above`, `max_defer`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeferRule {
    /// The 1-minute load average per core above which a due run waits.
    pub threshold: f64,
    /// A run waits at most this long, then starts however busy the machine is.
    pub max_defer_secs: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub bind: SocketAddr,
    /// `server.insecure`: serve a non-loopback address without TLS (a trusted network); tokens
    /// are still required there, and every start logs a warning.
    pub insecure: bool,
    /// `server.metrics_anonymous`: `/metrics` answers scrapers without a token.
    pub metrics_anonymous: bool,
    /// `[server.tls]`: serve the API over TLS with these PEM files.
    pub tls: Option<TlsFiles>,
    pub data_dir: PathBuf,
    /// Write a projection snapshot every this many events (0 = never).
    pub snapshot_every: u64,
    pub timezone: chrono_tz::Tz,
    pub autostart: bool,
    /// Default misfire grace for jobs that do not set one; `None` = always catch up.
    pub misfire_grace_secs: Option<u64>,
    /// A backup run still going after this long is cancelled; `None` (configured as 0) = never.
    /// Read through `scheduler::run_timeout`.
    pub run_timeout_secs: Option<u64>,
    /// Runs going at once; due runs beyond it wait in a queue.
    pub max_concurrent_runs: usize,
    /// `scheduler.defer_while_load_above` / `max_defer`: due runs wait for a quiet machine.
    pub defer: Option<DeferRule>,
    /// `scheduler.nice` (0..=19): the CPU niceness of runs; `None` = unchanged.
    pub nice: Option<i32>,
    /// `scheduler.ioprio_idle`: runs do their I/O in the idle class.
    pub ioprio_idle: bool,
    pub files: Vec<FilesSource>,
    pub config_paths: Vec<ConfigSource>,
    pub databases: Vec<DatabaseSource>,
    pub retention: RetentionPolicy,
    pub codec: String,
    pub level: i32,
    pub archive_codec: String,
    pub archive_level: i32,
    pub log_level: String,
    pub log_max_bytes: u64,
    pub log_keep_files: usize,
    /// Where each health check turns from ok to warning to critical (`[health]`).
    pub health: Thresholds,
    /// `[restore] in_place`: may a restore write back to the sources' original paths? Off by
    /// default: it replaces live files, so an operator turns it on knowingly.
    pub restore_in_place: bool,
    /// `[restore] allowed_targets` as configured; `None`: the default, `<data_dir>/restores`
    /// (of the data dir in force, `--data-dir` included). Read through `allowed_targets`.
    pub restore_allowed_targets: Option<Vec<PathBuf>>,
    /// `[[notify]]`: the notification channels.
    pub notify: Vec<notify::Channel>,
    /// `[encryption]`: `Some` when archives are sealed (see `Encryption`).
    pub encryption: Option<Encryption>,
    /// `[repository]`.
    pub repository: Repository,
    /// `[[remotes]]`: where backups are copied off-site.
    pub remotes: Vec<remotes::RemoteConfig>,
    /// The environment variables `[[notify]]` and `[[remotes]]` read their secrets from (the
    /// values are resolved at load): withheld from hooks and tools like the databases' own.
    pub secret_envs: Vec<String>,
}

/// Where the master key comes from, and the key once unlocked.
#[derive(Debug, Clone, PartialEq)]
pub struct Encryption {
    /// A file holding the passphrase (one trailing newline ignored); `None`: the
    /// `BACKUPD_PASSPHRASE` environment variable.
    pub passphrase_file: Option<PathBuf>,
    /// A file holding the master key itself as 64 hex digits, instead of a passphrase.
    pub key_file: Option<PathBuf>,
    /// The unlocked master key: never read from the config file, set once at start (`serve`,
    /// or an offline command) after unlocking. Archives are written and read with it.
    pub key: Option<crate::keys::MasterKey>,
}

pub const DEFAULT_BIND: &str = "127.0.0.1:8720";
pub const DEFAULT_DATA_DIR: &str = "./backupd-data";
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 10_000;
/// Six hours: far beyond a healthy nightly backup, short enough that a hung dump does not hold
/// its job (and a place among the concurrent runs) for days.
pub const DEFAULT_RUN_TIMEOUT_SECS: u64 = 6 * 3600;
pub const DEFAULT_MAX_CONCURRENT_RUNS: u64 = 2;

impl Default for Config {
    fn default() -> Self {
        // The empty file is the embedded default; validation of it cannot fail.
        Config::from_raw(Raw::default()).expect("the built-in defaults are valid")
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })
    }

    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw: Raw = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<text>"),
            message: e.to_string(),
        })?;
        Config::from_raw(raw)
    }

    fn from_raw(mut raw: Raw) -> Result<Config, ConfigError> {
        sources::name_sources(
            &mut raw.sources.files,
            &mut raw.sources.config,
            &raw.sources.database,
        )?;
        let bind = raw.server.bind.as_deref().unwrap_or(DEFAULT_BIND);
        let bind: SocketAddr = bind.parse().map_err(|_| {
            invalid(
                "server.bind",
                format!("{bind:?} is not an address like 127.0.0.1:8720"),
            )
        })?;

        let data_dir = raw
            .storage
            .data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        if data_dir.as_os_str().is_empty() {
            return Err(invalid("storage.data_dir", "must not be empty"));
        }

        let timezone = match raw.scheduler.timezone {
            Some(name) => name.parse::<chrono_tz::Tz>().map_err(|_| {
                invalid(
                    "scheduler.timezone",
                    format!("{name:?} is not an IANA time zone name"),
                )
            })?,
            None => system_timezone(),
        };

        let dur = |key: &str, value: Option<String>, default: &str| {
            duration::parse(value.as_deref().unwrap_or(default)).map_err(|r| invalid(key, r))
        };
        let retention = RetentionPolicy {
            full_secs: dur("retention.full", raw.retention.full, "30d")?,
            incremental_secs: dur("retention.incremental", raw.retention.incremental, "7d")?,
            archive_secs: dur("retention.archive", raw.retention.archive, "forever")?,
            report_secs: dur("retention.report", raw.retention.report, "90d")?,
        };

        let codec = |key: &str, value: Option<String>, default: &str| {
            let c = value.unwrap_or_else(|| default.to_string());
            if crate::domain::job::CODECS.contains(&c.as_str()) {
                Ok(c)
            } else {
                Err(invalid(
                    key,
                    format!("{c:?} is not one of zstd, xz, gzip, none"),
                ))
            }
        };
        let level = |key: &str, codec: &str, value: Option<i32>, default: i32| {
            let l = value.unwrap_or(default);
            let (lo, hi) = level_range(codec);
            if l < lo || l > hi {
                Err(invalid(
                    key,
                    format!("{l} is outside {lo}..={hi} for {codec}"),
                ))
            } else {
                Ok(l)
            }
        };
        let c = codec("compression.default", raw.compression.default, "zstd")?;
        let default_level = if c == "none" {
            0
        } else if c == "zstd" {
            3
        } else {
            6
        };
        let l = level(
            "compression.level",
            &c,
            raw.compression.level,
            default_level,
        )?;
        let ac = codec("compression.archive", raw.compression.archive, "xz")?;
        let default_archive_level = if ac == "none" { 0 } else { 9 };
        let al = level(
            "compression.archive_level",
            &ac,
            raw.compression.archive_level,
            default_archive_level,
        )?;

        for (i, db) in raw.sources.database.iter().enumerate() {
            let key = |k: &str| format!("sources.database[{i}].{k}");
            let needs = match db.kind {
                DatabaseKind::Sqlite => ("path", db.path.is_some()),
                DatabaseKind::Postgresql | DatabaseKind::Mysql => ("url", db.url.is_some()),
                DatabaseKind::Command => (
                    "command",
                    db.command.as_ref().is_some_and(|c| !c.is_empty()),
                ),
            };
            if !needs.1 {
                return Err(invalid(
                    &key(needs.0),
                    format!("a {:?} source needs `{}`", db.kind, needs.0),
                ));
            }
            if db.name.trim().is_empty() {
                return Err(invalid(&key("name"), "must not be empty"));
            }
            let server = matches!(db.kind, DatabaseKind::Postgresql | DatabaseKind::Mysql);
            if db.password_env.is_some() && db.password_file.is_some() {
                return Err(invalid(
                    &key("password_file"),
                    "password_env and password_file exclude each other: give one",
                ));
            }
            if !server && (db.password_env.is_some() || db.password_file.is_some()) {
                return Err(invalid(
                    &key(if db.password_env.is_some() {
                        "password_env"
                    } else {
                        "password_file"
                    }),
                    "only postgresql and mysql sources take a password",
                ));
            }
            if db
                .password_env
                .as_ref()
                .is_some_and(|v| v.is_empty() || v.contains(['=', '\0']))
            {
                return Err(invalid(
                    &key("password_env"),
                    "must be an environment variable name",
                ));
            }
        }

        let health = health_thresholds(raw.health)?;

        let encryption = match raw.encryption {
            None => None,
            Some(e) => {
                if e.passphrase_file.is_some() && e.key_file.is_some() {
                    return Err(invalid(
                        "encryption.key_file",
                        "set either passphrase_file or key_file, not both",
                    ));
                }
                Some(Encryption {
                    passphrase_file: e.passphrase_file,
                    key_file: e.key_file,
                    key: None,
                })
            }
        };

        let max_concurrent_runs = raw
            .scheduler
            .max_concurrent_runs
            .unwrap_or(DEFAULT_MAX_CONCURRENT_RUNS);
        if !(1..=1024).contains(&max_concurrent_runs) {
            return Err(invalid(
                "scheduler.max_concurrent_runs",
                format!("{max_concurrent_runs} is outside 1..=1024"),
            ));
        }
        // Checked even while deferring is off, so a typo shows before it is switched on.
        let max_defer = match raw.scheduler.max_defer.as_deref() {
            None => 3600,
            Some(text) => duration::parse(text)
                .map_err(|r| invalid("scheduler.max_defer", r))?
                .ok_or_else(|| {
                    invalid("scheduler.max_defer", "must be a duration, not `forever`")
                })?,
        };
        let defer = match raw.scheduler.defer_while_load_above {
            None => None,
            Some(t) if !(t.is_finite() && t > 0.0) => {
                return Err(invalid(
                    "scheduler.defer_while_load_above",
                    format!("{t} is not a positive load per core"),
                ))
            }
            Some(threshold) => Some(DeferRule {
                threshold,
                max_defer_secs: max_defer,
            }),
        };
        if let Some(n) = raw.scheduler.nice {
            if !(0..=19).contains(&n) {
                return Err(invalid("scheduler.nice", format!("{n} is outside 0..=19")));
            }
        }
        let run_timeout_secs = match raw
            .scheduler
            .run_timeout
            .unwrap_or(DEFAULT_RUN_TIMEOUT_SECS)
        {
            0 => None,
            secs => Some(secs),
        };

        if let Some(tls) = &raw.server.tls {
            for (k, p) in [("server.tls.cert", &tls.cert), ("server.tls.key", &tls.key)] {
                if p.as_os_str().is_empty() {
                    return Err(invalid(k, "must name a PEM file"));
                }
            }
        }
        let restore_allowed_targets = match raw.restore.allowed_targets {
            None => None,
            Some(roots) => {
                for (i, r) in roots.iter().enumerate() {
                    if crate::engine::check_target(r).is_err() {
                        return Err(invalid(
                            &format!("restore.allowed_targets[{i}]"),
                            format!(
                                "{:?} is not an absolute path without `.` or `..`",
                                r.display()
                            ),
                        ));
                    }
                }
                Some(roots)
            }
        };

        let log_level = raw.logging.level.unwrap_or_else(|| "info".into());
        if !["error", "warn", "info", "debug", "trace"].contains(&log_level.as_str()) {
            return Err(invalid(
                "logging.level",
                format!("{log_level:?} is not one of error, warn, info, debug, trace"),
            ));
        }

        let repack_below = raw
            .repository
            .repack_below
            .unwrap_or(crate::decide::prune::DEFAULT_REPACK_BELOW);
        if !(0.0..=1.0).contains(&repack_below) {
            return Err(invalid(
                "repository.repack_below",
                format!("{repack_below} is not a share between 0 and 1"),
            ));
        }

        Ok(Config {
            bind,
            insecure: raw.server.insecure.unwrap_or(false),
            metrics_anonymous: raw.server.metrics_anonymous.unwrap_or(false),
            tls: raw.server.tls,
            data_dir,
            snapshot_every: raw.storage.snapshot_every.unwrap_or(DEFAULT_SNAPSHOT_EVERY),
            timezone,
            autostart: raw.scheduler.autostart.unwrap_or(true),
            misfire_grace_secs: Some(raw.scheduler.misfire_grace_time.unwrap_or(3600)),
            run_timeout_secs,
            max_concurrent_runs: max_concurrent_runs as usize,
            defer,
            nice: raw.scheduler.nice.filter(|n| *n > 0),
            ioprio_idle: raw.scheduler.ioprio_idle.unwrap_or(false),
            files: raw.sources.files,
            config_paths: raw.sources.config,
            databases: raw.sources.database,
            retention,
            codec: c,
            level: l,
            archive_codec: ac,
            archive_level: al,
            log_level,
            log_max_bytes: raw.logging.max_bytes.unwrap_or(10 << 20),
            log_keep_files: raw.logging.keep_files.unwrap_or(5),
            health,
            restore_in_place: raw.restore.in_place.unwrap_or(false),
            restore_allowed_targets,
            secret_envs: raw
                .notify
                .iter()
                .flat_map(|n| [&n.password_env, &n.secret_env])
                .chain(
                    raw.remotes
                        .iter()
                        .flat_map(|r| [&r.access_key_id_env, &r.secret_access_key_env]),
                )
                .flatten()
                .cloned()
                .collect(),
            notify: notify::channels(raw.notify)?,
            encryption,
            repository: Repository {
                enabled: raw.repository.enabled.unwrap_or(false),
                repack_below,
            },
            remotes: remotes::remotes(raw.remotes)?,
        })
    }

    /// The unlocked master key, when archives are sealed.
    pub fn master_key(&self) -> Option<&crate::keys::MasterKey> {
        self.encryption.as_ref().and_then(|e| e.key.as_ref())
    }

    pub fn events_path(&self) -> PathBuf {
        self.data_dir.join("events.redb")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.data_dir.join("logs")
    }

    /// The directories a restore through the API may write into (`engine::targets`).
    pub fn allowed_targets(&self) -> Vec<PathBuf> {
        match &self.restore_allowed_targets {
            Some(roots) => roots.clone(),
            None => vec![self.data_dir.join("restores")],
        }
    }
}

/// `[health]`: each warning must come before its critical, or a check could never warn.
fn health_thresholds(raw: RawHealth) -> Result<Thresholds, ConfigError> {
    let d = Thresholds::default();
    let age = |key: &str, value: Option<String>, default: i64| match value {
        None => Ok(default),
        Some(text) => match duration::parse(&text).map_err(|r| invalid(key, r))? {
            Some(secs) => i64::try_from(secs).map_err(|_| invalid(key, "too long")),
            None => Err(invalid(key, "must be a duration, not \"forever\"")),
        },
    };
    let t = Thresholds {
        full_age_warning_secs: age(
            "health.full_age_warning",
            raw.full_age_warning,
            d.full_age_warning_secs,
        )?,
        full_age_critical_secs: age(
            "health.full_age_critical",
            raw.full_age_critical,
            d.full_age_critical_secs,
        )?,
        failures_warning: raw.failures_warning.unwrap_or(d.failures_warning),
        failures_critical: raw.failures_critical.unwrap_or(d.failures_critical),
        disk_used_warning_pct: raw.disk_warning_percent.unwrap_or(d.disk_used_warning_pct),
        disk_used_critical_pct: raw
            .disk_critical_percent
            .unwrap_or(d.disk_used_critical_pct),
        days_until_full_warning: raw
            .days_until_full_warning
            .unwrap_or(d.days_until_full_warning),
        days_until_full_critical: raw
            .days_until_full_critical
            .unwrap_or(d.days_until_full_critical),
        growth_window_days: d.growth_window_days,
        unrecorded_grace_secs: age(
            "health.unrecorded_grace",
            raw.unrecorded_grace,
            d.unrecorded_grace_secs,
        )?,
    };
    let order = |key: &str, ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(invalid(key, what.to_string()))
        }
    };
    order(
        "health.full_age_critical",
        t.full_age_warning_secs <= t.full_age_critical_secs,
        "must not be shorter than health.full_age_warning",
    )?;
    order(
        "health.failures_warning",
        t.failures_warning >= 1,
        "must be at least 1 (0 would warn always)",
    )?;
    order(
        "health.failures_critical",
        t.failures_warning <= t.failures_critical,
        "must not be below health.failures_warning",
    )?;
    order(
        "health.disk_critical_percent",
        t.disk_used_critical_pct <= 100,
        "is a percentage: at most 100",
    )?;
    order(
        "health.disk_critical_percent",
        t.disk_used_warning_pct <= t.disk_used_critical_pct,
        "must not be below health.disk_warning_percent",
    )?;
    let finite = |v: f64| v.is_finite() && v >= 0.0;
    order(
        "health.days_until_full_warning",
        finite(t.days_until_full_warning),
        "must be a number of days, 0 or more",
    )?;
    order(
        "health.days_until_full_critical",
        finite(t.days_until_full_critical)
            && t.days_until_full_critical <= t.days_until_full_warning,
        "must be a number of days, 0 or more, not above health.days_until_full_warning",
    )?;
    Ok(t)
}

/// The system's zone: `$TZ`, else /etc/timezone, else the /etc/localtime link, else UTC.
fn system_timezone() -> chrono_tz::Tz {
    let from_env = std::env::var("TZ").ok();
    let from_file = || std::fs::read_to_string("/etc/timezone").ok();
    let from_link = || {
        std::fs::read_link("/etc/localtime").ok().and_then(|p| {
            let s = p.to_string_lossy().into_owned();
            s.split_once("zoneinfo/").map(|(_, z)| z.to_string())
        })
    };
    [from_env, from_file(), from_link()]
        .into_iter()
        .flatten()
        .find_map(|name| name.trim().trim_start_matches(':').parse().ok())
        .unwrap_or(chrono_tz::UTC)
}

#[cfg(test)]
mod tests;
