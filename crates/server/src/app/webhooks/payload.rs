//! The JSON an event is delivered as (documented in docs/webhooks.md). It is built inside the
//! dispatch transaction and stored with the delivery, so every attempt sends the same bytes
//! and the ticket as it was when the event happened.

use crate::app::events::{Event, EventKind};
use crate::app::views::instant;
use crate::app::AppResult;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use steward_store::{accounts, tickets};
use utoipa::ToSchema;

/// The `type` of a test delivery (ping).
pub const PING: &str = "ping";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventPayload {
    /// The event id; the same event retried keeps it, so receivers drop repeats by it.
    pub id: String,
    /// ticket.created, ticket.replied, ticket.status_changed, ticket.resolved,
    /// ticket.assigned, approval.requested, sla.warning, sla.breached, or ping.
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339, UTC.
    pub occurred_at: String,
    /// The ticket as it was when the event happened; null for a ping.
    pub ticket: Option<TicketPart>,
    /// Who made the change; null for Steward itself (the SLA sweep).
    pub actor: Option<ActorPart>,
    /// The public reply, for ticket.replied only. Internal notes are never sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<CommentPart>,
    /// Facts of the kind: `from` and `to` of a status change, `metric` of SLA events, ...
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TicketPart {
    pub id: i64,
    /// The human number, e.g. INC-000123.
    pub number: String,
    /// incident or service_request
    pub kind: String,
    pub title: String,
    pub status: String,
    /// 1 (most urgent) to 5
    pub priority: i64,
    pub team_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub requester_id: i64,
    pub service_id: Option<i64>,
    /// The ticket's page in Steward.
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActorPart {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CommentPart {
    pub id: i64,
    pub body: String,
}

/// The payload of an event; None when its ticket no longer exists.
pub async fn build(
    conn: &mut AnyConnection,
    e: &Event,
    base: &str,
) -> AppResult<Option<EventPayload>> {
    let Some(t) = tickets::get(conn, &tickets::Scope::All, e.ticket_id).await? else {
        return Ok(None);
    };
    let actor = match e.actor_id {
        Some(id) => accounts::get_user(conn, id).await?.map(|u| ActorPart {
            id: u.id,
            name: u.name,
        }),
        None => None,
    };
    let comment = match (e.kind, e.comment_id) {
        (EventKind::TicketReplied, Some(id)) => tickets::get_comment(conn, id)
            .await?
            .filter(|c| !c.internal && c.ticket_id == t.id)
            .map(|c| CommentPart {
                id: c.id,
                body: c.body,
            }),
        _ => None,
    };
    Ok(Some(EventPayload {
        id: e.id.clone(),
        kind: e.kind.as_str().to_string(),
        occurred_at: instant(e.at),
        ticket: Some(TicketPart {
            id: t.id,
            url: format!("{base}/tickets/{}", t.id),
            number: t.number,
            kind: t.kind,
            title: t.title,
            status: t.status,
            priority: t.priority,
            team_id: t.team_id,
            assignee_id: t.assignee_id,
            requester_id: t.requester_id,
            service_id: t.service_id,
        }),
        actor,
        comment,
        data: e.data.clone(),
    }))
}

/// The payload of a test delivery.
pub fn ping(id: String, at: i64, actor: Option<ActorPart>) -> EventPayload {
    EventPayload {
        id,
        kind: PING.into(),
        occurred_at: instant(at),
        ticket: None,
        actor,
        comment: None,
        data: serde_json::Value::Null,
    }
}
