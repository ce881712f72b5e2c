//! Pages: Mailboxes and the quarantine of received mail.

use crate::http::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}
