//! Configuration management rules: CI statuses, relationship types and which way a failure
//! travels along each, attribute sets and their values, and the impact walk over the graph
//! (breadth first, to a depth limit, safe on cycles). See docs/adr/009-cmdb-impact.md.

use crate::ticket::string_enum;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiStatus {
    Planned,
    InUse,
    Maintenance,
    Retired,
}
string_enum!(CiStatus {
    Planned => "planned",
    InUse => "in_use",
    Maintenance => "maintenance",
    Retired => "retired",
});

/// A relationship `source → target` reads "source runs on / depends on / connects to / is part
/// of target", and for `provides` "source provides target".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    RunsOn,
    DependsOn,
    ConnectsTo,
    PartOf,
    Provides,
}
string_enum!(Relation {
    RunsOn => "runs_on",
    DependsOn => "depends_on",
    ConnectsTo => "connects_to",
    PartOf => "part_of",
    Provides => "provides",
});

impl Relation {
    /// The end of the relationship that needs the other: when the other fails, this one is
    /// affected. The source for every type but `provides`, where the provided target needs
    /// its provider.
    pub fn dependent_is_source(self) -> bool {
        !matches!(self, Relation::Provides)
    }
}

/// Which way an impact walk goes from a CI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// What is affected when the CI fails: the CIs that need it, and what needs those.
    Upstream,
    /// What the CI needs: the CIs it depends on, and what those depend on.
    Downstream,
}

impl Direction {
    /// The relations that lead on from a CI in this direction, when the CI is the source of
    /// the relationship and when it is the target: the store loads a level with one query per
    /// end.
    pub fn relations_by_end(self) -> (Vec<Relation>, Vec<Relation>) {
        let (needs, provides): (Vec<Relation>, Vec<Relation>) =
            Relation::ALL.iter().partition(|r| r.dependent_is_source());
        match self {
            // From a dependency to its dependents: the CI is the target of runs_on etc., the
            // source of provides.
            Direction::Upstream => (provides, needs),
            Direction::Downstream => (needs, provides),
        }
    }
}

/// One stored relationship as the walk sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Edge {
    pub id: i64,
    pub source: i64,
    pub target: i64,
    pub relation: Relation,
}

impl Edge {
    /// (the CI that needs, the CI it needs).
    pub fn dependency(&self) -> (i64, i64) {
        if self.relation.dependent_is_source() {
            (self.source, self.target)
        } else {
            (self.target, self.source)
        }
    }

    /// The CI this edge leads to when walking `dir` from `from`, if the edge leads anywhere
    /// from there in that direction.
    pub fn step(&self, dir: Direction, from: i64) -> Option<i64> {
        let (dependent, dependency) = self.dependency();
        match dir {
            Direction::Upstream if dependency == from => Some(dependent),
            Direction::Downstream if dependent == from => Some(dependency),
            _ => None,
        }
    }
}

pub const DEFAULT_DEPTH: u32 = 5;
pub const MAX_DEPTH: u32 = 10;
/// A walk stops taking new CIs after this many, and says that it was cut short.
pub const MAX_NODES: usize = 5000;

/// A CI the walk reached: how many steps away, and the edge it was first reached over (from
/// a CI one step nearer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reached {
    pub ci: i64,
    pub depth: u32,
    pub via: Edge,
    /// The CI one step nearer the start.
    pub from: i64,
}

/// A breadth-first walk that the caller feeds level by level: ask for the frontier, load the
/// edges touching it, hand them to [`Walk::advance`]. Each CI is taken once, at its shortest
/// distance, so cycles end the walk rather than loop it.
#[derive(Debug, Clone)]
pub struct Walk {
    dir: Direction,
    max_depth: u32,
    max_nodes: usize,
    depth: u32,
    frontier: Vec<i64>,
    seen: HashSet<i64>,
    reached: Vec<Reached>,
    truncated: bool,
}

impl Walk {
    pub fn new(start: i64, dir: Direction, max_depth: u32, max_nodes: usize) -> Walk {
        Walk {
            dir,
            max_depth,
            max_nodes,
            depth: 0,
            frontier: vec![start],
            seen: HashSet::from([start]),
            reached: Vec::new(),
            truncated: false,
        }
    }

    /// The CIs whose edges the next level needs; None when the walk is over.
    pub fn frontier(&self) -> Option<&[i64]> {
        (self.depth < self.max_depth && !self.frontier.is_empty() && !self.truncated)
            .then_some(self.frontier.as_slice())
    }

    /// Takes the edges touching the frontier (edges not touching it are ignored) and moves one
    /// level on. Edges are considered in id order so that the result does not depend on the
    /// order the store returned them in.
    pub fn advance(&mut self, edges: &[Edge]) {
        let current: HashSet<i64> = self.frontier.iter().copied().collect();
        let mut sorted: Vec<&Edge> = edges.iter().collect();
        sorted.sort_by_key(|e| e.id);
        sorted.dedup_by_key(|e| e.id);
        let mut next = Vec::new();
        self.depth += 1;
        for e in sorted {
            for from in [e.source, e.target] {
                if !current.contains(&from) {
                    continue;
                }
                let Some(to) = e.step(self.dir, from) else {
                    continue;
                };
                if self.seen.contains(&to) {
                    continue;
                }
                if self.reached.len() >= self.max_nodes {
                    self.truncated = true;
                    break;
                }
                self.seen.insert(to);
                self.reached.push(Reached {
                    ci: to,
                    depth: self.depth,
                    via: *e,
                    from,
                });
                next.push(to);
            }
        }
        self.frontier = next;
    }

    /// Whether the node limit cut the walk short.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    pub fn finish(self) -> Vec<Reached> {
        self.reached
    }
}

/// Walks an in-memory graph; the store-backed walk in the app does the same level by level.
pub fn walk(
    start: i64,
    dir: Direction,
    max_depth: u32,
    max_nodes: usize,
    edges: &[Edge],
) -> (Vec<Reached>, bool) {
    let mut touching: HashMap<i64, Vec<Edge>> = HashMap::new();
    for e in edges {
        touching.entry(e.source).or_default().push(*e);
        if e.target != e.source {
            touching.entry(e.target).or_default().push(*e);
        }
    }
    let mut w = Walk::new(start, dir, max_depth, max_nodes);
    while let Some(f) = w.frontier() {
        let level: Vec<Edge> = f
            .iter()
            .flat_map(|id| touching.get(id).into_iter().flatten().copied())
            .collect();
        w.advance(&level);
    }
    let truncated = w.truncated();
    (w.finish(), truncated)
}

/// The depth asked for: default 5, 1 to 10.
pub fn check_depth(depth: Option<u32>) -> Result<u32, String> {
    match depth {
        None => Ok(DEFAULT_DEPTH),
        Some(d) if (1..=MAX_DEPTH).contains(&d) => Ok(d),
        Some(_) => Err(format!("must be between 1 and {MAX_DEPTH}")),
    }
}

// --- attribute sets ---

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeKind {
    Text,
    Number,
    Date,
    Bool,
    Ip,
}
string_enum!(AttributeKind {
    Text => "text",
    Number => "number",
    Date => "date",
    Bool => "bool",
    Ip => "ip",
});

/// One attribute a CI type defines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeDef {
    /// Lower-case letters, digits and underscores, starting with a letter.
    pub name: String,
    pub label_zh: String,
    pub label_en: String,
    pub kind: AttributeKind,
    #[serde(default)]
    pub required: bool,
}

/// Why an attribute set or a value is refused; `field` is relative (`attributes[2].name`,
/// `attributes.ip`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for AttributeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn err(field: String, message: &str) -> AttributeError {
    AttributeError {
        field,
        message: message.to_string(),
    }
}

pub const ATTRIBUTE_NAME_MAX: usize = 40;
pub const ATTRIBUTES_MAX: usize = 50;
pub const ATTRIBUTE_VALUE_MAX: usize = 500;

pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= ATTRIBUTE_NAME_MAX
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Checks an attribute set: valid, unique names, labels present, at most 50.
pub fn check_attribute_set(defs: &[AttributeDef]) -> Result<(), AttributeError> {
    if defs.len() > ATTRIBUTES_MAX {
        return Err(err("attributes".into(), "has more than 50 attributes"));
    }
    let mut names = HashSet::new();
    for (i, d) in defs.iter().enumerate() {
        if !valid_name(&d.name) {
            return Err(err(
                format!("attributes[{i}].name"),
                "must be lower-case letters, digits and _ starting with a letter, at most 40",
            ));
        }
        if !names.insert(d.name.as_str()) {
            return Err(err(format!("attributes[{i}].name"), "is used twice"));
        }
        for (field, label) in [("label_zh", &d.label_zh), ("label_en", &d.label_en)] {
            let t = label.trim();
            if t.is_empty() || t.chars().count() > 100 || t.chars().any(char::is_control) {
                return Err(err(
                    format!("attributes[{i}].{field}"),
                    "is required: 1 to 100 characters",
                ));
            }
        }
    }
    Ok(())
}

fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (
        v[0..4].parse::<u32>(),
        v[5..7].parse::<u32>(),
        v[8..10].parse::<u32>(),
    ) else {
        return false;
    };
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// Normalises one value of an attribute to its stored text, or says why it is wrong.
fn check_value(def: &AttributeDef, raw: &str) -> Result<String, &'static str> {
    let v = raw.trim();
    if v.chars().count() > ATTRIBUTE_VALUE_MAX {
        return Err("is longer than 500 characters");
    }
    if v.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    match def.kind {
        AttributeKind::Text => Ok(v.to_string()),
        AttributeKind::Number => v
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(|_| v.to_string())
            .ok_or("must be a number"),
        AttributeKind::Date => is_date(v)
            .then(|| v.to_string())
            .ok_or("must be a date YYYY-MM-DD"),
        AttributeKind::Bool => match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok("true".into()),
            "false" | "no" | "0" => Ok("false".into()),
            _ => Err("must be true or false"),
        },
        AttributeKind::Ip => v
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.to_string())
            .map_err(|_| "must be an IPv4 or IPv6 address"),
    }
}

/// Checks a CI's attribute values against its type: only defined names, each of the right
/// kind, every required one present. Blank values are dropped. Returns the values to store
/// in the order of the type's definitions.
pub fn check_values(
    defs: &[AttributeDef],
    values: &[(String, String)],
) -> Result<Vec<(String, String)>, AttributeError> {
    let mut given: HashMap<&str, &str> = HashMap::new();
    for (name, value) in values {
        if !defs.iter().any(|d| &d.name == name) {
            return Err(err(
                format!("attributes.{name}"),
                "is not an attribute of this type",
            ));
        }
        given.insert(name.as_str(), value.as_str());
    }
    let mut out = Vec::new();
    for d in defs {
        let raw = given.get(d.name.as_str()).copied().unwrap_or_default();
        if raw.trim().is_empty() {
            if d.required {
                return Err(err(format!("attributes.{}", d.name), "is required"));
            }
            continue;
        }
        let v = check_value(d, raw).map_err(|m| err(format!("attributes.{}", d.name), m))?;
        out.push((d.name.clone(), v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e(id: i64, source: i64, target: i64, relation: Relation) -> Edge {
        Edge {
            id,
            source,
            target,
            relation,
        }
    }

    #[test]
    fn failure_travels_against_runs_on_and_along_provides() {
        // app 1 runs on vm 2, vm 2 runs on server 3, app 1 provides service 4.
        let edges = [
            e(1, 1, 2, Relation::RunsOn),
            e(2, 2, 3, Relation::RunsOn),
            e(3, 1, 4, Relation::Provides),
        ];
        let (up, _) = walk(3, Direction::Upstream, 5, MAX_NODES, &edges);
        let got: Vec<(i64, u32)> = up.iter().map(|r| (r.ci, r.depth)).collect();
        assert_eq!(got, vec![(2, 1), (1, 2), (4, 3)]);
        assert_eq!(up[2].from, 1);
        assert_eq!(up[2].via.id, 3);
        let (down, _) = walk(4, Direction::Downstream, 5, MAX_NODES, &edges);
        let got: Vec<(i64, u32)> = down.iter().map(|r| (r.ci, r.depth)).collect();
        assert_eq!(got, vec![(1, 1), (2, 2), (3, 3)]);
    }

    #[test]
    fn each_direction_loads_the_ends_that_lead_on() {
        let (by_source, by_target) = Direction::Upstream.relations_by_end();
        assert_eq!(by_source, vec![Relation::Provides]);
        assert_eq!(by_target.len(), 4);
        let (by_source, by_target) = Direction::Downstream.relations_by_end();
        assert_eq!(by_target, vec![Relation::Provides]);
        assert!(!by_source.contains(&Relation::Provides));
        // Every edge that steps from a CI is among those loaded for it.
        for r in Relation::ALL {
            let e = Edge {
                id: 1,
                source: 1,
                target: 2,
                relation: *r,
            };
            for dir in [Direction::Upstream, Direction::Downstream] {
                let (s, t) = dir.relations_by_end();
                assert_eq!(e.step(dir, 1).is_some(), s.contains(r));
                assert_eq!(e.step(dir, 2).is_some(), t.contains(r));
            }
        }
    }

    #[test]
    fn cycles_and_depth_limits_end_the_walk() {
        let edges = [
            e(1, 1, 2, Relation::DependsOn),
            e(2, 2, 3, Relation::DependsOn),
            e(3, 3, 1, Relation::DependsOn),
            e(4, 1, 1, Relation::DependsOn),
        ];
        let (down, cut) = walk(1, Direction::Downstream, 10, MAX_NODES, &edges);
        assert!(!cut);
        assert_eq!(down.iter().map(|r| r.ci).collect::<Vec<_>>(), vec![2, 3]);
        let (down, _) = walk(1, Direction::Downstream, 1, MAX_NODES, &edges);
        assert_eq!(down.iter().map(|r| r.ci).collect::<Vec<_>>(), vec![2]);
        let (_, cut) = walk(1, Direction::Downstream, 10, 1, &edges);
        assert!(cut);
    }

    #[test]
    fn depth_defaults_to_five_and_is_bounded() {
        assert_eq!(check_depth(None), Ok(5));
        assert_eq!(check_depth(Some(10)), Ok(10));
        assert!(check_depth(Some(0)).is_err());
        assert!(check_depth(Some(11)).is_err());
    }

    fn def(name: &str, kind: AttributeKind, required: bool) -> AttributeDef {
        AttributeDef {
            name: name.into(),
            label_zh: name.into(),
            label_en: name.into(),
            kind,
            required,
        }
    }

    #[test]
    fn values_are_checked_against_their_kind() {
        let defs = [
            def("ip", AttributeKind::Ip, true),
            def("memory_gb", AttributeKind::Number, false),
            def("bought", AttributeKind::Date, false),
            def("virtual", AttributeKind::Bool, false),
        ];
        let ok = check_values(
            &defs,
            &[
                ("virtual".into(), "Yes".into()),
                ("ip".into(), " 10.0.0.1 ".into()),
                ("memory_gb".into(), "".into()),
            ],
        )
        .unwrap();
        assert_eq!(
            ok,
            vec![
                ("ip".to_string(), "10.0.0.1".to_string()),
                ("virtual".to_string(), "true".to_string())
            ]
        );
        let bad = |vals: &[(&str, &str)]| {
            let v: Vec<(String, String)> = vals
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            check_values(&defs, &v).unwrap_err().field
        };
        assert_eq!(bad(&[("ip", "10.0.0.300")]), "attributes.ip");
        assert_eq!(bad(&[]), "attributes.ip");
        assert_eq!(
            bad(&[("ip", "::1"), ("memory_gb", "lots")]),
            "attributes.memory_gb"
        );
        assert_eq!(
            bad(&[("ip", "::1"), ("bought", "2026-02-30")]),
            "attributes.bought"
        );
        assert_eq!(
            bad(&[("ip", "::1"), ("colour", "red")]),
            "attributes.colour"
        );
    }

    #[test]
    fn attribute_sets_need_unique_valid_names() {
        assert!(check_attribute_set(&[def("hostname", AttributeKind::Text, false)]).is_ok());
        let e = check_attribute_set(&[
            def("a", AttributeKind::Text, false),
            def("a", AttributeKind::Text, false),
        ])
        .unwrap_err();
        assert_eq!(e.field, "attributes[1].name");
        assert!(check_attribute_set(&[def("Bad-Name", AttributeKind::Text, false)]).is_err());
    }

    /// Shortest distances in the dependency direction by repeated relaxation: the reference
    /// the walk must agree with.
    fn reference(start: i64, dir: Direction, max_depth: u32, edges: &[Edge]) -> HashMap<i64, u32> {
        let mut dist: HashMap<i64, u32> = HashMap::from([(start, 0)]);
        loop {
            let mut changed = false;
            for e in edges {
                let (dependent, dependency) = e.dependency();
                let (a, b) = match dir {
                    Direction::Upstream => (dependency, dependent),
                    Direction::Downstream => (dependent, dependency),
                };
                if let Some(&d) = dist.get(&a) {
                    if d < max_depth && dist.get(&b).is_none_or(|&x| x > d + 1) {
                        dist.insert(b, d + 1);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        dist.remove(&start);
        dist
    }

    fn arb_graph() -> impl Strategy<Value = Vec<Edge>> {
        prop::collection::vec((0i64..30, 0i64..30, 0usize..5), 0..120).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (s, t, r))| e(i as i64 + 1, s, t, Relation::ALL[r]))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn the_walk_finds_shortest_distances_on_graphs_with_cycles(
            edges in arb_graph(),
            start in 0i64..30,
            depth in 1u32..=10,
            up in any::<bool>(),
        ) {
            let dir = if up { Direction::Upstream } else { Direction::Downstream };
            let (got, cut) = walk(start, dir, depth, MAX_NODES, &edges);
            prop_assert!(!cut);
            let want = reference(start, dir, depth, &edges);
            let mut seen = HashSet::new();
            for r in &got {
                prop_assert!(seen.insert(r.ci), "{} reached twice", r.ci);
                prop_assert_eq!(want.get(&r.ci).copied(), Some(r.depth));
                // The path edge leads from a CI one step nearer.
                prop_assert_eq!(r.via.step(dir, r.from), Some(r.ci));
                let from_depth = if r.from == start { 0 } else {
                    got.iter().find(|x| x.ci == r.from).map(|x| x.depth).unwrap_or(u32::MAX)
                };
                prop_assert_eq!(from_depth + 1, r.depth);
            }
            prop_assert_eq!(got.len(), want.len());
        }
    }
}
