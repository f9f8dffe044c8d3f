//! Reading a remote copy in place: `RemoteFile` is `Read + Seek` over one object, fetched in
//! windows by ranged GETs with a small cache, so an `ArchiveReader` over it reads only the
//! header, the index and the frames it is asked for (`verify --remote`, and a restore's packs
//! and `.bka` archives, missing or with damaged frames locally: `RemoteCopy`). And the restore
//! fallback for a whole small file: a repository snapshot's index missing from the data dir is
//! fetched back from a remote (`fetch_missing`) before it is opened.

use super::{ObjectStore, RemoteConfig, RemoteError};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Least bytes per ranged GET (a read asks for at least this much from where it starts):
/// large enough that a frame is one or two requests, small enough that the cache stays a few
/// MiB.
pub const BLOCK: u64 = 1 << 20;
/// The window of a pack read for a restore: a frame's header and a small chunk in one GET,
/// without fetching much beyond the frames wanted.
pub const PACK_WINDOW: u64 = 64 << 10;
/// Windows kept (the most recently used).
const CACHED: usize = 4;

/// One remote object as a seekable file.
pub struct RemoteFile {
    store: Arc<dyn ObjectStore>,
    key: String,
    len: u64,
    pos: u64,
    /// Least bytes per GET.
    window: u64,
    /// (start offset, bytes), most recently used last.
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
            window: BLOCK,
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

    /// Reads ask for at least `bytes` from where they start (default `BLOCK`).
    pub fn with_window(mut self, bytes: u64) -> RemoteFile {
        self.window = bytes.max(1);
        self
    }

    /// The bytes from `pos` on that a cached window holds, fetching a window that starts at
    /// `pos` and holds at least `want` bytes when none does.
    fn window_at(&mut self, pos: u64, want: usize) -> io::Result<&[u8]> {
        let holds = |(s, b): &(u64, Vec<u8>)| *s <= pos && pos < s + b.len() as u64;
        if let Some(i) = self.cache.iter().position(holds) {
            let hit = self.cache.remove(i);
            self.cache.push(hit);
        } else {
            let start = pos;
            let end = (start + self.window.max(want as u64)).min(self.len);
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
            self.cache.push((start, bytes));
        }
        let (s, b) = self.cache.last().expect("just pushed");
        Ok(&b[(pos - s) as usize..])
    }
}

impl Read for RemoteFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let window = self.window_at(self.pos, buf.len())?;
        let take = window.len().min(buf.len());
        buf[..take].copy_from_slice(&window[..take]);
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

/// A pack's or a `.bka` archive's copy on the remotes, as a reader's other copy
/// (`archive::OtherCopy`): nothing is asked of a remote until it is read; then the first remote
/// that has the object serves it by ranged GETs of `PACK_WINDOW` or more, so a restore fetches
/// only the frames it needs (and the archive's header and index).
pub struct RemoteCopy {
    remotes: Vec<RemoteConfig>,
    key: String,
    /// Opened at the first read: the object, or why none could be.
    file: std::sync::Mutex<Option<Result<RemoteFile, String>>>,
}

impl RemoteCopy {
    pub fn new(remotes: &[RemoteConfig], key: &str) -> RemoteCopy {
        RemoteCopy {
            remotes: remotes.to_vec(),
            key: key.to_string(),
            file: std::sync::Mutex::new(None),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut RemoteFile) -> io::Result<T>) -> io::Result<T> {
        let mut g = self
            .file
            .lock()
            .map_err(|_| io::Error::other("a reader of this remote copy panicked"))?;
        let opened = g.get_or_insert_with(|| self.open());
        match opened {
            Ok(file) => f(file),
            Err(why) => Err(io::Error::new(io::ErrorKind::NotFound, why.clone())),
        }
    }

    fn open(&self) -> Result<RemoteFile, String> {
        let mut why = Vec::new();
        for cfg in &self.remotes {
            let store: Arc<dyn ObjectStore> = match super::open(cfg) {
                Ok(s) => Arc::from(s),
                Err(e) => {
                    why.push(e.to_string());
                    continue;
                }
            };
            match RemoteFile::open(store, &self.key) {
                Ok(f) => return Ok(f.with_window(PACK_WINDOW)),
                Err(e) => why.push(e.to_string()),
            }
        }
        if why.is_empty() {
            why.push("no remote configured".into());
        }
        Err(why.join("; "))
    }

    /// GETs made and bytes they returned so far.
    pub fn fetched(&self) -> (u64, u64) {
        match self.file.lock().ok().as_deref() {
            Some(Some(Ok(f))) => (f.gets, f.fetched),
            _ => (0, 0),
        }
    }
}

impl crate::archive::OtherCopy for RemoteCopy {
    fn describe(&self) -> String {
        match self.file.lock().ok().as_deref() {
            Some(Some(Ok(f))) => format!("remote {}", f.store.name()),
            _ => {
                let names: Vec<&str> = self.remotes.iter().map(|r| r.name.as_str()).collect();
                format!("remote {}", names.join(" or "))
            }
        }
    }

    fn size(&self) -> io::Result<u64> {
        self.with(|f| Ok(f.len()))
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.with(|f| {
            f.seek(SeekFrom::Start(offset))?;
            f.read_exact(buf)
        })
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

    /// Reads anywhere in the object give its bytes; each GET fetches a window from where a read
    /// starts (at least `BLOCK`, or the whole read when larger), and bytes read again come
    /// from the cache.
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
        assert_eq!(f.gets, 1, "one window from where the read starts");
        f.seek(SeekFrom::End(-10)).unwrap();
        let mut tail = Vec::new();
        f.read_to_end(&mut tail).unwrap();
        assert_eq!(tail[..], data[data.len() - 10..]);
        f.seek(SeekFrom::Start(3 * BLOCK)).unwrap();
        f.read_exact(&mut buf).unwrap();
        assert_eq!(buf[..], data[(3 * BLOCK) as usize..][..100]);
        assert_eq!(f.gets, 2, "inside the first window: cached");
        assert_eq!(f.fetched, BLOCK + 10);
        // A read larger than the window is one GET of exactly its bytes.
        let mut big = vec![0; (2 * BLOCK + 5) as usize];
        f.seek(SeekFrom::Start(7)).unwrap();
        f.read_exact(&mut big).unwrap();
        assert_eq!(big[..], data[7..][..big.len()]);
        assert_eq!((f.gets, f.fetched), (3, 3 * BLOCK + 15));
        assert!(f.seek(SeekFrom::Current(-(10 * BLOCK as i64))).is_err());
        assert!(matches!(
            RemoteFile::open(store, "backups/none.bka"),
            Err(RemoteError::NotFound { .. })
        ));
    }
}
