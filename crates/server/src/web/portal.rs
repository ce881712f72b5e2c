//! The self-service portal: the requester's tickets (and the organisation's, where it allows),
//! and the form to report a problem or request something.

use super::desk::Choice;
use super::form;
use super::session::WebUser;
use super::{describe, finish, render, see_other, status_of, Chrome};
use crate::app::attachments;
use crate::app::idempotency::IdempotencyKey;
use crate::app::tickets::{self, NewTicketInput, TicketQuery};
use crate::app::views::TicketView;
use crate::app::AppError;
use crate::http::AppState;
use askama::Template;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use steward_core::{Capability, Level, TicketKind};

pub fn router() -> Router<AppState> {
    Router::new().route("/portal", get(portal)).route(
        "/portal/new",
        get(new_form)
            .post(create)
            .layer(DefaultBodyLimit::disable()),
    )
}

#[derive(Debug, Default, Deserialize)]
struct PortalParams {
    /// "active" (default) or "all"
    show: Option<String>,
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "portal.html")]
struct PortalPage {
    c: Chrome,
    /// Open major incidents affecting the requester's organisation.
    announcements: Vec<crate::app::major::AnnouncementView>,
    tickets: Vec<TicketView>,
    show_all: bool,
    me: i64,
    next_href: Option<String>,
    first_href: Option<String>,
}

async fn portal(State(s): State<AppState>, u: WebUser, Query(p): Query<PortalParams>) -> Response {
    let r = async {
        if !u.actor.can(Capability::SubmitTicket) {
            return Err(AppError::forbidden("portal"));
        }
        let show_all = p.show.as_deref() == Some("all");
        let query = TicketQuery {
            // Staff see everything they may work on elsewhere; here, what they asked for.
            requester_id: u.actor.role.is_staff().then_some(u.actor.user_id),
            status: (!show_all).then(|| "open,resolved".to_string()),
            sort: Some("updated".into()),
            limit: Some(25),
            cursor: p.cursor.clone().filter(|c| !c.is_empty()),
            ..Default::default()
        };
        let page = tickets::list_tickets(&s.app, &u.actor, &query).await?;
        let show = if show_all { "all" } else { "active" };
        let next_href = page.next_cursor.as_deref().map(|cur| {
            let enc: String = form_urlencoded::byte_serialize(cur.as_bytes()).collect();
            format!("/portal?show={show}&cursor={enc}")
        });
        let first_href = query
            .cursor
            .is_some()
            .then(|| format!("/portal?show={show}"));
        Ok(render(
            StatusCode::OK,
            &PortalPage {
                c: Chrome::new(&u, "portal"),
                announcements: crate::app::major::announcements(&s.app, &u.actor).await?,
                tickets: page.items,
                show_all,
                me: u.actor.user_id,
                next_href,
                first_href,
            },
        ))
    }
    .await;
    finish(&u, r)
}

#[derive(Template)]
#[template(path = "portal_new.html")]
struct NewTicketPage {
    c: Chrome,
    kind: String,
    title: String,
    description: String,
    impacts: Vec<Choice>,
    urgencies: Vec<Choice>,
    nonce: String,
    error: Option<String>,
    error_field: String,
}

impl NewTicketPage {
    fn build(
        u: &WebUser,
        kind: &str,
        title: &str,
        description: &str,
        impact: &str,
        urgency: &str,
    ) -> NewTicketPage {
        let c = Chrome::new(u, "portal");
        // Plain words, most serious last: the requester is not expected to know ITIL.
        let levels = |prefix: &str, current: &str| -> Vec<Choice> {
            Level::ALL
                .iter()
                .rev()
                .map(|l| Choice {
                    value: l.as_str().into(),
                    label: c.t(&format!("{prefix}-{}", l.as_str())),
                    selected: current == l.as_str(),
                })
                .collect()
        };
        let impacts = levels("portal-impact", impact);
        let urgencies = levels("portal-urgency", urgency);
        let kind = if kind.parse::<TicketKind>().is_ok() {
            kind
        } else {
            "incident"
        };
        NewTicketPage {
            kind: kind.to_string(),
            title: title.to_string(),
            description: description.to_string(),
            impacts,
            urgencies,
            nonce: form::form_nonce(),
            error: None,
            error_field: String::new(),
            c,
        }
    }
}

#[derive(Deserialize)]
struct NewParams {
    kind: Option<String>,
}

async fn new_form(u: WebUser, Query(p): Query<NewParams>) -> Response {
    if !u.actor.can(Capability::SubmitTicket) {
        return super::error_page(&u, &AppError::forbidden("portal"));
    }
    let page = NewTicketPage::build(
        &u,
        p.kind.as_deref().unwrap_or("incident"),
        "",
        "",
        "low",
        "medium",
    );
    render(StatusCode::OK, &page)
}

async fn create(
    State(s): State<AppState>,
    u: WebUser,
    headers: HeaderMap,
    mp: Result<Multipart, MultipartRejection>,
) -> Response {
    let r = async {
        let mf = match form::read_multipart(mp, s.app.limits.attachment_bytes).await {
            Ok(mf) => mf,
            Err(e) => {
                let mut page = NewTicketPage::build(&u, "incident", "", "", "low", "medium");
                page.error_field = error_field(&e);
                page.error = Some(describe(u.lang, &e));
                return Ok(render(status_of(&e), &page));
            }
        };
        let f = &mf.fields;
        form::check(&u, &headers, f)?;
        let input = NewTicketInput {
            kind: f.get("kind").to_string(),
            title: f.get("title").to_string(),
            description: f.get("description").to_string(),
            impact: f.get("impact").to_string(),
            urgency: f.get("urgency").to_string(),
            requester_id: None,
            team_id: None,
            assignee_id: None,
            category: None,
            priority: None,
            priority_reason: None,
            watcher_ids: vec![],
        };
        let key = f
            .opt("nonce")
            .map(|n| IdempotencyKey::parse(&format!("web-{n}"), "web new ticket".into()))
            .transpose()?;
        match tickets::create_ticket(&s.app, &u.actor, input, key).await {
            Ok(t) => {
                if let Some(upload) = mf.file {
                    if let Err(e) =
                        attachments::add_attachment(&s.app, &u.actor, t.id, None, upload).await
                    {
                        // The ticket exists; say what happened to the file on its page.
                        let flash = super::ticket::Flash {
                            notice: Some(u.lang.t("done-created")),
                            form: "actions",
                            error: Some(describe(u.lang, &e)),
                            ..Default::default()
                        };
                        return super::ticket::page(&s, &u, t.id, flash).await;
                    }
                }
                Ok(see_other(&format!("/tickets/{}?done=created", t.id)))
            }
            Err(e @ AppError::Forbidden(_)) => Err(e),
            Err(e) => {
                let mut page = NewTicketPage::build(
                    &u,
                    f.get("kind"),
                    f.get("title"),
                    f.get("description"),
                    f.get("impact"),
                    f.get("urgency"),
                );
                page.error_field = error_field(&e);
                page.error = Some(describe(u.lang, &e));
                Ok(render(status_of(&e), &page))
            }
        }
    }
    .await;
    finish(&u, r)
}

/// The field an error is about, to mark it on the form.
pub fn error_field(e: &AppError) -> String {
    match e {
        AppError::Invalid { field, .. } | AppError::TooLarge { field, .. } => field.clone(),
        _ => String::new(),
    }
}
