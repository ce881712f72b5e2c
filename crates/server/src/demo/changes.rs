//! Demo data: Changes, CAB votes, a freeze period and standard templates.

use crate::app::{App, AppResult};

pub async fn load(_app: &App) -> AppResult<()> {
    Ok(())
}
