//! The per-archive key and the AEAD of one sealed unit.
//!
//! key   = HKDF-SHA-256(ikm = master key, salt = the archive's 32-byte salt, info = "backupd archive v1")
//! nonce = the archive's 15-byte nonce prefix || u64 LE unit number || u8 unit flags
//!
//! The unit flags say what is sealed (a frame, the last frame, the index, the key check), so a
//! frame moved to another position, a frame passed off as the last one (truncation), or any unit
//! taken from another archive (another salt, so another key) fails its tag. Byte by byte in
//! schema/archive.md.

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::MasterKey;

pub const SALT_LEN: usize = 32;
pub const NONCE_PREFIX_LEN: usize = 15;
/// The Poly1305 tag appended to every sealed unit.
pub const TAG_LEN: usize = 16;

const INFO: &[u8] = b"backupd archive v1";

/// A unit's tag did not verify: a wrong key, or changed or moved bytes (which, the AEAD cannot
/// tell, and no byte of the unit may be used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("authentication failed")]
pub struct AuthFailed;

/// The key of one archive, ready to seal and open its units. Cheap to clone (one per thread).
#[derive(Clone)]
pub struct ArchiveKey {
    aead: XChaCha20Poly1305,
    prefix: [u8; NONCE_PREFIX_LEN],
}

impl std::fmt::Debug for ArchiveKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ArchiveKey(<redacted>)")
    }
}

impl ArchiveKey {
    pub fn derive(
        master: &MasterKey,
        salt: &[u8; SALT_LEN],
        prefix: [u8; NONCE_PREFIX_LEN],
    ) -> ArchiveKey {
        let hk = Hkdf::<Sha256>::new(Some(salt), master.bytes());
        let mut okm = Zeroizing::new([0u8; 32]);
        hk.expand(INFO, &mut okm[..])
            .expect("32 bytes is a valid HKDF-SHA-256 output length");
        let aead = XChaCha20Poly1305::new(&(*okm).into());
        ArchiveKey { aead, prefix }
    }

    fn nonce(&self, unit: u64, flags: u8) -> XNonce {
        let mut n = [0u8; 24];
        n[..NONCE_PREFIX_LEN].copy_from_slice(&self.prefix);
        n[15..23].copy_from_slice(&unit.to_le_bytes());
        n[23] = flags;
        n.into()
    }

    /// Encrypts `buf` in place and appends the tag.
    pub fn seal(&self, unit: u64, flags: u8, aad: &[u8], buf: &mut Vec<u8>) {
        let tag = self
            .aead
            .encrypt_inout_detached(&self.nonce(unit, flags), aad, buf.as_mut_slice().into())
            .expect("a unit is far below XChaCha20-Poly1305's 256 GiB message limit");
        buf.extend_from_slice(&tag);
    }

    /// Checks the tag at the end of `buf` and decrypts the rest in place (the tag is cut off).
    /// `Err` on a wrong key or any changed byte; the buffer is then garbage and must be dropped.
    pub fn open(
        &self,
        unit: u64,
        flags: u8,
        aad: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<(), AuthFailed> {
        if buf.len() < TAG_LEN {
            return Err(AuthFailed);
        }
        let at = buf.len() - TAG_LEN;
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&buf[at..]);
        buf.truncate(at);
        self.aead
            .decrypt_inout_detached(
                &self.nonce(unit, flags),
                aad,
                buf.as_mut_slice().into(),
                &tag.into(),
            )
            .map_err(|_| AuthFailed)
    }
}
