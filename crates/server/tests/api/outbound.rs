//! Notifications out by email, delivered to a real SMTP receiver on loopback (aiosmtpd writing
//! a Maildir) and read back with mail-parser: languages, threading headers, preferences,
//! retries when the receiver is down, no double sends, no header injection, the templates API
//! and who may see what.

use crate::common::{problem, TestApp, User};
use crate::on_both_databases;
use mail_parser::{HeaderValue, MessageParser};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use steward_core::Channel;
use steward_server::app::events::Event;
use steward_server::app::outbound::settings::DEFAULT_FROM;
use steward_server::app::outbound::{self, Settings};
use steward_server::app::{accounts, jobs, Actor, App};

on_both_databases!(
    acknowledgements_and_replies_thread_in_each_language,
    preferences_off_means_no_email,
    a_down_receiver_is_retried_and_gets_exactly_one_mail,
    crlf_in_a_title_or_name_starts_no_header,
    templates_are_overridden_previewed_checked_and_restored,
    requesters_see_no_templates_and_no_outbox,
);

/// aiosmtpd on a free loopback port, delivering into a Maildir; killed when dropped.
struct SmtpSink {
    child: Child,
    maildir: PathBuf,
    port: u16,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl SmtpSink {
    async fn start(port: u16) -> SmtpSink {
        let maildir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "smtp_{}_{port}_{}",
            std::process::id(),
            jiff::Timestamp::now().as_microsecond()
        ));
        let mut child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m aiosmtpd (scripts/setup.sh installs it)");
        // Ready when it accepts connections: retry, up to 30 s on a busy machine.
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return SmtpSink {
                    child,
                    maildir,
                    port,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not start on port {port}");
    }

    /// Every delivered message, raw.
    fn messages(&self) -> Vec<Vec<u8>> {
        let Ok(dir) = std::fs::read_dir(self.maildir.join("new")) else {
            return vec![];
        };
        dir.map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

/// The test's app, sending to the given port.
fn app_sending_to(t: &TestApp, port: Option<u16>) -> App {
    let url = port.map(|p| format!("smtp://127.0.0.1:{p}"));
    let settings = Settings::new(
        url.as_deref(),
        DEFAULT_FROM,
        "https://desk.example.com/",
        None,
    )
    .unwrap();
    let mut app = t.app.clone();
    app.outbound = Arc::new(settings);
    app
}

/// Runs queued jobs until none is due.
async fn drain(app: &App) {
    for _ in 0..50 {
        if jobs::run_due(app, "test").await.unwrap() == 0 {
            return;
        }
    }
    panic!("jobs kept coming");
}

async fn set_locale(t: &TestApp, user: &User, locale: Option<&str>) {
    let mut conn = t.app.read().await.unwrap();
    let actor = Actor::load(&mut conn, user.id, Channel::Api).await.unwrap();
    drop(conn);
    match locale {
        Some(l) => {
            accounts::update_preferences(&t.app, &actor, Some(l.into()), None)
                .await
                .unwrap();
        }
        None => {
            sqlx::query("UPDATE users SET locale = NULL WHERE id = $1")
                .bind(user.id)
                .execute(&t.app.store.pool)
                .await
                .unwrap();
        }
    }
}

fn ids(v: &HeaderValue) -> Vec<String> {
    match v {
        HeaderValue::TextList(l) => l.iter().map(|s| format!("<{s}>")).collect(),
        HeaderValue::Text(s) => vec![format!("<{s}>")],
        _ => vec![],
    }
}

struct Received {
    subject: String,
    to: String,
    message_id: String,
    in_reply_to: Vec<String>,
    references: Vec<String>,
    body: String,
    raw: String,
}

fn header(raw: &str, name: &str) -> Option<String> {
    let m = MessageParser::default().parse(raw.as_bytes()).unwrap();
    m.header_raw(name).map(|v| v.trim().to_string())
}

fn received(sink: &SmtpSink) -> Vec<Received> {
    let mut out: Vec<Received> = sink
        .messages()
        .iter()
        .map(|raw| {
            let m = MessageParser::default().parse(raw).unwrap();
            Received {
                subject: m.subject().unwrap_or_default().to_string(),
                to: m
                    .to()
                    .and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .unwrap_or_default()
                    .to_string(),
                message_id: format!("<{}>", m.message_id().unwrap_or_default()),
                in_reply_to: ids(m.in_reply_to()),
                references: ids(m.references()),
                body: m.body_text(0).unwrap_or_default().to_string(),
                raw: String::from_utf8_lossy(raw).to_string(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.message_id.cmp(&b.message_id));
    out
}

async fn outbound_rows(t: &TestApp) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbound_mail")
        .fetch_one(&t.app.store.pool)
        .await
        .unwrap()
}

async fn acknowledgements_and_replies_thread_in_each_language(t: &TestApp) {
    let sink = SmtpSink::start(free_port()).await;
    let app = app_sending_to(t, Some(sink.port));
    let team = t.team("Desk").await;
    let agent = t.user("agent@corp.test", "agent", None, vec![team]).await;
    let en = t.user("alice@corp.test", "requester", None, vec![]).await;
    let zh = t.user("wang@corp.test", "requester", None, vec![]).await;
    set_locale(t, &zh, None).await;

    let en_ticket = t.ticket(&en, "Printer offline", json!({})).await;
    let zh_ticket = t.ticket(&zh, "打印机无法连接网络", json!({})).await;
    // As if the Chinese ticket had come by email: its mail threads under the original.
    sqlx::query(
        "INSERT INTO inbound_messages (message_id, blob_key, size, sha256, source, status, \
         outcome, ticket_id, attempts, received_at) \
         VALUES ('orig-1@client.example', 'k', 1, 'h', 'mailgate', 'processed', \
         'ticket_created', $1, 1, 0)",
    )
    .bind(zh_ticket["id"].as_i64().unwrap())
    .execute(&t.app.store.pool)
    .await
    .unwrap();
    drain(&app).await;
    let mails = received(&sink);
    assert_eq!(mails.len(), 2, "one acknowledgement each");
    let en_mail = mails.iter().find(|m| m.to == "alice@corp.test").unwrap();
    let zh_mail = mails.iter().find(|m| m.to == "wang@corp.test").unwrap();
    let (en_no, zh_no) = (
        en_ticket["number"].as_str().unwrap(),
        zh_ticket["number"].as_str().unwrap(),
    );
    assert_eq!(
        en_mail.subject,
        format!("[{en_no}] We received your request: Printer offline")
    );
    assert_eq!(
        zh_mail.subject,
        format!("[{zh_no}] 我们已收到您的请求：打印机无法连接网络")
    );
    assert!(
        en_mail.body.contains(&format!(
            "https://desk.example.com/tickets/{}",
            en_ticket["id"]
        )),
        "{}",
        en_mail.body
    );
    let root = format!("<ticket-{}@example.com>", en_ticket["id"]);
    assert!(
        en_mail.message_id.starts_with("<evt_")
            && en_mail
                .message_id
                .ends_with(&format!(".{}@example.com>", en.id)),
        "{}",
        en_mail.message_id
    );
    assert_eq!(en_mail.references, vec![root.clone()]);
    assert_eq!(en_mail.in_reply_to, vec![root.clone()]);
    let zh_root = format!("<ticket-{}@example.com>", zh_ticket["id"]);
    let original = "<orig-1@client.example>".to_string();
    assert_eq!(zh_mail.references, vec![zh_root, original.clone()]);
    assert_eq!(zh_mail.in_reply_to, vec![original]);
    assert_eq!(
        header(&en_mail.raw, "Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    assert_eq!(
        header(&en_mail.raw, "X-Auto-Response-Suppress").as_deref(),
        Some("All")
    );
    assert_eq!(
        header(&en_mail.raw, "X-Steward-Ticket").as_deref(),
        Some(en_no)
    );
    assert_eq!(
        header(&en_mail.raw, "X-Steward-Event").as_deref(),
        Some("ticket.created")
    );

    // A public reply reaches the requester, threaded under the same root; a note does not.
    let path = format!("/api/v1/tickets/{}/comments", en_ticket["id"]);
    let res = t
        .post(
            &path,
            &agent,
            json!({"body": "Please restart the printer."}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = t
        .post(
            &path,
            &agent,
            json!({"body": "Secret: driver bug", "internal": true}),
        )
        .await;
    assert_eq!(res.status(), 201);
    drain(&app).await;
    let mails = received(&sink);
    assert_eq!(mails.len(), 3, "the note sends nothing");
    let reply = mails
        .iter()
        .find(|m| m.subject.contains("New reply"))
        .unwrap();
    assert_eq!(reply.to, "alice@corp.test");
    assert!(reply.body.contains("Please restart the printer."));
    assert!(!mails.iter().any(|m| m.body.contains("Secret")));
    assert_eq!(reply.references.first(), Some(&root));
    assert_ne!(reply.message_id, en_mail.message_id);

    // Staff who see the ticket read its mail; the requester may not.
    let res = t
        .get(
            &format!("/api/v1/tickets/{}/outbound-mail", en_ticket["id"]),
            &agent,
        )
        .await;
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(list["items"][0]["status"], "sent");
    let res = t
        .get(
            &format!("/api/v1/tickets/{}/outbound-mail", en_ticket["id"]),
            &en,
        )
        .await;
    problem(res, 403, None).await;

    // A retried dispatch of the same events writes and sends nothing new.
    let payloads: Vec<String> =
        sqlx::query_scalar("SELECT payload FROM jobs WHERE kind = 'event.dispatch'")
            .fetch_all(&t.app.store.pool)
            .await
            .unwrap();
    let rows = outbound_rows(t).await;
    for p in &payloads {
        let events: Vec<Event> = serde_json::from_str(p).unwrap();
        outbound::on_events(&app, &events).await.unwrap();
        outbound::on_events(&app, &events).await.unwrap();
    }
    drain(&app).await;
    assert_eq!(outbound_rows(t).await, rows);
    assert_eq!(received(&sink).len(), 3);
}

async fn preferences_off_means_no_email(t: &TestApp) {
    let app = app_sending_to(t, None);
    let requester = t.user("bob@corp.test", "requester", None, vec![]).await;
    let res = t
        .get("/api/v1/me/notification-preferences", &requester)
        .await;
    let prefs: Value = res.json().await.unwrap();
    assert_eq!(prefs["items"].as_array().unwrap().len(), 8);
    assert!(prefs["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["email"] == true));

    let res = t
        .req(
            reqwest::Method::PUT,
            "/api/v1/me/notification-preferences",
            &requester,
        )
        .json(&json!({"items": [{"event": "ticket.deleted", "email": false}]}))
        .send()
        .await
        .unwrap();
    problem(res, 422, Some("items[0].event")).await;
    let res = t
        .req(
            reqwest::Method::PUT,
            "/api/v1/me/notification-preferences",
            &requester,
        )
        .json(&json!({"items": [{"event": "ticket.created", "email": false}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let prefs: Value = res.json().await.unwrap();
    let created = prefs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["event"] == "ticket.created")
        .unwrap()
        .clone();
    assert_eq!(created["email"], false);

    t.ticket(&requester, "No mail for me", json!({})).await;
    drain(&app).await;
    assert_eq!(outbound_rows(t).await, 0);
    // Turned back on, the next ticket is acknowledged.
    let res = t
        .req(
            reqwest::Method::PUT,
            "/api/v1/me/notification-preferences",
            &requester,
        )
        .json(&json!({"items": [{"event": "ticket.created", "email": true}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    t.ticket(&requester, "Mail for me", json!({})).await;
    drain(&app).await;
    assert_eq!(outbound_rows(t).await, 1);
}

async fn a_down_receiver_is_retried_and_gets_exactly_one_mail(t: &TestApp) {
    let admin = t.user("root@corp.test", "admin", None, vec![]).await;
    let requester = t.user("carol@corp.test", "requester", None, vec![]).await;

    // No SMTP server configured: recorded, failed at once, visible to the admin.
    let unconfigured = app_sending_to(t, None);
    t.ticket(&requester, "First", json!({})).await;
    drain(&unconfigured).await;
    let res = t.get("/api/v1/outbound-mail?status=failed", &admin).await;
    assert_eq!(res.status(), 200);
    let failed: Value = res.json().await.unwrap();
    assert_eq!(failed["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        failed["items"][0]["last_error"],
        "no SMTP server configured"
    );
    let first_id = failed["items"][0]["id"].as_i64().unwrap();

    // The receiver is down: the attempt fails and the job waits to retry.
    let port = free_port();
    let app = app_sending_to(t, Some(port));
    t.ticket(&requester, "Second", json!({})).await;
    drain(&app).await;
    let res = t.get("/api/v1/outbound-mail?status=queued", &admin).await;
    let queued: Value = res.json().await.unwrap();
    assert_eq!(queued["items"].as_array().unwrap().len(), 1);
    assert_eq!(queued["items"][0]["attempts"], 1);
    assert!(queued["items"][0]["last_error"].is_string());
    let (status, attempts): (String, i64) = sqlx::query_as(
        "SELECT status, attempts FROM jobs WHERE kind = 'mail.send' AND status = 'queued'",
    )
    .fetch_one(&t.app.store.pool)
    .await
    .unwrap();
    assert_eq!((status.as_str(), attempts), ("queued", 1));

    // The admin sends the failed one again.
    let res = t
        .post(
            &format!("/api/v1/outbound-mail/{first_id}/retry"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = t
        .post(
            &format!("/api/v1/outbound-mail/{first_id}/retry"),
            &admin,
            json!({}),
        )
        .await;
    problem(res, 409, None).await;

    // The receiver comes up; once the retry is due, each mail arrives exactly once.
    let sink = SmtpSink::start(port).await;
    sqlx::query("UPDATE jobs SET run_at = 0 WHERE kind = 'mail.send' AND status = 'queued'")
        .execute(&t.app.store.pool)
        .await
        .unwrap();
    drain(&app).await;
    drain(&app).await;
    let mails = received(&sink);
    assert_eq!(mails.len(), 2, "each mail once");
    assert!(mails.iter().any(|m| m.subject.contains("First")));
    assert!(mails.iter().any(|m| m.subject.contains("Second")));
    let res = t.get("/api/v1/outbound-mail?status=sent", &admin).await;
    let sent: Value = res.json().await.unwrap();
    assert_eq!(sent["items"].as_array().unwrap().len(), 2);
    let second = sent["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] != first_id)
        .unwrap();
    assert_eq!(second["attempts"], 2);
}

async fn crlf_in_a_title_or_name_starts_no_header(t: &TestApp) {
    let sink = SmtpSink::start(free_port()).await;
    let app = app_sending_to(t, Some(sink.port));
    let requester = t.user("dave@corp.test", "requester", None, vec![]).await;
    let tk = t.ticket(&requester, "Printer", json!({})).await;
    // The API refuses control characters; data from elsewhere (an import, an old row) may
    // still hold them, so the mail path must not trust it.
    sqlx::query("UPDATE tickets SET title = $1 WHERE id = $2")
        .bind("Printer\r\nBcc: victim@evil.test\r\nX-Injected: yes")
        .bind(tk["id"].as_i64().unwrap())
        .execute(&t.app.store.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE users SET name = $1 WHERE id = $2")
        .bind("Dave\r\nX-Injected: name")
        .bind(requester.id)
        .execute(&t.app.store.pool)
        .await
        .unwrap();
    drain(&app).await;
    let mails = received(&sink);
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(header(&m.raw, "X-Injected"), None, "{}", m.raw);
    assert_eq!(header(&m.raw, "Bcc"), None);
    assert!(
        m.subject
            .ends_with("Printer Bcc: victim@evil.test X-Injected: yes"),
        "{}",
        m.subject
    );
    assert_eq!(m.to, "dave@corp.test");
    let rcpt = header(&m.raw, "X-RcptTo").unwrap_or_default();
    assert!(!rcpt.contains("evil"), "{rcpt}");
}

async fn templates_are_overridden_previewed_checked_and_restored(t: &TestApp) {
    let app = app_sending_to(t, None);
    let admin = t.user("root@corp.test", "admin", None, vec![]).await;
    let requester = t.user("erin@corp.test", "requester", None, vec![]).await;
    let res = t.get("/api/v1/mail-templates", &admin).await;
    assert_eq!(res.status(), 200);
    let all: Value = res.json().await.unwrap();
    let items = all["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        18,
        "8 events and the rejection, in 2 languages"
    );
    assert!(items.iter().all(|i| i["customised"] == false));

    let path = "/api/v1/mail-templates/ticket.created/en";
    let put = |body: Value| t.req(reqwest::Method::PUT, path, &admin).json(&body).send();
    let res =
        put(json!({"subject": "Got it: {{title}}", "body": "Hi {{recipient}}, see {{link}}"}))
            .await
            .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["customised"], true);
    assert_eq!(v["version"], 1);

    let res = put(json!({"subject": "Got it", "body": "Hi {{nope}}"}))
        .await
        .unwrap();
    let p = problem(res, 422, Some("body")).await;
    assert!(p["detail"].to_string().contains("nope"), "{p}");
    let res = put(json!({"subject": "Got it\r\nBcc: x@y.test", "body": "Hi"}))
        .await
        .unwrap();
    problem(res, 422, Some("subject")).await;
    let res = t
        .get("/api/v1/mail-templates/ticket.deleted/en", &admin)
        .await;
    problem(res, 404, None).await;
    let res = t
        .get("/api/v1/mail-templates/ticket.created/fr", &admin)
        .await;
    problem(res, 404, None).await;

    // Previews in both languages: the stored English override, the built-in Chinese one, and
    // unsaved wording.
    let res = t.post(&format!("{path}/preview"), &admin, json!({})).await;
    let en: Value = res.json().await.unwrap();
    assert_eq!(
        en["subject"],
        "[INC-000123] Got it: The printer cannot reach the network"
    );
    assert_eq!(
        en["body"],
        "Hi Zhang Wei, see https://desk.example.com/tickets/123"
    );
    let res = t
        .post(
            "/api/v1/mail-templates/ticket.created/zh-CN/preview",
            &admin,
            json!({}),
        )
        .await;
    let zh: Value = res.json().await.unwrap();
    assert_eq!(
        zh["subject"],
        "[INC-000123] 我们已收到您的请求：打印机无法连接网络"
    );
    let res = t
        .post(
            "/api/v1/mail-templates/ticket.created/zh-CN/preview",
            &admin,
            json!({"subject": "{{number}} {{unknown}}"}),
        )
        .await;
    problem(res, 422, Some("subject")).await;

    // The override is what the requester gets.
    t.ticket(&requester, "Laptop", json!({})).await;
    drain(&app).await;
    let res = t.get("/api/v1/outbound-mail", &admin).await;
    let outbox: Value = res.json().await.unwrap();
    assert_eq!(outbox["items"][0]["subject"], "[INC-000001] Got it: Laptop");

    // DELETE restores the built-in wording.
    let res = t
        .req(reqwest::Method::DELETE, path, &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["customised"], false);
    assert_eq!(v["subject"], "We received your request: {{title}}");
    let res = t.get(path, &admin).await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["customised"], false);

    // Every change is in the audit log.
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE entity = 'mail_template'")
            .fetch_one(&t.app.store.pool)
            .await
            .unwrap();
    assert_eq!(n, 3, "subject and body set, then reset");
}

async fn requesters_see_no_templates_and_no_outbox(t: &TestApp) {
    let requester = t.user("frank@corp.test", "requester", None, vec![]).await;
    let agent = t.user("agent@corp.test", "agent", None, vec![]).await;
    let other = t.user("grace@corp.test", "requester", None, vec![]).await;
    let tk = t.ticket(&other, "Not yours", json!({})).await;
    for user in [&requester, &agent] {
        let res = t.get("/api/v1/mail-templates", user).await;
        problem(res, 403, None).await;
        let res = t
            .get("/api/v1/mail-templates/ticket.created/en", user)
            .await;
        problem(res, 403, None).await;
        let res = t.get("/api/v1/outbound-mail", user).await;
        problem(res, 403, None).await;
        let res = t
            .post("/api/v1/outbound-mail/1/retry", user, json!({}))
            .await;
        problem(res, 403, None).await;
    }
    let res = t
        .req(
            reqwest::Method::PUT,
            "/api/v1/mail-templates/ticket.created/en",
            &requester,
        )
        .json(&json!({"subject": "x", "body": "y"}))
        .send()
        .await
        .unwrap();
    problem(res, 403, None).await;
    let res = t
        .get(
            &format!("/api/v1/tickets/{}/outbound-mail", tk["id"]),
            &requester,
        )
        .await;
    problem(res, 403, None).await;
}
