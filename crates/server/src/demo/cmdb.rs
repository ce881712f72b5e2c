//! Demo data: CI types, CIs and relationships.

use crate::app::{App, AppResult};

pub async fn load(_app: &App) -> AppResult<()> {
    Ok(())
}
