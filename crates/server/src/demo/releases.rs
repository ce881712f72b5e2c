//! Demo data: A release grouping changes. One release of a new mobile service that went live
//! (and took the service live with it) and one email upgrade in testing, both run by the
//! change manager through the app functions. The demo changes are grouped into them once the
//! change demo exists.

use crate::app::catalogue::{self, ServiceInput};
use crate::app::releases::work::{self, CheckResultInput, DeploymentInput, GoLiveInput};
use crate::app::releases::{self, NewReleaseInput, ReleaseDetail, ReleasePatch};
use crate::app::{Actor, App, AppError, AppResult};
use steward_core::Channel;

async fn actor(app: &App, email: &str) -> AppResult<Actor> {
    let mut conn = app.read().await?;
    let u = steward_store::accounts::user_by_email(&mut conn, email)
        .await?
        .ok_or_else(|| AppError::Internal(format!("demo user {email} is missing")))?;
    Actor::load(&mut conn, u.id, Channel::Web).await
}

async fn step(app: &App, a: &Actor, id: i64, status: &str) -> AppResult<ReleaseDetail> {
    let patch = ReleasePatch {
        status: Some(status.into()),
        ..Default::default()
    };
    releases::update(app, a, id, patch, None).await
}

async fn check(app: &App, a: &Actor, r: &ReleaseDetail, index: usize, note: &str) -> AppResult<()> {
    if let Some(k) = r.checklist.get(index) {
        let input = CheckResultInput {
            result: "passed".into(),
            note: note.into(),
        };
        work::record_check(app, a, r.release.id, k.id, input, None).await?;
    }
    Ok(())
}

pub async fn load(app: &App) -> AppResult<()> {
    let sys = Actor::system(Channel::System);
    let cm = actor(app, "change.manager@example.com").await?;
    let manager = actor(app, "manager@example.com").await?;
    let mobile = catalogue::create_service(
        app,
        &sys,
        ServiceInput {
            code: "MOBILE".into(),
            name_zh: "移动办公 App".into(),
            name_en: "Mobile workplace app".into(),
            description_zh: "手机上的审批、通讯录与报销。".into(),
            description_en: "Approvals, directory and expenses on the phone.".into(),
            owner_id: None,
            team_id: None,
            lifecycle: Some("transition".into()),
            customer_ids: vec![],
            related_ids: vec![],
        },
        None,
    )
    .await?;

    // The first release of the mobile app: accepted, approved, deployed, live.
    let r = releases::create(
        app,
        &cm,
        NewReleaseInput {
            title: "移动办公 App 1.0 首发".into(),
            description: "首个正式版本：审批、通讯录、报销。".into(),
            service_id: mobile.id,
            version_label: "1.0.0".into(),
            release_type: "major".into(),
            planned_date: Some("2026-11-20".into()),
            owner_id: None,
        },
        None,
    )
    .await?;
    let id = r.release.id;
    step(app, &cm, id, "building").await?;
    step(app, &cm, id, "testing").await?;
    let notes = [
        "UAT 120 个用例全部通过",
        "500 并发下 P95 0.6 秒",
        "运维手册与监控已交接",
        "回退演练 15 分钟完成",
        "培训两场，共 80 人",
    ];
    for (i, n) in notes.iter().enumerate() {
        check(app, &cm, &r, i, n).await?;
    }
    step(app, &cm, id, "awaiting_go_live").await?;
    work::decide_go_live(
        app,
        &manager,
        id,
        GoLiveInput {
            decision: "approved".into(),
            comment: "验收完整，同意周五晚上线。".into(),
        },
        None,
    )
    .await?;
    work::record_deployment(
        app,
        &cm,
        id,
        DeploymentInput {
            started_at: "2026-11-20T12:00:00Z".into(),
            finished_at: "2026-11-20T13:10:00Z".into(),
            outcome: "success".into(),
            notes: "灰度 10% 一小时后全量。".into(),
            deployed_by: None,
        },
        None,
    )
    .await?;

    // An email upgrade in acceptance testing: two checks passed so far.
    let email = steward_store::catalogue::service_by_code(&mut *app.read().await?, "EMAIL").await?;
    if let Some(email) = email {
        let r = releases::create(
            app,
            &cm,
            NewReleaseInput {
                title: "Email platform 2026.12 upgrade".into(),
                description: "Mail server upgrade and new spam filter rules.".into(),
                service_id: email.id,
                version_label: "2026.12".into(),
                release_type: "minor".into(),
                planned_date: Some("2026-12-12".into()),
                owner_id: None,
            },
            None,
        )
        .await?;
        step(app, &cm, r.release.id, "building").await?;
        step(app, &cm, r.release.id, "testing").await?;
        check(app, &cm, &r, 0, "Functional tests passed on staging").await?;
        check(app, &cm, &r, 3, "Back-out rehearsed: 20 minutes").await?;
    }
    Ok(())
}
