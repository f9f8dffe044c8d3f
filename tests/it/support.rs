//! Shared helpers: temporary data dirs, the real binary, a manual-clock service.

use backupd::clock::ManualClock;
use backupd::service::Service;
use backupd::store::EventStore;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use time::OffsetDateTime;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_backupd"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn start_time() -> OffsetDateTime {
    // 2026-03-28T12:00:00Z: a fixed instant, so tests never depend on today's date.
    OffsetDateTime::from_unix_timestamp(1_774_699_200).unwrap()
}

pub fn open_service(dir: &Path, snapshot_every: u64) -> (Service, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(start_time()));
    let store = EventStore::open(&dir.join("events.redb")).unwrap();
    let (service, _) = Service::open(store, clock.clone(), snapshot_every).unwrap();
    (service, clock)
}

/// A tiny deterministic generator (xorshift64*): reproducible "random" moments without a crate.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Start `serve` on the demo config with its own data dir and a free port; its stderr lines
/// arrive on the channel.
pub fn spawn_serve(data_dir: &Path) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    spawn_serve_with(&repo().join("fixtures/demo.toml"), data_dir)
}

/// `spawn_serve` with another configuration file.
pub fn spawn_serve_with(
    config: &Path,
    data_dir: &Path,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    spawn_serve_opts(config, data_dir, &Opts::default())
}

/// How a test starts `serve` beyond its configuration file.
#[derive(Default)]
pub struct Opts {
    /// The configuration as written: `[restore] allowed_targets` keeps its default (see
    /// `with_scratch_targets`).
    pub exact: bool,
    /// Environment variables for the server process.
    pub env: Vec<(String, String)>,
}

pub fn spawn_serve_opts(
    config: &Path,
    data_dir: &Path,
    opts: &Opts,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let (config, scratch) = if opts.exact {
        (config.to_path_buf(), None)
    } else {
        with_scratch_targets(config)
    };
    let mut child = bin()
        .current_dir(repo())
        .envs(opts.env.iter().map(|(k, v)| (k, v)))
        // a port of its own, not the fixture's fixed 8720: tests run in parallel
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--bind", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data_dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut scratch = scratch;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // The configuration is read by now: its copy can go.
            if line.contains("listening on ") {
                scratch.take();
            }
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Tests restore through the API into temporary directories: unless the configuration sets
/// `[restore] allowed_targets` itself, a copy of it allows the system's temporary directory
/// (held in the returned directory until the server has read it). A file that is not TOML is
/// passed on as it is (tests of bad configurations).
pub fn with_scratch_targets(config: &Path) -> (PathBuf, Option<tempfile::TempDir>) {
    let Some(mut table) = std::fs::read_to_string(config)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
    else {
        return (config.to_path_buf(), None);
    };
    let restore = table
        .entry("restore")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(restore) = restore.as_table_mut() else {
        return (config.to_path_buf(), None);
    };
    if restore.contains_key("allowed_targets") {
        return (config.to_path_buf(), None);
    }
    let tmp = std::env::temp_dir().display().to_string();
    restore.insert(
        "allowed_targets".into(),
        toml::Value::Array(vec![toml::Value::String(tmp)]),
    );
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("backupd.toml");
    std::fs::write(&copy, toml::to_string(&table).unwrap()).unwrap();
    (copy, Some(dir))
}

/// The first stderr line of `child` that contains `marker`; kills the child and fails the test
/// if none comes within `secs`.
pub fn wait_for_line(
    child: &mut std::process::Child,
    lines: &std::sync::mpsc::Receiver<String>,
    marker: &str,
    secs: u64,
) -> String {
    lines_until(child, lines, marker, secs).1
}

/// The lines before the first one containing `marker`, and that line; after `secs` without
/// one the child is killed and the test fails with what it did say.
pub fn lines_until(
    child: &mut std::process::Child,
    lines: &std::sync::mpsc::Receiver<String>,
    marker: &str,
    secs: u64,
) -> (Vec<String>, String) {
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(std::time::Duration::from_secs(secs)) {
            Ok(line) if line.contains(marker) => return (seen, line),
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve never logged {marker:?}: {seen:?}");
            }
        }
    }
}

/// `child`'s stderr (piped), one line at a time, read on a thread of its own.
pub fn stderr_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// SIGTERM, then insist on an orderly exit 0.
pub fn terminate(mut child: std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "serve exited with {exit:?} on SIGTERM");
}

/// `backupd serve` on a port the OS picks, with its own data directory, and a JSON client for
/// its API; killed on drop if a test fails before `stop`.
pub struct Served {
    child: Option<std::process::Child>,
    /// `http://127.0.0.1:PORT`: `/metrics` lives here.
    pub root: String,
    /// `root` + `/api/backup`.
    pub base: String,
    data: tempfile::TempDir,
    data_dir: PathBuf,
    agent: ureq::Agent,
    _log: std::sync::mpsc::Receiver<String>,
}

impl Served {
    /// The demo configuration; the data directory is a fresh temporary one.
    pub fn demo() -> Served {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().to_path_buf();
        let (child, rx) = spawn_serve(&dir);
        Served::ready(child, rx, data, dir)
    }

    /// `config` as the configuration file; the data directory is `<temp>/data`.
    pub fn with_config(config: &str) -> Served {
        let data = tempfile::tempdir().unwrap();
        let file = data.path().join("backupd.toml");
        std::fs::write(&file, config).unwrap();
        let dir = data.path().join("data");
        let (child, rx) = spawn_serve_with(&file, &dir);
        Served::ready(child, rx, data, dir)
    }

    /// `with_config`, started as `opts` says.
    pub fn with_opts(config: &str, opts: &Opts) -> Served {
        let data = tempfile::tempdir().unwrap();
        let file = data.path().join("backupd.toml");
        std::fs::write(&file, config).unwrap();
        let dir = data.path().join("data");
        let (child, rx) = spawn_serve_opts(&file, &dir, opts);
        Served::ready(child, rx, data, dir)
    }

    /// A configuration file and a data directory that the test owns (a tmpfs, say).
    pub fn with_config_file(config: &Path, data_dir: &Path) -> Served {
        let (child, rx) = spawn_serve_with(config, data_dir);
        let holder = tempfile::tempdir().unwrap();
        Served::ready(child, rx, holder, data_dir.to_path_buf())
    }

    fn ready(
        mut child: std::process::Child,
        rx: std::sync::mpsc::Receiver<String>,
        data: tempfile::TempDir,
        data_dir: PathBuf,
    ) -> Served {
        let line = wait_for_line(&mut child, &rx, "listening on ", 60);
        let (_, rest) = line.split_once("listening on ").unwrap();
        let root = rest.split_whitespace().next().unwrap().to_string();
        Served {
            child: Some(child),
            base: format!("{root}{}", backupd::api::BASE),
            root,
            data,
            data_dir,
            // Generous: a synchronous restore of a 2 GiB sparse file in a debug build on two
            // loaded cores has taken over 30 s; a hung server still fails the test.
            agent: ureq::AgentBuilder::new()
                .timeout(std::time::Duration::from_secs(120))
                .build(),
            _log: rx,
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Requests go through this agent from now on (one trusting a test CA, say).
    pub fn set_agent(&mut self, agent: ureq::Agent) {
        self.agent = agent;
    }

    /// Every stderr line of the server not yet read (by `log_line` or this).
    pub fn log_so_far(&self) -> Vec<String> {
        self._log.try_iter().collect()
    }

    /// The next stderr line of the server that contains `marker` (fails the test after `secs`).
    pub fn log_line(&self, marker: &str, secs: u64) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self._log.recv_timeout(left) {
                Ok(line) if line.contains(marker) => return line,
                Ok(_) => {}
                Err(_) => panic!("serve never logged {marker:?}"),
            }
        }
    }

    /// The server process's pid (to read its `/proc/<pid>/status`, say).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap()
    }

    /// `path` below the API's base.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn request(&self, method: &str, path: &str) -> ureq::Request {
        self.agent.request(method, &self.url(path))
    }

    /// Status, Content-Type and body text of any answer.
    pub fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, String, String) {
        let req = self.request(method, path);
        let result = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        text_of(result)
    }

    /// Any status, with the body parsed (`null` when empty; anything but JSON fails the test).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let (status, _, text) = self.exchange(method, path, body);
        (
            status,
            json_of(&format!("{method} {path} -> {status}"), &text),
        )
    }

    /// Raw bytes with an optional Content-Type, the answer parsed as `send` does.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> (u16, serde_json::Value) {
        let mut req = self.request(method, path);
        if let Some(ct) = content_type {
            req = req.set("Content-Type", ct);
        }
        let (status, _, text) = text_of(req.send_bytes(body));
        (
            status,
            json_of(&format!("{method} {path} -> {status}"), &text),
        )
    }

    pub fn get(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.send("GET", path, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Runs a job now and waits (at most a minute) for the run's outcome.
    pub fn run(&self, job: &str) -> serde_json::Value {
        let (status, run) = self.send("POST", &format!("/scheduler/jobs/{job}/run"), None);
        assert_eq!(status, 202, "{run}");
        self.finished(run["run_id"].as_str().unwrap())
    }

    /// Waits (at most a minute) for run `run_id` to have an outcome.
    pub fn finished(&self, run_id: &str) -> serde_json::Value {
        self.finished_within(run_id, std::time::Duration::from_secs(60))
    }

    pub fn finished_within(&self, run_id: &str, limit: std::time::Duration) -> serde_json::Value {
        let path = format!("/runs/{}", run_id.replace('@', "%40"));
        let deadline = std::time::Instant::now() + limit;
        loop {
            let r = self.get(&path);
            // a queued run has no outcome yet either
            if r["status"] != "running" && r["status"] != "queued" {
                return r;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "run never finished: {r}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// SIGTERM and an orderly exit 0; the data directory's holder outlives the server.
    pub fn stop(mut self) -> tempfile::TempDir {
        terminate(self.child.take().unwrap());
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.data, dir)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn text_of(result: Result<ureq::Response, ureq::Error>) -> (u16, String, String) {
    let resp = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    let status = resp.status();
    let content_type = resp.header("Content-Type").unwrap_or("").to_string();
    (status, content_type, resp.into_string().unwrap())
}

/// Any answer of a request made with another agent, parsed as `Served::send` does.
pub fn reply(result: Result<ureq::Response, ureq::Error>) -> (u16, serde_json::Value) {
    let (status, _, text) = text_of(result);
    (status, json_of(&status.to_string(), &text))
}

fn json_of(context: &str, text: &str) -> serde_json::Value {
    if text.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{context}: not JSON ({e}): {text}"))
}

/// The real API (`api::bind`, the router `backupd serve` uses) over an in-process service, on a
/// port the OS picks and a thread of its own: how a test reads what the service shows the world.
/// Stops serving on drop.
pub struct ApiOver {
    /// `http://127.0.0.1:PORT/api/backup`.
    pub base: String,
    stop: Option<smol::channel::Sender<()>>,
    serving: Option<std::thread::JoinHandle<()>>,
    agent: ureq::Agent,
}

pub fn serve_api(service: &Service) -> ApiOver {
    serve_api_with(service, backupd::config::Config::default())
}

/// `serve_api` with a configuration of the test's (sources a job may select, say).
pub fn serve_api_with(service: &Service, config: backupd::config::Config) -> ApiOver {
    use backupd::api::{self, ApiContext};
    use smol::future::FutureExt;
    let ctx = ApiContext::new(
        service.clone(),
        backupd::progress::Progress::default(),
        chrono_tz::UTC,
        Arc::new(scratch_targets(config)),
    );
    let server = api::bind(ctx, "127.0.0.1:0".parse().unwrap()).unwrap();
    let base = format!("http://{}{}", server.local_addr(), api::BASE);
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let serving = std::thread::spawn(move || {
        smol::block_on(async {
            let _ = server
                .run()
                .or(async {
                    let _ = stopped.recv().await;
                    Ok(())
                })
                .await;
        })
    });
    ApiOver {
        base,
        stop: Some(stop),
        serving: Some(serving),
        // No kept-alive connections: each ends with its answer, so the server's connection
        // tasks let go of the service soon after the last request.
        agent: ureq::AgentBuilder::new()
            .timeout(std::time::Duration::from_secs(30))
            .max_idle_connections(0)
            .build(),
    }
}

/// As `with_scratch_targets` for an in-process configuration: the default allowed target
/// becomes the system's temporary directory (restore tests write into temporary directories).
fn scratch_targets(mut config: backupd::config::Config) -> backupd::config::Config {
    if config.restore_allowed_targets.is_none() {
        config.restore_allowed_targets = Some(vec![std::env::temp_dir()]);
    }
    config
}

/// Opens the log once everything that held it has let go: an `ApiOver`'s connection tasks drop
/// their clone of the service on the executor's time, just after the server stopped.
pub fn reopen_store(path: &Path) -> EventStore {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match EventStore::open(path) {
            Ok(store) => return store,
            Err(backupd::store::StoreError::InUse { .. })
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }
}

impl ApiOver {
    /// GET `path` below the base; anything but 200 with JSON fails the test.
    pub fn get(&self, path: &str) -> serde_json::Value {
        let (status, body) = reply(self.agent.get(&format!("{}{path}", self.base)).call());
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

impl Drop for ApiOver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send_blocking(());
        }
        if let Some(serving) = self.serving.take() {
            let _ = serving.join();
        }
    }
}

/// Is `pid` still running? A killed grandchild of the server is re-parented to this container's
/// pid 1, which does not reap: it stays a zombie, dead but answering `kill -0`. So: `kill -0`
/// fails, or the process is a zombie.
pub fn running(pid: u32) -> bool {
    let alive = std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success();
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("State:") && l.contains('Z'))
        })
        .unwrap_or(true);
    alive && !zombie
}

/// The pid a test's script wrote into `file` (waits up to 30 s for it).
pub fn pid_in(file: &Path) -> u32 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(pid) = std::fs::read_to_string(file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} never written",
            file.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `backupd ARGS --data-dir DATA`, run to its end: an offline command on a data directory.
pub fn offline<S: AsRef<std::ffi::OsStr>>(
    args: impl IntoIterator<Item = S>,
    data_dir: &Path,
) -> std::process::Output {
    bin()
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap()
}

/// What a command printed, once it is known to have succeeded (its stderr says why not).
pub fn stdout_ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Waits (at most `within`) until the service's projections satisfy `pred`, woken by each
/// append (or every 50 ms) rather than sleeping blindly: for harnesses that drive a `Service`
/// and a scheduler loop in this process.
pub fn wait_for_state(
    service: &Service,
    within: std::time::Duration,
    what: &str,
    pred: impl Fn(&backupd::projections::State) -> bool,
) {
    use smol::future::FutureExt;
    let deadline = std::time::Instant::now() + within;
    loop {
        let position = service.position();
        if service.read(&pred) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        smol::block_on(service.wait_beyond(position).or(async {
            smol::Timer::after(std::time::Duration::from_millis(50)).await;
        }));
    }
}

/// Returns once no event has been appended for `quiet`: the loop has looked at the state as it
/// is and had nothing more to record.
pub fn settle(service: &Service, quiet: std::time::Duration) {
    let mut last = service.position();
    loop {
        std::thread::sleep(quiet);
        let now = service.position();
        if now == last {
            return;
        }
        last = now;
    }
}

/// `bytes` (rounded down to 64 KiB) that zstd cannot shrink, written fast (xorshift from `seed`):
/// backing them up or restoring them is real work.
pub fn incompressible_file(path: &Path, bytes: usize, seed: u64) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    let mut chunk = vec![0u8; 64 << 10];
    for _ in 0..bytes / chunk.len() {
        for w in chunk.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&chunk).unwrap();
    }
    f.flush().unwrap();
}
