//! Restore reads a backup's `.bka` archive from the remote when the local copy is damaged or
//! missing, frame by frame, as it reads a repository's packs (restore.rs), with the default
//! configuration (no `[repository]`), plain and sealed: a flipped byte in the local archive
//! still restores byte-identical (verify reports the damage; the log names the archive and the
//! remote), with the archive gone one small file is restored from a small share of it (the
//! bytes the server sends, counted by the proxy of restore.rs) and nothing is written back, and
//! an incremental whose archive and whose full's archive are both gone restores whole.

use super::restore::Counting;
use super::server::{BUCKET, S3};
use super::{in_bucket, local_objects, set_credentials};
use crate::repository::{identical, landed, noise};
use crate::support::{Rng, Served};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

fn restore(server: &Served, id: &str, target: &Path, paths: &[String]) -> Value {
    let mut body = json!({ "target": target });
    if !paths.is_empty() {
        body["paths"] = json!(paths);
    }
    let (code, sum) = server.send("POST", &format!("/backups/{id}/restore"), Some(body));
    assert_eq!(code, 200, "{sum}");
    assert_eq!(sum["complete"], true, "{sum}");
    sum
}

/// Waits until the bucket holds exactly the data dir's objects.
fn replicated(server: &Served, s3: &S3) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while in_bucket(s3, "host1/") != local_objects(server) {
        assert!(Instant::now() < deadline, "not replicated");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A finished run's backup and the path of its archive.
fn backup(server: &Served, job: &str) -> (String, std::path::PathBuf) {
    let run = server.run(job);
    assert_eq!(run["status"], "succeeded", "{run}");
    let id = run["backup_id"].as_str().unwrap().to_string();
    let path = server.data_dir().join(format!("backups/{id}.bka"));
    assert!(path.is_file(), "{}", path.display());
    (id, path)
}

fn damaged_and_missing_archives_read_from_the_remote(sealed: bool) {
    set_credentials();
    let s3 = S3::start();
    let proxy = Counting::start(s3.port);
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    std::fs::create_dir_all(src.join("tree/a/b")).unwrap();
    std::fs::create_dir_all(src.join("tree/c")).unwrap();
    let mut rng = Rng(if sealed { 29 } else { 28 });
    for i in 0..4 {
        std::fs::write(src.join(format!("big{i}")), noise(&mut rng, 3 << 20)).unwrap();
    }
    // Sorted after the big files: its bytes start the archive's last frame (frames hold 4 MiB).
    let small = noise(&mut rng, 3000);
    std::fs::write(src.join("small.bin"), &small).unwrap();
    std::fs::write(src.join("tree/a/b/deep.txt"), "deep\n").unwrap();
    std::fs::write(src.join("tree/c/note.txt"), "note\n").unwrap();
    let src = std::fs::canonicalize(&src).unwrap();
    let encryption = if sealed {
        let pass = scratch.path().join("passphrase");
        std::fs::write(&pass, "correct horse battery staple 3bk\n").unwrap();
        format!("[encryption]\npassphrase_file = {pass:?}\n\n")
    } else {
        String::new()
    };
    let server = Served::with_config(&format!(
        "{encryption}[[sources.files]]\npath = {src:?}\n\n\
         [[remotes]]\nname = \"offsite\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:{}\"\n\
         bucket = {BUCKET:?}\nprefix = \"host1\"\naccess_key_id_env = \"BKPD_TEST_S3_KEY\"\n\
         secret_access_key_env = \"BKPD_TEST_S3_SECRET\"\n",
        proxy.port
    ));
    let (full, full_bka) = backup(&server, "daily_full_backup");
    replicated(&server, &s3);
    let original = std::fs::read(&full_bka).unwrap();
    let archive_bytes = original.len() as u64;
    assert!(archive_bytes > 12 << 20, "{archive_bytes}");

    // A change, and an incremental on top of the full (before the full is verified damaged:
    // then the next backup would not build on it). The full's files are kept aside.
    let at_full = scratch.path().join("at-full");
    let cp = std::process::Command::new("cp")
        .arg("-a")
        .arg(&src)
        .arg(&at_full)
        .status()
        .unwrap();
    assert!(cp.success());
    let changed = noise(&mut rng, 3500);
    std::fs::write(src.join("small.bin"), &changed).unwrap();
    std::fs::write(src.join("tree/c/new.txt"), "new\n").unwrap();
    let (inc, inc_bka) = backup(&server, "incremental_backup");
    replicated(&server, &s3);

    // (a) A flipped byte in the middle of the archive (inside a frame of one of the big
    // files): verify reports the local copy's damage; a whole restore is byte-identical,
    // that frame read from the remote, and the log says so.
    let mut bytes = original.clone();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&full_bka, &bytes).unwrap();
    let (code, v) = server.send("POST", &format!("/backups/{full}/verify"), None);
    assert_eq!((code, &v["ok"]), (200, &json!(false)), "{v}");
    let _ = server.log_so_far();
    let target = scratch.path().join("whole");
    restore(&server, &full, &target, &[]);
    identical(&at_full, &landed(&target, "files", &src));
    let warned = server.log_line("is damaged", 10);
    let name = full_bka.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        warned.contains(&name) && warned.contains("read from remote offsite instead"),
        "{warned}"
    );

    // (b) The full's archive gone: one small file of it comes back by its original path, and
    // the server sent a small share of the archive (its header, index and the last frame).
    std::fs::remove_file(&full_bka).unwrap();
    proxy.take();
    let target = scratch.path().join("one");
    let file = format!("{}/small.bin", src.display());
    restore(&server, &full, &target, &[file]);
    let got = std::fs::read(landed(&target, "files", &src).join("small.bin")).unwrap();
    assert!(got == small, "small.bin differs");
    let sent = proxy.take();
    eprintln!("one file of a {archive_bytes}-byte archive: {sent} bytes from the server");
    assert!(
        sent * 20 < archive_bytes,
        "{sent} bytes fetched for a 3000-byte file of a {archive_bytes}-byte archive"
    );
    assert!(
        !full_bka.exists(),
        "nothing is written back to the data dir"
    );

    // (c) The incremental's archive gone too: it restores whole, byte-identical, its unchanged
    // files read from the full's remote copy.
    std::fs::remove_file(&inc_bka).unwrap();
    let target = scratch.path().join("inc");
    let sum = restore(&server, &inc, &target, &[]);
    assert_eq!(sum["parents_used"], json!([full]), "{sum}");
    identical(&src, &landed(&target, "files", &src));
    assert!(
        !full_bka.exists() && !inc_bka.exists(),
        "nothing written back"
    );
}

#[test]
fn restore_reads_damaged_and_missing_archives_from_the_remote_frame_by_frame() {
    damaged_and_missing_archives_read_from_the_remote(false);
}

#[test]
fn restore_reads_damaged_and_missing_sealed_archives_from_the_remote_frame_by_frame() {
    damaged_and_missing_archives_read_from_the_remote(true);
}
