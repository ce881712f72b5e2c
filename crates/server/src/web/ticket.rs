//! The ticket page: header, description, a timeline of replies, internal notes and changes,
//! attachments, and the controls of whoever looks at it (the service desk works the ticket;
//! the requester replies, confirms, reopens or withdraws).

use super::desk::Choice;
use super::form::{self, Fields};
use super::session::WebUser;
use super::{describe, finish, render, see_other, status_of, Chrome, RESOLUTION_CODES};
use crate::app::attachments;
use crate::app::conversation::{self, NewCommentInput};
use crate::app::idempotency::IdempotencyKey;
use crate::app::tickets::{self, TicketPatch};
use crate::app::views::{self, AttachmentView, CommentView, HistoryEntry, TicketView};
use crate::app::{accounts, AppError};
use crate::http::AppState;
use askama::Template;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use std::collections::HashMap;
use steward_core::{Capability, Level, PendingReason, Priority, Role, Status};
use steward_store::accounts::UserFilter;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tickets/{id}", get(show))
        .route(
            "/tickets/{id}/reply",
            post(reply).layer(DefaultBodyLimit::disable()),
        )
        .route("/tickets/{id}/status", post(change_status))
        .route("/tickets/{id}/routing", post(change_routing))
        .route("/tickets/{id}/priority", post(change_priority))
        .route("/tickets/{id}/text", post(change_text))
        .route("/tickets/{id}/watch", post(change_watch))
}

/// One entry of the timeline: a reply or note, or the changes one person made at one time.
pub struct Item {
    pub anchor: String,
    pub when: String,
    pub actor: String,
    pub is_comment: bool,
    pub internal: bool,
    pub from_requester: bool,
    pub body: String,
    pub attachments: Vec<AttachmentView>,
    pub lines: Vec<String>,
    at: i64,
    seq: i64,
}

/// What to show besides the ticket: a success notice, or a form's error and what was typed.
#[derive(Default)]
pub struct Flash {
    pub notice: Option<String>,
    pub form: &'static str,
    pub error: Option<String>,
    pub status: Option<StatusCode>,
    pub draft: String,
    pub draft_internal: bool,
}

impl Flash {
    fn error(u: &WebUser, form: &'static str, e: &AppError) -> Flash {
        Flash {
            form,
            error: Some(describe(u.lang, e)),
            status: Some(status_of(e)),
            ..Default::default()
        }
    }
}

#[derive(Template)]
#[template(path = "ticket.html")]
struct TicketPage {
    c: Chrome,
    t: TicketView,
    /// Works tickets: status, routing, priority, internal notes.
    staff: bool,
    /// Sees internal notes (staff and auditors).
    sees_internal: bool,
    /// The requester's own controls: confirm, reopen, withdraw.
    requester_controls: bool,
    can_reply: bool,
    is_open: bool,
    is_resolved: bool,
    timeline: Vec<Item>,
    attachments: Vec<AttachmentView>,
    transitions: Vec<Choice>,
    pending_reasons: Vec<Choice>,
    resolution_codes: Vec<Choice>,
    teams: Vec<Choice>,
    assignees: Vec<Choice>,
    can_take: bool,
    impacts: Vec<Choice>,
    urgencies: Vec<Choice>,
    priorities: Vec<Choice>,
    flash: Flash,
    nonce: String,
    me: i64,
    /// SLA clocks and the major incident.
    panels: super::incident::Panels,
    /// The mail of this ticket (messages received, delivery failures).
    mail: Vec<super::mail::MailItem>,
    /// Links to problems, changes, CIs, articles and other tickets.
    links: super::links::LinksPanel,
    /// The knowledge articles that solved this ticket.
    kb: super::knowledge::TicketArticles,
}

impl TicketPage {
    fn form_error(&self, form: &str) -> Option<&str> {
        if self.flash.form == form {
            self.flash.error.as_deref()
        } else {
            None
        }
    }
}

fn parse_id(raw: &str) -> Result<i64, AppError> {
    raw.parse().map_err(|_| AppError::NotFound)
}

/// Errors a form can explain; the rest get the error page.
fn is_form_error(e: &AppError) -> bool {
    matches!(
        e,
        AppError::Invalid { .. }
            | AppError::TooLarge { .. }
            | AppError::Conflict { .. }
            | AppError::Stale
            | AppError::BadRequest(_)
    )
}

#[derive(Deserialize)]
struct ShowParams {
    done: Option<String>,
}

async fn show(
    State(s): State<AppState>,
    u: WebUser,
    Path(id): Path<String>,
    Query(p): Query<ShowParams>,
) -> Response {
    let notice = match p.done.as_deref() {
        Some(
            d @ ("created" | "reply" | "note" | "attached" | "status" | "routing" | "priority"
            | "text" | "watch" | "major" | "major-log" | "major-children" | "major-review"
            | "sla"),
        ) => Some(u.lang.t(&format!("done-{d}"))),
        _ => None,
    };
    let r = match parse_id(&id) {
        Ok(id) => {
            page(
                &s,
                &u,
                id,
                Flash {
                    notice,
                    ..Default::default()
                },
            )
            .await
        }
        Err(e) => Err(e),
    };
    finish(&u, r)
}

fn choice(value: &str, label: String, selected: bool) -> Choice {
    Choice {
        value: value.to_string(),
        label,
        selected,
    }
}

/// Renders the ticket page for this user.
pub async fn page(s: &AppState, u: &WebUser, id: i64, flash: Flash) -> Result<Response, AppError> {
    page_inner(s, u, id, flash, None).await
}

/// The ticket page with an error next to one of the service-level panels' forms.
pub async fn page_with_panel_error(
    s: &AppState,
    u: &WebUser,
    id: i64,
    mut flash: Flash,
    form: &'static str,
    error: String,
) -> Result<Response, AppError> {
    flash.status = Some(StatusCode::UNPROCESSABLE_ENTITY);
    page_inner(s, u, id, flash, Some((form, error))).await
}

async fn page_inner(
    s: &AppState,
    u: &WebUser,
    id: i64,
    flash: Flash,
    panel_error: Option<(&'static str, String)>,
) -> Result<Response, AppError> {
    let app = &s.app;
    let actor = &u.actor;
    let t = tickets::get_ticket(app, actor, id).await?;
    let comments = conversation::list_comments(app, actor, id).await?;
    let history = conversation::history(app, actor, id).await?;
    let files = attachments::list_attachments(app, actor, id).await?;
    let c = Chrome::new(
        u,
        if actor.role.is_staff() {
            "desk"
        } else {
            "portal"
        },
    );
    let staff = actor.can(Capability::EditTickets);
    let sees_internal = actor.can(Capability::InternalNotes);
    let status: Status = t.status.parse().unwrap_or(Status::New);
    let requester_controls = !staff && actor.can(Capability::SubmitTicket);
    let can_reply = !status.is_final() && (staff || actor.can(Capability::SubmitTicket));

    // Names for the history: teams and staff, for those allowed to look them up.
    let mut team_names: HashMap<i64, String> = HashMap::new();
    let mut user_names: HashMap<i64, String> = HashMap::new();
    let mut teams = Vec::new();
    let mut assignees = Vec::new();
    if sees_internal {
        for team in accounts::list_teams(app, actor).await? {
            team_names.insert(team.id, team.name.clone());
            teams.push(choice(
                &team.id.to_string(),
                team.name.clone(),
                t.team_id == Some(team.id),
            ));
        }
    }
    if staff {
        let members = accounts::list_users(
            app,
            actor,
            UserFilter {
                team_id: t.team_id,
                staff_only: true,
                limit: 500,
                ..Default::default()
            },
        )
        .await?;
        for m in &members {
            user_names.insert(m.id, m.name.clone());
            let works = m
                .role
                .parse::<Role>()
                .is_ok_and(|r| r.can(Capability::WorkTickets));
            if m.active && works {
                assignees.push(choice(
                    &m.id.to_string(),
                    m.name.clone(),
                    t.assignee_id == Some(m.id),
                ));
            }
        }
        if let (Some(a), Some(name)) = (t.assignee_id, &t.assignee_name) {
            if !assignees.iter().any(|c| c.selected) {
                assignees.push(choice(&a.to_string(), name.clone(), true));
            }
        }
    }
    if let (Some(a), Some(name)) = (t.assignee_id, &t.assignee_name) {
        user_names.insert(a, name.clone());
    }
    if sees_internal {
        for e in &history {
            if e.field.as_deref() == Some("assignee_id") {
                for v in [&e.old_value, &e.new_value].into_iter().flatten() {
                    if let Ok(uid) = v.parse::<i64>() {
                        if let std::collections::hash_map::Entry::Vacant(slot) =
                            user_names.entry(uid)
                        {
                            if let Ok(user) = accounts::get_user(app, actor, uid).await {
                                slot.insert(user.name);
                            }
                        }
                    }
                }
            }
        }
    }

    let timeline = build_timeline(
        &c,
        &t,
        comments,
        &history,
        sees_internal,
        |field, v| match field {
            "team_id" => v
                .parse()
                .ok()
                .and_then(|id: i64| team_names.get(&id).cloned())
                .unwrap_or_else(|| v.to_string()),
            "assignee_id" => v
                .parse()
                .ok()
                .and_then(|id: i64| user_names.get(&id).cloned())
                .unwrap_or_else(|| v.to_string()),
            _ => v.to_string(),
        },
    );

    let transitions = t
        .allowed_transitions
        .iter()
        .filter(|s| !(s.as_str() == "assigned" && t.assignee_id.is_none()))
        .map(|s| choice(s, c.status(s), false))
        .collect();
    let pending_reasons = PendingReason::ALL
        .iter()
        .map(|p| {
            choice(
                p.as_str(),
                c.pending(p.as_str()),
                t.pending_reason.as_deref() == Some(p.as_str()),
            )
        })
        .collect();
    let mut resolution_codes: Vec<Choice> = RESOLUTION_CODES
        .iter()
        .map(|code| {
            choice(
                code,
                c.resolution(code),
                t.resolution_code.as_deref() == Some(*code),
            )
        })
        .collect();
    if let Some(code) = &t.resolution_code {
        if !RESOLUTION_CODES.contains(&code.as_str()) {
            resolution_codes.push(choice(code, code.clone(), true));
        }
    }
    let levels = |current: &str| -> Vec<Choice> {
        Level::ALL
            .iter()
            .map(|l| choice(l.as_str(), c.level(l.as_str()), current == l.as_str()))
            .collect()
    };
    let impacts = levels(&t.impact);
    let urgencies = levels(&t.urgency);
    let overridden = t.priority_reason.is_some();
    let mut priorities = vec![choice("", c.t("priority-matrix"), !overridden)];
    for p in Priority::ALL {
        priorities.push(choice(
            p.as_str(),
            p.as_str().to_string(),
            overridden && t.priority == p.as_str(),
        ));
    }
    let can_take = actor.can(Capability::WorkTickets)
        && staff
        && !status.is_final()
        && t.assignee_id != Some(actor.user_id)
        && t.team_id.is_none_or(|tm| actor.team_ids.contains(&tm));

    let mut panels = super::incident::panels(app, u, &c, &t).await?;
    if let Some((form, error)) = panel_error {
        panels.error_form = form;
        panels.error = Some(error);
    }
    let mail = super::mail::ticket_mail(app, u, &c, t.id).await?;
    let http_status = flash.status.unwrap_or(StatusCode::OK);
    let links = super::links::panel(app, u, steward_core::RecordKind::Ticket, t.id).await?;
    let kb = super::knowledge::ticket_panel(app, u, t.id).await?;
    let page = TicketPage {
        links,
        kb,
        mail,
        panels,
        c,
        staff,
        sees_internal,
        requester_controls,
        can_reply,
        is_open: status.is_open(),
        is_resolved: status == Status::Resolved,
        timeline,
        attachments: files
            .into_iter()
            .filter(|a| a.comment_id.is_none())
            .collect(),
        transitions,
        pending_reasons,
        resolution_codes,
        teams,
        assignees,
        can_take,
        impacts,
        urgencies,
        priorities,
        flash,
        nonce: form::form_nonce(),
        me: actor.user_id,
        t,
    };
    Ok(render(http_status, &page))
}

/// Fields a requester's timeline leaves out: the service desk's internal routing.
const STAFF_ONLY_FIELDS: &[&str] = &[
    "team_id",
    "assignee_id",
    "watcher_ids",
    "priority_reason",
    "category",
    "impact",
    "urgency",
];

fn build_timeline(
    c: &Chrome,
    t: &TicketView,
    comments: Vec<CommentView>,
    history: &[HistoryEntry],
    staff: bool,
    name_of: impl Fn(&str, &str) -> String,
) -> Vec<Item> {
    let mut items: Vec<Item> = comments
        .into_iter()
        .map(|cm| {
            let at = views::parse_instant(&cm.created_at).unwrap_or_default();
            Item {
                anchor: format!("c{}", cm.id),
                when: c.time_micros(at),
                from_requester: cm.author_id == t.requester_id,
                actor: cm.author_name,
                is_comment: true,
                internal: cm.internal,
                body: cm.body,
                attachments: cm.attachments,
                lines: vec![],
                at,
                seq: 0,
            }
        })
        .collect();
    let value = |field: &str, v: &str| -> String {
        match field {
            "status" => c.status(v),
            "impact" | "urgency" => c.level(v),
            "pending_reason" => c.pending(v),
            "resolution_code" => c.resolution(v),
            "kind" => c.kind(v),
            _ => name_of(field, v),
        }
    };
    let mut changes: Vec<Item> = Vec::new();
    for e in history {
        let line = match (e.action.as_str(), e.field.as_deref()) {
            ("create", _) => c.t("history-created"),
            ("attach", None) => c.t1(
                "history-attached",
                "name",
                e.new_value.as_deref().unwrap_or_default(),
            ),
            ("update", Some(field)) => {
                if !staff && STAFF_ONLY_FIELDS.contains(&field) {
                    continue;
                }
                let mut label = super::field_label(c.i, field);
                if c.i == crate::i18n::Lang::En {
                    label = label.to_lowercase();
                }
                match field {
                    "description"
                    | "resolution_notes"
                    | "watcher_ids"
                    | "form_answers"
                    | "request_type_id"
                    | "post_incident_review"
                    | "parent_id" => c.t1("history-updated", "field", &label),
                    _ => match (&e.old_value, &e.new_value) {
                        (Some(o), Some(n)) => c.i.t_args(
                            "history-changed",
                            &[
                                ("field", label),
                                ("old", value(field, o)),
                                ("new", value(field, n)),
                            ],
                        ),
                        (None, Some(n)) => {
                            c.i.t_args("history-set", &[("field", label), ("new", value(field, n))])
                        }
                        (Some(_), None) => c.t1("history-cleared", "field", &label),
                        (None, None) => continue,
                    },
                }
            }
            ("sla_warning" | "sla_breach", Some(metric)) => c.t1(
                &format!("history-{}", e.action.replace('_', "-")),
                "metric",
                &c.t(&format!("sla-metric-{metric}")),
            ),
            ("declare_major", _) => c.t("history-declare-major"),
            ("acknowledge_major", _) if staff => c.t("history-acknowledge-major"),
            ("status_update", _) => c.t("history-status-update"),
            ("major_response_overdue", _) if staff => c.t("history-major-overdue"),
            // Replies and notes are in the timeline themselves; files on them too.
            _ => continue,
        };
        let at = views::parse_instant(&e.at).unwrap_or_default();
        let actor = e
            .actor_name
            .clone()
            .unwrap_or_else(|| c.t("history-system"));
        match changes.last_mut() {
            Some(last) if last.at == at && last.actor == actor => last.lines.push(line),
            _ => changes.push(Item {
                anchor: format!("h{}", e.seq),
                when: c.time_micros(at),
                actor,
                is_comment: false,
                internal: false,
                from_requester: false,
                body: String::new(),
                attachments: vec![],
                lines: vec![line],
                at,
                seq: e.seq,
            }),
        }
    }
    items.extend(changes);
    items.sort_by_key(|i| (i.at, i.is_comment, i.seq));
    items
}

/// Shows the ticket again with the form's error, or the error page when there is no form to
/// explain it.
async fn form_failed(
    s: &AppState,
    u: &WebUser,
    id: i64,
    form: &'static str,
    e: AppError,
    draft: Option<(String, bool)>,
) -> Result<Response, AppError> {
    if !is_form_error(&e) {
        return Err(e);
    }
    let mut flash = Flash::error(u, form, &e);
    if let Some((body, internal)) = draft {
        flash.draft = body;
        flash.draft_internal = internal;
    }
    page(s, u, id, flash).await
}

async fn reply(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    mp: Result<Multipart, MultipartRejection>,
) -> Response {
    let r = async {
        let id = parse_id(&id)?;
        let mf = match form::read_multipart(mp, s.app.limits.attachment_bytes).await {
            Ok(mf) => mf,
            Err(e) => return form_failed(&s, &u, id, "reply", e, None).await,
        };
        let f = &mf.fields;
        form::check(&u, &headers, f)?;
        let body = f.get("body").to_string();
        let internal = f.get("visibility") == "internal";
        let draft = Some((body.clone(), internal));
        let result = async {
            if body.trim().is_empty() && mf.file.is_none() {
                return Err(AppError::invalid("body", "is required"));
            }
            let mut comment_id = None;
            if !body.trim().is_empty() {
                let key = f
                    .opt("nonce")
                    .map(|n| IdempotencyKey::parse(&format!("web-{n}"), format!("web reply {id}")))
                    .transpose()?;
                let c = conversation::add_comment(
                    &s.app,
                    &u.actor,
                    id,
                    NewCommentInput {
                        body: body.clone(),
                        internal,
                    },
                    key,
                )
                .await?;
                comment_id = Some(c.id);
            }
            if let Some(upload) = mf.file {
                attachments::add_attachment(&s.app, &u.actor, id, comment_id, upload).await?;
            }
            Ok(comment_id)
        }
        .await;
        match result {
            Ok(Some(cid)) => {
                let done = if internal { "note" } else { "reply" };
                Ok(see_other(&format!("/tickets/{id}?done={done}#c{cid}")))
            }
            Ok(None) => Ok(see_other(&format!("/tickets/{id}?done=attached#files"))),
            Err(e) => form_failed(&s, &u, id, "reply", e, draft).await,
        }
    }
    .await;
    finish(&u, r)
}

async fn change_status(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let r = async {
        let id = parse_id(&id)?;
        form::check(&u, &headers, &f)?;
        let result = async {
            let status = f
                .opt("status")
                .ok_or_else(|| AppError::invalid("status", "is required"))?;
            let mut patch = TicketPatch::default();
            if status == "pending" {
                patch.pending_reason = f.opt("pending_reason");
            }
            if status == "resolved" {
                patch.resolution_code = f.opt("resolution_code");
                patch.resolution_notes = f.opt("resolution_notes");
            }
            patch.status = Some(status);
            tickets::update_ticket(&s.app, &u.actor, id, patch, f.version()).await
        }
        .await;
        match result {
            Ok(_) => Ok(see_other(&format!("/tickets/{id}?done=status"))),
            Err(e) => form_failed(&s, &u, id, "status", e, None).await,
        }
    }
    .await;
    finish(&u, r)
}

async fn change_routing(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let r = async {
        let id = parse_id(&id)?;
        form::check(&u, &headers, &f)?;
        let result = async {
            let t = tickets::get_ticket(&s.app, &u.actor, id).await?;
            let mut patch = TicketPatch::default();
            if f.has("team_id") {
                let team = f.id("team_id")?;
                if team != t.team_id {
                    patch.team_id = Some(team);
                }
            }
            if f.has("assignee_id") {
                let assignee = f.id("assignee_id")?;
                if assignee != t.assignee_id {
                    patch.assignee_id = Some(assignee);
                }
            }
            if patch.team_id.is_none() && patch.assignee_id.is_none() {
                return Ok(false);
            }
            tickets::update_ticket(&s.app, &u.actor, id, patch, f.version()).await?;
            Ok(true)
        }
        .await;
        match result {
            Ok(true) => Ok(see_other(&format!("/tickets/{id}?done=routing"))),
            Ok(false) => Ok(see_other(&format!("/tickets/{id}"))),
            Err(e) => form_failed(&s, &u, id, "routing", e, None).await,
        }
    }
    .await;
    finish(&u, r)
}

async fn change_priority(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let r = async {
        let id = parse_id(&id)?;
        form::check(&u, &headers, &f)?;
        let result = async {
            let t = tickets::get_ticket(&s.app, &u.actor, id).await?;
            let mut patch = TicketPatch::default();
            if let Some(v) = f.opt("impact").filter(|v| *v != t.impact) {
                patch.impact = Some(v);
            }
            if let Some(v) = f.opt("urgency").filter(|v| *v != t.urgency) {
                patch.urgency = Some(v);
            }
            let current = t.priority_reason.is_some().then(|| t.priority.clone());
            let wanted = f.opt("priority");
            let reason = f.opt("priority_reason");
            if wanted != current || (wanted.is_some() && reason != t.priority_reason) {
                patch.priority = Some(wanted);
                patch.priority_reason = reason;
            }
            let changed =
                patch.impact.is_some() || patch.urgency.is_some() || patch.priority.is_some();
            if changed {
                tickets::update_ticket(&s.app, &u.actor, id, patch, f.version()).await?;
            }
            Ok(changed)
        }
        .await;
        match result {
            Ok(true) => Ok(see_other(&format!("/tickets/{id}?done=priority"))),
            Ok(false) => Ok(see_other(&format!("/tickets/{id}"))),
            Err(e) => form_failed(&s, &u, id, "priority", e, None).await,
        }
    }
    .await;
    finish(&u, r)
}

/// Staff correct the title and description (the requester's words stay in the history).
async fn change_text(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let r = async {
        let id = parse_id(&id)?;
        form::check(&u, &headers, &f)?;
        let patch = TicketPatch {
            title: Some(f.get("title").to_string()),
            description: Some(f.get("description").to_string()),
            ..Default::default()
        };
        match tickets::update_ticket(&s.app, &u.actor, id, patch, f.version()).await {
            Ok(_) => Ok(see_other(&format!("/tickets/{id}?done=text"))),
            Err(e) => form_failed(&s, &u, id, "text", e, None).await,
        }
    }
    .await;
    finish(&u, r)
}

/// Staff start or stop watching a ticket (watchers hear of its changes).
async fn change_watch(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: Fields,
) -> Response {
    let r = async {
        let id = parse_id(&id)?;
        form::check(&u, &headers, &f)?;
        let t = tickets::get_ticket(&s.app, &u.actor, id).await?;
        let mut watchers = t.watcher_ids.clone();
        watchers.retain(|w| *w != u.actor.user_id);
        if f.get("watch") == "on" {
            watchers.push(u.actor.user_id);
        }
        let patch = TicketPatch {
            watcher_ids: Some(watchers),
            ..Default::default()
        };
        match tickets::update_ticket(&s.app, &u.actor, id, patch, None).await {
            Ok(_) => Ok(see_other(&format!("/tickets/{id}?done=watch"))),
            Err(e) => form_failed(&s, &u, id, "watch", e, None).await,
        }
    }
    .await;
    finish(&u, r)
}
