//! Configuration management: CI types and their attribute sets, CIs, typed relationships
//! between them (graph.rs), impact analysis (graph.rs), CSV import and export (csv.rs).
//! Staff and auditors read (`ViewCmdb`); change managers, service managers and admins write
//! (`ManageCmdb`); for everyone else the CMDB does not exist (404). Every change is audited
//! (entities `ci_type`, `ci`, `ci_relationship`).

pub mod csv;
pub mod graph;

pub use graph::{impact, ImpactView};

use crate::app::accounts::double_option;
use crate::app::error::text_field;
use crate::app::views::{instant, HistoryEntry, Page};
use crate::app::{now, Actor, App, AppError, AppResult, AuditTrail};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use std::collections::{BTreeMap, HashMap};
use steward_core::cmdb::{self as rules, AttributeDef, AttributeKind, CiStatus};
use steward_core::text::{multi_line, single_line};
use steward_core::Capability;
use steward_store::cmdb::{self as store, Ci, CiType};
use steward_store::{accounts, catalogue, search, WriteCtx};
use utoipa::ToSchema;

const NAME_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 5000;

/// Reading the CMDB: staff and auditors. For anyone else it does not exist.
pub(crate) fn require_view(actor: &Actor) -> AppResult<()> {
    if actor.can(Capability::ViewCmdb) {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

pub(crate) fn require_manage(actor: &Actor) -> AppResult<()> {
    require_view(actor)?;
    actor.require(Capability::ManageCmdb)
}

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(e.to_string())
}

// --- CI types ---

/// One attribute of a CI type.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeSpec {
    /// Lower-case letters, digits and _, starting with a letter.
    pub name: String,
    pub label_zh: String,
    pub label_en: String,
    /// text, number, date (YYYY-MM-DD), bool or ip
    pub kind: String,
    #[serde(default)]
    pub required: bool,
}

impl From<&AttributeDef> for AttributeSpec {
    fn from(d: &AttributeDef) -> Self {
        AttributeSpec {
            name: d.name.clone(),
            label_zh: d.label_zh.clone(),
            label_en: d.label_en.clone(),
            kind: d.kind.as_str().into(),
            required: d.required,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CiTypeView {
    pub id: i64,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub attributes: Vec<AttributeSpec>,
    /// Seeded with Steward (server, virtual_machine, application, database, network_device,
    /// service, location).
    pub builtin: bool,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

pub(crate) fn attribute_defs(t: &CiType) -> AppResult<Vec<AttributeDef>> {
    serde_json::from_str(&t.attributes).map_err(internal)
}

impl CiTypeView {
    pub(crate) fn new(t: &CiType) -> AppResult<CiTypeView> {
        Ok(CiTypeView {
            id: t.id,
            code: t.code.clone(),
            name_zh: t.name_zh.clone(),
            name_en: t.name_en.clone(),
            attributes: attribute_defs(t)?.iter().map(AttributeSpec::from).collect(),
            builtin: t.builtin,
            version: t.version,
            created_at: instant(t.created_at),
            updated_at: instant(t.updated_at),
        })
    }

    /// The name in a language: zh-CN or en.
    pub fn name(&self, zh: bool) -> &str {
        if zh {
            &self.name_zh
        } else {
            &self.name_en
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiTypeInput {
    /// Lower-case letters, digits and _, starting with a letter; never changes.
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    #[serde(default)]
    pub attributes: Vec<AttributeSpec>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiTypePatch {
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    /// The whole new attribute set. Values of CIs for removed attributes are kept until the
    /// CI is next edited.
    pub attributes: Option<Vec<AttributeSpec>>,
}

fn check_attributes(specs: &[AttributeSpec]) -> AppResult<String> {
    let mut defs = Vec::with_capacity(specs.len());
    for (i, s) in specs.iter().enumerate() {
        let kind: AttributeKind = s.kind.trim().parse().map_err(|_| {
            AppError::invalid(
                &format!("attributes[{i}].kind"),
                "must be text, number, date, bool or ip",
            )
        })?;
        defs.push(AttributeDef {
            name: s.name.trim().to_string(),
            label_zh: s.label_zh.trim().to_string(),
            label_en: s.label_en.trim().to_string(),
            kind,
            required: s.required,
        });
    }
    rules::check_attribute_set(&defs).map_err(|e| AppError::invalid(&e.field, e.message))?;
    serde_json::to_string(&defs).map_err(internal)
}

pub async fn list_types(app: &App, actor: &Actor) -> AppResult<Vec<CiTypeView>> {
    require_view(actor)?;
    let mut conn = app.read().await?;
    store::list_types(&mut conn)
        .await?
        .iter()
        .map(CiTypeView::new)
        .collect()
}

pub async fn get_type(app: &App, actor: &Actor, id: i64) -> AppResult<CiTypeView> {
    require_view(actor)?;
    let mut conn = app.read().await?;
    let t = store::get_type(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    CiTypeView::new(&t)
}

pub async fn create_type(app: &App, actor: &Actor, input: CiTypeInput) -> AppResult<CiTypeView> {
    require_manage(actor)?;
    let code = input.code.trim().to_string();
    if !rules::valid_name(&code) {
        return Err(AppError::invalid(
            "code",
            "must be lower-case letters, digits and _ starting with a letter, at most 40",
        ));
    }
    let name_zh = text_field("name_zh", single_line(&input.name_zh, 100))?;
    let name_en = text_field("name_en", single_line(&input.name_en, 100))?;
    let attributes = check_attributes(&input.attributes)?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                if store::type_by_code(&mut ctx.conn, &code).await?.is_some() {
                    return Err(AppError::invalid("code", "is already used by another type"));
                }
                let at = now();
                let mut t = CiType {
                    id: 0,
                    code,
                    name_zh,
                    name_en,
                    attributes,
                    builtin: false,
                    version: 1,
                    created_at: at,
                    updated_at: at,
                };
                t.id = store::insert_type(&mut ctx.conn, &t).await?;
                let trail = AuditTrail::new(&actor, "ci_type", t.id, at);
                trail
                    .record(ctx, "create", None, None, Some(t.code.clone()))
                    .await?;
                trail
                    .record(
                        ctx,
                        "update",
                        Some("attributes"),
                        None,
                        Some(t.attributes.clone()),
                    )
                    .await?;
                CiTypeView::new(&t)
            })
        })
        .await
}

pub async fn update_type(
    app: &App,
    actor: &Actor,
    id: i64,
    p: CiTypePatch,
    if_match: Option<i64>,
) -> AppResult<CiTypeView> {
    require_manage(actor)?;
    let name_zh = p
        .name_zh
        .as_deref()
        .map(|v| text_field("name_zh", single_line(v, 100)))
        .transpose()?;
    let name_en = p
        .name_en
        .as_deref()
        .map(|v| text_field("name_en", single_line(v, 100)))
        .transpose()?;
    let attributes = p.attributes.as_deref().map(check_attributes).transpose()?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let old = store::get_type(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                if if_match.is_some_and(|v| v != old.version) {
                    return Err(AppError::Stale);
                }
                let mut t = old.clone();
                if let Some(v) = name_zh {
                    t.name_zh = v;
                }
                if let Some(v) = name_en {
                    t.name_en = v;
                }
                if let Some(v) = attributes {
                    t.attributes = v;
                }
                t.version += 1;
                t.updated_at = now();
                if !store::update_type(&mut ctx.conn, &t, old.version).await? {
                    return Err(AppError::Stale);
                }
                AuditTrail::new(&actor, "ci_type", id, t.updated_at)
                    .changes(
                        ctx,
                        &[
                            ("name_zh", Some(old.name_zh), Some(t.name_zh.clone())),
                            ("name_en", Some(old.name_en), Some(t.name_en.clone())),
                            (
                                "attributes",
                                Some(old.attributes),
                                Some(t.attributes.clone()),
                            ),
                        ],
                    )
                    .await?;
                CiTypeView::new(&t)
            })
        })
        .await
}

// --- CIs ---

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CiView {
    pub id: i64,
    pub name: String,
    pub type_id: i64,
    pub type_code: String,
    /// planned, in_use, maintenance or retired
    pub status: String,
    pub owner_id: Option<i64>,
    pub team_id: Option<i64>,
    /// The catalogue service a CI of type service stands for.
    pub service_id: Option<i64>,
    /// The customer organisation the CI is dedicated to.
    pub organization_id: Option<i64>,
    /// Attribute values by attribute name, as text.
    pub attributes: BTreeMap<String, String>,
    pub description: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl CiView {
    pub(crate) fn new(c: &Ci, type_code: &str) -> CiView {
        CiView {
            id: c.id,
            name: c.name.clone(),
            type_id: c.type_id,
            type_code: type_code.to_string(),
            status: c.status.clone(),
            owner_id: c.owner_id,
            team_id: c.team_id,
            service_id: c.service_id,
            organization_id: c.organization_id,
            attributes: serde_json::from_str(&c.attributes).unwrap_or_default(),
            description: c.description.clone(),
            version: c.version,
            created_at: instant(c.created_at),
            updated_at: instant(c.updated_at),
        }
    }

    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.id, self.version)
    }
}

/// Attribute values as sent: strings, numbers or booleans; null or "" leaves one unset.
pub type AttributeValues = BTreeMap<String, serde_json::Value>;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiInput {
    pub type_id: i64,
    pub name: String,
    /// Default in_use.
    pub status: Option<String>,
    pub owner_id: Option<i64>,
    pub team_id: Option<i64>,
    pub service_id: Option<i64>,
    pub organization_id: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: AttributeValues,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiPatch {
    pub name: Option<String>,
    pub status: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub owner_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub team_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub service_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub organization_id: Option<Option<i64>>,
    /// The whole new set of values (absent ones become unset).
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<AttributeValues>,
    pub description: Option<String>,
}

fn value_text(name: &str, v: &serde_json::Value) -> AppResult<String> {
    match v {
        serde_json::Value::Null => Ok(String::new()),
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        _ => Err(AppError::invalid(
            &format!("attributes.{name}"),
            "must be a string, number or boolean",
        )),
    }
}

/// Checks values against the type; the stored JSON object.
pub(crate) fn check_values(
    defs: &[AttributeDef],
    values: &[(String, String)],
) -> AppResult<String> {
    let checked =
        rules::check_values(defs, values).map_err(|e| AppError::invalid(&e.field, e.message))?;
    let map: BTreeMap<String, String> = checked.into_iter().collect();
    serde_json::to_string(&map).map_err(internal)
}

fn json_values(values: &AttributeValues) -> AppResult<Vec<(String, String)>> {
    values
        .iter()
        .map(|(k, v)| Ok((k.clone(), value_text(k, v)?)))
        .collect()
}

pub(crate) fn check_status(v: &str) -> AppResult<String> {
    v.trim()
        .parse::<CiStatus>()
        .map(|s| s.as_str().to_string())
        .map_err(|_| AppError::invalid("status", "must be planned, in_use, maintenance or retired"))
}

pub(crate) fn check_ci_name(v: &str) -> AppResult<String> {
    text_field("name", single_line(v, NAME_MAX))
}

pub(crate) fn check_description(v: &str) -> AppResult<String> {
    text_field("description", multi_line(v, DESCRIPTION_MAX, false))
}

/// The referenced owner, team, service and organisation exist.
pub(crate) async fn check_refs(conn: &mut AnyConnection, c: &Ci) -> AppResult<()> {
    if let Some(u) = c.owner_id {
        if accounts::get_user(conn, u).await?.is_none() {
            return Err(AppError::invalid("owner_id", "is not a user"));
        }
    }
    if let Some(t) = c.team_id {
        if accounts::get_team(conn, t).await?.is_none() {
            return Err(AppError::invalid("team_id", "is not a team"));
        }
    }
    if let Some(s) = c.service_id {
        if catalogue::get_service(conn, s).await?.is_none() {
            return Err(AppError::invalid(
                "service_id",
                "is not a catalogue service",
            ));
        }
    }
    if let Some(o) = c.organization_id {
        if accounts::get_org(conn, o).await?.is_none() {
            return Err(AppError::invalid(
                "organization_id",
                "is not an organisation",
            ));
        }
    }
    Ok(())
}

/// The text a CI is found by: name, type, description and attribute values.
pub(crate) fn search_text(c: &Ci, type_code: &str) -> String {
    let values: BTreeMap<String, String> = serde_json::from_str(&c.attributes).unwrap_or_default();
    let mut text = format!("{} {} {}", c.name, type_code, c.description);
    for v in values.values() {
        text.push(' ');
        text.push_str(v);
    }
    search::segment_document(&text)
}

fn field_text<T: ToString>(v: Option<T>) -> Option<String> {
    v.map(|v| v.to_string())
}

/// Writes a CI's audit entries: creation, or one per changed field.
pub(crate) async fn audit_ci(
    ctx: &mut WriteCtx,
    trail: &AuditTrail,
    old: Option<&Ci>,
    c: &Ci,
) -> AppResult<()> {
    let Some(old) = old else {
        trail
            .record(ctx, "create", None, None, Some(c.name.clone()))
            .await?;
        if c.attributes != "{}" {
            trail
                .record(
                    ctx,
                    "update",
                    Some("attributes"),
                    None,
                    Some(c.attributes.clone()),
                )
                .await?;
        }
        return Ok(());
    };
    trail
        .changes(
            ctx,
            &[
                ("name", Some(old.name.clone()), Some(c.name.clone())),
                ("status", Some(old.status.clone()), Some(c.status.clone())),
                ("owner_id", field_text(old.owner_id), field_text(c.owner_id)),
                ("team_id", field_text(old.team_id), field_text(c.team_id)),
                (
                    "service_id",
                    field_text(old.service_id),
                    field_text(c.service_id),
                ),
                (
                    "organization_id",
                    field_text(old.organization_id),
                    field_text(c.organization_id),
                ),
                (
                    "attributes",
                    Some(old.attributes.clone()),
                    Some(c.attributes.clone()),
                ),
                (
                    "description",
                    Some(old.description.clone()),
                    Some(c.description.clone()),
                ),
            ],
        )
        .await
}

pub async fn create_ci(
    app: &App,
    actor: &Actor,
    input: CiInput,
    key: Option<crate::app::idempotency::IdempotencyKey>,
) -> AppResult<CiView> {
    require_manage(actor)?;
    let name = check_ci_name(&input.name)?;
    let status = check_status(input.status.as_deref().unwrap_or("in_use"))?;
    let description = check_description(&input.description)?;
    let values = json_values(&input.attributes)?;
    let actor = actor.clone();
    let backend = app.store.backend;
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                if let Some(v) = crate::app::idempotency::replay(ctx, actor.user_id, &key).await? {
                    return Ok(v);
                }
                let t = store::get_type(&mut ctx.conn, input.type_id)
                    .await?
                    .ok_or_else(|| AppError::invalid("type_id", "is not a CI type"))?;
                let attributes = check_values(&attribute_defs(&t)?, &values)?;
                if store::ci_by_name(&mut ctx.conn, t.id, &name)
                    .await?
                    .is_some()
                {
                    return Err(AppError::invalid(
                        "name",
                        "is already used by a CI of this type",
                    ));
                }
                let at = now();
                let mut c = Ci {
                    id: 0,
                    name,
                    type_id: t.id,
                    status,
                    owner_id: input.owner_id,
                    team_id: input.team_id,
                    service_id: input.service_id,
                    organization_id: input.organization_id,
                    attributes,
                    description,
                    version: 1,
                    created_at: at,
                    updated_at: at,
                };
                check_refs(&mut ctx.conn, &c).await?;
                c.id = store::insert_ci(&mut ctx.conn, &c).await?;
                store::index_ci(&mut ctx.conn, backend, c.id, &search_text(&c, &t.code)).await?;
                audit_ci(ctx, &AuditTrail::new(&actor, "ci", c.id, at), None, &c).await?;
                let view = CiView::new(&c, &t.code);
                crate::app::idempotency::remember(ctx, actor.user_id, &key, &view).await?;
                Ok(view)
            })
        })
        .await
}

pub async fn get_ci(app: &App, actor: &Actor, id: i64) -> AppResult<CiView> {
    require_view(actor)?;
    let mut conn = app.read().await?;
    let c = store::get_ci(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let t = store::get_type(&mut conn, c.type_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(CiView::new(&c, &t.code))
}

pub async fn update_ci(
    app: &App,
    actor: &Actor,
    id: i64,
    p: CiPatch,
    if_match: Option<i64>,
) -> AppResult<CiView> {
    require_manage(actor)?;
    let name = p.name.as_deref().map(check_ci_name).transpose()?;
    let status = p.status.as_deref().map(check_status).transpose()?;
    let description = p
        .description
        .as_deref()
        .map(check_description)
        .transpose()?;
    let values = p.attributes.as_ref().map(json_values).transpose()?;
    let actor = actor.clone();
    let backend = app.store.backend;
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let old = store::get_ci(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                if if_match.is_some_and(|v| v != old.version) {
                    return Err(AppError::Stale);
                }
                let t = store::get_type(&mut ctx.conn, old.type_id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                let mut c = old.clone();
                if let Some(v) = name {
                    if v != old.name && store::ci_by_name(&mut ctx.conn, t.id, &v).await?.is_some()
                    {
                        return Err(AppError::invalid(
                            "name",
                            "is already used by a CI of this type",
                        ));
                    }
                    c.name = v;
                }
                if let Some(v) = status {
                    c.status = v;
                }
                if let Some(v) = p.owner_id {
                    c.owner_id = v;
                }
                if let Some(v) = p.team_id {
                    c.team_id = v;
                }
                if let Some(v) = p.service_id {
                    c.service_id = v;
                }
                if let Some(v) = p.organization_id {
                    c.organization_id = v;
                }
                if let Some(v) = values {
                    c.attributes = check_values(&attribute_defs(&t)?, &v)?;
                }
                if let Some(v) = description {
                    c.description = v;
                }
                check_refs(&mut ctx.conn, &c).await?;
                c.version += 1;
                c.updated_at = now();
                if !store::update_ci(&mut ctx.conn, &c, old.version).await? {
                    return Err(AppError::Stale);
                }
                store::index_ci(&mut ctx.conn, backend, c.id, &search_text(&c, &t.code)).await?;
                audit_ci(
                    ctx,
                    &AuditTrail::new(&actor, "ci", id, c.updated_at),
                    Some(&old),
                    &c,
                )
                .await?;
                Ok(CiView::new(&c, &t.code))
            })
        })
        .await
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CiQuery {
    /// A CI type id.
    pub type_id: Option<i64>,
    /// planned, in_use, maintenance or retired
    pub status: Option<String>,
    pub owner_id: Option<i64>,
    pub service_id: Option<i64>,
    /// Words in the name, description or attribute values (Chinese or English).
    pub q: Option<String>,
    /// 1..200, default 50
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub async fn list_cis(app: &App, actor: &Actor, q: &CiQuery) -> AppResult<Page<CiView>> {
    require_view(actor)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 200"));
    }
    let after = q
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| AppError::invalid("cursor", "is not a cursor from this listing"))
        })
        .transpose()?;
    let status = q
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(check_status)
        .transpose()?;
    let words =
        q.q.as_deref()
            .map(search::segment_query)
            .unwrap_or_default();
    let f = store::CiFilter {
        type_id: q.type_id,
        status,
        owner_id: q.owner_id,
        service_id: q.service_id,
        words,
        after,
        limit,
    };
    let mut conn = app.read().await?;
    let codes = type_codes(&mut conn).await?;
    let rows = store::list_cis(&mut conn, app.store.backend, &f).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|c| c.id.to_string()))
        .flatten();
    Ok(Page {
        items: rows
            .iter()
            .map(|c| CiView::new(c, codes.get(&c.type_id).map_or("", String::as_str)))
            .collect(),
        next_cursor,
    })
}

pub(crate) async fn type_codes(conn: &mut AnyConnection) -> AppResult<HashMap<i64, String>> {
    Ok(store::list_types(conn)
        .await?
        .into_iter()
        .map(|t| (t.id, t.code))
        .collect())
}

/// The audit history of a CI.
pub async fn history(app: &App, actor: &Actor, id: i64) -> AppResult<Vec<HistoryEntry>> {
    require_view(actor)?;
    let mut conn = app.read().await?;
    store::get_ci(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(crate::app::views::history_of(&mut conn, "ci", id).await?)
}
