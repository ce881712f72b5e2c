//! Pages. Problem management: problems, root cause analysis, the known error database and the incident trend view.

use crate::http::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}
