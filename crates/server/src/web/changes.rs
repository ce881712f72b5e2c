//! Pages. Change enablement: requests for change, risk, CAB approval, standard templates, freeze periods, the change calendar and its iCalendar feed.

use crate::http::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}
