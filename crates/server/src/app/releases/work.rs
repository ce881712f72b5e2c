//! Work on a release's contents: grouping changes, the acceptance checklist, the go-live
//! decision and the deployment record (which takes the service live on its first success).

use super::{
    check_pairs, conflict, detail, managed, save, status_of, ChangeRefView, ReleaseDetail,
};
use crate::app::error::text_field;
use crate::app::views::parse_instant;
use crate::app::{now, Actor, App, AppError, AppResult, AuditTrail};
use serde::Deserialize;
use steward_core::release::{
    service_lifecycle_after_go_live, CheckResult, Decision, Outcome, ReleaseStatus,
};
use steward_core::text::{multi_line, single_line};
use steward_core::Role;
use steward_store::releases::{self as store, Deployment, Release};
use steward_store::{accounts, catalogue, WriteCtx};
use utoipa::ToSchema;

const CHECK_TEXT_MAX: usize = 300;
const NOTE_MAX: usize = 5_000;

async fn reload(ctx: &mut WriteCtx, id: i64) -> AppResult<ReleaseDetail> {
    let r = store::get(&mut ctx.conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    detail(&mut ctx.conn, &r).await
}

/// Bumps the release's version for a change to what it holds.
async fn touch(ctx: &mut WriteCtx, r: &Release, at: i64) -> AppResult<()> {
    let mut next = r.clone();
    save(ctx, r, &mut next, at).await
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeInput {
    pub change_id: i64,
}

/// Adds a change. A change belongs to at most one release that is not cancelled.
pub async fn add_change(
    app: &App,
    actor: &Actor,
    id: i64,
    input: ChangeInput,
    if_match: Option<i64>,
) -> AppResult<ReleaseDetail> {
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let r = managed(ctx, &actor, id, if_match).await?;
                status_of(&r)?.check_assembling().map_err(conflict)?;
                let c = store::change(&mut ctx.conn, input.change_id)
                    .await?
                    .ok_or_else(|| AppError::invalid("change_id", "no such change"))?;
                if matches!(c.status.as_str(), "rejected" | "cancelled") {
                    return Err(AppError::invalid(
                        "change_id",
                        format!(
                            "{} is {}; a release takes only changes that go ahead",
                            c.number, c.status
                        ),
                    ));
                }
                for (other_id, number, status) in
                    store::releases_of_change(&mut ctx.conn, c.id).await?
                {
                    let holds = status
                        .parse::<ReleaseStatus>()
                        .map_or(true, |s| s.holds_changes());
                    if other_id == id {
                        return Err(AppError::Conflict {
                            message: format!("{} is already in this release", c.number),
                            allowed: None,
                        });
                    }
                    if holds {
                        return Err(AppError::invalid(
                            "change_id",
                            format!("is already in release {number}"),
                        ));
                    }
                }
                let now = now();
                store::add_change(&mut ctx.conn, id, c.id, actor.user_id, now).await?;
                touch(ctx, &r, now).await?;
                AuditTrail::new(&actor, "release", id, now)
                    .record(ctx, "add_change", Some("changes"), None, Some(c.number))
                    .await?;
                reload(ctx, id).await
            })
        })
        .await
}

pub async fn remove_change(
    app: &App,
    actor: &Actor,
    id: i64,
    change_id: i64,
    if_match: Option<i64>,
) -> AppResult<ReleaseDetail> {
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let r = managed(ctx, &actor, id, if_match).await?;
                status_of(&r)?.check_assembling().map_err(conflict)?;
                let c = store::change(&mut ctx.conn, change_id).await?;
                if c.is_none() || !store::remove_change(&mut ctx.conn, id, change_id).await? {
                    return Err(AppError::NotFound);
                }
                let number = c.map(|c| c.number);
                let now = now();
                touch(ctx, &r, now).await?;
                AuditTrail::new(&actor, "release", id, now)
                    .record(ctx, "remove_change", Some("changes"), number, None)
                    .await?;
                reload(ctx, id).await
            })
        })
        .await
}

/// Changes no release holds yet: what the page offers to add.
pub async fn addable_changes(app: &App, actor: &Actor) -> AppResult<Vec<ChangeRefView>> {
    if !super::may_manage(actor) {
        return Ok(vec![]);
    }
    let mut conn = app.read().await?;
    Ok(store::unreleased_changes(&mut conn, 200)
        .await?
        .iter()
        .map(ChangeRefView::from)
        .collect())
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCheckInput {
    /// The check in Chinese; the English text is used when absent.
    pub text_zh: Option<String>,
    /// The check in English; the Chinese text is used when absent.
    pub text_en: Option<String>,
    #[serde(default)]
    pub mandatory: bool,
}

/// Adds an acceptance check to the end of the checklist.
pub async fn add_check(
    app: &App,
    actor: &Actor,
    id: i64,
    input: NewCheckInput,
    if_match: Option<i64>,
) -> AppResult<ReleaseDetail> {
    let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
    let (zh, en) = match (blank(&input.text_zh), blank(&input.text_en)) {
        (true, true) => return Err(AppError::invalid("text_zh", "is required")),
        (false, true) => (input.text_zh.clone(), input.text_zh.clone()),
        (true, false) => (input.text_en.clone(), input.text_en.clone()),
        (false, false) => (input.text_zh.clone(), input.text_en.clone()),
    };
    let text_zh = text_field(
        "text_zh",
        single_line(zh.as_deref().unwrap_or_default(), CHECK_TEXT_MAX),
    )?;
    let text_en = text_field(
        "text_en",
        single_line(en.as_deref().unwrap_or_default(), CHECK_TEXT_MAX),
    )?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let r = managed(ctx, &actor, id, if_match).await?;
                status_of(&r)?.check_assembling().map_err(conflict)?;
                let check_id =
                    store::add_check(&mut ctx.conn, id, &text_zh, &text_en, input.mandatory)
                        .await?;
                let now = now();
                touch(ctx, &r, now).await?;
                let what = format!(
                    "{check_id}: {text_en}{}",
                    if input.mandatory { " (mandatory)" } else { "" }
                );
                AuditTrail::new(&actor, "release", id, now)
                    .record(ctx, "add_check", Some("checklist"), None, Some(what))
                    .await?;
                reload(ctx, id).await
            })
        })
        .await
}

/// Removes an acceptance check that does not belong on the list (while assembling); the
/// audit log keeps what it said.
pub async fn remove_check(
    app: &App,
    actor: &Actor,
    id: i64,
    check_id: i64,
    if_match: Option<i64>,
) -> AppResult<ReleaseDetail> {
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let r = managed(ctx, &actor, id, if_match).await?;
                let checks = store::checks(&mut ctx.conn, id).await?;
                let check = checks
                    .iter()
                    .find(|k| k.id == check_id)
                    .ok_or(AppError::NotFound)?;
                status_of(&r)?.check_assembling().map_err(conflict)?;
                store::remove_check(&mut ctx.conn, id, check_id).await?;
                let now = now();
                touch(ctx, &r, now).await?;
                let what = format!(
                    "{check_id}: {}{}",
                    check.text_en,
                    if check.mandatory { " (mandatory)" } else { "" }
                );
                AuditTrail::new(&actor, "release", id, now)
                    .record(ctx, "remove_check", Some("checklist"), Some(what), None)
                    .await?;
                reload(ctx, id).await
            })
        })
        .await
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckResultInput {
    /// passed, failed, or pending to clear an earlier result
    pub result: String,
    #[serde(default)]
    pub note: String,
}

/// Records the result of one acceptance check, with who and when; only while testing.
pub async fn record_check(
    app: &App,
    actor: &Actor,
    id: i64,
    check_id: i64,
    input: CheckResultInput,
    if_match: Option<i64>,
) -> AppResult<ReleaseDetail> {
    let result = input
        .result
        .parse::<CheckResult>()
        .map_err(|_| AppError::invalid("result", "must be passed, failed or pending"))?;
    let note = text_field("note", multi_line(&input.note, NOTE_MAX, false))?;
    if result == CheckResult::Failed && note.trim().is_empty() {
        return Err(AppError::invalid("note", "is required: say what failed"));
    }
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let r = managed(ctx, &actor, id, if_match).await?;
                let checks = store::checks(&mut ctx.conn, id).await?;
                let check = checks
                    .iter()
                    .find(|k| k.id == check_id)
                    .ok_or(AppError::NotFound)?;
                status_of(&r)?.check_testing().map_err(conflict)?;
                let now = now();
                store::set_check_result(
                    &mut ctx.conn,
                    check_id,
                    result.as_str(),
                    &note,
                    actor.user_id,
                    now,
                )
                .await?;
                touch(ctx, &r, now).await?;
                let field = format!("check:{check_id}");
                AuditTrail::new(&actor, "release", id, now)
                    .record(
                        ctx,
                        "check",
                        Some(&field),
                        Some(check.result.clone()),
                        Some(result.as_str().to_string()),
                    )
                    .await?;
                reload(ctx, id).await
            })
        })
        .await
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoLiveInput {
    /// approved or rejected
    pub decision: String,
    pub comment: String,
}

/// The go-live decision on a release awaiting it. The release owner does not approve their
/// own release (segregation of duties); approval needs every mandatory check passed; a
/// rejection sends the release back to testing.
pub async fn decide_go_live(
    app: &App,
    actor: &Actor,
    id: i64,
    input: GoLiveInput,
    if_match: Option<i64>,
) -> AppResult<ReleaseDetail> {
    let decision = input
        .decision
        .parse::<Decision>()
        .map_err(|_| AppError::invalid("decision", "must be approved or rejected"))?;
    let comment = text_field("comment", multi_line(&input.comment, NOTE_MAX, true))?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let old = managed(ctx, &actor, id, if_match).await?;
                if old.owner_id == actor.user_id {
                    return Err(AppError::forbidden(
                        "the release owner cannot decide its go-live; another manager does",
                    ));
                }
                let checks = store::checks(&mut ctx.conn, id).await?;
                let to = status_of(&old)?
                    .decide(decision, &check_pairs(&checks))
                    .map_err(conflict)?;
                let now = now();
                store::add_approval(
                    &mut ctx.conn,
                    id,
                    decision.as_str(),
                    &comment,
                    actor.user_id,
                    now,
                )
                .await?;
                let mut r = old.clone();
                r.status = to.as_str().into();
                save(ctx, &old, &mut r, now).await?;
                let trail = AuditTrail::new(&actor, "release", id, now);
                trail
                    .record(
                        ctx,
                        "go_live_decision",
                        Some("go_live"),
                        None,
                        Some(format!("{decision}: {comment}")),
                    )
                    .await?;
                trail
                    .changes(ctx, &[("status", Some(old.status.clone()), Some(r.status))])
                    .await?;
                reload(ctx, id).await
            })
        })
        .await
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentInput {
    /// RFC 3339, e.g. 2026-12-01T14:00:00Z
    pub started_at: String,
    /// RFC 3339; not before `started_at`
    pub finished_at: String,
    /// success, failed or rolled_back
    pub outcome: String,
    #[serde(default)]
    pub notes: String,
    /// Who deployed (a member of staff); the recorder when absent.
    pub deployed_by: Option<i64>,
}

/// Records the deployment of an approved release. Success makes the release live and, when
/// its service is not live yet, the service too — in the same transaction, audited on both.
pub async fn record_deployment(
    app: &App,
    actor: &Actor,
    id: i64,
    input: DeploymentInput,
    if_match: Option<i64>,
) -> AppResult<ReleaseDetail> {
    let instant = |field: &str, v: &str| {
        parse_instant(v.trim())
            .ok_or_else(|| AppError::invalid(field, "must be a time like 2026-12-01T14:00:00Z"))
    };
    let started_at = instant("started_at", &input.started_at)?;
    let finished_at = instant("finished_at", &input.finished_at)?;
    if finished_at < started_at {
        return Err(AppError::invalid(
            "finished_at",
            "must not be before started_at",
        ));
    }
    let outcome = input
        .outcome
        .parse::<Outcome>()
        .map_err(|_| AppError::invalid("outcome", "must be success, failed or rolled_back"))?;
    let notes = text_field("notes", multi_line(&input.notes, NOTE_MAX, false))?;
    if outcome != Outcome::Success && notes.trim().is_empty() {
        return Err(AppError::invalid(
            "notes",
            "is required: say what went wrong",
        ));
    }
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let old = managed(ctx, &actor, id, if_match).await?;
                let to = status_of(&old)?.deploy(outcome).map_err(conflict)?;
                let deployed_by = input.deployed_by.unwrap_or(actor.user_id);
                let staff = accounts::get_user(&mut ctx.conn, deployed_by)
                    .await?
                    .filter(|u| u.active)
                    .and_then(|u| u.role.parse::<Role>().ok())
                    .is_some_and(|r| r.is_staff() && r != Role::Auditor);
                if !staff {
                    return Err(AppError::invalid(
                        "deployed_by",
                        "is not an active member of staff",
                    ));
                }
                let now = now();
                let d = Deployment {
                    id: 0,
                    release_id: id,
                    started_at,
                    finished_at,
                    outcome: outcome.as_str().into(),
                    notes,
                    deployed_by,
                    deployed_by_name: String::new(),
                    recorded_by: actor.user_id,
                    recorded_at: now,
                };
                let deployment_id = store::add_deployment(&mut ctx.conn, &d).await?;
                let mut r = old.clone();
                r.status = to.as_str().into();
                save(ctx, &old, &mut r, now).await?;
                let trail = AuditTrail::new(&actor, "release", id, now);
                trail
                    .record(
                        ctx,
                        "deployment",
                        Some("deployment"),
                        None,
                        Some(format!("{deployment_id}: {outcome}")),
                    )
                    .await?;
                trail
                    .changes(ctx, &[("status", Some(old.status.clone()), Some(r.status))])
                    .await?;
                if to == ReleaseStatus::Live {
                    take_service_live(ctx, &actor, old.service_id, now).await?;
                }
                reload(ctx, id).await
            })
        })
        .await
}

/// The service's lifecycle moves to live with its first release that goes live.
async fn take_service_live(
    ctx: &mut WriteCtx,
    actor: &Actor,
    service_id: i64,
    now: i64,
) -> AppResult<()> {
    let Some(old) = catalogue::get_service(&mut ctx.conn, service_id).await? else {
        return Ok(());
    };
    let Some(next_lifecycle) = service_lifecycle_after_go_live(&old.lifecycle) else {
        return Ok(());
    };
    let mut s = old.clone();
    s.lifecycle = next_lifecycle.into();
    s.version = old.version + 1;
    s.updated_at = now;
    if !catalogue::update_service(&mut ctx.conn, &s, old.version).await? {
        return Err(AppError::Stale);
    }
    AuditTrail::new(actor, "service", service_id, now)
        .changes(
            ctx,
            &[("lifecycle", Some(old.lifecycle.clone()), Some(s.lifecycle))],
        )
        .await
}
