//! The ticket page's service-level panels: the SLA clocks (with the breach reason form) and the
//! major incident (declaring it, the roster, the communication log, child incidents and the
//! post-incident review). Their forms post here and come back to the ticket page.

use super::desk::Choice;
use super::form::{self, Fields};
use super::session::WebUser;
use super::{describe, finish, see_other, Chrome};
use crate::app::major::{self, ChildInput, DeclareInput, MajorView, ReviewAction, ReviewInput};
use crate::app::sla::{self, BreachReasonInput, ClockView};
use crate::app::views::{parse_instant, TicketView};
use crate::app::{accounts, Actor, App, AppError, AppResult};
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use sqlx::Row;
use steward_core::{Capability, Role};
use steward_store::accounts::UserFilter;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tickets/{id}/major", post(declare))
        .route("/tickets/{id}/major/acknowledge", post(acknowledge))
        .route("/tickets/{id}/major/update", post(post_update))
        .route("/tickets/{id}/major/child", post(attach_child))
        .route("/tickets/{id}/major/review", post(review))
        .route("/tickets/{id}/clocks/{clock}/reason", post(breach_reason))
}

/// One SLA clock as the side panel shows it.
pub struct ClockLine {
    pub id: i64,
    pub metric: String,
    pub sla_name: String,
    pub status: String,
    pub due: String,
    /// RFC 3339, for the live countdown of a running clock.
    pub due_at: Option<String>,
    pub target: String,
    pub elapsed: String,
    pub paused: String,
    pub breach_reason: Option<String>,
    pub breached: bool,
}

/// Everything the panels need, loaded once per ticket page.
#[derive(Default)]
pub struct Panels {
    /// The request form's answers, labelled in the reader's language.
    pub answers: Vec<(String, String)>,
    pub clocks: Vec<ClockLine>,
    pub major: Option<MajorView>,
    /// The communication log of this ticket's major incident (its own or its parent's).
    pub updates: Vec<crate::app::major::StatusUpdateView>,
    pub parent: Option<(i64, String)>,
    pub can_declare: bool,
    pub can_run: bool,
    /// The viewer is paged and has not answered yet.
    pub my_page_open: bool,
    pub staff: Vec<Choice>,
    pub error_form: &'static str,
    pub error: Option<String>,
}

impl Panels {
    pub fn error_for(&self, form: &str) -> Option<&str> {
        if self.error_form == form {
            self.error.as_deref()
        } else {
            None
        }
    }
}

/// "2 h 05 min" from business minutes.
pub fn duration(c: &Chrome, minutes: i64) -> String {
    let sign = if minutes < 0 { "-" } else { "" };
    let m = minutes.abs();
    let (d, h, mm) = (m / (24 * 60), (m / 60) % 24, m % 60);
    let unit = |k: &str| c.t(k);
    if d > 0 {
        format!("{sign}{d} {} {h} {}", unit("unit-days"), unit("unit-hours"))
    } else if h > 0 {
        format!(
            "{sign}{h} {} {mm:02} {}",
            unit("unit-hours"),
            unit("unit-minutes")
        )
    } else {
        format!("{sign}{mm} {}", unit("unit-minutes"))
    }
}

fn clock_line(c: &Chrome, v: &ClockView) -> ClockLine {
    ClockLine {
        id: v.id,
        metric: c.t(&format!("sla-metric-{}", v.metric)),
        sla_name: v.sla_name.clone(),
        status: v.status.clone(),
        due: v
            .due_at
            .as_deref()
            .and_then(parse_instant)
            .map(|m| c.time_micros(m))
            .unwrap_or_default(),
        due_at: v.due_at.clone().filter(|_| v.status == "running"),
        target: duration(c, v.target_minutes),
        elapsed: duration(c, v.elapsed_minutes),
        paused: duration(c, v.paused_minutes),
        breach_reason: v.breach_reason.clone(),
        breached: v.status == "breached",
    }
}

async fn staff_choices(app: &App, actor: &Actor) -> AppResult<Vec<Choice>> {
    let users = accounts::list_users(
        app,
        actor,
        UserFilter {
            staff_only: true,
            limit: 500,
            ..Default::default()
        },
    )
    .await?;
    Ok(users
        .into_iter()
        .filter(|u| {
            u.active
                && u.role
                    .parse::<Role>()
                    .is_ok_and(|r| r.can(Capability::WorkTickets))
        })
        .map(|u| Choice {
            value: u.id.to_string(),
            label: u.name,
            selected: false,
        })
        .collect())
}

pub async fn panels(app: &App, u: &WebUser, c: &Chrome, t: &TicketView) -> AppResult<Panels> {
    let actor = &u.actor;
    let mut p = Panels {
        clocks: sla::clocks(app, actor, t.id)
            .await?
            .iter()
            .filter(|v| v.status != "cancelled")
            .map(|v| clock_line(c, v))
            .collect(),
        updates: major::status_updates(app, actor, t.id).await?,
        answers: super::catalogue::ticket_answers(app, actor, t, u.lang == crate::i18n::Lang::ZhCn)
            .await,
        ..Default::default()
    };
    let sees_internal = actor.can(Capability::InternalNotes);
    if sees_internal {
        p.major = match major::get(app, actor, t.id).await {
            Ok(m) => Some(m),
            Err(AppError::NotFound) => None,
            Err(e) => return Err(e),
        };
    }
    if let Some(parent) = t.parent_id {
        let mut conn = app.read().await?;
        let number = sqlx::query("SELECT number FROM tickets WHERE id = $1")
            .bind(parent)
            .fetch_optional(&mut *conn)
            .await
            .map_err(steward_store::StoreError::from)?
            .and_then(|r| r.try_get::<String, _>(0).ok());
        if let Some(n) = number {
            p.parent = Some((parent, n));
        }
    }
    let open = t
        .status
        .parse::<steward_core::Status>()
        .is_ok_and(|s| s.is_open());
    p.can_run = actor.can(Capability::EditTickets) && p.major.is_some();
    p.can_declare = actor.can(Capability::DeclareMajorIncident)
        && p.major.is_none()
        && t.kind == "incident"
        && t.parent_id.is_none()
        && open;
    p.my_page_open = p.major.as_ref().is_some_and(|m| {
        m.roster
            .iter()
            .any(|r| r.user_id == actor.user_id && r.acknowledged_at.is_none())
    });
    if p.can_declare || p.can_run {
        p.staff = staff_choices(app, actor).await?;
    }
    Ok(p)
}

fn parse_id(raw: &str) -> Result<i64, AppError> {
    raw.parse().map_err(|_| AppError::NotFound)
}

/// Runs a panel form: CSRF, the change, then back to the ticket (or the page with the error
/// next to the form it came from).
async fn run(
    s: &AppState,
    u: &WebUser,
    headers: &HeaderMap,
    raw_id: &str,
    f: &Fields,
    form_name: &'static str,
    change: impl std::future::Future<Output = AppResult<()>>,
) -> Response {
    let r = async {
        let id = parse_id(raw_id)?;
        form::check(u, headers, f)?;
        match change.await {
            Ok(()) => Ok(see_other(&format!(
                "/tickets/{id}?done={form_name}#{form_name}"
            ))),
            Err(e)
                if matches!(
                    e,
                    AppError::Invalid { .. } | AppError::Conflict { .. } | AppError::Stale
                ) =>
            {
                let flash = super::ticket::Flash {
                    error: None,
                    ..Default::default()
                };
                super::ticket::page_with_panel_error(
                    s,
                    u,
                    id,
                    flash,
                    form_name,
                    describe(u.lang, &e),
                )
                .await
            }
            Err(e) => Err(e),
        }
    }
    .await;
    finish(u, r)
}

async fn declare(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let change = async {
        let id = parse_id(&id)?;
        let input = DeclareInput {
            roster_user_ids: f.ids("roster")?,
            response_minutes: f.id("response_minutes")?,
            summary: f.get("summary").to_string(),
        };
        major::declare(&s.app, &u.actor, id, input)
            .await
            .map(|_| ())
    };
    run(&s, &u, &headers, &id, &f, "major", change).await
}

async fn acknowledge(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let change = async {
        major::acknowledge(&s.app, &u.actor, parse_id(&id)?)
            .await
            .map(|_| ())
    };
    run(&s, &u, &headers, &id, &f, "major", change).await
}

async fn post_update(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let change = async {
        let input = major::StatusUpdateInput {
            body: f.get("body").to_string(),
        };
        major::post_update(&s.app, &u.actor, parse_id(&id)?, input)
            .await
            .map(|_| ())
    };
    run(&s, &u, &headers, &id, &f, "major-log", change).await
}

async fn attach_child(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let change = async {
        let wanted = f.get("child").trim().to_uppercase();
        let child = if let Ok(n) = wanted.parse::<i64>() {
            n
        } else {
            let mut conn = s.app.read().await?;
            sqlx::query("SELECT id FROM tickets WHERE number = $1")
                .bind(&wanted)
                .fetch_optional(&mut *conn)
                .await
                .map_err(steward_store::StoreError::from)?
                .and_then(|r| r.try_get::<i64, _>(0).ok())
                .ok_or_else(|| AppError::invalid("ticket_id", "no such ticket"))?
        };
        major::attach_child(
            &s.app,
            &u.actor,
            parse_id(&id)?,
            ChildInput { ticket_id: child },
        )
        .await
        .map(|_| ())
    };
    run(&s, &u, &headers, &id, &f, "major-children", change).await
}

async fn review(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let change = async {
        let descriptions = f.all("action_description");
        let owners = f.all("action_owner");
        let dues = f.all("action_due");
        let mut actions = Vec::new();
        for (i, d) in descriptions.iter().enumerate() {
            if d.trim().is_empty() {
                continue;
            }
            let owner = owners
                .get(i)
                .and_then(|o| o.parse::<i64>().ok())
                .ok_or_else(|| {
                    AppError::invalid(
                        &format!("actions[{}].owner_id", actions.len()),
                        "choose an owner",
                    )
                })?;
            actions.push(ReviewAction {
                description: d.to_string(),
                owner_id: owner,
                due_date: dues.get(i).map(|s| s.to_string()).filter(|s| !s.is_empty()),
            });
        }
        let input = ReviewInput {
            cause: f.get("cause").to_string(),
            timeline: f.get("timeline").to_string(),
            went_well: f.get("went_well").to_string(),
            went_badly: f.get("went_badly").to_string(),
            actions,
        };
        major::record_review(&s.app, &u.actor, parse_id(&id)?, input)
            .await
            .map(|_| ())
    };
    run(&s, &u, &headers, &id, &f, "major-review", change).await
}

async fn breach_reason(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path((id, clock)): Path<(String, String)>,
    f: Fields,
) -> Response {
    let change = async {
        let input = BreachReasonInput {
            breach_reason: f.get("breach_reason").to_string(),
        };
        sla::set_breach_reason(&s.app, &u.actor, parse_id(&id)?, parse_id(&clock)?, input)
            .await
            .map(|_| ())
    };
    run(&s, &u, &headers, &id, &f, "sla", change).await
}
