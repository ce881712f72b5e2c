//! Email in: the corpus under tests/mail (written for Steward), threading, loops and floods,
//! unknown senders and the quarantine, the mail API, and the mailgate binary.

use crate::common::{problem, Browser, TestApp, User};
use crate::on_both_databases;
use serde_json::{json, Value};
use steward_server::app::inbound::{self, Received, Source};

on_both_databases!(
    mail_corpus_decodes_chinese_and_keeps_attachments,
    mail_threads_replies_by_tag_and_message_ids,
    mail_keeps_other_peoples_mail_off_a_ticket,
    mail_flood_limit_counts_messages_still_in_flight,
    mail_loops_bounces_and_floods_raise_no_events,
    mail_unknown_senders_follow_the_mailbox_policy,
    mail_api_guards_mailboxes_and_messages,
    mailgate_exit_codes_and_crash_recovery,
    mail_admin_pages_create_edit_and_release_from_quarantine,
);

const DESK: &str = "help@desk.test";

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/mail/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A plain UTF-8 message; `extra` holds more header lines.
fn mail(from: &str, subject: &str, message_id: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {DESK}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n{extra}\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn deliver(t: &TestApp, raw: Vec<u8>) -> Received {
    inbound::receive(&t.app, DESK, raw, Source::Mailgate)
        .await
        .unwrap()
}

async fn scalar(t: &TestApp, sql: &str) -> i64 {
    let mut conn = t.app.read().await.unwrap();
    let row = sqlx::query(sql).fetch_one(&mut *conn).await.unwrap();
    sqlx::Row::try_get(&row, 0).unwrap()
}

/// Event jobs queued so far: each change that notifies anyone queues one.
async fn events(t: &TestApp) -> i64 {
    scalar(t, "SELECT COUNT(*) FROM jobs WHERE kind = 'event.dispatch'").await
}

async fn mailbox(t: &TestApp, admin: &User, extra: Value) -> Value {
    let mut body = json!({"address": "Help@Desk.test", "name": "Help desk"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let res = t.post("/api/v1/mailboxes", admin, body).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn json_of(t: &TestApp, path: &str, user: &User) -> Value {
    let res = t.get(path, user).await;
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

async fn ticket_of(t: &TestApp, r: &Received, user: &User) -> Value {
    json_of(
        t,
        &format!("/api/v1/tickets/{}", r.ticket_id.unwrap()),
        user,
    )
    .await
}

async fn mail_corpus_decodes_chinese_and_keeps_attachments(t: &TestApp) {
    let admin = t.user("admin@desk.test", "admin", None, vec![]).await;
    let team = t.team("Service desk").await;
    mailbox(
        t,
        &admin,
        json!({"team_id": team, "create_requesters": true}),
    )
    .await;

    let r = deliver(t, corpus("gbk_body.eml")).await;
    assert_eq!(r.status, "processed");
    let ticket = ticket_of(t, &r, &admin).await;
    assert_eq!(ticket["title"], "打印机无法连接");
    assert!(ticket["description"]
        .as_str()
        .unwrap()
        .contains("办公室三楼的打印机无法连接网络"));
    assert_eq!(ticket["team_id"], team);
    assert_eq!(ticket["kind"], "incident");
    // A new requester, named from the GBK display name; the sender's address lower-cased.
    let requester = json_of(
        t,
        &format!("/api/v1/users/{}", ticket["requester_id"]),
        &admin,
    )
    .await;
    assert_eq!(requester["name"], "张三");
    assert_eq!(requester["email"], "zhangsan@acme.test");
    assert_eq!(requester["role"], "requester");

    let r = deliver(t, corpus("big5_body.eml")).await;
    let ticket = ticket_of(t, &r, &admin).await;
    assert_eq!(ticket["title"], "印表機");
    assert!(ticket["description"]
        .as_str()
        .unwrap()
        .contains("印表機無法連線"));

    let r = deliver(t, corpus("gb2312_label_gbk_chars.eml")).await;
    let ticket = ticket_of(t, &r, &admin).await;
    assert_eq!(ticket["title"], "开通邮箱 镕");
    assert!(ticket["description"]
        .as_str()
        .unwrap()
        .contains("请为朱镕基和王堃开通邮箱"));

    let r = deliver(t, corpus("split_subject.eml")).await;
    assert_eq!(ticket_of(t, &r, &admin).await["title"], "打印机故障");

    let r = deliver(t, corpus("attachment_names.eml")).await;
    let files = json_of(
        t,
        &format!("/api/v1/tickets/{}/attachments", r.ticket_id.unwrap()),
        &admin,
    )
    .await;
    let mut names: Vec<&str> = files["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec!["报告.txt", "日志.log", "说明.txt"]);
    // A text file is kept byte for byte, in its own charset (a GBK file stays GBK).
    let report = files["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == "报告.txt")
        .unwrap();
    let res = t
        .get(&format!("/api/v1/attachments/{}", report["id"]), &admin)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.bytes().await.unwrap().as_ref(),
        b"\xb1\xa8\xb8\xe6\xc4\xda\xc8\xdd"
    );

    // HTML only: the text is derived (and searchable), the HTML shown is sanitised.
    let r = deliver(t, corpus("html_only.eml")).await;
    let ticket = ticket_of(t, &r, &admin).await;
    assert_eq!(ticket["title"], "显示器闪烁");
    let description = ticket["description"].as_str().unwrap();
    assert!(description.contains("flicker-zebra"), "{description}");
    assert!(!description.contains("alert"), "{description}");
    let found = json_of(t, "/api/v1/tickets?q=flicker-zebra", &admin).await;
    assert_eq!(found["items"][0]["id"], ticket["id"]);
    let detail = json_of(
        t,
        &format!("/api/v1/inbound-messages/{}", r.inbound_id),
        &admin,
    )
    .await;
    let html = detail["html"].as_str().unwrap();
    assert!(html.contains("flicker-zebra"));
    assert!(
        !html.contains("script") && !html.contains("onclick"),
        "{html}"
    );
    assert!(!html.contains("tracker.example"), "{html}");
    // The message page shows that HTML, sanitised, as markup (not escaped text).
    let browser = Browser::login(t, "admin@desk.test").await;
    let (status, page) = browser
        .get(&format!("/admin/quarantine/{}", r.inbound_id))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("<b>flicker-zebra</b>"), "{page}");
    assert!(
        !page.contains("steal()") && !page.contains("tracker.example"),
        "{page}"
    );

    // multipart/related + alternative: the plain text wins, the inline image is kept.
    let r = deliver(t, corpus("alternative_inline.eml")).await;
    let ticket = ticket_of(t, &r, &admin).await;
    assert!(ticket["description"]
        .as_str()
        .unwrap()
        .contains("error 0x80070005"));
    let files = json_of(
        t,
        &format!("/api/v1/tickets/{}/attachments", r.ticket_id.unwrap()),
        &admin,
    )
    .await;
    assert_eq!(files["items"][0]["filename"], "shot.png");
    assert_eq!(files["items"][0]["content_type"], "image/png");

    // Malformed MIME: kept, processed as best it can be, the original downloadable as is.
    let raw = corpus("malformed.eml");
    let r = deliver(t, raw.clone()).await;
    assert!(
        r.status == "processed" || r.status == "quarantined",
        "{r:?}"
    );
    let res = t
        .get(
            &format!("/api/v1/inbound-messages/{}/raw", r.inbound_id),
            &admin,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "message/rfc822");
    assert_eq!(res.bytes().await.unwrap().as_ref(), raw.as_slice());

    // A 20 MB attachment (over the 10 MB file limit): the ticket is made, the file is listed
    // on the message as not kept.
    let big = vec![b'A'; 20 * 1024 * 1024];
    let encoded = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&big)
    };
    let wrapped: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let raw = format!(
        "From: Big <big@acme.test>\r\nTo: {DESK}\r\nSubject: disk image\r\nMessage-ID: <big-1@acme.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain\r\n\r\nThe image is attached.\r\n--b\r\n\
         Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"disk.img\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        wrapped.join("\r\n")
    );
    let r = deliver(t, raw.into_bytes()).await;
    assert_eq!(r.status, "processed");
    let detail = json_of(
        t,
        &format!("/api/v1/inbound-messages/{}", r.inbound_id),
        &admin,
    )
    .await;
    let reason = detail["message"]["reason"].as_str().unwrap();
    assert!(reason.contains("not kept: disk.img"), "{reason}");
    let files = json_of(
        t,
        &format!("/api/v1/tickets/{}/attachments", r.ticket_id.unwrap()),
        &admin,
    )
    .await;
    assert_eq!(files["items"].as_array().unwrap().len(), 0);
}

async fn mail_threads_replies_by_tag_and_message_ids(t: &TestApp) {
    let admin = t.user("admin@desk.test", "admin", None, vec![]).await;
    let team = t.team("Service desk").await;
    let agent = t.user("agent@desk.test", "agent", None, vec![team]).await;
    let requester = t.user("req@acme.test", "requester", None, vec![]).await;
    t.user("other@acme.test", "requester", None, vec![]).await;
    mailbox(t, &admin, json!({"team_id": team})).await;

    let first = deliver(
        t,
        mail(
            "Req <req@acme.test>",
            "VPN drops",
            "first@acme.test",
            "",
            "The VPN drops.",
        ),
    )
    .await;
    let id = first.ticket_id.unwrap();
    assert_eq!(first.status, "processed");
    let ticket = ticket_of(t, &first, &agent).await;
    assert_eq!(ticket["requester_id"], requester.id);
    let number = ticket["number"].as_str().unwrap().to_string();
    // The audit shows the change came by mail.
    let history = json_of(t, &format!("/api/v1/tickets/{id}/history"), &admin).await;
    assert_eq!(history["items"][0]["channel"], "mail");

    // Threaded only by References (the first message's Message-ID), with quoted history.
    let r = deliver(
        t,
        mail(
            "req@acme.test",
            "Re: something else",
            "second@acme.test",
            "References: <unrelated@x.test> <first@ACME.test>\r\n",
            "Still dropping.\r\n\r\nOn Mon, 23 Nov 2026, Desk <help@desk.test> wrote:\r\n> old text",
        ),
    )
    .await;
    assert_eq!(r.ticket_id, Some(id));
    let detail = json_of(
        t,
        &format!("/api/v1/inbound-messages/{}", r.inbound_id),
        &admin,
    )
    .await;
    assert_eq!(detail["message"]["outcome"], "comment_added");
    assert!(detail["quoted"].as_str().unwrap().contains("old text"));

    // QQ style: no References, only the tag in the subject.
    let r = deliver(
        t,
        mail(
            "req@acme.test",
            &format!("回复：[{number}] VPN drops"),
            "third@qq.test",
            "",
            "还是断线",
        ),
    )
    .await;
    assert_eq!(r.ticket_id, Some(id));

    // In-Reply-To a notification Steward sent.
    {
        let now = steward_store::now_micros();
        let mut conn = t.app.read().await.unwrap();
        sqlx::query(
            "INSERT INTO outbound_mail (ticket_id, to_address, event, locale, subject, body_text, \
             message_id, status, attempts, created_at) VALUES ($1, 'req@acme.test', 'ticket.replied', \
             'en', 's', 'b', 'steward.1.2@desk.test', 'sent', 1, $2)",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    let r = deliver(
        t,
        mail(
            "req@acme.test",
            "Re: your ticket",
            "fourth@acme.test",
            "In-Reply-To: <steward.1.2@desk.test>\r\n",
            "Thanks",
        ),
    )
    .await;
    assert_eq!(r.ticket_id, Some(id));
    let comments = json_of(t, &format!("/api/v1/tickets/{id}/comments"), &requester).await;
    let bodies: Vec<&str> = comments["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, vec!["Still dropping.", "还是断线", "Thanks"]);
    assert!(comments["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["author_id"] == requester.id && c["internal"] == false));
    let messages = json_of(t, &format!("/api/v1/tickets/{id}/messages"), &requester).await;
    assert_eq!(messages["items"].as_array().unwrap().len(), 4);

    // Someone who may not answer this ticket: a new ticket, not a comment on someone else's.
    let r = deliver(
        t,
        mail(
            "other@acme.test",
            &format!("[{number}] me too"),
            "fifth@acme.test",
            "",
            "Me too",
        ),
    )
    .await;
    assert_ne!(r.ticket_id, Some(id));
    assert!(r.ticket_id.is_some());

    // X-Steward-* headers from outside are ignored: they neither thread nor show.
    let r = deliver(
        t,
        mail(
            "req@acme.test",
            "printer",
            "sixth@acme.test",
            &format!("X-Steward-Ticket: {id}\r\nX-Steward-Number: {number}\r\n"),
            "A new problem",
        ),
    )
    .await;
    assert_ne!(r.ticket_id, Some(id));
    let detail = json_of(
        t,
        &format!("/api/v1/inbound-messages/{}", r.inbound_id),
        &admin,
    )
    .await;
    assert!(!detail["headers"]
        .to_string()
        .to_lowercase()
        .contains("x-steward"));

    // A closed ticket takes no replies: a new ticket that names the old one.
    for (status, extra) in [
        (
            "resolved",
            json!({"resolution_code": "fixed", "resolution_notes": "ok"}),
        ),
        ("closed", json!({})),
    ] {
        let current = json_of(t, &format!("/api/v1/tickets/{id}"), &agent).await;
        if current["status"] == "new" {
            let res = t
                .patch(
                    &format!("/api/v1/tickets/{id}"),
                    &agent,
                    json!({"assignee_id": agent.id}),
                )
                .await;
            assert_eq!(res.status(), 200);
        }
        let mut body = json!({"status": status});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let who = if status == "closed" {
            &requester
        } else {
            &agent
        };
        let res = t.patch(&format!("/api/v1/tickets/{id}"), who, body).await;
        assert_eq!(res.status(), 200, "{status}: {}", res.text().await.unwrap());
    }
    let r = deliver(
        t,
        mail(
            "req@acme.test",
            &format!("Re: [{number}]"),
            "seventh@acme.test",
            "",
            "It is back",
        ),
    )
    .await;
    let follow = ticket_of(t, &r, &admin).await;
    assert_ne!(follow["id"], id);
    assert!(follow["description"].as_str().unwrap().contains(&number));
}

async fn mail_keeps_other_peoples_mail_off_a_ticket(t: &TestApp) {
    let admin = t.user("admin@desk.test", "admin", None, vec![]).await;
    let team = t.team("Service desk").await;
    let agent = t.user("agent@desk.test", "agent", None, vec![team]).await;
    let requester = t.user("req@acme.test", "requester", None, vec![]).await;
    let other = t.user("other@acme.test", "requester", None, vec![]).await;
    let box_id = mailbox(t, &admin, json!({"team_id": team})).await["id"]
        .as_i64()
        .unwrap();
    let first = deliver(
        t,
        mail("req@acme.test", "Disk full", "own-1@acme.test", "", "Full"),
    )
    .await;
    // Someone else's ticket's mail: 404; the admin's actions: 403 for staff.
    let messages = format!("/api/v1/tickets/{}/messages", first.ticket_id.unwrap());
    problem(t.get(&messages, &other).await, 404, None).await;
    let m = first.inbound_id;
    for path in [
        format!("/api/v1/inbound-messages/{m}/reprocess"),
        format!("/api/v1/inbound-messages/{m}/dismiss"),
    ] {
        problem(t.post(&path, &agent, json!({})).await, 403, None).await;
    }
    let res = t
        .patch(
            &format!("/api/v1/mailboxes/{box_id}"),
            &agent,
            json!({"name": "x"}),
        )
        .await;
    problem(res, 403, None).await;
    let id = first.ticket_id.unwrap();
    let number = ticket_of(t, &first, &agent).await["number"]
        .as_str()
        .unwrap()
        .to_string();

    // The agent answers by mail: a public comment, but the agent's message (address, quoted
    // history) is not the requester's to list.
    let r = deliver(
        t,
        mail(
            "Agent <AGENT@desk.test>",
            &format!("Re: [{number}] Disk full"),
            "own-2@desk.test",
            "",
            "Cleaned up.\r\n\r\nOn Mon, 23 Nov 2026, Req wrote:\r\n> Full",
        ),
    )
    .await;
    assert_eq!(r.ticket_id, Some(id));
    let path = format!("/api/v1/tickets/{id}/messages");
    let mine = json_of(t, &path, &requester).await;
    let senders: Vec<&str> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["from_address"].as_str().unwrap())
        .collect();
    assert_eq!(senders, vec!["req@acme.test"]);
    assert_eq!(
        json_of(t, &path, &agent).await["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // An automatic reply from someone who may not answer the ticket, carrying its tag: ignored
    // and linked to nothing, so it shows on no ticket and threads nothing later.
    let r = deliver(
        t,
        mail(
            "other@acme.test",
            &format!("Out of office: [{number}]"),
            "own-3@acme.test",
            "Auto-Submitted: auto-replied\r\n",
            "Away",
        ),
    )
    .await;
    assert_eq!((r.status.as_str(), r.ticket_id), ("ignored", None));
    assert_eq!(
        json_of(t, &path, &agent).await["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Steward's own outbound From address, in another case, is Steward talking to itself.
    let own = t.app.outbound.from.email.to_string().to_uppercase();
    let before = scalar(t, "SELECT COUNT(*) FROM tickets").await;
    let r = deliver(t, mail(&own, "Loop?", "own-4@desk.test", "", "Hello")).await;
    assert_eq!((r.status.as_str(), r.ticket_id), ("ignored", None));
    let detail = json_of(
        t,
        &format!("/api/v1/inbound-messages/{}", r.inbound_id),
        &admin,
    )
    .await;
    assert_eq!(detail["message"]["outcome"], "own_address");
    assert_eq!(scalar(t, "SELECT COUNT(*) FROM tickets").await, before);
}

async fn mail_loops_bounces_and_floods_raise_no_events(t: &TestApp) {
    let admin = t.user("admin@desk.test", "admin", None, vec![]).await;
    let requester = t.user("req@acme.test", "requester", None, vec![]).await;
    mailbox(t, &admin, json!({})).await;
    let first = deliver(
        t,
        mail(
            "req@acme.test",
            "Laptop",
            "orig@acme.test",
            "",
            "Laptop broken",
        ),
    )
    .await;
    let id = first.ticket_id.unwrap();
    let number = ticket_of(t, &first, &admin).await["number"]
        .as_str()
        .unwrap()
        .to_string();

    // Each kind of automatic mail: never an event. Unthreaded ones are ignored (kept),
    // threaded ones become an internal note.
    let kinds = [
        "Auto-Submitted: auto-replied\r\n",
        "X-Autoreply: yes\r\n",
        "X-Autorespond: yes\r\n",
        "Precedence: bulk\r\n",
        "Precedence: junk\r\n",
        "Precedence: list\r\n",
        "List-Id: <team.lists.acme.test>\r\n",
    ];
    for (i, header) in kinds.iter().enumerate() {
        let before = events(t).await;
        let r = deliver(
            t,
            mail(
                "req@acme.test",
                "Out of office",
                &format!("auto-{i}@acme.test"),
                header,
                "Away",
            ),
        )
        .await;
        assert_eq!(r.status, "ignored", "{header}");
        let r = deliver(
            t,
            mail(
                "req@acme.test",
                &format!("Out of office: [{number}]"),
                &format!("auto-threaded-{i}@acme.test"),
                header,
                "Away until Monday",
            ),
        )
        .await;
        assert_eq!(r.status, "processed", "{header}");
        assert_eq!(r.ticket_id, Some(id));
        assert_eq!(events(t).await, before, "{header}");
    }
    let comments = json_of(t, &format!("/api/v1/tickets/{id}/comments"), &admin).await;
    assert!(comments["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["internal"] == true));
    // "Auto-Submitted: no" is a person.
    let r = deliver(
        t,
        mail(
            "req@acme.test",
            "A person",
            "person@acme.test",
            "Auto-Submitted: no\r\n",
            "Hi",
        ),
    )
    .await;
    assert_eq!(r.status, "processed");

    // A bounce of a notification: recorded on its ticket as a delivery failure, no event.
    {
        let now = steward_store::now_micros();
        let mut conn = t.app.read().await.unwrap();
        sqlx::query(
            "INSERT INTO outbound_mail (ticket_id, to_address, event, locale, subject, body_text, \
             message_id, status, attempts, created_at) VALUES ($1, 'gone@acme.test', 'ticket.created', \
             'en', 's', 'b', 'steward.9.9@desk.test', 'sent', 1, $2)",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    let before = events(t).await;
    let bounce = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.acme.test>\r\nTo: {DESK}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce-1@mx.acme.test>\r\n\
         Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n\
         --r\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
         --r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.test\r\n\r\n\
         Final-Recipient: rfc822; gone@acme.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
         --r\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: {DESK}\r\nTo: gone@acme.test\r\n\
         Subject: [{number}] Laptop\r\nMessage-ID: <steward.9.9@desk.test>\r\n\r\n--r--\r\n"
    );
    let r = deliver(t, bounce.into_bytes()).await;
    assert_eq!(r.status, "processed");
    assert_eq!(r.ticket_id, Some(id));
    assert_eq!(events(t).await, before);
    assert_eq!(
        scalar(
            t,
            "SELECT COUNT(*) FROM outbound_mail WHERE status = 'bounced'"
        )
        .await,
        1
    );
    let history = json_of(t, &format!("/api/v1/tickets/{id}/history"), &admin).await;
    assert!(history["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "delivery_failure"));
    let messages = json_of(t, &format!("/api/v1/tickets/{id}/messages"), &admin).await;
    assert!(messages["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["outcome"] == "bounce"));
    // The requester sees neither the failure in the history nor the bounce in the mail.
    let history = json_of(t, &format!("/api/v1/tickets/{id}/history"), &requester).await;
    assert!(!history.to_string().contains("delivery_failure"));
    let messages = json_of(t, &format!("/api/v1/tickets/{id}/messages"), &requester).await;
    assert!(!messages.to_string().contains("bounce"));

    // Steward's own address: ignored.
    let r = deliver(t, mail(DESK, "loop", "loop@desk.test", "", "loop")).await;
    assert_eq!((r.status.as_str(), r.ticket_id), ("ignored", None));

    // A flood: past 20 messages in 10 minutes from one address, the rest is quarantined.
    t.user("flood@spam.test", "requester", None, vec![]).await;
    let mut statuses = Vec::new();
    for i in 0..22 {
        let r = deliver(
            t,
            mail(
                "flood@spam.test",
                "buy",
                &format!("flood-{i}@spam.test"),
                "",
                "buy now",
            ),
        )
        .await;
        statuses.push(r.status);
    }
    assert!(
        statuses[..20].iter().all(|s| s != "quarantined"),
        "{statuses:?}"
    );
    assert_eq!(statuses[20], "quarantined");
    let q = json_of(t, "/api/v1/inbound-messages?status=quarantined", &admin).await;
    assert!(q["items"][0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("rate limit"));
}

async fn mail_flood_limit_counts_messages_still_in_flight(t: &TestApp) {
    let admin = t.user("admin@desk.test", "admin", None, vec![]).await;
    t.user("flood@acme.test", "requester", None, vec![]).await;
    mailbox(t, &admin, json!({})).await;
    for i in 0..19 {
        let r = deliver(
            t,
            mail(
                "flood@acme.test",
                "x",
                &format!("fl-{i}@acme.test"),
                "",
                "x",
            ),
        )
        .await;
        assert_eq!(r.status, "processed");
    }
    // Eight more through mailgate's path; the worker processes its claimed jobs side by side,
    // so none of them is settled when another counts the sender's recent mail.
    let mut ids = Vec::new();
    for i in 19..27 {
        let raw = mail(
            "flood@acme.test",
            "x",
            &format!("fl-{i}@acme.test"),
            "",
            "x",
        );
        let mut conn = t.app.read().await.unwrap();
        let stored = inbound::accept(&mut conn, t.app.blobs.as_ref(), DESK, raw).await;
        ids.push(stored.unwrap().0.id);
    }
    {
        let mut conn = t.app.read().await.unwrap();
        sqlx::query("DELETE FROM jobs WHERE kind <> 'mail.process'")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    let ran = steward_server::app::jobs::run_due(&t.app, "test-node")
        .await
        .unwrap();
    assert_eq!(ran, 8);
    let mut statuses = Vec::new();
    for id in ids {
        let m = json_of(t, &format!("/api/v1/inbound-messages/{id}"), &admin).await;
        statuses.push(m["message"]["status"].as_str().unwrap().to_string());
    }
    // The 20th message is taken; the 21st to the 27th are a flood.
    assert_eq!(statuses[0], "processed");
    assert!(
        statuses[1..].iter().all(|s| s == "quarantined"),
        "{statuses:?}"
    );
}

async fn mail_unknown_senders_follow_the_mailbox_policy(t: &TestApp) {
    let admin = t.user("admin@desk.test", "admin", None, vec![]).await;
    let m = mailbox(t, &admin, json!({"unknown_sender": "quarantine"})).await;
    let mid = m["id"].as_i64().unwrap();

    // Quarantine, then the admin creates the account and re-processes.
    let r = deliver(
        t,
        mail(
            "New Person <new@acme.test>",
            "Help",
            "unknown-1@acme.test",
            "",
            "Hello",
        ),
    )
    .await;
    assert_eq!((r.status.as_str(), r.ticket_id), ("quarantined", None));
    let q = json_of(t, "/api/v1/inbound-messages?status=quarantined", &admin).await;
    assert_eq!(q["items"][0]["id"], r.inbound_id);
    assert!(q["items"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("unknown sender"));
    let person = t.user("new@acme.test", "requester", None, vec![]).await;
    let res = t
        .post(
            &format!("/api/v1/inbound-messages/{}/reprocess", r.inbound_id),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "processed");
    let ticket = json_of(t, &format!("/api/v1/tickets/{}", v["ticket_id"]), &admin).await;
    assert_eq!(ticket["requester_id"], person.id);
    // Re-processing is for the quarantine only.
    let res = t
        .post(
            &format!("/api/v1/inbound-messages/{}/reprocess", r.inbound_id),
            &admin,
            json!({}),
        )
        .await;
    problem(res, 409, None).await;

    // The same Message-ID again: taken once.
    let tickets_before = scalar(t, "SELECT COUNT(*) FROM tickets").await;
    let again = deliver(
        t,
        mail(
            "New Person <new@acme.test>",
            "Help",
            "unknown-1@acme.test",
            "",
            "Hello",
        ),
    )
    .await;
    assert!(again.duplicate);
    assert_eq!(again.inbound_id, r.inbound_id);
    assert_eq!(
        scalar(t, "SELECT COUNT(*) FROM tickets").await,
        tickets_before
    );

    // Dismissing a quarantined message keeps it, as ignored.
    let r = deliver(
        t,
        mail("stranger@else.test", "Hi", "unknown-2@else.test", "", "Hi"),
    )
    .await;
    assert_eq!(r.status, "quarantined");
    let res = t
        .post(
            &format!("/api/v1/inbound-messages/{}/dismiss", r.inbound_id),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        (v["status"].as_str(), v["outcome"].as_str()),
        (Some("ignored"), Some("dismissed"))
    );

    // Reject: a polite answer is queued (by the outbound module) and nothing is opened.
    let res = t
        .patch(
            &format!("/api/v1/mailboxes/{mid}"),
            &admin,
            json!({"unknown_sender": "reject"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let r = deliver(
        t,
        mail("stranger@else.test", "Hi", "unknown-3@else.test", "", "Hi"),
    )
    .await;
    assert_eq!((r.status.as_str(), r.ticket_id), ("ignored", None));
    let v = json_of(
        t,
        &format!("/api/v1/inbound-messages/{}", r.inbound_id),
        &admin,
    )
    .await;
    assert_eq!(v["message"]["outcome"], "rejected");

    // A disabled account's mail waits for an admin, whatever the policy.
    let res = t
        .patch(
            &format!("/api/v1/users/{}", person.id),
            &admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let r = deliver(
        t,
        mail("new@acme.test", "Again", "disabled-1@acme.test", "", "Hi"),
    )
    .await;
    assert_eq!((r.status.as_str(), r.ticket_id), ("quarantined", None));

    // create_requesters: a requester account, audited as made through mail.
    let res = t
        .patch(
            &format!("/api/v1/mailboxes/{mid}"),
            &admin,
            json!({"create_requesters": true}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let r = deliver(
        t,
        mail(
            "\"Wu Fang\" <Wu.Fang@Else.test>",
            "Hi",
            "unknown-4@else.test",
            "",
            "Hi",
        ),
    )
    .await;
    let ticket = ticket_of(t, &r, &admin).await;
    let user = json_of(
        t,
        &format!("/api/v1/users/{}", ticket["requester_id"]),
        &admin,
    )
    .await;
    assert_eq!(
        (user["name"].as_str(), user["email"].as_str()),
        (Some("Wu Fang"), Some("wu.fang@else.test"))
    );
    let channel = scalar(
        t,
        &format!(
            "SELECT COUNT(*) FROM audit_log WHERE entity = 'user' AND entity_id = {} AND channel = 'mail'",
            ticket["requester_id"]
        ),
    )
    .await;
    assert_eq!(channel, 1);
}

async fn mail_api_guards_mailboxes_and_messages(t: &TestApp) {
    let admin = t.user("admin@desk.test", "admin", None, vec![]).await;
    let team = t.team("Service desk").await;
    let agent = t.user("agent@desk.test", "agent", None, vec![team]).await;
    let outsider = t.user("agent2@desk.test", "agent", None, vec![]).await;
    let requester = t.user("req@acme.test", "requester", None, vec![]).await;

    let res = t
        .post(
            "/api/v1/mailboxes",
            &agent,
            json!({"address": "a@b.test", "name": "x"}),
        )
        .await;
    problem(res, 403, None).await;
    let res = t
        .post(
            "/api/v1/mailboxes",
            &admin,
            json!({"address": "not an address", "name": "x"}),
        )
        .await;
    problem(res, 422, Some("address")).await;
    let res = t
        .post(
            "/api/v1/mailboxes",
            &admin,
            json!({"address": "imap@desk.test", "name": "x", "imap_host": "mail.example.com",
                   "imap_username": "u", "imap_security": "none"}),
        )
        .await;
    problem(res, 422, Some("imap_security")).await;
    let res = t
        .post(
            "/api/v1/mailboxes",
            &admin,
            json!({"address": "x@desk.test", "name": "x", "unknown_sender": "drop"}),
        )
        .await;
    problem(res, 422, Some("unknown_sender")).await;

    let m = mailbox(
        t,
        &admin,
        json!({"team_id": team, "imap_host": "127.0.0.1", "imap_security": "none", "imap_username": "desk",
               "imap_password": "s3cret", "imap_after": "move", "imap_done_folder": "Done"}),
    )
    .await;
    assert_eq!(m["address"], "help@desk.test");
    assert_eq!(m["imap_password_set"], true);
    assert_eq!(m["imap_port"], 143);
    assert!(!m.to_string().contains("s3cret"));
    let res = t
        .post(
            "/api/v1/mailboxes",
            &admin,
            json!({"address": DESK, "name": "again"}),
        )
        .await;
    problem(res, 422, Some("address")).await;

    // If-Match: a stale version is refused.
    let path = format!("/api/v1/mailboxes/{}", m["id"]);
    let res = t
        .req(reqwest::Method::PATCH, &path, &admin)
        .header("If-Match", format!("\"{}-1\"", m["id"]))
        .json(&json!({"name": "Desk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = t
        .req(reqwest::Method::PATCH, &path, &admin)
        .header("If-Match", format!("\"{}-1\"", m["id"]))
        .json(&json!({"name": "Desk again"}))
        .send()
        .await
        .unwrap();
    problem(res, 412, None).await;
    let list = json_of(t, "/api/v1/mailboxes", &admin).await;
    assert_eq!(list["items"][0]["name"], "Desk");
    problem(t.get("/api/v1/mailboxes", &requester).await, 403, None).await;

    t.user("user@acme.test", "requester", None, vec![]).await;
    let r = deliver(
        t,
        mail("user@acme.test", "Printer", "p-1@acme.test", "", "Broken"),
    )
    .await;
    let id = r.inbound_id;
    // Staff who see the ticket may read the message; others (and requesters) get 404.
    assert_eq!(
        t.get(&format!("/api/v1/inbound-messages/{id}"), &agent)
            .await
            .status(),
        200
    );
    assert_eq!(
        t.get(&format!("/api/v1/inbound-messages/{id}/raw"), &agent)
            .await
            .status(),
        200
    );
    problem(
        t.get(&format!("/api/v1/inbound-messages/{id}"), &outsider)
            .await,
        404,
        None,
    )
    .await;
    problem(
        t.get(&format!("/api/v1/inbound-messages/{id}/raw"), &requester)
            .await,
        404,
        None,
    )
    .await;
    problem(t.get("/api/v1/inbound-messages", &agent).await, 403, None).await;
    problem(
        t.post(
            &format!("/api/v1/inbound-messages/{id}/dismiss"),
            &agent,
            json!({}),
        )
        .await,
        403,
        None,
    )
    .await;
    problem(
        t.get(
            &format!("/api/v1/tickets/{}/messages", r.ticket_id.unwrap()),
            &requester,
        )
        .await,
        404,
        None,
    )
    .await;
    problem(
        t.get("/api/v1/inbound-messages?status=lost", &admin).await,
        422,
        Some("status"),
    )
    .await;
    let spec = json_of(t, "/api/v1/openapi.json", &admin).await;
    assert!(spec["paths"]["/api/v1/inbound-messages/{id}/reprocess"].is_object());
}

fn mailgate(
    t: &TestApp,
    data_dir: &std::path::Path,
    mailbox: &str,
    raw: &[u8],
    extra: &[&str],
) -> i32 {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_steward"))
        .args([
            "--db",
            &t.url,
            "--data-dir",
            data_dir.to_str().unwrap(),
            "mailgate",
            "--mailbox",
            mailbox,
        ])
        .args(extra)
        .env("STEWARD_LOG", "error")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(raw).unwrap();
    child.wait().unwrap().code().unwrap_or(-1)
}

async fn mailgate_exit_codes_and_crash_recovery(t: &TestApp) {
    let admin = t.user("admin@desk.test", "admin", None, vec![]).await;
    t.user("req@acme.test", "requester", None, vec![]).await;
    mailbox(t, &admin, json!({})).await;
    // mailgate shares the server's data directory, as it does in production.
    let data = t.data_dir.clone();
    let tickets = || scalar(t, "SELECT COUNT(*) FROM tickets");
    let work = || async {
        steward_server::app::jobs::run_due(&t.app, "test-node")
            .await
            .unwrap()
    };

    let raw = mail(
        "req@acme.test",
        "Mailgate",
        "gate-1@acme.test",
        "",
        "Through the pipe",
    );
    assert_eq!(mailgate(t, &data, "nobody@desk.test", &raw, &[]), 67);
    assert_eq!(mailgate(t, &data, "HELP@desk.test", &raw, &[]), 0);
    // Stored and queued; the server's worker processes it.
    assert_eq!(tickets().await, 0);
    work().await;
    assert_eq!(tickets().await, 1);
    // The same message again: stored before, so 0, and nothing new.
    assert_eq!(mailgate(t, &data, DESK, &raw, &[]), 0);
    work().await;
    assert_eq!(tickets().await, 1);
    // A database that cannot be opened (its directory does not exist): try again later.
    let missing = format!("sqlite://{}/no/such/dir/x.db", data.display());
    let code = {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_steward"))
            .args([
                "--db",
                &missing,
                "--data-dir",
                data.to_str().unwrap(),
                "mailgate",
                "--mailbox",
                DESK,
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        drop(child.stdin.take());
        child.wait().unwrap().code().unwrap_or(-1)
    };
    assert_eq!(code, 75);

    // A worker claims the processing and dies before finishing; the MTA delivers the message
    // again meanwhile. Once the dead worker's lease runs out, another worker processes it:
    // exactly one ticket.
    let raw = mail(
        "req@acme.test",
        "Crash",
        "gate-2@acme.test",
        "",
        "After a crash",
    );
    assert_eq!(mailgate(t, &data, DESK, &raw, &[]), 0);
    let leased = {
        let mut conn = t.app.read().await.unwrap();
        sqlx::query(
            "UPDATE jobs SET lease_owner = 'dead-node', lease_until = $1, attempts = 1 \
             WHERE kind = 'mail.process' AND status = 'queued'",
        )
        .bind(steward_store::now_micros() + 3_600_000_000)
        .execute(&mut *conn)
        .await
        .unwrap()
        .rows_affected()
    };
    assert_eq!(leased, 1);
    assert_eq!(mailgate(t, &data, DESK, &raw, &[]), 0);
    work().await;
    assert_eq!(tickets().await, 1, "the dead worker's lease still holds");
    {
        let mut conn = t.app.read().await.unwrap();
        sqlx::query("UPDATE jobs SET lease_until = 0 WHERE lease_owner = 'dead-node'")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    work().await;
    assert_eq!(tickets().await, 2);
    assert_eq!(mailgate(t, &data, DESK, &raw, &[]), 0);
    work().await;
    assert_eq!(tickets().await, 2);
    assert_eq!(
        scalar(
            t,
            "SELECT COUNT(*) FROM inbound_messages WHERE message_id = 'gate-2@acme.test' \
             AND status = 'processed'"
        )
        .await,
        1
    );

    // Over the size cap: stored as it came, quarantined, never parsed.
    let mut small = t.app.clone();
    small.limits.mail_bytes = 2_000;
    let raw = mail(
        "req@acme.test",
        "Huge",
        "gate-big@acme.test",
        "",
        &"x".repeat(3_000),
    );
    let r = inbound::receive(&small, DESK, raw.clone(), Source::Mailgate)
        .await
        .unwrap();
    assert_eq!((r.status.as_str(), r.ticket_id), ("quarantined", None));
    let res = t
        .get(
            &format!("/api/v1/inbound-messages/{}/raw", r.inbound_id),
            &admin,
        )
        .await;
    assert_eq!(res.bytes().await.unwrap().len(), raw.len());
    let q = json_of(t, "/api/v1/inbound-messages?status=quarantined", &admin).await;
    assert!(q["items"][0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("too large"));
    assert_eq!(q["items"][0]["message_id"], "gate-big@acme.test");

    // Crash with no second delivery: the recovery job takes it, once.
    let raw = mail(
        "req@acme.test",
        "Recover",
        "gate-3@acme.test",
        "",
        "Recovered",
    );
    let (stored, is_new) = inbound::store(&t.app, DESK, raw, Source::Imap)
        .await
        .unwrap();
    assert!(is_new);
    inbound::process_stalled(&t.app).await.unwrap();
    assert_eq!(tickets().await, 2, "too recent to be stalled");
    {
        let mut conn = t.app.read().await.unwrap();
        sqlx::query(
            "UPDATE inbound_messages SET received_at = received_at - 120000000 WHERE id = $1",
        )
        .bind(stored.id)
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    inbound::process_stalled(&t.app).await.unwrap();
    inbound::process_stalled(&t.app).await.unwrap();
    assert_eq!(tickets().await, 3);
    assert_eq!(
        scalar(
            t,
            "SELECT COUNT(*) FROM inbound_messages WHERE status = 'received'"
        )
        .await,
        0
    );
    let _ = std::fs::remove_dir_all(&data);
}

/// The parser on its own: decoding fixes that need no database.
#[test]
fn parser_joins_split_words_and_widens_gb2312() {
    use steward_server::app::inbound::parse::parse;
    let p = parse(&corpus("split_subject.eml")).unwrap();
    assert_eq!(p.subject, "打印机故障");
    let p = parse(&corpus("gb2312_label_gbk_chars.eml")).unwrap();
    assert!(p.text.contains("朱镕基"), "{}", p.text);
    let p = parse(&corpus("gbk_body.eml")).unwrap();
    assert_eq!(p.from_name.as_deref(), Some("张三"));
    assert_eq!(p.message_id.as_deref(), Some("gbk-1@acme.test"));
}

async fn mail_admin_pages_create_edit_and_release_from_quarantine(t: &TestApp) {
    t.user("admin@desk.test", "admin", None, vec![]).await;
    t.user("agent@desk.test", "agent", None, vec![]).await;
    let admin = Browser::login(t, "admin@desk.test").await;
    let agent = Browser::login(t, "agent@desk.test").await;
    assert_eq!(agent.get("/admin/mailboxes").await.0, 403);
    assert_eq!(agent.get("/admin/quarantine").await.0, 403);

    let (status, html) = admin.get("/admin/mailboxes").await;
    assert_eq!(status, 200);
    assert!(html.contains("No mailboxes yet") || html.contains("还没有收件邮箱"));
    let (status, body) = admin
        .post(
            "/admin/mailboxes",
            "/admin/mailboxes",
            &[
                ("address", "bad"),
                ("name", "x"),
                ("unknown_sender", "quarantine"),
            ],
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, location) = admin
        .post(
            "/admin/mailboxes",
            "/admin/mailboxes",
            &[
                ("address", "Help@Desk.test"),
                ("name", "Help desk"),
                ("unknown_sender", "quarantine"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let page = location.split('?').next().unwrap().to_string();
    let (status, html) = admin.get(&page).await;
    assert_eq!(status, 200);
    assert!(html.contains("help@desk.test"));
    // IMAP without TLS to a remote host is refused; on loopback it is saved.
    let fields = |host: &'static str| {
        vec![
            ("version", "1"),
            ("address", "help@desk.test"),
            ("name", "Help desk"),
            ("unknown_sender", "quarantine"),
            ("active", "on"),
            ("imap_host", host),
            ("imap_security", "none"),
            ("imap_username", "desk"),
            ("imap_password", "pw-secret-1"),
            ("imap_after", "flag"),
        ]
    };
    let (status, _) = admin.post(&page, &page, &fields("mail.example.com")).await;
    assert_eq!(status, 422);
    let (status, location) = admin.post(&page, &page, &fields("127.0.0.1")).await;
    assert_eq!(status, 303, "{location}");
    let (_, html) = admin.get(&page).await;
    assert!(html.contains("127.0.0.1") && !html.contains("pw-secret-1"));

    // The quarantine: a message from a stranger, then the fix and a second try from the page.
    let r = deliver(
        t,
        mail(
            "Stranger <s@else.test>",
            "Need help <b>",
            "q-1@else.test",
            "",
            "Hello desk",
        ),
    )
    .await;
    assert_eq!(r.status, "quarantined");
    let (status, html) = admin.get("/admin/quarantine").await;
    assert_eq!(status, 200);
    assert!(html.contains("unknown sender s@else.test"));
    assert!(html.contains("Need help &#60;b&#62;"), "escaped subject");
    let detail = format!("/admin/quarantine/{}", r.inbound_id);
    let (status, html) = admin.get(&detail).await;
    assert_eq!(status, 200);
    assert!(html.contains("Hello desk"));
    let (status, raw) = admin.get(&format!("{detail}/raw")).await;
    assert_eq!(status, 200);
    assert!(raw.contains("Message-ID: <q-1@else.test>"));
    t.user("s@else.test", "requester", None, vec![]).await;
    let (status, location) = admin
        .post(&detail, &format!("{detail}/reprocess"), &[])
        .await;
    assert_eq!(status, 303, "{location}");
    let (_, html) = admin.get(&detail).await;
    assert!(
        html.contains("Ticket opened") || html.contains("已创建工单"),
        "{html}"
    );
}
