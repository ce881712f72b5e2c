//! Typed links between records on both databases: both sides, visibility, who may link, audit.

use crate::common::{problem, Browser, TestApp};
use crate::on_both_databases;
use reqwest::Method;
use serde_json::{json, Value};

on_both_databases!(
    links_show_on_both_sides_and_are_audited,
    links_need_both_ends_visible_and_a_working_role,
    the_links_panel_adds_and_removes_links,
);

async fn links_show_on_both_sides_and_are_audited(t: &TestApp) {
    let team = t.team("Network").await;
    let agent = t.user("agent@example.com", "agent", None, vec![team]).await;
    let a = t.ticket(&agent, "Outage A", json!({"team_id": team})).await;
    let b = t.ticket(&agent, "Outage B", json!({"team_id": team})).await;
    let (ai, bi) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());
    let body = json!({"source_kind": "ticket", "source_id": bi, "target_kind": "ticket", "target_id": ai, "link_type": "duplicates"});
    let res = t.post("/api/v1/links", &agent, body.clone()).await;
    assert_eq!(res.status(), 201);
    let l: Value = res.json().await.unwrap();
    assert_eq!(l["other_number"], a["number"]);
    assert_eq!(l["direction"], "outgoing");
    problem(t.post("/api/v1/links", &agent, body).await, 409, None).await;
    let from_a: Value = t
        .get(&format!("/api/v1/links?kind=ticket&id={ai}"), &agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(from_a["items"][0]["direction"], "incoming");
    assert_eq!(from_a["items"][0]["other_number"], b["number"]);
    assert_eq!(from_a["items"][0]["other_url"], format!("/tickets/{bi}"));
    // Bad input names the field.
    let res = t.post("/api/v1/links", &agent, json!({"source_kind": "widget", "source_id": ai, "target_kind": "ticket", "target_id": bi, "link_type": "related"})).await;
    problem(res, 422, Some("source_kind")).await;
    let res = t.post("/api/v1/links", &agent, json!({"source_kind": "ticket", "source_id": ai, "target_kind": "ticket", "target_id": bi, "link_type": "blocks"})).await;
    problem(res, 422, Some("link_type")).await;
    let res = t.post("/api/v1/links", &agent, json!({"source_kind": "ticket", "source_id": ai, "target_kind": "ticket", "target_id": ai, "link_type": "related"})).await;
    problem(res, 422, Some("target_id")).await;
    // Unlinking; both records' histories hold the link and the unlink.
    let id = l["id"].as_i64().unwrap();
    let res = t
        .req(Method::DELETE, &format!("/api/v1/links/{id}"), &agent)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = t
        .req(Method::DELETE, &format!("/api/v1/links/{id}"), &agent)
        .send()
        .await
        .unwrap();
    problem(res, 404, None).await;
    for tid in [ai, bi] {
        let h: Value = t
            .get(&format!("/api/v1/tickets/{tid}/history"), &agent)
            .await
            .json()
            .await
            .unwrap();
        let actions: Vec<&str> = h["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert!(
            actions.contains(&"link") && actions.contains(&"unlink"),
            "{actions:?}"
        );
    }
    let none: Value = t
        .get(&format!("/api/v1/links?kind=ticket&id={ai}"), &agent)
        .await
        .json()
        .await
        .unwrap();
    assert!(none["items"].as_array().unwrap().is_empty());
}

async fn links_need_both_ends_visible_and_a_working_role(t: &TestApp) {
    let net = t.team("Network").await;
    let desk = t.team("Desk").await;
    let agent = t.user("agent@example.com", "agent", None, vec![net]).await;
    let other = t.user("other@example.com", "agent", None, vec![desk]).await;
    let auditor = t.user("audit@example.com", "auditor", None, vec![]).await;
    let org = t.org("Acme", false).await;
    let requester = t
        .user("req@acme.example.com", "requester", Some(org), vec![])
        .await;
    let own = t.ticket(&requester, "My laptop", json!({})).await;
    let net_inc = t.ticket(&agent, "Router", json!({"team_id": net})).await;
    let desk_inc = t
        .ticket(&other, "Desk thing", json!({"team_id": desk}))
        .await;
    let p: Value = t
        .post("/api/v1/problems", &agent, json!({"title": "Routers"}))
        .await
        .json()
        .await
        .unwrap();
    let link = |s: &Value, k: &str, target: &Value| json!({"source_kind": "ticket", "source_id": s["id"], "target_kind": k, "target_id": target["id"], "link_type": "caused_by"});
    // Requesters see no links, not even on their own ticket.
    problem(
        t.get(
            &format!("/api/v1/links?kind=ticket&id={}", own["id"]),
            &requester,
        )
        .await,
        404,
        None,
    )
    .await;
    problem(
        t.post("/api/v1/links", &requester, link(&own, "problem", &p))
            .await,
        404,
        None,
    )
    .await;
    // The other team's incident does not exist for this agent.
    problem(
        t.post("/api/v1/links", &agent, link(&desk_inc, "problem", &p))
            .await,
        404,
        None,
    )
    .await;
    problem(
        t.post(
            "/api/v1/links",
            &agent,
            link(&net_inc, "problem", &json!({"id": 999999})),
        )
        .await,
        404,
        None,
    )
    .await;
    // Auditors read, and change nothing.
    let res = t
        .post("/api/v1/links", &agent, link(&net_inc, "problem", &p))
        .await;
    assert_eq!(res.status(), 201);
    let l: Value = res.json().await.unwrap();
    problem(
        t.post("/api/v1/links", &auditor, link(&desk_inc, "problem", &p))
            .await,
        403,
        None,
    )
    .await;
    let seen: Value = t
        .get(
            &format!("/api/v1/links?kind=problem&id={}", p["id"]),
            &auditor,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["items"].as_array().unwrap().len(), 1);
    let res = t
        .req(
            Method::DELETE,
            &format!("/api/v1/links/{}", l["id"]),
            &auditor,
        )
        .send()
        .await
        .unwrap();
    problem(res, 403, None).await;
    // Another team's agent sees the problem, but not the link to an incident hidden from them,
    // and cannot remove it.
    let seen: Value = t
        .get(
            &format!("/api/v1/links?kind=problem&id={}", p["id"]),
            &other,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(seen["items"].as_array().unwrap().is_empty());
    let res = t
        .req(
            Method::DELETE,
            &format!("/api/v1/links/{}", l["id"]),
            &other,
        )
        .send()
        .await
        .unwrap();
    problem(res, 404, None).await;
}

async fn the_links_panel_adds_and_removes_links(t: &TestApp) {
    let team = t.team("Network").await;
    let agent = t.user("agent@example.com", "agent", None, vec![team]).await;
    let a = t.ticket(&agent, "Outage A", json!({"team_id": team})).await;
    let p: Value = t
        .post("/api/v1/problems", &agent, json!({"title": "Core switch"}))
        .await
        .json()
        .await
        .unwrap();
    let b = Browser::login(t, "agent@example.com").await;
    let page = format!("/tickets/{}", a["id"]);
    let sid = a["id"].as_i64().unwrap().to_string();
    let (status, _) = b
        .post(
            &page,
            "/links",
            &[
                ("back", page.as_str()),
                ("source_kind", "ticket"),
                ("source_id", sid.as_str()),
                ("target_kind", "problem"),
                ("number", "prb-000001"),
                ("link_type", "caused_by"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (_, html) = b.get(&page).await;
    assert!(html.contains("Caused by") && html.contains("Core switch"));
    let (_, html) = b.get(&format!("/problems/{}", p["id"])).await;
    assert!(
        html.contains("Causes") && html.contains("Outage A"),
        "the inverse on the other side"
    );
    let links: Value = t
        .get(&format!("/api/v1/links?kind=ticket&id={sid}"), &agent)
        .await
        .json()
        .await
        .unwrap();
    let lid = links["items"][0]["id"].as_i64().unwrap();
    let (status, _) = b
        .post(
            &page,
            &format!("/links/{lid}/delete"),
            &[("back", page.as_str())],
        )
        .await;
    assert_eq!(status, 303);
    let links: Value = t
        .get(&format!("/api/v1/links?kind=ticket&id={sid}"), &agent)
        .await
        .json()
        .await
        .unwrap();
    assert!(links["items"].as_array().unwrap().is_empty());
}
