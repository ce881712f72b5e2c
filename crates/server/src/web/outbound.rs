//! Pages: Email templates and each user's notification choices.

use crate::http::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}
