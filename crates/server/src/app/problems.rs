//! Problem management: problems (PRB-000001) with their root cause analysis, the incidents
//! they caused, the known error database, applying a known error to an incident in one step,
//! and the trend view of recurring incidents that starts proactive problems.
//!
//! Staff read problems (auditors too); those with WorkProblems change them; requesters see no
//! problem at all (404).

use super::error::text_field;
use super::idempotency::{self, IdempotencyKey};
use super::links::{self, link_in};
use super::views::{instant, Page};
use super::{now, Actor, App, AppError, AppResult, AuditTrail};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use steward_core::problem::{top_trends, Evidence, ProblemRuleError, ProblemStatus, TrendRow};
use steward_core::text::{multi_line, single_line};
use steward_core::{Capability, Level, LinkType, Priority, RecordKind, Role};
use steward_store::problems::{self as store, Dimension, Problem, ProblemFilter};
use steward_store::{accounts, catalogue, links as link_store, search, tickets, WriteCtx};
use utoipa::{IntoParams, ToSchema};

const TITLE_MAX: usize = 200;
const TEXT_MAX: usize = 20_000;

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProblemInput {
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// P1..P5 (default P3)
    pub priority: Option<String>,
    /// high, medium or low (default medium)
    pub impact: Option<String>,
    pub team_id: Option<i64>,
    /// The problem owner.
    pub assignee_id: Option<i64>,
    pub category: Option<String>,
    pub service_id: Option<i64>,
    /// Incidents to link as caused by this problem (e.g. from the trend view).
    #[serde(default)]
    pub incident_ids: Vec<i64>,
}

/// Fields to change; absent fields stay. `null` clears an optional field.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProblemPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    /// new, under_investigation, known_error, resolved or closed
    pub status: Option<String>,
    pub priority: Option<String>,
    pub impact: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub team_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub assignee_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub service_id: Option<Option<i64>>,
    /// The root cause.
    pub cause: Option<String>,
    /// How it was found: 5 whys, fishbone, timeline …
    pub method_notes: Option<String>,
    pub contributing_factors: Option<String>,
    pub workaround: Option<String>,
    /// Whether the known error is published in the known error database (default: yes, once it
    /// becomes a known error).
    pub kedb_published: Option<bool>,
    /// How it was fixed (with the change linked as resolved_by).
    pub resolution: Option<String>,
}

fn double_option<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A record linked to a problem: an incident that it caused, or the change that fixes it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LinkedRecord {
    pub link_id: i64,
    pub id: i64,
    pub number: String,
    pub title: String,
    pub status: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProblemView {
    pub id: i64,
    /// PRB-000001
    pub number: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub priority: String,
    pub impact: String,
    pub team_id: Option<i64>,
    pub team_name: Option<String>,
    pub assignee_id: Option<i64>,
    pub assignee_name: Option<String>,
    pub category: Option<String>,
    pub service_id: Option<i64>,
    /// The service's code.
    pub service_name: Option<String>,
    pub cause: String,
    pub method_notes: String,
    pub contributing_factors: String,
    pub workaround: String,
    pub known_error_at: Option<String>,
    pub kedb_published: bool,
    pub resolution: String,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
    pub allowed_transitions: Vec<String>,
    /// The incidents caused by this problem that the reader may see (on single reads).
    pub incidents: Vec<LinkedRecord>,
    /// The changes linked as resolving it (on single reads).
    pub fixes: Vec<LinkedRecord>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl ProblemView {
    fn new(p: &Problem) -> ProblemView {
        let allowed = p
            .status
            .parse::<ProblemStatus>()
            .map(|s| s.next().iter().map(|n| n.as_str().to_string()).collect())
            .unwrap_or_default();
        ProblemView {
            id: p.id,
            number: p.number.clone(),
            title: p.title.clone(),
            description: p.description.clone(),
            status: p.status.clone(),
            priority: Priority::from_rank(p.priority)
                .map(|x| x.as_str().to_string())
                .unwrap_or_default(),
            impact: p.impact.clone(),
            team_id: p.team_id,
            team_name: p.team_name.clone(),
            assignee_id: p.assignee_id,
            assignee_name: p.assignee_name.clone(),
            category: p.category.clone(),
            service_id: p.service_id,
            service_name: p.service_code.clone(),
            cause: p.cause.clone(),
            method_notes: p.method_notes.clone(),
            contributing_factors: p.contributing_factors.clone(),
            workaround: p.workaround.clone(),
            known_error_at: p.known_error_at.map(instant),
            kedb_published: p.kedb_published,
            resolution: p.resolution.clone(),
            resolved_at: p.resolved_at.map(instant),
            closed_at: p.closed_at.map(instant),
            allowed_transitions: allowed,
            incidents: vec![],
            fixes: vec![],
            version: p.version,
            created_at: instant(p.created_at),
            updated_at: instant(p.updated_at),
        }
    }

    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.id, self.version)
    }
}

/// Staff read problems; anyone else finds none.
fn require_reader(actor: &Actor) -> AppResult<()> {
    if actor.role.is_staff() {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

async fn load(conn: &mut AnyConnection, actor: &Actor, id: i64) -> AppResult<Problem> {
    require_reader(actor)?;
    store::get(conn, id).await?.ok_or(AppError::NotFound)
}

async fn full_view(conn: &mut AnyConnection, actor: &Actor, p: &Problem) -> AppResult<ProblemView> {
    let mut v = ProblemView::new(p);
    for i in store::incidents(conn, p.id).await? {
        if actor.visible_ticket(conn, i.ticket_id).await.is_ok() {
            v.incidents.push(LinkedRecord {
                link_id: i.link_id,
                id: i.ticket_id,
                url: links::record_url("ticket", i.ticket_id),
                number: i.number,
                title: i.title,
                status: i.status,
            });
        }
    }
    for l in link_store::for_record(conn, "problem", p.id).await? {
        let fix = l.source_kind == "problem"
            && l.source_id == p.id
            && l.target_kind == "change"
            && l.link_type == LinkType::ResolvedBy.as_str();
        if !fix {
            continue;
        }
        if let Some(c) = link_store::label(conn, "change", l.target_id).await? {
            v.fixes.push(LinkedRecord {
                link_id: l.id,
                id: l.target_id,
                url: links::record_url("change", l.target_id),
                number: c.number,
                title: c.title,
                status: c.status,
            });
        }
    }
    Ok(v)
}

fn parse_status(v: &str) -> AppResult<ProblemStatus> {
    v.parse().map_err(|_| {
        AppError::invalid(
            "status",
            "must be new, under_investigation, known_error, resolved or closed",
        )
    })
}

fn parse_priority(v: &str) -> AppResult<i64> {
    v.parse::<Priority>()
        .map(Priority::rank)
        .map_err(|_| AppError::invalid("priority", "must be P1, P2, P3, P4 or P5"))
}

fn parse_impact(v: &str) -> AppResult<String> {
    v.parse::<Level>()
        .map(|l| l.as_str().to_string())
        .map_err(|_| AppError::invalid("impact", "must be high, medium or low"))
}

fn optional_line(field: &str, v: Option<&str>) -> AppResult<Option<String>> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => text_field(field, single_line(s, 100)).map(Some),
    }
}

fn long_text(field: &str, v: &str) -> AppResult<String> {
    text_field(field, multi_line(v, TEXT_MAX, false))
}

/// Team, owner and service must exist; the owner must be active staff who works problems.
async fn check_refs(conn: &mut AnyConnection, p: &Problem) -> AppResult<()> {
    if let Some(t) = p.team_id {
        if accounts::get_team(conn, t).await?.is_none() {
            return Err(AppError::invalid("team_id", "is not a team"));
        }
    }
    if let Some(a) = p.assignee_id {
        let ok = accounts::get_user(conn, a)
            .await?
            .filter(|u| u.active)
            .and_then(|u| u.role.parse::<Role>().ok())
            .is_some_and(|r| r.can(Capability::WorkProblems));
        if !ok {
            return Err(AppError::invalid(
                "assignee_id",
                "is not an active member of staff who works problems",
            ));
        }
    }
    if let Some(s) = p.service_id {
        if catalogue::get_service(conn, s).await?.is_none() {
            return Err(AppError::invalid("service_id", "is not a service"));
        }
    }
    Ok(())
}

fn search_text(p: &Problem) -> String {
    search::segment_document(&format!("{} {} {}", p.title, p.cause, p.workaround))
}

/// Links an incident to the problem (incident caused_by problem) in the caller's transaction;
/// false when it was linked already.
async fn link_incident_in(
    ctx: &mut WriteCtx,
    actor: &Actor,
    problem_id: i64,
    ticket_id: i64,
    at: i64,
) -> AppResult<bool> {
    let t = actor
        .visible_ticket(&mut ctx.conn, ticket_id)
        .await
        .map_err(|e| match e {
            AppError::NotFound => AppError::invalid("ticket_id", "no incident with this number"),
            e => e,
        })?;
    if t.kind != "incident" {
        return Err(AppError::invalid("ticket_id", "is not an incident"));
    }
    Ok(link_in(
        ctx,
        actor,
        (RecordKind::Ticket, ticket_id),
        (RecordKind::Problem, problem_id),
        LinkType::CausedBy,
        at,
    )
    .await?
    .is_some())
}

pub async fn create(
    app: &App,
    actor: &Actor,
    input: NewProblemInput,
    key: Option<IdempotencyKey>,
) -> AppResult<ProblemView> {
    require_reader(actor)?;
    actor.require(Capability::WorkProblems)?;
    let title = text_field("title", single_line(&input.title, TITLE_MAX))?;
    let description = long_text("description", &input.description)?;
    let priority = parse_priority(input.priority.as_deref().unwrap_or("P3"))?;
    let impact = parse_impact(input.impact.as_deref().unwrap_or("medium"))?;
    let category = optional_line("category", input.category.as_deref())?;
    if input.incident_ids.len() > 200 {
        return Err(AppError::invalid("incident_ids", "at most 200 incidents"));
    }
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                if let Some(v) = idempotency::replay(ctx, actor.user_id, &key).await? {
                    return Ok(v);
                }
                let now = now();
                let seq = tickets::next_number(&mut ctx.conn, "PRB").await?;
                let mut p = Problem {
                    number: ProblemStatus::format_number(seq),
                    title,
                    description,
                    status: ProblemStatus::New.as_str().into(),
                    priority,
                    impact,
                    team_id: input.team_id,
                    assignee_id: input.assignee_id,
                    category,
                    service_id: input.service_id,
                    created_by: actor.user_id,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                    ..Default::default()
                };
                check_refs(&mut ctx.conn, &p).await?;
                p.id = store::insert(&mut ctx.conn, &p).await?;
                store::index(&mut ctx.conn, ctx.backend, p.id, &search_text(&p)).await?;
                AuditTrail::new(&actor, "problem", p.id, now)
                    .record(ctx, "create", None, None, Some(p.number.clone()))
                    .await?;
                for (i, tid) in input.incident_ids.iter().enumerate() {
                    link_incident_in(ctx, &actor, p.id, *tid, now)
                        .await
                        .map_err(|e| match e {
                            AppError::Invalid { message, .. } => {
                                AppError::invalid(&format!("incident_ids[{i}]"), message)
                            }
                            e => e,
                        })?;
                }
                let p = store::get(&mut ctx.conn, p.id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                let view = full_view(&mut ctx.conn, &actor, &p).await?;
                idempotency::remember(ctx, actor.user_id, &key, &view).await?;
                Ok(view)
            })
        })
        .await
}

pub async fn get(app: &App, actor: &Actor, id: i64) -> AppResult<ProblemView> {
    let mut conn = app.read().await?;
    let p = load(&mut conn, actor, id).await?;
    full_view(&mut conn, actor, &p).await
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProblemQuery {
    /// Comma-separated statuses; `open` for every open one.
    pub status: Option<String>,
    /// Only published known errors (the known error database).
    pub kedb: Option<bool>,
    /// Search title, cause and workaround (Chinese and English).
    pub q: Option<String>,
    pub team_id: Option<i64>,
    pub assignee_id: Option<i64>,
    /// 1..200, default 50
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub async fn list(app: &App, actor: &Actor, q: &ProblemQuery) -> AppResult<Page<ProblemView>> {
    require_reader(actor)?;
    let mut f = ProblemFilter {
        limit: q.limit.unwrap_or(50),
        kedb: q.kedb.unwrap_or(false),
        team_id: q.team_id,
        assignee_id: q.assignee_id,
        ..Default::default()
    };
    if !(1..=200).contains(&f.limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 200"));
    }
    if let Some(s) = q.status.as_deref().filter(|s| !s.is_empty()) {
        for part in s.split(',') {
            if part == "open" {
                f.statuses.extend(
                    ProblemStatus::ALL
                        .iter()
                        .filter(|s| s.is_open())
                        .map(|s| s.as_str().to_string()),
                );
            } else {
                f.statuses.push(parse_status(part)?.as_str().to_string());
            }
        }
    }
    f.before_id = q
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| AppError::invalid("cursor", "is not a cursor from this list"))
        })
        .transpose()?;
    if let Some(text) = q.q.as_deref().filter(|s| !s.trim().is_empty()) {
        if text.chars().count() > 200 {
            return Err(AppError::invalid("q", "is longer than 200 characters"));
        }
        f.words = search::segment_query(text);
        if f.words.is_empty() {
            return Ok(Page {
                items: vec![],
                next_cursor: None,
            });
        }
    }
    let mut conn = app.read().await?;
    let rows = store::list(&mut conn, app.store.backend, &f).await?;
    let next_cursor = (rows.len() as i64 == f.limit)
        .then(|| rows.last().map(|p| p.id.to_string()))
        .flatten();
    Ok(Page {
        items: rows.iter().map(ProblemView::new).collect(),
        next_cursor,
    })
}

fn rule_error(e: ProblemRuleError) -> AppError {
    match e {
        ProblemRuleError::Transition { from, to, allowed } => AppError::Conflict {
            message: format!("a problem cannot move from {from} to {to}"),
            allowed: Some(allowed.iter().map(|s| s.as_str().to_string()).collect()),
        },
        ProblemRuleError::Missing { field, to } => {
            AppError::invalid(field, format!("is required for {to}"))
        }
    }
}

pub async fn update(
    app: &App,
    actor: &Actor,
    id: i64,
    patch: ProblemPatch,
    if_version: Option<i64>,
) -> AppResult<ProblemView> {
    let title = patch
        .title
        .as_deref()
        .map(|t| text_field("title", single_line(t, TITLE_MAX)))
        .transpose()?;
    let text =
        |field: &str, v: &Option<String>| v.as_deref().map(|s| long_text(field, s)).transpose();
    let description = text("description", &patch.description)?;
    let cause = text("cause", &patch.cause)?;
    let method_notes = text("method_notes", &patch.method_notes)?;
    let contributing = text("contributing_factors", &patch.contributing_factors)?;
    let workaround = text("workaround", &patch.workaround)?;
    let resolution = text("resolution", &patch.resolution)?;
    let status = patch.status.as_deref().map(parse_status).transpose()?;
    let priority = patch.priority.as_deref().map(parse_priority).transpose()?;
    let impact = patch.impact.as_deref().map(parse_impact).transpose()?;
    let category = patch
        .category
        .as_ref()
        .map(|c| optional_line("category", c.as_deref()))
        .transpose()?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let old = load(&mut ctx.conn, &actor, id).await?;
                actor.require(Capability::WorkProblems)?;
                if if_version.is_some_and(|v| v != old.version) {
                    return Err(AppError::Stale);
                }
                let from = parse_status(&old.status)?;
                if from == ProblemStatus::Closed {
                    return Err(AppError::Conflict {
                        message: format!("{} is closed", old.number),
                        allowed: Some(vec![]),
                    });
                }
                let now = now();
                let mut p = old.clone();
                if let Some(v) = title {
                    p.title = v;
                }
                if let Some(v) = description {
                    p.description = v;
                }
                if let Some(v) = cause {
                    p.cause = v;
                }
                if let Some(v) = method_notes {
                    p.method_notes = v;
                }
                if let Some(v) = contributing {
                    p.contributing_factors = v;
                }
                if let Some(v) = workaround {
                    p.workaround = v;
                }
                if let Some(v) = resolution {
                    p.resolution = v;
                }
                if let Some(v) = priority {
                    p.priority = v;
                }
                if let Some(v) = impact {
                    p.impact = v;
                }
                if let Some(v) = patch.team_id {
                    p.team_id = v;
                }
                if let Some(v) = patch.assignee_id {
                    p.assignee_id = v;
                }
                if let Some(v) = category {
                    p.category = v;
                }
                if let Some(v) = patch.service_id {
                    p.service_id = v;
                }
                if let Some(to) = status.filter(|s| *s != from) {
                    let evidence = Evidence {
                        has_cause: !p.cause.trim().is_empty(),
                        has_workaround: !p.workaround.trim().is_empty(),
                        has_resolution: !p.resolution.trim().is_empty(),
                    };
                    from.check(to, evidence).map_err(rule_error)?;
                    p.status = to.as_str().into();
                    match to {
                        ProblemStatus::KnownError => {
                            p.known_error_at = Some(now);
                            p.kedb_published = patch.kedb_published.unwrap_or(true);
                        }
                        ProblemStatus::Resolved => p.resolved_at = Some(now),
                        ProblemStatus::Closed => p.closed_at = Some(now),
                        ProblemStatus::UnderInvestigation | ProblemStatus::New => {
                            p.resolved_at = None;
                        }
                    }
                }
                if let Some(v) = patch.kedb_published {
                    if v && p.workaround.trim().is_empty() {
                        return Err(AppError::invalid(
                            "workaround",
                            "is required to publish a known error",
                        ));
                    }
                    p.kedb_published = v;
                }
                check_refs(&mut ctx.conn, &p).await?;
                p.version = old.version + 1;
                p.updated_at = now;
                if !store::update(&mut ctx.conn, &p, old.version).await? {
                    return Err(AppError::Stale);
                }
                if (p.title.as_str(), p.cause.as_str(), p.workaround.as_str())
                    != (
                        old.title.as_str(),
                        old.cause.as_str(),
                        old.workaround.as_str(),
                    )
                {
                    store::index(&mut ctx.conn, ctx.backend, p.id, &search_text(&p)).await?;
                }
                let s = |v: &str| Some(v.to_string());
                let n = |v: Option<i64>| v.map(|x| x.to_string());
                AuditTrail::new(&actor, "problem", id, now)
                    .changes(
                        ctx,
                        &[
                            ("title", s(&old.title), s(&p.title)),
                            ("description", s(&old.description), s(&p.description)),
                            ("status", s(&old.status), s(&p.status)),
                            ("priority", n(Some(old.priority)), n(Some(p.priority))),
                            ("impact", s(&old.impact), s(&p.impact)),
                            ("team_id", n(old.team_id), n(p.team_id)),
                            ("assignee_id", n(old.assignee_id), n(p.assignee_id)),
                            ("category", old.category.clone(), p.category.clone()),
                            ("service_id", n(old.service_id), n(p.service_id)),
                            ("cause", s(&old.cause), s(&p.cause)),
                            ("method_notes", s(&old.method_notes), s(&p.method_notes)),
                            (
                                "contributing_factors",
                                s(&old.contributing_factors),
                                s(&p.contributing_factors),
                            ),
                            ("workaround", s(&old.workaround), s(&p.workaround)),
                            (
                                "kedb_published",
                                s(&old.kedb_published.to_string()),
                                s(&p.kedb_published.to_string()),
                            ),
                            ("resolution", s(&old.resolution), s(&p.resolution)),
                        ],
                    )
                    .await?;
                let p = store::get(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                full_view(&mut ctx.conn, &actor, &p).await
            })
        })
        .await
}

/// Records the known error in one step: cause, workaround and the move to known_error,
/// published to the KEDB.
pub async fn record_known_error(
    app: &App,
    actor: &Actor,
    id: i64,
    cause: String,
    workaround: String,
    if_version: Option<i64>,
) -> AppResult<ProblemView> {
    let patch = ProblemPatch {
        cause: Some(cause),
        workaround: Some(workaround),
        status: Some(ProblemStatus::KnownError.as_str().into()),
        kedb_published: Some(true),
        ..Default::default()
    };
    update(app, actor, id, patch, if_version).await
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentInput {
    /// The incident's id, or …
    pub ticket_id: Option<i64>,
    /// … its number, e.g. INC-000012.
    pub number: Option<String>,
}

async fn ticket_of(conn: &mut AnyConnection, input: &IncidentInput) -> AppResult<i64> {
    match (input.ticket_id, input.number.as_deref().map(str::trim)) {
        (Some(id), _) => Ok(id),
        (None, Some(n)) if !n.is_empty() => link_store::find(conn, "ticket", n)
            .await?
            .ok_or_else(|| AppError::invalid("number", "no incident with this number")),
        _ => Err(AppError::invalid("ticket_id", "is required")),
    }
}

/// Links an incident (by id or number) to the problem as caused by it.
pub async fn add_incident(
    app: &App,
    actor: &Actor,
    id: i64,
    input: IncidentInput,
) -> AppResult<ProblemView> {
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let p = load(&mut ctx.conn, &actor, id).await?;
                actor.require(Capability::WorkProblems)?;
                let field = if input.ticket_id.is_some() {
                    "ticket_id"
                } else {
                    "number"
                };
                let ticket_id = ticket_of(&mut ctx.conn, &input).await?;
                let linked = link_incident_in(ctx, &actor, id, ticket_id, now())
                    .await
                    .map_err(|e| match e {
                        AppError::Invalid { message, .. } => AppError::invalid(field, message),
                        e => e,
                    })?;
                if !linked {
                    return Err(AppError::Conflict {
                        message: "this incident is linked to the problem already".into(),
                        allowed: None,
                    });
                }
                full_view(&mut ctx.conn, &actor, &p).await
            })
        })
        .await
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyInput {
    pub ticket_id: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApplyResult {
    pub problem_id: i64,
    pub ticket_id: i64,
    /// The public reply carrying the workaround.
    pub comment_id: i64,
    /// False when the known error had been applied to this incident before (nothing new was
    /// written).
    pub applied: bool,
}

/// Applies a known error to an incident in one step: the workaround becomes a public reply
/// (notifications flow as for any reply) and the incident is linked as caused by the problem;
/// one transaction, audited; a second apply changes nothing.
pub async fn apply(app: &App, actor: &Actor, id: i64, input: ApplyInput) -> AppResult<ApplyResult> {
    let actor = actor.clone();
    let store_handle = app.store.clone();
    let app = app.clone();
    store_handle
        .write(move |ctx| {
            Box::pin(async move {
                let p = load(&mut ctx.conn, &actor, id).await?;
                let t = actor
                    .visible_ticket(&mut ctx.conn, input.ticket_id)
                    .await
                    .map_err(|e| match e {
                        AppError::NotFound => AppError::invalid("ticket_id", "no such incident"),
                        e => e,
                    })?;
                actor.require(Capability::EditTickets)?;
                if t.kind != "incident" {
                    return Err(AppError::invalid("ticket_id", "is not an incident"));
                }
                if let Some(comment_id) = store::application(&mut ctx.conn, id, t.id).await? {
                    return Ok(ApplyResult {
                        problem_id: id,
                        ticket_id: t.id,
                        comment_id,
                        applied: false,
                    });
                }
                if !p.kedb_published || p.workaround.trim().is_empty() {
                    return Err(AppError::Conflict {
                        message: format!("{} is not a published known error", p.number),
                        allowed: None,
                    });
                }
                let now = now();
                let body = format!("{} {}\n\n{}", p.number, p.title, p.workaround);
                let doc = search::segment_document(&body);
                let comment_id = super::conversation::insert_comment_in(
                    &app, ctx, &actor, &t, &body, &doc, false, now,
                )
                .await?;
                link_in(
                    ctx,
                    &actor,
                    (RecordKind::Ticket, t.id),
                    (RecordKind::Problem, id),
                    LinkType::CausedBy,
                    now,
                )
                .await?;
                store::insert_application(&mut ctx.conn, id, t.id, comment_id, actor.user_id, now)
                    .await?;
                AuditTrail::new(&actor, "ticket", t.id, now)
                    .record(
                        ctx,
                        "apply_known_error",
                        Some("problem"),
                        None,
                        Some(p.number.clone()),
                    )
                    .await?;
                Ok(ApplyResult {
                    problem_id: id,
                    ticket_id: t.id,
                    comment_id,
                    applied: true,
                })
            })
        })
        .await
}

/// The problems an incident is linked to as caused by, for its page.
pub async fn of_ticket(app: &App, actor: &Actor, ticket_id: i64) -> AppResult<Vec<ProblemView>> {
    let mut conn = app.read().await?;
    actor.visible_ticket(&mut conn, ticket_id).await?;
    if !actor.role.is_staff() {
        return Ok(vec![]);
    }
    let mut out = Vec::new();
    for l in link_store::for_record(&mut conn, "ticket", ticket_id).await? {
        if l.source_kind == "ticket" && l.target_kind == "problem" && l.link_type == "caused_by" {
            if let Some(p) = store::get(&mut conn, l.target_id).await? {
                out.push(ProblemView::new(&p));
            }
        }
    }
    Ok(out)
}

// --- the trend view ---

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendQuery {
    /// The period: the last N days (1..366, default 30) …
    pub days: Option<i64>,
    /// … or from this date (YYYY-MM-DD, in UTC) …
    pub from: Option<String>,
    /// … to this date, inclusive (default today).
    pub to: Option<String>,
    /// Groups to show per dimension (1..50, default 10).
    pub top: Option<i64>,
    /// Groups with fewer incidents are not recurring (default 2).
    pub min: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrendRowView {
    /// category, service or ci
    pub dimension: String,
    /// The category, or the service's or CI's id.
    pub key: String,
    /// The category, the service's code or the CI's name.
    pub label: String,
    /// Incidents in the period.
    pub count: i64,
    /// Incidents in the period of the same length just before.
    pub previous: i64,
    /// The change in percent; absent when there were none before.
    pub change_percent: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrendView {
    pub from: String,
    pub to: String,
    pub previous_from: String,
    pub categories: Vec<TrendRowView>,
    pub services: Vec<TrendRowView>,
    pub cis: Vec<TrendRowView>,
}

const DAY: i64 = 86_400_000_000;

fn parse_date(field: &str, v: &str) -> AppResult<i64> {
    v.trim()
        .parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp().as_microsecond())
        .ok_or_else(|| AppError::invalid(field, "must be a date YYYY-MM-DD"))
}

/// The period [from, to) a query asks for.
pub fn period(q: &TrendQuery) -> AppResult<(i64, i64)> {
    let from = q.from.as_deref().filter(|s| !s.trim().is_empty());
    let to = q.to.as_deref().filter(|s| !s.trim().is_empty());
    let end = match to {
        Some(t) => parse_date("to", t)? + DAY,
        None => now(),
    };
    let start = match from {
        Some(f) => parse_date("from", f)?,
        None => {
            let days = q.days.unwrap_or(30);
            if !(1..=366).contains(&days) {
                return Err(AppError::invalid("days", "must be between 1 and 366"));
            }
            end - days * DAY
        }
    };
    if start >= end {
        return Err(AppError::invalid("from", "must be before to"));
    }
    if end - start > 3 * 366 * DAY {
        return Err(AppError::invalid(
            "from",
            "the period is at most three years",
        ));
    }
    Ok((start, end))
}

fn require_trends(actor: &Actor) -> AppResult<()> {
    if actor.can(Capability::WorkTickets) || actor.can(Capability::SeeAllTickets) {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// Incidents grouped by category, service and CI over the period, against the period before,
/// the recurring groups first. Counts only the incidents the actor may see.
pub async fn trends(app: &App, actor: &Actor, q: &TrendQuery) -> AppResult<TrendView> {
    require_trends(actor)?;
    let (from, to) = period(q)?;
    let top = q.top.unwrap_or(10);
    if !(1..=50).contains(&top) {
        return Err(AppError::invalid("top", "must be between 1 and 50"));
    }
    let min = q.min.unwrap_or(2);
    if !(1..=1000).contains(&min) {
        return Err(AppError::invalid("min", "must be between 1 and 1000"));
    }
    let prev_from = from - (to - from);
    let scope = actor.ticket_scope();
    let mut conn = app.read().await?;
    let mut out = Vec::new();
    for (dim, name) in [
        (Dimension::Category, "category"),
        (Dimension::Service, "service"),
        (Dimension::Ci, "ci"),
    ] {
        let rows = store::trend_counts(&mut conn, &scope, dim, prev_from, from, to).await?;
        let labels: std::collections::HashMap<String, String> = rows
            .iter()
            .map(|(k, l, _, _)| (k.clone(), l.clone()))
            .collect();
        let ranked = top_trends(
            rows.into_iter()
                .map(|(key, _, current, previous)| TrendRow {
                    key,
                    current,
                    previous,
                })
                .collect(),
            min,
            top as usize,
        );
        out.push(
            ranked
                .into_iter()
                .map(|r| TrendRowView {
                    dimension: name.into(),
                    label: labels.get(&r.key).cloned().unwrap_or_default(),
                    change_percent: r.change_percent(),
                    key: r.key,
                    count: r.current,
                    previous: r.previous,
                })
                .collect::<Vec<_>>(),
        );
    }
    let cis = out.pop().unwrap_or_default();
    let services = out.pop().unwrap_or_default();
    let categories = out.pop().unwrap_or_default();
    Ok(TrendView {
        from: instant(from),
        to: instant(to),
        previous_from: instant(prev_from),
        categories,
        services,
        cis,
    })
}

pub fn parse_dimension(v: &str) -> AppResult<Dimension> {
    match v {
        "category" => Ok(Dimension::Category),
        "service" => Ok(Dimension::Service),
        "ci" => Ok(Dimension::Ci),
        _ => Err(AppError::invalid(
            "dimension",
            "must be category, service or ci",
        )),
    }
}

/// The incidents of one trend group in the period (at most 200), to link to a new problem.
pub async fn trend_incidents(
    app: &App,
    actor: &Actor,
    q: &TrendQuery,
    dimension: &str,
    key: &str,
) -> AppResult<Vec<i64>> {
    require_trends(actor)?;
    let dim = parse_dimension(dimension)?;
    let (from, to) = period(q)?;
    let mut conn = app.read().await?;
    Ok(store::trend_incidents(&mut conn, &actor.ticket_scope(), dim, key, from, to, 200).await?)
}
