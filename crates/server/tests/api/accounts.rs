use crate::common::{problem, TestApp, PASSWORD};
use crate::on_both_databases;
use serde_json::{json, Value};

on_both_databases!(
    admin_manages_users_teams_and_organisations,
    passwords_and_logins
);

async fn admin_manages_users_teams_and_organisations(t: &TestApp) {
    let admin = t.user("admin@x.test", "admin", None, vec![]).await;
    let team: Value = t
        .post("/api/v1/teams", &admin, json!({"name": "网络组"}))
        .await
        .json()
        .await
        .unwrap();
    problem(
        t.post("/api/v1/teams", &admin, json!({"name": "网络组"}))
            .await,
        422,
        Some("name"),
    )
    .await;
    let org: Value = t
        .post(
            "/api/v1/organizations",
            &admin,
            json!({"name": "Acme", "members_see_each_other": true}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(org["members_see_each_other"], true);
    let res = t
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "Wang.Wei@Example.com", "name": "王伟", "role": "agent", "password": PASSWORD, "team_ids": [team["id"]]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["email"], "wang.wei@example.com");
    assert_eq!(user["team_ids"], json!([team["id"]]));
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());
    problem(
        t.post(
            "/api/v1/users",
            &admin,
            json!({"email": "wang.wei@example.com", "name": "x", "role": "agent"}),
        )
        .await,
        422,
        Some("email"),
    )
    .await;
    problem(
        t.post(
            "/api/v1/users",
            &admin,
            json!({"email": "x@y.test", "name": "x", "role": "wizard"}),
        )
        .await,
        422,
        Some("role"),
    )
    .await;
    problem(
        t.post(
            "/api/v1/users",
            &admin,
            json!({"email": "not-an-email", "name": "x", "role": "agent"}),
        )
        .await,
        422,
        Some("email"),
    )
    .await;
    problem(
        t.post("/api/v1/users", &admin, json!({"email": "r@y.test", "name": "x", "role": "requester", "team_ids": [team["id"]]})).await,
        422,
        Some("team_ids"),
    )
    .await;
    problem(
        t.post(
            "/api/v1/users",
            &admin,
            json!({"email": "o@y.test", "name": "x", "role": "requester", "organization_id": 999}),
        )
        .await,
        422,
        Some("organization_id"),
    )
    .await;
    let path = format!("/api/v1/users/{}", user["id"]);
    let updated: Value = t
        .patch(
            &path,
            &admin,
            json!({"role": "team_lead", "organization_id": org["id"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["role"], "team_lead");
    let updated: Value = t
        .patch(&path, &admin, json!({"organization_id": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["organization_id"], Value::Null);
    problem(
        t.patch(
            &format!("/api/v1/users/{}", admin.id),
            &admin,
            json!({"active": false}),
        )
        .await,
        422,
        Some("active"),
    )
    .await;
    let renamed: Value = t
        .patch(
            &format!("/api/v1/teams/{}", team["id"]),
            &admin,
            json!({"name": "Network"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(renamed["name"], "Network");
    assert_eq!(renamed["member_ids"], json!([user["id"]]));
    let list: Value = t
        .get("/api/v1/users?role=team_lead", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let me: Value = t.get("/api/v1/me", &admin).await.json().await.unwrap();
    assert_eq!(me["role"], "admin");
}

async fn passwords_and_logins(t: &TestApp) {
    let admin = t.user("admin@x.test", "admin", None, vec![]).await;
    for bad in [
        "short",
        "password123",
        "1234567890",
        "aaaaaaaaaaaa",
        "newuser-rocks-99",
    ] {
        let res = t
            .post(
                "/api/v1/users",
                &admin,
                json!({"email": "newuser@x.test", "name": "n", "role": "agent", "password": bad}),
            )
            .await;
        problem(res, 422, Some("password")).await;
    }
    // Stored as argon2id.
    let mut conn = t.app.read().await.unwrap();
    let stored = steward_store::accounts::user_by_email(&mut conn, "admin@x.test")
        .await
        .unwrap()
        .unwrap();
    assert!(stored.password_hash.unwrap().starts_with("$argon2id$"));
    drop(conn);
    // The login form: unknown users and wrong passwords get the same answer.
    let login = |email: &str, password: &str| {
        t.client
            .post(format!("{}/login", t.base))
            .form(&[("email", email), ("password", password), ("next", "/")])
            .send()
    };
    let unknown = login("nobody@x.test", "whatever-password").await.unwrap();
    let wrong = login("admin@x.test", "whatever-password").await.unwrap();
    assert_eq!(unknown.status(), wrong.status());
    let alert = |html: String| {
        html.split("role=\"alert\">")
            .nth(1)
            .map(|s| s.split('<').next().unwrap().to_string())
    };
    let (a, b) = (
        alert(unknown.text().await.unwrap()),
        alert(wrong.text().await.unwrap()),
    );
    assert!(a.is_some());
    assert_eq!(a, b);
    let ok = login("admin@x.test", PASSWORD).await.unwrap();
    assert_eq!(ok.status(), 303);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    let session = cookie.split(';').next().unwrap().to_string();
    // A second login gets a new session id.
    let again = login("admin@x.test", PASSWORD).await.unwrap();
    assert_ne!(
        again.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap(),
        session
    );
    // The session works on the API for reads; writes need the CSRF token.
    let me = t
        .client
        .get(format!("{}/api/v1/me", t.base))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let write = t
        .client
        .post(format!("{}/api/v1/tickets", t.base))
        .header("cookie", &session)
        .json(&json!({"kind": "incident", "title": "x", "impact": "low", "urgency": "low"}))
        .send()
        .await
        .unwrap();
    problem(write, 403, Some("X-CSRF-Token")).await;
    // Throttling: after five failures from one address, that address is refused for the
    // account, with 429, even with the right password...
    for _ in 0..5 {
        login("victim@x.test", "wrong-password-1").await.unwrap();
    }
    t.user("victim@x.test", "agent", None, vec![]).await;
    assert_eq!(
        login("victim@x.test", PASSWORD).await.unwrap().status(),
        429
    );
    // ...while other accounts from the same address still work.
    assert_eq!(login("admin@x.test", PASSWORD).await.unwrap().status(), 303);
}
