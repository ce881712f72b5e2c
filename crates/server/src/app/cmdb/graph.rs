//! Relationships between CIs and impact analysis over them. The walk itself is
//! `core::cmdb::Walk`; this module feeds it one level at a time from the store and collects the
//! affected services and customer organisations.

use super::{require_manage, require_view};
use crate::app::views::instant;
use crate::app::{now, Actor, App, AppError, AppResult, AuditTrail};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use std::collections::{BTreeSet, HashMap};
use steward_core::cmdb::{self as rules, Direction, Edge, Relation, Walk};
use steward_store::cmdb::{self as store, Relationship};
use steward_store::{accounts, catalogue, WriteCtx};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RelationshipView {
    pub id: i64,
    pub source_id: i64,
    pub source_name: String,
    pub target_id: i64,
    pub target_name: String,
    /// runs_on, depends_on, connects_to, part_of or provides: "source runs on target",
    /// "source provides target".
    pub relation: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelationshipInput {
    pub source_id: i64,
    pub target_id: i64,
    /// runs_on, depends_on, connects_to, part_of or provides
    pub relation: String,
}

pub(crate) fn check_relation(v: &str) -> AppResult<Relation> {
    v.trim().parse().map_err(|_| {
        AppError::invalid(
            "relation",
            "must be runs_on, depends_on, connects_to, part_of or provides",
        )
    })
}

async fn names_of(conn: &mut AnyConnection, ids: &[i64]) -> AppResult<HashMap<i64, String>> {
    Ok(store::cis_by_ids(conn, ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect())
}

async fn views(
    conn: &mut AnyConnection,
    rels: &[Relationship],
) -> AppResult<Vec<RelationshipView>> {
    let mut ids: Vec<i64> = rels
        .iter()
        .flat_map(|r| [r.source_id, r.target_id])
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let names = names_of(conn, &ids).await?;
    let name = |id: i64| names.get(&id).cloned().unwrap_or_default();
    Ok(rels
        .iter()
        .map(|r| RelationshipView {
            id: r.id,
            source_id: r.source_id,
            source_name: name(r.source_id),
            target_id: r.target_id,
            target_name: name(r.target_id),
            relation: r.relation.clone(),
            created_at: instant(r.created_at),
        })
        .collect())
}

/// The audit text of a relationship: "12 runs_on 7".
fn describe(source: i64, relation: &str, target: i64) -> String {
    format!("{source} {relation} {target}")
}

/// Audits a relationship made or removed: on the relationship, and on both CIs so that each
/// CI's history shows who connected or disconnected it.
pub(crate) async fn audit_relationship(
    ctx: &mut WriteCtx,
    trail_of: impl Fn(&'static str, i64) -> AuditTrail,
    relationship_id: i64,
    created: bool,
    (source, relation, target): (i64, &str, i64),
) -> AppResult<()> {
    let text = Some(describe(source, relation, target));
    let (action, old, new) = if created {
        ("create", None, text)
    } else {
        ("delete", text, None)
    };
    trail_of("ci_relationship", relationship_id)
        .record(ctx, action, None, old.clone(), new.clone())
        .await?;
    let ci_action = if created { "relate" } else { "unrelate" };
    for ci in [source, target] {
        trail_of("ci", ci)
            .record(
                ctx,
                ci_action,
                Some("relationship"),
                old.clone(),
                new.clone(),
            )
            .await?;
    }
    Ok(())
}

pub async fn create_relationship(
    app: &App,
    actor: &Actor,
    input: RelationshipInput,
) -> AppResult<RelationshipView> {
    require_manage(actor)?;
    let relation = check_relation(&input.relation)?;
    if input.source_id == input.target_id {
        return Err(AppError::invalid(
            "target_id",
            "must be another CI than the source",
        ));
    }
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                for (field, id) in [
                    ("source_id", input.source_id),
                    ("target_id", input.target_id),
                ] {
                    if store::get_ci(&mut ctx.conn, id).await?.is_none() {
                        return Err(AppError::invalid(field, "is not a CI"));
                    }
                }
                let at = now();
                let id = store::insert_relationship(
                    &mut ctx.conn,
                    input.source_id,
                    input.target_id,
                    relation.as_str(),
                    at,
                )
                .await?
                .ok_or_else(|| AppError::Conflict {
                    message: "this relationship exists already".into(),
                    allowed: None,
                })?;
                audit_relationship(
                    ctx,
                    |entity, entity_id| AuditTrail::new(&actor, entity, entity_id, at),
                    id,
                    true,
                    (input.source_id, relation.as_str(), input.target_id),
                )
                .await?;
                let r = store::get_relationship(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                let mut v = views(&mut ctx.conn, &[r]).await?;
                v.pop().ok_or(AppError::NotFound)
            })
        })
        .await
}

pub async fn delete_relationship(app: &App, actor: &Actor, id: i64) -> AppResult<()> {
    require_manage(actor)?;
    let actor = actor.clone();
    app.store
        .write(move |ctx| {
            Box::pin(async move {
                let r = store::get_relationship(&mut ctx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                store::delete_relationship(&mut ctx.conn, id).await?;
                let at = now();
                audit_relationship(
                    ctx,
                    |entity, entity_id| AuditTrail::new(&actor, entity, entity_id, at),
                    id,
                    false,
                    (r.source_id, &r.relation, r.target_id),
                )
                .await?;
                Ok(())
            })
        })
        .await
}

pub async fn get_relationship(app: &App, actor: &Actor, id: i64) -> AppResult<RelationshipView> {
    require_view(actor)?;
    let mut conn = app.read().await?;
    let r = store::get_relationship(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    views(&mut conn, &[r])
        .await?
        .pop()
        .ok_or(AppError::NotFound)
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RelationshipQuery {
    /// Only relationships of which this CI is either end.
    pub ci_id: Option<i64>,
    /// 1..500, default 100
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub async fn list_relationships(
    app: &App,
    actor: &Actor,
    q: &RelationshipQuery,
) -> AppResult<crate::app::views::Page<RelationshipView>> {
    require_view(actor)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 500"));
    }
    let after = q
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| AppError::invalid("cursor", "is not a cursor from this listing"))
        })
        .transpose()?;
    let mut conn = app.read().await?;
    if let Some(c) = q.ci_id {
        store::get_ci(&mut conn, c)
            .await?
            .ok_or(AppError::NotFound)?;
    }
    let rows = store::list_relationships(&mut conn, q.ci_id, after, limit).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(crate::app::views::Page {
        items: views(&mut conn, &rows).await?,
        next_cursor,
    })
}

// --- impact ---

/// A CI the impact walk reached.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImpactNode {
    pub id: i64,
    pub name: String,
    pub type_code: String,
    pub status: String,
    /// Steps from the CI analysed (1 = directly related).
    pub depth: u32,
    /// The CI one step nearer the one analysed, and the relationship between them.
    pub from_id: i64,
    pub relationship_id: i64,
    pub relation: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AffectedService {
    /// The CI of type service, when the service is one.
    pub ci_id: Option<i64>,
    /// The catalogue service, when known.
    pub service_id: Option<i64>,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AffectedOrganization {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImpactCi {
    pub id: i64,
    pub name: String,
    pub type_code: String,
    pub status: String,
}

/// What a CI's failure affects (upstream) and what it depends on (downstream).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImpactView {
    pub ci: ImpactCi,
    pub depth: u32,
    /// Affected if the CI fails, nearest first.
    pub upstream: Vec<ImpactNode>,
    /// What the CI depends on, nearest first.
    pub downstream: Vec<ImpactNode>,
    /// Services affected: the CI itself or upstream CIs of type service, and catalogue
    /// services that upstream CIs stand for.
    pub services: Vec<AffectedService>,
    /// Customer organisations affected: of the CI and upstream CIs, and the customers of the
    /// affected catalogue services.
    pub organizations: Vec<AffectedOrganization>,
    /// True when a walk stopped at its node limit (5000 CIs) before the depth.
    pub truncated: bool,
}

fn edge(r: &Relationship) -> Option<Edge> {
    Some(Edge {
        id: r.id,
        source: r.source_id,
        target: r.target_id,
        relation: r.relation.parse().ok()?,
    })
}

async fn walk(
    conn: &mut AnyConnection,
    start: i64,
    dir: Direction,
    depth: u32,
) -> AppResult<(Vec<rules::Reached>, bool)> {
    let (by_source, by_target) = dir.relations_by_end();
    let by_source: Vec<&str> = by_source.iter().map(|r| r.as_str()).collect();
    let by_target: Vec<&str> = by_target.iter().map(|r| r.as_str()).collect();
    let mut w = Walk::new(start, dir, depth, rules::MAX_NODES);
    while let Some(frontier) = w.frontier() {
        let rows = store::edges_touching(conn, frontier, &by_source, &by_target).await?;
        let edges: Vec<Edge> = rows.iter().filter_map(edge).collect();
        w.advance(&edges);
    }
    let truncated = w.truncated();
    Ok((w.finish(), truncated))
}

/// Impact analysis of one CI to `depth` levels (default 5, at most 10) both ways. Other
/// slices (the change form) call this to show the impact of a change's CIs.
pub async fn impact(
    app: &App,
    actor: &Actor,
    ci_id: i64,
    depth: Option<u32>,
) -> AppResult<ImpactView> {
    require_view(actor)?;
    let depth = rules::check_depth(depth).map_err(|m| AppError::invalid("depth", m))?;
    let mut conn = app.read().await?;
    let start = store::get_ci(&mut conn, ci_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let (up, cut_up) = walk(&mut conn, ci_id, Direction::Upstream, depth).await?;
    let (down, cut_down) = walk(&mut conn, ci_id, Direction::Downstream, depth).await?;
    let mut ids: Vec<i64> = up.iter().chain(down.iter()).map(|r| r.ci).collect();
    ids.sort_unstable();
    ids.dedup();
    let cis: HashMap<i64, store::Ci> = store::cis_by_ids(&mut conn, &ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let codes = super::type_codes(&mut conn).await?;
    let code = |t: i64| codes.get(&t).cloned().unwrap_or_default();
    let node = |r: &rules::Reached| {
        let c = cis.get(&r.ci);
        ImpactNode {
            id: r.ci,
            name: c.map(|c| c.name.clone()).unwrap_or_default(),
            type_code: c.map(|c| code(c.type_id)).unwrap_or_default(),
            status: c.map(|c| c.status.clone()).unwrap_or_default(),
            depth: r.depth,
            from_id: r.from,
            relationship_id: r.via.id,
            relation: r.via.relation.as_str().to_string(),
        }
    };
    let upstream: Vec<ImpactNode> = up.iter().map(node).collect();
    let downstream: Vec<ImpactNode> = down.iter().map(node).collect();

    // The CI itself fails too: it counts with the upstream CIs.
    let affected: Vec<&store::Ci> = std::iter::once(&start)
        .chain(up.iter().filter_map(|r| cis.get(&r.ci)))
        .collect();
    let mut services = Vec::new();
    let mut service_ids = BTreeSet::new();
    let mut org_ids = BTreeSet::new();
    for c in &affected {
        if let Some(o) = c.organization_id {
            org_ids.insert(o);
        }
        if let Some(s) = c.service_id {
            service_ids.insert(s);
        }
        if code(c.type_id) == "service" || c.service_id.is_some() {
            services.push(AffectedService {
                ci_id: Some(c.id),
                service_id: c.service_id,
                name: c.name.clone(),
            });
        }
    }
    let ids: Vec<i64> = service_ids.iter().copied().collect();
    for (_, org) in store::service_customers(&mut conn, &ids).await? {
        org_ids.insert(org);
    }
    // Catalogue services named by the catalogue when a CI stands for one.
    for s in &mut services {
        if let Some(id) = s.service_id {
            if let Some(svc) = catalogue::get_service(&mut conn, id).await? {
                s.name = format!("{} ({})", s.name, svc.code);
            }
        }
    }
    let mut organizations = Vec::with_capacity(org_ids.len());
    for id in org_ids {
        if let Some(o) = accounts::get_org(&mut conn, id).await? {
            organizations.push(AffectedOrganization { id, name: o.name });
        }
    }
    Ok(ImpactView {
        ci: ImpactCi {
            id: start.id,
            name: start.name.clone(),
            type_code: code(start.type_id),
            status: start.status.clone(),
        },
        depth,
        upstream,
        downstream,
        services,
        organizations,
        truncated: cut_up || cut_down,
    })
}
