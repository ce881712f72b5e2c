//! `steward bench-impact`: the CMDB impact benchmark of issue 5 (see BENCHMARKS.md).
//!
//! On an empty database it bulk-loads a layered CMDB with set-based SQL (the same statements on
//! SQLite and PostgreSQL), bypassing the app: 100,000 CIs — 100 locations, 1,900 network devices,
//! 8,000 servers, 40,000 VMs, 10,000 databases, 30,000 applications, 10,000 services — and
//! 500,000 relationships (devices in locations and in a ring, servers and VMs cabled to
//! switches, VMs on servers, databases on VMs and paired, applications on two VMs using three
//! databases and five applications of their cluster of ten, three applications providing each
//! service, services depending on four services of their cluster) — cycles included. Then it
//! times the real `app::cmdb::impact` to depth 5 on CIs picked at random from every layer.

use crate::app::{cmdb, Actor};
use sqlx::{AnyConnection, Row};
use std::time::{Duration, Instant};
use steward_core::Channel;
use steward_store::Store;

pub struct Options {
    pub queries: usize,
    pub depth: u32,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

const SEQ: &str =
    "WITH RECURSIVE seq(n) AS (SELECT $1 UNION ALL SELECT n + 1 FROM seq WHERE n < $2) ";

/// (type code, first id, last id)
const LAYERS: [(&str, i64, i64); 7] = [
    ("location", 1, 100),
    ("network_device", 101, 2_000),
    ("server", 2_001, 10_000),
    ("virtual_machine", 10_001, 50_000),
    ("database", 50_001, 60_000),
    ("application", 60_001, 90_000),
    ("service", 90_001, 100_000),
];

/// (relation, source layer first id, count, target expression over k = 0-based source index).
const RULES: [(&str, i64, i64, &str); 14] = [
    ("part_of", 101, 1_900, "1 + k % 100"),
    ("connects_to", 101, 1_900, "101 + (k + 1) % 1900"),
    ("part_of", 2_001, 8_000, "1 + k % 100"),
    ("connects_to", 2_001, 8_000, "101 + k % 1900"),
    ("connects_to", 2_001, 8_000, "101 + (k + 7) % 1900"),
    ("runs_on", 10_001, 40_000, "2001 + k % 8000"),
    ("connects_to", 10_001, 40_000, "101 + k % 1900"),
    ("runs_on", 50_001, 10_000, "10001 + (k * 4) % 40000"),
    ("depends_on", 50_001, 10_000, "50001 + (k + 1) % 10000"),
    ("connects_to", 50_001, 2_200, "101 + k % 1900"),
    ("runs_on", 60_001, 30_000, "10001 + k % 40000"),
    ("runs_on", 60_001, 30_000, "10001 + (k + 20000) % 40000"),
    ("provides", 60_001, 30_000, "90001 + k % 10000"),
    ("depends_on", 60_001, 30_000, "50001 + k % 10000"),
];

/// Relationships with several targets per source: (relation, source first id, count, target
/// expression over k and j, j from 1 to `fan`).
const FAN_RULES: [(&str, i64, i64, &str, i64); 3] = [
    (
        "depends_on",
        60_001,
        30_000,
        "50001 + (k + j * 3333) % 10000",
        2,
    ),
    (
        "depends_on",
        60_001,
        30_000,
        "60001 + (k / 10) * 10 + (k + j) % 10",
        5,
    ),
    (
        "depends_on",
        90_001,
        10_000,
        "90001 + (k / 10) * 10 + (k + j) % 10",
        4,
    ),
];

async fn count(conn: &mut AnyConnection, table: &str) -> Result<i64, String> {
    let row = sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(conn)
        .await
        .map_err(err)?;
    row.try_get(0).map_err(err)
}

async fn load(conn: &mut AnyConnection, now: i64) -> Result<(), String> {
    for (code, first, last) in LAYERS {
        let t = Instant::now();
        let type_id: i64 = sqlx::query("SELECT id FROM ci_types WHERE code = $1")
            .bind(code)
            .fetch_one(&mut *conn)
            .await
            .map_err(err)?
            .try_get(0)
            .map_err(err)?;
        sqlx::query(&format!(
            "{SEQ}INSERT INTO cis (id, name, type_id, status, attributes, description, version, created_at, updated_at) \
             SELECT n, '{code}-' || CAST(n AS TEXT), $3, 'in_use', '{{}}', '', 1, $4, $4 FROM seq"
        ))
        .bind(first)
        .bind(last)
        .bind(type_id)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(err)?;
        println!("  {code} {first}..={last} in {}", ms(t.elapsed()));
    }
    let mut rules: Vec<(String, i64, i64, String)> = RULES
        .iter()
        .map(|(r, f, c, e)| (r.to_string(), *f, *c, e.to_string()))
        .collect();
    for (r, f, c, e, fan) in FAN_RULES {
        for j in 1..=fan {
            rules.push((r.to_string(), f, c, e.replace('j', &j.to_string())));
        }
    }
    for (relation, first, n, target) in rules {
        let t = Instant::now();
        // `WHERE true`: SQLite cannot tell an upsert's ON CONFLICT from a join constraint after
        // INSERT … SELECT … FROM without it.
        sqlx::query(&format!(
            "{SEQ}INSERT INTO ci_relationships (source_id, target_id, relation, created_at) \
             SELECT {first} + k, {target}, $3, $4 FROM (SELECT n - 1 AS k FROM seq) x \
             WHERE true ON CONFLICT (source_id, target_id, relation) DO NOTHING"
        ))
        .bind(1i64)
        .bind(n)
        .bind(relation.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(err)?;
        println!(
            "  {relation} from {first} ({n}) → {target} in {}",
            ms(t.elapsed())
        );
    }
    sqlx::query("ANALYZE")
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub async fn run(db: &str, data_dir: &str, o: Options) -> Result<(), String> {
    let store = Store::open_unchecked(db, 4).await.map_err(err)?;
    let applied = store.migrate().await.map_err(err)?;
    println!("database {db}: migrations applied {applied:?}");
    let mut conn = store.pool.acquire().await.map_err(err)?;
    if count(&mut conn, "cis").await? != 0 {
        return Err("bench-impact needs an empty database (cis has rows)".into());
    }
    let started = Instant::now();
    load(&mut conn, steward_store::now_micros()).await?;
    println!(
        "fixtures: {} CIs, {} relationships in {:.1} s",
        count(&mut conn, "cis").await?,
        count(&mut conn, "ci_relationships").await?,
        started.elapsed().as_secs_f64()
    );
    drop(conn);

    let app = super::build_app(store.clone(), data_dir)?;
    let actor = Actor::system(Channel::Cli);
    let mut seed: u64 = 0x5eed;
    let mut pick = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        1 + ((seed >> 33) % 100_000) as i64
    };
    // Warm the pool and the caches.
    for _ in 0..50 {
        cmdb::impact(&app, &actor, pick(), Some(o.depth))
            .await
            .map_err(err)?;
    }
    let mut times = Vec::with_capacity(o.queries);
    let (mut reached, mut most, mut truncated) = (0usize, 0usize, 0usize);
    let all = Instant::now();
    for _ in 0..o.queries {
        let id = pick();
        let t = Instant::now();
        let v = cmdb::impact(&app, &actor, id, Some(o.depth))
            .await
            .map_err(err)?;
        times.push(t.elapsed());
        let n = v.upstream.len() + v.downstream.len();
        reached += n;
        most = most.max(n);
        truncated += usize::from(v.truncated);
    }
    let wall = all.elapsed();
    times.sort();
    println!(
        "impact to depth {}: {} queries in {:.1} s; p50 {}, p95 {}, p99 {}, max {}; CIs reached: mean {:.0}, max {}; truncated {}",
        o.depth,
        o.queries,
        wall.as_secs_f64(),
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.95)),
        ms(percentile(&times, 0.99)),
        ms(percentile(&times, 1.0)),
        reached as f64 / o.queries.max(1) as f64,
        most,
        truncated
    );
    store.close().await;
    Ok(())
}
