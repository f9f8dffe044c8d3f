//! API tokens and scopes over the real binary: every route of the router × {no token, a token
//! of each scope} (`scopes`); revocation and expiry take effect on the next request; the events a request
//! causes name its token; the secret is never in the log file, the event log or a listing; the
//! token CLI offline; a non-loopback bind without tokens (and TLS) refuses to start.

use crate::support::{open_service, reply, serve_api, Served as Server};
use backupd::auth::Scope;
use serde_json::{json, Value};
use std::time::Duration;

mod actors;
mod offline;
mod scopes;

/// One request with an optional bearer token; `path` below the API base, or `/metrics`.
pub(super) fn call(
    server: &Server,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = if path == "/metrics" {
        format!("{}{path}", server.root)
    } else {
        server.url(path)
    };
    let mut req = ureq::request(method, &url).timeout(Duration::from_secs(30));
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let result = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: transport error: {e}"),
    };
    let status = resp.status();
    let text = resp.into_string().unwrap();
    // `/metrics` and the report page answer in their own formats.
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Creates a token through the API (as `admin`, or anonymously while none exists): its secret.
pub(super) fn create(server: &Server, admin: Option<&str>, name: &str, scopes: &[&str]) -> String {
    let body = json!({"name": name, "scopes": scopes, "expires": "90d"});
    let (status, created) = call(server, admin, "POST", "/tokens", Some(body));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], name);
    assert_eq!(created["status"], "live");
    created["token"].as_str().unwrap().to_string()
}

/// Run `run_id` once it has an outcome (at most a minute), read with `token`.
pub(super) fn finished(server: &Server, token: &str, run_id: &str) -> Value {
    let path = format!("/runs/{}", run_id.replace('@', "%40"));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, run) = call(server, Some(token), "GET", &path, None);
        assert_eq!(status, 200, "{run}");
        if run["status"] != "running" && run["status"] != "queued" {
            return run;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never finished: {run}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The API's error shape, with the code and `field: authorization`.
pub(super) fn is_refusal(body: &Value, code: &str) -> bool {
    body["error"]["code"] == code
        && body["error"]["field"] == "authorization"
        && body["error"]["message"].is_string()
}

/// The issue's lists, spelled out here rather than read from the table under test.
#[test]
fn the_scopes_cover_the_routes_the_issue_names() {
    let scope = |m: &str, p: &str| {
        backupd::api::ROUTES
            .iter()
            .chain(backupd::api::ROOT_ROUTES)
            .find(|r| r.method() == m && r.path() == p)
            .unwrap_or_else(|| panic!("no route {m} {p}"))
            .scope()
    };
    let expected = [
        ("GET", "/metrics", Scope::Read),
        ("GET", "/scheduler/jobs", Scope::Read),
        ("GET", "/events", Scope::Read),
        ("POST", "/scheduler/jobs/{job_id}/run", Scope::Operate),
        ("POST", "/runs/{run_id}/cancel", Scope::Operate),
        ("POST", "/scheduler/jobs/{job_id}/pause", Scope::Operate),
        ("POST", "/scheduler/jobs/{job_id}/resume", Scope::Operate),
        ("POST", "/scheduler/start", Scope::Operate),
        ("POST", "/scheduler/stop", Scope::Operate),
        ("POST", "/scheduler/jobs", Scope::Manage),
        ("PUT", "/scheduler/jobs/{job_id}", Scope::Manage),
        ("DELETE", "/scheduler/jobs/{job_id}", Scope::Manage),
        ("DELETE", "/backups/{backup_id}", Scope::Manage),
        ("POST", "/backups/{backup_id}/restore", Scope::Restore),
        ("GET", "/backups/{backup_id}/files/content", Scope::Restore),
        ("GET", "/tokens", Scope::Admin),
        ("POST", "/tokens", Scope::Admin),
        ("DELETE", "/tokens/{name}", Scope::Admin),
    ];
    for (m, p, s) in expected {
        assert_eq!(scope(m, p), s, "{m} {p}");
    }
    // Every other GET is a read.
    for r in backupd::api::ROUTES.iter().filter(|r| r.method() == "GET") {
        if !["/backups/{backup_id}/files/content", "/tokens"].contains(&r.path()) {
            assert_eq!(r.scope(), Scope::Read, "GET {}", r.path());
        }
    }
}

#[test]
fn revoked_and_expired_tokens_are_refused_at_once_and_events_name_the_token() {
    let server = Server::demo();
    let admin = create(&server, None, "ops-admin", &["admin"]);
    // Once a token exists, loopback needs one too.
    let (status, answer) = call(&server, None, "GET", "/scheduler/status", None);
    assert_eq!(status, 401, "{answer}");
    let reader = create(&server, Some(&admin), "dashboard", &["read"]);
    let manager = create(&server, Some(&admin), "deployer", &["manage", "operate"]);
    let (status, _) = call(&server, Some(&reader), "GET", "/scheduler/jobs", None);
    assert_eq!(status, 200);

    // Changes made with tokens, each recorded with its token's name.
    let job = json!({
        "job_id": "custom_backup",
        "name": "Custom Backup",
        "trigger_type": "cron",
        "trigger_config": {"hour": 1, "minute": 30},
        "backup_config": {"type": "database", "options": {"compression": "gzip"}}
    });
    let (status, answer) = call(
        &server,
        Some(&manager),
        "POST",
        "/scheduler/jobs",
        Some(job),
    );
    assert_eq!(status, 201, "{answer}");
    let pause = "/scheduler/jobs/custom_backup/pause";
    let (status, answer) = call(&server, Some(&manager), "POST", pause, None);
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = call(&server, Some(&manager), "POST", "/scheduler/stop", None);
    assert_eq!(status, 200, "{answer}");

    // Revoked: refused on the very next request.
    let (status, revoked) = call(&server, Some(&admin), "DELETE", "/tokens/dashboard", None);
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["revoked_by"], "api:ops-admin");
    let (status, answer) = call(&server, Some(&reader), "GET", "/scheduler/jobs", None);
    assert_eq!(status, 401, "{answer}");
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("revoked"));
    let (status, answer) = call(&server, Some(&admin), "DELETE", "/tokens/dashboard", None);
    assert_eq!(
        (status, &answer["error"]["field"]),
        (404, &json!("name")),
        "{answer}"
    );

    // Expired: refused without anyone touching it (on a manual clock: `expiry_follows_the_clock`).
    let body = json!({"name": "short", "scopes": ["read"], "expires": "1s"});
    let (status, short) = call(&server, Some(&admin), "POST", "/tokens", Some(body));
    assert_eq!(status, 201, "{short}");
    let short = short["token"].as_str().unwrap().to_string();
    let expires_at = |list: &Value| {
        list["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "short")
            .map(|t| t["expires_at"].clone())
            .unwrap()
    };
    let (_, list) = call(&server, Some(&admin), "GET", "/tokens", None);
    let until = time::OffsetDateTime::parse(
        expires_at(&list).as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    // Past its expiry on the system clock (the service's clock here), the next request is refused.
    while time::OffsetDateTime::now_utc() <= until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, answer) = call(&server, Some(&short), "GET", "/health", None);
    assert_eq!(status, 401, "{answer}");
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));

    // The listing: every token with its status, no secret, no hash.
    let (status, list) = call(&server, Some(&admin), "GET", "/tokens", None);
    assert_eq!(status, 200, "{list}");
    let statuses: Vec<(String, String)> = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert!(t.get("hash").is_none() && t.get("token").is_none(), "{t}");
            (
                t["name"].as_str().unwrap().into(),
                t["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    let own = |n: &str, s: &str| (n.to_string(), s.to_string());
    assert_eq!(
        statuses,
        vec![
            own("dashboard", "revoked"),
            own("deployer", "live"),
            own("ops-admin", "live"),
            own("short", "expired"),
        ]
    );

    // The events of each change name the token that made it.
    let (status, page) = call(&server, Some(&admin), "GET", "/events?limit=1000", None);
    assert_eq!(status, 200);
    let events = page["events"].as_array().unwrap();
    let actor_of = |kind: &str, pick: &dyn Fn(&Value) -> bool| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["type"] == kind && pick(&e["data"]))
            .map(|e| e["actor"].as_str().unwrap().to_string())
            .collect()
    };
    let any = |_: &Value| true;
    assert_eq!(actor_of("job_created", &any), ["api:deployer"]);
    assert_eq!(actor_of("job_paused", &any), ["api:deployer"]);
    assert_eq!(actor_of("scheduler_stopped", &any), ["api:deployer"]);
    assert_eq!(actor_of("token_revoked", &any), ["api:ops-admin"]);
    let created = |name: &'static str| move |d: &Value| d["name"] == name;
    assert_eq!(
        actor_of("token_created", &created("ops-admin")),
        ["api:anonymous"]
    );
    for name in ["dashboard", "deployer", "short"] {
        assert_eq!(
            actor_of("token_created", &created(name)),
            ["api:ops-admin"],
            "{name}"
        );
    }
    let recorded = events
        .iter()
        .find(|e| e["type"] == "token_created" && e["data"]["name"] == "deployer")
        .unwrap();
    assert_eq!(recorded["data"]["scopes"], json!(["manage", "operate"]));
    let hash = recorded["data"]["hash"].as_str().unwrap();
    assert_eq!(hash.len(), 64);

    // The secret is in no listing, event or log; its hash is in the events only.
    let secrets = [&admin, &reader, &manager, &short];
    let listing = list.to_string();
    let all_events = page.to_string();
    assert!(!listing.contains(hash));
    let dir = server.data_dir().to_path_buf();
    let stopped = server.stop();
    let log = std::fs::read_to_string(dir.join("logs/backup_scheduler.log")).unwrap();
    let log_bytes = std::fs::read(dir.join("events.redb")).unwrap();
    for s in secrets {
        let body = &s[5..];
        assert!(!listing.contains(body) && !all_events.contains(body) && !log.contains(body));
        assert!(
            !contains(&log_bytes, body.as_bytes()),
            "a secret in events.redb"
        );
    }
    // What the raw log holds is SHA-256 of the secret.
    let digest = hex_sha256(&manager);
    assert_eq!(hash, digest);
    drop(stopped);
}

/// Expiry follows the service's clock, not a request or a sweep: behind the real router, over an
/// in-process service on a manual clock, a token of one hour works at 59:59 and is refused at
/// 1:00:00, with nothing recorded in between.
#[test]
fn expiry_follows_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let (service, clock) = open_service(dir.path(), 0);
    let api = serve_api(&service);
    let ask = |token: Option<&str>, method: &str, path: &str, body: Option<Value>| {
        let mut req =
            ureq::request(method, &format!("{}{path}", api.base)).timeout(Duration::from_secs(30));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        reply(match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        })
    };
    let make = |token: Option<&str>, name: &str, scope: &str, expires: Value| {
        let body = json!({"name": name, "scopes": [scope], "expires": expires});
        let (status, made) = ask(token, "POST", "/tokens", Some(body));
        assert_eq!(status, 201, "{made}");
        made["token"].as_str().unwrap().to_string()
    };
    // A token that never expires keeps loopback closed once the other one has.
    let admin = make(None, "root", "admin", Value::Null);
    let hour = make(Some(&admin), "hour", "read", json!("1h"));
    let recorded = service.position();
    clock.advance(time::Duration::seconds(3599));
    let (status, answer) = ask(Some(&hour), "GET", "/scheduler/jobs", None);
    assert_eq!(status, 200, "{answer}");
    clock.advance(time::Duration::seconds(1));
    let (status, answer) = ask(Some(&hour), "GET", "/scheduler/jobs", None);
    assert_eq!(status, 401, "{answer}");
    assert_eq!(
        answer["error"]["message"], "token \"hour\" expired",
        "{answer}"
    );
    assert_eq!(service.position(), recorded, "expiry records nothing");
    let (_, list) = ask(Some(&admin), "GET", "/tokens", None);
    let status_of = |name: &str| {
        list["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["status"].clone())
    };
    assert_eq!(status_of("hour"), Some(json!("expired")), "{list}");
    assert_eq!(status_of("root"), Some(json!("live")), "{list}");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub(super) fn hex_sha256(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn tokens_refuse_bad_bodies_and_keys() {
    let server = Server::demo();
    let admin = create(&server, None, "root", &["admin"]);
    let cases = [
        (json!({"name": "x", "scopes": []}), 400, "scopes"),
        (json!({"name": "x", "scopes": ["root"]}), 400, "scopes[0]"),
        (
            json!({"name": "x", "scopes": ["read", "read"]}),
            400,
            "scopes",
        ),
        (json!({"name": "x", "scopes": "read"}), 400, "scopes"),
        (json!({"name": "x"}), 400, "scopes"),
        (json!({"scopes": ["read"]}), 400, "name"),
        (json!({"name": "a b", "scopes": ["read"]}), 400, "name"),
        (
            json!({"name": "x", "scopes": ["read"], "expires": "0d"}),
            400,
            "expires",
        ),
        (
            json!({"name": "x", "scopes": ["read"], "expires": 90}),
            400,
            "expires",
        ),
        (
            json!({"name": "x", "scopes": ["read"], "ttl": "1d"}),
            400,
            "ttl",
        ),
        (json!({"name": "root", "scopes": ["read"]}), 409, "name"),
    ];
    for (body, want, field) in cases {
        let (status, answer) = call(&server, Some(&admin), "POST", "/tokens", Some(body.clone()));
        assert_eq!(
            (status, &answer["error"]["field"]),
            (want, &json!(field)),
            "{body}: {answer}"
        );
    }
    // A creation is never replayed from a stored answer: the secret would have to be stored.
    let (status, answer) = reply(
        server
            .request("POST", "/tokens")
            .set("Authorization", &format!("Bearer {admin}"))
            .set("Idempotency-Key", "once")
            .send_json(json!({"name": "keyed", "scopes": ["read"]})),
    );
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["field"], "Idempotency-Key");
    let (_, list) = call(&server, Some(&admin), "GET", "/tokens", None);
    assert_eq!(list["tokens"].as_array().unwrap().len(), 1, "{list}");
    // `expires: null` never expires.
    let (status, made) = call(
        &server,
        Some(&admin),
        "POST",
        "/tokens",
        Some(json!({"name": "forever", "scopes": ["read"], "expires": null})),
    );
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["expires_at"], Value::Null);
    server.stop();
}

#[test]
fn metrics_may_be_opened_to_anonymous_scrapers() {
    for open in [false, true] {
        let server = Server::with_config(&format!("[server]\nmetrics_anonymous = {open}\n"));
        let admin = create(&server, None, "root", &["admin"]);
        let (status, metrics) = call(&server, None, "GET", "/metrics", None);
        if open {
            assert_eq!(status, 200, "{metrics}");
            assert!(metrics.as_str().unwrap().contains("backupd_jobs"));
        } else {
            assert_eq!(status, 401, "{metrics}");
        }
        // Only /metrics: the rest still needs a token.
        let (status, _) = call(&server, None, "GET", "/health", None);
        assert_eq!(status, 401);
        let (status, _) = call(&server, Some(&admin), "GET", "/metrics", None);
        assert_eq!(status, 200);
        server.stop();
    }
}
