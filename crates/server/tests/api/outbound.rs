//! Notifications out by email, delivered to a real SMTP receiver on loopback (aiosmtpd writing
//! a Maildir) and read back with mail-parser: languages, threading headers, preferences,
//! retries when the receiver is down, no double sends, no header injection, the templates API
//! and who may see what.

use crate::common::{problem, Browser, TestApp, User};
use crate::on_both_databases;
use mail_parser::{HeaderValue, MessageParser};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use steward_core::Channel;
use steward_server::app::events::{Event, EventKind};
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
    pages_edit_templates_show_the_outbox_and_save_choices,
    assignment_and_replies_skip_the_actor_loops_and_inactive_users,
    a_rejection_is_bilingual_threaded_and_queued_once,
    a_reply_event_skips_its_actor_and_comments_of_other_tickets,
    no_rejection_goes_to_stewards_own_addresses,
    starttls_trusts_the_extra_ca_and_nothing_else,
    authentication_uses_the_urls_user_and_password,
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
        SmtpSink::start_with(port, &[]).await
    }

    fn new_maildir(port: u16) -> PathBuf {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "smtp_{}_{port}_{}",
            std::process::id(),
            jiff::Timestamp::now().as_microsecond()
        ))
    }

    /// With extra options before the handler (`--tlscert`, `--tlskey`: STARTTLS required).
    async fn start_with(port: u16, options: &[&str]) -> SmtpSink {
        let maildir = SmtpSink::new_maildir(port);
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(options)
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir);
        SmtpSink::spawn(cmd, port, maildir).await
    }

    /// aiosmtpd requiring STARTTLS and then AUTH with this user and password (the command
    /// line has no options for AUTH, so a few lines of Python set it up).
    async fn start_with_auth(port: u16, cert: &str, key: &str, user: &str, pass: &str) -> SmtpSink {
        const SERVER: &str = r#"
import ssl, sys, threading
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword
port, maildir, cert, key, user, password = sys.argv[1:7]
def check(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login.decode() == user \
        and data.password.decode() == password
    return AuthResult(success=ok)
tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls.load_cert_chain(cert, key)
Controller(Mailbox(maildir), hostname="127.0.0.1", port=int(port), tls_context=tls,
           require_starttls=True, authenticator=check, auth_required=True).start()
threading.Event().wait()
"#;
        let maildir = SmtpSink::new_maildir(port);
        let mut cmd = Command::new("python3");
        cmd.args(["-c", SERVER, &port.to_string()])
            .arg(&maildir)
            .args([cert, key, user, pass]);
        SmtpSink::spawn(cmd, port, maildir).await
    }

    async fn spawn(mut cmd: Command, port: u16, maildir: PathBuf) -> SmtpSink {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (scripts/setup.sh installs it)");
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
    let note: Value = res.json().await.unwrap();
    // Even a reply event that names the note (a bug elsewhere) mails nothing.
    let forged = Event::new(
        EventKind::TicketReplied,
        en_ticket["id"].as_i64().unwrap(),
        Some(agent.id),
        steward_store::now_micros(),
    )
    .with_comment(note["id"].as_i64().unwrap());
    outbound::on_events(&app, &[forged]).await.unwrap();
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
        "/api/v1/mail-templates",
        "/api/v1/mail-templates/{event}/{locale}",
        "/api/v1/mail-templates/{event}/{locale}/preview",
        "/api/v1/me/notification-preferences",
        "/api/v1/outbound-mail",
        "/api/v1/outbound-mail/{id}/retry",
        "/api/v1/tickets/{id}/outbound-mail",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} is documented");
    }
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

async fn pages_edit_templates_show_the_outbox_and_save_choices(t: &TestApp) {
    let admin = t.user("root@corp.test", "admin", None, vec![]).await;
    let requester = t.user("hank@corp.test", "requester", None, vec![]).await;
    let browser = Browser::login(t, "root@corp.test").await;
    let (status, html) = browser.get("/admin/mail-templates").await;
    assert_eq!(status, 200);
    assert!(html.contains("Public reply") && html.contains("mail.rejected"));

    // Both languages side by side, each with its preview.
    let edit = "/admin/mail-templates/ticket.created";
    let (status, html) = browser.get(edit).await;
    assert_eq!(status, 200);
    assert!(html.contains("[INC-000123] 我们已收到您的请求：打印机无法连接网络"));
    assert!(html
        .contains("[INC-000123] We received your request: The printer cannot reach the network"));

    // A preview of unsaved wording saves nothing.
    let form = "/admin/mail-templates/ticket.created/en";
    let (status, html) = browser
        .post(
            edit,
            form,
            &[
                ("action", "preview"),
                ("subject", "Hey {{title}}"),
                ("body", "Hi {{recipient}}"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("[INC-000123] Hey The printer cannot reach the network"));
    let v: Value = t
        .get("/api/v1/mail-templates/ticket.created/en", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["customised"], false);

    let (status, html) = browser
        .post(
            edit,
            form,
            &[("action", "save"), ("subject", "Hey"), ("body", "{{nope}}")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        html.contains("nope") && html.contains("{{nope}}"),
        "the typed text stays"
    );
    let (status, location) = browser
        .post(
            edit,
            form,
            &[
                ("action", "save"),
                ("subject", "Hey {{title}}"),
                ("body", "Hi"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/admin/mail-templates/ticket.created?done=saved")
    );
    let v: Value = t
        .get("/api/v1/mail-templates/ticket.created/en", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["subject"], "Hey {{title}}");
    let (status, _) = browser.post(edit, form, &[("action", "reset")]).await;
    assert_eq!(status, 303);

    let (status, _) = browser.get("/admin/outbox?status=failed").await;
    assert_eq!(status, 200);

    // A requester has no admin pages, and chooses their own notifications.
    let browser = Browser::login(t, "hank@corp.test").await;
    let (status, _) = browser.get("/admin/outbox").await;
    assert_eq!(status, 403);
    let (status, _) = browser.get("/admin/mail-templates/ticket.created").await;
    assert_eq!(status, 403);
    let prefs = "/profile/notifications";
    let (status, html) = browser.get(prefs).await;
    assert_eq!(status, 200);
    assert!(html.contains("value=\"ticket.replied\" checked"));
    let (status, _) = browser
        .post(prefs, prefs, &[("email", "ticket.replied")])
        .await;
    assert_eq!(status, 303);
    let v: Value = t
        .get("/api/v1/me/notification-preferences", &requester)
        .await
        .json()
        .await
        .unwrap();
    let email = |e: &str| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["event"] == e)
            .unwrap()["email"]
            .clone()
    };
    assert_eq!(email("ticket.replied"), true);
    assert_eq!(email("ticket.created"), false);
}

async fn assignment_and_replies_skip_the_actor_loops_and_inactive_users(t: &TestApp) {
    let sink = SmtpSink::start(free_port()).await;
    let app = app_sending_to(t, Some(sink.port));
    let team = t.team("Desk").await;
    let admin = t.user("root@corp.test", "admin", None, vec![]).await;
    let agent = t.user("ivan@corp.test", "agent", None, vec![team]).await;
    let requester = t.user("judy@corp.test", "requester", None, vec![]).await;
    let looping = t
        .user("helpdesk@corp.test", "requester", None, vec![])
        .await;
    let gone = t.user("left@corp.test", "requester", None, vec![]).await;
    let watcher = t.user("kim@corp.test", "requester", None, vec![]).await;
    // One of Steward's own inbound addresses, in other capitals.
    sqlx::query(
        "INSERT INTO mailboxes (address, name, create_requesters, unknown_sender, active, \
         version, created_at, updated_at) VALUES ('HelpDesk@corp.test', 'Desk', 0, 'reject', 1, 1, 0, 0)",
    )
    .execute(&t.app.store.pool)
    .await
    .unwrap();

    let tk = t.ticket(&requester, "VPN drops", json!({})).await;
    let path = format!("/api/v1/tickets/{}", tk["id"]);
    let res = t
        .patch(
            &path,
            &admin,
            json!({"team_id": team, "assignee_id": agent.id,
                   "watcher_ids": [looping.id, gone.id, watcher.id]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = t
        .patch(&path, &admin, json!({"status": "in_progress"}))
        .await;
    assert_eq!(res.status(), 200);
    // Disabled after being made a watcher.
    sqlx::query("UPDATE users SET active = 0 WHERE id = $1")
        .bind(gone.id)
        .execute(&t.app.store.pool)
        .await
        .unwrap();
    let res = t
        .post(
            &format!("{path}/comments"),
            &agent,
            json!({"body": "Looking at it."}),
        )
        .await;
    assert_eq!(res.status(), 201);
    drain(&app).await;
    let mails = received(&sink);
    let to = |event: &str| -> Vec<String> {
        let mut v: Vec<String> = mails
            .iter()
            .filter(|m| header(&m.raw, "X-Steward-Event").as_deref() == Some(event))
            .map(|m| m.to.clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(to("ticket.created"), vec!["judy@corp.test"]);
    assert_eq!(to("ticket.assigned"), vec!["ivan@corp.test"]);
    assert_eq!(to("ticket.status_changed"), vec!["judy@corp.test"]);
    let changed = mails
        .iter()
        .find(|m| m.subject.contains("Status now"))
        .unwrap();
    assert!(
        changed
            .subject
            .ends_with("Status now In progress: VPN drops"),
        "{}",
        changed.subject
    );
    // Not the author, not Steward's own address, not the disabled account.
    assert_eq!(
        to("ticket.replied"),
        vec!["judy@corp.test", "kim@corp.test"]
    );
    let assigned = mails.iter().find(|m| m.to == "ivan@corp.test").unwrap();
    assert!(
        assigned.subject.contains("Assigned to you"),
        "{}",
        assigned.subject
    );
}

async fn a_rejection_is_bilingual_threaded_and_queued_once(t: &TestApp) {
    let sink = SmtpSink::start(free_port()).await;
    let app = app_sending_to(t, Some(sink.port));
    for _ in 0..2 {
        t.app
            .store
            .write(|ctx| {
                Box::pin(async move {
                    outbound::queue_rejection(
                        ctx,
                        "stranger@outside.test",
                        "Need\r\nBcc: x@y.test help",
                        Some("<q-1@outside.test>"),
                        steward_store::now_micros(),
                    )
                    .await
                })
            })
            .await
            .unwrap();
    }
    drain(&app).await;
    let mails = received(&sink);
    assert_eq!(mails.len(), 1, "the same message is answered once");
    let m = &mails[0];
    assert_eq!(m.to, "stranger@outside.test");
    assert_eq!(m.subject, "无法受理您的邮件：Need Bcc: x@y.test help");
    assert_eq!(m.in_reply_to, vec!["<q-1@outside.test>".to_string()]);
    assert!(m.body.contains("未被受理") && m.body.contains("was not accepted"));
    assert_eq!(
        header(&m.raw, "Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    assert_eq!(header(&m.raw, "Bcc"), None);
}

async fn a_reply_event_skips_its_actor_and_comments_of_other_tickets(t: &TestApp) {
    let app = app_sending_to(t, None);
    let team = t.team("Desk").await;
    let agent = t.user("olga@corp.test", "agent", None, vec![team]).await;
    let requester = t.user("pete@corp.test", "requester", None, vec![]).await;
    let watcher = t.user("quinn@corp.test", "requester", None, vec![]).await;
    let tk = t.ticket(&requester, "Monitor flickers", json!({})).await;
    let other = t.ticket(&watcher, "Keyboard", json!({})).await;
    let ticket_id = tk["id"].as_i64().unwrap();
    let res = t
        .patch(
            &format!("/api/v1/tickets/{ticket_id}"),
            &agent,
            json!({"watcher_ids": [watcher.id]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let mut comments = Vec::new();
    for (ticket, body) in [(&tk, "Try another cable."), (&other, "Keyboard detail")] {
        let path = format!("/api/v1/tickets/{}/comments", ticket["id"]);
        let res = t.post(&path, &agent, json!({ "body": body })).await;
        assert_eq!(res.status(), 201);
        comments.push(res.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
    }
    let (reply, elsewhere) = (comments[0], comments[1]);
    drain(&app).await;
    sqlx::query("DELETE FROM outbound_mail")
        .execute(&t.app.store.pool)
        .await
        .unwrap();

    // The change's actor (here the requester, the author being the agent) hears nothing of it.
    let by_requester = Event::new(
        EventKind::TicketReplied,
        ticket_id,
        Some(requester.id),
        steward_store::now_micros(),
    )
    .with_comment(reply);
    // A reply event that names another ticket's comment mails nothing.
    let foreign = Event::new(
        EventKind::TicketReplied,
        ticket_id,
        Some(agent.id),
        steward_store::now_micros(),
    )
    .with_comment(elsewhere);
    outbound::on_events(&app, &[by_requester, foreign])
        .await
        .unwrap();
    let to: Vec<String> = sqlx::query_scalar("SELECT to_address FROM outbound_mail ORDER BY id")
        .fetch_all(&t.app.store.pool)
        .await
        .unwrap();
    assert_eq!(to, vec!["quinn@corp.test".to_string()]);
}

async fn no_rejection_goes_to_stewards_own_addresses(t: &TestApp) {
    sqlx::query(
        "INSERT INTO mailboxes (address, name, create_requesters, unknown_sender, active, \
         version, created_at, updated_at) VALUES ('help@corp.test', 'Desk', 0, 'reject', 1, 1, 0, 0)",
    )
    .execute(&t.app.store.pool)
    .await
    .unwrap();
    // The From address (DEFAULT_FROM here) and a mailbox, in other capitals.
    for (to, message_id) in [
        ("ServiceDesk@example.com", "<loop-1@example.com>"),
        ("HELP@corp.test", "<loop-2@corp.test>"),
    ] {
        t.app
            .store
            .write(move |ctx| {
                Box::pin(async move {
                    outbound::queue_rejection(
                        ctx,
                        to,
                        "Undeliverable",
                        Some(message_id),
                        steward_store::now_micros(),
                    )
                    .await
                })
            })
            .await
            .unwrap();
    }
    assert_eq!(outbound_rows(t).await, 0);
}

/// A test CA and a server certificate for localhost signed by it, made with openssl.
fn test_certificates(dir: &std::path::Path) -> (String, String, String) {
    std::fs::create_dir_all(dir).unwrap();
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        p("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=Steward Test CA"];
    ca.extend(ec);
    let (ca_key, ca_pem) = (p("ca.key"), p("ca.pem"));
    ca.extend(["-keyout", &ca_key, "-out", &ca_pem]);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    ca.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    run(&ca);
    let (key, csr, cert, ext) = (
        p("server.key"),
        p("server.csr"),
        p("server.pem"),
        p("server.ext"),
    );
    let mut req = vec![
        "req",
        "-subj",
        "/CN=localhost",
        "-keyout",
        &key,
        "-out",
        &csr,
    ];
    req.extend(ec);
    run(&req);
    run(&[
        "x509",
        "-req",
        "-days",
        "2",
        "-in",
        &csr,
        "-CA",
        &ca_pem,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &cert,
        "-extfile",
        &ext,
    ]);
    (ca_pem, cert, key)
}

async fn starttls_trusts_the_extra_ca_and_nothing_else(t: &TestApp) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "tls_{}_{}",
        std::process::id(),
        jiff::Timestamp::now().as_microsecond()
    ));
    let (ca, cert, key) = test_certificates(&dir);
    let port = free_port();
    let sink = SmtpSink::start_with(port, &["--tlscert", &cert, "--tlskey", &key]).await;
    let url = format!("smtp://localhost:{port}?tls=required");
    let requester = t.user("lena@corp.test", "requester", None, vec![]).await;

    // Without the CA the server is not trusted: nothing is sent, the error is kept.
    let mut untrusting = t.app.clone();
    untrusting.outbound = Arc::new(
        Settings::new(Some(&url), DEFAULT_FROM, "https://desk.example.com", None).unwrap(),
    );
    t.ticket(&requester, "Over TLS", json!({})).await;
    drain(&untrusting).await;
    assert!(received(&sink).is_empty());
    let error: Option<String> = sqlx::query_scalar("SELECT last_error FROM outbound_mail")
        .fetch_one(&t.app.store.pool)
        .await
        .unwrap();
    assert!(error.is_some_and(|e| !e.is_empty()));

    // With it, STARTTLS succeeds and the retry delivers.
    let mut trusting = t.app.clone();
    trusting.outbound = Arc::new(
        Settings::new(
            Some(&url),
            DEFAULT_FROM,
            "https://desk.example.com",
            Some(&ca),
        )
        .unwrap(),
    );
    sqlx::query("UPDATE jobs SET run_at = 0 WHERE kind = 'mail.send' AND status = 'queued'")
        .execute(&t.app.store.pool)
        .await
        .unwrap();
    drain(&trusting).await;
    let mails = received(&sink);
    assert_eq!(mails.len(), 1);
    assert!(mails[0].subject.contains("Over TLS"));
    let _ = std::fs::remove_dir_all(&dir);
}

async fn authentication_uses_the_urls_user_and_password(t: &TestApp) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "auth_{}_{}",
        std::process::id(),
        jiff::Timestamp::now().as_microsecond()
    ));
    let (ca, cert, key) = test_certificates(&dir);
    let port = free_port();
    let sink = SmtpSink::start_with_auth(port, &cert, &key, "steward", "p@ss word:1").await;
    let requester = t.user("mona@corp.test", "requester", None, vec![]).await;
    let with_credentials = |credentials: &str| {
        let url = format!("smtp://{credentials}localhost:{port}?tls=required");
        let mut app = t.app.clone();
        app.outbound = Arc::new(
            Settings::new(
                Some(&url),
                DEFAULT_FROM,
                "https://desk.example.com",
                Some(&ca),
            )
            .unwrap(),
        );
        app
    };

    // Without credentials the server refuses the mail; the error is kept for the retry.
    // (aiosmtpd answers a wrong password only after a long delay, so that case is left out.)
    t.ticket(&requester, "Authenticated", json!({})).await;
    drain(&with_credentials("")).await;
    assert!(received(&sink).is_empty());
    let error: Option<String> = sqlx::query_scalar("SELECT last_error FROM outbound_mail")
        .fetch_one(&t.app.store.pool)
        .await
        .unwrap();
    assert!(error.is_some_and(|e| !e.is_empty()));

    // The right one, percent-encoded in the URL, is decoded and accepted.
    sqlx::query("UPDATE jobs SET run_at = 0 WHERE kind = 'mail.send' AND status = 'queued'")
        .execute(&t.app.store.pool)
        .await
        .unwrap();
    drain(&with_credentials("steward:p%40ss%20word%3A1@")).await;
    let mails = received(&sink);
    assert_eq!(mails.len(), 1);
    assert!(mails[0].subject.contains("Authenticated"));
    let _ = std::fs::remove_dir_all(&dir);
}
