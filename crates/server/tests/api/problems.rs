//! Problems end to end on both databases: the lifecycle with its rules, linked incidents, the
//! known error database and applying a known error, the trend view, permissions, and the pages
//! an agent uses to link incidents and record a known error.

use crate::common::{problem, Browser, TestApp};
use crate::on_both_databases;
use reqwest::Method;
use serde_json::{json, Value};

on_both_databases!(
    a_problem_runs_its_lifecycle_with_its_rules,
    a_known_error_is_found_and_applied_once,
    problems_are_staff_only_and_auditors_change_nothing,
    the_trend_view_counts_recurring_incidents,
    an_agent_links_incidents_and_records_a_known_error_on_the_pages,
    the_known_error_database_page_pages,
);

async fn new_problem(t: &TestApp, user: &crate::common::User, body: Value) -> Value {
    let res = t.post("/api/v1/problems", user, body).await;
    assert_eq!(res.status(), 201, "create problem");
    res.json().await.unwrap()
}

async fn the_known_error_database_page_pages(t: &TestApp) {
    let agent = t.user("agent@example.com", "agent", None, vec![]).await;
    for i in 1..=51 {
        let p = new_problem(t, &agent, json!({"title": format!("Known error {i}")})).await;
        let res = patch(
            t,
            &agent,
            p["id"].as_i64().unwrap(),
            json!({"status": "known_error", "cause": "c", "workaround": format!("Workaround {i} & retry")}),
        )
        .await;
        assert_eq!(res.status(), 200);
    }
    let b = Browser::login(t, "agent@example.com").await;
    let (status, html) = b.get("/problems/kedb?ticket=INC-000009").await;
    assert_eq!(status, 200);
    assert!(html.contains("Workaround 51 &#38; retry") && !html.contains("Workaround 1 &#38;"));
    let at = html.find("cursor=").expect("a link to more known errors");
    let start = html[..at].rfind("/problems/kedb?").unwrap();
    let end = at + html[at..].find('"').unwrap();
    let more = html[start..end].replace("&amp;", "&");
    assert!(more.contains("ticket=INC-000009"), "{more}");
    let (status, html) = b.get(&more).await;
    assert_eq!(status, 200);
    assert!(html.contains("Workaround 1 &#38; retry") && !html.contains("Workaround 51"));
}

async fn patch(t: &TestApp, user: &crate::common::User, id: i64, body: Value) -> reqwest::Response {
    t.patch(&format!("/api/v1/problems/{id}"), user, body).await
}

async fn a_problem_runs_its_lifecycle_with_its_rules(t: &TestApp) {
    let team = t.team("Network").await;
    let agent = t.user("agent@example.com", "agent", None, vec![team]).await;
    let p = new_problem(
        t,
        &agent,
        json!({"title": "VPN drops every hour", "team_id": team, "assignee_id": agent.id}),
    )
    .await;
    assert_eq!(p["number"], "PRB-000001");
    assert_eq!(p["status"], "new");
    assert_eq!(p["priority"], "P3");
    let id = p["id"].as_i64().unwrap();

    // Three incidents linked by number and by id; a second link of the same one is refused.
    let mut numbers = vec![];
    for i in 0..3 {
        let inc = t
            .ticket(&agent, &format!("VPN down {i}"), json!({"team_id": team}))
            .await;
        numbers.push(inc["number"].as_str().unwrap().to_string());
        let res = t
            .post(
                &format!("/api/v1/problems/{id}/incidents"),
                &agent,
                json!({"number": inc["number"]}),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    let res = t
        .post(
            &format!("/api/v1/problems/{id}/incidents"),
            &agent,
            json!({"number": numbers[0]}),
        )
        .await;
    problem(res, 409, None).await;
    let res = t
        .post(
            &format!("/api/v1/problems/{id}/incidents"),
            &agent,
            json!({"number": "INC-999999"}),
        )
        .await;
    problem(res, 422, Some("number")).await;
    let v: Value = t
        .get(&format!("/api/v1/problems/{id}"), &agent)
        .await
        .json()
        .await
        .unwrap();
    let linked: Vec<&str> = v["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_str().unwrap())
        .collect();
    assert_eq!(
        linked,
        numbers.iter().map(String::as_str).collect::<Vec<_>>()
    );

    // Steps cannot be skipped; the answer lists the allowed ones.
    let body = problem(
        patch(t, &agent, id, json!({"status": "resolved"})).await,
        409,
        None,
    )
    .await;
    assert!(body.to_string().contains("under_investigation"), "{body}");
    let res = patch(t, &agent, id, json!({"status": "under_investigation"})).await;
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    // A known error needs its cause and workaround.
    problem(
        patch(
            t,
            &agent,
            id,
            json!({"status": "known_error", "cause": "证书过期"}),
        )
        .await,
        422,
        Some("workaround"),
    )
    .await;
    // A stale If-Match is refused.
    let res = t
        .req(Method::PATCH, &format!("/api/v1/problems/{id}"), &agent)
        .header("if-match", format!("\"{id}-1\""))
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap();
    problem(res, 412, None).await;
    let res = t
        .req(Method::PATCH, &format!("/api/v1/problems/{id}"), &agent)
        .header("if-match", etag)
        .json(&json!({"status": "known_error", "cause": "VPN 网关证书过期", "workaround": "重新连接 VPN 并选择备用网关", "method_notes": "5 whys"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "known_error");
    assert_eq!(v["kedb_published"], true);
    assert!(v["known_error_at"].is_string());
    // Resolving needs the resolution; then closed is final.
    problem(
        patch(t, &agent, id, json!({"status": "resolved"})).await,
        422,
        Some("resolution"),
    )
    .await;
    let v: Value = patch(
        t,
        &agent,
        id,
        json!({"status": "resolved", "resolution": "证书已更新"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["status"], "resolved");
    assert_eq!(
        v["allowed_transitions"],
        json!(["closed", "under_investigation"])
    );
    assert_eq!(
        patch(t, &agent, id, json!({"status": "closed"}))
            .await
            .status(),
        200
    );
    problem(
        patch(t, &agent, id, json!({"title": "again"})).await,
        409,
        None,
    )
    .await;
    // Bad input names the field and writes nothing.
    let res = t
        .post(
            "/api/v1/problems",
            &agent,
            json!({"title": "", "priority": "P3"}),
        )
        .await;
    problem(res, 422, Some("title")).await;
    let res = t
        .post(
            "/api/v1/problems",
            &agent,
            json!({"title": "x", "priority": "P9"}),
        )
        .await;
    problem(res, 422, Some("priority")).await;
    let res = t
        .post(
            "/api/v1/problems",
            &agent,
            json!({"title": "x", "incident_ids": [999999]}),
        )
        .await;
    problem(res, 422, Some("incident_ids[0]")).await;
    let list: Value = t
        .get("/api/v1/problems", &agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "nothing half-written"
    );
    // The audit history has the status changes.
    let list: Value = t
        .get("/api/v1/problems?status=closed", &agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["number"], "PRB-000001");
    // Idempotent create.
    let send = || {
        t.req(Method::POST, "/api/v1/problems", &agent)
            .header("idempotency-key", "k1")
            .json(&json!({"title": "Once"}))
            .send()
    };
    let a: Value = send().await.unwrap().json().await.unwrap();
    let b: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(a["id"], b["id"]);
}

async fn a_known_error_is_found_and_applied_once(t: &TestApp) {
    let team = t.team("Desktop").await;
    let agent = t.user("agent@example.com", "agent", None, vec![team]).await;
    let p = new_problem(t, &agent, json!({"title": "打印机无法连接网络"})).await;
    let id = p["id"].as_i64().unwrap();
    let inc = t
        .ticket(&agent, "打印机又坏了", json!({"team_id": team}))
        .await;
    let tid = inc["id"].as_i64().unwrap();
    // Not yet a known error: nothing to apply.
    let res = t
        .post(
            &format!("/api/v1/problems/{id}/apply"),
            &agent,
            json!({"ticket_id": tid}),
        )
        .await;
    problem(res, 409, None).await;
    let v = patch(t, &agent, id, json!({"status": "known_error", "cause": "驱动版本过旧", "workaround": "重启打印服务后重新添加打印机"})).await;
    assert_eq!(v.status(), 200);
    // The KEDB finds it by words of the title, the cause and the workaround, in Chinese.
    for q in ["打印机", "驱动", "打印服务"] {
        let found: Value = t
            .get(&format!("/api/v1/problems?kedb=true&q={q}"), &agent)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(found["items"].as_array().unwrap().len(), 1, "{q}");
    }
    let none: Value = t
        .get("/api/v1/problems?kedb=true&q=邮件", &agent)
        .await
        .json()
        .await
        .unwrap();
    assert!(none["items"].as_array().unwrap().is_empty());

    let res = t
        .post(
            &format!("/api/v1/problems/{id}/apply"),
            &agent,
            json!({"ticket_id": tid}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["applied"], true);
    let res = t
        .post(
            &format!("/api/v1/problems/{id}/apply"),
            &agent,
            json!({"ticket_id": tid}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    assert_eq!(second["applied"], false);
    assert_eq!(second["comment_id"], first["comment_id"]);
    let comments: Value = t
        .get(&format!("/api/v1/tickets/{tid}/comments"), &agent)
        .await
        .json()
        .await
        .unwrap();
    let comments = comments["items"].as_array().unwrap();
    assert_eq!(comments.len(), 1, "one reply for two applies");
    assert_eq!(comments[0]["internal"], false);
    assert!(comments[0]["body"]
        .as_str()
        .unwrap()
        .contains("重启打印服务"));
    let v: Value = t
        .get(&format!("/api/v1/problems/{id}"), &agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["incidents"][0]["id"], tid);
    let links: Value = t
        .get(&format!("/api/v1/links?kind=ticket&id={tid}"), &agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(links["items"].as_array().unwrap().len(), 1);
    let history: Value = t
        .get(&format!("/api/v1/tickets/{tid}/history"), &agent)
        .await
        .json()
        .await
        .unwrap();
    assert!(history.to_string().contains("apply_known_error"));
}

async fn problems_are_staff_only_and_auditors_change_nothing(t: &TestApp) {
    let net = t.team("Network").await;
    let desk = t.team("Desk").await;
    let agent = t.user("agent@example.com", "agent", None, vec![net]).await;
    let other = t.user("other@example.com", "agent", None, vec![desk]).await;
    let auditor = t.user("audit@example.com", "auditor", None, vec![]).await;
    let org = t.org("Acme", false).await;
    let requester = t
        .user("req@acme.example.com", "requester", Some(org), vec![])
        .await;
    let p = new_problem(t, &agent, json!({"title": "Switch reboots"})).await;
    let id = p["id"].as_i64().unwrap();
    let inc = t
        .ticket(&agent, "Switch down", json!({"team_id": net}))
        .await;
    let res = t
        .post(
            &format!("/api/v1/problems/{id}/incidents"),
            &agent,
            json!({"ticket_id": inc["id"]}),
        )
        .await;
    assert_eq!(res.status(), 200);

    // Requesters find no problem at all.
    for path in [
        format!("/api/v1/problems/{id}"),
        "/api/v1/problems".into(),
        "/api/v1/problems/trends".into(),
    ] {
        problem(t.get(&path, &requester).await, 404, None).await;
    }
    problem(
        t.post("/api/v1/problems", &requester, json!({"title": "x"}))
            .await,
        404,
        None,
    )
    .await;
    problem(
        patch(t, &requester, id, json!({"title": "x"})).await,
        404,
        None,
    )
    .await;
    // Auditors read, and change nothing.
    assert_eq!(
        t.get(&format!("/api/v1/problems/{id}"), &auditor)
            .await
            .status(),
        200
    );
    problem(
        t.post("/api/v1/problems", &auditor, json!({"title": "x"}))
            .await,
        403,
        None,
    )
    .await;
    problem(
        patch(t, &auditor, id, json!({"title": "x"})).await,
        403,
        None,
    )
    .await;
    // An agent of another team sees the problem but not the other team's incident, and cannot
    // link it.
    let v: Value = t
        .get(&format!("/api/v1/problems/{id}"), &other)
        .await
        .json()
        .await
        .unwrap();
    assert!(v["incidents"].as_array().unwrap().is_empty());
    let res = t
        .post(
            &format!("/api/v1/problems/{id}/incidents"),
            &other,
            json!({"ticket_id": inc["id"]}),
        )
        .await;
    problem(res, 422, Some("ticket_id")).await;
    problem(t.get("/api/v1/problems/999999", &agent).await, 404, None).await;
}

async fn the_trend_view_counts_recurring_incidents(t: &TestApp) {
    let team = t.team("Network").await;
    let agent = t.user("agent@example.com", "agent", None, vec![team]).await;
    let other = t
        .user(
            "other@example.com",
            "agent",
            None,
            vec![t.team("Desk").await],
        )
        .await;
    let mut ids = vec![];
    for i in 0..3 {
        let inc = t
            .ticket(
                &agent,
                &format!("网络中断 {i}"),
                json!({"team_id": team, "category": "网络"}),
            )
            .await;
        ids.push(inc["id"].as_i64().unwrap());
    }
    t.ticket(
        &agent,
        "Printer",
        json!({"team_id": team, "category": "printer"}),
    )
    .await;
    let v: Value = t
        .get("/api/v1/problems/trends?days=30", &agent)
        .await
        .json()
        .await
        .unwrap();
    let cats = v["categories"].as_array().unwrap();
    assert_eq!(cats.len(), 1, "only recurring groups: {v}");
    assert_eq!(cats[0]["label"], "网络");
    assert_eq!(cats[0]["count"], 3);
    assert_eq!(cats[0]["previous"], 0);
    let v: Value = t
        .get("/api/v1/problems/trends?days=30&min=1", &agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["categories"].as_array().unwrap().len(), 2);
    // Another team's agent counts only what they may see.
    let v: Value = t
        .get("/api/v1/problems/trends?days=30&min=1", &other)
        .await
        .json()
        .await
        .unwrap();
    assert!(v["categories"].as_array().unwrap().is_empty(), "{v}");
    problem(
        t.get("/api/v1/problems/trends?days=0", &agent).await,
        422,
        Some("days"),
    )
    .await;
    problem(
        t.get("/api/v1/problems/trends?from=2026-13-01", &agent)
            .await,
        422,
        Some("from"),
    )
    .await;
    // Raise a problem from the group with its incidents.
    let p = new_problem(
        t,
        &agent,
        json!({"title": "网络反复中断", "category": "网络", "incident_ids": ids}),
    )
    .await;
    assert_eq!(p["incidents"].as_array().unwrap().len(), 3);
    // The page offers it.
    let b = Browser::login(t, "agent@example.com").await;
    let (status, html) = b.get("/problems/trends").await;
    assert_eq!(status, 200);
    assert!(html.contains("网络") && html.contains("/problems/new?dimension=category"));
    let (status, html) = b
        .get("/problems/new?dimension=category&key=%E7%BD%91%E7%BB%9C&days=30&title=x")
        .await;
    assert_eq!(status, 200);
    assert_eq!(html.matches("name=\"incident_ids\"").count(), 3);
}

async fn an_agent_links_incidents_and_records_a_known_error_on_the_pages(t: &TestApp) {
    let team = t.team("Network").await;
    let agent = t.user("agent@example.com", "agent", None, vec![team]).await;
    let mut numbers = vec![];
    for i in 0..3 {
        let inc = t
            .ticket(
                &agent,
                &format!("Wi-Fi drops {i}"),
                json!({"team_id": team}),
            )
            .await;
        numbers.push(inc["number"].as_str().unwrap().to_string());
    }
    let b = Browser::login(t, "agent@example.com").await;
    let (status, _) = b
        .post(
            "/problems/new",
            "/problems",
            &[("title", "Wi-Fi drops on floor 3"), ("priority", "P2")],
        )
        .await;
    assert_eq!(status, 303);
    let list: Value = t
        .get("/api/v1/problems", &agent)
        .await
        .json()
        .await
        .unwrap();
    let id = list["items"][0]["id"].as_i64().unwrap();
    let page = format!("/problems/{id}");
    for n in &numbers {
        let (status, _) = b
            .post(
                &page,
                &format!("/problems/{id}/incidents"),
                &[("number", n.as_str())],
            )
            .await;
        assert_eq!(status, 303);
    }
    // A wrong number comes back on the page with the error.
    let (status, html) = b
        .post(
            &page,
            &format!("/problems/{id}/incidents"),
            &[("number", "INC-424242")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("alert-error"));
    // Recording the known error without a workaround is refused on the page, with what was typed.
    let (status, html) = b
        .post(
            &page,
            &format!("/problems/{id}/known-error"),
            &[("cause", "AP firmware bug"), ("workaround", "")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("AP firmware bug"));
    let (status, _) = b
        .post(
            &page,
            &format!("/problems/{id}/known-error"),
            &[
                ("cause", "AP firmware bug"),
                ("workaround", "Forget the network and join again"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (status, html) = b.get(&page).await;
    assert_eq!(status, 200);
    for n in &numbers {
        assert!(html.contains(n.as_str()), "{n} on the page");
    }
    assert!(html.contains("Known error"));
    let v: Value = t
        .get(&format!("/api/v1/problems/{id}"), &agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "known_error");
    assert_eq!(v["incidents"].as_array().unwrap().len(), 3);
    // The edit form sets the owner, the service and the impact.
    let admin = t.user("admin@example.com", "admin", None, vec![]).await;
    let svc = t
        .post(
            "/api/v1/services",
            &admin,
            json!({"code": "WIFI", "name_zh": "无线网络", "name_en": "Wi-Fi"}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (_, html) = b.get(&page).await;
    assert!(html.contains("name=\"assignee_id\"") && html.contains("Wi-Fi</option>"));
    let (agent_id, svc_id) = (agent.id.to_string(), svc.to_string());
    let version = v["version"].to_string();
    let (status, html) = b
        .post(
            &page,
            &page,
            &[
                ("version", version.as_str()),
                ("title", "Wi-Fi drops on floor 3"),
                ("priority", "P2"),
                ("impact", "high"),
                ("assignee_id", agent_id.as_str()),
                ("service_id", svc_id.as_str()),
                ("cause", "AP firmware bug"),
                ("workaround", "Forget the network and join again"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{html}");
    let v: Value = t
        .get(&format!("/api/v1/problems/{id}"), &agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&v["assignee_id"], &v["service_id"], &v["impact"]),
        (&json!(agent.id), &json!(svc), &json!("high"))
    );
    // The KEDB page finds it and applies it to an incident; the ticket page shows the link.
    let (status, html) = b.get("/problems/kedb?q=firmware").await;
    assert_eq!(status, 200);
    assert!(html.contains("Forget the network"));
    let (status, _) = b
        .post(
            "/problems/kedb",
            &format!("/problems/{id}/apply"),
            &[("number", numbers[0].as_str())],
        )
        .await;
    assert_eq!(status, 303);
    let tid = t
        .get(&format!("/api/v1/tickets?q={}", "Wi-Fi"), &agent)
        .await
        .json::<Value>()
        .await
        .unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["number"] == numbers[0].as_str())
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, html) = b.get(&format!("/tickets/{tid}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Caused by") && html.contains("PRB-000001"));
    assert!(
        html.contains("Forget the network"),
        "the workaround is a reply"
    );
    // Unticking the switch on the edit form takes it out of the known error database.
    let (_, html) = b.get(&page).await;
    assert!(html.contains("name=\"kedb_published\" checked"));
    let v: Value = t
        .get(&format!("/api/v1/problems/{id}"), &agent)
        .await
        .json()
        .await
        .unwrap();
    let version = v["version"].to_string();
    let (status, html) = b
        .post(
            &page,
            &page,
            &[
                ("version", version.as_str()),
                ("title", "Wi-Fi drops on floor 3"),
                ("priority", "P2"),
                ("impact", "high"),
                ("cause", "AP firmware bug"),
                ("workaround", "Forget the network and join again"),
                ("kedb_shown", "1"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{html}");
    let v: Value = t
        .get(&format!("/api/v1/problems/{id}"), &agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&v["kedb_published"], &v["cause"]),
        (&json!(false), &json!("AP firmware bug"))
    );
    let (_, html) = b.get("/problems/kedb?q=firmware").await;
    assert!(!html.contains("Forget the network"));
    // Both languages.
    let (_, html) = b.get("/problems").await;
    assert!(html.contains("PRB-000001"));
}
