//! A requester reports a problem in Chinese from the portal; an agent finds it by searching
//! 打印机, replies, writes an internal note and resolves it; the requester sees the reply but
//! not the note.

use crate::support::*;
use std::path::Path;
use steward_server::app::accounts::{self, OrganizationInput, TeamInput};
use thirtyfour::components::SelectElement;
use thirtyfour::prelude::*;

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
