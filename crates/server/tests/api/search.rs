use crate::common::TestApp;
use crate::on_both_databases;
use serde_json::{json, Value};

on_both_databases!(finds_chinese_words_inside_sentences_and_english_words);

async fn ids(t: &TestApp, user: &crate::common::User, q: &str) -> Vec<i64> {
    let url = format!(
        "/api/v1/tickets?q={}",
        form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
    );
    let res: Value = t.get(&url, user).await.json().await.unwrap();
    res["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

async fn finds_chinese_words_inside_sentences_and_english_words(t: &TestApp) {
    let admin = t.user("admin@x.test", "admin", None, vec![]).await;
    let printer = t
        .ticket(
            &admin,
            "打印机无法连接网络",
            json!({"description": "三楼财务部"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let vpn = t
        .ticket(
            &admin,
            "VPN keeps dropping",
            json!({"description": "Every ten minutes the tunnel resets."}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let mail = t.ticket(&admin, "邮箱无法登录", json!({})).await["id"]
        .as_i64()
        .unwrap();
    assert_eq!(ids(t, &admin, "打印机").await, vec![printer]);
    assert_eq!(ids(t, &admin, "网络").await, vec![printer]);
    assert_eq!(ids(t, &admin, "连接").await, vec![printer]);
    assert_eq!(ids(t, &admin, "财务").await, vec![printer]);
    assert_eq!(ids(t, &admin, "vpn").await, vec![vpn]);
    assert_eq!(ids(t, &admin, "Tunnel").await, vec![vpn]);
    // The last English word may be a prefix, for search as you type.
    assert_eq!(ids(t, &admin, "drop").await, vec![vpn]);
    let mut both = ids(t, &admin, "无法").await;
    both.sort();
    assert_eq!(both, vec![printer, mail]);
    // Replies are searchable; quotes and operators are just text.
    let res = t
        .post(
            &format!("/api/v1/tickets/{mail}/comments"),
            &admin,
            json!({"body": "已重置密码 password reset"}),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    assert_eq!(ids(t, &admin, "密码").await, vec![mail]);
    assert_eq!(ids(t, &admin, "\"password\" (reset*").await, vec![mail]);
    assert!(ids(t, &admin, "!!!").await.is_empty());
    assert!(ids(t, &admin, "扫描仪").await.is_empty());
    // A title change is searchable at once.
    t.patch(
        &format!("/api/v1/tickets/{vpn}"),
        &admin,
        json!({"title": "VPN 隧道断开"}),
    )
    .await;
    assert_eq!(ids(t, &admin, "隧道").await, vec![vpn]);
}
