//! Restore reads from the remote when the local copy of a pack is damaged or missing, frame by
//! frame: a flipped byte in a local pack still restores byte-identical (with a warning naming
//! the pack), and with every local pack gone one small file of a backup of several MiB is
//! restored by fetching a small share of the backup from the S3 server. The bytes the server
//! sends are counted by a TCP proxy in front of it (s3s-fs counts nothing itself).

use super::server::{BUCKET, S3};
use super::{in_bucket, local_objects, set_credentials};
use crate::repository::{identical, landed, noise, packs};
use crate::support::{Rng, Served};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A TCP proxy on 127.0.0.1 to `port`, counting the bytes the server sends back.
pub(super) struct Counting {
    pub(super) port: u16,
    down: Arc<AtomicU64>,
}

impl Counting {
    pub(super) fn start(to: u16) -> Counting {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicU64::new(0));
        let counter = down.clone();
        // Detached: it lives as long as the test process, serving whatever connects.
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else {
                    continue;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pipe(client, server, None));
                let counter = counter.clone();
                std::thread::spawn(move || pipe(s2, c2, Some(counter)));
            }
        });
        Counting { port, down }
    }

    pub(super) fn take(&self) -> u64 {
        self.down.swap(0, Ordering::SeqCst)
    }
}

pub(super) fn pipe(mut from: TcpStream, mut to: TcpStream, count: Option<Arc<AtomicU64>>) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(c) = &count {
            c.fetch_add(n as u64, Ordering::SeqCst);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
    let _ = from.shutdown(std::net::Shutdown::Both);
}

fn restore(server: &Served, id: &str, target: &std::path::Path, paths: &[String]) {
    let mut body = json!({ "target": target });
    if !paths.is_empty() {
        body["paths"] = json!(paths);
    }
    let (code, sum) = server.send("POST", &format!("/backups/{id}/restore"), Some(body));
    assert_eq!(code, 200, "{sum}");
}

#[test]
fn restore_reads_damaged_and_missing_packs_from_the_remote_frame_by_frame() {
    set_credentials();
    let s3 = S3::start();
    let proxy = Counting::start(s3.port);
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut rng = Rng(16);
    for i in 0..4 {
        std::fs::write(src.join(format!("big{i}")), noise(&mut rng, 3 << 20)).unwrap();
    }
    let small = noise(&mut rng, 3000);
    std::fs::write(src.join("small.bin"), &small).unwrap();
    let src = std::fs::canonicalize(&src).unwrap();
    let server = Served::with_config(&format!(
        "[repository]\nenabled = true\n\n[[sources.files]]\npath = {src:?}\n\n\
         [[remotes]]\nname = \"offsite\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:{}\"\n\
         bucket = {BUCKET:?}\nprefix = \"host1\"\naccess_key_id_env = \"BKPD_TEST_S3_KEY\"\n\
         secret_access_key_env = \"BKPD_TEST_S3_SECRET\"\n",
        proxy.port
    ));
    let run = server.run("daily_full_backup");
    assert_eq!(run["status"], "succeeded", "{run}");
    let id = run["backup_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while in_bucket(&s3, "host1/") != local_objects(&server) {
        assert!(Instant::now() < deadline, "not replicated");
        std::thread::sleep(Duration::from_millis(100));
    }
    let local_packs = packs(&server.data_dir().join("repository"));
    assert!(!local_packs.is_empty());
    let backup_bytes: u64 = local_packs
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(backup_bytes > 12 << 20, "{backup_bytes}");

    // A flipped byte in the middle of a pack (inside a chunk of one of the big files): the
    // whole backup still restores byte-identical, that frame read from the remote.
    let damaged = local_packs
        .iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(damaged).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(damaged, &bytes).unwrap();
    // Verify checks the local copy: the damage is reported, not healed.
    let (code, v) = server.send("POST", &format!("/backups/{id}/verify"), None);
    assert_eq!((code, &v["ok"]), (200, &json!(false)), "{v}");
    let target = scratch.path().join("whole");
    restore(&server, &id, &target, &[]);
    identical(&src, &landed(&target, "files", &src));
    let name = damaged.file_name().unwrap().to_string_lossy().to_string();
    let warned = server.log_line(&name, 10);
    assert!(
        warned.contains("damaged") && warned.contains("remote offsite"),
        "{warned}"
    );

    // Every local pack gone: one small file comes back, and the server sent a small share of
    // the backup (the packs' headers and indexes and that file's frame, not the packs).
    for p in &local_packs {
        std::fs::remove_file(p).unwrap();
    }
    proxy.take();
    let target = scratch.path().join("one");
    let file = format!("{}/small.bin", src.display());
    restore(&server, &id, &target, &[file]);
    let got = std::fs::read(landed(&target, "files", &src).join("small.bin")).unwrap();
    assert!(got == small, "small.bin differs");
    let sent = proxy.take();
    eprintln!("one file of a {backup_bytes}-byte backup: {sent} bytes from the server");
    assert!(
        sent * 20 < backup_bytes,
        "{sent} bytes fetched for a 3000-byte file of a {backup_bytes}-byte backup"
    );
    assert!(
        !local_packs.iter().any(|p| p.exists()),
        "nothing is written back to the data dir"
    );
}
