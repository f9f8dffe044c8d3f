//! Database dumps: run the dump tool, stream its stdout into the archive, and fail the run on a
//! non-zero exit (with the tail of its stderr) — a failed dump never becomes an empty backup.
//!
//! Credentials never reach argv (visible in `ps`) or messages: PostgreSQL gets them through
//! `PG*` environment variables, MariaDB/MySQL through an owner-only defaults file in the run's
//! scratch directory. Errors name the source by its `name`, never by its URL.
//!
//! Archive names: `databases/<name>.postgresql.sql` (`pg_dump`, plain SQL),
//! `databases/<name>.mysql.sql` (`mariadb-dump`/`mysqldump`), `databases/<name>.sqlite` (a
//! complete SQLite database file, snapshotted with the online backup API of the SQLite built
//! into the binary, so no tool is needed: `dump/sqlite.rs`) and
//! `databases/<name>.dump` (a `command` source's stdout).
//!
//! Every tool runs in a process group of its own, registered with the run's stop switch: a
//! cancel, a timeout or the shutdown kills the group — the tool and all it spawned — so nothing
//! is left running behind a run that ended.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;

use super::EngineError;
use crate::archive::ArchiveError;
use crate::config::{DatabaseKind, DatabaseSource};
use crate::error::ErrorKind;
use crate::progress::Cancel;

pub mod child_env;
mod sqlite;

/// How much of a failed tool's stderr the error keeps.
pub(super) const STDERR_TAIL: usize = 2048;

/// The file-name extension of a dump of this kind.
pub fn extension(kind: DatabaseKind) -> &'static str {
    match kind {
        DatabaseKind::Postgresql => "postgresql.sql",
        DatabaseKind::Mysql => "mysql.sql",
        DatabaseKind::Sqlite => "sqlite",
        DatabaseKind::Command => "dump",
    }
}

/// The dump's archive path; the name must be one plain path component.
pub fn archive_name(src: &DatabaseSource) -> Result<String, EngineError> {
    let n = &src.name;
    if n.is_empty() || n == "." || n == ".." || n.contains(['/', '\0']) {
        return Err(dump_err(
            src,
            "the name must be one plain file name (no '/', not '.' or '..')",
        ));
    }
    Ok(format!("databases/{n}.{}", extension(src.kind)))
}

/// The source as configured cannot be dumped (its kind is `Config`).
pub(super) fn dump_err(src: &DatabaseSource, reason: impl Into<String>) -> EngineError {
    EngineError::Dump {
        name: src.name.clone(),
        reason: reason.into(),
    }
}

/// Dumping failed while it ran: `what` was being done when `e` happened.
pub(super) fn io_failed(src: &DatabaseSource, what: &str, e: io::Error) -> EngineError {
    EngineError::DumpFailed {
        name: src.name.clone(),
        reason: format!("{what}: {e}"),
        kind: ErrorKind::of_io(&e),
    }
}

/// The tool ran and failed: its message says which kind of failure (`ErrorKind::of_tool`).
fn tool_failed(src: &DatabaseSource, tool: &str, status: ExitStatus, stderr: &[u8]) -> EngineError {
    let message = tail(stderr);
    EngineError::DumpFailed {
        name: src.name.clone(),
        kind: ErrorKind::of_tool(status.code().is_none(), &message),
        reason: format!("{tool} {}: {message}", exit_text(status)),
    }
}

/// Takes the dump of `src` and hands its bytes to `sink` as they come (no whole dump in memory).
/// `scratch` is an empty directory of this run, removed by the caller. Stopping `cancel` kills
/// the dump tool's process group.
pub fn dump(
    src: &DatabaseSource,
    scratch: &Path,
    cancel: &Cancel,
    sink: &mut dyn FnMut(&mut dyn Read) -> Result<(), ArchiveError>,
) -> Result<(), EngineError> {
    match src.kind {
        DatabaseKind::Sqlite => sqlite::dump(src, scratch, sink),
        DatabaseKind::Postgresql => {
            let url = DbUrl::of(src)?;
            if !matches!(url.scheme.as_str(), "postgresql" | "postgres") {
                return Err(dump_err(src, "the URL must start with postgresql://"));
            }
            piped(src, "pg_dump", pg_dump_command(src, &url)?, cancel, sink)
        }
        DatabaseKind::Mysql => {
            let url = DbUrl::of(src)?;
            if !matches!(url.scheme.as_str(), "mysql" | "mariadb") {
                return Err(dump_err(src, "the URL must start with mysql://"));
            }
            let Some(db) = url.database.clone() else {
                return Err(dump_err(src, "the URL names no database"));
            };
            let defaults = scratch.join(format!("{}.cnf", src.name));
            write_private(&defaults, url.my_defaults(src)?.as_bytes())
                .map_err(|e| io_failed(src, "writing the client defaults file", e))?;
            let mut last = None;
            for tool in ["mariadb-dump", "mysqldump"] {
                match piped(
                    src,
                    tool,
                    my_dump_command(tool, &defaults, &db),
                    cancel,
                    sink,
                ) {
                    Err(EngineError::ToolMissing { .. }) => last = Some(tool),
                    other => return other,
                }
            }
            Err(EngineError::ToolMissing {
                name: src.name.clone(),
                tool: last.unwrap_or("mysqldump").into(),
            })
        }
        DatabaseKind::Command => {
            let argv = src.command.as_deref().unwrap_or_default();
            let Some((program, args)) = argv.split_first() else {
                return Err(dump_err(src, "the command is empty"));
            };
            let mut cmd = tool(program);
            cmd.args(args);
            piped(src, program, cmd, cancel, sink)
        }
    }
}

/// `pg_dump` in plain SQL; every connection parameter, the password included, in `PG*` variables.
/// `--clean --if-exists`: the dump drops each object before creating it, so it loads over an
/// existing schema (a second restore into the same database) as well as into an empty one.
fn pg_dump_command(src: &DatabaseSource, url: &DbUrl) -> Result<Command, EngineError> {
    let mut cmd = tool("pg_dump");
    cmd.args(["--no-password", "--clean", "--if-exists"]);
    for (k, v) in url.pg_env(src)? {
        cmd.env(k, v);
    }
    Ok(cmd)
}

/// `mariadb-dump`/`mysqldump` in one consistent transaction; the connection (password
/// included) comes from the owner-only defaults file. `--add-drop-table` (`DROP TABLE IF
/// EXISTS` before each `CREATE TABLE`) is the tools' default through `--opt`, named anyway: a
/// load over an existing schema depends on it.
fn my_dump_command(program: &str, defaults: &Path, db: &str) -> Command {
    let mut cmd = tool(program);
    // --defaults-extra-file must come first.
    cmd.arg(format!("--defaults-extra-file={}", defaults.display()))
        .args([
            "--single-transaction",
            "--quick",
            "--routines",
            "--add-drop-table",
            "--",
        ])
        .arg(db);
    cmd
}

/// A dump tool's command, without the service's secrets in what it inherits (`child_env`); its
/// own password is added after.
fn tool(program: &str) -> Command {
    let mut cmd = Command::new(program);
    child_env::scrub(&mut cmd);
    cmd
}

pub(super) fn spawn_err(src: &DatabaseSource, tool: &str, e: io::Error) -> EngineError {
    if e.kind() == io::ErrorKind::NotFound {
        EngineError::ToolMissing {
            name: src.name.clone(),
            tool: tool.into(),
        }
    } else {
        io_failed(src, &format!("starting {tool}"), e)
    }
}

/// Runs `cmd` with stdout streamed into `sink` and stderr collected on a thread (a full stderr
/// pipe must not stall the tool), then judges the exit status. The tool leads a process group of
/// its own, which `cancel` kills when the run is stopped.
fn piped(
    src: &DatabaseSource,
    tool: &str,
    mut cmd: Command,
    cancel: &Cancel,
    sink: &mut dyn FnMut(&mut dyn Read) -> Result<(), ArchiveError>,
) -> Result<(), EngineError> {
    let mut child: Child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| spawn_err(src, tool, e))?;
    let group = cancel.watch_group(child.id());
    let stderr = child
        .stderr
        .take()
        .map(|e| std::thread::spawn(move || read_tail(e, STDERR_TAIL)));
    let stored = match child.stdout.take() {
        Some(mut out) => sink(&mut out),
        None => Err(ArchiveError::InvalidInput {
            reason: "no stdout pipe".into(),
        }),
    };
    if let Err(e) = stored {
        // The archive side failed: stop the tool instead of letting it block on a full pipe,
        // and report the archive's error (the tool's exit is then our doing). The whole group:
        // a tool's own children must not outlive it.
        group.kill();
        let _ = child.wait();
        return Err(EngineError::Archive {
            context: format!("storing the dump of database {:?}", src.name),
            source: e,
        });
    }
    let status = child.wait();
    let err_text = stderr
        .map(JoinHandle::join)
        .and_then(Result::ok)
        .unwrap_or_default();
    let status = status.map_err(|e| io_failed(src, &format!("waiting for {tool}"), e))?;
    if !status.success() {
        return Err(tool_failed(src, tool, status, &err_text));
    }
    Ok(())
}

pub(super) fn exit_text(status: ExitStatus) -> String {
    match status.code() {
        Some(c) => format!("exited with {c}"),
        None => format!("was killed ({status})"),
    }
}

/// Drains `r` to its end keeping only about its last `keep` bytes: a tool may write gigabytes
/// to stderr, and the error needs only its tail.
pub(super) fn read_tail(mut r: impl Read, keep: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(2 * keep);
    let mut chunk = [0u8; 8192];
    loop {
        match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > 2 * keep {
                    buf.drain(..buf.len() - keep);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    buf
}

/// The last `STDERR_TAIL` bytes of a tool's stderr, as text on one line.
pub(super) fn tail(stderr: &[u8]) -> String {
    let start = stderr.len().saturating_sub(STDERR_TAIL);
    let text = String::from_utf8_lossy(&stderr[start..]);
    let text = text.trim();
    if text.is_empty() {
        "(no stderr output)".into()
    } else {
        text.replace('\n', " | ")
    }
}

pub(super) fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// `scheme://[user[:password]@]host[:port][/database][?key=value&...]`, percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbUrl {
    pub scheme: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub database: Option<String>,
    pub params: Vec<(String, String)>,
}

impl DbUrl {
    /// The source's URL with its password: from `password_env` or `password_file` when one is
    /// configured (over any password in the URL). An error names the variable or the file,
    /// never a value.
    pub fn of(src: &DatabaseSource) -> Result<DbUrl, EngineError> {
        let mut url = DbUrl::parse(src, src.url.as_deref().unwrap_or_default())?;
        if let Some(password) = password(src)? {
            url.password = Some(password);
        }
        Ok(url)
    }

    pub fn parse(src: &DatabaseSource, url: &str) -> Result<DbUrl, EngineError> {
        // Never echo the URL: it may hold a password.
        let bad = |what: &str| dump_err(src, format!("the URL is malformed: {what}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme://"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (rest, None),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((u, p)) => (
                    Some(decode(u).ok_or_else(|| bad("user"))?),
                    Some(decode(p).ok_or_else(|| bad("password"))?),
                ),
                None => (Some(decode(u).ok_or_else(|| bad("user"))?), None),
            },
            None => (None, None),
        };
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let (h, after) = h.split_once(']').ok_or_else(|| bad("IPv6 host"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p.parse().map_err(|_| bad("port"))?),
                None if after.is_empty() => None,
                None => return Err(bad("host")),
            };
            (Some(h.to_string()), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (
                    Some(h.to_string()),
                    Some(p.parse().map_err(|_| bad("port"))?),
                ),
                None => (Some(hostport.to_string()), None),
            }
        };
        let host = host.filter(|h| !h.is_empty());
        let database = match path {
            Some(p) if !p.is_empty() => Some(decode(p).ok_or_else(|| bad("database"))?),
            _ => None,
        };
        let mut params = Vec::new();
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.push((
                decode(k).ok_or_else(|| bad("parameter"))?,
                decode(v).ok_or_else(|| bad("parameter"))?,
            ));
        }
        Ok(DbUrl {
            scheme: scheme.to_ascii_lowercase(),
            user,
            password,
            host,
            port,
            database,
            params,
        })
    }

    /// libpq's environment variables for this URL (credentials included, argv untouched).
    pub fn pg_env(&self, src: &DatabaseSource) -> Result<Vec<(&'static str, String)>, EngineError> {
        let mut env = Vec::new();
        let mut put = |k: &'static str, v: Option<&String>| {
            if let Some(v) = v {
                env.push((k, v.clone()));
            }
        };
        put("PGHOST", self.host.as_ref());
        put("PGPORT", self.port.map(|p| p.to_string()).as_ref());
        put("PGUSER", self.user.as_ref());
        put("PGPASSWORD", self.password.as_ref());
        put("PGDATABASE", self.database.as_ref());
        for (k, v) in &self.params {
            let var = match k.as_str() {
                "host" => "PGHOST",
                "port" => "PGPORT",
                "user" => "PGUSER",
                "password" => "PGPASSWORD",
                "dbname" => "PGDATABASE",
                "sslmode" => "PGSSLMODE",
                "sslrootcert" => "PGSSLROOTCERT",
                "connect_timeout" => "PGCONNECT_TIMEOUT",
                "application_name" => "PGAPPNAME",
                other => {
                    return Err(dump_err(
                        src,
                        format!("unsupported URL parameter {other:?}"),
                    ))
                }
            };
            env.push((var, v.clone()));
        }
        Ok(env)
    }

    /// A `[client]` option file for the MariaDB/MySQL tools.
    pub fn my_defaults(&self, src: &DatabaseSource) -> Result<String, EngineError> {
        if let Some((k, _)) = self.params.first() {
            return Err(dump_err(src, format!("unsupported URL parameter {k:?}")));
        }
        // Option-file values in double quotes: backslash and quote escaped.
        let q = |v: &str| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
        let mut s = String::from("[client]\n");
        if let Some(u) = &self.user {
            s += &format!("user={}\n", q(u));
        }
        if let Some(p) = &self.password {
            s += &format!("password={}\n", q(p));
        }
        if let Some(h) = &self.host {
            s += &format!("host={}\n", q(h));
        }
        if let Some(p) = self.port {
            s += &format!("port={p}\n");
        }
        Ok(s)
    }
}

/// The password `password_env` or `password_file` gives, if either is configured. A file's
/// first line is the password (its line end is not part of it), as with `.pgpass`-style files.
fn password(src: &DatabaseSource) -> Result<Option<String>, EngineError> {
    if let Some(var) = &src.password_env {
        return match std::env::var(var) {
            Ok(p) => Ok(Some(p)),
            Err(std::env::VarError::NotPresent) => Err(dump_err(
                src,
                format!(
                    "password_env names {var:?}, which is not set in the service's environment"
                ),
            )),
            Err(std::env::VarError::NotUnicode(_)) => Err(dump_err(
                src,
                format!("password_env names {var:?}, whose value is not UTF-8"),
            )),
        };
    }
    if let Some(file) = &src.password_file {
        let text = std::fs::read_to_string(file).map_err(|e| {
            // The io error's text is the OS's (no content of the file in it).
            dump_err(
                src,
                format!("password_file {} cannot be read: {e}", file.display()),
            )
        })?;
        let line = text.lines().next().unwrap_or_default();
        return Ok(Some(line.to_string()));
    }
    Ok(None)
}

/// Does the source's URL carry a password of its own (`user:password@`, or `?password=`)?
/// Allowed, but `serve` warns: the configuration file is then a secret too.
pub fn url_has_password(src: &DatabaseSource) -> bool {
    src.url
        .as_deref()
        .and_then(|u| DbUrl::parse(src, u).ok())
        .is_some_and(|u| u.password.is_some() || u.params.iter().any(|(k, _)| k == "password"))
}

fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The command that loads a restored dump, for the restore summary. `file` is where the dump
/// was restored; the source of the same name in `sources` (if still configured) fills in the
/// database.
pub fn load_hint(archive_path: &str, file: &Path, sources: &[DatabaseSource]) -> Option<String> {
    let base = archive_path.strip_prefix("databases/")?;
    let (name, kind) = [
        DatabaseKind::Postgresql,
        DatabaseKind::Mysql,
        DatabaseKind::Sqlite,
        DatabaseKind::Command,
    ]
    .into_iter()
    .find_map(|k| {
        base.strip_suffix(extension(k))
            .and_then(|n| n.strip_suffix('.'))
            .map(|n| (n, k))
    })?;
    let src = sources.iter().find(|s| s.name == name && s.kind == kind);
    let db = src
        .and_then(|s| DbUrl::parse(s, s.url.as_deref()?).ok())
        .and_then(|u| u.database)
        .unwrap_or_else(|| "DATABASE".into());
    let f = shell_quote(&file.display().to_string());
    Some(match kind {
        DatabaseKind::Postgresql => format!("psql -d {} -f {f}", shell_quote(&db)),
        DatabaseKind::Mysql => format!("mariadb {} < {f}", shell_quote(&db)),
        DatabaseKind::Sqlite => {
            let dest = src
                .and_then(|s| s.path.as_ref())
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "NEW.db".into());
            format!(
                "cp {f} {} (a complete SQLite database; stop its writers first)",
                shell_quote(&dest)
            )
        }
        DatabaseKind::Command => {
            let tool = src
                .and_then(|s| s.command.as_ref())
                .and_then(|c| c.first())
                .map(String::as_str)
                .unwrap_or("the dump command");
            format!("{f} is the output of {tool}; load it with that tool's counterpart")
        }
    })
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Scratch directory of one run, removed when dropped (dump snapshots, defaults files).
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn create(path: PathBuf) -> Result<Scratch, EngineError> {
        fs::create_dir_all(&path).map_err(super::layout::io_err(format!(
            "creating {}",
            path.display()
        )))?;
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests;
