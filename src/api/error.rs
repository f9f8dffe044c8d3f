//! JSON errors of the API: `{"error": {"code", "message", "field"}}`, the mapping of service
//! rejections to HTTP statuses, and the one mapping of failure kinds to statuses (`status_for`).

use crate::domain::job::RejectionCode;
use crate::domain::Rejection;
use crate::error::ErrorKind;
use crate::service::ServiceError;
use serde_json::{json, Value};

/// The HTTP status of a failure of this kind: the only place kinds become statuses. Errors the
/// request itself caused (a bad field, an unknown id) are answered before this, with their 4xx.
pub fn status_for(kind: ErrorKind) -> u16 {
    match kind {
        // Nothing wrong with the request or the data: the same request later may work.
        ErrorKind::Transient => 503,
        // A rule of the service said no to what the request asked.
        ErrorKind::Refused => 409,
        // Damaged data, the server's configuration or a bug: none of them the client's doing.
        ErrorKind::Integrity | ErrorKind::Config | ErrorKind::Internal => 500,
    }
}

/// An error answer. Handlers return it; `into_response` turns it into the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    /// The key was first used with another request (method, path or body): `idempotency`
    /// finds that from the key's record; a create, run or verify whose events for the key are
    /// not its own finds it too.
    pub fn key_reused() -> Self {
        ApiError::new(
            409,
            "idempotency_key_reused",
            "this Idempotency-Key was first used for a different request (method, path or body)",
        )
        .with_field("Idempotency-Key")
    }

    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400 `validation` naming the field at fault.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::new(400, "validation", message).with_field(field)
    }

    pub fn unknown_field(field: &str, allowed: &[&str]) -> Self {
        ApiError::new(
            400,
            "unknown_field",
            format!(
                "unknown field {field:?}: expected one of {}",
                allowed.join(", ")
            ),
        )
        .with_field(field)
    }

    /// A failure of `kind` with its own code: the status is `status_for(kind)`. Server faults
    /// are logged with their detail.
    pub fn of_kind(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        let e = ApiError::new(status_for(kind), code, message);
        if e.status >= 500 {
            log::error!("API: {} ({kind}): {}", e.code, e.message);
        }
        e
    }

    /// A failure of `kind` with the kind's usual code: `unavailable` (retry later), `conflict`,
    /// or `internal` for a server fault (whose message, as before, says so).
    pub fn failed(kind: ErrorKind, detail: impl std::fmt::Display) -> Self {
        match kind {
            ErrorKind::Transient => ApiError::of_kind(kind, "unavailable", detail.to_string()),
            ErrorKind::Refused => ApiError::of_kind(kind, "conflict", detail.to_string()),
            ErrorKind::Integrity | ErrorKind::Config | ErrorKind::Internal => {
                ApiError::internal(detail)
            }
        }
    }

    /// 401: no token, or one that is malformed, unknown, revoked or expired.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(401, "unauthorized", message).with_field("authorization")
    }

    /// 403: a good token without the scope the route needs.
    pub fn forbidden(token: &str, needed: crate::auth::Scope) -> Self {
        ApiError::new(
            403,
            "forbidden",
            format!(
                "token {token:?} lacks the scope {:?} this route needs",
                needed.as_str()
            ),
        )
        .with_field("authorization")
    }

    pub fn not_found(field: &str, message: impl Into<String>) -> Self {
        ApiError::new(404, "not_found", message).with_field(field)
    }

    /// A genuine server fault: logged here with its detail, so the client's message can stay
    /// short without the operator losing the cause.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        log::error!("API: internal error: {detail}");
        ApiError::new(500, "internal", format!("internal error: {detail}"))
    }

    pub fn body(&self) -> Value {
        json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "field": self.field,
            }
        })
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        let (status, code) = match r.code {
            RejectionCode::Validation => (400, "validation"),
            RejectionCode::NotFound => (404, "not_found"),
            RejectionCode::Conflict => (409, "conflict"),
            RejectionCode::PreconditionFailed => (412, "precondition_failed"),
        };
        ApiError {
            status,
            code,
            message: r.message,
            field: r.field,
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Rejected(r) => r.into(),
            // The log could not be written or read: nothing the client did, so a 5xx (a 503 when
            // retrying may work: a full disk, a log the writer is shutting down).
            ServiceError::Store(e) => ApiError::failed(e.kind(), e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn kinds_map_to_statuses() {
        let cases = [
            (ErrorKind::Transient, 503, "unavailable"),
            (ErrorKind::Integrity, 500, "internal"),
            (ErrorKind::Refused, 409, "conflict"),
            (ErrorKind::Config, 500, "internal"),
            (ErrorKind::Internal, 500, "internal"),
        ];
        for (kind, status, code) in cases {
            assert_eq!(status_for(kind), status, "{kind}");
            let e = ApiError::failed(kind, "why");
            assert_eq!((e.status, e.code), (status, code), "{kind}");
            assert_eq!(ApiError::of_kind(kind, "x", "why").status, status);
        }
    }

    #[test]
    fn rejections_map_by_code() {
        let cases = [
            (Rejection::invalid("name", "bad"), 400, "validation"),
            (Rejection::not_found("job_id", "no"), 404, "not_found"),
            (Rejection::conflict("id", "taken"), 409, "conflict"),
        ];
        for (r, status, code) in cases {
            let field = r.field.clone();
            let e = ApiError::from(ServiceError::Rejected(r));
            assert_eq!((e.status, e.code, e.field), (status, code, field));
        }
        let store = |e: StoreError| ApiError::from(ServiceError::Store(e));
        let conflict = store(StoreError::Conflict {
            expected: 1,
            actual: 2,
        });
        assert_eq!((conflict.status, conflict.code), (503, "unavailable"));
        let corrupt = store(StoreError::Decode {
            position: 3,
            source: crate::events::DecodeError::TooLarge,
        });
        assert_eq!((corrupt.status, corrupt.code), (500, "internal"));
        assert!(corrupt
            .message
            .starts_with("internal error: event at position 3"));
        let body = ApiError::invalid("name", "bad").body();
        assert_eq!(
            body,
            json!({"error": {"code": "validation", "message": "bad", "field": "name"}})
        );
    }
}
