//! The archive, event and trigger modules of backupd, compiled on their own for fuzzing, plus
//! helpers the targets share.

#[path = "../../src/archive/mod.rs"]
pub mod archive;
// Sealed archives: the master key and the per-archive AEAD the archive module seals with.
#[path = "../../src/keys/mod.rs"]
pub mod keys;

// The event codec, the projections and the trigger rules, compiled the same way for `event_decode` and
// `trigger_parse` (their `crate::events` / `crate::domain` paths resolve to these).
#[path = "../../src/domain/mod.rs"]
pub mod domain;
// `ErrorKind`, which the archive, event and projection modules name.
#[path = "../../src/error.rs"]
pub mod error;
#[path = "../../src/events/mod.rs"]
pub mod events;
// The seed's JSON lives on the API side: only those files of it (`api/jobs/seed.rs` and the
// `backup_config.rs` it re-exports).
#[path = "../../src/api"]
pub mod api {
    pub mod jobs {
        pub mod backup_config;
        pub mod seed;
    }
}
// The repository: its snapshot decoder (`snapshot_decode`).
#[path = "../../src/repository/mod.rs"]
pub mod repository;
// The repository's crash points (inert unless a test arms them).
#[path = "../../src/failpoint.rs"]
pub mod failpoint;
// The pure retention and health rules in `domain` read the projections.
#[path = "../../src/projections/mod.rs"]
pub mod projections;

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use archive::{ArchiveReader, ExtractOptions};

/// Runs everything a reader offers over `data`: open, index, verify, read each entry,
/// extract into a fresh temporary directory. Errors are fine; panics, hangs and OOMs are not.
pub fn exercise(data: &[u8]) {
    exercise_with(data, None);
}

/// `exercise` with a master key, so sealed archives get past the key check.
pub fn exercise_with(data: &[u8], key: Option<&keys::MasterKey>) {
    let Ok(mut r) = ArchiveReader::open_with(Cursor::new(data), key) else {
        return;
    };
    // One thread: no per-execution thread start-up, and deterministic coverage.
    r.set_threads(1);
    let paths: Vec<String> = r
        .index()
        .entries
        .iter()
        .take(16)
        .map(|e| e.path.clone())
        .collect();
    let _ = r.verify();
    for p in &paths {
        let _ = r.read_entry(p, &mut std::io::sink());
    }
    let dir = scratch_dir();
    let _ = r.extract_with(
        &dir,
        &[],
        // Skipping damage is its own path through the frames: it must not panic or hang either.
        &ExtractOptions {
            skip_parent_refs: true,
            skip_damaged: true,
            ..ExtractOptions::default()
        },
    );
    if let Some(p) = paths.first() {
        let _ = r.extract_with(
            &dir.join("sel"),
            std::slice::from_ref(p),
            &ExtractOptions::default(),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory under the system temp dir, unique per execution.
fn scratch_dir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir()
        .join(format!("backupd-fuzz-{}", std::process::id()))
        .join(n.to_string())
}

/// The committed sealed goldens and their fixed test key (tests/it/archive_sealed.rs).
pub const SEALED_GOLDENS: [&[u8]; 2] = [
    include_bytes!("../../fixtures/archives/golden-sealed-zstd.bka"),
    include_bytes!("../../fixtures/archives/golden-sealed-gzip.bka"),
];

pub fn sealed_golden_key() -> keys::MasterKey {
    keys::MasterKey::from_bytes(*b"backupd sealed golden master key")
}

/// `archive_sealed`: byte 0 picks a sealed golden (bit 0) or, with bit 1, takes the rest of the
/// input as the whole archive; otherwise the rest is 3-byte mutations (u16 offset, xor mask; an
/// offset past the end truncates). Everything is read with the golden's key, so the mutations
/// reach the key check, the tags of frames and index, and what lies behind them.
pub fn exercise_sealed(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let a = if sel & 2 != 0 {
        rest.to_vec()
    } else {
        let mut a = SEALED_GOLDENS[usize::from(sel & 1)].to_vec();
        for m in rest.chunks_exact(3) {
            let off = usize::from(u16::from_le_bytes([m[0], m[1]]));
            if off < a.len() {
                a[off] ^= m[2];
            } else {
                let cut = off % (a.len() + 1);
                a.truncate(cut);
            }
        }
        a
    };
    exercise_with(&a, Some(&sealed_golden_key()));
}
