//! /api/v1/reports/sla: SLA attainment as JSON, CSV (the attainment table; the breaches in a
//! second file) and XLSX (two sheets). The export headers are in the caller's language.

use super::extract::ApiActor;
use super::problem::Problem;
use crate::app::reports::{self, BreachView, ReportQuery, ReportRow, SlaReport};
use crate::app::AppError;
use crate::http::AppState;
use crate::i18n::Lang;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

async fn report(
    s: &AppState,
    actor: &crate::app::Actor,
    uri: &axum::http::Uri,
) -> Result<SlaReport, Problem> {
    let q: ReportQuery = super::query_params(uri.query())?;
    Ok(reports::sla_report(&s.app, actor, &q).await?)
}

#[utoipa::path(get, path = "/api/v1/reports/sla", tag = "reports", params(ReportQuery),
    responses((status = 200, body = SlaReport), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn sla(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    uri: axum::http::Uri,
) -> Result<Json<SlaReport>, Problem> {
    Ok(Json(report(&s, &actor, &uri).await?))
}

fn download(body: Vec<u8>, content_type: &'static str, filename: String) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[utoipa::path(get, path = "/api/v1/reports/sla.csv", tag = "reports", params(ReportQuery),
    responses((status = 200, description = "text/csv (UTF-8 with a byte order mark): one row per group and the total"),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn sla_csv(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, Problem> {
    let r = report(&s, &actor, &uri).await?;
    let lang = crate::web::session::lang_for(Some(&actor), &headers);
    let name = format!("sla-{}-{}.csv", r.from, r.to);
    Ok(download(
        attainment_csv(&r, lang).into_bytes(),
        "text/csv; charset=utf-8",
        name,
    ))
}

#[utoipa::path(get, path = "/api/v1/reports/sla/breaches.csv", tag = "reports", params(ReportQuery),
    responses((status = 200, description = "text/csv (UTF-8 with a byte order mark): the breaches of the period"),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn breaches_csv(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, Problem> {
    let r = report(&s, &actor, &uri).await?;
    let lang = crate::web::session::lang_for(Some(&actor), &headers);
    let name = format!("sla-breaches-{}-{}.csv", r.from, r.to);
    Ok(download(
        breaches_csv_text(&r, lang).into_bytes(),
        "text/csv; charset=utf-8",
        name,
    ))
}

#[utoipa::path(get, path = "/api/v1/reports/sla.xlsx", tag = "reports", params(ReportQuery),
    responses((status = 200, description = "An Excel workbook: the attainment sheet and the breaches sheet"),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn sla_xlsx(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, Problem> {
    let r = report(&s, &actor, &uri).await?;
    let lang = crate::web::session::lang_for(Some(&actor), &headers);
    let bytes = workbook(&r, lang).map_err(|e| AppError::Internal(format!("xlsx: {e}")))?;
    Ok(download(
        bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        format!("sla-{}-{}.xlsx", r.from, r.to),
    ))
}

// --- the table, shared by CSV and XLSX ---

/// The heading of the group column.
pub fn group_heading(lang: Lang, group_by: &str) -> String {
    lang.t(&format!("reports-group-{group_by}"))
}

/// A group's name; "(none)" for tickets without one.
pub fn row_name(lang: Lang, row: &ReportRow) -> String {
    row.name.clone().unwrap_or_else(|| lang.t("reports-none"))
}

fn attainment_headings(lang: Lang, r: &SlaReport) -> Vec<String> {
    let cur = lang.t("reports-current");
    let prev = lang.t("reports-previous");
    let mut h = vec![group_heading(lang, &r.group_by)];
    for p in [&cur, &prev] {
        for k in [
            "reports-met",
            "reports-breached",
            "reports-open",
            "reports-attainment",
        ] {
            h.push(format!("{p} {}", lang.t(k)));
        }
    }
    h.push(lang.t("reports-change"));
    h
}

fn breach_headings(lang: Lang) -> Vec<String> {
    [
        "reports-ticket",
        "reports-ticket-title",
        "reports-group-priority",
        "reports-metric",
        "reports-agreement",
        "reports-group-service",
        "reports-group-customer",
        "reports-group-team",
        "reports-due",
        "reports-breached-at",
        "reports-reason",
    ]
    .iter()
    .map(|k| lang.t(k))
    .collect()
}

fn local_time(tz: &jiff::tz::TimeZone, rfc3339: &str) -> String {
    rfc3339
        .parse::<jiff::Timestamp>()
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// The text cells of one breach row.
fn breach_cells(lang: Lang, tz: &jiff::tz::TimeZone, b: &BreachView) -> Vec<String> {
    vec![
        b.number.clone(),
        b.title.clone(),
        format!("P{}", b.priority),
        lang.t(&format!("reports-metric-{}", b.metric)),
        b.agreement.clone(),
        b.service.clone().unwrap_or_default(),
        b.customer.clone().unwrap_or_default(),
        b.team.clone().unwrap_or_default(),
        b.due_at
            .as_deref()
            .map(|d| local_time(tz, d))
            .unwrap_or_default(),
        local_time(tz, &b.breached_at),
        b.breach_reason.clone().unwrap_or_default(),
    ]
}

fn report_tz(r: &SlaReport) -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(&r.time_zone).unwrap_or(jiff::tz::TimeZone::UTC)
}

// --- CSV ---

/// One CSV field: quoted when it holds a comma, quote or line break; text that a spreadsheet
/// would run as a formula (= + - @ and tab or CR first) is prefixed with an apostrophe.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    csv_quote(&s)
}

fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One line; the cells from `numbers_from` on are numbers we wrote (a sign is not a formula).
fn csv_line(out: &mut String, cells: &[String], numbers_from: usize) {
    let line: Vec<String> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < numbers_from {
                csv_field(c)
            } else {
                csv_quote(c)
            }
        })
        .collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

fn percent(p: Option<f64>) -> String {
    p.map(|v| format!("{v:.1}")).unwrap_or_default()
}

fn change(p: Option<f64>) -> String {
    p.map(|v| format!("{v:+.1}")).unwrap_or_default()
}

/// The attainment table as CSV, with a BOM so that Excel reads UTF-8; percentages as numbers
/// with one decimal, empty where nothing was decided; the total last.
pub fn attainment_csv(r: &SlaReport, lang: Lang) -> String {
    let mut out = String::from("\u{feff}");
    csv_line(&mut out, &attainment_headings(lang, r), usize::MAX);
    let total = (lang.t("reports-total"), &r.total);
    for (name, row) in r
        .rows
        .iter()
        .map(|row| (row_name(lang, row), row))
        .chain(std::iter::once(total))
    {
        let mut cells = vec![name];
        for f in [&row.current, &row.previous] {
            cells.push(f.met.to_string());
            cells.push(f.breached.to_string());
            cells.push(f.open.to_string());
            cells.push(percent(f.attainment_percent));
        }
        cells.push(change(row.change_points));
        csv_line(&mut out, &cells, 1);
    }
    out
}

/// The breaches of the period as CSV (BOM, times in the report's time zone).
pub fn breaches_csv_text(r: &SlaReport, lang: Lang) -> String {
    let tz = report_tz(r);
    let mut out = String::from("\u{feff}");
    csv_line(&mut out, &breach_headings(lang), usize::MAX);
    for b in &r.breaches {
        csv_line(&mut out, &breach_cells(lang, &tz, b), usize::MAX);
    }
    out
}

// --- XLSX ---

/// Two sheets: attainment (percentages as numbers in a percent format) and breaches.
pub fn workbook(r: &SlaReport, lang: Lang) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let pct = Format::new().set_num_format("0.0%");
    let change_fmt = Format::new().set_num_format("+0.0;-0.0;0.0");

    let ws = wb.add_worksheet();
    ws.set_name(lang.t("reports-sheet-attainment"))?;
    ws.write_string(
        0,
        0,
        format!("{} {} – {}", lang.t("reports-title"), r.from, r.to),
    )?;
    let headings = attainment_headings(lang, r);
    for (c, h) in headings.iter().enumerate() {
        ws.write_string_with_format(2, c as u16, h, &bold)?;
    }
    ws.set_column_width(0, 28)?;
    for c in 1..headings.len() as u16 {
        ws.set_column_width(c, 14)?;
    }
    let total = (lang.t("reports-total"), &r.total);
    for (n, (name, line)) in r
        .rows
        .iter()
        .map(|l| (row_name(lang, l), l))
        .chain(std::iter::once(total))
        .enumerate()
    {
        let row = 3 + n as u32;
        let is_total = std::ptr::eq(line, &r.total);
        if is_total {
            ws.write_string_with_format(row, 0, &name, &bold)?;
        } else {
            ws.write_string(row, 0, &name)?;
        }
        let mut col = 1u16;
        for f in [&line.current, &line.previous] {
            for n in [f.met, f.breached, f.open] {
                ws.write_number(row, col, n as f64)?;
                col += 1;
            }
            if let Some(p) = f.attainment_percent {
                ws.write_number_with_format(row, col, p / 100.0, &pct)?;
            }
            col += 1;
        }
        if let Some(c) = line.change_points {
            ws.write_number_with_format(row, col, c, &change_fmt)?;
        }
    }

    let tz = report_tz(r);
    let ws = wb.add_worksheet();
    ws.set_name(lang.t("reports-sheet-breaches"))?;
    for (c, h) in breach_headings(lang).iter().enumerate() {
        ws.write_string_with_format(0, c as u16, h, &bold)?;
    }
    for (c, w) in [14, 40, 8, 12, 24, 20, 20, 16, 17, 17, 40]
        .iter()
        .enumerate()
    {
        ws.set_column_width(c as u16, *w)?;
    }
    for (i, b) in r.breaches.iter().enumerate() {
        for (c, cell) in breach_cells(lang, &tz, b).iter().enumerate() {
            ws.write_string(i as u32 + 1, c as u16, cell)?;
        }
    }
    wb.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("=1+1"), "'=1+1");
        assert_eq!(csv_field("网络"), "网络");
    }
}
