//! Pages. Releases: the changes they group, the acceptance checklist, go-live approval and deployment.
//! A list, a create/edit form and the release page, whose forms call the same app functions
//! as /api/v1/releases. Staff read; users who manage changes see the forms.

use super::form::{self, Fields};
use super::session::WebUser;
use super::{describe, finish, render, see_other, status_of, Chrome};
use crate::app::catalogue::{self, ServiceView};
use crate::app::releases::work::{
    self, ChangeInput, CheckResultInput, DeploymentInput, GoLiveInput, NewCheckInput,
};
use crate::app::releases::{
    self, ChangeRefView, NewReleaseInput, ReleaseDetail, ReleasePatch, ReleaseQuery, ReleaseView,
};
use crate::app::views::{instant, HistoryEntry};
use crate::app::AppError;
use crate::http::AppState;
use crate::i18n::Lang;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use steward_core::release::{Outcome, ReleaseStatus, ReleaseType};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/releases", get(list_page))
        .route("/releases/new", get(new_page).post(create))
        .route("/releases/{id}", get(release_page))
        .route("/releases/{id}/edit", get(edit_page).post(edit))
        .route("/releases/{id}/status", post(set_status))
        .route("/releases/{id}/changes", post(add_change))
        .route(
            "/releases/{id}/changes/{change_id}/remove",
            post(remove_change),
        )
        .route("/releases/{id}/checklist", post(add_check))
        .route("/releases/{id}/checklist/{check_id}", post(record_check))
        .route(
            "/releases/{id}/checklist/{check_id}/remove",
            post(remove_check),
        )
        .route("/releases/{id}/go-live", post(go_live))
        .route("/releases/{id}/deployments", post(record_deployment))
}

fn zh(u: &WebUser) -> bool {
    u.lang == Lang::ZhCn
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "releases_list.html")]
struct ListPage {
    c: Chrome,
    zh: bool,
    items: Vec<ReleaseView>,
    next_cursor: Option<String>,
    status: String,
    statuses: Vec<&'static str>,
    may_manage: bool,
}

async fn list_page(State(s): State<AppState>, u: WebUser, Query(q): Query<ListQuery>) -> Response {
    let r = async {
        let status = q.status.unwrap_or_default();
        let page = releases::list(
            &s.app,
            &u.actor,
            &ReleaseQuery {
                status: Some(status.clone()),
                cursor: q.cursor,
                ..Default::default()
            },
        )
        .await?;
        let view = ListPage {
            c: Chrome::new(&u, "changes"),
            zh: zh(&u),
            items: page.items,
            next_cursor: page.next_cursor,
            status,
            statuses: ReleaseStatus::ALL.iter().map(|s| s.as_str()).collect(),
            may_manage: releases::may_manage(&u.actor),
        };
        Ok(render(StatusCode::OK, &view))
    }
    .await;
    finish(&u, r)
}

/// What the release form holds (as typed, or as saved).
#[derive(Default)]
struct Values {
    title: String,
    description: String,
    service_id: String,
    version_label: String,
    release_type: String,
    planned_date: String,
}

impl Values {
    fn from_fields(f: &Fields) -> Values {
        Values {
            title: f.get("title").into(),
            description: f.get("description").into(),
            service_id: f.get("service_id").into(),
            version_label: f.get("version_label").into(),
            release_type: f.get("release_type").into(),
            planned_date: f.get("planned_date").into(),
        }
    }

    fn from_release(r: &ReleaseView) -> Values {
        Values {
            title: r.title.clone(),
            description: r.description.clone(),
            service_id: r.service_id.to_string(),
            version_label: r.version_label.clone(),
            release_type: r.release_type.clone(),
            planned_date: r.planned_date.clone().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "releases_form.html")]
struct FormPage {
    c: Chrome,
    zh: bool,
    /// The release being edited; none for a new one.
    r: Option<ReleaseView>,
    v: Values,
    services: Vec<ServiceView>,
    types: Vec<&'static str>,
    /// The create form's idempotency key: a double submit makes one release.
    nonce: String,
    error: Option<String>,
    error_field: String,
}

async fn form_page(
    s: &AppState,
    u: &WebUser,
    r: Option<ReleaseView>,
    v: Values,
    error: Option<&AppError>,
) -> Result<Response, AppError> {
    let page = FormPage {
        c: Chrome::new(u, "changes"),
        zh: zh(u),
        r,
        v,
        services: catalogue::list_services(&s.app, &u.actor).await?,
        types: ReleaseType::ALL.iter().map(|t| t.as_str()).collect(),
        nonce: form::form_nonce(),
        error: error.map(|e| describe(u.lang, e)),
        error_field: error.map(super::portal::error_field).unwrap_or_default(),
    };
    let status = error.map(status_of).unwrap_or(StatusCode::OK);
    Ok(render(status, &page))
}

/// Only those who run releases get the form; others get what the API would answer.
fn require_manager(u: &WebUser) -> Result<(), AppError> {
    if !u.actor.role.is_staff() {
        return Err(AppError::NotFound);
    }
    if !releases::may_manage(&u.actor) {
        return Err(AppError::forbidden("your role does not allow this"));
    }
    Ok(())
}

async fn new_page(State(s): State<AppState>, u: WebUser) -> Response {
    let r = async {
        require_manager(&u)?;
        let v = Values {
            release_type: "minor".into(),
            ..Default::default()
        };
        form_page(&s, &u, None, v, None).await
    }
    .await;
    finish(&u, r)
}

fn service_id(f: &Fields) -> Result<i64, AppError> {
    f.id("service_id")?
        .ok_or_else(|| AppError::invalid("service_id", "is required"))
}

async fn create(State(s): State<AppState>, u: WebUser, headers: HeaderMap, f: Fields) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let input = service_id(&f).map(|service_id| NewReleaseInput {
            title: f.get("title").into(),
            description: f.get("description").into(),
            service_id,
            version_label: f.get("version_label").into(),
            release_type: f.get("release_type").into(),
            planned_date: f.opt("planned_date"),
            owner_id: None,
        });
        let key = crate::app::idempotency::IdempotencyKey::parse(
            f.get("nonce"),
            "POST /releases/new".into(),
        )
        .ok();
        let result = match input {
            Ok(input) => releases::create(&s.app, &u.actor, input, key).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(r) => Ok(see_other(&format!("/releases/{}", r.release.id))),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => form_page(&s, &u, None, Values::from_fields(&f), Some(&e)).await,
        }
    }
    .await;
    finish(&u, r)
}

async fn edit_page(State(s): State<AppState>, u: WebUser, Path(id): Path<i64>) -> Response {
    let r = async {
        let d = releases::get(&s.app, &u.actor, id).await?;
        require_manager(&u)?;
        let v = Values::from_release(&d.release);
        form_page(&s, &u, Some(d.release), v, None).await
    }
    .await;
    finish(&u, r)
}

async fn edit(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let patch = service_id(&f).map(|service_id| ReleasePatch {
            title: Some(f.get("title").into()),
            description: Some(f.get("description").into()),
            service_id: Some(service_id),
            version_label: Some(f.get("version_label").into()),
            release_type: Some(f.get("release_type").into()),
            planned_date: Some(f.get("planned_date").into()),
            ..Default::default()
        });
        let result = match patch {
            Ok(p) => releases::update(&s.app, &u.actor, id, p, f.version()).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(_) => Ok(see_other(&format!("/releases/{id}"))),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => {
                let d = releases::get(&s.app, &u.actor, id).await?;
                let v = if matches!(e, AppError::Stale) {
                    Values::from_release(&d.release)
                } else {
                    Values::from_fields(&f)
                };
                form_page(&s, &u, Some(d.release), v, Some(&e)).await
            }
        }
    }
    .await;
    finish(&u, r)
}

#[derive(Template)]
#[template(path = "releases_detail.html")]
struct DetailPage {
    c: Chrome,
    zh: bool,
    d: ReleaseDetail,
    history: Vec<HistoryEntry>,
    addable: Vec<ChangeRefView>,
    may_manage: bool,
    outcomes: Vec<&'static str>,
    /// Now in the user's time zone, for the deployment form's defaults.
    now_local: String,
    error: Option<String>,
    links: super::links::LinksPanel,
}

impl DetailPage {
    fn is(&self, status: &str) -> bool {
        self.d.release.status == status
    }

    fn assembling(&self) -> bool {
        self.d
            .release
            .status
            .parse::<ReleaseStatus>()
            .is_ok_and(|s| s.is_assembling())
    }

    /// A history entry's old or new value: statuses and check results in words.
    fn value(&self, e: &HistoryEntry, v: &str) -> String {
        match e.field.as_deref() {
            Some("status") => self.c.label("release-status", v),
            Some(f) if f.starts_with("check:") => self.c.label("release-result", v),
            _ => v.to_string(),
        }
    }

    /// A history entry's action in words.
    fn action(&self, e: &HistoryEntry) -> String {
        match e.field.as_deref() {
            Some(f) if e.action == "update" => self.c.t1(
                "release-history-update",
                "field",
                &super::field_label(self.c.i, f),
            ),
            _ => self.c.label("release-action", &e.action),
        }
    }
}

async fn detail_page(
    s: &AppState,
    u: &WebUser,
    id: i64,
    error: Option<&AppError>,
) -> Result<Response, AppError> {
    let d = releases::get(&s.app, &u.actor, id).await?;
    let history = releases::history(&s.app, &u.actor, id).await?;
    let addable = work::addable_changes(&s.app, &u.actor).await?;
    let now_local = jiff::Timestamp::now()
        .to_zoned(u.tz.clone())
        .strftime("%Y-%m-%dT%H:%M")
        .to_string();
    let links = super::links::panel(&s.app, u, steward_core::RecordKind::Release, id).await?;
    let page = DetailPage {
        links,
        c: Chrome::new(u, "changes"),
        zh: zh(u),
        d,
        history,
        addable,
        may_manage: releases::may_manage(&u.actor),
        outcomes: Outcome::ALL.iter().map(|o| o.as_str()).collect(),
        now_local,
        error: error.map(|e| describe(u.lang, e)),
    };
    let status = error.map(status_of).unwrap_or(StatusCode::OK);
    Ok(render(status, &page))
}

async fn release_page(State(s): State<AppState>, u: WebUser, Path(id): Path<i64>) -> Response {
    let r = detail_page(&s, &u, id, None).await;
    finish(&u, r)
}

/// Runs one form of the release page: back to the page when it worked, the page with the
/// error when it did not (404 and 403 get the error page).
async fn act<F, Fut>(
    s: &AppState,
    u: &WebUser,
    headers: &HeaderMap,
    id: i64,
    f: &Fields,
    run: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<ReleaseDetail, AppError>>,
{
    let r = async {
        form::check(u, headers, f)?;
        match run().await {
            Ok(_) => Ok(see_other(&format!("/releases/{id}"))),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => detail_page(s, u, id, Some(&e)).await,
        }
    }
    .await;
    finish(u, r)
}

async fn set_status(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let patch = ReleasePatch {
        status: Some(f.get("status").into()),
        ..Default::default()
    };
    act(&s, &u, &headers, id, &f, || {
        releases::update(&s.app, &u.actor, id, patch, f.version())
    })
    .await
}

async fn add_change(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    act(&s, &u, &headers, id, &f, || async {
        let change_id = f
            .id("change_id")?
            .ok_or_else(|| AppError::invalid("change_id", "is required"))?;
        work::add_change(&s.app, &u.actor, id, ChangeInput { change_id }, f.version()).await
    })
    .await
}

async fn remove_change(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path((id, change_id)): Path<(i64, i64)>,
    f: Fields,
) -> Response {
    act(&s, &u, &headers, id, &f, || {
        work::remove_change(&s.app, &u.actor, id, change_id, f.version())
    })
    .await
}

async fn remove_check(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path((id, check_id)): Path<(i64, i64)>,
    f: Fields,
) -> Response {
    act(&s, &u, &headers, id, &f, || {
        work::remove_check(&s.app, &u.actor, id, check_id, f.version())
    })
    .await
}

async fn add_check(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let input = NewCheckInput {
        text_zh: f.opt("text_zh"),
        text_en: f.opt("text_en"),
        mandatory: f.has("mandatory"),
    };
    act(&s, &u, &headers, id, &f, || {
        work::add_check(&s.app, &u.actor, id, input, f.version())
    })
    .await
}

async fn record_check(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path((id, check_id)): Path<(i64, i64)>,
    f: Fields,
) -> Response {
    let input = CheckResultInput {
        result: f.get("result").into(),
        note: f.get("note").into(),
    };
    act(&s, &u, &headers, id, &f, || {
        work::record_check(&s.app, &u.actor, id, check_id, input, f.version())
    })
    .await
}

async fn go_live(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let input = GoLiveInput {
        decision: f.get("decision").into(),
        comment: f.get("comment").into(),
    };
    act(&s, &u, &headers, id, &f, || {
        work::decide_go_live(&s.app, &u.actor, id, input, f.version())
    })
    .await
}

/// A `datetime-local` value in the user's time zone as RFC 3339; anything unreadable is
/// passed on as typed, for the app to name the field.
fn local_instant(tz: &jiff::tz::TimeZone, v: &str) -> String {
    v.trim()
        .parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|dt| dt.to_zoned(tz.clone()).ok())
        .map(|z| instant(z.timestamp().as_microsecond()))
        .unwrap_or_else(|| v.to_string())
}

async fn record_deployment(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let input = DeploymentInput {
        started_at: local_instant(&u.tz, f.get("started_at")),
        finished_at: local_instant(&u.tz, f.get("finished_at")),
        outcome: f.get("outcome").into(),
        notes: f.get("notes").into(),
        deployed_by: None,
    };
    act(&s, &u, &headers, id, &f, || {
        work::record_deployment(&s.app, &u.actor, id, input, f.version())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::local_instant;
    use steward_core::release::{CheckResult, Decision, Outcome, ReleaseStatus, ReleaseType};

    /// The labels the pages build from values exist in both languages (the i18n test checks
    /// that both files have the same keys).
    #[test]
    fn every_release_label_is_translated() {
        let dir = env!("CARGO_MANIFEST_DIR");
        let ftl = crate::i18n::tests::all_ftl(&format!("{dir}/locales/en"));
        let mut keys: Vec<String> = Vec::new();
        keys.extend(
            ReleaseStatus::ALL
                .iter()
                .map(|s| format!("release-status-{s}")),
        );
        keys.extend(ReleaseType::ALL.iter().map(|s| format!("release-type-{s}")));
        keys.extend(
            CheckResult::ALL
                .iter()
                .map(|s| format!("release-result-{s}")),
        );
        keys.extend(
            Decision::ALL
                .iter()
                .map(|s| format!("release-decision-{s}")),
        );
        keys.extend(Outcome::ALL.iter().map(|s| format!("release-outcome-{s}")));
        for a in [
            "create",
            "add_change",
            "remove_change",
            "add_check",
            "check",
            "go_live_decision",
            "deployment",
        ] {
            keys.push(format!("release-action-{a}"));
        }
        let missing: Vec<&String> = keys
            .iter()
            .filter(|k| !ftl.lines().any(|l| l.starts_with(&format!("{k} = "))))
            .collect();
        assert!(missing.is_empty(), "untranslated: {missing:?}");
    }

    #[test]
    fn local_times_become_utc() {
        let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        assert_eq!(
            local_instant(&tz, "2026-12-05T22:00"),
            "2026-12-05T14:00:00Z"
        );
        assert_eq!(local_instant(&tz, "soon"), "soon");
    }
}
