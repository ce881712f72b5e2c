//! Configuration management end to end: CI types and attribute checks, CIs with If-Match and
//! audit history, impact analysis on a generated graph with cycles (compared with the core walk),
//! CSV import and export with rejected rows, permissions, and the pages.

use crate::common::{problem, Browser, TestApp, User};
use crate::on_both_databases;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use steward_core::cmdb::{self, Direction, Edge, Relation};

on_both_databases!(
    types_and_cis_are_validated_versioned_and_audited,
    impact_on_a_generated_graph_with_cycles_matches_the_core_walk,
    impact_names_affected_services_and_customers,
    csv_import_reports_rejected_rows_and_export_round_trips,
    only_staff_see_the_cmdb_and_only_managers_change_it,
    cmdb_pages_list_show_impact_and_import,
);

async fn type_id(t: &TestApp, u: &User, code: &str) -> i64 {
    let types: Value = t.get("/api/v1/ci-types", u).await.json().await.unwrap();
    types["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["code"] == code)
        .unwrap_or_else(|| panic!("type {code}"))["id"]
        .as_i64()
        .unwrap()
}

async fn ci(t: &TestApp, u: &User, type_id: i64, name: &str, attrs: Value) -> i64 {
    let res = t
        .post(
            "/api/v1/cis",
            u,
            json!({"type_id": type_id, "name": name, "attributes": attrs}),
        )
        .await;
    assert_eq!(res.status(), 201, "create {name}");
    let v: Value = res.json().await.unwrap();
    v["id"].as_i64().unwrap()
}

async fn relate(t: &TestApp, u: &User, source: i64, relation: &str, target: i64) -> Value {
    t.post(
        "/api/v1/ci-relationships",
        u,
        json!({"source_id": source, "target_id": target, "relation": relation}),
    )
    .await
    .json()
    .await
    .unwrap()
}

async fn manager(t: &TestApp) -> User {
    t.user("cm@example.com", "change_manager", None, vec![])
        .await
}

async fn types_and_cis_are_validated_versioned_and_audited(t: &TestApp) {
    let m = manager(t).await;
    let server = type_id(t, &m, "server").await;
    // Attribute values are checked against the type, naming the attribute.
    let res = t
        .post(
            "/api/v1/cis",
            &m,
            json!({"type_id": server, "name": "db01", "attributes": {"hostname": "db01", "ip": "10.0.0.300"}}),
        )
        .await;
    problem(res, 422, Some("attributes.ip")).await;
    let res = t
        .post(
            "/api/v1/cis",
            &m,
            json!({"type_id": server, "name": "db01", "attributes": {}}),
        )
        .await;
    problem(res, 422, Some("attributes.hostname")).await;
    let res = t
        .post(
            "/api/v1/cis",
            &m,
            json!({"type_id": server, "name": "db01", "attributes": {"hostname": "db01", "colour": "red"}}),
        )
        .await;
    problem(res, 422, Some("attributes.colour")).await;
    let res = t
        .post(
            "/api/v1/cis",
            &m,
            json!({"type_id": server, "name": "db01", "status": "broken", "attributes": {"hostname": "db01"}}),
        )
        .await;
    problem(res, 422, Some("status")).await;
    let id = ci(
        t,
        &m,
        server,
        "db01",
        json!({"hostname": "db01", "ip": "10.0.0.5", "memory_gb": 64}),
    )
    .await;
    // The same name within a type is refused.
    let res = t
        .post(
            "/api/v1/cis",
            &m,
            json!({"type_id": server, "name": "db01", "attributes": {"hostname": "x"}}),
        )
        .await;
    problem(res, 422, Some("name")).await;

    // If-Match: the current version updates, a stale one is 412.
    let res = t.get(&format!("/api/v1/cis/{id}"), &m).await;
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["attributes"]["memory_gb"], "64");
    assert_eq!(v["status"], "in_use");
    let res = t
        .req(Method::PATCH, &format!("/api/v1/cis/{id}"), &m)
        .header("if-match", &etag)
        .json(&json!({"status": "maintenance"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = t
        .req(Method::PATCH, &format!("/api/v1/cis/{id}"), &m)
        .header("if-match", &etag)
        .json(&json!({"status": "retired"}))
        .send()
        .await
        .unwrap();
    problem(res, 412, None).await;

    // A new type with its own attribute set; its values are checked.
    let res = t
        .post(
            "/api/v1/ci-types",
            &m,
            json!({"code": "printer", "name_zh": "打印机", "name_en": "Printer",
                   "attributes": [{"name": "ip", "label_zh": "IP", "label_en": "IP", "kind": "ip", "required": true},
                                  {"name": "ip", "label_zh": "IP", "label_en": "IP", "kind": "ip"}]}),
        )
        .await;
    problem(res, 422, Some("attributes[1].name")).await;
    let res = t
        .post(
            "/api/v1/ci-types",
            &m,
            json!({"code": "printer", "name_zh": "打印机", "name_en": "Printer",
                   "attributes": [{"name": "ip", "label_zh": "IP", "label_en": "IP", "kind": "ipv9"}]}),
        )
        .await;
    problem(res, 422, Some("attributes[0].kind")).await;
    let res = t
        .post(
            "/api/v1/ci-types",
            &m,
            json!({"code": "printer", "name_zh": "打印机", "name_en": "Printer",
                   "attributes": [{"name": "ip", "label_zh": "IP", "label_en": "IP", "kind": "ip", "required": true}]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let printer: Value = res.json().await.unwrap();
    let pid = printer["id"].as_i64().unwrap();
    let res = t
        .post(
            "/api/v1/cis",
            &m,
            json!({"type_id": pid, "name": "3楼打印机", "attributes": {"ip": "fe80::1"}}),
        )
        .await;
    assert_eq!(res.status(), 201);

    // Chinese search finds the CI by a word inside its name.
    let found: Value = t
        .get(&format!("/api/v1/cis?q={}", "打印机"), &m)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
    let found: Value = t
        .get(
            &format!("/api/v1/cis?type_id={server}&status=maintenance"),
            &m,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"][0]["id"], id);

    // Every change is in the CI's history.
    let h: Value = t
        .get(&format!("/api/v1/cis/{id}/history"), &m)
        .await
        .json()
        .await
        .unwrap();
    let items = h["items"].as_array().unwrap();
    assert_eq!(items[0]["action"], "create");
    assert!(items.iter().any(|e| e["field"] == "status"
        && e["old_value"] == "in_use"
        && e["new_value"] == "maintenance"));
}

/// A small deterministic generator (no extra crates in tests).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

async fn impact_on_a_generated_graph_with_cycles_matches_the_core_walk(t: &TestApp) {
    let m = manager(t).await;
    let app_type = type_id(t, &m, "application").await;
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(ci(t, &m, app_type, &format!("app-{i}"), json!({})).await);
    }
    let mut rng = Lcg(7);
    let mut edges = Vec::new();
    // A ring guarantees cycles; random chords add more.
    let mut pairs: Vec<(usize, usize, Relation)> = (0..30)
        .map(|i| (i, (i + 1) % 30, Relation::DependsOn))
        .collect();
    for _ in 0..60 {
        let (a, b) = (rng.next(30) as usize, rng.next(30) as usize);
        if a != b {
            pairs.push((a, b, Relation::ALL[rng.next(5) as usize]));
        }
    }
    for (a, b, r) in pairs {
        let v = relate(t, &m, ids[a], r.as_str(), ids[b]).await;
        if let Some(id) = v["id"].as_i64() {
            edges.push(Edge {
                id,
                source: ids[a],
                target: ids[b],
                relation: r,
            });
        } else {
            assert_eq!(v["status"], 409, "only duplicates are refused: {v}");
        }
    }
    for start in [ids[0], ids[7], ids[19]] {
        for depth in [1u32, 3, 5, 10] {
            let v: Value = t
                .get(&format!("/api/v1/cis/{start}/impact?depth={depth}"), &m)
                .await
                .json()
                .await
                .unwrap();
            for (key, dir) in [
                ("upstream", Direction::Upstream),
                ("downstream", Direction::Downstream),
            ] {
                let (want, _) = cmdb::walk(start, dir, depth, cmdb::MAX_NODES, &edges);
                let want: HashMap<i64, u32> = want.iter().map(|r| (r.ci, r.depth)).collect();
                let got: HashMap<i64, u32> = v[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| {
                        (
                            n["id"].as_i64().unwrap(),
                            n["depth"].as_u64().unwrap() as u32,
                        )
                    })
                    .collect();
                assert_eq!(got, want, "{key} of {start} to depth {depth}");
                assert!(!got.contains_key(&start), "the CI is not its own impact");
            }
        }
    }
    let res = t
        .get(&format!("/api/v1/cis/{}/impact?depth=11", ids[0]), &m)
        .await;
    problem(res, 422, Some("depth")).await;
    let res = t.get("/api/v1/cis/999999/impact", &m).await;
    problem(res, 404, None).await;
}

async fn impact_names_affected_services_and_customers(t: &TestApp) {
    let m = manager(t).await;
    let org = t.org("华东制造有限公司", false).await;
    let other_org = t.org("Acme Finance", false).await;
    let svc = steward_server::app::catalogue::create_service(
        &t.app,
        &TestApp::system(),
        steward_server::app::catalogue::ServiceInput {
            code: "ERP".into(),
            name_zh: "ERP".into(),
            name_en: "ERP".into(),
            description_zh: String::new(),
            description_en: String::new(),
            owner_id: None,
            team_id: None,
            lifecycle: Some("live".into()),
            customer_ids: vec![org],
            related_ids: vec![],
        },
        None,
    )
    .await
    .unwrap();
    let (server, vm, app, service) = (
        type_id(t, &m, "server").await,
        type_id(t, &m, "virtual_machine").await,
        type_id(t, &m, "application").await,
        type_id(t, &m, "service").await,
    );
    let host = ci(t, &m, server, "host-1", json!({"hostname": "host-1"})).await;
    let guest = ci(t, &m, vm, "vm-1", json!({"hostname": "vm-1"})).await;
    let erp_app = ci(t, &m, app, "ERP 应用", json!({})).await;
    let erp = t
        .post(
            "/api/v1/cis",
            &m,
            json!({"type_id": service, "name": "ERP 服务", "service_id": svc.id}),
        )
        .await;
    assert_eq!(erp.status(), 201);
    let erp = erp.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let dedicated = t
        .post(
            "/api/v1/cis",
            &m,
            json!({"type_id": app, "name": "报表", "organization_id": other_org}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    relate(t, &m, guest, "runs_on", host).await;
    relate(t, &m, erp_app, "runs_on", guest).await;
    relate(t, &m, erp_app, "provides", erp).await;
    relate(t, &m, dedicated, "depends_on", erp_app).await;
    let v: Value = t
        .get(&format!("/api/v1/cis/{host}/impact"), &m)
        .await
        .json()
        .await
        .unwrap();
    let up: Vec<(i64, u64)> = v["upstream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_i64().unwrap(), n["depth"].as_u64().unwrap()))
        .collect();
    assert_eq!(up, vec![(guest, 1), (erp_app, 2), (erp, 3), (dedicated, 3)]);
    assert_eq!(v["upstream"][2]["relation"], "provides");
    assert_eq!(v["upstream"][2]["from_id"], erp_app);
    assert_eq!(v["services"][0]["ci_id"], erp);
    assert_eq!(v["services"][0]["service_id"], svc.id);
    let orgs: Vec<i64> = v["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert_eq!(orgs, vec![org, other_org]);
    // Downstream of the service: the application, the VM, the server.
    let v: Value = t
        .get(&format!("/api/v1/cis/{erp}/impact"), &m)
        .await
        .json()
        .await
        .unwrap();
    let down: Vec<i64> = v["downstream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect();
    assert_eq!(down, vec![erp_app, guest, host]);
    assert!(v["upstream"].as_array().unwrap().is_empty());
}

async fn csv_import_reports_rejected_rows_and_export_round_trips(t: &TestApp) {
    let m = manager(t).await;
    t.team("网络组").await;
    let csv = "type,name,status,owner_email,team,description,attr.hostname,attr.ip\n\
               server,srv-a,in_use,cm@example.com,网络组,Rack 1,srv-a,10.1.0.1\n\
               server,srv-b,,,,,,10.1.0.2\n\
               printer,p1,,,,,,\n\
               server,srv-c,flying,,,,srv-c,\n\
               server,srv-d,,nobody@example.com,,,srv-d,\n\
               server,srv-e,,,,,srv-e,not-an-ip\n\
               virtual_machine,vm-a,planned,,,,vm-a,10.2.0.1\n";
    let res = t
        .req(Method::POST, "/api/v1/cis/import", &m)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["created"], 2, "{report}");
    let rejected: Vec<(u64, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (3, "attributes.hostname".to_string()),
            (4, "type".to_string()),
            (5, "status".to_string()),
            (6, "owner_email".to_string()),
            (7, "attributes.ip".to_string()),
        ]
    );
    // Importing again updates by (type, name) and leaves equal rows alone.
    let again = "type,name,status,attr.hostname,attr.ip\nserver,srv-a,maintenance,srv-a,10.1.0.1\nvirtual_machine,vm-a,planned,vm-a,10.2.0.1\n";
    let report: Value = t
        .req(Method::POST, "/api/v1/cis/import", &m)
        .body(again)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            report["created"].as_u64(),
            report["updated"].as_u64(),
            report["unchanged"].as_u64()
        ),
        (Some(0), Some(1), Some(1)),
        "{report}"
    );

    let rels = "source_type,source_name,relation,target_type,target_name\n\
                virtual_machine,vm-a,runs_on,server,srv-a\n\
                virtual_machine,vm-a,runs_on,server,srv-z\n\
                virtual_machine,vm-a,flies_to,server,srv-a\n\
                virtual_machine,vm-a,runs_on,server,srv-a\n";
    let report: Value = t
        .req(Method::POST, "/api/v1/ci-relationships/import", &m)
        .body(rels)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["created"], 1, "{report}");
    assert_eq!(report["unchanged"], 1, "{report}");
    let fields: Vec<&str> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["target_name", "relation"]);

    let res = t.get("/api/v1/cis/export", &m).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = res.text().await.unwrap();
    assert!(text.starts_with("type,name,status,owner_email,team,description,attr.hostname"));
    assert!(
        text.contains("server,srv-a,maintenance,,,,srv-a,10.1.0.1"),
        "{text}"
    );
    let text = t
        .get("/api/v1/ci-relationships/export", &m)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        text,
        "source_type,source_name,relation,target_type,target_name\nvirtual_machine,vm-a,runs_on,server,srv-a\n"
    );
    // The export imports back without a change.
    let report: Value = t
        .req(Method::POST, "/api/v1/ci-relationships/import", &m)
        .body(text)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["unchanged"], 1);
    // A file without the key columns is refused as a whole.
    let res = t
        .req(Method::POST, "/api/v1/cis/import", &m)
        .body("name\nx\n")
        .send()
        .await
        .unwrap();
    problem(res, 422, Some("file")).await;
}

async fn only_staff_see_the_cmdb_and_only_managers_change_it(t: &TestApp) {
    let m = manager(t).await;
    let org = t.org("Acme", false).await;
    let requester = t
        .user("r@example.com", "requester", Some(org), vec![])
        .await;
    let agent = t.user("a@example.com", "agent", None, vec![]).await;
    let auditor = t.user("au@example.com", "auditor", None, vec![]).await;
    let server = type_id(t, &m, "server").await;
    let id = ci(t, &m, server, "s1", json!({"hostname": "s1"})).await;
    let other = ci(t, &m, server, "s2", json!({"hostname": "s2"})).await;
    let rel = relate(t, &m, id, "connects_to", other).await["id"]
        .as_i64()
        .unwrap();
    for path in [
        "/api/v1/ci-types".to_string(),
        "/api/v1/cis".to_string(),
        format!("/api/v1/cis/{id}"),
        format!("/api/v1/cis/{id}/impact"),
        format!("/api/v1/cis/{id}/history"),
        "/api/v1/cis/export".to_string(),
        format!("/api/v1/ci-relationships/{rel}"),
    ] {
        problem(t.get(&path, &requester).await, 404, None).await;
        assert_eq!(
            t.get(&path, &agent).await.status(),
            200,
            "agent reads {path}"
        );
        assert_eq!(
            t.get(&path, &auditor).await.status(),
            200,
            "auditor reads {path}"
        );
    }
    let body = json!({"type_id": server, "name": "s3", "attributes": {"hostname": "s3"}});
    problem(
        t.post("/api/v1/cis", &requester, body.clone()).await,
        404,
        None,
    )
    .await;
    problem(t.post("/api/v1/cis", &agent, body.clone()).await, 403, None).await;
    problem(t.post("/api/v1/cis", &auditor, body).await, 403, None).await;
    problem(
        t.patch(
            &format!("/api/v1/cis/{id}"),
            &agent,
            json!({"status": "retired"}),
        )
        .await,
        403,
        None,
    )
    .await;
    let res = t
        .req(
            Method::DELETE,
            &format!("/api/v1/ci-relationships/{rel}"),
            &auditor,
        )
        .send()
        .await
        .unwrap();
    problem(res, 403, None).await;
    let res = t
        .req(
            Method::DELETE,
            &format!("/api/v1/ci-relationships/{rel}"),
            &m,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    problem(
        t.get(&format!("/api/v1/ci-relationships/{rel}"), &m).await,
        404,
        None,
    )
    .await;
    // Both CIs' histories say who connected them and who removed the relationship.
    let described = format!("{id} connects_to {other}");
    for ci_id in [id, other] {
        let h: Value = t
            .get(&format!("/api/v1/cis/{ci_id}/history"), &m)
            .await
            .json()
            .await
            .unwrap();
        let items = h["items"].as_array().unwrap();
        assert!(items
            .iter()
            .any(|e| e["action"] == "relate" && e["new_value"] == described));
        assert!(items
            .iter()
            .any(|e| e["action"] == "unrelate" && e["old_value"] == described));
    }
    // A relationship to itself or to a missing CI names the field.
    let res = t
        .post(
            "/api/v1/ci-relationships",
            &m,
            json!({"source_id": id, "target_id": id, "relation": "runs_on"}),
        )
        .await;
    problem(res, 422, Some("target_id")).await;
    let res = t
        .post(
            "/api/v1/ci-relationships",
            &m,
            json!({"source_id": id, "target_id": 99999, "relation": "runs_on"}),
        )
        .await;
    problem(res, 422, Some("target_id")).await;
}

async fn cmdb_pages_list_show_impact_and_import(t: &TestApp) {
    let m = manager(t).await;
    t.user("req@example.com", "requester", None, vec![]).await;
    let server = type_id(t, &m, "server").await;
    let app = type_id(t, &m, "application").await;
    let host = ci(t, &m, server, "核心<服务器>", json!({"hostname": "core-1"})).await;
    let mail = ci(t, &m, app, "邮件系统", json!({})).await;
    relate(t, &m, mail, "runs_on", host).await;

    let b = Browser::login(t, "cm@example.com").await;
    let (status, html) = b.get("/cmdb").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("核心&lt;服务器&gt;") || html.contains("核心&#60;服务器&#62;"),
        "escaped"
    );
    assert!(!html.contains("核心<服务器>"));
    let (_, html) = b.get(&format!("/cmdb?q=邮件&type_id={app}")).await;
    assert!(html.contains(&format!("/cmdb/{mail}\"")));
    assert!(!html.contains(&format!("/cmdb/{host}\"")));

    let (status, html) = b.get(&format!("/cmdb/{host}")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<svg class=\"ci-diagram\""),
        "the impact diagram"
    );
    assert!(html.contains(&format!(
        "<a href=\"/cmdb/{mail}\"><g class=\"ci-node ci-up"
    )));
    assert!(html.contains("core-1"));

    // Edit through the form; a bad attribute names it.
    let (status, html) = b
        .post(
            &format!("/cmdb/{host}"),
            &format!("/cmdb/{host}"),
            &[
                ("name", "核心<服务器>"),
                ("status", "maintenance"),
                ("version", "1"),
                ("attr.hostname", "core-1"),
                ("attr.ip", "nope"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("aria-invalid=\"true\""));
    let (status, to) = b
        .post(
            &format!("/cmdb/{host}"),
            &format!("/cmdb/{host}"),
            &[
                ("name", "核心<服务器>"),
                ("status", "maintenance"),
                ("version", "1"),
                ("attr.hostname", "core-1"),
                ("attr.ip", "10.0.0.9"),
            ],
        )
        .await;
    assert_eq!(
        (status, to.as_str()),
        (303, format!("/cmdb/{host}").as_str())
    );
    // Add a relationship from the page, naming the other CI as the picker's suggestion does
    // (a bare name is refused); and the type admin page creates a type.
    let (status, html) = b
        .post(
            &format!("/cmdb/{host}"),
            &format!("/cmdb/{host}/relationships"),
            &[
                ("direction", "in"),
                ("relation", "depends_on"),
                ("other_id", "邮件系统"),
            ],
        )
        .await;
    assert_eq!(status, 422, "{html}");
    let picked = format!("#{mail} 邮件系统 (application)");
    let (status, _) = b
        .post(
            &format!("/cmdb/{host}"),
            &format!("/cmdb/{host}/relationships"),
            &[
                ("direction", "in"),
                ("relation", "depends_on"),
                ("other_id", &picked),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (status, to) = b
        .post(
            "/cmdb/types",
            "/cmdb/types",
            &[
                ("code", "ups"),
                ("name_zh", "不间断电源"),
                ("name_en", "UPS"),
                ("attr_name_0", "kva"),
                ("attr_label_zh_0", "容量"),
                ("attr_label_en_0", "Capacity"),
                ("attr_kind_0", "number"),
                ("attr_required_0", "1"),
                ("attr_name_1", ""),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (_, html) = b.get(&to).await;
    assert!(html.contains("value=\"kva\""));

    // Import page: a multipart upload answers with the report of rejected rows.
    let (_, page) = b.get("/cmdb/import").await;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("kind", "cis")
        .part(
            "file",
            reqwest::multipart::Part::bytes(
                b"type,name,attr.hostname\nserver,x1,x1\nserver,x2,\n".to_vec(),
            )
            .file_name("cis.csv"),
        );
    let res = t
        .client
        .post(format!("{}/cmdb/import", t.base))
        .header("cookie", &b.cookie)
        .header("origin", &t.base)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("<td>3</td><td>attributes.hostname</td>"),
        "{html}"
    );

    // Chinese pages; requesters do not find the CMDB.
    let res = t
        .client
        .get(format!("{}/cmdb/{host}", t.base))
        .header("cookie", &b.cookie)
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let r = Browser::login(t, "req@example.com").await;
    assert_eq!(r.get("/cmdb").await.0, 404);
    assert_eq!(r.get(&format!("/cmdb/{host}")).await.0, 404);
}
