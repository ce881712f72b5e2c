//! The one error type of the use-cases. The API turns it into problem+json, the web pages into
//! a message on the page; both name the field at fault.

use steward_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A field's value is wrong (422).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The request as a whole cannot be read (400).
    #[error("{0}")]
    BadRequest(String),
    #[error("not signed in")]
    Unauthenticated,
    /// The actor may see the record but not do this to it, or lacks the capability (403).
    #[error("{0}")]
    Forbidden(String),
    /// The record does not exist for this actor (404), whether or not it exists at all.
    #[error("not found")]
    NotFound,
    /// A lifecycle or uniqueness conflict (409); `allowed` lists the permitted next states.
    #[error("{message}")]
    Conflict {
        message: String,
        allowed: Option<Vec<String>>,
    },
    /// If-Match did not match the current version (412).
    #[error("the record has changed since it was read")]
    Stale,
    #[error("{field} is larger than {limit} bytes")]
    TooLarge { field: String, limit: usize },
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    TooManyRequests { retry_after_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored data this binary cannot read (a corrupt definition); logged, shown as 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> AppError {
        AppError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError::Forbidden(message.into())
    }

    /// A machine-readable code the pages translate.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Invalid { .. } => "invalid",
            AppError::BadRequest(_) => "bad_request",
            AppError::Unauthenticated => "unauthenticated",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound => "not_found",
            AppError::Conflict { .. } => "conflict",
            AppError::Stale => "stale",
            AppError::TooLarge { .. } => "too_large",
            AppError::TooManyRequests { .. } => "too_many_requests",
            AppError::Store(e) if e.constraint().is_some() => "conflict",
            AppError::Store(_) | AppError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            AppError::Invalid { .. } => 422,
            AppError::BadRequest(_) => 400,
            AppError::Unauthenticated => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound => 404,
            AppError::Conflict { .. } => 409,
            AppError::Stale => 412,
            AppError::TooLarge { .. } => 413,
            AppError::TooManyRequests { .. } => 429,
            AppError::Store(e) if e.constraint().is_some() => 409,
            AppError::Store(_) | AppError::Internal(_) => 500,
        }
    }
}

/// Text validation errors from core name no field; this attaches it.
pub fn text_field(
    field: &str,
    r: Result<String, steward_core::text::TextError>,
) -> Result<String, AppError> {
    r.map_err(|e| AppError::invalid(field, e.to_string()))
}

pub type AppResult<T> = Result<T, AppError>;
