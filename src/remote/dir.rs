//! A remote that is a mounted directory (NAS, USB disk): objects are files under `root/prefix`.
//! Writes go to a temporary name beside the target and are renamed, so a reader never sees half
//! an object; `if_absent` links the temporary file to the key (`link` fails when it exists),
//! which is atomic on the file systems such a mount uses.

use super::limit::{Paced, RateLimit};
use super::{ObjectStore, RemoteError};
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub struct DirStore {
    name: String,
    /// The configured `path`: it must exist (an unmounted USB disk must not turn into a
    /// directory on the root file system that fills it).
    mount: PathBuf,
    /// `path` joined with the prefix.
    root: PathBuf,
    limit: Option<RateLimit>,
}

impl DirStore {
    pub fn new(name: &str, path: &Path, prefix: &str, limit: Option<RateLimit>) -> DirStore {
        DirStore {
            name: name.to_string(),
            mount: path.to_path_buf(),
            root: path.join(prefix.trim_end_matches('/')),
            limit,
        }
    }

    fn io(&self, key: &str, source: std::io::Error) -> RemoteError {
        if source.kind() == std::io::ErrorKind::NotFound {
            return RemoteError::NotFound {
                remote: self.name.clone(),
                key: key.into(),
            };
        }
        RemoteError::Io {
            remote: self.name.clone(),
            key: key.into(),
            source,
        }
    }

    fn mounted(&self, key: &str) -> Result<(), RemoteError> {
        if self.mount.is_dir() {
            Ok(())
        } else {
            Err(RemoteError::Unreachable {
                remote: self.name.clone(),
                key: key.into(),
                message: format!("{} is not a directory (not mounted?)", self.mount.display()),
            })
        }
    }

    /// A key is a relative path of plain components: no `..`, no absolute path, so an object
    /// stays under the root whatever the key says.
    fn path(&self, key: &str) -> Result<PathBuf, RemoteError> {
        let ok = !key.is_empty()
            && key
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..");
        if !ok {
            return Err(RemoteError::Io {
                remote: self.name.clone(),
                key: key.into(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a plain key"),
            });
        }
        Ok(self.root.join(key))
    }

    fn write(&self, key: &str, src: &mut dyn Read, if_absent: bool) -> Result<(), RemoteError> {
        self.mounted(key)?;
        let target = self.path(key)?;
        let dir = target.parent().expect("a key has a parent: the root");
        fs::create_dir_all(dir).map_err(|e| self.io(key, e))?;
        if if_absent && target.exists() {
            return Err(self.exists(key));
        }
        let tmp = dir.join(format!(
            ".{}.tmp-{}-{}",
            target.file_name().unwrap().to_string_lossy(),
            std::process::id(),
            super::random()
        ));
        let result = (|| -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            let mut paced = Paced {
                inner: src,
                limit: self.limit.as_ref(),
            };
            std::io::copy(&mut paced, &mut f)?;
            f.flush()?;
            f.sync_all()
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(self.io(key, e));
        }
        let placed = if if_absent {
            fs::hard_link(&tmp, &target).map(|()| {
                let _ = fs::remove_file(&tmp);
            })
        } else {
            fs::rename(&tmp, &target)
        };
        match placed {
            Ok(()) => {
                // The rename is durable once the directory is synced.
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Err(self.exists(key))
                } else {
                    Err(self.io(key, e))
                }
            }
        }
    }

    fn exists(&self, key: &str) -> RemoteError {
        RemoteError::Exists {
            remote: self.name.clone(),
            key: key.into(),
        }
    }
}

impl ObjectStore for DirStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn put_file(&self, key: &str, path: &Path, if_absent: bool) -> Result<(), RemoteError> {
        let mut f = File::open(path).map_err(|e| RemoteError::Io {
            remote: self.name.clone(),
            key: key.into(),
            source: std::io::Error::new(e.kind(), format!("local {}: {e}", path.display())),
        })?;
        self.write(key, &mut f, if_absent)
    }

    fn put_bytes(&self, key: &str, bytes: &[u8], if_absent: bool) -> Result<(), RemoteError> {
        self.write(key, &mut &bytes[..], if_absent)
    }

    fn get(&self, key: &str, range: Option<std::ops::Range<u64>>) -> Result<Vec<u8>, RemoteError> {
        let mut f = File::open(self.path(key)?).map_err(|e| self.io(key, e))?;
        let mut out = Vec::new();
        match range {
            None => f.read_to_end(&mut out).map_err(|e| self.io(key, e))?,
            Some(r) => {
                f.seek(SeekFrom::Start(r.start))
                    .map_err(|e| self.io(key, e))?;
                f.take(r.end.saturating_sub(r.start))
                    .read_to_end(&mut out)
                    .map_err(|e| self.io(key, e))?
            }
        };
        Ok(out)
    }

    fn get_to_file(&self, key: &str, path: &Path) -> Result<u64, RemoteError> {
        let mut f = File::open(self.path(key)?).map_err(|e| self.io(key, e))?;
        let mut out = File::create(path).map_err(|e| self.io(key, e))?;
        std::io::copy(&mut f, &mut out).map_err(|e| self.io(key, e))
    }

    fn head(&self, key: &str) -> Result<Option<u64>, RemoteError> {
        self.mounted(key)?;
        match fs::metadata(self.path(key)?) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(key, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, RemoteError> {
        self.mounted(prefix)?;
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(d) = stack.pop() {
            let entries = match fs::read_dir(&d) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.io(prefix, e)),
            };
            for e in entries {
                let e = e.map_err(|e| self.io(prefix, e))?;
                let t = e.file_type().map_err(|e| self.io(prefix, e))?;
                let p = e.path();
                if t.is_dir() {
                    stack.push(p);
                } else if t.is_file() && !e.file_name().to_string_lossy().starts_with('.') {
                    let rel = p.strip_prefix(&self.root).expect("under the root");
                    let key = rel.to_string_lossy().replace('\\', "/");
                    if key.starts_with(prefix) {
                        let len = e.metadata().map_err(|e| self.io(&key, e))?.len();
                        out.push((key, len));
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<(), RemoteError> {
        match fs::remove_file(self.path(key)?) {
            Ok(()) => Ok(()),
            // Deleting what is gone is done (S3 answers 204 too).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(key, e)),
        }
    }
}
