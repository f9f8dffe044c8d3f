//! Remotes (issue 16): the S3 store against a real `s3s-fs`, the dir store, and the
//! replication queue driven through the real binary.

#[path = "remote/server.rs"]
pub mod server;

use backupd::config::notify::Secret;
use backupd::config::remotes::{RemoteConfig, RemoteKind, S3Remote};
use backupd::remote::{self, ObjectStore, RemoteError};
use server::{ACCESS, BUCKET, S3, SECRET};

fn s3_config(s3: &S3, prefix: &str, secret: &str) -> RemoteConfig {
    RemoteConfig {
        name: "offsite".into(),
        kind: RemoteKind::S3(S3Remote {
            endpoint: s3.endpoint(),
            bucket: BUCKET.into(),
            region: "us-east-1".into(),
            path_style: true,
            access_key_id: Secret(ACCESS.into()),
            secret_access_key: Secret(secret.into()),
        }),
        prefix: prefix.into(),
        max_upload_rate: None,
        concurrency: 2,
        warn_after_secs: 3600,
        critical_after_secs: 7200,
    }
}

/// Every call of the trait against the real server: put (single and multipart), if_absent,
/// ranged get, head, list under the prefix, get_to_file, delete.
fn exercise(store: &dyn ObjectStore, scratch: &std::path::Path) {
    store.put_bytes("a/one", b"hello world", false).unwrap();
    assert!(matches!(
        store.put_bytes("a/one", b"again", true),
        Err(RemoteError::Exists { .. })
    ));
    assert_eq!(store.get("a/one", None).unwrap(), b"hello world");
    assert_eq!(store.get("a/one", Some(6..11)).unwrap(), b"world");
    assert_eq!(store.head("a/one").unwrap(), Some(11));
    assert_eq!(store.head("a/none").unwrap(), None);
    // 20 MiB + 3: three parts of a multipart upload, the last one short.
    let big: Vec<u8> = (0..(20u32 << 20) + 3).map(|i| (i % 251) as u8).collect();
    let file = scratch.join("big");
    std::fs::write(&file, &big).unwrap();
    store.put_file("b/big", &file, true).unwrap();
    assert!(matches!(
        store.put_file("b/big", &file, true),
        Err(RemoteError::Exists { .. })
    ));
    assert_eq!(store.head("b/big").unwrap(), Some(big.len() as u64));
    assert_eq!(
        store.get("b/big", Some(9_000_000..9_000_010)).unwrap(),
        &big[9_000_000..9_000_010]
    );
    let back = scratch.join("back");
    assert_eq!(store.get_to_file("b/big", &back).unwrap(), big.len() as u64);
    assert!(std::fs::read(&back).unwrap() == big);
    let listed = store.list("").unwrap();
    assert_eq!(
        listed,
        vec![
            ("a/one".to_string(), 11),
            ("b/big".to_string(), big.len() as u64)
        ]
    );
    assert_eq!(store.list("b/").unwrap().len(), 1);
    store.delete("a/one").unwrap();
    store.delete("a/one").unwrap();
    assert_eq!(store.head("a/one").unwrap(), None);
    assert!(matches!(
        store.get("a/one", None),
        Err(RemoteError::NotFound { .. })
    ));
}

#[test]
fn s3_store_against_a_real_server() {
    let s3 = S3::start();
    let scratch = tempfile::tempdir().unwrap();
    let store = remote::open(&s3_config(&s3, "host1/", SECRET)).unwrap();
    exercise(store.as_ref(), scratch.path());
    // Under the prefix, in the bucket.
    let objects = s3.objects();
    assert!(objects.contains_key("host1/b/big"), "{:?}", objects.keys());
}

#[test]
fn dir_store_does_the_same() {
    let root = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let cfg = RemoteConfig {
        name: "usb".into(),
        kind: RemoteKind::Dir {
            path: root.path().to_path_buf(),
        },
        prefix: "host1/".into(),
        max_upload_rate: None,
        concurrency: 1,
        warn_after_secs: 3600,
        critical_after_secs: 7200,
    };
    let store = remote::open(&cfg).unwrap();
    exercise(store.as_ref(), scratch.path());
    assert!(root.path().join("host1/b/big").is_file());
}

/// Wrong credentials: an `Auth` error that names the remote and the key and not the secret.
#[test]
fn wrong_credentials_are_an_auth_error_without_the_secret() {
    let s3 = S3::start();
    let wrong = "wrong-secret-planted-4411";
    let store = remote::open(&s3_config(&s3, "", wrong)).unwrap();
    let e = store.put_bytes("k", b"x", false).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, RemoteError::Auth { .. }), "{text}");
    assert!(text.contains("offsite") && text.contains("k"), "{text}");
    assert!(!text.contains(wrong) && !text.contains(SECRET), "{text}");
}

// ---- the replication queue, through the real binary ----

use crate::support::Served;
use serde_json::Value;
use std::time::{Duration, Instant};

fn remote_toml(s3: &S3, extra: &str) -> String {
    format!(
        "[[remotes]]\nname = \"offsite\"\nkind = \"s3\"\nendpoint = {:?}\nbucket = {BUCKET:?}\n\
         prefix = \"host1\"\naccess_key_id_env = \"BKPD_TEST_S3_KEY\"\n\
         secret_access_key_env = \"BKPD_TEST_S3_SECRET\"\n{extra}\n",
        s3.endpoint()
    )
}

/// The server's environment carries the credentials (set once for the test process: every
/// test here uses the same pair; a wrong secret is configured through its own variable).
fn set_credentials() {
    // SAFETY (edition 2024 wording aside): set before any server starts, same values always.
    std::env::set_var("BKPD_TEST_S3_KEY", ACCESS);
    std::env::set_var("BKPD_TEST_S3_SECRET", SECRET);
    std::env::set_var("BKPD_TEST_S3_WRONG", "wrong-secret-planted-5522");
}

fn events(server: &Served, kind: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = server.get(&format!("/events?after={after}&limit=1000"));
        let list = page["events"].as_array().unwrap().clone();
        if list.is_empty() {
            return out;
        }
        after = list.last().unwrap()["position"].as_u64().unwrap();
        out.extend(list.into_iter().filter(|e| e["type"] == kind));
    }
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The files of the data dir that belong off-site: archives (and, with the repository, packs and
/// snapshot indexes) and reports, by their path relative to the data dir.
fn local_objects(server: &Served) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let root = server.data_dir();
    for sub in ["backups", "repository", "reports"] {
        let mut stack = vec![root.join(sub)];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd {
                let e = e.unwrap();
                let p = e.path();
                if e.file_type().unwrap().is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x != "manifest") {
                    // The sidecar manifest only speeds the next incremental up: it stays home.
                    let key = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
                    out.insert(key, std::fs::read(&p).unwrap());
                }
            }
        }
    }
    out
}

/// The data dir's objects in the bucket (not the log's segments under `log/`: the log
/// shipper's, tests/it/recover_remote.rs).
fn in_bucket(s3: &S3, prefix: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    s3.objects()
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k.to_string(), v)))
        .filter(|(k, _)| !k.starts_with("log/"))
        .collect()
}

/// Backups replicate: after two runs every archive is in the bucket under the prefix, byte for
/// byte, each recorded once as `object_replicated`; the backup says it is off-site. Forgetting a
/// backup records `remote_object_deleted` and the object leaves the bucket.
#[test]
fn backups_replicate_and_forgetting_deletes_the_remote_copy() {
    set_credentials();
    let s3 = S3::start();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.txt"), "alpha\n".repeat(1000)).unwrap();
    let server = Served::with_config(&format!(
        "[[sources.files]]\npath = {:?}\n\n{}",
        src.path(),
        remote_toml(&s3, "")
    ));
    let full = server.run("daily_full_backup");
    assert_eq!(full["status"], "succeeded", "{full}");
    std::fs::write(src.path().join("b.txt"), "beta\n").unwrap();
    let inc = server.run("incremental_backup");
    assert_eq!(inc["status"], "succeeded", "{inc}");
    let local = local_objects(&server);
    assert!(local.len() >= 2, "{:?}", local.keys());
    let deadline = Instant::now() + Duration::from_secs(30);
    while in_bucket(&s3, "host1/") != local {
        if Instant::now() > deadline {
            panic!(
                "bucket {:?} local {:?} failed {:?} log {:?}",
                in_bucket(&s3, "host1/").keys().collect::<Vec<_>>(),
                local.keys().collect::<Vec<_>>(),
                events(&server, "replication_failed"),
                server.log_so_far()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let replicated = events(&server, "object_replicated");
    let mut keys: Vec<&str> = replicated
        .iter()
        .map(|e| e["data"]["key"].as_str().unwrap_or_else(|| panic!("{e}")))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        local.keys().map(String::as_str).collect::<Vec<_>>(),
        "each once"
    );
    let id = full["backup_id"].as_str().unwrap();
    let b = server.get(&format!("/backups/{id}"));
    assert_eq!(b["offsite"], serde_json::json!(["offsite"]), "{b}");

    // Forget the incremental: its remote copy goes too, recorded first.
    let inc_id = inc["backup_id"].as_str().unwrap();
    let (code, body) = server.send("DELETE", &format!("/backups/{inc_id}"), None);
    assert_eq!(code, 200, "{body}");
    wait_until("the remote copy deleted", 30, || {
        in_bucket(&s3, "host1/") == local_objects(&server)
    });
    let deleted = events(&server, "remote_object_deleted");
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert_eq!(deleted[0]["data"]["reason"], "backup_forgotten");
    assert!(deleted[0]["data"]["key"].as_str().unwrap().contains(inc_id));
}
