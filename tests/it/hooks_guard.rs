//! What a leaked `manage` token cannot do, against the real binary: set or change a job's hooks
//! (a hook runs any program as the service's user) is the `admin` scope's; a hook that runs
//! anyway sees none of the service's secrets (the passphrase, a database's `password_env`); and
//! a request a proxy forwarded is never the anonymous local client.

use crate::support::{Opts, Served};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const PASSPHRASE: &str = "PLANTED-passphrase-7Hq2";
const DB_PASSWORD: &str = "PLANTED-dbpassword-9Kx4";

/// A request with `token` (none: anonymous), its status and JSON answer.
fn call(
    server: &Served,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = server.request(method, path);
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    crate::support::reply(match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    })
}

fn token(server: &Served, with: Option<&str>, name: &str, scope: &str) -> String {
    let (code, t) = call(
        server,
        with,
        "POST",
        "/tokens",
        Some(json!({"name": name, "scopes": [scope]})),
    );
    assert_eq!(code, 201, "{t}");
    t["token"].as_str().unwrap().to_string()
}

fn job(id: &str, hooks: Option<Value>) -> Value {
    let mut body = json!({"job_id": id, "name": id, "trigger_type": "interval",
        "trigger_config": {"hours": 24}, "backup_config": {"type": "files"}});
    if let Some(h) = hooks {
        body["hooks"] = h;
    }
    body
}

fn refused_for_hooks(answer: (u16, Value)) {
    let (code, body) = answer;
    assert_eq!(code, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    assert_eq!(body["error"]["field"], "hooks", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("admin"),
        "{body}"
    );
}

#[test]
fn hooks_need_admin_and_never_see_the_services_secrets() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("data.txt"), "payload").unwrap();
    // A PostgreSQL source only for its password_env (the jobs here back up files).
    let config = format!(
        "[[sources.files]]\npath = {src:?}\n\n[[sources.database]]\nname = \"pg\"\n\
         kind = \"postgresql\"\nurl = \"postgresql://u@127.0.0.1:1/db\"\n\
         password_env = \"BACKUPD_TEST_GUARD_DB_PW\"\n\n[encryption]\n"
    );
    let env = [
        ("BACKUPD_PASSPHRASE", PASSPHRASE),
        ("BACKUPD_TEST_GUARD_DB_PW", DB_PASSWORD),
        ("BACKUPD_TEST_GUARD_KEPT", "kept-value"),
    ];
    let server = Served::with_opts(
        &config,
        &Opts {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Opts::default()
        },
    );
    // The first token while none exists (anonymous on loopback), then one for managing.
    let admin = token(&server, None, "root", "admin");
    let manage = token(&server, Some(&admin), "jobs-bot", "manage");
    let manage = Some(manage.as_str());
    let admin = Some(admin.as_str());
    let probe = json!({"after": ["sh", "-c",
        "echo \"pass=[$BACKUPD_PASSPHRASE] db=[$BACKUPD_TEST_GUARD_DB_PW] kept=[$BACKUPD_TEST_GUARD_KEPT]\"; \
         env | grep -c PLANTED || true"]});

    // manage: no hooks on a new job, none added to or changed on an existing one.
    refused_for_hooks(call(
        &server,
        manage,
        "POST",
        "/scheduler/jobs",
        Some(job("m1", Some(probe.clone()))),
    ));
    assert_eq!(
        call(&server, admin, "GET", "/scheduler/jobs/m1", None).0,
        404
    );
    let (code, body) = call(
        &server,
        manage,
        "POST",
        "/scheduler/jobs",
        Some(job("plain", None)),
    );
    assert_eq!(code, 201, "{body}");
    // hooks: null on a new job is no hook at all
    let (code, body) = call(
        &server,
        manage,
        "POST",
        "/scheduler/jobs",
        Some(job("plain2", Some(Value::Null))),
    );
    assert_eq!(code, 201, "{body}");
    refused_for_hooks(call(
        &server,
        manage,
        "PUT",
        "/scheduler/jobs/plain",
        Some(json!({"hooks": probe.clone()})),
    ));

    // admin sets them; manage may still edit the job, and send its hooks back unchanged.
    let (code, body) = call(
        &server,
        admin,
        "POST",
        "/scheduler/jobs",
        Some(job("hooked", Some(probe.clone()))),
    );
    assert_eq!(code, 201, "{body}");
    let (code, body) = call(
        &server,
        manage,
        "PUT",
        "/scheduler/jobs/hooked",
        Some(json!({"name": "renamed"})),
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = call(
        &server,
        manage,
        "PUT",
        "/scheduler/jobs/hooked",
        Some(json!({"hooks": body["hooks"].clone(), "jitter": 1})),
    );
    assert_eq!(code, 200, "{body}");
    refused_for_hooks(call(
        &server,
        manage,
        "PUT",
        "/scheduler/jobs/hooked",
        Some(json!({"hooks": {"after": ["sh", "-c", "id"]}})),
    ));
    refused_for_hooks(call(
        &server,
        manage,
        "PUT",
        "/scheduler/jobs/hooked",
        Some(json!({"hooks": null})),
    ));
    let (_, shown) = call(&server, admin, "GET", "/scheduler/jobs/hooked", None);
    assert_eq!(shown["hooks"]["after"], probe["after"], "{shown}");
    assert_eq!(shown["name"], "renamed", "{shown}");

    // The hook runs: its output (in the run's note) shows the service's secrets withheld and
    // the rest of the environment passed on.
    let (code, run) = call(&server, admin, "POST", "/scheduler/jobs/hooked/run", None);
    assert_eq!(code, 202, "{run}");
    let path = format!(
        "/runs/{}",
        run["run_id"].as_str().unwrap().replace('@', "%40")
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let run = loop {
        let (_, r) = call(&server, admin, "GET", &path, None);
        if r["status"] != "running" && r["status"] != "queued" {
            break r;
        }
        assert!(Instant::now() < deadline, "run never finished: {r}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(run["status"], "succeeded", "{run}");
    let note = run["note"].as_str().unwrap();
    assert!(
        note.contains("hook after: exit 0: pass=[] db=[] kept=[kept-value] | 0"),
        "{note}"
    );
    assert!(
        !note.contains(PASSPHRASE) && !note.contains(DB_PASSWORD),
        "{note}"
    );
}

#[test]
fn a_proxied_request_is_not_the_local_anonymous_client() {
    let server = Served::with_config("");
    // No token exists: a client on loopback is served ...
    assert_eq!(call(&server, None, "GET", "/scheduler/jobs", None).0, 200);
    // ... but not one a local proxy forwarded, whoever it was.
    for (header, value) in [
        ("X-Forwarded-For", "203.0.113.7"),
        ("Forwarded", "for=203.0.113.7;proto=https"),
        ("X-Real-IP", "203.0.113.7"),
        // a proxy that forwards a loopback client's address says nothing more trustworthy
        ("X-Forwarded-For", "127.0.0.1"),
    ] {
        let (code, body) = crate::support::reply(
            server
                .request("GET", "/scheduler/jobs")
                .set(header, value)
                .call(),
        );
        assert_eq!(code, 401, "{header}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{header}: {body}");
        assert_eq!(body["error"]["field"], "authorization", "{header}: {body}");
        let (code, _) = crate::support::reply(
            server
                .request("POST", "/tokens")
                .set(header, value)
                .send_json(json!({"name": "x", "scopes": ["admin"]})),
        );
        assert_eq!(
            code, 401,
            "{header}: no token may be made through the proxy"
        );
    }
    // With a token the proxy is no obstacle.
    let admin = token(&server, None, "root", "admin");
    let (code, body) = crate::support::reply(
        server
            .request("GET", "/scheduler/jobs")
            .set("X-Forwarded-For", "203.0.113.7")
            .set("Authorization", &format!("Bearer {admin}"))
            .call(),
    );
    assert_eq!(code, 200, "{body}");
}
