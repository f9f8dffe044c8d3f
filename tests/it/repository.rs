//! The deduplicated repository through the real binary (`[repository] enabled = true`): two
//! jobs over several sources (an /etc-like tree with absolute and dangling links among them),
//! daily fulls that store only what changed, a file shared by two jobs or renamed stored once,
//! every backup restoring byte-identical, an incremental restoring alone, and sealed packs
//! holding no plaintext.

mod dedup;
mod paths;
mod sealed;
mod verify_sample;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::support::{Rng, Served};
use backupd::engine::sources::root_name;

/// Incompressible bytes.
pub fn noise(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len.div_ceil(8))
        .flat_map(|_| rng.next().to_le_bytes())
        .collect();
    v.truncate(len);
    v
}

/// `n` files of 40–400 KB of random bytes in a few directories, plus two of 5 MB (several
/// chunks each) and some text.
pub fn data_tree(root: &Path, n: usize, seed: u64) {
    let mut rng = Rng(seed);
    for d in ["a", "a/b", "c"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    for i in 0..n {
        let dir = ["a", "a/b", "c"][i % 3];
        let len = 40_000 + rng.below(360_000) as usize;
        fs::write(root.join(format!("{dir}/f{i:03}")), noise(&mut rng, len)).unwrap();
    }
    for i in 0..2 {
        fs::write(root.join(format!("big{i}")), noise(&mut rng, 5 << 20)).unwrap();
    }
    fs::write(root.join("c/notes.txt"), "some text\n".repeat(5000)).unwrap();
    fs::write(root.join("c/empty"), b"").unwrap();
}

/// A small tree like /etc: nested config files with modes, absolute and dangling links.
pub fn etc_like(root: &Path) {
    fs::create_dir_all(root.join("ssh/sshd_config.d")).unwrap();
    fs::create_dir_all(root.join("alternatives")).unwrap();
    fs::write(root.join("hostname"), b"box\n").unwrap();
    fs::write(root.join("ssh/sshd_config"), "Port 22\n".repeat(50)).unwrap();
    fs::write(root.join("ssh/sshd_config.d/empty.conf"), b"").unwrap();
    fs::write(root.join("shadow"), b"root:*:1:0:99999:7:::\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(root.join("shadow"), fs::Permissions::from_mode(0o640)).unwrap();
    symlink("/usr/bin/vim.basic", root.join("alternatives/editor")).unwrap();
    symlink("/nonexistent/dangling", root.join("alternatives/gone")).unwrap();
    symlink("no-such-file", root.join("relative-dangling")).unwrap();
    symlink("ssh/sshd_config", root.join("sshd")).unwrap();
}

pub fn identical(a: &Path, b: &Path) {
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

/// Where a source's tree lands under a restore target.
pub fn landed(target: &Path, group: &str, source: &Path) -> PathBuf {
    target.join(root_name(group, &fs::canonicalize(source).unwrap()).unwrap())
}

/// Bytes of every file under `dir` (0 if it does not exist).
pub fn bytes_under(dir: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    rd.map(|e| e.unwrap())
        .map(|e| {
            let m = fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                bytes_under(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

/// Every `.pack` file under `dir`.
pub fn packs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(dir) else {
        return out;
    };
    for e in rd.map(|e| e.unwrap()) {
        if e.file_type().unwrap().is_dir() {
            out.extend(packs(&e.path()));
        } else if e.path().extension().is_some_and(|x| x == "pack") {
            out.push(e.path());
        }
    }
    out
}

/// Runs `job`, expects success, returns the backup id.
pub fn backup(server: &Served, job: &str) -> String {
    let run = server.run(job);
    assert_eq!(run["status"], "succeeded", "{run}");
    run["backup_id"].as_str().unwrap().to_string()
}

/// Restores backup `id` over the API into a fresh directory under `scratch`.
pub fn restore(server: &Served, id: &str, scratch: &Path) -> PathBuf {
    let target = scratch.join(format!("restore-{}", id.replace(['@', ':'], "_")));
    let (code, sum) = server.send(
        "POST",
        &format!("/backups/{}/restore", id.replace('@', "%40")),
        Some(json!({ "target": target })),
    );
    assert_eq!(code, 200, "{sum}");
    target
}

pub fn verify(server: &Served, id: &str) {
    let (code, v) = server.send(
        "POST",
        &format!("/backups/{}/verify", id.replace('@', "%40")),
        None,
    );
    assert_eq!((code, &v["ok"]), (200, &json!(true)), "{v}");
}
