//! `steward bench-imap`: the IMAP drain benchmark of issue 4 (scripts/bench-imap.sh; see
//! BENCHMARKS.md). On a fresh database it adds one mailbox polled from the given server
//! (a fixture row, bypassing the mailbox admin), then times the poller draining the folder:
//! through the real intake, or through a no-op intake that measures the IMAP side alone.

use crate::app::inbound::{self, imap};
use std::time::Instant;
use steward_store::Store;

pub struct Options {
    pub host: String,
    pub port: u16,
    /// tls, starttls or none
    pub security: String,
    pub username: String,
    pub password: String,
    pub folder: String,
    /// Hand each message to a no-op instead of the intake.
    pub no_intake: bool,
}

const ADDRESS: &str = "bench-imap@steward.invalid";

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

pub async fn run(db: &str, data_dir: &str, o: Options) -> Result<(), String> {
    let store = Store::open_unchecked(db, 8).await.map_err(err)?;
    store.migrate().await.map_err(err)?;
    let app = super::build_app(store.clone(), data_dir)?;
    let mut conn = store.pool.acquire().await.map_err(err)?;
    sqlx::query(
        "INSERT INTO mailboxes (address, name, create_requesters, unknown_sender, imap_host, \
         imap_port, imap_security, imap_username, imap_password, imap_folder, imap_after, \
         imap_done_folder, active, version, created_at, updated_at) \
         VALUES ($1, 'IMAP benchmark', 1, 'quarantine', $2, $3, $4, $5, $6, $7, 'move', \
         'Processed', 1, 1, $8, $8)",
    )
    .bind(ADDRESS)
    .bind(&o.host)
    .bind(i64::from(o.port))
    .bind(&o.security)
    .bind(&o.username)
    .bind(&o.password)
    .bind(&o.folder)
    .bind(steward_store::now_micros())
    .execute(&mut *conn)
    .await
    .map_err(|e| format!("bench-imap needs a fresh database: {e}"))?;
    let mailbox = steward_store::imap::polled_mailboxes(&mut conn)
        .await
        .map_err(err)?
        .into_iter()
        .find(|m| m.address == ADDRESS)
        .ok_or("the benchmark mailbox was not stored")?;
    drop(conn);

    let started = Instant::now();
    let mut taken = 0;
    // One poll drains up to 20,000 messages; poll again only if a backlog is left over.
    let refused = loop {
        let drained = if o.no_intake {
            imap::poll_mailbox_with(&app, &mailbox, |_raw| async { Ok(()) }).await
        } else {
            let app = &app;
            imap::poll_mailbox_with(app, &mailbox, |raw| async move {
                inbound::receive(app, ADDRESS, raw, inbound::Source::Imap)
                    .await
                    .map(|_| ())
            })
            .await
        }
        .map_err(err)?;
        taken += drained.taken;
        if drained.taken == 0 {
            break drained.refused;
        }
    };
    let secs = started.elapsed().as_secs_f64();
    let intake = if o.no_intake { "no-op" } else { "real" };
    println!(
        "bench-imap {db}: {intake} intake, {taken} messages drained in {secs:.1} s \
         ({:.0} messages/s), {refused} left on the server",
        taken as f64 / secs.max(f64::EPSILON)
    );
    if !o.no_intake {
        let mut conn = store.pool.acquire().await.map_err(err)?;
        for table in ["inbound_messages", "tickets"] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&mut *conn)
                .await
                .map_err(err)?;
            println!("  {table}: {n}");
        }
    }
    store.close().await;
    Ok(())
}
