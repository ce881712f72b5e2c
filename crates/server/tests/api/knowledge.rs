//! Knowledge base: the review lifecycle with versions, who may read and do what, Chinese and
//! English search, suggestions, ratings, ticket links and the pages.

use crate::common::{problem, Browser, TestApp, User};
use crate::on_both_databases;
use reqwest::Method;
use serde_json::{json, Value};

on_both_databases!(
    articles_are_reviewed_published_revised_and_retired,
    requesters_and_auditors_see_and_do_only_what_they_may,
    search_finds_chinese_and_english_words,
    readers_rate_and_staff_link_tickets,
    knowledge_pages_work_in_both_languages,
);

struct Cast {
    agent: User,
    lead: User,
    requester: User,
    auditor: User,
}

async fn cast(t: &TestApp) -> Cast {
    let team = t.team("Desk").await;
    let org = t.org("Acme", false).await;
    Cast {
        agent: t.user("agent@x.test", "agent", None, vec![team]).await,
        lead: t.user("lead@x.test", "team_lead", None, vec![team]).await,
        requester: t.user("req@x.test", "requester", Some(org), vec![]).await,
        auditor: t.user("audit@x.test", "auditor", None, vec![]).await,
    }
}

async fn create(t: &TestApp, u: &User, body: Value) -> Value {
    let res = t.post("/api/v1/articles", u, body).await;
    assert_eq!(res.status(), 201, "create article");
    res.json().await.unwrap()
}

async fn act(t: &TestApp, u: &User, id: i64, action: &str, comment: &str) -> reqwest::Response {
    t.post(
        &format!("/api/v1/articles/{id}/{action}"),
        u,
        json!({"comment": comment}),
    )
    .await
}

/// Creates an article and takes it through review to published.
async fn published(t: &TestApp, c: &Cast, body: Value) -> Value {
    let a = create(t, &c.agent, body).await;
    let id = a["id"].as_i64().unwrap();
    assert_eq!(act(t, &c.agent, id, "submit", "").await.status(), 200);
    let res = act(t, &c.lead, id, "approve", "ok").await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn audit_actions(t: &TestApp, id: i64) -> Vec<String> {
    let mut conn = t.app.read().await.unwrap();
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT action FROM audit_log WHERE entity = 'article' AND entity_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    rows.into_iter().map(|r| r.0).collect()
}

async fn articles_are_reviewed_published_revised_and_retired(t: &TestApp) {
    let c = cast(t).await;
    let a = create(
        t,
        &c.agent,
        json!({"title_zh": "VPN 连接失败排查", "body_zh": "检查网络。", "title_en": "VPN troubleshooting",
               "body_en": "Check the network.", "audience": "requesters"}),
    )
    .await;
    assert_eq!(a["number"], "KB-000001");
    assert_eq!(a["status"], "draft");
    let id = a["id"].as_i64().unwrap();
    let path = format!("/api/v1/articles/{id}");

    // Not live yet: requesters do not see it; a draft cannot be approved.
    problem(t.get(&path, &c.requester).await, 404, None).await;
    let p = problem(
        act(t, &c.lead, id, "approve", "").await,
        409,
        Some("status"),
    )
    .await;
    assert_eq!(p["allowed_transitions"], json!(["submit"]));

    assert_eq!(act(t, &c.agent, id, "submit", "").await.status(), 200);
    // Editing while in review is refused; the author cannot approve; sending back needs a comment.
    problem(
        t.patch(&path, &c.agent, json!({"body_en": "x"})).await,
        409,
        None,
    )
    .await;
    problem(act(t, &c.agent, id, "approve", "mine").await, 403, None).await;
    problem(
        act(t, &c.lead, id, "send-back", " ").await,
        422,
        Some("comment"),
    )
    .await;
    let back: Value = act(t, &c.lead, id, "send-back", "add steps")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(back["status"], "draft");
    assert_eq!(back["content"]["review_comment"], "add steps");
    assert_eq!(act(t, &c.agent, id, "submit", "").await.status(), 200);
    let live: Value = act(t, &c.lead, id, "approve", "good")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(live["status"], "published");
    assert_eq!(live["published_version"], 1);

    let seen: Value = t.get(&path, &c.requester).await.json().await.unwrap();
    assert_eq!(seen["content"]["body_zh"], "检查网络。");

    // Editing the live article makes version 2; requesters keep reading version 1.
    let res = t.get(&path, &c.agent).await;
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let v2: Value = t
        .req(Method::PATCH, &path, &c.agent)
        .header("If-Match", &etag)
        .json(&json!({"body_zh": "先检查网络，再重新安装客户端。"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v2["latest_version"], 2);
    assert_eq!(v2["status"], "published");
    assert_eq!(v2["content"]["status"], "draft");
    let stale = t
        .req(Method::PATCH, &path, &c.agent)
        .header("If-Match", &etag)
        .json(&json!({"body_zh": "again"}))
        .send()
        .await
        .unwrap();
    problem(stale, 412, Some("If-Match")).await;
    let seen: Value = t.get(&path, &c.requester).await.json().await.unwrap();
    assert_eq!(seen["content"]["number"], 1);
    assert_eq!(seen["content"]["body_zh"], "检查网络。");
    problem(
        t.get(&format!("{path}/versions/2"), &c.requester).await,
        404,
        None,
    )
    .await;

    assert_eq!(act(t, &c.agent, id, "submit", "").await.status(), 200);
    assert_eq!(act(t, &c.lead, id, "approve", "").await.status(), 200);
    let versions: Value = t
        .get(&format!("{path}/versions"), &c.agent)
        .await
        .json()
        .await
        .unwrap();
    let statuses: Vec<&str> = versions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["published", "superseded"]);
    let old: Value = t
        .get(&format!("{path}/versions/1"), &c.agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(old["content"]["body_zh"], "检查网络。");
    let seen: Value = t.get(&path, &c.requester).await.json().await.unwrap();
    assert_eq!(seen["content"]["number"], 2);

    // Only a reviewer retires; then requesters no longer see it.
    problem(act(t, &c.agent, id, "retire", "").await, 403, None).await;
    let retired: Value = act(t, &c.lead, id, "retire", "outdated")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(retired["status"], "retired");
    problem(t.get(&path, &c.requester).await, 404, None).await;

    let actions = audit_actions(t, id).await;
    for a in [
        "create",
        "submit",
        "send_back",
        "approve",
        "update",
        "new_version",
        "retire",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} not audited: {actions:?}"
        );
    }
}

async fn requesters_and_auditors_see_and_do_only_what_they_may(t: &TestApp) {
    let c = cast(t).await;
    let body = json!({"title_en": "Reset your password", "body_en": "Use the self-service page."});
    problem(
        t.post("/api/v1/articles", &c.requester, body.clone()).await,
        403,
        None,
    )
    .await;
    problem(
        t.post("/api/v1/articles", &c.auditor, body.clone()).await,
        403,
        None,
    )
    .await;
    // Bad input names the field and writes nothing.
    problem(
        t.post(
            "/api/v1/articles",
            &c.agent,
            json!({"title_en": "", "body_en": ""}),
        )
        .await,
        422,
        Some("title_zh"),
    )
    .await;
    problem(
        t.post(
            "/api/v1/articles",
            &c.agent,
            json!({"title_en": "No body", "body_en": ""}),
        )
        .await,
        422,
        Some("body_en"),
    )
    .await;
    problem(
        t.post(
            "/api/v1/articles",
            &c.agent,
            json!({"title_en": "A", "body_en": "b", "audience": "everyone"}),
        )
        .await,
        422,
        Some("audience"),
    )
    .await;
    problem(
        t.post(
            "/api/v1/articles",
            &c.agent,
            json!({"title_en": "A", "body_en": "b", "category_id": 999}),
        )
        .await,
        422,
        Some("category_id"),
    )
    .await;

    // An internal live article is staff-only; a requesters' one is readable by requesters.
    let internal = published(
        t,
        &c,
        json!({"title_en": "Server room door code", "body_en": "1234", "audience": "internal"}),
    )
    .await;
    let public = published(
        t,
        &c,
        json!({"title_en": "Reset your password", "body_en": "Use the self-service page.", "audience": "requesters"}),
    )
    .await;
    let ipath = format!("/api/v1/articles/{}", internal["id"]);
    problem(t.get(&ipath, &c.requester).await, 404, None).await;
    assert_eq!(t.get(&ipath, &c.auditor).await.status(), 200);
    problem(
        act(
            t,
            &c.auditor,
            internal["id"].as_i64().unwrap(),
            "retire",
            "",
        )
        .await,
        403,
        None,
    )
    .await;
    problem(
        t.post(
            &format!("{ipath}/rating"),
            &c.auditor,
            json!({"helpful": true}),
        )
        .await,
        403,
        None,
    )
    .await;
    problem(
        t.get(&format!("{ipath}/versions"), &c.requester).await,
        404,
        None,
    )
    .await;
    let list: Value = t
        .get("/api/v1/articles", &c.requester)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![public["id"].as_i64().unwrap()]);
    // Showing a live internal article to requesters is a reviewer's decision.
    problem(
        t.patch(&ipath, &c.agent, json!({"audience": "requesters"}))
            .await,
        403,
        None,
    )
    .await;
    problem(t.get(&ipath, &c.requester).await, 404, None).await;
    let widened = t
        .patch(&ipath, &c.lead, json!({"audience": "requesters"}))
        .await;
    assert_eq!(widened.status(), 200);
    assert_eq!(t.get(&ipath, &c.requester).await.status(), 200);
    // A newer draft's title and the reviewers' notes stay with the staff.
    let ppath = format!("/api/v1/articles/{}", public["id"]);
    let res = t
        .patch(
            &ppath,
            &c.agent,
            json!({"title_en": "Draft: new password rules"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let staff_view: Value = t.get(&ppath, &c.agent).await.json().await.unwrap();
    assert_eq!(staff_view["title"], "Draft: new password rules");
    let seen: Value = t.get(&ppath, &c.requester).await.json().await.unwrap();
    assert_eq!(seen["title"], "Reset your password");
    assert_eq!(seen["content"]["title_en"], "Reset your password");
    assert_eq!(seen["content"]["review_comment"], "");
    assert_eq!(seen["content"]["reviewer_name"], Value::Null);
    // Requesters do not see categories managed or drafts counted; categories need a reviewer.
    problem(
        t.post(
            "/api/v1/knowledge-categories",
            &c.agent,
            json!({"name_zh": "网络", "name_en": "Network"}),
        )
        .await,
        403,
        None,
    )
    .await;
    let res = t
        .post(
            "/api/v1/knowledge-categories",
            &c.lead,
            json!({"name_zh": "网络", "name_en": "Network"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    // Idempotent create: a retry returns the first article.
    let key_body = json!({"title_en": "Once", "body_en": "only once"});
    let mut numbers = Vec::new();
    for _ in 0..2 {
        let v: Value = t
            .req(Method::POST, "/api/v1/articles", &c.agent)
            .header("Idempotency-Key", "kb-once")
            .json(&key_body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        numbers.push(v["number"].clone());
    }
    assert_eq!(numbers[0], numbers[1]);
    problem(
        t.get("/api/v1/articles?limit=0", &c.agent).await,
        422,
        Some("limit"),
    )
    .await;
}

async fn search_finds_chinese_and_english_words(t: &TestApp) {
    let c = cast(t).await;
    let cat = t
        .post(
            "/api/v1/knowledge-categories",
            &c.lead,
            json!({"name_zh": "硬件", "name_en": "Hardware"}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let sub = t
        .post(
            "/api/v1/knowledge-categories",
            &c.lead,
            json!({"name_zh": "打印", "name_en": "Printing", "parent_id": cat["id"]}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let printer = published(
        t,
        &c,
        json!({"title_zh": "打印机无法连接网络", "body_zh": "重启打印机并检查网线。", "audience": "requesters",
               "category_id": sub["id"]}),
    )
    .await;
    let password = published(
        t,
        &c,
        json!({"title_en": "How to reset your password", "body_en": "Open the self-service portal.", "audience": "requesters"}),
    )
    .await;
    let internal = published(
        t,
        &c,
        json!({"title_en": "Password vault for administrators", "body_en": "Internal only.", "audience": "internal"}),
    )
    .await;
    let draft = create(
        t,
        &c.agent,
        json!({"title_zh": "打印机卡纸", "body_zh": "草稿", "audience": "requesters"}),
    )
    .await;

    let ids = |v: &Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .collect()
    };
    let q = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let found: Value = t
        .get(&format!("/api/v1/articles?q={}", q("打印机")), &c.requester)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&found), vec![printer["id"].as_i64().unwrap()]);
    // Staff also find drafts.
    let found: Value = t
        .get(&format!("/api/v1/articles?q={}", q("打印机")), &c.agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 2);
    assert!(ids(&found).contains(&draft["id"].as_i64().unwrap()));
    let found: Value = t
        .get("/api/v1/articles?q=reset%20password", &c.requester)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&found), vec![password["id"].as_i64().unwrap()]);
    let found: Value = t
        .get("/api/v1/articles?q=password", &c.agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 2);
    assert!(ids(&found).contains(&internal["id"].as_i64().unwrap()));
    // The category filter includes the categories below.
    let by_cat: Value = t
        .get(
            &format!("/api/v1/articles?category_id={}", cat["id"]),
            &c.requester,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&by_cat), vec![printer["id"].as_i64().unwrap()]);

    // Suggestions match any word, only live articles the reader may see.
    let s: Value = t
        .get(
            &format!(
                "/api/v1/articles/suggest?q={}",
                q("我的打印机坏了 password")
            ),
            &c.requester,
        )
        .await
        .json()
        .await
        .unwrap();
    let mut got = ids(&s);
    got.sort_unstable();
    let mut want = vec![
        printer["id"].as_i64().unwrap(),
        password["id"].as_i64().unwrap(),
    ];
    want.sort_unstable();
    assert_eq!(got, want);
    let s: Value = t
        .get("/api/v1/articles/suggest?q=", &c.requester)
        .await
        .json()
        .await
        .unwrap();
    assert!(s["items"].as_array().unwrap().is_empty());
}

async fn readers_rate_and_staff_link_tickets(t: &TestApp) {
    let c = cast(t).await;
    let a = published(
        t,
        &c,
        json!({"title_zh": "邮箱容量已满", "body_zh": "清理已删除邮件。", "audience": "requesters"}),
    )
    .await;
    let id = a["id"].as_i64().unwrap();
    let rate = format!("/api/v1/articles/{id}/rating");
    let r: Value = t
        .post(
            &rate,
            &c.requester,
            json!({"helpful": false, "comment": "不清楚"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (r["helpful"].as_i64(), r["not_helpful"].as_i64()),
        (Some(0), Some(1))
    );
    // Staff read what readers wrote; readers do not read each other's comments.
    let seen: Value = t
        .get(&format!("/api/v1/articles/{id}"), &c.requester)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["feedback"], json!([]));
    let staff: Value = t
        .get(&format!("/api/v1/articles/{id}"), &c.agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(staff["feedback"][0]["comment"], "不清楚");
    assert_eq!(staff["feedback"][0]["helpful"], false);
    let b = Browser::login(t, "agent@x.test").await;
    let (_, html) = b.get(&format!("/knowledge/{id}")).await;
    assert!(html.contains("不清楚") && html.contains("What readers said"));
    // One vote per user: changing it replaces it.
    let r: Value = t
        .post(&rate, &c.requester, json!({"helpful": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (r["helpful"].as_i64(), r["not_helpful"].as_i64()),
        (Some(1), Some(0))
    );
    let r: Value = t
        .post(&rate, &c.agent, json!({"helpful": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["helpful"], 2);
    problem(
        t.post(&rate, &c.requester, json!({"helpful": "maybe"}))
            .await,
        422,
        Some("helpful"),
    )
    .await;

    let ticket = t.ticket(&c.requester, "Mailbox full", json!({})).await;
    let tid = ticket["id"].as_i64().unwrap();
    let links = format!("/api/v1/articles/{id}/tickets");
    problem(
        t.post(&links, &c.requester, json!({"ticket_id": tid}))
            .await,
        403,
        None,
    )
    .await;
    problem(
        t.post(&links, &c.agent, json!({"ticket_id": 999_999}))
            .await,
        422,
        Some("ticket_id"),
    )
    .await;
    let linked: Value = t
        .post(&links, &c.lead, json!({"ticket_id": tid}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(linked["items"][0]["id"], tid);
    // Linking again changes nothing.
    t.post(&links, &c.lead, json!({"ticket_id": tid})).await;
    let view: Value = t
        .get(&format!("/api/v1/articles/{id}"), &c.agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["ticket_count"], 1);
    let on_ticket: Value = t
        .get(&format!("/api/v1/tickets/{tid}/articles"), &c.requester)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(on_ticket["items"][0]["id"], id);
    let actions = audit_actions(t, id).await;
    assert_eq!(actions.iter().filter(|a| *a == "link_ticket").count(), 1);
    assert_eq!(actions.iter().filter(|a| *a == "rate").count(), 3);
}

async fn knowledge_pages_work_in_both_languages(t: &TestApp) {
    let c = cast(t).await;
    let a = published(
        t,
        &c,
        json!({"title_zh": "打印机无法连接网络怎么办", "body_zh": "重启打印机。<script>x</script>", "title_en": "Printer offline",
               "body_en": "Restart the printer.", "audience": "requesters"}),
    )
    .await;
    let id = a["id"].as_i64().unwrap();

    let staff = Browser::login(t, "agent@x.test").await;
    let (status, html) = staff.get("/knowledge").await;
    assert_eq!(status, 200);
    assert!(html.contains("Printer offline"), "{html}");
    let (status, html) = staff.get(&format!("/knowledge/{id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Restart the printer."));
    let (status, _) = staff.get(&format!("/knowledge/{id}/versions")).await;
    assert_eq!(status, 200);

    // The editor makes a new draft of the live article; a blank form names the field.
    let (status, html) = staff
        .post(
            &format!("/knowledge/{id}/edit"),
            &format!("/knowledge/{id}/edit"),
            &[
                ("title_zh", ""),
                ("body_zh", ""),
                ("title_en", ""),
                ("body_en", ""),
                ("audience", "requesters"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("aria-invalid"));
    let (status, to) = staff
        .post(
            &format!("/knowledge/{id}/edit"),
            &format!("/knowledge/{id}/edit"),
            &[
                ("title_zh", "打印机无法连接网络怎么办"),
                ("body_zh", "先重启打印机。"),
                ("title_en", "Printer offline"),
                ("body_en", "Restart the printer first."),
                ("audience", "requesters"),
            ],
        )
        .await;
    assert_eq!(
        (status, to.as_str()),
        (303, format!("/knowledge/{id}").as_str())
    );
    let (status, to) = staff
        .post(
            &format!("/knowledge/{id}"),
            &format!("/knowledge/{id}/review"),
            &[("action", "submit")],
        )
        .await;
    assert_eq!(status, 303, "{to}");
    let (status, html) = staff.get("/knowledge?review=1").await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("/knowledge/{id}")));

    // The requester reads the live version in Chinese, rates it, and gets suggestions on the
    // new-request page.
    let requester = Browser::login(t, "req@x.test").await;
    {
        let mut conn = t.app.read().await.unwrap();
        sqlx::query("UPDATE users SET locale = 'zh-CN' WHERE id = $1")
            .bind(c.requester.id)
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    let (status, html) = requester.get(&format!("/knowledge/{id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("重启打印机。"), "Chinese body: {html}");
    assert!(!html.contains("<script>x"), "the body is escaped");
    assert!(html.contains("这篇文章对您有帮助吗"));
    let (status, _) = requester
        .post(
            &format!("/knowledge/{id}"),
            &format!("/knowledge/{id}/rating"),
            &[("helpful", "yes")],
        )
        .await;
    assert_eq!(status, 303);
    let (_, html) = requester.get("/knowledge").await;
    assert!(html.contains("打印机无法连接网络怎么办"));
    let (_, html) = requester.get("/portal/new").await;
    assert!(html.contains("data-kb-suggest"));
    let (status, _) = requester.get(&format!("/knowledge/{id}/versions")).await;
    assert_eq!(status, 404);
    let (status, _) = requester.get("/knowledge/new").await;
    assert_eq!(status, 403);

    // Staff link the article from the ticket page.
    let ticket = t.ticket(&c.requester, "Printer", json!({})).await;
    let tid = ticket["id"].as_i64().unwrap().to_string();
    let (status, to) = staff
        .post(
            &format!("/tickets/{tid}"),
            "/knowledge/link",
            &[("ticket_id", tid.as_str()), ("article", "kb-000001")],
        )
        .await;
    assert_eq!((status, to), (303, format!("/tickets/{tid}")));
    let (_, html) = staff.get(&format!("/tickets/{tid}")).await;
    assert!(html.contains(&format!("/knowledge/{id}")));
}
