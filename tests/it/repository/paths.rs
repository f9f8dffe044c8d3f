//! What reads an archive reads a snapshot too: a database dump stored as chunks restores, the
//! browse API lists and serves a snapshot's files, the weekly archive copies a snapshot into a
//! self-contained `.bka`, and `backupd verify` checks a pack file like any archive.

use std::fs;
use std::process::Command;

use super::*;
use crate::support::{offline, stdout_ok, Rng, Served};

#[test]
fn dumps_browse_weekly_archive_and_offline_verify_read_snapshots() {
    let scratch = tempfile::tempdir().unwrap();
    let s = scratch.path();
    let src = s.join("src");
    fs::create_dir_all(src.join("docs")).unwrap();
    fs::write(src.join("docs/readme.md"), "hello repository\n").unwrap();
    fs::write(src.join("blob"), noise(&mut Rng(5), 3 << 20)).unwrap();
    let db = s.join("live.db");
    let made = Command::new("sqlite3")
        .arg(&db)
        .arg(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
             INSERT INTO t(payload) SELECT hex(randomblob(40)) FROM n;",
        )
        .status()
        .unwrap();
    assert!(made.success());
    let server = Served::with_config(&format!(
        "[repository]\nenabled = true\n\
         [[sources.files]]\npath = {src:?}\n\
         [[sources.database]]\nname = \"lite\"\nkind = \"sqlite\"\npath = {db:?}\n"
    ));
    let id = backup(&server, "daily_full_backup");
    let enc_id = id.replace('@', "%40");

    // The dump restores as a file that SQLite opens with every row.
    let t = restore(&server, &id, s);
    let dumps: Vec<_> = walk(&t)
        .into_iter()
        .filter(|p| !p.starts_with(landed(&t, "files", &src)))
        .collect();
    assert_eq!(dumps.len(), 1, "{dumps:?}");
    let out = Command::new("sqlite3")
        .arg(&dumps[0])
        .arg("SELECT count(*) FROM t;")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "500");

    // Browse: the original path lists, the content comes back byte for byte.
    let readme = fs::canonicalize(src.join("docs/readme.md")).unwrap();
    let dir = readme.parent().unwrap().display().to_string();
    let listing = server.get(&format!("/backups/{enc_id}/files?path={dir}"));
    assert!(listing.to_string().contains("readme.md"), "{listing}");
    let resp = server
        .request(
            "GET",
            &format!("/backups/{enc_id}/files/content?path={}", readme.display()),
        )
        .call()
        .unwrap();
    assert_eq!(resp.into_string().unwrap(), "hello repository\n");

    // The weekly archive is a self-contained copy of the snapshot.
    let weekly = server.run("weekly_archive");
    assert_eq!(weekly["status"], "succeeded", "{weekly}");
    let archives = server.get("/backups?kind=archive")["backups"].clone();
    let a = archives[0]["id"].as_str().unwrap().to_string();
    let t = restore(&server, &a, s);
    identical(&src, &landed(&t, "files", &src));

    // A pack is an archive container: `backupd verify FILE` checks it.
    let data = server.data_dir().to_path_buf();
    let pack = packs(&data.join("repository/packs"))[0].clone();
    let holder = server.stop();
    let said = stdout_ok(offline(["verify", pack.to_str().unwrap()], &data));
    assert!(said.contains("ok:"), "{said}");
    drop(holder);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap().map(|e| e.unwrap()) {
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            out.extend(walk(&e.path()));
        } else if ft.is_file() {
            out.push(e.path());
        }
    }
    out
}
