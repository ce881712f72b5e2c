//! `steward bench-sweep`: the escalation sweep benchmark of issue 3 (see BENCHMARKS.md).
//!
//! On an empty database it bulk-loads fixtures with set-based SQL (the same statements on
//! SQLite and PostgreSQL), bypassing the app: a team, a requester and an agent, one active SLA
//! on the built-in 24×7 calendar, N tickets of which M are open, and two running clocks per open
//! ticket. The response clocks of the first `due` open tickets are an hour past their target,
//! so the sweep warns and breaches them; every other clock escalates 17 minutes or more in the
//! future. Then it runs the real sweep (`app::sla::sweep`) twice and prints the figures and the
//! query plan of the due-clock query.

use crate::app::{escalation, sla};
use sqlx::{AnyConnection, Row};
use std::time::{Duration, Instant};
use steward_store::{Backend, Store};

pub struct Options {
    pub tickets: i64,
    pub open: i64,
    pub due: i64,
}

/// Rows per fixture statement.
const CHUNK: i64 = 100_000;
/// Business seconds per priority (P1..P5) on the 24×7 calendar: response, resolution.
const TARGETS: [(i64, i64); 5] = [
    (30 * 60, 4 * 3600),
    (3600, 8 * 3600),
    (2 * 3600, 24 * 3600),
    (4 * 3600, 72 * 3600),
    (8 * 3600, 120 * 3600),
];
const WARN_PER_MILLE: i64 = 750;
/// The built-in 24×7 calendar (migration 0002).
const CALENDAR_24X7: i64 = 2;
const ACTIONS: &str = r#"{"notify_assignee":true}"#;

/// The statement of `steward_store::sla::due_for_escalation` with its values written in, for
/// EXPLAIN; keep the two in step.
fn due_query(now: i64, limit: i64) -> String {
    format!(
        "SELECT c.id, c.ticket_id, c.sla_id, c.metric, c.calendar_id, c.target_secs, \
         c.started_at, c.state, c.since, c.elapsed_secs, c.paused_secs, c.breached_at, c.due_at, \
         c.baseline, c.escalation_level, c.next_escalation_at, c.breach_reason, s.name \
         FROM sla_clocks c JOIN slas s ON s.id = c.sla_id \
         WHERE c.next_escalation_at IS NOT NULL AND c.next_escalation_at <= {now} \
         ORDER BY c.next_escalation_at, c.id LIMIT {limit}"
    )
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn count(conn: &mut AnyConnection, table: &str) -> Result<i64, String> {
    let row = sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(conn)
        .await
        .map_err(err)?;
    row.try_get(0).map_err(err)
}

async fn insert_id(conn: &mut AnyConnection, sql: &str, now: i64) -> Result<i64, String> {
    let row = sqlx::query(sql)
        .bind(now)
        .fetch_one(conn)
        .await
        .map_err(err)?;
    row.try_get(0).map_err(err)
}

struct Fixture {
    sla_id: i64,
    team_id: i64,
    requester_id: i64,
    agent_id: i64,
}

async fn load_people_and_agreement(conn: &mut AnyConnection, now: i64) -> Result<Fixture, String> {
    let team_id = insert_id(
        conn,
        "INSERT INTO teams (name, created_at, updated_at) VALUES ('Bench team', $1, $1) RETURNING id",
        now,
    )
    .await?;
    let requester_id = insert_id(
        conn,
        "INSERT INTO users (email, name, role, active, created_at, updated_at) \
         VALUES ('bench.requester@example.com', 'Bench requester', 'requester', 1, $1, $1) RETURNING id",
        now,
    )
    .await?;
    let agent_id = insert_id(
        conn,
        "INSERT INTO users (email, name, role, active, created_at, updated_at) \
         VALUES ('bench.agent@example.com', 'Bench agent', 'agent', 1, $1, $1) RETURNING id",
        now,
    )
    .await?;
    sqlx::query("INSERT INTO team_members (team_id, user_id) VALUES ($1, $2)")
        .bind(team_id)
        .bind(agent_id)
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    let row = sqlx::query(
        "INSERT INTO slas (name, kind, organization_id, team_id, calendar_id, valid_from, valid_to, \
         review_date, status, warn_per_mille, warning_actions, breach_actions, version, created_at, \
         updated_at) VALUES ('Bench 24x7', 'sla', NULL, NULL, $1, '2020-01-01', NULL, NULL, 'active', \
         $2, $3, $3, 1, $4, $4) RETURNING id",
    )
    .bind(CALENDAR_24X7)
    .bind(WARN_PER_MILLE)
    .bind(ACTIONS)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(err)?;
    let sla_id: i64 = row.try_get(0).map_err(err)?;
    for (i, (response, resolution)) in TARGETS.iter().enumerate() {
        sqlx::query(
            "INSERT INTO sla_targets (sla_id, priority, response_secs, resolution_secs) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(sla_id)
        .bind(i as i64 + 1)
        .bind(*response)
        .bind(*resolution)
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    }
    Ok(Fixture {
        sla_id,
        team_id,
        requester_id,
        agent_id,
    })
}

/// Tickets `from..=to` (1-based). The first `tickets - open` are closed (one a minute, going back
/// from now); open ticket k (1-based) is in progress and started `k % 300` seconds ago, or, for
/// k <= due, an hour and `k % 300` seconds past its response target.
const TICKETS_SQL: &str = "WITH RECURSIVE seq(n) AS (SELECT $1 UNION ALL SELECT n + 1 FROM seq WHERE n < $2) \
    INSERT INTO tickets (number, kind, title, description, requester_id, organization_id, team_id, \
      assignee_id, impact, urgency, priority, priority_reason, status, version, created_at, updated_at, \
      resolved_at, closed_at, sla_due_at) \
    SELECT 'INC-' || CASE WHEN x.n < 1000000 THEN substr(CAST(1000000 + x.n AS TEXT), 2) \
                          ELSE CAST(x.n AS TEXT) END, \
      'incident', 'Benchmark ticket', 'Fixture of the escalation sweep benchmark', $8, NULL, $9, $10, \
      'medium', 'medium', x.p, 'benchmark fixture', \
      CASE WHEN x.k > 0 THEN 'in_progress' ELSE 'closed' END, 1, x.c, x.c, \
      CASE WHEN x.k > 0 THEN NULL ELSE x.c + 3600000000 END, \
      CASE WHEN x.k > 0 THEN NULL ELSE x.c + 3600000000 END, \
      CASE WHEN x.k > 0 THEN x.c + x.r * 1000000 ELSE NULL END \
    FROM (SELECT s.n AS n, s.n - $3 AS k, st.priority AS p, st.response_secs AS r, \
            CASE WHEN s.n <= $3 THEN $4 - ($6 - s.n + 1) * 60000000 \
                 WHEN s.n - $3 <= $5 THEN $4 - (st.response_secs + 3600 + (s.n - $3) % 300) * 1000000 \
                 ELSE $4 - ((s.n - $3) % 300) * 1000000 END AS c \
          FROM seq s JOIN sla_targets st ON st.sla_id = $7 AND st.priority = s.n % 5 + 1) x \
    ORDER BY x.n";

/// One running clock per open ticket for a metric; the next escalation is the warning instant
/// (750 ‰ of the target; on the 24×7 calendar business seconds are wall-clock seconds).
fn clocks_sql(metric: &str, target_column: &str) -> String {
    format!(
        "INSERT INTO sla_clocks (ticket_id, sla_id, metric, calendar_id, target_secs, started_at, \
           state, since, elapsed_secs, paused_secs, breached_at, due_at, baseline, escalation_level, \
           next_escalation_at) \
         SELECT t.id, st.sla_id, '{metric}', $1, st.{target_column}, t.created_at, 'running', \
           t.created_at, 0, 0, NULL, t.created_at + st.{target_column} * 1000000, 1, 0, \
           t.created_at + (st.{target_column} * {WARN_PER_MILLE} / 1000) * 1000000 \
         FROM tickets t JOIN sla_targets st ON st.sla_id = $2 AND st.priority = t.priority \
         WHERE t.status = 'in_progress' ORDER BY t.id"
    )
}

async fn plan(conn: &mut AnyConnection, backend: Backend, now: i64) -> Result<Vec<String>, String> {
    let (prefix, column) = match backend {
        Backend::Sqlite => ("EXPLAIN QUERY PLAN ", 3),
        Backend::Postgres => ("EXPLAIN ", 0),
    };
    let rows = sqlx::query(&format!("{prefix}{}", due_query(now, 500)))
        .fetch_all(conn)
        .await
        .map_err(err)?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(column).map_err(err))
        .collect()
}

pub async fn run(db: &str, data_dir: &str, o: Options) -> Result<(), String> {
    if o.tickets < 1 || o.open < 0 || o.open > o.tickets || o.due < 0 || o.due > o.open {
        return Err("need 0 <= due <= open <= tickets and tickets >= 1".into());
    }
    let store = Store::open_unchecked(db, 4).await.map_err(err)?;
    let applied = store.migrate().await.map_err(err)?;
    println!("database {db}: migrations applied {applied:?}");
    let mut conn = store.pool.acquire().await.map_err(err)?;
    for table in ["tickets", "users", "slas"] {
        if count(&mut conn, table).await? != 0 {
            return Err(format!(
                "bench-sweep needs an empty database ({table} has rows)"
            ));
        }
    }

    // --- fixtures ---
    let t0 = steward_store::now_micros();
    let started = Instant::now();
    let f = load_people_and_agreement(&mut conn, t0).await?;
    let closed = o.tickets - o.open;
    let mut from = 1;
    while from <= o.tickets {
        let to = (from + CHUNK - 1).min(o.tickets);
        let t = Instant::now();
        sqlx::query(TICKETS_SQL)
            .bind(from)
            .bind(to)
            .bind(closed)
            .bind(t0)
            .bind(o.due)
            .bind(o.tickets)
            .bind(f.sla_id)
            .bind(f.requester_id)
            .bind(f.team_id)
            .bind(f.agent_id)
            .execute(&mut *conn)
            .await
            .map_err(err)?;
        println!("  tickets {from}..={to} in {}", ms(t.elapsed()));
        from = to + 1;
    }
    sqlx::query("UPDATE counters SET value = $1 WHERE name = 'INC'")
        .bind(o.tickets)
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    let tickets_time = started.elapsed();
    let t = Instant::now();
    for (metric, column) in [
        (sla::RESPONSE, "response_secs"),
        (sla::RESOLUTION, "resolution_secs"),
    ] {
        sqlx::query(&clocks_sql(metric, column))
            .bind(CALENDAR_24X7)
            .bind(f.sla_id)
            .execute(&mut *conn)
            .await
            .map_err(err)?;
    }
    let clocks_time = t.elapsed();
    // Settle the load, as on a server that has been running for a while: on PostgreSQL what
    // autovacuum would do after a million inserts (else it starts on `tickets` in the middle of
    // the sweep and takes one of the two cores) and a checkpoint; on SQLite the WAL copied into
    // the database.
    let t = Instant::now();
    let settle: &[&str] = match store.backend {
        Backend::Postgres => &["VACUUM ANALYZE", "CHECKPOINT"],
        Backend::Sqlite => &["PRAGMA wal_checkpoint(TRUNCATE)"],
    };
    for sql in settle {
        sqlx::query(sql)
            .execute(&mut *conn)
            .await
            .map_err(|e| format!("{sql}: {e}"))?;
    }
    let settle_time = t.elapsed();
    let n_tickets = count(&mut conn, "tickets").await?;
    let n_clocks = count(&mut conn, "sla_clocks").await?;
    println!(
        "loaded {n_tickets} tickets ({} open) in {:.1} s and {n_clocks} clocks in {:.1} s \
         (then {} in {:.1} s)",
        o.open,
        tickets_time.as_secs_f64(),
        clocks_time.as_secs_f64(),
        settle.join(", "),
        settle_time.as_secs_f64()
    );

    // --- the due-clock query ---
    let now = steward_store::now_micros();
    println!("query plan of the due-clock query (LIMIT 500):");
    for line in plan(&mut conn, store.backend, now).await? {
        println!("  {line}");
    }
    let t = Instant::now();
    let due = steward_store::sla::due_for_escalation(&mut conn, now, 500)
        .await
        .map_err(err)?;
    println!(
        "due-clock query alone: {} rows in {}",
        due.len(),
        ms(t.elapsed())
    );
    drop(conn);

    // --- the sweeps ---
    let app = super::build_app(store.clone(), data_dir)?;
    let now = steward_store::now_micros();
    let t = Instant::now();
    let report = escalation::sweep(&app, now, "bench")
        .await
        .map_err(super::describe)?;
    let first = t.elapsed();
    println!(
        "sweep 1: {} in {} (examined {}, warnings {}, breaches {})",
        if report.examined == o.due as usize {
            "all due clocks"
        } else {
            "UNEXPECTED count"
        },
        ms(first),
        report.examined,
        report.warnings,
        report.breaches
    );
    if report.examined > 0 {
        println!(
            "  {:.0} µs per escalated clock",
            first.as_secs_f64() * 1e6 / report.examined as f64
        );
    }
    let now = steward_store::now_micros();
    let t = Instant::now();
    let idle = escalation::sweep(&app, now, "bench")
        .await
        .map_err(super::describe)?;
    println!(
        "sweep 2 (idle): {} in {} (examined {}, warnings {}, breaches {})",
        if idle.examined == 0 {
            "nothing due"
        } else {
            "UNEXPECTED"
        },
        ms(t.elapsed()),
        idle.examined,
        idle.warnings,
        idle.breaches
    );
    let mut conn = store.pool.acquire().await.map_err(err)?;
    println!(
        "written by the sweep: {} escalations, {} notifications, {} audit entries",
        count(&mut conn, "sla_escalations").await?,
        count(&mut conn, "notifications").await?,
        count(&mut conn, "audit_log").await?
    );
    drop(conn);
    store.close().await;
    Ok(())
}
