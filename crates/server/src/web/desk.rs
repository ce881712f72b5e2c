//! The agent workspace: queues with counts on the left, the queue or the search results as a
//! table on the right.

use super::session::WebUser;
use super::{finish, render, Chrome};
use crate::app::tickets::{self, TicketQuery};
use crate::app::views::TicketView;
use crate::app::{accounts, AppError};
use crate::http::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use steward_core::{Capability, Status, TicketKind};

pub fn router() -> Router<AppState> {
    Router::new().route("/desk", get(desk))
}

#[derive(Debug, Default, Deserialize)]
pub struct DeskParams {
    pub queue: Option<String>,
    pub q: Option<String>,
    /// "" (the queue's default), "any", "open" or one status
    pub status: Option<String>,
    pub kind: Option<String>,
    /// "" (the queue's order: priority) or "due" (SLA due time)
    pub sort: Option<String>,
    /// "" or hours: tickets whose SLA falls due within them ("0": already breached)
    pub due: Option<String>,
    pub cursor: Option<String>,
}

pub struct Queue {
    pub key: String,
    pub label: String,
    pub count: i64,
    pub active: bool,
    query: TicketQuery,
}

impl Queue {
    pub fn href(&self) -> String {
        format!("/desk?queue={}", self.key)
    }
}

/// A choice in a filter select.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// The "breaches within" filter's choices, in hours ("0": already breached).
const DUE_WITHIN: &[&str] = &["", "0", "1", "4", "8", "24"];

#[derive(Template)]
#[template(path = "desk.html")]
struct DeskPage {
    c: Chrome,
    /// Open major incidents, shown above the queue.
    announcements: Vec<crate::app::major::AnnouncementView>,
    queues: Vec<Queue>,
    /// The active queue's key ("" while searching).
    queue: String,
    heading: String,
    searching: bool,
    q: String,
    tickets: Vec<TicketView>,
    statuses: Vec<Choice>,
    kinds: Vec<Choice>,
    sorts: Vec<Choice>,
    dues: Vec<Choice>,
    next_href: Option<String>,
    first_href: Option<String>,
    now: i64,
}

impl DeskPage {
    /// The SLA due time has passed.
    fn overdue(&self, due: &str) -> bool {
        crate::app::views::parse_instant(due).is_some_and(|d| d <= self.now)
    }
}

async fn desk(State(s): State<AppState>, u: WebUser, Query(p): Query<DeskParams>) -> Response {
    if !u.actor.role.is_staff() {
        return Redirect::to("/portal").into_response();
    }
    let r = desk_page(&s, &u, p).await;
    finish(&u, r)
}

fn open_query() -> TicketQuery {
    TicketQuery {
        status: Some("open".into()),
        sort: Some("priority".into()),
        ..Default::default()
    }
}

async fn desk_page(s: &AppState, u: &WebUser, p: DeskParams) -> Result<Response, AppError> {
    let app = &s.app;
    let actor = &u.actor;
    let mut c = Chrome::new(u, "desk");
    let works = actor.can(Capability::WorkTickets);
    let sees_all = actor.can(Capability::SeeAllTickets);
    let teams = accounts::list_teams(app, actor).await?;

    let mut queues = Vec::new();
    if works {
        queues.push(Queue {
            key: "mine".into(),
            label: c.t("queue-mine"),
            count: 0,
            active: false,
            query: TicketQuery {
                assignee_id: Some(actor.user_id),
                ..open_query()
            },
        });
    }
    for team in teams.iter().filter(|t| actor.team_ids.contains(&t.id)) {
        queues.push(Queue {
            key: format!("team-{}", team.id),
            label: team.name.clone(),
            count: 0,
            active: false,
            query: TicketQuery {
                team_id: Some(team.id),
                ..open_query()
            },
        });
    }
    if works || sees_all {
        queues.push(Queue {
            key: "triage".into(),
            label: c.t("queue-triage"),
            count: 0,
            active: false,
            query: TicketQuery {
                triage: Some(true),
                ..open_query()
            },
        });
    }
    if sees_all {
        queues.push(Queue {
            key: "all".into(),
            label: c.t("queue-all"),
            count: 0,
            active: false,
            query: open_query(),
        });
    }
    for q in &mut queues {
        q.count = tickets::count_tickets(app, actor, &q.query).await?;
    }

    let text =
        p.q.as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_string();
    let searching = !text.is_empty();
    let status_param = p.status.clone().unwrap_or_default();
    let kind_param = p.kind.clone().unwrap_or_default();
    let (mut query, queue_key, heading) = if searching {
        c.search = text.clone();
        (
            TicketQuery {
                q: Some(text.clone()),
                ..Default::default()
            },
            String::new(),
            c.t1("desk-search-heading", "q", &text),
        )
    } else {
        let wanted = p.queue.clone().unwrap_or_default();
        let idx = queues
            .iter()
            .position(|q| q.key == wanted)
            .or_else(|| {
                // The first queue with work in it, else the first queue.
                queues.iter().position(|q| q.count > 0)
            })
            .unwrap_or(0);
        match queues.get_mut(idx) {
            Some(q) => {
                q.active = true;
                (q.query.clone(), q.key.clone(), q.label.clone())
            }
            None => (open_query(), String::new(), c.t("queue-all")),
        }
    };
    match status_param.as_str() {
        "" => {}
        "any" => query.status = None,
        other => query.status = Some(other.to_string()),
    }
    if !kind_param.is_empty() {
        query.kind = Some(kind_param.clone());
    }
    let sort_param = p.sort.clone().filter(|s| s == "due").unwrap_or_default();
    let due_param = p
        .due
        .clone()
        .filter(|d| DUE_WITHIN.contains(&d.as_str()))
        .unwrap_or_default();
    if sort_param == "due" {
        query.sort = Some("due".into());
    }
    if let Ok(h) = due_param.parse::<i64>() {
        query.due_within_hours = Some(h);
    }
    query.cursor = p.cursor.clone().filter(|c| !c.is_empty());
    query.limit = Some(50);
    let page = tickets::list_tickets(app, actor, &query).await?;

    let base_params = |cursor: Option<&str>| {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        if searching {
            ser.append_pair("q", &text);
        } else {
            ser.append_pair("queue", &queue_key);
        }
        if !status_param.is_empty() {
            ser.append_pair("status", &status_param);
        }
        if !kind_param.is_empty() {
            ser.append_pair("kind", &kind_param);
        }
        if !sort_param.is_empty() {
            ser.append_pair("sort", &sort_param);
        }
        if !due_param.is_empty() {
            ser.append_pair("due", &due_param);
        }
        if let Some(cur) = cursor {
            ser.append_pair("cursor", cur);
        }
        format!("/desk?{}", ser.finish())
    };
    let next_href = page
        .next_cursor
        .as_deref()
        .map(|cur| base_params(Some(cur)));
    let first_href = query.cursor.is_some().then(|| base_params(None));

    let default_label = if searching {
        c.t("filter-any-status")
    } else {
        c.t("filter-open")
    };
    let mut statuses = vec![Choice {
        value: String::new(),
        label: default_label,
        selected: status_param.is_empty(),
    }];
    if !searching {
        statuses.push(Choice {
            value: "any".into(),
            label: c.t("filter-any-status"),
            selected: status_param == "any",
        });
    } else {
        statuses.push(Choice {
            value: "open".into(),
            label: c.t("filter-open"),
            selected: status_param == "open",
        });
    }
    for st in Status::ALL {
        statuses.push(Choice {
            value: st.as_str().into(),
            label: c.status(st.as_str()),
            selected: status_param == st.as_str(),
        });
    }
    let mut kinds = vec![Choice {
        value: String::new(),
        label: c.t("filter-any-kind"),
        selected: kind_param.is_empty(),
    }];
    for k in TicketKind::ALL {
        kinds.push(Choice {
            value: k.as_str().into(),
            label: c.kind(k.as_str()),
            selected: kind_param == k.as_str(),
        });
    }

    let sorts = [("", "sort-queue"), ("due", "sort-due")]
        .iter()
        .map(|(v, k)| Choice {
            value: v.to_string(),
            label: c.t(k),
            selected: sort_param == *v,
        })
        .collect();
    let dues = DUE_WITHIN
        .iter()
        .map(|v| Choice {
            value: v.to_string(),
            label: match *v {
                "" => c.t("due-any"),
                "0" => c.t("due-breached"),
                h => c.t1("due-within", "hours", h),
            },
            selected: due_param == *v,
        })
        .collect();

    Ok(render(
        StatusCode::OK,
        &DeskPage {
            announcements: crate::app::major::announcements(app, actor).await?,
            sorts,
            dues,
            now: crate::app::now(),
            c,
            queues,
            queue: queue_key,
            heading,
            searching,
            q: text,
            tickets: page.items,
            statuses,
            kinds,
            next_href,
            first_href,
        },
    ))
}
