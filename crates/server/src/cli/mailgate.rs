//! `steward mailgate`: one message from standard input into the intake.

use crate::app::inbound::{self, Source};
use crate::app::{AppError, Limits};
use std::io::Read;
use std::process::ExitCode;
use steward_store::Store;

/// sysexits.h: the MTA bounces the message (no such mailbox).
const EX_NOUSER: u8 = 67;
/// sysexits.h: the MTA keeps the message and tries again later.
const EX_TEMPFAIL: u8 = 75;

pub struct Options {
    pub mailbox: String,
    pub stop_after_store: bool,
}

/// Reads the message, stores and processes it; the exit code tells the MTA what to do.
pub async fn run(db: &str, data_dir: &str, options: Options) -> ExitCode {
    // One byte over the limit is enough to know the message is too large; the rest is never
    // read into memory. The truncated message is stored and quarantined as too large.
    let cap = Limits::default().mail_bytes as u64 + 1;
    let mut raw = Vec::new();
    if let Err(e) = std::io::stdin().take(cap).read_to_end(&mut raw) {
        eprintln!("mailgate: cannot read the message: {e}");
        return ExitCode::from(EX_TEMPFAIL);
    }
    // One message per process: a small pool is enough and opens fast.
    let store = match Store::open(db, 2).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mailgate: cannot open the database: {e}");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    let app = match super::build_app(store.clone(), data_dir) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mailgate: {e}");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    let result = if options.stop_after_store {
        match inbound::store(&app, &options.mailbox, raw, Source::Mailgate).await {
            Ok(_) => {
                eprintln!("mailgate: stopping after the store, as asked");
                std::process::abort();
            }
            Err(e) => Err(e),
        }
    } else {
        inbound::receive(&app, &options.mailbox, raw, Source::Mailgate).await
    };
    store.close().await;
    match result {
        Ok(r) => {
            println!(
                "stored message {} ({}{})",
                r.inbound_id,
                r.status,
                if r.duplicate { ", duplicate" } else { "" }
            );
            ExitCode::SUCCESS
        }
        Err(AppError::NotFound) => {
            eprintln!("mailgate: no active mailbox {}", options.mailbox);
            ExitCode::from(EX_NOUSER)
        }
        Err(e) => {
            eprintln!("mailgate: the message could not be stored: {e}");
            ExitCode::from(EX_TEMPFAIL)
        }
    }
}
