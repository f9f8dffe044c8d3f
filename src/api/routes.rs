//! The route table: every (method, path) the API serves and its handler. The router is built from
//! it and a test compares it with `schema/openapi.yaml`, so the two cannot drift apart.

use super::error::ApiError;
use super::metrics;
use super::{
    access, backups, browse, events, health, health_history, input, jobs, json, notifications,
    performance, reports, restore, retention, runs, scheduler, sources, state, tokens,
    trigger_preview, ApiContext, BASE,
};
use crate::auth::{self, Scope};
use smol::future::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use tide::http::Method;
use tide::{Next, Request, Response};

type Reply = Pin<Box<dyn Future<Output = Result<Response, ApiError>> + Send>>;
type Handler = fn(Request<ApiContext>) -> Reply;
/// The handlers that share one tide route, by the suffix of their last parameter ("" = none).
type BySuffix = Vec<(&'static str, Handler)>;

/// One route: the method, the path below `BASE` in OpenAPI's `{param}` notation, the handler.
pub struct Route {
    method: &'static str,
    path: &'static str,
    handler: Handler,
}

impl Route {
    pub fn method(&self) -> &'static str {
        self.method
    }

    pub fn path(&self) -> &'static str {
        self.path
    }

    /// The scope a token needs for this route (`auth::scope`).
    pub fn scope(&self) -> Scope {
        auth::required(self.method, self.path)
    }
}

macro_rules! route {
    ($method:literal, $path:literal, $handler:path) => {
        Route {
            method: $method,
            path: $path,
            handler: |req| Box::pin($handler(req)),
        }
    };
}

pub const ROUTES: &[Route] = &[
    route!("GET", "/scheduler/status", scheduler::status),
    route!("POST", "/scheduler/start", scheduler::start),
    route!("POST", "/scheduler/stop", scheduler::stop),
    route!("GET", "/scheduler/jobs", jobs::list),
    route!("POST", "/scheduler/jobs", jobs::create),
    route!("GET", "/scheduler/jobs/{job_id}", jobs::detail),
    route!("PUT", "/scheduler/jobs/{job_id}", jobs::update),
    route!("DELETE", "/scheduler/jobs/{job_id}", jobs::delete),
    route!("POST", "/scheduler/jobs/{job_id}/pause", jobs::pause),
    route!("POST", "/scheduler/jobs/{job_id}/resume", jobs::resume),
    route!("POST", "/scheduler/jobs/{job_id}/run", jobs::run),
    route!("GET", "/sources", sources::list),
    route!("GET", "/scheduler/jobs/{job_id}/preview", jobs::preview),
    route!("GET", "/runs", runs::list),
    route!("GET", "/runs/{run_id}", runs::detail),
    route!("POST", "/runs/{run_id}/cancel", runs::cancel),
    route!("GET", "/events", events::list),
    route!("GET", "/backups", backups::list),
    route!("GET", "/backups/unrecorded", backups::unrecorded),
    route!("GET", "/backups/{backup_id}", backups::detail),
    route!("DELETE", "/backups/{backup_id}", backups::forget),
    route!("POST", "/backups/{backup_id}/verify", backups::verify),
    route!("POST", "/backups/{backup_id}/restore", restore::restore),
    route!("GET", "/backups/{backup_id}/files", browse::list),
    route!("GET", "/backups/{backup_id}/files/content", browse::content),
    route!("GET", "/retention/preview", retention::preview),
    route!("GET", "/health", health::get),
    route!("GET", "/health/history", health_history::list),
    route!("GET", "/reports", reports::list),
    route!("GET", "/reports/{report_id}", reports::detail),
    route!("GET", "/reports/{report_id}.html", reports::page),
    route!("GET", "/tokens", tokens::list),
    route!("POST", "/tokens", tokens::create),
    route!("DELETE", "/tokens/{name}", tokens::revoke),
    route!("GET", "/notifications", notifications::list),
    route!("POST", "/notify/test", notifications::test),
    route!("GET", "/whoami", state::whoami),
    route!("GET", "/state", state::at_position),
    route!("GET", "/scheduler/preview", trigger_preview::preview),
    route!("GET", "/reports/performance", performance::get),
];

/// Routes at the server root, outside `BASE`, where scrapers look by convention. Literal paths
/// only (no `{param}`); the spec gives each a `servers: [{url: /}]` of its own.
pub const ROOT_ROUTES: &[Route] = &[route!("GET", "/metrics", metrics::serve)];

/// A parameter segment, `{name}` or `{name}.ext`: its name and the literal suffix after it.
fn param_segment(segment: &str) -> Option<(&str, &str)> {
    segment.strip_prefix('{')?.split_once('}')
}

/// `{job_id}` → `:job_id`, under `BASE`: tide's notation. Tide 0.16's parameters span whole
/// segments, so `{id}.html` becomes `:id` too and the handler is picked by suffix (`build`).
fn tide_path(path: &str) -> String {
    let segments: Vec<String> = path
        .split('/')
        .map(|s| match param_segment(s) {
            Some((name, _)) => format!(":{name}"),
            None => s.to_string(),
        })
        .collect();
    format!("{BASE}{}", segments.join("/"))
}

/// The literal suffix of a table path's last parameter (`.html` of `{id}.html`), or "".
fn suffix(path: &str) -> &str {
    path.rsplit('/')
        .next()
        .and_then(param_segment)
        .map_or("", |(_, suffix)| suffix)
}

/// Does a request path (below `BASE`) match a table path?
fn matches(pattern: &str, path: &str) -> bool {
    let (p, q): (Vec<_>, Vec<_>) = (pattern.split('/').collect(), path.split('/').collect());
    p.len() == q.len()
        && p.iter().zip(&q).all(|(p, q)| {
            p == q
                || param_segment(p)
                    .is_some_and(|(_, suffix)| q.len() > suffix.len() && q.ends_with(suffix))
        })
}

pub fn build(ctx: ApiContext) -> tide::Server<ApiContext> {
    let mut app = tide::with_state(ctx);
    app.with(fallback);
    // The dashboard's files hold no data: served before the access guard, without a token.
    app.with(dashboard);
    // Before the idempotency guard: a refused request leaves no trace of its key.
    app.with(access::guard);
    app.with(super::idempotency::guard);
    let below_base = ROUTES.iter().map(|r| (tide_path(r.path), r));
    let at_root = ROOT_ROUTES.iter().map(|r| (r.path.to_string(), r));
    // Routes that differ only by a suffix (`{id}`, `{id}.html`) share one tide route.
    let mut shared: Vec<(Method, String, BySuffix)> = Vec::new();
    for (at, route) in below_base.chain(at_root) {
        let method: Method = route
            .method
            .parse()
            .expect("the route table holds HTTP methods (checked by a test)");
        let entry = (suffix(route.path), route.handler);
        match shared.iter_mut().find(|(m, p, _)| *m == method && *p == at) {
            Some((_, _, handlers)) => handlers.push(entry),
            None => shared.push((method, at, vec![entry])),
        }
    }
    // Tide routes each method apart, so `DELETE /backups/unrecorded` would reach
    // `DELETE /backups/{backup_id}`; a literal path shadows a parameter for every method
    // (`allowed_methods`): the methods it does not serve are a 405 there.
    for literal in ROUTES.iter().filter(|r| !r.path.contains('{')) {
        for shadowed in ROUTES.iter().filter(|r| {
            r.path != literal.path
                && matches(r.path, literal.path)
                && !allowed_methods(&format!("{BASE}{}", literal.path)).contains(&r.method)
        }) {
            let method: Method = shadowed.method.parse().expect("checked by a test");
            let at = tide_path(literal.path);
            if !shared.iter().any(|(m, p, _)| *m == method && *p == at) {
                shared.push((method, at, vec![("", not_allowed)]));
            }
        }
    }
    for (method, at, mut handlers) in shared {
        // The longest suffix that the request's last segment carries wins; "" always matches.
        handlers.sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
        app.at(&at).method(method, move |req: Request<ApiContext>| {
            let last = req.url().path().rsplit('/').next().unwrap_or("");
            let handler = handlers
                .iter()
                .find(|(suffix, _)| last.len() > suffix.len() && last.ends_with(suffix))
                .or(handlers.last())
                .map(|(_, handler)| *handler)
                .expect("a shared route has at least one handler");
            async move {
                // A panic in a handler must not take the connection down without an answer.
                let reply = AssertUnwindSafe(handler(req)).catch_unwind().await;
                Ok(match reply {
                    Ok(Ok(res)) => res,
                    Ok(Err(e)) => e.into_response(),
                    Err(_) => ApiError::internal("a request handler panicked").into_response(),
                })
            }
        });
    }
    app
}

/// `GET`/`HEAD` of a dashboard file (`web`): answered here with its security headers; every
/// other request goes on to the access guard and the API.
fn dashboard<'a>(
    req: Request<ApiContext>,
    next: Next<'a, ApiContext>,
) -> Pin<Box<dyn Future<Output = tide::Result> + Send + 'a>> {
    Box::pin(async move {
        let asset = match req.method() {
            Method::Get | Method::Head => crate::web::asset(req.url().path()),
            _ => None,
        };
        let Some(asset) = asset else {
            return Ok(next.run(req).await);
        };
        let mut res = Response::new(200);
        res.set_body(tide::Body::from_bytes(asset.body.to_vec()));
        res.insert_header("Content-Type", asset.content_type);
        for (name, value) in crate::web::HEADERS {
            res.insert_header(*name, *value);
        }
        Ok(res)
    })
}

/// An empty 405: the fallback gives it the API's error body and `Allow`.
fn not_allowed(_: Request<ApiContext>) -> Reply {
    Box::pin(async { Ok(Response::new(405)) })
}

/// Before routing: buffer the body (see `input::buffer_body`). After: tide's own answers (unknown
/// route, wrong method, its errors) have empty bodies; give them the API's JSON error shape, and
/// a 405 its `Allow` header.
fn fallback<'a>(
    mut req: Request<ApiContext>,
    next: Next<'a, ApiContext>,
) -> Pin<Box<dyn Future<Output = tide::Result> + Send + 'a>> {
    Box::pin(async move {
        if let Err(e) = input::buffer_body(&mut req).await {
            // The rest of an oversized body is still on the wire: close rather than read it as
            // the next request.
            let mut res = e.into_response();
            res.insert_header("Connection", "close");
            return Ok(res);
        }
        let path = req.url().path().to_string();
        let method = req.method();
        let res = next.run(req).await;
        let status = u16::from(res.status());
        // Changes go to the scheduler log (reads would drown it); the event log has the detail.
        if !matches!(method, Method::Get | Method::Head) {
            log::info!("API: {method} {path} -> {status}");
        }
        if status < 400 || res.len() != Some(0) {
            return Ok(res);
        }
        Ok(match status {
            405 => {
                let allow = allowed_methods(&path);
                let mut res = ApiError::new(
                    405,
                    "method_not_allowed",
                    format!("{method} is not served at {path}; use {}", allow.join(", ")),
                )
                .into_response();
                res.insert_header("Allow", allow.join(", "));
                res
            }
            404 => {
                ApiError::new(404, "not_found", format!("no route {method} {path}")).into_response()
            }
            _ => ApiError::new(
                status,
                if status >= 500 {
                    "internal"
                } else {
                    "bad_request"
                },
                res.status().canonical_reason(),
            )
            .into_response(),
        })
    })
}

/// The methods the table serves at a request path (`/api/backup/...` or a root route), in table
/// order, each once: `{id}` also matches `x.html`, so one method may come from two routes.
pub(super) fn allowed_methods(path: &str) -> Vec<&'static str> {
    let (table, below) = match path.strip_prefix(BASE) {
        Some(below) => (ROUTES, below),
        None => (ROOT_ROUTES, path),
    };
    // A literal path shadows a parameter at the same place, as in tide's router:
    // `DELETE /backups/unrecorded` is a 405, not the forgetting of a backup "unrecorded".
    let literal = table.iter().any(|r| r.path == below);
    let mut allow: Vec<&'static str> = Vec::new();
    for r in table
        .iter()
        .filter(|r| matches(r.path, below) && (!literal || r.path == below))
    {
        if !allow.contains(&r.method) {
            allow.push(r.method);
        }
    }
    allow
}

/// The scope a request needs, by the route it reaches (`None`: no route; the router answers
/// 404 or 405). Matched as the router matches: a literal path shadows a parameter, the longest
/// suffix wins; HEAD is GET's.
pub(super) fn scope_for(method: &str, path: &str) -> Option<Scope> {
    let method = if method == "HEAD" { "GET" } else { method };
    let (table, below) = match path.strip_prefix(BASE) {
        Some(below) => (ROUTES, below),
        None => (ROOT_ROUTES, path),
    };
    let literal = table.iter().any(|r| r.path == below);
    table
        .iter()
        .filter(|r| r.method == method && matches(r.path, below) && (!literal || r.path == below))
        .max_by_key(|r| suffix(r.path).len())
        .map(Route::scope)
}

impl ApiError {
    pub fn into_response(self) -> Response {
        json(self.status, &self.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_methods_parse_and_paths_convert() {
        for r in ROUTES.iter().chain(ROOT_ROUTES) {
            assert!(r.method.parse::<Method>().is_ok(), "{}", r.method);
        }
        assert!(ROOT_ROUTES.iter().all(|r| !r.path.contains('{')));
        assert_eq!(
            tide_path("/scheduler/jobs/{job_id}/run"),
            "/api/backup/scheduler/jobs/:job_id/run"
        );
        assert!(matches("/scheduler/jobs/{job_id}", "/scheduler/jobs/a"));
        assert_eq!(
            tide_path("/reports/{report_id}.html"),
            "/api/backup/reports/:report_id"
        );
        assert_eq!(suffix("/reports/{report_id}.html"), ".html");
        assert_eq!(suffix("/reports/{report_id}"), "");
        assert!(matches("/reports/{report_id}.html", "/reports/a.html"));
        assert!(!matches("/reports/{report_id}.html", "/reports/a"));
        assert!(!matches("/reports/{report_id}.html", "/reports/.html"));
        assert!(!matches("/scheduler/jobs/{job_id}", "/scheduler/jobs/"));
        assert!(!matches("/scheduler/jobs/{job_id}", "/scheduler/jobs/a/b"));
    }

    #[test]
    fn requests_get_the_scope_of_the_route_they_reach() {
        let cases = [
            ("GET", "/api/backup/scheduler/jobs", Some(Scope::Read)),
            ("HEAD", "/api/backup/scheduler/jobs", Some(Scope::Read)),
            ("POST", "/api/backup/scheduler/jobs", Some(Scope::Manage)),
            (
                "POST",
                "/api/backup/scheduler/jobs/x/run",
                Some(Scope::Operate),
            ),
            (
                "GET",
                "/api/backup/backups/b1/files/content",
                Some(Scope::Restore),
            ),
            ("GET", "/api/backup/backups/b1/files", Some(Scope::Read)),
            ("DELETE", "/api/backup/backups/b1", Some(Scope::Manage)),
            // a literal shadows the parameter: not the forgetting of a backup "unrecorded"
            ("DELETE", "/api/backup/backups/unrecorded", None),
            ("GET", "/api/backup/reports/r.html", Some(Scope::Read)),
            ("DELETE", "/api/backup/tokens/ci", Some(Scope::Admin)),
            ("GET", "/api/backup/whoami", Some(Scope::Read)),
            ("GET", "/api/backup/state", Some(Scope::Read)),
            // the dashboard's files are no API route (served before the guard: `dashboard`)
            ("GET", "/", None),
            ("GET", "/app.js", None),
            ("GET", "/metrics", Some(Scope::Read)),
            ("GET", "/api/backup/no/such", None),
            ("PATCH", "/api/backup/scheduler/jobs", None),
        ];
        for (method, path, scope) in cases {
            assert_eq!(scope_for(method, path), scope, "{method} {path}");
        }
        for r in ROUTES {
            let filled = r.path.replace(['{', '}'], "");
            assert_eq!(
                scope_for(r.method, &format!("{BASE}{filled}")),
                Some(r.scope()),
                "{} {}",
                r.method,
                r.path
            );
        }
    }
}
