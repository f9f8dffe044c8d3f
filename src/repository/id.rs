//! Chunk ids: keyed BLAKE3 of the chunk's bytes under the repository's 32-byte chunk-id key.
//! With encryption on, the key is derived from the master key (HKDF-SHA-256, info
//! `"backupd chunk-id key"`), so an id says nothing about content to whoever lacks the key;
//! without encryption it is random and kept in `repository/config` (schema/repository.md).

use std::fs;
use std::io::Write;
use std::path::Path;

use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::RepoError;
use crate::keys::{hex, hex_decode, random, MasterKey};

/// HKDF info of the chunk-id key derived from the master key.
const INFO: &[u8] = b"backupd chunk-id key";

/// The key chunk ids are computed with.
#[derive(Clone)]
pub struct ChunkKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for ChunkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChunkKey(<redacted>)")
    }
}

impl ChunkKey {
    pub fn from_bytes(b: [u8; 32]) -> ChunkKey {
        ChunkKey(Zeroizing::new(b))
    }

    /// The key of a sealed repository: HKDF-SHA-256 of the master key.
    pub fn derive(master: &MasterKey) -> ChunkKey {
        let hk = Hkdf::<Sha256>::new(None, master.bytes());
        let mut okm = Zeroizing::new([0u8; 32]);
        hk.expand(INFO, &mut okm[..])
            .expect("32 bytes is a valid HKDF-SHA-256 output length");
        ChunkKey(okm)
    }

    /// The id of a chunk.
    pub fn id(&self, data: &[u8]) -> [u8; 32] {
        *blake3::keyed_hash(&self.0, data).as_bytes()
    }
}

/// `repository/config`: how the chunk-id key is had. Fixed when the repository is created,
/// since changing it would give every chunk a new id (nothing would deduplicate any more).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    pub version: u32,
    /// `"master"`: derived from the master key; `"stored"`: the random `key` below.
    pub chunk_id_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Reads `repository/config`, creating it on first use: a repository created with a master key
/// derives its chunk-id key from it, one created without keeps a random key in the file.
pub fn load_or_create(repo: &Path, master: Option<&MasterKey>) -> Result<ChunkKey, RepoError> {
    let path = repo.join("config");
    let cfg = match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<RepoConfig>(&bytes).map_err(|e| {
            RepoError::Corrupt(format!("{}: not a repository config: {e}", path.display()))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let cfg = match master {
                Some(_) => RepoConfig {
                    version: 1,
                    chunk_id_key: "master".into(),
                    key: None,
                },
                None => {
                    let mut k = Zeroizing::new([0u8; 32]);
                    random(&mut k[..]).map_err(|e| RepoError::Other(e.to_string()))?;
                    RepoConfig {
                        version: 1,
                        chunk_id_key: "stored".into(),
                        key: Some(hex(&k[..])),
                    }
                }
            };
            write_config(repo, &cfg)?;
            cfg
        }
        Err(e) => return Err(RepoError::io(format!("reading {}", path.display()))(e)),
    };
    key_of(&cfg, master).map_err(|why| RepoError::Corrupt(format!("{}: {why}", path.display())))
}

fn key_of(cfg: &RepoConfig, master: Option<&MasterKey>) -> Result<ChunkKey, String> {
    if cfg.version != 1 {
        return Err(format!("unsupported version {}", cfg.version));
    }
    match (cfg.chunk_id_key.as_str(), &cfg.key, master) {
        ("master", None, Some(m)) => Ok(ChunkKey::derive(m)),
        ("master", None, None) => {
            Err("the chunk-id key derives from the master key, which is not unlocked".into())
        }
        ("stored", Some(hexkey), _) => {
            let raw = Zeroizing::new(hex_decode(hexkey).ok_or("key is not hex")?);
            let b: [u8; 32] = raw
                .as_slice()
                .try_into()
                .map_err(|_| "key must be 64 hex digits")?;
            Ok(ChunkKey::from_bytes(b))
        }
        (other, _, _) => Err(format!(
            "chunk_id_key {other:?} with or without key is unknown"
        )),
    }
}

/// Written under a temporary name, synced, renamed and the directory synced: a crash leaves the
/// old file or the new one, never half of one.
fn write_config(repo: &Path, cfg: &RepoConfig) -> Result<(), RepoError> {
    fs::create_dir_all(repo).map_err(RepoError::io(format!("creating {}", repo.display())))?;
    let tmp = repo.join("config.tmp");
    let bytes = serde_json::to_vec_pretty(cfg).map_err(|e| RepoError::Other(e.to_string()))?;
    let mut f =
        fs::File::create(&tmp).map_err(RepoError::io(format!("creating {}", tmp.display())))?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_all())
        .map_err(RepoError::io(format!("writing {}", tmp.display())))?;
    fs::rename(&tmp, repo.join("config"))
        .map_err(RepoError::io(format!("renaming {}", tmp.display())))?;
    super::fsync_dir(repo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_keyed_and_the_key_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path(), None).unwrap();
        let b = load_or_create(dir.path(), None).unwrap();
        assert_eq!(a.id(b"x"), b.id(b"x"));
        assert_ne!(a.id(b"x"), *blake3::hash(b"x").as_bytes());
        let other = tempfile::tempdir().unwrap();
        let c = load_or_create(other.path(), None).unwrap();
        assert_ne!(a.id(b"x"), c.id(b"x"), "two repositories, two keys");
    }

    #[test]
    fn a_sealed_repository_derives_its_key_and_stores_none() {
        let dir = tempfile::tempdir().unwrap();
        let m = MasterKey::from_bytes([7; 32]);
        let a = load_or_create(dir.path(), Some(&m)).unwrap();
        assert_eq!(a.id(b"x"), ChunkKey::derive(&m).id(b"x"));
        let text = fs::read_to_string(dir.path().join("config")).unwrap();
        assert!(!text.contains("\"key\""), "{text}");
        let e = load_or_create(dir.path(), None).unwrap_err();
        assert!(e.to_string().contains("not unlocked"), "{e}");
    }
}
