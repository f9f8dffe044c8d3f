//! The repository end to end in one process: streams put in through `Writer` (packs recorded
//! into a `MemoryLookup` as the service would), the snapshot opened as an archive reader over
//! its packs, verified, read and extracted; a second writer deduplicates against the first.

use std::cell::RefCell;
use std::fs;

use super::*;
use crate::archive::{Codec, EntryKind, ExtractOptions, Mtime, Seal};
use crate::events::{Event, PackRecord};
use crate::keys::MasterKey;

fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn entry(path: &str, kind: EntryKind, s: Option<&Stored>) -> SnapEntry {
    SnapEntry {
        path: path.into(),
        kind,
        mode: 0o640,
        mtime: Mtime::new(1_700_000_000, 5),
        size: s.map_or(0, |s| s.size),
        crc32: s.map_or(0, |s| s.crc32),
        chunks: s.map_or(Vec::new(), |s| s.chunks.clone()),
    }
}

/// Writes one snapshot of `files` and returns the packs it wrote.
fn backup(
    dir: &std::path::Path,
    key: Option<&MasterKey>,
    lookup: &MemoryLookup,
    name: &str,
    files: &[(&str, Vec<u8>)],
) -> (Vec<PackRecord>, store::Finished) {
    let packs = RefCell::new(Vec::new());
    let seal = key.map(|k| Seal::new(k.clone()));
    let mut w = Writer::new(
        dir,
        key,
        seal,
        lookup,
        Codec::Zstd,
        3,
        name,
        Box::new(|p: &PackRecord| {
            packs.borrow_mut().push(p.clone());
            Ok(())
        }),
    )
    .unwrap();
    w.add_entry(entry("d", EntryKind::Dir, None));
    for (path, data) in files {
        let s = w.put(data.as_slice()).unwrap().unwrap();
        assert_eq!(s.size, data.len() as u64);
        w.add_entry(entry(path, EntryKind::File, Some(&s)));
    }
    w.add_entry(entry(
        "d/link",
        EntryKind::Symlink {
            target: "/etc/nowhere".into(),
        },
        None,
    ));
    fs::create_dir_all(dir.join(SNAPSHOTS)).unwrap();
    let fin = w.finish(&dir.join(snapshot_location(name))).unwrap();
    (packs.into_inner(), fin)
}

#[test]
fn a_snapshot_restores_over_its_packs_and_the_next_stores_only_what_is_new() {
    for key in [None, Some(MasterKey::from_bytes([4; 32]))] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let big = noise(9 << 20, 1);
        let files = vec![
            ("d/big", big.clone()),
            ("d/small", b"hello".to_vec()),
            ("d/empty", Vec::new()),
            ("d/again", big.clone()),
        ];
        let mut lookup = MemoryLookup::default();
        let (packs, fin) = backup(dir, key.as_ref(), &lookup, "one", &files);
        for p in &packs {
            lookup.apply(&Event::PackWritten { pack: p.clone() });
        }
        let distinct: usize = packs.iter().map(|p| p.chunks.len()).sum();
        assert_eq!(
            fin.refs.chunks as usize, distinct,
            "the copy of big is stored once"
        );
        assert_eq!(fin.refs.logical_bytes, 2 * big.len() as u64 + 5);
        let stored: u64 = packs.iter().map(|p| p.bytes).sum();
        assert!(stored < big.len() as u64 + (1 << 20), "{stored}");

        let snap = dir.join(snapshot_location("one"));
        let mut r = open_snapshot(dir, &snap, key.as_ref(), &lookup).unwrap();
        let v = r.verify().unwrap();
        assert_eq!((v.files, v.dirs, v.symlinks), (4, 1, 1));
        let mut out = Vec::new();
        r.read_entry("d/again", &mut out).unwrap();
        assert!(out == big);
        let target = dir.join("restored");
        r.extract_with(&target, &[], &ExtractOptions::default())
            .unwrap();
        for (path, data) in &files {
            assert!(fs::read(target.join(path)).unwrap() == *data, "{path}");
        }
        assert_eq!(
            fs::read_link(target.join("d/link")).unwrap(),
            std::path::Path::new("/etc/nowhere")
        );

        // One byte inserted at the start of big: only its first chunk(s) are new.
        let mut changed = vec![7u8];
        changed.extend_from_slice(&big);
        let (packs2, fin2) = backup(
            dir,
            key.as_ref(),
            &lookup,
            "two",
            &[("d/big", changed.clone()), ("d/small", b"hello".to_vec())],
        );
        let new: u64 = packs2.iter().map(|p| p.chunks.len() as u64).sum();
        assert_eq!(fin2.refs.new_chunks, new);
        // The changed chunk(s) of big, and the one tree whose entries changed.
        assert!((2..=3).contains(&new), "{new} new chunks");
        for p in &packs2 {
            lookup.apply(&Event::PackWritten { pack: p.clone() });
        }
        let mut r2 = open_snapshot(
            dir,
            &dir.join(snapshot_location("two")),
            key.as_ref(),
            &lookup,
        )
        .unwrap();
        let mut out = Vec::new();
        r2.read_entry("d/big", &mut out).unwrap();
        assert!(out == changed);

        // Data chunks are where the lookup (the projection) says: one it does not know is a
        // damaged frame. Verify names it; a restore that skips damage saves every file that
        // does not use it (big's chunks are the only ones over 64 KiB).
        let mut forgetful = MemoryLookup::default();
        let mut rec = packs[0].clone();
        for c in &mut rec.chunks {
            if c.raw_len > 64 << 10 {
                c.id = [0xee; 32];
            }
        }
        forgetful.add(rec);
        let mut r = open_snapshot(dir, &snap, key.as_ref(), &forgetful).unwrap();
        let e = r.verify().unwrap_err().to_string();
        assert!(e.contains("no pack holds it"), "{e}");
        let lost_target = dir.join("lost");
        let sum = r
            .extract_with(
                &lost_target,
                &[],
                &ExtractOptions {
                    skip_damaged: true,
                    ..ExtractOptions::default()
                },
            )
            .unwrap();
        let lost: Vec<&str> = sum.damaged.iter().map(|d| d.path.as_str()).collect();
        assert!(lost.contains(&"d/big"), "{lost:?}");
        for (path, data) in &files {
            if !lost.contains(path) {
                assert!(fs::read(lost_target.join(path)).unwrap() == *data, "{path}");
            } else {
                assert!(!lost_target.join(path).exists());
            }
        }
        // The pack moved: its trees are not where the snapshot hints nor where the lookup says,
        // so the snapshot cannot list its entries and says which tree it lacks; a lookup that
        // knows the new place opens it.
        let p0 = dir.join(&packs[0].location);
        let moved = dir.join("repository/packs/moved.pack");
        fs::rename(&p0, &moved).unwrap();
        let e = open_snapshot(dir, &snap, key.as_ref(), &lookup)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("tree chunk") && e.contains("is gone"), "{e}");
        let mut relocated = MemoryLookup::default();
        let mut rec = packs[0].clone();
        rec.location = "repository/packs/moved.pack".into();
        relocated.add(rec);
        open_snapshot(dir, &snap, key.as_ref(), &relocated)
            .unwrap()
            .verify()
            .unwrap();
    }
}

#[test]
fn a_sealed_pack_holds_no_plaintext() {
    let tmp = tempfile::tempdir().unwrap();
    let key = MasterKey::from_bytes([9; 32]);
    let planted = b"PLANTED-SECRET-STRING-0123456789".repeat(100);
    let (packs, _) = backup(
        tmp.path(),
        Some(&key),
        &MemoryLookup::default(),
        "s",
        &[("d/secret", planted)],
    );
    let bytes = fs::read(tmp.path().join(&packs[0].location)).unwrap();
    assert!(!bytes.windows(15).any(|w| w == b"PLANTED-SECRET-"));
}

#[test]
fn reading_on_a_second_thread_stores_the_same_and_hands_back_a_read_error() {
    let tmp = tempfile::tempdir().unwrap();
    let lookup = MemoryLookup::default();
    let mut w = Writer::new(
        tmp.path(),
        None,
        None,
        &lookup,
        Codec::Zstd,
        3,
        "r",
        Box::new(|_: &PackRecord| Ok(())),
    )
    .unwrap();
    let data = noise(7 << 20, 3);
    let a = w.put(data.as_slice()).unwrap().unwrap();
    let b = w.put_parallel(data.as_slice()).unwrap().unwrap();
    assert_eq!(a, b);
    assert!(a.chunks.len() > 2);

    struct FailsAfter(usize);
    impl std::io::Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(1);
            self.0 -= n;
            Ok(n)
        }
    }
    let e = w.put_parallel(FailsAfter(9 << 20)).unwrap_err();
    assert_eq!(e.to_string(), "disk on fire");
    // The writer goes on afterwards.
    assert_eq!(w.put_parallel(&b"x"[..]).unwrap().unwrap().size, 1);
}

/// A stream hashed on another thread (`hash_stream`) and stored with `put_hashed` gives what
/// `put` gives, and holds the bytes of new chunks only.
#[test]
fn a_stream_hashed_ahead_stores_as_put_does_and_holds_only_new_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let big = noise(5 << 20, 9);
    let mut lookup = MemoryLookup::default();
    let (packs, _) = backup(dir, None, &lookup, "one", &[("d/big", big.clone())]);
    for p in &packs {
        lookup.apply(&Event::PackWritten { pack: p.clone() });
    }
    // The same bytes with a new tail: the old chunks are known, the tail's are not.
    let mut grown = big.clone();
    grown.extend(noise(2 << 20, 10));
    let mk = |name: &str| {
        Writer::new(
            dir,
            None,
            None,
            &lookup,
            Codec::Zstd,
            3,
            name,
            Box::new(|_: &PackRecord| Ok(())),
        )
        .unwrap()
    };
    let mut direct = mk("direct");
    let want = direct.put(grown.as_slice()).unwrap().unwrap();
    let mut ahead = mk("ahead");
    // More new bytes than it may hold: given up.
    let (over, _) = hash_stream(
        grown.as_slice(),
        ahead.chunk_key(),
        &lookup,
        1 << 20,
        Vec::new(),
        None,
    );
    assert!(over.unwrap().is_none());
    let (hashed, _) = hash_stream(
        grown.as_slice(),
        ahead.chunk_key(),
        &lookup,
        8 << 20,
        Vec::new(),
        None,
    );
    let hashed = hashed.unwrap().unwrap();
    assert_eq!(hashed.size, grown.len() as u64);
    let known: u64 = hashed
        .chunks
        .iter()
        .filter(|c| c.data.is_none())
        .map(|c| u64::from(c.len))
        .sum();
    assert!(known >= 3 << 20, "most of big is known: {known}");
    assert_eq!(hashed.held() + known, grown.len() as u64);
    let got = ahead.put_hashed(hashed).unwrap();
    assert_eq!((got.size, got.crc32), (want.size, want.crc32));
    assert_eq!(got.chunks.len(), want.chunks.len());
}

/// A stream of the hint's length hashed with the previous cut as its hint gives exactly what
/// cutting it gives: when nothing changed, when a range in the middle or at the start changed,
/// when the hint is someone else's. One of another length (the file changed size between the
/// scan and the read) still gives its own bytes, its size and CRC.
#[test]
fn a_hinted_stream_hashes_to_what_cutting_gives() {
    let key = crate::repository::ChunkKey::from_bytes([3; 32]);
    let hash = |data: &[u8], hint: Option<&[([u8; 32], u32)]>| {
        let (h, _) = hash_stream(data, &key, &NoChunks, u64::MAX, Vec::new(), hint);
        let h = h.unwrap().unwrap();
        let chunks: Vec<([u8; 32], u32)> = h.chunks.iter().map(|c| (c.id, c.len)).collect();
        let held: Vec<Vec<u8>> = h.chunks.into_iter().map(|c| c.data.unwrap()).collect();
        assert!(
            held.concat() == data,
            "every byte is held (nothing is known)"
        );
        (chunks, h.size, h.crc32)
    };
    let before = noise(12 << 20, 21);
    let (cut, _, _) = hash(&before, None);
    assert!(cut.len() > 6, "{} chunks", cut.len());
    let mut middle = before.clone();
    middle[6 << 20] ^= 1;
    let mut start = before.clone();
    start[10] ^= 1;
    let shorter = before[..before.len() - 1000].to_vec();
    let mut longer = before.clone();
    longer.extend(noise(3000, 22));
    let other = noise(12 << 20, 23);
    for data in [&before, &middle, &start, &other] {
        assert_eq!(hash(data, Some(&cut)), hash(data, None));
    }
    for data in [&shorter, &longer] {
        let (hinted, size, crc) = hash(data, Some(&cut));
        assert_eq!((size, crc), (data.len() as u64, crc32fast::hash(data)));
        assert!(hinted.iter().all(|&(_, len)| len <= super::MAX_CHUNK));
    }
}
