//! "Every event a request causes records the actor `api:<token name>`", for the requests whose
//! events are recorded after the answer or by other hands: a run requested through the API (its
//! start, and its outcome recorded by the timer loop's executor), one that waited in the queue
//! (started by the loop when a place freed), one that failed, one cancelled by another token;
//! and a restore, a forget and a verify.

use super::{call, create, finished};
use crate::support::Served as Server;
use serde_json::{json, Value};

/// The run lifecycle's event types (what the timer loop records for a run it executes).
const LIFECYCLE: &[&str] = &[
    "run_queued",
    "run_started",
    "run_started_v2",
    "run_succeeded",
    "run_succeeded_v2",
    "run_succeeded_v3",
    "run_failed",
    "run_failed_v2",
    "run_cancelled",
];

/// (type, actor) of each lifecycle event of run `run_id`, in log order.
fn lifecycle(events: &[Value], run_id: &str) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| {
            e["data"]["run_id"] == run_id && LIFECYCLE.contains(&e["type"].as_str().unwrap())
        })
        .map(|e| {
            let kind = e["type"].as_str().unwrap();
            // the versions of one event are one step of the lifecycle
            let step = kind.trim_end_matches("_v2").trim_end_matches("_v3");
            (step.to_string(), e["actor"].as_str().unwrap().to_string())
        })
        .collect()
}

fn steps(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, a)| (k.to_string(), a.to_string()))
        .collect()
}

#[test]
fn the_events_of_requested_runs_restores_forgets_and_verifies_name_the_token() {
    let scratch = tempfile::tempdir().unwrap();
    let (src, restores) = (scratch.path().join("src"), scratch.path().join("restores"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&restores).unwrap();
    std::fs::write(src.join("a.txt"), "actors\n").unwrap();
    // One place: a second run waits in the queue until the first ends.
    let server = Server::with_config(&format!(
        "[scheduler]\nmax_concurrent_runs = 1\n\n\
         [restore]\nallowed_targets = [{restores:?}]\n\n\
         [[sources.files]]\npath = {src:?}\n\n\
         [[sources.database]]\nname = \"sleeper\"\nkind = \"command\"\n\
         command = [\"sleep\", \"600\"]\n\n\
         [[sources.database]]\nname = \"broken\"\nkind = \"command\"\ncommand = [\"false\"]\n"
    ));
    let admin = create(&server, None, "root", &["admin"]);
    let ci = create(&server, Some(&admin), "ci", &["operate"]);
    let pager = create(&server, Some(&admin), "pager", &["operate"]);
    let keeper = create(&server, Some(&admin), "keeper", &["manage"]);
    let restorer = create(&server, Some(&admin), "restorer", &["restore"]);
    let daily = |id: &str, backup: Value| {
        json!({"job_id": id, "name": id, "trigger_type": "interval",
               "trigger_config": {"hours": 24}, "backup_config": backup})
    };
    let db = |source: &str| json!({"type": "database", "options": {"sources": [source]}});
    for job in [
        daily("files", json!({"type": "files"})),
        daily("sleeper", db("sleeper")),
        daily("broken", db("broken")),
    ] {
        let (status, answer) = call(&server, Some(&keeper), "POST", "/scheduler/jobs", Some(job));
        assert_eq!(status, 201, "{answer}");
    }
    let run = |token: &str, job: &str| {
        let (status, run) = call(
            &server,
            Some(token),
            "POST",
            &format!("/scheduler/jobs/{job}/run"),
            None,
        );
        assert_eq!(status, 202, "{run}");
        (
            run["run_id"].as_str().unwrap().to_string(),
            run["status"].as_str().unwrap().to_string(),
        )
    };

    // A run started at once, and one that fails.
    let (first, status) = run(&ci, "files");
    assert_eq!(status, "running");
    let first = finished(&server, &admin, &first);
    assert_eq!(first["status"], "succeeded", "{first}");
    let (broken, _) = run(&ci, "broken");
    let broken = finished(&server, &admin, &broken);
    assert_eq!(broken["status"], "failed", "{broken}");
    // A run that waits behind another token's, which a third token cancels: the loop starts
    // the waiting one, as its requester.
    let (sleeping, status) = run(&pager, "sleeper");
    assert_eq!(status, "running");
    let (queued, status) = run(&ci, "files");
    assert_eq!(status, "queued");
    let cancel = format!("/runs/{}/cancel", sleeping.replace('@', "%40"));
    let (status, cancelled) = call(&server, Some(&ci), "POST", &cancel, None);
    assert_eq!(
        (status, &cancelled["status"]),
        (200, &json!("cancelled")),
        "{cancelled}"
    );
    let queued = finished(&server, &admin, &queued);
    assert_eq!(queued["status"], "succeeded", "{queued}");

    // A restore, a verify and a forget, each by its own token.
    let backup = first["backup_id"].as_str().unwrap();
    let body = json!({"target": restores.join("one")});
    let (status, restored) = call(
        &server,
        Some(&restorer),
        "POST",
        &format!("/backups/{backup}/restore"),
        Some(body),
    );
    assert_eq!(status, 200, "{restored}");
    let (status, verified) = call(
        &server,
        Some(&ci),
        "POST",
        &format!("/backups/{backup}/verify"),
        None,
    );
    assert_eq!((status, &verified["ok"]), (200, &json!(true)), "{verified}");
    let later = queued["backup_id"].as_str().unwrap();
    let (status, forgotten) = call(
        &server,
        Some(&keeper),
        "DELETE",
        &format!("/backups/{later}"),
        Some(json!({"force": true})),
    );
    assert_eq!(status, 200, "{forgotten}");

    let (status, page) = call(&server, Some(&admin), "GET", "/events?limit=1000", None);
    assert_eq!(status, 200);
    let events = page["events"].as_array().unwrap().clone();
    let id = |r: &Value| r["run_id"].as_str().unwrap().to_string();
    assert_eq!(
        lifecycle(&events, &id(&first)),
        steps(&[("run_started", "api:ci"), ("run_succeeded", "api:ci")])
    );
    assert_eq!(
        lifecycle(&events, &id(&broken)),
        steps(&[("run_started", "api:ci"), ("run_failed", "api:ci")])
    );
    // cancelled by ci while it ran: the cancellation is ci's, the start pager's
    assert_eq!(
        lifecycle(&events, &sleeping),
        steps(&[("run_started", "api:pager"), ("run_cancelled", "api:ci")])
    );
    assert_eq!(
        lifecycle(&events, &id(&queued)),
        steps(&[
            ("run_queued", "api:ci"),
            ("run_started", "api:ci"),
            ("run_succeeded", "api:ci"),
        ])
    );
    // The backups a requested run records are its requester's too.
    let recorded: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "backup_recorded")
        .collect();
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert!(
        recorded.iter().all(|e| e["actor"] == "api:ci"),
        "{recorded:?}"
    );
    let actors = |kind: &str| -> Vec<&str> {
        events
            .iter()
            .filter(|e| e["type"] == kind)
            .map(|e| e["actor"].as_str().unwrap())
            .collect()
    };
    assert_eq!(actors("restore_started"), ["api:restorer"]);
    assert_eq!(actors("restore_finished"), ["api:restorer"]);
    assert_eq!(actors("backup_verified"), ["api:ci"]);
    assert_eq!(actors("backup_forgotten"), ["api:keeper"]);
    assert_eq!(actors("job_created"), ["api:keeper"; 3]);
    // No event of this test's requests is the scheduler's: the loop recorded the runs' steps
    // under their requesters (the presets' boot events are `system`'s).
    let requested: Vec<String> = [&first, &broken, &queued]
        .iter()
        .map(|r| id(r))
        .chain([sleeping])
        .collect();
    for e in &events {
        if requested.iter().any(|r| e["data"]["run_id"] == r.as_str()) {
            assert!(e["actor"].as_str().unwrap().starts_with("api:"), "{e}");
        }
    }
    drop(server.stop());
}
