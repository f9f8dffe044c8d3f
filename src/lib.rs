//! backupd: a self-hosted scheduled-backup service (work in progress).
pub mod archive;
