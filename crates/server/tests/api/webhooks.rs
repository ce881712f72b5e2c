//! Webhooks and chat bots end to end: a receiver on loopback records what Steward sends; the
//! signatures are checked by Python's hmac/hashlib, an implementation independent of Steward's.

use crate::common::{problem, Browser, TestApp, User};
use crate::on_both_databases;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use steward_server::app::{events, jobs, webhooks};

on_both_databases!(
    webhook_events_arrive_signed_with_the_documented_payload,
    failed_deliveries_are_retried_logged_and_resent,
    private_targets_are_refused_unless_allowed,
    chat_bots_speak_each_platforms_format,
    admin_pages_manage_webhooks_and_bots,
    robot_credentials_in_addresses_are_never_shown,
    ipv6_and_translated_private_forms_are_refused,
    redirects_are_not_followed,
    a_delivery_whose_job_died_can_be_resent,
);

// --- the receiver ---

#[derive(Debug, Clone)]
struct Received {
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Vec<Received>,
    /// Answers to give, per path, before the default (200 with every platform's "ok").
    scripted: HashMap<String, Vec<(u16, String)>>,
}

#[derive(Clone)]
struct Receiver {
    base: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let app = axum::Router::new()
            .fallback(record)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { base, state }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn answer(&self, path: &str, status: u16, body: &str) {
        self.state
            .lock()
            .unwrap()
            .scripted
            .entry(path.to_string())
            .or_default()
            .push((status, body.to_string()));
    }

    fn received(&self, path: &str) -> Vec<Received> {
        self.state
            .lock()
            .unwrap()
            .received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

async fn record(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let mut s = state.lock().unwrap();
    let path = uri.path().to_string();
    s.received.push(Received {
        path: path.clone(),
        query: uri.query().unwrap_or_default().to_string(),
        headers,
        body: body.to_vec(),
    });
    let scripted = s.scripted.get_mut(&path).filter(|v| !v.is_empty());
    match scripted {
        // A scripted redirect's body is where it points.
        Some(v) => {
            let (status, body) = v.remove(0);
            let status = StatusCode::from_u16(status).unwrap();
            if status.is_redirection() {
                (status, [(axum::http::header::LOCATION, body)]).into_response()
            } else {
                (status, body).into_response()
            }
        }
        None => (
            StatusCode::OK,
            r#"{"errcode":0,"errmsg":"ok","code":0,"msg":"success"}"#,
        )
            .into_response(),
    }
}

// --- helpers ---

/// Runs Python with `args`, `stdin` on its standard input; its printed line.
fn python(script: &str, args: &[&str], stdin: &[u8]) -> String {
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The webhook signature as a receiver computes it, in Python.
fn python_webhook_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let script = "import hmac, hashlib, sys\n\
        msg = sys.argv[2].encode() + b'.' + sys.stdin.buffer.read()\n\
        print('sha256=' + hmac.new(sys.argv[1].encode(), msg, hashlib.sha256).hexdigest())";
    python(script, &[secret, timestamp], body)
}

/// Runs every job that is due, and the jobs those jobs queue.
async fn drain(t: &TestApp) {
    for _ in 0..20 {
        if jobs::run_due(&t.app, "test-node").await.unwrap() == 0 {
            return;
        }
    }
    panic!("the queue did not settle");
}

/// Makes the queued delivery retries due now (instead of waiting out the backoff).
async fn make_retries_due(t: &TestApp) {
    sqlx::query("UPDATE jobs SET run_at = 0 WHERE kind = $1 AND status = 'queued'")
        .bind(webhooks::DELIVER)
        .execute(&t.app.store.pool)
        .await
        .unwrap();
}

async fn count(t: &TestApp, sql: &str) -> i64 {
    let row: (i64,) = sqlx::query_as(sql)
        .fetch_one(&t.app.store.pool)
        .await
        .unwrap();
    row.0
}

struct World {
    admin: User,
    agent: User,
    requester: User,
    team: i64,
}

async fn world(t: &TestApp) -> World {
    let team = t.team("Service desk").await;
    World {
        admin: t.user("admin@x.test", "admin", None, vec![]).await,
        agent: t.user("agent@x.test", "agent", None, vec![team]).await,
        requester: t.user("req@x.test", "requester", None, vec![]).await,
        team,
    }
}

async fn create_webhook(t: &TestApp, admin: &User, url: &str, events: &[&str]) -> Value {
    let res = t
        .post(
            "/api/v1/webhooks",
            admin,
            json!({"name": "CMDB sync", "url": url, "events": events, "allow_private": true}),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn deliveries(t: &TestApp, admin: &User, path: &str) -> Vec<Value> {
    let v: Value = t.get(path, admin).await.json().await.unwrap();
    v["items"].as_array().unwrap().clone()
}

// --- scenarios ---

async fn webhook_events_arrive_signed_with_the_documented_payload(t: &TestApp) {
    let w = world(t).await;
    let rx = Receiver::start().await;
    let hook = create_webhook(
        t,
        &w.admin,
        &rx.url("/hook"),
        &["ticket.replied", "ticket.created"],
    )
    .await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{hook}");
    assert_eq!(hook["events"], json!(["ticket.created", "ticket.replied"]));
    // The secret is shown once: never by a read or a listing.
    let hook_id = hook["id"].as_i64().unwrap();
    let read: Value = t
        .get(&format!("/api/v1/webhooks/{hook_id}"), &w.admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(read.get("secret").is_none(), "{read}");
    let list = t
        .get("/api/v1/webhooks", &w.admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(!list.contains(&secret));

    let tk = t
        .ticket(&w.requester, "VPN drops every hour", json!({}))
        .await;
    let ticket_id = tk["id"].as_i64().unwrap();
    let comments = format!("/api/v1/tickets/{ticket_id}/comments");
    let res = t
        .post(
            &comments,
            &w.agent,
            json!({"body": "Please update the client to 5.2"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = t
        .post(
            &comments,
            &w.agent,
            json!({"body": "INTERNAL: user is on the watch list", "internal": true}),
        )
        .await;
    assert_eq!(res.status(), 201);
    drain(t).await;

    let mut got = rx.received("/hook");
    assert_eq!(got.len(), 2, "one per subscribed event");
    // Deliveries run side by side, so they may arrive in either order.
    got.sort_by_key(|r| r.header("x-steward-event") != "ticket.created");
    for r in &got {
        assert_eq!(r.header("content-type"), "application/json");
        assert_eq!(r.header("user-agent"), "Steward-Webhook/1");
        let ts = r.header("x-steward-timestamp");
        assert!(ts.parse::<i64>().unwrap() > 1_600_000_000);
        assert_eq!(
            r.header("x-steward-signature"),
            python_webhook_signature(&secret, ts, &r.body),
            "the signature verifies independently"
        );
        // A changed body or another secret does not verify.
        let mut tampered = r.body.clone();
        tampered.push(b' ');
        assert_ne!(
            r.header("x-steward-signature"),
            python_webhook_signature(&secret, ts, &tampered)
        );
        let body = String::from_utf8(r.body.clone()).unwrap();
        assert!(!body.contains("INTERNAL"), "no internal note in {body}");
    }
    let created = got[0].json();
    assert_eq!(got[0].header("x-steward-event"), "ticket.created");
    assert_eq!(created["type"], "ticket.created");
    assert!(created["id"].as_str().unwrap().starts_with("evt_"));
    assert!(created["occurred_at"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .is_ok());
    let ticket = &created["ticket"];
    assert_eq!(ticket["id"], ticket_id);
    assert_eq!(ticket["number"], tk["number"]);
    assert_eq!(ticket["kind"], "incident");
    assert_eq!(ticket["title"], "VPN drops every hour");
    assert_eq!(ticket["status"], "new");
    assert!(ticket["priority"].is_i64());
    assert_eq!(ticket["requester_id"], w.requester.id);
    for k in ["team_id", "assignee_id", "service_id"] {
        assert!(ticket.get(k).is_some(), "{k} in {ticket}");
    }
    assert!(ticket["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/tickets/{ticket_id}")));
    assert_eq!(created["actor"]["id"], w.requester.id);
    assert_eq!(created["actor"]["name"], "req");
    assert!(created.get("comment").is_none());

    let replied = got[1].json();
    assert_eq!(replied["type"], "ticket.replied");
    assert_eq!(replied["actor"]["id"], w.agent.id);
    assert_eq!(
        replied["comment"]["body"],
        "Please update the client to 5.2"
    );
    assert!(replied["comment"]["id"].is_i64());
    let log = deliveries(
        t,
        &w.admin,
        &format!("/api/v1/webhooks/{hook_id}/deliveries"),
    )
    .await;
    assert_eq!(log.len(), 2);
    for d in &log {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["response_status"], 200);
        assert!(d["delivered_at"].is_string());
    }
    let delivery_ids: Vec<String> = got
        .iter()
        .map(|r| r.header("x-steward-delivery").to_string())
        .collect();
    assert!(log
        .iter()
        .all(|d| delivery_ids.contains(&d["id"].to_string())));

    // A dispatch that runs again (a retry after a crash) records and sends nothing more.
    let dispatched: Vec<(String,)> =
        sqlx::query_as("SELECT payload FROM jobs WHERE kind = $1 ORDER BY id")
            .bind(events::DISPATCH)
            .fetch_all(&t.app.store.pool)
            .await
            .unwrap();
    assert!(dispatched.len() >= 2);
    for (payload,) in &dispatched {
        events::dispatch(&t.app, payload).await.unwrap();
    }
    drain(t).await;
    assert_eq!(count(t, "SELECT COUNT(*) FROM deliveries").await, 2);
    assert_eq!(rx.received("/hook").len(), 2);

    // Unsubscribed events and inactive webhooks get nothing.
    let res = t
        .req(
            reqwest::Method::DELETE,
            &format!("/api/v1/webhooks/{hook_id}"),
            &w.admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let gone: Value = res.json().await.unwrap();
    assert_eq!(gone["active"], false);
    t.ticket(&w.requester, "Another", json!({})).await;
    drain(t).await;
    assert_eq!(rx.received("/hook").len(), 2);

    // The API and the payload schema are in the OpenAPI document.
    let spec: Value = t
        .client
        .get(format!("{}/api/v1/openapi.json", t.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/webhooks",
        "/api/v1/webhooks/{id}",
        "/api/v1/webhooks/{id}/deliveries",
        "/api/v1/webhooks/{id}/ping",
        "/api/v1/bots",
        "/api/v1/bots/{id}",
        "/api/v1/bots/{id}/deliveries",
        "/api/v1/bots/{id}/ping",
        "/api/v1/deliveries/{id}",
        "/api/v1/deliveries/{id}/redeliver",
    ] {
        assert!(spec["paths"].get(path).is_some(), "{path} in the spec");
    }
    let schemas = &spec["components"]["schemas"];
    for name in [
        "EventPayload",
        "TicketPart",
        "WebhookCreated",
        "DeliveryView",
        "DeliveryDetail",
        "AttemptView",
        "BotInput",
    ] {
        assert!(schemas.get(name).is_some(), "{name} in the spec");
    }
    assert!(schemas["EventPayload"]["properties"].get("type").is_some());
    // The delivery's own fields and its attempts, in one object.
    let detail = schemas["DeliveryDetail"].to_string();
    assert!(
        detail.contains("DeliveryView") && detail.contains("attempt_log"),
        "{detail}"
    );

    // Every change to a webhook is in the audit log.
    let audited = count(
        t,
        "SELECT COUNT(*) FROM audit_log WHERE entity = 'webhook' AND action IN ('create', 'update')",
    )
    .await;
    assert!(audited >= 3, "create, allow_private, deactivate: {audited}");
}

async fn failed_deliveries_are_retried_logged_and_resent(t: &TestApp) {
    let w = world(t).await;
    let rx = Receiver::start().await;
    let hook = create_webhook(t, &w.admin, &rx.url("/flaky"), &["ticket.created"]).await;
    let hook_id = hook["id"].as_i64().unwrap();
    let log_path = format!("/api/v1/webhooks/{hook_id}/deliveries");
    rx.answer("/flaky", 500, "database is down");
    t.ticket(&w.requester, "Printer jam", json!({})).await;
    drain(t).await;

    let log = deliveries(t, &w.admin, &log_path).await;
    assert_eq!(log.len(), 1);
    let d = &log[0];
    assert_eq!(d["status"], "pending", "{d}");
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["response_status"], 500);
    assert_eq!(d["response_body"], "database is down");
    assert!(d["error"].as_str().unwrap().contains("500"), "{d}");
    // The queue holds the retry for later (backoff); nothing more is sent until it is due.
    drain(t).await;
    assert_eq!(rx.received("/flaky").len(), 1);

    let res = t
        .post(
            &format!("/api/v1/deliveries/{}/redeliver", d["id"]),
            &w.admin,
            json!({}),
        )
        .await;
    problem(res, 409, None).await;
    make_retries_due(t).await;
    drain(t).await;
    let got = rx.received("/flaky");
    assert_eq!(got.len(), 2, "retried once");
    assert_eq!(got[0].body, got[1].body, "the same payload each time");
    assert_eq!(
        got[0].header("x-steward-delivery"),
        got[1].header("x-steward-delivery")
    );
    let log = deliveries(t, &w.admin, &log_path).await;
    assert_eq!(log[0]["status"], "delivered", "{}", log[0]);
    assert_eq!(log[0]["attempts"], 2, "both attempts counted");
    assert_eq!(log[0]["response_status"], 200);
    // The delivery itself shows every attempt with its own answer.
    let delivery_id = log[0]["id"].as_i64().unwrap();
    let one = format!("/api/v1/deliveries/{delivery_id}");
    let res = t.get(&one, &w.admin).await;
    assert_eq!(res.status(), 200);
    let detail: Value = res.json().await.unwrap();
    assert_eq!(detail["id"], delivery_id);
    assert_eq!(detail["status"], "delivered");
    let tries = detail["attempt_log"].as_array().unwrap();
    assert_eq!(tries.len(), 2, "{detail}");
    assert_eq!(tries[0]["attempt"], 1);
    assert_eq!(tries[0]["response_status"], 500);
    assert_eq!(tries[0]["response_body"], "database is down");
    assert!(
        tries[0]["error"].as_str().unwrap().contains("500"),
        "{detail}"
    );
    assert_eq!(tries[1]["attempt"], 2);
    assert_eq!(tries[1]["response_status"], 200);
    assert!(tries[1]["response_body"]
        .as_str()
        .unwrap()
        .contains(r#""errcode":0"#));
    assert_eq!(tries[1]["error"], Value::Null);
    problem(t.get(&one, &w.agent).await, 403, None).await;
    problem(
        t.get("/api/v1/deliveries/999999", &w.admin).await,
        404,
        None,
    )
    .await;

    // An admin re-sends it; others may not.
    let redeliver = format!("/api/v1/deliveries/{delivery_id}/redeliver");
    problem(t.post(&redeliver, &w.agent, json!({})).await, 403, None).await;
    let res = t.post(&redeliver, &w.admin, json!({})).await;
    assert_eq!(res.status(), 202);
    drain(t).await;
    assert_eq!(rx.received("/flaky").len(), 3);
    let log = deliveries(t, &w.admin, &log_path).await;
    assert_eq!(log[0]["attempts"], 3);
    assert_eq!(log[0]["status"], "delivered");
    let detail: Value = t.get(&one, &w.admin).await.json().await.unwrap();
    assert_eq!(detail["attempt_log"][2]["attempt"], 3, "{detail}");
    assert_eq!(detail["attempt_log"].as_array().unwrap().len(), 3);

    // Out of attempts: the delivery is failed and the job dies.
    for _ in 0..8 {
        rx.answer("/flaky", 503, "still down");
    }
    t.ticket(&w.requester, "Scanner jam", json!({})).await;
    for _ in 0..10 {
        drain(t).await;
        make_retries_due(t).await;
    }
    let log = deliveries(t, &w.admin, &log_path).await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["status"], "failed", "{}", log[0]);
    assert_eq!(log[0]["attempts"], 8);
    assert_eq!(log[0]["response_body"], "still down");
    assert_eq!(
        count(
            t,
            "SELECT COUNT(*) FROM jobs WHERE kind = 'hook.deliver' AND status = 'dead'"
        )
        .await,
        1
    );

    // A ping goes out at once and answers with its outcome.
    let res = t
        .post(
            &format!("/api/v1/webhooks/{hook_id}/ping"),
            &w.admin,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let ping: Value = res.json().await.unwrap();
    assert_eq!(ping["status"], "delivered", "{ping}");
    assert_eq!(ping["event"], "ping");
    let last = rx.received("/flaky").pop().unwrap().json();
    assert_eq!(last["type"], "ping");
    assert_eq!(last["ticket"], Value::Null);
}

async fn private_targets_are_refused_unless_allowed(t: &TestApp) {
    let w = world(t).await;
    for url in [
        "http://127.0.0.1/",
        "http://localhost/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://192.168.1.20:8080/hook",
        "http://100.64.1.1/",
        "http://[fd00::1]/",
        "http://0.0.0.0/",
    ] {
        let res = t
            .post(
                "/api/v1/webhooks",
                &w.admin,
                json!({"name": "x", "url": url, "events": ["ticket.created"]}),
            )
            .await;
        let body = problem(res, 422, Some("url")).await;
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("private")
                || body.to_string().contains("private"),
            "{url}: {body}"
        );
    }
    for (url, why) in [
        ("ftp://example.com/", "http"),
        ("https://user:pw@example.com/", "user name"),
        ("not a url", "URL"),
    ] {
        let res = t
            .post(
                "/api/v1/webhooks",
                &w.admin,
                json!({"name": "x", "url": url, "events": ["ticket.created"]}),
            )
            .await;
        let body = problem(res, 422, Some("url")).await;
        assert!(body.to_string().contains(why), "{url}: {body}");
    }
    let res = t
        .post(
            "/api/v1/webhooks",
            &w.admin,
            json!({"name": "x", "url": "https://93.184.215.14/", "events": []}),
        )
        .await;
    problem(res, 422, Some("events")).await;
    let res = t
        .post(
            "/api/v1/webhooks",
            &w.admin,
            json!({"name": "x", "url": "https://93.184.215.14/", "events": ["ticket.deleted"]}),
        )
        .await;
    problem(res, 422, Some("events[0]")).await;
    assert_eq!(
        count(t, "SELECT COUNT(*) FROM webhooks").await,
        0,
        "no partial write"
    );

    // Only admins manage webhooks, allow_private included.
    let res = t
        .post(
            "/api/v1/webhooks",
            &w.agent,
            json!({"name": "x", "url": "http://127.0.0.1/", "events": ["ticket.created"], "allow_private": true}),
        )
        .await;
    problem(res, 403, None).await;
    problem(t.get("/api/v1/webhooks", &w.agent).await, 403, None).await;
    problem(t.get("/api/v1/bots", &w.requester).await, 403, None).await;

    // Allowed: the loopback receiver. Taking the permission away again is refused for it.
    let rx = Receiver::start().await;
    let hook = create_webhook(t, &w.admin, &rx.url("/internal"), &["ticket.created"]).await;
    let hook_id = hook["id"].as_i64().unwrap();
    let res = t
        .patch(
            &format!("/api/v1/webhooks/{hook_id}"),
            &w.admin,
            json!({"allow_private": false}),
        )
        .await;
    problem(res, 422, Some("url")).await;

    // Checked again at delivery: a target that became private (here, by a change behind
    // Steward's back) is refused without a connection.
    sqlx::query("UPDATE webhooks SET allow_private = 0")
        .execute(&t.app.store.pool)
        .await
        .unwrap();
    t.ticket(&w.requester, "Disk full", json!({})).await;
    drain(t).await;
    assert!(rx.received("/internal").is_empty());
    let log = deliveries(
        t,
        &w.admin,
        &format!("/api/v1/webhooks/{hook_id}/deliveries"),
    )
    .await;
    assert_eq!(log[0]["status"], "pending");
    assert!(
        log[0]["error"].as_str().unwrap().contains("private"),
        "{}",
        log[0]
    );
}

async fn chat_bots_speak_each_platforms_format(t: &TestApp) {
    let w = world(t).await;
    let other_team = t.team("Facilities").await;
    let rx = Receiver::start().await;
    let ding_secret = "SEC0123456789abcdef0123456789abcdef";
    let feishu_secret = "f3iShuS3cretValue";
    let bot = |name: &str, platform: &str, path: &str, extra: Value| {
        let mut body = json!({"name": name, "platform": platform, "url": rx.url(path),
            "events": ["ticket.created"], "allow_private": true});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let mut ids = Vec::new();
    for body in [
        bot(
            "运维群",
            "wecom",
            "/cgi-bin/webhook/send?key=abc-123",
            json!({"team_id": w.team}),
        ),
        bot(
            "On call",
            "dingtalk",
            "/robot/send?access_token=tok",
            json!({"secret": ding_secret, "locale": "en"}),
        ),
        bot(
            "飞书群",
            "feishu",
            "/open-apis/bot/v2/hook/xyz",
            json!({"secret": feishu_secret}),
        ),
        bot(
            "Facilities",
            "wecom",
            "/facilities?key=f",
            json!({"team_id": other_team}),
        ),
    ] {
        let res = t.post("/api/v1/bots", &w.admin, body).await;
        assert_eq!(res.status(), 201);
        let v: Value = res.json().await.unwrap();
        assert!(v.get("secret").is_none(), "{v}");
        ids.push(v);
    }
    // The robot's key is part of its URL, so it is not shown back either.
    assert!(
        ids[0]["url"].as_str().unwrap().contains("key=***"),
        "{}",
        ids[0]
    );
    assert_eq!(ids[1]["signed"], true);
    assert_eq!(ids[0]["signed"], false);
    let res = t
        .post("/api/v1/bots", &w.admin, bot("x", "slack", "/x", json!({})))
        .await;
    problem(res, 422, Some("platform")).await;

    t.ticket(
        &w.agent,
        "Email <b>down</b> for [everyone]",
        json!({"team_id": w.team}),
    )
    .await;
    drain(t).await;

    // WeCom: markdown content with the ticket tag, the event and the link; zh-CN by default.
    let wecom = rx.received("/cgi-bin/webhook/send");
    assert_eq!(wecom.len(), 1);
    assert_eq!(wecom[0].query, "key=abc-123");
    let body = wecom[0].json();
    assert_eq!(body["msgtype"], "markdown");
    let content = body["markdown"]["content"].as_str().unwrap();
    assert!(content.contains("[INC-"), "{content}");
    assert!(content.contains("新工单"), "{content}");
    assert!(content.contains("/tickets/"), "{content}");
    assert!(
        !content.contains("<b>"),
        "user text is not markup: {content}"
    );

    // DingTalk: signed in the query as its documentation says, checked in Python.
    let ding = rx.received("/robot/send");
    assert_eq!(ding.len(), 1);
    let check = "import hmac, hashlib, base64, sys, urllib.parse\n\
        q = urllib.parse.parse_qs(sys.argv[1])\n\
        ts, secret = q['timestamp'][0], sys.argv[2]\n\
        want = base64.b64encode(hmac.new(secret.encode(), (ts + '\\n' + secret).encode(), hashlib.sha256).digest()).decode()\n\
        print('ok' if q['sign'][0] == want and q['access_token'][0] == 'tok' else 'bad')";
    assert_eq!(python(check, &[&ding[0].query, ding_secret], b""), "ok");
    assert_eq!(python(check, &[&ding[0].query, "SECwrong"], b""), "bad");
    let body = ding[0].json();
    assert_eq!(body["msgtype"], "markdown");
    assert!(body["markdown"]["title"]
        .as_str()
        .unwrap()
        .starts_with("[INC-"));
    assert!(body["markdown"]["text"]
        .as_str()
        .unwrap()
        .contains("New ticket"));

    // Feishu: timestamp and sign in the body, the key being "timestamp\nsecret".
    let feishu = rx.received("/open-apis/bot/v2/hook/xyz");
    assert_eq!(feishu.len(), 1);
    let body = feishu[0].json();
    let check = "import hmac, hashlib, base64, sys\n\
        key = (sys.argv[1] + '\\n' + sys.argv[2]).encode()\n\
        print(base64.b64encode(hmac.new(key, b'', hashlib.sha256).digest()).decode())";
    let ts = body["timestamp"].as_str().unwrap();
    assert_eq!(body["sign"], python(check, &[ts, feishu_secret], b""));
    assert_eq!(body["msg_type"], "post");
    let post = &body["content"]["post"]["zh_cn"];
    assert!(post["title"].as_str().unwrap().starts_with("[INC-"));
    assert!(post["content"].to_string().contains("\"tag\":\"a\""));

    // A bot for another team hears nothing of this one's tickets.
    assert!(rx.received("/facilities").is_empty());
    for (i, b) in ids.iter().take(3).enumerate() {
        let log = deliveries(t, &w.admin, &format!("/api/v1/bots/{}/deliveries", b["id"])).await;
        assert_eq!(log.len(), 1, "bot {i}");
        assert_eq!(log[0]["status"], "delivered", "{}", log[0]);
    }

    // A platform that answers 200 with an error code has not taken the message.
    rx.answer(
        "/robot/send",
        200,
        r#"{"errcode":310000,"errmsg":"sign not match"}"#,
    );
    let res = t
        .post(
            &format!("/api/v1/bots/{}/ping", ids[1]["id"]),
            &w.admin,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let ping: Value = res.json().await.unwrap();
    assert_eq!(ping["status"], "failed", "{ping}");
    assert!(ping["error"].as_str().unwrap().contains("310000"), "{ping}");
    assert!(ping["response_body"]
        .as_str()
        .unwrap()
        .contains("sign not match"));
}

async fn admin_pages_manage_webhooks_and_bots(t: &TestApp) {
    let w = world(t).await;
    let rx = Receiver::start().await;
    let admin = Browser::login(t, "admin@x.test").await;
    let (status, html) = admin.get("/admin/webhooks").await;
    assert_eq!(status, 200);
    assert!(html.contains("New webhook"));
    assert!(html.contains("value=\"sla.breached\""));

    // A private target without the permission: the form comes back naming the address.
    let (status, html) = admin
        .post(
            "/admin/webhooks",
            "/admin/webhooks",
            &[
                ("name", "Internal"),
                ("url", "http://10.1.2.3/hook"),
                ("events", "ticket.created"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        html.contains("Address (URL)") && html.contains("private"),
        "{html}"
    );
    assert!(
        html.contains("value=\"http://10.1.2.3/hook\""),
        "what was typed stays"
    );

    // Created: the secret is on this answer only.
    let url = rx.url("/from-page");
    let (status, html) = admin
        .post(
            "/admin/webhooks",
            "/admin/webhooks",
            &[
                ("name", "Inventory <sync>"),
                ("url", &url),
                ("events", "ticket.created"),
                ("events", "ticket.resolved"),
                ("allow_private", "on"),
            ],
        )
        .await;
    assert_eq!(status, 201, "{html}");
    let secret = html
        .split("<code class=\"secret prewrap\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_string();
    assert!(secret.starts_with("whsec_"));
    assert!(
        html.contains("Inventory &") && !html.contains("<sync>"),
        "escaped"
    );
    let (_, list) = admin.get("/admin/webhooks").await;
    assert!(!list.contains(&secret), "shown once");
    let hooks: Value = t
        .get("/api/v1/webhooks", &w.admin)
        .await
        .json()
        .await
        .unwrap();
    let id = hooks["items"][0]["id"].as_i64().unwrap();
    let edit = format!("/admin/webhooks/{id}");

    // The test button delivers now; the log shows it with the receiver's answer.
    let (status, to) = admin.post(&edit, &format!("{edit}/ping"), &[]).await;
    assert_eq!((status, to.as_str()), (303, edit.as_str()));
    assert_eq!(rx.received("/from-page").len(), 1);
    let (status, html) = admin.get(&edit).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("HTTP 200") && html.contains("Delivered"),
        "{html}"
    );
    assert!(!html.contains(&secret));

    // Editing: events and active; a re-send from the log.
    let (status, to) = admin
        .post(
            &edit,
            &edit,
            &[
                ("name", "Inventory"),
                ("url", &url),
                ("events", "ticket.assigned"),
                ("allow_private", "on"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!((status, to.as_str()), (303, edit.as_str()));
    let v: Value = t
        .get(&format!("/api/v1/webhooks/{id}"), &w.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["events"], json!(["ticket.assigned"]));
    assert_eq!(v["name"], "Inventory");
    let log = deliveries(t, &w.admin, &format!("/api/v1/webhooks/{id}/deliveries")).await;
    let d = log[0]["id"].as_i64().unwrap();
    let (status, to) = admin
        .post(&edit, &format!("/admin/deliveries/{d}/redeliver"), &[])
        .await;
    assert_eq!((status, to.as_str()), (303, edit.as_str()));
    drain(t).await;
    assert_eq!(rx.received("/from-page").len(), 2);
    // The log lists both attempts of the delivery under it.
    let (_, html) = admin.get(&edit).await;
    assert!(html.contains("Every attempt"), "{html}");
    assert!(
        html.contains(r#"<li value="1">"#) && html.contains(r#"<li value="2">"#),
        "{html}"
    );

    // A form without the session's token is refused.
    let res = t
        .client
        .post(format!("{}{edit}/ping", t.base))
        .header("cookie", &admin.cookie)
        .header("origin", &t.base)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // Bots: created from the page; the robot's key never shown back.
    let bot_url = rx.url("/cgi-bin/webhook/send?key=page-secret-key");
    let team = w.team.to_string();
    let (status, to) = admin
        .post(
            "/admin/bots",
            "/admin/bots",
            &[
                ("name", "值班群"),
                ("platform", "wecom"),
                ("team_id", &team),
                ("locale", "zh-CN"),
                ("url", &bot_url),
                ("events", "ticket.created"),
                ("allow_private", "on"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{to}");
    assert!(to.starts_with("/admin/bots/"));
    let (status, html) = admin.get(&to).await;
    assert_eq!(status, 200);
    assert!(html.contains("值班群") && html.contains("key=***"));
    assert!(!html.contains("page-secret-key"));
    let (status, _) = admin.post(&to, &format!("{to}/ping"), &[]).await;
    assert_eq!(status, 303);
    let sent = rx.received("/cgi-bin/webhook/send");
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].query, "key=page-secret-key",
        "the saved key is used"
    );

    // In Chinese for a Chinese-speaking admin.
    let res = t
        .patch(
            &format!("/api/v1/users/{}", w.admin.id),
            &w.admin,
            json!({"locale": "zh-CN"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let (_, html) = admin.get(&to).await;
    assert!(
        html.contains("投递日志") && html.contains("企业微信群机器人"),
        "{html}"
    );

    // Other roles do not get the pages.
    let agent = Browser::login(t, "agent@x.test").await;
    assert_eq!(agent.get("/admin/webhooks").await.0, 403);
    assert_eq!(agent.get("/admin/bots").await.0, 403);
}

/// An audit entry: action, field, old value, new value.
type AuditRow = (String, Option<String>, Option<String>, Option<String>);

/// Every audit entry about chat bots, as text.
async fn bot_audit(t: &TestApp) -> String {
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT action, field, old_value, new_value FROM audit_log WHERE entity = 'chat_bot' \
         ORDER BY seq",
    )
    .fetch_all(&t.app.store.pool)
    .await
    .unwrap();
    format!("{rows:?}")
}

async fn robot_credentials_in_addresses_are_never_shown(t: &TestApp) {
    let w = world(t).await;
    let rx = Receiver::start().await;
    // Feishu puts the robot's token in the path, WeCom its key in the query.
    let feishu_token = "0b7d4c1e-feishu-token-one";
    let res = t
        .post(
            "/api/v1/bots",
            &w.admin,
            json!({"name": "飞书群", "platform": "feishu", "allow_private": true,
                "url": rx.url(&format!("/open-apis/bot/v2/hook/{feishu_token}")),
                "events": ["ticket.created"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let bot: Value = res.json().await.unwrap();
    let id = bot["id"].as_i64().unwrap();
    assert!(
        bot["url"]
            .as_str()
            .unwrap()
            .ends_with("/open-apis/bot/v2/hook/***"),
        "{bot}"
    );
    let listed = t.get("/api/v1/bots", &w.admin).await.text().await.unwrap();
    assert!(!listed.contains(feishu_token), "{listed}");
    let one = t.get(&format!("/api/v1/bots/{id}"), &w.admin).await;
    assert!(!one.text().await.unwrap().contains(feishu_token));

    // A new token: the change is audited although the shown address looks the same.
    let second_token = "9e2a5f3b-feishu-token-two";
    let res = t
        .patch(
            &format!("/api/v1/bots/{id}"),
            &w.admin,
            json!({"url": rx.url(&format!("/open-apis/bot/v2/hook/{second_token}"))}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(!res.text().await.unwrap().contains(second_token));
    let audit = bot_audit(t).await;
    assert!(audit.contains("Some(\"url\")"), "{audit}");
    assert!(
        !audit.contains(feishu_token) && !audit.contains(second_token),
        "{audit}"
    );

    // A WeCom key rotated the same way.
    let res = t
        .post(
            "/api/v1/bots",
            &w.admin,
            json!({"name": "运维群", "platform": "wecom", "allow_private": true,
                "url": rx.url("/cgi-bin/webhook/send?key=wecom-key-one"),
                "events": ["ticket.created"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let wecom: Value = res.json().await.unwrap();
    let res = t
        .patch(
            &format!("/api/v1/bots/{}", wecom["id"]),
            &w.admin,
            json!({"url": rx.url("/cgi-bin/webhook/send?key=wecom-key-two")}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let audit = bot_audit(t).await;
    assert_eq!(audit.matches("Some(\"url\")").count(), 2, "{audit}");
    assert!(!audit.contains("wecom-key-"), "{audit}");

    // Nor on the pages.
    let admin = Browser::login(t, "admin@x.test").await;
    let (status, html) = admin.get(&format!("/admin/bots/{id}")).await;
    assert_eq!(status, 200);
    assert!(!html.contains(second_token), "{html}");
    let (_, html) = admin.get("/admin/bots").await;
    assert!(!html.contains(second_token) && !html.contains("wecom-key-two"));

    // A client that sends the shown address back (e.g. GET, edit the name, PATCH) keeps the
    // saved token rather than saving the mask.
    let shown: Value = t
        .get(&format!("/api/v1/bots/{id}"), &w.admin)
        .await
        .json()
        .await
        .unwrap();
    let res = t
        .patch(
            &format!("/api/v1/bots/{id}"),
            &w.admin,
            json!({"name": "飞书值班群", "url": shown["url"]}),
        )
        .await;
    assert_eq!(res.status(), 200);

    // The saved token is the one used.
    t.ticket(&w.requester, "Projector broken", json!({})).await;
    drain(t).await;
    assert_eq!(
        rx.received(&format!("/open-apis/bot/v2/hook/{second_token}"))
            .len(),
        1
    );
}

async fn ipv6_and_translated_private_forms_are_refused(t: &TestApp) {
    let w = world(t).await;
    for url in [
        "http://[::ffff:0:7f00:1]/",
        "http://[::ffff:0:a9fe:a9fe]/latest/meta-data/",
        "http://[fec0::1]/",
        "http://[64:ff9b:1::a00:1]/",
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
        "http://[::ffff:7f00:1]/",
        "http://[0:0:0:0:0:ffff:169.254.169.254]/",
    ] {
        let res = t
            .post(
                "/api/v1/webhooks",
                &w.admin,
                json!({"name": "x", "url": url, "events": ["ticket.created"]}),
            )
            .await;
        problem(res, 422, Some("url")).await;
    }
    assert_eq!(count(t, "SELECT COUNT(*) FROM webhooks").await, 0);
}

async fn redirects_are_not_followed(t: &TestApp) {
    let w = world(t).await;
    let rx = Receiver::start().await;
    let hook = create_webhook(t, &w.admin, &rx.url("/moved"), &["ticket.created"]).await;
    // 307 keeps the method and body: a client that followed it would POST to /elsewhere.
    rx.answer("/moved", 307, &rx.url("/elsewhere"));
    t.ticket(&w.requester, "Badge reader", json!({})).await;
    drain(t).await;
    assert_eq!(rx.received("/moved").len(), 1);
    assert!(
        rx.received("/elsewhere").is_empty(),
        "the redirect was followed"
    );
    let log = deliveries(
        t,
        &w.admin,
        &format!("/api/v1/webhooks/{}/deliveries", hook["id"]),
    )
    .await;
    assert_eq!(log[0]["status"], "pending", "{}", log[0]);
    assert_eq!(log[0]["response_status"], 307);
}

/// A job that died without recording its outcome leaves the delivery pending; with no job
/// queued for it, a re-send is accepted instead of being refused for ever.
async fn a_delivery_whose_job_died_can_be_resent(t: &TestApp) {
    let w = world(t).await;
    let rx = Receiver::start().await;
    let hook = create_webhook(t, &w.admin, &rx.url("/stuck"), &["ticket.created"]).await;
    let hook_id = hook["id"].as_i64().unwrap();
    let log_path = format!("/api/v1/webhooks/{hook_id}/deliveries");
    t.ticket(&w.requester, "Printer jam", json!({})).await;
    // One pass runs the dispatch, which records the delivery and queues its job.
    jobs::run_due(&t.app, "test-node").await.unwrap();
    let log = deliveries(t, &w.admin, &log_path).await;
    assert_eq!(log.len(), 1);
    let delivery_id = log[0]["id"].as_i64().unwrap();
    let redeliver = format!("/api/v1/deliveries/{delivery_id}/redeliver");
    // Queued and not yet run: the re-send is refused.
    problem(t.post(&redeliver, &w.admin, json!({})).await, 409, None).await;

    // The job dies; the delivery is left as it was, pending with no attempt.
    sqlx::query("UPDATE jobs SET status = 'dead' WHERE kind = $1")
        .bind(webhooks::DELIVER)
        .execute(&t.app.store.pool)
        .await
        .unwrap();
    let log = deliveries(t, &w.admin, &log_path).await;
    assert_eq!(log[0]["status"], "pending");
    assert_eq!(log[0]["attempts"], 0);

    let res = t.post(&redeliver, &w.admin, json!({})).await;
    assert_eq!(res.status(), 202);
    // The new job is queued now, so a second re-send waits for it.
    problem(t.post(&redeliver, &w.admin, json!({})).await, 409, None).await;
    drain(t).await;
    assert_eq!(rx.received("/stuck").len(), 1);
    let detail: Value = t
        .get(&format!("/api/v1/deliveries/{delivery_id}"), &w.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["status"], "delivered", "{detail}");
    assert_eq!(detail["attempts"], 1);
    assert_eq!(detail["attempt_log"].as_array().unwrap().len(), 1);
    assert_eq!(
        count(
            t,
            "SELECT COUNT(*) FROM audit_log WHERE entity = 'delivery' AND action = 'redeliver'"
        )
        .await,
        1
    );
}
