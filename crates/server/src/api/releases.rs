//! Releases: the changes they group, the acceptance checklist, go-live approval and deployment.

use crate::http::AppState;
use axum::Router;
use utoipa::OpenApi;

/// This module's part of the OpenAPI document (merged into api::ApiDoc).
#[derive(OpenApi)]
#[openapi()]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
}
