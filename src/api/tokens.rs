//! `tokens`: create (the secret in the answer, once), list (no secrets, no hashes), revoke. Every
//! route here needs the `admin` scope (`auth::scope`).

use super::error::ApiError;
use super::input::{self, json_body, meta, object, param};
use super::{json, ApiContext};
use crate::auth::{self, token, Scope};
use crate::decide::Command;
use crate::events::Ts;
use crate::projections::Token;
use serde_json::{json, Value};
use tide::{Request, Response};

const FIELDS: [&str; 3] = ["name", "scopes", "expires"];

/// `POST tokens` `{"name", "scopes": [...], "expires": "90d" | null}`: 201 with the token's
/// secret as `token`. It is shown this once: only its SHA-256 is recorded.
pub async fn create(mut req: Request<ApiContext>) -> Result<Response, ApiError> {
    let body = object(json_body(&mut req).await?, false)?;
    if let Some(unknown) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::unknown_field(unknown, &FIELDS));
    }
    let name = match body.get("name") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(ApiError::invalid(
                "name",
                format!("name must be a string, not {}", input::kind(other)),
            ))
        }
        None => return Err(ApiError::invalid("name", "name is required")),
    };
    let scopes = match body.get("scopes") {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().and_then(Scope::parse).ok_or_else(|| {
                    ApiError::invalid(
                        &format!("scopes[{i}]"),
                        format!("{v} is not a scope: read, operate, manage, restore or admin"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => {
            return Err(ApiError::invalid(
                "scopes",
                format!(
                    "scopes must be an array of scope names, not {}",
                    input::kind(other)
                ),
            ))
        }
        None => return Err(ApiError::invalid("scopes", "scopes is required")),
    };
    let ctx = req.state();
    let now = ctx.now();
    let expires = match body.get("expires") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(other) => {
            return Err(ApiError::invalid(
                "expires",
                format!(
                    "expires must be a duration such as \"90d\" or null, not {}",
                    input::kind(other)
                ),
            ))
        }
    };
    let expires_at = auth::expiry(expires, now).map_err(|why| ApiError::invalid("expires", why))?;
    let secret = token::generate()
        .map_err(|e| ApiError::internal(format!("no random bytes for a token: {e}")))?;
    let command = Command::CreateToken {
        name: name.clone(),
        scopes,
        expires_at,
        hash: secret.hash(),
    };
    ctx.execute(command, meta(&req)?).await?;
    let mut shown = ctx
        .service
        .read(|s| s.tokens.by_name.get(&name).map(|t| token_json(t, now)))
        .ok_or_else(|| ApiError::internal("the token just recorded is not in the state"))?;
    shown["token"] = json!(secret.expose());
    Ok(json(201, &shown))
}

/// `GET tokens`: every token by name (the latest of each name), live, expired or revoked.
pub async fn list(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let ctx = req.state();
    let now = ctx.now();
    let tokens: Vec<Value> = ctx.service.read(|s| {
        s.tokens
            .by_name
            .values()
            .map(|t| token_json(t, now))
            .collect()
    });
    Ok(json(200, &json!({ "tokens": tokens })))
}

/// `DELETE tokens/{name}`: revoked from the next request on; the answer shows it revoked.
pub async fn revoke(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let name = param(&req, "name")?;
    let ctx = req.state();
    let command = Command::RevokeToken { name: name.clone() };
    ctx.execute(command, meta(&req)?).await?;
    let now = ctx.now();
    let shown = ctx
        .service
        .read(|s| s.tokens.by_name.get(&name).map(|t| token_json(t, now)))
        .ok_or_else(|| ApiError::internal("the token just revoked is not in the state"))?;
    Ok(json(200, &shown))
}

/// A token as shown (the API and `backupd token list`): never its hash, let alone a secret.
pub fn token_json(t: &Token, now: Ts) -> Value {
    let status = if t.revoked_at.is_some() {
        "revoked"
    } else if t.live(now) {
        "live"
    } else {
        "expired"
    };
    json!({
        "name": t.name,
        "scopes": t.scopes,
        "status": status,
        "created_at": t.created_at,
        "created_by": t.created_by,
        "expires_at": t.expires_at,
        "revoked_at": t.revoked_at,
        "revoked_by": t.revoked_by,
    })
}
