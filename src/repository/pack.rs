//! Pack files: the archive container with one frame per chunk, each chunk a named stream (its id
//! in hex), written under a temporary name, synced and renamed to
//! `repository/packs/<2 hex>/<64 hex>.pack` where the id is the BLAKE3 hash of the file's bytes
//! (schema/repository.md). Frames compress (and seal) on the writer's worker threads.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::chunker::MAX_CHUNK;
use super::{fsync_dir, RepoError};
use crate::archive::{ArchiveReader, ArchiveWriter, Codec, EntryMeta, Mtime, Seal, WriterOptions};
use crate::events::{PackChunk, PackRecord};
use crate::keys::{hex, MasterKey};

/// A pack is closed once this many bytes were written to it (packs of 16–64 MiB: big enough
/// that a repository has few files, small enough that a repack copies little).
pub const PACK_TARGET: u64 = 32 << 20;

/// Frame header length in a pack (schema/archive.md): counted in a chunk's stored length.
const FRAME_HEADER_LEN: u32 = 16;

/// The path of a pack relative to the data directory.
pub fn pack_location(id: &str) -> String {
    format!("repository/packs/{}/{id}.pack", &id[..2.min(id.len())])
}

/// Hashes every byte on its way to the file: the pack's id without reading it again.
struct Hashing<W> {
    inner: W,
    hash: blake3::Hasher,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One pack being written.
pub struct PackWriter {
    data_dir: PathBuf,
    tmp: PathBuf,
    w: Option<ArchiveWriter<Hashing<BufWriter<File>>>>,
    chunks: Vec<([u8; 32], u32)>,
    raw_bytes: u64,
}

impl PackWriter {
    /// Starts a pack in `repository/tmp/` of `data_dir`, sealed when `seal` is given.
    pub fn create(
        data_dir: &Path,
        name: &str,
        codec: Codec,
        level: i32,
        seal: Option<&Seal>,
    ) -> Result<PackWriter, RepoError> {
        let dir = data_dir.join(super::TMP);
        fs::create_dir_all(&dir).map_err(RepoError::io(format!("creating {}", dir.display())))?;
        let tmp = dir.join(format!("{name}.pack.partial"));
        let f =
            File::create_new(&tmp).map_err(RepoError::io(format!("creating {}", tmp.display())))?;
        let opts = WriterOptions {
            codec,
            level,
            frame_size: MAX_CHUNK as usize,
            threads: 0,
        };
        let out = Hashing {
            inner: BufWriter::with_capacity(1 << 20, f),
            hash: blake3::Hasher::new(),
        };
        let w = ArchiveWriter::with_seal(out, opts, seal).map_err(RepoError::archive(&tmp))?;
        Ok(PackWriter {
            data_dir: data_dir.to_path_buf(),
            tmp,
            w: Some(w),
            chunks: Vec::new(),
            raw_bytes: 0,
        })
    }

    /// Adds a chunk as the next frame; returns its frame number.
    pub fn add(&mut self, id: [u8; 32], data: &[u8]) -> Result<u32, RepoError> {
        let w = self
            .w
            .as_mut()
            .ok_or_else(|| RepoError::Other("pack already finished".into()))?;
        let meta = EntryMeta::new(0o600, Mtime::new(0, 0));
        let frame = w
            .add_frame_entry(&hex(&id), &meta, data)
            .map_err(RepoError::archive(&self.tmp))?;
        if frame != self.chunks.len() as u64 {
            return Err(RepoError::Other(format!(
                "chunk landed in frame {frame}, expected {}",
                self.chunks.len()
            )));
        }
        self.chunks.push((id, data.len() as u32));
        self.raw_bytes += data.len() as u64;
        Ok(frame as u32)
    }

    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Whether the pack reached its size: the bytes written so far (frames still compressing
    /// are not counted yet, so raw bytes twice the target close it too).
    pub fn full(&self) -> bool {
        let written = self.w.as_ref().map_or(0, |w| w.bytes_written());
        written >= PACK_TARGET || self.raw_bytes >= 2 * PACK_TARGET
    }

    /// Finishes the pack: index and trailer, fsync, rename to its id's path, fsync both
    /// directories; then reads its frame table back (the chunks' stored lengths, and a check
    /// that the file opens). The record is what `pack_written` says.
    pub fn finish(
        mut self,
        run_id: &str,
        key: Option<&MasterKey>,
    ) -> Result<PackRecord, RepoError> {
        let w = self
            .w
            .take()
            .ok_or_else(|| RepoError::Other("pack already finished".into()))?;
        let (out, summary) = w.finish().map_err(RepoError::archive(&self.tmp))?;
        let Hashing { inner, hash } = out;
        let f = inner
            .into_inner()
            .map_err(|e| e.into_error())
            .map_err(RepoError::io(format!("writing {}", self.tmp.display())))?;
        f.sync_all()
            .map_err(RepoError::io(format!("syncing {}", self.tmp.display())))?;
        drop(f);
        let id = hash.finalize().to_hex().to_string();
        let location = pack_location(&id);
        let dest = self.data_dir.join(&location);
        let dir = dest.parent().expect("a pack path has a directory");
        fs::create_dir_all(dir).map_err(RepoError::io(format!("creating {}", dir.display())))?;
        crate::failpoint::hit(crate::failpoint::PACK_BEFORE_RENAME).map_err(RepoError::Other)?;
        fs::rename(&self.tmp, &dest).map_err(RepoError::io(format!(
            "renaming {} to {}",
            self.tmp.display(),
            dest.display()
        )))?;
        fsync_dir(dir)?;
        if let Some(packs) = dir.parent() {
            fsync_dir(packs)?;
        }
        let reader = open_pack(&dest, key)?;
        let frames = &reader.index().frames;
        if frames.len() != self.chunks.len() {
            return Err(RepoError::Corrupt(format!(
                "{}: {} frames for {} chunks",
                dest.display(),
                frames.len(),
                self.chunks.len()
            )));
        }
        let chunks = self
            .chunks
            .iter()
            .zip(frames)
            .map(|(&(id, raw_len), f)| PackChunk {
                id,
                raw_len,
                stored_len: f.stored_len + FRAME_HEADER_LEN,
            })
            .collect();
        Ok(PackRecord {
            id,
            run_id: run_id.to_string(),
            location,
            bytes: summary.bytes_written,
            chunks,
        })
    }
}

impl Drop for PackWriter {
    fn drop(&mut self) {
        // An unfinished pack (a failed or cancelled run) is never recorded: remove its file.
        if self.w.is_some() {
            self.w.take();
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Opens a pack file (with the key when it is sealed).
pub fn open_pack(path: &Path, key: Option<&MasterKey>) -> Result<ArchiveReader<File>, RepoError> {
    let f = File::open(path).map_err(RepoError::io(format!("opening {}", path.display())))?;
    ArchiveReader::open_with(f, key).map_err(RepoError::archive(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pack_is_a_container_with_one_frame_per_chunk_named_by_its_id() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::from_bytes([3; 32]);
        for seal in [None, Some(Seal::new(key.clone()))] {
            let mut p = PackWriter::create(dir.path(), "t", Codec::Zstd, 3, seal.as_ref()).unwrap();
            let small = vec![b'a'; 100];
            let big: Vec<u8> = (0..MAX_CHUNK).map(|i| (i * 7 % 251) as u8).collect();
            assert_eq!(p.add([1; 32], &small).unwrap(), 0);
            assert_eq!(p.add([2; 32], &big).unwrap(), 1);
            assert_eq!(p.add([3; 32], b"z").unwrap(), 2);
            let rec = p.finish("run", Some(&key)).unwrap();
            let path = dir.path().join(&rec.location);
            let bytes = fs::read(&path).unwrap();
            assert_eq!(rec.id, blake3::hash(&bytes).to_hex().to_string());
            assert_eq!(rec.bytes, bytes.len() as u64);
            assert_eq!(rec.chunks.len(), 3);
            assert_eq!(rec.chunks[1].raw_len, MAX_CHUNK);
            let mut r = open_pack(&path, Some(&key)).unwrap();
            assert_eq!(r.index().frames.len(), 3);
            r.verify().unwrap();
            let mut out = Vec::new();
            r.read_entry(&hex(&[2; 32]), &mut out).unwrap();
            assert_eq!(out, big);
            assert!(!dir.path().join("repository/tmp/t.pack.partial").exists());
        }
    }

    #[test]
    fn an_unfinished_pack_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = PackWriter::create(dir.path(), "t", Codec::Zstd, 3, None).unwrap();
        p.add([1; 32], b"x").unwrap();
        drop(p);
        assert!(!dir.path().join("repository/tmp/t.pack.partial").exists());
    }
}
