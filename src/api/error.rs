//! JSON errors of the API: `{"error": {"code", "message", "field"}}` and the mapping of service
//! rejections and store failures to HTTP statuses.

use crate::domain::job::RejectionCode;
use crate::domain::Rejection;
use crate::service::ServiceError;
use serde_json::{json, Value};

/// An error answer. Handlers return it; `into_response` turns it into the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    /// A create, run or verify always records its event, so an empty result for an
    /// Idempotency-Key is the first result of some other request that used the key.
    pub fn key_reused() -> Self {
        ApiError::new(
            409,
            "conflict",
            "this Idempotency-Key was first used for a different request",
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
            // The log could not be written or read: nothing the client did, so a 500.
            ServiceError::Store(e) => ApiError::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let body = ApiError::invalid("name", "bad").body();
        assert_eq!(
            body,
            json!({"error": {"code": "validation", "message": "bad", "field": "name"}})
        );
    }
}
