//! Pages. Configuration management: CI types, CIs, relationships, impact analysis, CSV import and export.

use crate::http::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}
