//! `backupd recover --from-remote NAME --data-dir NEW`: a lost machine's data dir rebuilt from a
//! remote alone. The log segments are fetched in order, each checked on its own (CRC, every
//! record's digest and position, its links) and against the one before (positions follow on,
//! its link is the previous segment's head), and written into a new log with their positions
//! and hashes unchanged (`store::Import`). Then the objects that log says the data dir holds
//! (archives, snapshot indexes, packs, reports) are downloaded to the same relative paths.
//!
//! Also `key export` / `key import`: the key files (`keys/<id>.json`, each the master key
//! wrapped under a passphrase) go to the remote only when asked, and come back from it.

use super::logship::segment::{self, SegmentError};
use super::{ObjectStore, RemoteError};
use crate::events::{self, Event, Hash, GENESIS};
use crate::projections::State;
use crate::store::{EventStore, Import, StoreError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a recovery did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovered {
    pub segments: usize,
    /// The last position recovered and its hash (`log verify` on the new log prints it).
    pub last: u64,
    pub head: Hash,
    /// Objects downloaded: key and bytes.
    pub downloaded: Vec<(String, u64)>,
    /// Objects the log names that the remote does not have (or has with another size), each
    /// `key: why`: the backups they hold cannot be restored from this remote.
    pub missing: Vec<String>,
    /// Key files brought back (`key export` had put them there).
    pub keys: Vec<String>,
    /// Objects under `log/` that are not segments (named, not read).
    pub strays: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error("{path} is not empty: recover --from-remote builds a new data dir and never writes into an existing one; give an empty or new directory")]
    NotEmpty { path: PathBuf },
    #[error("remote {remote} holds no log segments under log/: nothing to recover (is the prefix the lost host's?)")]
    NoSegments { remote: String },
    #[error(transparent)]
    Segment(#[from] SegmentError),
    #[error("log segment {key}: {source}")]
    Import {
        key: String,
        #[source]
        source: Box<StoreError>,
    },
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error("the recovered log: {0}")]
    Store(Box<StoreError>),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "key file {key}: a different file of that name is already {where_}; nothing was replaced"
    )]
    KeyClash { key: String, where_: String },
}

impl RecoverError {
    pub fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind as K;
        match self {
            RecoverError::NotEmpty { .. } | RecoverError::KeyClash { .. } => K::Refused,
            RecoverError::NoSegments { .. } => K::Config,
            RecoverError::Segment(_) => K::Integrity,
            RecoverError::Import { source, .. } | RecoverError::Store(source) => source.kind(),
            RecoverError::Remote(e) if e.is_transient() => K::Transient,
            RecoverError::Remote(_) => K::Refused,
            RecoverError::Io { source, .. } => K::of_io(source),
        }
    }
}

impl From<StoreError> for RecoverError {
    fn from(e: StoreError) -> Self {
        RecoverError::Store(Box::new(e))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RecoverError + '_ {
    move |source| RecoverError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Rebuild `data_dir` (missing or empty) from `remote`: the log into `data_dir/events.redb`,
/// then every object it names. A refused segment leaves no log behind (the dir was empty: what
/// was written is removed), so the command can be run again once the bucket is mended.
pub fn recover(remote: &dyn ObjectStore, data_dir: &Path) -> Result<Recovered, RecoverError> {
    let empty = match std::fs::read_dir(data_dir) {
        Ok(mut d) => d.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(io(data_dir)(e)),
    };
    if !empty {
        return Err(RecoverError::NotEmpty {
            path: data_dir.to_path_buf(),
        });
    }
    std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    let log = data_dir.join("events.redb");
    let mut out = match import_log(remote, &log) {
        Ok(r) => r,
        Err(e) => {
            for p in [log.clone(), data_dir.join("events.redb.head")] {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
    };
    for (key, bytes) in needed_objects(&log)? {
        match fetch(remote, data_dir, &key, bytes) {
            Ok(got) => out.downloaded.push((key, got)),
            Err(Fetch::Missing(why)) => out.missing.push(format!("{key}: {why}")),
            Err(Fetch::Failed(e)) => return Err(*e),
        }
    }
    out.keys = import_keys(remote, data_dir)?;
    Ok(out)
}

fn import_log(remote: &dyn ObjectStore, log: &Path) -> Result<Recovered, RecoverError> {
    let listed = remote.list("log/")?;
    let (segs, strays) = segment::plan(&listed)?;
    if segs.is_empty() {
        return Err(RecoverError::NoSegments {
            remote: remote.name().to_string(),
        });
    }
    let mut import = Import::create(log)?;
    let mut head = GENESIS;
    for (key, first, _) in &segs {
        let bytes = remote.get(key, None)?;
        let seg = segment::decode(key, &bytes)?;
        if seg.header.link != head {
            return Err(SegmentError::Chain {
                key: key.clone(),
                position: *first,
                expected: events::hex(&head),
                found: events::hex(&seg.header.link),
            }
            .into());
        }
        import
            .append(&seg.records)
            .map_err(|source| RecoverError::Import {
                key: key.clone(),
                source: Box::new(source),
            })?;
        head = seg.header.head;
    }
    let (last, head) = import.finish()?;
    Ok(Recovered {
        segments: segs.len(),
        last,
        head,
        strays,
        ..Recovered::default()
    })
}

/// Every object the log says the data dir holds, relative path → size when the log knows it:
/// the catalog's backups (archives and snapshot indexes), the packs written and not deleted,
/// and the reports (their JSON; the HTML page beside each is fetched when there).
pub fn needed_objects(log: &Path) -> Result<BTreeMap<String, Option<u64>>, RecoverError> {
    let store = EventStore::open_read_only(log)?;
    let mut state = State::default();
    let mut packs: BTreeMap<String, (String, u64)> = BTreeMap::new();
    store.scan_blocking(0, |env| {
        match &env.payload {
            Event::PackWritten { pack } => {
                packs.insert(pack.id.clone(), (pack.location.clone(), pack.bytes));
            }
            Event::PacksDeleted { packs: gone, .. } => {
                for id in gone {
                    packs.remove(id);
                }
            }
            _ => {}
        }
        state.apply(&env);
        true
    })?;
    let mut out = BTreeMap::new();
    for b in state.catalog.backups.values() {
        out.insert(b.record.location.clone(), Some(b.record.bytes));
    }
    for (location, bytes) in packs.into_values() {
        out.insert(location, Some(bytes));
    }
    for r in state.catalog.reports.values() {
        out.insert(r.location.clone(), Some(r.bytes));
        if let Some(html) = Path::new(&r.location).with_extension("html").to_str() {
            out.insert(html.to_string(), None);
        }
    }
    Ok(out)
}

enum Fetch {
    Missing(String),
    Failed(Box<RecoverError>),
}

/// One object to its relative path, through a temporary name (a half-fetched file never sits
/// under the real name). An object whose size is not the one the log recorded is not kept.
fn fetch(
    remote: &dyn ObjectStore,
    data_dir: &Path,
    key: &str,
    want: Option<u64>,
) -> Result<u64, Fetch> {
    let to = data_dir.join(key);
    let failed = |e| Fetch::Failed(Box::new(e));
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|e| failed(io(dir)(e)))?;
    }
    let mut tmp = to.as_os_str().to_os_string();
    tmp.push(".recovering");
    let tmp = PathBuf::from(tmp);
    let got = match remote.get_to_file(key, &tmp) {
        Ok(n) => n,
        Err(RemoteError::NotFound { .. }) => {
            let _ = std::fs::remove_file(&tmp);
            return match want {
                Some(_) => Err(Fetch::Missing("not on the remote".into())),
                // optional (a report's page): its absence is no loss
                None => Ok(0),
            };
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(failed(e.into()));
        }
    };
    if let Some(want) = want.filter(|w| *w != got) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Fetch::Missing(format!(
            "the remote copy is {got} bytes, the log recorded {want}"
        )));
    }
    std::fs::rename(&tmp, &to).map_err(|e| failed(io(&to)(e)))?;
    Ok(got)
}

/// `key export`: every key file of the data dir to `keys/<file>` on the remote, never over a
/// different one. Returns the keys written (or found there already, the same).
pub fn export_keys(remote: &dyn ObjectStore, data_dir: &Path) -> Result<Vec<String>, RecoverError> {
    let dir = data_dir.join("keys");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(io(&dir))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let key = format!("keys/{name}");
        let path = dir.join(&name);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        match remote.put_bytes(&key, &bytes, true) {
            Ok(()) => {}
            Err(RemoteError::Exists { .. }) => {
                if remote.get(&key, None)? != bytes {
                    return Err(RecoverError::KeyClash {
                        key,
                        where_: format!("on remote {}", remote.name()),
                    });
                }
            }
            Err(e) => return Err(e.into()),
        }
        out.push(key);
    }
    Ok(out)
}

/// `key import` (and the end of a recovery): the key files under `keys/` on the remote into the
/// data dir's `keys/`, never over a different local file.
pub fn import_keys(remote: &dyn ObjectStore, data_dir: &Path) -> Result<Vec<String>, RecoverError> {
    let mut out = Vec::new();
    for (key, _) in remote.list("keys/")? {
        let Some(name) = key
            .strip_prefix("keys/")
            .filter(|n| n.ends_with(".json") && !n.contains('/') && !n.starts_with('.'))
        else {
            continue;
        };
        let bytes = remote.get(&key, None)?;
        let dir = data_dir.join("keys");
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(local) if local == bytes => {}
            Ok(_) => {
                return Err(RecoverError::KeyClash {
                    key,
                    where_: format!("in {}", dir.display()),
                })
            }
            Err(_) => {
                std::fs::create_dir_all(&dir).map_err(io(&dir))?;
                let tmp = dir.join(format!(".{name}.importing"));
                std::fs::write(&tmp, &bytes).map_err(io(&tmp))?;
                std::fs::rename(&tmp, &path).map_err(io(&path))?;
            }
        }
        out.push(key);
    }
    Ok(out)
}
