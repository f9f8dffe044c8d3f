//! Putting a backup into the repository: streams are cut into chunks, each chunk the repository
//! lacks (not in the lookup, not written by this run yet) goes into the current pack; full packs
//! are finished and handed to `on_pack` (which records `pack_written`) before any snapshot
//! references them. `finish` writes the snapshot and says what it references.

use std::io::{self, Read};
use std::path::Path;

use rustc_hash::FxHashMap as HashMap;

use super::chunker::Chunker;
use super::chunker::MAX_CHUNK;
use super::hashed::Hashed;
use super::id::ChunkKey;
use super::lookup::ChunkLookup;
use super::pack::PackWriter;
use super::snapshot::{self, SnapChunk, SnapEntry, Snapshot};
use super::tree::{self, Group, SnapFile};
use super::RepoError;
use crate::archive::{Codec, Seal};
use crate::events::{PackRecord, PackRefs, SnapshotRefs};
use crate::keys::{hex, hex_decode, MasterKey};

/// A stream put into the repository: its chunks (numbers in the snapshot's chunk table), its
/// length and CRC32.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub chunks: Vec<u32>,
    pub size: u64,
    pub crc32: u32,
}

/// Called with each finished pack, before anything references it.
pub type OnPack<'a> = Box<dyn FnMut(&PackRecord) -> Result<(), RepoError> + 'a>;

/// One backup's way into the repository.
pub struct Writer<'a> {
    data_dir: &'a Path,
    key: ChunkKey,
    lookup: &'a dyn ChunkLookup,
    codec: Codec,
    level: i32,
    seal: Option<Seal>,
    master: Option<MasterKey>,
    run_id: String,
    on_pack: OnPack<'a>,
    pack: Option<(PackWriter, u32)>,
    packs_started: u32,
    snap: Snapshot,
    chunk_index: HashMap<[u8; 32], u32>,
    pack_index: HashMap<[u8; 32], u32>,
    new_bytes: u64,
    new_chunks: u64,
    /// The chunker's buffer, kept from one stream to the next.
    chunk_buf: Vec<u8>,
}

/// What `finish` wrote.
#[derive(Debug, Clone)]
pub struct Finished {
    pub refs: SnapshotRefs,
    /// Length of the `.snap` file and its container's index CRC.
    pub snap_bytes: u64,
    pub checksum: u32,
    pub entries: u64,
}

impl<'a> Writer<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        data_dir: &'a Path,
        master: Option<&MasterKey>,
        seal: Option<Seal>,
        lookup: &'a dyn ChunkLookup,
        codec: Codec,
        level: i32,
        run_id: &str,
        on_pack: OnPack<'a>,
    ) -> Result<Writer<'a>, RepoError> {
        let key = super::id::load_or_create(&data_dir.join("repository"), master)?;
        Ok(Writer {
            data_dir,
            key,
            lookup,
            codec,
            level,
            seal,
            master: master.cloned(),
            run_id: run_id.to_string(),
            on_pack,
            pack: None,
            packs_started: 0,
            snap: Snapshot::default(),
            chunk_index: HashMap::default(),
            pack_index: HashMap::default(),
            new_bytes: 0,
            new_chunks: 0,
            chunk_buf: Vec::new(),
        })
    }

    /// Chunks `r` and stores what the repository lacks. A read error is returned as it came
    /// (chunks stored before it stay in the pack, referenced by nothing unless another entry
    /// has them).
    pub fn put(&mut self, r: impl Read) -> io::Result<Result<Stored, RepoError>> {
        let mut out = Stored {
            chunks: Vec::new(),
            size: 0,
            crc32: 0,
        };
        let mut crc = crc32fast::Hasher::new();
        let mut chunks = Chunker::with_buffer(r, std::mem::take(&mut self.chunk_buf));
        let res = loop {
            let data = match chunks.next_chunk() {
                Ok(Some(d)) => d,
                Ok(None) => break Ok(Ok(())),
                Err(e) => break Err(e),
            };
            crc.update(data);
            out.size += data.len() as u64;
            match self.chunk(data) {
                Ok(k) => out.chunks.push(k),
                Err(e) => break Ok(Err(e)),
            }
        };
        self.chunk_buf = chunks.into_buffer();
        if let Err(e) = res? {
            return Ok(Err(e));
        }
        out.crc32 = crc.finalize();
        Ok(Ok(out))
    }

    /// `put` with reading and cutting on a second thread, so that hashing and storing one chunk
    /// overlaps reading the next (a full backup reads every file: this is most of its time).
    /// At most four chunks wait between the two.
    pub fn put_parallel<R: Read + Send>(&mut self, r: R) -> io::Result<Result<Stored, RepoError>> {
        let mut out = Stored {
            chunks: Vec::new(),
            size: 0,
            crc32: 0,
        };
        let mut crc = crc32fast::Hasher::new();
        let buf = std::mem::take(&mut self.chunk_buf);
        let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(4);
        let (res, buf) = std::thread::scope(|s| {
            let reader = s.spawn(move || {
                let mut chunks = Chunker::with_buffer(r, buf);
                loop {
                    let next = chunks.next_chunk().map(|c| c.map(<[u8]>::to_vec));
                    let go_on = matches!(next, Ok(Some(_)));
                    let sent = match next {
                        Ok(Some(c)) => tx.send(Ok(c)),
                        Ok(None) => break,
                        Err(e) => tx.send(Err(e)),
                    };
                    if sent.is_err() || !go_on {
                        break;
                    }
                }
                chunks.into_buffer()
            });
            let mut res = Ok(Ok(()));
            for next in rx.iter() {
                match next {
                    Ok(data) => {
                        crc.update(&data);
                        out.size += data.len() as u64;
                        match self.chunk(&data) {
                            Ok(k) => out.chunks.push(k),
                            Err(e) => {
                                res = Ok(Err(e));
                                break;
                            }
                        }
                    }
                    Err(e) => {
                        res = Err(e);
                        break;
                    }
                }
            }
            // Dropping the receiver stops a reader still going (its next send fails).
            drop(rx);
            let buf = match reader.join() {
                Ok(buf) => buf,
                // Never a short content taken for the whole.
                Err(_) => {
                    res = Err(io::Error::other("the thread reading the content failed"));
                    Vec::new()
                }
            };
            (res, buf)
        });
        self.chunk_buf = buf;
        if let Err(e) = res? {
            return Ok(Err(e));
        }
        out.crc32 = crc.finalize();
        Ok(Ok(out))
    }

    /// The key chunk ids are computed with (for `hash_stream` on other threads).
    pub fn chunk_key(&self) -> &ChunkKey {
        &self.key
    }

    /// A stream cut and hashed by `hash_stream` with this writer's key and lookup: stores the
    /// chunks the repository lacks.
    pub fn put_hashed(&mut self, h: Hashed) -> Result<Stored, RepoError> {
        let mut chunks = Vec::with_capacity(h.chunks.len());
        for c in h.chunks {
            let k = match self.known(&c.id) {
                Some(k) => k,
                None => match &c.data {
                    Some(data) => self.store(c.id, data)?,
                    // The lookup knew it when it was hashed and is not changed during a run.
                    None => {
                        return Err(RepoError::Other(format!(
                            "chunk {} was known when hashed and is not now",
                            hex(&c.id)
                        )))
                    }
                },
            };
            chunks.push(k);
        }
        Ok(Stored {
            chunks,
            size: h.size,
            crc32: h.crc32,
        })
    }

    /// The snapshot's number of one chunk, storing it if nobody has it.
    fn chunk(&mut self, data: &[u8]) -> Result<u32, RepoError> {
        let id = self.key.id(data);
        match self.known(&id) {
            Some(k) => Ok(k),
            None => self.store(id, data),
        }
    }

    /// The snapshot's number of a chunk this run or the repository already has.
    fn known(&mut self, id: &[u8; 32]) -> Option<u32> {
        match self.chunk_index.get(id) {
            Some(&k) => Some(k),
            None => self.reuse(id),
        }
    }

    /// Writes a chunk nobody has into the current pack (started if there is none).
    fn store(&mut self, id: [u8; 32], data: &[u8]) -> Result<u32, RepoError> {
        if self.pack.is_none() {
            let name = format!("{}-{}", self.run_id, self.packs_started);
            let w = PackWriter::create(
                self.data_dir,
                &name,
                self.codec,
                self.level,
                self.seal.as_ref(),
            )?;
            // Its id is known once it is finished: a slot in the pack table until then.
            let slot = self.snap.packs.len() as u32;
            self.snap.packs.push([0; 32]);
            self.packs_started += 1;
            self.pack = Some((w, slot));
        }
        let (w, slot) = self.pack.as_mut().expect("a pack was started above");
        let frame = w.add(id, data)?;
        let slot = *slot;
        let full = w.full();
        let k = self.add_chunk(SnapChunk {
            id,
            raw_len: data.len() as u32,
            pack: slot,
            frame,
        });
        if full {
            self.close_pack()?;
        }
        Ok(k)
    }

    /// A chunk the lookup knows: referenced where it is.
    fn reuse(&mut self, id: &[u8; 32]) -> Option<u32> {
        let loc = self.lookup.locate(id)?;
        let pack: [u8; 32] = hex_decode(&loc.pack)?.try_into().ok()?;
        let slot = match self.pack_index.get(&pack) {
            Some(&s) => s,
            None => {
                let s = self.snap.packs.len() as u32;
                self.snap.packs.push(pack);
                self.pack_index.insert(pack, s);
                s
            }
        };
        Some(self.add_chunk(SnapChunk {
            id: *id,
            raw_len: loc.raw_len,
            pack: slot,
            frame: loc.frame,
        }))
    }

    fn add_chunk(&mut self, c: SnapChunk) -> u32 {
        let k = self.snap.chunks.len() as u32;
        self.chunk_index.insert(c.id, k);
        self.snap.chunks.push(c);
        k
    }

    /// Takes over the chunk list of an unchanged file from the parent snapshot, if every chunk
    /// is still where the lookup can find it (or was written by this run); `None` means the
    /// file must be read again.
    pub fn reuse_list(&mut self, parent: &Snapshot, list: &[u32]) -> Option<Vec<u32>> {
        let mut out = Vec::with_capacity(list.len());
        for &k in list {
            let id = parent.chunks.get(k as usize)?.id;
            out.push(self.known(&id)?);
        }
        Some(out)
    }

    /// Finishes the current pack and records it.
    fn close_pack(&mut self) -> Result<(), RepoError> {
        let Some((w, slot)) = self.pack.take() else {
            return Ok(());
        };
        if w.is_empty() {
            return Ok(());
        }
        let rec = w.finish(&self.run_id, self.master.as_ref())?;
        crate::failpoint::hit(crate::failpoint::PACK_BEFORE_RECORD).map_err(RepoError::Other)?;
        let id: [u8; 32] = hex_decode(&rec.id)
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| RepoError::Other(format!("pack id {} is not 64 hex digits", rec.id)))?;
        self.snap.packs[slot as usize] = id;
        self.pack_index.insert(id, slot);
        self.new_bytes += rec
            .chunks
            .iter()
            .map(|c| u64::from(c.stored_len))
            .sum::<u64>();
        self.new_chunks += rec.chunks.len() as u64;
        (self.on_pack)(&rec)
    }

    /// Adds a path to the snapshot (in the order they are to be restored: parents first).
    pub fn add_entry(&mut self, e: SnapEntry) {
        self.snap.entries.push(e);
    }

    /// Stores the entries as tree chunks (version 2: each group of entries a chunk, stored once
    /// like any other, schema/repository.md), finishes the last pack (recorded through
    /// `on_pack`), then writes the snapshot to `snap_path` (absolute; a new file) and says what it
    /// references: its data and its trees.
    pub fn finish(mut self, snap_path: &Path) -> Result<Finished, RepoError> {
        let trees = tree::groups(&self.snap.entries, &self.snap.chunks);
        let mut groups = Vec::with_capacity(trees.len());
        for bytes in trees {
            if bytes.len() > MAX_CHUNK as usize {
                groups.push(Err(bytes));
                continue;
            }
            let id = self.key.id(&bytes);
            let k = match self.known(&id) {
                Some(k) => k,
                None => self.store(id, &bytes)?,
            };
            self.snap.trees.push(k);
            groups.push(Ok(k));
        }
        self.close_pack()?;
        crate::failpoint::hit(crate::failpoint::SNAPSHOT_BEFORE_WRITE).map_err(RepoError::Other)?;
        let snap = std::mem::take(&mut self.snap);
        // The file's own pack table: the packs its trees are in.
        let mut file = SnapFile {
            entry_count: snap.entries.len() as u64,
            ..SnapFile::default()
        };
        let mut slots: HashMap<u32, u32> = HashMap::default();
        for g in groups {
            file.groups.push(match g {
                Ok(k) => {
                    let c = snap.chunks[k as usize];
                    let pack = *slots.entry(c.pack).or_insert_with(|| {
                        file.packs.push(snap.packs[c.pack as usize]);
                        file.packs.len() as u32 - 1
                    });
                    Group::Chunk(SnapChunk { pack, ..c })
                }
                Err(bytes) => Group::Inline(bytes),
            });
        }
        let (snap_bytes, checksum) = snapshot::write(
            snap_path,
            &file.encode(),
            self.codec,
            self.level,
            self.seal.as_ref(),
        )?;
        Ok(Finished {
            refs: refs_of(&snap, self.new_bytes, self.new_chunks),
            snap_bytes,
            checksum,
            entries: snap.entries.len() as u64,
        })
    }
}

/// Per pack, the bitmap of the frames the snapshot's entries and trees use (bit `i` = frame `i`, LSB
/// first); the packs in the order of the snapshot's pack table.
pub fn refs_of(snap: &Snapshot, new_bytes: u64, new_chunks: u64) -> SnapshotRefs {
    let mut used = vec![false; snap.chunks.len()];
    for e in &snap.entries {
        for &k in &e.chunks {
            used[k as usize] = true;
        }
    }
    for &k in &snap.trees {
        used[k as usize] = true;
    }
    let mut maps: Vec<Vec<u8>> = vec![Vec::new(); snap.packs.len()];
    let mut distinct = 0u64;
    for (c, _) in snap.chunks.iter().zip(&used).filter(|(_, &u)| u) {
        distinct += 1;
        let m = &mut maps[c.pack as usize];
        let byte = (c.frame / 8) as usize;
        if m.len() <= byte {
            m.resize(byte + 1, 0);
        }
        m[byte] |= 1 << (c.frame % 8);
    }
    SnapshotRefs {
        packs: snap
            .packs
            .iter()
            .zip(maps)
            .filter(|(_, m)| !m.is_empty())
            .map(|(p, frames)| PackRefs {
                pack: hex(p),
                frames,
            })
            .collect(),
        logical_bytes: snap.logical_bytes(),
        new_bytes,
        new_chunks,
        chunks: distinct,
    }
}
