//! Loading into a database server: `psql` / `mariadb` fed the dump on stdin, each in a
//! process group of its own.

use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

use super::super::browse::{self, FileRef};
use super::super::dump::{
    exit_text, io_failed, read_tail, spawn_err, tail, write_private, DbUrl, Scratch, STDERR_TAIL,
};
use super::super::layout::Layout;
use super::super::EngineError;
use super::LoadError;
use crate::config::{Config, DatabaseSource};
use crate::error::ErrorKind;
use crate::progress::Cancel;
use crate::projections::State;

/// Counts what passes through, keeps the first `HEAD` bytes (to tell whether the dump drops
/// before it creates), and remembers whether the writer underneath failed (the loader closed
/// its stdin: it exited, and its own error is the one to report).
pub(super) struct Counted<'a> {
    out: &'a mut dyn Write,
    pub(super) bytes: u64,
    /// Told the bytes so far after each write: the run's live progress.
    tell: Option<&'a dyn Fn(u64)>,
    head: Vec<u8>,
    sink_failed: bool,
}

const HEAD: usize = 256 * 1024;

impl<'a> Counted<'a> {
    pub(super) fn new(out: &'a mut dyn Write) -> Self {
        Counted {
            out,
            bytes: 0,
            tell: None,
            head: Vec::new(),
            sink_failed: false,
        }
    }

    /// `tell` hears the bytes passed on so far, after each write.
    pub(super) fn telling(mut self, tell: Option<&'a dyn Fn(u64)>) -> Self {
        self.tell = tell;
        self
    }

    /// Does the start of the dump hold a `DROP` statement (`pg_dump --clean`)?
    pub(super) fn drops(&self) -> bool {
        self.head
            .split(|b| *b == b'\n')
            .any(|l| l.starts_with(b"DROP "))
    }
}

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self
            .out
            .write(buf)
            .inspect_err(|_| self.sink_failed = true)?;
        let keep = HEAD.saturating_sub(self.head.len()).min(n);
        self.head.extend_from_slice(&buf[..keep]);
        self.bytes += n as u64;
        if let Some(tell) = self.tell {
            tell(self.bytes);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush().inspect_err(|_| self.sink_failed = true)
    }
}

/// One load into a server database.
pub(super) struct Loader<'a> {
    pub(super) config: &'a Config,
    pub(super) state: &'a State,
    pub(super) file: &'a FileRef,
    pub(super) src: &'a DatabaseSource,
    pub(super) into: &'a str,
    pub(super) cancel: &'a Cancel,
    /// Told the bytes streamed into the loader so far.
    pub(super) tell: Option<&'a dyn Fn(u64)>,
}

/// How a loader run ended, when it failed.
struct ToolFailure {
    /// The tool is not installed (the next candidate may be).
    missing: bool,
    reason: String,
    stderr: String,
    kind: ErrorKind,
}

impl Loader<'_> {
    fn failed(&self, f: ToolFailure) -> LoadError {
        LoadError::Failed {
            source_name: self.src.name.clone(),
            into: self.into.to_string(),
            reason: f.reason,
            kind: f.kind,
        }
    }

    /// Creates the database when missing, then streams the dump into `psql` in one
    /// transaction that stops at the first error.
    pub(super) fn postgresql(&self, url: &DbUrl) -> Result<(String, u64), LoadError> {
        let env = url.pg_env(self.src)?;
        let psql = |db: &str| {
            let mut cmd = Command::new("psql");
            // The service's secrets stay out of the tool's environment (its own password is
            // set below, after the scrub).
            crate::engine::dump::child_env::scrub(&mut cmd);
            cmd.args(["--no-password", "-X", "-q", "-v", "ON_ERROR_STOP=1"]);
            for (k, v) in &env {
                cmd.env(k, v);
            }
            // Through the environment, not `-d`: a name with '=' would be read as a conninfo.
            cmd.env("PGDATABASE", db);
            cmd
        };
        let mut create = psql("postgres");
        create.arg("-v").arg(format!("into={}", self.into));
        let script = b"SELECT NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'into') AS missing \\gset\n\\if :missing\nCREATE DATABASE :\"into\";\n\\endif\n";
        self.run("psql", create, &mut |w| {
            w.write_all(script)
                .map_err(|e| io_failed(self.src, "writing to psql", e))
        })
        .map_err(|f| self.failed(f))?;
        let mut load = psql(self.into);
        load.arg("--single-transaction");
        self.stream("psql", load)
    }

    /// `CREATE DATABASE IF NOT EXISTS`, then the dump into `mariadb` (or `mysql`) on it.
    pub(super) fn mysql(&self, url: &DbUrl) -> Result<(String, u64), LoadError> {
        let layout = Layout::of(self.config);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let scratch = Scratch::create(layout.tmp_dir().join(format!(
            "load-{}-{}",
            std::process::id(),
            nanos
        )))?;
        let defaults = scratch.0.join("client.cnf");
        write_private(&defaults, url.my_defaults(self.src)?.as_bytes())
            .map_err(|e| io_failed(self.src, "writing the client defaults file", e))?;
        let client = |tool: &str| {
            let mut cmd = Command::new(tool);
            crate::engine::dump::child_env::scrub(&mut cmd);
            // --defaults-extra-file must come first.
            cmd.arg(format!("--defaults-extra-file={}", defaults.display()))
                .arg("--batch");
            cmd
        };
        let create = format!(
            "CREATE DATABASE IF NOT EXISTS `{}`;\n",
            self.into.replace('`', "``")
        );
        let mut missing = None;
        for tool in ["mariadb", "mysql"] {
            let ran = self.run(tool, client(tool), &mut |w| {
                w.write_all(create.as_bytes())
                    .map_err(|e| io_failed(self.src, &format!("writing to {tool}"), e))
            });
            match ran {
                Err(f) if f.missing => {
                    missing = Some(tool);
                    continue;
                }
                Err(f) => return Err(self.failed(f)),
                Ok(()) => {}
            }
            let mut load = client(tool);
            load.arg(format!("--database={}", self.into));
            return self.stream(tool, load);
        }
        Err(EngineError::ToolMissing {
            name: self.src.name.clone(),
            tool: missing.unwrap_or("mysql").into(),
        }
        .into())
    }

    /// The dump's bytes into `cmd`'s stdin; the bytes streamed.
    fn stream(&self, tool: &str, cmd: Command) -> Result<(String, u64), LoadError> {
        let (mut bytes, mut drops) = (0, true);
        let ran = self.run(tool, cmd, &mut |w| {
            let mut counted = Counted::new(w).telling(self.tell);
            let read = browse::read_range(
                self.config,
                self.state,
                self.file,
                0,
                u64::MAX,
                &mut counted,
            );
            bytes = counted.bytes;
            drops = counted.drops();
            match read {
                Err(_) if counted.sink_failed => Err(io_failed(
                    self.src,
                    &format!("writing to {tool}"),
                    io::ErrorKind::BrokenPipe.into(),
                )),
                other => other,
            }
        });
        match ran {
            Ok(()) => Ok((tool.to_string(), bytes)),
            Err(mut f) => {
                // pg_dump without --clean (backups taken before it was used) creates without
                // dropping: it loads only into an empty database.
                if !drops && f.stderr.to_lowercase().contains("already exists") {
                    f.reason += " — this dump has no DROP statements (taken before backupd dumped \
                                 with --clean), so it loads only into a new, empty database: name \
                                 one that does not exist with into";
                    f.kind = ErrorKind::Refused;
                }
                Err(self.failed(f))
            }
        }
    }

    /// Runs `cmd` with `feed` writing its stdin, stdout discarded and stderr's tail kept, in a
    /// process group of its own registered with `cancel`. A feed that fails kills the group
    /// before stdin closes (a loader must not take a cut-short input as the whole); a loader
    /// that exits early is judged by its own exit and stderr.
    fn run(
        &self,
        tool: &str,
        mut cmd: Command,
        feed: &mut dyn FnMut(&mut dyn Write) -> Result<(), EngineError>,
    ) -> Result<(), ToolFailure> {
        let engine = |e: EngineError| ToolFailure {
            missing: matches!(e, EngineError::ToolMissing { .. }),
            kind: e.kind(),
            reason: e.to_string(),
            stderr: String::new(),
        };
        let mut child: Child = match cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
        {
            Ok(c) => c,
            Err(e) => return Err(engine(spawn_err(self.src, tool, e))),
        };
        let group = self.cancel.watch_group(child.id());
        let stderr = child
            .stderr
            .take()
            .map(|e| std::thread::spawn(move || read_tail(e, STDERR_TAIL)));
        let fed = match child.stdin.take() {
            Some(mut stdin) => {
                let fed = feed(&mut stdin);
                // A feed that failed on its own side (the archive, not the pipe: writing to the
                // pipe fails only as `DumpFailed`) kills the loader while stdin is still open:
                // psql never sees an end of input it would commit.
                if fed.is_err() && !matches!(&fed, Err(EngineError::DumpFailed { .. })) {
                    group.kill();
                }
                fed
            }
            None => Err(EngineError::Internal {
                reason: format!("{tool} has no stdin pipe"),
            }),
        };
        let status = child.wait();
        let err_text = stderr
            .map(JoinHandle::join)
            .and_then(Result::ok)
            .unwrap_or_default();
        if self.cancel.is_stopped() {
            return Err(engine(EngineError::Cancelled));
        }
        let status =
            status.map_err(|e| engine(io_failed(self.src, "waiting for the loader", e)))?;
        if !status.success() {
            let message = tail(&err_text);
            return Err(ToolFailure {
                missing: false,
                kind: ErrorKind::of_tool(status.code().is_none(), &message),
                reason: format!("{tool} {}: {message}", exit_text(status)),
                stderr: message,
            });
        }
        fed.map_err(engine)
    }
}
