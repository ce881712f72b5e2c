//! Pages. Knowledge: articles in Chinese and English, their versions, review and publishing, search, ratings and portal suggestions.

use crate::http::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}
