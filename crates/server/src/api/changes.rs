//! Change enablement: requests for change, risk, CAB approval, standard templates, freeze periods, the change calendar and its iCalendar feed.

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
