//! Pages: the change list (with "waiting for my vote"), the request-for-change form with the
//! risk questionnaire, a change with its lifecycle actions and CAB votes, the change calendar
//! (month and week grids, conflicts flagged, freeze periods shaded) and the change manager's
//! set-up page (quorums, freeze periods, standard change templates).

use super::form::{self, Fields};
use super::session::WebUser;
use super::{describe, finish, render, see_other, status_of, Chrome};
use crate::app::catalogue as catalogue_app;
use crate::app::changes::calendar::{self, ConflictView};
use crate::app::changes::setup::{
    self, ChangeSettings, FreezeInput, FreezeView, TemplateInput, TemplateView,
};
use crate::app::changes::{
    self, ChangeInput, ChangePatch, ChangeSummary, ChangeView, ListQuery, TransitionInput,
    VoteInput, REVIEW_OUTCOMES,
};
use crate::app::views::instant;
use crate::app::AppError;
use crate::http::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use jiff::civil::Date;
use jiff::Span;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use steward_core::change::{ChangeStatus, ChangeType, RISK_QUESTIONS};
use steward_core::Capability;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/changes", get(list_page))
        .route("/changes/new", get(new_page).post(create))
        .route("/changes/calendar", get(calendar_page))
        .route("/changes/setup", get(setup_page))
        .route("/changes/setup/settings", post(save_settings))
        .route("/changes/setup/freezes", post(add_freeze))
        .route("/changes/setup/freezes/{id}/delete", post(remove_freeze))
        .route("/changes/setup/templates", post(add_template))
        .route("/changes/{id}", get(change_page))
        .route("/changes/{id}/edit", get(edit_page).post(save_edit))
        .route("/changes/{id}/transition", post(transition))
        .route("/changes/{id}/vote", post(vote))
}

/// `YYYY-MM-DDTHH:MM` from a datetime-local field, in the user's time zone → RFC 3339 UTC.
fn local_time(u: &WebUser, f: &Fields, name: &str) -> Result<Option<String>, AppError> {
    let Some(v) = f.opt(name) else {
        return Ok(None);
    };
    let dt: jiff::civil::DateTime = v
        .trim()
        .parse()
        .map_err(|_| AppError::invalid(name, "is not a date and time"))?;
    let z = dt
        .to_zoned(u.tz.clone())
        .map_err(|_| AppError::invalid(name, "is not a date and time"))?;
    Ok(Some(instant(z.timestamp().as_microsecond())))
}

/// An RFC 3339 instant as a datetime-local value in the user's time zone.
fn local_value(u: &WebUser, v: &Option<String>) -> String {
    v.as_deref()
        .and_then(crate::app::views::parse_instant)
        .and_then(|m| jiff::Timestamp::from_microsecond(m).ok())
        .map(|t| {
            t.to_zoned(u.tz.clone())
                .strftime("%Y-%m-%dT%H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

// --- list ---

#[derive(Deserialize)]
struct ListParams {
    mine: Option<String>,
    status: Option<String>,
    change_type: Option<String>,
    q: Option<String>,
    /// The cursor of the next (older) page.
    before: Option<i64>,
}

/// Changes per page of the list.
const LIST_PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "changes_list.html")]
struct ListPage {
    c: Chrome,
    items: Vec<ChangeSummary>,
    tab: &'static str,
    awaiting: bool,
    can_vote: bool,
    can_raise: bool,
    can_manage: bool,
    q: String,
    /// (value, selected)
    statuses: Vec<(&'static str, bool)>,
    types: Vec<(&'static str, bool)>,
    /// The link to the next (older) page with the same filters.
    older: Option<String>,
}

async fn list_page(State(s): State<AppState>, u: WebUser, Query(p): Query<ListParams>) -> Response {
    let r = async {
        let awaiting = p.mine.as_deref() == Some("votes");
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let (status, change_type, q) = (nonempty(p.status), nonempty(p.change_type), nonempty(p.q));
        let page = changes::list(
            &s.app,
            &u.actor,
            ListQuery {
                status: status.clone(),
                change_type: change_type.clone(),
                awaiting_my_vote: awaiting,
                q: q.clone(),
                cursor: p.before,
                limit: LIST_PAGE,
            },
        )
        .await?;
        let (status, change_type, q) = (
            status.unwrap_or_default(),
            change_type.unwrap_or_default(),
            q.unwrap_or_default(),
        );
        let older = page.next_cursor.map(|cursor| {
            let mut query = form_urlencoded::Serializer::new(String::new());
            if awaiting {
                query.append_pair("mine", "votes");
            }
            for (k, v) in [
                ("status", &status),
                ("change_type", &change_type),
                ("q", &q),
            ] {
                if !v.is_empty() {
                    query.append_pair(k, v);
                }
            }
            query.append_pair("before", &cursor);
            format!("/changes?{}", query.finish())
        });
        Ok(render(
            StatusCode::OK,
            &ListPage {
                c: Chrome::new(&u, "changes"),
                items: page.items,
                tab: if awaiting { "votes" } else { "list" },
                awaiting,
                can_vote: u.actor.can(Capability::ApproveChanges),
                can_raise: u.actor.can(Capability::RaiseChanges),
                can_manage: u.actor.can(Capability::ManageChanges),
                q,
                statuses: ChangeStatus::ALL
                    .iter()
                    .map(|st| (st.as_str(), st.as_str() == status))
                    .collect(),
                types: ChangeType::ALL
                    .iter()
                    .map(|t| (t.as_str(), t.as_str() == change_type))
                    .collect(),
                older,
            },
        ))
    }
    .await;
    finish(&u, r)
}

// --- the form ---

pub struct QuestionRow {
    pub key: &'static str,
    pub answers: Vec<(&'static str, bool)>,
}

pub struct ServicePick {
    pub id: i64,
    pub name: String,
    pub on: bool,
}

#[derive(Template)]
#[template(path = "changes_new.html")]
struct NewPage {
    c: Chrome,
    f: BTreeMap<String, String>,
    questions: Vec<QuestionRow>,
    types: Vec<(&'static str, bool)>,
    templates: Vec<(TemplateView, bool)>,
    services: Vec<ServicePick>,
    /// The draft being edited; None on the new-change form.
    editing: Option<Editing>,
    error: Option<String>,
    error_field: String,
}

pub struct Editing {
    pub id: i64,
    pub number: String,
    pub version: i64,
}

async fn new_view(
    s: &AppState,
    u: &WebUser,
    typed: Option<&Fields>,
    error: Option<&AppError>,
) -> Result<NewPage, AppError> {
    changes::require_reader(&u.actor)?;
    u.actor.require(Capability::RaiseChanges)?;
    let get = |k: &str| typed.map(|f| f.get(k).to_string()).unwrap_or_default();
    let mut f = BTreeMap::new();
    for k in [
        "change_type",
        "template_id",
        "title",
        "reason",
        "description",
        "implementation_plan",
        "test_plan",
        "backout_plan",
        "planned_start",
        "planned_end",
        "ci_ids",
    ] {
        f.insert(k.to_string(), get(k));
    }
    if f["change_type"].is_empty() {
        f.insert("change_type".into(), "normal".into());
    }
    let questions = RISK_QUESTIONS
        .iter()
        .map(|q| {
            let chosen = get(&format!("risk_{}", q.key));
            QuestionRow {
                key: q.key,
                answers: q.answers.iter().map(|(a, _)| (*a, chosen == *a)).collect(),
            }
        })
        .collect();
    let chosen: Vec<i64> = typed
        .and_then(|f| f.ids("service_ids").ok())
        .unwrap_or_default();
    let services = catalogue_app::list_services(&s.app, &u.actor)
        .await?
        .into_iter()
        .map(|sv| ServicePick {
            on: chosen.contains(&sv.id),
            id: sv.id,
            name: if u.lang == crate::i18n::Lang::ZhCn {
                sv.name_zh
            } else {
                sv.name_en
            },
        })
        .collect();
    let templates = setup::list_templates(&s.app, &u.actor)
        .await?
        .into_iter()
        .filter(|t| t.active)
        .map(|t| {
            let on = f["template_id"] == t.id.to_string();
            (t, on)
        })
        .collect();
    let types = ["normal", "standard", "emergency"]
        .into_iter()
        .map(|t| (t, f["change_type"] == t))
        .collect();
    Ok(NewPage {
        c: Chrome::new(u, "changes"),
        f,
        questions,
        types,
        templates,
        services,
        editing: None,
        error: error.map(|e| describe(u.lang, e)),
        error_field: error.map(super::portal::error_field).unwrap_or_default(),
    })
}

async fn new_page(State(s): State<AppState>, u: WebUser) -> Response {
    let r = async { Ok(render(StatusCode::OK, &new_view(&s, &u, None, None).await?)) }.await;
    finish(&u, r)
}

fn input_from(u: &WebUser, f: &Fields) -> Result<ChangeInput, AppError> {
    let change_type = f.get("change_type").to_string();
    let answers: BTreeMap<String, String> = RISK_QUESTIONS
        .iter()
        .filter_map(|q| {
            f.opt(&format!("risk_{}", q.key))
                .map(|a| (q.key.to_string(), a))
        })
        .collect();
    let ci_ids = form::ci_refs("ci_ids", f.get("ci_ids"))?;
    Ok(ChangeInput {
        template_id: if change_type == "standard" {
            f.id("template_id")?
        } else {
            None
        },
        change_type,
        title: f.get("title").into(),
        reason: f.get("reason").into(),
        description: f.get("description").into(),
        risk_answers: (!answers.is_empty()).then_some(answers),
        implementation_plan: f.get("implementation_plan").into(),
        test_plan: f.get("test_plan").into(),
        backout_plan: f.get("backout_plan").into(),
        planned_start: local_time(u, f, "planned_start")?,
        planned_end: local_time(u, f, "planned_end")?,
        ci_ids,
        service_ids: f.ids("service_ids")?,
    })
}

async fn create(State(s): State<AppState>, u: WebUser, headers: HeaderMap, f: Fields) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let result = async {
            let input = input_from(&u, &f)?;
            changes::create(&s.app, &u.actor, input, None).await
        }
        .await;
        match result {
            Ok(v) => Ok(see_other(&format!("/changes/{}", v.id))),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => {
                let page = new_view(&s, &u, Some(&f), Some(&e)).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

// --- editing a draft ---

/// The draft as the fields of the change form.
fn draft_fields(u: &WebUser, ch: &ChangeView) -> Fields {
    let mut f = vec![
        ("change_type", ch.change_type.clone()),
        ("title", ch.title.clone()),
        ("reason", ch.reason.clone()),
        ("description", ch.description.clone()),
        ("implementation_plan", ch.implementation_plan.clone()),
        ("test_plan", ch.test_plan.clone()),
        ("backout_plan", ch.backout_plan.clone()),
        ("planned_start", local_value(u, &ch.planned_start)),
        ("planned_end", local_value(u, &ch.planned_end)),
        (
            "ci_ids",
            ch.cis
                .iter()
                .map(|ci| format!("#{} {}", ci.id, ci.name))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ];
    f.extend(
        ch.services
            .iter()
            .map(|sv| ("service_ids", sv.id.to_string())),
    );
    let answers = ch.risk_answers.iter();
    let mut fields: Vec<(String, String)> =
        f.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    fields.extend(answers.map(|(q, a)| (format!("risk_{q}"), a.clone())));
    Fields(fields)
}

async fn edit_view(
    s: &AppState,
    u: &WebUser,
    id: i64,
    typed: Option<&Fields>,
    error: Option<&AppError>,
) -> Result<NewPage, AppError> {
    let ch = changes::get(&s.app, &u.actor, id).await?;
    let stored = draft_fields(u, &ch);
    let mut page = new_view(s, u, Some(typed.unwrap_or(&stored)), error).await?;
    page.editing = Some(Editing {
        id,
        number: ch.number,
        version: ch.version,
    });
    Ok(page)
}

async fn edit_page(State(s): State<AppState>, u: WebUser, Path(id): Path<i64>) -> Response {
    let r = async {
        Ok(render(
            StatusCode::OK,
            &edit_view(&s, &u, id, None, None).await?,
        ))
    }
    .await;
    finish(&u, r)
}

async fn save_edit(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let result = async {
            let input = input_from(&u, &f)?;
            let patch = ChangePatch {
                title: Some(input.title),
                reason: Some(input.reason),
                description: Some(input.description),
                risk_answers: input.risk_answers,
                implementation_plan: Some(input.implementation_plan),
                test_plan: Some(input.test_plan),
                backout_plan: Some(input.backout_plan),
                planned_start: Some(input.planned_start.unwrap_or_default()),
                planned_end: Some(input.planned_end.unwrap_or_default()),
                ci_ids: Some(input.ci_ids),
                service_ids: Some(input.service_ids),
            };
            changes::update(&s.app, &u.actor, id, patch, f.version()).await
        }
        .await;
        match result {
            Ok(_) => Ok(see_other(&format!("/changes/{id}"))),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => {
                let page = edit_view(&s, &u, id, Some(&f), Some(&e)).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

// --- one change ---

#[derive(Template)]
#[template(path = "changes_change.html")]
struct ChangePage {
    c: Chrome,
    ch: ChangeView,
    can_vote: bool,
    can_act: bool,
    planned_start: String,
    planned_end: String,
    outcomes: &'static [&'static str],
    error: Option<String>,
    impact: ChangeImpact,
    /// The calendar's conflicts that involve this change.
    conflicts: Vec<ConflictLine>,
    /// (id, number, status) of the releases that group it
    releases: Vec<(i64, String, String)>,
    history: Vec<crate::app::views::HistoryEntry>,
    links: super::links::LinksPanel,
}

impl ChangePage {
    /// A history value as the reader reads it: labels for codes, times in their time zone.
    fn shown(&self, e: &crate::app::views::HistoryEntry, v: &str) -> String {
        match e.field.as_deref() {
            Some("status") => self.c.label("change-status", v),
            Some("risk") => self.c.label("change-risk", v),
            Some("review_outcome") => self.c.label("change-outcome", v),
            Some("planned_start" | "planned_end" | "actual_start" | "actual_end") => self.c.time(v),
            _ => v.to_string(),
        }
    }
}

/// The conflicts the change is in over its planned window, as the calendar finds them (none
/// for changes off the calendar, such as drafts).
async fn change_conflicts(
    s: &AppState,
    u: &WebUser,
    ch: &ChangeView,
) -> Result<Vec<ConflictLine>, AppError> {
    let window = |t: &Option<String>| t.as_deref().and_then(crate::app::views::parse_instant);
    let (Some(start), Some(end)) = (window(&ch.planned_start), window(&ch.planned_end)) else {
        return Ok(vec![]);
    };
    let mut view = calendar::calendar(&s.app, &u.actor, start, end).await?;
    view.conflicts.retain(|k| k.change_ids.contains(&ch.id));
    if view.conflicts.is_empty() {
        return Ok(vec![]);
    }
    let names = service_names(s, u).await?.into_iter().collect();
    Ok(conflict_lines(&view, &names))
}

/// What the CMDB says the change's CIs affect: the union of their upstream impact.
#[derive(Default)]
struct ChangeImpact {
    services: Vec<String>,
    organizations: Vec<String>,
    /// CIs affected upstream, counted once each.
    upstream: usize,
    truncated: bool,
}

async fn change_impact(
    s: &AppState,
    u: &WebUser,
    ch: &ChangeView,
) -> Result<ChangeImpact, AppError> {
    let mut out = ChangeImpact::default();
    let mut upstream = std::collections::BTreeSet::new();
    for ci in &ch.cis {
        let view = crate::app::cmdb::impact(&s.app, &u.actor, ci.id, None).await?;
        upstream.extend(view.upstream.iter().map(|n| n.id));
        for sv in view.services {
            if !out.services.contains(&sv.name) {
                out.services.push(sv.name);
            }
        }
        for o in view.organizations {
            if !out.organizations.contains(&o.name) {
                out.organizations.push(o.name);
            }
        }
        out.truncated |= view.truncated;
    }
    out.upstream = upstream.len();
    Ok(out)
}

async fn change_view(
    s: &AppState,
    u: &WebUser,
    id: i64,
    error: Option<&AppError>,
) -> Result<ChangePage, AppError> {
    let ch = changes::get(&s.app, &u.actor, id).await?;
    let raiser = ch.requester_id == u.actor.user_id;
    let can_act = if ch.status == "draft" {
        u.actor.can(Capability::RaiseChanges) && (raiser || u.actor.can(Capability::ManageChanges))
    } else {
        u.actor.can(Capability::ManageChanges)
    };
    let voted = ch.votes.iter().any(|v| v.user_id == u.actor.user_id);
    let impact = change_impact(s, u, &ch).await?;
    let conflicts = change_conflicts(s, u, &ch).await?;
    let releases = crate::app::releases::of_change(&s.app, &u.actor, id).await?;
    let history = changes::history(&s.app, &u.actor, id).await?;
    let links = super::links::panel(&s.app, u, steward_core::RecordKind::Change, id).await?;
    Ok(ChangePage {
        impact,
        conflicts,
        releases,
        history,
        links,
        c: Chrome::new(u, "changes"),
        can_vote: ch.open_for_votes && !raiser && !voted && u.actor.can(Capability::ApproveChanges),
        can_act,
        planned_start: local_value(u, &ch.planned_start),
        planned_end: local_value(u, &ch.planned_end),
        outcomes: REVIEW_OUTCOMES,
        error: error.map(|e| describe(u.lang, e)),
        ch,
    })
}

async fn change_page(State(s): State<AppState>, u: WebUser, Path(id): Path<i64>) -> Response {
    let r = async {
        Ok(render(
            StatusCode::OK,
            &change_view(&s, &u, id, None).await?,
        ))
    }
    .await;
    finish(&u, r)
}

async fn transition(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let result = async {
            let input = TransitionInput {
                to: f.get("to").into(),
                planned_start: local_time(&u, &f, "planned_start")?,
                planned_end: local_time(&u, &f, "planned_end")?,
                override_reason: f.opt("override_reason"),
                review_notes: f.opt("review_notes"),
                review_outcome: f.opt("review_outcome"),
                cancel_reason: f.opt("cancel_reason"),
            };
            changes::transition(&s.app, &u.actor, id, input, f.version()).await
        }
        .await;
        match result {
            Ok(_) => Ok(see_other(&format!("/changes/{id}"))),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => Ok(render(
                status_of(&e),
                &change_view(&s, &u, id, Some(&e)).await?,
            )),
        }
    }
    .await;
    finish(&u, r)
}

async fn vote(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let input = VoteInput {
            decision: f.get("decision").into(),
            comment: f.get("comment").into(),
        };
        match changes::vote(&s.app, &u.actor, id, input).await {
            Ok(_) => Ok(see_other(&format!("/changes/{id}"))),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => Ok(render(
                status_of(&e),
                &change_view(&s, &u, id, Some(&e)).await?,
            )),
        }
    }
    .await;
    finish(&u, r)
}

// --- the calendar ---

#[derive(Deserialize)]
struct CalendarParams {
    view: Option<String>,
    date: Option<String>,
}

pub struct CalItem {
    pub id: i64,
    pub number: String,
    pub title: String,
    pub change_type: String,
    pub status: String,
    pub conflicted: bool,
    /// The start time on this day, or blank when it started earlier.
    pub time: String,
}

pub struct CalDay {
    pub date: String,
    pub day: i8,
    pub in_range: bool,
    pub today: bool,
    /// The freeze periods covering part of the day.
    pub freezes: Vec<String>,
    pub items: Vec<CalItem>,
    /// The changes on this day beyond the cell's limit (month view), listed in the week view.
    pub more: usize,
}

/// How many changes a month-view day cell lists before "+N more": a busy month stays a
/// readable grid (and a small page) while the week view lists every change.
const MONTH_CELL_LIMIT: usize = 8;

/// How many conflicts the page lists; the cells flag every conflicted change regardless.
const CONFLICTS_LISTED: usize = 100;

#[derive(Template)]
#[template(path = "changes_calendar.html")]
struct CalendarPage {
    c: Chrome,
    tab: &'static str,
    week: bool,
    title: String,
    date: String,
    prev: String,
    next: String,
    weeks: Vec<Vec<CalDay>>,
    freezes: Vec<FreezeView>,
    conflicts: usize,
    /// The first CONFLICTS_LISTED conflicts.
    listed_conflicts: Vec<ConflictLine>,
}

/// A conflict as the page lists it: change numbers, and what they share or the freeze.
struct ConflictLine {
    kind: String,
    /// (id, number) of the changes in conflict
    changes: Vec<(i64, String)>,
    /// The shared services by name, and shared CIs as #id.
    shared: Vec<String>,
    freeze: Option<String>,
}

fn conflict_lines(
    view: &calendar::CalendarView,
    service_names: &HashMap<i64, String>,
) -> Vec<ConflictLine> {
    let numbers: HashMap<i64, &str> = view
        .changes
        .iter()
        .map(|e| (e.id, e.number.as_str()))
        .collect();
    let freezes: HashMap<i64, &str> = view
        .freezes
        .iter()
        .map(|f| (f.id, f.name.as_str()))
        .collect();
    view.conflicts
        .iter()
        .take(CONFLICTS_LISTED)
        .map(|k: &ConflictView| ConflictLine {
            kind: k.kind.clone(),
            changes: k
                .change_ids
                .iter()
                .map(|id| {
                    let number = numbers
                        .get(id)
                        .map_or_else(|| format!("#{id}"), |n| n.to_string());
                    (*id, number)
                })
                .collect(),
            shared: k
                .service_ids
                .iter()
                .map(|id| {
                    service_names
                        .get(id)
                        .cloned()
                        .unwrap_or_else(|| format!("#{id}"))
                })
                .chain(k.ci_ids.iter().map(|id| format!("CI #{id}")))
                .collect(),
            freeze: k.freeze_id.map(|f| {
                freezes
                    .get(&f)
                    .map_or_else(|| format!("#{f}"), |n| n.to_string())
            }),
        })
        .collect()
}

fn day_start(u: &WebUser, d: Date) -> Result<i64, AppError> {
    d.to_zoned(u.tz.clone())
        .map(|z| z.timestamp().as_microsecond())
        .map_err(|_| AppError::invalid("date", "is out of range"))
}

fn add_days(d: Date, n: i64) -> Result<Date, AppError> {
    d.checked_add(Span::new().days(n))
        .map_err(|_| AppError::invalid("date", "is out of range"))
}

async fn calendar_page(
    State(s): State<AppState>,
    u: WebUser,
    Query(p): Query<CalendarParams>,
) -> Response {
    let r = async {
        let week = p.view.as_deref() == Some("week");
        let today = jiff::Zoned::now().with_time_zone(u.tz.clone()).date();
        let date = match p.date.as_deref().filter(|d| !d.is_empty()) {
            Some(d) => d
                .parse::<Date>()
                .map_err(|_| AppError::invalid("date", "is not a date (YYYY-MM-DD)"))?,
            None => today,
        };
        // The grid: whole weeks from Monday, covering the month (or the one week).
        let (first, last, prev, next) = if week {
            let monday = add_days(date, -i64::from(date.weekday().to_monday_zero_offset()))?;
            (
                monday,
                add_days(monday, 6)?,
                add_days(date, -7)?,
                add_days(date, 7)?,
            )
        } else {
            let f = date.first_of_month();
            let l = date.last_of_month();
            (f, l, add_days(f, -1)?.first_of_month(), add_days(l, 1)?)
        };
        let grid_start = add_days(first, -i64::from(first.weekday().to_monday_zero_offset()))?;
        let grid_end = add_days(last, 6 - i64::from(last.weekday().to_monday_zero_offset()))?;
        let from = day_start(&u, grid_start)?;
        let to = day_start(&u, add_days(grid_end, 1)?)?;
        let view = calendar::calendar(&s.app, &u.actor, from, to).await?;
        let mut weeks: Vec<Vec<CalDay>> = Vec::new();
        let mut d = grid_start;
        while d <= grid_end {
            let (ds, de) = (day_start(&u, d)?, day_start(&u, add_days(d, 1)?)?);
            let limit = if week { usize::MAX } else { MONTH_CELL_LIMIT };
            let mut on_day = view
                .changes
                .iter()
                .filter(|e| e.start_us < de && e.end_us > ds);
            let items = on_day
                .by_ref()
                .take(limit)
                .map(|e| CalItem {
                    id: e.id,
                    number: e.number.clone(),
                    title: e.title.clone(),
                    change_type: e.change_type.clone(),
                    status: e.status.clone(),
                    conflicted: e.conflicted,
                    time: if e.start_us >= ds {
                        u.time(e.start_us).chars().skip(11).collect()
                    } else {
                        String::new()
                    },
                })
                .collect();
            let more = on_day.count();
            let freezes = view
                .freezes
                .iter()
                .filter(|f| {
                    let fs = crate::app::views::parse_instant(&f.starts_at).unwrap_or(i64::MAX);
                    let fe = crate::app::views::parse_instant(&f.ends_at).unwrap_or(i64::MIN);
                    fs < de && fe > ds
                })
                .map(|f| f.name.clone())
                .collect();
            let day = CalDay {
                date: d.to_string(),
                day: d.day(),
                in_range: d >= first && d <= last,
                today: d == today,
                freezes,
                items,
                more,
            };
            match weeks.last_mut() {
                Some(w) if w.len() < 7 => w.push(day),
                _ => weeks.push(vec![day]),
            }
            d = add_days(d, 1)?;
        }
        let service_names = service_names(&s, &u).await?.into_iter().collect();
        let listed_conflicts = conflict_lines(&view, &service_names);
        let title = if week {
            format!("{first} – {last}")
        } else {
            date.strftime("%Y-%m").to_string()
        };
        Ok(render(
            StatusCode::OK,
            &CalendarPage {
                c: Chrome::new(&u, "changes"),
                tab: "calendar",
                week,
                title,
                date: date.to_string(),
                prev: prev.to_string(),
                next: next.to_string(),
                weeks,
                conflicts: view.conflicts.len(),
                listed_conflicts,
                freezes: view.freezes,
            },
        ))
    }
    .await;
    finish(&u, r)
}

/// The catalogue's services as (id, name in the user's language).
async fn service_names(s: &AppState, u: &WebUser) -> Result<Vec<(i64, String)>, AppError> {
    Ok(catalogue_app::list_services(&s.app, &u.actor)
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
        .collect())
}

// --- set-up: quorums, freeze periods, templates ---

#[derive(Template)]
#[template(path = "changes_setup.html")]
struct SetupPage {
    c: Chrome,
    tab: &'static str,
    settings: ChangeSettings,
    freezes: Vec<FreezeView>,
    templates: Vec<TemplateView>,
    /// (id, name): the services a freeze period may cover
    services: Vec<(i64, String)>,
    can_manage: bool,
    error: Option<String>,
}

impl SetupPage {
    fn service_name(&self, id: &i64) -> String {
        self.services
            .iter()
            .find(|(sid, _)| sid == id)
            .map_or_else(|| format!("#{id}"), |(_, name)| name.clone())
    }
}

async fn setup_view(
    s: &AppState,
    u: &WebUser,
    error: Option<&AppError>,
) -> Result<SetupPage, AppError> {
    Ok(SetupPage {
        c: Chrome::new(u, "changes"),
        tab: "setup",
        settings: setup::settings(&s.app, &u.actor).await?,
        freezes: setup::list_freezes(&s.app, &u.actor).await?,
        templates: setup::list_templates(&s.app, &u.actor).await?,
        services: service_names(s, u).await?,
        can_manage: u.actor.can(Capability::ManageChanges),
        error: error.map(|e| describe(u.lang, e)),
    })
}

async fn setup_page(State(s): State<AppState>, u: WebUser) -> Response {
    let r = async { Ok(render(StatusCode::OK, &setup_view(&s, &u, None).await?)) }.await;
    finish(&u, r)
}

/// Runs a set-up change and answers with a redirect, or the page with the error.
async fn setup_result(
    s: &AppState,
    u: &WebUser,
    result: Result<(), AppError>,
) -> Result<Response, AppError> {
    match result {
        Ok(()) => Ok(see_other("/changes/setup")),
        Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
        Err(e) => Ok(render(status_of(&e), &setup_view(s, u, Some(&e)).await?)),
    }
}

fn number(f: &Fields, name: &str) -> Result<i64, AppError> {
    f.get(name)
        .trim()
        .parse()
        .map_err(|_| AppError::invalid(name, "must be a number"))
}

async fn save_settings(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let result = async {
            let input = ChangeSettings {
                cab_quorum: number(&f, "cab_quorum")?,
                ecab_quorum: number(&f, "ecab_quorum")?,
            };
            setup::set_settings(&s.app, &u.actor, input)
                .await
                .map(|_| ())
        }
        .await;
        setup_result(&s, &u, result).await
    }
    .await;
    finish(&u, r)
}

async fn add_freeze(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let result = async {
            let input = FreezeInput {
                name: f.get("name").into(),
                reason: f.get("reason").into(),
                service_id: f.id("service_id")?,
                starts_at: local_time(&u, &f, "starts_at")?.unwrap_or_default(),
                ends_at: local_time(&u, &f, "ends_at")?.unwrap_or_default(),
            };
            setup::create_freeze(&s.app, &u.actor, input)
                .await
                .map(|_| ())
        }
        .await;
        setup_result(&s, &u, result).await
    }
    .await;
    finish(&u, r)
}

async fn remove_freeze(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let result = setup::delete_freeze(&s.app, &u.actor, id).await;
        setup_result(&s, &u, result).await
    }
    .await;
    finish(&u, r)
}

async fn add_template(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let input = TemplateInput {
            name_zh: f.get("name_zh").into(),
            name_en: f.get("name_en").into(),
            description: f.get("description").into(),
            implementation_plan: f.get("implementation_plan").into(),
            test_plan: f.get("test_plan").into(),
            backout_plan: f.get("backout_plan").into(),
            risk: f.get("risk").into(),
        };
        let result = setup::create_template(&s.app, &u.actor, input)
            .await
            .map(|_| ());
        setup_result(&s, &u, result).await
    }
    .await;
    finish(&u, r)
}
