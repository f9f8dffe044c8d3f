//! Sealed archives: the seal block after the header and the AEAD of frames and index, under the
//! archive's own key (`keys::ArchiveKey`). Byte by byte in schema/archive.md, "Sealed archives".

use super::error::ArchiveError;
use super::format::{HEADER_LEN, SEAL_BLOCK_LEN};
use crate::keys::{ArchiveKey, MasterKey, NONCE_PREFIX_LEN, SALT_LEN, TAG_LEN};

/// Unit flags, the last byte of every nonce.
const UNIT_FRAME: u8 = 0x01;
const UNIT_LAST: u8 = 0x02;
const UNIT_INDEX: u8 = 0x04;
const UNIT_KEY_CHECK: u8 = 0x08;

/// How a writer seals: the master key, and normally a fresh random salt and nonce prefix.
#[derive(Debug, Clone)]
pub struct Seal {
    master: MasterKey,
    fixed: Option<([u8; SALT_LEN], [u8; NONCE_PREFIX_LEN])>,
}

impl Seal {
    pub fn new(master: MasterKey) -> Seal {
        Seal {
            master,
            fixed: None,
        }
    }

    /// A seal with a chosen salt and nonce prefix, so the same input gives the same archive:
    /// golden fixtures only. Never for real data (two archives would share a key and nonces).
    #[doc(hidden)]
    pub fn fixed_for_fixtures(
        master: MasterKey,
        salt: [u8; SALT_LEN],
        prefix: [u8; NONCE_PREFIX_LEN],
    ) -> Seal {
        Seal {
            master,
            fixed: Some((salt, prefix)),
        }
    }
}

/// The keyed state of one open sealed archive.
#[derive(Debug, Clone)]
pub(crate) struct Sealing {
    key: ArchiveKey,
}

impl Sealing {
    /// Starts a sealed archive: derives its key and returns the seal block to write after the
    /// header (whose encoded bytes are bound into the key check).
    pub(crate) fn create(
        seal: &Seal,
        header: &[u8; HEADER_LEN],
    ) -> Result<(Sealing, [u8; SEAL_BLOCK_LEN]), ArchiveError> {
        let (salt, prefix) = match seal.fixed {
            Some(f) => f,
            None => {
                let mut salt = [0u8; SALT_LEN];
                let mut prefix = [0u8; NONCE_PREFIX_LEN];
                getrandom::getrandom(&mut salt)
                    .and_then(|()| getrandom::getrandom(&mut prefix))
                    .map_err(|e| ArchiveError::Io {
                        context: "reading random bytes for the archive's salt".into(),
                        source: std::io::Error::other(e),
                    })?;
                (salt, prefix)
            }
        };
        let key = ArchiveKey::derive(&seal.master, &salt, prefix);
        let mut block = [0u8; SEAL_BLOCK_LEN];
        block[..SALT_LEN].copy_from_slice(&salt);
        block[SALT_LEN..SALT_LEN + NONCE_PREFIX_LEN].copy_from_slice(&prefix);
        let mut check = Vec::with_capacity(TAG_LEN);
        key.seal(0, UNIT_KEY_CHECK, &check_aad(header, &block), &mut check);
        block[48..].copy_from_slice(&check);
        Ok((Sealing { key }, block))
    }

    /// Opens a sealed archive: checks the reserved byte and the key check.
    pub(crate) fn open(
        master: &MasterKey,
        header: &[u8; HEADER_LEN],
        block: &[u8; SEAL_BLOCK_LEN],
    ) -> Result<Sealing, ArchiveError> {
        if block[47] != 0 {
            return Err(ArchiveError::BadHeader {
                reason: format!("reserved seal block byte 47 is {} (must be 0)", block[47]),
            });
        }
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&block[..SALT_LEN]);
        let mut prefix = [0u8; NONCE_PREFIX_LEN];
        prefix.copy_from_slice(&block[SALT_LEN..SALT_LEN + NONCE_PREFIX_LEN]);
        let key = ArchiveKey::derive(master, &salt, prefix);
        let mut check = block[48..].to_vec();
        key.open(0, UNIT_KEY_CHECK, &check_aad(header, block), &mut check)
            .map_err(|_| ArchiveError::WrongKey)?;
        Ok(Sealing { key })
    }

    fn frame_flags(last: bool) -> u8 {
        if last {
            UNIT_FRAME | UNIT_LAST
        } else {
            UNIT_FRAME
        }
    }

    /// Seals a frame's payload in place; `head12` is the frame header's first 12 bytes (with
    /// `stored_len` = payload + tag).
    pub(crate) fn seal_frame(&self, frame: u64, last: bool, head12: &[u8], buf: &mut Vec<u8>) {
        self.key.seal(frame, Self::frame_flags(last), head12, buf);
    }

    pub(crate) fn open_frame(
        &self,
        frame: u64,
        last: bool,
        head12: &[u8],
        offset: u64,
        buf: &mut Vec<u8>,
    ) -> Result<(), ArchiveError> {
        self.key
            .open(frame, Self::frame_flags(last), head12, buf)
            .map_err(|_| ArchiveError::Unseal { frame, offset })
    }

    /// The index is unit 0 with the INDEX flag (the reader must open it before it knows the
    /// frame count; the flag alone keeps its nonce apart from frame 0's).
    pub(crate) fn seal_index(&self, raw_len: u64, buf: &mut Vec<u8>) {
        self.key.seal(0, UNIT_INDEX, &raw_len.to_le_bytes(), buf);
    }

    pub(crate) fn open_index(
        &self,
        raw_len: u64,
        offset: u64,
        buf: &mut Vec<u8>,
    ) -> Result<(), ArchiveError> {
        self.key
            .open(0, UNIT_INDEX, &raw_len.to_le_bytes(), buf)
            .map_err(|_| ArchiveError::UnsealIndex { offset })
    }
}

/// Associated data of the key check: the header and the seal block up to the check itself.
fn check_aad(header: &[u8; HEADER_LEN], block: &[u8; SEAL_BLOCK_LEN]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(HEADER_LEN + 48);
    aad.extend_from_slice(header);
    aad.extend_from_slice(&block[..48]);
    aad
}
