//! Restore as operators use it, through the real binary: a tree like `/etc` (absolute, dangling
//! and escaping symlinks) backs up and comes back identical, over the API and offline.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::engine::restored_root;
use crate::support::{bin, offline, stdout_ok, Served};

/// A copy of the machine's `/etc` (whatever links it has) plus links of every awkward kind.
fn etc_like_tree(root: &Path, outside: &Path) {
    let status = Command::new("cp")
        .args(["-a", "--no-preserve=ownership", "/etc"])
        .arg(root)
        .status()
        .unwrap();
    assert!(status.success(), "cp -a /etc");
    let tree = root.join("etc");
    // Sockets and FIFOs are not what this test is about: drop any the copy holds.
    let specials = Command::new("find")
        .arg(&tree)
        .args([
            "(", "-type", "s", "-o", "-type", "p", "-o", "-type", "b", "-o", "-type", "c", ")",
            "-delete",
        ])
        .status()
        .unwrap();
    assert!(specials.success());
    let links = tree.join("zz-links");
    fs::create_dir_all(links.join("sub")).unwrap();
    fs::write(links.join("sub/real"), b"real").unwrap();
    symlink("/etc/passwd", links.join("absolute")).unwrap();
    symlink("/nonexistent/dangling", links.join("absolute-dangling")).unwrap();
    symlink("no-such-file", links.join("relative-dangling")).unwrap();
    symlink("../../../..", links.join("climbs-out")).unwrap();
    symlink(outside, links.join("outside-dir")).unwrap();
    symlink("sub", links.join("to-dir")).unwrap();
    symlink("to-dir/real", links.join("through-a-link")).unwrap();
    symlink("self-loop", links.join("self-loop")).unwrap();
}

fn count_links(root: &Path) -> (usize, usize) {
    let out = Command::new("find")
        .arg(root)
        .args(["-type", "l", "-lname", "/*"])
        .output()
        .unwrap();
    let absolute = String::from_utf8_lossy(&out.stdout).lines().count();
    let out = Command::new("find")
        .arg(root)
        .args(["-xtype", "l"])
        .output()
        .unwrap();
    let dangling = String::from_utf8_lossy(&out.stdout).lines().count();
    (absolute, dangling)
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
        "{} and {} differ:\n{}{}",
        a.display(),
        b.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_etc_like_tree_with_absolute_and_dangling_links_restores_identical() {
    let scratch = tempfile::tempdir().unwrap();
    let outside = scratch.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let src = scratch.path().join("src");
    fs::create_dir(&src).unwrap();
    etc_like_tree(&src, &outside);
    let tree = src.join("etc");
    let (absolute, dangling) = count_links(&tree);
    assert!(
        absolute >= 3 && dangling >= 3,
        "{absolute} absolute, {dangling} dangling links"
    );

    let server = Served::with_config(&format!("[[sources.files]]\npath = {:?}\n", tree));
    let run = server.run("daily_full_backup");
    assert_eq!(run["status"], "succeeded", "{run}");
    let id = run["backup_id"].as_str().unwrap().to_string();
    let (code, verify) = server.send("POST", &format!("/backups/{id}/verify"), None);
    assert_eq!((code, &verify["ok"]), (200, &json!(true)), "{verify}");

    // Over the API.
    let target = scratch.path().join("api-restore");
    let (code, sum) = server.send(
        "POST",
        &format!("/backups/{id}/restore"),
        Some(json!({ "target": target })),
    );
    assert_eq!(code, 200, "{sum}");
    identical(&tree, &restored_root(&target, &tree));
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written outside"
    );

    // Offline, on the stopped service's data dir.
    let data = server.data_dir().to_path_buf();
    let holder = server.stop();
    let offline_target = scratch.path().join("cli-restore");
    let to = offline_target.to_str().unwrap();
    stdout_ok(offline(["restore", &id, "--to", to], &data));
    identical(&tree, &restored_root(&offline_target, &tree));
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written outside"
    );
    drop(holder);
}

/// Files of pseudo-random (incompressible) bytes, so the archive has several 4 MiB frames, and
/// small files between them.
fn tree_over_several_frames(root: &Path) {
    let mut rng = crate::support::Rng(42);
    fs::create_dir_all(root.join("big")).unwrap();
    fs::create_dir_all(root.join("small")).unwrap();
    for i in 0..8 {
        let bytes: Vec<u8> = (0..(1_500_000 / 8))
            .flat_map(|_| rng.next().to_le_bytes())
            .collect();
        fs::write(root.join(format!("big/b{i}")), bytes).unwrap();
        fs::write(root.join(format!("small/s{i}")), format!("small {i}\n")).unwrap();
    }
}

/// The archive paths of the files with bytes in frame `frame` of the archive at `path`: what a
/// damaged frame there loses.
fn files_in_frame(path: &Path, frame: usize) -> Vec<String> {
    use backupd::archive::{ArchiveReader, Location};
    let r = ArchiveReader::open(fs::File::open(path).unwrap()).unwrap();
    let frames = &r.index().frames;
    let start: u64 = frames[..frame].iter().map(|f| u64::from(f.raw_len)).sum();
    let end = start + u64::from(frames[frame].raw_len);
    r.index()
        .entries
        .iter()
        .filter(|e| match e.location {
            Location::Here { offset } => e.size > 0 && offset < end && offset + e.size > start,
            _ => false,
        })
        .map(|e| e.path.clone())
        .collect()
}

/// Every file of `src` is in `restored` with the same bytes, except the `lost` ones (paths
/// relative to `src`), which are not there at all, not even half-written under another name.
fn same_except(src: &Path, restored: &Path, lost: &[String]) {
    for entry in ["big", "small"] {
        for f in fs::read_dir(src.join(entry)).unwrap() {
            let rel = format!("{entry}/{}", f.unwrap().file_name().to_string_lossy());
            let there = restored.join(&rel);
            if lost.contains(&rel) {
                assert!(!there.exists(), "{rel} was lost but exists");
            } else {
                assert!(
                    fs::read(&there).ok() == Some(fs::read(src.join(&rel)).unwrap()),
                    "{rel} differs or is missing"
                );
            }
        }
        let leftovers: Vec<_> = fs::read_dir(restored.join(entry))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".bkpd-restore-"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}

#[test]
fn a_restore_over_a_damaged_frame_saves_the_rest_with_skip_damaged_and_fails_without() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    tree_over_several_frames(&src);
    let server = Served::with_config(&format!(
        "[[sources.files]]\npath = {src:?}\n[compression]\ndefault = \"none\"\n"
    ));
    let run = server.run("daily_full_backup");
    assert_eq!(run["status"], "succeeded", "{run}");
    let id = run["backup_id"].as_str().unwrap().to_string();
    let location = server.get(&format!("/backups/{id}"))["location"]
        .as_str()
        .unwrap()
        .to_string();
    let archive = server.data_dir().join(location);

    crate::verify::flip_in_frame(&archive, 1);
    let mut lost = files_in_frame(&archive, 1);
    lost.sort();
    let root = fs::canonicalize(&src).unwrap();
    let root_in_archive = restored_root(Path::new(""), &root)
        .to_string_lossy()
        .into_owned();
    let lost_rel: Vec<String> = lost
        .iter()
        .map(|p| {
            p.strip_prefix(&format!("{root_in_archive}/"))
                .unwrap()
                .to_string()
        })
        .collect();
    // A frame in the middle of big files: at least one spans it into the next frame.
    assert!(!lost.is_empty() && lost.len() < 8, "{lost:?}");

    // The API, strict: a 500 naming the frame and the entry it cut short; nothing partial.
    let strict = scratch.path().join("api-strict");
    let (code, body) = server.send(
        "POST",
        &format!("/backups/{id}/restore"),
        Some(json!({ "target": strict })),
    );
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (500, Some("backup_damaged")),
        "{body}"
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "entry {:?} cannot be restored: frame 1 at offset",
            lost[0]
        )) && message.ends_with("checksum mismatch"),
        "{body}"
    );
    assert!(!strict.join(&lost[0]).exists(), "{body}");
    let parent = strict.join(&lost[0]);
    let parent = parent.parent().unwrap();
    if parent.exists() {
        let temps = fs::read_dir(parent)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".bkpd-restore-")
            })
            .count();
        assert_eq!(temps, 0, "a partial file was left");
    }

    // The API with skip_damaged: 200, complete false, the lost files named with why.
    let api = scratch.path().join("api-skip");
    let (code, sum) = server.send(
        "POST",
        &format!("/backups/{id}/restore"),
        Some(json!({ "target": api, "skip_damaged": true })),
    );
    assert_eq!((code, &sum["complete"]), (200, &json!(false)), "{sum}");
    let named: Vec<&str> = sum["damaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert!(
                d["reason"]
                    .as_str()
                    .unwrap()
                    .starts_with("frame 1 at offset"),
                "{d}"
            );
            d["path"].as_str().unwrap()
        })
        .collect();
    assert_eq!(named, lost, "{sum}");
    same_except(&src, &restored_root(&api, &src), &lost_rel);

    // Offline, on the stopped service's data dir.
    let data = server.data_dir().to_path_buf();
    let holder = server.stop();
    let restore = |to: &Path, skip: bool| {
        let mut cmd = bin();
        cmd.args(["restore", &id, "--to"])
            .arg(to)
            .arg("--data-dir")
            .arg(&data);
        if skip {
            cmd.arg("--skip-damaged");
        }
        cmd.output().unwrap()
    };
    let cli_strict = scratch.path().join("cli-strict");
    let out = restore(&cli_strict, false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "entry {:?} cannot be restored: frame 1 at offset",
            lost[0]
        )),
        "{stderr}"
    );
    assert!(!cli_strict.join(&lost[0]).exists());

    let cli = scratch.path().join("cli-skip");
    let out = restore(&cli, true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    for p in &lost {
        assert!(
            stderr.contains(&format!("damaged, not restored: {p}: frame 1 at offset")),
            "{p}: {stderr}"
        );
    }
    assert!(
        stderr.contains(&format!(
            "restore incomplete: {} damaged file(s) not restored",
            lost.len()
        )),
        "{stderr}"
    );
    same_except(&src, &restored_root(&cli, &src), &lost_rel);

    // The offline restore refuses what the API refuses, with the same words.
    let in_data = data.join("restore");
    let cases: [(&Path, &str, &str); 4] = [
        (
            Path::new("relative/dir"),
            "",
            "target must be an absolute path",
        ),
        (
            Path::new("/srv/./x"),
            "",
            "target must be an absolute path without `.` or `..`, not \"/srv/./x\"",
        ),
        (
            &in_data,
            "",
            "is inside the data directory; restore somewhere else",
        ),
        (
            &cli,
            "files/./a",
            "\"files/./a\" is not an archive path ('.' component)",
        ),
    ];
    for (to, path, says) in cases {
        let mut cmd = bin();
        cmd.args(["restore", &id, "--force", "--to"])
            .arg(to)
            .arg("--data-dir")
            .arg(&data);
        if !path.is_empty() {
            cmd.args(["--path", path]);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{to:?}: {stderr}");
        assert!(stderr.contains(says), "{to:?}: {stderr}");
    }
    assert!(!in_data.exists());
    drop(holder);
}

/// A sparse file keeps its holes through backup and restore: 2 GiB of which a few bytes are
/// data must not come back fully allocated.
#[test]
fn a_sparse_file_comes_back_sparse() {
    use std::io::{Seek, SeekFrom, Write};
    use std::os::unix::fs::MetadataExt;
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("sparse-src");
    fs::create_dir(&src).unwrap();
    let size: u64 = 2 << 30;
    let mut f = fs::File::create(src.join("disk.img")).unwrap();
    for at in [0, size / 3, size - 5] {
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(b"data!").unwrap();
    }
    drop(f);
    assert!(fs::metadata(src.join("disk.img")).unwrap().blocks() * 512 < 1 << 20);

    let server = Served::with_config(&format!("[[sources.files]]\npath = {src:?}\n"));
    let run = server.run("daily_full_backup");
    assert_eq!(run["status"], "succeeded", "{run}");
    let id = run["backup_id"].as_str().unwrap();
    let target = scratch.path().join("restored");
    let (code, sum) = server.send(
        "POST",
        &format!("/backups/{id}/restore"),
        Some(json!({ "target": target })),
    );
    assert_eq!(code, 200, "{sum}");
    let back = restored_root(&target, &src).join("disk.img");
    let m = fs::metadata(&back).unwrap();
    assert_eq!(m.len(), size);
    assert!(
        m.blocks() * 512 < 1 << 20,
        "2 GiB with 15 bytes of data took {} bytes on disk",
        m.blocks() * 512
    );
    identical(&src, &restored_root(&target, &src));
}
