//! Key files: `<data_dir>/keys/<id>.json`, each the master key wrapped under one passphrase.
//!
//! ```json
//! {"version":1,"created":"2026-11-30T05:00:00Z","kdf":"argon2id","m_cost":65536,"t_cost":3,
//!  "p_cost":1,"salt":"<16 bytes hex>","nonce":"<24 bytes hex>","wrapped":"<48 bytes hex>",
//!  "master":"<fingerprint>"}
//! ```
//!
//! wrapping key = Argon2id(passphrase, salt, m_cost KiB, t_cost passes, p_cost lanes) → 32 bytes;
//! wrapped = XChaCha20-Poly1305(wrapping key, nonce, master key, aad = "backupd key v1"): the 32
//! encrypted bytes and the 16-byte tag, which is the key file's MAC (a wrong passphrase or a
//! changed byte fails it). The id is the hex of the first 16 bytes of SHA-256(salt ‖ nonce ‖
//! wrapped). `master` is the master key's fingerprint, so `key list` shows which files open the
//! same data.

use std::fs;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::XChaCha20Poly1305;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{hex, hex_decode, random, KeyError, MasterKey, MASTER_KEY_LEN};

const AAD: &[u8] = b"backupd key v1";
const KDF: &str = "argon2id";

/// Argon2id cost parameters of a new key file (the file records them, so unlocking uses whatever
/// the file says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyParams {
    /// Memory in KiB.
    pub m_cost: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl KeyParams {
    /// 64 MiB, 3 passes, 1 lane: about a quarter of a second on a server core, paid once per start.
    pub const DEFAULT: KeyParams = KeyParams {
        m_cost: 64 * 1024,
        t_cost: 3,
        p_cost: 1,
    };
    /// The cheapest Argon2id allows: unit tests only, where the cost would be paid many times.
    pub const FAST_INSECURE: KeyParams = KeyParams {
        m_cost: 8,
        t_cost: 1,
        p_cost: 1,
    };
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    version: u32,
    created: String,
    kdf: String,
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
    nonce: String,
    wrapped: String,
    master: String,
}

/// What `key list` shows of a key file (nothing secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyFileInfo {
    pub id: String,
    pub created: String,
    /// Fingerprint of the master key the file wraps.
    pub master: String,
}

/// The key files of one data directory.
#[derive(Debug, Clone)]
pub struct Keyring {
    dir: PathBuf,
}

impl Keyring {
    /// The key files in `<data_dir>/keys/`.
    pub fn in_data_dir(data_dir: &Path) -> Keyring {
        Keyring {
            dir: data_dir.join("keys"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn files(&self) -> Result<Vec<(String, PathBuf)>, KeyError> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(KeyError::Io {
                    context: format!("listing {}", self.dir.display()),
                    source: e,
                })
            }
        };
        let mut out = Vec::new();
        for ent in rd {
            let ent = ent.map_err(KeyError::io(format!("listing {}", self.dir.display())))?;
            let name = ent.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".json") {
                out.push((id.to_string(), ent.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    fn read(path: &Path) -> Result<KeyFile, KeyError> {
        let text = fs::read_to_string(path)
            .map_err(KeyError::io(format!("reading key file {}", path.display())))?;
        let kf: KeyFile = serde_json::from_str(&text).map_err(|e| KeyError::BadKeyFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if kf.version != 1 || kf.kdf != KDF {
            return Err(KeyError::BadKeyFile {
                path: path.display().to_string(),
                reason: format!("version {} / kdf {:?} not supported", kf.version, kf.kdf),
            });
        }
        Ok(kf)
    }

    /// Every key file, by id.
    pub fn list(&self) -> Result<Vec<KeyFileInfo>, KeyError> {
        self.files()?
            .into_iter()
            .map(|(id, path)| {
                let kf = Self::read(&path)?;
                Ok(KeyFileInfo {
                    id,
                    created: kf.created,
                    master: kf.master,
                })
            })
            .collect()
    }

    /// Tries the passphrase on every key file (as restic does: any of them may be the one).
    /// Returns the master key and the id of the file it opened.
    pub fn unlock(&self, passphrase: &str) -> Result<(MasterKey, String), KeyError> {
        let files = self.files()?;
        if files.is_empty() {
            return Err(KeyError::NoKeys {
                dir: self.dir.display().to_string(),
            });
        }
        for (id, path) in &files {
            let kf = Self::read(path)?;
            if let Some(k) = unwrap(&kf, passphrase, path)? {
                return Ok((k, id.clone()));
            }
        }
        Err(KeyError::WrongPassphrase {
            files: files.len(),
            dir: self.dir.display().to_string(),
        })
    }

    /// Unlocks, or on a data directory without key files creates the master key and its first
    /// key file (the first start with `[encryption]`).
    pub fn open_or_init(
        &self,
        passphrase: &str,
        params: KeyParams,
    ) -> Result<(MasterKey, String), KeyError> {
        if self.files()?.is_empty() {
            let master = MasterKey::generate()?;
            let id = self.add(&master, passphrase, params)?;
            return Ok((master, id));
        }
        self.unlock(passphrase)
    }

    /// Writes a new key file wrapping `master` under `passphrase`; returns its id.
    pub fn add(
        &self,
        master: &MasterKey,
        passphrase: &str,
        params: KeyParams,
    ) -> Result<String, KeyError> {
        if passphrase.is_empty() {
            return Err(KeyError::EmptyPassphrase);
        }
        let mut salt = [0u8; 16];
        let mut nonce = [0u8; 24];
        random(&mut salt)?;
        random(&mut nonce)?;
        let kek = derive(passphrase, &salt, params).map_err(|reason| KeyError::BadKeyFile {
            path: self.dir.display().to_string(),
            reason,
        })?;
        let aead = XChaCha20Poly1305::new(&(*kek).into());
        let mut wrapped = master.bytes().to_vec();
        let tag = aead
            .encrypt_inout_detached(&nonce.into(), AAD, wrapped.as_mut_slice().into())
            .expect("32 bytes always seal");
        wrapped.extend_from_slice(&tag);
        let mut h = Sha256::new();
        h.update(salt);
        h.update(nonce);
        h.update(&wrapped);
        let id = hex(&h.finalize()[..16]);
        let created = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let kf = KeyFile {
            version: 1,
            created,
            kdf: KDF.into(),
            m_cost: params.m_cost,
            t_cost: params.t_cost,
            p_cost: params.p_cost,
            salt: hex(&salt),
            nonce: hex(&nonce),
            wrapped: hex(&wrapped),
            master: master.fingerprint(),
        };
        let text = serde_json::to_string_pretty(&kf).expect("a key file serializes");
        fs::create_dir_all(&self.dir)
            .map_err(KeyError::io(format!("creating {}", self.dir.display())))?;
        let path = self.dir.join(format!("{id}.json"));
        let tmp = self.dir.join(format!(".{id}.json.tmp"));
        write_private(&tmp, text.as_bytes())?;
        fs::rename(&tmp, &path).map_err(KeyError::io(format!("renaming to {}", path.display())))?;
        Ok(id)
    }

    /// Deletes a key file; refuses the last one (without any, no archive could be opened again).
    pub fn remove(&self, id: &str) -> Result<(), KeyError> {
        let files = self.files()?;
        let Some((_, path)) = files.iter().find(|(i, _)| i == id) else {
            return Err(KeyError::UnknownKey { id: id.into() });
        };
        if files.len() == 1 {
            return Err(KeyError::LastKey { id: id.into() });
        }
        fs::remove_file(path).map_err(KeyError::io(format!("removing {}", path.display())))
    }

    /// Replaces the key file `old_id` by one under a new passphrase (add first, then remove, so
    /// a crash in between leaves two working files rather than none).
    pub fn passwd(
        &self,
        master: &MasterKey,
        old_id: &str,
        new_passphrase: &str,
        params: KeyParams,
    ) -> Result<String, KeyError> {
        let id = self.add(master, new_passphrase, params)?;
        self.remove(old_id)?;
        Ok(id)
    }
}

fn derive(passphrase: &str, salt: &[u8], p: KeyParams) -> Result<Zeroizing<[u8; 32]>, String> {
    let params = argon2::Params::new(p.m_cost, p.t_cost, p.p_cost, Some(32))
        .map_err(|e| format!("argon2 parameters: {e}"))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    a.hash_password_into(passphrase.as_bytes(), salt, &mut out[..])
        .map_err(|e| format!("argon2: {e}"))?;
    Ok(out)
}

/// `Ok(None)`: the passphrase does not open this file.
fn unwrap(kf: &KeyFile, passphrase: &str, path: &Path) -> Result<Option<MasterKey>, KeyError> {
    let bad = |reason: String| KeyError::BadKeyFile {
        path: path.display().to_string(),
        reason,
    };
    let salt = hex_decode(&kf.salt).ok_or_else(|| bad("salt is not hex".into()))?;
    let nonce: [u8; 24] = hex_decode(&kf.nonce)
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| bad("nonce is not 24 bytes of hex".into()))?;
    let wrapped = hex_decode(&kf.wrapped)
        .filter(|w| w.len() == MASTER_KEY_LEN + 16)
        .ok_or_else(|| bad("wrapped key is not 48 bytes of hex".into()))?;
    // Bounds so a hostile file cannot make us allocate or spin without end.
    if kf.m_cost > 4 << 20 || kf.t_cost > 64 || kf.p_cost > 64 || salt.len() < 8 {
        return Err(bad("argon2 parameters out of range".into()));
    }
    let params = KeyParams {
        m_cost: kf.m_cost,
        t_cost: kf.t_cost,
        p_cost: kf.p_cost,
    };
    let kek = derive(passphrase, &salt, params).map_err(bad)?;
    let aead = XChaCha20Poly1305::new(&(*kek).into());
    let mut key = Zeroizing::new([0u8; MASTER_KEY_LEN]);
    key.copy_from_slice(&wrapped[..MASTER_KEY_LEN]);
    let mut tag = [0u8; 16];
    tag.copy_from_slice(&wrapped[MASTER_KEY_LEN..]);
    if aead
        .decrypt_inout_detached(&nonce.into(), AAD, (&mut key[..]).into(), &tag.into())
        .is_err()
    {
        return Ok(None);
    }
    Ok(Some(MasterKey::from_bytes(*key)))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(KeyError::io(format!("creating {}", path.display())))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(KeyError::io(format!("writing {}", path.display())))
}

/// The passphrase: from `passphrase_file` when configured (one trailing newline dropped),
/// otherwise from the environment variable `env`.
pub fn passphrase(file: Option<&Path>, env: &str) -> Result<Zeroizing<String>, KeyError> {
    let p = match file {
        Some(f) => {
            let mut s = fs::read_to_string(f).map_err(KeyError::io(format!(
                "reading passphrase file {}",
                f.display()
            )))?;
            if s.ends_with('\n') {
                s.pop();
                if s.ends_with('\r') {
                    s.pop();
                }
            }
            Zeroizing::new(s)
        }
        None => Zeroizing::new(std::env::var(env).map_err(|_| KeyError::NoPassphrase)?),
    };
    if p.is_empty() {
        return Err(KeyError::EmptyPassphrase);
    }
    Ok(p)
}
