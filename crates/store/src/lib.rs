//! Persistence for Steward: one code path over SQLite and PostgreSQL (sqlx `Any` with portable
//! SQL and numbered `$n` parameters), per-backend DDL, the group-commit writer, the hash-chained
//! audit log and the search index.

pub mod accounts;
pub mod audit;
pub mod catalogue;
pub mod changes;
pub mod cmdb;
pub mod imap;
pub mod jobs;
pub mod knowledge;
pub mod links;
pub mod mail;
pub mod major;
pub mod outbound;
pub mod problems;
pub mod releases;
pub mod reports;
pub mod schema;
pub mod search;
pub mod sla;
pub mod sql;
pub mod tickets;
pub mod webhooks;
pub mod writer;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection};
use std::str::FromStr;
use std::time::Duration;

pub use writer::{WriteCtx, Writer};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("the database schema is at version {found}, this binary needs {expected}: {hint}")]
    SchemaMismatch {
        found: i64,
        expected: i64,
        hint: &'static str,
    },
    #[error("unsupported database URL (use sqlite://PATH or postgres://...)")]
    UnsupportedUrl,
    #[error("the writer has stopped")]
    WriterGone,
}

impl StoreError {
    /// A unique or foreign key constraint failed: the caller maps this to a 409/422.
    pub fn constraint(&self) -> Option<String> {
        match self {
            StoreError::Db(sqlx::Error::Database(e)) => {
                let msg = e.message().to_string();
                let unique = msg.contains("UNIQUE") || msg.contains("duplicate key");
                unique.then_some(msg)
            }
            _ => None,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database: a pool for reads and the single group-commit writer for every change.
#[derive(Clone)]
pub struct Store {
    pub pool: AnyPool,
    pub backend: Backend,
    pub writer: Writer,
}

/// `sqlite://path` gets `mode=rwc` so that a new file is created.
fn normalise_url(url: &str) -> Result<(String, Backend)> {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let url = if rest.contains("mode=") {
            url.to_string()
        } else if rest.contains('?') {
            format!("{url}&mode=rwc")
        } else {
            format!("{url}?mode=rwc")
        };
        Ok((url, Backend::Sqlite))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok((url.to_string(), Backend::Postgres))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}

/// Durability as DESIGN.md sets it: WAL with synchronous=FULL; a commit is on disk when
/// acknowledged. Throughput comes from the writer batching commits, not from weaker settings.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA cache_size = -65536;";
const POSTGRES_SETTINGS: &str = "SET synchronous_commit = on";

async fn prepare_connection(conn: &mut AnyConnection, backend: Backend) -> sqlx::Result<()> {
    let sql = match backend {
        Backend::Sqlite => SQLITE_PRAGMAS,
        Backend::Postgres => POSTGRES_SETTINGS,
    };
    sqlx::Executor::execute(conn, sql).await?;
    Ok(())
}

pub async fn connect_raw(url: &str) -> Result<(AnyConnection, Backend)> {
    sqlx::any::install_default_drivers();
    let (url, backend) = normalise_url(url)?;
    let opts = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
    let mut conn = AnyConnection::connect_with(&opts).await?;
    prepare_connection(&mut conn, backend).await?;
    Ok((conn, backend))
}

impl Store {
    /// Opens the database and checks that its schema is the one this binary was built for.
    pub async fn open(url: &str, max_connections: u32) -> Result<Store> {
        let store = Store::open_unchecked(url, max_connections).await?;
        schema::check(&store.pool).await?;
        Ok(store)
    }

    /// Opens without the schema check; `migrate` uses this.
    pub async fn open_unchecked(url: &str, max_connections: u32) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let (norm, backend) = normalise_url(url)?;
        let opts = AnyConnectOptions::from_str(&norm)?.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(15))
            .after_connect(move |conn, _| {
                Box::pin(async move { prepare_connection(conn, backend).await })
            })
            .connect_with(opts)
            .await?;
        let (writer_conn, _) = connect_raw(url).await?;
        let writer = Writer::start(writer_conn, backend, url.to_string());
        Ok(Store {
            pool,
            backend,
            writer,
        })
    }

    pub async fn migrate(&self) -> Result<Vec<i64>> {
        let mut conn = self.pool.acquire().await?;
        schema::migrate(&mut conn, self.backend).await
    }

    /// Runs `f` inside the next batched transaction; see [`Writer::write`].
    pub async fn write<T, E, F>(&self, f: F) -> std::result::Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(
                &'c mut WriteCtx,
            ) -> futures::future::BoxFuture<'c, std::result::Result<T, E>>
            + Send
            + 'static,
    {
        self.writer.write(f).await
    }

    pub async fn close(&self) {
        self.writer.stop().await;
        self.pool.close().await;
    }
}

/// Microseconds since the Unix epoch, the storage form of every instant.
pub fn now_micros() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}
