//! The access guard: every request, before the idempotency guard and the handlers, gets the
//! verdict of `auth::authorize` for the scope its route needs (`routes::scope_for`). Refusals
//! are JSON (401 `unauthorized` / 403 `forbidden`, field `authorization`) and logged with the
//! remote address, never the presented token. An allowed request carries its `Caller`, which
//! `input::meta` turns into the actor of the events it causes (`api:<token name>`).

use super::error::ApiError;
use super::routes::scope_for;
use super::{ApiContext, BASE};
use crate::auth::{self, Caller, Denied};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use tide::{Next, Request};

/// The actor of a request the guard let through (`api:anonymous` for one it never saw).
pub fn actor(req: &Request<ApiContext>) -> String {
    req.ext::<Caller>().unwrap_or(&Caller::Anonymous).actor()
}

/// Headers a reverse proxy adds to what it forwards (RFC 7239 and the de facto ones).
const PROXY_HEADERS: &[&str] = &["Forwarded", "X-Forwarded-For", "X-Real-IP"];

pub(super) fn guard<'a>(
    mut req: Request<ApiContext>,
    next: Next<'a, ApiContext>,
) -> Pin<Box<dyn Future<Output = tide::Result> + Send + 'a>> {
    Box::pin(async move {
        let method = req.method().to_string();
        let path = req.url().path().to_string();
        let peer = req.peer_addr().unwrap_or("an unknown address").to_string();
        // A client on this machine: the only one served while no token exists. A request that
        // a proxy forwarded comes from the proxy's address, loopback when it runs here, on
        // behalf of anyone who reached the proxy: never loopback.
        let proxied = PROXY_HEADERS.iter().any(|h| req.header(*h).is_some());
        let loopback = !proxied
            && peer
                .parse::<SocketAddr>()
                .is_ok_and(|a| a.ip().to_canonical().is_loopback());
        let peer = if proxied {
            format!("{peer} (forwarded by a proxy)")
        } else {
            peer
        };
        let ctx = req.state();
        let values: Vec<String> = req
            .header("Authorization")
            .map(|v| v.iter().map(|v| v.as_str().to_string()).collect())
            .unwrap_or_default();
        let verdict = if values.len() > 1 {
            Err(Denied::Unauthenticated(
                "send one Authorization header, not several".into(),
            ))
        } else {
            let request = auth::Request {
                authorization: values.first().map(String::as_str),
                loopback,
                anonymous_allowed: path == "/metrics" && ctx.config.metrics_anonymous,
                needed: scope_for(&method, &path),
            };
            let now = ctx.now();
            ctx.service
                .read(|s| auth::authorize(&s.tokens, &request, now))
        };
        let caller = match verdict {
            Ok(caller) => caller,
            Err(Denied::Unauthenticated(why)) => {
                log::warn!("API: 401 {method} {path} from {peer}: {why}");
                let mut res = ApiError::unauthorized(why).into_response();
                res.insert_header("WWW-Authenticate", "Bearer");
                return Ok(res);
            }
            Err(Denied::Forbidden { token, needed }) => {
                log::warn!(
                    "API: 403 {method} {path} from {peer}: token {token:?} lacks scope {}",
                    needed.as_str()
                );
                return Ok(ApiError::forbidden(&token, needed).into_response());
            }
        };
        // A replayed creation would answer with the secret again, so the idempotency guard would
        // have to store it: a token's creation takes no key (retry it, revoke what never came).
        if method == "POST"
            && path == format!("{BASE}/tokens")
            && req.header("Idempotency-Key").is_some()
        {
            return Ok(ApiError::invalid(
                "Idempotency-Key",
                "a token's secret is never stored, so creating one cannot be replayed: send it \
                 without Idempotency-Key (and revoke a token whose answer never arrived)",
            )
            .into_response());
        }
        req.set_ext(caller);
        Ok(next.run(req).await)
    })
}
