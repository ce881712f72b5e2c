//! `steward mailgate`: one message from standard input into the intake.

use crate::app::inbound;
use crate::app::{AppError, Limits};
use std::io::Read;
use std::process::ExitCode;

/// sysexits.h: the MTA bounces the message (no such mailbox).
const EX_NOUSER: u8 = 67;
/// sysexits.h: the MTA keeps the message and tries again later.
const EX_TEMPFAIL: u8 = 75;

/// Reads the message, stores it and queues its processing; the exit code tells the MTA what to
/// do. Processing is the server's (its worker has the search dictionary loaded), so a pipe
/// answers in milliseconds and a burst of mail never waits on parsing.
pub async fn run(db: &str, data_dir: &str, mailbox: &str) -> ExitCode {
    let cap = Limits::default().mail_bytes as u64 + 1;
    let mut raw = Vec::new();
    if let Err(e) = std::io::stdin().take(cap).read_to_end(&mut raw) {
        eprintln!("mailgate: cannot read the message: {e}");
        return ExitCode::from(EX_TEMPFAIL);
    }
    let (mut conn, _) = match steward_store::connect_raw(db).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mailgate: cannot open the database: {e}");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    if let Err(e) = steward_store::schema::check_connection(&mut conn).await {
        eprintln!("mailgate: {e}");
        return ExitCode::from(EX_TEMPFAIL);
    }
    let blobs = match super::blob_dir(data_dir) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("mailgate: {e}");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    let result = inbound::accept(&mut conn, &blobs, mailbox, raw).await;
    // A clean goodbye, so the server logs no broken connection.
    let _ = sqlx::Connection::close(conn).await;
    match result {
        Ok((stored, is_new)) => {
            println!(
                "stored message {} ({}{})",
                stored.id,
                stored.status,
                if is_new { "" } else { ", duplicate" }
            );
            ExitCode::SUCCESS
        }
        Err(AppError::NotFound) => {
            eprintln!("mailgate: no active mailbox {mailbox}");
            ExitCode::from(EX_NOUSER)
        }
        Err(e) => {
            eprintln!("mailgate: the message could not be stored: {e}");
            ExitCode::from(EX_TEMPFAIL)
        }
    }
}
