//! A sealed repository: packs and snapshots encrypted, chunk ids keyed from the master key.

use std::fs;

use super::*;
use crate::support::{Rng, Served};

#[test]
fn sealed_packs_hold_no_plaintext_and_restore_identical() {
    let scratch = tempfile::tempdir().unwrap();
    let s = scratch.path();
    let src = s.join("src");
    fs::create_dir_all(&src).unwrap();
    let planted = "PLANTED-PLAINTEXT-7f3a9c ".repeat(40_000);
    fs::write(src.join("secret.txt"), &planted).unwrap();
    fs::write(src.join("random"), noise(&mut Rng(3), 2 << 20)).unwrap();
    let key = s.join("master.key");
    fs::write(&key, "ab".repeat(32)).unwrap();
    let server = Served::with_config(&format!(
        "[repository]\nenabled = true\n[encryption]\nkey_file = {key:?}\n\
         [[sources.files]]\npath = {src:?}\n"
    ));
    let id = backup(&server, "daily_full_backup");
    verify(&server, &id);
    let packs = packs(&server.data_dir().join("repository/packs"));
    assert!(!packs.is_empty());
    let config = fs::read_to_string(server.data_dir().join("repository/config")).unwrap();
    assert!(config.contains("\"master\""), "{config}");
    for p in packs.iter().chain([&server
        .data_dir()
        .join(format!("repository/snapshots/{id}.snap"))])
    {
        let bytes = fs::read(p).unwrap();
        for needle in [&b"PLANTED-PLAINTEXT"[..], b"secret.txt"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds {:?} in the clear",
                p.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }
    let t = restore(&server, &id, s);
    identical(&src, &landed(&t, "files", &src));

    // The log: each pack before the snapshot that uses it, the run's success after both, the
    // backup recorded once.
    let page = server.get("/events?limit=1000");
    let kinds: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .filter(|t| {
            [
                "pack_written",
                "snapshot_recorded",
                "backup_recorded",
                "run_succeeded_v3",
            ]
            .contains(t)
        })
        .collect();
    let packs_written = kinds.iter().filter(|k| **k == "pack_written").count();
    assert!(packs_written >= 1);
    let mut expected = vec!["pack_written"; packs_written];
    expected.extend(["snapshot_recorded", "run_succeeded_v3"]);
    assert_eq!(kinds, expected);
}
