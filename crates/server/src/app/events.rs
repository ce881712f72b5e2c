//! Events: what happened to a ticket, for the people and systems outside Steward. A change
//! publishes its events inside its own transaction as one `event.dispatch` job, so events go
//! out exactly when the change commits and survive a crash. The job hands each event to email
//! (app::outbound) and to webhooks and chat bots (app::webhooks); each channel keys what it
//! records on the event id, so a retried dispatch sends nothing twice.

use super::{AppError, AppResult};
use serde::{Deserialize, Serialize};
use steward_core::Status;
use steward_store::jobs::{self, NewJob};
use steward_store::tickets::Ticket;
use steward_store::WriteCtx;
use utoipa::ToSchema;

/// The job that fans events out.
pub const DISPATCH: &str = "event.dispatch";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventKind {
    /// A ticket was opened (the requester's acknowledgement).
    #[serde(rename = "ticket.created")]
    TicketCreated,
    /// A public reply was added (not an internal note).
    #[serde(rename = "ticket.replied")]
    TicketReplied,
    /// The status changed to something other than resolved.
    #[serde(rename = "ticket.status_changed")]
    StatusChanged,
    #[serde(rename = "ticket.resolved")]
    Resolved,
    /// The ticket was assigned to someone (the new assignee is told).
    #[serde(rename = "ticket.assigned")]
    Assigned,
    /// An approver's decision is wanted.
    #[serde(rename = "approval.requested")]
    ApprovalRequested,
    #[serde(rename = "sla.warning")]
    SlaWarning,
    #[serde(rename = "sla.breached")]
    SlaBreached,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::TicketCreated,
        EventKind::TicketReplied,
        EventKind::StatusChanged,
        EventKind::Resolved,
        EventKind::Assigned,
        EventKind::ApprovalRequested,
        EventKind::SlaWarning,
        EventKind::SlaBreached,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::TicketCreated => "ticket.created",
            EventKind::TicketReplied => "ticket.replied",
            EventKind::StatusChanged => "ticket.status_changed",
            EventKind::Resolved => "ticket.resolved",
            EventKind::Assigned => "ticket.assigned",
            EventKind::ApprovalRequested => "approval.requested",
            EventKind::SlaWarning => "sla.warning",
            EventKind::SlaBreached => "sla.breached",
        }
    }

    /// Parses an event type as the API names it; `field` names the input in the error.
    pub fn parse(field: &str, value: &str) -> AppResult<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == value)
            .ok_or_else(|| {
                let all: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                AppError::invalid(field, format!("must be one of {}", all.join(", ")))
            })
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique; receivers use it to drop repeats.
    pub id: String,
    pub kind: EventKind,
    pub ticket_id: i64,
    /// Who made the change; None for the system (the SLA sweep).
    pub actor_id: Option<i64>,
    /// The reply, for ticket.replied.
    #[serde(default)]
    pub comment_id: Option<i64>,
    /// Microseconds since the epoch.
    pub at: i64,
    /// The users this event is addressed to (approvers, escalation targets). Empty means the
    /// ticket's own people, as the kind decides.
    #[serde(default)]
    pub recipients: Vec<i64>,
    /// Facts of the kind: `from` and `to` for a status change, `metric` for SLA events, ...
    #[serde(default)]
    pub data: serde_json::Value,
}

impl Event {
    pub fn new(kind: EventKind, ticket_id: i64, actor_id: Option<i64>, at: i64) -> Event {
        Event {
            id: format!("evt_{at:x}_{:016x}", rand::random::<u64>()),
            kind,
            ticket_id,
            actor_id,
            comment_id: None,
            at,
            recipients: Vec::new(),
            data: serde_json::Value::Null,
        }
    }

    pub fn with_comment(mut self, comment_id: i64) -> Event {
        self.comment_id = Some(comment_id);
        self
    }

    pub fn with_recipients(mut self, recipients: Vec<i64>) -> Event {
        self.recipients = recipients;
        self
    }

    pub fn with_data(mut self, data: serde_json::Value) -> Event {
        self.data = data;
        self
    }
}

/// The events of one ticket update: assignment, resolution, other status changes.
pub fn for_update(old: &Ticket, new: &Ticket, actor_id: Option<i64>, at: i64) -> Vec<Event> {
    let mut events = Vec::new();
    if new.assignee_id.is_some() && new.assignee_id != old.assignee_id {
        events.push(
            Event::new(EventKind::Assigned, new.id, actor_id, at)
                .with_recipients(new.assignee_id.into_iter().collect()),
        );
    }
    if new.status != old.status {
        let kind = if new.status == Status::Resolved.as_str() {
            EventKind::Resolved
        } else {
            EventKind::StatusChanged
        };
        // new → assigned is the assignment itself; one message says it.
        let only_assignment = new.status == Status::Assigned.as_str() && old.status == "new";
        if !only_assignment {
            events.push(
                Event::new(kind, new.id, actor_id, at)
                    .with_data(serde_json::json!({"from": old.status, "to": new.status})),
            );
        }
    }
    events
}

/// Queues the events for dispatch, in the caller's transaction.
pub async fn publish(ctx: &mut WriteCtx, events: &[Event], now: i64) -> AppResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let payload = serde_json::to_string(events).map_err(|e| AppError::Internal(e.to_string()))?;
    jobs::enqueue(
        &mut ctx.conn,
        &NewJob {
            kind: DISPATCH,
            payload,
            dedupe_key: None,
            run_at: now,
            max_attempts: 10,
        },
        now,
    )
    .await?;
    Ok(())
}

/// The `event.dispatch` job: every channel gets every event.
pub async fn dispatch(app: &super::App, payload: &str) -> AppResult<()> {
    let events: Vec<Event> = serde_json::from_str(payload)
        .map_err(|e| AppError::Internal(format!("event.dispatch payload: {e}")))?;
    // Both channels run even when one fails; the job retries if either did.
    let mail = super::outbound::on_events(app, &events).await;
    let hooks = super::webhooks::on_events(app, &events).await;
    mail.and(hooks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds_round_trip_through_their_names() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse("event", k.as_str()).unwrap(), k);
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::json!(k.as_str())
            );
        }
        assert!(EventKind::parse("events[0]", "ticket.deleted").is_err());
    }
}
