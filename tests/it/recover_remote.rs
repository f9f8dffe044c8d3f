//! The log off-site and a lost machine rebuilt from a remote, on the real binary, with a `dir`
//! remote and with a real S3 server (s3s-fs): segments shipped after each run and at shutdown,
//! objects replicated by the queue; the whole data dir deleted; `recover --from-remote` into a
//! new dir gives the same events (positions and hashes) up to the last shipped position, every
//! backup restores byte-identical, a lost local archive is read in place by restore, the remote
//! copies verify in place; a flipped byte or a missing segment in the bucket is refused naming
//! the segment, and leaves no log behind.

use crate::engine::{generate_tree, restored_root, snapshot};
use crate::remote::server::{ACCESS, BUCKET, S3, SECRET};
use crate::support::{bin, stdout_ok, Served};
use backupd::store::EventStore;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn with(config: &Path, data: &Path, args: &[&str]) -> std::process::Output {
    bin()
        .args(args)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap()
}

fn events(config: &Path, data: &Path) -> Vec<Value> {
    stdout_ok(with(config, data, &["events"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The segment keys under the remote's `log/`, in log order, with their ranges.
fn segments(objects: &BTreeMap<String, Vec<u8>>) -> Vec<(String, u64, u64)> {
    let mut out: Vec<(String, u64, u64)> = objects
        .keys()
        .filter_map(|k| {
            let range = k.strip_prefix("log/")?.strip_suffix(".seg")?;
            let (a, b) = range.split_once('-')?;
            Some((k.clone(), a.parse().ok()?, b.parse().ok()?))
        })
        .collect();
    out.sort_by_key(|s| s.1);
    out
}

/// The files of the data dir that belong off-site (archives, packs and snapshot indexes,
/// reports; not the manifest sidecars), by their path relative to the data dir.
fn local_objects(data: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for top in ["backups", "archives", "reports", "repository"] {
        let mut stack: Vec<PathBuf> = vec![data.join(top)];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x != "manifest") {
                    let key = p.strip_prefix(data).unwrap().to_string_lossy().into_owned();
                    out.insert(key, fs::read(&p).unwrap());
                }
            }
        }
    }
    out
}

/// A directory's files as key → bytes (a `dir` remote's prefix).
fn files_under(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.file_name().unwrap().to_string_lossy().starts_with('.') {
                let key = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(key, fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let q = to.join(p.file_name().unwrap());
        if p.is_dir() {
            fs::create_dir_all(&q).unwrap();
            copy_tree(&p, &q);
        } else {
            fs::copy(&p, &q).unwrap();
        }
    }
}

/// What the scenario leaves for the checks of one kind of remote.
struct Lost {
    scratch: tempfile::TempDir,
    /// Holds the configuration file.
    _holder: tempfile::TempDir,
    config: PathBuf,
    /// The recovered data dir.
    new: PathBuf,
    segs: Vec<(String, u64, u64)>,
    full: String,
}

/// Several jobs' backups (full, incremental, weekly archive) with the log shipped and the
/// objects replicated to the remote `nas` (`remote_toml`, whose objects `objects` lists by key
/// under its prefix); the data dir deleted; recovered from the remote alone and checked.
fn lost_machine(remote_toml: &str, objects: &dyn Fn() -> BTreeMap<String, Vec<u8>>) -> Lost {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    generate_tree(&src, 40, 16);
    let server = Served::with_config(&format!(
        "[[sources.files]]\npath = {src:?}\n\n{remote_toml}"
    ));
    let mut restores = Vec::new();
    for job in ["daily_full_backup", "incremental_backup"] {
        let run = server.run(job);
        assert_eq!(run["status"], "succeeded", "{run}");
        let id = run["backup_id"].as_str().unwrap().to_string();
        restores.push((id.clone(), snapshot(&src)));
        // each run's outcome is followed by a shipment
        server.log_line("log shipped to nas", 60);
        if job == "daily_full_backup" {
            fs::write(src.join("a/changed.txt"), "after the full").unwrap();
        }
    }
    let weekly = server.run("weekly_archive");
    assert_eq!(weekly["status"], "succeeded", "{weekly}");
    server.log_line("log shipped to nas", 60);
    let archive = server.get("/backups?limit=100")["backups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["kind"] == "archive")
        .expect("a weekly archive")["id"]
        .as_str()
        .unwrap()
        .to_string();
    // the archive is a copy of the incremental: the same files (unchanged since)
    restores.push((archive, snapshot(&src)));
    let data = server.data_dir().to_path_buf();
    // The replication queue uploads every recorded file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (local, there) = (local_objects(&data), objects());
        if local.iter().all(|(k, v)| there.get(k) == Some(v)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not replicated: {:?}",
            local
                .keys()
                .filter(|k| there.get(*k) != local.get(*k))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let holder = server.stop();
    let config = holder.path().join("backupd.toml");

    let segs = segments(&objects());
    assert!(
        segs.len() >= 3,
        "a shipment per run and at shutdown: {segs:?}"
    );
    let shipped = segs.last().unwrap().2;
    let before = events(&config, &data);
    // Everything but the tail (the last shipment's own log_shipped, and replication outcomes
    // recorded after it) is off-site.
    assert!(shipped <= before.len() as u64, "{shipped}");
    let tail = &before[shipped as usize..];
    assert!(
        tail.iter().any(|e| e["type"] == "log_shipped")
            && tail
                .iter()
                .all(|e| e["type"] == "log_shipped" || e["type"] == "object_replicated"),
        "{tail:?}"
    );
    let shipments: Vec<&Value> = before
        .iter()
        .filter(|e| e["type"] == "log_shipped")
        .collect();
    assert_eq!(shipments.len(), segs.len(), "{shipments:?}");
    assert_eq!(shipments[0]["data"]["remote"], "nas");
    assert_eq!(shipments[0]["data"]["key"], segs[0].0.as_str());
    // The hashes of the lost log, kept aside to compare (the data dir itself goes).
    let old_log = scratch.path().join("old-events.redb");
    fs::copy(data.join("events.redb"), &old_log).unwrap();
    fs::remove_dir_all(&data).unwrap();

    // A non-empty target is refused.
    let busy = scratch.path().join("busy");
    fs::create_dir_all(&busy).unwrap();
    fs::write(busy.join("x"), "x").unwrap();
    let refused = with(&config, &busy, &["recover", "--from-remote", "nas"]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).contains("is not empty"),
        "{}",
        text(&refused)
    );

    let new = scratch.path().join("new-data");
    let out = with(&config, &new, &["recover", "--from-remote", "nas"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains(&format!("positions 1..={shipped}")), "{said}");
    let after = events(&config, &new);
    assert_eq!(after[..], before[..shipped as usize]);
    let (old, recovered) = (
        EventStore::open_read_only(&old_log).unwrap(),
        EventStore::open_read_only(&new.join("events.redb")).unwrap(),
    );
    for p in 1..=shipped {
        assert_eq!(
            old.hash_at_blocking(p).unwrap(),
            recovered.hash_at_blocking(p).unwrap(),
            "position {p}"
        );
    }
    assert_eq!(
        recovered.verify_blocking().unwrap().head,
        old.hash_at_blocking(shipped).unwrap().unwrap()
    );
    drop((old, recovered));
    stdout_ok(with(&config, &new, &["log", "verify"]));

    // Every backup restores byte-identical from the recovered dir.
    for (id, want) in &restores {
        let target = scratch.path().join(format!("restored-{id}"));
        let out = with(
            &config,
            &new,
            &["restore", id, "--to", target.to_str().unwrap()],
        );
        assert!(out.status.success(), "{id}: {}", text(&out));
        assert_eq!(&snapshot(&restored_root(&target, &src)), want, "{id}");
    }

    // A local archive lost: restore reads it in place from the remote (the incremental needs
    // its full, which is the one gone); nothing is written back.
    let (full, inc) = (&restores[0].0, &restores[1]);
    let full_file = new.join(format!("backups/{full}.bka"));
    fs::remove_file(&full_file).unwrap();
    let target = scratch.path().join("restored-again");
    let out = with(
        &config,
        &new,
        &["restore", &inc.0, "--to", target.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(snapshot(&restored_root(&target, &src)), inc.1);
    assert!(!full_file.exists(), "read in place, not fetched back");

    // The remote copies verify in place, every one or a sample.
    let said = stdout_ok(with(&config, &new, &["verify", "--remote", "nas"]));
    assert!(said.contains("remote nas: 3 backup(s) verified"), "{said}");
    assert!(said.contains("ranged GET(s)"), "{said}");
    let said = stdout_ok(with(
        &config,
        &new,
        &["verify", "--remote", "nas", "--sample", "5%"],
    ));
    assert!(said.contains("remote nas: 1 backup(s) verified"), "{said}");

    // serve starts on it and ships on from where the remote ends (no overlap, no rewrite).
    let server = Served::with_config_file(&config, &new);
    // The API checks a remote copy in place too (not recorded: the local copy is not read).
    let (code, body) = server.send("POST", &format!("/backups/{full}/verify?remote=nas"), None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["ok"], true, "{body}");
    assert!(body["ranged_gets"].as_u64().unwrap() >= 1, "{body}");
    let (code, body) = server.send("POST", &format!("/backups/{full}/verify?remote=nope"), None);
    assert_eq!(
        (code, body["error"]["field"].as_str()),
        (404, Some("remote")),
        "{body}"
    );
    let run = server.run("incremental_backup");
    assert_eq!(run["status"], "succeeded", "{run}");
    server.log_line("log shipped to nas", 60);
    drop(server.stop());
    let more = segments(&objects());
    assert_eq!(more[..segs.len()], segs[..]);
    assert_eq!(more[segs.len()].1, shipped + 1, "{more:?}");
    Lost {
        full: full.clone(),
        scratch,
        _holder: holder,
        config,
        new,
        segs,
    }
}

#[test]
fn a_lost_machine_is_rebuilt_from_a_dir_remote() {
    let bucket = tempfile::tempdir().unwrap();
    let bucket = bucket.path();
    // one bucket, a prefix per host
    let remote_root = bucket.join("host-a");
    let toml = format!(
        "[[remotes]]\nname = \"nas\"\nkind = \"dir\"\npath = {bucket:?}\nprefix = \"host-a/\"\n"
    );
    let lost = lost_machine(&toml, &|| files_under(&remote_root));
    let (scratch, segs, full) = (lost.scratch.path(), &lost.segs, &lost.full);

    // A flipped byte in a middle segment: refused, naming it; no log is left behind.
    let tampered = bucket.join("host-t");
    fs::create_dir_all(&tampered).unwrap();
    copy_tree(&remote_root, &tampered);
    let victim = &segs[1].0;
    let path = tampered.join(victim);
    let mut bytes = fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    fs::write(&path, bytes).unwrap();
    let tconfig = scratch.join("tampered.toml");
    fs::write(&tconfig, toml.replace("host-a/", "host-t/")).unwrap();
    let into = scratch.join("from-tampered");
    let out = with(&tconfig, &into, &["recover", "--from-remote", "nas"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(victim.as_str()), "{}", text(&out));
    assert!(!into.join("events.redb").exists());

    // A segment missing in the middle: refused, naming the gap.
    fs::remove_file(&path).unwrap();
    let out = with(&tconfig, &into, &["recover", "--from-remote", "nas"]);
    assert!(!out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains(&format!("{}..={} are missing", segs[1].1, segs[1].2)),
        "{said}"
    );
    assert!(said.contains(segs[2].0.as_str()), "{said}");
    assert!(!into.join("events.redb").exists());

    // A damaged remote copy fails verify --remote, naming the backup.
    let remote_full = remote_root.join(format!("backups/{full}.bka"));
    let mut bytes = fs::read(&remote_full).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    fs::write(&remote_full, bytes).unwrap();
    let out = with(
        &lost.config,
        &lost.new,
        &["verify", full, "--remote", "nas"],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("backup {full}")) && text(&out).contains("damaged"),
        "{}",
        text(&out)
    );
}

/// The same against a real S3 server: segments with If-None-Match, ranged GETs for verify.
#[test]
fn a_lost_machine_is_rebuilt_from_s3() {
    // The same credentials every S3 test here sets (the server's environment carries them).
    std::env::set_var("BKPD_TEST_S3_KEY", ACCESS);
    std::env::set_var("BKPD_TEST_S3_SECRET", SECRET);
    let s3 = S3::start();
    let toml = format!(
        "[[remotes]]\nname = \"nas\"\nkind = \"s3\"\nendpoint = {:?}\nbucket = {BUCKET:?}\n\
         prefix = \"host-s/\"\naccess_key_id_env = \"BKPD_TEST_S3_KEY\"\n\
         secret_access_key_env = \"BKPD_TEST_S3_SECRET\"\n",
        s3.endpoint()
    );
    let lost = lost_machine(&toml, &|| {
        s3.objects()
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix("host-s/").map(|k| (k.to_string(), v)))
            .collect()
    });
    assert!(lost.new.join("events.redb").exists());
}

/// An encrypted data dir: the key files go to the remote only with `key export`, come back with
/// `recover --from-remote` (or `key import`), and the passphrase opens the recovered backups.
#[test]
fn a_sealed_machine_is_rebuilt_once_its_keys_were_exported() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    generate_tree(&src, 20, 5);
    let bucket = scratch.path().join("bucket");
    // the mount point exists (a dir remote whose path does not is unreachable: not mounted)
    fs::create_dir_all(&bucket).unwrap();
    let pass = scratch.path().join("pass");
    fs::write(&pass, "correct horse battery staple 8tq\n").unwrap();
    let server = Served::with_config(&format!(
        "[[sources.files]]\npath = {src:?}\n\n[encryption]\npassphrase_file = {pass:?}\n\n\
         [[remotes]]\nname = \"nas\"\nkind = \"dir\"\npath = {bucket:?}\nprefix = \"h/\"\n"
    ));
    let run = server.run("daily_full_backup");
    assert_eq!(run["status"], "succeeded", "{run}");
    let id = run["backup_id"].as_str().unwrap().to_string();
    server.log_line("log shipped to nas", 60);
    let remote_root = bucket.join("h");
    let data = server.data_dir().to_path_buf();
    let archive = format!("backups/{id}.bka");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while fs::read(remote_root.join(&archive)).ok() != Some(fs::read(data.join(&archive)).unwrap())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{archive} not replicated"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let holder = server.stop();
    let config = holder.path().join("backupd.toml");
    assert!(
        !remote_root.join("keys").exists(),
        "keys are not shipped unless asked"
    );
    let said = stdout_ok(with(&config, &data, &["key", "export", "--remote", "nas"]));
    let keys: Vec<String> = fs::read_dir(data.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        said.contains(&format!("exported keys/{}", keys[0])),
        "{said}"
    );
    assert_eq!(
        fs::read(remote_root.join("keys").join(&keys[0])).unwrap(),
        fs::read(data.join("keys").join(&keys[0])).unwrap()
    );
    // exporting again is harmless (the same file is there)
    stdout_ok(with(&config, &data, &["key", "export", "--remote", "nas"]));
    let want = snapshot(&src);
    fs::remove_dir_all(&data).unwrap();

    let new = scratch.path().join("new");
    let said = stdout_ok(with(&config, &new, &["recover", "--from-remote", "nas"]));
    assert!(
        said.contains(&format!("key file: keys/{}", keys[0])),
        "{said}"
    );
    let target = scratch.path().join("restored");
    let out = with(
        &config,
        &new,
        &["restore", &id, "--to", target.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(snapshot(&restored_root(&target, &src)), want);

    // key import alone brings the same file into another data dir
    let other = scratch.path().join("other");
    let said = stdout_ok(with(&config, &other, &["key", "import", "--remote", "nas"]));
    assert!(
        said.contains(&format!("imported keys/{}", keys[0])),
        "{said}"
    );
    assert_eq!(
        fs::read(other.join("keys").join(&keys[0])).unwrap(),
        fs::read(new.join("keys").join(&keys[0])).unwrap()
    );
    drop(holder);
}

/// Figures (ignored: run by hand): 100 000 events shipped to a dir remote and
/// recovered from it; prints segments, bytes and the time of each step (debug build, 2 shared
/// cores: 10 segments, 10.1 MB, shipped in 1.2 s, recovered in 2.9 s).
#[test]
#[ignore]
fn figures_ship_and_recover_a_long_log() {
    use backupd::events::{Event, Ts};
    use backupd::remote::ObjectStore;
    use backupd::store::{Expected, NewEvent};
    let scratch = tempfile::tempdir().unwrap();
    let store = EventStore::open(&scratch.path().join("events.redb")).unwrap();
    for chunk in 0..100u64 {
        let events = (0..1000u64)
            .map(|i| NewEvent {
                recorded_at: Ts::from_unix_nanos((chunk * 1000 + i) as i64),
                actor: "system".into(),
                correlation: Some(format!("run-{chunk}")),
                payload: Event::JobPaused {
                    job_id: format!("job-{i}"),
                },
            })
            .collect();
        store.append_blocking(events, Expected::Any, None).unwrap();
    }
    let remote =
        backupd::remote::dir::DirStore::new("nas", &scratch.path().join("bucket"), "h/", None);
    let t = std::time::Instant::now();
    let mut cursor = None;
    let shipped = backupd::remote::logship::ship(&store, &remote, &mut cursor).unwrap();
    let ship = t.elapsed();
    let bytes: u64 = shipped.iter().map(|s| s.bytes).sum();
    let t = std::time::Instant::now();
    let done = backupd::remote::recover::recover(&remote, &scratch.path().join("new")).unwrap();
    let recover = t.elapsed();
    assert_eq!(done.last, 100_000);
    assert_eq!(done.head, store.verify_blocking().unwrap().head);
    assert!(remote.list("log/").unwrap().len() == shipped.len());
    println!(
        "100000 events: {} segments, {bytes} bytes; shipped in {ship:?}, recovered in {recover:?}",
        shipped.len()
    );
}
