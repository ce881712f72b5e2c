//! Configuration management: CI types, CIs, relationships, impact analysis, CSV import and export.

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
