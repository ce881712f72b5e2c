use crate::common::{problem, TestApp, User};
use crate::on_both_databases;
use serde_json::{json, Value};

on_both_databases!(
    catalogue_services_and_visibility,
    catalogue_forms_and_answers,
    catalogue_approval_rules,
    catalogue_user_fields_name_colleagues_only,
);

struct World {
    manager: User,
    agent: User,
    lead: User,
    requester: User,
    outsider: User,
    team: i64,
    org: i64,
}

async fn world(t: &TestApp) -> World {
    let team = t.team("Desktop").await;
    let org = t.org("Acme", false).await;
    let other = t.org("Globex", false).await;
    World {
        manager: t.user("sm@x.test", "service_manager", None, vec![]).await,
        agent: t.user("agent@x.test", "agent", None, vec![team]).await,
        lead: t.user("lead@x.test", "team_lead", None, vec![team]).await,
        requester: t
            .user("req@acme.test", "requester", Some(org), vec![])
            .await,
        outsider: t
            .user("req@globex.test", "requester", Some(other), vec![])
            .await,
        team,
        org,
    }
}

async fn service(t: &TestApp, w: &World, code: &str) -> Value {
    let res = t
        .post(
            "/api/v1/services",
            &w.manager,
            json!({"code": code, "name_zh": "邮箱服务", "name_en": "Email", "description_zh": "企业邮箱",
                   "description_en": "Company email", "team_id": w.team, "lifecycle": "live",
                   "customer_ids": [w.org]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

fn laptop_form() -> Value {
    json!([
        {"key": "model", "kind": "choice", "required": true, "label_zh": "型号", "label_en": "Model",
         "options": [{"value": "standard", "label_zh": "标准", "label_en": "Standard"},
                     {"value": "developer", "label_zh": "开发", "label_en": "Developer"}]},
        {"key": "needed_by", "kind": "date", "label_zh": "需要日期", "label_en": "Needed by"},
        {"key": "reason", "kind": "long_text", "required": true, "label_zh": "原因", "label_en": "Reason",
         "min_length": 5},
        {"key": "count", "kind": "number", "label_zh": "数量", "label_en": "Count", "min": 1, "max": 3}
    ])
}

async fn request_type(t: &TestApp, w: &World, service_id: &Value, extra: Value) -> Value {
    let mut body =
        json!({"name_zh": "申请新笔记本电脑", "name_en": "New laptop", "form": laptop_form()});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let res = t
        .post(
            &format!("/api/v1/services/{service_id}/request-types"),
            &w.manager,
            body,
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

fn good_answers() -> Value {
    json!({"model": "developer", "needed_by": "2026-03-01", "reason": "New starter in March", "count": 2})
}

async fn submit(t: &TestApp, user: &User, rt: &Value, answers: Value) -> reqwest::Response {
    t.post(
        &format!("/api/v1/request-types/{}/requests", rt["id"]),
        user,
        json!({"answers": answers}),
    )
    .await
}

async fn audit_count(t: &TestApp, entity: &str) -> i64 {
    let mut conn = t.app.read().await.unwrap();
    let row: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE entity = $1")
        .bind(entity)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    row.0
}

async fn catalogue_services_and_visibility(t: &TestApp) {
    let w = world(t).await;
    let s = service(t, &w, "EMAIL").await;
    assert_eq!(s["customer_ids"], json!([w.org]));
    let id = s["id"].as_i64().unwrap();
    // Only service managers and admins change the catalogue.
    for u in [&w.agent, &w.requester] {
        problem(
            t.post(
                "/api/v1/services",
                u,
                json!({"code": "X", "name_zh": "x", "name_en": "x"}),
            )
            .await,
            403,
            None,
        )
        .await;
    }
    problem(
        t.patch(
            &format!("/api/v1/services/{id}"),
            &w.agent,
            json!({"name_en": "Mail"}),
        )
        .await,
        403,
        None,
    )
    .await;
    // Bad input names the field.
    problem(
        t.post(
            "/api/v1/services",
            &w.manager,
            json!({"code": "EMAIL", "name_zh": "x", "name_en": "x"}),
        )
        .await,
        422,
        Some("code"),
    )
    .await;
    problem(
        t.post(
            "/api/v1/services",
            &w.manager,
            json!({"code": "NET", "name_zh": "x", "name_en": "x", "lifecycle": "alive"}),
        )
        .await,
        422,
        Some("lifecycle"),
    )
    .await;
    problem(
        t.post(
            "/api/v1/services",
            &w.manager,
            json!({"code": "NET", "name_zh": "x", "name_en": "x", "customer_ids": [9999]}),
        )
        .await,
        422,
        Some("customer_ids"),
    )
    .await;
    // Update with If-Match; a stale one is 412.
    let res = t.get(&format!("/api/v1/services/{id}"), &w.manager).await;
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let res = t
        .req(
            reqwest::Method::PATCH,
            &format!("/api/v1/services/{id}"),
            &w.manager,
        )
        .header("If-Match", &etag)
        .json(&json!({"name_en": "Email and calendar"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = t
        .req(
            reqwest::Method::PATCH,
            &format!("/api/v1/services/{id}"),
            &w.manager,
        )
        .header("If-Match", &etag)
        .json(&json!({"name_en": "Email"}))
        .send()
        .await
        .unwrap();
    problem(res, 412, None).await;
    // Requesters of a subscribed organisation see it; others get 404, for its request types too.
    let rt = request_type(t, &w, &s["id"], json!({})).await;
    let list: Value = t
        .get("/api/v1/services", &w.requester)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["customer_ids"], json!([]));
    let list: Value = t
        .get("/api/v1/services", &w.outsider)
        .await
        .json()
        .await
        .unwrap();
    assert!(list["items"].as_array().unwrap().is_empty());
    for path in [
        format!("/api/v1/services/{id}"),
        format!("/api/v1/services/{id}/request-types"),
        format!("/api/v1/request-types/{}", rt["id"]),
    ] {
        problem(t.get(&path, &w.outsider).await, 404, None).await;
    }
    problem(submit(t, &w.outsider, &rt, good_answers()).await, 404, None).await;
    problem(
        t.patch(
            &format!("/api/v1/services/{id}"),
            &w.outsider,
            json!({"name_en": "x"}),
        )
        .await,
        404,
        None,
    )
    .await;
    // A service that is not live is hidden from requesters.
    let res = t
        .patch(
            &format!("/api/v1/services/{id}"),
            &w.manager,
            json!({"lifecycle": "retired"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    problem(
        t.get(&format!("/api/v1/services/{id}"), &w.requester).await,
        404,
        None,
    )
    .await;
    assert_eq!(
        t.get(&format!("/api/v1/services/{id}"), &w.agent)
            .await
            .status(),
        200
    );
    assert!(audit_count(t, "service").await >= 4);
    assert!(audit_count(t, "request_type").await >= 1);
}

async fn catalogue_forms_and_answers(t: &TestApp) {
    let w = world(t).await;
    let s = service(t, &w, "LAPTOP").await;
    let path = format!("/api/v1/services/{}/request-types", s["id"]);
    // Form definitions are checked, naming the field.
    let mut form = laptop_form();
    form[1]["key"] = json!("model");
    problem(
        t.post(
            &path,
            &w.manager,
            json!({"name_zh": "x", "name_en": "x", "form": form}),
        )
        .await,
        422,
        Some("form[1].key"),
    )
    .await;
    let mut form = laptop_form();
    form[0]["options"] = json!([]);
    problem(
        t.post(
            &path,
            &w.manager,
            json!({"name_zh": "x", "name_en": "x", "form": form}),
        )
        .await,
        422,
        Some("form[0].options"),
    )
    .await;
    let mut form = laptop_form();
    form[2]["kind"] = json!("poem");
    problem(
        t.post(
            &path,
            &w.manager,
            json!({"name_zh": "x", "name_en": "x", "form": form}),
        )
        .await,
        422,
        Some("form[2].kind"),
    )
    .await;
    problem(
        t.post(
            &path,
            &w.manager,
            json!({"name_zh": "x", "name_en": "x", "approval_rule": "any"}),
        )
        .await,
        422,
        Some("approver_ids"),
    )
    .await;
    let before = audit_count(t, "request_type").await;
    assert_eq!(before, 0, "no partial writes");
    let rt = request_type(t, &w, &s["id"], json!({})).await;
    assert_eq!(rt["form"].as_array().unwrap().len(), 4);
    // Answers are checked, naming answers.<key>; nothing is written.
    for (answers, field) in [
        (
            json!({"needed_by": "2026-03-01", "reason": "New starter"}),
            "answers.model",
        ),
        (
            json!({"model": "gold", "reason": "New starter"}),
            "answers.model",
        ),
        (
            json!({"model": "standard", "reason": "abc"}),
            "answers.reason",
        ),
        (
            json!({"model": "standard", "reason": "New starter", "needed_by": "2026-02-30"}),
            "answers.needed_by",
        ),
        (
            json!({"model": "standard", "reason": "New starter", "count": 7}),
            "answers.count",
        ),
        (
            json!({"model": "standard", "reason": "New starter", "colour": "red"}),
            "answers.colour",
        ),
    ] {
        problem(
            submit(t, &w.requester, &rt, answers).await,
            422,
            Some(field),
        )
        .await;
    }
    let list: Value = t
        .get("/api/v1/tickets", &w.agent)
        .await
        .json()
        .await
        .unwrap();
    assert!(list["items"].as_array().unwrap().is_empty());
    // A good submission: a REQ for the service's team with the answers.
    let res = submit(t, &w.requester, &rt, good_answers()).await;
    assert_eq!(res.status(), 201);
    let ticket: Value = res.json().await.unwrap();
    assert!(ticket["number"].as_str().unwrap().starts_with("REQ-"));
    assert_eq!(
        ticket["title"], "New laptop",
        "the request type name in the requester's language"
    );
    assert_eq!(ticket["kind"], "service_request");
    assert_eq!(ticket["team_id"], w.team);
    assert_eq!(ticket["service_id"], s["id"]);
    assert_eq!(ticket["request_type_id"], rt["id"]);
    assert_eq!(ticket["approval_status"], Value::Null);
    // The agent of the team sees the answers.
    let seen: Value = t
        .get(&format!("/api/v1/tickets/{}", ticket["id"]), &w.agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["form_answers"], good_answers());
    // With no approval the agent works it straight away.
    let res = t
        .patch(
            &format!("/api/v1/tickets/{}", ticket["id"]),
            &w.agent,
            json!({"status": "in_progress"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    // An inactive request type disappears for requesters.
    let res = t
        .patch(
            &format!("/api/v1/request-types/{}", rt["id"]),
            &w.manager,
            json!({"active": false}),
        )
        .await;
    assert_eq!(res.status(), 200);
    problem(
        submit(t, &w.requester, &rt, good_answers()).await,
        404,
        None,
    )
    .await;
    problem(
        t.patch(
            &format!("/api/v1/request-types/{}", rt["id"]),
            &w.agent,
            json!({"active": true}),
        )
        .await,
        403,
        None,
    )
    .await;
}

async fn decide(t: &TestApp, user: &User, approval: &Value, body: Value) -> reqwest::Response {
    t.post(
        &format!("/api/v1/approvals/{}/decision", approval["id"]),
        user,
        body,
    )
    .await
}

async fn pending_of(t: &TestApp, user: &User) -> Vec<Value> {
    let v: Value = t.get("/api/v1/approvals", user).await.json().await.unwrap();
    v["items"].as_array().unwrap().clone()
}

async fn catalogue_approval_rules(t: &TestApp) {
    let w = world(t).await;
    let s = service(t, &w, "HW").await;
    let approver2 = t.user("boss@x.test", "agent", None, vec![]).await;

    // team_lead: the team's lead approves; work is refused until then.
    let rt = request_type(t, &w, &s["id"], json!({"approval_rule": "team_lead"})).await;
    let ticket: Value = submit(t, &w.requester, &rt, good_answers())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ticket["approval_status"], "pending");
    let tid = ticket["id"].clone();
    for body in [
        json!({"status": "in_progress"}),
        json!({"assignee_id": w.agent.id}),
        json!({"status": "resolved", "resolution_code": "fulfilled"}),
    ] {
        problem(
            t.patch(&format!("/api/v1/tickets/{tid}"), &w.agent, body)
                .await,
            409,
            None,
        )
        .await;
    }
    let mine = pending_of(t, &w.lead).await;
    assert_eq!(mine.len(), 1);
    assert!(pending_of(t, &w.agent).await.is_empty());
    let kinds = |v: Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["kind"].as_str().unwrap().to_string())
            .collect()
    };
    let notes = t
        .get("/api/v1/notifications", &w.lead)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kinds(notes), ["approval_wanted"], "the approver is told");
    // Someone else deciding gets 404; a rejection needs a comment.
    problem(
        decide(t, &w.agent, &mine[0], json!({"decision": "approve"})).await,
        404,
        None,
    )
    .await;
    problem(
        decide(t, &w.lead, &mine[0], json!({"decision": "reject"})).await,
        422,
        Some("comment"),
    )
    .await;
    problem(
        decide(t, &w.lead, &mine[0], json!({"decision": "maybe"})).await,
        422,
        Some("decision"),
    )
    .await;
    let res = decide(
        t,
        &w.lead,
        &mine[0],
        json!({"decision": "approve", "comment": "OK"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let seen: Value = t
        .get(&format!("/api/v1/tickets/{tid}"), &w.agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["approval_status"], "approved");
    let notes = t
        .get("/api/v1/notifications", &w.requester)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kinds(notes), ["approval_approved"], "the requester is told");
    assert_eq!(
        t.patch(
            &format!("/api/v1/tickets/{tid}"),
            &w.agent,
            json!({"status": "in_progress"})
        )
        .await
        .status(),
        200
    );
    problem(
        decide(t, &w.lead, &mine[0], json!({"decision": "approve"})).await,
        409,
        None,
    )
    .await;
    let approvals: Value = t
        .get(&format!("/api/v1/tickets/{tid}/approvals"), &w.requester)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(approvals["items"][0]["decision"], "approved");
    problem(
        t.get(&format!("/api/v1/tickets/{tid}/approvals"), &w.outsider)
            .await,
        404,
        None,
    )
    .await;

    // any with two approvers: the first approval approves.
    let rt = request_type(
        t,
        &w,
        &s["id"],
        json!({"approval_rule": "any", "approver_ids": [w.lead.id, approver2.id]}),
    )
    .await;
    let ticket: Value = submit(t, &w.requester, &rt, good_answers())
        .await
        .json()
        .await
        .unwrap();
    let tid = ticket["id"].clone();
    let a = pending_of(t, &approver2).await;
    assert_eq!(
        decide(t, &approver2, &a[0], json!({"decision": "approve"}))
            .await
            .status(),
        200
    );
    let seen: Value = t
        .get(&format!("/api/v1/tickets/{tid}"), &w.agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["approval_status"], "approved");
    assert!(pending_of(t, &w.lead).await.is_empty());

    // all with two approvers: needs both.
    let rt = request_type(
        t,
        &w,
        &s["id"],
        json!({"approval_rule": "all", "approver_ids": [w.lead.id, approver2.id]}),
    )
    .await;
    let ticket: Value = submit(t, &w.requester, &rt, good_answers())
        .await
        .json()
        .await
        .unwrap();
    let tid = ticket["id"].clone();
    let a = pending_of(t, &w.lead).await;
    assert_eq!(
        decide(t, &w.lead, &a[0], json!({"decision": "approve"}))
            .await
            .status(),
        200
    );
    let seen: Value = t
        .get(&format!("/api/v1/tickets/{tid}"), &w.agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["approval_status"], "pending");
    let a = pending_of(t, &approver2).await;
    assert_eq!(
        decide(t, &approver2, &a[0], json!({"decision": "approve"}))
            .await
            .status(),
        200
    );
    let seen: Value = t
        .get(&format!("/api/v1/tickets/{tid}"), &w.agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["approval_status"], "approved");

    // A rejection cancels the request with the reason.
    let ticket: Value = submit(t, &w.requester, &rt, good_answers())
        .await
        .json()
        .await
        .unwrap();
    let tid = ticket["id"].clone();
    let a = pending_of(t, &approver2).await;
    let res = decide(
        t,
        &approver2,
        &a[0],
        json!({"decision": "reject", "comment": "不在预算内 Not in budget"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let seen: Value = t
        .get(&format!("/api/v1/tickets/{tid}"), &w.requester)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["approval_status"], "rejected");
    assert_eq!(seen["status"], "cancelled");
    assert_eq!(seen["resolution_code"], "rejected");
    assert_eq!(seen["resolution_notes"], "不在预算内 Not in budget");
    assert!(pending_of(t, &w.lead).await.is_empty());
    let history: Value = t
        .get(&format!("/api/v1/tickets/{tid}/history"), &w.agent)
        .await
        .json()
        .await
        .unwrap();
    let fields: Vec<String> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["field"].as_str().map(str::to_string))
        .collect();
    assert!(fields.contains(&"approval_status".to_string()), "{history}");
    assert!(audit_count(t, "approval").await >= 9);

    // team_lead where the requester is the only lead: nobody can approve.
    let solo = t.team("Solo").await;
    let lead_only = t.user("solo@x.test", "team_lead", None, vec![solo]).await;
    let s2: Value = t
        .post("/api/v1/services", &w.manager, json!({"code": "SOLO", "name_zh": "独", "name_en": "Solo", "team_id": solo, "lifecycle": "live"}))
        .await
        .json()
        .await
        .unwrap();
    let rt = request_type(t, &w, &s2["id"], json!({"approval_rule": "team_lead"})).await;
    problem(
        submit(t, &lead_only, &rt, good_answers()).await,
        422,
        Some("request_type_id"),
    )
    .await;
}

/// A `user` field names the requester or a colleague of their organisation, never anyone else.
async fn catalogue_user_fields_name_colleagues_only(t: &TestApp) {
    let w = world(t).await;
    let s = service(t, &w, "ACCESS").await;
    let res = t
        .post(
            &format!("/api/v1/services/{}/request-types", s["id"]),
            &w.manager,
            json!({"name_zh": "门禁卡", "name_en": "Door badge", "form": [
                {"key": "holder", "kind": "user", "required": true, "label_zh": "持卡人", "label_en": "Holder"}
            ]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let rt: Value = res.json().await.unwrap();
    let path = format!("/api/v1/request-types/{}/requests", rt["id"]);
    let colleague = t
        .user("colleague@acme.test", "requester", Some(w.org), vec![])
        .await;
    for stranger in [w.outsider.id, w.agent.id, 999_999] {
        problem(
            t.post(
                &path,
                &w.requester,
                json!({"answers": {"holder": stranger}}),
            )
            .await,
            422,
            Some("answers.holder"),
        )
        .await;
    }
    let res = t
        .post(
            &path,
            &w.requester,
            json!({"answers": {"holder": colleague.id}}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let ticket: Value = res.json().await.unwrap();
    assert_eq!(ticket["form_answers"]["holder"], colleague.id);
    // Staff filling the form may name anyone active.
    let res = t
        .post(
            &path,
            &w.agent,
            json!({"answers": {"holder": w.outsider.id}}),
        )
        .await;
    assert_eq!(res.status(), 201);
}
