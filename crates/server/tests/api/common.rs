//! The test harness: a fresh database per test (SQLite file or PostgreSQL database), the
//! server on a free port, and helpers to make users and tokens through the app functions.

use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use steward_core::Channel;
use steward_server::app::accounts::{self, NewUserInput, OrganizationInput, TeamInput};
use steward_server::app::{auth, Actor, App};
use steward_server::http::AppState;
use steward_store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub app: App,
    pub client: Client,
    pub db: Db,
    pub url: String,
    /// Where attachments and raw mail are stored (`--data-dir` for the CLI).
    pub data_dir: std::path::PathBuf,
    pg_name: Option<String>,
    _dir: tempdir::Dir,
}

/// A directory under target/ that is removed when the test ends.
mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}_{}_{}_{n}",
        std::process::id(),
        jiff::Timestamp::now().as_microsecond()
    )
}

/// The PostgreSQL server for tests; CI provides one at 127.0.0.1:5432 and never skips it.
pub fn pg_admin_url() -> String {
    std::env::var("STEWARD_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub const PASSWORD: &str = "Correct-Horse-Battery-9";

pub struct User {
    pub id: i64,
    pub token: String,
}

impl TestApp {
    pub async fn start(db: Db) -> TestApp {
        let dir_path =
            std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("steward"));
        std::fs::create_dir_all(&dir_path).unwrap();
        let dir = tempdir::Dir(dir_path.clone());
        let (url, pg_name) = match db {
            Db::Sqlite => (
                format!("sqlite://{}", dir_path.join("test.db").display()),
                None,
            ),
            Db::Postgres => {
                let name = unique("steward_test");
                let (mut conn, _) =
                    steward_store::connect_raw(&format!("{}/postgres", pg_admin_url()))
                        .await
                        .expect("PostgreSQL at 127.0.0.1:5432 must be running for the tests");
                sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                    .await
                    .unwrap();
                (format!("{}/{name}", pg_admin_url()), Some(name))
            }
        };
        let store = Store::open_unchecked(&url, 8).await.unwrap();
        store.migrate().await.unwrap();
        let app = steward_server::cli::build_app(store, dir_path.join("blobs").to_str().unwrap())
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState {
            app: app.clone(),
            secure_cookies: false,
        };
        tokio::spawn(async move {
            let router = steward_server::http::router(state)
                .into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, router).await.unwrap();
        });
        TestApp {
            base,
            app,
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            db,
            url,
            data_dir: dir_path.join("blobs"),
            pg_name,
            _dir: dir,
        }
    }

    /// Closes the store and drops the PostgreSQL database.
    pub async fn finish(self) {
        self.app.store.close().await;
        if let Some(name) = &self.pg_name {
            if let Ok((mut conn, _)) =
                steward_store::connect_raw(&format!("{}/postgres", pg_admin_url())).await
            {
                let _ = sqlx::Executor::execute(
                    &mut conn,
                    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                )
                .await;
            }
        }
    }

    pub fn system() -> Actor {
        Actor::system(Channel::System)
    }

    pub async fn team(&self, name: &str) -> i64 {
        accounts::create_team(
            &self.app,
            &Self::system(),
            TeamInput { name: name.into() },
            None,
        )
        .await
        .unwrap()
        .id
    }

    pub async fn org(&self, name: &str, members_see_each_other: bool) -> i64 {
        accounts::create_org(
            &self.app,
            &Self::system(),
            OrganizationInput {
                name: name.into(),
                members_see_each_other,
            },
            None,
        )
        .await
        .unwrap()
        .id
    }

    /// A user with a password and an API token.
    pub async fn user(&self, email: &str, role: &str, org: Option<i64>, teams: Vec<i64>) -> User {
        let input = NewUserInput {
            email: email.into(),
            name: email.split('@').next().unwrap().into(),
            role: role.into(),
            password: Some(PASSWORD.into()),
            organization_id: org,
            team_ids: teams,
            locale: Some("en".into()),
        };
        let u = accounts::create_user(&self.app, &Self::system(), input, None)
            .await
            .unwrap();
        let mut conn = self.app.read().await.unwrap();
        let actor = Actor::load(&mut conn, u.id, Channel::Api).await.unwrap();
        drop(conn);
        let token = auth::create_token(&self.app, &actor, "test")
            .await
            .unwrap()
            .token;
        User { id: u.id, token }
    }

    pub fn req(&self, method: Method, path: &str, user: &User) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&user.token)
    }

    pub async fn get(&self, path: &str, user: &User) -> Response {
        self.req(Method::GET, path, user).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, user: &User, body: Value) -> Response {
        self.req(Method::POST, path, user)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, user: &User, body: Value) -> Response {
        self.req(Method::PATCH, path, user)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a ticket as `user` and returns its JSON.
    pub async fn ticket(&self, user: &User, title: &str, extra: Value) -> Value {
        let mut body = json!({"kind": "incident", "title": title, "description": "", "impact": "medium", "urgency": "medium"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let res = self.post("/api/v1/tickets", user, body).await;
        assert_eq!(res.status(), 201, "create ticket");
        res.json().await.unwrap()
    }
}

/// Runs a scenario on SQLite and on PostgreSQL, as two tests.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let t = $crate::common::TestApp::start($crate::common::Db::Sqlite).await;
                    super::$name(&t).await;
                    t.finish().await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let t = $crate::common::TestApp::start($crate::common::Db::Postgres).await;
                    super::$name(&t).await;
                    t.finish().await;
                }
            }
        )+
    };
}

/// Reads a problem+json answer and checks its status and field.
pub async fn problem(res: Response, status: u16, field: Option<&str>) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "content type"
    );
    let body: Value = res.json().await.unwrap();
    if let Some(f) = field {
        assert_eq!(body["field"], f, "field in {body}");
    }
    body
}

/// A signed-in browser session: the cookie and the CSRF token of its forms.
pub struct Browser<'a> {
    t: &'a TestApp,
    /// The session cookie (`name=value`), for requests a test makes by hand.
    pub cookie: String,
}

impl<'a> Browser<'a> {
    pub async fn login(t: &'a TestApp, email: &str) -> Browser<'a> {
        let res = t
            .client
            .post(format!("{}/login", t.base))
            .form(&[("email", email), ("password", PASSWORD), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "login {email}");
        let cookie = res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        Browser { t, cookie }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let res = self
            .t
            .client
            .get(format!("{}{path}", self.t.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// Posts a form with the session's CSRF token (read from `page`) and the same-origin
    /// header a browser sends.
    pub async fn post(&self, page: &str, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let (_, html) = self.get(page).await;
        let csrf = html
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("the page has a form")
            .to_string();
        let mut form: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        let res = self
            .t
            .client
            .post(format!("{}{path}", self.t.base))
            .header("cookie", &self.cookie)
            .header("origin", &self.t.base)
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = res.text().await.unwrap();
        (status, if status == 303 { location } else { body })
    }
}
