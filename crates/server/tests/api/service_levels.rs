//! Calendars, SLA clocks on tickets, escalation (once, across restarts and two nodes) and
//! major incidents.

use crate::common::{problem, TestApp, User};
use crate::on_both_databases;
use serde_json::{json, Value};
use steward_server::app::{escalation, jobs, major};
use steward_store::jobs::{self as queue, NewJob};

on_both_databases!(
    calendars_answer_working_days_and_due_times,
    calendars_are_managed_and_exchanged_as_icalendar,
    clocks_pause_meet_and_rebaseline,
    escalations_fire_once_and_survive_a_restart,
    two_nodes_escalate_each_clock_exactly_once,
    major_incident_runs_to_its_review,
    the_job_queue_leases_retries_and_keeps_dead_jobs,
    ola_clocks_follow_the_team,
);

const CHINA: i64 = 1;
const ALWAYS: i64 = 2;

fn minutes(n: i64) -> i64 {
    n * 60_000_000
}

fn micros(rfc3339: &str) -> i64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_microsecond()
}

async fn calendars_answer_working_days_and_due_times(t: &TestApp) {
    let agent = t.user("agent@example.com", "agent", None, vec![]).await;
    let requester = t.user("req@example.com", "requester", None, vec![]).await;

    let list: Value = t
        .get("/api/v1/calendars", &agent)
        .await
        .json()
        .await
        .unwrap();
    let builtin: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["builtin"].as_str())
        .collect();
    assert_eq!(builtin, ["china_mainland", "always"]);

    // National Day 2025: 1–8 October off, Sunday 28 September and Saturday 11 October worked.
    let days: Value = t
        .get(
            &format!("/api/v1/calendars/{CHINA}/days?from=2025-09-27&to=2025-10-11"),
            &agent,
        )
        .await
        .json()
        .await
        .unwrap();
    let items = days["items"].as_array().unwrap();
    assert_eq!(items.len(), 15);
    let day = |d: &str| items.iter().find(|i| i["date"] == d).unwrap().clone();
    assert_eq!(day("2025-09-27")["working"], false);
    assert_eq!(day("2025-09-27")["reason"], "weekend");
    assert_eq!(day("2025-09-28")["working"], true);
    assert_eq!(day("2025-09-28")["reason"], "adjusted_workday");
    assert_eq!(day("2025-10-01")["working"], false);
    assert_eq!(day("2025-10-01")["reason"], "holiday");
    assert_eq!(day("2025-10-01")["name"], "国庆节、中秋节");
    assert_eq!(
        day("2025-10-01")["name_en"],
        "National Day and Mid-Autumn Festival"
    );
    assert_eq!(day("2025-10-09")["working"], true);
    assert_eq!(day("2025-10-11")["reason"], "adjusted_workday");

    // 8 business hours from Friday 17:00 before the National Day week: one hour on Friday,
    // seven on the adjusted working Sunday (09–12, 13–17).
    let due: Value = t
        .get(
            &format!("/api/v1/calendars/{CHINA}/due?start=2025-09-26T17:00:00%2B08:00&minutes=480"),
            &agent,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(due["due"], "2025-09-28T09:00:00Z");

    let due: Value = t
        .get(
            &format!("/api/v1/calendars/{ALWAYS}/due?start=2026-01-01T00:00:00Z&minutes=90"),
            &agent,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(due["due"], "2026-01-01T01:30:00Z");

    problem(
        t.get(
            &format!("/api/v1/calendars/{CHINA}/days?from=2025-13-01&to=2025-12-31"),
            &agent,
        )
        .await,
        422,
        Some("from"),
    )
    .await;
    problem(
        t.get(
            &format!("/api/v1/calendars/{CHINA}/days?from=2020-01-01&to=2025-12-31"),
            &agent,
        )
        .await,
        422,
        Some("to"),
    )
    .await;
    problem(
        t.get(
            &format!("/api/v1/calendars/{CHINA}/due?start=2026-01-01T00:00:00Z&minutes=-5"),
            &agent,
        )
        .await,
        422,
        Some("minutes"),
    )
    .await;
    problem(
        t.get(
            &format!("/api/v1/calendars/{CHINA}/due?start=tomorrow&minutes=5"),
            &agent,
        )
        .await,
        422,
        Some("start"),
    )
    .await;
    problem(
        t.get(
            "/api/v1/calendars/999/days?from=2026-01-01&to=2026-01-02",
            &agent,
        )
        .await,
        404,
        None,
    )
    .await;
    problem(t.get("/api/v1/calendars", &requester).await, 403, None).await;
}

fn shanghai_office(name: &str) -> Value {
    let week: Vec<Value> = ["monday", "tuesday", "wednesday", "thursday", "friday"]
        .iter()
        .map(|d| json!({"weekday": d, "intervals": [{"start": "08:30", "end": "12:00"}, {"start": "13:30", "end": "17:30"}]}))
        .collect();
    json!({
        "name": name,
        "definition": {
            "time_zone": "Asia/Shanghai",
            "week": week,
            "holidays": [{"date": "2025-12-31", "name": "Year-end closing"}],
            "extra_workdays": [],
            "base": "china_mainland"
        }
    })
}

async fn calendars_are_managed_and_exchanged_as_icalendar(t: &TestApp) {
    let manager = t
        .user("sm@example.com", "service_manager", None, vec![])
        .await;
    let agent = t.user("agent@example.com", "agent", None, vec![]).await;

    problem(
        t.post("/api/v1/calendars", &agent, shanghai_office("Office"))
            .await,
        403,
        None,
    )
    .await;
    let mut bad = shanghai_office("Office");
    bad["definition"]["week"][0]["intervals"][0]["end"] = json!("07:00");
    problem(
        t.post("/api/v1/calendars", &manager, bad).await,
        422,
        Some("definition.week[0].intervals[0].end"),
    )
    .await;
    let mut bad = shanghai_office("Office");
    bad["definition"]["time_zone"] = json!("Mars/Olympus");
    problem(
        t.post("/api/v1/calendars", &manager, bad).await,
        422,
        Some("definition.time_zone"),
    )
    .await;

    let res = t
        .post("/api/v1/calendars", &manager, shanghai_office("Office"))
        .await;
    assert_eq!(res.status(), 201);
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let cal: Value = res.json().await.unwrap();
    let id = cal["id"].as_i64().unwrap();

    // Its own holiday and the built-in China days both count.
    let days: Value = t
        .get(
            &format!("/api/v1/calendars/{id}/days?from=2025-12-31&to=2026-01-01"),
            &agent,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(days["items"][0]["name"], "Year-end closing");
    assert_eq!(days["items"][1]["reason"], "holiday");

    // Built-in calendars are read-only.
    problem(
        t.req(
            reqwest::Method::PUT,
            &format!("/api/v1/calendars/{CHINA}"),
            &manager,
        )
        .json(&shanghai_office("China"))
        .send()
        .await
        .unwrap(),
        403,
        None,
    )
    .await;

    // Export, then import a file with a new holiday and a 调休 working day.
    let ics = t
        .get(
            &format!("/api/v1/calendars/{id}/calendar.ics?from=2025-01-01&to=2026-12-31"),
            &agent,
        )
        .await;
    assert!(ics.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/calendar"));
    let text = ics.text().await.unwrap();
    assert!(text.starts_with("BEGIN:VCALENDAR\r\n"), "{text}");
    assert!(text.contains("Year-end closing"), "{text}");
    let feed = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n\
        BEGIN:VEVENT\r\nUID:a@test\r\nDTSTART;VALUE=DATE:20261215\r\nDTEND;VALUE=DATE:20261217\r\nSUMMARY:公司年会 假期\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:b@test\r\nDTSTART;VALUE=DATE:20261219\r\nSUMMARY:公司年会 补班\r\nEND:VEVENT\r\n\
        END:VCALENDAR\r\n";
    let res = t
        .req(
            reqwest::Method::POST,
            &format!("/api/v1/calendars/{id}/calendar.ics"),
            &manager,
        )
        .header("content-type", "text/calendar")
        .header("if-match", etag)
        .body(feed)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let days: Value = t
        .get(
            &format!("/api/v1/calendars/{id}/days?from=2026-12-15&to=2026-12-19"),
            &agent,
        )
        .await
        .json()
        .await
        .unwrap();
    let working: Vec<bool> = days["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["working"].as_bool().unwrap())
        .collect();
    // 15–16 imported holidays, 17–18 ordinary weekdays, Saturday 19 worked.
    assert_eq!(working, [false, false, true, true, true]);
    let res = t
        .req(reqwest::Method::POST, &format!("/api/v1/calendars/{id}/calendar.ics"), &manager)
        .header("content-type", "text/calendar")
        .body("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:2026-99\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        .send()
        .await
        .unwrap();
    problem(res, 422, Some("file")).await;

    // Every change is audited.
    let mut conn = t.app.read().await.unwrap();
    let entries = steward_store::audit::entries_for(&mut conn, "calendar", id)
        .await
        .unwrap();
    assert_eq!(entries.len(), 2, "the create and the import: {entries:?}");
}

/// A 24×7 SLA for every customer: P1 30/120 minutes, P3 60/240.
async fn agreement(t: &TestApp, manager: &User, extra: Value) -> Value {
    let mut body = json!({
        "name": "Standard", "kind": "sla", "calendar_id": ALWAYS,
        "valid_from": "2020-01-01", "status": "active", "warn_percent": 75,
        "targets": [
            {"priority": "P1", "response_minutes": 30, "resolution_minutes": 120},
            {"priority": "P3", "response_minutes": 60, "resolution_minutes": 240}
        ]
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let res = t.post("/api/v1/slas", manager, body).await;
    assert_eq!(res.status(), 201, "create SLA");
    res.json().await.unwrap()
}

async fn clocks(t: &TestApp, user: &User, ticket: i64) -> Vec<Value> {
    let res = t
        .get(&format!("/api/v1/tickets/{ticket}/clocks"), user)
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    v["items"].as_array().unwrap().clone()
}

fn metric<'a>(clocks: &'a [Value], m: &str) -> &'a Value {
    clocks.iter().find(|c| c["metric"] == m).unwrap()
}

async fn clocks_pause_meet_and_rebaseline(t: &TestApp) {
    let team = t.team("Desk").await;
    let manager = t
        .user("sm@example.com", "service_manager", None, vec![])
        .await;
    let agent = t.user("agent@example.com", "agent", None, vec![team]).await;
    let requester = t.user("req@example.com", "requester", None, vec![]).await;

    let mut bad = json!({"name": "x", "kind": "sla", "calendar_id": 77, "valid_from": "2020-01-01", "status": "active",
        "targets": [{"priority": "P1", "response_minutes": 30, "resolution_minutes": 120}]});
    problem(
        t.post("/api/v1/slas", &manager, bad.clone()).await,
        422,
        Some("calendar_id"),
    )
    .await;
    bad["calendar_id"] = json!(ALWAYS);
    bad["targets"][0]["resolution_minutes"] = json!(10);
    problem(
        t.post("/api/v1/slas", &manager, bad.clone()).await,
        422,
        Some("targets[0].resolution_minutes"),
    )
    .await;
    bad["kind"] = json!("ola");
    problem(
        t.post("/api/v1/slas", &manager, bad).await,
        422,
        Some("team_id"),
    )
    .await;
    problem(t.post("/api/v1/slas", &agent, json!({})).await, 422, None).await;
    agreement(t, &manager, json!({})).await;

    let ticket = t.ticket(&requester, "VPN drops", json!({})).await;
    let id = ticket["id"].as_i64().unwrap();
    let created = micros(ticket["created_at"].as_str().unwrap());
    let c = clocks(t, &requester, id).await;
    assert_eq!(c.len(), 2);
    let response = metric(&c, "response");
    assert_eq!(response["status"], "running");
    assert_eq!(response["target_minutes"], 60);
    let due = micros(response["due_at"].as_str().unwrap());
    assert!(
        (due - created - minutes(60)).abs() < 2_000_000,
        "due one hour after creation"
    );
    let resolution_due = micros(metric(&c, "resolution")["due_at"].as_str().unwrap());

    // Queues sort by due time and filter on it.
    let q: Value = t
        .get("/api/v1/tickets?sort=due&due_within_hours=2", &agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(q["items"][0]["id"], id);
    assert_eq!(q["items"][0]["sla_due_at"], response["due_at"]);
    let q: Value = t
        .get("/api/v1/tickets?due_within_hours=0", &agent)
        .await
        .json()
        .await
        .unwrap();
    assert!(q["items"].as_array().unwrap().is_empty());
    problem(
        t.get("/api/v1/tickets?due_within_hours=-1", &agent).await,
        422,
        Some("due_within_hours"),
    )
    .await;

    // Pending on the requester pauses both clocks; coming back resumes them.
    let res = t
        .patch(&format!("/api/v1/tickets/{id}"), &agent, json!({"assignee_id": agent.id, "team_id": team, "status": "pending", "pending_reason": "requester"}))
        .await;
    assert_eq!(res.status(), 200);
    let c = clocks(t, &agent, id).await;
    assert!(c.iter().all(|c| c["status"] == "paused"), "{c:?}");
    let q: Value = t
        .get("/api/v1/tickets?sort=due", &agent)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        q["items"].as_array().unwrap().is_empty(),
        "a paused ticket is not chased"
    );
    let res = t
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &agent,
            json!({"status": "in_progress"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let c = clocks(t, &agent, id).await;
    assert!(c.iter().all(|c| c["status"] == "running"), "{c:?}");
    assert!(micros(metric(&c, "resolution")["due_at"].as_str().unwrap()) >= resolution_due);

    // A public reply by staff meets the response target; a note does not.
    let res = t
        .post(
            &format!("/api/v1/tickets/{id}/comments"),
            &agent,
            json!({"body": "Looking", "internal": true}),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        metric(&clocks(t, &agent, id).await, "response")["status"],
        "running"
    );
    let res = t
        .post(
            &format!("/api/v1/tickets/{id}/comments"),
            &agent,
            json!({"body": "On it"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let c = clocks(t, &agent, id).await;
    assert_eq!(metric(&c, "response")["status"], "met");
    assert!(metric(&c, "response")["stopped_at"].is_string());

    // Raising the priority re-baselines: P1 allows 120 minutes to resolve.
    let res = t
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &agent,
            json!({"impact": "high", "urgency": "high"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let c = clocks(t, &agent, id).await;
    assert_eq!(metric(&c, "resolution")["target_minutes"], 120);
    assert_eq!(
        metric(&c, "response")["target_minutes"],
        60,
        "a met clock keeps its target"
    );

    // Resolving meets the resolution clock; reopening runs it on.
    let res = t
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &agent,
            json!({"status": "resolved", "resolution_code": "fixed"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        metric(&clocks(t, &agent, id).await, "resolution")["status"],
        "met"
    );
    let res = t
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &requester,
            json!({"status": "in_progress"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        metric(&clocks(t, &agent, id).await, "resolution")["status"],
        "running"
    );

    // Clocks of a ticket one may not see do not exist.
    let other = t.user("other@example.com", "requester", None, vec![]).await;
    problem(
        t.get(&format!("/api/v1/tickets/{id}/clocks"), &other).await,
        404,
        None,
    )
    .await;
}

async fn escalations_fire_once_and_survive_a_restart(t: &TestApp) {
    let team = t.team("Desk").await;
    let tier2 = t.team("Tier 2").await;
    let manager = t
        .user("sm@example.com", "service_manager", None, vec![])
        .await;
    let lead = t
        .user("lead@example.com", "team_lead", None, vec![team])
        .await;
    let agent = t.user("agent@example.com", "agent", None, vec![team]).await;
    let requester = t.user("req@example.com", "requester", None, vec![]).await;
    agreement(
        t,
        &manager,
        json!({
            "warning_actions": {"notify_assignee": true},
            "breach_actions": {"notify_assignee": true, "notify_team_lead": true, "raise_priority": true, "move_to_team_id": tier2}
        }),
    )
    .await;
    let ticket = t
        .ticket(
            &agent,
            "Mail server down",
            json!({"requester_id": requester.id, "team_id": team, "assignee_id": agent.id}),
        )
        .await;
    let id = ticket["id"].as_i64().unwrap();
    let created = micros(ticket["created_at"].as_str().unwrap());

    // 50 minutes in: the response clock (60) passed 75 %, the resolution clock (240) did not.
    let r = escalation::sweep(&t.app, created + minutes(50), "node-a")
        .await
        .unwrap();
    assert_eq!((r.warnings, r.breaches), (1, 0));
    let r = escalation::sweep(&t.app, created + minutes(55), "node-a")
        .await
        .unwrap();
    assert_eq!((r.warnings, r.breaches), (0, 0), "a warning fires once");

    // A restart: a new app on the same database remembers what fired.
    let store = steward_store::Store::open(&t.url, 4).await.unwrap();
    let dir = std::env::temp_dir().join(format!("steward-blobs-{}", std::process::id()));
    let restarted = steward_server::cli::build_app(store, dir.to_str().unwrap()).unwrap();
    let r = escalation::sweep(&restarted, created + minutes(56), "node-b")
        .await
        .unwrap();
    assert_eq!((r.warnings, r.breaches), (0, 0));
    // 61 minutes: the response target is breached; the breach raises the priority (P3 → P2)
    // and moves the ticket to tier 2.
    let r = escalation::sweep(&restarted, created + minutes(61), "node-b")
        .await
        .unwrap();
    assert_eq!((r.warnings, r.breaches), (0, 1));
    restarted.store.close().await;

    let after: Value = t
        .get(&format!("/api/v1/tickets/{id}"), &manager)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["priority"], "P2");
    assert_eq!(after["team_id"], tier2);
    assert_eq!(
        after["assignee_id"],
        Value::Null,
        "the agent is not in tier 2"
    );

    let esc: Value = t
        .get(&format!("/api/v1/tickets/{id}/escalations"), &manager)
        .await
        .json()
        .await
        .unwrap();
    let levels: Vec<&str> = esc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["warning", "breach"]);
    problem(
        t.get(&format!("/api/v1/tickets/{id}/escalations"), &requester)
            .await,
        403,
        None,
    )
    .await;

    let mine: Value = t
        .get("/api/v1/notifications", &agent)
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["sla_breach", "sla_warning"]);
    assert_eq!(mine["items"][0]["ticket_number"], ticket["number"]);
    let leads: Value = t
        .get("/api/v1/notifications?unread=true", &lead)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(leads["items"].as_array().unwrap().len(), 1);
    let n = leads["items"][0]["id"].as_i64().unwrap();
    problem(
        t.post(
            &format!("/api/v1/notifications/{n}/read"),
            &agent,
            json!({}),
        )
        .await,
        404,
        None,
    )
    .await;
    let res = t
        .post(&format!("/api/v1/notifications/{n}/read"), &lead, json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let leads: Value = t
        .get("/api/v1/notifications?unread=true", &lead)
        .await
        .json()
        .await
        .unwrap();
    assert!(leads["items"].as_array().unwrap().is_empty());

    // The history shows what the escalation changed, by the system.
    let history: Value = t
        .get(&format!("/api/v1/tickets/{id}/history"), &manager)
        .await
        .json()
        .await
        .unwrap();
    assert!(history.to_string().contains("sla_breach"), "{history}");
    // Requesters see neither the escalations nor the breach reason in the history.
    let clock = esc["items"][1]["clock_id"].as_i64().unwrap();
    let res = t
        .req(
            reqwest::Method::PUT,
            &format!("/api/v1/tickets/{id}/clocks/{clock}/breach-reason"),
            &manager,
        )
        .json(&json!({"breach_reason": "Vendor outage"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let history = t
        .get(&format!("/api/v1/tickets/{id}/history"), &requester)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !history.contains("sla_breach") && !history.contains("Vendor outage"),
        "{history}"
    );
    // Lowering the priority of a breached ticket does not breach it again.
    let res = t
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &manager,
            json!({"priority": null, "impact": "low", "urgency": "medium"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let r = escalation::sweep(&t.app, created + minutes(70), "node-a")
        .await
        .unwrap();
    assert_eq!((r.warnings, r.breaches), (0, 0));
}

async fn two_nodes_escalate_each_clock_exactly_once(t: &TestApp) {
    let team = t.team("Desk").await;
    let manager = t
        .user("sm@example.com", "service_manager", None, vec![])
        .await;
    let agent = t.user("agent@example.com", "agent", None, vec![team]).await;
    agreement(
        t,
        &manager,
        json!({"warning_actions": {"notify_assignee": true}, "breach_actions": {"notify_assignee": true}}),
    )
    .await;
    let mut first_created = i64::MAX;
    for i in 0..30 {
        let ticket = t
            .ticket(
                &agent,
                &format!("Outage {i}"),
                json!({"team_id": team, "assignee_id": agent.id}),
            )
            .await;
        first_created = first_created.min(micros(ticket["created_at"].as_str().unwrap()));
    }
    let store = steward_store::Store::open(&t.url, 4).await.unwrap();
    let dir = std::env::temp_dir().join(format!("steward-node2-{}", std::process::id()));
    let node2 = steward_server::cli::build_app(store, dir.to_str().unwrap()).unwrap();
    // Five hours later every clock has passed warning and breach; both nodes sweep at once,
    // several times over.
    let at = first_created + minutes(300);
    let mut handles = Vec::new();
    for round in 0..3 {
        let (a, b) = (t.app.clone(), node2.clone());
        handles.push(tokio::spawn(async move {
            escalation::sweep(&a, at + round, "node-a").await.unwrap()
        }));
        handles.push(tokio::spawn(async move {
            escalation::sweep(&b, at + round, "node-b").await.unwrap()
        }));
    }
    let mut warnings = 0;
    let mut breaches = 0;
    for h in handles {
        let r = h.await.unwrap();
        warnings += r.warnings;
        breaches += r.breaches;
    }
    node2.store.close().await;
    // 30 tickets × 2 clocks, each warned once and breached once.
    assert_eq!((warnings, breaches), (60, 60));
    let count = |sql: &'static str| async move {
        let mut conn = t.app.read().await.unwrap();
        let row = sqlx::query(sql).fetch_one(&mut *conn).await.unwrap();
        sqlx::Row::get::<i64, _>(&row, 0)
    };
    assert_eq!(count("SELECT COUNT(*) FROM sla_escalations").await, 120);
    assert_eq!(count("SELECT COUNT(*) FROM notifications").await, 120);
    // Both nodes extended one audit chain, in batches: it is still intact.
    let mut conn = t.app.read().await.unwrap();
    let verification = steward_store::audit::verify(&mut conn, |_| {})
        .await
        .unwrap();
    assert!(
        matches!(
            verification,
            steward_store::audit::Verification::Intact { .. }
        ),
        "{verification:?}"
    );
    drop(conn);
    assert_eq!(
        count("SELECT COUNT(*) FROM sla_clocks WHERE next_escalation_at IS NOT NULL").await,
        0
    );
}

async fn major_incident_runs_to_its_review(t: &TestApp) {
    let team = t.team("Desk").await;
    let org = t.org("Acme", false).await;
    let manager = t
        .user("sm@example.com", "service_manager", None, vec![])
        .await;
    let agent = t.user("agent@example.com", "agent", None, vec![team]).await;
    let oncall = t
        .user("oncall@example.com", "agent", None, vec![team])
        .await;
    let dba_team = t.team("Database").await;
    let dba = t
        .user("dba@example.com", "agent", None, vec![dba_team])
        .await;
    let requester = t
        .user("req@example.com", "requester", Some(org), vec![])
        .await;
    let other = t
        .user("other@example.com", "requester", Some(org), vec![])
        .await;

    let main = t.ticket(&requester, "ERP unreachable", json!({})).await;
    let id = main["id"].as_i64().unwrap();
    let child = t.ticket(&other, "Cannot post invoices", json!({})).await;
    let child_id = child["id"].as_i64().unwrap();

    problem(
        t.post(
            &format!("/api/v1/tickets/{id}/major"),
            &requester,
            json!({"roster_user_ids": [agent.id], "summary": "x"}),
        )
        .await,
        403,
        None,
    )
    .await;
    problem(
        t.post(
            &format!("/api/v1/tickets/{id}/major"),
            &agent,
            json!({"roster_user_ids": [requester.id], "summary": "x"}),
        )
        .await,
        422,
        Some("roster_user_ids[0]"),
    )
    .await;
    let res = t
        .post(&format!("/api/v1/tickets/{id}/major"), &agent, json!({"roster_user_ids": [oncall.id, agent.id, dba.id], "response_minutes": 10, "summary": "ERP is down for everyone"}))
        .await;
    assert_eq!(res.status(), 201);
    let m: Value = res.json().await.unwrap();
    assert_eq!(m["roster"].as_array().unwrap().len(), 3);
    problem(
        t.post(
            &format!("/api/v1/tickets/{id}/major"),
            &agent,
            json!({"roster_user_ids": [agent.id], "summary": "again"}),
        )
        .await,
        409,
        None,
    )
    .await;
    let ticket: Value = t
        .get(&format!("/api/v1/tickets/{id}"), &agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ticket["priority"], "P1");
    let paged: Value = t
        .get("/api/v1/notifications", &oncall)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paged["items"][0]["kind"], "major_incident_paged");

    // Nobody answered in ten minutes: reported once.
    let declared = micros(m["declared_at"].as_str().unwrap());
    assert_eq!(
        major::sweep_unanswered(&t.app, declared + minutes(11))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        major::sweep_unanswered(&t.app, declared + minutes(12))
            .await
            .unwrap(),
        0
    );
    let res = t
        .post(
            &format!("/api/v1/tickets/{id}/major/acknowledge"),
            &oncall,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let m: Value = res.json().await.unwrap();
    assert!(m["responded_at"].is_string());
    assert!(m["response_overdue"].as_bool().unwrap());
    // Paged from another team: the emergency team member sees the incident and answers.
    let res = t
        .post(
            &format!("/api/v1/tickets/{id}/major/acknowledge"),
            &dba,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        t.get(&format!("/api/v1/tickets/{id}"), &dba).await.status(),
        200
    );

    let res = t
        .post(
            &format!("/api/v1/tickets/{id}/major/children"),
            &agent,
            json!({"ticket_id": child_id}),
        )
        .await;
    assert_eq!(res.status(), 200);
    problem(
        t.post(
            &format!("/api/v1/tickets/{id}/major/children"),
            &agent,
            json!({"ticket_id": id}),
        )
        .await,
        422,
        Some("ticket_id"),
    )
    .await;

    // The communication log reaches the customers of the major incident and of its children.
    let res = t
        .post(
            &format!("/api/v1/tickets/{id}/status-updates"),
            &agent,
            json!({"body": "Database failover in progress"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let log: Value = t
        .get(
            &format!("/api/v1/tickets/{child_id}/status-updates"),
            &other,
        )
        .await
        .json()
        .await
        .unwrap();
    let bodies: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        ["Database failover in progress", "ERP is down for everyone"]
    );
    problem(
        t.get(&format!("/api/v1/tickets/{id}/major"), &requester)
            .await,
        404,
        None,
    )
    .await;
    let notes: Value = t
        .get("/api/v1/notifications", &other)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(notes["items"][0]["kind"], "major_incident_update");

    // The service status: customers of the affected organisation see it, others do not.
    let outsider_org = t.org("Elsewhere", false).await;
    let outsider = t
        .user("out@example.com", "requester", Some(outsider_org), vec![])
        .await;
    let colleague = t
        .user("colleague@example.com", "requester", Some(org), vec![])
        .await;
    let status: Value = t
        .get("/api/v1/major-incidents", &colleague)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["items"][0]["number"], main["number"]);
    assert_eq!(
        status["items"][0]["updates"][0]["body"],
        "Database failover in progress"
    );
    let status: Value = t
        .get("/api/v1/major-incidents", &outsider)
        .await
        .json()
        .await
        .unwrap();
    assert!(status["items"].as_array().unwrap().is_empty());

    // Resolving resolves the child; closing waits for the review.
    let res = t
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &agent,
            json!({"status": "resolved", "resolution_code": "fixed"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let c: Value = t
        .get(&format!("/api/v1/tickets/{child_id}"), &agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["status"], "resolved");
    assert_eq!(c["parent_id"], id);
    problem(
        t.patch(
            &format!("/api/v1/tickets/{id}"),
            &agent,
            json!({"status": "closed"}),
        )
        .await,
        409,
        None,
    )
    .await;
    let review = json!({"cause": "Storage controller failure", "timeline": "09:00 down, 10:30 failover", "went_well": "Paging",
        "went_badly": "Failover was manual", "actions": [{"description": "Automate failover", "owner_id": manager.id, "due_date": "2026-12-31"}]});
    let mut bad = review.clone();
    bad["actions"][0]["owner_id"] = json!(9999);
    problem(
        t.req(
            reqwest::Method::PUT,
            &format!("/api/v1/tickets/{id}/major/review"),
            &agent,
        )
        .json(&bad)
        .send()
        .await
        .unwrap(),
        422,
        Some("actions[0].owner_id"),
    )
    .await;
    let res = t
        .req(
            reqwest::Method::PUT,
            &format!("/api/v1/tickets/{id}/major/review"),
            &agent,
        )
        .json(&review)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = t
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &agent,
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let status: Value = t
        .get("/api/v1/major-incidents", &colleague)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        status["items"].as_array().unwrap().is_empty(),
        "over once closed"
    );
}

async fn the_job_queue_leases_retries_and_keeps_dead_jobs(t: &TestApp) {
    let admin = t.user("admin@example.com", "admin", None, vec![]).await;
    let manager = t
        .user("sm@example.com", "service_manager", None, vec![])
        .await;
    let store = &t.app.store;
    let now = steward_store::now_micros();
    // A job of a kind no handler knows fails: retried later, then dead with its error.
    let id = store
        .write(move |ctx| {
            Box::pin(async move {
                let job = NewJob {
                    kind: "test.unknown",
                    payload: "{}".into(),
                    dedupe_key: Some("once".into()),
                    run_at: now,
                    max_attempts: 2,
                };
                let first = queue::enqueue(&mut ctx.conn, &job, now).await?;
                // The dedupe key keeps a second copy out.
                let second = queue::enqueue(&mut ctx.conn, &job, now).await?;
                assert!(second.is_none());
                Ok::<_, steward_store::StoreError>(first.unwrap())
            })
        })
        .await
        .unwrap();

    // Two nodes claim at once: one of them gets it.
    let claim = |owner: &'static str| {
        let store = store.clone();
        async move {
            store
                .write(move |ctx| {
                    Box::pin(async move {
                        let now = steward_store::now_micros();
                        queue::claim(ctx, owner, now, now + 60_000_000, 10).await
                    })
                })
                .await
                .unwrap()
        }
    };
    let (a, b) = tokio::join!(claim("node-a"), claim("node-b"));
    let mine: Vec<_> = a.iter().chain(b.iter()).filter(|j| j.id == id).collect();
    assert_eq!(mine.len(), 1, "one node holds the lease");
    // Under lease nobody else claims it.
    assert!(claim("node-c").await.iter().all(|j| j.id != id));
    // The lease holder's work fails; the job waits for its retry.
    let owner = if a.iter().any(|j| j.id == id) {
        "node-a"
    } else {
        "node-b"
    };
    store
        .write(move |ctx| {
            Box::pin(async move {
                let now = steward_store::now_micros();
                queue::fail(&mut ctx.conn, id, owner, now, "boom", now - 1).await
            })
        })
        .await
        .unwrap();
    // The worker runs what is due: the unknown kind fails its second and last attempt.
    let ran = jobs::run_due(&t.app, "node-w").await.unwrap();
    assert!(ran >= 1);
    let list: Value = t
        .get("/api/v1/jobs?status=dead", &admin)
        .await
        .json()
        .await
        .unwrap();
    let dead = list["items"].as_array().unwrap();
    assert_eq!(dead.len(), 1, "{list}");
    assert_eq!(dead[0]["kind"], "test.unknown");
    assert_eq!(dead[0]["attempts"], 2);
    assert!(dead[0]["last_error"]
        .as_str()
        .unwrap()
        .contains("no handler"));
    problem(t.get("/api/v1/jobs", &manager).await, 403, None).await;
    problem(
        t.get("/api/v1/jobs?status=lost", &admin).await,
        422,
        Some("status"),
    )
    .await;

    // The recurring sweep exists once and is put back in the queue after each run.
    jobs::ensure_recurring(&t.app).await.unwrap();
    jobs::ensure_recurring(&t.app).await.unwrap();
    jobs::run_due(&t.app, "node-w").await.unwrap();
    let queued: Value = t
        .get("/api/v1/jobs?status=queued", &admin)
        .await
        .json()
        .await
        .unwrap();
    let sweeps: Vec<&Value> = queued["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["kind"] == jobs::SLA_SWEEP)
        .collect();
    assert_eq!(sweeps.len(), 1);
    assert!(
        micros(sweeps[0]["run_at"].as_str().unwrap()) > now,
        "rescheduled"
    );
    assert_eq!(sweeps[0]["attempts"], 0);
}

/// An OLA's clocks start when its team takes the ticket, stop when the ticket moves to another
/// team, and are taken up again, with the time already used, when it comes back.
async fn ola_clocks_follow_the_team(t: &TestApp) {
    let network = t.team("Network").await;
    let desktop = t.team("Desktop").await;
    let manager = t
        .user("sm@example.com", "service_manager", None, vec![])
        .await;
    let agent = t
        .user("agent@example.com", "agent", None, vec![network, desktop])
        .await;
    let res = t
        .post(
            "/api/v1/slas",
            &manager,
            json!({"name": "Network OLA", "kind": "ola", "team_id": network, "calendar_id": ALWAYS,
                   "valid_from": "2020-01-01", "status": "active",
                   "targets": [{"priority": "P3", "response_minutes": 20, "resolution_minutes": 120}]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let ticket = t.ticket(&agent, "Switch port down", json!({})).await;
    let id = ticket["id"].as_i64().unwrap();
    assert!(clocks(t, &agent, id).await.is_empty(), "no team, no OLA");
    let route = |team: i64| json!({"team_id": team});
    let ola = |c: &[Value]| -> Vec<String> {
        c.iter()
            .filter(|c| c["sla_name"] == "Network OLA")
            .map(|c| {
                format!(
                    "{}:{}",
                    c["metric"].as_str().unwrap(),
                    c["status"].as_str().unwrap()
                )
            })
            .collect()
    };
    t.patch(&format!("/api/v1/tickets/{id}"), &agent, route(network))
        .await;
    let c = clocks(t, &agent, id).await;
    assert_eq!(ola(&c), ["response:running", "resolution:running"]);
    t.patch(&format!("/api/v1/tickets/{id}"), &agent, route(desktop))
        .await;
    let c = clocks(t, &agent, id).await;
    assert_eq!(ola(&c), ["response:cancelled", "resolution:cancelled"]);
    t.patch(&format!("/api/v1/tickets/{id}"), &agent, route(network))
        .await;
    let c = clocks(t, &agent, id).await;
    assert_eq!(ola(&c), ["response:running", "resolution:running"]);
    assert_eq!(c.len(), 2, "taken up again, not duplicated");
}
