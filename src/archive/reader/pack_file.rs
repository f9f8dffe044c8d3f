//! A pack's bytes as a snapshot reader reads them: its local file, with another copy (a
//! remote's, read by ranged GETs) to read a frame from when the local frame is damaged, or
//! only that other copy when the local file is missing. A backup's `.bka` archive is read the
//! same way for a restore (`ArchiveReader::over_itself`). The archive module knows nothing of
//! remotes: the other copy is anything that reads bytes at an offset (`OtherCopy`).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Another copy of a pack, byte-identical to the local one, read by offset. Shared by the
/// reading thread and the decoding workers (a damaged frame is read again on the worker that
/// found it), so its methods take `&self`.
pub trait OtherCopy: Send + Sync {
    /// Where it is, for messages (`remote offsite`).
    fn describe(&self) -> String;
    /// Its size; an error when no such copy can be reached.
    fn size(&self) -> io::Result<u64>;
    /// Fills `buf` with the bytes at `offset`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

/// A pack file: local (with another copy for damaged frames, or none), or only another copy.
pub struct PackFile {
    local: Option<(File, PathBuf)>,
    /// Shared by the handles `try_clone` makes: one copy, one connection to it.
    other: Option<Arc<dyn OtherCopy>>,
    /// Where reads through `other` are (a local file keeps its own position).
    pos: AtomicU64,
}

impl PackFile {
    /// The local file at `path`; `other` is read for a frame that fails its checks here.
    pub fn local(file: File, path: &Path, other: Option<Box<dyn OtherCopy>>) -> PackFile {
        PackFile {
            local: Some((file, path.to_path_buf())),
            other: other.map(Arc::from),
            pos: AtomicU64::new(0),
        }
    }

    /// Only the other copy (the local file is missing or unreadable).
    pub fn other(other: Box<dyn OtherCopy>) -> PackFile {
        PackFile {
            local: None,
            other: Some(Arc::from(other)),
            pos: AtomicU64::new(0),
        }
    }

    /// Another handle on the same copies, at offset 0 of the other copy. A local file's handle
    /// is duplicated and shares its position (every read of a frame seeks first).
    pub fn try_clone(&self) -> io::Result<PackFile> {
        let local = match &self.local {
            Some((f, path)) => Some((f.try_clone()?, path.clone())),
            None => None,
        };
        Ok(PackFile {
            local,
            other: self.other.clone(),
            pos: AtomicU64::new(0),
        })
    }

    /// The local file's path and the copy to read its damaged frames from, when it has both.
    pub(crate) fn fallback(&self) -> Option<(&Path, &dyn OtherCopy)> {
        match (&self.local, &self.other) {
            (Some((_, path)), Some(o)) => Some((path.as_path(), o.as_ref())),
            _ => None,
        }
    }

    fn only_other(&self) -> io::Result<&dyn OtherCopy> {
        self.other
            .as_deref()
            .ok_or_else(|| io::Error::other("a pack with neither a local file nor another copy"))
    }
}

impl Read for &PackFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some((f, _)) = &self.local {
            let mut f = f;
            return f.read(buf);
        }
        let o = self.only_other()?;
        let pos = self.pos.load(Ordering::Relaxed);
        let n = (o.size()?.saturating_sub(pos)).min(buf.len() as u64) as usize;
        o.read_at(pos, &mut buf[..n])?;
        self.pos.store(pos + n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Seek for &PackFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        if let Some((f, _)) = &self.local {
            let mut f = f;
            return f.seek(to);
        }
        let at = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.only_other()?.size()?.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.load(Ordering::Relaxed).checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.pos.store(at, Ordering::Relaxed);
        Ok(at)
    }
}

impl Read for PackFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Seek for PackFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        (&*self).seek(to)
    }
}
