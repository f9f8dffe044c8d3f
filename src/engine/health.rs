//! The health check's I/O: gather the facts `domain::health::evaluate` judges (the backup
//! volume's free space, a probe write into the data directory, the newest archive's index, every
//! source), and record the result as a `health_checked` event correlated with the run.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::dump::DbUrl;
use super::layout::Layout;
use super::maintenance::{self, Done};
use super::EngineError;
use crate::config::{Config, DatabaseKind, DatabaseSource};
use crate::decide::Command;
use crate::domain::health::{evaluate, status_name, worst, Disk, Facts, SourceFact};
use crate::events::{HealthStatus, Ts};
use crate::progress::ProgressHandle;
use crate::service::Service;

/// How long a database host may take to accept a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything `evaluate` needs that is not in the state. Blocking: call it on the blocking pool.
pub fn gather(config: &Config, service: &Service) -> Facts {
    let layout = Layout::of(config);
    Facts {
        disk: disk(&layout),
        event_log: event_log(&layout, service),
        newest_index: newest_index(&layout, service),
        sources: sources(config),
        unrecorded: service
            .read(|s| super::unrecorded_archives(&config.data_dir, s))
            .map(|found| found.into_iter().map(|u| u.path).collect())
            .map_err(|e| e.to_string()),
        channels: config.notify.iter().map(|c| c.name.clone()).collect(),
        remotes: config.remotes.iter().map(remote_probe).collect(),
    }
}

/// A HEAD of a key no one writes: any answer (found or not) means the remote is there and
/// takes our credentials; an error says why not (never with a credential in it).
fn remote_probe(cfg: &crate::remote::RemoteConfig) -> crate::domain::health::RemoteFact {
    let probe = crate::remote::open(cfg)
        .and_then(|store| store.head(".backupd-probe"))
        .map(|_| "reachable".to_string())
        .map_err(|e| e.to_string());
    crate::domain::health::RemoteFact {
        name: cfg.name.clone(),
        probe,
        warn_after_secs: cfg.warn_after_secs,
        critical_after_secs: cfg.critical_after_secs,
    }
}

/// The health check job: gather, judge, record. A critical health is still a successful run:
/// the check ran, and its event carries the status.
pub fn check(
    config: &Config,
    service: &Service,
    run_id: &str,
    progress: &ProgressHandle,
) -> Result<Done, EngineError> {
    progress.update(|p| p.phase = "checking health".into());
    let facts = gather(config, service);
    let now: Ts = service.clock().now().into();
    let checks = service.read(|s| evaluate(s, &facts, now, &config.health));
    let summary = match worst(&checks) {
        Some(c) if c.status != HealthStatus::Ok => {
            format!("health {}: {}", status_name(c.status), c.reason)
        }
        _ => format!("health ok: all {} checks ok", checks.len()),
    };
    maintenance::record(service, run_id, Command::RecordHealth { checks }).map_err(|source| {
        EngineError::Record {
            context: "recording the health check".into(),
            source: Box::new(source),
        }
    })?;
    Ok(Done {
        bytes: 0,
        files: 0,
        note: summary,
    })
}

fn disk(layout: &Layout) -> Result<Disk, String> {
    // The backups directory may not exist before the first backup; its volume is the data dir's.
    let dir = [layout.backups_dir(), layout.data_dir.clone()]
        .into_iter()
        .find(|d| d.is_dir())
        .ok_or_else(|| format!("data directory {} missing", layout.data_dir.display()))?;
    statvfs(&dir)
}

fn statvfs(dir: &Path) -> Result<Disk, String> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| format!("{} holds a NUL byte", dir.display()))?;
    // SAFETY: `c_path` is NUL-terminated and outlives the call; `stat` is plain data that
    // statvfs fills in and is only read after it reported success.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(format!(
            "statvfs {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        ));
    }
    let block = stat.f_frsize as u64;
    Ok(Disk {
        total_bytes: (stat.f_blocks as u64).saturating_mul(block),
        free_bytes: (stat.f_bavail as u64).saturating_mul(block),
    })
}

/// The data directory takes a create + write + fsync + remove in `tmp/`, and the log is in step:
/// everything the projections hold is durable and the newest event reads back.
fn event_log(layout: &Layout, service: &Service) -> Result<String, String> {
    let tmp = layout.tmp_dir();
    fs::create_dir_all(&tmp).map_err(|e| format!("creating {}: {e}", tmp.display()))?;
    let nanos = Ts::from(service.clock().now()).unix_nanos().unwrap_or(0);
    let probe = tmp.join(format!("health-probe-{}-{nanos}", std::process::id()));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|mut f| {
            f.write_all(b"backupd health probe\n")?;
            f.sync_all()
        });
    let removed = fs::remove_file(&probe);
    written.map_err(|e| format!("writing the probe {}: {e}", probe.display()))?;
    removed.map_err(|e| format!("removing the probe {}: {e}", probe.display()))?;

    let store = service.store();
    if let Some(f) = store.write_failure() {
        return Err(format!(
            "{} commit(s) failed since the last that went through: {}",
            f.failed_commits, f.message
        ));
    }
    let durable = store.last_position();
    let folded = service.position();
    if durable < folded {
        return Err(format!(
            "the log's last durable position {durable} is behind the state's {folded}"
        ));
    }
    let events_path = store.path();
    let readonly = fs::metadata(events_path)
        .map(|m| m.permissions().readonly())
        .map_err(|e| format!("{}: {e}", events_path.display()))?;
    if readonly {
        return Err(format!("{} is read-only", events_path.display()));
    }
    if durable > 0 {
        store
            .read_blocking(durable - 1, 1)
            .map_err(|e| format!("reading back event {durable}: {e}"))?;
    }
    Ok(format!(
        "event log writable: a probe was written, synced and removed in {}, and the last \
         append (position {durable}) is durable and reads back",
        tmp.display()
    ))
}

/// The newest backup's index must be intact and have the CRC32 its `backup_recorded` event
/// holds: only the header, trailer and index are read, not the body.
fn newest_index(layout: &Layout, service: &Service) -> Option<(String, Result<String, String>)> {
    let (id, location, checksum) = service.read(|s| {
        s.catalog
            .backups
            .values()
            .max_by_key(|b| (b.record.created_at, b.record.id.clone()))
            .map(|b| {
                (
                    b.record.id.clone(),
                    b.record.location.clone(),
                    b.record.checksum,
                )
            })
    })?;
    let path = layout.resolve(&location);
    Some((id, index_matches(layout, &path, checksum)))
}

fn index_matches(layout: &Layout, path: &Path, checksum: u32) -> Result<String, String> {
    let file = File::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    // `open` checks the stored index against the trailer's CRC32 and decodes it.
    let reader = layout
        .open_reader(BufReader::new(file))
        .map_err(|e| format!("archive {}: {e}", path.display()))?;
    let entries = reader.index().entries.len();
    let stored = reader.index_crc32();
    if stored != checksum {
        return Err(format!(
            "index CRC32 {stored:#010x} in {} differs from {checksum:#010x} recorded in the \
             catalog: the archive was replaced or rewritten",
            path.display()
        ));
    }
    Ok(format!(
        "index intact ({entries} entries), CRC32 {stored:#010x} as recorded"
    ))
}

fn sources(config: &Config) -> Vec<SourceFact> {
    let mut out = Vec::new();
    for f in &config.files {
        out.push(SourceFact {
            name: f.path.display().to_string(),
            kind: "files".into(),
            result: readable_dir(&f.path),
        });
    }
    for c in &config.config_paths {
        out.push(SourceFact {
            name: c.path.display().to_string(),
            kind: "config".into(),
            result: readable_path(&c.path),
        });
    }
    for db in &config.databases {
        out.push(SourceFact {
            name: db.name.clone(),
            kind: kind_name(db.kind).into(),
            result: database(db),
        });
    }
    out
}

fn kind_name(kind: DatabaseKind) -> &'static str {
    match kind {
        DatabaseKind::Sqlite => "sqlite",
        DatabaseKind::Postgresql => "postgresql",
        DatabaseKind::Mysql => "mysql",
        DatabaseKind::Command => "command",
    }
}

fn readable_dir(path: &Path) -> Result<String, String> {
    let meta = fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", path.display()));
    }
    fs::read_dir(path)
        .map(|_| "directory readable".to_string())
        .map_err(|e| format!("listing {}: {e}", path.display()))
}

fn readable_path(path: &Path) -> Result<String, String> {
    let meta = fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_dir() {
        readable_dir(path)
    } else {
        File::open(path)
            .map(|_| "file readable".to_string())
            .map_err(|e| format!("opening {}: {e}", path.display()))
    }
}

fn database(db: &DatabaseSource) -> Result<String, String> {
    match db.kind {
        DatabaseKind::Sqlite => {
            let path = db.path.as_ref().ok_or("no path configured")?;
            File::open(path)
                .map(|_| format!("{} readable", path.display()))
                .map_err(|e| format!("opening {}: {e}", path.display()))
        }
        DatabaseKind::Postgresql => server(db, 5432, &["pg_dump"]),
        DatabaseKind::Mysql => server(db, 3306, &["mariadb-dump", "mysqldump"]),
        DatabaseKind::Command => {
            let program = db
                .command
                .as_ref()
                .and_then(|c| c.first())
                .ok_or("no command configured")?;
            find_program(program)
                .map(|p| format!("{} found", p.display()))
                .ok_or_else(|| format!("the program {program:?} is not found in PATH"))
        }
    }
}

/// The server accepts a TCP connection (or its socket exists) and the dump tool is installed;
/// both problems are named when both are there.
fn server(db: &DatabaseSource, default_port: u16, tools: &[&str]) -> Result<String, String> {
    let reached = reachable(db, default_port);
    let tool = tools
        .iter()
        .find_map(|t| find_program(t))
        .ok_or_else(|| format!("the dump tool {} is not found in PATH", tools.join(" or ")));
    match (reached, tool) {
        (Ok(r), Ok(t)) => Ok(format!("{r}; {} found", t.display())),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        (Err(e), Err(t)) => Err(format!("{e}; {t}")),
    }
}

fn reachable(db: &DatabaseSource, default_port: u16) -> Result<String, String> {
    let url = DbUrl::parse(db, db.url.as_deref().unwrap_or_default())
        // The error names the source and says what is malformed, never the URL (a password).
        .map_err(|e| e.to_string())?;
    let param = |k: &str| {
        url.params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let host = param("host")
        .or(url.host.clone())
        .unwrap_or_else(|| "localhost".into());
    let port = match param("port") {
        Some(p) => p
            .parse()
            .map_err(|_| format!("port {p:?} is not a number"))?,
        None => url.port.unwrap_or(default_port),
    };
    if host.starts_with('/') {
        // A Unix socket directory (libpq) or socket file (MariaDB).
        return if Path::new(&host).exists() {
            Ok(format!("socket {host} exists"))
        } else {
            Err(format!("socket {host} does not exist"))
        };
    }
    let addrs: Vec<_> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving {host}:{port}: {e}"))?
        .collect();
    let mut last = format!("{host}:{port} resolves to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(format!("{host}:{port} accepts connections")),
            Err(e) => last = format!("{host}:{port} not reachable: {e}"),
        }
    }
    Err(last)
}

/// Where `program` would be run from: itself if it names a path, else the first match in PATH.
fn find_program(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}
