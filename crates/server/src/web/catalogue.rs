//! Catalogue pages: the admin pages for services and request types (with a form builder of
//! one row per field), the portal catalogue with the rendered request form, the approvals
//! page for approvers, and the answers/approval panel of the ticket page.

use super::form::{self, Fields};
use super::session::WebUser;
use super::{describe, finish, render, see_other, status_of, Chrome};
use crate::app::accounts;
use crate::app::approvals::{self, ApprovalView, DecisionInput};
use crate::app::attachments;
use crate::app::catalogue::{
    self, RequestTypeInput, RequestTypePatch, RequestTypeView, ServiceInput, ServicePatch,
    ServiceView, SubmitRequestInput, LIFECYCLES,
};
use crate::app::idempotency::IdempotencyKey;
use crate::app::views::TicketView;
use crate::app::AppError;
use crate::http::AppState;
use askama::Template;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashMap;
use steward_core::form::{Answer, Answers, ChoiceOption, FieldKind, FormField};
use steward_core::Capability;
use steward_store::accounts::UserFilter;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/services",
            get(admin_services).post(admin_create_service),
        )
        .route(
            "/admin/services/{id}",
            get(admin_service).post(admin_update_service),
        )
        .route(
            "/admin/services/{id}/request-types",
            post(admin_create_request_type),
        )
        .route(
            "/admin/request-types/{id}",
            get(admin_request_type).post(admin_update_request_type),
        )
        .route("/portal/catalogue", get(portal_catalogue))
        .route(
            "/portal/request-types/{id}",
            get(portal_form)
                .post(portal_submit)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/approvals", get(approvals_page))
        .route("/approvals/{id}", post(approvals_decide))
}

fn zh(u: &WebUser) -> bool {
    u.lang == crate::i18n::Lang::ZhCn
}

/// The answers of a request as (label, value) rows in the form's order and the reader's
/// language, choices shown by their labels and users by their names (`names`, by id).
/// Keys the form no longer has come last, as keys.
pub fn answer_rows(
    form: &[steward_core::form::FormField],
    answers: Option<&serde_json::Value>,
    zh: bool,
    names: &HashMap<i64, String>,
) -> Vec<(String, String)> {
    let Some(serde_json::Value::Object(m)) = answers else {
        return vec![];
    };
    let text = |field: Option<&steward_core::form::FormField>, v: &serde_json::Value| {
        let label_of = |s: &str| {
            field
                .and_then(|f| f.options.iter().find(|o| o.value == s))
                .map(|o| {
                    if zh {
                        o.label_zh.clone()
                    } else {
                        o.label_en.clone()
                    }
                })
                .unwrap_or_else(|| s.to_string())
        };
        match v {
            serde_json::Value::Number(n) if field.is_some_and(|f| f.kind == FieldKind::User) => {
                match n.as_i64().and_then(|id| names.get(&id)) {
                    Some(name) => name.clone(),
                    None => format!("#{n}"),
                }
            }
            serde_json::Value::String(s) => label_of(s),
            serde_json::Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map(label_of).unwrap_or_else(|| x.to_string()))
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        }
    };
    let mut rows: Vec<(String, String)> = form
        .iter()
        .filter_map(|f| {
            m.get(&f.key).map(|v| {
                let label = if zh { &f.label_zh } else { &f.label_en };
                (label.clone(), text(Some(f), v))
            })
        })
        .collect();
    for (k, v) in m {
        if !form.iter().any(|f| &f.key == k) {
            rows.push((k.clone(), text(None, v)));
        }
    }
    rows
}

/// The labelled answers of a request, with the names of the people its user fields name.
async fn labelled_answers(
    app: &crate::app::App,
    form: &[FormField],
    answers: Option<&serde_json::Value>,
    zh: bool,
) -> Vec<(String, String)> {
    let names = catalogue::answer_user_names(app, form, answers)
        .await
        .unwrap_or_default();
    answer_rows(form, answers, zh, &names)
}

/// The labelled answers of a ticket made from a request type the actor can read.
pub async fn ticket_answers(
    app: &crate::app::App,
    actor: &crate::app::Actor,
    t: &TicketView,
    zh: bool,
) -> Vec<(String, String)> {
    let form = match t.request_type_id {
        Some(id) => crate::app::catalogue::get_request_type(app, actor, id)
            .await
            .map(|r| r.form)
            .unwrap_or_default(),
        None => return vec![],
    };
    labelled_answers(app, &form, t.form_answers.as_ref(), zh).await
}

// --- admin ---

/// One entry of a select or checkbox list of records.
struct Pick {
    id: i64,
    label: String,
    on: bool,
}

/// Picks from (id, label) pairs, marking the chosen ones; a chosen id the list lacks (a
/// record the list leaves out) is kept, shown by its id, so that saving does not drop it.
fn picks(items: Vec<(i64, String)>, chosen: &[i64]) -> Vec<Pick> {
    let mut out: Vec<Pick> = items
        .into_iter()
        .map(|(id, label)| Pick {
            id,
            label,
            on: chosen.contains(&id),
        })
        .collect();
    for id in chosen {
        if !out.iter().any(|p| p.id == *id) {
            out.push(Pick {
                id: *id,
                label: format!("#{id}"),
                on: true,
            });
        }
    }
    out
}

/// Ids of a select or checkbox field as typed, ignoring anything that is not an id (for
/// showing a form again; saving reads them strictly).
fn typed_ids(f: &Fields, name: &str) -> Vec<i64> {
    f.all(name)
        .into_iter()
        .filter_map(|v| v.trim().parse().ok())
        .collect()
}

/// Active staff, labelled with their role, for the owner select and the approver list;
/// inactive ones only when already chosen.
async fn staff_items(
    s: &AppState,
    u: &WebUser,
    chosen: &[i64],
) -> Result<Vec<(i64, String)>, AppError> {
    let filter = UserFilter {
        staff_only: true,
        limit: 500,
        ..Default::default()
    };
    let mut users = accounts::list_users(&s.app, &u.actor, filter).await?;
    users.retain(|x| x.active || chosen.contains(&x.id));
    users.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(users
        .into_iter()
        .map(|x| {
            let mut label = format!("{} · {}", x.name, super::label(u.lang, "role", &x.role));
            if !x.active {
                label.push_str(&format!(" · {}", u.lang.t("catalogue-user-inactive")));
            }
            (x.id, label)
        })
        .collect())
}

/// What a service form shows: a service's values, or what was typed.
#[derive(Default)]
struct ServiceValues {
    code: String,
    name_zh: String,
    name_en: String,
    description_zh: String,
    description_en: String,
    lifecycle: String,
    owner_id: Option<i64>,
    team_id: Option<i64>,
    customer_ids: Vec<i64>,
    related_ids: Vec<i64>,
}

impl ServiceValues {
    fn from_view(v: &ServiceView) -> ServiceValues {
        ServiceValues {
            code: v.code.clone(),
            name_zh: v.name_zh.clone(),
            name_en: v.name_en.clone(),
            description_zh: v.description_zh.clone(),
            description_en: v.description_en.clone(),
            lifecycle: v.lifecycle.clone(),
            owner_id: v.owner_id,
            team_id: v.team_id,
            customer_ids: v.customer_ids.clone(),
            related_ids: v.related_ids.clone(),
        }
    }

    fn from_fields(f: &Fields) -> ServiceValues {
        ServiceValues {
            code: f.get("code").into(),
            name_zh: f.get("name_zh").into(),
            name_en: f.get("name_en").into(),
            description_zh: f.get("description_zh").into(),
            description_en: f.get("description_en").into(),
            lifecycle: f.get("lifecycle").into(),
            owner_id: typed_ids(f, "owner_id").first().copied(),
            team_id: typed_ids(f, "team_id").first().copied(),
            customer_ids: typed_ids(f, "customer_ids"),
            related_ids: typed_ids(f, "related_ids"),
        }
    }
}

/// The choices of a service form: owners, teams, customer organisations, other services.
struct ServiceChoices {
    owners: Vec<Pick>,
    teams: Vec<Pick>,
    customers: Vec<Pick>,
    related: Vec<Pick>,
}

async fn service_choices(
    s: &AppState,
    u: &WebUser,
    v: &ServiceValues,
    this: Option<i64>,
) -> Result<ServiceChoices, AppError> {
    let owner: Vec<i64> = v.owner_id.into_iter().collect();
    let team: Vec<i64> = v.team_id.into_iter().collect();
    let teams = accounts::list_teams(&s.app, &u.actor)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let orgs = accounts::list_orgs(&s.app, &u.actor)
        .await?
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    let zh = zh(u);
    let services = catalogue::list_services(&s.app, &u.actor)
        .await?
        .into_iter()
        .filter(|x| Some(x.id) != this)
        .map(|x| (x.id, format!("{} · {}", x.code, x.name(&zh))))
        .collect();
    Ok(ServiceChoices {
        owners: picks(staff_items(s, u, &owner).await?, &owner),
        teams: picks(teams, &team),
        customers: picks(orgs, &v.customer_ids),
        related: picks(services, &v.related_ids),
    })
}

/// Reads the ids of a service form strictly: anything but an id is an error naming the field.
struct ServiceRefs {
    owner_id: Option<i64>,
    team_id: Option<i64>,
    customer_ids: Vec<i64>,
    related_ids: Vec<i64>,
}

fn service_refs(f: &Fields) -> Result<ServiceRefs, AppError> {
    Ok(ServiceRefs {
        owner_id: f.id("owner_id")?,
        team_id: f.id("team_id")?,
        customer_ids: f.ids("customer_ids")?,
        related_ids: f.ids("related_ids")?,
    })
}

#[derive(Template)]
#[template(path = "catalogue_services.html")]
struct ServicesPage {
    c: Chrome,
    services: Vec<ServiceView>,
    zh: bool,
    lifecycles: Vec<&'static str>,
    v: ServiceValues,
    ch: ServiceChoices,
    error: Option<String>,
    error_field: String,
}

fn require_manager(u: &WebUser) -> Result<(), AppError> {
    u.actor.require(Capability::ManageServiceLevels)
}

async fn services_page(
    s: &AppState,
    u: &WebUser,
    v: ServiceValues,
    error: Option<&AppError>,
) -> Result<ServicesPage, AppError> {
    let services = catalogue::list_services(&s.app, &u.actor).await?;
    let ch = service_choices(s, u, &v, None).await?;
    Ok(ServicesPage {
        c: Chrome::new(u, "catalogue"),
        services,
        zh: zh(u),
        lifecycles: LIFECYCLES.to_vec(),
        v,
        ch,
        error: error.map(|e| catalogue_error(u, e, &[])),
        error_field: error.map(super::portal::error_field).unwrap_or_default(),
    })
}

async fn admin_services(State(s): State<AppState>, u: WebUser) -> Response {
    let r = async {
        require_manager(&u)?;
        Ok(render(
            StatusCode::OK,
            &services_page(&s, &u, ServiceValues::default(), None).await?,
        ))
    }
    .await;
    finish(&u, r)
}

async fn admin_create_service(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        require_manager(&u)?;
        let result = async {
            let refs = service_refs(&f)?;
            let input = ServiceInput {
                code: f.get("code").into(),
                name_zh: f.get("name_zh").into(),
                name_en: f.get("name_en").into(),
                description_zh: f.get("description_zh").into(),
                description_en: f.get("description_en").into(),
                owner_id: refs.owner_id,
                team_id: refs.team_id,
                lifecycle: f.opt("lifecycle"),
                customer_ids: refs.customer_ids,
                related_ids: refs.related_ids,
            };
            catalogue::create_service(&s.app, &u.actor, input, None).await
        }
        .await;
        match result {
            Ok(v) => Ok(see_other(&format!("/admin/services/{}", v.id))),
            Err(e @ AppError::Forbidden(_)) => Err(e),
            Err(e) => {
                let page = services_page(&s, &u, ServiceValues::from_fields(&f), Some(&e)).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

#[derive(Template)]
#[template(path = "catalogue_service.html")]
struct ServicePage {
    c: Chrome,
    s: ServiceView,
    types: Vec<RequestTypeView>,
    zh: bool,
    lifecycles: Vec<&'static str>,
    v: ServiceValues,
    version: i64,
    ch: ServiceChoices,
    error: Option<String>,
    error_field: String,
    /// What the "add request type" form had when adding failed: (name_zh, name_en), error.
    new_type: (String, String),
    type_error: Option<String>,
}

/// The service page: the saved service, or (`typed`) the form as submitted with its version,
/// when a save failed for a reason other than a newer version.
async fn service_page(
    s: &AppState,
    u: &WebUser,
    id: i64,
    typed: Option<&Fields>,
    error: Option<&AppError>,
) -> Result<ServicePage, AppError> {
    let sv = catalogue::get_service(&s.app, &u.actor, id).await?;
    let types = catalogue::list_request_types(&s.app, &u.actor, id).await?;
    let (v, version) = match typed {
        Some(f) => (
            ServiceValues::from_fields(f),
            f.version().unwrap_or(sv.version),
        ),
        None => (ServiceValues::from_view(&sv), sv.version),
    };
    let ch = service_choices(s, u, &v, Some(id)).await?;
    Ok(ServicePage {
        c: Chrome::new(u, "catalogue"),
        s: sv,
        types,
        zh: zh(u),
        lifecycles: LIFECYCLES.to_vec(),
        v,
        version,
        ch,
        error: error.map(|e| catalogue_error(u, e, &[])),
        error_field: error.map(super::portal::error_field).unwrap_or_default(),
        new_type: Default::default(),
        type_error: None,
    })
}

/// What went wrong with a catalogue form, in the user's language: the catalogue's own
/// rules get their own words, a newer version is explained, and a request form's answer is
/// named by its field's label.
fn catalogue_error(u: &WebUser, e: &AppError, form: &[FormField]) -> String {
    let key = match e {
        AppError::Stale => Some("catalogue-stale"),
        AppError::Invalid { field, message } => match (field.as_str(), message.as_str()) {
            ("code", m) if m.starts_with("must be letters") => Some("catalogue-invalid-code"),
            ("code", "a service with this code exists") => Some("catalogue-code-taken"),
            ("approval_rule", m) if m.starts_with("team_lead needs") => {
                Some("catalogue-team-lead-needs-team")
            }
            ("approver_ids", m) if m.starts_with("is required") => {
                Some("catalogue-approvers-required")
            }
            ("request_type_id", "nobody can approve this request") => {
                Some("catalogue-nobody-approves")
            }
            _ => None,
        },
        _ => None,
    };
    if let Some(key) = key {
        return u.lang.t(key);
    }
    if let AppError::Invalid { field, message } = e {
        let answer = field
            .strip_prefix("answers.")
            .and_then(|k| form.iter().find(|f| f.key == k));
        if let Some(f) = answer {
            let label = if zh(u) { &f.label_zh } else { &f.label_en };
            return describe(u.lang, &AppError::invalid(label, message.clone()));
        }
    }
    describe(u.lang, e)
}

async fn admin_service(State(s): State<AppState>, u: WebUser, Path(id): Path<i64>) -> Response {
    let r = async {
        require_manager(&u)?;
        Ok(render(
            StatusCode::OK,
            &service_page(&s, &u, id, None, None).await?,
        ))
    }
    .await;
    finish(&u, r)
}

async fn admin_update_service(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let result = async {
            let refs = service_refs(&f)?;
            let patch = ServicePatch {
                code: Some(f.get("code").into()),
                name_zh: Some(f.get("name_zh").into()),
                name_en: Some(f.get("name_en").into()),
                description_zh: Some(f.get("description_zh").into()),
                description_en: Some(f.get("description_en").into()),
                owner_id: Some(refs.owner_id),
                team_id: Some(refs.team_id),
                lifecycle: f.opt("lifecycle"),
                customer_ids: Some(refs.customer_ids),
                related_ids: Some(refs.related_ids),
            };
            catalogue::update_service(&s.app, &u.actor, id, patch, f.version()).await
        }
        .await;
        match result {
            Ok(_) => Ok(see_other(&format!("/admin/services/{id}"))),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => {
                // A newer version: show it, not the stale form.
                let typed = (!matches!(e, AppError::Stale)).then_some(&f);
                let page = service_page(&s, &u, id, typed, Some(&e)).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

async fn admin_create_request_type(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let input = RequestTypeInput {
            name_zh: f.get("name_zh").into(),
            name_en: f.get("name_en").into(),
            description_zh: String::new(),
            description_en: String::new(),
            form: vec![],
            approval_rule: Some("none".into()),
            approver_ids: vec![],
            active: Some(false),
        };
        match catalogue::create_request_type(&s.app, &u.actor, id, input, None).await {
            Ok(v) => Ok(see_other(&format!("/admin/request-types/{}", v.id))),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => {
                let mut page = service_page(&s, &u, id, None, None).await?;
                page.new_type = (f.get("name_zh").into(), f.get("name_en").into());
                page.type_error = Some(catalogue_error(&u, &e, &[]));
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

/// One row of the form builder, as its inputs show it.
struct FieldRow {
    order: String,
    key: String,
    kind: String,
    required: bool,
    label_zh: String,
    label_en: String,
    /// One option per line: `value | 中文 | English`.
    options: String,
    max_length: String,
    min: String,
    max: String,
    remove: bool,
}

impl FieldRow {
    fn from_field(i: usize, f: &FormField) -> FieldRow {
        let num = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
        FieldRow {
            order: i.to_string(),
            key: f.key.clone(),
            kind: f.kind.as_str().into(),
            required: f.required,
            label_zh: f.label_zh.clone(),
            label_en: f.label_en.clone(),
            options: f
                .options
                .iter()
                .map(|o| format!("{} | {} | {}", o.value, o.label_zh, o.label_en))
                .collect::<Vec<_>>()
                .join("\n"),
            max_length: f.max_length.map(|v| v.to_string()).unwrap_or_default(),
            min: num(f.min),
            max: num(f.max),
            remove: false,
        }
    }

    fn blank(i: usize) -> FieldRow {
        FieldRow {
            order: i.to_string(),
            key: String::new(),
            kind: "text".into(),
            required: false,
            label_zh: String::new(),
            label_en: String::new(),
            options: String::new(),
            max_length: String::new(),
            min: String::new(),
            max: String::new(),
            remove: false,
        }
    }

    /// The rows as submitted (`field_N_*`), every row that has something in it, in the
    /// order they were on the page.
    fn typed(f: &Fields) -> Vec<FieldRow> {
        let mut rows = Vec::new();
        let mut n = 0usize;
        while f.has(&format!("field_{n}_key")) {
            let g = |name: &str| f.get(&format!("field_{n}_{name}")).to_string();
            let row = FieldRow {
                order: g("order"),
                key: g("key"),
                kind: g("kind"),
                required: f.has(&format!("field_{n}_required")),
                label_zh: g("label_zh"),
                label_en: g("label_en"),
                options: g("options"),
                max_length: g("max_length"),
                min: g("min"),
                max: g("max"),
                remove: f.has(&format!("field_{n}_remove")),
            };
            n += 1;
            let filled = [
                &row.key,
                &row.label_zh,
                &row.label_en,
                &row.options,
                &row.max_length,
                &row.min,
                &row.max,
            ]
            .iter()
            .any(|v| !v.trim().is_empty());
            if filled {
                rows.push(row);
            }
        }
        rows
    }
}

/// What the request type form shows: the saved request type, or what was typed.
struct RequestTypeValues {
    name_zh: String,
    name_en: String,
    description_zh: String,
    description_en: String,
    approval_rule: String,
    active: bool,
    version: i64,
}

#[derive(Template)]
#[template(path = "catalogue_request_type.html")]
struct RequestTypePage {
    c: Chrome,
    r: RequestTypeView,
    v: RequestTypeValues,
    rows: Vec<FieldRow>,
    kinds: Vec<&'static str>,
    rules: Vec<&'static str>,
    approvers: Vec<Pick>,
    error: Option<String>,
    error_field: String,
}

/// The request type page: the saved request type, or (`typed`) the form as submitted, with
/// its version, when a save failed for a reason other than a newer version.
async fn request_type_page(
    s: &AppState,
    u: &WebUser,
    id: i64,
    typed: Option<&Fields>,
    error: Option<&AppError>,
) -> Result<RequestTypePage, AppError> {
    let r = catalogue::get_request_type(&s.app, &u.actor, id).await?;
    let (v, mut rows, chosen) = match typed {
        Some(f) => (
            RequestTypeValues {
                name_zh: f.get("name_zh").into(),
                name_en: f.get("name_en").into(),
                description_zh: f.get("description_zh").into(),
                description_en: f.get("description_en").into(),
                approval_rule: f.get("approval_rule").into(),
                active: f.has("active"),
                version: f.version().unwrap_or(r.version),
            },
            FieldRow::typed(f),
            typed_ids(f, "approver_ids"),
        ),
        None => (
            RequestTypeValues {
                name_zh: r.name_zh.clone(),
                name_en: r.name_en.clone(),
                description_zh: r.description_zh.clone(),
                description_en: r.description_en.clone(),
                approval_rule: r.approval_rule.clone(),
                active: r.active,
                version: r.version,
            },
            r.form
                .iter()
                .enumerate()
                .map(|(i, f)| FieldRow::from_field(i, f))
                .collect(),
            r.approver_ids.clone(),
        ),
    };
    rows.push(FieldRow::blank(rows.len()));
    let approvers = picks(staff_items(s, u, &chosen).await?, &chosen);
    Ok(RequestTypePage {
        c: Chrome::new(u, "catalogue"),
        r,
        v,
        rows,
        kinds: FieldKind::ALL.iter().map(|k| k.as_str()).collect(),
        rules: approvals::RULES.to_vec(),
        approvers,
        error: error.map(|e| catalogue_error(u, e, &[])),
        error_field: error.map(super::portal::error_field).unwrap_or_default(),
    })
}

async fn admin_request_type(
    State(s): State<AppState>,
    u: WebUser,
    Path(id): Path<i64>,
) -> Response {
    let r = async {
        require_manager(&u)?;
        Ok(render(
            StatusCode::OK,
            &request_type_page(&s, &u, id, None, None).await?,
        ))
    }
    .await;
    finish(&u, r)
}

/// Reads the builder rows: `field_N_*` for N = 0.., skipping blank and removed rows, ordered
/// by each row's `order` number.
fn read_rows(f: &Fields) -> Result<Vec<FormField>, AppError> {
    let mut rows: Vec<(f64, usize, FormField)> = Vec::new();
    let mut n = 0usize;
    while f.has(&format!("field_{n}_key")) {
        let i = n;
        n += 1;
        let g = |name: &str| f.get(&format!("field_{i}_{name}")).trim().to_string();
        if g("key").is_empty() || f.has(&format!("field_{i}_remove")) {
            continue;
        }
        let kind: FieldKind = g("kind")
            .parse()
            .map_err(|_| AppError::invalid(&format!("form[{i}].kind"), "is not a field kind"))?;
        let num = |name: &str| -> Result<Option<f64>, AppError> {
            let v = g(name);
            if v.is_empty() {
                return Ok(None);
            }
            v.parse()
                .map(Some)
                .map_err(|_| AppError::invalid(&format!("form[{i}].{name}"), "must be a number"))
        };
        let options = g("options")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let parts: Vec<&str> = l.split('|').map(str::trim).collect();
                ChoiceOption {
                    value: parts.first().copied().unwrap_or_default().to_string(),
                    label_zh: parts
                        .get(1)
                        .or(parts.first())
                        .copied()
                        .unwrap_or_default()
                        .to_string(),
                    label_en: parts
                        .get(2)
                        .or(parts.first())
                        .copied()
                        .unwrap_or_default()
                        .to_string(),
                }
            })
            .collect();
        let max_length = num("max_length")?.map(|v| v.max(0.0) as u32);
        let order = num("order")?.unwrap_or(i as f64);
        rows.push((
            order,
            i,
            FormField {
                key: g("key"),
                kind,
                required: f.has(&format!("field_{i}_required")),
                label_zh: g("label_zh"),
                label_en: g("label_en"),
                options,
                min_length: None,
                max_length,
                min: num("min")?,
                max: num("max")?,
            },
        ));
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    Ok(rows.into_iter().map(|(_, _, f)| f).collect())
}

async fn admin_update_request_type(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let result = async {
            let patch = RequestTypePatch {
                name_zh: Some(f.get("name_zh").into()),
                name_en: Some(f.get("name_en").into()),
                description_zh: Some(f.get("description_zh").into()),
                description_en: Some(f.get("description_en").into()),
                form: Some(read_rows(&f)?),
                approval_rule: f.opt("approval_rule"),
                // Named approvers belong to the any and all rules only; ticks left over from
                // one of them do not stop a switch to another rule.
                approver_ids: Some(match f.get("approval_rule") {
                    "any" | "all" => f.ids("approver_ids")?,
                    _ => vec![],
                }),
                active: Some(f.has("active")),
            };
            catalogue::update_request_type(&s.app, &u.actor, id, patch, f.version()).await
        }
        .await;
        match result {
            Ok(_) => Ok(see_other(&format!("/admin/request-types/{id}"))),
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => {
                let typed = (!matches!(e, AppError::Stale)).then_some(&f);
                let page = request_type_page(&s, &u, id, typed, Some(&e)).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

// --- portal ---

struct CatalogueEntry {
    service: ServiceView,
    types: Vec<RequestTypeView>,
}

#[derive(Template)]
#[template(path = "catalogue_portal.html")]
struct PortalCataloguePage {
    c: Chrome,
    entries: Vec<CatalogueEntry>,
    zh: bool,
}

async fn portal_catalogue(State(s): State<AppState>, u: WebUser) -> Response {
    let r = async {
        u.actor.require(Capability::SubmitTicket)?;
        let mut entries = Vec::new();
        for service in catalogue::list_services(&s.app, &u.actor).await? {
            if service.lifecycle != "live" {
                continue;
            }
            let types: Vec<RequestTypeView> =
                catalogue::list_request_types(&s.app, &u.actor, service.id)
                    .await?
                    .into_iter()
                    .filter(|t| t.active)
                    .collect();
            entries.push(CatalogueEntry { service, types });
        }
        Ok(render(
            StatusCode::OK,
            &PortalCataloguePage {
                c: Chrome::new(&u, "catalogue-portal"),
                entries,
                zh: zh(&u),
            },
        ))
    }
    .await;
    finish(&u, r)
}

/// One field of the rendered request form, with what was entered.
struct InputRow {
    f: FormField,
    value: String,
    picked: Vec<String>,
}

#[derive(Template)]
#[template(path = "catalogue_form.html")]
struct RequestFormPage {
    c: Chrome,
    r: RequestTypeView,
    service: ServiceView,
    rows: Vec<InputRow>,
    zh: bool,
    title: String,
    description: String,
    nonce: String,
    error: Option<String>,
    error_field: String,
    /// The people a user field may name (id, name), the requester first; empty when the
    /// form has no user field.
    people: Vec<(i64, String)>,
    me: i64,
}

async fn form_page(
    s: &AppState,
    u: &WebUser,
    id: i64,
    fields: Option<&Fields>,
    error: Option<&AppError>,
) -> Result<RequestFormPage, AppError> {
    let (r, service) = catalogue::request_type_with_service(&s.app, &u.actor, id).await?;
    let rows = r
        .form
        .iter()
        .map(|f| InputRow {
            value: fields
                .map(|x| x.get(&format!("a_{}", f.key)).to_string())
                .unwrap_or_default(),
            picked: fields
                .map(|x| {
                    x.all(&format!("a_{}", f.key))
                        .into_iter()
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            f: f.clone(),
        })
        .collect();
    let people = if r.form.iter().any(|f| f.kind == FieldKind::User) {
        catalogue::nameable_users(&s.app, &u.actor).await?
    } else {
        vec![]
    };
    let error_text = error.map(|e| catalogue_error(u, e, &r.form));
    Ok(RequestFormPage {
        c: Chrome::new(u, "catalogue-portal"),
        people,
        me: u.actor.user_id,
        zh: zh(u),
        r,
        service,
        rows,
        title: fields
            .map(|x| x.get("title").to_string())
            .unwrap_or_default(),
        description: fields
            .map(|x| x.get("description").to_string())
            .unwrap_or_default(),
        nonce: form::form_nonce(),
        error: error_text,
        error_field: error.map(super::portal::error_field).unwrap_or_default(),
    })
}

async fn portal_form(State(s): State<AppState>, u: WebUser, Path(id): Path<i64>) -> Response {
    let r = async {
        u.actor.require(Capability::SubmitTicket)?;
        Ok(render(
            StatusCode::OK,
            &form_page(&s, &u, id, None, None).await?,
        ))
    }
    .await;
    finish(&u, r)
}

/// The portal form: every answer is `a_<key>`; multi-choice answers repeat; an attachment
/// field's file input is `file` (one file per request form), uploaded with the submission
/// and its name kept as the answer.
async fn portal_submit(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    mp: Result<Multipart, MultipartRejection>,
) -> Response {
    let r = async {
        let mf = form::read_multipart(mp, s.app.limits.attachment_bytes).await?;
        let f = &mf.fields;
        form::check(&u, &headers, f)?;
        let (r, _) = catalogue::request_type_with_service(&s.app, &u.actor, id).await?;
        let mut answers = Answers::new();
        for field in &r.form {
            let name = format!("a_{}", field.key);
            let value = match field.kind {
                FieldKind::MultiChoice => {
                    let v: Vec<String> = f.all(&name).into_iter().map(str::to_string).collect();
                    (!v.is_empty()).then_some(Answer::List(v))
                }
                FieldKind::Attachment => mf.file.as_ref().map(|u| Answer::Text(u.filename.clone())),
                _ => f.opt(&name).map(Answer::Text),
            };
            answers.insert(field.key.clone(), value);
        }
        let input = SubmitRequestInput {
            answers,
            title: f.opt("title"),
            description: f.get("description").to_string(),
            impact: None,
            urgency: None,
        };
        let key = f
            .opt("nonce")
            .map(|n| IdempotencyKey::parse(&format!("web-{n}"), format!("web request {id}")))
            .transpose()?;
        match catalogue::submit_request(&s.app, &u.actor, id, input, key).await {
            Ok(t) => {
                let has_attachment_field = r.form.iter().any(|x| x.kind == FieldKind::Attachment);
                if let Some(upload) = mf.file.filter(|_| has_attachment_field) {
                    attachments::add_attachment(&s.app, &u.actor, t.id, None, upload).await?;
                }
                Ok(see_other(&format!("/tickets/{}?done=created", t.id)))
            }
            Err(e @ (AppError::Forbidden(_) | AppError::NotFound)) => Err(e),
            Err(e) => {
                let page = form_page(&s, &u, id, Some(f), Some(&e)).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

// --- approvals ---

#[derive(Template)]
#[template(path = "approvals.html")]
struct ApprovalsPage {
    c: Chrome,
    pending: Vec<(ApprovalView, Vec<(String, String)>)>,
    decided: Vec<ApprovalView>,
    error: Option<String>,
}

async fn approvals_view(
    s: &AppState,
    u: &WebUser,
    error: Option<String>,
) -> Result<ApprovalsPage, AppError> {
    let mut pending = Vec::new();
    for a in approvals::my_approvals(
        &s.app,
        &u.actor,
        steward_store::catalogue::ApprovalState::Pending,
    )
    .await?
    {
        let detail = approvals::get_approval(&s.app, &u.actor, a.id).await?;
        let form = match detail.request_type_id {
            Some(id) => crate::app::catalogue::get_request_type(&s.app, &u.actor, id)
                .await
                .map(|r| r.form)
                .unwrap_or_default(),
            None => vec![],
        };
        let rows = labelled_answers(&s.app, &form, detail.form_answers.as_ref(), zh(u)).await;
        pending.push((a, rows));
    }
    let decided = approvals::my_approvals(
        &s.app,
        &u.actor,
        steward_store::catalogue::ApprovalState::Decided,
    )
    .await?;
    Ok(ApprovalsPage {
        c: Chrome::new(u, "approvals"),
        pending,
        decided,
        error,
    })
}

async fn approvals_page(State(s): State<AppState>, u: WebUser) -> Response {
    let r = async { Ok(render(StatusCode::OK, &approvals_view(&s, &u, None).await?)) }.await;
    finish(&u, r)
}

async fn approvals_decide(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    f: Fields,
) -> Response {
    let r = async {
        form::check(&u, &headers, &f)?;
        let input = DecisionInput {
            decision: f.get("decision").to_string(),
            comment: f.opt("comment"),
        };
        match approvals::decide(&s.app, &u.actor, id, input).await {
            Ok(_) => Ok(see_other("/approvals")),
            Err(e @ AppError::NotFound) => Err(e),
            Err(e) => {
                let page = approvals_view(&s, &u, Some(describe(u.lang, &e))).await?;
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}
