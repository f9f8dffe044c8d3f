//! Remotes (issue 16): the S3 store against a real `s3s-fs`, the dir store, and the
//! replication queue driven through the real binary.

#[path = "remote/server.rs"]
mod server;

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
