//! Knowledge: articles in Chinese and English, their versions, review and publishing, search, ratings and portal suggestions.

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
