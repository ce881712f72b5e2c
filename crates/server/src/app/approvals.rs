//! Approval of requests made from the catalogue.
//!
//! A request type's rule decides who approves: `team_lead` (the active team leads of the
//! service's support team), `any` (one of the named approvers; one name is "a named
//! approver") or `all` (every named approver). The requester never approves their own
//! request and is left out of the approvers; when nobody is left, the submission is refused
//! (422 naming `request_type_id`).
//!
//! While approval is pending the request cannot be worked: any status change other than
//! cancelling it, and an assignment (which would make it assigned), is 409. Under `team_lead`
//! and `any`, the first approval approves; under `all`, every approver must approve. One
//! rejection rejects under every rule: the request is cancelled with resolution code
//! `rejected` and the approver's comment (required) as resolution notes.

use super::views::instant;
use super::{now, Actor, App, AppError, AppResult, AuditTrail};
use serde::{Deserialize, Serialize};
use steward_core::text::multi_line;
use steward_core::Status;
use steward_store::catalogue::{self, Approval, ApprovalState};
use steward_store::tickets::{self, Scope, Ticket};
use steward_store::WriteCtx;
use utoipa::ToSchema;

pub const RULES: &[&str] = &["none", "team_lead", "any", "all"];

/// What a catalogue submission adds to the ticket being created.
#[derive(Debug, Clone)]
pub struct CatalogueRequest {
    pub service_id: i64,
    pub service_code: String,
    pub request_type_id: i64,
    /// The service's support team, which the request is routed to.
    pub team_id: Option<i64>,
    /// The validated answers as JSON.
    pub form_answers: String,
    /// none, team_lead, any or all
    pub rule: String,
    /// Who is asked to approve; empty under `none`.
    pub approvers: Vec<i64>,
}

impl CatalogueRequest {
    pub fn approval_status(&self) -> Option<String> {
        (!self.approvers.is_empty()).then(|| "pending".to_string())
    }
}

/// Creates the approval rows of a new request, in the ticket's transaction.
pub(crate) async fn open(
    ctx: &mut WriteCtx,
    actor: &Actor,
    ticket: &Ticket,
    c: &CatalogueRequest,
    now: i64,
) -> AppResult<()> {
    let ticket_id = ticket.id;
    let trail = AuditTrail::new(actor, "ticket", ticket_id, now);
    trail
        .record(
            ctx,
            "update",
            Some("request_type_id"),
            None,
            Some(c.request_type_id.to_string()),
        )
        .await?;
    trail
        .record(
            ctx,
            "update",
            Some("form_answers"),
            None,
            Some(c.form_answers.clone()),
        )
        .await?;
    if let Some(status) = c.approval_status() {
        trail
            .record(ctx, "update", Some("approval_status"), None, Some(status))
            .await?;
    }
    for a in &c.approvers {
        let id = catalogue::insert_approval(&mut ctx.conn, ticket_id, *a, &c.rule, now).await?;
        AuditTrail::new(actor, "approval", id, now)
            .record(
                ctx,
                "create",
                None,
                None,
                Some(format!("ticket {ticket_id} approver {a} rule {}", c.rule)),
            )
            .await?;
    }
    // Approvers learn that a request waits for them: in-app, and by email as they choose.
    super::events::publish(
        ctx,
        &[super::events::Event::new(
            super::events::EventKind::ApprovalRequested,
            ticket_id,
            actor.audit_id(),
            now,
        )
        .with_recipients(c.approvers.clone())],
        now,
    )
    .await?;
    let params = serde_json::json!({ "number": ticket.number, "title": ticket.title }).to_string();
    for a in &c.approvers {
        steward_store::sla::notify(
            &mut ctx.conn,
            *a,
            Some(ticket_id),
            "approval_wanted",
            &params,
            now,
        )
        .await?;
    }
    Ok(())
}

/// Refuses work on a request awaiting approval: only cancelling it is allowed.
pub(crate) fn check_fulfilment(t: &Ticket, to: Status) -> AppResult<()> {
    if t.approval_status.as_deref() == Some("pending") && to != Status::Cancelled {
        return Err(AppError::Conflict {
            message: "the request is awaiting approval; it can only be cancelled".into(),
            allowed: Some(vec![Status::Cancelled.as_str().to_string()]),
        });
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    pub id: i64,
    pub ticket_id: i64,
    pub ticket_number: String,
    pub ticket_title: String,
    pub approver_id: i64,
    pub approver_name: String,
    /// team_lead, any or all
    pub rule: String,
    /// approved or rejected; absent while undecided
    pub decision: Option<String>,
    pub comment: Option<String>,
    pub decided_at: Option<String>,
    pub created_at: String,
    /// The request's approval state: pending, approved or rejected.
    pub request_approval_status: Option<String>,
}

impl From<&Approval> for ApprovalView {
    fn from(a: &Approval) -> Self {
        ApprovalView {
            id: a.id,
            ticket_id: a.ticket_id,
            ticket_number: a.ticket_number.clone(),
            ticket_title: a.ticket_title.clone(),
            approver_id: a.approver_id,
            approver_name: a.approver_name.clone(),
            rule: a.rule.clone(),
            decision: a.decision.clone(),
            comment: a.comment.clone(),
            decided_at: a.decided_at.map(instant),
            created_at: instant(a.created_at),
            request_approval_status: a.ticket_approval_status.clone(),
        }
    }
}

/// The approvals of a ticket the actor may see.
pub async fn ticket_approvals(
    app: &App,
    actor: &Actor,
    ticket_id: i64,
) -> AppResult<Vec<ApprovalView>> {
    let mut conn = app.read().await?;
    actor.visible_ticket(&mut conn, ticket_id).await?;
    Ok(catalogue::approvals_of_ticket(&mut conn, ticket_id)
        .await?
        .iter()
        .map(ApprovalView::from)
        .collect())
}

pub fn parse_state(s: Option<&str>) -> AppResult<ApprovalState> {
    match s {
        None | Some("") | Some("pending") => Ok(ApprovalState::Pending),
        Some("decided") => Ok(ApprovalState::Decided),
        Some("all") => Ok(ApprovalState::All),
        Some(_) => Err(AppError::invalid(
            "status",
            "must be pending, decided or all",
        )),
    }
}

/// The actor's own approvals: pending ones by default.
pub async fn my_approvals(
    app: &App,
    actor: &Actor,
    state: ApprovalState,
) -> AppResult<Vec<ApprovalView>> {
    let mut conn = app.read().await?;
    Ok(
        catalogue::list_approvals(&mut conn, actor.user_id, state, 200)
            .await?
            .iter()
            .map(ApprovalView::from)
            .collect(),
    )
}

/// What an approver sees of the request they decide on, whether or not they may see the
/// ticket otherwise.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApprovalRequestView {
    pub approval: ApprovalView,
    pub requester_name: String,
    pub description: String,
    pub request_type_id: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub form_answers: Option<serde_json::Value>,
}

/// An approval of the actor's own, with the request it is about.
pub async fn get_approval(app: &App, actor: &Actor, id: i64) -> AppResult<ApprovalRequestView> {
    let mut conn = app.read().await?;
    let a = catalogue::get_approval(&mut conn, id)
        .await?
        .filter(|a| a.approver_id == actor.user_id)
        .ok_or(AppError::NotFound)?;
    let t = tickets::get(&mut conn, &Scope::All, a.ticket_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(ApprovalRequestView {
        approval: ApprovalView::from(&a),
        requester_name: t.requester_name.clone(),
        description: t.description.clone(),
        request_type_id: t.request_type_id,
        form_answers: t
            .form_answers
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
    })
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// approve or reject
    pub decision: String,
    /// Required when rejecting; it becomes the request's resolution notes.
    #[serde(default)]
    pub comment: Option<String>,
}

pub const COMMENT_MAX: usize = 2_000;

/// An approver approves or rejects. Someone who is not the approver gets 404; a decision on
/// an approval already decided, or on a request no longer awaiting approval, is 409.
pub async fn decide(
    app: &App,
    actor: &Actor,
    id: i64,
    input: DecisionInput,
) -> AppResult<ApprovalView> {
    let approve = match input.decision.as_str() {
        "approve" | "approved" => true,
        "reject" | "rejected" => false,
        _ => return Err(AppError::invalid("decision", "must be approve or reject")),
    };
    let comment = match input.comment.as_deref() {
        None => None,
        Some(c) => {
            let c = multi_line(c, COMMENT_MAX, false)
                .map_err(|e| AppError::invalid("comment", e.to_string()))?;
            (!c.trim().is_empty()).then_some(c)
        }
    };
    if !approve && comment.is_none() {
        return Err(AppError::invalid("comment", "is required to reject"));
    }
    let actor = actor.clone();
    let store = app.store.clone();
    let app = app.clone();
    store
        .write(move |ctx| {
            Box::pin(async move {
                let a = catalogue::get_approval(&mut ctx.conn, id)
                    .await?
                    .filter(|a| a.approver_id == actor.user_id)
                    .ok_or(AppError::NotFound)?;
                let old = tickets::get(&mut ctx.conn, &Scope::All, a.ticket_id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                let open = old.status.parse::<Status>().is_ok_and(|s| s.is_open());
                if a.decision.is_some()
                    || old.approval_status.as_deref() != Some("pending")
                    || !open
                {
                    return Err(AppError::Conflict {
                        message: "this approval is no longer awaiting a decision".into(),
                        allowed: None,
                    });
                }
                let now = now();
                let decision = if approve { "approved" } else { "rejected" };
                if !catalogue::decide(&mut ctx.conn, id, decision, comment.as_deref(), now).await? {
                    return Err(AppError::Conflict {
                        message: "this approval is no longer awaiting a decision".into(),
                        allowed: None,
                    });
                }
                AuditTrail::new(&actor, "approval", id, now)
                    .record(
                        ctx,
                        "decide",
                        Some("decision"),
                        None,
                        Some(match &comment {
                            Some(c) => format!("{decision}: {c}"),
                            None => decision.to_string(),
                        }),
                    )
                    .await?;
                let all = catalogue::approvals_of_ticket(&mut ctx.conn, a.ticket_id).await?;
                let outcome = if !approve {
                    Some("rejected")
                } else if a.rule == "all" {
                    let everyone = all
                        .iter()
                        .all(|x| x.decision.as_deref() == Some("approved"));
                    everyone.then_some("approved")
                } else {
                    Some("approved")
                };
                if let Some(outcome) = outcome {
                    let mut t = old.clone();
                    t.approval_status = Some(outcome.to_string());
                    if outcome == "rejected" {
                        t.status = Status::Cancelled.as_str().into();
                        t.pending_reason = None;
                        t.resolution_code = Some("rejected".into());
                        t.resolution_notes = comment.clone();
                    }
                    t.version = old.version + 1;
                    t.updated_at = now;
                    if !tickets::update(&mut ctx.conn, &t, old.version).await? {
                        return Err(AppError::Stale);
                    }
                    let params =
                        serde_json::json!({ "number": t.number, "title": t.title }).to_string();
                    steward_store::sla::notify(
                        &mut ctx.conn,
                        t.requester_id,
                        Some(t.id),
                        &format!("approval_{outcome}"),
                        &params,
                        now,
                    )
                    .await?;
                    // Approved: the clocks that waited for the decision run; rejected: they stop.
                    super::sla::sync_clocks(
                        &app,
                        ctx,
                        Some(&old),
                        &t,
                        super::sla::ClockEvent::Changed,
                        now,
                    )
                    .await?;
                    AuditTrail::new(&actor, "ticket", t.id, now)
                        .changes(
                            ctx,
                            &[
                                (
                                    "approval_status",
                                    old.approval_status.clone(),
                                    t.approval_status.clone(),
                                ),
                                ("status", Some(old.status.clone()), Some(t.status.clone())),
                                (
                                    "resolution_code",
                                    old.resolution_code.clone(),
                                    t.resolution_code.clone(),
                                ),
                                (
                                    "resolution_notes",
                                    old.resolution_notes.clone(),
                                    t.resolution_notes.clone(),
                                ),
                            ],
                        )
                        .await?;
                }
                let stored = catalogue::get_approval(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                Ok(ApprovalView::from(&stored))
            })
        })
        .await
}
