//! A catalogue request with a custom form goes through its approval to fulfilment, with its
//! SLA clocks on the ticket.

use crate::support::*;
use steward_server::app::accounts::{self, OrganizationInput, TeamInput};
use thirtyfour::components::SelectElement;
use thirtyfour::prelude::*;

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
