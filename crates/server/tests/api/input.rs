//! Bad input: a 4xx problem+json naming the field, never a 500, never a partial write.

use crate::common::{problem, TestApp};
use crate::on_both_databases;
use serde_json::{json, Value};

on_both_databases!(bad_ticket_input_is_refused_by_field);

async fn bad_ticket_input_is_refused_by_field(t: &TestApp) {
    let admin = t.user("admin@x.test", "admin", None, vec![]).await;
    let ok = json!({"kind": "incident", "title": "ok", "impact": "low", "urgency": "low"});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = ok.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let cases: Vec<(Value, u16, &str)> = vec![
        (with("kind", json!("problem")), 422, "kind"),
        (with("impact", json!("extreme")), 422, "impact"),
        (with("urgency", json!(3)), 422, "urgency"),
        (without("title"), 422, "title"),
        (without("kind"), 422, "kind"),
        (with("title", json!("")), 422, "title"),
        (with("title", json!("   ")), 422, "title"),
        (with("title", json!("x".repeat(201))), 422, "title"),
        (with("title", json!("bell\u{7}")), 422, "title"),
        (
            with("description", json!("nul\u{0}byte")),
            422,
            "description",
        ),
        (
            with("description", json!("y".repeat(20_001))),
            422,
            "description",
        ),
        (with("team_id", json!(424242)), 422, "team_id"),
        (with("team_id", json!("seven")), 422, "team_id"),
        (with("requester_id", json!(99999)), 422, "requester_id"),
        (with("unexpected", json!(1)), 422, "unexpected"),
    ];
    for (body, status, field) in cases {
        let res = t.post("/api/v1/tickets", &admin, body.clone()).await;
        problem(res, status, Some(field)).await;
    }
    // Malformed JSON, wrong content type, an oversized body.
    let raw = |ct: &'static str, body: Vec<u8>| {
        t.req(reqwest::Method::POST, "/api/v1/tickets", &admin)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    problem(
        raw("application/json", b"{\"kind\": ".to_vec())
            .await
            .unwrap(),
        400,
        Some("body"),
    )
    .await;
    problem(
        raw("text/plain", serde_json::to_vec(&ok).unwrap())
            .await
            .unwrap(),
        415,
        Some("Content-Type"),
    )
    .await;
    let huge = format!("{{\"kind\":\"incident\",\"title\":\"x\",\"impact\":\"low\",\"urgency\":\"low\",\"description\":\"{}\"}}", "z".repeat(2 * 1024 * 1024));
    // The server answers 413 without reading the rest and closes the connection; a separate
    // connection keeps the pooled ones usable.
    let res = t
        .req(reqwest::Method::POST, "/api/v1/tickets", &admin)
        .header("content-type", "application/json")
        .header("connection", "close")
        .body(huge.into_bytes())
        .send()
        .await
        .unwrap();
    problem(res, 413, None).await;
    // Bad query parameters and paths.
    problem(
        t.get("/api/v1/tickets?status=open,bogus", &admin).await,
        422,
        Some("status"),
    )
    .await;
    problem(
        t.get("/api/v1/tickets?limit=0", &admin).await,
        422,
        Some("limit"),
    )
    .await;
    problem(
        t.get("/api/v1/tickets?team_id=abc", &admin).await,
        422,
        Some("team_id"),
    )
    .await;
    problem(
        t.get("/api/v1/tickets?sort=random", &admin).await,
        422,
        Some("sort"),
    )
    .await;
    let res = t.get("/api/v1/tickets/not-a-number", &admin).await;
    assert_eq!(res.status(), 400);
    // A failed change wrote nothing: still no tickets, no counter used.
    let list: Value = t.get("/api/v1/tickets", &admin).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let first = t.ticket(&admin, "first", json!({})).await;
    assert_eq!(first["number"], "INC-000001");
    // PATCH with bad values names the field and changes nothing.
    let path = format!("/api/v1/tickets/{}", first["id"]);
    problem(
        t.patch(&path, &admin, json!({"title": "new", "status": "sideways"}))
            .await,
        422,
        Some("status"),
    )
    .await;
    problem(
        t.patch(
            &path,
            &admin,
            json!({"title": "new", "assignee_id": 123456}),
        )
        .await,
        422,
        Some("assignee_id"),
    )
    .await;
    let after: Value = t.get(&path, &admin).await.json().await.unwrap();
    assert_eq!(after["title"], "first");
    assert_eq!(after["version"], first["version"]);
}
