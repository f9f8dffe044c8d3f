//! backupd: a self-hosted scheduled-backup service. One binary, one data directory, a REST API;
//! everything it knows is folded from an append-only event log.
//!
//! ```text
//!  API / timer loop / run outcomes ─> Command ─> decide (pure) ─> events ─> append (redb)
//!                                                                    └─> evolve projections
//!  API, report, /metrics, dashboard <─ render <─ queries (pure: state, now) <───────┘
//! ```
//!
//! Code map (arrows only point down this list's dependencies: `api` → `queries` → `projections`,
//! never back up):
//! - `events`      the persisted vocabulary and its byte framing: v4 records carry a SHA-256
//!   digest and the previous event's hash (schema/events.md)
//! - `store`       the redb event log: append with expected position and idempotency key, group
//!   commit, range reads that check every checksum and link (`chain`), the head file that shows
//!   a log cut short (`head`), redb panics caught (`guard`), reopen-and-retry after a failed
//!   write, waits, the snapshot slot, the API's idempotent requests (`requests`). The only module
//!   that touches redb.
//! - `projections` pure folds (`evolve`): schedule (jobs, runs), catalog (backups, reports,
//!   archive origins, storage by day), stats, the latest health
//! - `snapshot`    projection snapshots, a cache checked against the code version and the log
//! - `decide`      `Command` and `decide`: a dispatch in `decide/mod.rs`, one file per aggregate
//!   with its given/when/then tests — `scheduler` (boot, start/stop), `jobs`, `runs` (start,
//!   finish, skip, missed), `queue` (run requests, the concurrency limit, cancel), `catalog`
//!   (verify, delete, archive), `records` (health, reports), `recover` (a catalog rebuilt from
//!   the archives), `snapshots` (a backup run's `pack_written` and `snapshot_recorded`)
//! - `service`     the single writer: decide → append → evolve → notify
//! - `domain`      the pure rules: job validation, update patches (`patch`: a PUT merged into
//!   the job as it is when decided), which sources a job selects (`selection`), cron/interval
//!   triggers, presets, durations, which backup an incremental builds on (`base`), the retention
//!   plan (what cleanup deletes and why), a job's restic-style `keep` rules (`keep`) and the
//!   health verdicts
//! - `queries`     pure functions of `(&State, now)` returning plain structs: the status figures,
//!   the runs / backups / reports listings, the metric families' values, the report's figures.
//!   One definition of every number; `api` and `report` only render them
//! - `scheduler`   the smol timer loop (pure planning, the run limits: `max_concurrent_runs` and
//!   `run_timeout`, + the loop that runs executors and stops them)
//! - `api`         the REST API on tide under /api/backup, and /metrics (every tide type stays
//!   inside); each resource keeps its own JSON shapes (`api/jobs/` holds the seed's JSON:
//!   `seed.rs` for triggers, `backup_config.rs` for backup configs, `body.rs` for create bodies
//!   and update patches); errors map to statuses in one place (`api/error.rs`, by
//!   `ErrorKind`); `conn` reads each request head itself so a bad one gets its 4xx,
//!   `idempotency` binds an Idempotency-Key to its request, `browse` lists and serves a backup's
//!   files by their original paths
//! - `auth`        API tokens: the secret's format (`bkpd_`, base62, CRC32), SHA-256 and
//!   constant-time comparison (`token`), the scopes and which route needs which (`scope`), the
//!   pure verdict on a request (`authorize`). Around it: `api/access.rs` (the guard every request
//!   passes; the actor becomes `api:<token name>`), `api/tokens.rs` (the token routes),
//!   `decide/tokens.rs` (the rules) and `projections/tokens.rs` (the fold); `api/tls.rs` serves
//!   the API over rustls (`[server.tls]`, reloaded on SIGHUP); `engine/targets.rs` keeps API
//!   restores inside `[restore] allowed_targets`
//! - `web`         the dashboard's files (`web/`: HTML, CSS, JavaScript, compiled in), served at
//!   `/` with a strict CSP before the access guard (they hold no data; the pages call the API
//!   with the operator's token); `api/state.rs` adds `whoami` and the state at a log position,
//!   `api/trigger_preview.rs` an unsaved trigger's fire times, for it
//! - `progress`    live progress of running runs and their stop switch (cancel, timeout,
//!   shutdown: it kills their dump tools' process groups); ephemeral, never events
//! - `archive`     the archive container (schema/archive.md)
//! - `keys`        encryption at rest: the master key, Argon2id key files `keys/<id>.json`
//!   (`file`), unlocking at start (`unlock`), the per-archive HKDF key and XChaCha20-Poly1305 of
//!   one sealed unit (`seal`); `archive/seal.rs` lays sealed archives out with it
//! - `repository`  the deduplicated repository (schema/repository.md): FastCDC chunks with
//!   keyed BLAKE3 ids, packs in the archive container (one frame per chunk), per-backup
//!   snapshot indexes that open as archive readers over the packs (since version 2 their entries
//!   are tree chunks in the packs, `repository/tree`); `ChunkLookup` says where a
//!   chunk is. What is live is the projection `projections/repository` (chunk → pack frame,
//!   each live snapshot's frame bitmaps; it answers `ChunkLookup`); `decide/prune` says which
//!   packs go (never while a run that uses packs is in flight), `engine/prune` deletes and
//!   repacks after retention cleanup, `engine/sample` verifies frames or a rotating sample (and
//!   is the `verify_sample` job, the weekly preset); a full hashes files ahead on every core
//!   (`engine/read_ahead`, `repository::hash_stream`) while one writer stores what is new; a
//!   pack missing or damaged locally is read frame by frame from a remote
//!   (`archive/reader/pack_file.rs`, `repository/open.rs`)
//! - `report`      the daily report: its model from `queries`, a self-contained HTML page
//! - `engine`      what a run does: sources, full/incremental backups, hooks around them (hooks
//!   and dump tools inherit none of the service's secrets: `dump::child_env`),
//!   restore (with `skip_damaged`), verify through the chain, boot reconcile, `recover` from the
//!   archives, `browse` (a backup's directories and files by original path: `paths` maps them to
//!   the archive's layout; `browse/cache` keeps sorted trees built ahead); the maintenance bodies (cleanup, weekly archive, health check,
//!   daily report)
//! - `notify`      notifications by e-mail and webhook (`[[notify]]`): the pure part (which
//!   events make which notice, `min_interval` coalescing with a digest, the dead-man's switch)
//!   and the shell (a thread following the log and the clock, a queue per channel with retries;
//!   every attempt recorded as `notification_sent` / `notification_failed`)
//! - `remote`      off-site copies (`[[remotes]]`): the blocking `ObjectStore` trait, an S3
//!   store (`s3`, signed with rusty-s3, sent with ureq) and a mounted directory (`dir`)
//! - `error`       `ErrorKind`: transient / integrity / refused / config / internal, which every
//!   layer's error reports through `kind()`, a failed run records (`run_failed_v2`) and the API
//!   turns into a status
//! - `failpoint` named crash points at the repository's step boundaries (inert unless a test
//!   arms one on its thread), for the crash-safety property test (tests/it/crash.rs)
//! - `config`, `clock`, `logging`  the shell's configuration, time source and log files
//! - `background` the handle of a `serve` thread (notifier, replication, log shipping) that stops
//!   and joins it when dropped
//! - `bench`       `backupd bench`: read, compress (each codec and level, through the archive
//!   writer) and write speed, and the codec the pipeline rule recommends; offline
//! - the binary (`main.rs`: argument parsing and dispatch; `cli/`: the commands by concept —
//!   `catalog` (backups, ls, verify, offline restores), `recover`, `secrets` (key, token),
//!   `serve`) is a client of this library
//!
//! Invariants:
//! - Only `Service` appends to the log, and only events that `decide` produced.
//! - `evolve` (`State::apply`) reads no clock, file or environment; state at N = fold of 1..=N.
//! - Replay never has side effects: the engine is started by `run_started` events seen live, and
//!   reports back only through commands.
//! - `decide`, `domain`, `projections` and `queries` are pure: no clock (`now` is an argument),
//!   no I/O.
pub mod api;
pub mod archive;
pub mod auth;
pub mod background;
pub mod bench;
pub mod clock;
pub mod config;
pub mod decide;
pub mod domain;
pub mod engine;
pub mod error;
pub mod events;
pub mod failpoint;
pub mod keys;
pub mod logging;
pub mod notify;
pub mod progress;
pub mod projections;
pub mod queries;
pub mod remote;
pub mod report;
pub mod repository;
pub mod scheduler;
pub mod service;
pub mod snapshot;
pub mod store;
#[cfg(test)]
mod testkit;
pub mod web;
