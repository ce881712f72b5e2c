//! Pages. Typed links between any two records, shown on both sides.

use crate::http::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}
