//! Verify means restorable, through the real binary: a byte flipped in a frame of a full backup
//! makes the verification of an incremental built on it fail naming the full; the next
//! incremental run takes a full instead and says why; health names the damaged chain.

use std::fs;
use std::path::Path;

use backupd::archive::ArchiveReader;
use serde_json::{json, Value};

use crate::support::Served;

/// Flips one byte in the stored bytes of frame `frame` of the archive at `path` (its frame
/// header is 16 bytes, schema/archive.md), so the frame fails its CRC.
pub fn flip_in_frame(path: &Path, frame: usize) {
    let reader = ArchiveReader::open(fs::File::open(path).unwrap()).unwrap();
    let f = reader.index().frames[frame];
    let at = (f.offset + 16 + u64::from(f.stored_len) / 2) as usize;
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x5a;
    fs::write(path, bytes).unwrap();
}

fn check<'a>(health: &'a Value, name: &str) -> &'a Value {
    health["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks: {health}"))
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {health}"))
}

#[test]
fn a_corrupted_full_fails_its_incrementals_verify_forces_a_full_and_shows_in_health() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    for i in 0..20 {
        fs::write(
            src.join(format!("sub/f{i}")),
            format!("file {i} ").repeat(500),
        )
        .unwrap();
    }
    let server = Served::with_config(&format!("[[sources.files]]\npath = {src:?}\n"));
    let full = server.run("daily_full_backup");
    assert_eq!(full["status"], "succeeded", "{full}");
    let full_id = full["backup_id"].as_str().unwrap().to_string();
    fs::write(src.join("sub/f0"), "changed").unwrap();
    let inc = server.run("incremental_backup");
    assert_eq!(inc["status"], "succeeded", "{inc}");
    let inc_id = inc["backup_id"].as_str().unwrap().to_string();
    let detail = server.get(&format!("/backups/{inc_id}"));
    assert_eq!(detail["kind"], "incremental", "{detail}");
    assert_eq!(detail["chain"], json!([inc_id, full_id]), "{detail}");

    // Intact: the incremental's verification checked the full as well.
    let (code, ok) = server.send("POST", &format!("/backups/{inc_id}/verify"), None);
    assert_eq!((code, &ok["ok"]), (200, &json!(true)), "{ok}");
    assert_eq!(ok["summary"]["bases_checked"], json!([full_id]), "{ok}");

    // The incremental's own archive stays intact; the full's frame 0 is damaged.
    let full_path = server.data_dir().join(full_id_location(&server, &full_id));
    flip_in_frame(&full_path, 0);
    let (code, bad) = server.send("POST", &format!("/backups/{inc_id}/verify"), None);
    assert_eq!((code, &bad["ok"]), (200, &json!(false)), "{bad}");
    let error = bad["error"].as_str().unwrap();
    assert_eq!(
        error,
        format!(
            "backup {inc_id:?} cannot be restored: the backup it builds on, {full_id:?}, is \
             damaged: frame 0 at offset 24: checksum mismatch"
        ),
        "{bad}"
    );
    // The damaged link's own record says so too.
    let f = server.get(&format!("/backups/{full_id}"));
    assert_eq!(f["last_verified"]["ok"], json!(false), "{f}");
    assert!(
        f["last_verified"]["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("found verifying {inc_id:?}")),
        "{f}"
    );

    // A restore of the incremental with skip_damaged still saves what the incremental itself
    // holds, and names every file whose bytes were in the full's damaged frame.
    let target = scratch.path().join("restore");
    let (code, sum) = server.send(
        "POST",
        &format!("/backups/{inc_id}/restore"),
        Some(json!({ "target": target, "skip_damaged": true })),
    );
    assert_eq!((code, &sum["complete"]), (200, &json!(false)), "{sum}");
    let lost = sum["damaged"].as_array().unwrap();
    assert_eq!(
        lost.len(),
        19,
        "every unchanged file was in the full's one frame: {sum}"
    );
    for d in lost {
        assert_eq!(
            d["reason"], "frame 0 at offset 24: checksum mismatch",
            "{d}"
        );
        assert!(!d["path"].as_str().unwrap().ends_with("/sub/f0"), "{d}");
    }
    let root = crate::engine::restored_root(&target, &src);
    assert_eq!(fs::read_to_string(root.join("sub/f0")).unwrap(), "changed");
    assert!(!root.join("sub/f1").exists());

    // The next incremental run does not build on the damaged chain.
    let next = server.run("incremental_backup");
    assert_eq!(next["status"], "succeeded", "{next}");
    let next_id = next["backup_id"].as_str().unwrap();
    let b = server.get(&format!("/backups/{next_id}"));
    assert_eq!(
        (&b["kind"], &b["parent"]),
        (&json!("full"), &Value::Null),
        "{b}"
    );
    let note = next["note"].as_str().unwrap_or_default();
    assert!(
        note.contains(&format!(
            "no usable base (the newest backup {inc_id} failed its last verification: backup \
             {inc_id:?} cannot be restored: the backup it builds on, {full_id:?}, is damaged"
        )) && note.contains("took a full backup"),
        "{next}"
    );

    // Health names the chain: which backups are lost through which damaged one.
    let run = server.run("health_check");
    assert_eq!(run["status"], "succeeded", "{run}");
    let health = server.get("/health");
    let c = check(&health, "damaged_chains");
    assert_eq!(c["status"], "critical", "{c}");
    let reason = c["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("2 backup(s) unrestorable through 1 damaged backup(s)")
            && reason.contains(&format!("{full_id} is damaged (verified bad at"))
            && reason.contains(&format!("so these cannot be restored: {full_id}, {inc_id}")),
        "{c}"
    );
}

fn full_id_location(server: &Served, id: &str) -> String {
    server.get(&format!("/backups/{id}"))["location"]
        .as_str()
        .unwrap()
        .to_string()
}
