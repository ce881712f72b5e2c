//! Demo data: Knowledge articles in Chinese and English.

use crate::app::{App, AppResult};

pub async fn load(_app: &App) -> AppResult<()> {
    Ok(())
}
