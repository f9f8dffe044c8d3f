//! Remotes: off-site copies of what the data directory holds (packs, snapshot indexes, archives,
//! reports), in an S3 bucket (`s3`) or a mounted directory (`dir`), behind one blocking trait.
//! Keys are paths relative to the data directory (`repository/packs/ab/<id>.pack`); each store
//! puts them under its configured prefix.
//!
//! Credentials live only inside a store (from `config::remotes`); no error, event or log line
//! built here names them.

pub mod dir;
pub mod limit;
pub mod logship;
pub mod queue;
pub mod ranged;
pub mod recover;
pub mod s3;

pub use crate::config::remotes::{RemoteConfig, RemoteKind};

/// One remote store (S3 bucket+prefix or a mounted directory). Blocking: called from worker threads.
pub trait ObjectStore: Send + Sync {
    fn name(&self) -> &str;
    /// Upload a local file as `key` (multipart for large files, streamed in bounded memory);
    /// `if_absent`: fail with RemoteError::Exists if the key exists (S3 `If-None-Match: *`).
    fn put_file(
        &self,
        key: &str,
        path: &std::path::Path,
        if_absent: bool,
    ) -> Result<(), RemoteError>;
    fn put_bytes(&self, key: &str, bytes: &[u8], if_absent: bool) -> Result<(), RemoteError>;
    /// Bytes `range` (None = all) of `key`.
    fn get(&self, key: &str, range: Option<std::ops::Range<u64>>) -> Result<Vec<u8>, RemoteError>;
    /// Stream a whole object into a local file (bounded memory).
    fn get_to_file(&self, key: &str, path: &std::path::Path) -> Result<u64, RemoteError>;
    /// Size, None if absent.
    fn head(&self, key: &str) -> Result<Option<u64>, RemoteError>;
    /// Keys relative to the remote's prefix.
    fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, RemoteError>;
    fn delete(&self, key: &str) -> Result<(), RemoteError>;
}

/// What went wrong talking to a remote. Every message names the remote and the key (never a
/// credential), so an event's `reason` or a log line says where to look.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("remote {remote}: {key} already exists")]
    Exists { remote: String, key: String },
    #[error("remote {remote}: {key} not found")]
    NotFound { remote: String, key: String },
    #[error("remote {remote}: access denied for {key}: {message}")]
    Auth {
        remote: String,
        key: String,
        message: String,
    },
    #[error("remote {remote}: unreachable ({key}): {message}")]
    Unreachable {
        remote: String,
        key: String,
        message: String,
    },
    #[error("remote {remote}: {key}: HTTP {status}: {body}")]
    Http {
        remote: String,
        key: String,
        status: u16,
        body: String,
    },
    #[error("remote {remote}: {key}: {source}")]
    Io {
        remote: String,
        key: String,
        source: std::io::Error,
    },
}

impl RemoteError {
    /// Worth trying again later (the network, a 5xx, a timeout), as opposed to an answer that
    /// will not change by itself (wrong credentials, a missing bucket, a refused key).
    pub fn is_transient(&self) -> bool {
        match self {
            RemoteError::Unreachable { .. } | RemoteError::Io { .. } => true,
            RemoteError::Http { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            RemoteError::Exists { .. }
            | RemoteError::NotFound { .. }
            | RemoteError::Auth { .. } => false,
        }
    }
}

/// The store a `[[remotes]]` entry describes. Opening does no I/O beyond creating a `dir`
/// remote's root: reachability is the health check's probe.
pub fn open(cfg: &RemoteConfig) -> Result<Box<dyn ObjectStore>, RemoteError> {
    let limit = cfg.max_upload_rate.map(limit::RateLimit::new);
    Ok(match &cfg.kind {
        RemoteKind::S3(s) => Box::new(s3::S3Store::new(&cfg.name, s, &cfg.prefix, limit)?),
        RemoteKind::Dir { path } => {
            Box::new(dir::DirStore::new(&cfg.name, path, &cfg.prefix, limit))
        }
    })
}

/// A random number for temporary names and retry jitter (std's hasher keys are random per
/// process; mixing in a counter and the time makes each call differ).
pub(crate) fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(N.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}
