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
