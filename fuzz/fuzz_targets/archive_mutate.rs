//! Structure-aware: starts from a valid archive (a committed golden, or one built from the
//! input) and applies mutations the input describes — bit flips, byte writes, overwritten
//! length and offset fields, truncation, insertion — optionally re-sealing every checksum so
//! the damage reaches the index decoder and the decompressors instead of stopping at a CRC.
#![no_main]

use std::io::Cursor;

use backupd_fuzz::archive::{ArchiveReader, ArchiveWriter, Codec, EntryMeta, Mtime, WriterOptions};
use libfuzzer_sys::fuzz_target;

const GOLDENS: [&[u8]; 4] = [
    include_bytes!("../../fixtures/archives/golden-none.bka"),
    include_bytes!("../../fixtures/archives/golden-zstd.bka"),
    include_bytes!("../../fixtures/archives/golden-xz.bka"),
    include_bytes!("../../fixtures/archives/golden-gzip.bka"),
];

/// A small archive whose entries come from the input, so the writer is exercised too.
fn built(codec: Codec, seed: &[u8]) -> Vec<u8> {
    let opts = WriterOptions {
        codec,
        level: codec.default_level().min(3),
        frame_size: 4096,
        threads: 1,
    };
    let Ok(mut w) = ArchiveWriter::new(Vec::new(), opts) else {
        return Vec::new();
    };
    let _ = w.add_dir("d", &EntryMeta::new(0o755, Mtime::new(1, 2)));
    for (i, chunk) in seed.chunks(700).take(8).enumerate() {
        let _ = w.add_file(
            &format!("d/f{i}"),
            &EntryMeta::new(0o644, Mtime::new(i as i64, 0)),
            chunk,
        );
    }
    let _ = w.add_symlink("l", &EntryMeta::new(0o777, Mtime::default()), "d/f0");
    let _ = w.add_deletion("gone");
    let archive = match w.finish() {
        Ok((a, _)) => a,
        Err(_) => return Vec::new(),
    };
    // What the writer wrote must read back and verify: a writer/reader disagreement is a bug.
    let mut r = ArchiveReader::open(Cursor::new(&archive)).expect("fresh archive opens");
    r.set_threads(1);
    r.verify().expect("fresh archive verifies");
    archive
}

fn le_u64(a: &[u8], at: usize) -> Option<u64> {
    a.get(at..at + 8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
}

/// Recomputes header, frame, index and trailer checksums where the structure still allows.
fn reseal(a: &mut [u8]) {
    let n = a.len();
    if n >= 24 {
        let c = crc32fast::hash(&a[0..20]);
        a[20..24].copy_from_slice(&c.to_le_bytes());
    }
    if n < 24 + 40 {
        return;
    }
    let index_at = le_u64(a, n - 40).unwrap_or(0) as usize;
    let mut pos = 24usize;
    while pos + 16 <= index_at.min(n - 40) {
        let stored = u32::from_le_bytes(a[pos..pos + 4].try_into().unwrap_or([0; 4])) as usize;
        let end = pos + 16 + stored;
        if end > n - 40 {
            break;
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&a[pos..pos + 12]);
        h.update(&a[pos + 16..end]);
        let c = h.finalize();
        a[pos + 12..pos + 16].copy_from_slice(&c.to_le_bytes());
        pos = end;
    }
    if index_at <= n - 40 {
        let c = crc32fast::hash(&a[index_at..n - 40]);
        a[n - 16..n - 12].copy_from_slice(&c.to_le_bytes());
    }
    let c = crc32fast::hash(&a[n - 40..n - 12]);
    a[n - 12..n - 8].copy_from_slice(&c.to_le_bytes());
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut a = match sel % 8 {
        0..=3 => GOLDENS[(sel % 4) as usize].to_vec(),
        s => built(Codec::ALL[(s - 4) as usize], rest),
    };
    if a.is_empty() {
        return;
    }
    let resealing = sel & 0x80 != 0;
    // Each op: kind, 16-bit position (scaled to the archive), 8 bytes of value.
    for op in rest.chunks_exact(11).take(16) {
        let len = a.len().max(1);
        let pos = usize::from(u16::from_le_bytes([op[1], op[2]])) * len / 65536;
        let val = u64::from_le_bytes(op[3..11].try_into().unwrap_or([0; 8]));
        match op[0] % 8 {
            0 => a[pos] ^= 1 << (val % 8),
            1 => a[pos] = val as u8,
            2 => a.truncate(pos),
            3 if pos + 4 <= a.len() => a[pos..pos + 4].copy_from_slice(&(val as u32).to_le_bytes()),
            4 if pos + 8 <= a.len() => a[pos..pos + 8].copy_from_slice(&val.to_le_bytes()),
            5 => a
                .splice(pos..pos, op[3..3 + (val as usize % 8)].iter().copied())
                .for_each(drop),
            6 => {
                let end = (pos + (val as usize % 64)).min(a.len());
                a.drain(pos..end);
            }
            // Lengths near the edges: the trailer's index fields and the first frame header.
            _ => {
                let n = a.len();
                let at = [
                    n.wrapping_sub(40),
                    n.wrapping_sub(32),
                    n.wrapping_sub(24),
                    24,
                    28,
                ][val as usize % 5];
                if at.checked_add(8).is_some_and(|e| e <= n) {
                    a[at..at + 8].copy_from_slice(&(val >> 3).to_le_bytes());
                }
            }
        }
        if a.is_empty() {
            break;
        }
    }
    if resealing {
        reseal(&mut a);
    }
    backupd_fuzz::exercise(&a);
});
