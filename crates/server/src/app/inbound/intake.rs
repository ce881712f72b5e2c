//! What one parsed message becomes: a new ticket, a reply on its ticket, an automatic note, a
//! delivery failure, a rejection, or the quarantine. Each ticket change and the message's new
//! status commit in one write, so a message is processed exactly once.

use super::parse::{self, MailFile, ParsedMail};
use super::{quarantined, quote, settle};
use crate::app::accounts::{self, NewUserInput};
use crate::app::conversation::insert_comment_in;
use crate::app::tickets::{
    insert_ticket, prepare_ticket, NewTicketInput, DESCRIPTION_MAX, TITLE_MAX,
};
use crate::app::{attachments, now, Actor, App, AppError, AppResult, AuditTrail};
use bytes::Bytes;
use object_store::PutPayload;
use sha2::{Digest, Sha256};
use steward_core::{Capability, Channel, Status, TicketKind};
use steward_store::mail::{self, Disposition, InboundMessage, Mailbox};
use steward_store::tickets::{self, Attachment, Scope, Ticket};
use steward_store::{accounts as user_store, catalogue, search, WriteCtx};

/// The flood limit: more than this many messages from one address ...
const RATE_LIMIT_MESSAGES: i64 = 20;
/// ... within this window go to the quarantine (a mail loop or a flood, not a person typing).
const RATE_LIMIT_WINDOW_MICROS: i64 = 10 * 60 * 1_000_000;
/// The kinds whose ticket numbers a subject tag may carry.
const TAG_KINDS: [TicketKind; 2] = [TicketKind::Incident, TicketKind::ServiceRequest];

/// Ticket numbers tagged in a subject: `[INC-000123]`.
pub(crate) fn subject_tags(subject: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (start, _) in subject.match_indices('[') {
        let rest = &subject[start + 1..];
        let Some(end) = rest.find(']') else { break };
        let tag = rest[..end].trim().to_ascii_uppercase();
        if let Some((prefix, digits)) = tag.split_once('-') {
            if TAG_KINDS.iter().any(|k| k.prefix() == prefix)
                && !digits.is_empty()
                && digits.chars().all(|c| c.is_ascii_digit())
            {
                out.push(tag);
            }
        }
    }
    out
}

/// Text as a ticket field takes it: no control characters but line breaks and tabs, bounded.
fn clean_text(s: &str, max: usize) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .take(max)
        .collect::<String>()
        .trim()
        .to_string()
}

fn title_of(subject: &str) -> String {
    let t = clean_text(subject, TITLE_MAX);
    if t.is_empty() {
        "(no subject)".into()
    } else {
        t
    }
}

/// The quarantine, keeping what was read of the sender and the subject.
fn hold(base: &Disposition, reason: impl Into<String>) -> Disposition {
    Disposition {
        from_address: base.from_address.clone(),
        subject: base.subject.clone(),
        ..quarantined(reason)
    }
}

/// Handles a stored message; returns it settled.
pub(crate) async fn handle(app: App, m: InboundMessage, raw: Bytes) -> AppResult<InboundMessage> {
    let parsed = tokio::task::spawn_blocking(move || parse::parse(&raw))
        .await
        .map_err(|e| AppError::Internal(format!("parsing failed: {e}")))?;
    let Some(p) = parsed else {
        return settle(&app, m.id, quarantined("unreadable: not a MIME message")).await;
    };
    let base = Disposition {
        from_address: p.from_address.clone(),
        subject: Some(p.subject.clone()),
        ..Disposition::default()
    };
    let Some(from) = p.from_address.clone() else {
        return settle(&app, m.id, hold(&base, "no sender address")).await;
    };
    let mut conn = app.read().await?;
    let mailbox = match m.mailbox_id {
        Some(id) => mail::get_mailbox(&mut conn, id).await?,
        None => None,
    }
    .ok_or_else(|| AppError::Internal("the message's mailbox is gone".into()))?;
    if is_own_address(&app, &mut conn, &from).await? {
        let d = Disposition {
            status: "ignored".into(),
            outcome: Some("own_address".into()),
            ..base
        };
        return settle(&app, m.id, d).await;
    }
    if p.bounce {
        drop(conn);
        return delivery_failure(&app, &m, &p, base).await;
    }
    let since = m.received_at - RATE_LIMIT_WINDOW_MICROS;
    let recent = mail::count_from_sender(&mut conn, &from, since, m.id).await?;
    if recent >= RATE_LIMIT_MESSAGES {
        let reason = format!(
            "rate limit: more than {RATE_LIMIT_MESSAGES} messages in 10 minutes from {from}"
        );
        return settle(&app, m.id, hold(&base, reason)).await;
    }
    let actor = match user_store::user_by_email(&mut conn, &from).await? {
        Some(u) if u.active => Some(Actor::load(&mut conn, u.id, Channel::Mail).await?),
        // A disabled account neither opens tickets nor gets a new one: an admin decides.
        Some(_) => {
            return settle(&app, m.id, hold(&base, format!("account disabled: {from}"))).await
        }
        None => None,
    };
    let threaded = thread(&mut conn, &p).await?;
    drop(conn);
    // A thread counts only for a sender who may answer that ticket: someone who copies a
    // subject tag gets neither a comment nor anything else linked to another person's ticket.
    let threaded = match (threaded, &actor) {
        (Some(t), Some(a)) if may_reply(&app, a, &t).await? => Some(t),
        _ => None,
    };
    let (files, not_kept) = store_files(&app, &p.files).await?;
    let base = Disposition {
        reason: (!not_kept.is_empty()).then(|| format!("not kept: {}", not_kept.join("; "))),
        ..base
    };
    if let (Some(t), Some(actor)) = (&threaded, &actor) {
        if !is_final(t) {
            return reply(&app, &m, &p, actor.clone(), t.id, files, base).await;
        }
    }
    if p.automatic {
        let d = Disposition {
            status: "ignored".into(),
            outcome: Some("auto_reply".into()),
            ticket_id: threaded.as_ref().map(|t| t.id),
            ..base
        };
        return settle(&app, m.id, d).await;
    }
    let actor = match actor {
        Some(a) => a,
        None if mailbox.create_requesters => {
            new_requester(&app, &from, p.from_name.as_deref()).await?
        }
        None if mailbox.unknown_sender == "reject" => {
            return reject(&app, &m, &p, &from, base).await
        }
        None => {
            let d = hold(&base, format!("unknown sender {from}"));
            return settle(&app, m.id, d).await;
        }
    };
    // A reply to a closed ticket opens a new one that names the old (what a desk expects: the
    // requester's problem came back, and the closed record stays as it was).
    let follow_up = threaded
        .as_ref()
        .filter(|t| is_final(t))
        .map(|t| t.number.clone());
    new_ticket(&app, &m, &p, &mailbox, actor, follow_up, files, base).await
}

fn is_final(t: &Ticket) -> bool {
    t.status.parse::<Status>().is_ok_and(|s| s.is_final())
}

/// Mail from Steward itself: any mailbox address or the From address outbound mail carries
/// (compared case-insensitively; both sides are lower-cased).
async fn is_own_address(app: &App, conn: &mut sqlx::AnyConnection, from: &str) -> AppResult<bool> {
    let outbound_from = app.outbound.from.email.to_string().to_lowercase();
    Ok(from == outbound_from
        || mail::mailbox_addresses(conn)
            .await?
            .iter()
            .any(|a| a.eq_ignore_ascii_case(from)))
}

/// The ticket a message answers: a subject tag first (QQ Mail drops References), then
/// In-Reply-To and References against mail Steward sent or took in for a ticket.
async fn thread(conn: &mut sqlx::AnyConnection, p: &ParsedMail) -> AppResult<Option<Ticket>> {
    let mut id = None;
    for tag in subject_tags(&p.subject) {
        if let Some(t) = mail::ticket_id_by_number(conn, &tag).await? {
            id = Some(t);
            break;
        }
    }
    if id.is_none() {
        for mid in p.in_reply_to.iter().chain(p.references.iter().rev()) {
            if let Some(t) = mail::ticket_of_message_id(conn, mid).await? {
                id = Some(t);
                break;
            }
        }
    }
    match id {
        Some(id) => Ok(tickets::get(conn, &Scope::All, id).await?),
        None => Ok(None),
    }
}

/// Whether the sender may answer this ticket: whoever sees it (requester, organisation
/// colleagues where allowed, staff in scope) or watches it.
async fn may_reply(app: &App, actor: &Actor, t: &Ticket) -> AppResult<bool> {
    if !actor.can(Capability::SubmitTicket) && !actor.can(Capability::EditTickets) {
        return Ok(false);
    }
    let mut conn = app.read().await?;
    match actor.visible_ticket(&mut conn, t.id).await {
        Ok(_) => Ok(true),
        Err(AppError::NotFound) => Ok(tickets::watchers(&mut conn, t.id)
            .await?
            .contains(&actor.user_id)),
        Err(e) => Err(e),
    }
}

/// A file ready to be attached: its blob is stored; the row is written with the change.
struct StoredFile {
    filename: String,
    content_type: String,
    size: i64,
    sha256: String,
}

/// Stores the attachments' blobs before the write (content-addressed, so a retry stores
/// nothing new). Files over the size limit are not kept; their descriptions are returned.
async fn store_files(app: &App, files: &[MailFile]) -> AppResult<(Vec<StoredFile>, Vec<String>)> {
    let mut kept = Vec::new();
    let mut not_kept = Vec::new();
    for f in files {
        let filename = attachments::clean_filename(&f.filename);
        if f.bytes.len() > app.limits.attachment_bytes {
            not_kept.push(format!(
                "{filename} ({} bytes, over the {} byte limit)",
                f.bytes.len(),
                app.limits.attachment_bytes
            ));
            continue;
        }
        if f.bytes.is_empty() {
            continue;
        }
        let sha = hex::encode(Sha256::digest(&f.bytes));
        app.blobs
            .put(
                &attachments::blob_path(&sha),
                PutPayload::from(f.bytes.clone()),
            )
            .await
            .map_err(|e| AppError::Internal(format!("an attachment could not be stored: {e}")))?;
        let content_type = if f.content_type.len() <= 100 && f.content_type.contains('/') {
            f.content_type.clone()
        } else {
            "application/octet-stream".into()
        };
        kept.push(StoredFile {
            filename,
            content_type,
            size: f.bytes.len() as i64,
            sha256: sha,
        });
    }
    Ok((kept, not_kept))
}

async fn attach_files(
    ctx: &mut WriteCtx,
    actor: &Actor,
    ticket_id: i64,
    comment_id: Option<i64>,
    files: &[StoredFile],
    now: i64,
) -> AppResult<()> {
    for f in files {
        let a = Attachment {
            id: 0,
            ticket_id,
            comment_id,
            filename: f.filename.clone(),
            content_type: f.content_type.clone(),
            size: f.size,
            sha256: f.sha256.clone(),
            uploaded_by: actor.user_id,
            created_at: now,
        };
        tickets::insert_attachment(&mut ctx.conn, &a).await?;
        let field = comment_id.map(|c| format!("comment:{c}"));
        AuditTrail::new(actor, "ticket", ticket_id, now)
            .record(
                ctx,
                "attach",
                field.as_deref(),
                None,
                Some(a.filename.clone()),
            )
            .await?;
    }
    Ok(())
}

/// Records the outcome in the change's transaction; a message settled meanwhile (another
/// node, the recovery job) rolls the change back.
async fn settle_in(
    ctx: &mut WriteCtx,
    id: i64,
    d: &Disposition,
    now: i64,
) -> AppResult<InboundMessage> {
    if !mail::settle_message(&mut ctx.conn, id, "received", d, now).await? {
        return Err(AppError::Conflict {
            message: "the message was processed meanwhile".into(),
            allowed: None,
        });
    }
    mail::get_message(&mut ctx.conn, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// The answer when a concurrent run settled the message first: the row as that run left it.
/// Any other conflict (a ticket closed meanwhile) is the caller's error: the message is
/// quarantined with it.
async fn settled_elsewhere(
    app: &App,
    id: i64,
    r: AppResult<InboundMessage>,
) -> AppResult<InboundMessage> {
    match r {
        Err(e @ AppError::Conflict { .. }) => {
            let mut conn = app.read().await?;
            match mail::get_message(&mut conn, id).await? {
                Some(m) if m.status != "received" => Ok(m),
                Some(_) => Err(e),
                None => Err(AppError::NotFound),
            }
        }
        other => other,
    }
}

#[allow(clippy::too_many_arguments)]
async fn new_ticket(
    app: &App,
    m: &InboundMessage,
    p: &ParsedMail,
    mailbox: &Mailbox,
    actor: Actor,
    follow_up: Option<String>,
    files: Vec<StoredFile>,
    base: Disposition,
) -> AppResult<InboundMessage> {
    let mut description = p.text.clone();
    if let Some(old) = &follow_up {
        description = format!("(follow-up to {old})\n\n{description}");
    }
    let input = NewTicketInput {
        kind: "incident".into(),
        title: title_of(&p.subject),
        description: clean_text(&description, DESCRIPTION_MAX),
        impact: "medium".into(),
        urgency: "medium".into(),
        requester_id: None,
        team_id: None,
        assignee_id: None,
        category: None,
        priority: None,
        priority_reason: None,
        watcher_ids: vec![],
    };
    let mut prepared = prepare_ticket(app, &actor, input, None).await?;
    {
        let mut conn = app.read().await?;
        if let Some(team) = mailbox.team_id {
            prepared.team_name = user_store::get_team(&mut conn, team).await?.map(|t| t.name);
            prepared.team_id = Some(team);
        }
        if let Some(service) = mailbox.service_id {
            prepared.service = catalogue::get_service(&mut conn, service)
                .await?
                .map(|s| (s.id, s.code));
        }
    }
    let (app2, id) = (app.clone(), m.id);
    let r = app
        .store
        .write(move |ctx| {
            Box::pin(async move {
                let now = now();
                let view = insert_ticket(&app2, ctx, &actor, prepared, now).await?;
                attach_files(ctx, &actor, view.id, None, &files, now).await?;
                let d = Disposition {
                    status: "processed".into(),
                    outcome: Some("ticket_created".into()),
                    ticket_id: Some(view.id),
                    ..base
                };
                settle_in(ctx, id, &d, now).await
            })
        })
        .await;
    settled_elsewhere(app, m.id, r).await
}

/// A reply on its ticket: a public comment by the sender, or, for automatic mail, an internal
/// note (no event, so no notification answers a machine).
async fn reply(
    app: &App,
    m: &InboundMessage,
    p: &ParsedMail,
    actor: Actor,
    ticket_id: i64,
    files: Vec<StoredFile>,
    base: Disposition,
) -> AppResult<InboundMessage> {
    let (new_text, _history) = quote::split(&p.text);
    let mut body = clean_text(&new_text, crate::app::tickets::COMMENT_MAX - 100);
    if body.is_empty() {
        body = "(no text)".into();
    }
    let internal = p.automatic;
    if internal {
        body = format!("Automatic reply received by email:\n\n{body}");
    }
    let doc = search::segment_document(&body);
    let (app2, id) = (app.clone(), m.id);
    let r = app
        .store
        .write(move |ctx| {
            Box::pin(async move {
                let now = now();
                // Read again in this write: the ticket may have been closed or resumed since
                // it was threaded (a closed one refuses the comment; the message is quarantined).
                let t = tickets::get(&mut ctx.conn, &Scope::All, ticket_id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                let comment =
                    insert_comment_in(&app2, ctx, &actor, &t, &body, &doc, internal, now).await?;
                attach_files(ctx, &actor, ticket_id, Some(comment), &files, now).await?;
                let d = Disposition {
                    status: "processed".into(),
                    outcome: Some(
                        if internal {
                            "auto_reply"
                        } else {
                            "comment_added"
                        }
                        .into(),
                    ),
                    ticket_id: Some(ticket_id),
                    comment_id: Some(comment),
                    ..base
                };
                settle_in(ctx, id, &d, now).await
            })
        })
        .await;
    settled_elsewhere(app, m.id, r).await
}

/// A bounce: the mail Steward sent is marked bounced and the failure is recorded on its
/// ticket (an audit entry staff see; the message itself is listed with the ticket's mail).
async fn delivery_failure(
    app: &App,
    m: &InboundMessage,
    p: &ParsedMail,
    base: Disposition,
) -> AppResult<InboundMessage> {
    let (ids, id) = (p.bounced_ids.clone(), m.id);
    let r = app
        .store
        .write(move |ctx| {
            Box::pin(async move {
                let now = now();
                let mut ticket = None;
                for mid in &ids {
                    if let Some(t) = mail::mark_bounced(&mut ctx.conn, mid).await? {
                        ticket = Some(t);
                    }
                }
                let d = match ticket {
                    Some(t) => {
                        let system = Actor::system(Channel::Mail);
                        AuditTrail::new(&system, "ticket", t, now)
                            .record(
                                ctx,
                                "delivery_failure",
                                None,
                                None,
                                base.from_address.clone(),
                            )
                            .await?;
                        Disposition {
                            status: "processed".into(),
                            outcome: Some("bounce".into()),
                            ticket_id: Some(t),
                            ..base
                        }
                    }
                    None => Disposition {
                        status: "ignored".into(),
                        outcome: Some("bounce".into()),
                        ..base
                    },
                };
                settle_in(ctx, id, &d, now).await
            })
        })
        .await;
    settled_elsewhere(app, m.id, r).await
}

/// The polite answer to an unknown sender when the mailbox takes mail only from known people.
async fn reject(
    app: &App,
    m: &InboundMessage,
    p: &ParsedMail,
    from: &str,
    base: Disposition,
) -> AppResult<InboundMessage> {
    let (to, subject, message_id, id) = (
        from.to_string(),
        p.subject.clone(),
        p.message_id.clone(),
        m.id,
    );
    let r = app
        .store
        .write(move |ctx| {
            Box::pin(async move {
                let now = now();
                crate::app::outbound::queue_rejection(
                    ctx,
                    &to,
                    &subject,
                    message_id.as_deref(),
                    now,
                )
                .await?;
                let d = Disposition {
                    status: "ignored".into(),
                    outcome: Some("rejected".into()),
                    ..base
                };
                settle_in(ctx, id, &d, now).await
            })
        })
        .await;
    settled_elsewhere(app, m.id, r).await
}

/// A requester account for an unknown sender (the mailbox allows it): no password, named from
/// the display name, audited as created through mail.
async fn new_requester(app: &App, email: &str, display_name: Option<&str>) -> AppResult<Actor> {
    let name = display_name
        .map(|n| clean_text(n, 200).replace(['\n', '\t'], " "))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| email.split('@').next().unwrap_or(email).to_string());
    let input = NewUserInput {
        email: email.to_string(),
        name,
        role: "requester".into(),
        password: None,
        organization_id: None,
        team_ids: vec![],
        locale: None,
    };
    let system = Actor::system(Channel::Mail);
    let id = match accounts::create_user(app, &system, input, None).await {
        Ok(u) => u.id,
        // Another message from the same new sender made the account first.
        Err(AppError::Invalid { field, .. }) if field == "email" => {
            let mut conn = app.read().await?;
            user_store::user_by_email(&mut conn, email)
                .await?
                .ok_or_else(|| AppError::invalid("from", "is not a usable address"))?
                .id
        }
        Err(e) => return Err(e),
    };
    let mut conn = app.read().await?;
    Actor::load(&mut conn, id, Channel::Mail).await
}

#[cfg(test)]
mod tests {
    use super::subject_tags;

    #[test]
    fn tags_in_subjects() {
        assert_eq!(subject_tags("Re: [INC-000123] 打印机"), vec!["INC-000123"]);
        assert_eq!(subject_tags("回复：[req-000007]"), vec!["REQ-000007"]);
        assert!(subject_tags("[INC-] [FOO-1] [INC-12a]").is_empty());
    }
}
