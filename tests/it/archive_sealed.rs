//! Sealed (encrypted) archives: golden fixtures under a fixed test key, every bit flip and
//! truncation detected, frames reordered / cut off / spliced from another archive refused, no
//! plaintext in the file, and a wrong or missing key a typed error.

use std::fs;
use std::io::Cursor;

use backupd::archive::{
    ArchiveError, ArchiveReader, ArchiveWriter, Codec, EntryMeta, Seal, WriterOptions,
};
use backupd::keys::MasterKey;

use super::archive::{
    expected_content_with, extract_tree_with, fixtures, golden_archive_with, noise, opts,
};

/// The codecs with a committed sealed golden (each has compressed frames and a raw one; small
/// files, so the every-bit-flip test stays quick).
pub(crate) const SEALED_GOLDEN_CODECS: [Codec; 2] = [Codec::Zstd, Codec::Gzip];

/// The fixed master key of the sealed goldens (test data only, never a real key).
pub(crate) fn golden_key() -> MasterKey {
    MasterKey::from_bytes(*b"backupd sealed golden master key")
}

pub(crate) fn golden_seal() -> Seal {
    Seal::fixed_for_fixtures(golden_key(), [0x5a; 32], [0xa5; 15])
}

pub(crate) fn sealed_golden_name(codec: Codec) -> String {
    format!("golden-sealed-{codec}.bka")
}

fn sealed_golden(codec: Codec) -> Vec<u8> {
    golden_archive_with(codec, Some(&golden_seal()))
}

fn verify(a: &[u8], key: Option<&MasterKey>) -> Result<u64, ArchiveError> {
    let mut r = ArchiveReader::open_with(Cursor::new(a), key)?;
    r.set_threads(1);
    Ok(r.verify()?.entries)
}

#[test]
fn sealed_goldens_are_reproducible_and_read_like_the_plain_ones() {
    for codec in SEALED_GOLDEN_CODECS {
        let path = fixtures().join(sealed_golden_name(codec));
        let committed = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            committed == sealed_golden(codec),
            "{codec}: the sealed golden changed; regenerate with \
             `cargo test --test it archive::regenerate_golden_archives -- --ignored`"
        );
        // Header flag SEALED, the seal block after it, frame 0 at 88.
        assert_eq!(u32::from_le_bytes(committed[12..16].try_into().unwrap()), 1);
        let key = golden_key();
        let r = ArchiveReader::open_with(Cursor::new(&committed), Some(&key)).unwrap();
        assert_eq!(r.index().frames[0].offset, 88);
        let s = backupd::archive::verify_file_with(&path, Some(&key)).unwrap();
        assert_eq!((s.entries, s.files, s.frames), (10, 6, 3));
        // The same content as the unsealed golden, entry by entry.
        let plain = golden_archive_with(codec, None);
        assert_eq!(
            expected_content_with(&committed, Some(&key)),
            expected_content_with(&plain, None)
        );
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(
            extract_tree_with(&committed, &tmp.path().join("s"), Some(&key)).unwrap(),
            extract_tree_with(&plain, &tmp.path().join("p"), None).unwrap()
        );
    }
}

#[test]
fn a_sealed_archive_holds_no_plaintext_and_needs_the_right_key() {
    for codec in SEALED_GOLDEN_CODECS {
        let g = sealed_golden(codec);
        for marker in [
            &b"hello, world"[..],
            "Grüße".as_bytes(),
            b"INSERT INTO",
            b"line 00007",
            b"dir/big.txt",
            b"random.bin",
            &noise(300, 7)[..32],
        ] {
            assert!(
                !g.windows(marker.len()).any(|w| w == marker),
                "{codec}: {:?} is in the sealed file",
                String::from_utf8_lossy(marker)
            );
        }
        let e = verify(&g, None).unwrap_err();
        assert!(matches!(e, ArchiveError::KeyRequired), "{codec}: {e}");
        let e = verify(&g, Some(&MasterKey::from_bytes([9; 32]))).unwrap_err();
        assert!(matches!(e, ArchiveError::WrongKey), "{codec}: {e}");
        assert!(e.to_string().contains("key"), "{e}");
        // An unsealed archive opens whatever key is configured (old data stays readable).
        let plain = golden_archive_with(codec, None);
        assert_eq!(verify(&plain, Some(&golden_key())).unwrap(), 10);
    }
}

/// The every-bit-flip test over the sealed goldens: nothing passes verify, and no read ever
/// hands out bytes that differ from the original.
#[test]
fn every_single_bit_flip_of_a_sealed_golden_fails_verify() {
    let handles: Vec<_> = SEALED_GOLDEN_CODECS
        .into_iter()
        .map(|codec| std::thread::spawn(move || flip_every_bit(codec)))
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

fn flip_every_bit(codec: Codec) {
    let key = golden_key();
    let g = sealed_golden(codec);
    let want = expected_content_with(&g, Some(&key));
    let mut kinds = std::collections::BTreeSet::new();
    for bit in 0..g.len() * 8 {
        let mut a = g.clone();
        a[bit / 8] ^= 1 << (bit % 8);
        let mut r = match ArchiveReader::open_with(Cursor::new(&a), Some(&key)) {
            Ok(r) => r,
            Err(e) => {
                kinds.insert(variant(&e));
                continue;
            }
        };
        r.set_threads(1);
        match r.verify() {
            Ok(_) => panic!("{codec}: flipping bit {bit} passed verify"),
            Err(e) => kinds.insert(variant(&e)),
        };
        // Reads on the same reader: each fails or delivers the original bytes.
        for (path, content) in &want {
            let Some(content) = content else { continue };
            let mut out = Vec::new();
            if r.read_entry(path, &mut out).is_ok() {
                assert_eq!(&out, content, "{codec}: bit {bit}: {path} differs");
            }
        }
    }
    // The seal block is covered by the key check, frames by CRC then tag, and so on.
    for k in [
        "WrongKey",
        "FrameChecksum",
        "IndexChecksum",
        "BadTrailer",
        "BadMagic",
    ] {
        assert!(kinds.contains(k), "{codec}: no flip gave {k}: {kinds:?}");
    }
}

fn variant(e: &ArchiveError) -> String {
    format!("{e:?}")
        .split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn truncating_a_sealed_golden_at_every_length_is_a_typed_error() {
    let key = golden_key();
    for codec in SEALED_GOLDEN_CODECS {
        let g = sealed_golden(codec);
        for len in 0..g.len() {
            match verify(&g[..len], Some(&key)) {
                Ok(_) => panic!("{codec}: truncated to {len} verified"),
                Err(ArchiveError::Io { .. }) => panic!("{codec}: truncated to {len}: I/O error"),
                Err(_) => {}
            }
        }
    }
}

/// Three frames of 4096 incompressible bytes each, stored raw (codec none): every frame has
/// the same stored length, so frames can be moved between positions and archives.
fn three_frames(seal: &Seal, frames: usize) -> Vec<u8> {
    let o = WriterOptions {
        codec: Codec::None,
        level: 0,
        frame_size: 4096,
        threads: 1,
    };
    let mut w = ArchiveWriter::new_sealed(Vec::new(), o, seal).unwrap();
    for i in 0..frames {
        w.add_file(
            &format!("f{i}"),
            &EntryMeta::default(),
            &noise(4096, i as u64 + 1)[..],
        )
        .unwrap();
    }
    w.finish().unwrap().0
}

/// Offset of frame `i` (all frames 16 + 4096 + 16 bytes, after header and seal block).
fn frame_at(i: usize) -> std::ops::Range<usize> {
    let len = 16 + 4096 + 16;
    88 + i * len..88 + (i + 1) * len
}

#[test]
fn reordered_frames_are_refused() {
    let key = MasterKey::generate().unwrap();
    let a = three_frames(&Seal::new(key.clone()), 3);
    assert_eq!(verify(&a, Some(&key)).unwrap(), 3);
    let mut swapped = a.clone();
    let (f0, f1) = (a[frame_at(0)].to_vec(), a[frame_at(1)].to_vec());
    swapped[frame_at(0)].copy_from_slice(&f1);
    swapped[frame_at(1)].copy_from_slice(&f0);
    // Each frame's CRC still matches (it covers only the frame), so the tag is what refuses.
    let e = verify(&swapped, Some(&key)).unwrap_err();
    assert!(
        matches!(
            e,
            ArchiveError::Unseal {
                frame: 0,
                offset: 88
            }
        ),
        "{e}"
    );
}

#[test]
fn a_frame_spliced_from_another_archive_is_refused() {
    let key = MasterKey::generate().unwrap();
    let a = three_frames(&Seal::new(key.clone()), 3);
    let b = three_frames(&Seal::new(key.clone()), 3);
    let mut spliced = a.clone();
    spliced[frame_at(1)].copy_from_slice(&b[frame_at(1)]);
    let e = verify(&spliced, Some(&key)).unwrap_err();
    assert!(matches!(e, ArchiveError::Unseal { frame: 1, .. }), "{e}");
    // The whole index of another archive: its own salt, so its own key.
    let mut index_swapped = a.clone();
    let tail = 40 + (a.len() - 40 - frame_at(2).end);
    index_swapped[a.len() - tail..].copy_from_slice(&b[b.len() - tail..]);
    let e = verify(&index_swapped, Some(&key)).unwrap_err();
    assert!(matches!(e, ArchiveError::UnsealIndex { .. }), "{e}");
}

/// Truncation even with a valid index for the shorter archive (same key, salt and nonce prefix,
/// which only the fixture constructor allows): the frame that became the last one was not
/// sealed as the last, so its tag fails.
#[test]
fn frames_cut_off_the_end_are_refused_even_under_a_matching_index() {
    let seal = Seal::fixed_for_fixtures(MasterKey::from_bytes([3; 32]), [1; 32], [2; 15]);
    let key = MasterKey::from_bytes([3; 32]);
    let three = three_frames(&seal, 3);
    let two = three_frames(&seal, 2);
    assert_eq!(verify(&two, Some(&key)).unwrap(), 2);
    // The first two frames of the 3-frame archive, then the 2-frame archive's index and trailer.
    let mut cut = three[..frame_at(1).end].to_vec();
    cut.extend_from_slice(&two[frame_at(1).end..]);
    assert_eq!(cut.len(), two.len());
    assert_eq!(
        cut[frame_at(0)],
        two[frame_at(0)],
        "frame 0 is the same unit in both"
    );
    let e = verify(&cut, Some(&key)).unwrap_err();
    assert!(matches!(e, ArchiveError::Unseal { frame: 1, .. }), "{e}");
}

#[test]
fn sealed_output_is_the_same_on_one_thread_and_many_and_round_trips() {
    let seal = golden_seal();
    let key = golden_key();
    let mut data: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("{i} ").into_bytes())
        .collect();
    data.extend(noise(50_000, 11));
    let write = |threads| {
        let mut w =
            ArchiveWriter::new_sealed(Vec::new(), opts(Codec::Zstd, 16 << 10, threads), &seal)
                .unwrap();
        w.add_file("a", &EntryMeta::default(), &data[..]).unwrap();
        // Exactly a frame boundary, then an empty file: the last frame is still the last one cut.
        w.add_file("b", &EntryMeta::default(), &noise(16 << 10, 3)[..])
            .unwrap();
        w.add_file("empty", &EntryMeta::default(), &b""[..])
            .unwrap();
        w.finish().unwrap().0
    };
    let one = write(1);
    assert_eq!(one, write(4));
    let mut r = ArchiveReader::open_with(Cursor::new(&one), Some(&key)).unwrap();
    r.set_threads(3);
    assert_eq!(r.verify().unwrap().entries, 3);
    let mut out = Vec::new();
    r.read_entry("a", &mut out).unwrap();
    assert_eq!(out, data);
    // An archive with no content at all: zero frames, a sealed index.
    let w = ArchiveWriter::new_sealed(Vec::new(), opts(Codec::Xz, 4096, 2), &seal).unwrap();
    let empty = w.finish().unwrap().0;
    assert_eq!(verify(&empty, Some(&key)).unwrap(), 0);
}
