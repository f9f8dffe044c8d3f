//! Snapshot version 2: the entries live in tree chunks in the packs, deduplicated like data, and
//! the `.snap` file lists those chunks (schema/repository.md, "Encoding (version 2)").
//!
//! Version 1 wrote every entry and a 44-byte record of every chunk into each snapshot: about
//! 160 KB a backup for a 500 MB tree, written again by every backup however little changed. In
//! version 2 the entries are cut into groups (runs of one directory's entries), each group is
//! encoded with its chunks named by id and stored as a chunk, so an unchanged directory is the
//! same tree chunk as in the previous backup and is stored once. The snapshot still restores
//! alone: its trees are chunks it references, kept by prune as its data is.

use rustc_hash::FxHashMap as HashMap;

use super::chunker::MAX_CHUNK;
use super::snapshot::{
    bad, header, put_chunk, put_entry, take_chunk, take_entry, Cur, SnapChunk, SnapEntry, MIN_ENTRY,
};
use super::RepoError;

pub const VERSION_2: u16 = 2;
/// A tree chunk's first bytes.
pub const TREE_MAGIC: [u8; 4] = *b"BKTR";
pub const TREE_VERSION: u16 = 1;
const TREE_HEADER: usize = 12;
/// A group ends with its directory's run once it holds this many encoded bytes; smaller runs
/// join the next one, so a tree of many tiny directories is not a chunk per directory.
pub const GROUP_MIN: usize = 4 << 10;
/// A group ends after the entry that takes it past this, within a directory too.
pub const GROUP_MAX: usize = 256 << 10;

/// One group of a version-2 snapshot: in a tree chunk (`pack` indexes `SnapFile::packs`), or
/// inline in the `.snap` file (a group whose encoding is longer than a chunk may be: one entry
/// with more than ~100,000 chunks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Group {
    Chunk(SnapChunk),
    Inline(Vec<u8>),
}

/// A version-2 `.snap` encoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapFile {
    /// Pack ids the groups' hints name.
    pub packs: Vec<[u8; 32]>,
    /// Entries in all groups together.
    pub entry_count: u64,
    pub groups: Vec<Group>,
}

impl SnapFile {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.packs.len() * 32 + self.groups.len() * 45);
        out.extend_from_slice(&super::snapshot::MAGIC);
        out.extend_from_slice(&VERSION_2.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(self.packs.len() as u32).to_le_bytes());
        for p in &self.packs {
            out.extend_from_slice(p);
        }
        out.extend_from_slice(&self.entry_count.to_le_bytes());
        out.extend_from_slice(&(self.groups.len() as u32).to_le_bytes());
        for g in &self.groups {
            match g {
                Group::Chunk(c) => {
                    out.push(0);
                    put_chunk(c, &mut out);
                }
                Group::Inline(bytes) => {
                    out.push(1);
                    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                    out.extend_from_slice(bytes);
                }
            }
        }
        out
    }

    /// Decodes and checks a version-2 encoding (inline groups are checked as trees when read).
    pub fn decode(buf: &[u8]) -> Result<SnapFile, RepoError> {
        let mut c = Cur { buf, pos: 0 };
        header(&mut c, VERSION_2)?;
        let pack_count = c.count(32, "pack count")?;
        let mut packs = Vec::with_capacity(pack_count);
        for _ in 0..pack_count {
            packs.push(c.arr::<32>("pack id")?);
        }
        let entry_count = c.u64("entry count")?;
        // The smallest group: a tag and an empty inline tree's length.
        let group_count = c.count(5, "group count")?;
        let mut groups = Vec::with_capacity(group_count);
        for i in 0..group_count {
            let at = c.pos;
            groups.push(match c.u8("group tag")? {
                0 => Group::Chunk(take_chunk(&mut c, i, packs.len())?),
                1 => {
                    let len = c.u32("inline group length")? as usize;
                    Group::Inline(c.take(len, "inline group")?.to_vec())
                }
                t => return Err(bad(at, format!("group {i}: tag {t}"))),
            });
        }
        if c.remaining() != 0 {
            return Err(bad(
                c.pos,
                format!("{} bytes after the last group", c.remaining()),
            ));
        }
        Ok(SnapFile {
            packs,
            entry_count,
            groups,
        })
    }
}

/// A tree: `entries` encoded with each chunk named by id and length (`chunks` is the table their
/// numbers index), so the bytes do not depend on which backup wrote them.
pub fn encode_tree(entries: &[SnapEntry], chunks: &[SnapChunk]) -> Vec<u8> {
    let mut out = tree_header(entries.len());
    for e in entries {
        put_entry(e, &mut out, |k, out| put_ref(&chunks[k as usize], out));
    }
    out
}

fn tree_header(entries: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(TREE_HEADER + entries * 128);
    out.extend_from_slice(&TREE_MAGIC);
    out.extend_from_slice(&TREE_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(entries as u32).to_le_bytes());
    out
}

fn put_ref(c: &SnapChunk, out: &mut Vec<u8>) {
    out.extend_from_slice(&c.id);
    out.extend_from_slice(&c.raw_len.to_le_bytes());
}

/// The entries cut into groups, each encoded as a tree: a group ends where a run of entries of
/// one directory ends once it holds `GROUP_MIN` bytes, and after any entry that takes it past
/// `GROUP_MAX`. The cuts depend only on the entries, so an unchanged run of directories gives
/// the same trees in every backup.
pub fn groups(entries: &[SnapEntry], chunks: &[SnapChunk]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut body = Vec::new();
    let mut n = 0usize;
    let mut close = |body: &mut Vec<u8>, n: &mut usize| {
        let mut tree = tree_header(*n);
        tree.append(body);
        out.push(tree);
        *n = 0;
    };
    for (i, e) in entries.iter().enumerate() {
        put_entry(e, &mut body, |k, out| put_ref(&chunks[k as usize], out));
        n += 1;
        let run_ends = entries
            .get(i + 1)
            .is_none_or(|next| parent(&next.path) != parent(&e.path));
        if body.len() >= GROUP_MAX || (run_ends && body.len() >= GROUP_MIN) {
            close(&mut body, &mut n);
        }
    }
    if n > 0 {
        close(&mut body, &mut n);
    }
    out
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// Decodes and checks a tree, appending its entries to `entries` with their chunks numbered in
/// `table` (each distinct id once, `index` finding it): what a version-2 snapshot's groups
/// decode into together.
pub fn decode_tree(
    buf: &[u8],
    entries: &mut Vec<SnapEntry>,
    table: &mut Vec<([u8; 32], u32)>,
    index: &mut HashMap<[u8; 32], u32>,
) -> Result<(), RepoError> {
    let mut c = Cur { buf, pos: 0 };
    if c.take(4, "tree magic")? != TREE_MAGIC {
        return Err(bad(0, "not a tree (bad magic)"));
    }
    let v = c.u16("tree version")?;
    if v != TREE_VERSION {
        return Err(bad(4, format!("tree version {v}, expected {TREE_VERSION}")));
    }
    if c.u16("reserved")? != 0 {
        return Err(bad(6, "reserved bytes are not zero"));
    }
    let count = c.count(MIN_ENTRY, "tree entry count")?;
    entries.reserve(count);
    for i in 0..count {
        let e = take_entry(&mut c, i as u64, &mut |c, at| {
            let id = c.arr::<32>("chunk id")?;
            let raw_len = c.u32("chunk length")?;
            if raw_len == 0 || raw_len > MAX_CHUNK {
                return Err(bad(
                    at,
                    format!("entry {i}: chunk length {raw_len} not in 1..={MAX_CHUNK}"),
                ));
            }
            let k = *index.entry(id).or_insert_with(|| {
                table.push((id, raw_len));
                table.len() as u32 - 1
            });
            if table[k as usize].1 != raw_len {
                return Err(bad(
                    at,
                    format!("entry {i}: a chunk named twice with two lengths"),
                ));
            }
            Ok((k, raw_len))
        })?;
        entries.push(e);
    }
    if c.remaining() != 0 {
        return Err(bad(
            c.pos,
            format!("{} bytes after the tree's last entry", c.remaining()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{EntryKind, Mtime};
    use crate::repository::snapshot::Snapshot;

    fn sample_tree() -> Vec<u8> {
        let s = crate::repository::snapshot::tests::sample();
        encode_tree(&s.entries, &s.chunks)
    }

    fn sample_file() -> SnapFile {
        SnapFile {
            packs: vec![[9; 32]],
            entry_count: 10,
            groups: vec![
                Group::Chunk(SnapChunk {
                    id: [3; 32],
                    raw_len: 300,
                    pack: 0,
                    frame: 7,
                }),
                Group::Inline(sample_tree()),
            ],
        }
    }

    /// Version 2's bytes and a tree's, kept forever (`cargo test --lib regenerate_golden_v2 --
    /// --ignored` writes them anew, on purpose only).
    const GOLDEN_FILE: &str = "fixtures/repository/snapshot-v2.bin";
    const GOLDEN_TREE: &str = "fixtures/repository/tree-v1.bin";

    #[test]
    #[ignore]
    fn regenerate_golden_v2() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::write(root.join(GOLDEN_FILE), sample_file().encode()).unwrap();
        std::fs::write(root.join(GOLDEN_TREE), sample_tree()).unwrap();
    }

    #[test]
    fn the_golden_v2_snapshot_and_tree_decode_and_encode_byte_for_byte() {
        let file = include_bytes!("../../fixtures/repository/snapshot-v2.bin");
        assert_eq!(SnapFile::decode(file).unwrap(), sample_file());
        assert!(sample_file().encode() == file);
        let tree = include_bytes!("../../fixtures/repository/tree-v1.bin");
        assert!(sample_tree() == tree);
        let (mut entries, mut table, mut index) = (Vec::new(), Vec::new(), HashMap::default());
        decode_tree(tree, &mut entries, &mut table, &mut index).unwrap();
        let s = crate::repository::snapshot::tests::sample();
        // The chunks come back numbered in order of first use, as the sample numbers them.
        assert_eq!(entries, s.entries);
        let named: Vec<([u8; 32], u32)> = s.chunks.iter().map(|c| (c.id, c.raw_len)).collect();
        assert_eq!(table, named);
        // Version 1 is still what `Snapshot::decode` reads; each refuses the other's version.
        assert!(Snapshot::decode(file).is_err());
        assert!(SnapFile::decode(&s.encode()).is_err());
        assert_eq!(crate::repository::snapshot::version_of(file), Some(2));
    }

    #[test]
    fn damage_gives_a_typed_error_never_a_panic() {
        let file = sample_file().encode();
        for cut in 0..file.len() {
            let e = SnapFile::decode(&file[..cut]).unwrap_err();
            assert!(matches!(e, RepoError::BadSnapshot { .. }), "{e}");
        }
        let tree = sample_tree();
        let decode = |b: &[u8]| {
            let (mut e, mut t, mut i) = (Vec::new(), Vec::new(), HashMap::default());
            decode_tree(b, &mut e, &mut t, &mut i)
        };
        for cut in 0..tree.len() {
            let e = decode(&tree[..cut]).unwrap_err();
            assert!(matches!(e, RepoError::BadSnapshot { .. }), "{e}");
        }
        for i in 0..tree.len() {
            let mut b = tree.clone();
            b[i] ^= 0x80;
            // A typed error or another valid tree (a flipped id, crc, mode), never a panic.
            if let Err(e) = decode(&b) {
                assert!(matches!(e, RepoError::BadSnapshot { .. }), "{e}");
            }
        }
        let mut extra = file.clone();
        extra.push(0);
        assert!(SnapFile::decode(&extra)
            .unwrap_err()
            .to_string()
            .contains("after the last group"));
    }

    fn file(path: &str, chunk: u32) -> SnapEntry {
        SnapEntry {
            path: path.into(),
            kind: EntryKind::File,
            mode: 0o644,
            mtime: Mtime::new(1_700_000_000, 0),
            size: 100,
            crc32: 1,
            chunks: vec![chunk],
        }
    }

    /// `n` files in each of `dirs`, each file its own chunk.
    fn tree_of(dirs: &[&str], n: u32) -> (Vec<SnapEntry>, Vec<SnapChunk>) {
        let mut entries = Vec::new();
        let mut chunks = Vec::new();
        for d in dirs {
            for i in 0..n {
                let k = chunks.len() as u32;
                let mut id = [0u8; 32];
                id[..4].copy_from_slice(&k.to_le_bytes());
                chunks.push(SnapChunk {
                    id,
                    raw_len: 100,
                    pack: 0,
                    frame: k,
                });
                entries.push(file(&format!("{d}/f{i:05}"), k));
            }
        }
        (entries, chunks)
    }

    #[test]
    fn groups_follow_directories_and_a_change_leaves_the_other_trees_alone() {
        // Small directories join until a group holds GROUP_MIN bytes; large ones are a group
        // each; a directory past GROUP_MAX is cut inside.
        let (entries, chunks) = tree_of(&["a", "b"], 3);
        assert_eq!(groups(&entries, &chunks).len(), 1);
        let (entries, chunks) = tree_of(&["a", "b", "c"], 100);
        let trees = groups(&entries, &chunks);
        assert_eq!(trees.len(), 3);
        let (big, big_chunks) = tree_of(&["big"], 4000);
        let cut = groups(&big, &big_chunks);
        assert!(cut.len() >= 2, "{} groups", cut.len());
        assert!(cut.iter().all(|t| t.len() <= GROUP_MAX + 1024));

        // One file of b changed: only b's tree differs.
        let mut changed = entries.clone();
        changed[150].crc32 = 2;
        let after = groups(&changed, &chunks);
        let same: Vec<bool> = trees.iter().zip(&after).map(|(x, y)| x == y).collect();
        assert_eq!(same, [true, false, true]);

        // What the groups decode into is the entries, in order.
        let (mut got, mut table, mut index) = (Vec::new(), Vec::new(), HashMap::default());
        for t in &trees {
            decode_tree(t, &mut got, &mut table, &mut index).unwrap();
        }
        assert_eq!(got, entries);
    }
}
