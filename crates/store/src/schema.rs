//! Migrations: numbered SQL files per backend, embedded in the binary. Never edit an applied
//! migration; add the next number (see migrations/README.md).

use crate::{Backend, Result, StoreError};
use sqlx::{AnyConnection, AnyPool, Row};

struct Migration {
    version: i64,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sqlite: include_str!("../migrations/sqlite/0001_service_desk.sql"),
        postgres: include_str!("../migrations/postgres/0001_service_desk.sql"),
    },
    Migration {
        version: 2,
        sqlite: include_str!("../migrations/sqlite/0002_service_levels.sql"),
        postgres: include_str!("../migrations/postgres/0002_service_levels.sql"),
    },
    Migration {
        version: 3,
        sqlite: include_str!("../migrations/sqlite/0003_email_and_integrations.sql"),
        postgres: include_str!("../migrations/postgres/0003_email_and_integrations.sql"),
    },
    Migration {
        version: 4,
        sqlite: include_str!("../migrations/sqlite/0004_cmdb.sql"),
        postgres: include_str!("../migrations/postgres/0004_cmdb.sql"),
    },
    Migration {
        version: 5,
        sqlite: include_str!("../migrations/sqlite/0005_changes_and_links.sql"),
        postgres: include_str!("../migrations/postgres/0005_changes_and_links.sql"),
    },
    Migration {
        version: 6,
        sqlite: include_str!("../migrations/sqlite/0006_releases.sql"),
        postgres: include_str!("../migrations/postgres/0006_releases.sql"),
    },
    Migration {
        version: 7,
        sqlite: include_str!("../migrations/sqlite/0007_problems.sql"),
        postgres: include_str!("../migrations/postgres/0007_problems.sql"),
    },
    Migration {
        version: 8,
        sqlite: include_str!("../migrations/sqlite/0008_knowledge.sql"),
        postgres: include_str!("../migrations/postgres/0008_knowledge.sql"),
    },
];

/// The schema version this binary reads and writes.
pub const SCHEMA_VERSION: i64 = 8;

async fn current_version(conn: &mut AnyConnection) -> Result<i64> {
    match sqlx::query("SELECT MAX(version) FROM schema_version")
        .fetch_one(&mut *conn)
        .await
    {
        Ok(row) => Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(0)),
        // No table yet: an empty database.
        Err(sqlx::Error::Database(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Applies every migration newer than the database, each in its own transaction.
/// Returns the versions applied.
pub async fn migrate(conn: &mut AnyConnection, backend: Backend) -> Result<Vec<i64>> {
    sqlx::Executor::execute(&mut *conn, "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
        .await?;
    let found = current_version(conn).await?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaMismatch {
            found,
            expected: SCHEMA_VERSION,
            hint: "the database is newer than this binary; run a newer steward",
        });
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        let sql = match backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        sqlx::Executor::execute(&mut *conn, "BEGIN").await?;
        let result = async {
            sqlx::Executor::execute(&mut *conn, sql).await?;
            sqlx::query("INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)")
                .bind(m.version)
                .bind(crate::now_micros())
                .execute(&mut *conn)
                .await?;
            Ok::<_, sqlx::Error>(())
        }
        .await;
        match result {
            Ok(()) => sqlx::Executor::execute(&mut *conn, "COMMIT").await?,
            Err(e) => {
                sqlx::Executor::execute(&mut *conn, "ROLLBACK").await?;
                return Err(e.into());
            }
        };
        applied.push(m.version);
    }
    Ok(applied)
}

/// Refuses a database whose schema is older or newer than this binary, saying what to run.
pub async fn check(pool: &AnyPool) -> Result<()> {
    let mut conn = pool.acquire().await?;
    check_connection(&mut conn).await
}

/// The same check on a single connection (a short-lived process that opens no pool).
pub async fn check_connection(conn: &mut AnyConnection) -> Result<()> {
    let found = current_version(conn).await?;
    match found.cmp(&SCHEMA_VERSION) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Less => Err(StoreError::SchemaMismatch {
            found,
            expected: SCHEMA_VERSION,
            hint: "run `steward migrate` first",
        }),
        std::cmp::Ordering::Greater => Err(StoreError::SchemaMismatch {
            found,
            expected: SCHEMA_VERSION,
            hint: "the database is newer than this binary; run a newer steward",
        }),
    }
}
