//! The performance analysis (`GET reports/performance`, the daily report's performance section):
//! per backup job, its succeeded runs in a window with their throughput and phases, which phase
//! dominates and what that says the job is bound by, compression and dedup ratios, the trend of
//! duration against data, the backup window to expect, storage growth and when the volume
//! fills, and the runs that took far longer than usual (regressions).
//!
//! Pure: the volume's free space is read by the caller (statvfs) and passed in.
//!
//! Definitions (the API documents them too):
//! - A run belongs to the window when it finished in `(now - days, now]` and succeeded. Its
//!   time on the charts and in the trends is when it started.
//! - Throughput: `bytes_read / duration` in MB/s (10^6 bytes), of runs that measured their
//!   phases (`run_succeeded_v3`); older runs have no throughput and no phases.
//! - Slowest phase: the largest sum over the window's runs; `bound`: `disk` for scan, read,
//!   write and verify, `cpu` for compress, `network` for upload.
//! - Compression ratio: Σ bytes_read / Σ bytes_stored; dedup ratio: Σ bytes_stored / Σ bytes_new.
//! - Trends: least-squares slopes against the run's start in days: `duration_ms_per_day` and
//!   `bytes_read_per_day` (the data a run had to read growing or shrinking).
//! - Backup window: the median and the 95th percentile (nearest rank) of the durations.
//! - Storage growth: the least-squares slope of the bytes the job's runs added to storage
//!   (cumulative `bytes_new`) per day; for the whole data directory, the slope of the catalog's
//!   stored bytes at the end of each day (net of deletions). Days until full: free bytes / growth,
//!   null when it is not growing or the free space is unknown.
//! - Regressions: a run whose duration is over `REGRESSION_FACTOR` times the median duration of
//!   the job's succeeded runs that started in the `REGRESSION_LOOKBACK_DAYS` days before it;
//!   judged only with at least `REGRESSION_MIN_RUNS` such earlier runs (before that, nothing is
//!   "usual" yet). The earlier runs may lie before the window.

use super::{since, unix_day};
use crate::events::{RunPerf, Ts};
use crate::projections::{Run, RunKind, RunStatus, State};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const DEFAULT_DAYS: u32 = 30;
pub const MAX_DAYS: u32 = 366;
/// A run over this many times the usual duration is a regression.
pub const REGRESSION_FACTOR: f64 = 1.5;
/// The usual duration is the median of the runs in this many days before a run...
pub const REGRESSION_LOOKBACK_DAYS: i64 = 30;
/// ...of which there must be at least this many.
pub const REGRESSION_MIN_RUNS: usize = 5;

const MS_PER_DAY: f64 = 86_400_000.0;

/// The free and total bytes of the data directory's file system (statvfs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VolumeSpace {
    pub free_bytes: u64,
    pub total_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Performance {
    pub from: Ts,
    pub to: Ts,
    pub days: u32,
    pub volume: Option<VolumeSpace>,
    /// The whole data directory: net growth of stored bytes per day and days until full.
    pub storage: StorageOutlook,
    pub jobs: Vec<JobPerformance>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StorageOutlook {
    pub growth_bytes_per_day: Option<f64>,
    pub days_until_full: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobPerformance {
    pub job_id: String,
    pub name: String,
    /// Succeeded runs in the window, oldest first.
    pub runs: Vec<PerfRun>,
    /// How many of them measured their phases.
    pub measured_runs: u64,
    /// Each phase's total over the measured runs.
    pub phase_totals_ms: Phases,
    pub slowest_phase: Option<String>,
    /// `disk`, `cpu` or `network`: what the slowest phase waits on.
    pub bound: Option<String>,
    pub compression_ratio: Option<f64>,
    pub dedup_ratio: Option<f64>,
    pub trend: Trend,
    pub window: BackupWindow,
    /// What this job's runs added to storage per day; days until full if it alone grew.
    pub storage: StorageOutlook,
    pub regressions: Vec<Regression>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerfRun {
    pub run_id: String,
    pub started_at: Ts,
    pub finished_at: Ts,
    pub duration_ms: u64,
    pub throughput_mb_s: Option<f64>,
    /// The run's `perf` (`run_succeeded_v3`); null for runs recorded without it.
    pub perf: Option<RunPerf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phases {
    pub scan_ms: u64,
    pub read_ms: u64,
    pub compress_ms: u64,
    pub write_ms: u64,
    pub upload_ms: u64,
    pub verify_ms: u64,
}

impl Phases {
    fn add(&mut self, p: &RunPerf) {
        self.scan_ms += p.scan_ms;
        self.read_ms += p.read_ms;
        self.compress_ms += p.compress_ms;
        self.write_ms += p.write_ms;
        self.upload_ms += p.upload_ms;
        self.verify_ms += p.verify_ms;
    }

    /// `(name, ms, bound)` of each phase, in `RunPerf`'s order.
    pub fn named(&self) -> [(&'static str, u64, &'static str); 6] {
        [
            ("scan", self.scan_ms, "disk"),
            ("read", self.read_ms, "disk"),
            ("compress", self.compress_ms, "cpu"),
            ("write", self.write_ms, "disk"),
            ("upload", self.upload_ms, "network"),
            ("verify", self.verify_ms, "disk"),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub duration_ms_per_day: Option<f64>,
    pub bytes_read_per_day: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupWindow {
    pub median_ms: Option<u64>,
    pub p95_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regression {
    pub run_id: String,
    pub started_at: Ts,
    pub duration_ms: u64,
    /// The median duration of the earlier runs it was compared with.
    pub median_ms: f64,
    /// `duration_ms / median_ms`.
    pub ratio: f64,
    pub earlier_runs: u64,
}

/// The analysis of the `days` days up to `now`, of every backup job or only `job`.
pub fn performance(
    state: &State,
    now: Ts,
    days: u32,
    job: Option<&str>,
    volume: Option<VolumeSpace>,
) -> Performance {
    let from = since(now, time::Duration::days(i64::from(days)));
    let lookback = since(from, time::Duration::days(REGRESSION_LOOKBACK_DAYS));
    // Every succeeded backup run that can matter (the window and the lookback before it), per
    // job, oldest first.
    let mut by_job: BTreeMap<&str, Vec<&Run>> = BTreeMap::new();
    for (id, j) in &state.schedule.jobs {
        if j.spec.action.backup_config().is_some() && job.is_none_or(|o| o == id) {
            by_job.entry(id).or_default();
        }
    }
    for r in state.schedule.runs.values() {
        if r.kind == RunKind::Backup
            && r.status == RunStatus::Succeeded
            && r.duration_ms.is_some()
            && r.started_at > lookback
            && r.finished_at.is_some_and(|f| f <= now)
            && job.is_none_or(|o| o == r.job_id)
        {
            by_job.entry(&r.job_id).or_default().push(r);
        }
    }
    let free = volume.map(|v| v.free_bytes);
    let jobs = by_job
        .into_iter()
        .map(|(job_id, mut runs)| {
            runs.sort_by(|a, b| (a.started_at, &a.run_id).cmp(&(b.started_at, &b.run_id)));
            let name = state
                .schedule
                .jobs
                .get(job_id)
                .map_or_else(|| job_id.to_string(), |j| j.spec.name.clone());
            job_performance(job_id, name, &runs, from, now, free)
        })
        .collect();
    let growth = storage_growth(state, from, now);
    Performance {
        from,
        to: now,
        days,
        volume,
        storage: outlook(growth, free),
        jobs,
    }
}

impl Performance {
    /// The same analysis with the volume's free space `volume` (read by the caller after a pure
    /// build): the days until full follow from the growth rates.
    pub fn with_volume(mut self, volume: Option<VolumeSpace>) -> Performance {
        let free = volume.map(|v| v.free_bytes);
        self.volume = volume;
        self.storage = outlook(self.storage.growth_bytes_per_day, free);
        for j in &mut self.jobs {
            j.storage = outlook(j.storage.growth_bytes_per_day, free);
        }
        self
    }
}

fn job_performance(
    job_id: &str,
    name: String,
    runs: &[&Run],
    from: Ts,
    now: Ts,
    free: Option<u64>,
) -> JobPerformance {
    let in_window = |r: &&&Run| r.finished_at.is_some_and(|f| f > from && f <= now);
    let window: Vec<&Run> = runs.iter().filter(in_window).copied().collect();
    let duration = |r: &Run| r.duration_ms.unwrap_or(0);
    let day = |t: Ts| (t.get() - from.get()).as_seconds_f64() * 1000.0 / MS_PER_DAY;

    let mut phases = Phases::default();
    let (mut measured, mut read, mut stored, mut new) = (0u64, 0u64, 0u64, 0u64);
    let mut bytes_points = Vec::new();
    let mut added_points = Vec::new();
    for r in &window {
        if let Some(p) = &r.perf {
            measured += 1;
            phases.add(p);
            read += p.bytes_read;
            stored += p.bytes_stored;
            new += p.bytes_new;
            bytes_points.push((day(r.started_at), p.bytes_read as f64));
            added_points.push((day(r.started_at), new as f64));
        }
    }
    let slowest = phases
        .named()
        .into_iter()
        .filter(|(_, ms, _)| *ms > 0)
        .max_by_key(|(_, ms, _)| *ms);
    let ratio = |a: u64, b: u64| (a > 0 && b > 0).then(|| a as f64 / b as f64);
    let durations: Vec<(f64, f64)> = window
        .iter()
        .map(|r| (day(r.started_at), duration(r) as f64))
        .collect();
    let mut sorted: Vec<u64> = window.iter().map(|r| duration(r)).collect();
    sorted.sort_unstable();
    let growth = slope(&added_points);

    JobPerformance {
        job_id: job_id.to_string(),
        name,
        runs: window
            .iter()
            .map(|r| PerfRun {
                run_id: r.run_id.clone(),
                started_at: r.started_at,
                finished_at: r.finished_at.unwrap_or(r.started_at),
                duration_ms: duration(r),
                throughput_mb_s: r.perf.and_then(|p| throughput(p.bytes_read, duration(r))),
                perf: r.perf,
            })
            .collect(),
        measured_runs: measured,
        phase_totals_ms: phases,
        slowest_phase: slowest.map(|(name, _, _)| name.to_string()),
        bound: slowest.map(|(_, _, bound)| bound.to_string()),
        compression_ratio: ratio(read, stored),
        dedup_ratio: ratio(stored, new),
        trend: Trend {
            duration_ms_per_day: slope(&durations),
            bytes_read_per_day: slope(&bytes_points),
        },
        window: BackupWindow {
            median_ms: median(&sorted).map(|m| m.round() as u64),
            p95_ms: percentile(&sorted, 95),
        },
        storage: outlook(growth, free),
        regressions: regressions(runs, &window),
    }
}

/// MB/s of `bytes` in `ms`; none for a run too short to time.
fn throughput(bytes: u64, ms: u64) -> Option<f64> {
    (ms > 0).then(|| bytes as f64 / 1e6 / (ms as f64 / 1000.0))
}

/// The runs of `window` over `REGRESSION_FACTOR` times the median of the job's runs (`all`,
/// sorted by start) that started in the lookback before each.
fn regressions(all: &[&Run], window: &[&Run]) -> Vec<Regression> {
    let lookback = time::Duration::days(REGRESSION_LOOKBACK_DAYS);
    window
        .iter()
        .filter_map(|r| {
            let start = since(r.started_at, lookback);
            let mut earlier: Vec<u64> = all
                .iter()
                .filter(|e| e.started_at >= start && e.started_at < r.started_at)
                .filter_map(|e| e.duration_ms)
                .collect();
            if earlier.len() < REGRESSION_MIN_RUNS {
                return None;
            }
            earlier.sort_unstable();
            let median = median(&earlier)?;
            let duration = r.duration_ms? as f64;
            (duration > REGRESSION_FACTOR * median).then(|| Regression {
                run_id: r.run_id.clone(),
                started_at: r.started_at,
                duration_ms: duration as u64,
                median_ms: median,
                ratio: if median > 0.0 {
                    duration / median
                } else {
                    f64::INFINITY
                },
                earlier_runs: earlier.len() as u64,
            })
        })
        // An infinite ratio (a median of 0 ms) is not JSON: such a run is compared with nothing.
        .filter(|r| r.ratio.is_finite())
        .collect()
}

/// The median of sorted `v` (the mean of the middle two for an even count).
fn median(v: &[u64]) -> Option<f64> {
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2] as f64),
        _ => Some((v[n / 2 - 1] as f64 + v[n / 2] as f64) / 2.0),
    }
}

/// The `p`th percentile of sorted `v` by nearest rank.
fn percentile(v: &[u64], p: usize) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let rank = (p * v.len()).div_ceil(100).max(1);
    Some(v[rank - 1])
}

/// The least-squares slope of y over x; none for fewer than two distinct x.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 1e-12).then(|| sxy / sxx)
}

/// The data directory's net growth: the slope of the catalog's stored bytes at the end of each
/// UTC day in the window.
fn storage_growth(state: &State, from: Ts, now: Ts) -> Option<f64> {
    let points: Vec<(f64, f64)> = state
        .catalog
        .storage_by_day
        .range(unix_day(from)..=unix_day(now))
        .map(|(day, p)| (*day as f64, p.total() as f64))
        .collect();
    slope(&points)
}

fn outlook(growth: Option<f64>, free: Option<u64>) -> StorageOutlook {
    StorageOutlook {
        growth_bytes_per_day: growth,
        days_until_full: match (growth, free) {
            (Some(g), Some(free)) if g > 0.0 => Some(free as f64 / g),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;
    use crate::queries::fixture::{at, created, started, state, DAY, HOUR};

    fn perf(read_ms: u64, compress_ms: u64, bytes_read: u64) -> RunPerf {
        RunPerf {
            scan_ms: 10,
            read_ms,
            compress_ms,
            write_ms: 50,
            bytes_read,
            bytes_stored: bytes_read / 4,
            bytes_new: bytes_read / 4,
            files_examined: 10,
            files_changed: 5,
            ..Default::default()
        }
    }

    fn v3(run_id: &str, duration_ms: u64, perf: RunPerf) -> Event {
        Event::RunSucceededV3 {
            run_id: run_id.into(),
            backup_id: None,
            bytes: perf.bytes_stored,
            files: 5,
            duration_ms,
            note: None,
            warnings_total: 0,
            warnings: vec![],
            perf,
        }
    }

    /// Job `j`: one run a day for `durations.len()` days, run i started at day i + 1h and
    /// finishing a second later, reading `1_000_000 * (i + 1)` bytes.
    fn daily(durations: &[u64]) -> State {
        let mut events = vec![(0, created("j"))];
        for (i, d) in durations.iter().enumerate() {
            let t = i as i64 * DAY + HOUR;
            let id = format!("r{i:02}");
            events.push((t, started(&id, "j")));
            events.push((
                t + 1,
                v3(&id, *d, perf(*d / 2, *d / 4, 1_000_000 * (i as u64 + 1))),
            ));
        }
        state(events)
    }

    fn ids(p: &JobPerformance) -> Vec<&str> {
        p.regressions.iter().map(|r| r.run_id.as_str()).collect()
    }

    #[test]
    fn runs_over_one_and_a_half_times_the_median_of_the_thirty_days_before_are_regressions() {
        // 1000 ms usually; run 3 is slow but has only 3 earlier runs; 8 and 20 are slow; 12 is
        // exactly 1.5x (not over).
        let mut d = vec![1000u64; 30];
        d[3] = 5000;
        d[8] = 1600;
        d[12] = 1500;
        d[20] = 4000;
        let s = daily(&d);
        let p = performance(&s, at(30 * DAY), 30, None, None);
        assert_eq!(p.jobs.len(), 1);
        let j = &p.jobs[0];
        assert_eq!(j.runs.len(), 30);
        assert_eq!(ids(j), ["r08", "r20"]);
        let r8 = &j.regressions[0];
        assert_eq!((r8.median_ms, r8.earlier_runs), (1000.0, 8));
        assert!((r8.ratio - 1.6).abs() < 1e-9);
        // the window of 10 days sees only the last regression, still judged against the 30
        // days before it (runs outside the window)
        let p = performance(&s, at(30 * DAY), 10, None, None);
        assert_eq!(p.jobs[0].runs.len(), 10);
        assert_eq!(ids(&p.jobs[0]), ["r20"]);
        assert_eq!(p.jobs[0].regressions[0].earlier_runs, 20);
    }

    #[test]
    fn only_the_thirty_days_before_a_run_make_its_median() {
        // 40 slow days (3000 ms), 31 fast ones (1000 ms), then 2000 ms: the whole history's
        // median is 3000 ms, but the 30 days before the last run are all fast, so it is over 1.5x.
        let mut d = vec![3000u64; 40];
        d.extend(vec![1000u64; 31]);
        d.push(2000);
        let s = daily(&d);
        let p = performance(&s, at(72 * DAY), 366, None, None);
        assert_eq!(ids(&p.jobs[0]), ["r71"]);
        let r = &p.jobs[0].regressions[0];
        // runs 41..=70 started in the 30 days before it (run 40 a day too early)
        assert_eq!((r.median_ms, r.earlier_runs), (1000.0, 30));
    }

    #[test]
    fn phases_ratios_trends_and_the_window() {
        let d: Vec<u64> = (0..20).map(|i| 1000 + 20 * i).collect();
        let s = daily(&d);
        let p = performance(
            &s,
            at(20 * DAY),
            30,
            Some("j"),
            Some(VolumeSpace {
                free_bytes: 1_000_000_000,
                total_bytes: 2_000_000_000,
            }),
        );
        let j = &p.jobs[0];
        assert_eq!(j.measured_runs, 20);
        // read (d/2) dominates compress (d/4), scan and write: disk-bound
        assert_eq!(j.slowest_phase.as_deref(), Some("read"));
        assert_eq!(j.bound.as_deref(), Some("disk"));
        assert_eq!(j.compression_ratio, Some(4.0));
        assert_eq!(j.dedup_ratio, Some(1.0));
        // one run a day, each 20 ms slower and reading 1 MB more
        let t = j.trend;
        assert!(
            (t.duration_ms_per_day.unwrap() - 20.0).abs() < 1e-6,
            "{t:?}"
        );
        assert!((t.bytes_read_per_day.unwrap() - 1e6).abs() < 1e-3, "{t:?}");
        // durations 1000..=1380: median (1180 + 1200) / 2, p95 the 19th of 20
        assert_eq!(j.window.median_ms, Some(1190));
        assert_eq!(j.window.p95_ms, Some(1360));
        // the first run: 1 MB in 1 s
        assert_eq!(j.runs[0].throughput_mb_s, Some(1.0));
        assert_eq!(j.runs[0].perf.unwrap().bytes_read, 1_000_000);
        // it adds 250 kB, then 500 kB, ...: cumulative growth is quadratic; its slope is positive
        // and the free gigabyte lasts free / slope days
        let g = j.storage.growth_bytes_per_day.unwrap();
        assert!(g > 250_000.0, "{g}");
        assert!((j.storage.days_until_full.unwrap() - 1e9 / g).abs() < 1e-6);
        // the same, with the volume given after the build
        let later = performance(&s, at(20 * DAY), 30, Some("j"), None).with_volume(p.volume);
        assert_eq!(later, p);
        // none of these is 1.5x the median before it
        assert!(j.regressions.is_empty());
    }

    #[test]
    fn a_job_without_measured_runs_has_durations_but_no_phases_and_other_jobs_are_left_out() {
        let s = state(vec![
            (0, created("j")),
            (0, created("k")),
            (HOUR, started("r1", "j")),
            (
                HOUR + 2,
                crate::queries::fixture::succeeded("r1", 100, 2000),
            ),
            (HOUR, started("r2", "k")),
            (HOUR + 1, crate::queries::fixture::failed("r2")),
        ]);
        let p = performance(&s, at(DAY), 30, Some("j"), None);
        assert_eq!(p.jobs.len(), 1);
        let j = &p.jobs[0];
        assert_eq!((j.runs.len(), j.measured_runs), (1, 0));
        assert_eq!(j.runs[0].throughput_mb_s, None);
        assert_eq!((&j.slowest_phase, &j.bound), (&None, &None));
        assert_eq!(j.compression_ratio, None);
        assert_eq!(j.window.median_ms, Some(2000));
        assert_eq!(j.trend.duration_ms_per_day, None);
        assert_eq!(j.storage.days_until_full, None);
        // every backup job is listed, a failed run is not one of its runs
        let all = performance(&s, at(DAY), 30, None, None);
        assert_eq!(all.jobs.len(), 2);
        assert!(all.jobs[1].runs.is_empty());
    }

    #[test]
    fn slope_median_and_percentile() {
        assert_eq!(slope(&[(0.0, 1.0)]), None);
        assert_eq!(slope(&[(1.0, 1.0), (1.0, 5.0)]), None);
        assert_eq!(slope(&[(0.0, 1.0), (2.0, 5.0)]), Some(2.0));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1, 3, 10]), Some(3.0));
        assert_eq!(median(&[1, 3]), Some(2.0));
        assert_eq!(percentile(&[5], 95), Some(5));
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 95), Some(95));
        assert_eq!(outlook(Some(-5.0), Some(10)).days_until_full, None);
        assert_eq!(outlook(Some(5.0), None).days_until_full, None);
        assert_eq!(outlook(Some(5.0), Some(10)).days_until_full, Some(2.0));
    }
}
