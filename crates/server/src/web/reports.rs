//! The SLA report page: the period form, attainment per group beside the previous period with
//! an SVG bar chart drawn here on the server, the breaches with their reasons, and links to the
//! CSV and XLSX exports of the API with the same parameters.

use super::session::WebUser;
use super::{describe, finish, render, status_of, Chrome};
use crate::app::reports::{self, Figures, ReportQuery, SlaReport, GROUP_BYS, KINDS, METRICS};
use crate::app::AppError;
use crate::http::AppState;
use crate::i18n::Lang;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new().route("/reports/sla", get(sla_page))
}

#[derive(Debug, Default, Deserialize)]
pub struct ReportParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub group_by: Option<String>,
    pub metric: Option<String>,
    pub kind: Option<String>,
}

pub struct Choice {
    pub value: &'static str,
    pub label: String,
    pub selected: bool,
}

pub struct FigureCells {
    pub met: i64,
    pub breached: i64,
    pub open: i64,
    pub attainment: String,
}

pub struct RowView {
    pub name: String,
    pub current: FigureCells,
    pub previous: FigureCells,
    pub change: String,
    /// up, down or "" for the change's colour
    pub trend: &'static str,
    pub total: bool,
}

pub struct BreachRowView {
    pub ticket_id: i64,
    pub number: String,
    pub title: String,
    pub priority: String,
    pub metric: String,
    pub agreement: String,
    pub service: String,
    pub team: String,
    pub due: String,
    pub breached_at: String,
    pub reason: Option<String>,
}

#[derive(Template)]
#[template(path = "reports_sla.html")]
struct SlaPage {
    c: Chrome,
    from: String,
    to: String,
    group_bys: Vec<Choice>,
    metrics: Vec<Choice>,
    kinds: Vec<Choice>,
    error: Option<String>,
    report: Option<SlaReport>,
    group_heading: String,
    rows: Vec<RowView>,
    chart: String,
    breaches: Vec<BreachRowView>,
    breach_count: String,
    breach_limited: Option<String>,
    csv_href: String,
    breaches_csv_href: String,
    xlsx_href: String,
}

/// A percentage with one decimal, or "—" when there is nothing to measure.
pub fn percent(p: Option<f64>) -> String {
    p.map(|v| format!("{v:.1} %")).unwrap_or_else(|| "—".into())
}

fn change(p: Option<f64>) -> (String, &'static str) {
    match p {
        Some(v) if v.abs() < 0.05 => ("±0.0".into(), ""),
        Some(v) if v > 0.0 => (format!("+{v:.1}"), "up"),
        Some(v) => (format!("{v:.1}"), "down"),
        None => ("—".into(), ""),
    }
}

fn cells(f: &Figures) -> FigureCells {
    FigureCells {
        met: f.met,
        breached: f.breached,
        open: f.open,
        attainment: percent(f.attainment_percent),
    }
}

fn choices(i: Lang, prefix: &str, values: &[&'static str], current: &str) -> Vec<Choice> {
    values
        .iter()
        .map(|v| Choice {
            value: v,
            label: i.t(&format!("{prefix}-{v}")),
            selected: *v == current,
        })
        .collect()
}

/// The current calendar month in the user's time zone: the default period.
fn this_month(u: &WebUser) -> (String, String) {
    let today = jiff::Timestamp::now().to_zoned(u.tz.clone()).date();
    let first = today.first_of_month();
    (first.to_string(), today.last_of_month().to_string())
}

async fn sla_page(
    State(s): State<AppState>,
    u: WebUser,
    Query(p): Query<ReportParams>,
) -> Response {
    let r = page(&s, &u, p).await;
    finish(&u, r)
}

async fn page(s: &AppState, u: &WebUser, p: ReportParams) -> Result<Response, AppError> {
    let i = u.lang;
    let (month_from, month_to) = this_month(u);
    let q = ReportQuery {
        from: p
            .from
            .filter(|v| !v.trim().is_empty())
            .unwrap_or(month_from),
        to: p.to.filter(|v| !v.trim().is_empty()).unwrap_or(month_to),
        group_by: p.group_by,
        metric: p.metric,
        kind: p.kind,
    };
    let result = reports::sla_report(&s.app, &u.actor, &q).await;
    let (report, error, status) = match result {
        Ok(r) => (Some(r), None, StatusCode::OK),
        Err(e @ AppError::Invalid { .. }) => (None, Some(describe(i, &e)), status_of(&e)),
        Err(e) => return Err(e),
    };
    let selected = |v: &Option<String>, d: &'static str| v.clone().unwrap_or_else(|| d.into());
    let group_by = report
        .as_ref()
        .map(|r| r.group_by.clone())
        .unwrap_or_else(|| selected(&q.group_by, "service"));
    let metric = report
        .as_ref()
        .map(|r| r.metric.clone())
        .unwrap_or_else(|| selected(&q.metric, "both"));
    let kind = report
        .as_ref()
        .map(|r| r.kind.clone())
        .unwrap_or_else(|| selected(&q.kind, "all"));

    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("from", &q.from)
        .append_pair("to", &q.to)
        .append_pair("group_by", &group_by)
        .append_pair("metric", &metric)
        .append_pair("kind", &kind);
    let query = query.finish();

    let mut rows = Vec::new();
    let mut chart = String::new();
    let mut breaches = Vec::new();
    let mut breach_count = String::new();
    let mut breach_limited = None;
    if let Some(r) = &report {
        let c = Chrome::new(u, "reports");
        for (row, total) in r
            .rows
            .iter()
            .map(|x| (x, false))
            .chain(std::iter::once((&r.total, true)))
        {
            let (change, trend) = change(row.change_points);
            rows.push(RowView {
                name: if total {
                    i.t("reports-total")
                } else {
                    row.name.clone().unwrap_or_else(|| i.t("reports-none"))
                },
                current: cells(&row.current),
                previous: cells(&row.previous),
                change,
                trend,
                total,
            });
        }
        let bars: Vec<Bar> = r
            .rows
            .iter()
            .map(|row| Bar {
                label: row.name.clone().unwrap_or_else(|| i.t("reports-none")),
                current: row.current.attainment_percent,
                previous: row.previous.attainment_percent,
            })
            .collect();
        if !bars.is_empty() {
            chart = attainment_chart(
                &bars,
                r.target_percent,
                &ChartText {
                    title: i.t("reports-chart"),
                    current: format!("{} ({} – {})", i.t("reports-current"), r.from, r.to),
                    previous: format!(
                        "{} ({} – {})",
                        i.t("reports-previous"),
                        r.previous_from,
                        r.previous_to
                    ),
                    target: i.t_args(
                        "reports-target",
                        &[("target", percent(Some(r.target_percent)))],
                    ),
                },
            );
        }
        breaches = r
            .breaches
            .iter()
            .map(|b| BreachRowView {
                ticket_id: b.ticket_id,
                number: b.number.clone(),
                title: b.title.clone(),
                priority: format!("P{}", b.priority),
                metric: i.t(&format!("reports-metric-{}", b.metric)),
                agreement: b.agreement.clone(),
                service: b.service.clone().unwrap_or_default(),
                team: b.team.clone().unwrap_or_default(),
                due: b.due_at.as_deref().map(|d| c.time(d)).unwrap_or_default(),
                breached_at: c.time(&b.breached_at),
                reason: b.breach_reason.clone(),
            })
            .collect();
        breach_count = i.t_args(
            "reports-breach-count",
            &[("count", r.breach_count.to_string())],
        );
        if r.breach_count > r.breaches.len() as i64 {
            breach_limited = Some(i.t_args(
                "reports-breach-limited",
                &[("shown", r.breaches.len().to_string())],
            ));
        }
    }

    let page = SlaPage {
        c: Chrome::new(u, "reports"),
        from: q.from.clone(),
        to: q.to.clone(),
        group_bys: choices(i, "reports-group", GROUP_BYS, &group_by),
        metrics: choices(i, "reports-metric", METRICS, &metric),
        kinds: choices(i, "reports-kind", KINDS, &kind),
        error,
        group_heading: i.t(&format!("reports-group-{group_by}")),
        report,
        rows,
        chart,
        breaches,
        breach_count,
        breach_limited,
        csv_href: format!("/api/v1/reports/sla.csv?{query}"),
        breaches_csv_href: format!("/api/v1/reports/sla/breaches.csv?{query}"),
        xlsx_href: format!("/api/v1/reports/sla.xlsx?{query}"),
    };
    Ok(render(status, &page))
}

// --- the chart ---

/// One group of the chart: its attainment in the current and the previous period.
pub struct Bar {
    pub label: String,
    pub current: Option<f64>,
    pub previous: Option<f64>,
}

pub struct ChartText {
    pub title: String,
    pub current: String,
    pub previous: String,
    pub target: String,
}

const CURRENT_COLOUR: &str = "#2563eb";
const PREVIOUS_COLOUR: &str = "#a5b4c8";
const TARGET_COLOUR: &str = "#dc2626";

/// Text for SVG (XML): the five special characters escaped.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A label for the left column: at most 14 characters, the whole name in a tooltip.
fn short(label: &str) -> String {
    if label.chars().count() > 14 {
        let mut s: String = label.chars().take(13).collect();
        s.push('…');
        s
    } else {
        label.to_string()
    }
}

/// A horizontal bar chart of attainment (0–100 %), two bars per group (current above
/// previous), with the target as a dashed vertical line. Bars of periods with nothing to
/// measure have no width and read "—". Every text is escaped.
pub fn attainment_chart(bars: &[Bar], target: f64, text: &ChartText) -> String {
    use std::fmt::Write;
    const WIDTH: f64 = 680.0;
    const LEFT: f64 = 170.0;
    const PLOT: f64 = 420.0;
    const TOP: f64 = 44.0;
    const ROW: f64 = 40.0;
    const BAR: f64 = 13.0;
    let height = TOP + ROW * bars.len() as f64 + 30.0;
    let x_of = |p: f64| LEFT + PLOT * p.clamp(0.0, 100.0) / 100.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-labelledby="chart-title" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(
        s,
        r#"<title id="chart-title">{}</title>"#,
        xml_escape(&text.title)
    );
    // Legend.
    let _ = write!(
        s,
        r##"<g class="legend"><rect x="{LEFT}" y="8" width="12" height="12" fill="{CURRENT_COLOUR}"/><text x="{}" y="18">{}</text>"##,
        LEFT + 16.0,
        xml_escape(&text.current)
    );
    let _ = write!(
        s,
        r##"<rect x="{LEFT}" y="24" width="12" height="12" fill="{PREVIOUS_COLOUR}"/><text x="{}" y="34">{}</text></g>"##,
        LEFT + 16.0,
        xml_escape(&text.previous)
    );
    // Grid and axis labels every 20 %.
    let bottom = TOP + ROW * bars.len() as f64;
    for p in (0..=100).step_by(20) {
        let x = x_of(p as f64);
        let _ = write!(
            s,
            r##"<line x1="{x}" y1="{TOP}" x2="{x}" y2="{bottom}" stroke="#e5e7eb"/><text x="{x}" y="{}" text-anchor="middle" fill="#6b7280">{p} %</text>"##,
            bottom + 16.0
        );
    }
    for (n, b) in bars.iter().enumerate() {
        let y = TOP + ROW * n as f64 + 6.0;
        let label = xml_escape(&b.label);
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end"><title>{label}</title>{}</text>"#,
            LEFT - 8.0,
            y + BAR + 3.0,
            xml_escape(&short(&b.label))
        );
        for (k, (value, class, colour)) in [
            (b.current, "bar-current", CURRENT_COLOUR),
            (b.previous, "bar-previous", PREVIOUS_COLOUR),
        ]
        .into_iter()
        .enumerate()
        {
            let by = y + k as f64 * (BAR + 1.0);
            let w = value.map(|v| x_of(v) - LEFT).unwrap_or(0.0);
            let shown = percent(value);
            let _ = write!(
                s,
                r#"<rect class="{class}" x="{LEFT}" y="{by}" width="{w:.1}" height="{BAR}" fill="{colour}"><title>{label}: {shown}</title></rect><text x="{:.1}" y="{:.1}" font-size="11">{shown}</text>"#,
                LEFT + w + 4.0,
                by + BAR - 2.0
            );
        }
    }
    let tx = x_of(target);
    let _ = write!(
        s,
        r##"<line class="target" x1="{tx:.1}" y1="{}" x2="{tx:.1}" y2="{bottom}" stroke="{TARGET_COLOUR}" stroke-width="1.5" stroke-dasharray="4 3"/><text x="{tx:.1}" y="{}" text-anchor="middle" fill="{TARGET_COLOUR}" font-size="11">{}</text>"##,
        TOP - 4.0,
        TOP - 6.0,
        xml_escape(&text.target)
    );
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text() -> ChartText {
        ChartText {
            title: "Attainment".into(),
            current: "This period".into(),
            previous: "Previous".into(),
            target: "Target 95.0 %".into(),
        }
    }

    #[test]
    fn chart_has_one_bar_per_group_and_period_and_escapes_labels() {
        let bars = vec![
            Bar {
                label: "<script>alert(1)</script> & co".into(),
                current: Some(75.0),
                previous: None,
            },
            Bar {
                label: "网络服务".into(),
                current: Some(100.0),
                previous: Some(50.0),
            },
            Bar {
                label: "\"quoted\" 'name'".into(),
                current: None,
                previous: Some(0.0),
            },
        ];
        let svg = attainment_chart(&bars, 95.0, &text());
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches(r#"class="bar-current""#).count(), 3);
        assert_eq!(svg.matches(r#"class="bar-previous""#).count(), 3);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
        assert!(svg.contains("&quot;quoted&quot; &#39;name&#39;"));
        assert!(svg.contains("网络服务"));
        // 75 % of a 420 px plot; 100 % fills it; nothing to measure has no width.
        assert!(svg.contains(r#"class="bar-current" x="170" y="50" width="315.0""#));
        assert!(svg.contains(r#"width="420.0""#));
        assert!(svg.contains("—"));
        assert_eq!(svg.matches(r#"class="target""#).count(), 1);
        assert!(svg.contains(r#"x1="569.0""#)); // 170 + 420 × 0.95
    }

    #[test]
    fn percentages_have_one_decimal_or_a_dash() {
        assert_eq!(percent(Some(66.666)), "66.7 %");
        assert_eq!(percent(None), "—");
        assert_eq!(change(Some(-4.26)).0, "-4.3");
        assert_eq!(change(Some(12.0)), ("+12.0".into(), "up"));
    }
}
