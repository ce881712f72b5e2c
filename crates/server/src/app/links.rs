//! Typed links between any two records (core::link), shown on both sides. The actor must see
//! both ends (404 otherwise, with the ticket visibility rules for tickets); staff who work
//! records link and unlink, auditors read, requesters see no links at all. Every link and
//! unlink is audited on both records.

use super::{now, Actor, App, AppError, AppResult, AuditTrail};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use steward_core::link::check_link;
use steward_core::{Capability, LinkDirection, LinkType, RecordKind};
use steward_store::links::{self as store, Link, RecordLabel};
use steward_store::WriteCtx;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLinkInput {
    /// ticket, problem, change, release, ci or article
    pub source_kind: String,
    pub source_id: i64,
    pub target_kind: String,
    pub target_id: i64,
    /// caused_by, duplicates, related or resolved_by (the source is caused by the target …)
    pub link_type: String,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
pub struct LinkQuery {
    /// The record's kind.
    pub kind: String,
    /// The record's id.
    pub id: i64,
}

/// A link seen from one of its records.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LinkView {
    pub id: i64,
    pub link_type: String,
    /// outgoing: this record is the source ("caused by"); incoming: the target ("causes").
    pub direction: String,
    pub source_kind: String,
    pub source_id: i64,
    pub target_kind: String,
    pub target_id: i64,
    /// The record at the other end.
    pub other_kind: String,
    pub other_id: i64,
    pub other_number: String,
    pub other_title: String,
    pub other_status: String,
    /// The other record's page.
    pub other_url: String,
    pub created_by: i64,
    pub created_at: String,
}

impl LinkView {
    /// The Fluent key of how this link reads from the record it was listed for.
    pub fn label_key(&self) -> String {
        let dir = if self.direction == "incoming" {
            LinkDirection::Incoming
        } else {
            LinkDirection::Outgoing
        };
        self.link_type
            .parse::<LinkType>()
            .map(|t| t.label_key(dir))
            .unwrap_or_else(|_| self.link_type.clone())
    }

    /// The Fluent prefix of the other record's status labels: each kind has its own statuses.
    pub fn status_prefix(&self) -> &'static str {
        match self.other_kind.as_str() {
            "problem" => "problem-status",
            "change" => "change-status",
            "release" => "release-status",
            "ci" => "cmdb-status",
            "article" => "kb-status",
            _ => "status",
        }
    }
}

/// The page of a record. The one place to adjust when a slice's pages live elsewhere.
pub fn record_url(kind: &str, id: i64) -> String {
    match kind {
        "ticket" => format!("/tickets/{id}"),
        "problem" => format!("/problems/{id}"),
        "change" => format!("/changes/{id}"),
        "release" => format!("/releases/{id}"),
        "ci" => format!("/cmdb/{id}"),
        "article" => format!("/knowledge/{id}"),
        _ => "/".to_string(),
    }
}

pub fn parse_kind(field: &str, v: &str) -> AppResult<RecordKind> {
    v.parse().map_err(|_| {
        AppError::invalid(
            field,
            "must be one of ticket, problem, change, release, ci, article",
        )
    })
}

fn parse_type(v: &str) -> AppResult<LinkType> {
    v.parse().map_err(|_| {
        AppError::invalid(
            "link_type",
            "must be one of caused_by, duplicates, related, resolved_by",
        )
    })
}

/// The record if the actor may see it: tickets by the ticket rules, every other kind by
/// staff; requesters see no record through links.
pub(crate) async fn visible(
    conn: &mut AnyConnection,
    actor: &Actor,
    kind: RecordKind,
    id: i64,
) -> AppResult<RecordLabel> {
    if !actor.role.is_staff() {
        return Err(AppError::NotFound);
    }
    if kind == RecordKind::Ticket {
        let t = actor.visible_ticket(conn, id).await?;
        return Ok(RecordLabel {
            number: t.number,
            title: t.title,
            status: t.status,
        });
    }
    store::label(conn, kind.as_str(), id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Whether the actor links records: staff who work tickets, problems, changes, the CMDB or
/// knowledge. Auditors only read.
pub fn can_link(actor: &Actor) -> bool {
    [
        Capability::WorkTickets,
        Capability::WorkProblems,
        Capability::ManageChanges,
        Capability::ManageCmdb,
        Capability::WriteKnowledge,
    ]
    .iter()
    .any(|c| actor.can(*c))
}

fn view(l: &Link, from_kind: &str, from_id: i64, other: RecordLabel) -> LinkView {
    let outgoing = l.source_kind == from_kind && l.source_id == from_id;
    let (other_kind, other_id) = if outgoing {
        (l.target_kind.clone(), l.target_id)
    } else {
        (l.source_kind.clone(), l.source_id)
    };
    LinkView {
        id: l.id,
        link_type: l.link_type.clone(),
        direction: if outgoing { "outgoing" } else { "incoming" }.into(),
        source_kind: l.source_kind.clone(),
        source_id: l.source_id,
        target_kind: l.target_kind.clone(),
        target_id: l.target_id,
        other_url: record_url(&other_kind, other_id),
        other_kind,
        other_id,
        other_number: other.number,
        other_title: other.title,
        other_status: other.status,
        created_by: l.created_by,
        created_at: super::views::instant(l.created_at),
    }
}

/// Makes a link in the caller's transaction, audited on both records; None when the same
/// link exists already. The caller has checked that the actor sees both ends and may link.
pub(crate) async fn link_in(
    ctx: &mut WriteCtx,
    actor: &Actor,
    source: (RecordKind, i64),
    target: (RecordKind, i64),
    link_type: LinkType,
    at: i64,
) -> AppResult<Option<i64>> {
    check_link(source, target).map_err(|m| AppError::invalid("target_id", m))?;
    let l = Link {
        id: 0,
        source_kind: source.0.as_str().into(),
        source_id: source.1,
        target_kind: target.0.as_str().into(),
        target_id: target.1,
        link_type: link_type.as_str().into(),
        created_by: actor.user_id,
        created_at: at,
    };
    let Some(id) = store::insert(&mut ctx.conn, &l).await? else {
        return Ok(None);
    };
    audit_both(ctx, actor, &l, "link", at).await?;
    Ok(Some(id))
}

async fn audit_both(
    ctx: &mut WriteCtx,
    actor: &Actor,
    l: &Link,
    action: &str,
    at: i64,
) -> AppResult<()> {
    for (kind, id, other_kind, other_id) in [
        (&l.source_kind, l.source_id, &l.target_kind, l.target_id),
        (&l.target_kind, l.target_id, &l.source_kind, l.source_id),
    ] {
        let kind = parse_kind("kind", kind)?;
        AuditTrail::new(actor, kind.as_str(), id, at)
            .record(
                ctx,
                action,
                Some("link"),
                None,
                Some(format!("{} {other_kind}:{other_id}", l.link_type)),
            )
            .await?;
    }
    Ok(())
}

pub async fn create(app: &App, actor: &Actor, input: NewLinkInput) -> AppResult<LinkView> {
    let source_kind = parse_kind("source_kind", &input.source_kind)?;
    let target_kind = parse_kind("target_kind", &input.target_kind)?;
    let link_type = parse_type(&input.link_type)?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                visible(&mut ctx.conn, &actor, source_kind, input.source_id).await?;
                let other = visible(&mut ctx.conn, &actor, target_kind, input.target_id).await?;
                if !can_link(&actor) {
                    return Err(AppError::forbidden("your role does not allow linking"));
                }
                let id = link_in(
                    ctx,
                    &actor,
                    (source_kind, input.source_id),
                    (target_kind, input.target_id),
                    link_type,
                    now(),
                )
                .await?
                .ok_or_else(|| AppError::Conflict {
                    message: "these records are linked this way already".into(),
                    allowed: None,
                })?;
                let l = store::get(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                Ok(view(&l, source_kind.as_str(), input.source_id, other))
            })
        })
        .await
}

/// The links of a record, both ways, each with the record at its other end; links to records
/// the actor may not see are left out.
pub async fn list(app: &App, actor: &Actor, kind: &str, id: i64) -> AppResult<Vec<LinkView>> {
    let kind = parse_kind("kind", kind)?;
    let mut conn = app.read().await?;
    visible(&mut conn, actor, kind, id).await?;
    let mut out = Vec::new();
    for l in store::for_record(&mut conn, kind.as_str(), id).await? {
        let outgoing = l.source_kind == kind.as_str() && l.source_id == id;
        let (ok, oid) = if outgoing {
            (&l.target_kind, l.target_id)
        } else {
            (&l.source_kind, l.source_id)
        };
        let Ok(other_kind) = ok.parse::<RecordKind>() else {
            continue;
        };
        match visible(&mut conn, actor, other_kind, oid).await {
            Ok(other) => out.push(view(&l, kind.as_str(), id, other)),
            Err(AppError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

pub async fn delete(app: &App, actor: &Actor, id: i64) -> AppResult<()> {
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let l = store::get(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                for (k, i) in [(&l.source_kind, l.source_id), (&l.target_kind, l.target_id)] {
                    visible(&mut ctx.conn, &actor, parse_kind("kind", k)?, i).await?;
                }
                if !can_link(&actor) {
                    return Err(AppError::forbidden("your role does not allow unlinking"));
                }
                store::delete(&mut ctx.conn, id).await?;
                audit_both(ctx, &actor, &l, "unlink", now()).await
            })
        })
        .await
}

/// Finds a record by its number (or a CI by name, or an id) for the add-link forms; 404 when
/// there is none the actor may see.
pub async fn find(
    app: &App,
    actor: &Actor,
    kind: &str,
    text: &str,
) -> AppResult<(RecordKind, i64)> {
    let kind = parse_kind("kind", kind)?;
    let mut conn = app.read().await?;
    let id = store::find(&mut conn, kind.as_str(), text)
        .await?
        .ok_or_else(|| AppError::invalid("number", "no record with this number"))?;
    visible(&mut conn, actor, kind, id)
        .await
        .map_err(|e| match e {
            AppError::NotFound => AppError::invalid("number", "no record with this number"),
            e => e,
        })?;
    Ok((kind, id))
}

/// The number of a record the actor may see.
pub async fn number_of(app: &App, actor: &Actor, kind: RecordKind, id: i64) -> AppResult<String> {
    let mut conn = app.read().await?;
    Ok(visible(&mut conn, actor, kind, id).await?.number)
}
