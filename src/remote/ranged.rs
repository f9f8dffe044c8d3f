//! Reading a remote copy in place: `RemoteFile` is `Read + Seek` over one object, fetched in
//! blocks by ranged GETs with a small cache, so an `ArchiveReader` over it reads only the
//! header, the index and the frames it is asked for (`verify --remote`). And the restore
//! fallback: a recorded file missing from the data dir is fetched back from a remote
//! (`fetch_missing`), checked against the size the log recorded, before it is opened.

use super::{ObjectStore, RemoteConfig, RemoteError};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes per ranged GET: large enough that a frame is one or two requests, small enough that
/// the cache stays a few MiB.
pub const BLOCK: u64 = 1 << 20;
/// Blocks kept (the most recently used).
const CACHED: usize = 4;

/// One remote object as a seekable file.
pub struct RemoteFile {
    store: Arc<dyn ObjectStore>,
    key: String,
    len: u64,
    pos: u64,
    /// (block number, bytes), most recently used last.
    cache: Vec<(u64, Vec<u8>)>,
    /// Ranged GETs made and bytes they returned.
    pub gets: u64,
    pub fetched: u64,
}

impl RemoteFile {
    /// The object `key`; its size from a HEAD (absent: `NotFound`).
    pub fn open(store: Arc<dyn ObjectStore>, key: &str) -> Result<RemoteFile, RemoteError> {
        let len = store.head(key)?.ok_or_else(|| RemoteError::NotFound {
            remote: store.name().to_string(),
            key: key.to_string(),
        })?;
        Ok(RemoteFile {
            store,
            key: key.to_string(),
            len,
            pos: 0,
            cache: Vec::new(),
            gets: 0,
            fetched: 0,
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn block(&mut self, n: u64) -> io::Result<&[u8]> {
        if let Some(i) = self.cache.iter().position(|(b, _)| *b == n) {
            let hit = self.cache.remove(i);
            self.cache.push(hit);
        } else {
            let start = n * BLOCK;
            let end = (start + BLOCK).min(self.len);
            let bytes = self
                .store
                .get(&self.key, Some(start..end))
                .map_err(io::Error::other)?;
            if bytes.len() as u64 != end - start {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "remote {}: {} bytes {start}..{end}: {} bytes came back",
                        self.store.name(),
                        self.key,
                        bytes.len()
                    ),
                ));
            }
            self.gets += 1;
            self.fetched += bytes.len() as u64;
            if self.cache.len() >= CACHED {
                self.cache.remove(0);
            }
            self.cache.push((n, bytes));
        }
        Ok(&self.cache.last().expect("just pushed").1)
    }
}

impl Read for RemoteFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let (n, off) = (self.pos / BLOCK, (self.pos % BLOCK) as usize);
        let block = self.block(n)?;
        let take = (block.len() - off).min(buf.len());
        buf[..take].copy_from_slice(&block[off..off + take]);
        self.pos += take as u64;
        Ok(take)
    }
}

impl Seek for RemoteFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let at = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let at = at.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the object's start",
            )
        })?;
        self.pos = at;
        Ok(at)
    }
}

/// A recorded file of the data dir (`location`, relative) that is not there, fetched back from
/// the first remote that has it with the recorded size (`bytes`; `None` when the caller checks
/// the file itself, as a pack is checked against its id), through a temporary name.
/// `Ok(None)` when no remote has it: the caller reports the file missing as before.
pub fn fetch_missing(
    remotes: &[RemoteConfig],
    data_dir: &Path,
    location: &str,
    bytes: Option<u64>,
) -> Result<Option<String>, RemoteError> {
    let to = data_dir.join(location);
    let mut last_err = None;
    for cfg in remotes {
        let store = match super::open(cfg) {
            Ok(s) => s,
            Err(e) => {
                last_err = Some(e);
                continue;
            }
        };
        let bytes = match store.head(location) {
            Ok(Some(size)) if bytes.is_none_or(|b| b == size) => size,
            Ok(_) => continue,
            Err(e) => {
                last_err = Some(e);
                continue;
            }
        };
        let io_err = |source| RemoteError::Io {
            remote: cfg.name.clone(),
            key: location.to_string(),
            source,
        };
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).map_err(io_err)?;
        }
        let mut tmp = to.as_os_str().to_os_string();
        tmp.push(".fetching");
        let tmp = PathBuf::from(tmp);
        match store.get_to_file(location, &tmp) {
            Ok(got) if got == bytes => {
                std::fs::rename(&tmp, &to).map_err(io_err)?;
                log::warn!(
                    "{location} was missing from the data dir: fetched back from remote {} ({bytes} bytes)",
                    cfg.name
                );
                return Ok(Some(cfg.name.clone()));
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&tmp);
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                last_err = Some(e);
            }
        }
    }
    match last_err {
        // A remote that could not be asked is worth saying; one that lacks the file is not.
        Some(e) => {
            log::warn!("{location}: not fetched from a remote: {e}");
            Ok(None)
        }
        None => Ok(None),
    }
}

/// One backup's remote copy, verified through ranged reads.
#[derive(Debug)]
pub struct RemoteVerified {
    pub backup_id: String,
    pub location: String,
    /// The archive's summary, or why the remote copy is missing or damaged.
    pub result: Result<crate::archive::VerifySummary, String>,
    pub gets: u64,
    pub fetched: u64,
}

/// Every frame checksum of the remote copies of `backups` (id, location), read in place by
/// ranged GETs (nothing is written locally); sealed archives need `key`.
pub fn verify_remote(
    store: Arc<dyn ObjectStore>,
    backups: &[(String, String)],
    key: Option<&crate::keys::MasterKey>,
) -> Vec<RemoteVerified> {
    backups
        .iter()
        .map(|(id, location)| {
            let mut out = RemoteVerified {
                backup_id: id.clone(),
                location: location.clone(),
                result: Err(String::new()),
                gets: 0,
                fetched: 0,
            };
            let file = match RemoteFile::open(store.clone(), location) {
                Ok(f) => f,
                Err(e) => {
                    out.result = Err(e.to_string());
                    return out;
                }
            };
            let mut reader = match crate::archive::ArchiveReader::open_with(file, key) {
                Ok(r) => r,
                Err(e) => {
                    out.result = Err(format!("damaged: {e}"));
                    return out;
                }
            };
            out.result = reader.verify().map_err(|e| format!("damaged: {e}"));
            let file = reader.into_inner();
            (out.gets, out.fetched) = (file.gets, file.fetched);
            out
        })
        .collect()
}

/// `n` of `items` chosen at random (all of them when `percent` is 100 or more; at least one).
pub fn sample<T: Clone>(items: &[T], percent: f64) -> Vec<T> {
    let want =
        ((items.len() as f64 * percent / 100.0).ceil() as usize).clamp(1, items.len().max(1));
    let mut picked: Vec<(u64, &T)> = items.iter().map(|t| (super::random(), t)).collect();
    picked.sort_by_key(|(r, _)| *r);
    picked
        .into_iter()
        .take(want)
        .map(|(_, t)| t.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::dir::DirStore;

    /// Reads anywhere in the object give its bytes; only the blocks touched are fetched, and a
    /// block read again comes from the cache.
    #[test]
    fn a_remote_file_reads_only_the_blocks_it_needs() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(DirStore::new("nas", dir.path(), "", None));
        let data: Vec<u8> = (0..(5 * BLOCK + 123))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        store.put_bytes("backups/x.bka", &data, false).unwrap();
        let mut f = RemoteFile::open(store.clone(), "backups/x.bka").unwrap();
        assert_eq!(f.len(), data.len() as u64);
        let mut buf = vec![0; 100];
        f.seek(SeekFrom::Start(3 * BLOCK - 50)).unwrap();
        f.read_exact(&mut buf).unwrap();
        assert_eq!(buf[..], data[(3 * BLOCK - 50) as usize..][..100]);
        assert_eq!(f.gets, 2, "the read spans two blocks");
        f.seek(SeekFrom::End(-10)).unwrap();
        let mut tail = Vec::new();
        f.read_to_end(&mut tail).unwrap();
        assert_eq!(tail[..], data[data.len() - 10..]);
        f.seek(SeekFrom::Start(3 * BLOCK)).unwrap();
        f.read_exact(&mut buf).unwrap();
        assert_eq!(f.gets, 3, "block 3 was cached");
        assert_eq!(f.fetched, 2 * BLOCK + 123);
        assert!(f.seek(SeekFrom::Current(-(10 * BLOCK as i64))).is_err());
        assert!(matches!(
            RemoteFile::open(store, "backups/none.bka"),
            Err(RemoteError::NotFound { .. })
        ));
    }
}
