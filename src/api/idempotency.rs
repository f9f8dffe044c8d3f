//! `Idempotency-Key` on every mutating route: the key is bound to the request it first came
//! with (a SHA-256 of method, path with query, and body), and answers only that request.
//!
//! - A key seen with another request: 409 `idempotency_key_reused`, nothing done.
//! - The same request again: the first answer replayed (status, body, `Location`, `ETag`), with
//!   `Idempotent-Replayed: true`, nothing done.
//! - A first request: its binding is written (durably) before the handler runs, and its answer
//!   after, when it is a 2xx. An answer that is not (a 4xx refusal records no event) frees the
//!   key again, so a corrected request may use it.
//!
//! The records live in the store's `api_requests` table, so they survive a restart. If the
//! service stops between the handler's events and the answer's record, the binding is there
//! (written first): a different request is still refused, and the same one runs again, where
//! the key's events (`idempotency` in the store) make the command a replay of the first.

use super::error::ApiError;
use super::input::idempotency_key;
use super::ApiContext;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;
use tide::http::Method;
use tide::{Next, Request, Response};

/// One keyed request at a time: the binding is read, the request carried out and its answer
/// recorded without another request of the same key slipping in between. Keyed requests are
/// retries and rare; the commands themselves are serialised by the service anyway.
static TURN: smol::lock::Mutex<()> = smol::lock::Mutex::new(());

/// The headers of an answer that a replay gives back.
const KEPT_HEADERS: [&str; 3] = ["Content-Type", "Location", "ETag"];

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Record {
    /// Hex SHA-256 of the request (`fingerprint`).
    request: String,
    reply: Option<Reply>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// SHA-256 of method, path (with query) and body, each length-prefixed so no two requests
/// share the bytes.
fn fingerprint(method: &str, path_and_query: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [method.as_bytes(), path_and_query.as_bytes(), body] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The middleware (after the body is buffered: `routes::fallback`).
pub(super) fn guard<'a>(
    req: Request<ApiContext>,
    next: Next<'a, ApiContext>,
) -> Pin<Box<dyn Future<Output = tide::Result> + Send + 'a>> {
    Box::pin(async move {
        Ok(match keyed(req, next).await {
            Ok(res) => res,
            Err(e) => e.into_response(),
        })
    })
}

async fn keyed(
    mut req: Request<ApiContext>,
    next: Next<'_, ApiContext>,
) -> Result<Response, ApiError> {
    if matches!(req.method(), Method::Get | Method::Head | Method::Options) {
        return Ok(next.run(req).await);
    }
    let Some(key) = idempotency_key(&req)? else {
        return Ok(next.run(req).await);
    };
    let body = req.take_body().into_bytes().await.map_err(|e| {
        ApiError::new(
            400,
            "malformed_body",
            format!("the request body could not be read: {e}"),
        )
    })?;
    let url = req.url();
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let request = fingerprint(req.method().as_ref(), &target, &body);
    req.set_body(body);
    let store = req.state().service.store().clone();
    let _turn = TURN.lock().await;
    let found = {
        let (store, key) = (store.clone(), key.clone());
        smol::unblock(move || store.api_request_blocking(&key)).await
    }
    .map_err(|e| ApiError::failed(e.kind(), e))?;
    let known = match found {
        None => false,
        Some(bytes) => {
            let record: Record = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::internal(format!("idempotency record of {key:?}: {e}")))?;
            if record.request != request {
                return Err(ApiError::key_reused());
            }
            if let Some(reply) = record.reply {
                return Ok(replay(reply));
            }
            true
        }
    };
    if !known {
        put(
            &store,
            &key,
            Some(&Record {
                request: request.clone(),
                reply: None,
            }),
        )
        .await?;
    }
    let mut res = next.run(req).await;
    let status = u16::from(res.status());
    if (200..300).contains(&status) {
        let body = res.take_body().into_bytes().await.unwrap_or_default();
        let headers = KEPT_HEADERS
            .iter()
            .filter_map(|name| {
                res.header(*name)
                    .map(|v| (name.to_string(), v.as_str().to_string()))
            })
            .collect();
        let reply = Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        res.set_body(body);
        put(
            &store,
            &key,
            Some(&Record {
                request,
                reply: Some(reply),
            }),
        )
        .await?;
    } else if !known {
        put(&store, &key, None).await?;
    }
    Ok(res)
}

async fn put(
    store: &crate::store::EventStore,
    key: &str,
    record: Option<&Record>,
) -> Result<(), ApiError> {
    let bytes = record.map(|r| serde_json::to_vec(r).unwrap_or_default());
    let (store, key) = (store.clone(), key.to_string());
    smol::unblock(move || store.put_api_request_blocking(&key, bytes.as_deref()))
        .await
        .map_err(|e| ApiError::failed(e.kind(), e))
}

fn replay(reply: Reply) -> Response {
    let mut res = Response::new(reply.status);
    for (name, value) in reply.headers {
        res.insert_header(name.as_str(), value);
    }
    res.insert_header("Idempotent-Replayed", "true");
    if !reply.body.is_empty() {
        let content_type = res.content_type();
        res.set_body(reply.body);
        // `set_body` of a string says text/plain: the recorded type wins.
        if let Some(ct) = content_type {
            res.set_content_type(ct);
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_differ_by_method_path_and_body() {
        let base = fingerprint("POST", "/api/backup/scheduler/jobs", b"{}");
        assert_eq!(base.len(), 64);
        assert_eq!(
            base,
            fingerprint("POST", "/api/backup/scheduler/jobs", b"{}")
        );
        assert_ne!(
            base,
            fingerprint("PUT", "/api/backup/scheduler/jobs", b"{}")
        );
        assert_ne!(
            base,
            fingerprint("POST", "/api/backup/scheduler/jobs?x=1", b"{}")
        );
        assert_ne!(
            base,
            fingerprint("POST", "/api/backup/scheduler/jobs", b"{ }")
        );
        // Length prefixes: moving a byte from the path to the body is another request.
        assert_ne!(
            fingerprint("POST", "/a", b"b"),
            fingerprint("POST", "/", b"ab")
        );
    }
}
