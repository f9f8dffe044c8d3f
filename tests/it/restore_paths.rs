//! Restore by the paths the operator knows, through the real binary: two original paths (a file
//! and a directory) come back byte for byte with their modes and mtimes and nothing else, over
//! the API and through `backupd restore --path`; a dry run lists exactly those entries and
//! writes nothing; an unknown original path is a 404 naming `paths`; `db:<name>` restores the
//! dump of an SQLite source.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::support::{offline, stdout_ok, Served};

/// (relative path → (kind, bytes, mode, mtime s, mtime ns)) of every entry below `root`: to
/// the nanosecond, as the archive keeps it (seconds alone would pass a restore that drops them).
type Shot = BTreeMap<String, (char, Vec<u8>, u32, i64, i64)>;

fn shot(root: &Path) -> Shot {
    fn walk(root: &Path, dir: &Path, out: &mut Shot) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            let (kind, bytes) = if m.is_dir() {
                ('d', Vec::new())
            } else {
                ('f', fs::read(&p).unwrap())
            };
            out.insert(
                rel,
                (kind, bytes, m.mode() & 0o7777, m.mtime(), m.mtime_nsec()),
            );
            if m.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Shot::new();
    walk(root, root, &mut out);
    out
}

fn write(path: &Path, bytes: &[u8], mode: u32, age_s: u64) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    // Never a whole second: the nanoseconds are part of what must come back.
    let t = SystemTime::now() - Duration::from_secs(age_s) + Duration::from_nanos(123_456_789);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn original_paths_restore_exactly_those_entries_and_a_dry_run_writes_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    write(&src.join("app/app.conf"), b"listen = 8080\n", 0o640, 3600);
    write(&src.join("app/other.conf"), b"not wanted\n", 0o644, 7200);
    write(&src.join("data/d/one.bin"), &[7u8; 5000], 0o600, 86_400);
    write(&src.join("data/d/sub/two.txt"), b"two", 0o644, 90_000);
    write(&src.join("data/skip.txt"), b"skip", 0o644, 100);
    fs::set_permissions(src.join("data/d"), fs::Permissions::from_mode(0o750)).unwrap();
    let src = fs::canonicalize(&src).unwrap();
    let db = scratch.path().join("app.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3);")
            .unwrap();
    }
    let server = Served::with_config(&format!(
        "[[sources.files]]\npath = {src:?}\n\n\
         [[sources.database]]\nname = \"app\"\nkind = \"sqlite\"\npath = {db:?}\n"
    ));
    let run = server.run("daily_full_backup");
    assert_eq!(run["status"], "succeeded", "{run}");
    let id = run["backup_id"].as_str().unwrap().to_string();

    let file = format!("{}/app/app.conf", src.display());
    let dir = format!("{}/data/d", src.display());
    let wanted = |root: &Path| -> Shot {
        let full = shot(root);
        full.into_iter()
            .filter(|(k, _)| k == "app/app.conf" || k == "data/d" || k.starts_with("data/d/"))
            .collect()
    };
    let expected = wanted(&src);
    assert_eq!(expected.len(), 5, "{:?}", expected.keys());
    // Under a target the original tree sits at files/<original path>.
    let restored_root = |target: &Path| target.join("files").join(src.strip_prefix("/").unwrap());
    // Only the selected entries and the directories leading to them.
    let only_those = |target: &Path| {
        let got = shot(&restored_root(target));
        let files: Vec<&String> = got.keys().filter(|k| got[*k].0 == 'f').collect();
        assert_eq!(
            files,
            ["app/app.conf", "data/d/one.bin", "data/d/sub/two.txt"],
            "{:?}",
            got.keys()
        );
        assert_eq!(wanted(&restored_root(target)), expected);
    };

    // A dry run: exactly those entries, by original path, with where they land; nothing written.
    let target = scratch.path().join("api-target");
    let (code, plan) = server.send(
        "POST",
        &format!("/backups/{id}/restore"),
        Some(json!({"target": target, "paths": [file, dir], "dry_run": true})),
    );
    assert_eq!(code, 200, "{plan}");
    assert!(!target.exists(), "a dry run wrote {}", target.display());
    let listed: Vec<(String, String, u64, String)> = plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_string(),
                e["kind"].as_str().unwrap().to_string(),
                e["size"].as_u64().unwrap(),
                e["lands_at"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut want: Vec<(String, String, u64, String)> = expected
        .iter()
        .map(|(rel, (k, bytes, _, _, _))| {
            let orig = format!("{}/{rel}", src.display());
            let lands = format!("{}/files{orig}", target.display());
            let kind = if *k == 'd' { "dir" } else { "file" };
            (orig, kind.to_string(), bytes.len() as u64, lands)
        })
        .collect();
    let mut got_sorted = listed.clone();
    got_sorted.sort();
    want.sort();
    assert_eq!(got_sorted, want, "{plan}");
    assert_eq!(
        (
            &plan["files"],
            &plan["dirs"],
            &plan["bytes"],
            &plan["dry_run"]
        ),
        (&json!(3), &json!(2), &json!(5000 + 14 + 3), &json!(true)),
        "{plan}"
    );

    // The same paths for real, over the API.
    let (code, sum) = server.send(
        "POST",
        &format!("/backups/{id}/restore"),
        Some(json!({"target": target, "paths": [file, dir]})),
    );
    assert_eq!(code, 200, "{sum}");
    only_those(&target);

    // An original path the backup does not hold: 404 naming `paths`, nothing written.
    let missing = scratch.path().join("missing-target");
    let (code, err) = server.send(
        "POST",
        &format!("/backups/{id}/restore"),
        Some(json!({"target": missing, "paths": [file, format!("{}/nope", src.display())]})),
    );
    assert_eq!(
        (code, &err["error"]["field"]),
        (404, &json!("paths")),
        "{err}"
    );
    assert!(!missing.exists());

    // db:<name>: the SQLite source's dump, and nothing else.
    let dbt = scratch.path().join("db-target");
    let (code, sum) = server.send(
        "POST",
        &format!("/backups/{id}/restore"),
        Some(json!({"target": dbt, "paths": ["db:app"]})),
    );
    assert_eq!(code, 200, "{sum}");
    let names: Vec<String> = shot(&dbt).into_keys().collect();
    assert_eq!(names, ["databases", "databases/app.sqlite"], "{sum}");
    let c = rusqlite::Connection::open(dbt.join("databases/app.sqlite")).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);

    // The same through the offline CLI (the service stopped: it holds the log).
    let data = server.data_dir().to_path_buf();
    let _holder = server.stop();
    let cli = |target: &Path, extra: &[&str]| {
        let to = target.to_str().unwrap();
        let mut args = vec!["restore", &id, "--path", &file, "--path", &dir, "--to", to];
        args.extend(extra);
        stdout_ok(offline(args, &data))
    };
    let cli_target = scratch.path().join("cli-target");
    let said = cli(&cli_target, &["--dry-run"]);
    assert!(!cli_target.exists(), "a dry run wrote: {said}");
    assert!(
        said.contains("would write 3 files, 2 dirs, 0 symlinks, 5017 bytes"),
        "{said}"
    );
    for (orig, ..) in &want {
        assert!(said.contains(orig.as_str()), "{orig} not in {said}");
    }
    cli(&cli_target, &[]);
    only_those(&cli_target);
}
