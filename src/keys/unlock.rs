//! Unlocking at start: the master key from `key_file`, or from the key files in the data
//! directory with the passphrase (`passphrase_file`, else `BACKUPD_PASSPHRASE`). A data
//! directory without key files gets its master key and first key file here.

use std::path::Path;

use super::{passphrase, KeyError, KeyParams, Keyring, MasterKey};

/// The environment variable holding the passphrase when no `passphrase_file` is configured.
pub const PASSPHRASE_ENV: &str = "BACKUPD_PASSPHRASE";
/// The environment variable holding the new passphrase of `key add` / `key passwd`.
pub const NEW_PASSPHRASE_ENV: &str = "BACKUPD_NEW_PASSPHRASE";

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
) -> Result<Unlocked, KeyError> {
    if let Some(f) = key_file {
        return Ok(Unlocked {
            key: MasterKey::from_hex_file(f)?,
            key_file_id: None,
            created: false,
        });
    }
    let pass = passphrase(passphrase_file, PASSPHRASE_ENV)?;
    let ring = Keyring::in_data_dir(data_dir);
    let created = ring.list()?.is_empty();
    let (key, id) = ring.open_or_init(&pass, params)?;
    Ok(Unlocked {
        key,
        key_file_id: Some(id),
        created,
    })
}
