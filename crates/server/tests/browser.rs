//! The pages in a real browser: headless Chromium driven over WebDriver (Debian packages
//! `chromium` and `chromium-driver`). A requester reports a problem in Chinese from the portal,
//! an agent finds it by searching 打印机, replies, writes an internal note and resolves it, and
//! the requester sees the reply but not the note. A second scenario takes a catalogue request
//! with a custom form through its approval to fulfilment, with its SLA clocks on the ticket.
//! Screenshots go to target/screenshots/.
//!
//! The test fails, never skips, when chromedriver or Chromium is missing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use steward_core::Channel;
use steward_server::app::accounts::{self, NewUserInput, OrganizationInput, TeamInput};
use steward_server::app::{Actor, App};
use steward_server::http::AppState;
use steward_store::Store;
use thirtyfour::components::SelectElement;
use thirtyfour::prelude::*;
use thirtyfour::stringmatch::StringMatch;

const PASSWORD: &str = "Correct-Horse-Battery-9";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);

const TITLE: &str = "打印机无法连接网络";
const DESCRIPTION: &str =
    "三楼财务部的打印机从今天早上开始无法连接网络，\n打印任务一直排队，重启打印机后仍然不行。";
const PUBLIC_REPLY: &str = "您好，我们已远程重置了打印机的网络设置，请再试一次打印。";
const INTERNAL_NOTE: &str = "内部：交换机端口 Gi1/0/17 曾被误关闭，已重新启用。";

/// A directory under target/ removed when the test ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// chromedriver as a child process, killed when the test ends, pass or fail.
struct ChromeDriver(Child);

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Server {
    base: String,
    app: App,
    _dir: TempDir,
}

/// The server in-process on a free port, with a fresh SQLite database.
async fn start_server() -> Server {
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_chromedriver() -> (ChromeDriver, String) {
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

async fn browser(driver_url: &str, profile: &Path) -> WebDriverResult<WebDriver> {
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

fn system() -> Actor {
    Actor::system(Channel::System)
}

async fn user(
    app: &App,
    email: &str,
    name: &str,
    role: &str,
    org: Option<i64>,
    teams: Vec<i64>,
    locale: &str,
) {
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
    .unwrap();
}

/// Waits for the first element matching a CSS selector. Errors while polling (an element of
/// the page being left goes stale) are retried until the wait ends.
async fn wait_css(d: &WebDriver, css: &str) -> WebDriverResult<WebElement> {
    d.query(By::Css(css))
        .ignore_errors(true)
        .wait(WAIT, POLL)
        .first()
        .await
}

/// Waits for an element matching a CSS selector whose text contains `text`.
async fn wait_text(d: &WebDriver, css: &str, text: &str) -> WebDriverResult<WebElement> {
    d.query(By::Css(css))
        .ignore_errors(true)
        .with_text(StringMatch::new(text).partial())
        .wait(WAIT, POLL)
        .first()
        .await
}

async fn sign_in(d: &WebDriver, base: &str, email: &str, name: &str) -> WebDriverResult<()> {
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

async fn sign_out(d: &WebDriver) -> WebDriverResult<()> {
    d.find(By::Css(".userbox form button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_css(d, "input[name=email]").await?;
    Ok(())
}

/// A screenshot of the whole page (the window grows to the page's height for it).
async fn screenshot(d: &WebDriver, name: &str) -> WebDriverResult<()> {
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

async fn body_text(d: &WebDriver) -> WebDriverResult<String> {
    d.find(By::Css("body")).await?.text().await
}

async fn scenario(d: &WebDriver, base: &str, files: &Path) -> WebDriverResult<()> {
    // 1. The requester reports the problem from the portal, in Chinese, with a log file.
    sign_in(d, base, "zhang.min@huadong.example.cn", "张敏").await?;
    d.goto(format!("{base}/portal")).await?;
    wait_css(d, ".entry-request").await?.click().await?;
    wait_css(d, "input[name=kind][value=service_request]:checked").await?;
    d.find(By::Css("input[name=title]"))
        .await?
        .send_keys(TITLE)
        .await?;
    d.find(By::Css("textarea[name=description]"))
        .await?
        .send_keys(DESCRIPTION)
        .await?;
    let log = files.join("printer.log");
    std::fs::write(&log, "2026-11-25 08:02 link down\n").unwrap();
    d.find(By::Css("input[type=file][name=file]"))
        .await?
        .send_keys(log.display().to_string())
        .await?;
    d.find(By::Css("form.new-ticket button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_text(d, "h1.ticket-title-h", TITLE).await?;
    wait_css(d, ".alert-ok").await?;
    wait_text(d, ".files a", "printer.log").await?;
    let mut ticket_url = d.current_url().await?;
    ticket_url.set_query(None);
    let ticket_url = ticket_url.to_string();
    assert!(ticket_url.contains("/tickets/"), "landed on {ticket_url}");
    d.goto(format!("{base}/portal")).await?;
    wait_text(d, ".ticket-card-title", TITLE).await?;
    screenshot(d, "portal").await?;
    sign_out(d).await?;

    // 2. The agent finds it by searching a Chinese word in the workspace.
    sign_in(d, base, "wang.wei@example.com", "王伟").await?;
    d.goto(format!("{base}/desk")).await?;
    wait_text(d, "table.tickets .ticket-title", TITLE).await?;
    screenshot(d, "workspace").await?;
    let search = wait_css(d, "#top-q").await?;
    search.send_keys("打印机").await?;
    search.send_keys(Key::Enter).await?;
    wait_text(d, ".content-head h1", "打印机").await?;
    wait_text(d, "table.tickets .ticket-title", TITLE)
        .await?
        .click()
        .await?;
    wait_text(d, "h1.ticket-title-h", TITLE).await?;

    // 3. A public reply, an internal note, then resolved with a resolution code.
    wait_css(d, "input[name=visibility][value=public]:checked").await?;
    d.find(By::Css("#reply-body"))
        .await?
        .send_keys(PUBLIC_REPLY)
        .await?;
    d.find(By::Css(".reply-form button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_text(d, ".comment-public .body-text", PUBLIC_REPLY).await?;

    d.find(By::Css("input[name=visibility][value=internal]"))
        .await?
        .click()
        .await?;
    d.find(By::Css("#reply-body"))
        .await?
        .send_keys(INTERNAL_NOTE)
        .await?;
    d.find(By::Css(".reply-form button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_text(d, ".comment-internal .body-text", INTERNAL_NOTE).await?;
    wait_css(d, ".comment-internal .tag-internal").await?;

    let status = SelectElement::new(&wait_css(d, "select[name=status]").await?).await?;
    status.select_by_value("resolved").await?;
    let code = SelectElement::new(&d.find(By::Css("select[name=resolution_code]")).await?).await?;
    code.select_by_value("fixed").await?;
    d.find(By::Css("textarea[name=resolution_notes]"))
        .await?
        .send_keys("已重置打印机网络配置并重新启用交换机端口。")
        .await?;
    d.find(By::Css(".status-form button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_css(d, ".ticket-head .badge.status-resolved").await?;
    wait_text(d, ".details dd", "Fixed").await?;
    screenshot(d, "ticket-agent").await?;
    sign_out(d).await?;

    // 4. The requester sees the reply and the resolution, never the internal note.
    sign_in(d, base, "zhang.min@huadong.example.cn", "张敏").await?;
    d.goto(&ticket_url).await?;
    wait_text(d, ".comment .body-text", PUBLIC_REPLY).await?;
    wait_css(d, ".callout button[type=submit]").await?;
    let text = body_text(d).await?;
    assert!(text.contains(PUBLIC_REPLY), "the reply is missing");
    assert!(
        !text.contains(INTERNAL_NOTE) && !text.contains("Gi1/0/17"),
        "the requester must not see the internal note"
    );
    assert!(d.find_all(By::Css(".comment-internal")).await?.is_empty());
    assert!(d.find_all(By::Css("select[name=status]")).await?.is_empty());
    assert!(text.contains("已解决"), "the status should read 已解决");
    screenshot(d, "ticket-requester").await?;

    // Confirming the resolution closes the ticket.
    wait_text(d, ".callout button[type=submit]", "关闭")
        .await?
        .click()
        .await?;
    wait_css(d, ".ticket-head .badge.status-closed").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_from_portal_to_resolution_in_the_browser() {
    let server = start_server().await;
    let app = &server.app;
    let team = accounts::create_team(
        app,
        &system(),
        TeamInput {
            name: "网络组".into(),
        },
        None,
    )
    .await
    .unwrap()
    .id;
    let org = accounts::create_org(
        app,
        &system(),
        OrganizationInput {
            name: "华东制造".into(),
            members_see_each_other: false,
        },
        None,
    )
    .await
    .unwrap()
    .id;
    // The agent works in English, the requester in Chinese: both languages get a look.
    user(
        app,
        "wang.wei@example.com",
        "王伟",
        "agent",
        None,
        vec![team],
        "en",
    )
    .await;
    user(
        app,
        "zhang.min@huadong.example.cn",
        "张敏",
        "requester",
        Some(org),
        vec![],
        "zh-CN",
    )
    .await;

    let (_chromedriver, driver_url) = start_chromedriver().await;
    let profile = TempDir(server._dir.0.join("chromium-profile"));
    std::fs::create_dir_all(&profile.0).unwrap();
    let driver = browser(&driver_url, &profile.0)
        .await
        .expect("headless Chromium could not be started");
    let result = scenario(&driver, &server.base, &server._dir.0).await;
    if result.is_err() {
        let _ = screenshot(&driver, "failure").await;
    }
    let _ = driver.quit().await;
    app.store.close().await;
    if let Err(e) = result {
        panic!("the browser scenario failed: {e}");
    }
}

const LAPTOP_REASON: &str = "入职新员工需要一台开发用笔记本电脑。";

async fn catalogue_scenario(d: &WebDriver, base: &str) -> WebDriverResult<()> {
    // 1. The requester picks the request type from the catalogue and fills its form.
    sign_in(d, base, "zhang.min@huadong.example.cn", "张敏").await?;
    d.goto(format!("{base}/portal/catalogue")).await?;
    wait_text(d, "a[href^='/portal/request-types/']", "申请新笔记本电脑")
        .await?
        .click()
        .await?;
    let model = SelectElement::new(&wait_css(d, "select[name=a_model]").await?).await?;
    model.select_by_value("mac").await?;
    d.execute(
        "document.querySelector('input[name=a_needed_by]').value = '2026-12-15';",
        vec![],
    )
    .await?;
    d.find(By::Css("textarea[name=a_reason]"))
        .await?
        .send_keys(LAPTOP_REASON)
        .await?;
    screenshot(d, "catalogue-form").await?;
    d.find(By::Css(
        "form[action^='/portal/request-types/'] button[type=submit]",
    ))
    .await?
    .click()
    .await?;
    wait_css(d, "h1.ticket-title-h").await?;
    let mut ticket_url = d.current_url().await?;
    ticket_url.set_query(None);
    ticket_url.set_fragment(None);
    let ticket_url = ticket_url.to_string();
    assert!(ticket_url.contains("/tickets/"), "landed on {ticket_url}");
    let text = body_text(d).await?;
    assert!(
        text.contains(LAPTOP_REASON),
        "the answers are on the request"
    );
    sign_out(d).await?;

    // 2. The team lead approves it from the approvals page.
    sign_in(d, base, "lead@example.com", "刘强").await?;
    d.goto(format!("{base}/approvals")).await?;
    wait_text(d, ".card", LAPTOP_REASON).await?;
    d.find(By::Css("textarea[name=comment]"))
        .await?
        .send_keys("同意，请按标准配置。")
        .await?;
    screenshot(d, "approvals").await?;
    d.find(By::Css("button[name=decision][value=approve]"))
        .await?
        .click()
        .await?;
    wait_text(d, "li", "同意，请按标准配置。").await?;
    sign_out(d).await?;

    // 3. The agent sees the answers and the running SLA clocks, takes it and fulfils it.
    sign_in(d, base, "wang.wei@example.com", "王伟").await?;
    d.goto(format!("{base}/desk?sort=due")).await?;
    wait_css(d, "table.tickets .due").await?;
    screenshot(d, "workspace-due").await?;
    d.goto(&ticket_url).await?;
    wait_css(d, ".sla-panel .clock-state-running").await?;
    let text = body_text(d).await?;
    assert!(text.contains(LAPTOP_REASON), "the agent sees the answers");
    assert!(
        text.contains("First response"),
        "the response clock is shown"
    );
    d.find(By::Css(".take-form button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_css(d, ".alert-ok").await?;
    let status = SelectElement::new(&wait_css(d, "select[name=status]").await?).await?;
    status.select_by_value("resolved").await?;
    let code = SelectElement::new(&d.find(By::Css("select[name=resolution_code]")).await?).await?;
    code.select_by_value("fixed").await?;
    d.find(By::Css(".status-form button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_css(d, ".ticket-head .badge.status-resolved").await?;
    wait_css(d, ".sla-panel .clock-state-met").await?;
    screenshot(d, "ticket-sla").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalogue_request_is_approved_fulfilled_and_timed_in_the_browser() {
    use steward_server::app::{agreements, catalogue};
    let server = start_server().await;
    let app = &server.app;
    let sys = system();
    let team = accounts::create_team(
        app,
        &sys,
        TeamInput {
            name: "桌面支持".into(),
        },
        None,
    )
    .await
    .unwrap()
    .id;
    let org = accounts::create_org(
        app,
        &sys,
        OrganizationInput {
            name: "华东制造".into(),
            members_see_each_other: false,
        },
        None,
    )
    .await
    .unwrap()
    .id;
    user(
        app,
        "wang.wei@example.com",
        "王伟",
        "agent",
        None,
        vec![team],
        "en",
    )
    .await;
    user(
        app,
        "lead@example.com",
        "刘强",
        "team_lead",
        None,
        vec![team],
        "zh-CN",
    )
    .await;
    user(
        app,
        "zhang.min@huadong.example.cn",
        "张敏",
        "requester",
        Some(org),
        vec![],
        "zh-CN",
    )
    .await;
    let service = catalogue::create_service(
        app,
        &sys,
        serde_json::from_value(serde_json::json!({
            "code": "EQUIPMENT", "name_zh": "办公设备", "name_en": "Office equipment",
            "team_id": team, "lifecycle": "live", "customer_ids": [org]
        }))
        .unwrap(),
        None,
    )
    .await
    .unwrap();
    catalogue::create_request_type(
        app,
        &sys,
        service.id,
        serde_json::from_value(serde_json::json!({
            "name_zh": "申请新笔记本电脑", "name_en": "New laptop", "approval_rule": "team_lead",
            "form": [
                {"key": "model", "kind": "choice", "required": true, "label_zh": "型号", "label_en": "Model",
                 "options": [{"value": "thinkpad", "label_zh": "ThinkPad", "label_en": "ThinkPad"},
                             {"value": "mac", "label_zh": "MacBook", "label_en": "MacBook"}]},
                {"key": "needed_by", "kind": "date", "required": true, "label_zh": "需要日期", "label_en": "Needed by"},
                {"key": "reason", "kind": "long_text", "required": true, "label_zh": "用途", "label_en": "Reason", "min_length": 5}
            ]
        }))
        .unwrap(),
        None,
    )
    .await
    .unwrap();
    agreements::create(
        app,
        &sys,
        serde_json::from_value(serde_json::json!({
            "name": "标准服务协议", "kind": "sla", "calendar_id": 2, "valid_from": "2020-01-01", "status": "active",
            "targets": [{"priority": "P4", "response_minutes": 480, "resolution_minutes": 2880},
                        {"priority": "P3", "response_minutes": 240, "resolution_minutes": 1440}]
        }))
        .unwrap(),
    )
    .await
    .unwrap();

    let (_chromedriver, driver_url) = start_chromedriver().await;
    let profile = TempDir(server._dir.0.join("chromium-profile"));
    std::fs::create_dir_all(&profile.0).unwrap();
    let driver = browser(&driver_url, &profile.0)
        .await
        .expect("headless Chromium could not be started");
    let result = catalogue_scenario(&driver, &server.base).await;
    if result.is_err() {
        let _ = screenshot(&driver, "catalogue-failure").await;
    }
    let _ = driver.quit().await;
    app.store.close().await;
    if let Err(e) = result {
        panic!("the catalogue scenario failed: {e}");
    }
}
