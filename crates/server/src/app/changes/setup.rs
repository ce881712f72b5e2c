//! What the change manager sets up: standard change templates, the CAB quorums and freeze
//! periods; and the risk questionnaire every raiser answers.

use super::{require_reader, text, TITLE_MAX};
use crate::app::error::text_field;
use crate::app::views::{instant, parse_instant};
use crate::app::{now, Actor, App, AppError, AppResult, AuditTrail};
use serde::{Deserialize, Serialize};
use steward_core::change::{Risk, RISK_QUESTIONS};
use steward_core::text::single_line;
use steward_core::Capability;
use steward_store::changes::{self as store, FreezePeriod, Template};
use steward_store::{catalogue, tickets};
use utoipa::ToSchema;

pub const CAB_QUORUM_KEY: &str = "change.cab_quorum";
pub const ECAB_QUORUM_KEY: &str = "change.ecab_quorum";
pub const DEFAULT_CAB_QUORUM: i64 = 2;
pub const DEFAULT_ECAB_QUORUM: i64 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RiskQuestionView {
    pub key: String,
    /// Adds to the likelihood (true) or to the impact (false).
    pub likelihood: bool,
    /// The answers and their weights.
    pub answers: Vec<RiskAnswerView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RiskAnswerView {
    pub key: String,
    pub weight: u8,
}

pub fn risk_questions() -> Vec<RiskQuestionView> {
    RISK_QUESTIONS
        .iter()
        .map(|q| RiskQuestionView {
            key: q.key.into(),
            likelihood: q.likelihood,
            answers: q
                .answers
                .iter()
                .map(|(k, w)| RiskAnswerView {
                    key: (*k).into(),
                    weight: *w,
                })
                .collect(),
        })
        .collect()
}

// --- quorums ---

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeSettings {
    /// Approvals a normal change needs (1..20, default 2).
    pub cab_quorum: i64,
    /// Approvals an emergency change needs (1..20, default 1).
    pub ecab_quorum: i64,
}

pub async fn settings(app: &App, actor: &Actor) -> AppResult<ChangeSettings> {
    require_reader(actor)?;
    let mut conn = app.read().await?;
    let get = |v: Option<String>, d: i64| v.and_then(|v| v.parse().ok()).unwrap_or(d);
    Ok(ChangeSettings {
        cab_quorum: get(
            tickets::setting(&mut conn, CAB_QUORUM_KEY).await?,
            DEFAULT_CAB_QUORUM,
        ),
        ecab_quorum: get(
            tickets::setting(&mut conn, ECAB_QUORUM_KEY).await?,
            DEFAULT_ECAB_QUORUM,
        ),
    })
}

pub async fn set_settings(
    app: &App,
    actor: &Actor,
    input: ChangeSettings,
) -> AppResult<ChangeSettings> {
    require_reader(actor)?;
    actor.require(Capability::ManageChanges)?;
    for (field, v) in [
        ("cab_quorum", input.cab_quorum),
        ("ecab_quorum", input.ecab_quorum),
    ] {
        if !(1..=20).contains(&v) {
            return Err(AppError::invalid(field, "must be between 1 and 20"));
        }
    }
    let before = settings(app, actor).await?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                store::set_setting(&mut ctx.conn, CAB_QUORUM_KEY, &input.cab_quorum.to_string())
                    .await?;
                store::set_setting(
                    &mut ctx.conn,
                    ECAB_QUORUM_KEY,
                    &input.ecab_quorum.to_string(),
                )
                .await?;
                AuditTrail::new(&actor, "setting", 0, now())
                    .changes(
                        ctx,
                        &[
                            (
                                CAB_QUORUM_KEY,
                                Some(before.cab_quorum.to_string()),
                                Some(input.cab_quorum.to_string()),
                            ),
                            (
                                ECAB_QUORUM_KEY,
                                Some(before.ecab_quorum.to_string()),
                                Some(input.ecab_quorum.to_string()),
                            ),
                        ],
                    )
                    .await?;
                Ok(input)
            })
        })
        .await
}

// --- templates ---

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TemplateView {
    pub id: i64,
    pub name_zh: String,
    pub name_en: String,
    pub description: String,
    pub implementation_plan: String,
    pub test_plan: String,
    pub backout_plan: String,
    /// low, medium or high
    pub risk: String,
    pub active: bool,
    pub version: i64,
}

fn template_view(t: Template) -> TemplateView {
    TemplateView {
        id: t.id,
        name_zh: t.name_zh,
        name_en: t.name_en,
        description: t.description,
        implementation_plan: t.implementation_plan,
        test_plan: t.test_plan,
        backout_plan: t.backout_plan,
        risk: t.risk,
        active: t.active,
        version: t.version,
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    pub name_zh: String,
    pub name_en: String,
    #[serde(default)]
    pub description: String,
    pub implementation_plan: String,
    #[serde(default)]
    pub test_plan: String,
    pub backout_plan: String,
    /// low, medium or high (pre-assessed)
    pub risk: String,
}

pub async fn list_templates(app: &App, actor: &Actor) -> AppResult<Vec<TemplateView>> {
    require_reader(actor)?;
    let mut conn = app.read().await?;
    Ok(store::list_templates(&mut conn)
        .await?
        .into_iter()
        .map(template_view)
        .collect())
}

pub async fn create_template(
    app: &App,
    actor: &Actor,
    input: TemplateInput,
) -> AppResult<TemplateView> {
    require_reader(actor)?;
    actor.require(Capability::ManageChanges)?;
    let risk = input
        .risk
        .parse::<Risk>()
        .map_err(|_| AppError::invalid("risk", "is low, medium or high"))?;
    let now = now();
    let t = Template {
        id: 0,
        name_zh: text_field("name_zh", single_line(&input.name_zh, TITLE_MAX))?,
        name_en: text_field("name_en", single_line(&input.name_en, TITLE_MAX))?,
        description: text("description", &input.description)?,
        implementation_plan: text_field(
            "implementation_plan",
            steward_core::text::multi_line(&input.implementation_plan, super::TEXT_MAX, true),
        )?,
        test_plan: text("test_plan", &input.test_plan)?,
        backout_plan: text_field(
            "backout_plan",
            steward_core::text::multi_line(&input.backout_plan, super::TEXT_MAX, true),
        )?,
        risk: risk.as_str().into(),
        active: true,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let mut t = t;
                t.id = store::insert_template(&mut ctx.conn, &t).await?;
                AuditTrail::new(&actor, "change_template", t.id, now)
                    .record(ctx, "create", None, None, Some(t.name_en.clone()))
                    .await?;
                Ok(template_view(t))
            })
        })
        .await
}

// --- freeze periods ---

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FreezeView {
    pub id: i64,
    pub name: String,
    pub reason: String,
    /// The one service frozen; null freezes every change.
    pub service_id: Option<i64>,
    pub starts_at: String,
    pub ends_at: String,
}

pub(crate) fn freeze_view(f: &FreezePeriod) -> FreezeView {
    FreezeView {
        id: f.id,
        name: f.name.clone(),
        reason: f.reason.clone(),
        service_id: f.service_id,
        starts_at: instant(f.starts_at),
        ends_at: instant(f.ends_at),
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeInput {
    pub name: String,
    #[serde(default)]
    pub reason: String,
    pub service_id: Option<i64>,
    /// RFC 3339
    pub starts_at: String,
    pub ends_at: String,
}

/// Every freeze period, in start order.
pub async fn list_freezes(app: &App, actor: &Actor) -> AppResult<Vec<FreezeView>> {
    require_reader(actor)?;
    let mut conn = app.read().await?;
    Ok(store::freezes_in(&mut conn, i64::MIN, i64::MAX)
        .await?
        .iter()
        .map(freeze_view)
        .collect())
}

pub async fn create_freeze(app: &App, actor: &Actor, input: FreezeInput) -> AppResult<FreezeView> {
    require_reader(actor)?;
    actor.require(Capability::ManageChanges)?;
    let name = text_field("name", single_line(&input.name, TITLE_MAX))?;
    let reason = text("reason", &input.reason)?;
    let starts_at = parse_instant(input.starts_at.trim())
        .ok_or_else(|| AppError::invalid("starts_at", "is not an RFC 3339 time"))?;
    let ends_at = parse_instant(input.ends_at.trim())
        .ok_or_else(|| AppError::invalid("ends_at", "is not an RFC 3339 time"))?;
    if ends_at <= starts_at {
        return Err(AppError::invalid("ends_at", "must be after the start"));
    }
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                if let Some(s) = input.service_id {
                    if catalogue::get_service(&mut ctx.conn, s).await?.is_none() {
                        return Err(AppError::invalid("service_id", "is not a service"));
                    }
                }
                let now = now();
                let mut f = FreezePeriod {
                    id: 0,
                    name,
                    reason,
                    service_id: input.service_id,
                    starts_at,
                    ends_at,
                    created_by: actor.user_id,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                };
                f.id = store::insert_freeze(&mut ctx.conn, &f).await?;
                AuditTrail::new(&actor, "freeze_period", f.id, now)
                    .record(
                        ctx,
                        "create",
                        None,
                        None,
                        Some(format!(
                            "{} {}..{}",
                            f.name,
                            instant(f.starts_at),
                            instant(f.ends_at)
                        )),
                    )
                    .await?;
                Ok(freeze_view(&f))
            })
        })
        .await
}

pub async fn delete_freeze(app: &App, actor: &Actor, id: i64) -> AppResult<()> {
    require_reader(actor)?;
    actor.require(Capability::ManageChanges)?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let f = store::get_freeze(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                store::delete_freeze(&mut ctx.conn, id).await?;
                AuditTrail::new(&actor, "freeze_period", id, now())
                    .record(ctx, "delete", None, Some(f.name), None)
                    .await?;
                Ok(())
            })
        })
        .await
}
