//! Where a backup run's time goes: a collector every backup path fills (the `.bka` archive path
//! in `backup.rs`, a deduplicated repository's in its own files) and that becomes the run's
//! `RunPerf` (`run_succeeded_v3`; each figure's meaning is in schema/events.md).
//!
//! Use:
//! - a whole phase: `perf.time(Phase::Scan, || ...)`, or `let s = perf.span(Phase::Scan);` ...
//!   `drop(s)`, or `perf.add(Phase::Upload, elapsed)`;
//! - source reads and output writes as they happen: wrap the reader in `perf.reader(r)` (counts
//!   read time and `bytes_read`) and the output in `perf.writer(w)` (counts write time);
//! - compression that runs on worker threads inside a writer: `let st = perf.stage();` before the
//!   first entry and `perf.end_stage(Phase::Compress, st)` after the writer's finish: the stage's
//!   wall time less the read and write time counted inside it (what compression held the run up,
//!   not the workers' summed CPU time);
//! - volumes: `perf.count(...)`.
//!
//! Atomics, so a path that reads or compresses on several threads can share one collector.

use super::layout::Layout;
use crate::config::Config;
use crate::events::RunPerf;
use crate::queries::performance::VolumeSpace;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// A measured phase (`RunPerf`'s `*_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Scan,
    Read,
    Compress,
    Write,
    Upload,
    Verify,
}

/// A counted volume (`RunPerf`'s other fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volume {
    BytesRead,
    BytesStored,
    BytesNew,
    FilesExamined,
    FilesChanged,
}

const PHASES: usize = 6;
const VOLUMES: usize = 5;

/// The collector: nanoseconds per phase and the volumes.
#[derive(Debug, Default)]
pub struct Perf {
    ns: [AtomicU64; PHASES],
    counts: [AtomicU64; VOLUMES],
}

/// A phase being timed; adds its time when dropped.
pub struct Span<'a> {
    perf: &'a Perf,
    phase: Phase,
    start: Instant,
}

impl Drop for Span<'_> {
    fn drop(&mut self) {
        self.perf.add(self.phase, self.start.elapsed());
    }
}

/// The start of a stage whose own time is what is left after reads and writes (`end_stage`).
#[derive(Debug, Clone, Copy)]
pub struct Stage {
    start: Instant,
    io_ns: u64,
}

impl Perf {
    pub fn new() -> Perf {
        Perf::default()
    }

    pub fn add(&self, phase: Phase, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.ns[phase as usize].fetch_add(ns, Relaxed);
    }

    pub fn time<T>(&self, phase: Phase, f: impl FnOnce() -> T) -> T {
        let _span = self.span(phase);
        f()
    }

    pub fn span(&self, phase: Phase) -> Span<'_> {
        Span {
            perf: self,
            phase,
            start: Instant::now(),
        }
    }

    pub fn count(&self, volume: Volume, n: u64) {
        self.counts[volume as usize].fetch_add(n, Relaxed);
    }

    fn io_ns(&self) -> u64 {
        self.ns[Phase::Read as usize].load(Relaxed) + self.ns[Phase::Write as usize].load(Relaxed)
    }

    pub fn stage(&self) -> Stage {
        Stage {
            start: Instant::now(),
            io_ns: self.io_ns(),
        }
    }

    /// Adds to `phase` the wall time since `stage` less the read and write time counted since.
    pub fn end_stage(&self, phase: Phase, stage: Stage) {
        let wall = u64::try_from(stage.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let io = self.io_ns().saturating_sub(stage.io_ns);
        self.add(phase, Duration::from_nanos(wall.saturating_sub(io)));
    }

    /// `r` with its read time counted as `Phase::Read` and its bytes as `bytes_read`.
    pub fn reader<R: Read>(&self, r: R) -> TimedRead<'_, R> {
        TimedRead {
            inner: r,
            perf: self,
        }
    }

    /// `w` with its write and flush time counted as `Phase::Write`.
    pub fn writer<W: Write>(&self, w: W) -> TimedWrite<'_, W> {
        TimedWrite {
            inner: w,
            perf: self,
        }
    }

    /// The figures so far, in whole milliseconds (each phase rounded down, so their sum never
    /// exceeds the time measured).
    pub fn finish(&self) -> RunPerf {
        let ms = |p: Phase| self.ns[p as usize].load(Relaxed) / 1_000_000;
        let n = |v: Volume| self.counts[v as usize].load(Relaxed);
        RunPerf {
            scan_ms: ms(Phase::Scan),
            read_ms: ms(Phase::Read),
            compress_ms: ms(Phase::Compress),
            write_ms: ms(Phase::Write),
            upload_ms: ms(Phase::Upload),
            verify_ms: ms(Phase::Verify),
            bytes_read: n(Volume::BytesRead),
            bytes_stored: n(Volume::BytesStored),
            bytes_new: n(Volume::BytesNew),
            files_examined: n(Volume::FilesExamined),
            files_changed: n(Volume::FilesChanged),
        }
    }
}

/// A reader whose time and bytes go to a `Perf` (`Perf::reader`).
pub struct TimedRead<'a, R> {
    inner: R,
    perf: &'a Perf,
}

impl<R: Read> Read for TimedRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let start = Instant::now();
        let result = self.inner.read(buf);
        self.perf.add(Phase::Read, start.elapsed());
        if let Ok(n) = &result {
            self.perf.count(Volume::BytesRead, *n as u64);
        }
        result
    }
}

/// A writer whose time goes to a `Perf` (`Perf::writer`).
pub struct TimedWrite<'a, W> {
    inner: W,
    perf: &'a Perf,
}

impl<W> TimedWrite<'_, W> {
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for TimedWrite<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.perf.time(Phase::Write, || self.inner.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.perf.time(Phase::Write, || self.inner.flush())
    }
}

/// The data directory's volume as statvfs sees it (the health check's reading), for the
/// performance analysis' days until full; `None` when it cannot be read.
pub fn volume(config: &Config) -> Option<VolumeSpace> {
    super::health::disk(&Layout::of(config))
        .ok()
        .map(|d| VolumeSpace {
            free_bytes: d.free_bytes,
            total_bytes: d.total_bytes,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that takes `delay` per call.
    struct Slow(Duration, usize);

    impl Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            std::thread::sleep(self.0);
            let n = self.1.min(buf.len());
            self.1 -= n;
            Ok(n)
        }
    }

    #[test]
    fn reads_and_writes_are_timed_and_the_stage_keeps_only_its_own_time() {
        let perf = Perf::new();
        let stage = perf.stage();
        let mut r = perf.reader(Slow(Duration::from_millis(50), 10));
        let mut buf = [0u8; 64];
        assert_eq!(r.read(&mut buf).unwrap(), 10);
        assert_eq!(r.read(&mut buf).unwrap(), 0);
        // the stage's own work
        std::thread::sleep(Duration::from_millis(30));
        let mut w = perf.writer(Vec::new());
        perf.time(Phase::Scan, || w.write_all(b"abc").unwrap());
        perf.end_stage(Phase::Compress, stage);
        perf.count(Volume::FilesExamined, 2);
        let p = perf.finish();
        assert_eq!((p.bytes_read, p.files_examined), (10, 2));
        assert!(p.read_ms >= 100, "{p:?}");
        // 30 ms of its own, without the 100 ms of reads (writes were nearly instant)
        assert!(p.compress_ms >= 30 && p.compress_ms < 100, "{p:?}");
        assert!(
            p.scan_ms < 20 && p.upload_ms == 0 && p.verify_ms == 0,
            "{p:?}"
        );
        assert_eq!(w.into_inner(), b"abc");
    }

    #[test]
    fn a_span_adds_its_time_when_dropped() {
        let perf = Perf::new();
        {
            let _s = perf.span(Phase::Verify);
            std::thread::sleep(Duration::from_millis(5));
        }
        perf.add(Phase::Upload, Duration::from_millis(7));
        let p = perf.finish();
        assert!(p.verify_ms >= 5, "{p:?}");
        assert_eq!(p.upload_ms, 7);
    }
}
