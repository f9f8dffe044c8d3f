//! Shared helpers: temporary data dirs, the real binary, a manual-clock service.

use backupd::clock::ManualClock;
use backupd::service::Service;
use backupd::store::EventStore;
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
    use std::io::{BufRead, BufReader};
    let mut child = bin()
        .current_dir(repo())
        // a port of its own, not the fixture's fixed 8720: tests run in parallel
        .arg("serve")
        .arg("--config")
        .arg(config)
        .args(["--bind", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data_dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// The first stderr line of `child` that contains `marker`; kills the child and fails the test
/// if none comes within `secs`.
pub fn wait_for_line(
    child: &mut std::process::Child,
    lines: &std::sync::mpsc::Receiver<String>,
    marker: &str,
    secs: u64,
) -> String {
    loop {
        match lines.recv_timeout(std::time::Duration::from_secs(secs)) {
            Ok(line) if line.contains(marker) => return line,
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve never logged {marker:?}");
            }
        }
    }
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
