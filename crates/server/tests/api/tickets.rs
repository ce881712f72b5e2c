use crate::common::{problem, TestApp};
use crate::on_both_databases;
use serde_json::{json, Value};

on_both_databases!(
    create_numbers_and_prioritises,
    lifecycle_refuses_illegal_transitions,
    priority_override_needs_a_reason,
    etag_and_if_match,
    idempotency_key_never_makes_two,
    internal_notes_are_hidden_from_requesters,
    attachments_are_downloads,
    history_records_every_change,
    cursor_pagination_walks_every_ticket,
);

async fn create_numbers_and_prioritises(t: &TestApp) {
    let team = t.team("Network").await;
    let agent = t.user("agent@x.test", "agent", None, vec![team]).await;
    let inc = t
        .ticket(
            &agent,
            "Printer down",
            json!({"impact": "high", "urgency": "high"}),
        )
        .await;
    assert_eq!(inc["number"], "INC-000001");
    assert_eq!(inc["priority"], "P1");
    assert_eq!(inc["status"], "new");
    let req = t
        .ticket(
            &agent,
            "Need a monitor",
            json!({"kind": "service_request", "impact": "low", "urgency": "medium"}),
        )
        .await;
    assert_eq!(req["number"], "REQ-000001");
    assert_eq!(req["priority"], "P4");
    let inc2 = t
        .ticket(
            &agent,
            "VPN",
            json!({"impact": "medium", "urgency": "high"}),
        )
        .await;
    assert_eq!(inc2["number"], "INC-000002");
    assert_eq!(inc2["priority"], "P2");
    // Assigning on create makes it assigned.
    let assigned = t
        .ticket(
            &agent,
            "Mail",
            json!({"team_id": team, "assignee_id": agent.id}),
        )
        .await;
    assert_eq!(assigned["status"], "assigned");
    assert_eq!(assigned["team_name"], "Network");
}

async fn lifecycle_refuses_illegal_transitions(t: &TestApp) {
    let team = t.team("Desk").await;
    let agent = t.user("a@x.test", "agent", None, vec![team]).await;
    let tk = t.ticket(&agent, "Broken", json!({"team_id": team})).await;
    let path = format!("/api/v1/tickets/{}", tk["id"]);
    // new → closed is not allowed; the problem lists what is.
    let body = problem(
        t.patch(&path, &agent, json!({"status": "closed"})).await,
        409,
        Some("status"),
    )
    .await;
    let allowed: Vec<String> = serde_json::from_value(body["allowed_transitions"].clone()).unwrap();
    assert!(allowed.contains(&"resolved".to_string()) && !allowed.contains(&"closed".to_string()));
    // assigned needs an assignee.
    problem(
        t.patch(&path, &agent, json!({"status": "assigned"})).await,
        422,
        Some("assignee_id"),
    )
    .await;
    let res: Value = t
        .patch(&path, &agent, json!({"assignee_id": agent.id}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(res["status"], "assigned");
    let res: Value = t
        .patch(&path, &agent, json!({"status": "in_progress"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(res["status"], "in_progress");
    let res: Value = t
        .patch(
            &path,
            &agent,
            json!({"status": "pending", "pending_reason": "third_party"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(res["pending_reason"], "third_party");
    // Resolving needs a resolution code.
    problem(
        t.patch(&path, &agent, json!({"status": "resolved"})).await,
        422,
        Some("resolution_code"),
    )
    .await;
    let res: Value = t
        .patch(&path, &agent, json!({"status": "resolved", "resolution_code": "fixed", "resolution_notes": "cable replaced"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(res["status"], "resolved");
    assert!(res["resolved_at"].is_string());
    assert_eq!(res["pending_reason"], Value::Null);
    // Reopen, resolve again, close; closed is final.
    let res: Value = t
        .patch(&path, &agent, json!({"status": "in_progress"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(res["resolved_at"], Value::Null);
    t.patch(&path, &agent, json!({"status": "resolved"})).await;
    let res: Value = t
        .patch(&path, &agent, json!({"status": "closed"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(res["status"], "closed");
    assert!(res["closed_at"].is_string());
    let body = problem(
        t.patch(&path, &agent, json!({"status": "in_progress"}))
            .await,
        409,
        Some("status"),
    )
    .await;
    assert_eq!(body["allowed_transitions"], json!([]));
    // A closed ticket takes no more replies.
    problem(
        t.post(&format!("{path}/comments"), &agent, json!({"body": "late"}))
            .await,
        409,
        None,
    )
    .await;
}

async fn priority_override_needs_a_reason(t: &TestApp) {
    let team = t.team("T").await;
    let agent = t.user("a@x.test", "agent", None, vec![team]).await;
    let tk = t
        .ticket(&agent, "Slow", json!({"impact": "low", "urgency": "low"}))
        .await;
    let path = format!("/api/v1/tickets/{}", tk["id"]);
    problem(
        t.patch(&path, &agent, json!({"priority": "P1"})).await,
        422,
        Some("priority_reason"),
    )
    .await;
    let res: Value = t
        .patch(
            &path,
            &agent,
            json!({"priority": "P1", "priority_reason": "CEO's laptop"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(res["priority"], "P1");
    assert_eq!(res["priority_reason"], "CEO's laptop");
    // Requesters do not see the override reason (nor watchers), on the ticket or in history.
    let req = t.user("req@x.test", "requester", None, vec![]).await;
    let own = t.ticket(&req, "Mine", json!({})).await;
    let own_path = format!("/api/v1/tickets/{}", own["id"]);
    t.patch(
        &own_path,
        &agent,
        json!({"priority": "P1", "priority_reason": "VIP", "watcher_ids": [agent.id]}),
    )
    .await;
    let seen: Value = t.get(&own_path, &req).await.json().await.unwrap();
    assert_eq!(seen["priority"], "P1");
    assert_eq!(seen["priority_reason"], Value::Null);
    assert_eq!(seen["watcher_ids"], json!([]));
    let history: Value = t
        .get(&format!("{own_path}/history"), &req)
        .await
        .json()
        .await
        .unwrap();
    assert!(history["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["field"] != "priority_reason" && e["field"] != "watcher_ids"));
    // An override survives impact changes; clearing it returns to the matrix.
    let res: Value = t
        .patch(&path, &agent, json!({"impact": "medium"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(res["priority"], "P1");
    let res: Value = t
        .patch(&path, &agent, json!({"priority": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(res["priority"], "P4");
    assert_eq!(res["priority_reason"], Value::Null);
    problem(
        t.patch(
            &path,
            &agent,
            json!({"priority": "P9", "priority_reason": "x"}),
        )
        .await,
        422,
        Some("priority"),
    )
    .await;
    // Requesters cannot override.
    let req = t.user("r@x.test", "requester", None, vec![]).await;
    let res = t.post("/api/v1/tickets", &req, json!({"kind": "incident", "title": "x", "impact": "low", "urgency": "low", "priority": "P1", "priority_reason": "me"})).await;
    problem(res, 403, Some("priority")).await;
}

async fn etag_and_if_match(t: &TestApp) {
    let agent = t.user("a@x.test", "admin", None, vec![]).await;
    let tk = t.ticket(&agent, "Etag", json!({})).await;
    let path = format!("/api/v1/tickets/{}", tk["id"]);
    let res = t.get(&path, &agent).await;
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let ok = t
        .req(reqwest::Method::PATCH, &path, &agent)
        .header("If-Match", &etag)
        .json(&json!({"title": "Etag 2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_ne!(ok.headers()["etag"].to_str().unwrap(), etag);
    let stale = t
        .req(reqwest::Method::PATCH, &path, &agent)
        .header("If-Match", &etag)
        .json(&json!({"title": "Etag 3"}))
        .send()
        .await
        .unwrap();
    problem(stale, 412, Some("If-Match")).await;
    let garbage = t
        .req(reqwest::Method::PATCH, &path, &agent)
        .header("If-Match", "\"nonsense\"")
        .json(&json!({"title": "Etag 3"}))
        .send()
        .await
        .unwrap();
    problem(garbage, 412, None).await;
    let current: Value = t.get(&path, &agent).await.json().await.unwrap();
    assert_eq!(current["title"], "Etag 2");
}

async fn idempotency_key_never_makes_two(t: &TestApp) {
    let agent = t.user("a@x.test", "admin", None, vec![]).await;
    let body = json!({"kind": "incident", "title": "Once", "impact": "low", "urgency": "low"});
    let send = |b: Value| {
        t.req(reqwest::Method::POST, "/api/v1/tickets", &agent)
            .header("Idempotency-Key", "k-1")
            .json(&b)
            .send()
    };
    let first: Value = send(body.clone()).await.unwrap().json().await.unwrap();
    let second = send(body.clone()).await.unwrap();
    assert_eq!(second.status(), 201);
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    assert_eq!(first["number"], second["number"]);
    let list: Value = t.get("/api/v1/tickets", &agent).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // The same key with another body is refused.
    let other =
        send(json!({"kind": "incident", "title": "Other", "impact": "low", "urgency": "low"}))
            .await
            .unwrap();
    problem(other, 422, Some("Idempotency-Key")).await;
    // Concurrent retries still make one record.
    let body = json!({"kind": "incident", "title": "Race", "impact": "low", "urgency": "low"});
    let mut handles = Vec::new();
    for _ in 0..8 {
        let req = t
            .req(reqwest::Method::POST, "/api/v1/tickets", &agent)
            .header("Idempotency-Key", "race")
            .json(&body);
        handles.push(tokio::spawn(async move {
            req.send().await.unwrap().json::<Value>().await.unwrap()
        }));
    }
    let mut ids = Vec::new();
    for h in handles {
        ids.push(h.await.unwrap()["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

async fn internal_notes_are_hidden_from_requesters(t: &TestApp) {
    let team = t.team("T").await;
    let agent = t.user("a@x.test", "agent", None, vec![team]).await;
    let req = t.user("r@x.test", "requester", None, vec![]).await;
    let tk = t.ticket(&req, "Help", json!({})).await;
    let path = format!("/api/v1/tickets/{}/comments", tk["id"]);
    assert_eq!(
        t.post(&path, &agent, json!({"body": "public answer"}))
            .await
            .status(),
        201
    );
    assert_eq!(
        t.post(
            &path,
            &agent,
            json!({"body": "secret diagnosis", "internal": true})
        )
        .await
        .status(),
        201
    );
    problem(
        t.post(&path, &req, json!({"body": "sneaky", "internal": true}))
            .await,
        403,
        Some("internal"),
    )
    .await;
    let seen: Value = t.get(&path, &req).await.json().await.unwrap();
    let bodies: Vec<&str> = seen["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, vec!["public answer"]);
    let staff: Value = t.get(&path, &agent).await.json().await.unwrap();
    assert_eq!(staff["items"].as_array().unwrap().len(), 2);
    let history: Value = t
        .get(&format!("/api/v1/tickets/{}/history", tk["id"]), &req)
        .await
        .json()
        .await
        .unwrap();
    assert!(history["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["action"] != "note"));
    // Searching the note's words finds nothing for the requester, the ticket for staff.
    let found: Value = t
        .get("/api/v1/tickets?q=diagnosis", &req)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 0);
    let found: Value = t
        .get("/api/v1/tickets?q=diagnosis", &agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    // The requester answering a ticket pending on them puts it back in progress.
    let tp = format!("/api/v1/tickets/{}", tk["id"]);
    t.patch(
        &tp,
        &agent,
        json!({"team_id": team, "assignee_id": agent.id}),
    )
    .await;
    t.patch(
        &tp,
        &agent,
        json!({"status": "pending", "pending_reason": "requester"}),
    )
    .await;
    t.post(&path, &req, json!({"body": "here is the info"}))
        .await;
    let now: Value = t.get(&tp, &agent).await.json().await.unwrap();
    assert_eq!(now["status"], "in_progress");
}

async fn attachments_are_downloads(t: &TestApp) {
    let req = t.user("r@x.test", "requester", None, vec![]).await;
    let other = t.user("o@x.test", "requester", None, vec![]).await;
    let tk = t.ticket(&req, "With file", json!({})).await;
    let path = format!("/api/v1/tickets/{}/attachments", tk["id"]);
    let svg = "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>";
    let part = reqwest::multipart::Part::bytes(svg.as_bytes().to_vec())
        .file_name("../../x.svg")
        .mime_str("image/svg+xml")
        .unwrap();
    let res = t
        .req(reqwest::Method::POST, &path, &req)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let a: Value = res.json().await.unwrap();
    assert_eq!(a["filename"], "x.svg");
    let dl = t.get(a["download_url"].as_str().unwrap(), &req).await;
    assert_eq!(dl.status(), 200);
    assert_eq!(dl.headers()["content-type"], "application/octet-stream");
    assert!(dl.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    assert_eq!(dl.headers()["x-content-type-options"], "nosniff");
    assert_eq!(dl.bytes().await.unwrap(), svg.as_bytes());
    // The same file sent again by the same person (a retried form) is not added twice.
    let again = reqwest::multipart::Part::bytes(svg.as_bytes().to_vec())
        .file_name("x.svg")
        .mime_str("image/svg+xml")
        .unwrap();
    let res = t
        .req(reqwest::Method::POST, &path, &req)
        .multipart(reqwest::multipart::Form::new().part("file", again))
        .send()
        .await
        .unwrap();
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["id"], a["id"]);
    let list: Value = t.get(&path, &req).await.json().await.unwrap();
    assert_eq!(
        list["items"]
            .as_array()
            .map(Vec::len)
            .unwrap_or_else(|| list.as_array().unwrap().len()),
        1
    );
    // Someone who cannot see the ticket cannot download.
    problem(
        t.get(a["download_url"].as_str().unwrap(), &other).await,
        404,
        None,
    )
    .await;
    problem(
        t.req(reqwest::Method::POST, &path, &other)
            .multipart(reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("a.txt"),
            ))
            .send()
            .await
            .unwrap(),
        404,
        None,
    )
    .await;
    // Too large: 413, and nothing recorded.
    let big = vec![b'a'; t.app.limits.attachment_bytes + 1];
    // The server stops reading at the limit and closes this connection.
    let res = t
        .req(reqwest::Method::POST, &path, &req)
        .header("connection", "close")
        .multipart(reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(big).file_name("big.bin"),
        ))
        .send()
        .await
        .unwrap();
    problem(res, 413, Some("file")).await;
    let list: Value = t.get(&path, &req).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // No file part: 422 naming it.
    let res = t
        .req(reqwest::Method::POST, &path, &req)
        .multipart(reqwest::multipart::Form::new().text("comment_id", ""))
        .send()
        .await
        .unwrap();
    problem(res, 422, Some("file")).await;
}

async fn history_records_every_change(t: &TestApp) {
    let team = t.team("T").await;
    let agent = t.user("a@x.test", "agent", None, vec![team]).await;
    let tk = t.ticket(&agent, "Track me", json!({})).await;
    let path = format!("/api/v1/tickets/{}", tk["id"]);
    t.patch(
        &path,
        &agent,
        json!({"team_id": team, "assignee_id": agent.id, "urgency": "high"}),
    )
    .await;
    let h: Value = t
        .get(&format!("{path}/history"), &agent)
        .await
        .json()
        .await
        .unwrap();
    let items = h["items"].as_array().unwrap();
    assert_eq!(items[0]["action"], "create");
    let status = items.iter().find(|e| e["field"] == "status").unwrap();
    assert_eq!(
        (status["old_value"].as_str(), status["new_value"].as_str()),
        (Some("new"), Some("assigned"))
    );
    assert_eq!(status["channel"], "api");
    assert_eq!(status["actor_name"], "a");
    for f in ["team_id", "assignee_id", "urgency", "priority"] {
        assert!(
            items.iter().any(|e| e["field"] == f),
            "{f} missing from {items:?}"
        );
    }
}

async fn cursor_pagination_walks_every_ticket(t: &TestApp) {
    let team = t.team("T").await;
    let agent = t.user("a@x.test", "agent", None, vec![team]).await;
    let levels = ["high", "medium", "low"];
    for i in 0..23 {
        t.ticket(
            &agent,
            &format!("t{i}"),
            json!({"team_id": team, "impact": levels[i % 3], "urgency": levels[(i / 3) % 3]}),
        )
        .await;
    }
    for sort in ["newest", "priority", "updated"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("/api/v1/tickets?team_id={team}&status=open&sort={sort}&limit=5");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page: Value = t.get(&url, &agent).await.json().await.unwrap();
            for it in page["items"].as_array().unwrap() {
                seen.push((
                    it["id"].as_i64().unwrap(),
                    it["priority"].as_str().unwrap().to_string(),
                ));
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 23, "{sort}");
        let mut ids: Vec<i64> = seen.iter().map(|s| s.0).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 23, "{sort}: duplicates");
        if sort == "priority" {
            let prios: Vec<&String> = seen.iter().map(|s| &s.1).collect();
            let mut sorted = prios.clone();
            sorted.sort();
            assert_eq!(prios, sorted);
        }
    }
    problem(
        t.get("/api/v1/tickets?sort=priority&cursor=n.5", &agent)
            .await,
        422,
        Some("cursor"),
    )
    .await;
}
