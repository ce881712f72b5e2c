//! Demo data (an admin, two teams, two customer organisations, a few hundred tickets in
//! Chinese and English in every state) and generated tickets for benchmarks. Everything is
//! created through the app functions, so it carries audit entries and search text like real
//! data.

mod changes;
mod cmdb;
mod knowledge;
mod problems;
mod releases;

use crate::app::accounts::{self, NewUserInput, OrganizationInput, TeamInput};
use crate::app::conversation::{self, NewCommentInput};
use crate::app::tickets::{self, NewTicketInput, TicketPatch};
use crate::app::{Actor, App, AppError, AppResult};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use steward_core::Channel;

pub const PASSWORD: &str = "Steward-demo-2026";

/// A small deterministic generator, so the demo looks the same every time.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }
}

const SUBJECTS: &[(&str, &str)] = &[
    (
        "打印机无法连接网络",
        "三楼财务部的打印机从今天早上开始无法连接网络，打印任务一直排队。",
    ),
    (
        "VPN 连接频繁断开",
        "在家办公时 VPN 每隔十几分钟就断开一次，需要重新登录。",
    ),
    (
        "邮箱无法登录",
        "Outlook 提示密码错误，但在网页版可以正常登录。",
    ),
    (
        "申请开通 ERP 系统账号",
        "新入职员工需要开通 ERP 采购模块的只读账号。",
    ),
    (
        "会议室投影仪没有信号",
        "2 号会议室投影仪连接笔记本后显示无信号。",
    ),
    ("申请更换笔记本电池", "笔记本电池续航不足一小时，申请更换。"),
    ("共享盘访问很慢", "打开共享盘上的文件需要一分钟以上。"),
    (
        "无线网络信号弱",
        "研发楼四层东侧无线网络信号很弱，经常掉线。",
    ),
    (
        "Laptop screen flickers",
        "The screen of my laptop flickers when it is on battery power.",
    ),
    (
        "Cannot access the CRM",
        "The CRM shows error 503 since this morning for the whole sales team.",
    ),
    (
        "Request a second monitor",
        "I would like a second 24-inch monitor for my desk.",
    ),
    (
        "Password reset for SAP",
        "My SAP password expired while I was on leave; please reset it.",
    ),
    (
        "New starter: laptop and accounts",
        "Please prepare a laptop, email and VPN access for a new colleague starting Monday.",
    ),
    (
        "Printer on floor 2 jams",
        "The printer next to the kitchen jams on every duplex job.",
    ),
    (
        "Outlook keeps asking for credentials",
        "Outlook prompts for my password every few minutes.",
    ),
    (
        "Install Visio",
        "Please install Microsoft Visio for process diagrams.",
    ),
];

const REPLIES: &[&str] = &[
    "您好，我们已收到您的请求，正在处理中。",
    "请问问题是从什么时候开始的？有没有错误提示截图？",
    "Thanks, we are looking into it and will update you shortly.",
    "Could you tell us the asset tag of the device?",
];

const NOTES: &[&str] = &[
    "交换机端口 Gi1/0/24 有大量 CRC 错误，怀疑网线故障。",
    "Known issue with the driver version 3.2; rolling back fixes it.",
    "已联系供应商，预计明天上门。",
];

fn user_input(
    email: &str,
    name: &str,
    role: &str,
    org: Option<i64>,
    teams: Vec<i64>,
    locale: &str,
) -> NewUserInput {
    NewUserInput {
        email: email.into(),
        name: name.into(),
        role: role.into(),
        password: Some(PASSWORD.into()),
        organization_id: org,
        team_ids: teams,
        locale: Some(locale.into()),
    }
}

/// Loads the demo data into an empty database and returns the logins; on a database that
/// already has users it loads nothing and returns the same list.
pub async fn load(app: &App) -> AppResult<Vec<(String, String)>> {
    let sys = Actor::system(Channel::System);
    let logins: Vec<(String, String)> = [
        ("admin@example.com", "admin"),
        ("manager@example.com", "service_manager"),
        ("lead.network@example.com", "team_lead (网络组)"),
        ("wang.wei@example.com", "agent (网络组)"),
        ("alice@example.com", "agent (Desktop Support)"),
        ("auditor@example.com", "auditor"),
        ("change.manager@example.com", "change_manager"),
        ("cab.zhao@example.com", "cab_member (网络组)"),
        ("zhang.min@huadong.example.cn", "requester (华东制造)"),
        ("bob@acme.example.com", "requester (Acme Finance)"),
    ]
    .iter()
    .map(|(e, r)| (e.to_string(), r.to_string()))
    .collect();
    {
        let mut conn = app.read().await?;
        if steward_store::accounts::user_by_email(&mut conn, "admin@example.com")
            .await?
            .is_some()
        {
            return Ok(logins);
        }
    }
    let network = accounts::create_team(
        app,
        &sys,
        TeamInput {
            name: "网络组".into(),
        },
        None,
    )
    .await?;
    let desktop = accounts::create_team(
        app,
        &sys,
        TeamInput {
            name: "Desktop Support".into(),
        },
        None,
    )
    .await?;
    let huadong = accounts::create_org(
        app,
        &sys,
        OrganizationInput {
            name: "华东制造有限公司".into(),
            members_see_each_other: true,
        },
        None,
    )
    .await?;
    let acme = accounts::create_org(
        app,
        &sys,
        OrganizationInput {
            name: "Acme Finance".into(),
            members_see_each_other: false,
        },
        None,
    )
    .await?;
    let staff = [
        user_input(
            "admin@example.com",
            "系统管理员",
            "admin",
            None,
            vec![],
            "zh-CN",
        ),
        user_input(
            "manager@example.com",
            "Li Na 李娜",
            "service_manager",
            None,
            vec![],
            "zh-CN",
        ),
        user_input(
            "lead.network@example.com",
            "陈刚",
            "team_lead",
            None,
            vec![network.id],
            "zh-CN",
        ),
        user_input(
            "wang.wei@example.com",
            "王伟",
            "agent",
            None,
            vec![network.id],
            "zh-CN",
        ),
        user_input(
            "liu.yang@example.com",
            "刘洋",
            "agent",
            None,
            vec![network.id, desktop.id],
            "zh-CN",
        ),
        user_input(
            "alice@example.com",
            "Alice Martin",
            "agent",
            None,
            vec![desktop.id],
            "en",
        ),
        user_input(
            "lead.desktop@example.com",
            "Daniel Brooks",
            "team_lead",
            None,
            vec![desktop.id],
            "en",
        ),
        user_input(
            "change.manager@example.com",
            "孙变更 Sun Bian",
            "change_manager",
            None,
            vec![],
            "zh-CN",
        ),
        user_input(
            "cab.zhao@example.com",
            "赵磊",
            "cab_member",
            None,
            vec![network.id],
            "zh-CN",
        ),
        user_input(
            "auditor@example.com",
            "周审计",
            "auditor",
            None,
            vec![],
            "zh-CN",
        ),
    ];
    let mut agents = Vec::new();
    for u in staff {
        let role = u.role.clone();
        let v = accounts::create_user(app, &sys, u, None).await?;
        if role == "agent" || role == "team_lead" {
            agents.push(v);
        }
    }
    let requesters_input = [
        user_input(
            "zhang.min@huadong.example.cn",
            "张敏",
            "requester",
            Some(huadong.id),
            vec![],
            "zh-CN",
        ),
        user_input(
            "li.qiang@huadong.example.cn",
            "李强",
            "requester",
            Some(huadong.id),
            vec![],
            "zh-CN",
        ),
        user_input(
            "zhao.li@huadong.example.cn",
            "赵丽",
            "requester",
            Some(huadong.id),
            vec![],
            "zh-CN",
        ),
        user_input(
            "bob@acme.example.com",
            "Bob Carter",
            "requester",
            Some(acme.id),
            vec![],
            "en",
        ),
        user_input(
            "carol@acme.example.com",
            "Carol Diaz",
            "requester",
            Some(acme.id),
            vec![],
            "en",
        ),
        user_input(
            "dave@acme.example.com",
            "Dave Evans",
            "requester",
            Some(acme.id),
            vec![],
            "en",
        ),
    ];
    let mut requesters = Vec::new();
    for u in requesters_input {
        requesters.push(accounts::create_user(app, &sys, u, None).await?);
    }
    load_service_levels(app, &sys, network.id).await?;
    let mut rng = Rng::new(20261125);
    let levels = ["high", "medium", "low"];
    let bar = indicatif::ProgressBar::new(300);
    bar.set_message("demo tickets");
    for n in 0..300u64 {
        let requester = rng.pick(&requesters).clone();
        let as_requester = Actor::load(&mut *app.read().await?, requester.id, Channel::Web).await?;
        let (title, description) = *rng.pick(SUBJECTS);
        let kind = if title.starts_with("申请")
            || title.starts_with("Request")
            || title.starts_with("Install")
            || title.starts_with("New starter")
        {
            "service_request"
        } else {
            "incident"
        };
        let t = tickets::create_ticket(
            app,
            &as_requester,
            NewTicketInput {
                kind: kind.into(),
                title: title.into(),
                description: description.into(),
                impact: rng.pick(&levels).to_string(),
                urgency: rng.pick(&levels).to_string(),
                requester_id: None,
                team_id: None,
                assignee_id: None,
                category: None,
                priority: None,
                priority_reason: None,
                watcher_ids: vec![],
            },
            None,
        )
        .await?;
        // A fifth stay new in triage; the rest are routed and worked to various points.
        let stage = rng.next_u64() % 10;
        if stage < 2 {
            bar.inc(1);
            continue;
        }
        let agent = rng.pick(&agents).clone();
        let team = *rng.pick(&agent.team_ids);
        let as_agent = Actor::load(&mut *app.read().await?, agent.id, Channel::Web).await?;
        let patch = TicketPatch {
            team_id: Some(Some(team)),
            assignee_id: Some(if stage == 2 { None } else { Some(agent.id) }),
            ..Default::default()
        };
        tickets::update_ticket(app, &as_agent, t.id, patch, None).await?;
        if stage >= 4 {
            let reply = NewCommentInput {
                body: rng.pick(REPLIES).to_string(),
                internal: false,
            };
            conversation::add_comment(app, &as_agent, t.id, reply, None).await?;
            tickets::update_ticket(
                app,
                &as_agent,
                t.id,
                TicketPatch {
                    status: Some("in_progress".into()),
                    ..Default::default()
                },
                None,
            )
            .await?;
        }
        if stage >= 5 && n % 3 == 0 {
            let note = NewCommentInput {
                body: rng.pick(NOTES).to_string(),
                internal: true,
            };
            conversation::add_comment(app, &as_agent, t.id, note, None).await?;
        }
        let final_patch = match stage {
            5 => Some(TicketPatch {
                status: Some("pending".into()),
                pending_reason: Some("requester".into()),
                ..Default::default()
            }),
            6 | 7 => Some(TicketPatch {
                status: Some("resolved".into()),
                resolution_code: Some(if n % 2 == 0 { "fixed" } else { "workaround" }.into()),
                resolution_notes: Some("已处理 / Resolved.".into()),
                ..Default::default()
            }),
            8 => Some(TicketPatch {
                status: Some("cancelled".into()),
                ..Default::default()
            }),
            _ => None,
        };
        if let Some(p) = final_patch {
            tickets::update_ticket(app, &as_agent, t.id, p, None).await?;
        }
        if stage == 7 {
            tickets::update_ticket(
                app,
                &as_requester,
                t.id,
                TicketPatch {
                    status: Some("closed".into()),
                    ..Default::default()
                },
                None,
            )
            .await?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    load_major_incident(app).await?;
    load_catalogue(app, &sys, network.id, desktop.id, &[huadong.id, acme.id]).await?;
    load_mail(app, &sys, desktop.id).await?;
    // Issue 5, in dependency order: changes name CIs, releases group changes, problems and
    // articles link to the rest.
    cmdb::load(app).await?;
    changes::load(app).await?;
    releases::load(app).await?;
    problems::load(app).await?;
    knowledge::load(app).await?;
    Ok(logins)
}

/// Two mailboxes and a few received messages: a Chinese request in GBK that opened a ticket, the
/// requester's reply to it with the quoted history, an out-of-office answer kept without
/// notifications, and mail from a stranger waiting in the quarantine.
async fn load_mail(app: &App, sys: &Actor, desktop: i64) -> AppResult<()> {
    use crate::app::inbound::{self, mailboxes, Source};
    let mailbox =
        |address: &str, name: &str, create: bool, unknown: &str| mailboxes::MailboxInput {
            address: address.into(),
            name: name.into(),
            team_id: Some(desktop),
            service_id: None,
            create_requesters: create,
            unknown_sender: Some(unknown.into()),
            imap_host: None,
            imap_port: None,
            imap_security: None,
            imap_username: None,
            imap_password: None,
            imap_folder: None,
            imap_after: None,
            imap_done_folder: None,
            active: Some(true),
        };
    mailboxes::create_mailbox(
        app,
        sys,
        mailbox("servicedesk@example.com", "IT 服务台", true, "quarantine"),
    )
    .await?;
    mailboxes::create_mailbox(
        app,
        sys,
        mailbox("vip@example.com", "VIP support", false, "quarantine"),
    )
    .await?;
    let (body, _, _) = encoding_rs::GBK.encode(
        "您好：\r\n\r\n会议室 3 楼的投影仪连不上笔记本电脑，HDMI 和无线投屏都试过了。\r\n\r\n张敏\r\n",
    );
    let mut request = b"From: =?UTF-8?B?5byg5pWP?= <zhang.min@huadong.example.cn>\r\n\
To: servicedesk@example.com\r\n\
Subject: =?GBK?B?u+HS6crSzbbTsNLHzt63qMGsvdM=?=\r\n\
Message-ID: <demo-projector@huadong.example.cn>\r\n\
Date: Mon, 23 Nov 2026 09:12:00 +0800\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=gb2312\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\n"
        .to_vec();
    request.extend_from_slice(&body);
    let opened =
        inbound::receive(app, "servicedesk@example.com", request, Source::Mailgate).await?;
    let number = match opened.ticket_id {
        Some(id) => tickets::get_ticket(app, sys, id).await?.number,
        None => return Ok(()),
    };
    let reply = format!(
        "From: =?UTF-8?B?5byg5pWP?= <zhang.min@huadong.example.cn>\r\n\
To: servicedesk@example.com\r\n\
Subject: =?UTF-8?B?{subject}?=\r\n\
Message-ID: <demo-projector-2@huadong.example.cn>\r\n\
In-Reply-To: <demo-projector@huadong.example.cn>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n\
补充一下：换了一根 HDMI 线也不行。\r\n\r\n\
在 2026年11月23日 09:12，张敏 写道：\r\n\
> 会议室 3 楼的投影仪连不上笔记本电脑。\r\n",
        subject = base64_utf8(&format!("回复：[{number}] 会议室投影仪无法连接")),
    );
    inbound::receive(
        app,
        "servicedesk@example.com",
        reply.into_bytes(),
        Source::Mailgate,
    )
    .await?;
    let out_of_office = format!(
        "From: bob@acme.example.com\r\n\
To: servicedesk@example.com\r\n\
Subject: Automatic reply: [{number}] out of office\r\n\
Message-ID: <demo-ooo@acme.example.com>\r\n\
Auto-Submitted: auto-replied\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n\
I am out of the office until Monday.\r\n"
    );
    inbound::receive(
        app,
        "servicedesk@example.com",
        out_of_office.into_bytes(),
        Source::Mailgate,
    )
    .await?;
    let stranger = "From: Li Lei <li.lei@unknown.example.net>\r\n\
To: vip@example.com\r\n\
Subject: =?UTF-8?B?6K+35biu5b+Z6YeN572u5a+G56CB?=\r\n\
Message-ID: <demo-stranger@unknown.example.net>\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n\
我的账号被锁了，请帮忙重置密码。\r\n";
    inbound::receive(
        app,
        "vip@example.com",
        stranger.as_bytes().to_vec(),
        Source::Mailgate,
    )
    .await?;
    Ok(())
}

fn base64_utf8(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

/// The demo agreements: a standard SLA for every customer on the China mainland calendar, and
/// an OLA for 网络组 on 24×7 with short targets, so that warnings and breaches happen while
/// someone explores the demo.
async fn load_service_levels(app: &App, sys: &Actor, network: i64) -> AppResult<()> {
    use crate::app::agreements::{self, AgreementInput, TargetInput};
    use crate::app::escalation::EscalationActions;
    let targets = |t: &[(i64, i64)]| -> Vec<TargetInput> {
        t.iter()
            .enumerate()
            .map(|(i, (r, s))| TargetInput {
                priority: format!("P{}", i + 1),
                response_minutes: *r,
                resolution_minutes: *s,
            })
            .collect()
    };
    agreements::create(
        app,
        sys,
        AgreementInput {
            name: "标准服务协议 Standard SLA".into(),
            kind: "sla".into(),
            organization_id: None,
            team_id: None,
            service_ids: vec![],
            calendar_id: 1,
            valid_from: "2026-01-01".into(),
            valid_to: Some("2026-12-31".into()),
            review_date: Some("2026-12-01".into()),
            status: "active".into(),
            warn_percent: Some(75),
            targets: targets(&[(30, 240), (60, 480), (240, 1440), (480, 2880), (1440, 7200)]),
            warning_actions: EscalationActions {
                notify_assignee: true,
                ..Default::default()
            },
            breach_actions: EscalationActions {
                notify_assignee: true,
                notify_team_lead: true,
                notify_service_manager: true,
                ..Default::default()
            },
        },
    )
    .await?;
    agreements::create(
        app,
        sys,
        AgreementInput {
            name: "网络组运营级别协议 Network OLA".into(),
            kind: "ola".into(),
            organization_id: None,
            team_id: Some(network),
            service_ids: vec![],
            calendar_id: 2,
            valid_from: "2026-01-01".into(),
            valid_to: None,
            review_date: Some("2027-03-31".into()),
            status: "active".into(),
            warn_percent: Some(75),
            targets: targets(&[(10, 60), (20, 120), (30, 240), (60, 480), (120, 960)]),
            warning_actions: EscalationActions {
                notify_assignee: true,
                ..Default::default()
            },
            breach_actions: EscalationActions {
                notify_assignee: true,
                notify_team_lead: true,
                raise_priority: true,
                ..Default::default()
            },
        },
    )
    .await?;
    Ok(())
}

/// One major incident with its emergency team, a child incident and a status update.
async fn load_major_incident(app: &App) -> AppResult<()> {
    use crate::app::major::{self, ChildInput, DeclareInput, StatusUpdateInput};
    let mut conn = app.read().await?;
    let manager = steward_store::accounts::user_by_email(&mut conn, "manager@example.com").await?;
    let agent = steward_store::accounts::user_by_email(&mut conn, "wang.wei@example.com").await?;
    let lead =
        steward_store::accounts::user_by_email(&mut conn, "lead.network@example.com").await?;
    let open: Vec<i64> = {
        use sqlx::Row;
        sqlx::query(
            "SELECT id FROM tickets WHERE kind = 'incident' AND status IN ('assigned', 'in_progress') ORDER BY id LIMIT 2",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(steward_store::StoreError::from)?
        .iter()
        .filter_map(|r| r.try_get::<i64, _>(0).ok())
        .collect()
    };
    drop(conn);
    let (Some(manager), Some(agent), Some(lead), [main, child]) =
        (manager, agent, lead, open.as_slice())
    else {
        return Ok(());
    };
    let actor = Actor::load(&mut *app.read().await?, manager.id, Channel::Web).await?;
    major::declare(
        app,
        &actor,
        *main,
        DeclareInput {
            roster_user_ids: vec![agent.id, lead.id],
            response_minutes: Some(15),
            summary:
                "核心交换机故障，多个楼层无法上网。Core switch failure: several floors are offline."
                    .into(),
        },
    )
    .await?;
    major::attach_child(app, &actor, *main, ChildInput { ticket_id: *child }).await?;
    major::post_update(
        app,
        &actor,
        *main,
        StatusUpdateInput {
            body: "已切换到备用交换机，正在恢复。Failover to the standby switch is under way."
                .into(),
        },
    )
    .await?;
    Ok(())
}

/// Creates `count` generated tickets through the normal create path, `concurrency` at a time,
/// spread over the existing teams, as an admin.
pub async fn seed_tickets(app: &App, count: u64, concurrency: usize) -> AppResult<()> {
    let sys = Actor::system(Channel::System);
    let teams = accounts::list_teams(app, &sys).await?;
    let requester_id = {
        let mut conn = app.read().await?;
        let users = steward_store::accounts::list_users(
            &mut conn,
            &steward_store::accounts::UserFilter {
                limit: 1,
                ..Default::default()
            },
        )
        .await?;
        users.first().map(|u| u.id).ok_or_else(|| {
            AppError::invalid(
                "users",
                "seed needs at least one user (run demo or user add)",
            )
        })?
    };
    let team_ids: Arc<Vec<i64>> = Arc::new(teams.iter().map(|t| t.id).collect());
    let done = Arc::new(AtomicU64::new(0));
    let bar = indicatif::ProgressBar::new(count);
    let mut tasks = Vec::new();
    for worker in 0..concurrency.max(1) as u64 {
        let (app, team_ids, done, bar, sys) = (
            app.clone(),
            team_ids.clone(),
            done.clone(),
            bar.clone(),
            sys.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(worker * 7919 + 17);
            let levels = ["high", "medium", "low"];
            while done.fetch_add(1, Ordering::Relaxed) < count {
                let (title, description) = *rng.pick(SUBJECTS);
                let input = NewTicketInput {
                    kind: if rng.next_u64().is_multiple_of(3) {
                        "service_request"
                    } else {
                        "incident"
                    }
                    .into(),
                    title: format!("{title} #{}", rng.next_u64() % 100_000),
                    description: description.into(),
                    impact: rng.pick(&levels).to_string(),
                    urgency: rng.pick(&levels).to_string(),
                    requester_id: Some(requester_id),
                    team_id: if team_ids.is_empty() {
                        None
                    } else {
                        Some(*rng.pick(&team_ids))
                    },
                    assignee_id: None,
                    category: None,
                    priority: None,
                    priority_reason: None,
                    watcher_ids: vec![],
                };
                tickets::create_ticket(&app, &sys, input, None).await?;
                bar.inc(1);
            }
            Ok::<_, AppError>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| AppError::BadRequest(e.to_string()))??;
    }
    bar.finish();
    Ok(())
}

/// The demo service catalogue: three live services subscribed by the demo organisations,
/// with request types (one needs the team lead's approval).
async fn load_catalogue(
    app: &App,
    sys: &Actor,
    network: i64,
    desktop: i64,
    orgs: &[i64],
) -> AppResult<()> {
    use crate::app::catalogue::{self, RequestTypeInput, ServiceInput};
    use steward_core::form::FormField;
    let service = |code: &str, zh: &str, en: &str, dzh: &str, den: &str, team: i64| ServiceInput {
        code: code.into(),
        name_zh: zh.into(),
        name_en: en.into(),
        description_zh: dzh.into(),
        description_en: den.into(),
        owner_id: None,
        team_id: Some(team),
        lifecycle: Some("live".into()),
        customer_ids: orgs.to_vec(),
        related_ids: vec![],
    };
    let form = |json: serde_json::Value| -> Vec<FormField> {
        serde_json::from_value(json).unwrap_or_default()
    };
    let email = catalogue::create_service(
        app,
        sys,
        service(
            "EMAIL",
            "邮箱服务",
            "Email",
            "企业邮箱与日历。",
            "Company email and calendars.",
            desktop,
        ),
        None,
    )
    .await?;
    let network_svc = catalogue::create_service(
        app,
        sys,
        service(
            "NETWORK",
            "网络接入",
            "Network access",
            "办公网络、无线与 VPN。",
            "Office network, Wi-Fi and VPN.",
            network,
        ),
        None,
    )
    .await?;
    let equipment = catalogue::create_service(
        app,
        sys,
        service(
            "EQUIPMENT",
            "办公设备",
            "Office equipment",
            "电脑、显示器与外设。",
            "Computers, monitors and peripherals.",
            desktop,
        ),
        None,
    )
    .await?;
    let types = [
        (
            equipment.id,
            "申请新笔记本电脑",
            "New laptop",
            "team_lead",
            serde_json::json!([
                {"key": "model", "kind": "choice", "required": true, "label_zh": "型号", "label_en": "Model",
                 "options": [{"value": "standard", "label_zh": "标准办公", "label_en": "Standard"},
                             {"value": "developer", "label_zh": "开发高配", "label_en": "Developer"}]},
                {"key": "needed_by", "kind": "date", "required": true, "label_zh": "需要日期", "label_en": "Needed by"},
                {"key": "reason", "kind": "long_text", "required": true, "label_zh": "申请原因", "label_en": "Reason", "min_length": 5}
            ]),
        ),
        (
            email.id,
            "申请共享邮箱",
            "Shared mailbox",
            "none",
            serde_json::json!([
                {"key": "address", "kind": "text", "required": true, "label_zh": "邮箱地址", "label_en": "Address", "max_length": 100},
                {"key": "members", "kind": "long_text", "label_zh": "成员", "label_en": "Members"}
            ]),
        ),
        (
            network_svc.id,
            "申请 VPN 账号",
            "VPN account",
            "none",
            serde_json::json!([
                {"key": "access", "kind": "multi_choice", "required": true, "label_zh": "访问范围", "label_en": "Access",
                 "options": [{"value": "office", "label_zh": "办公网", "label_en": "Office network"},
                             {"value": "erp", "label_zh": "ERP 系统", "label_en": "ERP"}]},
                {"key": "until", "kind": "date", "label_zh": "有效期至", "label_en": "Valid until"}
            ]),
        ),
    ];
    for (service_id, zh, en, rule, fields) in types {
        catalogue::create_request_type(
            app,
            sys,
            service_id,
            RequestTypeInput {
                name_zh: zh.into(),
                name_en: en.into(),
                description_zh: String::new(),
                description_en: String::new(),
                form: form(fields),
                approval_rule: Some(rule.into()),
                approver_ids: vec![],
                active: Some(true),
            },
            None,
        )
        .await?;
    }
    Ok(())
}
