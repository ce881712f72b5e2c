//! SLA reports: attainment per service, customer, team and priority beside the previous period,
//! the breaches with their reasons, CSV and XLSX exports, the page, who may read them.

use crate::common::{problem, TestApp, User, PASSWORD};
use crate::on_both_databases;
use serde_json::{json, Value};
use steward_server::app::escalation;

on_both_databases!(sla_attainment_is_reported_and_exported);

const ALWAYS: i64 = 2;
const DAY: i64 = 86_400_000_000;

fn minutes(n: i64) -> i64 {
    n * 60_000_000
}

async fn clock_id(t: &TestApp, user: &User, ticket: i64, metric: &str) -> i64 {
    let v: Value = t
        .get(&format!("/api/v1/tickets/{ticket}/clocks"), user)
        .await
        .json()
        .await
        .unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metric"] == metric)
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn service(t: &TestApp, manager: &User, code: &str, zh: &str, en: &str) -> i64 {
    let res = t
        .post(
            "/api/v1/services",
            manager,
            json!({"code": code, "name_zh": zh, "name_en": en, "lifecycle": "live"}),
        )
        .await;
    assert_eq!(res.status(), 201, "create service");
    res.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

/// A ticket on a service and a team, P1 (high × high) or P3 (medium × medium).
async fn ticket(
    t: &TestApp,
    requester: &User,
    title: &str,
    p1: bool,
    service: i64,
    team: i64,
) -> i64 {
    let level = if p1 { "high" } else { "medium" };
    let v = t
        .ticket(requester, title, json!({"impact": level, "urgency": level}))
        .await;
    assert_eq!(v["priority"], if p1 { "P1" } else { "P3" });
    let id = v["id"].as_i64().unwrap();
    sqlx::query("UPDATE tickets SET service_id = $1, team_id = $2 WHERE id = $3")
        .bind(service)
        .bind(team)
        .bind(id)
        .execute(&t.app.store.pool)
        .await
        .unwrap();
    id
}

async fn reply(t: &TestApp, agent: &User, id: i64) {
    let res = t
        .post(
            &format!("/api/v1/tickets/{id}/comments"),
            agent,
            json!({"body": "On it"}),
        )
        .await;
    assert_eq!(res.status(), 201);
}

async fn resolve(t: &TestApp, agent: &User, id: i64) {
    let res = t
        .patch(
            &format!("/api/v1/tickets/{id}"),
            agent,
            json!({"status": "resolved", "resolution_code": "fixed"}),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

/// Moves every instant of a ticket and its clocks back by `by` microseconds.
async fn shift_back(t: &TestApp, id: i64, by: i64) {
    for sql in [
        "UPDATE sla_clocks SET started_at = started_at - $1, since = since - $1, \
         breached_at = breached_at - $1, due_at = due_at - $1 WHERE ticket_id = $2",
        "UPDATE tickets SET created_at = created_at - $1 WHERE id = $2",
    ] {
        sqlx::query(sql)
            .bind(by)
            .bind(id)
            .execute(&t.app.store.pool)
            .await
            .unwrap();
    }
}

async fn get(t: &TestApp, path: String, user: &User) -> Value {
    let res = t.get(&path, user).await;
    assert_eq!(res.status(), 200, "{path}");
    res.json::<Value>().await.unwrap()
}

fn row<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name} in {report}"))
}

/// (met, breached, open, attainment)
fn figures(f: &Value) -> (i64, i64, i64, Option<f64>) {
    (
        f["met"].as_i64().unwrap(),
        f["breached"].as_i64().unwrap(),
        f["open"].as_i64().unwrap(),
        f["attainment_percent"].as_f64(),
    )
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

async fn sla_attainment_is_reported_and_exported(t: &TestApp) {
    let net = t.team("Network").await;
    let desk = t.team("Desk").await;
    let acme = t.org("Acme", false).await;
    let huadong = t.org("华东 <Ltd>", false).await;
    let manager = t
        .user("sm@example.com", "service_manager", None, vec![])
        .await;
    let agent = t
        .user("agent@example.com", "agent", None, vec![net, desk])
        .await;
    let lead = t
        .user("lead@example.com", "team_lead", None, vec![desk])
        .await;
    let auditor = t.user("audit@example.com", "auditor", None, vec![]).await;
    let r1 = t
        .user("r1@example.com", "requester", Some(acme), vec![])
        .await;
    let r2 = t
        .user("r2@example.com", "requester", Some(huadong), vec![])
        .await;
    let res = t
        .post(
            "/api/v1/slas",
            &manager,
            json!({
                "name": "Standard", "kind": "sla", "calendar_id": ALWAYS,
                "valid_from": "2020-01-01", "status": "active", "warn_percent": 75,
                "targets": [
                    {"priority": "P1", "response_minutes": 30, "resolution_minutes": 120},
                    {"priority": "P3", "response_minutes": 60, "resolution_minutes": 240}
                ]
            }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let email = service(t, &manager, "EMAIL", "邮件", "Email").await;
    let vpn = service(t, &manager, "VPN", "远程接入", "VPN, remote").await;

    // This period: A met twice; B breached twice; C responded, resolution still running;
    // D responded, resolution breached. The previous period (moved back 40 days): E met twice;
    // F responded, resolution breached.
    let a = ticket(t, &r1, "A", false, email, net).await;
    let b = ticket(t, &r1, "B", true, email, net).await;
    let c = ticket(t, &r2, "C", false, vpn, desk).await;
    let d = ticket(t, &r2, "D", true, vpn, net).await;
    let e = ticket(t, &r1, "E", false, email, net).await;
    let f = ticket(t, &r1, "F", true, email, net).await;
    for id in [a, c, d, e, f] {
        reply(t, &agent, id).await;
    }
    resolve(t, &agent, a).await;
    resolve(t, &agent, e).await;
    let now = steward_store::now_micros();
    escalation::sweep(&t.app, now + minutes(180), "node")
        .await
        .unwrap();
    shift_back(t, e, 40 * DAY).await;
    shift_back(t, f, 40 * DAY).await;

    let reason = "Carrier outage <upstream>, waited for the ISP";
    let b_resolution = clock_id(t, &agent, b, "resolution").await;
    let res = t
        .req(
            reqwest::Method::PUT,
            &format!("/api/v1/tickets/{b}/clocks/{b_resolution}/breach-reason"),
            &agent,
        )
        .json(&json!({ "breach_reason": reason }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    // The last 30 days and tomorrow (breaches were recorded up to two hours ahead), in the
    // reader's time zone; the previous period is the 31 days before.
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
        .date();
    let from = today.checked_sub(jiff::Span::new().days(29)).unwrap();
    let to = today.tomorrow().unwrap();
    let q = |extra: &str| format!("from={from}&to={to}{extra}");

    let r = get(t, format!("/api/v1/reports/sla?{}", q("")), &manager).await;
    assert_eq!(r["group_by"], "service");
    assert_eq!(r["metric"], "both");
    assert_eq!(r["from"], from.to_string());
    assert_eq!(
        r["previous_to"],
        from.yesterday().unwrap().to_string(),
        "the previous period ends the day before"
    );
    assert_eq!(r["time_zone"], "Asia/Shanghai");
    assert_eq!(r["rows"].as_array().unwrap().len(), 2);
    let em = row(&r, "Email");
    assert_eq!(em["key"], email);
    let (met, breached, open, att) = figures(&em["current"]);
    assert_eq!((met, breached, open), (2, 2, 0));
    assert!(close(att, 50.0));
    let (met, breached, open, att) = figures(&em["previous"]);
    assert_eq!((met, breached, open), (3, 1, 0));
    assert!(close(att, 75.0));
    assert!(close(em["change_points"].as_f64(), -25.0));
    let v = row(&r, "VPN, remote");
    let (met, breached, open, att) = figures(&v["current"]);
    assert_eq!((met, breached, open), (2, 1, 1));
    assert!(close(att, 200.0 / 3.0));
    assert_eq!(figures(&v["previous"]), (0, 0, 0, None));
    assert!(v["change_points"].is_null());
    let (met, breached, open, att) = figures(&r["total"]["current"]);
    assert_eq!((met, breached, open), (4, 3, 1));
    assert!(close(att, 400.0 / 7.0));
    assert_eq!(figures(&r["total"]["previous"]), (3, 1, 0, Some(75.0)));

    // Breaches of this period, oldest first, with the recorded reason.
    assert_eq!(r["breach_count"], 3);
    let breaches = r["breaches"].as_array().unwrap();
    let listed: Vec<(&str, &str)> = breaches
        .iter()
        .map(|x| (x["title"].as_str().unwrap(), x["metric"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [("B", "response"), ("B", "resolution"), ("D", "resolution")]
    );
    assert_eq!(breaches[1]["breach_reason"], reason);
    assert_eq!(breaches[1]["agreement"], "Standard");
    assert_eq!(breaches[1]["team"], "Network");
    assert_eq!(breaches[1]["service"], "Email");
    assert_eq!(breaches[1]["customer"], "Acme");
    assert!(breaches[0]["breach_reason"].is_null());
    assert!(breaches[1]["breached_at"].as_str().unwrap().ends_with('Z'));

    // By team: D is the network team's.
    let r = get(
        t,
        format!("/api/v1/reports/sla?{}", q("&group_by=team")),
        &manager,
    )
    .await;
    let n = row(&r, "Network");
    assert_eq!(figures(&n["current"]), (3, 3, 0, Some(50.0)));
    assert_eq!(figures(&n["previous"]), (3, 1, 0, Some(75.0)));
    assert_eq!(figures(&row(&r, "Desk")["current"]), (1, 0, 1, Some(100.0)));

    // By priority.
    let r = get(
        t,
        format!("/api/v1/reports/sla?{}", q("&group_by=priority")),
        &auditor,
    )
    .await;
    let p1 = row(&r, "P1");
    assert_eq!(p1["key"], 1);
    assert_eq!(figures(&p1["current"]), (1, 3, 0, Some(25.0)));
    assert_eq!(figures(&p1["previous"]), (1, 1, 0, Some(50.0)));
    let p3 = row(&r, "P3");
    assert_eq!(figures(&p3["current"]), (3, 0, 1, Some(100.0)));
    assert_eq!(figures(&p3["previous"]), (2, 0, 0, Some(100.0)));
    assert!(close(p3["change_points"].as_f64(), 0.0));

    // By customer, response only.
    let r = get(
        t,
        format!(
            "/api/v1/reports/sla?{}",
            q("&group_by=customer&metric=response")
        ),
        &manager,
    )
    .await;
    assert_eq!(figures(&row(&r, "Acme")["current"]), (1, 1, 0, Some(50.0)));
    assert_eq!(
        figures(&row(&r, "Acme")["previous"]),
        (2, 0, 0, Some(100.0))
    );
    assert_eq!(
        figures(&row(&r, "华东 <Ltd>")["current"]),
        (2, 0, 0, Some(100.0))
    );
    assert_eq!(r["breach_count"], 1);
    // OLAs only: there are none.
    let r = get(
        t,
        format!("/api/v1/reports/sla?{}", q("&kind=ola")),
        &manager,
    )
    .await;
    assert!(r["rows"].as_array().unwrap().is_empty());
    assert_eq!(figures(&r["total"]["current"]), (0, 0, 0, None));

    // A team lead reports on the own team's tickets only.
    let r = get(t, format!("/api/v1/reports/sla?{}", q("")), &lead).await;
    assert_eq!(r["rows"].as_array().unwrap().len(), 1);
    assert_eq!(
        figures(&row(&r, "VPN, remote")["current"]),
        (1, 0, 1, Some(100.0))
    );
    assert_eq!(r["breach_count"], 0);

    // CSV: BOM, header, one line per group and the total; names quoted where needed.
    let res = t
        .get(&format!("/api/v1/reports/sla.csv?{}", q("")), &manager)
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(".csv"));
    let csv = res.text().await.unwrap();
    let body = csv.strip_prefix('\u{feff}').expect("a byte order mark");
    let lines: Vec<&str> = body.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 4, "{body}");
    assert!(lines[0].starts_with("Service,This period Met,This period Breached"));
    assert_eq!(lines[1], "Email,2,2,0,50.0,3,1,0,75.0,-25.0");
    assert_eq!(lines[2], "\"VPN, remote\",2,1,1,66.7,0,0,0,,");
    assert_eq!(lines[3], "Total,4,3,1,57.1,3,1,0,75.0,-17.9");

    let res = t
        .get(
            &format!("/api/v1/reports/sla/breaches.csv?{}", q("")),
            &manager,
        )
        .await;
    assert_eq!(res.status(), 200);
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv
        .trim_start_matches('\u{feff}')
        .trim_end()
        .split("\r\n")
        .collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0].starts_with("Ticket,Title,Priority,Metric,Agreement"));
    assert!(lines[2].contains(",P1,Resolution,Standard,Email,Acme,Network,"));
    assert!(lines[2].ends_with(&format!("\"{reason}\"")), "{}", lines[2]);

    // XLSX: a zip with two sheets.
    let res = t
        .get(
            &format!("/api/v1/reports/sla.xlsx?{}", q("&group_by=team")),
            &manager,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let bytes = res.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK"));
    assert!(bytes.len() > 4000, "{} bytes", bytes.len());

    // Who may not read reports: 403, also for the exports.
    let requester = r1;
    for user in [&agent, &requester] {
        for path in [
            "/api/v1/reports/sla",
            "/api/v1/reports/sla.csv",
            "/api/v1/reports/sla.xlsx",
        ] {
            problem(t.get(&format!("{path}?{}", q("")), user).await, 403, None).await;
        }
    }

    // Bad parameters name the field.
    for (query, field) in [
        ("from=2026-13-01&to=2026-12-31", "from"),
        ("to=2026-12-31", "from"),
        ("from=2026-03-01&to=March", "to"),
        ("from=2026-03-02&to=2026-03-01", "to"),
        ("from=2024-01-01&to=2025-01-05", "to"),
        ("from=2026-03-01&to=2026-03-31&group_by=colour", "group_by"),
        ("from=2026-03-01&to=2026-03-31&metric=speed", "metric"),
        ("from=2026-03-01&to=2026-03-31&kind=xla", "kind"),
    ] {
        problem(
            t.get(&format!("/api/v1/reports/sla?{query}"), &manager)
                .await,
            422,
            Some(field),
        )
        .await;
    }

    // The page: the chart, the table, the breach with its reason, the export links.
    let login = |email: &'static str| async move {
        let res = t
            .client
            .post(format!("{}/login", t.base))
            .form(&[("email", email), ("password", PASSWORD), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string()
    };
    let cookie = login("sm@example.com").await;
    let page = |cookie: String, query: String| async move {
        t.client
            .get(format!("{}/reports/sla?{query}", t.base))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
    };
    let res = page(cookie.clone(), q("&group_by=customer")).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("<svg"), "an inline chart");
    assert_eq!(html.matches("class=\"bar-current\"").count(), 2);
    assert!(html.contains("华东 &lt;Ltd&gt;"));
    assert!(!html.contains("华东 <Ltd>"));
    assert!(
        html.contains("Carrier outage &lt;upstream&gt;")
            || html.contains("Carrier outage &#60;upstream&#62;")
    );
    assert!(html.contains("/api/v1/reports/sla.xlsx?from="));
    assert!(html.contains("50.0 %"));
    assert!(
        html.contains("href=\"/reports/sla\""),
        "the navigation links the report"
    );
    let res = page(cookie.clone(), "from=2026-03-02&to=2026-03-01".into()).await;
    assert_eq!(res.status(), 422);
    let res = page(cookie, String::new()).await;
    assert_eq!(res.status(), 200, "the current month by default");
    let cookie = login("agent@example.com").await;
    let res = page(cookie, q("")).await;
    assert_eq!(res.status(), 403);
    assert!(!res.text().await.unwrap().contains("href=\"/reports/sla\""));
}
