//! Requests for change: raised as drafts, risk-assessed with the questionnaire, decided by the
//! CAB (normal), the emergency CAB (emergency) or pre-approved from a template (standard),
//! scheduled against the calendar, implemented and reviewed. Rules live in core::change;
//! decisions are in docs/adr/010-change-approval.md.

pub mod calendar;
pub mod setup;

use super::error::text_field;
use super::idempotency::{self, IdempotencyKey};
use super::views::{history_of, instant, parse_instant, HistoryEntry, Page};
use super::{now, Actor, App, AppError, AppResult, AuditTrail};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use std::collections::BTreeMap;
use steward_core::change::{self as rules, ChangeStatus, ChangeType, Decision};
use steward_core::text::{multi_line, single_line};
use steward_core::Capability;
use steward_store::changes::{self as store, Change};
use steward_store::{catalogue, tickets, WriteCtx};
use utoipa::ToSchema;

pub const TITLE_MAX: usize = 200;
pub const TEXT_MAX: usize = 20_000;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VoteView {
    pub user_id: i64,
    pub user_name: String,
    /// approve or reject
    pub decision: String,
    pub comment: String,
    pub decided_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NamedRef {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChangeView {
    pub id: i64,
    /// CHG-000001
    pub number: String,
    /// standard, normal or emergency
    pub change_type: String,
    pub template_id: Option<i64>,
    pub title: String,
    pub reason: String,
    pub description: String,
    /// draft, submitted, assessed, approved, rejected, scheduled, implementing, implemented,
    /// failed, backed_out, reviewed or closed
    pub status: String,
    pub requester_id: i64,
    /// The questionnaire's answers (question → answer).
    pub risk_answers: BTreeMap<String, String>,
    pub likelihood: Option<i64>,
    pub impact: Option<i64>,
    /// low, medium or high
    pub risk: Option<String>,
    pub implementation_plan: String,
    pub test_plan: String,
    pub backout_plan: String,
    pub planned_start: Option<String>,
    pub planned_end: Option<String>,
    pub actual_start: Option<String>,
    pub actual_end: Option<String>,
    /// Approvals the CAB decision needs, fixed at submission.
    pub cab_quorum: Option<i64>,
    pub review_required: bool,
    pub review_notes: Option<String>,
    /// successful, partially_successful or unsuccessful
    pub review_outcome: Option<String>,
    pub reviewed_at: Option<String>,
    pub cis: Vec<NamedRef>,
    pub services: Vec<NamedRef>,
    pub votes: Vec<VoteView>,
    /// The statuses this change may move to next (CAB decisions excluded).
    pub next: Vec<String>,
    /// Whether CAB members vote on it now.
    pub open_for_votes: bool,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl ChangeView {
    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.id, self.version)
    }
}

/// A list row: the change without plans, votes and targets.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChangeSummary {
    pub id: i64,
    pub number: String,
    pub change_type: String,
    pub title: String,
    pub status: String,
    pub risk: Option<String>,
    pub planned_start: Option<String>,
    pub planned_end: Option<String>,
    pub updated_at: String,
}

pub(crate) fn summary(c: &Change) -> ChangeSummary {
    ChangeSummary {
        id: c.id,
        number: c.number.clone(),
        change_type: c.change_type.clone(),
        title: c.title.clone(),
        status: c.status.clone(),
        risk: c.risk.clone(),
        planned_start: c.planned_start.map(instant),
        planned_end: c.planned_end.map(instant),
        updated_at: instant(c.updated_at),
    }
}

pub(crate) fn kind_of(c: &Change) -> AppResult<(ChangeType, ChangeStatus)> {
    let t = c
        .change_type
        .parse::<ChangeType>()
        .map_err(|_| AppError::Internal(format!("change {} has type {}", c.id, c.change_type)))?;
    let s = c
        .status
        .parse::<ChangeStatus>()
        .map_err(|_| AppError::Internal(format!("change {} has status {}", c.id, c.status)))?;
    Ok((t, s))
}

async fn build_view(conn: &mut AnyConnection, c: &Change) -> AppResult<ChangeView> {
    let (t, s) = kind_of(c)?;
    let ci_ids = store::targets_of(conn, false, c.id).await?;
    let cis = store::ci_names(conn, &ci_ids)
        .await?
        .into_iter()
        .map(|(id, name)| NamedRef { id, name })
        .collect();
    let mut services = Vec::new();
    for id in store::targets_of(conn, true, c.id).await? {
        if let Some(s) = catalogue::get_service(conn, id).await? {
            services.push(NamedRef {
                id,
                name: format!("{} / {}", s.name_zh, s.name_en),
            });
        }
    }
    let votes = store::votes(conn, c.id)
        .await?
        .into_iter()
        .map(|v| VoteView {
            user_id: v.user_id,
            user_name: v.user_name,
            decision: v.decision,
            comment: v.comment,
            decided_at: instant(v.decided_at),
        })
        .collect();
    Ok(ChangeView {
        id: c.id,
        number: c.number.clone(),
        change_type: c.change_type.clone(),
        template_id: c.template_id,
        title: c.title.clone(),
        reason: c.reason.clone(),
        description: c.description.clone(),
        status: c.status.clone(),
        requester_id: c.requester_id,
        risk_answers: c
            .risk_answers
            .as_deref()
            .and_then(|a| serde_json::from_str(a).ok())
            .unwrap_or_default(),
        likelihood: c.likelihood,
        impact: c.impact,
        risk: c.risk.clone(),
        implementation_plan: c.implementation_plan.clone(),
        test_plan: c.test_plan.clone(),
        backout_plan: c.backout_plan.clone(),
        planned_start: c.planned_start.map(instant),
        planned_end: c.planned_end.map(instant),
        actual_start: c.actual_start.map(instant),
        actual_end: c.actual_end.map(instant),
        cab_quorum: c.cab_quorum,
        review_required: c.review_required,
        review_notes: c.review_notes.clone(),
        review_outcome: c.review_outcome.clone(),
        reviewed_at: c.reviewed_at.map(instant),
        cis,
        services,
        votes,
        next: s
            .next(t, c.review_required)
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        open_for_votes: s.open_for_votes(t),
        version: c.version,
        created_at: instant(c.created_at),
        updated_at: instant(c.updated_at),
    })
}

/// Staff read every change; for requesters changes do not exist.
pub(crate) fn require_reader(actor: &Actor) -> AppResult<()> {
    if actor.role.is_staff() {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

async fn visible(conn: &mut AnyConnection, actor: &Actor, id: i64) -> AppResult<Change> {
    require_reader(actor)?;
    store::get(conn, id).await?.ok_or(AppError::NotFound)
}

pub async fn get(app: &App, actor: &Actor, id: i64) -> AppResult<ChangeView> {
    let mut conn = app.read().await?;
    let c = visible(&mut conn, actor, id).await?;
    build_view(&mut conn, &c).await
}

/// The audit history of a change, oldest first: every field change, transition, vote and
/// cancellation with who made it.
pub async fn history(app: &App, actor: &Actor, id: i64) -> AppResult<Vec<HistoryEntry>> {
    let mut conn = app.read().await?;
    visible(&mut conn, actor, id).await?;
    Ok(history_of(&mut conn, "change", id).await?)
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub status: Option<String>,
    pub change_type: Option<String>,
    /// Only changes waiting for the actor's CAB vote.
    pub awaiting_my_vote: bool,
    /// Number or title contains this.
    pub q: Option<String>,
    pub cursor: Option<i64>,
    pub limit: i64,
}

pub async fn list(app: &App, actor: &Actor, q: ListQuery) -> AppResult<Page<ChangeSummary>> {
    require_reader(actor)?;
    if let Some(s) = &q.status {
        s.parse::<ChangeStatus>()
            .map_err(|_| AppError::invalid("status", "is not a change status"))?;
    }
    if let Some(t) = &q.change_type {
        t.parse::<ChangeType>()
            .map_err(|_| AppError::invalid("change_type", "is not a change type"))?;
    }
    if !(1..=500).contains(&q.limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 500"));
    }
    let text = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
    if text.is_some_and(|t| t.chars().count() > 200) {
        return Err(AppError::invalid("q", "must be at most 200 characters"));
    }
    let text = text.map(String::from);
    let mut conn = app.read().await?;
    let rows = store::list(
        &mut conn,
        &store::Filter {
            status: q.status,
            change_type: q.change_type,
            awaiting_vote_of: q.awaiting_my_vote.then_some(actor.user_id),
            text,
            before_id: q.cursor,
            limit: q.limit,
        },
    )
    .await?;
    let next_cursor = (rows.len() as i64 == q.limit)
        .then(|| rows.last().map(|c| c.id.to_string()))
        .flatten();
    Ok(Page {
        items: rows.iter().map(summary).collect(),
        next_cursor,
    })
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeInput {
    /// standard (needs template_id), normal or emergency
    pub change_type: String,
    /// The standard change template to raise from; its plans and risk fill the change.
    pub template_id: Option<i64>,
    pub title: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub description: String,
    /// The risk questionnaire (GET /api/v1/changes/risk-questions): question → answer.
    pub risk_answers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub implementation_plan: String,
    #[serde(default)]
    pub test_plan: String,
    #[serde(default)]
    pub backout_plan: String,
    /// RFC 3339
    pub planned_start: Option<String>,
    pub planned_end: Option<String>,
    #[serde(default)]
    pub ci_ids: Vec<i64>,
    #[serde(default)]
    pub service_ids: Vec<i64>,
}

/// A draft's fields to change; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePatch {
    pub title: Option<String>,
    pub reason: Option<String>,
    pub description: Option<String>,
    pub risk_answers: Option<BTreeMap<String, String>>,
    pub implementation_plan: Option<String>,
    pub test_plan: Option<String>,
    pub backout_plan: Option<String>,
    pub planned_start: Option<String>,
    pub planned_end: Option<String>,
    pub ci_ids: Option<Vec<i64>>,
    pub service_ids: Option<Vec<i64>>,
}

fn text(field: &str, v: &str) -> AppResult<String> {
    text_field(field, multi_line(v, TEXT_MAX, false))
}

fn time_field(field: &str, v: &Option<String>) -> AppResult<Option<i64>> {
    v.as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            parse_instant(s.trim())
                .ok_or_else(|| AppError::invalid(field, "is not an RFC 3339 time"))
        })
        .transpose()
}

fn check_window(start: Option<i64>, end: Option<i64>) -> AppResult<()> {
    match (start, end) {
        (Some(s), Some(e)) if e <= s => Err(AppError::invalid(
            "planned_end",
            "must be after the planned start",
        )),
        (Some(_), None) => Err(AppError::invalid("planned_end", "is required with a start")),
        (None, Some(_)) => Err(AppError::invalid(
            "planned_start",
            "is required with an end",
        )),
        _ => Ok(()),
    }
}

/// Applies the questionnaire: answers, likelihood, impact and risk.
fn apply_risk(c: &mut Change, answers: &BTreeMap<String, String>) -> AppResult<()> {
    let score =
        rules::assess(answers).map_err(|e| AppError::invalid("risk_answers", e.to_string()))?;
    c.risk_answers =
        Some(serde_json::to_string(answers).map_err(|e| AppError::Internal(e.to_string()))?);
    c.likelihood = Some(i64::from(score.likelihood));
    c.impact = Some(i64::from(score.impact));
    c.risk = Some(score.risk.as_str().to_string());
    Ok(())
}

async fn check_targets(conn: &mut AnyConnection, cis: &[i64], services: &[i64]) -> AppResult<()> {
    if cis.len() > 200 || services.len() > 200 {
        return Err(AppError::invalid("ci_ids", "at most 200"));
    }
    let found = store::ci_names(conn, cis).await?;
    for (i, id) in cis.iter().enumerate() {
        if !found.iter().any(|(f, _)| f == id) {
            return Err(AppError::invalid(&format!("ci_ids[{i}]"), "is not a CI"));
        }
    }
    for (i, id) in services.iter().enumerate() {
        if catalogue::get_service(conn, *id).await?.is_none() {
            return Err(AppError::invalid(
                &format!("service_ids[{i}]"),
                "is not a service",
            ));
        }
    }
    Ok(())
}

fn dedup(mut v: Vec<i64>) -> Vec<i64> {
    v.sort_unstable();
    v.dedup();
    v
}

pub async fn create(
    app: &App,
    actor: &Actor,
    input: ChangeInput,
    key: Option<IdempotencyKey>,
) -> AppResult<ChangeView> {
    require_reader(actor)?;
    actor.require(Capability::RaiseChanges)?;
    let change_type = input
        .change_type
        .parse::<ChangeType>()
        .map_err(|_| AppError::invalid("change_type", "is standard, normal or emergency"))?;
    let title = text_field("title", single_line(&input.title, TITLE_MAX))?;
    let reason = text("reason", &input.reason)?;
    let description = text("description", &input.description)?;
    let implementation_plan = text("implementation_plan", &input.implementation_plan)?;
    let test_plan = text("test_plan", &input.test_plan)?;
    let backout_plan = text("backout_plan", &input.backout_plan)?;
    let planned_start = time_field("planned_start", &input.planned_start)?;
    let planned_end = time_field("planned_end", &input.planned_end)?;
    check_window(planned_start, planned_end)?;
    if change_type == ChangeType::Standard && input.template_id.is_none() {
        return Err(AppError::invalid(
            "template_id",
            "a standard change is raised from a template",
        ));
    }
    if change_type != ChangeType::Standard && input.template_id.is_some() {
        return Err(AppError::invalid(
            "template_id",
            "only standard changes come from templates",
        ));
    }
    let cis = dedup(input.ci_ids);
    let services = dedup(input.service_ids);
    let answers = input.risk_answers;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                if let Some(v) = idempotency::replay(ctx, actor.user_id, &key).await? {
                    return Ok(v);
                }
                let now = now();
                let mut c = Change {
                    change_type: change_type.as_str().into(),
                    template_id: input.template_id,
                    title,
                    reason,
                    description,
                    status: ChangeStatus::Draft.as_str().into(),
                    requester_id: actor.user_id,
                    implementation_plan,
                    test_plan,
                    backout_plan,
                    planned_start,
                    planned_end,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                    ..Default::default()
                };
                if let Some(tid) = input.template_id {
                    let t = store::get_template(&mut ctx.conn, tid)
                        .await?
                        .filter(|t| t.active)
                        .ok_or_else(|| {
                            AppError::invalid("template_id", "is not an active template")
                        })?;
                    let fill = |v: &mut String, from: &str| {
                        if v.is_empty() {
                            *v = from.to_string();
                        }
                    };
                    fill(&mut c.description, &t.description);
                    fill(&mut c.implementation_plan, &t.implementation_plan);
                    fill(&mut c.test_plan, &t.test_plan);
                    fill(&mut c.backout_plan, &t.backout_plan);
                    c.risk = Some(t.risk);
                }
                if let Some(a) = &answers {
                    apply_risk(&mut c, a)?;
                }
                check_targets(&mut ctx.conn, &cis, &services).await?;
                let seq = tickets::next_number(&mut ctx.conn, "CHG").await?;
                c.number = format!("CHG-{seq:06}");
                c.id = store::insert(&mut ctx.conn, &c).await?;
                store::set_targets(&mut ctx.conn, false, c.id, &cis).await?;
                store::set_targets(&mut ctx.conn, true, c.id, &services).await?;
                AuditTrail::new(&actor, "change", c.id, now)
                    .record(
                        ctx,
                        "create",
                        None,
                        None,
                        Some(format!("{} {} {}", c.number, c.change_type, c.title)),
                    )
                    .await?;
                let view = build_view(&mut ctx.conn, &c).await?;
                idempotency::remember(ctx, actor.user_id, &key, &view).await?;
                Ok(view)
            })
        })
        .await
}

/// Loads a change for a write and checks the caller's copy is current.
async fn for_write(
    ctx: &mut WriteCtx,
    actor: &Actor,
    id: i64,
    version: Option<i64>,
) -> AppResult<Change> {
    let c = visible(&mut ctx.conn, actor, id).await?;
    if version.is_some_and(|v| v != c.version) {
        return Err(AppError::Stale);
    }
    Ok(c)
}

async fn save(ctx: &mut WriteCtx, before: &Change, next: &mut Change, at: i64) -> AppResult<()> {
    next.version = before.version + 1;
    next.updated_at = at;
    if !store::update(&mut ctx.conn, next, before.version).await? {
        return Err(AppError::Stale);
    }
    Ok(())
}

fn opt_i(v: Option<i64>) -> Option<String> {
    v.map(|v| v.to_string())
}

fn opt_t(v: Option<i64>) -> Option<String> {
    v.map(instant)
}

/// Edits a draft: its raiser, or a change manager.
pub async fn update(
    app: &App,
    actor: &Actor,
    id: i64,
    p: ChangePatch,
    version: Option<i64>,
) -> AppResult<ChangeView> {
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let c = for_write(ctx, &actor, id, version).await?;
                if c.requester_id != actor.user_id && !actor.can(Capability::ManageChanges) {
                    return Err(AppError::forbidden(
                        "only the raiser or a change manager edits a change",
                    ));
                }
                actor.require(Capability::RaiseChanges)?;
                if c.status != ChangeStatus::Draft.as_str() {
                    return Err(AppError::Conflict {
                        message: format!("{} is {}; only drafts are edited", c.number, c.status),
                        allowed: None,
                    });
                }
                let mut n = c.clone();
                if let Some(v) = &p.title {
                    n.title = text_field("title", single_line(v, TITLE_MAX))?;
                }
                if let Some(v) = &p.reason {
                    n.reason = text("reason", v)?;
                }
                if let Some(v) = &p.description {
                    n.description = text("description", v)?;
                }
                if let Some(v) = &p.implementation_plan {
                    n.implementation_plan = text("implementation_plan", v)?;
                }
                if let Some(v) = &p.test_plan {
                    n.test_plan = text("test_plan", v)?;
                }
                if let Some(v) = &p.backout_plan {
                    n.backout_plan = text("backout_plan", v)?;
                }
                if p.planned_start.is_some() {
                    n.planned_start = time_field("planned_start", &p.planned_start)?;
                }
                if p.planned_end.is_some() {
                    n.planned_end = time_field("planned_end", &p.planned_end)?;
                }
                check_window(n.planned_start, n.planned_end)?;
                if let Some(a) = &p.risk_answers {
                    apply_risk(&mut n, a)?;
                }
                let now = now();
                save(ctx, &c, &mut n, now).await?;
                let trail = AuditTrail::new(&actor, "change", id, now);
                trail
                    .changes(
                        ctx,
                        &[
                            ("title", Some(c.title.clone()), Some(n.title.clone())),
                            ("reason", Some(c.reason.clone()), Some(n.reason.clone())),
                            (
                                "description",
                                Some(c.description.clone()),
                                Some(n.description.clone()),
                            ),
                            (
                                "implementation_plan",
                                Some(c.implementation_plan.clone()),
                                Some(n.implementation_plan.clone()),
                            ),
                            (
                                "test_plan",
                                Some(c.test_plan.clone()),
                                Some(n.test_plan.clone()),
                            ),
                            (
                                "backout_plan",
                                Some(c.backout_plan.clone()),
                                Some(n.backout_plan.clone()),
                            ),
                            (
                                "planned_start",
                                opt_t(c.planned_start),
                                opt_t(n.planned_start),
                            ),
                            ("planned_end", opt_t(c.planned_end), opt_t(n.planned_end)),
                            ("risk", c.risk.clone(), n.risk.clone()),
                            ("likelihood", opt_i(c.likelihood), opt_i(n.likelihood)),
                            ("impact", opt_i(c.impact), opt_i(n.impact)),
                        ],
                    )
                    .await?;
                if p.ci_ids.is_some() || p.service_ids.is_some() {
                    let cis = dedup(p.ci_ids.clone().unwrap_or_default());
                    let services = dedup(p.service_ids.clone().unwrap_or_default());
                    check_targets(&mut ctx.conn, &cis, &services).await?;
                    if let Some(ids) = &p.ci_ids {
                        store::set_targets(&mut ctx.conn, false, id, &dedup(ids.clone())).await?;
                        trail
                            .record(
                                ctx,
                                "update",
                                Some("ci_ids"),
                                None,
                                Some(format!("{cis:?}")),
                            )
                            .await?;
                    }
                    if let Some(ids) = &p.service_ids {
                        store::set_targets(&mut ctx.conn, true, id, &dedup(ids.clone())).await?;
                        trail
                            .record(
                                ctx,
                                "update",
                                Some("service_ids"),
                                None,
                                Some(format!("{services:?}")),
                            )
                            .await?;
                    }
                }
                build_view(&mut ctx.conn, &n).await
            })
        })
        .await
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionInput {
    /// The status to move to (one of the change's `next`).
    pub to: String,
    /// scheduled: the window, when not planned yet or to move it (RFC 3339).
    pub planned_start: Option<String>,
    pub planned_end: Option<String>,
    /// scheduled: why a non-emergency change may go into a freeze period anyway.
    pub override_reason: Option<String>,
    /// reviewed: the post-implementation review.
    pub review_notes: Option<String>,
    /// reviewed: successful, partially_successful or unsuccessful
    pub review_outcome: Option<String>,
    /// cancelled: why the change is withdrawn (required)
    pub cancel_reason: Option<String>,
}

pub const REVIEW_OUTCOMES: &[&str] = &["successful", "partially_successful", "unsuccessful"];

async fn quorum(conn: &mut AnyConnection, t: ChangeType) -> AppResult<i64> {
    let (key, default) = match t {
        ChangeType::Emergency => (setup::ECAB_QUORUM_KEY, setup::DEFAULT_ECAB_QUORUM),
        _ => (setup::CAB_QUORUM_KEY, setup::DEFAULT_CAB_QUORUM),
    };
    Ok(tickets::setting(conn, key)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(default))
}

/// Moves a change along its lifecycle. The raiser submits or withdraws a draft; change
/// managers do the rest.
pub async fn transition(
    app: &App,
    actor: &Actor,
    id: i64,
    input: TransitionInput,
    version: Option<i64>,
) -> AppResult<ChangeView> {
    let to = input
        .to
        .parse::<ChangeStatus>()
        .map_err(|_| AppError::invalid("to", "is not a change status"))?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let c = for_write(ctx, &actor, id, version).await?;
                let (t, from) = kind_of(&c)?;
                let submitting = from == ChangeStatus::Draft;
                if submitting {
                    actor.require(Capability::RaiseChanges)?;
                    if c.requester_id != actor.user_id && !actor.can(Capability::ManageChanges) {
                        return Err(AppError::forbidden("only the raiser or a change manager submits"));
                    }
                } else {
                    actor.require(Capability::ManageChanges)?;
                }
                let allowed = from.next(t, c.review_required);
                if !allowed.contains(&to) {
                    return Err(AppError::Conflict {
                        message: format!("{} cannot go from {} to {}", c.number, c.status, to),
                        allowed: Some(allowed.iter().map(|s| s.as_str().to_string()).collect()),
                    });
                }
                let now = now();
                let mut n = c.clone();
                n.status = to.as_str().into();
                let trail = AuditTrail::new(&actor, "change", id, now);
                match to {
                    ChangeStatus::Submitted | ChangeStatus::Approved if submitting => {
                        if t != ChangeType::Standard && c.risk.is_none() {
                            return Err(AppError::invalid("risk_answers", "answer the risk questionnaire before submitting"));
                        }
                        if t != ChangeType::Standard {
                            n.cab_quorum = Some(quorum(&mut ctx.conn, t).await?);
                        }
                    }
                    ChangeStatus::Scheduled => {
                        if input.planned_start.is_some() || input.planned_end.is_some() {
                            n.planned_start = time_field("planned_start", &input.planned_start)?;
                            n.planned_end = time_field("planned_end", &input.planned_end)?;
                        }
                        check_window(n.planned_start, n.planned_end)?;
                        let (Some(start), Some(end)) = (n.planned_start, n.planned_end) else {
                            return Err(AppError::invalid("planned_start", "a scheduled change needs a window"));
                        };
                        let freezes = calendar::freezes_hit(&mut ctx.conn, id, start, end).await?;
                        let reason = input.override_reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
                        if !freezes.is_empty() && t != ChangeType::Emergency {
                            let Some(reason) = reason else {
                                return Err(AppError::Conflict {
                                    message: format!("the window falls in the freeze period {}; give an override reason to schedule anyway", freezes.join(", ")),
                                    allowed: None,
                                });
                            };
                            let reason = text_field("override_reason", single_line(reason, 500))?;
                            trail.record(ctx, "freeze_override", Some("override_reason"), None, Some(reason)).await?;
                        }
                    }
                    ChangeStatus::Cancelled => {
                        let reason = text_field("cancel_reason", multi_line(input.cancel_reason.as_deref().unwrap_or_default(), TEXT_MAX, true))?;
                        trail.record(ctx, "cancel", Some("cancel_reason"), None, Some(reason)).await?;
                    }
                    ChangeStatus::Implementing => n.actual_start = Some(now),
                    ChangeStatus::Implemented | ChangeStatus::Failed | ChangeStatus::BackedOut => {
                        n.actual_end = Some(now);
                        n.review_required = rules::review_required(t, to);
                    }
                    ChangeStatus::Reviewed => {
                        let notes = text_field("review_notes", multi_line(input.review_notes.as_deref().unwrap_or_default(), TEXT_MAX, true))?;
                        let outcome = input.review_outcome.clone().unwrap_or_default();
                        if !REVIEW_OUTCOMES.contains(&outcome.as_str()) {
                            return Err(AppError::invalid("review_outcome", "is successful, partially_successful or unsuccessful"));
                        }
                        n.review_notes = Some(notes);
                        n.review_outcome = Some(outcome);
                        n.reviewed_by = Some(actor.user_id);
                        n.reviewed_at = Some(now);
                    }
                    _ => {}
                }
                save(ctx, &c, &mut n, now).await?;
                trail
                    .changes(
                        ctx,
                        &[
                            ("status", Some(c.status.clone()), Some(n.status.clone())),
                            ("planned_start", opt_t(c.planned_start), opt_t(n.planned_start)),
                            ("planned_end", opt_t(c.planned_end), opt_t(n.planned_end)),
                            ("actual_start", opt_t(c.actual_start), opt_t(n.actual_start)),
                            ("actual_end", opt_t(c.actual_end), opt_t(n.actual_end)),
                            ("cab_quorum", opt_i(c.cab_quorum), opt_i(n.cab_quorum)),
                            ("review_notes", c.review_notes.clone(), n.review_notes.clone()),
                            ("review_outcome", c.review_outcome.clone(), n.review_outcome.clone()),
                        ],
                    )
                    .await?;
                build_view(&mut ctx.conn, &n).await
            })
        })
        .await
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteInput {
    /// approve or reject
    pub decision: String,
    #[serde(default)]
    pub comment: String,
}

/// A CAB member's vote. Each member votes once and not on own changes; the vote that meets
/// the quorum (or any rejection) decides the change.
pub async fn vote(app: &App, actor: &Actor, id: i64, input: VoteInput) -> AppResult<ChangeView> {
    if !matches!(input.decision.as_str(), "approve" | "reject") {
        return Err(AppError::invalid("decision", "is approve or reject"));
    }
    let comment = text_field(
        "comment",
        multi_line(&input.comment, 5000, input.decision == "reject"),
    )?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let c = visible(&mut ctx.conn, &actor, id).await?;
                actor.require(Capability::ApproveChanges)?;
                let (t, s) = kind_of(&c)?;
                if !s.open_for_votes(t) {
                    return Err(AppError::Conflict {
                        message: format!(
                            "{} is {}; the CAB does not vote on it now",
                            c.number, c.status
                        ),
                        allowed: None,
                    });
                }
                if c.requester_id == actor.user_id {
                    return Err(AppError::forbidden("you cannot vote on your own change"));
                }
                let now = now();
                if !store::insert_vote(
                    &mut ctx.conn,
                    id,
                    actor.user_id,
                    &input.decision,
                    &comment,
                    now,
                )
                .await?
                {
                    return Err(AppError::Conflict {
                        message: "you have voted on this change already".into(),
                        allowed: None,
                    });
                }
                let trail = AuditTrail::new(&actor, "change", id, now);
                trail
                    .record(
                        ctx,
                        "vote",
                        Some("decision"),
                        None,
                        Some(format!("{}: {comment}", input.decision)),
                    )
                    .await?;
                let votes = store::votes(&mut ctx.conn, id).await?;
                let approvals = votes.iter().filter(|v| v.decision == "approve").count();
                let rejections = votes.iter().filter(|v| v.decision == "reject").count();
                let quorum = usize::try_from(c.cab_quorum.unwrap_or(1)).unwrap_or(1);
                let to = match rules::decide(approvals, rejections, quorum) {
                    Decision::Approved => Some(ChangeStatus::Approved),
                    Decision::Rejected => Some(ChangeStatus::Rejected),
                    Decision::Pending => None,
                };
                let mut n = c.clone();
                if let Some(to) = to {
                    n.status = to.as_str().into();
                    save(ctx, &c, &mut n, now).await?;
                    trail
                        .record(
                            ctx,
                            "cab_decision",
                            Some("status"),
                            Some(c.status.clone()),
                            Some(n.status.clone()),
                        )
                        .await?;
                }
                build_view(&mut ctx.conn, &n).await
            })
        })
        .await
}
