//! The service catalogue: services (bilingual, with owner, support team, lifecycle, customer
//! organisations and related services), their request types with a form and an approval rule,
//! and submitting a request from a request type.
//!
//! Service managers and admins (`ManageServiceLevels`) change the catalogue. Staff see every
//! service and request type; requesters see only live services their organisation subscribes
//! to, and only their active request types; everything else is 404 for them.

use super::approvals::{CatalogueRequest, RULES};
use super::error::text_field;
use super::idempotency::IdempotencyKey;
use super::tickets::{create_ticket_with, NewTicketInput};
use super::views::{instant, TicketView};
use super::{now, Actor, App, AppError, AppResult, AuditTrail};
use crate::app::accounts::double_option;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use steward_core::form::{self, Answers, FieldKind, FormField};
use steward_core::text::{multi_line, single_line};
use steward_core::{Capability, Role};
use steward_store::accounts;
use steward_store::catalogue::{self, RequestType, Service, ServiceFilter};
use utoipa::ToSchema;

pub const LIFECYCLES: &[&str] = &["requirements", "design", "transition", "live", "retired"];
const NAME_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 5_000;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServiceView {
    pub id: i64,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub description_zh: String,
    pub description_en: String,
    pub owner_id: Option<i64>,
    /// The support team requests for this service are routed to.
    pub team_id: Option<i64>,
    /// requirements, design, transition, live or retired
    pub lifecycle: String,
    /// Customer organisations that use the service (staff only; empty for requesters).
    pub customer_ids: Vec<i64>,
    pub related_ids: Vec<i64>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// The Chinese or the English text of a bilingual field.
fn in_language<'a>(zh: bool, zh_text: &'a str, en_text: &'a str) -> &'a str {
    if zh {
        zh_text
    } else {
        en_text
    }
}

impl ServiceView {
    fn new(s: &Service, customer_ids: Vec<i64>, related_ids: Vec<i64>) -> ServiceView {
        ServiceView {
            id: s.id,
            code: s.code.clone(),
            name_zh: s.name_zh.clone(),
            name_en: s.name_en.clone(),
            description_zh: s.description_zh.clone(),
            description_en: s.description_en.clone(),
            owner_id: s.owner_id,
            team_id: s.team_id,
            lifecycle: s.lifecycle.clone(),
            customer_ids,
            related_ids,
            version: s.version,
            created_at: instant(s.created_at),
            updated_at: instant(s.updated_at),
        }
    }

    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.id, self.version)
    }

    pub fn name(&self, zh: &bool) -> &str {
        in_language(*zh, &self.name_zh, &self.name_en)
    }

    pub fn description(&self, zh: &bool) -> &str {
        in_language(*zh, &self.description_zh, &self.description_en)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestTypeView {
    pub id: i64,
    pub service_id: i64,
    pub name_zh: String,
    pub name_en: String,
    pub description_zh: String,
    pub description_en: String,
    /// The form: fields with key, kind (text, long_text, number, choice, multi_choice, date,
    /// user, attachment), required, label_zh, label_en, options (value, label_zh, label_en),
    /// min_length, max_length, min, max.
    #[schema(value_type = Vec<Object>)]
    pub form: Vec<FormField>,
    /// none, team_lead, any or all
    pub approval_rule: String,
    /// Named approvers for any / all (staff only; empty for requesters).
    pub approver_ids: Vec<i64>,
    pub active: bool,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl RequestTypeView {
    fn new(r: &RequestType, approver_ids: Vec<i64>) -> RequestTypeView {
        RequestTypeView {
            id: r.id,
            service_id: r.service_id,
            name_zh: r.name_zh.clone(),
            name_en: r.name_en.clone(),
            description_zh: r.description_zh.clone(),
            description_en: r.description_en.clone(),
            form: parse_form(&r.form),
            approval_rule: r.approval_rule.clone(),
            approver_ids,
            active: r.active,
            version: r.version,
            created_at: instant(r.created_at),
            updated_at: instant(r.updated_at),
        }
    }

    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.id, self.version)
    }

    pub fn name(&self, zh: &bool) -> &str {
        in_language(*zh, &self.name_zh, &self.name_en)
    }

    pub fn description(&self, zh: &bool) -> &str {
        in_language(*zh, &self.description_zh, &self.description_en)
    }
}

/// A stored form; it was validated when written.
pub fn parse_form(json: &str) -> Vec<FormField> {
    serde_json::from_str(json).unwrap_or_default()
}

fn is_staff(actor: &Actor) -> bool {
    actor.role.is_staff()
}

/// The service if the actor may see it; otherwise 404.
pub(crate) async fn visible_service(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
) -> AppResult<Service> {
    let s = catalogue::get_service(conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if is_staff(actor) {
        return Ok(s);
    }
    let subscribed = match actor.organization_id {
        Some(o) => s.lifecycle == "live" && catalogue::is_customer(conn, s.id, o).await?,
        None => false,
    };
    if subscribed {
        Ok(s)
    } else {
        Err(AppError::NotFound)
    }
}

/// The request type and its service if the actor may see them; otherwise 404.
pub(crate) async fn visible_request_type(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
) -> AppResult<(RequestType, Service)> {
    let r = catalogue::get_request_type(conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !r.active && !is_staff(actor) {
        return Err(AppError::NotFound);
    }
    let s = visible_service(conn, actor, r.service_id).await?;
    Ok((r, s))
}

async fn service_view(
    conn: &mut AnyConnection,
    actor: &Actor,
    s: &Service,
) -> AppResult<ServiceView> {
    let customers = if is_staff(actor) {
        catalogue::customer_ids(conn, s.id).await?
    } else {
        vec![]
    };
    let related = catalogue::related_ids(conn, s.id).await?;
    Ok(ServiceView::new(s, customers, related))
}

async fn request_type_view(
    conn: &mut AnyConnection,
    actor: &Actor,
    r: &RequestType,
) -> AppResult<RequestTypeView> {
    let approvers = if is_staff(actor) {
        catalogue::approver_ids(conn, r.id).await?
    } else {
        vec![]
    };
    Ok(RequestTypeView::new(r, approvers))
}

// --- services ---

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceInput {
    /// Short unique code, e.g. EMAIL (letters, digits, - and _).
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    #[serde(default)]
    pub description_zh: String,
    #[serde(default)]
    pub description_en: String,
    pub owner_id: Option<i64>,
    pub team_id: Option<i64>,
    /// requirements (default), design, transition, live or retired
    pub lifecycle: Option<String>,
    #[serde(default)]
    pub customer_ids: Vec<i64>,
    #[serde(default)]
    pub related_ids: Vec<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServicePatch {
    pub code: Option<String>,
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    pub description_zh: Option<String>,
    pub description_en: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub owner_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub team_id: Option<Option<i64>>,
    pub lifecycle: Option<String>,
    pub customer_ids: Option<Vec<i64>>,
    pub related_ids: Option<Vec<i64>>,
}

fn check_code(code: &str) -> AppResult<String> {
    let code = text_field("code", single_line(code, 30))?;
    if !code
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(AppError::invalid(
            "code",
            "must be letters, digits, - or _ (at most 30)",
        ));
    }
    Ok(code)
}

fn check_lifecycle(l: &str) -> AppResult<String> {
    LIFECYCLES
        .iter()
        .find(|x| **x == l)
        .map(|x| x.to_string())
        .ok_or_else(|| {
            AppError::invalid(
                "lifecycle",
                "must be requirements, design, transition, live or retired",
            )
        })
}

fn description(field: &str, v: &str) -> AppResult<String> {
    text_field(field, multi_line(v, DESCRIPTION_MAX, false))
}

fn dedup(mut v: Vec<i64>) -> Vec<i64> {
    v.sort_unstable();
    v.dedup();
    v
}

async fn check_owner(conn: &mut AnyConnection, owner: i64) -> AppResult<()> {
    let u = accounts::get_user(conn, owner)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| AppError::invalid("owner_id", "no such active user"))?;
    if u.role == Role::Requester.as_str() {
        return Err(AppError::invalid("owner_id", "is not a member of staff"));
    }
    Ok(())
}

/// Checks the references of a service: owner, team, customers, related services.
async fn check_service_refs(
    conn: &mut AnyConnection,
    s: &Service,
    customers: &[i64],
    related: &[i64],
) -> AppResult<()> {
    if let Some(o) = s.owner_id {
        check_owner(conn, o).await?;
    }
    if let Some(t) = s.team_id {
        accounts::get_team(conn, t)
            .await?
            .ok_or_else(|| AppError::invalid("team_id", "no such team"))?;
    }
    if customers.len() > 500 {
        return Err(AppError::invalid(
            "customer_ids",
            "at most 500 organisations",
        ));
    }
    for o in customers {
        accounts::get_org(conn, *o)
            .await?
            .ok_or_else(|| AppError::invalid("customer_ids", format!("no organisation {o}")))?;
    }
    if related.len() > 100 {
        return Err(AppError::invalid("related_ids", "at most 100 services"));
    }
    for r in related {
        if *r == s.id {
            return Err(AppError::invalid(
                "related_ids",
                "a service is not related to itself",
            ));
        }
        catalogue::get_service(conn, *r)
            .await?
            .ok_or_else(|| AppError::invalid("related_ids", format!("no service {r}")))?;
    }
    Ok(())
}

fn ids_text(v: &[i64]) -> String {
    format!("{v:?}")
}

pub async fn create_service(
    app: &App,
    actor: &Actor,
    input: ServiceInput,
    key: Option<IdempotencyKey>,
) -> AppResult<ServiceView> {
    actor.require(Capability::ManageServiceLevels)?;
    let now_ = now();
    let s = Service {
        id: 0,
        code: check_code(&input.code)?,
        name_zh: text_field("name_zh", single_line(&input.name_zh, NAME_MAX))?,
        name_en: text_field("name_en", single_line(&input.name_en, NAME_MAX))?,
        description_zh: description("description_zh", &input.description_zh)?,
        description_en: description("description_en", &input.description_en)?,
        owner_id: input.owner_id,
        team_id: input.team_id,
        lifecycle: check_lifecycle(input.lifecycle.as_deref().unwrap_or("requirements"))?,
        version: 1,
        created_at: now_,
        updated_at: now_,
    };
    let customers = dedup(input.customer_ids);
    let related = dedup(input.related_ids);
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                if let Some(v) = super::idempotency::replay(ctx, actor.user_id, &key).await? {
                    return Ok(v);
                }
                let mut s = s;
                if catalogue::service_by_code(&mut ctx.conn, &s.code)
                    .await?
                    .is_some()
                {
                    return Err(AppError::invalid("code", "a service with this code exists"));
                }
                check_service_refs(&mut ctx.conn, &s, &customers, &related).await?;
                s.id = catalogue::insert_service(&mut ctx.conn, &s).await?;
                catalogue::set_customers(&mut ctx.conn, s.id, &customers).await?;
                catalogue::set_relations(&mut ctx.conn, s.id, &related).await?;
                let trail = AuditTrail::new(&actor, "service", s.id, s.created_at);
                trail
                    .record(
                        ctx,
                        "create",
                        None,
                        None,
                        Some(format!(
                            "{} {} / {} {}",
                            s.code, s.name_zh, s.name_en, s.lifecycle
                        )),
                    )
                    .await?;
                trail
                    .changes(
                        ctx,
                        &[
                            ("customer_ids", None, Some(ids_text(&customers))),
                            ("related_ids", None, Some(ids_text(&related))),
                        ],
                    )
                    .await?;
                let view = ServiceView::new(&s, customers, related);
                super::idempotency::remember(ctx, actor.user_id, &key, &view).await?;
                Ok(view)
            })
        })
        .await
}

pub async fn update_service(
    app: &App,
    actor: &Actor,
    id: i64,
    p: ServicePatch,
    if_match: Option<i64>,
) -> AppResult<ServiceView> {
    {
        let mut conn = app.read().await?;
        visible_service(&mut conn, actor, id).await?;
    }
    actor.require(Capability::ManageServiceLevels)?;
    let code = p.code.as_deref().map(check_code).transpose()?;
    let name_zh = p
        .name_zh
        .as_deref()
        .map(|v| text_field("name_zh", single_line(v, NAME_MAX)))
        .transpose()?;
    let name_en = p
        .name_en
        .as_deref()
        .map(|v| text_field("name_en", single_line(v, NAME_MAX)))
        .transpose()?;
    let description_zh = p
        .description_zh
        .as_deref()
        .map(|v| description("description_zh", v))
        .transpose()?;
    let description_en = p
        .description_en
        .as_deref()
        .map(|v| description("description_en", v))
        .transpose()?;
    let lifecycle = p.lifecycle.as_deref().map(check_lifecycle).transpose()?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let old = catalogue::get_service(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                if if_match.is_some_and(|v| v != old.version) {
                    return Err(AppError::Stale);
                }
                let mut s = old.clone();
                if let Some(c) = code {
                    if c != s.code
                        && catalogue::service_by_code(&mut ctx.conn, &c)
                            .await?
                            .is_some()
                    {
                        return Err(AppError::invalid("code", "a service with this code exists"));
                    }
                    s.code = c;
                }
                if let Some(v) = name_zh {
                    s.name_zh = v;
                }
                if let Some(v) = name_en {
                    s.name_en = v;
                }
                if let Some(v) = description_zh {
                    s.description_zh = v;
                }
                if let Some(v) = description_en {
                    s.description_en = v;
                }
                if let Some(v) = p.owner_id {
                    s.owner_id = v;
                }
                if let Some(v) = p.team_id {
                    s.team_id = v;
                }
                if let Some(v) = lifecycle {
                    s.lifecycle = v;
                }
                let old_customers = catalogue::customer_ids(&mut ctx.conn, id).await?;
                let old_related = catalogue::related_ids(&mut ctx.conn, id).await?;
                let customers = p.customer_ids.map(dedup).unwrap_or(old_customers.clone());
                let related = p.related_ids.map(dedup).unwrap_or(old_related.clone());
                check_service_refs(&mut ctx.conn, &s, &customers, &related).await?;
                let opt = |v: Option<i64>| v.map(|v| v.to_string());
                let changes: Vec<(&str, Option<String>, Option<String>)> = vec![
                    ("code", Some(old.code.clone()), Some(s.code.clone())),
                    (
                        "name_zh",
                        Some(old.name_zh.clone()),
                        Some(s.name_zh.clone()),
                    ),
                    (
                        "name_en",
                        Some(old.name_en.clone()),
                        Some(s.name_en.clone()),
                    ),
                    (
                        "description_zh",
                        Some(old.description_zh.clone()),
                        Some(s.description_zh.clone()),
                    ),
                    (
                        "description_en",
                        Some(old.description_en.clone()),
                        Some(s.description_en.clone()),
                    ),
                    ("owner_id", opt(old.owner_id), opt(s.owner_id)),
                    ("team_id", opt(old.team_id), opt(s.team_id)),
                    (
                        "lifecycle",
                        Some(old.lifecycle.clone()),
                        Some(s.lifecycle.clone()),
                    ),
                    (
                        "customer_ids",
                        Some(ids_text(&old_customers)),
                        Some(ids_text(&customers)),
                    ),
                    (
                        "related_ids",
                        Some(ids_text(&old_related)),
                        Some(ids_text(&related)),
                    ),
                ];
                if changes.iter().all(|(_, o, n)| o == n) {
                    return Ok(ServiceView::new(&old, old_customers, old_related));
                }
                let now = now();
                s.version = old.version + 1;
                s.updated_at = now;
                if !catalogue::update_service(&mut ctx.conn, &s, old.version).await? {
                    return Err(AppError::Stale);
                }
                if customers != old_customers {
                    catalogue::set_customers(&mut ctx.conn, id, &customers).await?;
                }
                if related != old_related {
                    catalogue::set_relations(&mut ctx.conn, id, &related).await?;
                }
                AuditTrail::new(&actor, "service", id, now)
                    .changes(ctx, &changes)
                    .await?;
                Ok(ServiceView::new(&s, customers, related))
            })
        })
        .await
}

pub async fn list_services(app: &App, actor: &Actor) -> AppResult<Vec<ServiceView>> {
    let mut conn = app.read().await?;
    let filter = if is_staff(actor) {
        ServiceFilter::default()
    } else {
        match actor.organization_id {
            Some(o) => ServiceFilter {
                customer: Some(o),
                lifecycle: Some("live".into()),
            },
            None => return Ok(vec![]),
        }
    };
    let services = catalogue::list_services(&mut conn, &filter).await?;
    let mut out = Vec::with_capacity(services.len());
    for s in &services {
        out.push(service_view(&mut conn, actor, s).await?);
    }
    Ok(out)
}

pub async fn get_service(app: &App, actor: &Actor, id: i64) -> AppResult<ServiceView> {
    let mut conn = app.read().await?;
    let s = visible_service(&mut conn, actor, id).await?;
    service_view(&mut conn, actor, &s).await
}

// --- request types ---

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestTypeInput {
    pub name_zh: String,
    pub name_en: String,
    #[serde(default)]
    pub description_zh: String,
    #[serde(default)]
    pub description_en: String,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub form: Vec<FormField>,
    /// none (default), team_lead, any or all
    pub approval_rule: Option<String>,
    /// The named approvers for any / all.
    #[serde(default)]
    pub approver_ids: Vec<i64>,
    /// Offered in the portal (default true).
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestTypePatch {
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    pub description_zh: Option<String>,
    pub description_en: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub form: Option<Vec<FormField>>,
    pub approval_rule: Option<String>,
    pub approver_ids: Option<Vec<i64>>,
    pub active: Option<bool>,
}

fn check_rule(rule: &str) -> AppResult<String> {
    RULES
        .iter()
        .find(|r| **r == rule)
        .map(|r| r.to_string())
        .ok_or_else(|| AppError::invalid("approval_rule", "must be none, team_lead, any or all"))
}

fn check_form(fields: &[FormField]) -> AppResult<Vec<FormField>> {
    form::validate_definition(fields).map_err(|e| AppError::invalid(&e.field, e.message))
}

/// The rule and the approvers fit together and exist.
async fn check_approvers(
    conn: &mut AnyConnection,
    service: &Service,
    rule: &str,
    approvers: &[i64],
) -> AppResult<()> {
    match rule {
        "any" | "all" if approvers.is_empty() => {
            return Err(AppError::invalid(
                "approver_ids",
                "is required for the any and all rules",
            ))
        }
        "none" | "team_lead" if !approvers.is_empty() => {
            return Err(AppError::invalid(
                "approver_ids",
                "only the any and all rules have named approvers",
            ))
        }
        "team_lead" if service.team_id.is_none() => {
            return Err(AppError::invalid(
                "approval_rule",
                "team_lead needs the service to have a support team",
            ))
        }
        _ => {}
    }
    if approvers.len() > 20 {
        return Err(AppError::invalid("approver_ids", "at most 20 approvers"));
    }
    for a in approvers {
        let u = accounts::get_user(conn, *a)
            .await?
            .filter(|u| u.active)
            .ok_or_else(|| AppError::invalid("approver_ids", format!("no active user {a}")))?;
        // An approver reads the request's answers: never a customer's user.
        if u.role == Role::Requester.as_str() {
            return Err(AppError::invalid(
                "approver_ids",
                format!("user {a} is not a member of staff"),
            ));
        }
    }
    Ok(())
}

pub async fn create_request_type(
    app: &App,
    actor: &Actor,
    service_id: i64,
    input: RequestTypeInput,
    key: Option<IdempotencyKey>,
) -> AppResult<RequestTypeView> {
    {
        let mut conn = app.read().await?;
        visible_service(&mut conn, actor, service_id).await?;
    }
    actor.require(Capability::ManageServiceLevels)?;
    let now_ = now();
    let fields = check_form(&input.form)?;
    let form_json =
        serde_json::to_string(&fields).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let r = RequestType {
        id: 0,
        service_id,
        name_zh: text_field("name_zh", single_line(&input.name_zh, NAME_MAX))?,
        name_en: text_field("name_en", single_line(&input.name_en, NAME_MAX))?,
        description_zh: description("description_zh", &input.description_zh)?,
        description_en: description("description_en", &input.description_en)?,
        form: form_json,
        approval_rule: check_rule(input.approval_rule.as_deref().unwrap_or("none"))?,
        active: input.active.unwrap_or(true),
        version: 1,
        created_at: now_,
        updated_at: now_,
    };
    let approvers = dedup(input.approver_ids);
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                if let Some(v) = super::idempotency::replay(ctx, actor.user_id, &key).await? {
                    return Ok(v);
                }
                let mut r = r;
                let service = catalogue::get_service(&mut ctx.conn, service_id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                check_approvers(&mut ctx.conn, &service, &r.approval_rule, &approvers).await?;
                r.id = catalogue::insert_request_type(&mut ctx.conn, &r).await?;
                catalogue::set_approvers(&mut ctx.conn, r.id, &approvers).await?;
                let trail = AuditTrail::new(&actor, "request_type", r.id, r.created_at);
                trail
                    .record(
                        ctx,
                        "create",
                        None,
                        None,
                        Some(format!(
                            "service {} {} / {} rule {}",
                            service_id, r.name_zh, r.name_en, r.approval_rule
                        )),
                    )
                    .await?;
                trail
                    .changes(
                        ctx,
                        &[
                            ("form", None, Some(r.form.clone())),
                            ("approver_ids", None, Some(ids_text(&approvers))),
                        ],
                    )
                    .await?;
                let view = RequestTypeView::new(&r, approvers);
                super::idempotency::remember(ctx, actor.user_id, &key, &view).await?;
                Ok(view)
            })
        })
        .await
}

pub async fn update_request_type(
    app: &App,
    actor: &Actor,
    id: i64,
    p: RequestTypePatch,
    if_match: Option<i64>,
) -> AppResult<RequestTypeView> {
    {
        let mut conn = app.read().await?;
        visible_request_type(&mut conn, actor, id).await?;
    }
    actor.require(Capability::ManageServiceLevels)?;
    let name_zh = p
        .name_zh
        .as_deref()
        .map(|v| text_field("name_zh", single_line(v, NAME_MAX)))
        .transpose()?;
    let name_en = p
        .name_en
        .as_deref()
        .map(|v| text_field("name_en", single_line(v, NAME_MAX)))
        .transpose()?;
    let description_zh = p
        .description_zh
        .as_deref()
        .map(|v| description("description_zh", v))
        .transpose()?;
    let description_en = p
        .description_en
        .as_deref()
        .map(|v| description("description_en", v))
        .transpose()?;
    let form_json = match &p.form {
        Some(f) => Some(
            serde_json::to_string(&check_form(f)?)
                .map_err(|e| AppError::BadRequest(e.to_string()))?,
        ),
        None => None,
    };
    let rule = p.approval_rule.as_deref().map(check_rule).transpose()?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let old = catalogue::get_request_type(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                if if_match.is_some_and(|v| v != old.version) {
                    return Err(AppError::Stale);
                }
                let service = catalogue::get_service(&mut ctx.conn, old.service_id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                let mut r = old.clone();
                if let Some(v) = name_zh {
                    r.name_zh = v;
                }
                if let Some(v) = name_en {
                    r.name_en = v;
                }
                if let Some(v) = description_zh {
                    r.description_zh = v;
                }
                if let Some(v) = description_en {
                    r.description_en = v;
                }
                if let Some(v) = form_json {
                    r.form = v;
                }
                if let Some(v) = rule {
                    r.approval_rule = v;
                }
                if let Some(v) = p.active {
                    r.active = v;
                }
                let old_approvers = catalogue::approver_ids(&mut ctx.conn, id).await?;
                let explicit = p.approver_ids.is_some();
                let mut approvers = p.approver_ids.map(dedup).unwrap_or(old_approvers.clone());
                // Moving away from named approvers drops them.
                if matches!(r.approval_rule.as_str(), "none" | "team_lead") && !explicit {
                    approvers.clear();
                }
                check_approvers(&mut ctx.conn, &service, &r.approval_rule, &approvers).await?;
                let changes: Vec<(&str, Option<String>, Option<String>)> = vec![
                    (
                        "name_zh",
                        Some(old.name_zh.clone()),
                        Some(r.name_zh.clone()),
                    ),
                    (
                        "name_en",
                        Some(old.name_en.clone()),
                        Some(r.name_en.clone()),
                    ),
                    (
                        "description_zh",
                        Some(old.description_zh.clone()),
                        Some(r.description_zh.clone()),
                    ),
                    (
                        "description_en",
                        Some(old.description_en.clone()),
                        Some(r.description_en.clone()),
                    ),
                    ("form", Some(old.form.clone()), Some(r.form.clone())),
                    (
                        "approval_rule",
                        Some(old.approval_rule.clone()),
                        Some(r.approval_rule.clone()),
                    ),
                    (
                        "approver_ids",
                        Some(ids_text(&old_approvers)),
                        Some(ids_text(&approvers)),
                    ),
                    (
                        "active",
                        Some(old.active.to_string()),
                        Some(r.active.to_string()),
                    ),
                ];
                if changes.iter().all(|(_, o, n)| o == n) {
                    return Ok(RequestTypeView::new(&old, old_approvers));
                }
                let now = now();
                r.version = old.version + 1;
                r.updated_at = now;
                if !catalogue::update_request_type(&mut ctx.conn, &r, old.version).await? {
                    return Err(AppError::Stale);
                }
                if approvers != old_approvers {
                    catalogue::set_approvers(&mut ctx.conn, id, &approvers).await?;
                }
                AuditTrail::new(&actor, "request_type", id, now)
                    .changes(ctx, &changes)
                    .await?;
                Ok(RequestTypeView::new(&r, approvers))
            })
        })
        .await
}

pub async fn list_request_types(
    app: &App,
    actor: &Actor,
    service_id: i64,
) -> AppResult<Vec<RequestTypeView>> {
    let mut conn = app.read().await?;
    visible_service(&mut conn, actor, service_id).await?;
    let rows = catalogue::list_request_types(&mut conn, service_id, !is_staff(actor)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(request_type_view(&mut conn, actor, r).await?);
    }
    Ok(out)
}

pub async fn get_request_type(app: &App, actor: &Actor, id: i64) -> AppResult<RequestTypeView> {
    let mut conn = app.read().await?;
    let (r, _) = visible_request_type(&mut conn, actor, id).await?;
    request_type_view(&mut conn, actor, &r).await
}

/// A request type together with its service, for the portal form.
pub async fn request_type_with_service(
    app: &App,
    actor: &Actor,
    id: i64,
) -> AppResult<(RequestTypeView, ServiceView)> {
    let mut conn = app.read().await?;
    let (r, s) = visible_request_type(&mut conn, actor, id).await?;
    Ok((
        request_type_view(&mut conn, actor, &r).await?,
        service_view(&mut conn, actor, &s).await?,
    ))
}

/// Whether the actor may look people up (staff who assign, route or read every ticket).
fn may_look_up_users(actor: &Actor) -> bool {
    actor.can(Capability::ManageAccounts)
        || actor.can(Capability::WorkTickets)
        || actor.can(Capability::SeeAllTickets)
}

/// Whether the actor may name this user in a request form's user field: staff who may look
/// people up name any active user; anyone else themselves or an active member of their
/// organisation.
fn may_name(actor: &Actor, u: &accounts::User) -> bool {
    u.active
        && (may_look_up_users(actor)
            || u.id == actor.user_id
            || (actor.organization_id.is_some() && u.organization_id == actor.organization_id))
}

/// The people the actor may name in a request form's user field (see `may_name`), the actor
/// first, then by name; at most 500.
pub async fn nameable_users(app: &App, actor: &Actor) -> AppResult<Vec<(i64, String)>> {
    let mut conn = app.read().await?;
    let mut filter = accounts::UserFilter {
        limit: 500,
        ..Default::default()
    };
    if !may_look_up_users(actor) {
        match actor.organization_id {
            Some(o) => filter.organization_id = Some(o),
            None => return Ok(vec![(actor.user_id, actor.name.clone())]),
        }
    }
    let mut users: Vec<(i64, String)> = accounts::list_users(&mut conn, &filter)
        .await?
        .iter()
        .filter(|u| may_name(actor, u))
        .map(|u| (u.id, u.name.clone()))
        .collect();
    users.sort_by(|a, b| {
        (a.0 != actor.user_id)
            .cmp(&(b.0 != actor.user_id))
            .then_with(|| a.1.cmp(&b.1))
    });
    Ok(users)
}

/// The names of the people a record's user answers name, by id, for showing the answers of
/// a request the actor has already read (ticket or approval); unknown ids are left out.
pub async fn answer_user_names(
    app: &App,
    form: &[FormField],
    answers: Option<&serde_json::Value>,
) -> AppResult<std::collections::HashMap<i64, String>> {
    let mut names = std::collections::HashMap::new();
    let Some(serde_json::Value::Object(m)) = answers else {
        return Ok(names);
    };
    let ids: Vec<i64> = form
        .iter()
        .filter(|f| f.kind == FieldKind::User)
        .filter_map(|f| m.get(&f.key).and_then(serde_json::Value::as_i64))
        .collect();
    if ids.is_empty() {
        return Ok(names);
    }
    let mut conn = app.read().await?;
    for id in ids {
        if let Some(u) = accounts::get_user(&mut conn, id).await? {
            names.insert(id, u.name);
        }
    }
    Ok(names)
}

// --- submitting a request ---

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequestInput {
    /// Answers by field key. Text, long text, choice, date and attachment answers are
    /// strings (an attachment's answer is the file name; upload the file afterwards with
    /// POST /api/v1/tickets/{id}/attachments); numbers and user ids are numbers;
    /// multi-choice answers are lists of option values.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub answers: Answers,
    /// Defaults to the request type's name in the requester's language.
    pub title: Option<String>,
    #[serde(default)]
    pub description: String,
    /// high, medium or low (default low)
    pub impact: Option<String>,
    /// high, medium or low (default medium)
    pub urgency: Option<String>,
}

/// Submits a service request from a request type: validates the answers, routes the request
/// to the service's support team and, when the type needs approval, opens the approvals.
pub async fn submit_request(
    app: &App,
    actor: &Actor,
    request_type_id: i64,
    input: SubmitRequestInput,
    key: Option<IdempotencyKey>,
) -> AppResult<TicketView> {
    actor.require(Capability::SubmitTicket)?;
    let (catalogue, title) = {
        let mut conn = app.read().await?;
        let (r, s) = visible_request_type(&mut conn, actor, request_type_id).await?;
        if !r.active {
            return Err(AppError::Conflict {
                message: "this request type is not offered".into(),
                allowed: None,
            });
        }
        if s.lifecycle != "live" {
            return Err(AppError::Conflict {
                message: "the service is not live".into(),
                allowed: None,
            });
        }
        let fields = parse_form(&r.form);
        let answers = form::validate_answers(&fields, &input.answers)
            .map_err(|e| AppError::invalid(&e.field, e.message))?;
        for f in fields.iter().filter(|f| f.kind == FieldKind::User) {
            if let Some(form::Answer::Integer(u)) = answers.get(&f.key) {
                accounts::get_user(&mut conn, *u)
                    .await?
                    .filter(|u| may_name(actor, u))
                    .ok_or_else(|| {
                        AppError::invalid(&format!("answers.{}", f.key), "no such active user")
                    })?;
            }
        }
        let mut approvers = match r.approval_rule.as_str() {
            "team_lead" => match s.team_id {
                Some(t) => catalogue::team_lead_ids(&mut conn, t).await?,
                None => vec![],
            },
            "any" | "all" => {
                // Someone disabled since the request type was set up cannot decide.
                let mut active = Vec::new();
                for a in catalogue::approver_ids(&mut conn, r.id).await? {
                    if accounts::get_user(&mut conn, a)
                        .await?
                        .is_some_and(|u| u.active)
                    {
                        active.push(a);
                    }
                }
                active
            }
            _ => vec![],
        };
        // Nobody approves their own request.
        approvers.retain(|a| *a != actor.user_id);
        if r.approval_rule != "none" && approvers.is_empty() {
            return Err(AppError::invalid(
                "request_type_id",
                "nobody can approve this request",
            ));
        }
        let zh = actor.locale.as_deref() != Some("en");
        let title = match input.title.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => t.to_string(),
            _ => {
                if zh {
                    r.name_zh.clone()
                } else {
                    r.name_en.clone()
                }
            }
        };
        let form_answers =
            serde_json::to_string(&answers).map_err(|e| AppError::BadRequest(e.to_string()))?;
        (
            CatalogueRequest {
                service_id: s.id,
                service_code: s.code.clone(),
                request_type_id: r.id,
                team_id: s.team_id,
                form_answers,
                rule: r.approval_rule.clone(),
                approvers,
            },
            title,
        )
    };
    let input = NewTicketInput {
        kind: "service_request".into(),
        title,
        description: input.description,
        impact: input.impact.unwrap_or_else(|| "low".into()),
        urgency: input.urgency.unwrap_or_else(|| "medium".into()),
        requester_id: None,
        team_id: None,
        assignee_id: None,
        category: None,
        priority: None,
        priority_reason: None,
        watcher_ids: vec![],
    };
    create_ticket_with(app, actor, input, Some(catalogue), key).await
}
