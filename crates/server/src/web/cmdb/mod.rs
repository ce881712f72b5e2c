//! Pages. Configuration management: the CI list with filters, a CI with its attributes,
//! relationships both ways, impact diagram (diagram.rs) and history; CI types and their
//! attribute sets; CSV import with its report, and export links.

mod diagram;

use super::form::{self, Fields};
use super::session::WebUser;
use super::{describe, finish, render, see_other, status_of, Chrome};
use crate::app::cmdb::csv::{self as cmdb_csv, ImportReport};
use crate::app::cmdb::graph::{self, RelationshipInput, RelationshipQuery, RelationshipView};
use crate::app::cmdb::{
    self, AttributeSpec, AttributeValues, CiInput, CiPatch, CiQuery, CiTypeInput, CiTypePatch,
    CiTypeView, CiView, ImpactView,
};
use crate::app::idempotency::IdempotencyKey;
use crate::app::views::HistoryEntry;
use crate::app::{accounts, AppError};
use crate::http::AppState;
use crate::i18n::Lang;
use askama::Template;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use steward_core::cmdb::{AttributeKind, CiStatus, Relation};
use steward_core::Capability;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cmdb", get(list_page))
        .route("/cmdb/new", get(new_page).post(create_ci))
        .route("/cmdb/types", get(types_page).post(create_type))
        .route("/cmdb/types/{id}", get(type_page).post(update_type))
        .route("/cmdb/import", get(import_page).post(import))
        .route("/cmdb/export/cis.csv", get(export_cis))
        .route("/cmdb/export/relationships.csv", get(export_relationships))
        .route("/cmdb/{id}", get(ci_page).post(update_ci))
        .route("/cmdb/{id}/relationships", post(add_relationship))
        .route(
            "/cmdb/{id}/relationships/{rid}/delete",
            post(remove_relationship),
        )
}

fn can_manage(u: &WebUser) -> bool {
    u.actor.can(Capability::ManageCmdb)
}

/// A choice in a select.
pub struct Pick {
    pub value: String,
    pub label: String,
    pub on: bool,
}

fn status_picks(c: &Chrome, current: &str, any: bool) -> Vec<Pick> {
    let mut out = Vec::new();
    if any {
        out.push(Pick {
            value: String::new(),
            label: c.t("cmdb-any"),
            on: current.is_empty(),
        });
    }
    out.extend(CiStatus::ALL.iter().map(|s| Pick {
        value: s.as_str().into(),
        label: c.label("cmdb-status", s.as_str()),
        on: current == s.as_str(),
    }));
    out
}

fn type_picks(c: &Chrome, types: &[CiTypeView], current: &str, any: bool) -> Vec<Pick> {
    let mut out = Vec::new();
    if any {
        out.push(Pick {
            value: String::new(),
            label: c.t("cmdb-any"),
            on: current.is_empty(),
        });
    }
    out.extend(types.iter().map(|t| Pick {
        value: t.id.to_string(),
        label: t.name(c.i == Lang::ZhCn).to_string(),
        on: current == t.id.to_string(),
    }));
    out
}

fn type_name(c: &Chrome, types: &[CiTypeView], code: &str) -> String {
    types
        .iter()
        .find(|t| t.code == code)
        .map(|t| t.name(c.i == Lang::ZhCn).to_string())
        .unwrap_or_else(|| code.to_string())
}

// --- the list ---

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    type_id: Option<String>,
    status: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
}

struct Row {
    ci: CiView,
    type_name: String,
    status: String,
}

#[derive(Template)]
#[template(path = "cmdb_list.html")]
struct ListPage {
    c: Chrome,
    manage: bool,
    rows: Vec<Row>,
    types: Vec<Pick>,
    new_types: Vec<Pick>,
    statuses: Vec<Pick>,
    q: String,
    /// The query string of the next page, when there is one.
    next: Option<String>,
    error: Option<String>,
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()))
        .finish()
}

async fn list_page(State(s): State<AppState>, u: WebUser, Query(q): Query<ListQuery>) -> Response {
    let r = async {
        let c = Chrome::new(&u, "cmdb");
        let types = cmdb::list_types(&s.app, &u.actor).await?;
        let type_id = q.type_id.clone().unwrap_or_default();
        let status = q.status.clone().unwrap_or_default();
        let text = q.q.clone().unwrap_or_default();
        let query = CiQuery {
            type_id: type_id.trim().parse().ok(),
            status: Some(status.clone()).filter(|s| !s.is_empty()),
            q: Some(text.clone()).filter(|s| !s.trim().is_empty()),
            limit: Some(50),
            cursor: q.cursor.clone(),
            ..Default::default()
        };
        let (page, error) = match cmdb::list_cis(&s.app, &u.actor, &query).await {
            Ok(p) => (p, None),
            Err(e @ AppError::Invalid { .. }) => (
                crate::app::views::Page {
                    items: vec![],
                    next_cursor: None,
                },
                Some(describe(u.lang, &e)),
            ),
            Err(e) => return Err(e),
        };
        let next = page.next_cursor.as_deref().map(|cur| {
            query_string(&[
                ("type_id", &type_id),
                ("status", &status),
                ("q", &text),
                ("cursor", cur),
            ])
        });
        let rows = page
            .items
            .into_iter()
            .map(|ci| Row {
                type_name: type_name(&c, &types, &ci.type_code),
                status: c.label("cmdb-status", &ci.status),
                ci,
            })
            .collect();
        let page = ListPage {
            manage: can_manage(&u),
            rows,
            types: type_picks(&c, &types, &type_id, true),
            new_types: type_picks(&c, &types, "", false),
            statuses: status_picks(&c, &status, true),
            q: text,
            next,
            error,
            c,
        };
        Ok(render(StatusCode::OK, &page))
    }
    .await;
    finish(&u, r)
}

// --- the CI form (new and edit) ---

/// One attribute input of the CI form.
struct AttrField {
    name: String,
    label: String,
    input_type: &'static str,
    required: bool,
    value: String,
}

/// What the CI form holds: as typed, or as saved.
#[derive(Default)]
struct CiValues {
    name: String,
    status: String,
    owner_id: String,
    team_id: String,
    service_id: String,
    organization_id: String,
    description: String,
    attributes: std::collections::BTreeMap<String, String>,
}

impl CiValues {
    fn from_fields(f: &Fields) -> CiValues {
        CiValues {
            name: f.get("name").into(),
            status: f.get("status").into(),
            owner_id: f.get("owner_id").into(),
            team_id: f.get("team_id").into(),
            service_id: f.get("service_id").into(),
            organization_id: f.get("organization_id").into(),
            description: f.get("description").into(),
            attributes: f
                .0
                .iter()
                .filter_map(|(k, v)| k.strip_prefix("attr.").map(|n| (n.to_string(), v.clone())))
                .collect(),
        }
    }

    fn from_ci(ci: &CiView) -> CiValues {
        let id = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        CiValues {
            name: ci.name.clone(),
            status: ci.status.clone(),
            owner_id: id(ci.owner_id),
            team_id: id(ci.team_id),
            service_id: id(ci.service_id),
            organization_id: id(ci.organization_id),
            description: ci.description.clone(),
            attributes: ci.attributes.clone(),
        }
    }
}

/// The choices of the CI form.
struct CiChoices {
    statuses: Vec<Pick>,
    owners: Vec<Pick>,
    teams: Vec<Pick>,
    services: Vec<Pick>,
    orgs: Vec<Pick>,
    attrs: Vec<AttrField>,
}

fn with_none(c: &Chrome, current: &str, items: Vec<(i64, String)>) -> Vec<Pick> {
    let mut out = vec![Pick {
        value: String::new(),
        label: c.t("cmdb-none"),
        on: current.is_empty(),
    }];
    out.extend(items.into_iter().map(|(id, label)| Pick {
        on: current == id.to_string(),
        value: id.to_string(),
        label,
    }));
    out
}

async fn ci_choices(
    s: &AppState,
    u: &WebUser,
    c: &Chrome,
    t: &CiTypeView,
    v: &CiValues,
) -> Result<CiChoices, AppError> {
    let zh = c.i == Lang::ZhCn;
    let staff = accounts::list_users(
        &s.app,
        &u.actor,
        steward_store::accounts::UserFilter {
            staff_only: true,
            limit: 500,
            ..Default::default()
        },
    )
    .await?;
    let teams = accounts::list_teams(&s.app, &u.actor).await?;
    let orgs = accounts::list_orgs(&s.app, &u.actor).await?;
    let services = crate::app::catalogue::list_services(&s.app, &u.actor).await?;
    Ok(CiChoices {
        statuses: status_picks(c, &v.status, false),
        owners: with_none(
            c,
            &v.owner_id,
            staff.into_iter().map(|x| (x.id, x.name)).collect(),
        ),
        teams: with_none(
            c,
            &v.team_id,
            teams.into_iter().map(|x| (x.id, x.name)).collect(),
        ),
        services: with_none(
            c,
            &v.service_id,
            services
                .into_iter()
                .map(|x| (x.id, if zh { x.name_zh } else { x.name_en }))
                .collect(),
        ),
        orgs: with_none(
            c,
            &v.organization_id,
            orgs.into_iter().map(|x| (x.id, x.name)).collect(),
        ),
        attrs: t
            .attributes
            .iter()
            .map(|a| AttrField {
                name: a.name.clone(),
                label: if zh {
                    a.label_zh.clone()
                } else {
                    a.label_en.clone()
                },
                input_type: match a.kind.parse::<AttributeKind>() {
                    Ok(AttributeKind::Number) => "number",
                    Ok(AttributeKind::Date) => "date",
                    _ => "text",
                },
                required: a.required,
                value: v.attributes.get(&a.name).cloned().unwrap_or_default(),
            })
            .collect(),
    })
}

fn form_attributes(f: &Fields) -> AttributeValues {
    f.0.iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("attr.")
                .map(|n| (n.to_string(), serde_json::Value::String(v.clone())))
        })
        .collect()
}

#[derive(Template)]
#[template(path = "cmdb_new.html")]
struct NewPage {
    c: Chrome,
    t: CiTypeView,
    type_name: String,
    v: CiValues,
    ch: CiChoices,
    nonce: String,
    error: Option<String>,
    error_field: String,
}

#[derive(Deserialize)]
struct NewQuery {
    type_id: Option<String>,
}

async fn new_view(
    s: &AppState,
    u: &WebUser,
    type_id: &str,
    v: CiValues,
    error: Option<&AppError>,
) -> Result<NewPage, AppError> {
    let c = Chrome::new(u, "cmdb");
    let id = type_id
        .trim()
        .parse()
        .map_err(|_| AppError::invalid("type_id", "must be a number"))?;
    let t = cmdb::get_type(&s.app, &u.actor, id).await?;
    let ch = ci_choices(s, u, &c, &t, &v).await?;
    Ok(NewPage {
        type_name: t.name(c.i == Lang::ZhCn).to_string(),
        error: error.map(|e| describe(u.lang, e)),
        error_field: error.map(super::portal::error_field).unwrap_or_default(),
        nonce: form::form_nonce(),
        c,
        t,
        v,
        ch,
    })
}

async fn new_page(State(s): State<AppState>, u: WebUser, Query(q): Query<NewQuery>) -> Response {
    let r = async {
        if !can_manage(&u) {
            cmdb::list_types(&s.app, &u.actor).await?;
            return Err(AppError::forbidden("your role does not allow this"));
        }
        let v = CiValues {
            status: "in_use".into(),
            ..Default::default()
        };
        let page = new_view(&s, &u, q.type_id.as_deref().unwrap_or_default(), v, None).await?;
        Ok(render(StatusCode::OK, &page))
    }
    .await;
    finish(&u, r)
}

fn opt_id(f: &Fields, name: &str) -> Result<Option<i64>, AppError> {
    f.id(name)
}

async fn create_ci(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let type_id = f.get("type_id").to_string();
        let input = CiInput {
            type_id: type_id
                .trim()
                .parse()
                .map_err(|_| AppError::invalid("type_id", "must be a number"))?,
            name: f.get("name").into(),
            status: f.opt("status"),
            owner_id: opt_id(&f, "owner_id")?,
            team_id: opt_id(&f, "team_id")?,
            service_id: opt_id(&f, "service_id")?,
            organization_id: opt_id(&f, "organization_id")?,
            attributes: form_attributes(&f),
            description: f.get("description").into(),
        };
        let key = f
            .opt("nonce")
            .map(|n| IdempotencyKey::parse(&format!("web-{n}"), "web ci".into()))
            .transpose()?;
        match cmdb::create_ci(&s.app, &u.actor, input, key).await {
            Ok(ci) => Ok(see_other(&format!("/cmdb/{}", ci.id))),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => {
                let page = new_view(&s, &u, &type_id, CiValues::from_fields(&f), Some(&e)).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

// --- one CI ---

struct RelRow {
    r: RelationshipView,
    /// "runs on" from the source's side, "runs on it" from the target's.
    label: String,
    other_id: i64,
    other_name: String,
}

#[derive(Template)]
#[template(path = "cmdb_ci.html")]
struct CiPage {
    c: Chrome,
    manage: bool,
    ci: CiView,
    type_name: String,
    status: String,
    /// (label, value) of each attribute with a value.
    attrs: Vec<(String, String)>,
    outgoing: Vec<RelRow>,
    incoming: Vec<RelRow>,
    relations: Vec<Pick>,
    impact: ImpactView,
    svg: String,
    history: Vec<HistoryEntry>,
    v: CiValues,
    ch: Option<CiChoices>,
    error: Option<String>,
    error_field: String,
    links: super::links::LinksPanel,
}

async fn ci_view(
    s: &AppState,
    u: &WebUser,
    id: i64,
    typed: Option<&Fields>,
    error: Option<&AppError>,
) -> Result<CiPage, AppError> {
    let c = Chrome::new(u, "cmdb");
    let zh = c.i == Lang::ZhCn;
    let ci = cmdb::get_ci(&s.app, &u.actor, id).await?;
    let t = cmdb::get_type(&s.app, &u.actor, ci.type_id).await?;
    let rels = graph::list_relationships(
        &s.app,
        &u.actor,
        &RelationshipQuery {
            ci_id: Some(id),
            limit: Some(500),
            cursor: None,
        },
    )
    .await?
    .items;
    let (mut outgoing, mut incoming) = (Vec::new(), Vec::new());
    for r in rels {
        if r.source_id == id {
            outgoing.push(RelRow {
                label: c.label("cmdb-rel", &r.relation),
                other_id: r.target_id,
                other_name: r.target_name.clone(),
                r,
            });
        } else {
            incoming.push(RelRow {
                label: c.label("cmdb-rel-in", &r.relation),
                other_id: r.source_id,
                other_name: r.source_name.clone(),
                r,
            });
        }
    }
    let impact = cmdb::impact(&s.app, &u.actor, id, None).await?;
    let svg = diagram::draw(&c, &impact);
    let history = cmdb::history(&s.app, &u.actor, id).await?;
    let attrs = t
        .attributes
        .iter()
        .filter_map(|a| {
            ci.attributes.get(&a.name).map(|v| {
                (
                    if zh {
                        a.label_zh.clone()
                    } else {
                        a.label_en.clone()
                    },
                    v.clone(),
                )
            })
        })
        .collect();
    let v = match typed {
        Some(f) => CiValues::from_fields(f),
        None => CiValues::from_ci(&ci),
    };
    let manage = can_manage(u);
    let ch = if manage {
        Some(ci_choices(s, u, &c, &t, &v).await?)
    } else {
        None
    };
    let links = super::links::panel(&s.app, u, steward_core::RecordKind::Ci, ci.id).await?;
    Ok(CiPage {
        links,
        manage,
        type_name: t.name(zh).to_string(),
        status: c.label("cmdb-status", &ci.status),
        attrs,
        outgoing,
        incoming,
        relations: Relation::ALL
            .iter()
            .map(|r| Pick {
                value: r.as_str().into(),
                label: c.label("cmdb-rel", r.as_str()),
                on: false,
            })
            .collect(),
        impact,
        svg,
        history,
        v,
        ch,
        error: error.map(|e| describe(u.lang, e)),
        error_field: error.map(super::portal::error_field).unwrap_or_default(),
        ci,
        c,
    })
}

async fn ci_page(State(s): State<AppState>, u: WebUser, Path(id): Path<i64>) -> Response {
    let r = async {
        let page = ci_view(&s, &u, id, None, None).await?;
        Ok(render(StatusCode::OK, &page))
    }
    .await;
    finish(&u, r)
}

async fn update_ci(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let patch = CiPatch {
            name: Some(f.get("name").into()),
            status: Some(f.get("status").into()),
            owner_id: Some(opt_id(&f, "owner_id")?),
            team_id: Some(opt_id(&f, "team_id")?),
            service_id: Some(opt_id(&f, "service_id")?),
            organization_id: Some(opt_id(&f, "organization_id")?),
            attributes: Some(form_attributes(&f)),
            description: Some(f.get("description").into()),
        };
        match cmdb::update_ci(&s.app, &u.actor, id, patch, f.version()).await {
            Ok(_) => Ok(see_other(&format!("/cmdb/{id}"))),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => {
                let typed = (!matches!(e, AppError::Stale)).then_some(&f);
                let page = ci_view(&s, &u, id, typed, Some(&e)).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

async fn add_relationship(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let other = match form::ci_refs("other_id", f.get("other_id"))?[..] {
            [other] => other,
            [] => return Err(AppError::invalid("other_id", "is required")),
            _ => return Err(AppError::invalid("other_id", "name one CI")),
        };
        let (source_id, target_id) = if f.get("direction") == "in" {
            (other, id)
        } else {
            (id, other)
        };
        let input = RelationshipInput {
            source_id,
            target_id,
            relation: f.get("relation").into(),
        };
        match graph::create_relationship(&s.app, &u.actor, input).await {
            Ok(_) => Ok(see_other(&format!("/cmdb/{id}"))),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => {
                let page = ci_view(&s, &u, id, None, Some(&e)).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

async fn remove_relationship(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path((id, rid)): Path<(i64, i64)>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        graph::delete_relationship(&s.app, &u.actor, rid).await?;
        Ok(see_other(&format!("/cmdb/{id}")))
    }
    .await;
    finish(&u, r)
}

// --- CI types ---

/// One row of the attribute set form.
struct AttrRow {
    name: String,
    label_zh: String,
    label_en: String,
    kind: String,
    required: bool,
}

const BLANK_ROWS: usize = 3;

fn attr_rows(specs: &[AttributeSpec]) -> Vec<AttrRow> {
    let mut rows: Vec<AttrRow> = specs
        .iter()
        .map(|a| AttrRow {
            name: a.name.clone(),
            label_zh: a.label_zh.clone(),
            label_en: a.label_en.clone(),
            kind: a.kind.clone(),
            required: a.required,
        })
        .collect();
    for _ in 0..BLANK_ROWS {
        rows.push(AttrRow {
            name: String::new(),
            label_zh: String::new(),
            label_en: String::new(),
            kind: "text".into(),
            required: false,
        });
    }
    rows
}

/// The attribute rows of a submitted form (`attr_name_N` ...); rows with a blank name are
/// left out.
fn form_specs(f: &Fields) -> Vec<AttributeSpec> {
    let mut out = Vec::new();
    for i in 0.. {
        let name = format!("attr_name_{i}");
        if !f.has(&name) {
            break;
        }
        if f.get(&name).trim().is_empty() {
            continue;
        }
        out.push(AttributeSpec {
            name: f.get(&name).into(),
            label_zh: f.get(&format!("attr_label_zh_{i}")).into(),
            label_en: f.get(&format!("attr_label_en_{i}")).into(),
            kind: f.get(&format!("attr_kind_{i}")).into(),
            required: f.has(&format!("attr_required_{i}")),
        });
    }
    out
}

fn kinds(c: &Chrome) -> Vec<(String, String)> {
    AttributeKind::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), c.label("cmdb-kind", k.as_str())))
        .collect()
}

#[derive(Template)]
#[template(path = "cmdb_types.html")]
struct TypesPage {
    c: Chrome,
    manage: bool,
    types: Vec<CiTypeView>,
    code: String,
    name_zh: String,
    name_en: String,
    rows: Vec<AttrRow>,
    kinds: Vec<(String, String)>,
    error: Option<String>,
    error_field: String,
}

async fn types_view(
    s: &AppState,
    u: &WebUser,
    typed: Option<&Fields>,
    error: Option<&AppError>,
) -> Result<TypesPage, AppError> {
    let c = Chrome::new(u, "cmdb");
    let types = cmdb::list_types(&s.app, &u.actor).await?;
    let get = |n: &str| typed.map(|f| f.get(n).to_string()).unwrap_or_default();
    Ok(TypesPage {
        manage: can_manage(u),
        types,
        code: get("code"),
        name_zh: get("name_zh"),
        name_en: get("name_en"),
        rows: attr_rows(&typed.map(form_specs).unwrap_or_default()),
        kinds: kinds(&c),
        error: error.map(|e| describe(u.lang, e)),
        error_field: error.map(super::portal::error_field).unwrap_or_default(),
        c,
    })
}

async fn types_page(State(s): State<AppState>, u: WebUser) -> Response {
    let r = async {
        let page = types_view(&s, &u, None, None).await?;
        Ok(render(StatusCode::OK, &page))
    }
    .await;
    finish(&u, r)
}

async fn create_type(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let input = CiTypeInput {
            code: f.get("code").into(),
            name_zh: f.get("name_zh").into(),
            name_en: f.get("name_en").into(),
            attributes: form_specs(&f),
        };
        match cmdb::create_type(&s.app, &u.actor, input).await {
            Ok(t) => Ok(see_other(&format!("/cmdb/types/{}", t.id))),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => {
                let page = types_view(&s, &u, Some(&f), Some(&e)).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

#[derive(Template)]
#[template(path = "cmdb_type.html")]
struct TypePage {
    c: Chrome,
    manage: bool,
    t: CiTypeView,
    name_zh: String,
    name_en: String,
    rows: Vec<AttrRow>,
    kinds: Vec<(String, String)>,
    error: Option<String>,
    error_field: String,
}

async fn type_view(
    s: &AppState,
    u: &WebUser,
    id: i64,
    typed: Option<&Fields>,
    error: Option<&AppError>,
) -> Result<TypePage, AppError> {
    let c = Chrome::new(u, "cmdb");
    let t = cmdb::get_type(&s.app, &u.actor, id).await?;
    let (name_zh, name_en, specs) = match typed {
        Some(f) => (
            f.get("name_zh").into(),
            f.get("name_en").into(),
            form_specs(f),
        ),
        None => (t.name_zh.clone(), t.name_en.clone(), t.attributes.clone()),
    };
    Ok(TypePage {
        manage: can_manage(u),
        name_zh,
        name_en,
        rows: attr_rows(&specs),
        kinds: kinds(&c),
        error: error.map(|e| describe(u.lang, e)),
        error_field: error.map(super::portal::error_field).unwrap_or_default(),
        t,
        c,
    })
}

async fn type_page(State(s): State<AppState>, u: WebUser, Path(id): Path<i64>) -> Response {
    let r = async {
        let page = type_view(&s, &u, id, None, None).await?;
        Ok(render(StatusCode::OK, &page))
    }
    .await;
    finish(&u, r)
}

async fn update_type(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let patch = CiTypePatch {
            name_zh: Some(f.get("name_zh").into()),
            name_en: Some(f.get("name_en").into()),
            attributes: Some(form_specs(&f)),
        };
        match cmdb::update_type(&s.app, &u.actor, id, patch, f.version()).await {
            Ok(_) => Ok(see_other(&format!("/cmdb/types/{id}"))),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => {
                let typed = (!matches!(e, AppError::Stale)).then_some(&f);
                let page = type_view(&s, &u, id, typed, Some(&e)).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

// --- import and export ---

#[derive(Template)]
#[template(path = "cmdb_import.html")]
struct ImportPage {
    c: Chrome,
    manage: bool,
    kind: String,
    report: Option<ImportReport>,
    error: Option<String>,
}

async fn import_page(State(s): State<AppState>, u: WebUser) -> Response {
    let r = async {
        cmdb::list_types(&s.app, &u.actor).await?;
        let page = ImportPage {
            c: Chrome::new(&u, "cmdb"),
            manage: can_manage(&u),
            kind: "cis".into(),
            report: None,
            error: None,
        };
        Ok(render(StatusCode::OK, &page))
    }
    .await;
    finish(&u, r)
}

async fn import(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    mp: Result<Multipart, MultipartRejection>,
) -> Response {
    let r = async {
        let mf = form::read_multipart(mp, cmdb_csv::IMPORT_BYTES).await?;
        form::check(&u, &headers, &mf.fields)?;
        let kind = if mf.fields.get("kind") == "relationships" {
            "relationships"
        } else {
            "cis"
        };
        let file = mf
            .file
            .ok_or_else(|| AppError::invalid("file", "is required"))?;
        let result = if kind == "cis" {
            cmdb_csv::import_cis(&s.app, &u.actor, &file.bytes).await
        } else {
            cmdb_csv::import_relationships(&s.app, &u.actor, &file.bytes).await
        };
        let (status, report, error) = match result {
            Ok(rep) => (StatusCode::OK, Some(rep), None),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => return Err(e),
            Err(e) => (status_of(&e), None, Some(describe(u.lang, &e))),
        };
        let page = ImportPage {
            c: Chrome::new(&u, "cmdb"),
            manage: can_manage(&u),
            kind: kind.into(),
            report,
            error,
        };
        Ok(render(status, &page))
    }
    .await;
    finish(&u, r)
}

fn csv_download(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

async fn export_cis(State(s): State<AppState>, u: WebUser) -> Response {
    let r = async {
        Ok(csv_download(
            "cis.csv",
            cmdb_csv::export_cis(&s.app, &u.actor).await?,
        ))
    }
    .await;
    finish(&u, r)
}

async fn export_relationships(State(s): State<AppState>, u: WebUser) -> Response {
    let r = async {
        Ok(csv_download(
            "ci-relationships.csv",
            cmdb_csv::export_relationships(&s.app, &u.actor).await?,
        ))
    }
    .await;
    finish(&u, r)
}
