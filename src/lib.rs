//! backupd: a self-hosted scheduled-backup service (work in progress).
pub mod api;
pub mod archive;
pub mod clock;
pub mod config;
pub mod decide;
pub mod domain;
pub mod events;
pub mod progress;
pub mod projections;
pub mod scheduler;
pub mod service;
pub mod snapshot;
pub mod store;
