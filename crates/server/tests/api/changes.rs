//! Change enablement end to end: the lifecycle of each change type, CAB votes and quorum,
//! who may do what, the calendar's conflicts and freeze periods, the iCalendar feed (read by
//! Python's `icalendar` package, an implementation independent of Steward's) and the pages.

use crate::common::{problem, Browser, TestApp, User};
use crate::on_both_databases;
use serde_json::{json, Value};
use std::io::Write;

on_both_databases!(
    a_normal_change_goes_through_the_cab_and_review,
    standard_changes_skip_the_cab_and_emergencies_need_a_review,
    who_may_do_what_with_changes,
    the_calendar_flags_conflicts_and_freezes_and_feeds_ics,
    change_pages_work_in_both_languages,
    a_busy_day_in_the_month_view_links_to_the_week,
    changes_are_cancelled_with_a_reason_until_implementation_starts,
    the_change_list_searches_filters_and_pages,
);

struct Cast {
    manager: User,
    raiser: User,
    cab1: User,
    cab2: User,
    requester: User,
    auditor: User,
}

async fn cast(t: &TestApp) -> Cast {
    Cast {
        manager: t
            .user("cm@example.com", "change_manager", None, vec![])
            .await,
        raiser: t.user("dev@example.com", "agent", None, vec![]).await,
        cab1: t.user("cab1@example.com", "cab_member", None, vec![]).await,
        cab2: t.user("cab2@example.com", "cab_member", None, vec![]).await,
        requester: t.user("req@example.com", "requester", None, vec![]).await,
        auditor: t.user("audit@example.com", "auditor", None, vec![]).await,
    }
}

fn low_risk() -> Value {
    json!({"done_before": "often", "tested": "fully", "complexity": "simple",
           "users": "few", "outage": "none", "backout": "easy"})
}

async fn service(t: &TestApp, code: &str) -> i64 {
    let admin = t
        .user(&format!("admin-{code}@example.com"), "admin", None, vec![])
        .await;
    let res = t
        .post(
            "/api/v1/services",
            &admin,
            json!({"code": code, "name_zh": "邮箱", "name_en": "Email"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

async fn create(t: &TestApp, u: &User, body: Value) -> Value {
    let res = t.post("/api/v1/changes", u, body).await;
    assert_eq!(res.status(), 201, "create change");
    res.json().await.unwrap()
}

async fn go(t: &TestApp, u: &User, id: i64, body: Value) -> reqwest::Response {
    t.post(&format!("/api/v1/changes/{id}/transitions"), u, body)
        .await
}

async fn go_ok(t: &TestApp, u: &User, id: i64, body: Value) -> Value {
    let res = go(t, u, id, body.clone()).await;
    assert_eq!(res.status(), 200, "transition {body}");
    res.json().await.unwrap()
}

async fn vote(t: &TestApp, u: &User, id: i64, decision: &str, comment: &str) -> reqwest::Response {
    t.post(
        &format!("/api/v1/changes/{id}/votes"),
        u,
        json!({"decision": decision, "comment": comment}),
    )
    .await
}

async fn changes_are_cancelled_with_a_reason_until_implementation_starts(t: &TestApp) {
    let p = cast(t).await;
    let normal = |title: &str| json!({"change_type": "normal", "title": title, "reason": "r", "risk_answers": low_risk()});
    // The raiser withdraws a draft; the reason is required and kept in the history.
    let d = create(t, &p.raiser, normal("Unneeded")).await;
    let id = d["id"].as_i64().unwrap();
    assert_eq!(d["next"], json!(["submitted", "cancelled"]));
    problem(
        go(t, &p.raiser, id, json!({"to": "cancelled"})).await,
        422,
        Some("cancel_reason"),
    )
    .await;
    let c = go_ok(
        t,
        &p.raiser,
        id,
        json!({"to": "cancelled", "cancel_reason": "duplicate of CHG-000002"}),
    )
    .await;
    assert_eq!(c["status"], "cancelled");
    assert_eq!(c["next"], json!([]));
    problem(
        go(t, &p.manager, id, json!({"to": "submitted"})).await,
        409,
        None,
    )
    .await;

    // Once submitted, only a change manager withdraws it; a scheduled one leaves the calendar.
    let c = create(t, &p.raiser, normal("Scheduled, then dropped")).await;
    let id = c["id"].as_i64().unwrap();
    go_ok(t, &p.raiser, id, json!({"to": "submitted"})).await;
    go_ok(t, &p.manager, id, json!({"to": "assessed"})).await;
    let reason = json!({"to": "cancelled", "cancel_reason": "vendor withdrew the patch"});
    for who in [&p.raiser, &p.cab1] {
        problem(go(t, who, id, reason.clone()).await, 403, None).await;
    }
    assert_eq!(vote(t, &p.cab1, id, "approve", "").await.status(), 200);
    assert_eq!(vote(t, &p.cab2, id, "approve", "").await.status(), 200);
    let window = json!({"to": "scheduled", "planned_start": "2030-03-10T02:00:00Z",
                        "planned_end": "2030-03-10T04:00:00Z"});
    go_ok(t, &p.manager, id, window).await;
    let calendar = "/api/v1/changes/calendar?from=2030-03-01T00:00:00Z&to=2030-04-01T00:00:00Z";
    let on_calendar = |v: Value| v["changes"].as_array().unwrap().len();
    let cal: Value = t.get(calendar, &p.manager).await.json().await.unwrap();
    assert_eq!(on_calendar(cal), 1);
    let c = go_ok(t, &p.manager, id, reason).await;
    assert_eq!(c["status"], "cancelled");
    let cal: Value = t.get(calendar, &p.manager).await.json().await.unwrap();
    assert_eq!(
        on_calendar(cal),
        0,
        "a cancelled change leaves the calendar"
    );
    let mut conn = t.app.read().await.unwrap();
    let reasons: Vec<(Option<String>,)> = sqlx::query_as(
        "SELECT new_value FROM audit_log WHERE entity = 'change' AND entity_id = $1 AND action = 'cancel'",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(
        reasons,
        vec![(Some("vendor withdrew the patch".to_string()),)]
    );
    drop(conn);
    // The history is read through the API and on the page, by staff only.
    let path = format!("/api/v1/changes/{id}/history");
    let h: Value = t.get(&path, &p.auditor).await.json().await.unwrap();
    let items = h["items"].as_array().unwrap();
    assert_eq!(items[0]["action"], "create");
    assert!(items
        .iter()
        .any(|e| e["action"] == "vote" && e["actor_id"] == p.cab1.id));
    assert!(items
        .iter()
        .any(|e| e["action"] == "cancel" && e["new_value"] == "vendor withdrew the patch"));
    problem(t.get(&path, &p.requester).await, 404, None).await;
    let b = Browser::login(t, "cm@example.com").await;
    let (_, html) = b.get(&format!("/changes/{id}")).await;
    assert!(html.contains("History") && html.contains("reason for cancelling"));
    assert!(html.contains("vendor withdrew the patch"));
}

async fn the_change_list_searches_filters_and_pages(t: &TestApp) {
    let p = cast(t).await;
    for i in 1..=51 {
        let kind = if i == 7 { "emergency" } else { "normal" };
        let title = if i == 7 {
            "数据库 100%_紧急扩容".to_string()
        } else {
            format!("Routine patch {i}")
        };
        create(
            t,
            &p.raiser,
            json!({"change_type": kind, "title": title, "risk_answers": low_risk()}),
        )
        .await;
    }
    let numbers = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["number"].as_str().unwrap().to_string())
            .collect()
    };
    // Words of the title, in any case, and the number; % and _ are plain characters.
    for q in ["100%_紧急", "chg-000007", "数据库"] {
        let url = format!("/api/v1/changes?q={}", urlencoding(q));
        let v: Value = t.get(&url, &p.manager).await.json().await.unwrap();
        assert_eq!(numbers(&v), vec!["CHG-000007"], "q={q}");
    }
    let v: Value = t
        .get("/api/v1/changes?q=100%25%25", &p.manager)
        .await
        .json()
        .await
        .unwrap();
    assert!(numbers(&v).is_empty(), "a literal %% matches nothing");
    let v: Value = t
        .get("/api/v1/changes?change_type=emergency", &p.manager)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(numbers(&v), vec!["CHG-000007"]);
    let long = "x".repeat(201);
    problem(
        t.get(&format!("/api/v1/changes?q={long}"), &p.manager)
            .await,
        422,
        Some("q"),
    )
    .await;

    // The page shows 50 and links the older ones with the same filters.
    let b = Browser::login(t, "cm@example.com").await;
    let (status, html) = b.get("/changes").await;
    assert_eq!(status, 200);
    assert!(html.contains("CHG-000051") && !html.contains("CHG-000001<"));
    let at = html.find("before=").expect("a link to older changes");
    let start = html[..at].rfind("/changes?").unwrap() + "/changes?".len();
    let end = at + html[at..].find('"').unwrap();
    let older = html[start..end].replace("&amp;", "&");
    let (status, html) = b.get(&format!("/changes?{older}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("CHG-000001<") && !html.contains("CHG-000051"));
    let (_, html) = b.get("/changes?q=routine+patch+5&change_type=normal").await;
    assert!(html.contains("Routine patch 5<") && html.contains("Routine patch 50<"));
    assert!(!html.contains("Routine patch 4<") && !html.contains("Older changes"));
}

/// Percent-encodes a query value (tests only; the server decodes with form_urlencoded).
fn urlencoding(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

async fn a_normal_change_goes_through_the_cab_and_review(t: &TestApp) {
    let p = cast(t).await;
    let svc = service(t, "MAIL").await;
    let c = create(
        t,
        &p.raiser,
        json!({"change_type": "normal", "title": "升级邮件服务器", "reason": "security fixes",
               "risk_answers": {"done_before": "never", "tested": "partly", "complexity": "moderate",
                                "users": "everyone", "outage": "short", "backout": "easy"},
               "implementation_plan": "patch", "backout_plan": "snapshot",
               "service_ids": [svc]}),
    )
    .await;
    assert_eq!(c["number"], "CHG-000001");
    assert_eq!(c["status"], "draft");
    // likelihood 1+2+1+1 = 5, impact 1+2+1 = 4 → 20 → high
    assert_eq!(
        (c["likelihood"].as_i64(), c["impact"].as_i64()),
        (Some(5), Some(4))
    );
    assert_eq!(c["risk"], "high");
    assert_eq!(c["services"][0]["id"], svc);
    let id = c["id"].as_i64().unwrap();

    // A stale If-Match is refused; the current one is accepted.
    let res = t
        .req(
            reqwest::Method::PATCH,
            &format!("/api/v1/changes/{id}"),
            &p.raiser,
        )
        .header("if-match", format!("\"{id}-9\""))
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap();
    problem(res, 412, None).await;
    let res = t
        .req(
            reqwest::Method::PATCH,
            &format!("/api/v1/changes/{id}"),
            &p.raiser,
        )
        .header("if-match", format!("\"{id}-1\""))
        .json(&json!({"test_plan": "smoke test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["etag"], format!("\"{id}-2\"").as_str());

    let c = go_ok(t, &p.raiser, id, json!({"to": "submitted"})).await;
    assert_eq!(c["cab_quorum"], 2);
    // Nobody votes before the assessment.
    problem(vote(t, &p.cab1, id, "approve", "").await, 409, None).await;
    let c = go_ok(t, &p.manager, id, json!({"to": "assessed"})).await;
    assert_eq!(c["open_for_votes"], true);

    // It waits for cab1's vote.
    let res = t
        .get("/api/v1/changes?awaiting_my_vote=true", &p.cab1)
        .await;
    let list: Value = res.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // The raiser cannot vote on their own change; a rejection needs a comment.
    problem(vote(t, &p.raiser, id, "approve", "").await, 403, None).await;
    problem(
        vote(t, &p.cab1, id, "reject", "").await,
        422,
        Some("comment"),
    )
    .await;
    let res = vote(t, &p.cab1, id, "approve", "looks fine").await;
    let c: Value = res.json().await.unwrap();
    assert_eq!(c["status"], "assessed", "one approval is below the quorum");
    problem(vote(t, &p.cab1, id, "approve", "").await, 409, None).await;
    let list: Value = t
        .get("/api/v1/changes?awaiting_my_vote=true", &p.cab1)
        .await
        .json()
        .await
        .unwrap();
    assert!(list["items"].as_array().unwrap().is_empty());
    let c: Value = vote(t, &p.cab2, id, "approve", "ok")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["status"], "approved");
    assert_eq!(c["votes"].as_array().unwrap().len(), 2);
    assert_eq!(c["votes"][0]["comment"], "looks fine");

    // Scheduling needs a window; then it runs and fails.
    problem(
        go(t, &p.manager, id, json!({"to": "scheduled"})).await,
        422,
        Some("planned_start"),
    )
    .await;
    go_ok(
        t,
        &p.manager,
        id,
        json!({"to": "scheduled", "planned_start": "2030-01-10T02:00:00Z", "planned_end": "2030-01-10T04:00:00Z"}),
    )
    .await;
    // Jumping ahead is refused with the allowed next steps.
    let body = problem(
        go(t, &p.manager, id, json!({"to": "closed"})).await,
        409,
        None,
    )
    .await;
    assert_eq!(
        body["allowed_transitions"],
        json!(["implementing", "scheduled", "cancelled"])
    );
    // Scheduling it again moves the window.
    let c = go_ok(
        t,
        &p.manager,
        id,
        json!({"to": "scheduled", "planned_start": "2030-01-11T02:00:00Z", "planned_end": "2030-01-11T05:00:00Z"}),
    )
    .await;
    assert_eq!(
        (&c["status"], &c["planned_start"], &c["planned_end"]),
        (
            &json!("scheduled"),
            &json!("2030-01-11T02:00:00Z"),
            &json!("2030-01-11T05:00:00Z")
        )
    );
    let c = go_ok(t, &p.manager, id, json!({"to": "implementing"})).await;
    assert!(c["actual_start"].is_string());
    let c = go_ok(t, &p.manager, id, json!({"to": "failed"})).await;
    assert_eq!(c["review_required"], true);
    assert_eq!(c["next"], json!(["reviewed"]));
    problem(
        go(t, &p.manager, id, json!({"to": "closed"})).await,
        409,
        None,
    )
    .await;
    problem(
        go(
            t,
            &p.manager,
            id,
            json!({"to": "reviewed", "review_outcome": "unsuccessful"}),
        )
        .await,
        422,
        Some("review_notes"),
    )
    .await;
    let c = go_ok(
        t,
        &p.manager,
        id,
        json!({"to": "reviewed", "review_notes": "driver mismatch", "review_outcome": "unsuccessful"}),
    )
    .await;
    assert_eq!(c["review_notes"], "driver mismatch");
    let c = go_ok(t, &p.manager, id, json!({"to": "closed"})).await;
    assert_eq!(c["status"], "closed");

    // Every step is in the audit log.
    let mut conn = t.app.read().await.unwrap();
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT action, new_value FROM audit_log WHERE entity = 'change' AND entity_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert!(actions.contains(&"create") && actions.contains(&"cab_decision"));
    assert_eq!(actions.iter().filter(|a| **a == "vote").count(), 2);
    assert!(rows.iter().any(|r| r.1.as_deref() == Some("closed")));
}

async fn standard_changes_skip_the_cab_and_emergencies_need_a_review(t: &TestApp) {
    let p = cast(t).await;
    // Only the change manager makes templates.
    let tpl = json!({"name_zh": "服务器补丁", "name_en": "Server patching",
                     "implementation_plan": "apply the monthly patches", "backout_plan": "uninstall", "risk": "low"});
    problem(
        t.post("/api/v1/change-templates", &p.raiser, tpl.clone())
            .await,
        403,
        None,
    )
    .await;
    problem(
        t.post(
            "/api/v1/change-templates",
            &p.manager,
            json!({"name_zh": "x", "name_en": "x",
            "implementation_plan": "x", "backout_plan": "x", "risk": "huge"}),
        )
        .await,
        422,
        Some("risk"),
    )
    .await;
    let res = t.post("/api/v1/change-templates", &p.manager, tpl).await;
    assert_eq!(res.status(), 201);
    let tid = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();

    problem(
        t.post(
            "/api/v1/changes",
            &p.raiser,
            json!({"change_type": "standard", "title": "patch"}),
        )
        .await,
        422,
        Some("template_id"),
    )
    .await;
    let c = create(
        t,
        &p.raiser,
        json!({"change_type": "standard", "template_id": tid, "title": "Patch web01"}),
    )
    .await;
    assert_eq!(c["implementation_plan"], "apply the monthly patches");
    assert_eq!(c["risk"], "low");
    let id = c["id"].as_i64().unwrap();
    let c = go_ok(t, &p.raiser, id, json!({"to": "approved"})).await;
    assert_eq!(c["status"], "approved");
    assert!(c["votes"].as_array().unwrap().is_empty());
    // An implemented standard change may close without a review.
    for to in ["scheduled", "implementing", "implemented"] {
        let mut body = json!({"to": to});
        if to == "scheduled" {
            body = json!({"to": to, "planned_start": "2030-02-01T01:00:00Z", "planned_end": "2030-02-01T02:00:00Z"});
        }
        go_ok(t, &p.manager, id, body).await;
    }
    go_ok(t, &p.manager, id, json!({"to": "closed"})).await;

    // Emergency: the ECAB (quorum 1 by default) decides straight after submission.
    let settings: Value = t
        .get("/api/v1/changes/settings", &p.auditor)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(settings, json!({"cab_quorum": 2, "ecab_quorum": 1}));
    problem(
        t.req(reqwest::Method::PUT, "/api/v1/changes/settings", &p.manager)
            .json(&json!({"cab_quorum": 0, "ecab_quorum": 1}))
            .send()
            .await
            .unwrap(),
        422,
        Some("cab_quorum"),
    )
    .await;
    let e = create(
        t,
        &p.raiser,
        json!({"change_type": "emergency", "title": "Fix the firewall rule", "risk_answers": low_risk()}),
    )
    .await;
    let id = e["id"].as_i64().unwrap();
    let e = go_ok(t, &p.raiser, id, json!({"to": "submitted"})).await;
    assert_eq!(e["cab_quorum"], 1);
    assert_eq!(e["open_for_votes"], true);
    let e: Value = vote(t, &p.cab1, id, "approve", "go")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(e["status"], "approved");
    for to in ["scheduled", "implementing", "implemented"] {
        let mut body = json!({"to": to});
        if to == "scheduled" {
            body = json!({"to": to, "planned_start": "2030-02-02T01:00:00Z", "planned_end": "2030-02-02T02:00:00Z"});
        }
        go_ok(t, &p.manager, id, body).await;
    }
    let e: Value = t
        .get(&format!("/api/v1/changes/{id}"), &p.manager)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(e["review_required"], true);
    problem(
        go(t, &p.manager, id, json!({"to": "closed"})).await,
        409,
        None,
    )
    .await;

    // A rejection rejects, whatever the approvals.
    let n = create(
        t,
        &p.raiser,
        json!({"change_type": "normal", "title": "Risky", "risk_answers": low_risk()}),
    )
    .await;
    let nid = n["id"].as_i64().unwrap();
    go_ok(t, &p.raiser, nid, json!({"to": "submitted"})).await;
    go_ok(t, &p.manager, nid, json!({"to": "assessed"})).await;
    vote(t, &p.cab1, nid, "approve", "").await;
    let n: Value = vote(t, &p.cab2, nid, "reject", "no back-out tested")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(n["status"], "rejected");
}

async fn who_may_do_what_with_changes(t: &TestApp) {
    let p = cast(t).await;
    let c = create(
        t,
        &p.raiser,
        json!({"change_type": "normal", "title": "Move the NAS"}),
    )
    .await;
    let id = c["id"].as_i64().unwrap();
    let path = format!("/api/v1/changes/{id}");
    // Requesters: changes do not exist.
    problem(t.get(&path, &p.requester).await, 404, None).await;
    problem(t.get("/api/v1/changes", &p.requester).await, 404, None).await;
    problem(
        t.post(
            "/api/v1/changes",
            &p.requester,
            json!({"change_type": "normal", "title": "x"}),
        )
        .await,
        404,
        None,
    )
    .await;
    problem(
        t.get("/api/v1/changes/calendar.ics", &p.requester).await,
        404,
        None,
    )
    .await;
    // Auditors read and change nothing.
    assert_eq!(t.get(&path, &p.auditor).await.status(), 200);
    problem(
        t.post(
            "/api/v1/changes",
            &p.auditor,
            json!({"change_type": "normal", "title": "x"}),
        )
        .await,
        403,
        None,
    )
    .await;
    problem(vote(t, &p.auditor, id, "approve", "").await, 403, None).await;
    // Another agent may not edit or submit someone else's draft.
    let other = t.user("other@example.com", "agent", None, vec![]).await;
    problem(
        t.patch(&path, &other, json!({"title": "mine"})).await,
        403,
        None,
    )
    .await;
    problem(
        go(t, &other, id, json!({"to": "submitted"})).await,
        403,
        None,
    )
    .await;
    // Submitting needs the risk assessment; bad answers name the field.
    problem(
        go(t, &p.raiser, id, json!({"to": "submitted"})).await,
        422,
        Some("risk_answers"),
    )
    .await;
    problem(
        t.patch(
            &path,
            &p.raiser,
            json!({"risk_answers": {"tested": "maybe"}}),
        )
        .await,
        422,
        Some("risk_answers"),
    )
    .await;
    t.patch(&path, &p.raiser, json!({"risk_answers": low_risk()}))
        .await;
    go_ok(t, &p.raiser, id, json!({"to": "submitted"})).await;
    // Only change managers assess; drafts only are edited.
    problem(
        go(t, &p.cab1, id, json!({"to": "assessed"})).await,
        403,
        None,
    )
    .await;
    problem(
        t.patch(&path, &p.raiser, json!({"title": "late"})).await,
        409,
        None,
    )
    .await;
    // Bad input is 422 naming the field, never a partial write.
    for (body, field) in [
        (
            json!({"change_type": "weekly", "title": "x"}),
            "change_type",
        ),
        (json!({"change_type": "normal", "title": " "}), "title"),
        (
            json!({"change_type": "normal", "title": "x", "planned_start": "soon"}),
            "planned_start",
        ),
        (
            json!({"change_type": "normal", "title": "x", "planned_start": "2030-01-01T02:00:00Z", "planned_end": "2030-01-01T01:00:00Z"}),
            "planned_end",
        ),
        (
            json!({"change_type": "normal", "title": "x", "ci_ids": [999]}),
            "ci_ids[0]",
        ),
        (
            json!({"change_type": "normal", "title": "x", "service_ids": [999]}),
            "service_ids[0]",
        ),
        (
            json!({"change_type": "normal", "title": "x", "colour": "red"}),
            "colour",
        ),
    ] {
        problem(
            t.post("/api/v1/changes", &p.raiser, body).await,
            422,
            Some(field),
        )
        .await;
    }
    let list: Value = t
        .get("/api/v1/changes?limit=10", &p.auditor)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "nothing half-written"
    );
    problem(
        t.get("/api/v1/changes?status=open", &p.auditor).await,
        422,
        Some("status"),
    )
    .await;
    // Freeze periods and templates are the change manager's.
    let freeze = json!({"name": "Year end", "starts_at": "2030-12-20T00:00:00Z", "ends_at": "2031-01-03T00:00:00Z"});
    problem(
        t.post("/api/v1/freeze-periods", &p.cab1, freeze.clone())
            .await,
        403,
        None,
    )
    .await;
    assert_eq!(
        t.post("/api/v1/freeze-periods", &p.manager, freeze)
            .await
            .status(),
        201
    );
}

/// Parses the feed with Python's icalendar; prints one line per event.
fn python_events(ics: &[u8]) -> Vec<String> {
    let script = "import sys, icalendar\n\
        cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())\n\
        for e in cal.walk('VEVENT'):\n\
        \x20   print('|'.join([str(e['UID']), str(e['SUMMARY']), e['DTSTART'].dt.isoformat(), e['DTEND'].dt.isoformat(), str(e['STATUS']), str(e.get('URL', ''))]))";
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(ics).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "icalendar could not read the feed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

async fn the_calendar_flags_conflicts_and_freezes_and_feeds_ics(t: &TestApp) {
    let p = cast(t).await;
    let svc = service(t, "ERP").await;
    let soon = jiff::Timestamp::now().as_second() / 86_400 * 86_400 + 10 * 86_400;
    let at = |h: i64| {
        jiff::Timestamp::from_second(soon + h * 3600)
            .unwrap()
            .to_string()
    };
    let freeze: Value = t
        .post(
            "/api/v1/freeze-periods",
            &p.manager,
            json!({"name": "春节封网, \"year end\"", "reason": "holiday; no changes", "starts_at": at(24), "ends_at": at(72)}),
        )
        .await
        .json()
        .await
        .unwrap();
    let long_title =
        "Upgrade ERP, phase 2; 数据库迁移 and a very long title that needs folding in the feed";
    let mut ids = vec![];
    for (title, start, end) in [
        (long_title, 0, 4),
        ("ERP index rebuild", 2, 6),
        ("ERP in the freeze", 30, 32),
    ] {
        let c = create(
            t,
            &p.raiser,
            json!({"change_type": "normal", "title": title, "risk_answers": low_risk(), "service_ids": [svc],
                   "planned_start": at(start), "planned_end": at(end)}),
        )
        .await;
        let id = c["id"].as_i64().unwrap();
        go_ok(t, &p.raiser, id, json!({"to": "submitted"})).await;
        go_ok(t, &p.manager, id, json!({"to": "assessed"})).await;
        vote(t, &p.cab1, id, "approve", "").await;
        vote(t, &p.cab2, id, "approve", "").await;
        ids.push(id);
    }
    go_ok(t, &p.manager, ids[0], json!({"to": "scheduled"})).await;
    go_ok(t, &p.manager, ids[1], json!({"to": "scheduled"})).await;
    // Into the freeze only with a reason.
    problem(
        go(t, &p.manager, ids[2], json!({"to": "scheduled"})).await,
        409,
        None,
    )
    .await;
    go_ok(
        t,
        &p.manager,
        ids[2],
        json!({"to": "scheduled", "override_reason": "statutory deadline"}),
    )
    .await;

    let cal: Value = t
        .get(
            &format!("/api/v1/changes/calendar?from={}&to={}", at(-24), at(96)),
            &p.auditor,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cal["changes"].as_array().unwrap().len(), 3);
    let conflicts = cal["conflicts"].as_array().unwrap();
    assert!(conflicts.contains(&json!({"kind": "overlap", "change_ids": [ids[0], ids[1]], "ci_ids": [], "service_ids": [svc], "freeze_id": null})));
    assert!(conflicts.contains(&json!({"kind": "freeze", "change_ids": [ids[2]], "ci_ids": [], "service_ids": [], "freeze_id": freeze["id"]})));
    assert_eq!(conflicts.len(), 2);
    // Each change's page names its own conflicts.
    let b = Browser::login(t, "cm@example.com").await;
    let (_, html) = b.get(&format!("/changes/{}", ids[0])).await;
    assert!(html.contains("In its planned window") && html.contains("CHG-000002</a>"));
    assert!(html.contains("both touch Email"));
    let (_, html) = b.get(&format!("/changes/{}", ids[2])).await;
    assert!(html.contains("In a freeze period") && html.contains("year end"));
    assert!(!html.contains("CHG-000001</a>"));
    problem(
        t.get(
            "/api/v1/changes/calendar?from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z",
            &p.auditor,
        )
        .await,
        422,
        Some("to"),
    )
    .await;

    // The feed: without a token 401; with ?token= (calendar programs) or a Bearer token.
    let res = t
        .client
        .get(format!("{}/api/v1/changes/calendar.ics", t.base))
        .send()
        .await
        .unwrap();
    problem(res, 401, Some("token")).await;
    let res = t
        .client
        .get(format!(
            "{}/api/v1/changes/calendar.ics?token=stw_wrong",
            t.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = t
        .client
        .get(format!(
            "{}/api/v1/changes/calendar.ics?token={}",
            t.base, p.cab1.token
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/calendar"));
    let body = res.bytes().await.unwrap();
    let text = std::str::from_utf8(&body).unwrap();
    assert!(
        text.lines().all(|l| l.len() <= 76),
        "lines folded at 75 octets"
    );
    assert!(text.contains("\r\n "), "the long title was folded");
    let events = python_events(&body);
    assert_eq!(events.len(), 4, "{events:?}");
    let first = events
        .iter()
        .find(|e| e.contains(&format!("change-{}@", ids[0])))
        .unwrap();
    let f: Vec<&str> = first.split('|').collect();
    assert_eq!(f[1], format!("CHG-000001 {long_title}"));
    let start = jiff::Timestamp::from_second(soon).unwrap();
    assert_eq!(f[2], start.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_string());
    assert_eq!(f[4], "CONFIRMED");
    assert!(f[5].ends_with(&format!("/changes/{}", ids[0])));
    assert!(events
        .iter()
        .any(|e| e.contains("Freeze: 春节封网, \"year end\"")));
    let bearer = t.get("/api/v1/changes/calendar.ics", &p.auditor).await;
    assert_eq!(bearer.status(), 200);
}

async fn change_pages_work_in_both_languages(t: &TestApp) {
    let p = cast(t).await;
    let svc = service(t, "WEB").await;
    let b = Browser::login(t, "dev@example.com").await;
    let (status, html) = b.get("/changes/new").await;
    assert_eq!(status, 200);
    assert!(html.contains("Has it been tested?"));
    let (status, html) = b
        .post(
            "/changes/new",
            "/changes/new",
            &[("change_type", "normal"), ("title", "")],
        )
        .await;
    assert_eq!(status, 422, "{html}");
    let svc_s = svc.to_string();
    let (status, location) = b
        .post(
            "/changes/new",
            "/changes/new",
            &[
                ("change_type", "normal"),
                ("title", "Renew <TLS> certificate"),
                ("service_ids", svc_s.as_str()),
                ("risk_done_before", "often"),
                ("risk_tested", "fully"),
                ("risk_complexity", "simple"),
                ("risk_users", "few"),
                ("risk_outage", "none"),
                ("risk_backout", "easy"),
                ("planned_start", "2030-03-01T10:00"),
                ("planned_end", "2030-03-01T11:00"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (status, html) = b.get(&location).await;
    assert_eq!(status, 200);
    assert!(html.contains("Renew &#60;TLS&#62; certificate"));
    assert!(html.contains("Submit to the CAB"));
    let id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
    let c: Value = t
        .get(&format!("/api/v1/changes/{id}"), &p.manager)
        .await
        .json()
        .await
        .unwrap();
    // 10:00 in Asia/Shanghai (the default zone) is 02:00 UTC.
    assert_eq!(c["planned_start"], "2030-03-01T02:00:00Z");

    // The raiser edits the draft in the same form, filled with what was saved.
    let edit = format!("/changes/{id}/edit");
    assert!(b.get(&location).await.1.contains(&edit));
    let (status, html) = b.get(&edit).await;
    assert_eq!(status, 200);
    assert!(html.contains("value=\"2030-03-01T10:00\""), "{html}");
    assert!(html.contains("value=\"fully\" checked"));
    let mut fields = vec![
        ("version", "1"),
        ("title", "Renew the TLS certificate"),
        ("service_ids", svc_s.as_str()),
        ("risk_done_before", "often"),
        ("risk_tested", "fully"),
        ("risk_complexity", "simple"),
        ("risk_users", "few"),
        ("risk_outage", "none"),
        ("risk_backout", "easy"),
        ("planned_start", "2030-03-01T11:00"),
        ("planned_end", "2030-03-01T12:00"),
        ("ci_ids", "web-01"),
    ];
    let (status, html) = b.post(&edit, &edit, &fields).await;
    assert_eq!(status, 422, "a CI named without its number");
    assert!(
        html.contains("Renew the TLS certificate"),
        "the typed form is kept"
    );
    fields.pop();
    let (status, _) = b.post(&edit, &edit, &fields).await;
    assert_eq!(status, 303);
    let c: Value = t
        .get(&format!("/api/v1/changes/{id}"), &p.manager)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["title"], "Renew the TLS certificate");
    assert_eq!(c["planned_start"], "2030-03-01T03:00:00Z");
    assert_eq!(c["version"], 2);
    // A CAB member may read the draft but not edit it.
    let cab = Browser::login(t, "cab1@example.com").await;
    assert!(!cab.get(&location).await.1.contains(&edit));
    fields[0] = ("version", "2");
    assert_eq!(cab.post(&location, &edit, &fields).await.0, 403);

    let (status, _) = b
        .post(
            &location,
            &format!("/changes/{id}/transition"),
            &[("to", "submitted"), ("version", "2")],
        )
        .await;
    assert_eq!(status, 303);

    let m = Browser::login(t, "cm@example.com").await;
    let (status, _) = m
        .post(
            &location,
            &format!("/changes/{id}/transition"),
            &[("to", "assessed"), ("version", "3")],
        )
        .await;
    assert_eq!(status, 303);
    let (_, html) = cab.get("/changes?mine=votes").await;
    assert!(html.contains("Renew the TLS certificate"));
    let (status, _) = cab
        .post(
            &location,
            &format!("/changes/{id}/vote"),
            &[("decision", "approve"), ("comment", "ok")],
        )
        .await;
    assert_eq!(status, 303);
    let (_, html) = cab.get(&location).await;
    assert!(html.contains("ok"));

    for path in [
        "/changes",
        "/changes/calendar",
        "/changes/calendar?view=month&date=2030-03-01",
        "/changes/calendar?view=week&date=2030-03-01",
        "/changes/setup",
    ] {
        let (status, html) = m.get(path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!html.contains("Unknown localization key"), "{path}");
    }
    let (_, html) = m.get("/changes/calendar?view=month&date=2030-03-01").await;
    assert!(html.contains("CHG-000001"));
    let (status, _) = m.get("/changes/calendar?date=someday").await;
    assert_eq!(status, 422);
    let (status, _) = m
        .post(
            "/changes/setup",
            "/changes/setup/freezes",
            &[
                ("name", "Quarter end"),
                ("starts_at", "2030-03-30T00:00"),
                ("ends_at", "2030-04-01T00:00"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    // A freeze can cover one service; the list says what each one covers.
    let (status, _) = m
        .post(
            "/changes/setup",
            "/changes/setup/freezes",
            &[
                ("name", "Mail migration"),
                ("starts_at", "2030-05-01T00:00"),
                ("ends_at", "2030-05-02T00:00"),
                ("service_id", svc_s.as_str()),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (_, html) = m.get("/changes/setup").await;
    assert!(html.contains("Quarter end") && html.contains("every change"));
    assert!(html.contains("Mail migration") && html.contains(" · Email"));

    // In Chinese, for a user whose language is zh-CN.
    steward_server::app::accounts::create_user(
        &t.app,
        &TestApp::system(),
        steward_server::app::accounts::NewUserInput {
            email: "li@example.com".into(),
            name: "李".into(),
            role: "cab_member".into(),
            password: Some(crate::common::PASSWORD.into()),
            organization_id: None,
            team_ids: vec![],
            locale: Some("zh-CN".into()),
        },
        None,
    )
    .await
    .unwrap();
    let zh = Browser::login(t, "li@example.com").await;
    let (status, html) = zh.get("/changes/calendar?view=week&date=2030-03-01").await;
    assert_eq!(status, 200);
    assert!(html.contains("变更日历") && html.contains("周一"), "{html}");
    let (_, html) = zh.get(&location).await;
    assert!(html.contains("已评估") || html.contains("已批准"), "{html}");

    // Requesters: no such page.
    let r = Browser::login(t, "req@example.com").await;
    let (status, _) = r.get(&location).await;
    assert_eq!(status, 404);
    let (status, _) = r.get("/changes/calendar").await;
    assert_eq!(status, 404);
}

async fn a_busy_day_in_the_month_view_links_to_the_week(t: &TestApp) {
    let p = cast(t).await;
    for n in 1..=10 {
        let c = create(
            t,
            &p.raiser,
            json!({"change_type": "normal", "title": format!("Busy change {n:02}"), "risk_answers": low_risk(),
                   "planned_start": "2030-04-10T02:00:00Z", "planned_end": "2030-04-10T03:00:00Z"}),
        )
        .await;
        go_ok(
            t,
            &p.raiser,
            c["id"].as_i64().unwrap(),
            json!({"to": "submitted"}),
        )
        .await;
    }
    let m = Browser::login(t, "cm@example.com").await;
    let (status, month) = m.get("/changes/calendar?view=month&date=2030-04-01").await;
    assert_eq!(status, 200);
    let shown: Vec<u32> = (1..=10)
        .filter(|n| month.contains(&format!("Busy change {n:02}")))
        .collect();
    assert_eq!(shown, (1..=8).collect::<Vec<_>>(), "the cell lists eight");
    assert!(month.contains("+2 more"));
    assert!(month.contains("/changes/calendar?view=week&amp;date=2030-04-10"));
    let (_, week) = m.get("/changes/calendar?view=week&date=2030-04-10").await;
    assert!((1..=10).all(|n| week.contains(&format!("Busy change {n:02}"))));
    assert!(!week.contains("+2 more"));
}
