//! Mailboxes and the quarantine of received mail.

use crate::http::AppState;
use axum::Router;
use utoipa::OpenApi;

/// This module's part of the OpenAPI document (merged into api::ApiDoc).
#[derive(OpenApi)]
#[openapi(paths())]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
}
