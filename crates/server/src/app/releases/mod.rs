//! Releases: the changes they group, the acceptance checklist, go-live approval and deployment.
//!
//! Staff (auditors included) read releases; requesters never see them (404). Users who manage
//! changes create and run them. The lifecycle and the checklist gate are core::release; the
//! work on a release's contents (changes, checks, go-live, deployment) is in [`work`].

pub mod work;

use super::error::text_field;
use super::idempotency::{self, IdempotencyKey};
use super::views::{history_of, instant, HistoryEntry, Page};
use super::{now, Actor, App, AppError, AppResult, AuditTrail};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use steward_core::release::{ReleaseError, ReleaseStatus, ReleaseType, DEFAULT_CHECKS};
use steward_core::text::{multi_line, single_line};
use steward_core::{Capability, Role};
use steward_store::releases::{self as store, Release, ReleaseFilter};
use steward_store::tickets::next_number;
use steward_store::{accounts, catalogue, WriteCtx};
use utoipa::{IntoParams, ToSchema};

const TITLE_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 20_000;
const VERSION_LABEL_MAX: usize = 50;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReleaseView {
    pub id: i64,
    /// REL-000001
    pub number: String,
    pub title: String,
    pub description: String,
    pub service_id: i64,
    pub service_code: String,
    pub service_name_zh: String,
    pub service_name_en: String,
    /// The version the release delivers, e.g. 2.4.0.
    pub version_label: String,
    /// major, minor or emergency
    pub release_type: String,
    /// The planned go-live day, YYYY-MM-DD.
    pub planned_date: Option<String>,
    /// planning, building, testing, awaiting_go_live, approved, live, failed, rolled_back,
    /// closed or cancelled
    pub status: String,
    /// The statuses a plain status change may move this release to (approved, live, failed
    /// and rolled_back come from the go-live decision and the deployment record).
    pub allowed_transitions: Vec<String>,
    pub owner_id: i64,
    pub owner_name: String,
    pub created_by: i64,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl ReleaseView {
    pub fn new(r: &Release) -> ReleaseView {
        let allowed = r
            .status
            .parse::<ReleaseStatus>()
            .map(|s| s.next().iter().map(|n| n.as_str().to_string()).collect())
            .unwrap_or_default();
        ReleaseView {
            id: r.id,
            number: r.number.clone(),
            title: r.title.clone(),
            description: r.description.clone(),
            service_id: r.service_id,
            service_code: r.service_code.clone(),
            service_name_zh: r.service_name_zh.clone(),
            service_name_en: r.service_name_en.clone(),
            version_label: r.version_label.clone(),
            release_type: r.release_type.clone(),
            planned_date: r.planned_date.clone(),
            status: r.status.clone(),
            allowed_transitions: allowed,
            owner_id: r.owner_id,
            owner_name: r.owner_name.clone(),
            created_by: r.created_by,
            version: r.version,
            created_at: instant(r.created_at),
            updated_at: instant(r.updated_at),
        }
    }

    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.id, self.version)
    }

    /// The service's name in the page's language.
    pub fn service_name(&self, zh: &bool) -> &str {
        if *zh {
            &self.service_name_zh
        } else {
            &self.service_name_en
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChangeRefView {
    pub id: i64,
    /// CHG-000001
    pub number: String,
    pub title: String,
    pub status: String,
    /// standard, normal or emergency
    pub change_type: String,
    pub planned_start: Option<String>,
    pub planned_end: Option<String>,
}

impl From<&store::ChangeRef> for ChangeRefView {
    fn from(c: &store::ChangeRef) -> Self {
        ChangeRefView {
            id: c.id,
            number: c.number.clone(),
            title: c.title.clone(),
            status: c.status.clone(),
            change_type: c.change_type.clone(),
            planned_start: c.planned_start.map(instant),
            planned_end: c.planned_end.map(instant),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckView {
    pub id: i64,
    /// 1, 2, ... in checklist order.
    pub ordinal: i64,
    pub text_zh: String,
    pub text_en: String,
    /// A mandatory check must pass before the release may go live.
    pub mandatory: bool,
    /// pending, passed or failed
    pub result: String,
    pub note: String,
    pub checked_by: Option<i64>,
    pub checked_by_name: Option<String>,
    pub checked_at: Option<String>,
}

impl CheckView {
    pub fn text(&self, zh: &bool) -> &str {
        if *zh {
            &self.text_zh
        } else {
            &self.text_en
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    pub id: i64,
    /// approved or rejected
    pub decision: String,
    pub comment: String,
    pub decided_by: i64,
    pub decided_by_name: String,
    pub decided_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeploymentView {
    pub id: i64,
    pub started_at: String,
    pub finished_at: String,
    /// success, failed or rolled_back
    pub outcome: String,
    pub notes: String,
    pub deployed_by: i64,
    pub deployed_by_name: String,
    pub recorded_by: i64,
    pub recorded_at: String,
}

/// A release with everything it holds.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReleaseDetail {
    #[serde(flatten)]
    pub release: ReleaseView,
    pub changes: Vec<ChangeRefView>,
    pub checklist: Vec<CheckView>,
    /// Every mandatory acceptance check has passed.
    pub checklist_complete: bool,
    /// Go-live decisions, oldest first.
    pub approvals: Vec<ApprovalView>,
    /// Deployment records, oldest first.
    pub deployments: Vec<DeploymentView>,
}

impl ReleaseDetail {
    pub fn etag(&self) -> String {
        self.release.etag()
    }
}

pub(crate) async fn detail(conn: &mut AnyConnection, r: &Release) -> AppResult<ReleaseDetail> {
    let changes = store::changes(conn, r.id)
        .await?
        .iter()
        .map(ChangeRefView::from)
        .collect();
    let checks = store::checks(conn, r.id).await?;
    let checklist_complete =
        steward_core::release::outstanding_checks(&check_pairs(&checks)).is_empty();
    let checklist = checks
        .iter()
        .map(|k| CheckView {
            id: k.id,
            ordinal: k.ordinal,
            text_zh: k.text_zh.clone(),
            text_en: k.text_en.clone(),
            mandatory: k.mandatory,
            result: k.result.clone(),
            note: k.note.clone(),
            checked_by: k.checked_by,
            checked_by_name: k.checked_by_name.clone(),
            checked_at: k.checked_at.map(instant),
        })
        .collect();
    let approvals = store::approvals(conn, r.id)
        .await?
        .into_iter()
        .map(|a| ApprovalView {
            id: a.id,
            decision: a.decision,
            comment: a.comment,
            decided_by: a.decided_by,
            decided_by_name: a.decided_by_name,
            decided_at: instant(a.decided_at),
        })
        .collect();
    let deployments = store::deployments(conn, r.id)
        .await?
        .into_iter()
        .map(|d| DeploymentView {
            id: d.id,
            started_at: instant(d.started_at),
            finished_at: instant(d.finished_at),
            outcome: d.outcome,
            notes: d.notes,
            deployed_by: d.deployed_by,
            deployed_by_name: d.deployed_by_name,
            recorded_by: d.recorded_by,
            recorded_at: instant(d.recorded_at),
        })
        .collect();
    Ok(ReleaseDetail {
        release: ReleaseView::new(r),
        changes,
        checklist,
        checklist_complete,
        approvals,
        deployments,
    })
}

/// The checklist as core reads it: (mandatory, result) in order.
pub(crate) fn check_pairs(
    checks: &[store::Check],
) -> Vec<(bool, steward_core::release::CheckResult)> {
    checks
        .iter()
        .map(|k| {
            (
                k.mandatory,
                k.result
                    .parse()
                    .unwrap_or(steward_core::release::CheckResult::Pending),
            )
        })
        .collect()
}

/// Releases exist for staff only; for anyone else they do not exist at all.
fn require_staff(actor: &Actor) -> AppResult<()> {
    if actor.role.is_staff() {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// The releases that group a change, as (id, number, status), oldest first.
pub async fn of_change(
    app: &App,
    actor: &Actor,
    change_id: i64,
) -> AppResult<Vec<(i64, String, String)>> {
    require_staff(actor)?;
    let mut conn = app.read().await?;
    Ok(store::releases_of_change(&mut conn, change_id).await?)
}

/// Whether the actor may create and run releases (the pages ask to show the forms).
pub fn may_manage(actor: &Actor) -> bool {
    actor.can(Capability::ManageChanges)
}

/// The release if the actor may see it; otherwise 404.
pub(crate) async fn visible(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
) -> AppResult<Release> {
    require_staff(actor)?;
    store::get(conn, id).await?.ok_or(AppError::NotFound)
}

/// The release to change: seen (404 otherwise), managed (403 otherwise), at the version the
/// caller last read (412 otherwise).
pub(crate) async fn managed(
    ctx: &mut WriteCtx,
    actor: &Actor,
    id: i64,
    if_match: Option<i64>,
) -> AppResult<Release> {
    let r = visible(&mut ctx.conn, actor, id).await?;
    actor.require(Capability::ManageChanges)?;
    if if_match.is_some_and(|v| v != r.version) {
        return Err(AppError::Stale);
    }
    Ok(r)
}

pub(crate) fn status_of(r: &Release) -> AppResult<ReleaseStatus> {
    r.status
        .parse()
        .map_err(|_| AppError::Internal(format!("release {} has status {}", r.id, r.status)))
}

/// A rule of core::release broken: a 409 naming what is allowed where there is a choice.
pub(crate) fn conflict(e: ReleaseError) -> AppError {
    let allowed = match &e {
        ReleaseError::Transition { allowed, .. } => {
            Some(allowed.iter().map(|s| s.as_str().to_string()).collect())
        }
        _ => None,
    };
    AppError::Conflict {
        message: e.to_string(),
        allowed,
    }
}

/// Writes the release at the next version (every change to what it holds counts).
pub(crate) async fn save(
    ctx: &mut WriteCtx,
    old: &Release,
    next: &mut Release,
    at: i64,
) -> AppResult<()> {
    next.version = old.version + 1;
    next.updated_at = at;
    if !store::update(&mut ctx.conn, next, old.version).await? {
        return Err(AppError::Stale);
    }
    Ok(())
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReleaseInput {
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// The catalogue service the release delivers to.
    pub service_id: i64,
    pub version_label: String,
    /// major, minor or emergency
    pub release_type: String,
    /// YYYY-MM-DD
    pub planned_date: Option<String>,
    /// Who runs the release (a user who manages changes); the creator when absent.
    pub owner_id: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleasePatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub service_id: Option<i64>,
    pub version_label: Option<String>,
    pub release_type: Option<String>,
    /// YYYY-MM-DD; an empty string clears it.
    pub planned_date: Option<String>,
    pub owner_id: Option<i64>,
    /// A plain status change (see `allowed_transitions`).
    pub status: Option<String>,
}

fn title(v: &str) -> AppResult<String> {
    text_field("title", single_line(v, TITLE_MAX))
}

fn description(v: &str) -> AppResult<String> {
    text_field("description", multi_line(v, DESCRIPTION_MAX, false))
}

fn version_label(v: &str) -> AppResult<String> {
    text_field("version_label", single_line(v, VERSION_LABEL_MAX))
}

fn release_type(v: &str) -> AppResult<String> {
    v.parse::<ReleaseType>()
        .map(|t| t.as_str().to_string())
        .map_err(|_| AppError::invalid("release_type", "must be major, minor or emergency"))
}

/// A day like 2026-12-01; blank is none.
fn planned_date(v: &str) -> AppResult<Option<String>> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse::<jiff::civil::Date>()
        .map(|d| Some(d.to_string()))
        .map_err(|_| AppError::invalid("planned_date", "must be a date like 2026-12-01"))
}

async fn check_service(conn: &mut AnyConnection, id: i64) -> AppResult<()> {
    catalogue::get_service(conn, id)
        .await?
        .map(|_| ())
        .ok_or_else(|| AppError::invalid("service_id", "no such service"))
}

async fn check_owner(conn: &mut AnyConnection, id: i64) -> AppResult<()> {
    let ok = accounts::get_user(conn, id)
        .await?
        .filter(|u| u.active)
        .and_then(|u| u.role.parse::<Role>().ok())
        .is_some_and(|r| r.can(Capability::ManageChanges));
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            "owner_id",
            "is not an active user who manages changes",
        ))
    }
}

pub async fn create(
    app: &App,
    actor: &Actor,
    input: NewReleaseInput,
    key: Option<IdempotencyKey>,
) -> AppResult<ReleaseDetail> {
    require_staff(actor)?;
    actor.require(Capability::ManageChanges)?;
    let title = title(&input.title)?;
    let description = description(&input.description)?;
    let version_label = version_label(&input.version_label)?;
    let release_type = release_type(&input.release_type)?;
    let planned_date = planned_date(input.planned_date.as_deref().unwrap_or_default())?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                if let Some(v) = idempotency::replay(ctx, actor.user_id, &key).await? {
                    return Ok(v);
                }
                check_service(&mut ctx.conn, input.service_id).await?;
                let owner_id = input.owner_id.unwrap_or(actor.user_id);
                check_owner(&mut ctx.conn, owner_id).await?;
                let now = now();
                let seq = next_number(&mut ctx.conn, "REL").await?;
                let mut r = Release {
                    id: 0,
                    number: format!("REL-{seq:06}"),
                    title,
                    description,
                    service_id: input.service_id,
                    version_label,
                    release_type,
                    planned_date,
                    status: ReleaseStatus::Planning.as_str().into(),
                    owner_id,
                    created_by: actor.user_id,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                    service_code: String::new(),
                    service_name_zh: String::new(),
                    service_name_en: String::new(),
                    owner_name: String::new(),
                };
                r.id = store::insert(&mut ctx.conn, &r).await?;
                for c in DEFAULT_CHECKS {
                    store::add_check(&mut ctx.conn, r.id, c.text_zh, c.text_en, c.mandatory)
                        .await?;
                }
                AuditTrail::new(&actor, "release", r.id, now)
                    .record(ctx, "create", None, None, Some(r.number.clone()))
                    .await?;
                let r = store::get(&mut ctx.conn, r.id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                let view = detail(&mut ctx.conn, &r).await?;
                idempotency::remember(ctx, actor.user_id, &key, &view).await?;
                Ok(view)
            })
        })
        .await
}

pub async fn get(app: &App, actor: &Actor, id: i64) -> AppResult<ReleaseDetail> {
    let mut conn = app.read().await?;
    let r = visible(&mut conn, actor, id).await?;
    detail(&mut conn, &r).await
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReleaseQuery {
    /// Comma-separated statuses; `open` means neither closed nor cancelled.
    pub status: Option<String>,
    pub service_id: Option<i64>,
    /// 1..200, default 50
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

fn filter(q: &ReleaseQuery) -> AppResult<ReleaseFilter> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 200"));
    }
    let mut statuses = Vec::new();
    for part in q.status.as_deref().unwrap_or_default().split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        if part == "open" {
            statuses.extend(
                ReleaseStatus::ALL
                    .iter()
                    .filter(|s| !s.is_final())
                    .map(|s| s.as_str().to_string()),
            );
        } else {
            let s = part
                .parse::<ReleaseStatus>()
                .map_err(|_| AppError::invalid("status", "is not a release status"))?;
            statuses.push(s.as_str().to_string());
        }
    }
    let before_id = q
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.strip_prefix("r.")
                .and_then(|n| n.parse::<i64>().ok())
                .ok_or_else(|| AppError::invalid("cursor", "is not a cursor from this listing"))
        })
        .transpose()?;
    Ok(ReleaseFilter {
        statuses,
        service_id: q.service_id,
        before_id,
        limit,
    })
}

pub async fn list(app: &App, actor: &Actor, q: &ReleaseQuery) -> AppResult<Page<ReleaseView>> {
    require_staff(actor)?;
    let f = filter(q)?;
    let mut conn = app.read().await?;
    let rows = store::list(&mut conn, &f).await?;
    let next_cursor = (rows.len() as i64 == f.limit)
        .then(|| rows.last().map(|r| format!("r.{}", r.id)))
        .flatten();
    Ok(Page {
        items: rows.iter().map(ReleaseView::new).collect(),
        next_cursor,
    })
}

pub async fn update(
    app: &App,
    actor: &Actor,
    id: i64,
    p: ReleasePatch,
    if_match: Option<i64>,
) -> AppResult<ReleaseDetail> {
    let title = p.title.as_deref().map(title).transpose()?;
    let description = p.description.as_deref().map(description).transpose()?;
    let version_label = p.version_label.as_deref().map(version_label).transpose()?;
    let release_type = p.release_type.as_deref().map(release_type).transpose()?;
    let planned = p.planned_date.as_deref().map(planned_date).transpose()?;
    let status = p
        .status
        .as_deref()
        .map(|s| {
            s.parse::<ReleaseStatus>()
                .map_err(|_| AppError::invalid("status", "is not a release status"))
        })
        .transpose()?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let old = managed(ctx, &actor, id, if_match).await?;
                let mut r = old.clone();
                if let Some(v) = title {
                    r.title = v;
                }
                if let Some(v) = description {
                    r.description = v;
                }
                if let Some(v) = version_label {
                    r.version_label = v;
                }
                if let Some(v) = release_type {
                    r.release_type = v;
                }
                if let Some(v) = planned {
                    r.planned_date = v;
                }
                if let Some(s) = p.service_id.filter(|s| *s != old.service_id) {
                    check_service(&mut ctx.conn, s).await?;
                    r.service_id = s;
                }
                if let Some(o) = p.owner_id.filter(|o| *o != old.owner_id) {
                    check_owner(&mut ctx.conn, o).await?;
                    r.owner_id = o;
                }
                let current = status_of(&old)?;
                if let Some(to) = status.filter(|s| *s != current) {
                    let checks = store::checks(&mut ctx.conn, id).await?;
                    current
                        .check_transition(to, &check_pairs(&checks))
                        .map_err(conflict)?;
                    r.status = to.as_str().into();
                }
                let opt_i = |v: i64| Some(v.to_string());
                let changes = [
                    ("title", Some(old.title.clone()), Some(r.title.clone())),
                    (
                        "description",
                        Some(old.description.clone()),
                        Some(r.description.clone()),
                    ),
                    ("service_id", opt_i(old.service_id), opt_i(r.service_id)),
                    (
                        "version_label",
                        Some(old.version_label.clone()),
                        Some(r.version_label.clone()),
                    ),
                    (
                        "release_type",
                        Some(old.release_type.clone()),
                        Some(r.release_type.clone()),
                    ),
                    (
                        "planned_date",
                        old.planned_date.clone(),
                        r.planned_date.clone(),
                    ),
                    ("owner_id", opt_i(old.owner_id), opt_i(r.owner_id)),
                    ("status", Some(old.status.clone()), Some(r.status.clone())),
                ];
                if changes.iter().all(|(_, o, n)| o == n) {
                    return detail(&mut ctx.conn, &old).await;
                }
                let now = now();
                save(ctx, &old, &mut r, now).await?;
                AuditTrail::new(&actor, "release", id, now)
                    .changes(ctx, &changes)
                    .await?;
                let r = store::get(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                detail(&mut ctx.conn, &r).await
            })
        })
        .await
}

/// The audit history of a release, oldest first.
pub async fn history(app: &App, actor: &Actor, id: i64) -> AppResult<Vec<HistoryEntry>> {
    let mut conn = app.read().await?;
    visible(&mut conn, actor, id).await?;
    Ok(history_of(&mut conn, "release", id).await?)
}
