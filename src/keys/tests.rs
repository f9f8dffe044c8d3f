use super::*;

const FAST: KeyParams = KeyParams::FAST_INSECURE;

#[test]
fn a_key_file_unwraps_with_its_passphrase_only() {
    let d = tempfile::tempdir().unwrap();
    let ring = Keyring::in_data_dir(d.path());
    let (master, id) = ring.open_or_init("correct horse", FAST).unwrap();
    let (again, id2) = ring.unlock("correct horse").unwrap();
    assert_eq!(again, master);
    assert_eq!(id, id2);
    let e = ring.unlock("wrong horse").unwrap_err();
    assert!(
        matches!(e, KeyError::WrongPassphrase { files: 1, .. }),
        "{e}"
    );
    // The file holds no byte of the master key in the clear, in hex or raw.
    let text = std::fs::read_to_string(ring.dir().join(format!("{id}.json"))).unwrap();
    assert!(!text.contains(&hex(master.bytes())));
}

#[test]
fn two_key_files_wrap_one_master_key() {
    let d = tempfile::tempdir().unwrap();
    let ring = Keyring::in_data_dir(d.path());
    let (master, first) = ring.open_or_init("alice", FAST).unwrap();
    let second = ring.add(&master, "bob", FAST).unwrap();
    assert_ne!(first, second);
    let (a, ida) = ring.unlock("alice").unwrap();
    let (b, idb) = ring.unlock("bob").unwrap();
    assert_eq!(a, b);
    assert_eq!((ida, idb), (first.clone(), second.clone()));
    let list = ring.list().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|k| k.master == master.fingerprint()));
    // Removing one leaves the other working; the last one is refused.
    ring.remove(&first).unwrap();
    assert!(matches!(
        ring.unlock("alice"),
        Err(KeyError::WrongPassphrase { .. })
    ));
    assert!(matches!(
        ring.remove(&second),
        Err(KeyError::LastKey { .. })
    ));
    assert!(matches!(
        ring.remove("nope"),
        Err(KeyError::UnknownKey { .. })
    ));
    assert_eq!(ring.unlock("bob").unwrap().0, master);
}

#[test]
fn passwd_replaces_the_file_and_keeps_the_master_key() {
    let d = tempfile::tempdir().unwrap();
    let ring = Keyring::in_data_dir(d.path());
    let (master, id) = ring.open_or_init("old", FAST).unwrap();
    let new_id = ring.passwd(&master, &id, "new", FAST).unwrap();
    assert!(matches!(
        ring.unlock("old"),
        Err(KeyError::WrongPassphrase { .. })
    ));
    let (m, got) = ring.unlock("new").unwrap();
    assert_eq!((m, got), (master, new_id));
    assert_eq!(ring.list().unwrap().len(), 1);
}

#[test]
fn a_changed_byte_in_a_key_file_is_refused_or_fails_to_unwrap() {
    let d = tempfile::tempdir().unwrap();
    let ring = Keyring::in_data_dir(d.path());
    let (_, id) = ring.open_or_init("pw", FAST).unwrap();
    let path = ring.dir().join(format!("{id}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    let kf: serde_json::Value = serde_json::from_str(&text).unwrap();
    let wrapped = kf["wrapped"].as_str().unwrap();
    // Flip one hex digit of the wrapped key: the tag no longer matches.
    let mut w = wrapped.as_bytes().to_vec();
    w[3] = if w[3] == b'0' { b'1' } else { b'0' };
    let changed = text.replace(wrapped, std::str::from_utf8(&w).unwrap());
    std::fs::write(&path, changed).unwrap();
    assert!(matches!(
        ring.unlock("pw"),
        Err(KeyError::WrongPassphrase { .. })
    ));
    std::fs::write(&path, "{not json").unwrap();
    assert!(matches!(
        ring.unlock("pw"),
        Err(KeyError::BadKeyFile { .. })
    ));
}

#[test]
fn no_key_files_and_empty_passphrases_are_typed_errors() {
    let d = tempfile::tempdir().unwrap();
    let ring = Keyring::in_data_dir(d.path());
    assert!(matches!(ring.unlock("x"), Err(KeyError::NoKeys { .. })));
    assert!(matches!(
        ring.open_or_init("", FAST),
        Err(KeyError::EmptyPassphrase)
    ));
    let m = MasterKey::from_bytes([7; 32]);
    assert_eq!(format!("{m:?}"), "MasterKey(<redacted>)");
}

#[test]
fn archive_keys_differ_by_salt_and_units_by_number_and_flags() {
    let m = MasterKey::from_bytes([1; 32]);
    let k1 = ArchiveKey::derive(&m, &[2; 32], [3; 15]);
    let k2 = ArchiveKey::derive(&m, &[9; 32], [3; 15]);
    let mut a = b"hello world".to_vec();
    k1.seal(0, 0, b"aad", &mut a);
    assert_eq!(a.len(), 11 + TAG_LEN);
    let mut b = a.clone();
    assert!(
        k2.open(0, 0, b"aad", &mut b).is_err(),
        "another archive's key"
    );
    let mut b = a.clone();
    assert!(
        k1.open(1, 0, b"aad", &mut b).is_err(),
        "another frame number"
    );
    let mut b = a.clone();
    assert!(k1.open(0, 1, b"aad", &mut b).is_err(), "another flag");
    let mut b = a.clone();
    assert!(
        k1.open(0, 0, b"aaD", &mut b).is_err(),
        "other associated data"
    );
    k1.open(0, 0, b"aad", &mut a).unwrap();
    assert_eq!(a, b"hello world");
}

#[test]
fn unlock_reads_a_key_file_or_creates_the_first_key_from_a_passphrase() {
    let d = tempfile::tempdir().unwrap();
    let hex_file = d.path().join("master.key");
    let bytes = [0xabu8; 32];
    std::fs::write(&hex_file, format!("{}\n", hex(&bytes))).unwrap();
    let u = unlock(d.path(), None, Some(&hex_file), FAST, Init::Refused).unwrap();
    assert_eq!(u.key, MasterKey::from_bytes(bytes));
    assert_eq!((u.key_file_id, u.created), (None, false));
    std::fs::write(&hex_file, "abcd").unwrap();
    assert!(matches!(
        unlock(d.path(), None, Some(&hex_file), FAST, Init::Refused),
        Err(KeyError::BadMasterKeyFile { .. })
    ));
    // A passphrase file: the first unlock creates, the next opens the same key.
    let pass = d.path().join("pass");
    std::fs::write(&pass, "s3cret\n").unwrap();
    let first = unlock(d.path(), Some(&pass), None, FAST, Init::Allowed).unwrap();
    assert!(first.created);
    let again = unlock(d.path(), Some(&pass), None, FAST, Init::Allowed).unwrap();
    assert!(!again.created);
    assert_eq!(
        (again.key, again.key_file_id),
        (first.key, first.key_file_id)
    );
    // The trailing newline was not part of the passphrase.
    assert!(Keyring::in_data_dir(d.path()).unlock("s3cret").is_ok());
}

#[test]
fn a_data_dir_without_key_files_gets_a_new_key_only_where_allowed_and_nothing_is_sealed() {
    let d = tempfile::tempdir().unwrap();
    let pass = d.path().join("pass");
    std::fs::write(&pass, "s3cret").unwrap();
    let refused = unlock(d.path(), Some(&pass), None, FAST, Init::Refused).unwrap_err();
    assert!(
        matches!(&refused, KeyError::MissingKeys { sealed: None, .. }),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("backupd key import"),
        "{refused}"
    );
    assert!(!d.path().join("keys").exists(), "nothing was created");

    // A sealed archive in backups/ and no key file: not even serve makes a new key.
    let master = MasterKey::from_bytes([5; 32]);
    std::fs::create_dir_all(d.path().join("backups")).unwrap();
    let sealed = d.path().join("backups/b1.bka");
    let seal = crate::archive::Seal::new(master.clone());
    let w = crate::archive::ArchiveWriter::new_sealed(
        std::fs::File::create(&sealed).unwrap(),
        crate::archive::WriterOptions::default(),
        &seal,
    )
    .unwrap();
    w.finish().unwrap();
    // an unsealed file beside it is no reason to refuse, the sealed one is
    std::fs::write(d.path().join("backups/b0.manifest"), "x").unwrap();
    assert_eq!(sealed_file(d.path()), Some(sealed.clone()));
    let e = unlock(d.path(), Some(&pass), None, FAST, Init::Allowed).unwrap_err();
    assert!(
        matches!(&e, KeyError::MissingKeys { sealed: Some(p), .. } if p.ends_with("b1.bka")),
        "{e}"
    );
    std::fs::remove_file(&sealed).unwrap();
    let made = unlock(d.path(), Some(&pass), None, FAST, Init::Allowed).unwrap();
    assert!(made.created);

    // key_file: a key the key files do not wrap is refused; the one they wrap opens.
    let other = d.path().join("other.key");
    std::fs::write(&other, hex(&[9; 32])).unwrap();
    let e = unlock(d.path(), None, Some(&other), FAST, Init::Refused).unwrap_err();
    assert!(matches!(e, KeyError::ForeignKeyFile { .. }), "{e}");
    let mine = d.path().join("mine.key");
    std::fs::write(&mine, hex(made.key.bytes())).unwrap();
    let u = unlock(d.path(), None, Some(&mine), FAST, Init::Refused).unwrap();
    assert_eq!(u.key, made.key);
}
