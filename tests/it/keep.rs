//! Per-job `keep` rules over real HTTP: two jobs created with seed-style bodies and keep rules,
//! backups on the manual clock by the real engine, the preview naming each kept backup's rule,
//! the cleanup job deleting exactly the rest (files and catalog), and PUT changing the rules.

use crate::engine::Rig;
use crate::support::{reply, serve_api_with, ApiOver};
use backupd::decide::{Command, RunOutcome};
use backupd::events::{JobAction, JobSpec, Trigger};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;

fn send(api: &ApiOver, method: &str, path: &str, body: Value) -> Value {
    let (status, answer) =
        reply(ureq::request(method, &format!("{}{path}", api.base)).send_json(body.clone()));
    assert!(status < 300, "{method} {path} {body}: {status} {answer}");
    answer
}

fn spec(rig: &Rig, id: &str) -> JobSpec {
    rig.service.read(|s| s.schedule.jobs[id].spec.clone())
}

fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The ids of a list of backups (`backups` of the preview, or of `GET /backups`).
fn ids(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

fn set(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn reason<'a>(preview: &'a Value, id: &str) -> &'a Value {
    preview["kept"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not kept: {preview}"))
}

#[test]
fn keep_rules_decide_what_stays_the_preview_says_why_and_cleanup_deletes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..5 {
        std::fs::write(src.join(format!("f{i}.txt")), format!("file {i}\n")).unwrap();
    }
    let mut rig = Rig::new(&dir.path().join("data"), vec![src.clone()], vec![]);
    let api = serve_api_with(&rig.service, (*rig.config).clone());

    // Two jobs with keep rules; they back up different things (the docs job also its config
    // category), so neither builds on the other's chain.
    let docs = send(
        &api,
        "POST",
        "/scheduler/jobs",
        json!({"name": "docs_keep", "trigger_type": "cron", "trigger_config": {"hour": 2, "minute": 0},
               "backup_config": {"type": "files", "description": "Docs, kept restic-style",
                                 "options": {"include_config": true},
                                 "keep": {"last": 2, "daily": 3}}}),
    );
    assert_eq!(docs["id"], "docs_keep");
    assert_eq!(
        docs["backup_config"]["keep"],
        json!({"last": 2, "daily": 3})
    );
    let photos = send(
        &api,
        "POST",
        "/scheduler/jobs",
        json!({"name": "photos_keep", "trigger_type": "interval", "trigger_config": {"hours": 12},
               "backup_config": {"type": "files", "mode": "incremental", "keep": {"within": "1d"}}}),
    );
    assert_eq!(photos["backup_config"]["keep"], json!({"within": "1d"}));
    assert_eq!(
        api.get("/scheduler/jobs/photos_keep")["backup_config"]["keep"],
        json!({"within": "1d"})
    );
    // A refused body names the field.
    let (status, err) = reply(
        ureq::post(&format!("{}/scheduler/jobs", api.base)).send_json(json!({
            "name": "bad", "trigger_type": "interval", "trigger_config": {"hours": 1},
            "backup_config": {"type": "files", "keep": {"dayly": 7}}})),
    );
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["field"], "backup_config.keep.dayly", "{err}");

    // Six rounds 12 h apart from the manual clock's 2026-03-28T12:00Z (`Rig::run` adds an hour
    // per run): docs at 28th 23:00, 29th 11:00, 29th 23:00, 30th 11:00, 30th 23:00, 31st 11:00;
    // photos an hour after each, at 00:00 and 12:00 of 29th..31st.
    let (mut d, mut p) = (Vec::new(), Vec::new());
    for round in 0..6 {
        rig.clock.advance(time::Duration::hours(10));
        std::fs::write(src.join("f0.txt"), format!("round {round}\n")).unwrap();
        d.push(rig.backup(&spec(&rig, "docs_keep")).0);
        p.push(rig.backup(&spec(&rig, "photos_keep")).0);
    }
    assert!(d.iter().all(|b| b.parent.is_none()), "docs takes fulls");
    assert!(p[1..]
        .iter()
        .zip(&p)
        .all(|(b, prev)| b.parent.as_ref() == Some(&prev.id)));
    assert_eq!(p[0].parent, None, "photos starts its own chain");
    let (d, p): (Vec<String>, Vec<String>) = (
        d.into_iter().map(|b| b.id).collect(),
        p.into_iter().map(|b| b.id).collect(),
    );

    // docs: last 2 = rounds 6 and 5; daily 3 = the newest of 31st (6), 30th (5), 29th (3).
    // photos: within 1d of the newest (31st 12:00) is strictly after 30th 12:00: rounds 6 and
    // 5 (31st 00:00); round 4 (30th 12:00 exactly) is not, but round 5 reads through 4..1.
    let preview = api.get("/retention/preview");
    assert_eq!(
        ids(&preview["backups"]),
        set(&[&d[0], &d[1], &d[3]]),
        "{preview}"
    );
    for deletion in preview["backups"].as_array().unwrap() {
        assert_eq!(deletion["rule"], "retention.keep");
    }
    let kept = |id: &str| reason(&preview, id)["reason"].as_str().unwrap().to_string();
    let rules = |id: &str| reason(&preview, id)["rules"].clone();
    assert_eq!(kept(&d[5]), "kept by keep.last 1, keep.daily 2026-03-31");
    assert_eq!(
        rules(&d[5]),
        json!(["keep.last 1", "keep.daily 2026-03-31"])
    );
    assert_eq!(kept(&d[4]), "kept by keep.last 2, keep.daily 2026-03-30");
    assert_eq!(kept(&d[2]), "kept by keep.daily 2026-03-29");
    assert_eq!(reason(&preview, &d[2])["expires_at"], Value::Null);
    assert_eq!(kept(&p[5]), "kept by keep.within 1d");
    assert_eq!(kept(&p[4]), "kept by keep.within 1d");
    assert_eq!(
        kept(&p[3]),
        format!("base of {:?} (kept by keep.within 1d)", p[4])
    );
    assert_eq!(
        kept(&p[1]),
        format!("base of {:?} (kept by keep.within 1d)", p[2])
    );
    // The chain's full is first of all the job's newest good full: the first reason is shown.
    assert_eq!(
        kept(&p[0]),
        "the newest good full backup of job \"photos_keep\""
    );
    assert_eq!(rules(&p[3]), json!([]));
    assert_eq!(preview["kept"].as_array().unwrap().len(), 9);

    // The cleanup job deletes exactly those three, files and all, under retention.keep.
    let backups_dir = rig.config.data_dir.join("backups");
    let before = files_in(&backups_dir);
    let cleanup = JobSpec {
        id: "cleanup".into(),
        name: "cleanup".into(),
        trigger: Trigger::Interval {
            seconds: 86_400,
            start_at: None,
        },
        action: JobAction::Cleanup,
        misfire_grace_secs: None,
        timezone: None,
        jitter_secs: 0,
    };
    rig.command(Command::CreateJob(cleanup.clone()));
    match rig.run(&cleanup) {
        RunOutcome::Succeeded { note: Some(n), .. } => {
            assert!(n.starts_with("deleted 3 backup(s)"), "{n}")
        }
        other => panic!("{other:?}"),
    }
    let gone: BTreeSet<String> = before
        .difference(&files_in(&backups_dir))
        .cloned()
        .collect();
    let want: BTreeSet<String> = [&d[0], &d[1], &d[3]]
        .iter()
        .flat_map(|id| [format!("{id}.bka"), format!("{id}.manifest")])
        .collect();
    assert_eq!(gone, want);
    let listed = ids(&api.get("/backups")["backups"]);
    let mut rest: BTreeSet<String> = p.iter().cloned().collect();
    rest.extend([d[2].clone(), d[4].clone(), d[5].clone()]);
    assert_eq!(listed, rest);
    let events = api.get("/events?limit=1000");
    let deleted: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "backup_deleted")
        .collect();
    assert_eq!(deleted.len(), 3);
    assert!(deleted
        .iter()
        .all(|e| e["data"]["rule"] == "retention.keep"));
    // The job event carries the rules (schema v5's backup_v3).
    let created = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "job_created" && e["data"]["job"]["id"] == "docs_keep")
        .unwrap();
    assert_eq!(
        created["data"]["job"]["action"]["backup_v3"]["keep"]["daily"],
        3
    );
    assert!(api.get("/retention/preview")["backups"]
        .as_array()
        .unwrap()
        .is_empty());

    // PUT: a new backup_config without keep keeps the rules; with keep it changes them.
    let put = |body: Value| send(&api, "PUT", "/scheduler/jobs/docs_keep", body);
    let same =
        put(json!({"backup_config": {"type": "files", "options": {"include_config": true}}}));
    assert_eq!(
        same["backup_config"]["keep"],
        json!({"last": 2, "daily": 3})
    );
    let one = put(
        json!({"backup_config": {"type": "files", "options": {"include_config": true},
                                           "keep": {"last": 1}}}),
    );
    assert_eq!(one["backup_config"]["keep"], json!({"last": 1}));
    let preview = api.get("/retention/preview");
    assert_eq!(ids(&preview["backups"]), set(&[&d[2], &d[4]]), "{preview}");
    assert_eq!(reason(&preview, &d[5])["reason"], "kept by keep.last 1");
    // null: back to the age rules (full 30 d): nothing of docs is old enough to go.
    let ages = put(
        json!({"backup_config": {"type": "files", "options": {"include_config": true},
                                            "keep": null}}),
    );
    assert_eq!(ages["backup_config"]["keep"], Value::Null);
    let preview = api.get("/retention/preview");
    assert!(
        preview["backups"].as_array().unwrap().is_empty(),
        "{preview}"
    );
    assert!(reason(&preview, &d[2])["reason"]
        .as_str()
        .unwrap()
        .starts_with("not expired: retention.full"));
}
