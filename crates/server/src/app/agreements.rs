//! Service level agreements (with a customer) and operational level agreements (with an
//! internal team): their period, calendar, targets per priority and escalation actions.
//! A changed agreement applies to clocks started or re-baselined after the change.

use super::escalation::EscalationActions;
use super::views::instant;
use super::{now, Actor, App, AppError, AppResult, AuditTrail};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use steward_core::text::single_line;
use steward_core::{Capability, Priority};
use steward_store::accounts;
use steward_store::sla::{self as store, Agreement, Target};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetInput {
    /// P1 .. P5
    pub priority: String,
    /// Business minutes to the first response.
    pub response_minutes: i64,
    /// Business minutes to resolution.
    pub resolution_minutes: i64,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementInput {
    pub name: String,
    /// sla (with a customer organisation, or every customer when absent) or ola (with a team)
    pub kind: String,
    pub organization_id: Option<i64>,
    pub team_id: Option<i64>,
    /// The services it covers; empty covers every service.
    #[serde(default)]
    pub service_ids: Vec<i64>,
    pub calendar_id: i64,
    /// YYYY-MM-DD
    pub valid_from: String,
    pub valid_to: Option<String>,
    pub review_date: Option<String>,
    /// draft, active or retired
    pub status: String,
    /// The share of a target at which the warning fires, 1..99 (default 75).
    pub warn_percent: Option<i64>,
    pub targets: Vec<TargetInput>,
    #[serde(default)]
    pub warning_actions: EscalationActions,
    #[serde(default)]
    pub breach_actions: EscalationActions,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgreementView {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub organization_id: Option<i64>,
    pub team_id: Option<i64>,
    pub service_ids: Vec<i64>,
    pub calendar_id: i64,
    pub valid_from: String,
    pub valid_to: Option<String>,
    pub review_date: Option<String>,
    pub status: String,
    pub warn_percent: i64,
    pub targets: Vec<TargetInput>,
    pub warning_actions: EscalationActions,
    pub breach_actions: EscalationActions,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl AgreementView {
    pub fn new(a: &Agreement) -> AgreementView {
        AgreementView {
            id: a.id,
            name: a.name.clone(),
            kind: a.kind.clone(),
            organization_id: a.organization_id,
            team_id: a.team_id,
            service_ids: a.service_ids.clone(),
            calendar_id: a.calendar_id,
            valid_from: a.valid_from.clone(),
            valid_to: a.valid_to.clone(),
            review_date: a.review_date.clone(),
            status: a.status.clone(),
            warn_percent: a.warn_per_mille / 10,
            targets: a
                .targets
                .iter()
                .map(|t| TargetInput {
                    priority: Priority::from_rank(t.priority)
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    response_minutes: t.response_secs / 60,
                    resolution_minutes: t.resolution_secs / 60,
                })
                .collect(),
            warning_actions: serde_json::from_str(&a.warning_actions).unwrap_or_default(),
            breach_actions: serde_json::from_str(&a.breach_actions).unwrap_or_default(),
            version: a.version,
            created_at: instant(a.created_at),
            updated_at: instant(a.updated_at),
        }
    }

    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.id, self.version)
    }
}

fn date(field: &str, s: &str) -> AppResult<String> {
    s.parse::<jiff::civil::Date>()
        .map(|d| d.to_string())
        .map_err(|_| AppError::invalid(field, "must be a date like 2026-01-01"))
}

/// Checks the input against the database and turns it into a record (id, version and times
/// are the caller's).
async fn validate(conn: &mut AnyConnection, input: &AgreementInput) -> AppResult<Agreement> {
    let name = super::error::text_field("name", single_line(&input.name, 100))?;
    let kind = match input.kind.as_str() {
        "sla" | "ola" => input.kind.clone(),
        _ => return Err(AppError::invalid("kind", "must be sla or ola")),
    };
    match (kind.as_str(), input.team_id, input.organization_id) {
        ("ola", None, _) => return Err(AppError::invalid("team_id", "an OLA is with a team")),
        ("ola", _, Some(_)) => {
            return Err(AppError::invalid(
                "organization_id",
                "an OLA is with a team, not a customer",
            ))
        }
        ("sla", Some(_), _) => {
            return Err(AppError::invalid(
                "team_id",
                "an SLA is with a customer; use an OLA for a team",
            ))
        }
        _ => {}
    }
    if let Some(o) = input.organization_id {
        accounts::get_org(conn, o)
            .await?
            .ok_or_else(|| AppError::invalid("organization_id", "no such organisation"))?;
    }
    for (field, team) in [
        ("team_id", input.team_id),
        (
            "warning_actions.move_to_team_id",
            input.warning_actions.move_to_team_id,
        ),
        (
            "breach_actions.move_to_team_id",
            input.breach_actions.move_to_team_id,
        ),
    ] {
        if let Some(t) = team {
            accounts::get_team(conn, t)
                .await?
                .ok_or_else(|| AppError::invalid(field, "no such team"))?;
        }
    }
    store::get_calendar(conn, input.calendar_id)
        .await?
        .ok_or_else(|| AppError::invalid("calendar_id", "no such calendar"))?;
    let mut service_ids = input.service_ids.clone();
    service_ids.sort_unstable();
    service_ids.dedup();
    for (i, s) in service_ids.iter().enumerate() {
        let found = sqlx::query("SELECT 1 FROM services WHERE id = $1")
            .bind(*s)
            .fetch_optional(&mut *conn)
            .await
            .map_err(steward_store::StoreError::from)?;
        if found.is_none() {
            return Err(AppError::invalid(
                &format!("service_ids[{i}]"),
                "no such service",
            ));
        }
    }
    let valid_from = date("valid_from", &input.valid_from)?;
    let valid_to = input
        .valid_to
        .as_deref()
        .map(|d| date("valid_to", d))
        .transpose()?;
    if valid_to
        .as_deref()
        .is_some_and(|to| to < valid_from.as_str())
    {
        return Err(AppError::invalid("valid_to", "is before valid_from"));
    }
    let review_date = input
        .review_date
        .as_deref()
        .map(|d| date("review_date", d))
        .transpose()?;
    let status = match input.status.as_str() {
        "draft" | "active" | "retired" => input.status.clone(),
        _ => {
            return Err(AppError::invalid(
                "status",
                "must be draft, active or retired",
            ))
        }
    };
    let warn = input.warn_percent.unwrap_or(75);
    if !(1..=99).contains(&warn) {
        return Err(AppError::invalid(
            "warn_percent",
            "must be between 1 and 99",
        ));
    }
    if input.targets.is_empty() {
        return Err(AppError::invalid(
            "targets",
            "at least one priority needs targets",
        ));
    }
    let mut targets: Vec<Target> = Vec::new();
    for (i, t) in input.targets.iter().enumerate() {
        let p: Priority = t.priority.parse().map_err(|_| {
            AppError::invalid(&format!("targets[{i}].priority"), "must be P1 .. P5")
        })?;
        if targets.iter().any(|x| x.priority == p.rank()) {
            return Err(AppError::invalid(
                &format!("targets[{i}].priority"),
                "is listed twice",
            ));
        }
        const YEAR_MINUTES: i64 = 366 * 24 * 60;
        if !(1..=YEAR_MINUTES).contains(&t.response_minutes) {
            return Err(AppError::invalid(
                &format!("targets[{i}].response_minutes"),
                "must be between 1 and 527040",
            ));
        }
        if !(t.response_minutes..=YEAR_MINUTES).contains(&t.resolution_minutes) {
            return Err(AppError::invalid(
                &format!("targets[{i}].resolution_minutes"),
                "must be at least the response target and at most 527040",
            ));
        }
        targets.push(Target {
            priority: p.rank(),
            response_secs: t.response_minutes * 60,
            resolution_secs: t.resolution_minutes * 60,
        });
    }
    targets.sort_by_key(|t| t.priority);
    let json = |a: &EscalationActions| serde_json::to_string(a).unwrap_or_else(|_| "{}".into());
    Ok(Agreement {
        id: 0,
        name,
        kind,
        organization_id: input.organization_id,
        team_id: input.team_id,
        calendar_id: input.calendar_id,
        valid_from,
        valid_to,
        review_date,
        status,
        warn_per_mille: warn * 10,
        warning_actions: json(&input.warning_actions),
        breach_actions: json(&input.breach_actions),
        version: 1,
        created_at: 0,
        updated_at: 0,
        service_ids,
        targets,
    })
}

fn require_staff(actor: &Actor) -> AppResult<()> {
    if actor.role.is_staff() {
        Ok(())
    } else {
        Err(AppError::forbidden("agreements are for the service desk"))
    }
}

pub async fn list(app: &App, actor: &Actor) -> AppResult<Vec<AgreementView>> {
    require_staff(actor)?;
    let mut conn = app.read().await?;
    Ok(store::list_agreements(&mut conn)
        .await?
        .iter()
        .map(AgreementView::new)
        .collect())
}

pub async fn get(app: &App, actor: &Actor, id: i64) -> AppResult<AgreementView> {
    if !actor.role.is_staff() {
        return Err(AppError::NotFound);
    }
    let mut conn = app.read().await?;
    store::get_agreement(&mut conn, id)
        .await?
        .map(|a| AgreementView::new(&a))
        .ok_or(AppError::NotFound)
}

/// Everything an agreement says, for the audit log: every field that can change is in it.
fn summary(a: &Agreement) -> String {
    let mut v = serde_json::to_value(AgreementView::new(a)).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        for k in ["id", "version", "created_at", "updated_at"] {
            o.remove(k);
        }
    }
    v.to_string()
}

fn name_taken(e: steward_store::StoreError) -> AppError {
    match e.constraint() {
        Some(_) => AppError::invalid("name", "an agreement with this name exists"),
        None => e.into(),
    }
}

pub async fn create(app: &App, actor: &Actor, input: AgreementInput) -> AppResult<AgreementView> {
    actor.require(Capability::ManageServiceLevels)?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let mut a = validate(&mut ctx.conn, &input).await?;
                let now = now();
                a.created_at = now;
                a.updated_at = now;
                a.id = store::insert_agreement(&mut ctx.conn, &a)
                    .await
                    .map_err(name_taken)?;
                AuditTrail::new(&actor, "sla", a.id, now)
                    .record(ctx, "create", None, None, Some(summary(&a)))
                    .await?;
                Ok(AgreementView::new(&a))
            })
        })
        .await
}

pub async fn update(
    app: &App,
    actor: &Actor,
    id: i64,
    input: AgreementInput,
    if_match: Option<i64>,
) -> AppResult<AgreementView> {
    actor.require(Capability::ManageServiceLevels)?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let old = store::get_agreement(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                if if_match.is_some_and(|v| v != old.version) {
                    return Err(AppError::Stale);
                }
                let mut a = validate(&mut ctx.conn, &input).await?;
                if a.kind != old.kind {
                    return Err(AppError::invalid(
                        "kind",
                        "cannot change; make a new agreement",
                    ));
                }
                let now = now();
                a.id = id;
                a.version = old.version + 1;
                a.created_at = old.created_at;
                a.updated_at = now;
                if !store::update_agreement(&mut ctx.conn, &a, old.version)
                    .await
                    .map_err(name_taken)?
                {
                    return Err(AppError::Stale);
                }
                AuditTrail::new(&actor, "sla", id, now)
                    .changes(
                        ctx,
                        &[("agreement", Some(summary(&old)), Some(summary(&a)))],
                    )
                    .await?;
                Ok(AgreementView::new(&a))
            })
        })
        .await
}
