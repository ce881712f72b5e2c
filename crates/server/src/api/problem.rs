//! RFC 9457 problem details: every API error is `application/problem+json` with a machine code
//! and, where one field is at fault, its name.

use crate::app::AppError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Machine-readable code: invalid, bad_request, unauthenticated, forbidden, not_found,
    /// conflict, stale, too_large, too_many_requests, unsupported_media_type, internal.
    pub code: String,
    /// The field (or header, or parameter) at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For lifecycle conflicts: the statuses the ticket may move to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_transitions: Option<Vec<String>>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("https://steward.invalid/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_string(),
            field: None,
            allowed_transitions: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Problem {
        self.field = Some(field.into());
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, axum::Json(&self)).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        res
    }
}

impl From<AppError> for Problem {
    fn from(e: AppError) -> Problem {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match e {
            AppError::Invalid { field, message } => {
                Problem::new(status, "invalid", format!("{field} {message}")).with_field(field)
            }
            AppError::Forbidden(msg) => {
                let field = msg
                    .split_once(": ")
                    .map(|(f, _)| f.to_string())
                    .filter(|f| !f.contains(' '));
                let mut p = Problem::new(status, "forbidden", msg);
                p.field = field;
                p
            }
            AppError::Conflict { message, allowed } => {
                let mut p = Problem::new(status, "conflict", message);
                if allowed.is_some() {
                    p.field = Some("status".into());
                }
                p.allowed_transitions = allowed;
                p
            }
            AppError::Stale => Problem::new(status, "stale", e.to_string()).with_field("If-Match"),
            AppError::TooLarge { ref field, .. } => {
                let f = field.clone();
                Problem::new(status, "too_large", e.to_string()).with_field(f)
            }
            AppError::Store(ref s) if s.constraint().is_some() => Problem::new(
                status,
                "conflict",
                "the change conflicts with an existing record",
            ),
            AppError::Internal(ref s) => {
                tracing::error!(error = %s, "internal error");
                Problem::new(
                    status,
                    "internal",
                    "an internal error occurred; it has been logged",
                )
            }
            AppError::Store(ref s) => {
                tracing::error!(error = %s, "internal error");
                Problem::new(
                    status,
                    "internal",
                    "an internal error occurred; it has been logged",
                )
            }
            other => {
                let code = other.code();
                Problem::new(status, code, other.to_string())
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}
