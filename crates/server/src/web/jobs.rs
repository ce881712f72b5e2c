//! The background job queue for admins: how many jobs wait, ran or died, and the latest ones
//! with their errors, so that nothing that failed goes unseen.

use super::desk::Choice;
use super::session::WebUser;
use super::{finish, render, Chrome};
use crate::app::jobs::{self, JobView};
use crate::http::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/jobs", get(jobs_page))
}

#[derive(Template)]
#[template(path = "admin_jobs.html")]
struct JobsPage {
    c: Chrome,
    counts: Vec<(String, i64)>,
    filters: Vec<Choice>,
    jobs: Vec<JobView>,
}

#[derive(Deserialize)]
struct JobParams {
    status: Option<String>,
}

async fn jobs_page(State(s): State<AppState>, u: WebUser, Query(p): Query<JobParams>) -> Response {
    let r = async {
        let c = Chrome::new(&u, "admin");
        let status = p.status.filter(|s| !s.is_empty());
        let (counts, jobs) = jobs::list(&s.app, &u.actor, status.as_deref()).await?;
        let filters = ["", "queued", "done", "dead"]
            .iter()
            .map(|v| Choice {
                value: v.to_string(),
                label: c.t(&format!(
                    "jobs-status-{}",
                    if v.is_empty() { "all" } else { v }
                )),
                selected: status.as_deref().unwrap_or("") == *v,
            })
            .collect();
        Ok(render(
            StatusCode::OK,
            &JobsPage {
                c,
                counts,
                filters,
                jobs,
            },
        ))
    }
    .await;
    finish(&u, r)
}
