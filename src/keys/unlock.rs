//! Unlocking at start: the master key from `key_file`, or from the key files in the data
//! directory with the passphrase (`passphrase_file`, else `BACKUPD_PASSPHRASE`).
//!
//! A data directory without key files gets its master key and first key file here, but only
//! when the command may create one (`Init::Allowed`: `serve`, and `key add` which exists to
//! make key files) and nothing in the data directory is sealed yet. Key files that went
//! missing beside sealed archives must never be papered over by a new key: the backups would
//! look fine and be unreadable. That case, and every read-only command on a data directory
//! without key files, is `KeyError::MissingKeys`, which says how to bring them back.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::{passphrase, KeyError, KeyParams, Keyring, MasterKey};
use crate::archive::{ArchiveError, ArchiveReader};

/// The environment variable holding the passphrase when no `passphrase_file` is configured.
pub const PASSPHRASE_ENV: &str = "BACKUPD_PASSPHRASE";
/// The environment variable holding the new passphrase of `key add` / `key passwd`.
pub const NEW_PASSPHRASE_ENV: &str = "BACKUPD_NEW_PASSPHRASE";

/// May this command create the master key when the data directory has no key file?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// Yes, if no sealed archive, pack or snapshot is there (`serve`, `key add`).
    Allowed,
    /// No: the command reads or changes what exists (restore, verify, recover, …).
    Refused,
}

/// What unlocking found.
#[derive(Debug)]
pub struct Unlocked {
    pub key: MasterKey,
    /// The key file the passphrase opened (`None` with `key_file`).
    pub key_file_id: Option<String>,
    /// The master key was created just now (first start with `[encryption]`).
    pub created: bool,
}

/// Unlocks the master key as `[encryption]` says.
pub fn unlock(
    data_dir: &Path,
    passphrase_file: Option<&Path>,
    key_file: Option<&Path>,
    params: KeyParams,
    init: Init,
) -> Result<Unlocked, KeyError> {
    let ring = Keyring::in_data_dir(data_dir);
    if let Some(f) = key_file {
        let key = MasterKey::from_hex_file(f)?;
        // Key files beside it wrap the data directory's master key: one that is not theirs
        // would seal new backups under a key none of them opens, and open none of the old.
        let files = ring.list()?;
        let fingerprint = key.fingerprint();
        if !files.is_empty() && !files.iter().any(|k| k.master == fingerprint) {
            return Err(KeyError::ForeignKeyFile {
                path: f.display().to_string(),
                fingerprint,
                theirs: files[0].master.clone(),
                dir: ring.dir().display().to_string(),
            });
        }
        return Ok(Unlocked {
            key,
            key_file_id: None,
            created: false,
        });
    }
    let pass = passphrase(passphrase_file, PASSPHRASE_ENV)?;
    if ring.list()?.is_empty() {
        let sealed = sealed_file(data_dir);
        if init == Init::Refused || sealed.is_some() {
            return Err(KeyError::MissingKeys {
                dir: ring.dir().display().to_string(),
                sealed: sealed.map(|p| p.display().to_string()),
            });
        }
    }
    let created = ring.list()?.is_empty();
    let (key, id) = ring.open_or_init(&pass, params)?;
    Ok(Unlocked {
        key,
        key_file_id: Some(id),
        created,
    })
}

/// A file of the data directory that opens only with a key (a sealed archive, weekly archive,
/// pack or snapshot index), if there is one. Read only when no key file exists: the header of
/// each candidate, until the first sealed one.
pub fn sealed_file(data_dir: &Path) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    for (dir, ext) in [
        ("backups", "bka"),
        ("archives", "bka"),
        ("repository/snapshots", "snap"),
        ("repository/packs", "pack"),
    ] {
        files_with(&data_dir.join(dir), ext, 2, &mut candidates);
    }
    candidates.into_iter().find(|p| {
        File::open(p)
            .ok()
            .is_some_and(|f| matches!(ArchiveReader::open(f), Err(ArchiveError::KeyRequired)))
    })
}

/// The files ending in `.ext` below `dir`, `depth` levels down at most (packs sit in a
/// directory per first two hex digits).
fn files_with(dir: &Path, ext: &str, depth: u32, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() && depth > 0 => files_with(&path, ext, depth - 1, out),
            Ok(t) if t.is_file() && path.extension().is_some_and(|x| x == ext) => out.push(path),
            _ => {}
        }
    }
}
