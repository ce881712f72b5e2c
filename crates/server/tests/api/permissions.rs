//! The role × endpoint matrix, with cross-team and cross-organisation attempts on every ticket
//! endpoint: what an actor may not see answers 404 everywhere and never shows in lists or search.

use crate::common::{TestApp, User};
use crate::on_both_databases;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;

on_both_databases!(
    ticket_visibility_matrix,
    account_endpoints_matrix,
    service_level_endpoints_matrix
);

struct World {
    users: HashMap<&'static str, User>,
    tickets: HashMap<&'static str, i64>,
}

async fn world(t: &TestApp) -> World {
    let team_a = t.team("A").await;
    let team_b = t.team("B").await;
    let sharing = t.org("Sharing Org", true).await;
    let private = t.org("Private Org", false).await;
    let mut users = HashMap::new();
    for (key, role, org, teams) in [
        ("admin", "admin", None, vec![]),
        ("manager", "service_manager", None, vec![]),
        ("auditor", "auditor", None, vec![]),
        ("lead_a", "team_lead", None, vec![team_a]),
        ("agent_a", "agent", None, vec![team_a]),
        ("agent_b", "agent", None, vec![team_b]),
        ("req_s1", "requester", Some(sharing), vec![]),
        ("req_s2", "requester", Some(sharing), vec![]),
        ("req_p1", "requester", Some(private), vec![]),
        ("req_p2", "requester", Some(private), vec![]),
    ] {
        users.insert(
            key,
            t.user(&format!("{key}@x.test"), role, org, teams).await,
        );
    }
    let admin = &users["admin"];
    let mut tickets = HashMap::new();
    for (key, requester, team, title) in [
        ("s1_team_a", "req_s1", Some(team_a), "漏水 alpha"),
        ("p1_team_b", "req_p1", Some(team_b), "漏水 bravo"),
        ("p2_triage", "req_p2", None, "漏水 charlie"),
        ("p2_team_b", "req_p2", Some(team_b), "漏水 delta"),
    ] {
        let mut body = json!({"requester_id": users[requester].id});
        if let Some(tm) = team {
            body["team_id"] = json!(tm);
        }
        let tk = t.ticket(admin, title, body).await;
        tickets.insert(key, tk["id"].as_i64().unwrap());
    }
    World { users, tickets }
}

/// Which tickets each actor may see.
fn visible(actor: &str) -> &'static [&'static str] {
    const ALL: &[&str] = &["s1_team_a", "p1_team_b", "p2_triage", "p2_team_b"];
    match actor {
        "admin" | "manager" | "auditor" => ALL,
        "lead_a" | "agent_a" => &["s1_team_a", "p2_triage"],
        "agent_b" => &["p1_team_b", "p2_triage", "p2_team_b"],
        // The sharing organisation's members see each other's tickets.
        "req_s1" | "req_s2" => &["s1_team_a"],
        "req_p1" => &["p1_team_b"],
        "req_p2" => &["p2_triage", "p2_team_b"],
        _ => &[],
    }
}

async fn ticket_visibility_matrix(t: &TestApp) {
    let w = world(t).await;
    for (actor_key, actor) in &w.users {
        let can_see = visible(actor_key);
        // Lists and search show exactly the visible tickets.
        for url in [
            "/api/v1/tickets?limit=200",
            "/api/v1/tickets?q=漏水&limit=200",
        ] {
            let list: Value = t.get(url, actor).await.json().await.unwrap();
            let mut ids: Vec<i64> = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_i64().unwrap())
                .collect();
            ids.sort();
            let mut expected: Vec<i64> = can_see.iter().map(|k| w.tickets[k]).collect();
            expected.sort();
            assert_eq!(ids, expected, "{actor_key} on {url}");
        }
        for (ticket_key, id) in &w.tickets {
            let sees = can_see.contains(ticket_key);
            let base = format!("/api/v1/tickets/{id}");
            let attach = || {
                reqwest::multipart::Form::new().part(
                    "file",
                    reqwest::multipart::Part::bytes(b"log".to_vec()).file_name("log.txt"),
                )
            };
            let attempts: Vec<(Method, String, Option<Value>)> = vec![
                (Method::GET, base.clone(), None),
                (Method::GET, format!("{base}/comments"), None),
                (Method::GET, format!("{base}/history"), None),
                (Method::GET, format!("{base}/attachments"), None),
                (
                    Method::PATCH,
                    base.clone(),
                    Some(json!({"title": "changed"})),
                ),
                (
                    Method::POST,
                    format!("{base}/comments"),
                    Some(json!({"body": "hello"})),
                ),
                (Method::POST, format!("{base}/attachments"), None),
            ];
            for (method, path, body) in attempts {
                let mut req = t.req(method.clone(), &path, actor);
                req = match (
                    &body,
                    method == Method::POST && path.ends_with("attachments"),
                ) {
                    (_, true) => req.multipart(attach()),
                    (Some(b), _) => req.json(b),
                    (None, _) => req,
                };
                let status = req.send().await.unwrap().status().as_u16();
                if !sees {
                    assert_eq!(
                        status, 404,
                        "{actor_key} {method} {path} ({ticket_key}) must be 404"
                    );
                    continue;
                }
                let expected: &[u16] = match (*actor_key, method.as_str()) {
                    (_, "GET") => &[200],
                    // Auditors change nothing.
                    ("auditor", _) => &[403],
                    // Requesters may reply and attach, but only the desk edits fields.
                    (a, "PATCH") if a.starts_with("req_") => &[403],
                    // A colleague's ticket (organisation-wide visibility) takes replies, but
                    // files only from its requester.
                    ("req_s2", "POST") if path.ends_with("attachments") => &[403],
                    (_, "PATCH") => &[200],
                    (_, "POST") => &[201],
                    _ => &[0],
                };
                assert!(expected.contains(&status), "{actor_key} {method} {path} ({ticket_key}) gave {status}, expected {expected:?}");
            }
        }
    }
    // An attachment of a ticket one cannot see: 404 on download, too.
    let admin = &w.users["admin"];
    let a: Value = t
        .req(
            Method::POST,
            &format!("/api/v1/tickets/{}/attachments", w.tickets["p2_team_b"]),
            admin,
        )
        .multipart(reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("x.txt"),
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for who in ["req_p1", "req_s1", "agent_a"] {
        let res = t
            .get(a["download_url"].as_str().unwrap(), &w.users[who])
            .await;
        assert_eq!(res.status(), 404, "{who}");
    }
    // Seeing a colleague's ticket is not changing it: only its requester may withdraw it.
    let colleague = format!("/api/v1/tickets/{}", w.tickets["s1_team_a"]);
    let cancel = json!({"status": "cancelled"});
    assert_eq!(
        t.patch(&colleague, &w.users["req_s2"], cancel.clone())
            .await
            .status(),
        403
    );
    assert_eq!(
        t.patch(&colleague, &w.users["req_s1"], cancel)
            .await
            .status(),
        200
    );
    // Unknown tickets are 404 too, and never 500.
    assert_eq!(t.get("/api/v1/tickets/999999", admin).await.status(), 404);
}

async fn account_endpoints_matrix(t: &TestApp) {
    let w = world(t).await;
    for (key, user) in &w.users {
        let admin = *key == "admin";
        let staff = !key.starts_with("req_");
        let n = t.app.store.backend as u8;
        let create_user = t
            .post(
                "/api/v1/users",
                user,
                json!({"email": format!("new-{key}-{n}@x.test"), "name": "N", "role": "requester"}),
            )
            .await
            .status();
        assert_eq!(
            create_user,
            if admin { 201 } else { 403 },
            "{key} POST /users"
        );
        let create_team = t
            .post(
                "/api/v1/teams",
                user,
                json!({"name": format!("team-{key}")}),
            )
            .await
            .status();
        assert_eq!(
            create_team,
            if admin { 201 } else { 403 },
            "{key} POST /teams"
        );
        let create_org = t
            .post(
                "/api/v1/organizations",
                user,
                json!({"name": format!("org-{key}")}),
            )
            .await
            .status();
        assert_eq!(
            create_org,
            if admin { 201 } else { 403 },
            "{key} POST /organizations"
        );
        let patch = t
            .patch(
                &format!("/api/v1/users/{}", w.users["req_p1"].id),
                user,
                json!({"name": "Renamed"}),
            )
            .await
            .status();
        assert_eq!(patch, if admin { 200 } else { 403 }, "{key} PATCH /users");
        for path in ["/api/v1/users", "/api/v1/teams", "/api/v1/organizations"] {
            let status = t.get(path, user).await.status();
            assert_eq!(status, if staff { 200 } else { 403 }, "{key} GET {path}");
        }
        assert_eq!(t.get("/api/v1/me", user).await.status(), 200);
        let create_ticket = t
            .post(
                "/api/v1/tickets",
                user,
                json!({"kind": "incident", "title": "x", "impact": "low", "urgency": "low"}),
            )
            .await
            .status();
        assert_eq!(
            create_ticket,
            if *key == "auditor" { 403 } else { 201 },
            "{key} POST /tickets"
        );
    }
    // No token, a wrong token, a revoked token: 401.
    let anon = t
        .client
        .get(format!("{}/api/v1/tickets", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
    let wrong = t
        .client
        .get(format!("{}/api/v1/tickets", t.base))
        .bearer_auth("stw_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let req = &w.users["req_p1"];
    let tokens: Value = t.get("/api/v1/me/tokens", req).await.json().await.unwrap();
    let id = tokens["items"][0]["id"].as_i64().unwrap();
    assert_eq!(
        t.req(Method::DELETE, &format!("/api/v1/me/tokens/{id}"), req)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(t.get("/api/v1/me", req).await.status(), 401);
    // Disabling a user ends their access.
    let agent = &w.users["agent_b"];
    t.patch(
        &format!("/api/v1/users/{}", agent.id),
        &w.users["admin"],
        json!({"active": false}),
    )
    .await;
    assert_eq!(t.get("/api/v1/me", agent).await.status(), 401);
}

/// Calendars, agreements, clocks, major incidents, notifications, jobs and reports: who may
/// read and change them. Ticket-bound endpoints answer 404 for tickets the actor cannot see.
async fn service_level_endpoints_matrix(t: &TestApp) {
    let w = world(t).await;
    for (key, user) in &w.users {
        let requester = key.starts_with("req_");
        let manages = matches!(*key, "admin" | "manager");
        let reports = matches!(*key, "admin" | "manager" | "auditor" | "lead_a");
        let expect = |ok: bool, yes: u16, no: u16| if ok { yes } else { no };
        let checks: Vec<(Method, String, Option<Value>, u16)> = vec![
            (
                Method::GET,
                "/api/v1/calendars".into(),
                None,
                expect(!requester, 200, 403),
            ),
            (
                Method::GET,
                "/api/v1/calendars/1/days?from=2026-10-01&to=2026-10-07".into(),
                None,
                expect(!requester, 200, 403),
            ),
            (
                Method::POST,
                "/api/v1/calendars".into(),
                Some(
                    json!({"name": format!("Cal {key}"), "definition": {"time_zone": "UTC",
                    "week": [{"weekday": "monday", "intervals": [{"start": "09:00", "end": "17:00"}]}]}}),
                ),
                expect(manages, 201, 403),
            ),
            (
                Method::GET,
                "/api/v1/slas".into(),
                None,
                expect(!requester, 200, 403),
            ),
            (
                Method::POST,
                "/api/v1/slas".into(),
                Some(
                    json!({"name": format!("SLA {key}"), "kind": "sla", "calendar_id": 2,
                    "valid_from": "2026-01-01", "status": "draft",
                    "targets": [{"priority": "P1", "response_minutes": 10, "resolution_minutes": 60}]}),
                ),
                expect(manages, 201, 403),
            ),
            (Method::GET, "/api/v1/notifications".into(), None, 200),
            (
                Method::GET,
                "/api/v1/jobs".into(),
                None,
                expect(*key == "admin", 200, 403),
            ),
            (
                Method::GET,
                "/api/v1/reports/sla?from=2026-11-01&to=2026-11-30&group_by=team".into(),
                None,
                expect(reports, 200, 403),
            ),
        ];
        for (method, path, body, expected) in checks {
            let mut req = t.req(method.clone(), &path, user);
            if let Some(b) = &body {
                req = req.json(b);
            }
            let status = req.send().await.unwrap().status().as_u16();
            assert_eq!(status, expected, "{key} {method} {path}");
        }
        let can_see = visible(key);
        for (ticket_key, id) in &w.tickets {
            let sees = can_see.contains(ticket_key);
            for path in [
                format!("/api/v1/tickets/{id}/clocks"),
                format!("/api/v1/tickets/{id}/status-updates"),
                format!("/api/v1/tickets/{id}/major"),
                format!("/api/v1/tickets/{id}/escalations"),
            ] {
                let status = t.get(&path, user).await.status().as_u16();
                let expected = if !sees {
                    404
                } else if path.ends_with("/major") {
                    // Nothing was declared: no major incident record for anyone.
                    404
                } else if path.ends_with("/escalations") && requester {
                    403
                } else {
                    200
                };
                assert_eq!(status, expected, "{key} GET {path} ({ticket_key})");
            }
            let declare = t
                .post(
                    &format!("/api/v1/tickets/{id}/major/acknowledge"),
                    user,
                    json!({}),
                )
                .await
                .status()
                .as_u16();
            assert_eq!(
                declare, 404,
                "{key} acknowledge on {ticket_key}: no major incident"
            );
        }
    }
}
