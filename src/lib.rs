//! backupd: a self-hosted scheduled-backup service. One binary, one data directory, a REST API;
//! everything it knows is folded from an append-only event log.
//!
//! ```text
//!  API / timer loop / run outcomes ─> Command ─> decide (pure) ─> events ─> append (redb)
//!                                                                    └─> evolve projections ─> queries
//! ```
//!
//! Code map:
//! - `events`      the persisted vocabulary and its byte framing (schema/events.md)
//! - `store`       the redb event log: append with expected position and idempotency key, group
//!   commit, range reads, waits, the snapshot slot. The only module that touches redb.
//! - `projections` pure folds: schedule (jobs, runs), catalog (backups, reports, archive origins,
//!   storage by day), stats, the latest health
//! - `snapshot`    projection snapshots, a cache checked against the code version and the log
//! - `decide`      commands and the pure decision function (every business rule)
//! - `service`     the single writer: decide → append → evolve → notify
//! - `domain`      jobs, cron/interval triggers, presets, durations, the seed's JSON shapes, the
//!   retention plan (what cleanup deletes and why) and the health verdicts — all pure
//! - `scheduler`   the smol timer loop (pure planning + the loop that runs executors)
//! - `api`         the REST API on tide under /api/backup, and /metrics (every tide type stays inside)
//! - `progress`    live progress of running runs (ephemeral, never events)
//! - `archive`     the archive container (schema/archive.md)
//! - `report`      the daily report, pure: figures from the state, a self-contained HTML page
//! - `engine`      what a run does: sources, full/incremental backups, restore, verify, boot
//!   reconcile; the maintenance bodies (cleanup, weekly archive, health check, daily report)
//! - `error`       `ErrorKind`: transient / integrity / refused / config / internal, which every
//!   layer's error reports through `kind()`
//! - `config`, `clock`, `logging`  the shell's configuration, time source and log files
//!
//! Invariants:
//! - Only `Service` appends to the log, and only events that `decide` produced.
//! - `evolve` (`State::apply`) reads no clock, file or environment; state at N = fold of 1..=N.
//! - Replay never has side effects: the engine is started by `run_started` events seen live, and
//!   reports back only through commands.
pub mod api;
pub mod archive;
pub mod clock;
pub mod config;
pub mod decide;
pub mod domain;
pub mod engine;
pub mod error;
pub mod events;
pub mod logging;
pub mod progress;
pub mod projections;
pub mod queries;
pub mod report;
pub mod scheduler;
pub mod service;
pub mod snapshot;
pub mod store;
