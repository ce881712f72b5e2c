//! Problem and change management in the browser: an agent links three incidents to a
//! problem and records the known error, then raises a normal change to fix it; the change
//! manager assesses it, the CAB (the change manager and a CAB member) approves it, it is
//! scheduled and shows on the change calendar.

use crate::support::*;
use steward_server::app::accounts::{self, TeamInput};
use steward_server::app::tickets::{self, NewTicketInput};
use thirtyfour::prelude::*;

const PROBLEM: &str = "财务部打印机反复断网";
const CAUSE: &str = "交换机端口启用了节能模式，空闲后端口休眠。";
const WORKAROUND: &str = "在打印机上执行一次网络重置即可恢复打印。";
const CHANGE: &str = "关闭 3 楼接入交换机的端口节能模式";

/// Clicks the submit button of the change page's transition form that moves to `to`.
async fn transition(d: &WebDriver, to: &str) -> WebDriverResult<()> {
    let form = wait_css(
        d,
        &format!("form[action$='/transition']:has(input[name=to][value={to}])"),
    )
    .await?;
    form.find(By::Css("button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_css(d, &format!(".badge.chg-status-{to}")).await?;
    Ok(())
}

async fn vote_approve(d: &WebDriver, change_url: &str, comment: &str) -> WebDriverResult<()> {
    d.goto(change_url).await?;
    wait_css(d, "form[action$='/vote'] textarea[name=comment]")
        .await?
        .send_keys(comment)
        .await?;
    d.find(By::Css("form[action$='/vote'] button[value=approve]"))
        .await?
        .click()
        .await?;
    wait_text(d, "body", comment).await?;
    Ok(())
}

async fn scenario(d: &WebDriver, base: &str, incidents: &[String]) -> WebDriverResult<()> {
    // 1. The agent opens a problem and links the three incidents by number.
    sign_in(d, base, "wang.wei@example.com", "王伟").await?;
    d.goto(format!("{base}/problems/new")).await?;
    wait_css(d, "form[action='/problems'] input[name=title]")
        .await?
        .send_keys(PROBLEM)
        .await?;
    d.find(By::Css("form[action='/problems'] button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_text(d, "h1.ticket-title-h", PROBLEM).await?;
    let problem_url = d.current_url().await?.to_string();
    for number in incidents {
        wait_css(d, "form.links-add input[name=number]")
            .await?
            .send_keys(number)
            .await?;
        d.find(By::Css("form.links-add button[type=submit]"))
            .await?
            .click()
            .await?;
        wait_text(d, ".problem-incidents li", number).await?;
    }
    assert_eq!(
        d.find_all(By::Css(".problem-incidents li")).await?.len(),
        3,
        "three incidents are linked"
    );

    // 2. The known error: the cause and the workaround.
    wait_css(d, "#known-error textarea[name=cause]")
        .await?
        .send_keys(CAUSE)
        .await?;
    d.find(By::Css("#known-error textarea[name=workaround]"))
        .await?
        .send_keys(WORKAROUND)
        .await?;
    d.find(By::Css("#known-error button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_css(d, ".badge.problem-status-known_error").await?;
    wait_text(d, ".prewrap", WORKAROUND).await?;
    screenshot(d, "problem-known-error").await?;
    // The incidents show the problem from their side.
    d.goto(format!("{base}/problems/kedb")).await?;
    wait_text(d, "body", PROBLEM).await?;
    d.goto(&problem_url).await?;

    // 3. The agent raises a normal change, answers the risk questions and submits it.
    d.goto(format!("{base}/changes/new")).await?;
    wait_css(d, "form[action='/changes/new'] input[name=title]")
        .await?
        .send_keys(CHANGE)
        .await?;
    d.find(By::Css("select[name=change_type] option[value=normal]"))
        .await?
        .click()
        .await?;
    d.find(By::Css("textarea[name=reason]"))
        .await?
        .send_keys("消除打印机反复断网的根本原因。")
        .await?;
    for (question, answer) in [
        ("done_before", "often"),
        ("tested", "fully"),
        ("complexity", "simple"),
        ("users", "few"),
        ("outage", "none"),
        ("backout", "easy"),
    ] {
        d.find(By::Css(format!(
            "input[name=risk_{question}][value={answer}]"
        )))
        .await?
        .click()
        .await?;
    }
    d.find(By::Css("textarea[name=implementation_plan]"))
        .await?
        .send_keys("在交换机上对 Gi1/0/1-24 执行 no power efficient-ethernet。")
        .await?;
    d.find(By::Css("textarea[name=backout_plan]"))
        .await?
        .send_keys("恢复原配置。")
        .await?;
    // A window two days from now; datetime-local inputs take their value by script.
    let start = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
        .date()
        .checked_add(jiff::ToSpan::days(2))
        .unwrap();
    d.execute(
        "document.querySelector('input[name=planned_start]').value = arguments[0];\
         document.querySelector('input[name=planned_end]').value = arguments[1];",
        vec![
            serde_json::json!(format!("{start}T22:00")),
            serde_json::json!(format!("{start}T23:30")),
        ],
    )
    .await?;
    d.find(By::Css("form[action='/changes/new'] button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_text(d, "h1.ticket-title-h", CHANGE).await?;
    wait_css(d, ".badge.chg-status-draft").await?;
    let change_url = d.current_url().await?.to_string();
    let number = d
        .find(By::Css("h1.ticket-title-h"))
        .await?
        .text()
        .await?
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(number.starts_with("CHG-"), "change number {number}");
    transition(d, "submitted").await?;
    sign_out(d).await?;

    // 4. The change manager assesses it and approves as a CAB member.
    sign_in(d, base, "change.manager@example.com", "Sun Bian").await?;
    d.goto(&change_url).await?;
    transition(d, "assessed").await?;
    vote_approve(d, &change_url, "Low risk, approved.").await?;
    wait_css(d, ".badge.chg-status-assessed").await?;
    sign_out(d).await?;

    // 5. The second CAB vote reaches the quorum of two.
    sign_in(d, base, "cab.zhao@example.com", "赵磊").await?;
    vote_approve(d, &change_url, "同意，按计划实施。").await?;
    wait_css(d, ".badge.chg-status-approved").await?;
    screenshot(d, "change-approved").await?;
    sign_out(d).await?;

    // 6. The change manager schedules it; it shows on the month calendar.
    sign_in(d, base, "change.manager@example.com", "Sun Bian").await?;
    d.goto(&change_url).await?;
    transition(d, "scheduled").await?;
    d.goto(format!("{base}/changes/calendar?view=month&date={start}"))
        .await?;
    wait_text(d, "body", &number).await?;
    screenshot(d, "change-calendar").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_records_a_known_error_and_the_cab_approves_the_fix_in_the_browser() {
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
    user(
        app,
        "wang.wei@example.com",
        "王伟",
        "agent",
        None,
        vec![team],
        "zh-CN",
    )
    .await;
    user(
        app,
        "change.manager@example.com",
        "Sun Bian",
        "change_manager",
        None,
        vec![],
        "en",
    )
    .await;
    user(
        app,
        "cab.zhao@example.com",
        "赵磊",
        "cab_member",
        None,
        vec![team],
        "zh-CN",
    )
    .await;
    let requester = user(
        app,
        "zhang.min@example.cn",
        "张敏",
        "requester",
        None,
        vec![],
        "zh-CN",
    )
    .await;
    let mut incidents = Vec::new();
    for title in ["打印机无法打印", "财务打印机离线", "打印任务一直排队"] {
        let t = tickets::create_ticket(
            app,
            &system(),
            NewTicketInput {
                kind: "incident".into(),
                title: title.into(),
                description: "三楼财务部打印机断网。".into(),
                impact: "medium".into(),
                urgency: "medium".into(),
                requester_id: Some(requester),
                team_id: Some(team),
                assignee_id: None,
                category: Some("printer".into()),
                priority: None,
                priority_reason: None,
                watcher_ids: vec![],
            },
            None,
        )
        .await
        .unwrap();
        incidents.push(t.number);
    }

    let (_chromedriver, driver_url) = start_chromedriver().await;
    let profile = TempDir(server._dir.0.join("chromium-profile"));
    std::fs::create_dir_all(&profile.0).unwrap();
    let driver = browser(&driver_url, &profile.0)
        .await
        .expect("headless Chromium could not be started");
    let result = scenario(&driver, &server.base, &incidents).await;
    if result.is_err() {
        let _ = screenshot(&driver, "failure-problem-change").await;
    }
    let _ = driver.quit().await;
    app.store.close().await;
    if let Err(e) = result {
        panic!("the browser scenario failed: {e}");
    }
}
