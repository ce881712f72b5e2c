//! Mailboxes: the inbound addresses, the team and service each feeds, what happens to mail
//! from unknown senders, and the IMAP settings of a polled one. Admins only.

use crate::app::accounts::double_option;
use crate::app::error::text_field;
use crate::app::{now, Actor, App, AppError, AppResult, AuditTrail};
use serde::{Deserialize, Serialize};
use steward_core::text::single_line;
use steward_core::Capability;
use steward_store::mail::{self, Mailbox};
use steward_store::{accounts, catalogue};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MailboxView {
    pub id: i64,
    pub address: String,
    pub name: String,
    pub team_id: Option<i64>,
    pub service_id: Option<i64>,
    pub create_requesters: bool,
    /// reject or quarantine: what happens to an unknown sender's mail when
    /// create_requesters is off.
    pub unknown_sender: String,
    pub imap_host: Option<String>,
    pub imap_port: Option<i64>,
    /// tls, starttls or none
    pub imap_security: Option<String>,
    pub imap_username: Option<String>,
    /// The password itself is never returned.
    pub imap_password_set: bool,
    pub imap_folder: Option<String>,
    /// move or flag
    pub imap_after: Option<String>,
    pub imap_done_folder: Option<String>,
    pub imap_last_polled_at: Option<i64>,
    pub imap_last_error: Option<String>,
    pub active: bool,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&Mailbox> for MailboxView {
    fn from(m: &Mailbox) -> Self {
        MailboxView {
            id: m.id,
            address: m.address.clone(),
            name: m.name.clone(),
            team_id: m.team_id,
            service_id: m.service_id,
            create_requesters: m.create_requesters,
            unknown_sender: m.unknown_sender.clone(),
            imap_host: m.imap_host.clone(),
            imap_port: m.imap_port,
            imap_security: m.imap_security.clone(),
            imap_username: m.imap_username.clone(),
            imap_password_set: m.imap_password.as_deref().is_some_and(|p| !p.is_empty()),
            imap_folder: m.imap_folder.clone(),
            imap_after: m.imap_after.clone(),
            imap_done_folder: m.imap_done_folder.clone(),
            imap_last_polled_at: m.imap_last_polled_at,
            imap_last_error: m.imap_last_error.clone(),
            active: m.active,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl MailboxView {
    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.id, self.version)
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxInput {
    pub address: String,
    pub name: String,
    pub team_id: Option<i64>,
    pub service_id: Option<i64>,
    #[serde(default)]
    pub create_requesters: bool,
    /// reject or quarantine (default quarantine)
    pub unknown_sender: Option<String>,
    pub imap_host: Option<String>,
    pub imap_port: Option<i64>,
    pub imap_security: Option<String>,
    pub imap_username: Option<String>,
    /// Write-only.
    pub imap_password: Option<String>,
    pub imap_folder: Option<String>,
    pub imap_after: Option<String>,
    pub imap_done_folder: Option<String>,
    pub active: Option<bool>,
}

/// Absent fields stay; null clears a nullable one.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxPatch {
    pub address: Option<String>,
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub team_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub service_id: Option<Option<i64>>,
    pub create_requesters: Option<bool>,
    pub unknown_sender: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub imap_host: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub imap_port: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub imap_security: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub imap_username: Option<Option<String>>,
    /// Write-only; null removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub imap_password: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub imap_folder: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub imap_after: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub imap_done_folder: Option<Option<String>>,
    pub active: Option<bool>,
}

fn optional_line(field: &str, v: Option<String>, max: usize) -> AppResult<Option<String>> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => text_field(field, single_line(s, max)).map(Some),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks and normalises a whole mailbox (after a create or a patch is applied).
async fn validate(app: &App, m: &mut Mailbox) -> AppResult<()> {
    let address = text_field("address", single_line(&m.address, 254))?.to_lowercase();
    let valid = address
        .split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !address.contains(char::is_whitespace);
    if !valid {
        return Err(AppError::invalid("address", "is not an email address"));
    }
    m.address = address;
    m.name = text_field("name", single_line(&m.name, 200))?;
    if !["reject", "quarantine"].contains(&m.unknown_sender.as_str()) {
        return Err(AppError::invalid(
            "unknown_sender",
            "must be reject or quarantine",
        ));
    }
    m.imap_host = optional_line("imap_host", m.imap_host.take(), 253)?;
    m.imap_username = optional_line("imap_username", m.imap_username.take(), 254)?;
    m.imap_folder = optional_line("imap_folder", m.imap_folder.take(), 200)?;
    m.imap_done_folder = optional_line("imap_done_folder", m.imap_done_folder.take(), 200)?;
    if let Some(p) = &m.imap_password {
        if p.len() > 1000 || p.contains(['\r', '\n']) {
            return Err(AppError::invalid(
                "imap_password",
                "is not a usable password",
            ));
        }
    }
    if let Some(host) = &m.imap_host {
        let security = m.imap_security.get_or_insert_with(|| "tls".into());
        if !["tls", "starttls", "none"].contains(&security.as_str()) {
            return Err(AppError::invalid(
                "imap_security",
                "must be tls, starttls or none",
            ));
        }
        // A password in clear text crosses no network: none only to this machine.
        if security == "none" && !is_loopback(host) {
            return Err(AppError::invalid(
                "imap_security",
                "none is allowed only for a loopback host",
            ));
        }
        let port = *m
            .imap_port
            .get_or_insert(if security == "tls" { 993 } else { 143 });
        if !(1..=65535).contains(&port) {
            return Err(AppError::invalid("imap_port", "must be 1 to 65535"));
        }
        if m.imap_username.is_none() {
            return Err(AppError::invalid(
                "imap_username",
                "is required with imap_host",
            ));
        }
        m.imap_folder.get_or_insert_with(|| "INBOX".into());
        let after = m.imap_after.get_or_insert_with(|| "flag".into());
        if !["move", "flag"].contains(&after.as_str()) {
            return Err(AppError::invalid("imap_after", "must be move or flag"));
        }
        if after == "move" && m.imap_done_folder.is_none() {
            return Err(AppError::invalid(
                "imap_done_folder",
                "is required when imap_after is move",
            ));
        }
    }
    let mut conn = app.read().await?;
    if let Some(t) = m.team_id {
        accounts::get_team(&mut conn, t)
            .await?
            .ok_or_else(|| AppError::invalid("team_id", "no such team"))?;
    }
    if let Some(s) = m.service_id {
        catalogue::get_service(&mut conn, s)
            .await?
            .ok_or_else(|| AppError::invalid("service_id", "no such service"))?;
    }
    Ok(())
}

pub async fn list_mailboxes(app: &App, actor: &Actor) -> AppResult<Vec<MailboxView>> {
    actor.require(Capability::ManageAccounts)?;
    let mut conn = app.read().await?;
    Ok(mail::list_mailboxes(&mut conn)
        .await?
        .iter()
        .map(MailboxView::from)
        .collect())
}

pub async fn get_mailbox(app: &App, actor: &Actor, id: i64) -> AppResult<MailboxView> {
    actor.require(Capability::ManageAccounts)?;
    let mut conn = app.read().await?;
    mail::get_mailbox(&mut conn, id)
        .await?
        .map(|m| MailboxView::from(&m))
        .ok_or(AppError::NotFound)
}

pub async fn create_mailbox(
    app: &App,
    actor: &Actor,
    input: MailboxInput,
) -> AppResult<MailboxView> {
    actor.require(Capability::ManageAccounts)?;
    let now = now();
    let mut m = Mailbox {
        address: input.address,
        name: input.name,
        team_id: input.team_id,
        service_id: input.service_id,
        create_requesters: input.create_requesters,
        unknown_sender: input.unknown_sender.unwrap_or_else(|| "quarantine".into()),
        imap_host: input.imap_host,
        imap_port: input.imap_port,
        imap_security: input.imap_security,
        imap_username: input.imap_username,
        imap_password: input.imap_password,
        imap_folder: input.imap_folder,
        imap_after: input.imap_after,
        imap_done_folder: input.imap_done_folder,
        active: input.active.unwrap_or(true),
        version: 1,
        created_at: now,
        updated_at: now,
        ..Mailbox::default()
    };
    validate(app, &mut m).await?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                if mail::mailbox_by_address(&mut ctx.conn, &m.address)
                    .await?
                    .is_some()
                {
                    return Err(AppError::invalid(
                        "address",
                        "another mailbox has this address",
                    ));
                }
                m.id = mail::insert_mailbox(&mut ctx.conn, &m).await?;
                AuditTrail::new(&actor, "mailbox", m.id, now)
                    .record(ctx, "create", None, None, Some(m.address.clone()))
                    .await?;
                Ok(MailboxView::from(&m))
            })
        })
        .await
}

pub async fn update_mailbox(
    app: &App,
    actor: &Actor,
    id: i64,
    p: MailboxPatch,
    if_match: Option<i64>,
) -> AppResult<MailboxView> {
    actor.require(Capability::ManageAccounts)?;
    let old = {
        let mut conn = app.read().await?;
        mail::get_mailbox(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound)?
    };
    if if_match.is_some_and(|v| v != old.version) {
        return Err(AppError::Stale);
    }
    let mut m = old.clone();
    macro_rules! apply {
        ($($field:ident),*) => { $( if let Some(v) = p.$field { m.$field = v; } )* };
    }
    apply!(
        address,
        name,
        team_id,
        service_id,
        create_requesters,
        unknown_sender,
        imap_host,
        imap_port,
        imap_security,
        imap_username,
        imap_password,
        imap_folder,
        imap_after,
        imap_done_folder,
        active
    );
    validate(app, &mut m).await?;
    let now = now();
    m.version = old.version + 1;
    m.updated_at = now;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                if m.address != old.address
                    && mail::mailbox_by_address(&mut ctx.conn, &m.address)
                        .await?
                        .is_some()
                {
                    return Err(AppError::invalid(
                        "address",
                        "another mailbox has this address",
                    ));
                }
                if !mail::update_mailbox(&mut ctx.conn, &m, old.version).await? {
                    return Err(AppError::Stale);
                }
                let text = |v: &Option<String>| v.clone();
                let num = |v: Option<i64>| v.map(|v| v.to_string());
                // The password is a secret: the log says that it changed, never what it is.
                let secret = |v: &Option<String>| v.as_ref().map(|_| "(set)".to_string());
                AuditTrail::new(&actor, "mailbox", id, now)
                    .changes(
                        ctx,
                        &[
                            (
                                "address",
                                Some(old.address.clone()),
                                Some(m.address.clone()),
                            ),
                            ("name", Some(old.name.clone()), Some(m.name.clone())),
                            ("team_id", num(old.team_id), num(m.team_id)),
                            ("service_id", num(old.service_id), num(m.service_id)),
                            (
                                "create_requesters",
                                Some(old.create_requesters.to_string()),
                                Some(m.create_requesters.to_string()),
                            ),
                            (
                                "unknown_sender",
                                Some(old.unknown_sender.clone()),
                                Some(m.unknown_sender.clone()),
                            ),
                            ("imap_host", text(&old.imap_host), text(&m.imap_host)),
                            ("imap_port", num(old.imap_port), num(m.imap_port)),
                            (
                                "imap_security",
                                text(&old.imap_security),
                                text(&m.imap_security),
                            ),
                            (
                                "imap_username",
                                text(&old.imap_username),
                                text(&m.imap_username),
                            ),
                            (
                                "imap_password",
                                secret(&old.imap_password),
                                if old.imap_password == m.imap_password {
                                    secret(&old.imap_password)
                                } else {
                                    m.imap_password.as_ref().map(|_| "(changed)".to_string())
                                },
                            ),
                            ("imap_folder", text(&old.imap_folder), text(&m.imap_folder)),
                            ("imap_after", text(&old.imap_after), text(&m.imap_after)),
                            (
                                "imap_done_folder",
                                text(&old.imap_done_folder),
                                text(&m.imap_done_folder),
                            ),
                            (
                                "active",
                                Some(old.active.to_string()),
                                Some(m.active.to_string()),
                            ),
                        ],
                    )
                    .await?;
                Ok(MailboxView::from(&m))
            })
        })
        .await
}
