use super::*;

#[test]
fn targets_and_paths_a_restore_refuses() {
    for ok in ["/srv/restore", "/srv/restore/", "/a b/ü"] {
        assert!(check_target(Path::new(ok)).is_ok(), "{ok}");
    }
    for bad in [
        "rel/dir",
        "/srv/./x",
        "/srv/x/.",
        "/srv/../x",
        "/srv/x/..",
        "/a\0b",
        "./x",
    ] {
        let e = check_target(Path::new(bad)).unwrap_err();
        assert!(
            matches!(&e, EngineError::RestoreRequest { field, .. } if field == "target"),
            "{bad}: {e}"
        );
    }
    let ok: Vec<String> = ["files/a", "files/a/", "config/.hidden", "/srv/a", "db:app"]
        .map(String::from)
        .into();
    assert!(check_paths(&ok).is_ok());
    for (i, bad) in [
        "files/./a",
        "files/../a",
        "/files/../a",
        "files//a",
        "",
        ".",
        "db:",
    ]
    .iter()
    .enumerate()
    {
        let paths = vec!["files/ok".to_string(), bad.to_string()];
        let e = check_paths(&paths).unwrap_err();
        assert!(
            matches!(&e, EngineError::RestoreRequest { field, .. } if field == "paths[1]"),
            "{i} {bad:?}: {e}"
        );
    }
}

#[test]
fn original_paths_resolve_to_the_archive_paths_that_hold_entries() {
    let entries: Vec<IndexEntry> = [
        ("files/srv/app", EntryKind::Dir),
        ("files/srv/app/app.conf", EntryKind::File),
        ("files/srv/apple", EntryKind::File),
        ("config/srv/app/x.toml", EntryKind::File),
        ("databases/app.sqlite", EntryKind::Stream),
        ("databases/shop.mysql.sql", EntryKind::Stream),
    ]
    .into_iter()
    .map(|(path, kind)| IndexEntry {
        path: path.into(),
        kind,
        mode: 0o644,
        mtime: crate::archive::Mtime::new(1_700_000_000, 0),
        size: 1,
        crc32: 0,
        location: Location::Here { offset: 0 },
    })
    .collect();
    // (paths given, the archive paths they resolve to or the path named as missing)
    type Case<'a> = (&'a [&'a str], Result<&'a [&'a str], &'a str>);
    let table: [Case; 7] = [
        (&["/srv/app/app.conf"], Ok(&["files/srv/app/app.conf"])),
        (&["/srv/app/"], Ok(&["files/srv/app", "config/srv/app"])),
        (
            &["db:app", "db:shop"],
            Ok(&["databases/app.sqlite", "databases/shop.mysql.sql"]),
        ),
        (&["files/srv/app"], Ok(&["files/srv/app"])),
        (&["/srv/ap"], Err("/srv/ap")),
        (&["/srv/app/app.conf", "db:nope"], Err("db:nope")),
        (&["/"], Ok(&["files", "config"])),
    ];
    for (given, want) in table {
        let given: Vec<String> = given.iter().map(|s| s.to_string()).collect();
        match (resolve_paths(&entries, &given, "B"), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{given:?}"),
            (Err(EngineError::NotInBackup { path, .. }), Err(want)) => {
                assert_eq!(path, want, "{given:?}")
            }
            (got, _) => panic!("{given:?}: {got:?}"),
        }
    }
}

#[test]
fn targets_in_the_data_dir_are_seen_through_links() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("backups")).unwrap();
    std::os::unix::fs::symlink(&data, dir.path().join("link")).unwrap();
    assert!(inside(&data, &data));
    assert!(inside(&data.join("backups/new/deeper"), &data));
    assert!(inside(&dir.path().join("link/new"), &data));
    assert!(!inside(&dir.path().join("restore/new"), &data));
    assert!(!inside(&dir.path().join("data-2"), &data));
}
