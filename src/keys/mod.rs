//! Encryption at rest: the master key, the key files that wrap it, and the per-archive keys that
//! seal archive frames.
//!
//! One random 256-bit master key encrypts everything. It is never written in the clear: each key
//! file `<data_dir>/keys/<id>.json` wraps it under a key derived with Argon2id from a passphrase,
//! so several passphrases can open the same data and a passphrase can change without re-encrypting
//! a single archive (the restic design). Each archive gets its own key, HKDF-SHA-256 of the master
//! key with the archive's random salt, so no two archives share a (key, nonce) pair however many
//! frames they hold. The master key lives only in memory and is wiped when dropped.
//!
//! - `file`  key files: create, unlock, list, remove (`backupd key add|list|remove|passwd`)
//! - `seal`  the per-archive key and the AEAD of one sealed unit (a frame or the index)
//! - `unlock` the key at start, from `key_file` or a passphrase (first start: created)

mod file;
mod seal;
mod unlock;

pub use file::{passphrase, KeyFileInfo, KeyParams, Keyring};
pub use seal::{ArchiveKey, AuthFailed, NONCE_PREFIX_LEN, SALT_LEN, TAG_LEN};
pub use unlock::{sealed_file, unlock, Init, Unlocked, NEW_PASSPHRASE_ENV, PASSPHRASE_ENV};

use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Length of the master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;

/// What can go wrong finding, unlocking or changing keys. Never carries key material or a
/// passphrase.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no passphrase given: set BACKUPD_PASSPHRASE or [encryption] passphrase_file")]
    NoPassphrase,
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    #[error("wrong passphrase: it opens none of the {files} key file(s) in {dir}")]
    WrongPassphrase { files: usize, dir: String },
    #[error("no key file in {dir}")]
    NoKeys { dir: String },
    #[error(
        "the key files are missing: {dir} holds none{}. backupd makes a new master key only \
         when `serve` starts on a data directory with nothing sealed in it; a new key would open \
         none of the existing backups. Bring the key files back: `backupd key import --remote \
         NAME` (after `key export`), or copy keys/ from a backup of the data directory",
        sealed.as_ref().map(|p| format!(", but {p} is sealed")).unwrap_or_default()
    )]
    MissingKeys { dir: String, sealed: Option<String> },
    #[error(
        "key file {path} holds master key {fingerprint}, but the key files in {dir} wrap master \
         key {theirs}: it is another data directory's key"
    )]
    ForeignKeyFile {
        path: String,
        fingerprint: String,
        theirs: String,
        dir: String,
    },
    #[error("key file {path}: {reason}")]
    BadKeyFile { path: String, reason: String },
    #[error("key file {id:?} does not exist")]
    UnknownKey { id: String },
    #[error(
        "refusing to remove key {id}: it is the last one, the backups could never be opened again"
    )]
    LastKey { id: String },
    #[error("key file {path}: {reason}")]
    BadMasterKeyFile { path: String, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl KeyError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> KeyError {
        let context = context.into();
        move |source| KeyError::Io { context, source }
    }
}

/// The master key, shared (cheaply cloned) by everything that seals or opens archives.
/// `Debug` never prints it; its bytes are zeroed when the last clone is dropped.
#[derive(Clone)]
pub struct MasterKey(Arc<Zeroizing<[u8; MASTER_KEY_LEN]>>);

impl MasterKey {
    /// A fresh random key from the operating system.
    pub fn generate() -> Result<MasterKey, KeyError> {
        let mut k = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        random(&mut k[..])?;
        Ok(MasterKey(Arc::new(k)))
    }

    /// A key from known bytes: fixtures and tests (a deterministic golden), and `key_file`.
    pub fn from_bytes(bytes: [u8; MASTER_KEY_LEN]) -> MasterKey {
        MasterKey(Arc::new(Zeroizing::new(bytes)))
    }

    pub(crate) fn bytes(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.0
    }

    /// Reads a master key kept in a file as 64 hex digits (`[encryption] key_file`): for hosts
    /// that unlock without a passphrase. The file should be readable by the service only.
    pub fn from_hex_file(path: &std::path::Path) -> Result<MasterKey, KeyError> {
        let bad = |reason: &str| KeyError::BadMasterKeyFile {
            path: path.display().to_string(),
            reason: reason.to_string(),
        };
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(KeyError::io(format!("reading key file {}", path.display())))?,
        );
        let raw = Zeroizing::new(hex_decode(text.trim()).ok_or_else(|| bad("not hex"))?);
        let bytes: [u8; MASTER_KEY_LEN] = raw
            .as_slice()
            .try_into()
            .map_err(|_| bad("must hold exactly 64 hex digits (a 256-bit key)"))?;
        Ok(MasterKey::from_bytes(bytes))
    }

    /// A non-secret fingerprint (SHA-256 of a domain string and the key, first 8 bytes in hex):
    /// tells which master key a key file wraps without revealing it.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"backupd master key fingerprint v1");
        h.update(self.bytes());
        hex(&h.finalize()[..8])
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// Two handles are equal when they hold the same key (compared in constant time).
impl PartialEq for MasterKey {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.bytes().ct_eq(other.bytes()).into()
    }
}

/// Random bytes from the operating system.
pub(crate) fn random(buf: &mut [u8]) -> Result<(), KeyError> {
    getrandom::getrandom(buf).map_err(|e| KeyError::Io {
        context: "reading random bytes from the operating system".into(),
        source: std::io::Error::other(e),
    })
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(D[(b >> 4) as usize] as char);
        s.push(D[(b & 15) as usize] as char);
    }
    s
}

pub(crate) fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(nib(p[0])? << 4 | nib(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests;
