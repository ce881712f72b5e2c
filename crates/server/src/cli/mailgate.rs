//! `steward mailgate`: one message from standard input into the intake.

use std::process::ExitCode;

/// Reads the message, stores and processes it; the exit code tells the MTA what to do.
pub async fn run(_db: &str, _data_dir: &str, _mailbox: &str) -> ExitCode {
    ExitCode::from(75)
}
