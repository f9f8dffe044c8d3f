//! Honest outcomes, through the real binary: a file truncated while the backup reads it is read
//! again and named in the run, and a FIFO is named as skipped with why.

use std::fs;
use std::time::{Duration, Instant};

use crate::support::Served;

#[test]
fn a_file_truncated_mid_read_is_read_again_and_named_with_skipped_entries() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    fs::create_dir_all(&src).unwrap();
    // Sparse: cheap to make, and slow enough to compress at xz -9 that the read is still going
    // when the test sees the first progress.
    let big = src.join("big");
    let size: u64 = 512 << 20;
    fs::File::create(&big).unwrap().set_len(size).unwrap();
    fs::write(src.join("small"), "small").unwrap();
    let fifo = src.join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());

    let server = Served::with_config(&format!(
        "[[sources.files]]\npath = {src:?}\n[compression]\ndefault = \"xz\"\nlevel = 9\n"
    ));
    let (code, run) = server.send("POST", "/scheduler/jobs/daily_full_backup/run", None);
    assert_eq!(code, 202, "{run}");
    let run_id = run["run_id"].as_str().unwrap().to_string();
    let path = format!("/runs/{}", run_id.replace('@', "%40"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = server.get(&path);
        assert_eq!(
            r["status"], "running",
            "the read finished before the test could cut it: {r}"
        );
        if r["progress"]["bytes_done"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no progress: {r}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let cut: u64 = 1 << 20;
    fs::OpenOptions::new()
        .write(true)
        .open(&big)
        .unwrap()
        .set_len(cut)
        .unwrap();

    let done = server.finished(&run_id);
    assert_eq!(done["status"], "succeeded", "{done}");
    let note = done["note"].as_str().unwrap_or_default();
    let real = fs::canonicalize(&src).unwrap();
    assert!(
        note.contains(&format!(
            "{}: changed while read (size {size} when opened, ",
            real.join("big").display()
        )) && note.contains(&format!("size {cut} at the end); read again")),
        "{done}"
    );
    assert!(
        note.contains(&format!("{}: skipped: a FIFO", real.join("pipe").display())),
        "{done}"
    );
    assert!(note.contains("2 warning(s)"), "{done}");

    // What was stored is the file as read the second time, whole.
    let id = done["backup_id"].as_str().unwrap();
    let target = scratch.path().join("restore");
    let (code, sum) = server.send(
        "POST",
        &format!("/backups/{id}/restore"),
        Some(serde_json::json!({ "target": target })),
    );
    assert_eq!(code, 200, "{sum}");
    let restored = crate::engine::restored_root(&target, &src).join("big");
    assert_eq!(fs::metadata(&restored).unwrap().len(), cut);
}
