//! Pages: problems (list, new, the problem with its root cause analysis, linked incidents, the
//! known error form and links), the known error database with "apply to incident", and the
//! trend view of recurring incidents with "raise problem".

use super::form::{self, Fields};
use super::links::{panel, LinksPanel};
use super::session::WebUser;
use super::{describe, finish, render, see_other, status_of, Chrome};
use crate::app::problems::{
    self, ApplyInput, IncidentInput, NewProblemInput, ProblemPatch, ProblemQuery, ProblemView,
    TrendQuery, TrendView,
};
use crate::app::{accounts, links, AppError};
use crate::http::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use steward_core::problem::ProblemStatus;
use steward_core::{Capability, Priority, RecordKind};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/problems", get(list_page).post(create))
        .route("/problems/new", get(new_page))
        .route("/problems/kedb", get(kedb_page))
        .route("/problems/trends", get(trends_page))
        .route("/problems/{id}", get(show).post(edit))
        .route("/problems/{id}/status", post(change_status))
        .route("/problems/{id}/known-error", post(known_error))
        .route("/problems/{id}/incidents", post(add_incident))
        .route("/problems/{id}/apply", post(apply))
}

fn query<T: serde::de::DeserializeOwned + Default>(uri: &axum::http::Uri) -> Result<T, AppError> {
    crate::api::query_params(uri.query()).map_err(|p| {
        AppError::invalid(
            p.field.as_deref().unwrap_or("query"),
            "must be a valid value",
        )
    })
}

fn can_work(u: &WebUser) -> bool {
    u.actor.can(Capability::WorkProblems)
}

// --- the list ---

#[derive(Template)]
#[template(path = "problems_list.html")]
struct ListPage {
    c: Chrome,
    items: Vec<ProblemView>,
    status: String,
    q: String,
    next: Option<String>,
    can_work: bool,
    statuses: Vec<&'static str>,
}

async fn list_page(State(s): State<AppState>, u: WebUser, uri: axum::http::Uri) -> Response {
    let r = async {
        let q: ProblemQuery = query(&uri)?;
        let page = problems::list(&s.app, &u.actor, &q).await?;
        Ok(render(
            StatusCode::OK,
            &ListPage {
                c: Chrome::new(&u, "problems"),
                items: page.items,
                next: page.next_cursor,
                status: q.status.unwrap_or_default(),
                q: q.q.unwrap_or_default(),
                can_work: can_work(&u),
                statuses: ProblemStatus::ALL.iter().map(|s| s.as_str()).collect(),
            },
        ))
    }
    .await;
    finish(&u, r)
}

// --- new ---

#[derive(Default, serde::Deserialize)]
struct NewQuery {
    title: Option<String>,
    category: Option<String>,
    service_id: Option<i64>,
    dimension: Option<String>,
    key: Option<String>,
    days: Option<i64>,
    from: Option<String>,
    to: Option<String>,
}

#[derive(Template)]
#[template(path = "problems_new.html")]
struct NewPage {
    c: Chrome,
    title: String,
    description: String,
    category: String,
    service_id: String,
    priority: String,
    incident_ids: Vec<i64>,
    priorities: Vec<&'static str>,
    teams: Vec<(i64, String)>,
    team_id: String,
    error: Option<String>,
    error_field: String,
}

async fn new_page(State(s): State<AppState>, u: WebUser, uri: axum::http::Uri) -> Response {
    let r = async {
        u.actor.require(Capability::WorkProblems)?;
        let q: NewQuery = query(&uri)?;
        let incident_ids = match (&q.dimension, &q.key) {
            (Some(d), Some(k)) => {
                let tq = TrendQuery {
                    days: q.days,
                    from: q.from.clone(),
                    to: q.to.clone(),
                    ..Default::default()
                };
                problems::trend_incidents(&s.app, &u.actor, &tq, d, k).await?
            }
            _ => vec![],
        };
        let page = NewPage {
            c: Chrome::new(&u, "problems"),
            title: q.title.unwrap_or_default(),
            description: String::new(),
            category: q.category.unwrap_or_default(),
            service_id: q.service_id.map(|i| i.to_string()).unwrap_or_default(),
            priority: "P3".into(),
            incident_ids,
            priorities: Priority::ALL.iter().map(|p| p.as_str()).collect(),
            teams: teams(&s, &u).await?,
            team_id: String::new(),
            error: None,
            error_field: String::new(),
        };
        Ok(render(StatusCode::OK, &page))
    }
    .await;
    finish(&u, r)
}

async fn teams(s: &AppState, u: &WebUser) -> Result<Vec<(i64, String)>, AppError> {
    Ok(accounts::list_teams(&s.app, &u.actor)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect())
}

async fn create(State(s): State<AppState>, u: WebUser, headers: HeaderMap, f: Fields) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let input = NewProblemInput {
            title: f.get("title").into(),
            description: f.get("description").into(),
            priority: f.opt("priority"),
            impact: f.opt("impact"),
            team_id: f.id("team_id")?,
            assignee_id: None,
            category: f.opt("category"),
            service_id: f.id("service_id")?,
            incident_ids: f.ids("incident_ids")?,
        };
        match problems::create(&s.app, &u.actor, input, None).await {
            Ok(p) => Ok(see_other(&format!("/problems/{}", p.id))),
            Err(e @ AppError::Invalid { .. }) => {
                let page = NewPage {
                    title: f.get("title").into(),
                    description: f.get("description").into(),
                    category: f.get("category").into(),
                    service_id: f.get("service_id").into(),
                    priority: f.get("priority").into(),
                    incident_ids: f.ids("incident_ids")?,
                    priorities: Priority::ALL.iter().map(|p| p.as_str()).collect(),
                    teams: teams(&s, &u).await?,
                    team_id: f.get("team_id").into(),
                    error: Some(describe(u.lang, &e)),
                    error_field: super::portal::error_field(&e),
                    c: Chrome::new(&u, "problems"),
                };
                Ok(render(status_of(&e), &page))
            }
            Err(e) => Err(e),
        }
    }
    .await;
    finish(&u, r)
}

// --- one problem ---

#[derive(Template)]
#[template(path = "problems_show.html")]
struct ShowPage {
    c: Chrome,
    p: ProblemView,
    links: LinksPanel,
    can_work: bool,
    teams: Vec<(i64, String)>,
    /// Who may own the problem (active staff who work problems) and the catalogue's services,
    /// for the edit form.
    owners: Vec<(i64, String)>,
    services: Vec<(i64, String)>,
    priorities: Vec<&'static str>,
    /// The form an error belongs to, and the message.
    error_form: &'static str,
    error: Option<String>,
    /// What was typed in the known error form.
    ke_cause: String,
    ke_workaround: String,
}

impl ShowPage {
    fn is_team(&self, id: &i64) -> bool {
        self.p.team_id == Some(*id)
    }

    fn is_owner(&self, id: &i64) -> bool {
        self.p.assignee_id == Some(*id)
    }

    fn is_service(&self, id: &i64) -> bool {
        self.p.service_id == Some(*id)
    }

    fn form_error(&self, form: &str) -> Option<&str> {
        if self.error_form == form {
            self.error.as_deref()
        } else {
            None
        }
    }
}

async fn show_view(
    s: &AppState,
    u: &WebUser,
    id: i64,
    error: Option<(&'static str, &AppError)>,
    typed: Option<&Fields>,
) -> Result<Response, AppError> {
    let p = problems::get(&s.app, &u.actor, id).await?;
    let links = panel(&s.app, u, RecordKind::Problem, id).await?;
    let (ke_cause, ke_workaround) = match typed {
        Some(f) => (f.get("cause").to_string(), f.get("workaround").to_string()),
        None => (p.cause.clone(), p.workaround.clone()),
    };
    let (owners, services) = if can_work(u) {
        edit_choices(s, u, &p).await?
    } else {
        Default::default()
    };
    let page = ShowPage {
        c: Chrome::new(u, "problems"),
        links,
        can_work: can_work(u),
        teams: teams(s, u).await?,
        owners,
        services,
        priorities: Priority::ALL.iter().map(|p| p.as_str()).collect(),
        error_form: error.map(|(f, _)| f).unwrap_or(""),
        error: error.map(|(_, e)| describe(u.lang, e)),
        ke_cause,
        ke_workaround,
        p,
    };
    let status = error.map(|(_, e)| status_of(e)).unwrap_or(StatusCode::OK);
    Ok(render(status, &page))
}

/// The owners and services the edit form offers; the current owner stays listed even when they
/// no longer work problems, so that saving the form does not silently drop them.
async fn edit_choices(
    s: &AppState,
    u: &WebUser,
    p: &ProblemView,
) -> Result<(Vec<(i64, String)>, Vec<(i64, String)>), AppError> {
    let filter = steward_store::accounts::UserFilter {
        staff_only: true,
        limit: 500,
        ..Default::default()
    };
    let mut owners: Vec<(i64, String)> = accounts::list_users(&s.app, &u.actor, filter)
        .await?
        .into_iter()
        .filter(|m| {
            m.active
                && m.role
                    .parse::<steward_core::Role>()
                    .is_ok_and(|r| r.can(Capability::WorkProblems))
        })
        .map(|m| (m.id, m.name))
        .collect();
    if let (Some(id), Some(name)) = (p.assignee_id, &p.assignee_name) {
        if !owners.iter().any(|(o, _)| *o == id) {
            owners.push((id, name.clone()));
        }
    }
    let services = crate::app::catalogue::list_services(&s.app, &u.actor)
        .await?
        .into_iter()
        .map(|sv| {
            let name = if u.lang == crate::i18n::Lang::ZhCn {
                sv.name_zh
            } else {
                sv.name_en
            };
            (sv.id, name)
        })
        .collect();
    Ok((owners, services))
}

async fn show(State(s): State<AppState>, u: WebUser, Path(id): Path<i64>) -> Response {
    let r = show_view(&s, &u, id, None, None).await;
    finish(&u, r)
}

/// After a form on the problem page: back to it, or the page with the form's error.
async fn answer<T>(
    s: &AppState,
    u: &WebUser,
    id: i64,
    form: &'static str,
    f: &Fields,
    r: Result<T, AppError>,
) -> Result<Response, AppError> {
    match r {
        Ok(_) => Ok(see_other(&format!("/problems/{id}"))),
        Err(e @ (AppError::NotFound | AppError::Forbidden(_))) => Err(e),
        Err(e) => show_view(s, u, id, Some((form, &e)), Some(f)).await,
    }
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
        let patch = ProblemPatch {
            title: Some(f.get("title").into()),
            description: Some(f.get("description").into()),
            priority: f.opt("priority"),
            impact: f.opt("impact"),
            team_id: Some(f.id("team_id")?),
            assignee_id: Some(f.id("assignee_id")?),
            service_id: Some(f.id("service_id")?),
            category: Some(f.opt("category")),
            cause: Some(f.get("cause").into()),
            method_notes: Some(f.get("method_notes").into()),
            contributing_factors: Some(f.get("contributing_factors").into()),
            workaround: Some(f.get("workaround").into()),
            resolution: Some(f.get("resolution").into()),
            // The form carries the known-error switch only once there is a known error.
            kedb_published: f.has("kedb_shown").then(|| f.get("kedb_published") == "on"),
            ..Default::default()
        };
        let res = problems::update(&s.app, &u.actor, id, patch, f.version()).await;
        answer(&s, &u, id, "edit", &f, res).await
    }
    .await;
    finish(&u, r)
}

async fn change_status(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let patch = ProblemPatch {
            status: Some(f.get("status").into()),
            resolution: f.opt("resolution"),
            ..Default::default()
        };
        let res = problems::update(&s.app, &u.actor, id, patch, f.version()).await;
        answer(&s, &u, id, "status", &f, res).await
    }
    .await;
    finish(&u, r)
}

async fn known_error(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let res = problems::record_known_error(
            &s.app,
            &u.actor,
            id,
            f.get("cause").into(),
            f.get("workaround").into(),
            f.version(),
        )
        .await;
        answer(&s, &u, id, "known_error", &f, res).await
    }
    .await;
    finish(&u, r)
}

async fn add_incident(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let res = problems::add_incident(
            &s.app,
            &u.actor,
            id,
            IncidentInput {
                ticket_id: None,
                number: Some(f.get("number").into()),
            },
        )
        .await;
        answer(&s, &u, id, "incident", &f, res).await
    }
    .await;
    finish(&u, r)
}

async fn apply(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let (_, ticket_id) = links::find(&s.app, &u.actor, "ticket", f.get("number")).await?;
        problems::apply(&s.app, &u.actor, id, ApplyInput { ticket_id }).await?;
        Ok(see_other(&format!("/tickets/{ticket_id}")))
    }
    .await;
    finish(&u, r)
}

// --- the known error database ---

#[derive(Default, serde::Deserialize)]
struct KedbQuery {
    q: Option<String>,
    /// The incident to apply a known error to (its number), carried from the ticket page.
    ticket: Option<String>,
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "problems_kedb.html")]
struct KedbPage {
    c: Chrome,
    q: String,
    ticket: String,
    items: Vec<ProblemView>,
    /// The cursor of the next page of known errors.
    next: Option<String>,
    can_apply: bool,
}

async fn kedb_page(State(s): State<AppState>, u: WebUser, uri: axum::http::Uri) -> Response {
    let r = async {
        let kq: KedbQuery = query(&uri)?;
        let q = ProblemQuery {
            kedb: Some(true),
            q: kq.q.clone(),
            limit: Some(50),
            cursor: kq.cursor,
            ..Default::default()
        };
        let page = problems::list(&s.app, &u.actor, &q).await?;
        Ok(render(
            StatusCode::OK,
            &KedbPage {
                c: Chrome::new(&u, "problems"),
                q: kq.q.unwrap_or_default(),
                ticket: kq.ticket.unwrap_or_default(),
                items: page.items,
                next: page.next_cursor,
                can_apply: u.actor.can(Capability::EditTickets),
            },
        ))
    }
    .await;
    finish(&u, r)
}

// --- trends ---

#[derive(Template)]
#[template(path = "problems_trends.html")]
struct TrendsPage {
    c: Chrome,
    t: TrendView,
    days: String,
    from: String,
    to: String,
    /// The period as query parameters, for the "raise problem" links.
    period: String,
    can_work: bool,
}

impl TrendsPage {
    fn groups(&self) -> Vec<(&'static str, &Vec<problems::TrendRowView>)> {
        vec![
            ("category", &self.t.categories),
            ("service", &self.t.services),
            ("ci", &self.t.cis),
        ]
    }
}

async fn trends_page(State(s): State<AppState>, u: WebUser, uri: axum::http::Uri) -> Response {
    let r = async {
        let q: TrendQuery = query(&uri)?;
        let t = problems::trends(&s.app, &u.actor, &q).await?;
        let enc = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let period = match (&q.from, &q.to) {
            (Some(f), Some(to)) if !f.is_empty() => format!("from={}&to={}", enc(f), enc(to)),
            (Some(f), _) if !f.is_empty() => format!("from={}", enc(f)),
            _ => format!("days={}", q.days.unwrap_or(30)),
        };
        Ok(render(
            StatusCode::OK,
            &TrendsPage {
                c: Chrome::new(&u, "problems"),
                t,
                days: q.days.map(|d| d.to_string()).unwrap_or_else(|| "30".into()),
                from: q.from.unwrap_or_default(),
                to: q.to.unwrap_or_default(),
                period,
                can_work: can_work(&u),
            },
        ))
    }
    .await;
    finish(&u, r)
}
