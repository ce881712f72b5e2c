//! Who hears about an event, and the mail each of them gets: the recipient's language and
//! choices, the threading headers, one outbox row per recipient keyed on the event, and a
//! `mail.send` job per row.

use super::settings::Settings;
use super::templates::{self, header_text};
use super::{AppError, AppResult, SEND};
use crate::app::events::{Event, EventKind};
use crate::i18n::Lang;
use sha2::Digest as _;
use sqlx::AnyConnection;
use steward_store::accounts::{self, User};
use steward_store::jobs::{self, NewJob};
use steward_store::outbound::{self as store, OutboundMail};
use steward_store::tickets::{self, Scope, Ticket};
use steward_store::WriteCtx;

/// Attempts of one mail before it is marked failed (backoff 10 s … about 21 min in all).
pub const SEND_ATTEMPTS: i64 = 8;

/// The language of a user's mail: their setting, else Chinese, as the pages choose when the
/// browser says nothing.
pub fn user_lang(locale: Option<&str>) -> Lang {
    locale.and_then(Lang::from_code).unwrap_or(Lang::ZhCn)
}

/// A stable Message-ID that every mail of a ticket refers to first, so clients thread them.
pub fn thread_root(ticket_id: i64, domain: &str) -> String {
    format!("<ticket-{ticket_id}@{domain}>")
}

/// `<id>` from a stored Message-ID (with or without brackets); None for a digest that stands
/// in for a missing Message-ID, or anything that could break the header.
fn as_message_id(stored: &str) -> Option<String> {
    let inner = stored.trim().trim_start_matches('<').trim_end_matches('>');
    let clean = inner.contains('@')
        && !inner
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
    clean.then(|| format!("<{inner}>"))
}

/// The people an event is for, before anyone is left out.
async fn addressees(conn: &mut AnyConnection, e: &Event, t: &Ticket) -> AppResult<Vec<i64>> {
    let mut ids = match e.kind {
        EventKind::TicketCreated | EventKind::StatusChanged => vec![t.requester_id],
        EventKind::TicketReplied => {
            let mut v = vec![t.requester_id];
            v.extend(tickets::watchers(conn, t.id).await?);
            v.extend(t.assignee_id);
            v
        }
        EventKind::Resolved => {
            let mut v = vec![t.requester_id];
            v.extend(tickets::watchers(conn, t.id).await?);
            v
        }
        EventKind::Assigned
        | EventKind::ApprovalRequested
        | EventKind::SlaWarning
        | EventKind::SlaBreached => e.recipients.clone(),
    };
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(*id));
    Ok(ids)
}

/// Whether the user wants this event by email; without a choice, they do.
async fn wants_email(conn: &mut AnyConnection, user_id: i64, event: &str) -> AppResult<bool> {
    Ok(store::preferences(conn, user_id)
        .await?
        .into_iter()
        .find(|(e, _)| e == event)
        .is_none_or(|(_, email)| email))
}

/// The subject and body for one event in one language: the admin's wording, else built in.
pub async fn wording(
    conn: &mut AnyConnection,
    event: &str,
    lang: Lang,
) -> AppResult<(String, String)> {
    if let Some(t) = store::get_template(conn, event, lang.code()).await? {
        return Ok((t.subject, t.body));
    }
    let (s, b) = templates::builtin(event, lang)
        .ok_or_else(|| AppError::Internal(format!("no built-in mail template for {event}")))?;
    Ok((s.to_string(), b.to_string()))
}

/// A time from an event's data (RFC 3339) in the recipient's time zone.
fn local_time(rfc3339: &str, time_zone: Option<&str>) -> String {
    let zone = time_zone
        .and_then(|z| jiff::tz::TimeZone::get(z).ok())
        .or_else(|| jiff::tz::TimeZone::get(crate::web::session::DEFAULT_TIME_ZONE).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    match rfc3339.parse::<jiff::Timestamp>() {
        Ok(ts) => ts.to_zoned(zone).strftime("%Y-%m-%d %H:%M %:z").to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

/// What one event's mails share, read once for all its recipients.
struct Facts {
    ticket: Ticket,
    comment: String,
    actor_name: String,
    refs: Vec<String>,
}

/// Records and queues the mails of one event, in the dispatch's transaction. A row whose
/// Message-ID exists (a retried dispatch) is neither written nor queued again.
pub async fn queue_event(
    ctx: &mut WriteCtx,
    settings: &Settings,
    own_addresses: &[String],
    e: &Event,
    now: i64,
) -> AppResult<()> {
    let conn = &mut ctx.conn;
    let Some(ticket) = tickets::get(conn, &Scope::All, e.ticket_id).await? else {
        return Ok(());
    };
    let mut comment = String::new();
    let mut excluded = e.actor_id;
    if e.kind == EventKind::TicketReplied {
        // Only a public reply is ever mailed; an internal note never leaves Steward.
        let Some(c) = match e.comment_id {
            Some(id) => tickets::get_comment(conn, id).await?,
            None => None,
        }
        .filter(|c| !c.internal) else {
            return Ok(());
        };
        excluded = Some(c.author_id);
        comment = c.body;
    }
    let actor_name = match e.actor_id {
        Some(a) => accounts::get_user(conn, a).await?.map(|u| u.name),
        None => None,
    }
    .unwrap_or_else(|| "Steward".to_string());
    let domain = settings.domain().to_string();
    let mut refs = vec![thread_root(ticket.id, &domain)];
    if let Some(original) = store::originating_message_id(conn, ticket.id)
        .await?
        .as_deref()
        .and_then(as_message_id)
    {
        refs.push(original);
    }
    let from = settings.from.email.to_string().to_lowercase();
    let facts = Facts {
        ticket,
        comment,
        actor_name,
        refs,
    };
    for user_id in addressees(conn, e, &facts.ticket).await? {
        // The requester's own acknowledgement is wanted even when they opened the ticket.
        let acknowledgement =
            e.kind == EventKind::TicketCreated && user_id == facts.ticket.requester_id;
        if Some(user_id) == excluded && !acknowledgement {
            continue;
        }
        let Some(user) = accounts::get_user(conn, user_id).await? else {
            continue;
        };
        let address = user.email.trim().to_lowercase();
        // Mail to Steward's own addresses would come back in as a new message: a loop.
        if !user.active || address.is_empty() || address == from || own_addresses.contains(&address)
        {
            continue;
        }
        if !wants_email(conn, user_id, e.kind.as_str()).await? {
            continue;
        }
        let mail = render(conn, settings, e, &facts, &user, now).await?;
        if let Some(id) = store::insert_if_absent(conn, &mail).await? {
            enqueue_send(conn, id, now).await?;
        }
    }
    Ok(())
}

async fn render(
    conn: &mut AnyConnection,
    settings: &Settings,
    e: &Event,
    f: &Facts,
    user: &User,
    now: i64,
) -> AppResult<OutboundMail> {
    let lang = user_lang(user.locale.as_deref());
    let t = &f.ticket;
    let data = |k: &str| e.data.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let metric = match data("metric") {
        "" => String::new(),
        m => lang.t(&format!("sla-metric-{m}")),
    };
    let due_at = match data("due_at") {
        "" => String::new(),
        d => local_time(d, user.time_zone.as_deref()),
    };
    let values = [
        ("number", t.number.clone()),
        ("title", t.title.clone()),
        ("status", lang.t(&format!("status-{}", t.status))),
        ("link", format!("{}/tickets/{}", settings.public_url, t.id)),
        ("comment", f.comment.clone()),
        ("requester", t.requester_name.clone()),
        ("actor", f.actor_name.clone()),
        ("recipient", user.name.clone()),
        ("metric", metric),
        ("due_at", due_at),
    ];
    let (subject, body) = wording(conn, e.kind.as_str(), lang).await?;
    let subject = header_text(&format!(
        "[{}] {}",
        t.number,
        templates::fill(&subject, &values)
    ));
    Ok(OutboundMail {
        id: 0,
        ticket_id: Some(t.id),
        recipient_id: Some(user.id),
        to_address: user.email.trim().to_string(),
        event: e.kind.as_str().to_string(),
        locale: lang.code().to_string(),
        subject,
        body_text: templates::fill(&body, &values),
        body_html: None,
        message_id: format!("<{}.{}@{}>", e.id, user.id, settings.domain()),
        // The requester's own first mail when there is one: their client threads under it.
        in_reply_to: f.refs.last().cloned(),
        thread_refs: Some(f.refs.join(" ")),
        status: store::QUEUED.into(),
        attempts: 0,
        last_error: None,
        created_at: now,
        sent_at: None,
        recipient_name: None,
        ticket_number: None,
    })
}

/// Queues the `mail.send` job of one outbox row.
pub async fn enqueue_send(conn: &mut AnyConnection, mail_id: i64, now: i64) -> AppResult<()> {
    jobs::enqueue(
        conn,
        &NewJob {
            kind: SEND,
            payload: mail_id.to_string(),
            dedupe_key: None,
            run_at: now,
            max_attempts: SEND_ATTEMPTS,
        },
        now,
    )
    .await?;
    Ok(())
}

/// The rejection reply: bilingual (the sender is unknown, so is their language), threaded
/// under their message, with a Message-ID derived from theirs so that re-processing the same
/// message queues no second reply.
pub async fn queue_rejection(
    ctx: &mut WriteCtx,
    to: &str,
    original_subject: &str,
    original_message_id: Option<&str>,
    now: i64,
) -> AppResult<()> {
    let Ok(address) = to.trim().parse::<lettre::Address>() else {
        tracing::debug!("the rejected sender's address cannot be written to");
        return Ok(());
    };
    let conn = &mut ctx.conn;
    let values = [("subject", header_text(original_subject))];
    let mut subject = String::new();
    let mut bodies = Vec::new();
    for lang in templates::LOCALES {
        let (s, b) = wording(conn, templates::REJECTED, lang).await?;
        if subject.is_empty() {
            subject = header_text(&templates::fill(&s, &values));
        }
        bodies.push(templates::fill(&b, &values));
    }
    let original = original_message_id.and_then(as_message_id);
    let from = super::settings::configured_from();
    let seed = match &original {
        Some(id) => id.clone(),
        None => format!("{address} {original_subject} {now}"),
    };
    let digest = hex::encode(sha2::Sha256::digest(seed.as_bytes()));
    let mail = OutboundMail {
        id: 0,
        ticket_id: None,
        recipient_id: None,
        to_address: address.to_string(),
        event: templates::REJECTED.into(),
        locale: Lang::ZhCn.code().into(),
        subject,
        body_text: bodies.join("\n\n----------\n\n"),
        body_html: None,
        message_id: format!("<rejected.{}@{}>", &digest[..32], from.email.domain()),
        in_reply_to: original.clone(),
        thread_refs: original,
        status: store::QUEUED.into(),
        attempts: 0,
        last_error: None,
        created_at: now,
        sent_at: None,
        recipient_name: None,
        ticket_number: None,
    };
    if let Some(id) = store::insert_if_absent(conn, &mail).await? {
        enqueue_send(conn, id, now).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_message_ids_are_bracketed_and_digests_dropped() {
        assert_eq!(as_message_id("abc@x.org").as_deref(), Some("<abc@x.org>"));
        assert_eq!(as_message_id("<abc@x.org>").as_deref(), Some("<abc@x.org>"));
        assert_eq!(as_message_id("sha256:0123abcd"), None);
        assert_eq!(as_message_id("a@b>\r\nBcc: c@d"), None);
    }

    #[test]
    fn an_unset_or_unknown_locale_is_chinese() {
        assert_eq!(user_lang(None), Lang::ZhCn);
        assert_eq!(user_lang(Some("fr")), Lang::ZhCn);
        assert_eq!(user_lang(Some("en")), Lang::En);
    }
}
