//! Where the engine keeps things in the data directory, backup ids, and the fsync/rename steps
//! that make a finished archive appear atomically.
//!
//! ```text
//! <data_dir>/backups/<id>.bka                 a finished archive (recorded by a backup_recorded event)
//! <data_dir>/backups/<id>.manifest            its sidecar: stat facts of every file (JSON lines)
//! <data_dir>/backups/<id>.bka.partial         being written; removed by `reconcile` after a crash
//! <data_dir>/backups/<id>.manifest.partial    likewise
//! <data_dir>/archives/<id>.bka                a weekly archive: a chain merged, self-contained, no sidecar
//! <data_dir>/archives/<id>.bka.partial        being written; removed by `reconcile` after a crash
//! <data_dir>/tmp/<id>/                        scratch space of a run (SQLite snapshots, client files,
//!                                             entries being merged into an archive)
//! ```

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::EngineError;
use crate::archive::{ArchiveError, ArchiveReader, Seal};
use crate::config::Config;
use crate::keys::MasterKey;

pub const ARCHIVE_EXT: &str = "bka";
pub const MANIFEST_EXT: &str = "manifest";
pub const PARTIAL_EXT: &str = "partial";

/// Paths inside one data directory, and the key its archives are sealed with.
#[derive(Debug, Clone)]
pub struct Layout {
    pub data_dir: PathBuf,
    /// `[encryption]` is configured: new archives must be sealed.
    sealed: bool,
    /// The unlocked master key (opens sealed archives; unsealed ones open without it).
    key: Option<MasterKey>,
    /// `[[remotes]]`: where a recorded file missing from the data dir is read from (archives
    /// and packs in place, by ranged GETs; a snapshot's index fetched back whole).
    pub remotes: Vec<crate::config::remotes::RemoteConfig>,
    /// A local pack's or archive's damaged frames are read from a remote (restore); off for
    /// `verify`, which checks the local copy (`verify --remote` checks the remote's).
    heal_from_remote: bool,
}

impl Layout {
    /// A data directory without a key: sealed archives in it give `KeyRequired`.
    pub fn new(data_dir: &Path) -> Layout {
        Layout {
            data_dir: data_dir.to_path_buf(),
            sealed: false,
            key: None,
            remotes: Vec::new(),
            heal_from_remote: true,
        }
    }

    /// The configured data directory with the configured (unlocked) key.
    pub fn of(config: &Config) -> Layout {
        Layout {
            data_dir: config.data_dir.clone(),
            sealed: config.encryption.is_some(),
            key: config.master_key().cloned(),
            remotes: config.remotes.clone(),
            heal_from_remote: true,
        }
    }

    /// This layout for reading the local copies as they are (`verify`): no damaged frame of
    /// a local pack or archive is read from a remote.
    pub fn local_frames_only(mut self) -> Layout {
        self.heal_from_remote = false;
        self
    }

    pub fn heals_from_remote(&self) -> bool {
        self.heal_from_remote
    }

    pub fn key(&self) -> Option<&MasterKey> {
        self.key.as_ref()
    }

    /// Opens an archive with the key when there is one.
    pub fn open_reader<R: io::Read + io::Seek>(
        &self,
        r: R,
    ) -> Result<ArchiveReader<R>, ArchiveError> {
        ArchiveReader::open_with(r, self.key.as_ref())
    }

    /// How a new archive is written: sealed under the master key when `[encryption]` is
    /// configured. Configured but not unlocked is `KeyRequired`, never a silent plain archive.
    pub fn seal(&self) -> Result<Option<Seal>, ArchiveError> {
        match (self.sealed, &self.key) {
            (false, _) => Ok(None),
            (true, Some(k)) => Ok(Some(Seal::new(k.clone()))),
            (true, None) => Err(ArchiveError::KeyRequired),
        }
    }

    pub fn backups_dir(&self) -> PathBuf {
        self.data_dir.join("backups")
    }

    /// Weekly archives live apart from `backups/`: they are kept long-term and have no sidecar.
    pub fn archives_dir(&self) -> PathBuf {
        self.data_dir.join("archives")
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.data_dir.join("tmp")
    }

    /// The archive's location relative to the data directory, as recorded in the event.
    pub fn archive_location(id: &str) -> String {
        format!("backups/{id}.{ARCHIVE_EXT}")
    }

    pub fn archive(&self, id: &str) -> PathBuf {
        self.data_dir.join(Self::archive_location(id))
    }

    /// A weekly archive's location relative to the data directory, as recorded in the event.
    pub fn consolidated_location(id: &str) -> String {
        format!("archives/{id}.{ARCHIVE_EXT}")
    }

    pub fn consolidated(&self, id: &str) -> PathBuf {
        self.data_dir.join(Self::consolidated_location(id))
    }

    pub fn manifest(&self, id: &str) -> PathBuf {
        self.backups_dir().join(format!("{id}.{MANIFEST_EXT}"))
    }

    /// Where a recorded backup's archive is (the location in its event, relative to the data dir).
    pub fn resolve(&self, location: &str) -> PathBuf {
        self.data_dir.join(location)
    }
}

/// `path` + `.partial`: what is written before the rename.
pub fn partial(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".");
    s.push(PARTIAL_EXT);
    PathBuf::from(s)
}

/// A sortable, unique backup id: `<job>-<UTC yyyymmddThhmmssZ>-<crc32 of the run id>`.
/// Sorting by id sorts a job's backups by time; the run hash keeps two runs of one second apart.
pub fn backup_id(job_id: &str, at: OffsetDateTime, run_id: &str) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{job_id}-{:04}{:02}{:02}T{:02}{:02}{:02}Z-{:08x}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        crc32fast::hash(run_id.as_bytes())
    )
}

pub fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> EngineError {
    let context = context.into();
    move |source| EngineError::Io { context, source }
}

/// Makes a directory's entries (a rename, a removal) durable.
pub fn fsync_dir(dir: &Path) -> Result<(), EngineError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(format!("syncing directory {}", dir.display())))
}

/// Renames a synced `.partial` into place, never over an existing file: a published archive is
/// what the catalog points at, and replacing it would leave a recorded backup whose bytes are
/// another's. The caller fsyncs the directory once after the last rename of a backup, and only
/// then reports the backup.
pub fn publish(partial: &Path, dest: &Path) -> Result<(), EngineError> {
    let context = || format!("renaming {} to {}", partial.display(), dest.display());
    match rename_noreplace(partial, dest) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(EngineError::Io {
            context: format!("{}: the destination already exists", context()),
            source: e,
        }),
        other => other.map_err(io_err(context())),
    }
}

/// `renameat2(RENAME_NOREPLACE)`; where the file system lacks it, a check and a plain rename
/// (the service is the data directory's only writer, so nothing races the check).
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))
    };
    let (f, t) = (c(from)?, c(to)?);
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) => {
            if fs::symlink_metadata(to).is_ok() {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            fs::rename(from, to)
        }
        _ => Err(err),
    }
}

/// The `.partial` files of a run, removed on drop unless the run published them.
pub struct Partials(pub Vec<PathBuf>);

impl Partials {
    pub fn disarm(mut self) {
        self.0.clear();
    }
}

impl Drop for Partials {
    fn drop(&mut self) {
        for p in &self.0 {
            remove_quietly(p);
        }
    }
}

/// Removes a file if it is there (cleanup after a failed run; errors do not matter more than
/// the failure being reported, and `reconcile` removes what is left).
pub fn remove_quietly(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            log::warn!(target: crate::logging::TASKS, "could not remove {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_differ_by_run() {
        let t = |s| OffsetDateTime::from_unix_timestamp(s).unwrap();
        let a = backup_id("daily", t(1_774_699_200), "r1");
        let b = backup_id("daily", t(1_774_699_201), "r1");
        let c = backup_id("daily", t(1_774_699_200), "r2");
        assert!(a.starts_with("daily-20260328T120000Z-"), "{a}");
        assert!(a < b);
        assert_ne!(a, c);
    }

    #[test]
    fn weekly_archives_live_in_their_own_directory() {
        let l = Layout::new(Path::new("/d"));
        assert_eq!(Layout::consolidated_location("w-1"), "archives/w-1.bka");
        assert_eq!(l.consolidated("w-1"), PathBuf::from("/d/archives/w-1.bka"));
        assert_eq!(l.archives_dir(), PathBuf::from("/d/archives"));
        assert_eq!(
            l.resolve(&Layout::consolidated_location("w-1")),
            l.consolidated("w-1")
        );
    }

    #[test]
    fn partial_appends_the_suffix() {
        assert_eq!(
            partial(Path::new("/d/backups/x.bka")),
            PathBuf::from("/d/backups/x.bka.partial")
        );
    }

    #[test]
    fn publish_never_replaces_a_published_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, dest) = (
            dir.path().join("a.partial"),
            dir.path().join("b.partial"),
            dir.path().join("x.bka"),
        );
        fs::write(&a, b"first").unwrap();
        fs::write(&b, b"second").unwrap();
        publish(&a, &dest).unwrap();
        let e = publish(&b, &dest).unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        assert_eq!(fs::read(&dest).unwrap(), b"first");
        assert!(b.exists() && !a.exists());
    }
}
