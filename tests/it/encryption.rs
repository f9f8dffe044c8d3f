//! Encryption at rest through the real binary: with `[encryption]` an encrypted backup's files
//! hold no plaintext of a planted marker, restores (API, offline, database load) are byte
//! identical, browsing serves files whole and by range, a wrong or missing passphrase refuses to
//! start, and `backupd key add|list|remove|passwd` work offline.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use rusqlite::Connection;
use serde_json::{json, Value};

use crate::engine::restored_root;
use crate::support::{bin, offline, repo, stdout_ok, Served};

const MARKER: &str = "PLANTED-MARKER-q7Zx3kV9";
const PASSPHRASE: &str = "correct horse battery staple 8tq";

/// Every regular file below `dir`.
fn files_below(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            files_below(&e.path(), out);
        } else if t.is_file() {
            out.push(e.path());
        }
    }
}

/// The files below `dir` whose bytes contain `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut all = Vec::new();
    files_below(dir, &mut all);
    all.into_iter()
        .filter(|p| {
            let b = fs::read(p).unwrap();
            b.windows(needle.len()).any(|w| w == needle)
        })
        .collect()
}

/// A source tree with the marker in compressible text, in incompressible bytes (a raw frame),
/// and a file of several frames; and an SQLite database whose rows hold it.
fn plant(root: &Path) -> (PathBuf, PathBuf) {
    let src = root.join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(
        src.join("notes.txt"),
        format!("secret notes: {MARKER}\n").repeat(500),
    )
    .unwrap();
    let mut noisy: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    noisy[150_000..150_000 + MARKER.len()].copy_from_slice(MARKER.as_bytes());
    fs::write(src.join("sub/noise.bin"), &noisy).unwrap();
    let big: String = (0..400_000).map(|i| format!("{i} {MARKER}\n")).collect();
    fs::write(src.join("sub/big.log"), big).unwrap();
    fs::write(src.join("empty"), b"").unwrap();
    let db = root.join("app.db");
    let c = Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT);")
        .unwrap();
    for i in 0..300 {
        c.execute(
            "INSERT INTO t(note) VALUES (?1)",
            [format!("row {i} {MARKER}")],
        )
        .unwrap();
    }
    drop(c);
    (fs::canonicalize(&src).unwrap(), db)
}

fn rows(db: &Path) -> Vec<(i64, String)> {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut st = c.prepare("SELECT id, note FROM t ORDER BY id").unwrap();
    let all = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    all
}

fn config(src: &Path, db: &Path, encryption: &str) -> String {
    format!(
        "[[sources.files]]\npath = {src:?}\n\n[[sources.database]]\nname = \"app\"\nkind = \"sqlite\"\npath = {db:?}\n\n{encryption}"
    )
}

fn identical(a: &Path, b: &Path) {
    let out = Command::new("diff")
        .args(["-r", "--no-dereference"])
        .arg(a)
        .arg(b)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} and {} differ:\n{}",
        a.display(),
        b.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `serve` with this configuration: it must refuse to start, exit 2, and say `why`.
fn refuses_to_start(config: &Path, data: &Path, env: Option<&str>, why: &str) {
    let mut cmd = bin();
    cmd.current_dir(repo())
        .env_remove("BACKUPD_PASSPHRASE")
        .arg("serve")
        .arg("--config")
        .arg(config)
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data);
    if let Some(p) = env {
        cmd.env("BACKUPD_PASSPHRASE", p);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(why), "{err}");
    assert!(!err.contains(PASSPHRASE), "{err}");
}

#[test]
fn an_encrypted_backup_holds_no_plaintext_and_restores_byte_identical() {
    let scratch = tempfile::tempdir().unwrap();
    let (src, db) = plant(scratch.path());
    let pass_file = scratch.path().join("passphrase");
    fs::write(&pass_file, format!("{PASSPHRASE}\n")).unwrap();
    let enc = format!("[encryption]\npassphrase_file = {pass_file:?}\n");
    let server = Served::with_config(&config(&src, &db, &enc));
    let data = server.data_dir().to_path_buf();

    let run = server.run("daily_full_backup");
    assert_eq!(run["status"], "succeeded", "{run}");
    let full = run["backup_id"].as_str().unwrap().to_string();
    // Something changes, and an incremental reads its base's sealed index.
    fs::write(src.join("added.txt"), format!("later {MARKER}\n")).unwrap();
    let run = server.run("incremental_backup");
    assert_eq!(run["status"], "succeeded", "{run}");
    let inc = run["backup_id"].as_str().unwrap().to_string();
    // The weekly archive merges the chain into a new sealed archive.
    let run = server.run("weekly_archive");
    assert_eq!(run["status"], "succeeded", "{run}");
    let weekly = server.get("/backups?kind=archive")["backups"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Not a byte of the marker anywhere in the data directory: archives, sidecars, the event
    // log, the service's own log, key files. Nor the passphrase.
    let found = holding(&data, MARKER.as_bytes());
    assert!(found.is_empty(), "the marker is in {found:?}");
    let found = holding(&data, PASSPHRASE.as_bytes());
    assert!(found.is_empty(), "the passphrase is in {found:?}");
    let mut archives = Vec::new();
    files_below(&data.join("backups"), &mut archives);
    files_below(&data.join("archives"), &mut archives);
    archives.retain(|p| p.extension().is_some_and(|e| e == "bka"));
    assert_eq!(archives.len(), 3, "{archives:?}");
    for a in &archives {
        let head = fs::read(a).unwrap();
        assert_eq!(&head[..8], b"BKPDARC\0");
        assert_eq!(head[12] & 1, 1, "{} is not sealed", a.display());
    }
    let keys: Vec<_> = fs::read_dir(data.join("keys")).unwrap().collect();
    assert_eq!(keys.len(), 1);

    // Verify, browse and download (whole and by range) read the sealed archives.
    let (code, v) = server.send("POST", &format!("/backups/{inc}/verify"), None);
    assert_eq!((code, &v["ok"]), (200, &json!(true)), "{v}");
    let big = src.join("sub/big.log");
    let want = fs::read(&big).unwrap();
    let url = format!(
        "/backups/{inc}/files/content?path={}",
        big.to_str().unwrap().replace('/', "%2F")
    );
    let mut got = Vec::new();
    server
        .request("GET", &url)
        .call()
        .unwrap()
        .into_reader()
        .read_to_end(&mut got)
        .unwrap();
    assert!(got == want, "download differs");
    let resp = server
        .request("GET", &url)
        .set("Range", "bytes=1000000-1000099")
        .call()
        .unwrap();
    assert_eq!(resp.status(), 206);
    let mut part = Vec::new();
    resp.into_reader().read_to_end(&mut part).unwrap();
    assert_eq!(part, want[1_000_000..1_000_100]);
    let list = server.get(&format!(
        "/backups/{inc}/files?path={}",
        src.join("sub").to_str().unwrap().replace('/', "%2F")
    ));
    let names: Vec<&str> = list["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["big.log", "noise.bin"], "{list}");

    // Restore over the API: byte identical, the database too.
    let target = scratch.path().join("api-restore");
    let (code, sum) = server.send(
        "POST",
        &format!("/backups/{inc}/restore"),
        Some(json!({ "target": target })),
    );
    assert_eq!(code, 200, "{sum}");
    identical(&src, &restored_root(&target, &src));
    assert_eq!(rows(&target.join("databases/app.sqlite")), rows(&db));
    let target = scratch.path().join("weekly-restore");
    let (code, sum) = server.send(
        "POST",
        &format!("/backups/{weekly}/restore"),
        Some(json!({ "target": target })),
    );
    assert_eq!(code, 200, "{sum}");
    identical(&src, &restored_root(&target, &src));
    let holder = server.stop();

    // Offline, with the key from the configuration: verify by id and by file, restore, and
    // the database loaded into a new SQLite file.
    let cfg = holder.path().join("backupd.toml");
    let with_cfg = |args: &[&str]| {
        let mut a: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        a.extend(["--config".into(), cfg.clone().into_os_string()]);
        offline(a, &data)
    };
    stdout_ok(with_cfg(&["verify", &full]));
    let file = archives[0].to_str().unwrap();
    let out = stdout_ok(with_cfg(&["verify", file]));
    assert!(out.contains("ok:"), "{out}");
    let cli_target = scratch.path().join("cli-restore");
    stdout_ok(with_cfg(&[
        "restore",
        &full,
        "--to",
        cli_target.to_str().unwrap(),
    ]));
    assert!(
        fs::read(restored_root(&cli_target, &src).join("notes.txt")).unwrap()
            == fs::read(src.join("notes.txt")).unwrap()
    );
    assert!(!restored_root(&cli_target, &src).join("added.txt").exists());
    let loaded = scratch.path().join("loaded.sqlite");
    stdout_ok(with_cfg(&[
        "restore",
        &inc,
        "--database",
        "app",
        "--into",
        loaded.to_str().unwrap(),
    ]));
    assert_eq!(rows(&loaded), rows(&db));

    // `recover` rebuilds the catalog from the sealed archives with the key; without the key
    // every archive is left out, named.
    let out = with_cfg(&["recover", "--force"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("recovered 3 backup(s)"), "{said}");
    let out = offline(["recover", "--force"], &data);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no key"), "{err}");

    // Without the key, an archive file is refused with a typed, clear error, never garbage.
    let out = offline(["verify", file], &data);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("encrypted") && err.contains("no key"), "{err}");

    // A wrong passphrase, or none at all, refuses to start and says so.
    let wrong = scratch.path().join("wrong");
    fs::write(&wrong, "not the passphrase").unwrap();
    let bad_cfg = scratch.path().join("wrong.toml");
    fs::write(
        &bad_cfg,
        config(
            &src,
            &db,
            &format!("[encryption]\npassphrase_file = {wrong:?}\n"),
        ),
    )
    .unwrap();
    refuses_to_start(&bad_cfg, &data, None, "wrong passphrase");
    let env_cfg = scratch.path().join("env.toml");
    fs::write(&env_cfg, config(&src, &db, "[encryption]\n")).unwrap();
    refuses_to_start(&env_cfg, &data, None, "BACKUPD_PASSPHRASE");
    refuses_to_start(&env_cfg, &data, Some("nope"), "wrong passphrase");
    // The environment variable opens it as well as the file.
    let out = bin()
        .env("BACKUPD_PASSPHRASE", PASSPHRASE)
        .args(["verify", &inc, "--config"])
        .arg(&env_cfg)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(holder);
}

/// The key file ids `key list` prints, with their master key fingerprints.
fn key_list(cfg: &Path, data: &Path) -> Vec<(String, String)> {
    let out = stdout_ok(
        bin()
            .args(["key", "list", "--config"])
            .arg(cfg)
            .arg("--data-dir")
            .arg(data)
            .output()
            .unwrap(),
    );
    out.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                v["master"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn key_cmd(cfg: &Path, data: &Path, args: &[&str], new: Option<&str>) -> std::process::Output {
    let mut c = bin();
    c.env_remove("BACKUPD_PASSPHRASE")
        .env_remove("BACKUPD_NEW_PASSPHRASE")
        .arg("key")
        .args(args)
        .arg("--config")
        .arg(cfg)
        .arg("--data-dir")
        .arg(data);
    if let Some(n) = new {
        c.env("BACKUPD_NEW_PASSPHRASE", n);
    }
    c.output().unwrap()
}

#[test]
fn key_add_list_remove_and_passwd_work_offline() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("data");
    let cfg_for = |name: &str, pass: &str| {
        let f = scratch.path().join(format!("{name}.pass"));
        fs::write(&f, pass).unwrap();
        let cfg = scratch.path().join(format!("{name}.toml"));
        fs::write(&cfg, format!("[encryption]\npassphrase_file = {f:?}\n")).unwrap();
        cfg
    };
    let alice = cfg_for("alice", "alice's passphrase");
    let bob = cfg_for("bob", "bob's passphrase");
    let carol = cfg_for("carol", "carol's passphrase");
    assert!(key_list(&alice, &data).is_empty());

    // The first add creates the master key and alice's key file, then bob's.
    let out = stdout_ok(key_cmd(&alice, &data, &["add"], Some("bob's passphrase")));
    assert!(out.starts_with("added key "), "{out}");
    let keys = key_list(&alice, &data);
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0].1, keys[1].1, "both wrap the same master key");
    let master = keys[0].1.clone();
    let bob_id = out.trim().strip_prefix("added key ").unwrap().to_string();
    let alice_id = keys.iter().find(|k| k.0 != bob_id).unwrap().0.clone();

    // Bob changes his passphrase to carol's: his old one stops working, alice's still works.
    let out = stdout_ok(key_cmd(
        &bob,
        &data,
        &["passwd"],
        Some("carol's passphrase"),
    ));
    assert!(out.contains(&format!("replaced key {bob_id} by ")), "{out}");
    let out = key_cmd(&bob, &data, &["remove", &alice_id], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong passphrase"));
    let keys = key_list(&carol, &data);
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.1 == master));
    assert!(!keys.iter().any(|k| k.0 == bob_id));

    // Carol removes alice's key; the last one is refused.
    stdout_ok(key_cmd(&carol, &data, &["remove", &alice_id], None));
    let keys = key_list(&carol, &data);
    assert_eq!(keys.len(), 1);
    let out = key_cmd(&carol, &data, &["remove", &keys[0].0], None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("last one"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(matches!(
        key_cmd(&alice, &data, &["add"], Some("x")).status.code(),
        Some(2)
    ));
    // No new passphrase: a clear error naming where it comes from.
    let out = key_cmd(&carol, &data, &["add"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("BACKUPD_NEW_PASSPHRASE"));
    // Without [encryption] the key commands say there is nothing to do.
    let plain = scratch.path().join("plain.toml");
    fs::write(&plain, "").unwrap();
    let out = key_cmd(&plain, &data, &["list"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no [encryption]"));
}

/// Lost key files are never replaced quietly: with sealed backups in the data directory and no
/// key file, neither `serve` nor a read-only command makes a new master key; both say the key
/// files are missing and how to bring them back. Back in place, they open the backups again. A
/// `key_file` that is not the master key the key files wrap is refused.
#[test]
fn missing_key_files_are_an_error_never_a_new_master_key() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("a.txt"), format!("{MARKER}\n")).unwrap();
    let pass = scratch.path().join("pass");
    fs::write(&pass, PASSPHRASE).unwrap();
    let server = Served::with_config(&format!(
        "[[sources.files]]\npath = {src:?}\n\n[encryption]\npassphrase_file = {pass:?}\n"
    ));
    let run = server.run("daily_full_backup");
    assert_eq!(run["status"], "succeeded", "{run}");
    let id = run["backup_id"].as_str().unwrap().to_string();
    let data = server.data_dir().to_path_buf();
    let holder = server.stop();
    let cfg = holder.path().join("backupd.toml");
    let keys = data.join("keys");
    let aside = scratch.path().join("keys-aside");
    fs::rename(&keys, &aside).unwrap();

    let verify = |cfg: &Path| {
        bin()
            .env_remove("BACKUPD_PASSPHRASE")
            .arg("verify")
            .arg(&id)
            .arg("--config")
            .arg(cfg)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap()
    };
    let out = verify(&cfg);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("key files are missing") && err.contains("backupd key import"),
        "{err}"
    );
    assert!(!keys.exists(), "a read-only command made a key: {err}");
    refuses_to_start(&cfg, &data, None, "key files are missing");
    assert!(!keys.exists(), "serve made a new key beside sealed backups");

    fs::rename(&aside, &keys).unwrap();
    let out = verify(&cfg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A key_file of another data directory: refused, not used to seal new backups.
    let foreign = scratch.path().join("foreign.key");
    fs::write(&foreign, "ab".repeat(32)).unwrap();
    let foreign_cfg = scratch.path().join("foreign.toml");
    fs::write(
        &foreign_cfg,
        format!("[[sources.files]]\npath = {src:?}\n\n[encryption]\nkey_file = {foreign:?}\n"),
    )
    .unwrap();
    refuses_to_start(&foreign_cfg, &data, None, "another data directory's key");
    let out = verify(&foreign_cfg);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another data directory's key"));
    drop(holder);
}
