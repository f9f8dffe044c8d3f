//! Daily fulls, a second job, renames and an incremental, through the real binary.

use std::fs;

use serde_json::json;

use super::*;
use crate::support::{Rng, Served};

#[test]
fn daily_fulls_store_only_what_changed_and_every_backup_restores_alone() {
    let scratch = tempfile::tempdir().unwrap();
    let s = scratch.path();
    let data = s.join("data");
    let etc = s.join("etc");
    let shared = s.join("shared");
    data_tree(&data, 100, 1);
    etc_like(&etc);
    fs::create_dir_all(&shared).unwrap();
    // The same 3 MB in the second job's source as in the first's.
    fs::copy(data.join("big0"), shared.join("copy-of-big0")).unwrap();
    fs::write(shared.join("own"), noise(&mut Rng(9), 300_000)).unwrap();

    let server = Served::with_config(&format!(
        "[repository]\nenabled = true\n\
         [[sources.files]]\nname = \"data\"\npath = {data:?}\n\
         [[sources.files]]\nname = \"shared\"\npath = {shared:?}\n\
         [[sources.config]]\nname = \"etc\"\npath = {etc:?}\n"
    ));
    let packs_dir = server.data_dir().join("repository/packs");
    // The preset daily full backs up the data and etc sources only.
    let (code, job) = server.send(
        "PUT",
        "/scheduler/jobs/daily_full_backup",
        Some(json!({"backup_config": {"type": "full", "mode": "full",
            "options": {"sources": ["data", "etc"]}}})),
    );
    assert_eq!(code, 200, "{job}");

    let day1 = backup(&server, "daily_full_backup");
    let logical = bytes_under(&data) + bytes_under(&etc);
    let after1 = bytes_under(&packs_dir);
    assert!(
        after1 < logical + (1 << 20),
        "{after1} stored for {logical} of random data"
    );
    let backups = server.get("/backups");
    let rec = &backups["backups"][0];
    assert_eq!(rec["id"], day1, "{backups}");

    // Day 2: 1 % of the files changed (one of 100 rewritten), one renamed.
    let mut rng = Rng(77);
    let changed = noise(&mut rng, 250_000);
    fs::write(data.join("a/f000"), &changed).unwrap();
    fs::rename(data.join("c/f002"), data.join("c/f002-renamed")).unwrap();
    let day2 = backup(&server, "daily_full_backup");
    let after2 = bytes_under(&packs_dir);
    let grew = after2 - after1;
    assert!(
        (changed.len() as u64..changed.len() as u64 + (64 << 10)).contains(&grew),
        "the packs grew by {grew} bytes for {} changed",
        changed.len()
    );

    // A second job over the shared source: its copy of big0 is stored already.
    let (code, other) = server.send(
        "POST",
        "/scheduler/jobs",
        Some(json!({"job_id": "shared_full", "name": "Shared",
            "trigger_type": "interval", "trigger_config": {"hours": 24},
            "backup_config": {"type": "files", "mode": "full",
                "options": {"sources": ["shared"]}}})),
    );
    assert_eq!(code, 201, "{other}");
    let shared_id = backup(&server, "shared_full");
    let grew = bytes_under(&packs_dir) - after2;
    assert!(
        (300_000..300_000 + (64 << 10)).contains(&grew),
        "only `own` is new: grew {grew}"
    );

    // An incremental on day 2: nothing changed, nothing is stored; it has no parent.
    fs::write(data.join("c/f005"), noise(&mut rng, 1000)).unwrap();
    let before = bytes_under(&packs_dir);
    let (code, job) = server.send(
        "PUT",
        "/scheduler/jobs/incremental_backup",
        Some(
            json!({"backup_config": {"type": "full", "mode": "incremental",
            "options": {"sources": ["data", "etc"]}}}),
        ),
    );
    assert_eq!(code, 200, "{job}");
    let inc = server.run("incremental_backup");
    assert_eq!(inc["status"], "succeeded", "{inc}");
    let note = inc["note"].as_str().unwrap_or_default();
    assert!(note.contains("1 read"), "{note}");
    let inc_id = inc["backup_id"].as_str().unwrap().to_string();
    assert!(bytes_under(&packs_dir) - before < 64 << 10);
    let detail = server.get(&format!("/backups/{}", inc_id.replace('@', "%40")));
    assert_eq!(detail["kind"], "incremental", "{detail}");
    assert!(detail["parent"].is_null(), "{detail}");

    // Every backup verifies and restores byte-identical; the incremental alone, with the
    // other snapshots' files gone.
    for id in [&day2, &shared_id, &inc_id] {
        verify(&server, id);
    }
    let t = restore(&server, &shared_id, s);
    identical(&shared, &landed(&t, "files", &shared));
    let day1_target = restore(&server, &day1, s);
    assert_eq!(
        fs::read(landed(&day1_target, "files", &data).join("c/f002")).unwrap(),
        fs::read(data.join("c/f002-renamed")).unwrap()
    );
    let snaps = server.data_dir().join("repository/snapshots");
    for e in fs::read_dir(&snaps).unwrap() {
        let p = e.unwrap().path();
        if !p.to_string_lossy().contains(&inc_id) {
            fs::remove_file(p).unwrap();
        }
    }
    let t = restore(&server, &inc_id, s);
    identical(&data, &landed(&t, "files", &data));
    identical(&etc, &landed(&t, "config", &etc));
}
