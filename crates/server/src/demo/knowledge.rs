//! Demo data: Knowledge articles in Chinese and English: a category tree, published articles
//! for requesters, one internal, one in review, one retired, and a few ratings.

use crate::app::knowledge::extras::{self, CategoryInput, RatingInput};
use crate::app::knowledge::{self, ArticleInput, ArticlePatch, ReviewInput};
use crate::app::{Actor, App, AppError, AppResult};
use steward_core::knowledge::ReviewAction;
use steward_core::Channel;

async fn actor(app: &App, email: &str) -> AppResult<Actor> {
    let mut conn = app.read().await?;
    let u = steward_store::accounts::user_by_email(&mut conn, email)
        .await?
        .ok_or_else(|| AppError::Internal(format!("demo user {email} is missing")))?;
    Actor::load(&mut conn, u.id, Channel::Web).await
}

async fn category(
    app: &App,
    by: &Actor,
    zh: &str,
    en: &str,
    parent: Option<i64>,
) -> AppResult<i64> {
    let input = CategoryInput {
        name_zh: zh.into(),
        name_en: en.into(),
        parent_id: parent,
    };
    Ok(extras::create_category(app, by, input).await?.id)
}

struct Draft<'a> {
    zh: (&'a str, &'a str),
    en: (&'a str, &'a str),
    audience: &'a str,
    category: i64,
}

async fn write(app: &App, by: &Actor, d: Draft<'_>) -> AppResult<i64> {
    let input = ArticleInput {
        title_zh: d.zh.0.into(),
        body_zh: d.zh.1.into(),
        title_en: d.en.0.into(),
        body_en: d.en.1.into(),
        audience: Some(d.audience.into()),
        category_id: Some(d.category),
    };
    Ok(knowledge::create_article(app, by, input, None).await?.id)
}

async fn step(
    app: &App,
    by: &Actor,
    id: i64,
    action: ReviewAction,
    comment: &str,
) -> AppResult<()> {
    let input = ReviewInput {
        comment: comment.into(),
    };
    knowledge::review(app, by, id, action, input).await?;
    Ok(())
}

async fn publish(app: &App, author: &Actor, reviewer: &Actor, id: i64) -> AppResult<()> {
    step(app, author, id, ReviewAction::Submit, "").await?;
    step(
        app,
        reviewer,
        id,
        ReviewAction::Approve,
        "内容准确，可以发布。",
    )
    .await
}

pub async fn load(app: &App) -> AppResult<()> {
    let agent = actor(app, "wang.wei@example.com").await?;
    let alice = actor(app, "alice@example.com").await?;
    let lead = actor(app, "lead.network@example.com").await?;
    let zhang = actor(app, "zhang.min@huadong.example.cn").await?;
    let bob = actor(app, "bob@acme.example.com").await?;

    let network = category(
        app,
        &lead,
        "网络与远程访问",
        "Network and remote access",
        None,
    )
    .await?;
    let vpn = category(app, &lead, "VPN", "VPN", Some(network)).await?;
    let office = category(app, &lead, "办公设备", "Office equipment", None).await?;
    let printers = category(app, &lead, "打印机", "Printers", Some(office)).await?;
    let accounts = category(app, &lead, "账号与邮箱", "Accounts and email", None).await?;

    let printer = write(app, &agent, Draft {
        zh: ("打印机无法连接网络怎么办", "1. 确认打印机已开机，面板没有报错。\n2. 检查网线是否插好，或在打印机菜单中重新连接无线网络。\n3. 在电脑上删除该打印机后重新添加。\n仍无法解决时，请提交故障并注明打印机编号。"),
        en: ("Printer cannot connect to the network", "1. Make sure the printer is on and shows no error.\n2. Check the network cable, or reconnect to Wi-Fi from the printer's menu.\n3. Remove the printer on your computer and add it again.\nIf it still fails, report an incident with the printer's asset number."),
        audience: "requesters",
        category: printers,
    }).await?;
    publish(app, &agent, &lead, printer).await?;

    let vpn_fail = write(app, &agent, Draft {
        zh: ("VPN 连接失败排查", "1. 确认本地网络正常，可以打开外部网站。\n2. 检查 VPN 客户端版本，低于 5.2 请先升级。\n3. 密码过期也会导致连接失败，请先修改密码。\n4. 仍然失败时，把客户端日志附在工单中。"),
        en: ("", ""),
        audience: "requesters",
        category: vpn,
    }).await?;
    publish(app, &agent, &lead, vpn_fail).await?;

    let password = write(app, &alice, Draft {
        zh: ("如何重置密码", "打开自助服务门户，点击“忘记密码”，按短信验证码提示设置新密码。新密码至少 12 位。"),
        en: ("How to reset your password", "Open the self-service portal, choose \"Forgot password\" and follow the text-message code to set a new one. Passwords need at least 12 characters."),
        audience: "requesters",
        category: accounts,
    }).await?;
    publish(app, &alice, &lead, password).await?;

    let mailbox = write(app, &alice, Draft {
        zh: ("邮箱容量已满", "邮箱满后无法收信。请清空“已删除邮件”，把大附件另存到网盘后删除原邮件。需要扩容时请提交服务请求。"),
        en: ("Mailbox is full", "A full mailbox stops receiving mail. Empty Deleted Items and save large attachments elsewhere before deleting them. Request more space through the catalogue."),
        audience: "requesters",
        category: accounts,
    }).await?;
    publish(app, &alice, &lead, mailbox).await?;
    // A revision of the live article waits for review.
    knowledge::update_article(app, &alice, mailbox, ArticlePatch {
        body_zh: Some("邮箱满后无法收信。请清空“已删除邮件”和“垃圾邮件”，把大附件另存到网盘后删除原邮件。需要扩容时请在服务目录中提交“邮箱扩容”请求。".into()),
        ..ArticlePatch::default()
    }, None).await?;
    step(app, &alice, mailbox, ReviewAction::Submit, "").await?;

    let core_switch = write(app, &agent, Draft {
        zh: ("核心交换机重启步骤（内部）", "仅限网络组：先在监控中确认备用链路正常，再在维护窗口内按顺序重启。重启后核对 VLAN 配置。"),
        en: ("Restarting the core switch (internal)", "Network team only: confirm the standby link in monitoring first, then restart inside the maintenance window. Check the VLAN configuration afterwards."),
        audience: "internal",
        category: network,
    }).await?;
    publish(app, &agent, &lead, core_switch).await?;

    let wifi = write(
        app,
        &agent,
        Draft {
            zh: (
                "访客无线网络申请",
                "访客无线网络账号由前台发放，有效期一天。",
            ),
            en: ("", ""),
            audience: "requesters",
            category: network,
        },
    )
    .await?;
    step(app, &agent, wifi, ReviewAction::Submit, "").await?;

    let old_vpn = write(
        app,
        &agent,
        Draft {
            zh: ("旧版 VPN 客户端安装", "旧版客户端已停止支持。"),
            en: (
                "Installing the old VPN client",
                "The old client is no longer supported.",
            ),
            audience: "requesters",
            category: vpn,
        },
    )
    .await?;
    publish(app, &agent, &lead, old_vpn).await?;
    step(
        app,
        &lead,
        old_vpn,
        ReviewAction::Retire,
        "新客户端已全面推广。",
    )
    .await?;

    let vote = |helpful: bool, comment: &str| RatingInput {
        helpful,
        comment: comment.into(),
    };
    extras::rate(app, &zhang, printer, vote(true, "按步骤操作后恢复了。")).await?;
    extras::rate(app, &bob, printer, vote(true, "")).await?;
    extras::rate(app, &zhang, vpn_fail, vote(false, "没有提到 Mac 电脑。")).await?;
    extras::rate(app, &bob, password, vote(true, "Clear steps.")).await?;
    Ok(())
}
