//! Pages: Webhooks, chat bots and their delivery log.

use crate::http::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}
