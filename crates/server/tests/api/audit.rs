use crate::common::{Db, TestApp};
use crate::on_both_databases;
use serde_json::json;
use steward_store::audit::{self, Verification};

on_both_databases!(
    verify_catches_a_row_changed_behind_its_back,
    schema_version_is_checked
);

async fn verify(t: &TestApp) -> Verification {
    let mut conn = t.app.read().await.unwrap();
    audit::verify(&mut conn, |_| {}).await.unwrap()
}

async fn exec(t: &TestApp, sql: &str) {
    let mut conn = t.app.read().await.unwrap();
    sqlx::Executor::execute(&mut *conn, sql).await.unwrap();
}

async fn verify_catches_a_row_changed_behind_its_back(t: &TestApp) {
    let admin = t.user("admin@x.test", "admin", None, vec![]).await;
    // Concurrent writers: the chain stays linear.
    let mut handles = Vec::new();
    for i in 0..20 {
        let req = t
            .req(reqwest::Method::POST, "/api/v1/tickets", &admin)
            .json(&json!({
                "kind": "incident", "title": format!("t{i}"), "impact": "low", "urgency": "low"
            }));
        handles.push(tokio::spawn(
            async move { req.send().await.unwrap().status() },
        ));
    }
    for h in handles {
        assert_eq!(h.await.unwrap(), 201);
    }
    let Verification::Intact { entries } = verify(t).await else {
        panic!("chain broken")
    };
    assert!(entries >= 22, "{entries}");
    // The log refuses updates through SQL...
    let mut conn = t.app.read().await.unwrap();
    assert!(sqlx::Executor::execute(
        &mut *conn,
        "UPDATE audit_log SET new_value = 'x' WHERE seq = 5"
    )
    .await
    .is_err());
    drop(conn);
    // ...so someone with the database drops the guard and edits a row.
    match t.db {
        Db::Sqlite => exec(t, "DROP TRIGGER audit_log_no_update").await,
        Db::Postgres => exec(t, "DROP TRIGGER audit_log_no_change ON audit_log").await,
    }
    exec(
        t,
        "UPDATE audit_log SET new_value = 'INC-000099 forged' WHERE seq = 5",
    )
    .await;
    match verify(t).await {
        Verification::Broken {
            seq,
            entries_checked,
            ..
        } => {
            assert_eq!(seq, 5);
            assert_eq!(entries_checked, 4);
        }
        other => panic!("tampering not detected: {other:?}"),
    }
    // The CLI says so and exits non-zero.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["--db", &t.url, "audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("entry 5"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

async fn schema_version_is_checked(t: &TestApp) {
    // The current schema opens.
    steward_store::Store::open(&t.url, 1)
        .await
        .unwrap()
        .close()
        .await;
    exec(
        t,
        "INSERT INTO schema_version (version, applied_at) VALUES (999, 0)",
    )
    .await;
    let err = steward_store::Store::open(&t.url, 1)
        .await
        .err()
        .expect("a newer schema must be refused")
        .to_string();
    assert!(err.contains("newer"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["--db", &t.url, "serve", "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("999"));
}
