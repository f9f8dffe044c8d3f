//! In-place restore through the real binary: two original paths go back where they were. With
//! the default `if-newer` a deleted file comes back, a file edited after the backup is kept (and
//! listed), a file edited and then given an old mtime is replaced, a mode-only change gets its
//! mode back; everything else is byte-identical with its mode and mtime. `always` makes all of it
//! identical; a dry run writes nothing and says what it would do to each path; a parent that is
//! a symlink in the live tree is never followed. Refused without `[restore] in_place` (403) and
//! with a `target` (400). Every restore is a run in `GET runs` (kind, outcome, bytes, actor), a
//! failing one (a damaged archive) recorded as failed; refused requests and dry runs record none.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::support::{offline, stdout_ok, Served};

/// (relative path → (kind, bytes or link target, mode, mtime s, mtime ns)) below `root`.
type Shot = BTreeMap<String, (char, Vec<u8>, u32, i64, i64)>;

fn shot(root: &Path) -> Shot {
    fn walk(root: &Path, dir: &Path, out: &mut Shot) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            let (kind, bytes) = if m.is_dir() {
                ('d', Vec::new())
            } else if m.file_type().is_symlink() {
                let t = fs::read_link(&p).unwrap();
                ('l', t.to_str().unwrap().as_bytes().to_vec())
            } else {
                ('f', fs::read(&p).unwrap())
            };
            let mode = if kind == 'l' { 0 } else { m.mode() & 0o7777 };
            out.insert(rel, (kind, bytes, mode, m.mtime(), m.mtime_nsec()));
            if m.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Shot::new();
    walk(root, root, &mut out);
    out
}

fn set_age(path: &Path, age_s: u64) {
    let t = SystemTime::now() - Duration::from_secs(age_s);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn write(path: &Path, bytes: &[u8], mode: u32, age_s: u64) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    set_age(path, age_s);
}

/// `before` with the entries named in `except` taken from `now` (they are allowed to differ).
fn expect(before: &Shot, now: &Shot, except: &[&str]) -> Shot {
    let mut want = before.clone();
    for k in except {
        match now.get(*k) {
            Some(v) => want.insert(k.to_string(), v.clone()),
            None => want.remove(*k),
        };
    }
    want
}

/// The differences, readable.
fn diff(want: &Shot, got: &Shot) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in want {
        match got.get(k) {
            None => out.push(format!("missing {k}")),
            Some(g) if g != v => out.push(format!(
                "{k}: want {:?} mode {:o} mtime {}.{}, got {:?} mode {:o} mtime {}.{}",
                String::from_utf8_lossy(&v.1),
                v.2,
                v.3,
                v.4,
                String::from_utf8_lossy(&g.1),
                g.2,
                g.3,
                g.4
            )),
            _ => {}
        }
    }
    out.extend(
        got.keys()
            .filter(|k| !want.contains_key(*k))
            .map(|k| format!("extra {k}")),
    );
    out
}

fn restore(server: &Served, id: &str, body: Value) -> (u16, Value) {
    server.send("POST", &format!("/backups/{id}/restore"), Some(body))
}

fn restore_runs(server: &Served) -> Vec<Value> {
    server.get("/runs?kind=restore")["runs"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn in_place_restores_two_original_paths_as_overwrite_says_and_each_is_a_run() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    write(&src.join("app/app.conf"), b"listen = 8080\n", 0o640, 3600);
    write(
        &src.join("app/edited-later.txt"),
        b"as backed up\n",
        0o644,
        7200,
    );
    write(
        &src.join("app/deleted.txt"),
        b"will be deleted\n",
        0o600,
        5000,
    );
    write(
        &src.join("app/sub/set-back.bin"),
        &[3u8; 4096],
        0o600,
        86_400,
    );
    write(&src.join("app/sub/mode.txt"), b"mode only\n", 0o644, 4000);
    write(&src.join("data/d/one.bin"), &[7u8; 5000], 0o600, 90_000);
    write(&src.join("data/d/deep/two.txt"), b"two", 0o644, 90_000);
    write(&src.join("other/not-selected.txt"), b"other", 0o644, 100);
    std::os::unix::fs::symlink("app.conf", src.join("app/link")).unwrap();
    fs::set_permissions(src.join("data/d"), fs::Permissions::from_mode(0o750)).unwrap();
    let src = fs::canonicalize(&src).unwrap();
    let server = Served::with_config(&format!(
        "[[sources.files]]\npath = {src:?}\n\n[restore]\nin_place = true\n"
    ));
    let run = server.run("daily_full_backup");
    assert_eq!(run["status"], "succeeded", "{run}");
    let id = run["backup_id"].as_str().unwrap().to_string();
    let before = shot(&src);
    let app = format!("{}/app", src.display());
    let d = format!("{}/data/d", src.display());
    let orig = |rel: &str| format!("{}/{rel}", src.display());

    // After the backup: one file edited (newer), one deleted, one edited and then given an
    // OLD mtime, one given another mode, and one outside the restored paths edited.
    fs::write(
        src.join("app/edited-later.txt"),
        b"edited after the backup\n",
    )
    .unwrap();
    fs::remove_file(src.join("app/deleted.txt")).unwrap();
    fs::write(src.join("app/sub/set-back.bin"), [4u8; 4096]).unwrap();
    set_age(&src.join("app/sub/set-back.bin"), 10 * 86_400);
    fs::set_permissions(
        src.join("app/sub/mode.txt"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    fs::write(src.join("other/not-selected.txt"), b"changed, not restored").unwrap();
    let changed = shot(&src);

    // Refused: in place switched off (403 naming the key), with a target (400), a db: path
    // (400), overwrite without in_place (400). None of them records a run.
    let plain = Served::with_config(&format!("[[sources.files]]\npath = {src:?}\n"));
    let (code, err) = restore(
        &plain,
        &id,
        json!({"in_place": true, "paths": [app, d], "overwrite": "if-newer"}),
    );
    assert_eq!(
        (code, &err["error"]["field"]),
        (403, &json!("in_place")),
        "{err}"
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[restore] in_place"),
        "{err}"
    );
    let target = scratch.path().join("t");
    for (body, field) in [
        (
            json!({"in_place": true, "target": target, "paths": [app]}),
            "target",
        ),
        (
            json!({"in_place": true, "paths": [app, "db:main"]}),
            "paths[1]",
        ),
        (
            json!({"target": target, "overwrite": "always"}),
            "overwrite",
        ),
        (
            json!({"in_place": true, "overwrite": "sometimes"}),
            "overwrite",
        ),
    ] {
        let (code, err) = restore(&server, &id, body.clone());
        assert_eq!(
            (code, &err["error"]["field"]),
            (400, &json!(field)),
            "{body}: {err}"
        );
    }
    let (code, err) = restore(
        &server,
        &id,
        json!({"in_place": true, "paths": [orig("app/never-there")]}),
    );
    assert_eq!(
        (code, &err["error"]["field"]),
        (404, &json!("paths")),
        "{err}"
    );
    assert!(!target.exists());

    // A dry run: nothing written, and what it would do to every path.
    let (code, plan) = restore(
        &server,
        &id,
        json!({"in_place": true, "paths": [app, d], "dry_run": true}),
    );
    assert_eq!(code, 200, "{plan}");
    assert!(diff(&changed, &shot(&src)).is_empty(), "a dry run wrote");
    let actions: BTreeMap<String, String> = plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want_actions: BTreeMap<String, String> = [
        ("app", "unchanged"),
        ("app/app.conf", "unchanged"),
        ("app/link", "unchanged"),
        ("app/edited-later.txt", "keep"),
        ("app/deleted.txt", "create"),
        ("app/sub", "unchanged"),
        ("app/sub/set-back.bin", "replace"),
        ("app/sub/mode.txt", "set_mode"),
        ("data/d", "unchanged"),
        ("data/d/one.bin", "unchanged"),
        ("data/d/deep", "unchanged"),
        ("data/d/deep/two.txt", "unchanged"),
    ]
    .into_iter()
    .map(|(k, v)| (orig(k), v.to_string()))
    .collect();
    assert_eq!(actions, want_actions, "{plan}");
    assert_eq!(
        (&plan["files"], &plan["kept"], &plan["dry_run"]),
        (&json!(2), &json!(1), &json!(true))
    );
    assert!(
        restore_runs(&server).is_empty(),
        "a dry run or a refusal recorded a run"
    );

    // The default (if-newer): the deleted file is back, the one edited later is kept and named,
    // the rest is byte-identical with modes and mtimes (directories written in included).
    let (code, sum) = restore(&server, &id, json!({"in_place": true, "paths": [app, d]}));
    assert_eq!(code, 200, "{sum}");
    assert_eq!(
        sum["kept"],
        json!([{"path": orig("app/edited-later.txt"), "reason": "newer than the backup's copy (overwrite: if-newer)"}]),
        "{sum}"
    );
    assert_eq!(
        (
            &sum["created"],
            &sum["replaced"],
            &sum["files"],
            &sum["bytes"],
            &sum["overwrite"]
        ),
        (
            &json!(1),
            &json!(2),
            &json!(2),
            &json!(16 + 4096),
            &json!("if-newer")
        ),
        "{sum}"
    );
    let first_run = sum["run_id"].as_str().unwrap().to_string();
    let now = shot(&src);
    let want = expect(
        &before,
        &changed,
        &["app/edited-later.txt", "other/not-selected.txt"],
    );
    assert_eq!(diff(&want, &now), Vec::<String>::new());

    // The brief's body with "always": all of it identical, the edited file too.
    let (code, sum) = restore(
        &server,
        &id,
        json!({"in_place": true, "paths": [app, d], "overwrite": "always"}),
    );
    assert_eq!(code, 200, "{sum}");
    assert_eq!(sum["kept"], json!([]), "{sum}");
    let second_run = sum["run_id"].as_str().unwrap().to_string();
    let want = expect(&before, &changed, &["other/not-selected.txt"]);
    assert_eq!(diff(&want, &shot(&src)), Vec::<String>::new());
    // once more: everything is identical now, nothing is rewritten
    let (code, sum) = restore(
        &server,
        &id,
        json!({"in_place": true, "paths": [app, d], "overwrite": "always"}),
    );
    assert_eq!(
        (code, &sum["files"], &sum["unchanged"]),
        (200, &json!(0), &json!(12)),
        "{sum}"
    );
    let third_run = sum["run_id"].as_str().unwrap().to_string();

    // A parent that is a symlink now (the backup has a directory there) is never followed.
    let elsewhere = scratch.path().join("elsewhere");
    fs::rename(src.join("app/sub"), &elsewhere).unwrap();
    fs::write(elsewhere.join("set-back.bin"), b"outside").unwrap();
    std::os::unix::fs::symlink(&elsewhere, src.join("app/sub")).unwrap();
    let outside = shot(&elsewhere);
    let (code, sum) = restore(
        &server,
        &id,
        json!({"in_place": true, "paths": [app], "overwrite": "always"}),
    );
    assert_eq!(code, 200, "{sum}");
    assert_eq!(
        shot(&elsewhere),
        outside,
        "a restore wrote through a symlink"
    );
    let kept: BTreeMap<String, String> = sum["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["path"].as_str().unwrap().to_string(),
                k["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        kept.keys().cloned().collect::<Vec<_>>(),
        [
            orig("app/sub"),
            orig("app/sub/mode.txt"),
            orig("app/sub/set-back.bin")
        ],
        "{sum}"
    );
    assert!(
        kept[&orig("app/sub/set-back.bin")].contains("is a symlink"),
        "{sum}"
    );
    let symlinked_run = sum["run_id"].as_str().unwrap().to_string();
    fs::remove_file(src.join("app/sub")).unwrap();
    fs::rename(&elsewhere, src.join("app/sub")).unwrap();

    // Every restore is a run: kind, actor, outcome, bytes, where to; backup runs say "backup".
    let runs = restore_runs(&server);
    let by_id: BTreeMap<&str, &Value> = runs
        .iter()
        .map(|r| (r["run_id"].as_str().unwrap(), r))
        .collect();
    assert_eq!(
        by_id.keys().copied().collect::<Vec<_>>(),
        {
            let mut ids = vec![
                first_run.as_str(),
                second_run.as_str(),
                third_run.as_str(),
                symlinked_run.as_str(),
            ];
            ids.sort();
            ids
        },
        "{runs:?}"
    );
    let first = by_id[first_run.as_str()];
    assert_eq!(
        (
            &first["kind"],
            &first["status"],
            &first["outcome"],
            &first["bytes"],
            &first["files"],
            &first["kept"],
            &first["actor"],
            &first["backup_id"],
            &first["in_place"],
            &first["overwrite"],
            &first["job_id"],
            &first["paths"],
        ),
        (
            &json!("restore"),
            &json!("succeeded"),
            &json!("succeeded"),
            &json!(16 + 4096),
            &json!(2),
            &json!(1),
            &json!("api:anonymous"),
            &json!(id),
            &json!(true),
            &json!("if-newer"),
            &Value::Null,
            &json!([app, d]),
        ),
        "{first}"
    );
    assert!(
        first["duration_ms"].is_u64() && first["finished_at"].is_string(),
        "{first}"
    );
    assert_eq!(by_id[second_run.as_str()]["overwrite"], "always");
    // one run by its id, as listed; a restore has no stop switch: cancelling it is a 409
    assert_eq!(&server.get(&format!("/runs/{first_run}")), first);
    let (code, err) = server.send("POST", &format!("/runs/{first_run}/cancel"), None);
    assert_eq!(
        (code, &err["error"]["field"]),
        (409, &json!("run_id")),
        "{err}"
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("restore"),
        "{err}"
    );
    let all = server.get("/runs")["runs"].as_array().unwrap().clone();
    assert_eq!(all.len(), 5, "{all:?}");
    let backup_run = all.iter().find(|r| r["run_id"] == run["run_id"]).unwrap();
    assert_eq!(
        (&backup_run["kind"], &backup_run["status"]),
        (&json!("backup"), &json!("succeeded"))
    );
    assert_eq!(
        server.get("/runs?kind=backup")["runs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // restore runs are not the jobs' figures: one backup run, one success, whatever restored
    let status = server.get("/scheduler/status");
    assert_eq!(status["runs"]["succeeded"], json!(1), "{status}");

    // A damaged archive: a restore into a target fails, and the run says so with the error.
    let detail = server.get(&format!("/backups/{id}"));
    let archive = server.data_dir().join(detail["location"].as_str().unwrap());
    let mut bytes = fs::read(&archive).unwrap();
    // the first frame's bytes (the header is short; the index is at the end)
    for b in &mut bytes[80..120] {
        *b ^= 0x5a;
    }
    fs::write(&archive, &bytes).unwrap();
    let target = scratch.path().join("damaged-target");
    let (code, err) = restore(&server, &id, json!({"target": target, "paths": [app]}));
    assert_eq!(code, 500, "{err}");
    // in place too, once there is content to read (identical files are never read)
    for f in [
        "app/app.conf",
        "app/deleted.txt",
        "data/d/one.bin",
        "data/d/deep/two.txt",
    ] {
        fs::remove_file(src.join(f)).unwrap();
    }
    let (code, err_in_place) = restore(
        &server,
        &id,
        json!({"in_place": true, "paths": [app, d], "overwrite": "always"}),
    );
    assert_eq!(code, 500, "{err_in_place}");
    let leftovers: Vec<String> = shot(&src)
        .into_keys()
        .filter(|k| k.contains(".backupd-restore"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let failed = server.get("/runs?kind=restore&status=failed")["runs"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(failed.len(), 2, "{failed:?}");
    for f in &failed {
        assert_eq!(
            (&f["outcome"], &f["error_kind"]),
            (&json!("failed"), &json!("integrity")),
            "{f}"
        );
        assert!(!f["error"].as_str().unwrap().is_empty(), "{f}");
    }
    assert!(
        failed.iter().any(|f| f["target"] == json!(target)),
        "{failed:?}"
    );
    let status = server.get("/scheduler/status");
    assert_eq!(status["runs"]["failed"], json!(0), "{status}");
    drop(plain);
}

#[test]
fn the_offline_command_restores_in_place_with_a_dry_run_first() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    write(&src.join("etc/a.conf"), b"a = 1\n", 0o640, 3600);
    write(&src.join("etc/b.conf"), b"b = 2\n", 0o644, 3600);
    write(&src.join("var/c.txt"), b"c", 0o600, 3600);
    let src = fs::canonicalize(&src).unwrap();
    let server = Served::with_config(&format!("[[sources.files]]\npath = {src:?}\n"));
    let run = server.run("daily_full_backup");
    let id = run["backup_id"].as_str().unwrap().to_string();
    let before = shot(&src);
    let data = server.data_dir().to_path_buf();
    let _holder = server.stop();
    fs::remove_file(src.join("etc/a.conf")).unwrap();
    fs::write(src.join("etc/b.conf"), b"b = 3, later\n").unwrap();
    fs::write(src.join("var/c.txt"), b"C").unwrap();
    set_age(&src.join("var/c.txt"), 86_400);
    let changed = shot(&src);
    let etc = format!("{}/etc", src.display());
    let var = format!("{}/var", src.display());
    let said = stdout_ok(offline(
        [
            "restore",
            &id,
            "--in-place",
            "--path",
            &etc,
            "--path",
            &var,
            "--dry-run",
        ],
        &data,
    ));
    assert_eq!(diff(&changed, &shot(&src)), Vec::<String>::new(), "{said}");
    assert!(
        said.contains(&format!("would create file {etc}/a.conf")),
        "{said}"
    );
    assert!(
        said.contains(&format!("would keep file {etc}/b.conf (newer")),
        "{said}"
    );
    assert!(
        said.contains(&format!("would replace file {var}/c.txt")),
        "{said}"
    );
    let said = stdout_ok(offline(
        ["restore", &id, "--in-place", "--path", &etc, "--path", &var],
        &data,
    ));
    assert!(
        said.contains(&format!("kept {etc}/b.conf: newer")),
        "{said}"
    );
    let want = expect(&before, &changed, &["etc/b.conf"]);
    assert_eq!(diff(&want, &shot(&src)), Vec::<String>::new(), "{said}");
    let said = stdout_ok(offline(
        [
            "restore",
            &id,
            "--in-place",
            "--overwrite",
            "always",
            "--path",
            &etc,
        ],
        &data,
    ));
    assert_eq!(diff(&before, &shot(&src)), Vec::<String>::new(), "{said}");
    // --to and --in-place exclude each other
    let out = offline(["restore", &id, "--in-place", "--to", "/tmp/x"], &data);
    assert!(!out.status.success());
}

/// An incremental's unchanged files are read from its full: in place, a whole tree deleted after
/// an incremental comes back from both archives, byte for byte with modes and mtimes.
#[test]
fn in_place_through_an_incremental_reads_unchanged_files_from_its_full() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    write(
        &src.join("a/same.txt"),
        b"unchanged since the full\n",
        0o640,
        7200,
    );
    write(&src.join("a/b/big.bin"), &[9u8; 70_000], 0o600, 7200);
    write(&src.join("a/changed.txt"), b"v1\n", 0o644, 7200);
    let src = fs::canonicalize(&src).unwrap();
    let server = Served::with_config(&format!(
        "[[sources.files]]\npath = {src:?}\n\n[restore]\nin_place = true\n"
    ));
    let full = server.run("daily_full_backup");
    assert_eq!(full["status"], "succeeded", "{full}");
    write(
        &src.join("a/changed.txt"),
        b"v2, in the incremental\n",
        0o644,
        60,
    );
    write(&src.join("a/new.txt"), b"new\n", 0o600, 60);
    let inc = server.run("incremental_backup");
    assert_eq!(inc["status"], "succeeded", "{inc}");
    let id = inc["backup_id"].as_str().unwrap().to_string();
    let detail = server.get(&format!("/backups/{id}"));
    assert_eq!(detail["kind"], "incremental", "{detail}");
    let before = shot(&src);
    fs::remove_dir_all(src.join("a")).unwrap();
    let a = format!("{}/a", src.display());
    let (code, sum) = restore(&server, &id, json!({"in_place": true, "paths": [a]}));
    assert_eq!(code, 200, "{sum}");
    assert_eq!(sum["parents_used"], json!([full["backup_id"]]), "{sum}");
    assert_eq!(
        (&sum["files"], &sum["created"], &sum["kept"]),
        (&json!(4), &json!(6), &json!([])),
        "{sum}"
    );
    assert_eq!(diff(&before, &shot(&src)), Vec::<String>::new());
}
