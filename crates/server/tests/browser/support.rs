//! What every browser scenario needs: the server on a fresh SQLite database, chromedriver,
//! headless Chromium, sign-in, waits and screenshots.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use steward_core::Channel;
use steward_server::app::accounts::{self, NewUserInput};
use steward_server::app::{Actor, App};
use steward_server::http::AppState;
use steward_store::Store;
use thirtyfour::prelude::*;
use thirtyfour::stringmatch::StringMatch;

pub const PASSWORD: &str = "Correct-Horse-Battery-9";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const WAIT: Duration = Duration::from_secs(20);
pub const POLL: Duration = Duration::from_millis(100);

pub const TITLE: &str = "打印机无法连接网络";
pub const DESCRIPTION: &str =
    "三楼财务部的打印机从今天早上开始无法连接网络，\n打印任务一直排队，重启打印机后仍然不行。";
pub const PUBLIC_REPLY: &str = "您好，我们已远程重置了打印机的网络设置，请再试一次打印。";
pub const INTERNAL_NOTE: &str = "内部：交换机端口 Gi1/0/17 曾被误关闭，已重新启用。";

/// A directory under target/ removed when the test ends.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// chromedriver as a child process, killed when the test ends, pass or fail.
pub struct ChromeDriver(Child);

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Server {
    pub base: String,
    pub app: App,
    pub _dir: TempDir,
}

/// The server in-process on a free port, with a fresh SQLite database.
pub async fn start_server() -> Server {
    let unique = format!(
        "browser_{}_{}",
        std::process::id(),
        jiff::Timestamp::now().as_microsecond()
    );
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("test.db").display());
    let store = Store::open_unchecked(&url, 8).await.unwrap();
    store.migrate().await.unwrap();
    let app = steward_server::cli::build_app(store, dir.join("blobs").to_str().unwrap()).unwrap();
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
    Server {
        base,
        app,
        _dir: TempDir(dir),
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn start_chromedriver() -> (ChromeDriver, String) {
    assert!(
        Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
        "the browser test needs {CHROMEDRIVER} and {CHROMIUM}: apt-get install chromium chromium-driver"
    );
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver could not be started");
    let guard = ChromeDriver(child);
    // chromedriver is ready when it accepts connections.
    let deadline = std::time::Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "chromedriver did not listen on port {port}"
        );
        tokio::time::sleep(POLL).await;
    }
    (guard, format!("http://127.0.0.1:{port}"))
}

pub async fn browser(driver_url: &str, profile: &Path) -> WebDriverResult<WebDriver> {
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(CHROMIUM)?;
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,900",
    ] {
        caps.add_arg(arg)?;
    }
    caps.add_arg(&format!("--user-data-dir={}", profile.display()))?;
    WebDriver::new(driver_url, caps).await
}

pub fn system() -> Actor {
    Actor::system(Channel::System)
}

pub async fn user(
    app: &App,
    email: &str,
    name: &str,
    role: &str,
    org: Option<i64>,
    teams: Vec<i64>,
    locale: &str,
) -> i64 {
    accounts::create_user(
        app,
        &system(),
        NewUserInput {
            email: email.into(),
            name: name.into(),
            role: role.into(),
            password: Some(PASSWORD.into()),
            organization_id: org,
            team_ids: teams,
            locale: Some(locale.into()),
        },
        None,
    )
    .await
    .unwrap()
    .id
}

/// Waits for the first element matching a CSS selector. Errors while polling (an element of
/// the page being left goes stale) are retried until the wait ends.
pub async fn wait_css(d: &WebDriver, css: &str) -> WebDriverResult<WebElement> {
    d.query(By::Css(css))
        .ignore_errors(true)
        .wait(WAIT, POLL)
        .first()
        .await
}

/// Waits for an element matching a CSS selector whose text contains `text`.
pub async fn wait_text(d: &WebDriver, css: &str, text: &str) -> WebDriverResult<WebElement> {
    d.query(By::Css(css))
        .ignore_errors(true)
        .with_text(StringMatch::new(text).partial())
        .wait(WAIT, POLL)
        .first()
        .await
}

pub async fn sign_in(d: &WebDriver, base: &str, email: &str, name: &str) -> WebDriverResult<()> {
    d.goto(format!("{base}/login")).await?;
    wait_css(d, "input[name=email]")
        .await?
        .send_keys(email)
        .await?;
    d.find(By::Css("input[name=password]"))
        .await?
        .send_keys(PASSWORD)
        .await?;
    d.find(By::Css("form button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_text(d, ".userbox .user-name", name).await?;
    Ok(())
}

pub async fn sign_out(d: &WebDriver) -> WebDriverResult<()> {
    d.find(By::Css(".userbox form button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_css(d, "input[name=email]").await?;
    Ok(())
}

/// A screenshot of the whole page (the window grows to the page's height for it).
pub async fn screenshot(d: &WebDriver, name: &str) -> WebDriverResult<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let height = d
        .execute("return document.documentElement.scrollHeight;", vec![])
        .await?
        .convert::<u32>()?;
    d.set_window_rect(0, 0, 1400, (height + 100).clamp(900, 4000))
        .await?;
    d.screenshot(&dir.join(format!("{name}.png"))).await?;
    d.set_window_rect(0, 0, 1400, 900).await?;
    Ok(())
}

pub async fn body_text(d: &WebDriver) -> WebDriverResult<String> {
    d.find(By::Css("body")).await?.text().await
}
