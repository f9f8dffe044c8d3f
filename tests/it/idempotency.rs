//! Idempotency-Key bound to its request (issue 11, item 6), over HTTP against the real binary:
//! the same key with another method, path or body is a 409; the same request gets the first
//! answer again, byte for byte, also after a restart; nothing is recorded twice.

use crate::support::{repo, Served};
use serde_json::{json, Value};

/// (status, Idempotent-Replayed header, body text)
fn keyed(
    served: &Served,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, bool, String) {
    let req = served.request(method, path).set("Idempotency-Key", key);
    let result = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let replayed = resp.header("Idempotent-Replayed") == Some("true");
    (resp.status(), replayed, resp.into_string().unwrap())
}

fn error_of(text: &str) -> (String, String) {
    let v: Value = serde_json::from_str(text).unwrap();
    (
        v["error"]["code"].as_str().unwrap_or_default().to_string(),
        v["error"]["field"].as_str().unwrap_or_default().to_string(),
    )
}

fn count(served: &Served, kind: &str) -> usize {
    served.get("/events?limit=1000")["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind && e["actor"] == "api:anonymous")
        .count()
}

#[test]
fn a_key_answers_only_its_first_request_also_after_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let config = repo().join("fixtures/demo.toml");
    let served = Served::with_config_file(&config, data.path());
    let create =
        json!({"name": "Keyed", "trigger_type": "interval", "trigger_config": {"hours": 2}});
    let (status, replayed, first) = keyed(
        &served,
        "POST",
        "/scheduler/jobs",
        "k-create",
        Some(create.clone()),
    );
    assert_eq!((status, replayed), (201, false), "{first}");
    let id = serde_json::from_str::<Value>(&first).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The same request: the first answer, byte for byte.
    let (status, replayed, again) = keyed(
        &served,
        "POST",
        "/scheduler/jobs",
        "k-create",
        Some(create.clone()),
    );
    assert_eq!((status, replayed, &again), (201, true, &first));

    // Another body, another path, another method under the same key: 409, nothing done.
    let other =
        json!({"name": "Other", "trigger_type": "interval", "trigger_config": {"hours": 2}});
    let job_path = format!("/scheduler/jobs/{id}");
    for (method, path, body) in [
        ("POST", "/scheduler/jobs", Some(other.clone())),
        ("POST", "/scheduler/jobs?x=1", Some(create.clone())),
        ("PUT", job_path.as_str(), Some(create.clone())),
        ("POST", "/scheduler/jobs/health_check/run", None),
    ] {
        let (status, _, text) = keyed(&served, method, path, "k-create", body);
        assert_eq!(status, 409, "{method} {path}: {text}");
        assert_eq!(
            error_of(&text),
            ("idempotency_key_reused".into(), "Idempotency-Key".into()),
            "{text}"
        );
    }

    // An update replays its first answer, not the job as it is now.
    let rename = json!({"name": "Renamed once"});
    let (status, _, renamed) = keyed(&served, "PUT", &job_path, "k-put", Some(rename.clone()));
    assert_eq!(status, 200, "{renamed}");
    let (status, _) = served.send("PUT", &job_path, Some(json!({"name": "Renamed twice"})));
    assert_eq!(status, 200);
    let (status, replayed, again) = keyed(&served, "PUT", &job_path, "k-put", Some(rename.clone()));
    assert_eq!((status, replayed, &again), (200, true, &renamed));
    assert_eq!(
        served.get(&job_path)["name"],
        "Renamed twice",
        "the replay changed nothing"
    );

    // A refused first request frees its key: the corrected one may use it.
    let bad = json!({"name": "Bad", "trigger_type": "interval", "trigger_config": {"hours": 0}});
    let (status, _, text) = keyed(&served, "POST", "/scheduler/jobs", "k-fixed", Some(bad));
    assert_eq!(status, 400, "{text}");
    let fixed =
        json!({"name": "Fixed", "trigger_type": "interval", "trigger_config": {"hours": 1}});
    let (status, _, fixed_answer) = keyed(
        &served,
        "POST",
        "/scheduler/jobs",
        "k-fixed",
        Some(fixed.clone()),
    );
    assert_eq!(status, 201, "{fixed_answer}");

    // Pause with an empty body, then delete: both replay.
    let (status, _, paused) = keyed(
        &served,
        "POST",
        &format!("{job_path}/pause"),
        "k-pause",
        None,
    );
    assert_eq!(status, 200);
    let (status, replayed, again) = keyed(
        &served,
        "POST",
        &format!("{job_path}/pause"),
        "k-pause",
        None,
    );
    assert_eq!((status, replayed, &again), (200, true, &paused));
    assert_eq!(keyed(&served, "DELETE", &job_path, "k-delete", None).0, 204);
    assert_eq!(keyed(&served, "DELETE", &job_path, "k-delete", None).0, 204);
    assert_eq!(count(&served, "job_created"), 2);
    assert_eq!(count(&served, "job_deleted"), 1);

    // After a restart the bindings and answers are still there.
    served.stop();
    let served = Served::with_config_file(&config, data.path());
    let (status, _, text) = keyed(&served, "POST", "/scheduler/jobs", "k-create", Some(other));
    assert_eq!(status, 409, "{text}");
    let (status, replayed, again) =
        keyed(&served, "POST", "/scheduler/jobs", "k-create", Some(create));
    assert_eq!((status, replayed, &again), (201, true, &first));
    let (status, replayed, again) =
        keyed(&served, "POST", "/scheduler/jobs", "k-fixed", Some(fixed));
    assert_eq!((status, replayed, &again), (201, true, &fixed_answer));
    assert_eq!(count(&served, "job_created"), 2, "nothing recorded twice");
}
