//! The IMAP poller against a real Dovecot: implicit TLS and STARTTLS, move and flag modes (and
//! the COPY/EXPUNGE way when the server lacks MOVE), a message the intake refuses staying on the
//! server, a wrong password recorded on the mailbox, a 20 MB message, and the whole way from a
//! mailbox to a ticket through the real intake.

#[path = "dovecot.rs"]
mod dovecot;

use crate::common::TestApp;
use crate::on_both_databases;
use base64::Engine;
use dovecot::{Dovecot, Options, Stored};
use futures::TryStreamExt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use steward_server::app::inbound::imap::{poll_all, poll_mailbox_with, Drained};
use steward_server::app::{AppError, AppResult};
use steward_store::imap::ImapMailbox;

on_both_databases!(
    imap_tls_move_mode_takes_each_message_once,
    imap_starttls_flag_mode_marks_instead_of_moving,
    imap_without_move_copies_and_expunges,
    imap_refused_message_stays_for_the_next_poll,
    imap_wrong_password_is_the_mailbox_error,
    imap_failing_mailbox_does_not_stop_the_others,
    imap_plain_text_refused_off_loopback,
    imap_silent_server_times_out,
    imap_twenty_megabyte_message,
    imap_real_intake_opens_a_ticket,
);

/// How a test mailbox reaches the server.
struct Setup<'a> {
    address: &'a str,
    port: u16,
    security: &'a str,
    password: &'a str,
    after: &'a str,
    done_folder: Option<&'a str>,
}

impl<'a> Setup<'a> {
    fn new(address: &'a str, dovecot: &Dovecot) -> Setup<'a> {
        Setup {
            address,
            port: dovecot.imaps_port,
            security: "tls",
            password: dovecot::PASSWORD,
            after: "move",
            done_folder: Some("Processed"),
        }
    }
}

/// Adds an active mailbox polled over IMAP and returns it as the poller sees it.
async fn mailbox(t: &TestApp, host: &str, s: Setup<'_>) -> ImapMailbox {
    let values = (
        s.address.to_string(),
        host.to_string(),
        i64::from(s.port),
        s.security.to_string(),
        s.password.to_string(),
        s.after.to_string(),
        s.done_folder.map(str::to_string),
    );
    t.app
        .store
        .write(move |ctx| {
            Box::pin(async move {
                let (address, host, port, security, password, after, done) = values;
                sqlx::query(
                    "INSERT INTO mailboxes (address, name, create_requesters, unknown_sender, \
                     imap_host, imap_port, imap_security, imap_username, imap_password, \
                     imap_folder, imap_after, imap_done_folder, active, version, created_at, \
                     updated_at) VALUES ($1, $1, 1, 'quarantine', $2, $3, $4, $5, $6, 'INBOX', \
                     $7, $8, 1, 1, 0, 0)",
                )
                .bind(address)
                .bind(host)
                .bind(port)
                .bind(security)
                .bind(dovecot::USER)
                .bind(password)
                .bind(after)
                .bind(done)
                .execute(&mut ctx.conn)
                .await
                .map_err(steward_store::StoreError::from)?;
                Ok::<_, AppError>(())
            })
        })
        .await
        .unwrap();
    let mut conn = t.app.read().await.unwrap();
    steward_store::imap::polled_mailboxes(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.address == s.address)
        .unwrap()
}

/// The mailbox's poll record: last polled at, last error.
async fn poll_record(t: &TestApp, mailbox_id: i64) -> (Option<i64>, Option<String>) {
    let mut conn = t.app.read().await.unwrap();
    sqlx::query_as("SELECT imap_last_polled_at, imap_last_error FROM mailboxes WHERE id = $1")
        .bind(mailbox_id)
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

/// A stand-in for the intake: records every message it is handed, and refuses (does not
/// store) those containing a marker while refusing is on.
#[derive(Clone, Default)]
struct Intake {
    got: Arc<Mutex<Vec<Vec<u8>>>>,
    refusing: Arc<Mutex<Option<&'static str>>>,
}

impl Intake {
    fn take(&self, raw: Vec<u8>) -> AppResult<()> {
        let marker = *self.refusing.lock().unwrap();
        if let Some(marker) = marker {
            if contains(&raw, marker.as_bytes()) {
                return Err(AppError::Internal("the test intake refused it".into()));
            }
        }
        self.got.lock().unwrap().push(raw);
        Ok(())
    }

    fn got(&self) -> Vec<Vec<u8>> {
        self.got.lock().unwrap().clone()
    }

    async fn poll(&self, t: &TestApp, mailbox: &ImapMailbox) -> AppResult<Drained> {
        poll_mailbox_with(&t.app, mailbox, |raw| {
            let intake = self.clone();
            async move { intake.take(raw) }
        })
        .await
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn message(from: &str, subject: &str, body: &str) -> Vec<u8> {
    static N: AtomicU32 = AtomicU32::new(0);
    let id = format!(
        "<{}.{}@test.example>",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    format!(
        "From: {from}\r\nTo: help@desk.example\r\nSubject: {subject}\r\nMessage-ID: {id}\r\n\
         Date: Wed, 25 Nov 2026 10:00:00 +0800\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         {body}\r\n"
    )
    .into_bytes()
}

fn chinese_subject(text: &str) -> String {
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(text)
    )
}

fn bodies(stored: &[Stored]) -> Vec<Vec<u8>> {
    stored.iter().map(|m| m.raw.clone()).collect()
}

async fn imap_tls_move_mode_takes_each_message_once(t: &TestApp) {
    let dc = Dovecot::start(Options::default()).await;
    let sent = vec![
        message(
            "ann@example.com",
            "Printer jam",
            "The printer on floor 3 jams.",
        ),
        message(
            "li@example.cn",
            &chinese_subject("打印机无法连接网络"),
            "您好，三楼的打印机无法连接网络。",
        ),
        message("bob@example.com", "VPN", "VPN drops every hour."),
    ];
    dc.append("INBOX", &sent).await;
    // A Chinese done folder exercises the modified UTF-7 folder names.
    let mut setup = Setup::new("help@desk.example", &dc);
    setup.done_folder = Some("已处理");
    let mb = mailbox(t, "127.0.0.1", setup).await;
    let intake = Intake::default();

    let drained = intake.poll(t, &mb).await.unwrap();
    assert_eq!(
        drained,
        Drained {
            taken: 3,
            refused: 0
        }
    );
    assert_eq!(intake.got(), sent, "each message whole, in arrival order");
    assert_eq!(dc.messages("INBOX").await.unwrap().len(), 0, "all moved");
    let done = dc
        .messages("&XfJZBHQG-")
        .await
        .expect("the done folder was created");
    assert_eq!(bodies(&done), sent);
    assert!(
        done.iter()
            .all(|m| !m.flags.contains(&"\\Seen".to_string())),
        "fetched with PEEK: a human still sees them unread"
    );
    let (polled_at, error) = poll_record(t, mb.id).await;
    assert!(polled_at.is_some());
    assert_eq!(error, None);

    // Nothing is taken twice; a new arrival is taken alone.
    assert_eq!(intake.poll(t, &mb).await.unwrap(), Drained::default());
    let later = message("cai@example.com", "Monitor", "No signal.");
    dc.append("INBOX", std::slice::from_ref(&later)).await;
    assert_eq!(intake.poll(t, &mb).await.unwrap().taken, 1);
    assert_eq!(intake.got().len(), 4);
    assert_eq!(intake.got()[3], later);
}

async fn imap_starttls_flag_mode_marks_instead_of_moving(t: &TestApp) {
    let dc = Dovecot::start(Options::default()).await;
    let sent = vec![
        message("ann@example.com", "Laptop", "Battery swollen."),
        message("bob@example.com", "Mail", "Cannot send."),
    ];
    dc.append("INBOX", &sent).await;
    let mut setup = Setup::new("flag@desk.example", &dc);
    setup.port = dc.imap_port;
    setup.security = "starttls";
    setup.after = "flag";
    setup.done_folder = None;
    let mb = mailbox(t, "localhost", setup).await;
    let intake = Intake::default();

    assert_eq!(intake.poll(t, &mb).await.unwrap().taken, 2);
    assert_eq!(intake.got(), sent);
    let inbox = dc.messages("INBOX").await.unwrap();
    assert_eq!(
        bodies(&inbox),
        sent,
        "flag mode leaves the messages in place"
    );
    for m in &inbox {
        assert!(m.flags.contains(&"\\Seen".to_string()), "{:?}", m.flags);
        assert!(m.flags.contains(&"$Steward".to_string()), "{:?}", m.flags);
        assert!(!m.flags.contains(&"\\Deleted".to_string()));
    }
    assert_eq!(dc.messages("Processed").await.map(|m| m.len()), None);

    assert_eq!(intake.poll(t, &mb).await.unwrap(), Drained::default());
    let later = message("cai@example.com", "Phone", "Screen cracked.");
    dc.append("INBOX", std::slice::from_ref(&later)).await;
    assert_eq!(intake.poll(t, &mb).await.unwrap().taken, 1);
    assert_eq!(intake.got()[2], later);
}

async fn imap_without_move_copies_and_expunges(t: &TestApp) {
    let dc = Dovecot::start(Options { without_move: true }).await;
    let sent: Vec<Vec<u8>> = (0..5)
        .map(|i| message("ann@example.com", &format!("Request {i}"), "Please help."))
        .collect();
    // Someone else's message, marked \Deleted but not expunged, must survive: the poller
    // expunges only its own UIDs (UID EXPUNGE).
    let theirs = message("eve@example.com", "Deleted by a human", "keep me");
    dc.append("INBOX", std::slice::from_ref(&theirs)).await;
    dc.append("INBOX", &sent).await;
    let mut s = dc.session().await;
    let capabilities = s.capabilities().await.unwrap();
    assert!(!capabilities.has_str("MOVE") && capabilities.has_str("UIDPLUS"));
    s.select("INBOX").await.unwrap();
    let stored: Vec<_> = s
        .uid_store("1", "+FLAGS (\\Deleted)")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    s.logout().await.unwrap();
    let mb = mailbox(t, "127.0.0.1", Setup::new("copy@desk.example", &dc)).await;
    let intake = Intake::default();

    assert_eq!(intake.poll(t, &mb).await.unwrap().taken, 5);
    assert_eq!(intake.got(), sent);
    let inbox = dc.messages("INBOX").await.unwrap();
    assert_eq!(
        bodies(&inbox),
        vec![theirs],
        "only the taken ones were expunged"
    );
    assert_eq!(bodies(&dc.messages("Processed").await.unwrap()), sent);
}

async fn imap_refused_message_stays_for_the_next_poll(t: &TestApp) {
    let dc = Dovecot::start(Options::default()).await;
    let sent = vec![
        message("ann@example.com", "One", "first"),
        message("bob@example.com", "Two", "second REFUSE-ME"),
        message("cai@example.com", "Three", "third"),
    ];
    dc.append("INBOX", &sent).await;
    let mb = mailbox(t, "127.0.0.1", Setup::new("help@desk.example", &dc)).await;
    let intake = Intake::default();
    *intake.refusing.lock().unwrap() = Some("REFUSE-ME");

    let drained = intake.poll(t, &mb).await.unwrap();
    assert_eq!(
        drained,
        Drained {
            taken: 2,
            refused: 1
        }
    );
    assert_eq!(intake.got(), vec![sent[0].clone(), sent[2].clone()]);
    let inbox = dc.messages("INBOX").await.unwrap();
    assert_eq!(
        bodies(&inbox),
        vec![sent[1].clone()],
        "the refused one stays"
    );
    assert!(inbox[0].flags.is_empty(), "untouched: {:?}", inbox[0].flags);
    let (_, error) = poll_record(t, mb.id).await;
    let error = error.expect("the refusal is shown on the mailbox");
    assert!(error.contains("could not be stored"), "{error}");

    // The intake works again: the message is taken, the error cleared.
    *intake.refusing.lock().unwrap() = None;
    assert_eq!(
        intake.poll(t, &mb).await.unwrap(),
        Drained {
            taken: 1,
            refused: 0
        }
    );
    assert_eq!(intake.got()[2], sent[1]);
    assert_eq!(dc.messages("INBOX").await.unwrap().len(), 0);
    assert_eq!(poll_record(t, mb.id).await.1, None);
}

async fn imap_wrong_password_is_the_mailbox_error(t: &TestApp) {
    let dc = Dovecot::start(Options::default()).await;
    dc.append("INBOX", &[message("ann@example.com", "Hi", "x")])
        .await;
    let mut setup = Setup::new("help@desk.example", &dc);
    setup.password = "not-the-password";
    let mb = mailbox(t, "127.0.0.1", setup).await;
    let intake = Intake::default();

    let err = intake.poll(t, &mb).await.unwrap_err();
    assert!(err.to_string().contains("login"), "{err}");
    let (polled_at, error) = poll_record(t, mb.id).await;
    assert_eq!(polled_at, None, "no successful poll yet");
    let error = error.unwrap();
    assert!(error.contains("login was refused"), "{error}");
    assert!(
        !error.contains("not-the-password"),
        "no password in the error"
    );
    assert!(intake.got().is_empty());
    assert_eq!(dc.messages("INBOX").await.unwrap().len(), 1);
}

async fn imap_failing_mailbox_does_not_stop_the_others(t: &TestApp) {
    let dc = Dovecot::start(Options::default()).await;
    let mut bad = Setup::new("bad@desk.example", &dc);
    bad.password = "wrong";
    let bad = mailbox(t, "127.0.0.1", bad).await;
    let good = mailbox(t, "127.0.0.1", Setup::new("good@desk.example", &dc)).await;
    assert!(bad.id < good.id, "the failing one is polled first");

    // The job itself succeeds: the failure belongs to the mailbox.
    poll_all(&t.app).await.unwrap();
    let (bad_polled, bad_error) = poll_record(t, bad.id).await;
    assert_eq!(bad_polled, None);
    assert!(bad_error.unwrap().contains("login was refused"));
    let (good_polled, good_error) = poll_record(t, good.id).await;
    assert!(good_polled.is_some(), "the next mailbox was still polled");
    assert_eq!(good_error, None);
}

async fn imap_plain_text_refused_off_loopback(t: &TestApp) {
    let setup = Setup {
        address: "plain@desk.example",
        port: 143,
        security: "none",
        password: "secret",
        after: "move",
        done_folder: None,
    };
    // TEST-NET-1: never reached, the poller refuses before connecting.
    let mb = mailbox(t, "192.0.2.10", setup).await;
    let intake = Intake::default();
    let err = intake.poll(t, &mb).await.unwrap_err();
    assert!(
        err.to_string().contains("refusing plain-text IMAP"),
        "{err}"
    );
    let error = poll_record(t, mb.id).await.1.unwrap();
    assert!(error.contains("use tls or starttls"), "{error}");
}

/// A server that accepts the connection and then says nothing must not hold the poll job.
async fn imap_silent_server_times_out(t: &TestApp) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let setup = Setup {
        address: "silent@desk.example",
        port,
        security: "tls",
        password: "secret",
        after: "move",
        done_folder: None,
    };
    let mb = mailbox(t, "127.0.0.1", setup).await;
    let err = Intake::default().poll(t, &mb).await.unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    let (polled_at, error) = poll_record(t, mb.id).await;
    assert_eq!(polled_at, None);
    assert!(error.unwrap().contains("TLS handshake"));
    held.abort();
}

async fn imap_twenty_megabyte_message(t: &TestApp) {
    let dc = Dovecot::start(Options::default()).await;
    // 20 MB of base64 attachment, as a mail client would send it.
    let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n";
    let attachment = line.repeat(20 * 1024 * 1024 / line.len() + 1);
    let big = format!(
        "From: ann@example.com\r\nTo: help@desk.example\r\nSubject: Logs\r\n\
         Message-ID: <big.{}@test.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nLogs attached.\r\n--b1\r\n\
         Content-Type: application/octet-stream; name=\"logs.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{attachment}--b1--\r\n",
        std::process::id()
    )
    .into_bytes();
    assert!(big.len() > 20 * 1024 * 1024);
    let small = message("bob@example.com", "Small", "after the big one");
    dc.append("INBOX", &[big.clone(), small.clone()]).await;
    let mb = mailbox(t, "127.0.0.1", Setup::new("help@desk.example", &dc)).await;
    let intake = Intake::default();

    assert_eq!(intake.poll(t, &mb).await.unwrap().taken, 2);
    let got = intake.got();
    assert_eq!(got.len(), 2);
    assert!(got[0] == big, "the 20 MB message arrives whole");
    assert_eq!(got[1], small);
    assert_eq!(dc.messages("INBOX").await.unwrap().len(), 0);
}

/// Through the real intake (crate::app::inbound::receive): a message from a new requester
/// opens a ticket, and the message leaves the inbox.
async fn imap_real_intake_opens_a_ticket(t: &TestApp) {
    let dc = Dovecot::start(Options::default()).await;
    let subject = "Wi-Fi 无法连接";
    dc.append(
        "INBOX",
        &[message(
            "new.person@example.com",
            &chinese_subject(subject),
            "会议室的无线网络连不上。",
        )],
    )
    .await;
    let mb = mailbox(t, "127.0.0.1", Setup::new("help@desk.example", &dc)).await;

    poll_all(&t.app).await.unwrap();
    assert_eq!(poll_record(t, mb.id).await.1, None, "stored without error");
    let mut conn = t.app.read().await.unwrap();
    let titles: Vec<(String,)> = sqlx::query_as("SELECT title FROM tickets")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(titles, vec![(subject.to_string(),)]);
    drop(conn);
    assert_eq!(dc.messages("INBOX").await.unwrap().len(), 0);
    assert_eq!(dc.messages("Processed").await.unwrap().len(), 1);
}
