//! Releases: the changes they group, the acceptance checklist, go-live approval and deployment.

use crate::common::{problem, Browser, TestApp, User};
use crate::on_both_databases;
use serde_json::{json, Value};

on_both_databases!(
    a_release_runs_from_planning_to_live_and_takes_its_service_live,
    go_live_waits_for_the_checklist_and_another_manager,
    a_change_belongs_to_one_release,
    who_may_see_and_run_releases,
    bad_input_names_the_field_and_writes_nothing,
    release_pages_in_both_languages,
);

struct World {
    manager: User,
    other_manager: User,
    agent: User,
    auditor: User,
    requester: User,
    service_id: i64,
}

async fn world(t: &TestApp) -> World {
    let admin = t.user("admin@rel.test", "admin", None, vec![]).await;
    let org = t.org("Acme", false).await;
    let res = t
        .post(
            "/api/v1/services",
            &admin,
            json!({"code": "PAY", "name_zh": "支付平台", "name_en": "Payments", "lifecycle": "transition"}),
        )
        .await;
    assert_eq!(res.status(), 201, "service");
    let service: Value = res.json().await.unwrap();
    World {
        manager: t.user("cm@rel.test", "change_manager", None, vec![]).await,
        other_manager: t.user("sm@rel.test", "service_manager", None, vec![]).await,
        agent: t.user("agent@rel.test", "agent", None, vec![]).await,
        auditor: t.user("auditor@rel.test", "auditor", None, vec![]).await,
        requester: t.user("req@rel.test", "requester", Some(org), vec![]).await,
        service_id: service["id"].as_i64().unwrap(),
    }
}

/// Makes a change record. Until the change API lands this writes the row with plain SQL;
/// it is the one place to switch to `POST /api/v1/changes`.
async fn change(t: &TestApp, requester: &User, number: &str, title: &str) -> i64 {
    let now = jiff::Timestamp::now().as_microsecond();
    let row: (i64,) = sqlx::query_as(
        "INSERT INTO changes (number, change_type, title, reason, description, status, requester_id, \
         implementation_plan, test_plan, backout_plan, planned_start, planned_end, version, created_at, updated_at) \
         VALUES ($1, 'normal', $2, 'test', '', 'approved', $3, 'plan', 'test', 'back out', $4, $5, 1, $4, $4) RETURNING id",
    )
    .bind(number)
    .bind(title)
    .bind(requester.id)
    .bind(now)
    .bind(now + 3_600_000_000)
    .fetch_one(&t.app.store.pool)
    .await
    .unwrap();
    row.0
}

async fn create_release(t: &TestApp, w: &World, title: &str) -> Value {
    let res = t
        .post(
            "/api/v1/releases",
            &w.manager,
            json!({"title": title, "description": "二季度版本", "service_id": w.service_id,
                   "version_label": "2.4.0", "release_type": "minor", "planned_date": "2026-12-01"}),
        )
        .await;
    assert_eq!(res.status(), 201, "create release");
    res.json().await.unwrap()
}

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

async fn set_status(t: &TestApp, user: &User, id: i64, status: &str) -> reqwest::Response {
    t.patch(
        &format!("/api/v1/releases/{id}"),
        user,
        json!({ "status": status }),
    )
    .await
}

/// Passes every check of the release's checklist.
async fn pass_all(t: &TestApp, user: &User, r: &Value) {
    let id = r["id"].as_i64().unwrap();
    for c in r["checklist"].as_array().unwrap() {
        ok(t.post(
            &format!("/api/v1/releases/{id}/checklist/{}", c["id"]),
            user,
            json!({"result": "passed", "note": "ok"}),
        )
        .await)
        .await;
    }
}

async fn audit_count(t: &TestApp, entity: &str, id: i64, field: &str) -> i64 {
    let row: (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_log WHERE entity = $1 AND entity_id = $2 AND field = $3",
    )
    .bind(entity)
    .bind(id)
    .bind(field)
    .fetch_one(&t.app.store.pool)
    .await
    .unwrap();
    row.0
}

async fn a_release_runs_from_planning_to_live_and_takes_its_service_live(t: &TestApp) {
    let w = world(t).await;
    let c1 = change(t, &w.agent, "CHG-900001", "Upgrade payment gateway").await;
    let c2 = change(t, &w.agent, "CHG-900002", "New fraud rules").await;
    let r = create_release(t, &w, "支付平台 2.4").await;
    assert_eq!(r["number"], "REL-000001");
    assert_eq!(r["status"], "planning");
    assert_eq!(r["owner_id"], w.manager.id);
    let checks = r["checklist"].as_array().unwrap();
    assert_eq!(checks.len(), 5, "default checklist");
    assert_eq!(checks[0]["text_zh"], "功能验收");
    assert_eq!(checks[2]["text_en"], "Operations handover");
    assert_eq!(checks[4]["mandatory"], false);
    assert_eq!(r["checklist_complete"], false);
    let id = r["id"].as_i64().unwrap();

    // Group the changes, with If-Match.
    let res = t
        .req(
            reqwest::Method::POST,
            &format!("/api/v1/releases/{id}/changes"),
            &w.manager,
        )
        .header("if-match", format!("\"{id}-1\""))
        .json(&json!({ "change_id": c1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["etag"], format!("\"{id}-2\""));
    ok(res).await;
    let r = ok(t
        .post(
            &format!("/api/v1/releases/{id}/changes"),
            &w.manager,
            json!({ "change_id": c2 }),
        )
        .await)
    .await;
    let numbers: Vec<&str> = r["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["CHG-900001", "CHG-900002"]);
    assert_eq!(r["changes"][0]["status"], "approved");
    // A stale If-Match is refused.
    let res = t
        .req(
            reqwest::Method::DELETE,
            &format!("/api/v1/releases/{id}/changes/{c2}"),
            &w.manager,
        )
        .header("if-match", format!("\"{id}-1\""))
        .send()
        .await
        .unwrap();
    problem(res, 412, None).await;

    // Checks are recorded only in testing.
    let check = r["checklist"][0]["id"].as_i64().unwrap();
    let res = t
        .post(
            &format!("/api/v1/releases/{id}/checklist/{check}"),
            &w.manager,
            json!({"result": "passed"}),
        )
        .await;
    problem(res, 409, None).await;
    ok(set_status(t, &w.manager, id, "building").await).await;
    let r = ok(set_status(t, &w.manager, id, "testing").await).await;
    assert_eq!(
        r["allowed_transitions"],
        json!(["awaiting_go_live", "building", "cancelled"])
    );
    // A custom mandatory check joins the list.
    let r = ok(t
        .post(
            &format!("/api/v1/releases/{id}/checklist"),
            &w.manager,
            json!({"text_en": "Card payments reconciled", "mandatory": true}),
        )
        .await)
    .await;
    assert_eq!(r["checklist"][5]["text_zh"], "Card payments reconciled");
    // A check added by mistake is removed rather than falsely passed; the log keeps it.
    let r = ok(t
        .post(
            &format!("/api/v1/releases/{id}/checklist"),
            &w.manager,
            json!({"text_en": "Fax gateway tested", "mandatory": true}),
        )
        .await)
    .await;
    let wrong = r["checklist"][6]["id"].as_i64().unwrap();
    let path = format!("/api/v1/releases/{id}/checklist/{wrong}");
    let res = t
        .req(reqwest::Method::DELETE, &path, &w.agent)
        .send()
        .await
        .unwrap();
    assert!(
        matches!(res.status().as_u16(), 403 | 404),
        "an agent cannot"
    );
    let res = t
        .req(reqwest::Method::DELETE, &path, &w.manager)
        .send()
        .await
        .unwrap();
    let r = ok(res).await;
    assert_eq!(r["checklist"].as_array().unwrap().len(), 6);
    let res = t
        .req(reqwest::Method::DELETE, &path, &w.manager)
        .send()
        .await
        .unwrap();
    problem(res, 404, None).await;
    let h: Value = t
        .get(&format!("/api/v1/releases/{id}/history"), &w.manager)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        h.to_string().contains("Fax gateway tested (mandatory)"),
        "{h}"
    );
    pass_all(t, &w.manager, &r).await;
    let r = ok(set_status(t, &w.manager, id, "awaiting_go_live").await).await;
    assert_eq!(r["checklist_complete"], true);
    assert_eq!(r["checklist"][0]["checked_by"], w.manager.id);

    // Another manager approves.
    let r = ok(t
        .post(
            &format!("/api/v1/releases/{id}/go-live"),
            &w.other_manager,
            json!({"decision": "approved", "comment": "CAB agreed, window Saturday"}),
        )
        .await)
    .await;
    assert_eq!(r["status"], "approved");
    assert_eq!(r["approvals"][0]["comment"], "CAB agreed, window Saturday");

    // The deployment record takes the release and its service live.
    let res = t
        .post(
            &format!("/api/v1/releases/{id}/deployments"),
            &w.manager,
            json!({"started_at": "2026-12-05T14:00:00Z", "finished_at": "2026-12-05T15:30:00Z",
                   "outcome": "success", "notes": "smooth", "deployed_by": w.agent.id}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["status"], "live");
    assert_eq!(r["deployments"][0]["deployed_by"], w.agent.id);
    assert_eq!(r["deployments"][0]["started_at"], "2026-12-05T14:00:00Z");
    let service = ok(t
        .get(&format!("/api/v1/services/{}", w.service_id), &w.manager)
        .await)
    .await;
    assert_eq!(service["lifecycle"], "live");
    assert_eq!(
        audit_count(t, "service", w.service_id, "lifecycle").await,
        1
    );

    // A second release going live leaves the live service as it is.
    let r2 = create_release(t, &w, "支付平台 2.5").await;
    let id2 = r2["id"].as_i64().unwrap();
    ok(set_status(t, &w.manager, id2, "building").await).await;
    ok(set_status(t, &w.manager, id2, "testing").await).await;
    pass_all(t, &w.manager, &r2).await;
    ok(set_status(t, &w.manager, id2, "awaiting_go_live").await).await;
    ok(t.post(
        &format!("/api/v1/releases/{id2}/go-live"),
        &w.other_manager,
        json!({"decision": "approved", "comment": "ok"}),
    )
    .await)
    .await;
    let r2 = ok(t
        .post(
            &format!("/api/v1/releases/{id2}/deployments"),
            &w.manager,
            json!({"started_at": "2026-12-12T14:00:00Z", "finished_at": "2026-12-12T14:10:00Z",
                   "outcome": "rolled_back", "notes": "timeouts; rolled back"}),
        )
        .await)
    .await;
    assert_eq!(r2["status"], "rolled_back");
    assert_eq!(r2["allowed_transitions"], json!(["building", "closed"]));
    assert_eq!(
        audit_count(t, "service", w.service_id, "lifecycle").await,
        1
    );

    // Live releases close; every step is in the history.
    let r = ok(set_status(t, &w.manager, id, "closed").await).await;
    assert_eq!(r["status"], "closed");
    let h = ok(t
        .get(&format!("/api/v1/releases/{id}/history"), &w.auditor)
        .await)
    .await;
    let actions: Vec<&str> = h["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "create",
        "add_change",
        "check",
        "add_check",
        "go_live_decision",
        "deployment",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let statuses: Vec<&str> = h["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["field"] == "status")
        .map(|e| e["new_value"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "building",
            "testing",
            "awaiting_go_live",
            "approved",
            "live",
            "closed"
        ]
    );

    // Lists filter by status and page with a cursor.
    let page = ok(t
        .get("/api/v1/releases?status=open&limit=1", &w.auditor)
        .await)
    .await;
    assert_eq!(page["items"][0]["number"], "REL-000002");
    let page = ok(t.get("/api/v1/releases?limit=1", &w.auditor).await).await;
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let page = ok(t
        .get(
            &format!("/api/v1/releases?limit=1&cursor={cursor}"),
            &w.auditor,
        )
        .await)
    .await;
    assert_eq!(page["items"][0]["number"], "REL-000001");
}

async fn go_live_waits_for_the_checklist_and_another_manager(t: &TestApp) {
    let w = world(t).await;
    let r = create_release(t, &w, "Checklist gate").await;
    let id = r["id"].as_i64().unwrap();
    ok(set_status(t, &w.manager, id, "building").await).await;
    // Skipping a step names the allowed ones.
    let body = problem(
        set_status(t, &w.manager, id, "awaiting_go_live").await,
        409,
        None,
    )
    .await;
    assert!(body.to_string().contains("testing"), "{body}");
    problem(set_status(t, &w.manager, id, "live").await, 409, None).await;
    ok(set_status(t, &w.manager, id, "testing").await).await;

    // A failed mandatory check holds the release back; a failure needs a note.
    let checks = r["checklist"].as_array().unwrap().clone();
    let path = |c: &Value| format!("/api/v1/releases/{id}/checklist/{}", c["id"]);
    let res = t
        .post(&path(&checks[1]), &w.manager, json!({"result": "failed"}))
        .await;
    problem(res, 422, Some("note")).await;
    for (i, c) in checks.iter().enumerate() {
        let result = if i == 1 { "failed" } else { "passed" };
        ok(t.post(
            &path(c),
            &w.manager,
            json!({"result": result, "note": "p95 1.8 s"}),
        )
        .await)
        .await;
    }
    problem(
        set_status(t, &w.manager, id, "awaiting_go_live").await,
        409,
        None,
    )
    .await;
    // The optional check failing does not hold it back.
    ok(t.post(
        &path(&checks[1]),
        &w.manager,
        json!({"result": "passed", "note": "p95 0.4 s"}),
    )
    .await)
    .await;
    ok(t.post(
        &path(&checks[4]),
        &w.manager,
        json!({"result": "failed", "note": "training next week"}),
    )
    .await)
    .await;
    ok(set_status(t, &w.manager, id, "awaiting_go_live").await).await;

    // The owner does not approve their own release; agents cannot at all.
    let decide = |decision: &str| json!({"decision": decision, "comment": "reviewed"});
    let go = format!("/api/v1/releases/{id}/go-live");
    problem(t.post(&go, &w.manager, decide("approved")).await, 403, None).await;
    problem(t.post(&go, &w.agent, decide("approved")).await, 403, None).await;
    problem(
        t.post(
            &go,
            &w.other_manager,
            json!({"decision": "approved", "comment": " "}),
        )
        .await,
        422,
        Some("comment"),
    )
    .await;
    // A rejection sends it back to testing; approval is only for a release awaiting it.
    let r = ok(t.post(&go, &w.other_manager, decide("rejected")).await).await;
    assert_eq!(r["status"], "testing");
    problem(
        t.post(&go, &w.other_manager, decide("approved")).await,
        409,
        None,
    )
    .await;
    // A deployment needs the approval.
    let deploy = json!({"started_at": "2026-12-05T14:00:00Z", "finished_at": "2026-12-05T15:00:00Z", "outcome": "success"});
    let res = t
        .post(
            &format!("/api/v1/releases/{id}/deployments"),
            &w.manager,
            deploy.clone(),
        )
        .await;
    problem(res, 409, None).await;
    ok(set_status(t, &w.manager, id, "awaiting_go_live").await).await;
    ok(t.post(&go, &w.other_manager, decide("approved")).await).await;
    // A failed deployment sends the release to rework; nothing went live.
    let r = ok(t
        .post(
            &format!("/api/v1/releases/{id}/deployments"),
            &w.manager,
            json!({"started_at": "2026-12-05T14:00:00Z", "finished_at": "2026-12-05T15:00:00Z",
                   "outcome": "failed", "notes": "database migration failed"}),
        )
        .await)
    .await;
    assert_eq!(r["status"], "failed");
    let service = ok(t
        .get(&format!("/api/v1/services/{}", w.service_id), &w.manager)
        .await)
    .await;
    assert_eq!(service["lifecycle"], "transition");
    ok(set_status(t, &w.manager, id, "building").await).await;
    assert_eq!(r["approvals"].as_array().unwrap().len(), 2);
}

async fn a_change_belongs_to_one_release(t: &TestApp) {
    let w = world(t).await;
    let c = change(t, &w.agent, "CHG-900010", "Shared change").await;
    let a = create_release(t, &w, "A").await;
    let b = create_release(t, &w, "B").await;
    let (a, b) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());
    ok(t.post(
        &format!("/api/v1/releases/{a}/changes"),
        &w.manager,
        json!({"change_id": c}),
    )
    .await)
    .await;
    let res = t
        .post(
            &format!("/api/v1/releases/{b}/changes"),
            &w.manager,
            json!({"change_id": c}),
        )
        .await;
    let body = problem(res, 422, Some("change_id")).await;
    assert!(body.to_string().contains("REL-000001"), "{body}");
    let res = t
        .post(
            &format!("/api/v1/releases/{a}/changes"),
            &w.manager,
            json!({"change_id": c}),
        )
        .await;
    problem(res, 409, None).await;
    let res = t
        .post(
            &format!("/api/v1/releases/{a}/changes"),
            &w.manager,
            json!({"change_id": 999_999}),
        )
        .await;
    problem(res, 422, Some("change_id")).await;
    // A rejected change does not go into a release.
    let rejected = change(t, &w.agent, "CHG-900011", "Turned down").await;
    sqlx::query("UPDATE changes SET status = 'rejected' WHERE id = $1")
        .bind(rejected)
        .execute(&t.app.store.pool)
        .await
        .unwrap();
    let res = t
        .post(
            &format!("/api/v1/releases/{a}/changes"),
            &w.manager,
            json!({"change_id": rejected}),
        )
        .await;
    let body = problem(res, 422, Some("change_id")).await;
    assert!(body.to_string().contains("rejected"), "{body}");
    // Cancelling A frees the change for B.
    ok(set_status(t, &w.manager, a, "cancelled").await).await;
    let r = ok(t
        .post(
            &format!("/api/v1/releases/{b}/changes"),
            &w.manager,
            json!({"change_id": c}),
        )
        .await)
    .await;
    assert_eq!(r["changes"][0]["id"], c);
    // A cancelled release's contents are frozen; removing from B works.
    let res = t
        .req(
            reqwest::Method::DELETE,
            &format!("/api/v1/releases/{a}/changes/{c}"),
            &w.manager,
        )
        .send()
        .await
        .unwrap();
    problem(res, 409, None).await;
    let res = t
        .req(
            reqwest::Method::DELETE,
            &format!("/api/v1/releases/{b}/changes/{c}"),
            &w.manager,
        )
        .send()
        .await
        .unwrap();
    let r = ok(res).await;
    assert!(r["changes"].as_array().unwrap().is_empty());
    assert_eq!(audit_count(t, "release", b, "changes").await, 2);
}

async fn who_may_see_and_run_releases(t: &TestApp) {
    let w = world(t).await;
    let r = create_release(t, &w, "Permissions").await;
    let id = r["id"].as_i64().unwrap();
    let body = json!({"title": "x", "service_id": w.service_id, "version_label": "1", "release_type": "minor"});
    // Staff read, auditors included.
    for u in [&w.agent, &w.auditor, &w.other_manager] {
        assert_eq!(
            t.get(&format!("/api/v1/releases/{id}"), u).await.status(),
            200
        );
        assert_eq!(t.get("/api/v1/releases", u).await.status(), 200);
    }
    // Agents and auditors change nothing (403); requesters see nothing at all (404).
    for (u, status) in [(&w.agent, 403), (&w.auditor, 403), (&w.requester, 404)] {
        problem(
            t.post("/api/v1/releases", u, body.clone()).await,
            status,
            None,
        )
        .await;
        problem(set_status(t, u, id, "building").await, status, None).await;
        let res = t
            .post(
                &format!("/api/v1/releases/{id}/checklist"),
                u,
                json!({"text_en": "x"}),
            )
            .await;
        problem(res, status, None).await;
    }
    problem(
        t.get(&format!("/api/v1/releases/{id}"), &w.requester).await,
        404,
        None,
    )
    .await;
    problem(t.get("/api/v1/releases", &w.requester).await, 404, None).await;
    problem(
        t.get(&format!("/api/v1/releases/{id}/history"), &w.requester)
            .await,
        404,
        None,
    )
    .await;
    // Service managers run releases too.
    let res = t.post("/api/v1/releases", &w.other_manager, body).await;
    assert_eq!(res.status(), 201);
    // Nothing the refused callers tried was written.
    let r = ok(t.get(&format!("/api/v1/releases/{id}"), &w.manager).await).await;
    assert_eq!(r["status"], "planning");
    assert_eq!(r["version"], 1);
    assert_eq!(r["checklist"].as_array().unwrap().len(), 5);
}

async fn bad_input_names_the_field_and_writes_nothing(t: &TestApp) {
    let w = world(t).await;
    let base = json!({"title": "T", "service_id": w.service_id, "version_label": "1.0", "release_type": "minor"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, field) in [
        (with("title", json!(" ")), "title"),
        (with("release_type", json!("huge")), "release_type"),
        (with("planned_date", json!("next week")), "planned_date"),
        (with("service_id", json!(999_999)), "service_id"),
        (with("owner_id", json!(w.agent.id)), "owner_id"),
        (with("version_label", json!("")), "version_label"),
        (with("surprise", json!(1)), "surprise"),
    ] {
        let res = t.post("/api/v1/releases", &w.manager, body).await;
        problem(res, 422, Some(field)).await;
    }
    let page = ok(t.get("/api/v1/releases", &w.manager).await).await;
    assert!(page["items"].as_array().unwrap().is_empty());
    problem(
        t.get("/api/v1/releases?status=nope", &w.manager).await,
        422,
        Some("status"),
    )
    .await;
    problem(
        t.get("/api/v1/releases?cursor=zz", &w.manager).await,
        422,
        Some("cursor"),
    )
    .await;

    // A retried create with the same Idempotency-Key makes one release.
    let send = || {
        t.req(reqwest::Method::POST, "/api/v1/releases", &w.manager)
            .header("idempotency-key", "rel-1")
            .json(&base)
            .send()
    };
    let first: Value = send().await.unwrap().json().await.unwrap();
    let second: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    let id = first["id"].as_i64().unwrap();

    // Deployment records are checked field by field.
    ok(set_status(t, &w.manager, id, "building").await).await;
    let path = format!("/api/v1/releases/{id}/deployments");
    for (body, field) in [
        (
            json!({"started_at": "soon", "finished_at": "2026-12-05T15:00:00Z", "outcome": "success"}),
            "started_at",
        ),
        (
            json!({"started_at": "2026-12-05T15:00:00Z", "finished_at": "2026-12-05T14:00:00Z", "outcome": "success"}),
            "finished_at",
        ),
        (
            json!({"started_at": "2026-12-05T14:00:00Z", "finished_at": "2026-12-05T15:00:00Z", "outcome": "meh"}),
            "outcome",
        ),
        (
            json!({"started_at": "2026-12-05T14:00:00Z", "finished_at": "2026-12-05T15:00:00Z", "outcome": "failed"}),
            "notes",
        ),
    ] {
        problem(t.post(&path, &w.manager, body).await, 422, Some(field)).await;
    }
    let res = t
        .post(
            &format!("/api/v1/releases/{id}/checklist/1"),
            &w.manager,
            json!({"result": "maybe"}),
        )
        .await;
    problem(res, 422, Some("result")).await;
    let r = ok(t.get(&format!("/api/v1/releases/{id}"), &w.manager).await).await;
    assert!(r["deployments"].as_array().unwrap().is_empty());
    assert_eq!(r["status"], "building");
}

async fn release_pages_in_both_languages(t: &TestApp) {
    let w = world(t).await;
    let c = change(t, &w.agent, "CHG-900020", "Page change").await;
    let b = Browser::login(t, "cm@rel.test").await;
    let (status, html) = b.get("/releases/new").await;
    assert_eq!(status, 200, "{html}");
    let (status, to) = b
        .post(
            "/releases/new",
            "/releases/new",
            &[
                ("title", "Payments <2.4>"),
                ("description", ""),
                ("service_id", &w.service_id.to_string()),
                ("version_label", "2.4.0"),
                ("release_type", "major"),
                ("planned_date", "2026-12-01"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{to}");
    let (status, html) = b.get(&to).await;
    assert_eq!(status, 200);
    assert!(html.contains("Payments &#60;2.4&#62;"), "escaped title");
    assert!(html.contains("Functional acceptance"));
    let id: i64 = to.trim_start_matches("/releases/").parse().unwrap();
    // A check is removed from the page (the last one).
    let last_check = html
        .rsplit(&format!("/releases/{id}/checklist/"))
        .next()
        .and_then(|rest| rest.split('/').next())
        .expect("a check with a remove button")
        .to_string();
    let (status, _) = b
        .post(
            &to,
            &format!("/releases/{id}/checklist/{last_check}/remove"),
            &[],
        )
        .await;
    assert_eq!(status, 303);
    let (_, html) = b.get(&to).await;
    assert!(!html.contains(&format!("/releases/{id}/checklist/{last_check}/remove")));
    let (status, to2) = b
        .post(
            &to,
            &format!("/releases/{id}/changes"),
            &[("change_id", &c.to_string())],
        )
        .await;
    assert_eq!(status, 303, "{to2}");
    // The change's page names its release.
    let (_, html) = b.get(&format!("/changes/{c}")).await;
    assert!(
        html.contains(&format!("href=\"/releases/{id}\"")),
        "release on the change page"
    );
    let (status, _) = b
        .post(
            &to,
            &format!("/releases/{id}/status"),
            &[("status", "building")],
        )
        .await;
    assert_eq!(status, 303);
    // A wrong step shows the error on the page.
    let (status, html) = b
        .post(
            &to,
            &format!("/releases/{id}/status"),
            &[("status", "closed")],
        )
        .await;
    assert_eq!(status, 409);
    assert!(html.contains("alert-error"));
    let (_, html) = b.get(&to).await;
    assert!(html.contains("CHG-900020"));
    assert!(html.contains("Page change"));

    // The list, in Chinese for a Chinese-speaking user.
    let res = t
        .client
        .get(format!("{}/releases", t.base))
        .header("cookie", &b.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let en = res.text().await.unwrap();
    assert!(en.contains("REL-000001"));
    sqlx::query("UPDATE users SET locale = 'zh-CN' WHERE id = $1")
        .bind(w.manager.id)
        .execute(&t.app.store.pool)
        .await
        .unwrap();
    let (_, zh) = b.get("/releases").await;
    assert!(zh.contains("发布"), "Chinese list");
    let (_, zh) = b.get(&to).await;
    assert!(zh.contains("功能验收"));

    // Agents read without forms; requesters get 404.
    let agent = Browser::login(t, "agent@rel.test").await;
    let (status, html) = agent.get(&to).await;
    assert_eq!(status, 200);
    assert!(!html.contains(&format!("action=\"/releases/{id}/status\"")));
    let requester = Browser::login(t, "req@rel.test").await;
    assert_eq!(requester.get(&to).await.0, 404);
    assert_eq!(requester.get("/releases").await.0, 404);
}
