//! Archive container tests: round trips, golden fixtures, corruption, truncation, extraction safety.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Cursor, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use backupd::archive::{
    ArchiveError, ArchiveReader, ArchiveWriter, Codec, EntryKind, EntryMeta, ExtractOptions,
    IndexEntry, Location, Mtime, Seal, WriterOptions,
};
use proptest::prelude::*;

pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/archives")
}

pub(crate) fn opts(codec: Codec, frame_size: usize, threads: usize) -> WriterOptions {
    WriterOptions {
        codec,
        level: if codec == Codec::Zstd {
            3
        } else {
            codec.default_level().min(6)
        },
        frame_size,
        threads,
    }
}

fn meta(mode: u32, secs: i64, nanos: u32) -> EntryMeta {
    EntryMeta::new(mode, Mtime::new(secs, nanos))
}

/// Deterministic pseudo-random bytes (xorshift), for incompressible content.
pub(crate) fn noise(n: usize, mut x: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

const GOLDEN_FRAME: usize = 4096;

/// The tiny deterministic tree behind the golden archives: files (one empty, one with a
/// unicode name with spaces, one spanning two frames), a directory, a symlink, a stream, an
/// incompressible file alone in the last frame, a deletion and a parent reference.
fn golden_archive(codec: Codec) -> Vec<u8> {
    golden_archive_with(codec, None)
}

/// The golden tree, sealed when `seal` is given (the sealed goldens use a fixed key and salt).
pub(crate) fn golden_archive_with(codec: Codec, seal: Option<&Seal>) -> Vec<u8> {
    let mut w = ArchiveWriter::with_seal(Vec::new(), opts(codec, GOLDEN_FRAME, 1), seal).unwrap();
    let hello = b"hello, world\n".to_vec();
    let unicode = "Grüße, 世界 — backupd\n".repeat(3).into_bytes();
    let dump = "INSERT INTO t VALUES (1, 'a');\n".repeat(5).into_bytes();
    let used = hello.len() + unicode.len() + dump.len();
    let big: Vec<u8> = (0..)
        .flat_map(|i: u32| format!("line {i:05} of the big file\n").into_bytes())
        .take(2 * GOLDEN_FRAME - used)
        .collect();
    w.add_dir("dir", &meta(0o755, 1_700_000_000, 5)).unwrap();
    w.add_file(
        "hello.txt",
        &meta(0o644, 1_700_000_001, 123_456_789),
        &hello[..],
    )
    .unwrap();
    w.add_file(
        "dir/ünï côdé.txt",
        &meta(0o600, 1_600_000_000, 0),
        &unicode[..],
    )
    .unwrap();
    w.add_stream_with("db/app.sql", &meta(0o600, 1_700_000_002, 0), &dump[..])
        .unwrap();
    w.add_file(
        "dir/big.txt",
        &meta(0o640, 1_700_000_003, 999_999_999),
        &big[..],
    )
    .unwrap();
    w.add_file(
        "random.bin",
        &meta(0o644, 1_700_000_004, 0),
        &noise(300, 7)[..],
    )
    .unwrap();
    w.add_file("empty", &meta(0o444, 1_700_000_005, 0), &b""[..])
        .unwrap();
    w.add_symlink("link", &meta(0o777, 1_700_000_006, 0), "dir/big.txt")
        .unwrap();
    w.add_deletion("old.txt").unwrap();
    w.add_parent_ref(IndexEntry {
        path: "unchanged.txt".into(),
        kind: EntryKind::File,
        mode: 0o644,
        mtime: Mtime::new(1_600_000_000, 0),
        size: 42,
        crc32: 0xdead_beef,
        location: Location::Parent {
            backup: "full-20260101T020000Z".into(),
        },
    })
    .unwrap();
    w.finish().unwrap().0
}

fn golden_name(codec: Codec) -> String {
    format!("golden-{codec}.bka")
}

/// Regenerates `fixtures/archives/` (goldens and their corrupt variants). Run with
/// `cargo test --test it archive::regenerate_golden_archives -- --ignored`.
#[test]
#[ignore = "writes fixtures/archives; run by hand when the format changes"]
fn regenerate_golden_archives() {
    let dir = fixtures();
    fs::create_dir_all(&dir).unwrap();
    for codec in Codec::ALL {
        let g = golden_archive(codec);
        fs::write(dir.join(golden_name(codec)), &g).unwrap();
        for (name, bytes) in corrupt_variants(&g) {
            fs::write(dir.join(format!("corrupt-{codec}-{name}.bka")), bytes).unwrap();
        }
    }
    for codec in super::archive_sealed::SEALED_GOLDEN_CODECS {
        let g = golden_archive_with(codec, Some(&super::archive_sealed::golden_seal()));
        fs::write(
            dir.join(super::archive_sealed::sealed_golden_name(codec)),
            &g,
        )
        .unwrap();
    }
}

/// Deliberately damaged copies of a golden archive, named for the damage.
fn corrupt_variants(g: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let index_offset =
        u64::from_le_bytes(g[g.len() - 40..g.len() - 32].try_into().unwrap()) as usize;
    let mut v = Vec::new();
    v.push(("truncated-half", g[..g.len() / 2].to_vec()));
    v.push(("truncated-trailer", g[..g.len() - 1].to_vec()));
    let mut f = g.to_vec();
    f[24 + 16 + 3] ^= 0x04; // a stored byte of frame 0
    v.push(("bitflip-frame0", f));
    let mut f = g.to_vec();
    f[index_offset + 2] ^= 0x80;
    v.push(("bitflip-index", f));
    let mut f = g.to_vec();
    f[3] ^= 0x01;
    v.push(("bitflip-magic", f));
    // The AEAD flag set with a correct header checksum: a future archive this build cannot read.
    let mut f = g.to_vec();
    f[12] |= 1;
    let crc = crc32fast::hash(&f[0..20]);
    f[20..24].copy_from_slice(&crc.to_le_bytes());
    v.push(("sealed-flag", f));
    v
}

/// What a correct reading of a golden archive must produce: path → content (None = no content).
fn expected_content(a: &[u8]) -> BTreeMap<String, Option<Vec<u8>>> {
    expected_content_with(a, None)
}

pub(crate) fn expected_content_with(
    a: &[u8],
    key: Option<&backupd::keys::MasterKey>,
) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut r = ArchiveReader::open_with(Cursor::new(a), key).unwrap();
    r.set_threads(1);
    let entries = r.index().entries.clone();
    entries
        .iter()
        .map(|e| {
            let content = matches!(e.location, Location::Here { .. }).then(|| {
                let mut out = Vec::new();
                r.read_entry(&e.path, &mut out).unwrap();
                out
            });
            (e.path.clone(), content)
        })
        .collect()
}

#[test]
fn golden_archives_are_reproducible_and_verify() {
    for codec in Codec::ALL {
        let path = fixtures().join(golden_name(codec));
        let committed = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let fresh = golden_archive(codec);
        assert!(
            committed == fresh,
            "{codec}: the writer no longer produces the committed golden archive byte for byte \
             (a format change, or a codec library that compresses differently): \
             regenerate with `cargo test --test it archive::regenerate_golden_archives -- --ignored`"
        );
        let s = backupd::archive::verify_file(&path).unwrap();
        assert_eq!(
            (s.entries, s.files, s.dirs, s.symlinks, s.streams),
            (10, 6, 1, 1, 1)
        );
        assert_eq!(
            (s.deletions, s.parent_refs, s.frames, s.codec),
            (1, 1, 3, codec)
        );
        let line = s.to_string();
        assert!(
            line.contains("10 entries") && line.contains(codec.name()),
            "{line}"
        );
        let c = expected_content(&committed);
        assert_eq!(c["hello.txt"].as_deref(), Some(&b"hello, world\n"[..]));
        assert_eq!(c["empty"].as_deref(), Some(&b""[..]));
        assert_eq!(c["random.bin"].as_deref(), Some(&noise(300, 7)[..]));
        assert_eq!(
            c["dir/big.txt"].as_ref().map(|b| b.len()),
            Some(2 * GOLDEN_FRAME - 13 - 84 - 155)
        );
    }
}

#[test]
fn golden_random_frame_is_stored_raw_and_text_frames_compressed() {
    for codec in [Codec::Zstd, Codec::Xz, Codec::Gzip] {
        let g = golden_archive(codec);
        let r = ArchiveReader::open(Cursor::new(&g)).unwrap();
        let f = &r.index().frames;
        assert!(
            f[0].stored_len < f[0].raw_len / 2,
            "{codec}: text frame compressed"
        );
        assert_eq!(
            f[2].stored_len, f[2].raw_len,
            "{codec}: random frame stored raw"
        );
        assert_eq!(f[2].raw_len, 300);
    }
}

#[test]
fn committed_corrupt_archives_give_the_expected_typed_errors() {
    for codec in Codec::ALL {
        let read = |name: &str| {
            let p = fixtures().join(format!("corrupt-{codec}-{name}.bka"));
            backupd::archive::verify_file(&p)
                .expect_err(&format!("{} must not verify", p.display()))
        };
        let e = read("truncated-half");
        assert!(matches!(e, ArchiveError::BadTrailer { .. }), "{codec}: {e}");
        let e = read("truncated-trailer");
        assert!(matches!(e, ArchiveError::BadTrailer { .. }), "{codec}: {e}");
        let e = read("bitflip-frame0");
        assert!(
            matches!(
                e,
                ArchiveError::FrameChecksum {
                    frame: 0,
                    offset: 24
                }
            ),
            "{codec}: {e}"
        );
        let e = read("bitflip-index");
        assert!(
            matches!(e, ArchiveError::IndexChecksum { .. }),
            "{codec}: {e}"
        );
        let e = read("bitflip-magic");
        assert!(matches!(e, ArchiveError::BadMagic), "{codec}: {e}");
        let e = read("sealed-flag");
        assert!(matches!(e, ArchiveError::KeyRequired), "{codec}: {e}");
    }
}

/// Extracts (skipping parent references) and returns the tree as path → (kind, mode, mtime, content).
fn extract_tree(a: &[u8], dir: &Path) -> Result<BTreeMap<String, String>, ArchiveError> {
    extract_tree_with(a, dir, None)
}

pub(crate) fn extract_tree_with(
    a: &[u8],
    dir: &Path,
    key: Option<&backupd::keys::MasterKey>,
) -> Result<BTreeMap<String, String>, ArchiveError> {
    let mut r = ArchiveReader::open_with(Cursor::new(a), key)?;
    r.set_threads(1);
    r.extract_with(
        dir,
        &[],
        &ExtractOptions {
            skip_parent_refs: true,
            ..ExtractOptions::default()
        },
    )?;
    let dirs = r
        .index()
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Dir)
        .map(|e| e.path.clone())
        .collect();
    Ok(snapshot(dir, &dirs))
}

/// A comparable description of a directory tree (mode, mtime and content or link target).
/// Directories not in `archived_dirs` were created as parents on the fly: their mtime is the
/// extraction time, so it is left out.
fn snapshot(
    root: &Path,
    archived_dirs: &std::collections::HashSet<String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let m = fs::symlink_metadata(&p).unwrap();
            let desc = if m.file_type().is_symlink() {
                format!("link -> {}", fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                if archived_dirs.contains(&rel) {
                    format!(
                        "dir {:o} {}.{}",
                        m.mode() & 0o7777,
                        m.mtime(),
                        m.mtime_nsec()
                    )
                } else {
                    format!("implicit dir {:o}", m.mode() & 0o7777)
                }
            } else {
                let c = fs::read(&p).unwrap();
                format!(
                    "file {:o} {}.{} crc {:08x} len {}",
                    m.mode() & 0o7777,
                    m.mtime(),
                    m.mtime_nsec(),
                    crc32fast::hash(&c),
                    c.len()
                )
            };
            out.insert(rel, desc);
        }
    }
    out
}

/// Flipping any single bit of a golden archive: open/verify fails with a typed error, or the
/// content a reader delivers is exactly the original. A sample of flips also extracts to disk.
#[test]
fn every_single_bit_flip_is_detected_or_harmless() {
    let handles: Vec<_> = Codec::ALL
        .into_iter()
        .map(|codec| {
            std::thread::spawn(move || {
                let g = golden_archive(codec);
                let want = expected_content(&g);
                let tmp = tempfile::tempdir().unwrap();
                let want_tree = extract_tree(&g, &tmp.path().join("orig")).unwrap();
                let mut undetected = 0usize;
                for bit in 0..g.len() * 8 {
                    let mut a = g.clone();
                    a[bit / 8] ^= 1 << (bit % 8);
                    let verified = ArchiveReader::open(Cursor::new(&a)).and_then(|mut r| {
                        r.set_threads(1);
                        r.verify()
                    });
                    if verified.is_ok() {
                        undetected += 1;
                        let got = extract_tree(&a, &tmp.path().join(format!("ok{bit}"))).unwrap();
                        assert_eq!(
                            got, want_tree,
                            "{codec}: bit {bit} passed verify but changed the extraction"
                        );
                    }
                    // Whatever verify said, entry reads either fail or deliver the original bytes.
                    if let Ok(mut r) = ArchiveReader::open(Cursor::new(&a)) {
                        r.set_threads(1);
                        for (path, content) in &want {
                            let Some(content) = content else { continue };
                            let mut out = Vec::new();
                            if r.read_entry(path, &mut out).is_ok() {
                                assert_eq!(
                                    &out, content,
                                    "{codec}: bit {bit}: {path} read back different bytes"
                                );
                            }
                        }
                    }
                    if bit % 509 == 0 {
                        let d = tmp.path().join(format!("x{bit}"));
                        if let Ok(got) = extract_tree(&a, &d) {
                            assert_eq!(
                                got, want_tree,
                                "{codec}: bit {bit}: extraction succeeded with different output"
                            );
                        }
                    }
                }
                (codec, g.len(), undetected)
            })
        })
        .collect();
    for h in handles {
        let (codec, len, undetected) = h.join().unwrap();
        // Every byte is covered by a checksum, so no flip should pass verify at all.
        assert_eq!(
            undetected,
            0,
            "{codec}: {undetected} of {} flips passed verify",
            len * 8
        );
    }
}

#[test]
fn truncation_at_every_length_is_a_typed_error() {
    for codec in Codec::ALL {
        let g = golden_archive(codec);
        for len in 0..g.len() {
            let res = ArchiveReader::open(Cursor::new(&g[..len])).and_then(|mut r| {
                r.set_threads(1);
                r.verify()
            });
            match res {
                Ok(_) => panic!("{codec}: truncated to {len} bytes verified"),
                Err(ArchiveError::Io { .. }) => {
                    panic!("{codec}: truncated to {len}: an I/O error, not a typed one")
                }
                Err(_) => {}
            }
        }
    }
}

#[test]
fn parallel_writer_output_equals_single_threaded_output() {
    let data: Vec<u8> = (0..300_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    let mut outs = Vec::new();
    for threads in [1, 2, 4] {
        let mut w = ArchiveWriter::new(Vec::new(), opts(Codec::Zstd, 16 << 10, threads)).unwrap();
        for i in 0..20 {
            let part = &data[i * 50_000..(i + 1) * 50_000];
            w.add_file(&format!("f{i}"), &meta(0o644, i as i64, 0), part)
                .unwrap();
        }
        let (bytes, s) = w.finish().unwrap();
        assert_eq!(s.bytes_written, bytes.len() as u64);
        assert_eq!(s.archive_crc32, crc32fast::hash(&bytes));
        assert_eq!(s.content_bytes, 1_000_000);
        outs.push(bytes);
    }
    assert!(outs[0] == outs[1] && outs[1] == outs[2]);
    let mut r = ArchiveReader::open(Cursor::new(&outs[0])).unwrap();
    r.set_threads(3);
    assert_eq!(r.verify().unwrap().content_bytes, 1_000_000);
    let mut out = Vec::new();
    r.read_entry("f7", &mut out).unwrap();
    assert_eq!(out, &data[350_000..400_000]);
}

#[test]
fn writer_refuses_bad_paths_duplicates_and_options() {
    let mut w = ArchiveWriter::new(Vec::new(), WriterOptions::default()).unwrap();
    for bad in ["", "/abs", "a/../b", "..", "a//b", "a/", "./a"] {
        assert!(
            matches!(
                w.add_dir(bad, &meta(0o755, 0, 0)),
                Err(ArchiveError::InvalidInput { .. })
            ),
            "{bad:?}"
        );
    }
    w.add_file("a", &meta(0o644, 0, 0), &b"x"[..]).unwrap();
    assert!(w.add_file("a", &meta(0o644, 0, 0), &b"y"[..]).is_err());
    assert!(w.add_file("m", &meta(0o10644, 0, 0), &b"y"[..]).is_err());
    let here = IndexEntry {
        path: "p".into(),
        kind: EntryKind::File,
        mode: 0o644,
        mtime: Mtime::default(),
        size: 1,
        crc32: 0,
        location: Location::Here { offset: 0 },
    };
    assert!(w.add_parent_ref(here).is_err());
    let bad_level = WriterOptions {
        level: 30,
        ..WriterOptions::default()
    };
    assert!(ArchiveWriter::new(Vec::new(), bad_level).is_err());
    let bad_frame = WriterOptions {
        frame_size: 100,
        ..WriterOptions::default()
    };
    assert!(ArchiveWriter::new(Vec::new(), bad_frame).is_err());
}

/// An archive with codec none whose raw index is patched (same length) and re-sealed, to get
/// entries the writer would refuse.
fn patch_index(a: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut a = a.to_vec();
    let n = a.len();
    let off = u64::from_le_bytes(a[n - 40..n - 32].try_into().unwrap()) as usize;
    let idx = &mut a[off..n - 40];
    let at = idx
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .expect("pattern in index");
    idx[at..at + to.len()].copy_from_slice(to.as_bytes());
    let crc = crc32fast::hash(idx);
    a[n - 16..n - 12].copy_from_slice(&crc.to_le_bytes());
    let tcrc = crc32fast::hash(&a[n - 40..n - 12]);
    a[n - 12..n - 8].copy_from_slice(&tcrc.to_le_bytes());
    a
}

#[test]
fn extraction_refuses_unsafe_paths_before_writing_anything() {
    let mut w = ArchiveWriter::new(Vec::new(), opts(Codec::None, 4096, 1)).unwrap();
    w.add_file("first.txt", &meta(0o644, 0, 0), &b"first"[..])
        .unwrap();
    w.add_file("zz/evil", &meta(0o644, 0, 0), &b"evil"[..])
        .unwrap();
    let a = w.finish().unwrap().0;
    for (to, why) in [
        ("../evil", "dotdot"),
        ("/z/evil", "absolute"),
        ("zz/../e", "dotdot inside"),
    ] {
        let bad = patch_index(&a, "zz/evil", to);
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("t");
        let mut r = ArchiveReader::open(Cursor::new(&bad)).unwrap();
        let e = r.extract(&target, &[]).unwrap_err();
        assert!(matches!(e, ArchiveError::UnsafePath { .. }), "{why}: {e}");
        assert!(
            !target.join("first.txt").exists(),
            "{why}: nothing is written before the check"
        );
        assert!(!tmp.path().join("evil").exists());
    }
}

/// A symlink is data: whatever it points at (absolute, climbing out, dangling) it is recreated
/// verbatim, and nothing is ever written through one, not even when the archive itself is
/// crafted to put a file below a link.
#[test]
fn symlinks_are_restored_verbatim_and_never_written_through() {
    for (target, why) in [
        ("../../etc", "climbs out"),
        ("/etc/passwd", "absolute"),
        ("a/../../x", "dotdot after a name"),
        ("nowhere/at/all", "dangling"),
    ] {
        let mut w = ArchiveWriter::new(Vec::new(), WriterOptions::default()).unwrap();
        w.add_symlink("d/link", &meta(0o777, 0, 0), target).unwrap();
        w.add_file("d/f", &meta(0o644, 0, 0), &b"f"[..]).unwrap();
        let a = w.finish().unwrap().0;
        let tmp = tempfile::tempdir().unwrap();
        let s = ArchiveReader::open(Cursor::new(&a))
            .unwrap()
            .extract(tmp.path(), &[])
            .unwrap();
        assert_eq!((s.files, s.symlinks), (1, 1), "{why}");
        let link = tmp.path().join("d/link");
        assert_eq!(
            fs::read_link(&link).unwrap(),
            PathBuf::from(target),
            "{why}"
        );
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
    }
    // A crafted archive: a link to a directory outside, then a file "below" the link. The file's
    // parent is created from the archive as a real directory, so the link cannot take its place
    // and nothing lands outside.
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let mut w = ArchiveWriter::new(Vec::new(), WriterOptions::default()).unwrap();
    w.add_symlink("esc", &meta(0o777, 0, 0), outside.to_str().unwrap())
        .unwrap();
    w.add_file("esc/planted", &meta(0o644, 0, 0), &b"x"[..])
        .unwrap();
    let a = w.finish().unwrap().0;
    let target = tmp.path().join("t");
    let r = ArchiveReader::open(Cursor::new(&a))
        .unwrap()
        .extract(&target, &[]);
    assert!(
        r.is_err(),
        "a link and a directory at one path cannot both be restored"
    );
    assert!(!outside.join("planted").exists());
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    assert!(fs::symlink_metadata(target.join("esc")).unwrap().is_dir());
}

/// A file whose content fails its checksum never appears under its real name, and no temporary
/// file is left behind; zero blocks come back as holes.
#[test]
fn damaged_files_never_take_their_name_and_holes_stay_holes() {
    let size = 64 << 20;
    let mut sparse = vec![0u8; size];
    sparse[size / 2] = 1;
    let mut w = ArchiveWriter::new(Vec::new(), opts(Codec::None, 1 << 20, 1)).unwrap();
    w.add_file("sparse", &meta(0o644, 0, 0), &sparse[..])
        .unwrap();
    w.add_file("plain", &meta(0o644, 0, 0), &b"plain content"[..])
        .unwrap();
    let a = w.finish().unwrap().0;
    let tmp = tempfile::tempdir().unwrap();
    ArchiveReader::open(Cursor::new(&a))
        .unwrap()
        .extract(tmp.path(), &[])
        .unwrap();
    let m = fs::metadata(tmp.path().join("sparse")).unwrap();
    assert_eq!(m.len(), size as u64);
    assert!(
        m.blocks() * 512 < 1 << 20,
        "64 MiB with one non-zero byte took {} bytes on disk",
        m.blocks() * 512
    );
    assert_eq!(fs::read(tmp.path().join("sparse")).unwrap(), sparse);

    // "plain" sits in the last frame: damage one of its bytes (the codec is none, so the frame
    // still decodes and only the entry's CRC catches it).
    let mut bad = a.clone();
    let at = bad
        .windows(13)
        .position(|w| w == b"plain content")
        .expect("the content is stored as is");
    bad[at] ^= 0x20;
    let t2 = tmp.path().join("t2");
    let e = ArchiveReader::open(Cursor::new(&bad))
        .unwrap()
        .extract(&t2, &["plain".into()])
        .unwrap_err();
    // A frame's damage is reported with the entry it cut short (issue 12, item 8).
    let frame_damage = |e: &ArchiveError| {
        matches!(e, ArchiveError::EntryDamaged { path, source }
            if path == "plain" && matches!(**source, ArchiveError::FrameChecksum { .. }))
    };
    assert!(
        matches!(e, ArchiveError::EntryChecksum { .. }) || frame_damage(&e),
        "{e}"
    );
    let left: Vec<_> = fs::read_dir(&t2)
        .unwrap()
        .map(|d| d.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    // With skip_damaged the same damage is listed, and everything else is extracted.
    let t3 = tmp.path().join("t3");
    let got = ArchiveReader::open(Cursor::new(&bad))
        .unwrap()
        .extract_with(
            &t3,
            &[],
            &ExtractOptions {
                skip_damaged: true,
                ..ExtractOptions::default()
            },
        )
        .unwrap();
    let damaged: Vec<&str> = got.damaged.iter().map(|d| d.path.as_str()).collect();
    assert_eq!((damaged, got.files), (vec!["plain"], 1), "{got:?}");
    assert!(!t3.join("plain").exists());
    assert_eq!(fs::read(t3.join("sparse")).unwrap(), sparse);
}

#[test]
fn extraction_never_writes_through_a_symlink_already_in_the_target() {
    let mut w = ArchiveWriter::new(Vec::new(), WriterOptions::default()).unwrap();
    w.add_file("sub/f", &meta(0o644, 0, 0), &b"x"[..]).unwrap();
    w.add_file("g", &meta(0o644, 0, 0), &b"new"[..]).unwrap();
    let a = w.finish().unwrap().0;
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("victim"), b"keep").unwrap();
    let target = tmp.path().join("t");
    fs::create_dir(&target).unwrap();
    std::os::unix::fs::symlink(&outside, target.join("sub")).unwrap();
    let e = ArchiveReader::open(Cursor::new(&a))
        .unwrap()
        .extract(&target, &["sub".into()])
        .unwrap_err();
    assert!(matches!(e, ArchiveError::UnsafePath { .. }), "{e}");
    assert!(!outside.join("f").exists());
    // A symlink at a file's own path is replaced, not followed.
    std::os::unix::fs::symlink(outside.join("victim"), target.join("g")).unwrap();
    ArchiveReader::open(Cursor::new(&a))
        .unwrap()
        .extract(&target, &["g".into()])
        .unwrap();
    assert_eq!(fs::read(outside.join("victim")).unwrap(), b"keep");
    assert_eq!(fs::read(target.join("g")).unwrap(), b"new");
}

#[test]
fn selection_parent_refs_and_read_entry() {
    let g = golden_archive(Codec::Zstd);
    let tmp = tempfile::tempdir().unwrap();
    let mut r = ArchiveReader::open(Cursor::new(&g)).unwrap();
    let s = r.extract(tmp.path(), &["dir/".into()]).unwrap();
    assert_eq!((s.files, s.dirs, s.symlinks, s.streams), (2, 1, 0, 0));
    assert!(tmp.path().join("dir/ünï côdé.txt").exists());
    assert!(!tmp.path().join("hello.txt").exists());
    let e = r.extract(tmp.path(), &["nope".into()]).unwrap_err();
    assert!(matches!(e, ArchiveError::NotFound { .. }), "{e}");
    // "di" is a prefix of "dir" but not a directory above it.
    assert!(matches!(
        r.extract(tmp.path(), &["di".into()]),
        Err(ArchiveError::NotFound { .. })
    ));
    let e = r.extract(&tmp.path().join("all"), &[]).unwrap_err();
    assert!(
        matches!(&e, ArchiveError::EntryInParent { path, backup } if path == "unchanged.txt" && backup.starts_with("full-")),
        "{e}"
    );
    let e = r.read_entry("unchanged.txt", &mut Vec::new()).unwrap_err();
    assert!(matches!(e, ArchiveError::EntryInParent { .. }), "{e}");
    assert!(matches!(
        r.read_entry("missing", &mut Vec::new()),
        Err(ArchiveError::NotFound { .. })
    ));
    assert!(matches!(
        r.read_entry("dir", &mut Vec::new()),
        Err(ArchiveError::InvalidInput { .. })
    ));
    let mut dump = Vec::new();
    r.read_entry("db/app.sql", &mut dump).unwrap();
    assert_eq!(
        dump,
        "INSERT INTO t VALUES (1, 'a');\n".repeat(5).into_bytes()
    );
    let s = r
        .extract_with(
            &tmp.path().join("all"),
            &[],
            &ExtractOptions {
                skip_parent_refs: true,
                ..ExtractOptions::default()
            },
        )
        .unwrap();
    assert_eq!(
        (
            s.files,
            s.streams,
            s.skipped_parent_refs,
            s.skipped_deletions
        ),
        (5, 1, 1, 1)
    );
    assert_eq!(
        fs::read_link(tmp.path().join("all/link")).unwrap(),
        Path::new("dir/big.txt")
    );
    let m = fs::metadata(tmp.path().join("all/hello.txt")).unwrap();
    assert_eq!(
        (m.mode() & 0o7777, m.mtime(), m.mtime_nsec()),
        (0o644, 1_700_000_001, 123_456_789)
    );
    let m = fs::metadata(tmp.path().join("all/dir")).unwrap();
    assert_eq!(
        (m.permissions().mode() & 0o7777, m.mtime(), m.mtime_nsec()),
        (0o755, 1_700_000_000, 5)
    );
}

// ---- round trip property test ----

#[derive(Debug, Clone)]
enum Node {
    File { content: Vec<u8>, mode: u32 },
    Stream { content: Vec<u8> },
    Link { to: usize },
}

/// (dir index or None for the root, name, node, mtime)
type Item = (Option<usize>, String, Node, (i64, u32));

#[derive(Debug, Clone)]
struct Tree {
    dirs: Vec<(String, u32, (i64, u32))>,
    items: Vec<Item>,
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 éü世界_.-]{1,10}".prop_filter("not . or ..", |s| s != "." && s != "..")
}

fn mtime() -> impl Strategy<Value = (i64, u32)> {
    (-1_000_000_000i64..4_000_000_000, 0u32..1_000_000_000)
}

fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..64),
        2 => (0usize..20_000, any::<u8>()).prop_map(|(n, b)| (0..n).map(|i| b.wrapping_add((i / 7) as u8)).collect()),
        1 => proptest::collection::vec(any::<u8>(), 0..9000),
        1 => Just(Vec::new()),
    ]
}

fn tree() -> impl Strategy<Value = Tree> {
    let dirs = proptest::collection::vec((name(), 0o700u32..=0o777, mtime()), 0..3);
    let node = prop_oneof![
        4 => (content(), 0u32..=0o777).prop_map(|(content, mode)| Node::File { content, mode }),
        1 => content().prop_map(|content| Node::Stream { content }),
        1 => (0usize..100).prop_map(|to| Node::Link { to }),
    ];
    let items = proptest::collection::vec(
        (proptest::option::of(0usize..3), name(), node, mtime()),
        0..12,
    );
    (dirs, items).prop_map(|(mut dirs, items)| {
        dirs.sort_by(|a, b| a.0.cmp(&b.0));
        dirs.dedup_by(|a, b| a.0 == b.0);
        let n = dirs.len();
        let items = items
            .into_iter()
            .map(|(d, name, node, t)| (d.filter(|_| n > 0).map(|d| d % n), name, node, t))
            .collect();
        Tree { dirs, items }
    })
}

/// Writes the tree, returning the entries the writer recorded (in order), the archive, and
/// the content written per path.
fn write_tree(t: &Tree, codec: Codec) -> (Vec<IndexEntry>, Vec<u8>, BTreeMap<String, Vec<u8>>) {
    let mut contents = BTreeMap::new();
    let mut w = ArchiveWriter::new(Vec::new(), opts(codec, 4096, 2)).unwrap();
    let mut used = std::collections::HashSet::new();
    for (d, mode, (s, ns)) in &t.dirs {
        used.insert(d.clone());
        w.add_dir(d, &meta(*mode, *s, *ns)).unwrap();
    }
    let mut paths = Vec::new();
    for (d, name, node, (s, ns)) in &t.items {
        let path = match d {
            Some(d) => format!("{}/{name}", t.dirs[*d].0),
            None => name.clone(),
        };
        if !used.insert(path.clone()) {
            continue;
        }
        match node {
            Node::File { content, mode } => {
                w.add_file(&path, &meta(*mode, *s, *ns), &content[..])
                    .unwrap();
                contents.insert(path.clone(), content.clone());
            }
            Node::Stream { content } => {
                w.add_stream_with(&path, &meta(0o600, *s, *ns), &content[..])
                    .unwrap();
                contents.insert(path.clone(), content.clone());
            }
            Node::Link { to } => {
                // Point at an earlier item when there is one (relative to the link's directory).
                let target = match paths.get(to % paths.len().max(1)) {
                    Some(p) if d.is_some() => format!("../{p}"),
                    Some(p) => String::clone(p),
                    None => "dangling target".to_string(),
                };
                w.add_symlink(&path, &meta(0o777, *s, *ns), &target)
                    .unwrap()
            }
        }
        paths.push(path);
    }
    let entries = w.entries().to_vec();
    (entries, w.finish().unwrap().0, contents)
}

fn round_trip(t: &Tree, codec: Codec) {
    let (entries, a, contents) = write_tree(t, codec);
    let mut r = ArchiveReader::open(Cursor::new(&a)).unwrap();
    assert_eq!(r.index().entries, entries);
    assert_eq!(r.index().codec, codec);
    let v = r.verify().unwrap();
    assert_eq!(v.entries, entries.len() as u64);
    let tmp = tempfile::tempdir().unwrap();
    r.extract(tmp.path(), &[]).unwrap();
    let mut want = BTreeMap::new();
    for e in &entries {
        let desc = match &e.kind {
            EntryKind::Dir => format!("dir {:o} {}.{}", e.mode, e.mtime.secs, e.mtime.nanos),
            EntryKind::Symlink { target } => format!("link -> {target}"),
            _ => {
                let mut c = Vec::new();
                r.read_entry(&e.path, &mut c).unwrap();
                assert_eq!(c.len() as u64, e.size);
                format!(
                    "file {:o} {}.{} crc {:08x} len {}",
                    e.mode,
                    e.mtime.secs,
                    e.mtime.nanos,
                    crc32fast::hash(&c),
                    c.len()
                )
            }
        };
        want.insert(e.path.clone(), desc);
    }
    let dirs = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Dir)
        .map(|e| e.path.clone())
        .collect();
    assert_eq!(snapshot(tmp.path(), &dirs), want);
    // The content itself, not only its checksum, comes back for every file and stream.
    for (p, content) in &contents {
        assert_eq!(&fs::read(tmp.path().join(p)).unwrap(), content, "{p}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    #[test]
    fn round_trip_zstd(t in tree()) { round_trip(&t, Codec::Zstd) }
    #[test]
    fn round_trip_xz(t in tree()) { round_trip(&t, Codec::Xz) }
    #[test]
    fn round_trip_gzip(t in tree()) { round_trip(&t, Codec::Gzip) }
    #[test]
    fn round_trip_none(t in tree()) { round_trip(&t, Codec::None) }
}

fn vm_kb(field: &str) -> u64 {
    let s = fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Memory does not grow with the archive: 512 MiB streamed through the writer (and back through
/// verify) raise the process's peak RSS by far less than the data size.
#[test]
fn writing_and_verifying_512_mib_stays_in_bounded_memory() {
    const SIZE: u64 = 512 << 20;
    let opts = WriterOptions {
        codec: Codec::Zstd,
        level: 1,
        frame_size: 4 << 20,
        threads: 2,
    };
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("big.bka");
    let before = vm_kb("VmRSS:");
    // Resets the peak (Linux clear_refs "5"), so VmHWM below is this test's peak.
    fs::write("/proc/self/clear_refs", "5").unwrap();
    let f = std::io::BufWriter::new(fs::File::create(&path).unwrap());
    let mut w = ArchiveWriter::new(f, opts).unwrap();
    w.add_file("zeros", &meta(0o644, 0, 0), std::io::repeat(0).take(SIZE))
        .unwrap();
    w.add_stream_with(
        "pattern",
        &meta(0o600, 0, 0),
        std::io::repeat(7).take(SIZE / 4),
    )
    .unwrap();
    let (_, s) = w.finish().unwrap();
    assert_eq!(s.content_bytes, SIZE + SIZE / 4);
    let v = backupd::archive::verify_file(&path).unwrap();
    assert_eq!(v.content_bytes, SIZE + SIZE / 4);
    let grew_mb = vm_kb("VmHWM:").saturating_sub(before) / 1024;
    eprintln!("peak RSS grew by {grew_mb} MiB");
    // In flight: 2 threads x 2 frames x (4 MiB raw + compressed) plus the frame being filled;
    // other tests running in parallel share the process, hence the margin.
    assert!(
        grew_mb < 160,
        "peak RSS grew by {grew_mb} MiB while writing {} MiB",
        (SIZE + SIZE / 4) >> 20
    );
}

/// The incremental pattern: the new archive records unchanged files of the parent by reference,
/// and its index alone says where every path's bytes are.
#[test]
fn an_incremental_index_is_a_complete_manifest() {
    let parent = golden_archive(Codec::Zstd);
    let p = ArchiveReader::open(Cursor::new(&parent)).unwrap();
    let mut w = ArchiveWriter::new(Vec::new(), WriterOptions::default()).unwrap();
    w.add_file(
        "hello.txt",
        &meta(0o644, 1_800_000_000, 0),
        &b"changed\n"[..],
    )
    .unwrap();
    w.add_deletion("random.bin").unwrap();
    for e in &p.index().entries {
        if e.kind.has_content() && !["hello.txt", "random.bin"].contains(&e.path.as_str()) {
            w.add_parent_ref(e.in_parent("full-1")).unwrap();
        }
    }
    let a = w.finish().unwrap().0;
    let mut r = ArchiveReader::open(Cursor::new(&a)).unwrap();
    let idx = r.index().clone();
    assert_eq!(
        idx.get("hello.txt").unwrap().location,
        Location::Here { offset: 0 }
    );
    assert_eq!(idx.get("random.bin").unwrap().kind, EntryKind::Deletion);
    let big = idx.get("dir/big.txt").unwrap();
    assert_eq!(
        big.location,
        Location::Parent {
            backup: "full-1".into()
        }
    );
    assert_eq!((big.size, big.crc32), {
        let orig = p.index().get("dir/big.txt").unwrap();
        (orig.size, orig.crc32)
    });
    // A reference that was already to an older backup keeps naming that backup.
    assert_eq!(
        idx.get("unchanged.txt").unwrap().location,
        Location::Parent {
            backup: "full-20260101T020000Z".into()
        }
    );
    let v = r.verify().unwrap();
    assert_eq!((v.parent_refs, v.deletions, v.content_bytes), (5, 1, 8));
}

#[test]
fn selection_takes_exact_paths_and_whole_directories() {
    use backupd::archive::{select_entries, EntryKind, IndexEntry, Location, Mtime};
    let entry = |path: &str| IndexEntry {
        path: path.into(),
        kind: EntryKind::File,
        mode: 0o644,
        mtime: Mtime::new(0, 0),
        size: 0,
        crc32: 0,
        location: Location::None,
    };
    let entries: Vec<IndexEntry> = ["a/b/c", "a/x", "ab", "a/b"]
        .into_iter()
        .map(entry)
        .collect();
    let sel = |s: &[&str]| {
        select_entries(
            &entries,
            &s.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(sel(&[]).unwrap(), vec![0, 1, 2, 3]);
    assert_eq!(
        sel(&["a"]).unwrap(),
        vec![0, 1, 3],
        "a directory, not a name prefix (ab)"
    );
    assert_eq!(sel(&["a/b/"]).unwrap(), vec![0, 3]);
    // nested selections both count as found, even when one covers the other
    assert_eq!(sel(&["a", "a/b"]).unwrap(), vec![0, 1, 3]);
    assert!(matches!(
        sel(&["a", "zz"]),
        Err(backupd::archive::ArchiveError::NotFound { path }) if path == "zz"
    ));
    // 20,000 entries selected one by one: quadratic would be 4×10⁸ comparisons
    let many: Vec<IndexEntry> = (0..20_000)
        .map(|i| entry(&format!("d{}/f{i}", i % 97)))
        .collect();
    let all: Vec<String> = many.iter().map(|e| e.path.clone()).collect();
    let t = std::time::Instant::now();
    assert_eq!(select_entries(&many, &all).unwrap().len(), 20_000);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        t.elapsed()
    );
}
