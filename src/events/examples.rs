//! One example of every event variant: the golden fixtures (`fixtures/events/`), the schema-list
//! test and the fuzz seeds are made from them.

use super::{
    BackupConfig, BackupKind, BackupMode, BackupRecord, BackupType, Event, FailureKind,
    HealthCheck, HealthStatus, Hooks, JobAction, JobSpec, KeepRules, Overwrite, PackChunk,
    PackRecord, PackRefs, RestoreOutcome, RestoreTarget, RetentionPolicy, RunPerf, RunReason,
    RunWarning, Scope, SnapshotRefs, TokenHash, Trigger, Ts, VerifySample,
};

/// One example of every variant, in tag order: the golden fixtures, the schema-list test and the
/// fuzz seeds are made from it.
#[doc(hidden)]
pub fn examples() -> Vec<Event> {
    let t = |s: i64| Ts::from_unix_nanos(1_780_000_000_000_000_000 + s * 1_000_000_000);
    let job = JobSpec {
        id: "custom_backup".into(),
        name: "Nightly uploads".into(),
        trigger: Trigger::Cron {
            minute: Some("30".into()),
            hour: Some("1".into()),
            day: None,
            day_of_week: Some("1-5".into()),
        },
        // v4: the description and named sources (v1-v3 fixtures hold the old `backup` shape);
        // v5: `backup_v3`, with keep rules (the v4 fixture holds `backup_v2`)
        action: JobAction::Backup(BackupConfig {
            backup_type: BackupType::Files,
            mode: BackupMode::Incremental,
            description: Some("自定义数据库备份".into()),
            include_database: None,
            include_files: Some(true),
            include_config: Some(false),
            sources: Some(vec!["uploads".into(), "app".into()]),
            compression: Some("gzip".into()),
            level: None,
            timeout_secs: Some(7200),
            hooks: Hooks {
                before: Some(vec![
                    "/usr/local/bin/mount-backup-disk".into(),
                    "--wait".into(),
                ]),
                after: None,
                on_failure: Some(vec!["notify-send".into(), "backup failed".into()]),
            },
            keep: Some(KeepRules {
                last: Some(3),
                hourly: None,
                daily: Some(7),
                weekly: Some(4),
                monthly: Some(12),
                yearly: None,
                within_secs: Some(2 * 86_400),
            }),
        }),
        misfire_grace_secs: Some(3600),
        timezone: Some("Asia/Shanghai".into()),
        jitter_secs: 0,
    };
    let interval = JobSpec {
        id: "preset_incremental".into(),
        name: "Incremental backup".into(),
        trigger: Trigger::Interval {
            seconds: 4 * 3600,
            start_at: Some(t(60)),
        },
        action: JobAction::Cleanup,
        misfire_grace_secs: None,
        timezone: None,
        jitter_secs: 30,
    };
    vec![
        Event::ServiceBooted {
            version: "0.1.0".into(),
            pid: 4242,
        },
        Event::PresetsInstalled {
            // The second job's trigger is the version 4 `cron_v2` (a cron line's five fields).
            // The third's action is the version 7 `verify_sample`.
            jobs: vec![interval.clone(), cron_line_job(), verify_job()],
        },
        Event::JobCreated { job: job.clone() },
        Event::JobUpdated { job: interval },
        Event::JobDeleted {
            job_id: "custom_backup".into(),
        },
        Event::JobPaused {
            job_id: "preset_incremental".into(),
        },
        Event::JobResumed {
            job_id: "preset_incremental".into(),
        },
        Event::SchedulerStarted,
        Event::SchedulerStopped {
            reason: "api".into(),
        },
        Event::RunStarted {
            run_id: "run-1".into(),
            job_id: "custom_backup".into(),
            slot: Some(t(0)),
            reason: RunReason::CatchUp,
        },
        Event::RunSucceeded {
            run_id: "run-1".into(),
            backup_id: Some("bk-1".into()),
            bytes: 123_456,
            files: 42,
            duration_ms: 1_500,
            note: Some("no usable base: took a full backup".into()),
        },
        Event::RunFailed {
            run_id: "run-2".into(),
            error: "pg_dump exited with status 1: connection refused".into(),
            duration_ms: 20,
        },
        Event::RunInterrupted {
            run_id: "run-3".into(),
            reason: "process stopped without an outcome".into(),
        },
        Event::RunSkipped {
            job_id: "custom_backup".into(),
            slot: t(3600),
            running_run_id: "run-1".into(),
        },
        Event::SlotsMissed {
            job_id: "custom_backup".into(),
            slots: vec![t(7200), t(10800)],
        },
        Event::RetentionPolicySet {
            policy: RetentionPolicy {
                full_secs: Some(30 * 86400),
                incremental_secs: Some(7 * 86400),
                archive_secs: None,
                report_secs: Some(90 * 86400),
            },
        },
        Event::BackupRecorded {
            backup: BackupRecord {
                id: "bk-1".into(),
                job_id: "custom_backup".into(),
                run_id: "run-1".into(),
                kind: BackupKind::Incremental,
                parent: Some("bk-0".into()),
                location: "backups/bk-1.bka".into(),
                bytes: 123_456,
                entries: 42,
                checksum: 0xDEAD_BEEF,
                compression: "zstd".into(),
                created_at: t(5),
            },
        },
        Event::BackupVerified {
            backup_id: "bk-1".into(),
            ok: false,
            detail: Some("entry etc/app.conf: CRC32 mismatch".into()),
        },
        Event::BackupDeleted {
            backup_id: "bk-0".into(),
            rule: "full older than 30d".into(),
            bytes: 99,
        },
        Event::HealthChecked {
            status: HealthStatus::Warning,
            checks: vec![HealthCheck {
                name: "disk".into(),
                status: HealthStatus::Warning,
                reason: "12% free".into(),
            }],
        },
        Event::ReportGenerated {
            report_id: "report-2026-11-24".into(),
            location: "reports/report-2026-11-24.json".into(),
            bytes: 2048,
        },
        Event::BackupArchived {
            backup_id: "weekly_archive-20261129T040000Z-r9".into(),
            source_id: "bk-3".into(),
            merged: vec!["bk-3".into(), "bk-2".into(), "bk-1".into()],
        },
        Event::ReportDeleted {
            report_id: "report-2026-08-24".into(),
            rule: "retention.report".into(),
            bytes: 40_960,
        },
        Event::RunFailedV2 {
            run_id: "run-4".into(),
            error: "database \"app\": pg_dump exited with 1: connection refused".into(),
            kind: FailureKind::Transient,
            duration_ms: 35,
        },
        Event::RunQueued {
            run_id: "custom_backup@manual-17".into(),
            job_id: "custom_backup".into(),
            slot: None,
            reason: RunReason::Manual,
            mode_override: Some(BackupMode::Full),
        },
        Event::RunStartedV2 {
            run_id: "custom_backup@manual-17".into(),
            job_id: "custom_backup".into(),
            slot: None,
            reason: RunReason::Manual,
            mode_override: Some(BackupMode::Full),
        },
        Event::RunCancelled {
            run_id: "custom_backup@manual-17".into(),
            reason: "timed out after 21600 s".into(),
            by: None,
            duration_ms: 21_600_000,
        },
        Event::RunSucceededV2 {
            run_id: "custom_backup@manual-18".into(),
            backup_id: Some("bk-5".into()),
            bytes: 654_321,
            files: 40,
            duration_ms: 2_500,
            note: Some("2 warning(s) (entries skipped or changed while read)".into()),
            warnings_total: 2,
            warnings: vec![
                RunWarning {
                    path: "/srv/uploads/big.log".into(),
                    reason: "changed while read (size 10 when opened, size 4 at the end); \
                             read again"
                        .into(),
                },
                RunWarning {
                    path: "/srv/uploads/pipe".into(),
                    reason: "skipped: a FIFO".into(),
                },
            ],
        },
        Event::CatalogRecovered {
            backups: 3,
            skipped: vec![
                "backups/daily_full_backup-20260528T020000Z-0badc0de.bka: damaged: frame 2: checksum mismatch".into(),
            ],
            note: "rebuilt from the archives in /var/lib/backupd; the log was moved aside as events.redb.damaged-20260530T101500Z".into(),
        },
        Event::BackupForgotten {
            backup_id: "custom_backup-20260529T101500Z-5eed0001".into(),
            reason: Some("taken with the wrong sources".into()),
            bytes: 1_048_576,
        },
        // v5: restore runs
        Event::RestoreStarted {
            run_id: "restore-20260530T101500Z-5eed0002".into(),
            backup_id: "custom_backup-20260529T101500Z-5eed0001".into(),
            paths: vec!["/srv/app/uploads".into(), "/etc/app.toml".into()],
            database: None,
            target: RestoreTarget::InPlace {
                overwrite: Overwrite::IfNewer,
            },
        },
        Event::RestoreFinished {
            run_id: "restore-20260530T101500Z-5eed0002".into(),
            outcome: RestoreOutcome::Incomplete { damaged: 2 },
            files: 41,
            bytes: 9_437_184,
            kept: 3,
            duration_ms: 1_250,
        },
        // v5: API tokens
        Event::TokenCreated {
            name: "ci-deploy".into(),
            scopes: vec![Scope::Read, Scope::Operate],
            expires_at: Some(t(90 * 86_400)),
            hash: TokenHash(std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5a)),
        },
        Event::TokenRevoked {
            name: "ci-deploy".into(),
        },
        // v5: notifications
        Event::NotificationSent {
            channel: "ops-mail".into(),
            kind: "run_failed".into(),
            subject: "backupd: daily_full failed".into(),
            run_id: Some("daily_full-20260530T020000Z-5eed0001".into()),
            attempt: 2,
        },
        Event::NotificationFailed {
            channel: "ops-mail".into(),
            kind: "run_failed".into(),
            reason: "Connection refused (os error 111)".into(),
            attempt: 1,
            will_retry: true,
        },
        // v5: a run waiting for a quiet machine
        Event::RunDeferred {
            job_id: "daily_full".into(),
            slot: t(7200),
            load: 1.75,
            threshold: 0.8,
            since: t(7204),
        },
        // v6: the deduplicated repository
        Event::RunSucceededV3 {
            run_id: "daily_full-20260530T020000Z-5eed0002".into(),
            backup_id: Some("daily_full-20260530T020000Z-5eed0002".into()),
            bytes: 812_345,
            files: 120,
            duration_ms: 4_200,
            note: None,
            warnings_total: 0,
            warnings: vec![],
            perf: RunPerf {
                scan_ms: 35,
                read_ms: 1_900,
                compress_ms: 1_100,
                write_ms: 600,
                upload_ms: 0,
                verify_ms: 0,
                bytes_read: 2_400_000,
                bytes_stored: 812_345,
                bytes_new: 812_345,
                files_examined: 130,
                files_changed: 120,
            },
        },
        Event::PackWritten {
            pack: PackRecord {
                id: "9f".repeat(32),
                run_id: "daily_full-20260530T020000Z-5eed0001".into(),
                location: format!("repository/packs/9f/{}.pack", "9f".repeat(32)),
                bytes: 3_146_000,
                chunks: vec![
                    PackChunk {
                        id: [0x11; 32],
                        raw_len: 1_048_576,
                        stored_len: 1_048_608,
                    },
                    PackChunk {
                        id: [0x22; 32],
                        raw_len: 2_097_152,
                        stored_len: 2_097_184,
                    },
                ],
            },
        },
        Event::SnapshotRecorded {
            backup: BackupRecord {
                id: "daily_full-20260531T020000Z".into(),
                job_id: "daily_full".into(),
                run_id: "daily_full-20260531T020000Z-5eed0002".into(),
                kind: BackupKind::Full,
                parent: None,
                location: "repository/snapshots/daily_full-20260531T020000Z.snap".into(),
                bytes: 4_096,
                entries: 3,
                checksum: 0x1234_5678,
                compression: "zstd".into(),
                created_at: t(93_600),
            },
            snapshot: SnapshotRefs {
                packs: vec![PackRefs {
                    pack: "9f".repeat(32),
                    frames: vec![0b11],
                }],
                logical_bytes: 3_145_728,
                new_bytes: 0,
                new_chunks: 0,
                chunks: 2,
            },
        },
        Event::PacksDeleted {
            packs: vec!["9f".repeat(32)],
            reason: "no live snapshot references it".into(),
            bytes: 3_146_000,
        },
        Event::PacksRepacked {
            from: vec!["9f".repeat(32)],
            into: vec!["a0".repeat(32)],
            bytes_freed: 2_097_184,
        },
        Event::ObjectReplicated {
            remote: "offsite".into(),
            key: "repository/snapshots/daily_full-20260531T020000Z.snap".into(),
            bytes: 4_096,
            attempt: 1,
        },
        Event::ReplicationFailed {
            remote: "offsite".into(),
            key: "backups/daily_full/daily_full-20260531T020000Z.bka".into(),
            reason: "remote offsite: unreachable (backups/daily_full/daily_full-20260531T020000Z.bka): Io: Connection refused".into(),
            attempt: 2,
            will_retry: true,
        },
        Event::RemoteObjectDeleted {
            remote: "offsite".into(),
            key: "backups/daily_full/daily_full-20260531T020000Z.bka".into(),
            reason: "backup_deleted: keep_daily".into(),
        },
        Event::LogShipped {
            remote: "offsite".into(),
            first: 1_201,
            last: 1_342,
            key: "log/00000000000000001201-00000000000000001342.seg".into(),
        },
    ]
}

/// The weekly sampled verify (schema version 7).
fn verify_job() -> JobSpec {
    JobSpec {
        id: "weekly_verify".into(),
        name: "Weekly sampled verify".into(),
        trigger: Trigger::Cron {
            minute: Some("0".into()),
            hour: Some("5".into()),
            day: None,
            day_of_week: Some("0".into()),
        },
        action: JobAction::VerifySample(VerifySample { per_mille: 50 }),
        misfire_grace_secs: None,
        timezone: None,
        jitter_secs: 0,
    }
}

/// A job whose trigger came as the cron line `"30 2 1 jan,jul mon-fri"` (schema version 4).
fn cron_line_job() -> JobSpec {
    JobSpec {
        id: "half_yearly".into(),
        name: "Half-yearly archive".into(),
        trigger: Trigger::CronV2 {
            minute: Some("30".into()),
            hour: Some("2".into()),
            day: Some("1".into()),
            month: Some("jan,jul".into()),
            day_of_week: Some("mon-fri".into()),
        },
        action: JobAction::Archive,
        misfire_grace_secs: Some(600),
        timezone: Some("Europe/Berlin".into()),
        jitter_secs: 0,
    }
}
