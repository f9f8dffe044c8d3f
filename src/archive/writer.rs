//! The streaming writer: packs entry content into frames, compresses frames on worker threads
//! with a bounded number in flight, writes them in order, then the index and the trailer.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::codec::{Codec, FrameCompressor};
use super::error::ArchiveError;
use super::format::{
    check_entry_shape, encode_index, EntryKind, EntryMeta, FrameHeader, FrameInfo, Header,
    IndexEntry, Location, Mtime, Trailer, FLAG_SEALED, FRAME_RAW, MAX_FRAME_RAW, MIN_FRAME_SIZE,
    VERSION,
};
use super::path;
use super::seal::{Seal, Sealing};

/// How to write an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    pub codec: Codec,
    /// On the codec's own scale: zstd 1-22, xz 0-9, gzip 0-9; ignored for `none`.
    pub level: i32,
    /// Uncompressed bytes per frame (4 KiB ..= 64 MiB). Larger frames compress a little better;
    /// memory is about `frame_size * 3 * threads`.
    pub frame_size: usize,
    /// Compression threads; 0 means one per available core.
    pub threads: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            codec: Codec::Zstd,
            level: 3,
            frame_size: 4 << 20,
            threads: 0,
        }
    }
}

impl WriterOptions {
    /// The options for a codec at its default level.
    pub fn for_codec(codec: Codec) -> Self {
        WriterOptions {
            codec,
            level: codec.default_level(),
            ..WriterOptions::default()
        }
    }
}

/// What `finish` reports; the engine records these in the "backup recorded" event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteSummary {
    /// Length of the archive file.
    pub bytes_written: u64,
    pub entries: u64,
    /// Uncompressed content bytes stored in this archive.
    pub content_bytes: u64,
    pub frames: u64,
    /// Frames stored raw because they did not compress.
    pub raw_frames: u64,
    pub index_crc32: u32,
    /// CRC32 of the whole archive file, as written.
    pub archive_crc32: u32,
}

/// A frame after compression (and sealing): `stored` is `None` when the raw bytes are stored
/// as they are (unsealed only); `flags` are the frame flags.
struct Packed {
    raw: Vec<u8>,
    stored: Option<Vec<u8>>,
    flags: u8,
}

type JobResult = (u64, Result<Packed, ArchiveError>);

/// Compresses frame `seq` and, in a sealed archive, seals it (on a worker thread, so sealing
/// runs on all cores like compression).
fn pack(
    comp: &mut FrameCompressor,
    sealing: Option<&Sealing>,
    seq: u64,
    last: bool,
    raw: Vec<u8>,
) -> Result<Packed, ArchiveError> {
    let stored = comp.compress(&raw)?;
    let flags = if stored.is_some() { 0 } else { FRAME_RAW };
    let Some(s) = sealing else {
        return Ok(Packed { raw, stored, flags });
    };
    // Sealed in place, with room for the tag up front (appending it must not copy the frame
    // again); a raw frame is copied once, since `raw` goes back to the pool of buffers.
    let mut buf = match stored {
        Some(mut v) => {
            v.reserve_exact(crate::keys::TAG_LEN);
            v
        }
        None => {
            let mut v = Vec::with_capacity(raw.len() + crate::keys::TAG_LEN);
            v.extend_from_slice(&raw);
            v
        }
    };
    let head = FrameHeader {
        stored_len: (buf.len() + crate::keys::TAG_LEN) as u32,
        raw_len: raw.len() as u32,
        flags,
        reserved: [0; 3],
        crc32: 0,
    }
    .encode();
    s.seal_frame(seq, last, &head[..12], &mut buf);
    Ok(Packed {
        raw,
        stored: Some(buf),
        flags,
    })
}

/// Worker threads fed through a bounded channel; results come back tagged with a sequence
/// number and are written strictly in order.
struct Pool {
    jobs: Option<SyncSender<(u64, Vec<u8>, bool)>>,
    results: Receiver<JobResult>,
    handles: Vec<JoinHandle<()>>,
}

impl Pool {
    fn start(
        opts: &WriterOptions,
        threads: usize,
        sealing: Option<&Sealing>,
    ) -> Result<Pool, ArchiveError> {
        let (job_tx, job_rx) = mpsc::sync_channel::<(u64, Vec<u8>, bool)>(threads);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (res_tx, res_rx): (Sender<JobResult>, _) = mpsc::channel();
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let mut comp = FrameCompressor::new(opts.codec, opts.level, opts.frame_size)?;
            let rx = Arc::clone(&job_rx);
            let tx = res_tx.clone();
            let sealing = sealing.cloned();
            let h = std::thread::Builder::new()
                .name(format!("archive-compress-{i}"))
                .spawn(move || loop {
                    // The lock is only held while waiting for the next job, never while compressing.
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, raw, last)) = job else { return };
                    let res = pack(&mut comp, sealing.as_ref(), seq, last, raw);
                    if tx.send((seq, res)).is_err() {
                        return;
                    }
                })
                .map_err(ArchiveError::io("starting a compression thread"))?;
            handles.push(h);
        }
        Ok(Pool {
            jobs: Some(job_tx),
            results: res_rx,
            handles,
        })
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs.take();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// Counts and checksums every byte that reaches the inner writer.
struct Counting<W> {
    inner: W,
    count: u64,
    crc: crc32fast::Hasher,
}

impl<W: Write> Counting<W> {
    fn put(&mut self, bytes: &[u8], what: &str) -> Result<(), ArchiveError> {
        self.inner
            .write_all(bytes)
            .map_err(ArchiveError::io(format!(
                "writing {what} at offset {}",
                self.count
            )))?;
        self.count += bytes.len() as u64;
        self.crc.update(bytes);
        Ok(())
    }
}

/// Writes an archive to any `Write` in bounded memory.
///
/// Memory: one frame being filled, at most `2 * threads` frames in flight (raw + compressed),
/// plus the index (about 60 bytes + path length per entry), which must be complete at the end.
pub struct ArchiveWriter<W: Write> {
    out: Counting<W>,
    opts: WriterOptions,
    buf: Vec<u8>,
    /// Offset in the uncompressed body where the next content byte goes.
    body_pos: u64,
    frames: Vec<FrameInfo>,
    entries: Vec<IndexEntry>,
    paths: HashSet<String>,
    pool: Option<Pool>,
    inline: Option<FrameCompressor>,
    next_seq: u64,
    next_write: u64,
    pending: BTreeMap<u64, Packed>,
    in_flight: usize,
    max_in_flight: usize,
    spare: Vec<Vec<u8>>,
    raw_frames: u64,
    /// Set when writing to the inner writer failed: the output is unusable from then on.
    broken: bool,
    /// The archive's key when it is sealed.
    sealing: Option<Sealing>,
}

impl<W: Write> ArchiveWriter<W> {
    /// Validates the options, writes the header and starts the compression threads.
    pub fn new(w: W, opts: WriterOptions) -> Result<Self, ArchiveError> {
        Self::create(w, opts, None)
    }

    /// Like `new`, for a sealed archive: every frame and the index encrypted under a key of
    /// this archive's own, derived from the seal's master key (schema/archive.md).
    pub fn new_sealed(w: W, opts: WriterOptions, seal: &Seal) -> Result<Self, ArchiveError> {
        Self::create(w, opts, Some(seal))
    }

    /// `new` or `new_sealed` by an option (the engine passes its configured key through).
    pub fn with_seal(w: W, opts: WriterOptions, seal: Option<&Seal>) -> Result<Self, ArchiveError> {
        Self::create(w, opts, seal)
    }

    fn create(w: W, opts: WriterOptions, seal: Option<&Seal>) -> Result<Self, ArchiveError> {
        if !opts.codec.level_range().contains(&opts.level) {
            return Err(ArchiveError::invalid(format!(
                "level {} is outside {:?} for {}",
                opts.level,
                opts.codec.level_range(),
                opts.codec
            )));
        }
        if !(MIN_FRAME_SIZE..=MAX_FRAME_RAW).contains(&opts.frame_size) {
            return Err(ArchiveError::invalid(format!(
                "frame size {} is outside {MIN_FRAME_SIZE}..={MAX_FRAME_RAW}",
                opts.frame_size
            )));
        }
        let threads = match opts.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n.min(256),
        };
        let header = Header {
            version: VERSION,
            codec: opts.codec,
            flags: if seal.is_some() { FLAG_SEALED } else { 0 },
            level: opts.level,
        }
        .encode();
        let (sealing, block) = match seal {
            Some(s) => {
                let (sealing, block) = Sealing::create(s, &header)?;
                (Some(sealing), Some(block))
            }
            None => (None, None),
        };
        let (pool, inline) = if threads > 1 {
            (Some(Pool::start(&opts, threads, sealing.as_ref())?), None)
        } else {
            let c = FrameCompressor::new(opts.codec, opts.level, opts.frame_size)?;
            (None, Some(c))
        };
        let mut out = Counting {
            inner: w,
            count: 0,
            crc: crc32fast::Hasher::new(),
        };
        out.put(&header, "the header")?;
        if let Some(block) = block {
            out.put(&block, "the seal block")?;
        }
        Ok(ArchiveWriter {
            out,
            opts,
            buf: Vec::with_capacity(opts.frame_size),
            body_pos: 0,
            frames: Vec::new(),
            entries: Vec::new(),
            paths: HashSet::new(),
            pool,
            inline,
            next_seq: 0,
            next_write: 0,
            pending: BTreeMap::new(),
            in_flight: 0,
            max_in_flight: threads * 2,
            spare: Vec::new(),
            raw_frames: 0,
            broken: false,
            sealing,
        })
    }

    /// Adds a regular file, streaming its content from `reader` (never held whole).
    /// The recorded size and CRC are those of the bytes actually read.
    /// If `reader` fails, the error is returned and no entry is recorded; bytes already
    /// buffered stay in the body unreferenced, and the archive remains valid.
    pub fn add_file(
        &mut self,
        path: &str,
        meta: &EntryMeta,
        reader: impl Read,
    ) -> Result<(), ArchiveError> {
        self.add_content(path, EntryKind::File, meta, reader)
    }

    /// Adds a named stream (e.g. a database dump) with mode 0600 and the current time.
    pub fn add_stream(&mut self, name: &str, reader: impl Read) -> Result<(), ArchiveError> {
        let meta = EntryMeta::new(0o600, Mtime::now());
        self.add_content(name, EntryKind::Stream, &meta, reader)
    }

    /// Adds a named stream with explicit metadata (deterministic archives, tests).
    pub fn add_stream_with(
        &mut self,
        name: &str,
        meta: &EntryMeta,
        reader: impl Read,
    ) -> Result<(), ArchiveError> {
        self.add_content(name, EntryKind::Stream, meta, reader)
    }

    pub fn add_dir(&mut self, path: &str, meta: &EntryMeta) -> Result<(), ArchiveError> {
        self.push_entry(IndexEntry {
            path: path.to_string(),
            kind: EntryKind::Dir,
            mode: meta.mode,
            mtime: meta.mtime,
            size: 0,
            crc32: 0,
            location: Location::None,
        })
    }

    /// Adds a symlink. Targets are recorded as given; extraction refuses those that would
    /// escape the target directory.
    pub fn add_symlink(
        &mut self,
        path: &str,
        meta: &EntryMeta,
        target: &str,
    ) -> Result<(), ArchiveError> {
        self.push_entry(IndexEntry {
            path: path.to_string(),
            kind: EntryKind::Symlink {
                target: target.to_string(),
            },
            mode: meta.mode,
            mtime: meta.mtime,
            size: 0,
            crc32: 0,
            location: Location::None,
        })
    }

    /// Records that `path` existed in the parent backup and is gone now.
    pub fn add_deletion(&mut self, path: &str) -> Result<(), ArchiveError> {
        self.push_entry(IndexEntry {
            path: path.to_string(),
            kind: EntryKind::Deletion,
            mode: 0,
            mtime: Mtime::default(),
            size: 0,
            crc32: 0,
            location: Location::None,
        })
    }

    /// Records an unchanged file or stream whose bytes live in a parent backup, so the index
    /// stays a complete manifest. `entry.location` must be `Location::Parent`.
    pub fn add_parent_ref(&mut self, entry: IndexEntry) -> Result<(), ArchiveError> {
        if !entry.kind.has_content() || !matches!(entry.location, Location::Parent { .. }) {
            return Err(ArchiveError::invalid(format!(
                "parent reference {:?} must be a file or stream located in a parent backup",
                entry.path
            )));
        }
        self.push_entry(entry)
    }

    /// Adds a named stream that is a frame of its own: the frame being filled is cut first, so
    /// the n-th entry added this way (to a writer given nothing else) is frame n. The
    /// repository's packs are written so, one chunk per frame (schema/repository.md). `data`
    /// must hold 1 ..= `frame_size` bytes. Returns the entry's frame number.
    pub fn add_frame_entry(
        &mut self,
        name: &str,
        meta: &EntryMeta,
        data: &[u8],
    ) -> Result<u64, ArchiveError> {
        self.check_usable()?;
        if data.is_empty() || data.len() > self.opts.frame_size {
            return Err(ArchiveError::invalid(format!(
                "{name:?}: a frame entry holds 1..={} bytes, not {}",
                self.opts.frame_size,
                data.len()
            )));
        }
        self.check_new_path(name)?;
        // Another frame exists now, so the one being filled is not the last.
        self.dispatch_frame(false)?;
        let frame = self.next_seq;
        self.add_content(name, EntryKind::Stream, meta, data)?;
        Ok(frame)
    }

    /// Bytes handed to the output so far (frames still compressing not counted).
    pub fn bytes_written(&self) -> u64 {
        self.out.count
    }

    /// Entries recorded so far.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    fn check_usable(&self) -> Result<(), ArchiveError> {
        if self.broken {
            return Err(ArchiveError::invalid(
                "the writer failed earlier; the archive is unusable",
            ));
        }
        Ok(())
    }

    fn check_new_path(&self, path: &str) -> Result<(), ArchiveError> {
        path::components(path).map_err(|r| ArchiveError::invalid(format!("path {path:?}: {r}")))?;
        if self.paths.contains(path) {
            return Err(ArchiveError::invalid(format!("duplicate path {path:?}")));
        }
        Ok(())
    }

    fn push_entry(&mut self, entry: IndexEntry) -> Result<(), ArchiveError> {
        self.check_usable()?;
        self.check_new_path(&entry.path)?;
        check_entry_shape(&entry)
            .map_err(|r| ArchiveError::invalid(format!("entry {:?}: {r}", entry.path)))?;
        self.paths.insert(entry.path.clone());
        self.entries.push(entry);
        Ok(())
    }

    fn add_content(
        &mut self,
        path: &str,
        kind: EntryKind,
        meta: &EntryMeta,
        mut reader: impl Read,
    ) -> Result<(), ArchiveError> {
        self.check_usable()?;
        self.check_new_path(path)?;
        if meta.mode > 0o7777 {
            return Err(ArchiveError::invalid(format!(
                "{path:?}: mode {:o} > 0o7777",
                meta.mode
            )));
        }
        let offset = self.body_pos;
        let mut hasher = crc32fast::Hasher::new();
        let mut size = 0u64;
        loop {
            if self.buf.len() >= self.opts.frame_size {
                // The frame is cut only once a byte for the next one exists: a sealed frame
                // must know whether it is the last, and so the last frame is always the one
                // `finish` cuts (frame boundaries are the same as cutting at once).
                let mut one = [0u8; 1];
                let k = loop {
                    match reader.read(&mut one) {
                        Ok(k) => break k,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            return Err(ArchiveError::Io {
                                context: format!("reading content of {path:?}"),
                                source: e,
                            })
                        }
                    }
                };
                if k == 0 {
                    break;
                }
                self.dispatch_frame(false)?;
                self.buf.push(one[0]);
                hasher.update(&one);
                size += 1;
                self.body_pos += 1;
            }
            let start = self.buf.len();
            let room = (self.opts.frame_size - start) as u64;
            let res = (&mut reader).take(room).read_to_end(&mut self.buf);
            // On an error read_to_end keeps what it read before it: those bytes are in the body
            // now (unreferenced), so the body position must count them too.
            let n = self.buf.len() - start;
            if let Err(e) = res {
                self.body_pos += n as u64;
                return Err(ArchiveError::Io {
                    context: format!("reading content of {path:?}"),
                    source: e,
                });
            }
            hasher.update(&self.buf[start..]);
            size += n as u64;
            self.body_pos += n as u64;
            if (n as u64) < room {
                break; // end of input before the frame filled up
            }
        }
        self.push_entry(IndexEntry {
            path: path.to_string(),
            kind,
            mode: meta.mode,
            mtime: meta.mtime,
            size,
            crc32: hasher.finalize(),
            location: Location::Here { offset },
        })
    }

    /// Hands the filled frame to a worker (or compresses it here with one thread), writing
    /// whatever finished frames are next in order. Blocks while too many frames are in flight.
    fn dispatch_frame(&mut self, last: bool) -> Result<(), ArchiveError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let fresh = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.opts.frame_size));
        let raw = std::mem::replace(&mut self.buf, fresh);
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(comp) = self.inline.as_mut() {
            let packed = pack(comp, self.sealing.as_ref(), seq, last, raw)?;
            self.pending.insert(seq, packed);
            return self.write_ready();
        }
        while self.in_flight >= self.max_in_flight {
            self.collect(true)?;
        }
        let sent = match self.pool.as_ref().and_then(|p| p.jobs.as_ref()) {
            Some(tx) => tx.send((seq, raw, last)).is_ok(),
            None => false,
        };
        if !sent {
            self.broken = true;
            return Err(ArchiveError::invalid(
                "compression threads stopped unexpectedly",
            ));
        }
        self.in_flight += 1;
        while self.collect(false)? {}
        Ok(())
    }

    /// Receives one finished frame (waiting if `block`), then writes all frames that are next
    /// in sequence. Returns whether a frame was received.
    fn collect(&mut self, block: bool) -> Result<bool, ArchiveError> {
        let Some(pool) = self.pool.as_ref() else {
            return Ok(false);
        };
        let got = if block {
            pool.results.recv().ok()
        } else {
            pool.results.try_recv().ok()
        };
        let Some((seq, res)) = got else {
            if block {
                self.broken = true;
                return Err(ArchiveError::invalid(
                    "compression threads stopped unexpectedly",
                ));
            }
            return Ok(false);
        };
        self.in_flight -= 1;
        match res {
            Ok(p) => {
                self.pending.insert(seq, p);
            }
            Err(e) => {
                self.broken = true;
                return Err(e);
            }
        }
        self.write_ready()?;
        Ok(true)
    }

    fn write_ready(&mut self) -> Result<(), ArchiveError> {
        while let Some(p) = self.pending.remove(&self.next_write) {
            self.next_write += 1;
            let raw_len = p.raw.len() as u32;
            let flags = p.flags;
            let bytes = match &p.stored {
                Some(s) => s.as_slice(),
                None => p.raw.as_slice(),
            };
            if flags == FRAME_RAW {
                self.raw_frames += 1;
            }
            let h = FrameHeader::seal(bytes, raw_len, flags);
            self.frames.push(FrameInfo {
                offset: self.out.count,
                stored_len: h.stored_len,
                raw_len,
            });
            let frame = self.frames.len() - 1;
            let res = self
                .out
                .put(&h.encode(), &format!("frame {frame} header"))
                .and_then(|()| self.out.put(bytes, &format!("frame {frame}")));
            if let Err(e) = res {
                self.broken = true;
                return Err(e);
            }
            let mut raw = p.raw;
            if self.spare.len() < 2 {
                raw.clear();
                self.spare.push(raw);
            }
        }
        Ok(())
    }

    /// Flushes the last frame, waits for every frame, writes index and trailer, flushes the
    /// writer and hands it back. The caller fsyncs and renames.
    pub fn finish(mut self) -> Result<(W, WriteSummary), ArchiveError> {
        self.check_usable()?;
        self.dispatch_frame(true)?;
        while self.in_flight > 0 {
            self.collect(true)?;
        }
        self.write_ready()?;
        if self.next_write != self.next_seq {
            return Err(ArchiveError::invalid("a compressed frame went missing"));
        }
        self.pool.take(); // joins the workers
        let mut raw = Vec::with_capacity(16 + self.entries.len() * 64);
        encode_index(&self.frames, &self.entries, &mut raw);
        let mut comp = match self.inline.take() {
            Some(c) => c,
            None => FrameCompressor::new(self.opts.codec, self.opts.level, self.opts.frame_size)?,
        };
        // Stored raw exactly when compression does not shrink it: the reader tells the two
        // apart by stored length == raw length.
        let compressed = comp.compress(&raw)?;
        let mut sealed = Vec::new();
        let stored = match (&self.sealing, compressed.as_deref()) {
            (None, c) => c.unwrap_or(&raw),
            (Some(s), c) => {
                sealed.extend_from_slice(c.unwrap_or(&raw));
                s.seal_index(raw.len() as u64, &mut sealed);
                &sealed
            }
        };
        let index_offset = self.out.count;
        let index_crc32 = crc32fast::hash(stored);
        self.out.put(stored, "the index")?;
        let trailer = Trailer {
            index_offset,
            index_stored_len: stored.len() as u64,
            index_raw_len: raw.len() as u64,
            index_crc32,
        };
        self.out.put(&trailer.encode(), "the trailer")?;
        self.out
            .inner
            .flush()
            .map_err(ArchiveError::io("flushing the archive"))?;
        let summary = WriteSummary {
            bytes_written: self.out.count,
            entries: self.entries.len() as u64,
            content_bytes: self.body_pos,
            frames: self.frames.len() as u64,
            raw_frames: self.raw_frames,
            index_crc32,
            archive_crc32: self.out.crc.clone().finalize(),
        };
        let ArchiveWriter { out, .. } = self;
        Ok((out.inner, summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{self, Cursor};

    use crate::archive::ArchiveReader;

    /// Yields `good` bytes, then fails, like a file that vanishes mid-read.
    struct Failing {
        good: usize,
    }

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.good == 0 {
                return Err(io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.good);
            buf[..n].fill(b'x');
            self.good -= n;
            Ok(n)
        }
    }

    #[test]
    fn a_failing_source_records_no_entry_and_the_archive_stays_valid() {
        let opts = WriterOptions {
            frame_size: 4096,
            threads: 2,
            ..WriterOptions::default()
        };
        let mut w = ArchiveWriter::new(Vec::new(), opts).unwrap();
        w.add_file("a", &EntryMeta::default(), &b"before"[..])
            .unwrap();
        let e = w
            .add_file("bad", &EntryMeta::default(), Failing { good: 10_000 })
            .unwrap_err();
        assert!(matches!(e, ArchiveError::Io { .. }), "{e}");
        w.add_file("b", &EntryMeta::default(), &b"after"[..])
            .unwrap();
        let (bytes, s) = w.finish().unwrap();
        assert_eq!(s.entries, 2);
        let mut r = ArchiveReader::open(Cursor::new(bytes)).unwrap();
        let v = r.verify().unwrap();
        assert_eq!((v.entries, v.content_bytes), (2, 11));
        let mut out = Vec::new();
        r.read_entry("b", &mut out).unwrap();
        assert_eq!(out, b"after");
    }

    /// A sink that fails after a number of bytes, like a full disk.
    struct FullDisk {
        room: usize,
    }

    impl Write for FullDisk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "no space"));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_output_error_is_reported_and_the_writer_refuses_further_use() {
        let opts = WriterOptions {
            codec: Codec::None,
            frame_size: 4096,
            threads: 1,
            ..WriterOptions::default()
        };
        let mut w = ArchiveWriter::new(FullDisk { room: 5000 }, opts).unwrap();
        let e = w
            .add_file("big", &EntryMeta::default(), io::repeat(1).take(20_000))
            .unwrap_err();
        assert!(
            matches!(&e, ArchiveError::Io { context, .. } if context.contains("frame")),
            "{e}"
        );
        assert!(w.add_dir("d", &EntryMeta::default()).is_err());
        assert!(w.finish().is_err());
    }
}
