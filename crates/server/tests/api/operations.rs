use crate::common::TestApp;
use crate::on_both_databases;
use serde_json::{json, Value};

on_both_databases!(
    health_metrics_openapi_and_headers,
    cli_creates_users_and_tokens,
    a_panicking_change_does_not_stop_the_writer
);

async fn health_metrics_openapi_and_headers(t: &TestApp) {
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/openapi.json",
        "/login",
    ] {
        let res = t
            .client
            .get(format!("{}{path}", t.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{path}");
        let csp = res.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}"
        );
    }
    let metrics = t
        .client
        .get(format!("{}/metrics", t.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("steward_http_requests_total"), "{metrics}");
    let spec: Value = t
        .client
        .get(format!("{}/api/v1/openapi.json", t.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/tickets",
        "/api/v1/tickets/{id}",
        "/api/v1/tickets/{id}/comments",
        "/api/v1/tickets/{id}/attachments",
        "/api/v1/tickets/{id}/history",
        "/api/v1/me",
        "/api/v1/users",
        "/api/v1/teams",
        "/api/v1/organizations",
        "/api/v1/calendars",
        "/api/v1/calendars/{id}/days",
        "/api/v1/calendars/{id}/due",
        "/api/v1/calendars/{id}/calendar.ics",
        "/api/v1/slas",
        "/api/v1/slas/{id}",
        "/api/v1/tickets/{id}/clocks",
        "/api/v1/tickets/{id}/escalations",
        "/api/v1/tickets/{id}/major",
        "/api/v1/tickets/{id}/status-updates",
        "/api/v1/notifications",
        "/api/v1/jobs",
        "/api/v1/services",
        "/api/v1/request-types/{id}",
        "/api/v1/approvals",
        "/api/v1/reports/sla",
    ] {
        assert!(
            spec["paths"].get(path).is_some(),
            "{path} missing from the spec"
        );
    }
    assert!(spec["components"]["schemas"].get("TicketView").is_some());
    // Unknown API paths answer problem+json.
    let res = t
        .client
        .get(format!("{}/api/v1/nothing", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

async fn cli_creates_users_and_tokens(t: &TestApp) {
    use std::io::Write;
    t.team("网络组").await;
    let bin = env!("CARGO_BIN_EXE_steward");
    let mut child = std::process::Command::new(bin)
        .args([
            "--db",
            &t.url,
            "user",
            "add",
            "--email",
            "cli@x.test",
            "--name",
            "CLI Agent",
            "--role",
            "agent",
            "--team",
            "网络组",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Cli-Password-2026\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new(bin)
        .args(["--db", &t.url, "token", "create", "--email", "cli@x.test"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let token = stdout.lines().last().unwrap().trim().to_string();
    let me: Value = t
        .client
        .get(format!("{}/api/v1/me", t.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "cli@x.test");
    assert_eq!(me["role"], "agent");
    assert_eq!(me["team_ids"].as_array().unwrap().len(), 1);
    // The CLI's change is audited with its channel.
    let mut conn = t.app.read().await.unwrap();
    let entries = steward_store::audit::entries_for(&mut conn, "user", me["id"].as_i64().unwrap())
        .await
        .unwrap();
    assert_eq!(entries[0].channel, "cli");
}

/// A bug that panics inside a change rolls that change back; the writer, and with it every
/// later change, goes on.
async fn a_panicking_change_does_not_stop_the_writer(t: &TestApp) {
    let user = t.user("a@x.test", "agent", None, vec![]).await;
    let panicked: Result<(), steward_store::StoreError> = t
        .app
        .store
        .write(|ctx| {
            Box::pin(async move {
                sqlx::query("UPDATE users SET name = 'half-written' WHERE email = 'a@x.test'")
                    .execute(&mut ctx.conn)
                    .await?;
                panic!("a bug in a change");
            })
        })
        .await;
    assert!(panicked.is_err());
    let me: Value = t.get("/api/v1/me", &user).await.json().await.unwrap();
    assert_eq!(me["name"], "a", "the panicked change was rolled back");
    let ticket = t.ticket(&user, "after the panic", json!({})).await;
    assert_eq!(ticket["title"], "after the panic");
}
