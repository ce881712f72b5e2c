//! Demo data: Problems and known errors linked to the demo incidents.

use crate::app::{App, AppResult};

pub async fn load(_app: &App) -> AppResult<()> {
    Ok(())
}
