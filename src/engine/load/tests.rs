use super::*;
use std::io::Write;

#[test]
fn dump_kinds_come_from_the_archive_name() {
    let table = [
        (
            "databases/app.postgresql.sql",
            "app",
            Some(DatabaseKind::Postgresql),
        ),
        (
            "databases/shop.mysql.sql",
            "shop",
            Some(DatabaseKind::Mysql),
        ),
        (
            "databases/local.sqlite",
            "local",
            Some(DatabaseKind::Sqlite),
        ),
        ("databases/c.dump", "c", Some(DatabaseKind::Command)),
        ("databases/app.postgresql.sql", "ap", None),
        ("databases/app.txt", "app", None),
        ("files/app.sqlite", "app", None),
    ];
    for (path, source, want) in table {
        assert_eq!(dump_kind(path, source), want, "{path}");
    }
}

#[test]
fn targets_are_checked_before_anything_runs() {
    assert_eq!(database_name("app_restored_1").unwrap(), "app_restored_1");
    for bad in ["", "a/b", "a\nb", &"x".repeat(64)] {
        assert!(
            matches!(database_name(bad), Err(LoadError::Into { .. })),
            "{bad:?}"
        );
    }
    assert_eq!(
        sqlite_target("/srv/r.db").unwrap(),
        PathBuf::from("/srv/r.db")
    );
    for bad in ["r.db", "/srv/../r.db", "/srv/./r.db", "/srv/", "/a\0b"] {
        assert!(
            matches!(sqlite_target(bad), Err(LoadError::Into { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn refusals_name_the_front_ends_own_override() {
    let e = LoadError::Live {
        source_name: "app".into(),
        database: "test".into(),
    };
    assert!(e.message_for(Front::Api).contains("\"live\": true"), "{e}");
    assert!(e.to_string().contains("--live"), "{e}");
    assert_eq!(e.kind(), ErrorKind::Refused);
    let e = LoadError::Exists {
        path: "/r.db".into(),
    };
    assert!(e.message_for(Front::Api).contains("\"force\": true"));
}

#[test]
fn the_head_tells_a_dump_that_drops_first() {
    let mut sink = Vec::new();
    let mut c = Counted::new(&mut sink);
    c.write_all(b"SET x = 0;\nDROP TABLE IF EXISTS public.t;\nCREATE TABLE public.t ();\n")
        .unwrap();
    assert!(c.drops());
    assert_eq!(c.bytes, 68);
    let mut sink = Vec::new();
    let mut c = Counted::new(&mut sink);
    c.write_all(b"SET x = 0;\nCREATE TABLE public.t ();\n-- DROP later\n")
        .unwrap();
    assert!(!c.drops());
}

#[test]
fn a_counted_writer_tells_the_bytes_so_far_after_each_write() {
    let seen = std::cell::RefCell::new(Vec::new());
    let tell = |b: u64| seen.borrow_mut().push(b);
    let mut sink = Vec::new();
    let mut c = Counted::new(&mut sink).telling(Some(&tell));
    for chunk in [&b"abc"[..], b"", b"defgh"] {
        c.write_all(chunk).unwrap();
    }
    assert_eq!(c.bytes, 8);
    assert_eq!(*seen.borrow(), [3, 8]);
}
