//! The service-level pages render for the roles that use them (and refuse the others), and
//! their forms save through the same app functions as the API.

use crate::common::{Browser, TestApp};
use crate::on_both_databases;
use serde_json::{json, Value};
use steward_server::app::major;

on_both_databases!(service_level_pages_render_and_save);

async fn service_level_pages_render_and_save(t: &TestApp) {
    let team = t.team("网络组").await;
    let org = t.org("华东制造", false).await;
    let admin = t.user("admin@example.com", "admin", None, vec![]).await;
    let manager = t
        .user("sm@example.com", "service_manager", None, vec![])
        .await;
    let agent = t.user("agent@example.com", "agent", None, vec![team]).await;
    let requester = t
        .user("req@example.com", "requester", Some(org), vec![])
        .await;
    let sla: Value = t
        .post(
            "/api/v1/slas",
            &manager,
            json!({"name": "标准 <SLA>", "kind": "sla", "calendar_id": 1, "valid_from": "2020-01-01",
                   "status": "active", "targets": [{"priority": "P3", "response_minutes": 60, "resolution_minutes": 480}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let ticket = t.ticket(&requester, "ERP 无法登录", json!({})).await;
    let id = ticket["id"].as_i64().unwrap();
    t.patch(
        &format!("/api/v1/tickets/{id}"),
        &agent,
        json!({"team_id": team, "assignee_id": agent.id}),
    )
    .await;
    let actor = {
        let mut conn = t.app.read().await.unwrap();
        steward_server::app::Actor::load(&mut conn, agent.id, steward_core::Channel::Web)
            .await
            .unwrap()
    };
    major::declare(
        &t.app,
        &actor,
        id,
        major::DeclareInput {
            roster_user_ids: vec![agent.id],
            response_minutes: Some(15),
            summary: "ERP 全部中断 <b>".into(),
        },
    )
    .await
    .unwrap();

    let staff = Browser::login(t, "sm@example.com").await;
    let pages = [
        ("/desk?sort=due&due=24", "ERP 无法登录"),
        (
            &format!("/tickets/{id}") as &str,
            "ERP 全部中断 &#60;b&#62;",
        ),
        ("/notifications", ""),
        ("/admin/calendars", "Asia/Shanghai"),
        (
            "/admin/calendars/1?month=2026-10&start=2026-09-30T17:00&minutes=480",
            "2026-10-08 17:00",
        ),
        ("/admin/slas", "标准 &#60;SLA&#62;"),
        ("/admin/slas/new", "P5"),
        (
            &format!("/admin/slas/{}", sla["id"]) as &str,
            "标准 &#60;SLA&#62;",
        ),
        ("/reports/sla", "<svg"),
        (
            "/admin/calendars/1/calendar.ics?year=2026",
            "BEGIN:VCALENDAR",
        ),
    ];
    // In English, then in Chinese: every text is translated.
    for locale in ["en", "zh-CN"] {
        t.patch(
            &format!("/api/v1/users/{}", manager.id),
            &admin,
            json!({"locale": locale}),
        )
        .await;
        for (path, must_contain) in &pages {
            let (status, html) = staff.get(path).await;
            assert_eq!(status, 200, "{path} in {locale}");
            assert!(html.contains(must_contain), "{path} lacks {must_contain}");
            assert!(
                !html.contains("Unknown localization key"),
                "{path} in {locale} has an untranslated text"
            );
        }
    }
    // The paged agent sees the page in the notifications and can answer it from the ticket.
    let agent_browser = Browser::login(t, "agent@example.com").await;
    let (_, html) = agent_browser.get("/notifications").await;
    assert!(html.contains("ERP 无法登录"), "the page is listed");
    let (status, to) = agent_browser
        .post(
            &format!("/tickets/{id}"),
            &format!("/tickets/{id}/major/acknowledge"),
            &[],
        )
        .await;
    assert_eq!(
        (status, to.starts_with(&format!("/tickets/{id}"))),
        (303, true)
    );
    // Staff correct the title and description, and watch the ticket, from its page.
    let ticket_path = format!("/tickets/{id}");
    let (status, _) = agent_browser
        .post(
            &ticket_path,
            &format!("/tickets/{id}/text"),
            &[
                ("title", "ERP 登录失败（全公司）"),
                ("description", "所有用户无法登录 ERP。"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (status, _) = agent_browser
        .post(
            &ticket_path,
            &format!("/tickets/{id}/watch"),
            &[("watch", "on")],
        )
        .await;
    assert_eq!(status, 303);
    let seen: Value = t
        .get(&format!("/api/v1/tickets/{id}"), &agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["title"], "ERP 登录失败（全公司）");
    assert_eq!(seen["watcher_ids"], json!([agent.id]));
    let (status, html) = agent_browser
        .post(
            &ticket_path,
            &format!("/tickets/{id}/text"),
            &[("title", " ")],
        )
        .await;
    assert_eq!(status, 422, "an empty title is refused on the page");
    assert!(html.contains("role=\"alert\""));
    let (status, _) = agent_browser.get("/admin/slas/new").await;
    assert_eq!(status, 403, "agents do not manage agreements");

    // The requester reads the communication log and the service status; admin pages refuse.
    let portal = Browser::login(t, "req@example.com").await;
    let (status, html) = portal.get(&format!("/tickets/{id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("ERP 全部中断 &#60;b&#62;"));
    assert!(
        !html.contains("标准 &#60;SLA&#62;"),
        "agreement names are staff-only"
    );
    let (_, html) = portal.get("/portal").await;
    assert!(html.contains("announcements"), "the service status shows");
    for path in [
        "/admin/slas",
        "/admin/calendars",
        "/admin/jobs",
        "/reports/sla",
    ] {
        let (status, _) = portal.get(path).await;
        assert_eq!(status, 403, "{path}");
    }

    // Forms: a calendar with bad hours is refused with the field named; a good one is saved;
    // an agreement is created from the form.
    let (status, html) = staff
        .post(
            "/admin/calendars",
            "/admin/calendars",
            &[
                ("name", "Shift"),
                ("time_zone", "Asia/Shanghai"),
                ("hours_monday", "9-5"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("role=\"alert\""), "{html}");
    let (status, to) = staff
        .post(
            "/admin/calendars",
            "/admin/calendars",
            &[
                ("name", "Shift"),
                ("time_zone", "Asia/Shanghai"),
                ("china", "on"),
                ("hours_monday", "08:00-12:00, 13:00-20:00"),
                ("hours_saturday", "09:00-13:00"),
                ("holidays", "2026-12-24 年会"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (_, html) = staff.get(&to).await;
    assert!(html.contains("08:00-12:00, 13:00-20:00"));
    let (status, to) = staff
        .post(
            "/admin/slas/new",
            "/admin/slas/new",
            &[
                ("name", "Gold"),
                ("kind", "sla"),
                ("organization_id", &org.to_string()),
                ("calendar_id", "2"),
                ("valid_from", "2026-01-01"),
                ("status", "active"),
                ("warn_percent", "80"),
                ("response_P1", "15"),
                ("resolution_P1", "120"),
                ("breach_notify_team_lead", "on"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{to}");
    let list: Value = t.get("/api/v1/slas", &admin).await.json().await.unwrap();
    let gold = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Gold")
        .expect("saved")
        .clone();
    assert_eq!(gold["organization_id"], org);
    assert_eq!(gold["warn_percent"], 80);
    assert_eq!(gold["targets"].as_array().unwrap().len(), 1);
    assert_eq!(gold["breach_actions"]["notify_team_lead"], true);
    let (status, _) = Browser::login(t, "admin@example.com")
        .await
        .get("/admin/jobs")
        .await;
    assert_eq!(status, 200);
}
