//! Demo data: standard change templates, changes of every type across the lifecycle in the
//! current month with CAB votes, a freeze period and a visible conflict.

use crate::app::changes::setup::{self, FreezeInput, TemplateInput};
use crate::app::changes::{self, ChangeInput, TransitionInput, VoteInput};
use crate::app::views::instant;
use crate::app::{now, Actor, App, AppError, AppResult};
use serde_json::json;
use std::collections::BTreeMap;
use steward_core::Channel;
use steward_store::{accounts, catalogue};

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

async fn actor(app: &App, email: &str) -> AppResult<Actor> {
    let mut conn = app.read().await?;
    let u = accounts::user_by_email(&mut conn, email)
        .await?
        .ok_or_else(|| AppError::Internal(format!("demo user {email} is missing")))?;
    Actor::load(&mut conn, u.id, Channel::Web).await
}

fn answers(level: &str) -> BTreeMap<String, String> {
    let v = if level == "high" {
        json!({"done_before": "never", "tested": "partly", "complexity": "complex",
               "users": "everyone", "outage": "short", "backout": "hard"})
    } else {
        json!({"done_before": "often", "tested": "fully", "complexity": "simple",
               "users": "department", "outage": "short", "backout": "easy"})
    };
    serde_json::from_value(v).unwrap_or_default()
}

fn to(status: &str) -> TransitionInput {
    TransitionInput {
        to: status.into(),
        ..Default::default()
    }
}

fn schedule(start: i64, hours: i64, override_reason: Option<&str>) -> TransitionInput {
    TransitionInput {
        to: "scheduled".into(),
        planned_start: Some(instant(start)),
        planned_end: Some(instant(start + hours * HOUR)),
        override_reason: override_reason.map(String::from),
        ..Default::default()
    }
}

fn approve(comment: &str) -> VoteInput {
    VoteInput {
        decision: "approve".into(),
        comment: comment.into(),
    }
}

pub async fn load(app: &App) -> AppResult<()> {
    let cm = actor(app, "change.manager@example.com").await?;
    let cab = actor(app, "cab.zhao@example.com").await?;
    let dev = actor(app, "wang.wei@example.com").await?;
    let services = {
        let mut conn = app.read().await?;
        catalogue::list_services(&mut conn, &Default::default()).await?
    };
    let svc: Vec<i64> = services.iter().map(|s| s.id).take(2).collect();
    let first = svc.first().copied().into_iter().collect::<Vec<_>>();
    let today = now() / DAY * DAY;

    let patching = setup::create_template(
        app,
        &cm,
        TemplateInput {
            name_zh: "服务器补丁".into(),
            name_en: "Server patching".into(),
            description: "每月操作系统安全补丁 / Monthly OS security patches".into(),
            implementation_plan: "1. 从负载均衡摘除节点\n2. 安装补丁并重启\n3. 加回负载均衡".into(),
            test_plan: "健康检查通过，业务冒烟测试".into(),
            backout_plan: "卸载补丁并重启；或从快照恢复".into(),
            risk: "low".into(),
        },
    )
    .await?;
    setup::create_template(
        app,
        &cm,
        TemplateInput {
            name_zh: "证书更新".into(),
            name_en: "Certificate renewal".into(),
            description: "TLS certificate before expiry".into(),
            implementation_plan: "Install the new certificate and reload the web server".into(),
            test_plan: "Check the chain with openssl s_client".into(),
            backout_plan: "Restore the previous certificate".into(),
            risk: "low".into(),
        },
    )
    .await?;
    setup::create_freeze(
        app,
        &cm,
        FreezeInput {
            name: "年末封网 / Year-end freeze".into(),
            reason: "财务结账期间禁止变更 / No changes while the books close".into(),
            service_id: None,
            starts_at: instant(today + 18 * DAY),
            ends_at: instant(today + 21 * DAY),
        },
    )
    .await?;

    let new = |t: &str, title: &str, risk: &str, services: Vec<i64>| ChangeInput {
        change_type: t.into(),
        template_id: None,
        title: title.into(),
        reason: "Demo".into(),
        description: String::new(),
        risk_answers: (t != "standard").then(|| answers(risk)),
        implementation_plan: "See the runbook".into(),
        test_plan: "Smoke test".into(),
        backout_plan: "Restore from the snapshot".into(),
        planned_start: None,
        planned_end: None,
        ci_ids: vec![],
        service_ids: services,
    };

    // A standard change, scheduled the day after tomorrow at 02:00 UTC.
    let mut input = new("standard", "web01-web04 月度补丁", "low", first.clone());
    input.template_id = Some(patching.id);
    input.implementation_plan = String::new();
    let c = changes::create(app, &dev, input, None).await?;
    changes::transition(app, &dev, c.id, to("approved"), None).await?;
    changes::transition(
        app,
        &cm,
        c.id,
        schedule(today + 2 * DAY + 2 * HOUR, 2, None),
        None,
    )
    .await?;

    // A normal change on the same service overlapping it: the conflict; one vote so far.
    let mut input = new(
        "normal",
        "核心交换机固件升级 / Core switch firmware",
        "high",
        first.clone(),
    );
    input.planned_start = Some(instant(today + 2 * DAY + 3 * HOUR));
    input.planned_end = Some(instant(today + 2 * DAY + 6 * HOUR));
    let c = changes::create(app, &dev, input, None).await?;
    changes::transition(app, &dev, c.id, to("submitted"), None).await?;
    changes::transition(app, &cm, c.id, to("assessed"), None).await?;
    changes::vote(
        app,
        &cab,
        c.id,
        approve("回退方案清楚 / Back-out plan is clear"),
    )
    .await?;

    // Approved by the CAB, done and closed.
    let c = changes::create(
        app,
        &dev,
        new("normal", "Mail gateway TLS policy", "low", svc.clone()),
        None,
    )
    .await?;
    changes::transition(app, &dev, c.id, to("submitted"), None).await?;
    changes::transition(app, &cm, c.id, to("assessed"), None).await?;
    changes::vote(app, &cab, c.id, approve("")).await?;
    changes::vote(app, &cm, c.id, approve("OK")).await?;
    changes::transition(
        app,
        &cm,
        c.id,
        schedule(today - 4 * DAY + 13 * HOUR, 1, None),
        None,
    )
    .await?;
    for s in ["implementing", "implemented", "closed"] {
        changes::transition(app, &cm, c.id, to(s), None).await?;
    }

    // An emergency change approved by the ECAB, implemented, waiting for its review.
    let c = changes::create(
        app,
        &dev,
        new(
            "emergency",
            "防火墙紧急规则 / Block the attack source",
            "high",
            first.clone(),
        ),
        None,
    )
    .await?;
    changes::transition(app, &dev, c.id, to("submitted"), None).await?;
    changes::vote(app, &cab, c.id, approve("紧急，同意 / Urgent, agreed")).await?;
    changes::transition(
        app,
        &cm,
        c.id,
        schedule(today - DAY + 20 * HOUR, 1, None),
        None,
    )
    .await?;
    for s in ["implementing", "implemented"] {
        changes::transition(app, &cm, c.id, to(s), None).await?;
    }

    // A failed change with its post-implementation review.
    let c = changes::create(
        app,
        &dev,
        new("normal", "Database minor upgrade", "high", svc.clone()),
        None,
    )
    .await?;
    changes::transition(app, &dev, c.id, to("submitted"), None).await?;
    changes::transition(app, &cm, c.id, to("assessed"), None).await?;
    changes::vote(app, &cab, c.id, approve("")).await?;
    changes::vote(app, &cm, c.id, approve("")).await?;
    changes::transition(
        app,
        &cm,
        c.id,
        schedule(today - 6 * DAY + 14 * HOUR, 3, None),
        None,
    )
    .await?;
    changes::transition(app, &cm, c.id, to("implementing"), None).await?;
    changes::transition(app, &cm, c.id, to("failed"), None).await?;
    changes::transition(
        app,
        &cm,
        c.id,
        TransitionInput {
            to: "reviewed".into(),
            review_notes: Some("复制延迟导致超时，已回退；下次先在预发布环境演练。".into()),
            review_outcome: Some("unsuccessful".into()),
            ..Default::default()
        },
        None,
    )
    .await?;

    // Scheduled into the freeze with an override reason.
    let c = changes::create(
        app,
        &dev,
        new(
            "normal",
            "监管报送接口变更 / Regulator interface",
            "low",
            first.clone(),
        ),
        None,
    )
    .await?;
    changes::transition(app, &dev, c.id, to("submitted"), None).await?;
    changes::transition(app, &cm, c.id, to("assessed"), None).await?;
    changes::vote(app, &cab, c.id, approve("")).await?;
    changes::vote(app, &cm, c.id, approve("")).await?;
    changes::transition(
        app,
        &cm,
        c.id,
        schedule(
            today + 19 * DAY + 10 * HOUR,
            2,
            Some("监管截止日 / Statutory deadline"),
        ),
        None,
    )
    .await?;

    // A draft still being written.
    changes::create(
        app,
        &dev,
        new("normal", "Retire the old file server", "low", vec![]),
        None,
    )
    .await?;
    Ok(())
}
