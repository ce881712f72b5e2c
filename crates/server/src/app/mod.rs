//! Use-cases: one function per operation. Each authorises the actor, validates with core,
//! performs the change in one transaction through the group-commit writer (records, audit
//! entries, search index together), and returns a view. The API, the web pages and the CLI all
//! call these.

pub mod accounts;
pub mod actor;
pub mod agreements;
pub mod approvals;
pub mod attachments;
pub mod auth;
pub mod calendars;
pub mod catalogue;
pub mod changes;
pub mod cmdb;
pub mod conversation;
pub mod error;
pub mod escalation;
pub mod events;
pub mod idempotency;
pub mod inbound;
pub mod jobs;
pub mod knowledge;
pub mod links;
pub mod major;
pub mod notifications;
pub mod outbound;
pub mod problems;
pub mod releases;
pub mod reports;
pub mod sla;
pub mod tickets;
pub mod views;
pub mod webhooks;

use std::sync::Arc;
use steward_core::PriorityMatrix;
use steward_store::Store;

pub use actor::Actor;
pub use error::{AppError, AppResult};

#[derive(Clone)]
pub struct Limits {
    pub attachment_bytes: usize,
    pub session_idle_secs: i64,
    pub session_absolute_secs: i64,
    /// The largest raw email taken in; a larger one is stored and quarantined.
    pub mail_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            attachment_bytes: 10 * 1024 * 1024,
            session_idle_secs: 60 * 60,
            session_absolute_secs: 12 * 60 * 60,
            mail_bytes: 40 * 1024 * 1024,
        }
    }
}

/// Everything a use-case needs; cheap to clone.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub blobs: Arc<dyn object_store::ObjectStore>,
    pub matrix: Arc<PriorityMatrix>,
    pub throttle: Arc<auth::LoginThrottle>,
    pub limits: Limits,
    pub calendars: Arc<calendars::CalendarCache>,
    pub service_levels: Arc<sla::ConfigCache>,
    pub outbound: Arc<outbound::Settings>,
}

impl App {
    pub fn new(store: Store, blobs: Arc<dyn object_store::ObjectStore>, limits: Limits) -> App {
        App {
            store,
            blobs,
            matrix: Arc::new(PriorityMatrix::default()),
            throttle: Arc::new(auth::LoginThrottle::default()),
            limits,
            calendars: Arc::new(calendars::CalendarCache::default()),
            service_levels: Arc::new(sla::ConfigCache::default()),
            outbound: Arc::new(outbound::Settings::from_env()),
        }
    }

    /// A pooled connection for reads.
    pub async fn read(&self) -> AppResult<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self
            .store
            .pool
            .acquire()
            .await
            .map_err(steward_store::StoreError::from)?)
    }
}

pub fn now() -> i64 {
    steward_store::now_micros()
}

/// Writes audit entries for one change: who, through which channel, on what, when.
pub(crate) struct AuditTrail {
    pub actor_id: Option<i64>,
    pub channel: steward_core::Channel,
    pub entity: &'static str,
    pub entity_id: i64,
    pub at: i64,
}

impl AuditTrail {
    pub fn new(actor: &Actor, entity: &'static str, entity_id: i64, at: i64) -> AuditTrail {
        AuditTrail {
            actor_id: actor.audit_id(),
            channel: actor.channel,
            entity,
            entity_id,
            at,
        }
    }

    pub async fn record(
        &self,
        ctx: &mut steward_store::WriteCtx,
        action: &str,
        field: Option<&str>,
        old_value: Option<String>,
        new_value: Option<String>,
    ) -> AppResult<()> {
        steward_store::audit::append(
            ctx,
            steward_store::audit::NewEntry {
                at: self.at,
                actor_id: self.actor_id,
                channel: self.channel.as_str(),
                entity: self.entity,
                entity_id: self.entity_id,
                action,
                field,
                old_value,
                new_value,
            },
        )
        .await?;
        Ok(())
    }

    /// One entry per field whose value differs.
    pub async fn changes(
        &self,
        ctx: &mut steward_store::WriteCtx,
        changes: &[(&str, Option<String>, Option<String>)],
    ) -> AppResult<()> {
        for (field, old, new) in changes {
            if old != new {
                self.record(ctx, "update", Some(field), old.clone(), new.clone())
                    .await?;
            }
        }
        Ok(())
    }
}
