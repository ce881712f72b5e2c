//! The impact diagram: inline SVG drawn on the server, no script. Columns by depth: what the
//! CI depends on (downstream) to the left, the CI in the centre, what its failure affects
//! (upstream) to the right; a line joins each CI to the one it was reached from. Every label
//! is escaped; a column shows at most `PER_COLUMN` CIs and says how many more there are.

use super::Chrome;
use crate::app::cmdb::graph::ImpactNode;
use crate::app::cmdb::ImpactView;
use std::collections::HashMap;
use std::fmt::Write;

const PER_COLUMN: usize = 12;
const BOX_W: i64 = 170;
const BOX_H: i64 = 38;
const COL_GAP: i64 = 50;
const ROW_GAP: i64 = 12;
const PAD: i64 = 10;
const LABEL_CHARS: usize = 18;

/// Text for SVG content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn short(s: &str) -> String {
    if s.chars().count() > LABEL_CHARS {
        let mut t: String = s.chars().take(LABEL_CHARS - 1).collect();
        t.push('…');
        t
    } else {
        s.to_string()
    }
}

struct Placed {
    x: i64,
    y: i64,
}

/// Groups the nodes of one side by depth, in the order the walk reached them.
fn columns(nodes: &[ImpactNode]) -> Vec<Vec<&ImpactNode>> {
    let max = nodes.iter().map(|n| n.depth).max().unwrap_or(0) as usize;
    let mut cols: Vec<Vec<&ImpactNode>> = vec![Vec::new(); max];
    for n in nodes {
        cols[n.depth as usize - 1].push(n);
    }
    cols
}

pub fn draw(c: &Chrome, v: &ImpactView) -> String {
    let down = columns(&v.downstream);
    let up = columns(&v.upstream);
    let ncols = down.len() + 1 + up.len();
    let tallest = down
        .iter()
        .chain(up.iter())
        .map(|col| col.len().min(PER_COLUMN) + usize::from(col.len() > PER_COLUMN))
        .max()
        .unwrap_or(0)
        .max(1) as i64;
    let width = PAD * 2 + ncols as i64 * BOX_W + (ncols as i64 - 1) * COL_GAP;
    let height = PAD * 2 + 24 + tallest * (BOX_H + ROW_GAP);
    let col_x = |i: usize| PAD + i as i64 * (BOX_W + COL_GAP);
    let row_y = |i: usize| PAD + 24 + i as i64 * (BOX_H + ROW_GAP);

    // Where each CI is drawn: (side, id) → position; the CI itself is on both sides.
    let centre = down.len();
    let mut pos: HashMap<(bool, i64), Placed> = HashMap::new();
    let centre_y = row_y(0);
    pos.insert(
        (true, v.ci.id),
        Placed {
            x: col_x(centre),
            y: centre_y,
        },
    );
    pos.insert(
        (false, v.ci.id),
        Placed {
            x: col_x(centre),
            y: centre_y,
        },
    );
    let mut boxes = String::new();
    let mut more = String::new();
    let mut place = |upstream: bool,
                     col: usize,
                     nodes: &[&ImpactNode],
                     pos: &mut HashMap<(bool, i64), Placed>| {
        for (i, n) in nodes.iter().take(PER_COLUMN).enumerate() {
            pos.insert(
                (upstream, n.id),
                Placed {
                    x: col_x(col),
                    y: row_y(i),
                },
            );
        }
        if nodes.len() > PER_COLUMN {
            let _ = write!(
                more,
                r#"<text class="ci-more" x="{}" y="{}">{}</text>"#,
                col_x(col) + 8,
                row_y(PER_COLUMN) + 22,
                esc(&c.t1(
                    "cmdb-diagram-more",
                    "count",
                    &(nodes.len() - PER_COLUMN).to_string()
                ))
            );
        }
    };
    for (d, nodes) in down.iter().enumerate() {
        place(false, centre - 1 - d, nodes, &mut pos);
    }
    for (d, nodes) in up.iter().enumerate() {
        place(true, centre + 1 + d, nodes, &mut pos);
    }

    let mut lines = String::new();
    for (upstream, nodes) in [(false, &v.downstream), (true, &v.upstream)] {
        for n in nodes.iter() {
            let (Some(a), Some(b)) = (pos.get(&(upstream, n.id)), pos.get(&(upstream, n.from_id)))
            else {
                continue;
            };
            // From the nearer CI's edge facing this one to this one's facing edge.
            let (x1, x2) = if upstream {
                (b.x + BOX_W, a.x)
            } else {
                (b.x, a.x + BOX_W)
            };
            let _ = write!(
                lines,
                r#"<line class="ci-edge" x1="{x1}" y1="{}" x2="{x2}" y2="{}"><title>{}</title></line>"#,
                b.y + BOX_H / 2,
                a.y + BOX_H / 2,
                esc(&c.label("cmdb-rel", &n.relation))
            );
        }
        for n in nodes.iter() {
            let Some(p) = pos.get(&(upstream, n.id)) else {
                continue;
            };
            let side = if upstream { "ci-up" } else { "ci-down" };
            let _ = write!(
                boxes,
                r#"<a href="/cmdb/{id}"><g class="ci-node {side} ci-status-{status}"><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6"/><text x="{tx}" y="{ty1}" class="ci-name">{name}</text><text x="{tx}" y="{ty2}" class="ci-type">{kind}</text><title>{full}</title></g></a>"#,
                id = n.id,
                status = esc(&n.status),
                x = p.x,
                y = p.y,
                tx = p.x + 8,
                ty1 = p.y + 16,
                ty2 = p.y + 31,
                name = esc(&short(&n.name)),
                kind = esc(&c.label("cmdb-status", &n.status)),
                full = esc(&n.name),
            );
        }
    }
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="ci-diagram" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{label}">"#,
        label = esc(&c.t("cmdb-impact"))
    );
    if !down.is_empty() {
        let _ = write!(
            svg,
            r#"<text class="ci-head" x="{}" y="{}">{}</text>"#,
            col_x(0),
            PAD + 12,
            esc(&c.t("cmdb-downstream"))
        );
    }
    if !up.is_empty() {
        let _ = write!(
            svg,
            r#"<text class="ci-head" x="{}" y="{}">{}</text>"#,
            col_x(centre + 1),
            PAD + 12,
            esc(&c.t("cmdb-upstream"))
        );
    }
    svg.push_str(&lines);
    let _ = write!(
        svg,
        r#"<g class="ci-node ci-centre"><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6"/><text x="{tx}" y="{ty1}" class="ci-name">{name}</text><text x="{tx}" y="{ty2}" class="ci-type">{kind}</text><title>{full}</title></g>"#,
        x = col_x(centre),
        y = centre_y,
        tx = col_x(centre) + 8,
        ty1 = centre_y + 16,
        ty2 = centre_y + 31,
        name = esc(&short(&v.ci.name)),
        kind = esc(&c.label("cmdb-status", &v.ci.status)),
        full = esc(&v.ci.name),
    );
    svg.push_str(&boxes);
    svg.push_str(&more);
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(
            esc("<script>\"a\" & 'b'"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;"
        );
    }
}
