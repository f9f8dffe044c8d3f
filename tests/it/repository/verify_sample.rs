//! The weekly sampled verify (`weekly_verify`, a preset): it reads a rotating 5 % of the frames
//! the live snapshots need and the same share of the archive backups, says what it read, and
//! fails naming the pack when what it reads is damaged.

use std::fs;

use super::*;
use crate::support::Served;

#[test]
fn the_weekly_sampled_verify_reads_a_share_and_fails_naming_damage() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    data_tree(&src, 40, 21);
    let server = Served::with_config(&format!(
        "[repository]\nenabled = true\n[[sources.files]]\npath = {src:?}\n"
    ));
    let jobs = server.get("/scheduler/jobs/weekly_verify");
    assert_eq!(jobs["action"], "verify_sample", "{jobs}");

    // Nothing stored yet: the run says so rather than claiming a check.
    let empty = server.run("weekly_verify");
    assert_eq!(empty["status"], "succeeded", "{empty}");
    assert_eq!(empty["note"], "nothing to verify: no backup holds data yet");

    backup(&server, "daily_full_backup");
    let weekly = server.run("weekly_archive");
    assert_eq!(weekly["status"], "succeeded", "{weekly}");
    let archive = server.get("/backups?kind=archive")["backups"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let run = server.run("weekly_verify");
    assert_eq!(run["status"], "succeeded", "{run}");
    let note = run["note"].as_str().unwrap();
    // 40 files of one or more chunks, two of 5 MB: more than 40 frames, of which 5 % is read.
    let (read, needed) = note
        .strip_prefix("repository: ")
        .and_then(|r| r.split_once(" frame(s)"))
        .map(|(counts, _)| counts.split_once(" of ").unwrap())
        .map(|(a, b)| (a.parse::<u64>().unwrap(), b.parse::<u64>().unwrap()))
        .unwrap_or_else(|| panic!("{note}"));
    assert!(needed > 40, "{note}");
    assert_eq!(read, (needed as f64 * 0.05).ceil() as u64, "{note}");
    assert!(note.contains("(5.0% sample, round "), "{note}");
    assert!(
        note.ends_with(&format!("archives: 1 of 1 verified whole ({archive})")),
        "{note}"
    );
    let verified = server.get(&format!("/backups/{}", archive.replace('@', "%40")));
    assert!(!verified["last_verified"].is_null(), "{verified}");

    // Cut the one pack short: whatever frames the sample picks, its index is gone.
    let data = server.data_dir().to_path_buf();
    let all = packs(&data.join("repository/packs"));
    assert_eq!(all.len(), 1, "{all:?}");
    let len = fs::metadata(&all[0]).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(&all[0]).unwrap();
    f.set_len(len / 2).unwrap();
    let pack = all[0].file_stem().unwrap().to_str().unwrap().to_string();
    let bad = server.run("weekly_verify");
    assert_eq!(bad["status"], "failed", "{bad}");
    assert_eq!(bad["error_kind"], "integrity", "{bad}");
    assert!(
        bad["error"].as_str().unwrap().contains(&pack),
        "names the pack {pack}: {bad}"
    );
}
