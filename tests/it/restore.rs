//! Restore as operators use it, through the real binary: a tree like `/etc` (absolute, dangling
//! and escaping symlinks) backs up and comes back identical, over the API and offline.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::engine::restored_root;
use crate::support::{bin, Served};

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
    let offline = scratch.path().join("cli-restore");
    let out = bin()
        .args(["restore", &id, "--to"])
        .arg(&offline)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    identical(&tree, &restored_root(&offline, &tree));
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written outside"
    );
    drop(holder);
}
