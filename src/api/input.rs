//! What a request carries, read defensively: a JSON body of at most 1 MiB, path parameters, and
//! query strings, each turned into a typed value or a 4xx `ApiError` that names the field.

use super::error::ApiError;
use super::ApiContext;
use crate::service::Meta;
use serde_json::{Map, Value};
use smol::io::AsyncReadExt;
use tide::Request;

/// The largest request body accepted. Job definitions are a few hundred bytes; a megabyte leaves
/// room for anything legitimate and bounds what one request can make the server hold.
pub const MAX_BODY: usize = 1024 * 1024;

/// Read the whole request body into memory before routing, at most `MAX_BODY` bytes (never more
/// than `MAX_BODY + 1` held). Every request goes through this, also those no handler reads:
/// async-h1 discards an unread body only after the answer is written, and by then a keep-alive
/// client may have sent its next request, which that discard can swallow.
pub async fn buffer_body(req: &mut Request<ApiContext>) -> Result<(), ApiError> {
    if let Some(len) = req.len() {
        if len > MAX_BODY {
            return Err(too_large(len.to_string()));
        }
    }
    // Sized from Content-Length when given, so the buffer does not double past the limit.
    let mut bytes = Vec::with_capacity(req.len().unwrap_or(0).min(MAX_BODY + 1));
    let mut body = req.take_body().take(MAX_BODY as u64 + 1);
    body.read_to_end(&mut bytes).await.map_err(|e| {
        ApiError::new(
            400,
            "malformed_body",
            format!("the request body could not be read: {e}"),
        )
    })?;
    if bytes.len() > MAX_BODY {
        return Err(too_large(format!("more than {MAX_BODY}")));
    }
    req.set_body(bytes);
    Ok(())
}

/// The (already buffered) body as JSON. `None` when there is none: an empty POST is how the
/// seed calls `pause`, `run`, `start`...
pub async fn json_body(req: &mut Request<ApiContext>) -> Result<Option<Value>, ApiError> {
    let bytes = req.body_bytes().await.map_err(|e| {
        ApiError::new(
            400,
            "malformed_body",
            format!("the request body could not be read: {e}"),
        )
    })?;
    if bytes.is_empty() {
        return Ok(None);
    }
    check_content_type(req)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        ApiError::new(
            400,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        )
    })
}

fn too_large(len: String) -> ApiError {
    ApiError::new(
        413,
        "payload_too_large",
        format!("the body has {len} bytes; at most {MAX_BODY} are accepted"),
    )
}

/// A body must say it is JSON; `application/json` with any parameters, or a `+json` type.
fn check_content_type(req: &Request<ApiContext>) -> Result<(), ApiError> {
    let given = req
        .header("Content-Type")
        .map(|v| v.as_str().to_string())
        .unwrap_or_default();
    let essence = given
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        return Ok(());
    }
    let shown = if given.is_empty() {
        "no Content-Type".to_string()
    } else {
        format!("Content-Type {given:?}")
    };
    Err(ApiError::new(
        415,
        "unsupported_media_type",
        format!("the body has {shown}; send application/json"),
    )
    .with_field("Content-Type"))
}

/// A JSON object body, or a 400 when it is anything else. A missing body counts as `{}` only
/// where `empty_ok`.
pub fn object(body: Option<Value>, empty_ok: bool) -> Result<Map<String, Value>, ApiError> {
    match body {
        Some(Value::Object(map)) => Ok(map),
        None if empty_ok => Ok(Map::new()),
        None => Err(ApiError::new(
            400,
            "malformed_json",
            "a JSON object body is required",
        )),
        Some(other) => Err(ApiError::new(
            400,
            "malformed_json",
            format!("the body must be a JSON object, not {}", kind(&other)),
        )),
    }
}

/// An optional boolean field of a body (absent or null = false); anything else is a 400 naming it.
pub fn flag(body: &Map<String, Value>, name: &str) -> Result<bool, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ApiError::invalid(
            name,
            format!("{name} must be a boolean, not {}", kind(other)),
        )),
    }
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A path parameter, percent-decoded (run ids hold `@` and `:`, which clients may encode).
pub fn param(req: &Request<ApiContext>, name: &str) -> Result<String, ApiError> {
    let raw = req
        .param(name)
        .map_err(|_| ApiError::not_found(name, format!("the path has no {name}")))?;
    percent_decode(raw).ok_or_else(|| {
        ApiError::invalid(
            name,
            format!("{raw:?} is not a valid percent-encoded value"),
        )
    })
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The query string as (name, value) pairs; names outside `allowed` are refused so a typo such as
/// `?limt=5` is not silently ignored.
pub fn query(
    req: &Request<ApiContext>,
    allowed: &[&str],
) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for (k, v) in req.url().query_pairs() {
        if !allowed.contains(&k.as_ref()) {
            return Err(ApiError::unknown_field(&k, allowed));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

/// A numeric query value in `lo..=hi`.
pub fn ranged(name: &str, value: &str, lo: u64, hi: u64) -> Result<u64, ApiError> {
    match value.trim().parse::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(ApiError::invalid(
            name,
            format!("{name} must be an integer in {lo}..={hi}, not {value:?}"),
        )),
    }
}

/// The longest `Idempotency-Key` accepted.
pub const MAX_KEY_LEN: usize = 128;

/// Who sends the command (`api:<token name>`, from the access guard), and the client's `Idempotency-Key` if it gave one: a retry with the same
/// key gets the first attempt's result and records nothing again (see also `idempotency`, which
/// binds the key to its request).
pub fn meta(req: &Request<ApiContext>) -> Result<Meta, ApiError> {
    let mut meta = Meta::actor(&super::access::actor(req));
    meta.idempotency_key = idempotency_key(req)?;
    Ok(meta)
}

/// The request's `Idempotency-Key`, checked, as stored: kept apart from other writers' keys by an
/// `api:` prefix.
pub fn idempotency_key(req: &Request<ApiContext>) -> Result<Option<String>, ApiError> {
    let Some(values) = req.header("Idempotency-Key") else {
        return Ok(None);
    };
    let key = values.as_str();
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        ));
    }
    Ok(Some(format!("api:{key}")))
}

/// The object a test's `json!({...})` literal is.
#[cfg(test)]
pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("not an object: {v}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("a%40b%3Ac").as_deref(),
            Some("a@b:c"),
            "encoded run ids decode"
        );
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }

    #[test]
    fn ranges() {
        assert_eq!(ranged("limit", "5", 1, 10), Ok(5));
        for bad in ["0", "11", "-1", "x", ""] {
            assert_eq!(ranged("limit", bad, 1, 10).unwrap_err().status, 400);
        }
    }
}
