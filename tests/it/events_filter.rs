//! `GET /events` with the server-side filters (`job`, `actor`, `type`, `since`/`until`) and
//! `order=desc` paged with `before`, on the real binary: three jobs made and changed by two
//! tokens, a run and a verification, then every filter checked against the whole log read
//! page by page without one, and the bad parameters answered 400 with the field named.

use crate::support::{offline, reply, stdout_ok, Served};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn token(data_dir: &Path, name: &str, scope: &[&str]) -> String {
    let mut args = vec!["token", "create", name];
    for s in scope {
        args.extend(["--scope", s]);
    }
    stdout_ok(offline(args, data_dir))
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_string()
}

fn call(
    server: &Served,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let req = server
        .request(method, path)
        .set("Authorization", &format!("Bearer {token}"));
    reply(match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    })
}

fn ok(server: &Served, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    let (status, v) = call(server, method, path, token, body);
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {v}"
    );
    v
}

fn positions(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect()
}

/// Every event a query selects, paging forward with `next_after` (limit 7, so several pages).
fn forward(server: &Server, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = ok(
            &server.s,
            "GET",
            &format!("/events?after={after}&limit=7{query}"),
            &server.admin,
            None,
        );
        let events = page["events"].as_array().unwrap().clone();
        let next = page["next_after"].as_u64().unwrap();
        if events.is_empty() && next == after {
            return out;
        }
        assert!(next > after, "the cursor moves on: {page}");
        out.extend(events);
        after = next;
    }
}

/// The same, newest first, paging back with `next_before` until it is null.
fn backward(server: &Server, query: &str, limit: u64) -> Vec<Value> {
    let mut out = Vec::new();
    let mut before = String::new();
    for _ in 0..10_000 {
        let page = ok(
            &server.s,
            "GET",
            &format!("/events?order=desc&limit={limit}{before}{query}"),
            &server.admin,
            None,
        );
        let events = page["events"].as_array().unwrap();
        assert!(events.len() as u64 <= limit);
        out.extend(events.iter().cloned());
        match page["next_before"].as_u64() {
            Some(b) => before = format!("&before={b}"),
            None => return out,
        }
    }
    panic!("paging never ended");
}

struct Server {
    s: Served,
    admin: String,
}

/// Does the event concern `job`, read off its JSON as a client would (independently of the
/// server's rule): a `job_id`, a job spec's id, a run id `job@…`, a backup id `job-…`.
fn about(e: &Value, job: &str) -> bool {
    let text = e.to_string();
    e["correlation"]
        .as_str()
        .is_some_and(|c| c.starts_with(&format!("{job}@")))
        || text.contains(&format!("\"job_id\":\"{job}\""))
        || text.contains(&format!("\"id\":\"{job}\""))
        || text.contains(&format!("\"{job}@"))
        || text.contains(&format!("\"backup_id\":\"{job}-"))
}

#[test]
fn filters_select_exactly_and_desc_pages_return_every_match_once() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.txt"), "alpha\n".repeat(1000)).unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let alice = token(&data, "alice", &["admin"]);
    let bob = token(&data, "bob", &["read", "manage", "operate"]);
    let ops = token(&data, "ops", &["operate"]);
    let config = tmp.path().join("backupd.toml");
    std::fs::write(&config, format!("[[sources.files]]\npath = {src:?}\n")).unwrap();
    let server = Server {
        s: Served::with_config_file(&config, &data),
        admin: alice.clone(),
    };
    let s = &server.s;
    let job = |name: &str| {
        serde_json::json!({"name": name, "trigger_type": "interval",
            "trigger_config": {"hours": 6}, "backup_config": {"type": "files"}})
    };
    ok(s, "POST", "/scheduler/jobs", &alice, Some(job("alpha")));
    ok(s, "POST", "/scheduler/jobs", &bob, Some(job("beta")));
    ok(s, "POST", "/scheduler/jobs", &alice, Some(job("gamma")));
    ok(s, "POST", "/scheduler/jobs/alpha/pause", &bob, None);
    ok(s, "POST", "/scheduler/jobs/alpha/resume", &alice, None);
    let cut = time::OffsetDateTime::now_utc();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let run = ok(s, "POST", "/scheduler/jobs/beta/run", &bob, None);
    let path = format!(
        "/runs/{}",
        run["run_id"].as_str().unwrap().replace('@', "%40")
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let run = loop {
        let r = ok(s, "GET", &path, &alice, None);
        if r["status"] != "running" && r["status"] != "queued" {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "never finished: {r}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(run["status"], "succeeded", "{run}");
    let backup = run["backup_id"].as_str().unwrap().to_string();
    ok(
        s,
        "POST",
        &format!("/backups/{backup}/verify"),
        &alice,
        None,
    );
    ok(s, "POST", "/scheduler/jobs/gamma/pause", &bob, None);

    let all = forward(&server, "");
    let head = all.len() as u64;
    assert_eq!(positions(&all), (1..=head).collect::<Vec<_>>());
    let select = |f: &dyn Fn(&Value) -> bool| -> Vec<u64> {
        all.iter()
            .filter(|e| f(e))
            .map(|e| e["position"].as_u64().unwrap())
            .collect()
    };

    // job=: beta's creation, its run from start to outcome, its backup and the verification.
    let beta = forward(&server, "&job=beta");
    assert_eq!(positions(&beta), select(&|e| about(e, "beta")));
    let types: BTreeSet<&str> = beta.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for t in ["job_created", "backup_recorded", "backup_verified"] {
        assert!(types.contains(t), "{t} missing from {types:?}");
    }
    assert!(
        types.iter().any(|t| t.starts_with("run_started")),
        "{types:?}"
    );
    assert!(
        types.iter().any(|t| t.starts_with("run_succeeded")),
        "{types:?}"
    );
    assert!(beta
        .iter()
        .all(|e| !about(e, "alpha") && !about(e, "gamma")));
    let two = forward(&server, "&job=alpha,gamma");
    assert_eq!(
        positions(&two),
        select(&|e| about(e, "alpha") || about(e, "gamma"))
    );
    assert_eq!(positions(&two).len(), 5, "{two:?}");

    // actor=: exactly the events each token caused; both at once are the union.
    let by_bob = forward(&server, "&actor=api:bob");
    assert_eq!(positions(&by_bob), select(&|e| e["actor"] == "api:bob"));
    assert!(by_bob.len() >= 4, "{by_bob:?}");
    let by_alice = forward(&server, "&actor=api:alice");
    assert_eq!(positions(&by_alice), select(&|e| e["actor"] == "api:alice"));
    let both = forward(&server, "&actor=api:alice,api:bob");
    assert_eq!(both.len(), by_bob.len() + by_alice.len());

    // type=: one or several names.
    let paused = forward(&server, "&type=job_paused");
    assert_eq!(positions(&paused), select(&|e| e["type"] == "job_paused"));
    assert_eq!(paused.len(), 2);
    let made = forward(&server, "&type=job_created,job_resumed");
    assert_eq!(
        positions(&made),
        select(&|e| e["type"] == "job_created" || e["type"] == "job_resumed")
    );

    // since / until split the log at `cut`, with nothing lost or doubled.
    let at = |e: &Value| {
        time::OffsetDateTime::parse(
            e["recorded_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let cut_s = cut
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let later = forward(&server, &format!("&since={}", cut_s.replace('+', "%2B")));
    let earlier = forward(&server, &format!("&until={}", cut_s.replace('+', "%2B")));
    assert_eq!(positions(&later), select(&|e| at(e) >= cut));
    assert_eq!(positions(&earlier), select(&|e| at(e) < cut));
    assert!(!later.is_empty() && !earlier.is_empty());
    assert_eq!(later.len() + earlier.len(), all.len());

    // Combined: bob's doings to alpha (the pause), and bob's pauses after the cut (gamma's).
    let combined = forward(&server, "&job=alpha&actor=api:bob");
    assert_eq!(
        positions(&combined),
        select(&|e| about(e, "alpha") && e["actor"] == "api:bob")
    );
    assert_eq!(combined.len(), 1);
    assert_eq!(combined[0]["type"], "job_paused");
    // An offset's `+` sent unencoded arrives as a space: still read as the same instant.
    let plus = forward(&server, "&since=2000-01-01T02:00:00+02:00");
    assert_eq!(plus.len(), all.len());
    let late_pause = forward(
        &server,
        &format!(
            "&type=job_paused&actor=api:bob&since={}",
            cut_s.replace('+', "%2B")
        ),
    );
    assert_eq!(late_pause.len(), 1);
    assert_eq!(late_pause[0]["data"]["job_id"], "gamma");

    // order=desc with `before`: every page newest first, all pages together the matches once.
    for (query, limit) in [
        ("", 3),
        ("&job=beta", 2),
        ("&actor=api:bob", 1),
        ("&job=beta&type=backup_verified", 5),
    ] {
        let back = backward(&server, query, limit);
        let mut fwd = positions(&forward(&server, query));
        fwd.reverse();
        assert_eq!(positions(&back), fwd, "desc {query} limit {limit}");
        assert!(!back.is_empty(), "{query}");
    }
    // desc with a lower bound: only what lies between `after` and `before`.
    let window = ok(
        s,
        "GET",
        "/events?order=desc&after=2&before=6&limit=100",
        &alice,
        None,
    );
    assert_eq!(
        positions(window["events"].as_array().unwrap()),
        vec![5, 4, 3]
    );
    assert!(window["next_before"].is_null(), "{window}");
    // The newest page, with no filter: the head first.
    let newest = ok(s, "GET", "/events?order=desc&limit=2", &alice, None);
    assert_eq!(
        positions(newest["events"].as_array().unwrap()),
        vec![head, head - 1]
    );
    assert_eq!(newest["next_before"], head - 1);
    assert_eq!(newest["last_position"], head);

    // Bad parameters: 400 JSON naming the field, never a 5xx.
    for (query, field) in [
        ("type=job_created,no_such_event", "type"),
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        (
            "since=2026-11-30T10:00:00Z&until=2026-11-30T09:00:00Z",
            "until",
        ),
        ("order=sideways", "order"),
        ("before=0", "before"),
        ("limit=0", "limit"),
        ("colour=red", "colour"),
    ] {
        let (status, body) = call(s, "GET", &format!("/events?{query}"), &alice, None);
        assert_eq!(status, 400, "{query}: {body}");
        let error = &body["error"];
        assert_eq!(error["field"], field, "{query}: {body}");
        assert!(
            error["code"].is_string() && error["message"].is_string(),
            "{body}"
        );
    }

    // An operate-only token may run jobs but read nothing: the dashboard's login (`whoami`)
    // refuses it instead of showing an empty view.
    let (status, body) = call(s, "GET", "/whoami", &ops, None);
    assert_eq!(status, 403, "{body}");
    assert_eq!(call(s, "GET", "/whoami", &bob, None).0, 200);
}
