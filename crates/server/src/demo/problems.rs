//! Demo data: problems linked to the recurring demo incidents — one a known error with its
//! workaround in the known error database, one under investigation, one new.

use crate::app::problems::{self, NewProblemInput, ProblemPatch};
use crate::app::{Actor, App, AppResult};
use sqlx::Row;
use steward_core::Channel;

/// (title, cause, method notes, workaround, target status)
const PROBLEMS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "反复出现：{}",
        "接入交换机固件缺陷导致端口间歇性掉线。",
        "5 个为什么：端口掉线 → 交换机日志出现 PoE 过载 → 固件 3.2.1 的功率计算错误 → 升级计划遗漏该型号 → 资产清单未记录型号。",
        "在交换机上执行 `interface reset` 后重新连接；或临时改用无线网络。",
        "known_error",
    ),
    (
        "反复出现：{}",
        "",
        "正在收集日志与时间线，怀疑与夜间备份任务争用带宽有关。",
        "",
        "under_investigation",
    ),
    ("反复出现：{}", "", "", "", "new"),
];

pub async fn load(app: &App) -> AppResult<()> {
    let mut conn = app.read().await?;
    let Some(manager) =
        steward_store::accounts::user_by_email(&mut conn, "manager@example.com").await?
    else {
        return Ok(());
    };
    // The incident titles that recur most, and up to four incidents of each.
    let rows = sqlx::query(
        "SELECT title, COUNT(*) FROM tickets WHERE kind = 'incident' GROUP BY title ORDER BY COUNT(*) DESC, title LIMIT 3",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(steward_store::StoreError::from)?;
    let titles: Vec<String> = rows.iter().filter_map(|r| r.try_get(0).ok()).collect();
    let mut groups = Vec::new();
    for title in titles {
        let ids: Vec<i64> = sqlx::query(
            "SELECT id FROM tickets WHERE kind = 'incident' AND title = $1 ORDER BY id LIMIT 4",
        )
        .bind(&title)
        .fetch_all(&mut *conn)
        .await
        .map_err(steward_store::StoreError::from)?
        .iter()
        .filter_map(|r| r.try_get(0).ok())
        .collect();
        groups.push((title, ids));
    }
    drop(conn);
    let actor = Actor::load(&mut *app.read().await?, manager.id, Channel::Web).await?;
    for ((title, ids), (pattern, cause, method, workaround, status)) in
        groups.into_iter().zip(PROBLEMS)
    {
        let p = problems::create(
            app,
            &actor,
            NewProblemInput {
                title: pattern.replace("{}", &title),
                description: format!("趋势视图显示“{title}”在近期反复出现。"),
                priority: Some("P2".into()),
                incident_ids: ids,
                ..Default::default()
            },
            None,
        )
        .await?;
        if *status == "new" {
            continue;
        }
        let patch = ProblemPatch {
            status: Some("under_investigation".into()),
            method_notes: Some((*method).into()),
            ..Default::default()
        };
        problems::update(app, &actor, p.id, patch, None).await?;
        if *status == "known_error" {
            problems::record_known_error(
                app,
                &actor,
                p.id,
                (*cause).into(),
                (*workaround).into(),
                None,
            )
            .await?;
        }
    }
    Ok(())
}
