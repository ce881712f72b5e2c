//! Pages. Releases: the changes they group, the acceptance checklist, go-live approval and deployment.

use crate::http::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}
