//! Issue 14's table: every route of the router × no token (401), each single-scope token (the
//! route's own scope gets the route's success, every other scope 403) and admin (success). Each
//! row asks for something that exists — a job, a finished run with its backup, a report, a file
//! of the backup, a restore target under the allowed root, a running run to cancel — so that
//! the right scope's answer is the route's 2xx, not a 404 about an unknown id. A destructive row
//! (delete a job, forget a backup, revoke a token) and one that changes what it acts on (pause,
//! resume, cancel, run) makes a fresh object for each call that may succeed; the refused calls
//! go first, at the same object, which the allowed call then still finds intact.

use super::{call, create, finished, is_refusal};
use crate::notify::servers::Receiver;
use crate::support::{reply, Served as Server};
use backupd::auth::Scope;
use serde_json::{json, Value};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// One call: the path (below the API base, or `/metrics`) and the body.
type Call = (String, Option<Value>);

/// Method, route, success status, and how to make the call.
type Row = (&'static str, &'static str, u16, fn(&World) -> Call);

/// What the rows act on, made before the first token exists (loopback is anonymous until then).
struct World {
    server: Server,
    /// The webhook channel `hook` posts here (`notify/test`).
    _hook: Receiver,
    /// Holds `scratch`.
    _dir: tempfile::TempDir,
    /// The admin token: it makes each row's fresh objects.
    admin: String,
    scratch: PathBuf,
    run_id: String,
    backup_id: String,
    /// The original path of a file of that backup.
    file: String,
    report_id: String,
    /// Numbers the fresh objects.
    made: Cell<u32>,
}

/// The table: method, route (as the router's table spells it), the success status, and the call
/// a token of the route's scope makes. Every route of the router has exactly one row.
#[rustfmt::skip]
const ROWS: &[Row] = &[
    ("GET", "/scheduler/status", 200, |_| plain("/scheduler/status")),
    ("GET", "/scheduler/jobs", 200, |_| plain("/scheduler/jobs")),
    ("POST", "/scheduler/jobs", 201, |w| ("/scheduler/jobs".into(), Some(files_job(&w.fresh("new"))))),
    ("GET", "/scheduler/jobs/{job_id}", 200, |_| plain("/scheduler/jobs/files")),
    ("PUT", "/scheduler/jobs/{job_id}", 200, |_| ("/scheduler/jobs/files".into(), Some(json!({"name": "Files (renamed)"})))),
    ("DELETE", "/scheduler/jobs/{job_id}", 204, |w| plain(&format!("/scheduler/jobs/{}", w.job()))),
    ("POST", "/scheduler/jobs/{job_id}/pause", 200, |w| plain(&format!("/scheduler/jobs/{}/pause", w.job()))),
    ("POST", "/scheduler/jobs/{job_id}/resume", 200, |w| plain(&format!("/scheduler/jobs/{}/resume", w.paused_job()))),
    ("POST", "/scheduler/jobs/{job_id}/run", 202, |w| plain(&format!("/scheduler/jobs/{}/run", w.job()))),
    ("GET", "/sources", 200, |_| plain("/sources")),
    ("GET", "/scheduler/jobs/{job_id}/preview", 200, |_| plain("/scheduler/jobs/files/preview")),
    ("GET", "/runs", 200, |_| plain("/runs")),
    ("GET", "/runs/{run_id}", 200, |w| plain(&format!("/runs/{}", esc(&w.run_id)))),
    ("POST", "/runs/{run_id}/cancel", 200, |w| plain(&format!("/runs/{}/cancel", esc(&w.sleeping_run())))),
    ("GET", "/events", 200, |_| plain("/events")),
    ("GET", "/backups", 200, |_| plain("/backups")),
    ("GET", "/backups/unrecorded", 200, |_| plain("/backups/unrecorded")),
    ("GET", "/backups/{backup_id}", 200, |w| plain(&format!("/backups/{}", w.backup_id))),
    ("DELETE", "/backups/{backup_id}", 200, |w| (format!("/backups/{}", w.backup()), Some(json!({"force": true})))),
    ("POST", "/backups/{backup_id}/verify", 200, |w| plain(&format!("/backups/{}/verify", w.backup_id))),
    ("POST", "/backups/{backup_id}/restore", 200, |w| (format!("/backups/{}/restore", w.backup_id), Some(json!({"target": w.target()})))),
    ("GET", "/backups/{backup_id}/files", 200, |w| plain(&format!("/backups/{}/files", w.backup_id))),
    ("GET", "/backups/{backup_id}/files/content", 200, |w| plain(&format!("/backups/{}/files/content?path={}", w.backup_id, esc(&w.file)))),
    ("GET", "/retention/preview", 200, |_| plain("/retention/preview")),
    ("GET", "/health", 200, |_| plain("/health")),
    ("GET", "/health/history", 200, |_| plain("/health/history")),
    ("GET", "/reports", 200, |_| plain("/reports")),
    ("GET", "/reports/{report_id}", 200, |w| plain(&format!("/reports/{}", w.report_id))),
    ("GET", "/reports/{report_id}.html", 200, |w| plain(&format!("/reports/{}.html", w.report_id))),
    ("GET", "/reports/performance", 200, |_| plain("/reports/performance")),
    ("GET", "/tokens", 200, |_| plain("/tokens")),
    ("POST", "/tokens", 201, |w| ("/tokens".into(), Some(json!({"name": w.fresh("made"), "scopes": ["read"]})))),
    ("DELETE", "/tokens/{name}", 200, |w| plain(&format!("/tokens/{}", w.token()))),
    ("GET", "/notifications", 200, |_| plain("/notifications")),
    ("POST", "/notify/test", 200, |_| plain("/notify/test?channel=hook")),
    ("GET", "/whoami", 200, |_| plain("/whoami")),
    ("GET", "/state", 200, |_| plain("/state")),
    ("GET", "/scheduler/preview", 200, |_| plain("/scheduler/preview?trigger_type=interval&trigger_config=%7B%22hours%22%3A1%7D")),
    ("GET", "/metrics", 200, |_| plain("/metrics")),
    // Last: the scheduler is stopped in between, and runs above are simpler with it running.
    ("POST", "/scheduler/stop", 200, |w| w.then("POST", "/scheduler/start", "/scheduler/stop")),
    ("POST", "/scheduler/start", 200, |w| w.then("POST", "/scheduler/stop", "/scheduler/start")),
];

fn plain(path: &str) -> Call {
    (path.to_string(), None)
}

/// `@`, `/` and the rest of a path or query value percent-encoded.
fn esc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A daily job over the `[[sources.files]]`: its run is a small, quick backup.
fn files_job(id: &str) -> Value {
    json!({"job_id": id, "name": id, "trigger_type": "interval",
           "trigger_config": {"hours": 24}, "backup_config": {"type": "files"}})
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().to_path_buf();
        std::fs::create_dir_all(scratch.join("src/docs")).unwrap();
        std::fs::create_dir_all(scratch.join("restores")).unwrap();
        let file = scratch.join("src/docs/hello.txt");
        std::fs::write(&file, "hello from the scope table\n").unwrap();
        let hook = Receiver::start();
        // The dump of `sleeper` takes ten minutes: its runs stay running until cancelled.
        let server = Server::with_config(&format!(
            "[restore]\nallowed_targets = [{restores:?}]\n\n\
             [[sources.files]]\npath = {src:?}\n\n\
             [[sources.database]]\nname = \"sleeper\"\nkind = \"command\"\n\
             command = [\"sleep\", \"600\"]\n\n\
             [[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{url}\"\n",
            restores = scratch.join("restores"),
            src = scratch.join("src"),
            url = hook.url,
        ));
        let job = |body: Value| {
            let (status, answer) = server.send("POST", "/scheduler/jobs", Some(body));
            assert_eq!(status, 201, "{answer}");
        };
        job(files_job("files"));
        job(
            json!({"job_id": "sleeper", "name": "sleeper", "trigger_type": "interval",
                   "trigger_config": {"hours": 24},
                   "backup_config": {"type": "database", "options": {"sources": ["sleeper"]}}}),
        );
        let run = server.run("files");
        assert_eq!(run["status"], "succeeded", "{run}");
        let report = server.run("daily_report");
        assert_eq!(report["status"], "succeeded", "{report}");
        let reports = server.get("/reports");
        let report_id = reports["reports"][0]["id"].as_str().unwrap().to_string();
        let admin = create(&server, None, "root", &["admin"]);
        World {
            run_id: run["run_id"].as_str().unwrap().to_string(),
            backup_id: run["backup_id"].as_str().unwrap().to_string(),
            file: file.display().to_string(),
            report_id,
            server,
            _hook: hook,
            _dir: dir,
            admin,
            scratch,
            made: Cell::new(0),
        }
    }

    /// A request as admin that must succeed: its answer.
    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = call(&self.server, Some(&self.admin), method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {answer}"
        );
        answer
    }

    /// `prefix-N`, never the same twice.
    fn fresh(&self, prefix: &str) -> String {
        self.made.set(self.made.get() + 1);
        format!("{prefix}-{}", self.made.get())
    }

    /// A new files job: its id.
    fn job(&self) -> String {
        let id = self.fresh("job");
        self.ok("POST", "/scheduler/jobs", Some(files_job(&id)));
        id
    }

    fn paused_job(&self) -> String {
        let id = self.job();
        self.ok("POST", &format!("/scheduler/jobs/{id}/pause"), None);
        id
    }

    /// A run of `sleeper`, started and without an outcome: its id.
    fn sleeping_run(&self) -> String {
        let run = self.ok("POST", "/scheduler/jobs/sleeper/run", None);
        run["run_id"].as_str().unwrap().to_string()
    }

    /// A backup of a job of its own, its only one (so forgetting it takes `force`).
    fn backup(&self) -> String {
        let id = self.job();
        let run = self.ok("POST", &format!("/scheduler/jobs/{id}/run"), None);
        let run = finished(&self.server, &self.admin, run["run_id"].as_str().unwrap());
        assert_eq!(run["status"], "succeeded", "{run}");
        run["backup_id"].as_str().unwrap().to_string()
    }

    /// A directory under the allowed root that does not exist yet.
    fn target(&self) -> String {
        let dir = self.scratch.join("restores").join(self.fresh("into"));
        dir.display().to_string()
    }

    /// A token with nothing else to do: its name.
    fn token(&self) -> String {
        let name = self.fresh("spare");
        create(&self.server, Some(&self.admin), &name, &["read"]);
        name
    }

    /// `before` as admin (what puts the scheduler in the state `path` changes), then `path`.
    fn then(&self, method: &str, before: &str, path: &str) -> Call {
        self.ok(method, before, None);
        plain(path)
    }
}

#[test]
fn each_scope_allows_exactly_its_routes() {
    let w = World::new();
    let server = &w.server;
    let mut tokens: Vec<(Scope, String)> = Vec::new();
    for scope in [Scope::Read, Scope::Operate, Scope::Manage, Scope::Restore] {
        let name = format!("only-{}", scope.as_str());
        let secret = create(server, Some(&w.admin), &name, &[scope.as_str()]);
        tokens.push((scope, secret));
    }
    // The table is the router's table, row for row: a new route cannot escape it.
    let routes: BTreeSet<(&str, &str)> = backupd::api::ROUTES
        .iter()
        .chain(backupd::api::ROOT_ROUTES)
        .map(|r| (r.method(), r.path()))
        .collect();
    let rows: BTreeSet<(&str, &str)> = ROWS.iter().map(|(m, p, _, _)| (*m, *p)).collect();
    assert_eq!(rows.len(), ROWS.len(), "a route with two rows");
    assert_eq!(rows, routes, "the table and the router differ");
    let scope_of = |m: &str, p: &str| {
        backupd::api::ROUTES
            .iter()
            .chain(backupd::api::ROOT_ROUTES)
            .find(|r| r.method() == m && r.path() == p)
            .unwrap()
            .scope()
    };

    let mut passed_by: std::collections::BTreeMap<&str, usize> = Default::default();
    for (method, route, success, make) in ROWS {
        let needed = scope_of(method, route);
        let (path, body) = make(&w);
        let what = |who: &str, status: u16, answer: &Value| {
            format!("{method} {route} ({path}) as {who} -> {status}: {answer}")
        };
        let (status, answer) = call(server, None, method, &path, body.clone());
        assert_eq!(status, 401, "{}", what("nobody", status, &answer));
        assert!(is_refusal(&answer, "unauthorized"), "{answer}");
        for (scope, token) in tokens.iter().filter(|(s, _)| *s != needed) {
            let (status, answer) = call(server, Some(token), method, &path, body.clone());
            let who = scope.as_str();
            assert_eq!(status, 403, "{}", what(who, status, &answer));
            assert!(is_refusal(&answer, "forbidden"), "{answer}");
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("\"{}\"", needed.as_str())),
                "names the scope needed: {message}"
            );
        }
        // The refused calls changed nothing: the same call now succeeds for the right scope
        // (admin's routes have no single-scope token but admin's own).
        let holder = tokens.iter().find(|(s, _)| *s == needed);
        let (who, token) = holder.map_or(("admin", &w.admin), |(s, t)| (s.as_str(), t));
        let (status, answer) = call(server, Some(token), method, &path, body);
        assert_eq!(status, *success, "{}", what(who, status, &answer));
        *passed_by.entry(who).or_default() += 1;
        // Admin holds every scope: a call of its own (a fresh object where the row makes one).
        let (path, body) = make(&w);
        let (status, answer) = call(server, Some(&w.admin), method, &path, body);
        assert_eq!(status, *success, "{}", what("admin", status, &answer));
    }
    // Each scope opened what the table gives it.
    let expected = |scope: Scope| {
        ROWS.iter()
            .filter(|(m, p, _, _)| scope_of(m, p) == scope)
            .count()
    };
    for scope in [
        Scope::Read,
        Scope::Operate,
        Scope::Manage,
        Scope::Restore,
        Scope::Admin,
    ] {
        assert!(expected(scope) >= 2, "{scope:?}");
        assert_eq!(
            passed_by.get(scope.as_str()).copied(),
            Some(expected(scope)),
            "{passed_by:?}"
        );
    }

    // A token that is not one at all, and the wrong scheme, are 401s too.
    for header in ["Bearer bkpd_nonsense", "Basic cm9vdDpyb290", "Bearer"] {
        let (status, answer) = reply(
            server
                .request("GET", "/scheduler/status")
                .set("Authorization", header)
                .call(),
        );
        assert_eq!(status, 401, "{header}: {answer}");
        assert_eq!(answer["error"]["field"], "authorization");
    }
    // Refusals are logged with the remote address, never with the token.
    let log = std::fs::read_to_string(server.data_dir().join("logs/backup_scheduler.log")).unwrap();
    assert!(
        log.contains("API: 401 GET /api/backup/scheduler/jobs from 127.0.0.1:"),
        "{log}"
    );
    assert!(log.contains("API: 403 "), "{log}");
    assert!(log.contains("lacks scope"), "{log}");
    for (_, t) in tokens.iter().chain([&(Scope::Admin, w.admin.clone())]) {
        assert!(!log.contains(&t[5..]), "a secret in the log file");
    }
    drop(w.server.stop());
}
