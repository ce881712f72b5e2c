//! Demo data: A release grouping changes.

use crate::app::{App, AppResult};

pub async fn load(_app: &App) -> AppResult<()> {
    Ok(())
}
