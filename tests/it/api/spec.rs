//! The routes of `schema/openapi.yaml` against the route table and against what the running
//! binary answers.

use crate::support::{repo, Served as Server};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The (method, path) pairs of `schema/openapi.yaml`, read by indentation: path keys sit two
/// spaces in under `paths:`, their operations four.
fn spec_routes(yaml: &str) -> BTreeSet<(String, String)> {
    const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];
    let mut out = BTreeSet::new();
    let mut in_paths = false;
    let mut path = None;
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let key = line.trim().strip_suffix(':');
        if indent == 0 && !line.trim().is_empty() {
            in_paths = line.trim() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        match (indent, key) {
            (2, Some(p)) if p.starts_with('/') => path = Some(p.to_string()),
            (4, Some(m)) if METHODS.contains(&m) => {
                let p = path.clone().expect("an operation outside a path");
                out.insert((m.to_uppercase(), p));
            }
            _ => {}
        }
    }
    out
}

/// The `x-scope` of each operation of `schema/openapi.yaml`, six spaces in under it.
fn spec_scopes(yaml: &str) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    let (mut path, mut op) = (None, None);
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let key = line.trim().strip_suffix(':');
        match (indent, key) {
            (0, _) if !line.trim().is_empty() => path = None,
            (2, Some(p)) if p.starts_with('/') => path = Some(p.to_string()),
            (4, Some(m)) => op = path.clone().map(|p| (m.to_uppercase(), p)),
            (6, _) => {
                if let (Some(scope), Some(op)) = (line.trim().strip_prefix("x-scope: "), &op) {
                    assert!(
                        out.insert(op.clone(), scope.to_string()).is_none(),
                        "{op:?} has two scopes"
                    );
                }
            }
            _ => {}
        }
    }
    out
}

/// Each operation declares the scope the route table gives it, under the bearer scheme.
#[test]
fn openapi_declares_each_routes_scope() {
    let yaml = std::fs::read_to_string(repo().join("schema/openapi.yaml")).unwrap();
    let declared = spec_scopes(&yaml);
    let table: BTreeMap<(String, String), String> = backupd::api::ROUTES
        .iter()
        .chain(backupd::api::ROOT_ROUTES)
        .map(|r| {
            let op = (r.method().to_string(), r.path().to_string());
            (op, r.scope().as_str().to_string())
        })
        .collect();
    assert_eq!(declared, table);
    assert!(yaml.contains("\nsecurity:\n  - bearer: []\n"));
    assert!(
        yaml.contains("  securitySchemes:\n    bearer:\n      type: http\n      scheme: bearer\n")
    );
}

#[test]
fn router_and_openapi_spec_are_in_step() {
    let yaml = std::fs::read_to_string(repo().join("schema/openapi.yaml")).unwrap();
    let spec = spec_routes(&yaml);
    let (below_base, at_root) = (backupd::api::ROUTES, backupd::api::ROOT_ROUTES);
    let router: BTreeSet<(String, String)> = below_base
        .iter()
        .chain(at_root)
        .map(|r| (r.method().to_string(), r.path().to_string()))
        .collect();
    assert_eq!(
        router.len(),
        below_base.len() + at_root.len(),
        "a route twice"
    );
    // A root route is outside the spec's server URL: its path must say so.
    for r in at_root {
        let own_server = format!("\n  {}:\n    servers:\n      - url: /\n", r.path());
        assert!(
            yaml.contains(&own_server),
            "{} lacks servers: [url: /]",
            r.path()
        );
    }
    let only_router: Vec<_> = router.difference(&spec).collect();
    let only_spec: Vec<_> = spec.difference(&router).collect();
    assert!(
        only_router.is_empty() && only_spec.is_empty(),
        "not in the spec: {only_router:?}; not in the router: {only_spec:?}"
    );
    assert!(yaml.contains("url: /api/backup"));

    served_router_answers_exactly_the_spec(&spec);
}

/// The id that fills every path parameter: no job, run, backup or report has it.
const UNKNOWN: &str = "zz-unknown";

/// A spec path with its parameters filled with `UNKNOWN`, and the parameter's name if it has one
/// (at most one per path in this API).
fn fill(path: &str) -> (String, Option<String>) {
    let mut param = None;
    let filled: Vec<String> = path
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.split_once('}')) {
                Some((name, suffix)) => {
                    param = Some(name.to_string());
                    format!("{UNKNOWN}{suffix}")
                }
                None => segment.to_string(),
            },
        )
        .collect();
    (filled.join("/"), param)
}

/// Status, `Allow` header and JSON body of one request to the served binary. The body is JSON
/// that gets past each handler's own body checks, so an unknown id is what it answers about.
fn probe(server: &Server, method: &str, path: &str) -> (u16, Option<String>, Value) {
    let url = if path == "/metrics" {
        format!("{}{path}", server.root)
    } else {
        server.url(path)
    };
    let req = ureq::request(method, &url).timeout(Duration::from_secs(30));
    let body = match (method, path.rsplit('/').next()) {
        ("POST", Some("restore")) => Some(json!({"target": "/nonexistent/restore-probe"})),
        ("PUT", _) => Some(json!({"name": "probe"})),
        ("POST", _) => Some(json!({})),
        _ => None,
    };
    let result = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: transport error: {e}"),
    };
    let status = resp.status();
    let allow = resp.header("Allow").map(str::to_string);
    let text = resp.into_string().unwrap();
    let body = if text.starts_with('{') {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
    } else {
        // `/metrics` and the report page answer in their own formats.
        Value::String(text)
    };
    (status, allow, body)
}

/// What the running binary serves, asked over HTTP, not read from the route table: every
/// (method, path) of the spec reaches its own handler, and every other method on a spec path
/// gets 405 naming exactly the spec's methods. A route dropped from (or added to) what
/// `routes::build` serves fails here even when the table still lists it.
fn served_router_answers_exactly_the_spec(spec: &BTreeSet<(String, String)>) {
    const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "PATCH"];
    let server = Server::demo();
    // The router's own answers, to tell them apart from a handler's.
    let (status, _, no_route) = probe(&server, "GET", "/no/such/route");
    assert_eq!(
        (
            status,
            &no_route["error"]["code"],
            &no_route["error"]["field"]
        ),
        (404, &json!("not_found"), &Value::Null),
        "{no_route}"
    );
    for (method, path) in spec {
        let (filled, param) = fill(path);
        let (status, _, body) = probe(&server, method, &filled);
        let what = format!("{method} {path} ({filled}) -> {status}: {body}");
        assert_ne!(status, 405, "not served: {what}");
        let code = &body["error"]["code"];
        match param {
            // A handler that looked the id up: its 404 names the parameter and quotes the whole
            // id (`{id}` and `{id}.html` share a tide route; the wrong one would quote
            // `zz-unknown.html`).
            Some(param) => {
                assert_eq!(status, 404, "{what}");
                assert_eq!(code, "not_found", "{what}");
                assert_eq!(body["error"]["field"], param.as_str(), "{what}");
                let message = body["error"]["message"].as_str().unwrap();
                assert!(message.contains(&format!("\"{UNKNOWN}\"")), "{what}");
            }
            None => assert!(
                status < 300 || (status < 500 && !body["error"]["field"].is_null()),
                "not answered by its handler: {what}"
            ),
        }
    }
    let paths: BTreeSet<&String> = spec.iter().map(|(_, p)| p).collect();
    for path in paths {
        let (filled, _) = fill(path);
        let served: BTreeSet<&str> = spec
            .iter()
            .filter(|(_, p)| p == path)
            .map(|(m, _)| m.as_str())
            .collect();
        for method in METHODS.iter().filter(|m| !served.contains(*m)) {
            let (status, allow, body) = probe(&server, method, &filled);
            let what = format!("{method} {path} -> {status}: {body}");
            assert_eq!(status, 405, "served but not in the spec: {what}");
            assert_eq!(body["error"]["code"], "method_not_allowed", "{what}");
            let allow: BTreeSet<&str> = allow.as_deref().unwrap_or("").split(", ").collect();
            assert_eq!(allow, served, "Allow of {path}");
        }
    }
    server.stop();
}
