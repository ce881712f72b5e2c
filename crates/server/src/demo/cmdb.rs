//! Demo data: a small CMDB of about thirty CIs — a data centre, a core switch, servers, VMs,
//! databases, applications and the services they provide (邮件服务 linked to the catalogue's
//! Email service, ERP dedicated to 华东制造) — with their relationships.

use crate::app::cmdb::graph::{self, RelationshipInput};
use crate::app::cmdb::{self, CiInput};
use crate::app::{Actor, App, AppResult};
use serde_json::json;
use std::collections::HashMap;
use steward_core::Channel;
use steward_store::{accounts, catalogue, cmdb as store};

/// key, type, name, status, attributes, catalogue service, organisation
type DemoCi<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    serde_json::Value,
    Option<i64>,
    Option<i64>,
);

pub async fn load(app: &App) -> AppResult<()> {
    let sys = Actor::system(Channel::System);
    let (types, email_svc, network_svc, huadong, network_team, owner) = {
        let mut conn = app.read().await?;
        let types: HashMap<String, i64> = store::list_types(&mut conn)
            .await?
            .into_iter()
            .map(|t| (t.code, t.id))
            .collect();
        (
            types,
            catalogue::service_by_code(&mut conn, "EMAIL")
                .await?
                .map(|s| s.id),
            catalogue::service_by_code(&mut conn, "NETWORK")
                .await?
                .map(|s| s.id),
            accounts::org_by_name(&mut conn, "华东制造有限公司")
                .await?
                .map(|o| o.id),
            accounts::team_by_name(&mut conn, "网络组")
                .await?
                .map(|t| t.id),
            accounts::user_by_email(&mut conn, "wang.wei@example.com")
                .await?
                .map(|u| u.id),
        )
    };
    let ty = |code: &str| types.get(code).copied().unwrap_or_default();
    // (key, type, name, status, attributes, catalogue service, organisation)
    let cis: Vec<DemoCi> = vec![
        (
            "dc",
            "location",
            "上海张江数据中心",
            "in_use",
            json!({"address": "上海市浦东新区张江路 88 号", "city": "上海", "room": "A3"}),
            None,
            None,
        ),
        (
            "dr",
            "location",
            "苏州灾备机房",
            "in_use",
            json!({"address": "苏州工业园区星湖街 328 号", "city": "苏州"}),
            None,
            None,
        ),
        (
            "core",
            "network_device",
            "核心交换机 CS-01",
            "in_use",
            json!({"model": "H3C S12508", "ip": "10.0.0.1", "ports": 384}),
            None,
            None,
        ),
        (
            "fw",
            "network_device",
            "防火墙 FW-01",
            "in_use",
            json!({"model": "Huawei USG6650", "ip": "10.0.0.2"}),
            None,
            None,
        ),
        (
            "access",
            "network_device",
            "接入交换机 AS-3F",
            "in_use",
            json!({"model": "H3C S5130", "ip": "10.0.3.1", "ports": 48}),
            None,
            None,
        ),
        (
            "esx1",
            "server",
            "esx-01",
            "in_use",
            json!({"hostname": "esx-01", "ip": "10.0.1.11", "os": "VMware ESXi 8", "cpu": 64, "memory_gb": 512, "serial": "CN7421A0QX"}),
            None,
            None,
        ),
        (
            "esx2",
            "server",
            "esx-02",
            "in_use",
            json!({"hostname": "esx-02", "ip": "10.0.1.12", "os": "VMware ESXi 8", "cpu": 64, "memory_gb": 512, "serial": "CN7421A0QY"}),
            None,
            None,
        ),
        (
            "esx3",
            "server",
            "esx-03",
            "maintenance",
            json!({"hostname": "esx-03", "ip": "10.0.1.13", "os": "VMware ESXi 8", "cpu": 64, "memory_gb": 512}),
            None,
            None,
        ),
        (
            "dbsrv",
            "server",
            "db-phy-01",
            "in_use",
            json!({"hostname": "db-phy-01", "ip": "10.0.1.21", "os": "Oracle Linux 8", "cpu": 96, "memory_gb": 1024}),
            None,
            None,
        ),
        (
            "mailvm1",
            "virtual_machine",
            "mail-01",
            "in_use",
            json!({"hostname": "mail-01", "ip": "10.0.2.11", "os": "Rocky Linux 9", "cpu": 8, "memory_gb": 32}),
            None,
            None,
        ),
        (
            "mailvm2",
            "virtual_machine",
            "mail-02",
            "in_use",
            json!({"hostname": "mail-02", "ip": "10.0.2.12", "os": "Rocky Linux 9", "cpu": 8, "memory_gb": 32}),
            None,
            None,
        ),
        (
            "erpapp1",
            "virtual_machine",
            "erp-app-01",
            "in_use",
            json!({"hostname": "erp-app-01", "ip": "10.0.2.21", "os": "SUSE 15", "cpu": 16, "memory_gb": 64}),
            None,
            None,
        ),
        (
            "erpapp2",
            "virtual_machine",
            "erp-app-02",
            "in_use",
            json!({"hostname": "erp-app-02", "ip": "10.0.2.22", "os": "SUSE 15", "cpu": 16, "memory_gb": 64}),
            None,
            None,
        ),
        (
            "vpnvm",
            "virtual_machine",
            "vpn-gw-01",
            "in_use",
            json!({"hostname": "vpn-gw-01", "ip": "10.0.2.31", "os": "Debian 12", "cpu": 4, "memory_gb": 8}),
            None,
            None,
        ),
        (
            "adsvm",
            "virtual_machine",
            "ad-01",
            "in_use",
            json!({"hostname": "ad-01", "ip": "10.0.2.41", "os": "Windows Server 2022", "cpu": 4, "memory_gb": 16}),
            None,
            None,
        ),
        (
            "wikivm",
            "virtual_machine",
            "wiki-01",
            "planned",
            json!({"hostname": "wiki-01", "os": "Debian 12"}),
            None,
            None,
        ),
        (
            "maildb",
            "database",
            "邮件归档库",
            "in_use",
            json!({"engine": "PostgreSQL", "version": "15", "port": 5432}),
            None,
            None,
        ),
        (
            "erpdb",
            "database",
            "ERP 生产库",
            "in_use",
            json!({"engine": "Oracle", "version": "19c", "port": 1521}),
            None,
            None,
        ),
        (
            "exch",
            "application",
            "Coremail 邮件系统",
            "in_use",
            json!({"version": "XT6", "vendor": "Coremail", "url": "https://mail.example.cn"}),
            None,
            None,
        ),
        (
            "webmail",
            "application",
            "Webmail 网页邮箱",
            "in_use",
            json!({"url": "https://webmail.example.cn"}),
            None,
            None,
        ),
        (
            "erp",
            "application",
            "SAP ERP",
            "in_use",
            json!({"version": "S/4HANA 2023", "vendor": "SAP"}),
            None,
            None,
        ),
        (
            "mes",
            "application",
            "MES 生产执行系统",
            "in_use",
            json!({"vendor": "鼎捷"}),
            None,
            huadong,
        ),
        (
            "vpn",
            "application",
            "SSL VPN",
            "in_use",
            json!({"vendor": "深信服"}),
            None,
            None,
        ),
        (
            "ad",
            "application",
            "Active Directory",
            "in_use",
            json!({"version": "2022"}),
            None,
            None,
        ),
        (
            "wiki",
            "application",
            "内部知识库",
            "planned",
            json!({}),
            None,
            None,
        ),
        (
            "mailsvc",
            "service",
            "邮件服务",
            "in_use",
            json!({"hours": "7×24", "criticality": "高"}),
            email_svc,
            None,
        ),
        (
            "erpsvc",
            "service",
            "ERP 服务",
            "in_use",
            json!({"hours": "工作日 8:00–20:00", "criticality": "高"}),
            None,
            huadong,
        ),
        (
            "netsvc",
            "service",
            "网络接入服务",
            "in_use",
            json!({"hours": "7×24", "criticality": "高"}),
            network_svc,
            None,
        ),
        (
            "idsvc",
            "service",
            "统一身份认证",
            "in_use",
            json!({"hours": "7×24"}),
            None,
            None,
        ),
        (
            "mfgsvc",
            "service",
            "生产管理服务",
            "in_use",
            json!({"criticality": "高"}),
            None,
            huadong,
        ),
    ];
    let mut ids: HashMap<&str, i64> = HashMap::new();
    for (key, code, name, status, attrs, service_id, organization_id) in cis {
        let attributes = attrs
            .as_object()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let v = cmdb::create_ci(
            app,
            &sys,
            CiInput {
                type_id: ty(code),
                name: name.into(),
                status: Some(status.into()),
                owner_id: owner,
                team_id: network_team,
                service_id,
                organization_id,
                attributes,
                description: String::new(),
            },
            None,
        )
        .await?;
        ids.insert(key, v.id);
    }
    let rels = [
        ("core", "part_of", "dc"),
        ("fw", "part_of", "dc"),
        ("fw", "connects_to", "core"),
        ("access", "connects_to", "core"),
        ("esx1", "part_of", "dc"),
        ("esx2", "part_of", "dc"),
        ("esx3", "part_of", "dr"),
        ("dbsrv", "part_of", "dc"),
        ("esx1", "connects_to", "core"),
        ("esx2", "connects_to", "core"),
        ("dbsrv", "connects_to", "core"),
        ("mailvm1", "runs_on", "esx1"),
        ("mailvm2", "runs_on", "esx2"),
        ("erpapp1", "runs_on", "esx1"),
        ("erpapp2", "runs_on", "esx2"),
        ("vpnvm", "runs_on", "esx2"),
        ("adsvm", "runs_on", "esx1"),
        ("wikivm", "runs_on", "esx3"),
        ("maildb", "runs_on", "mailvm2"),
        ("erpdb", "runs_on", "dbsrv"),
        ("exch", "runs_on", "mailvm1"),
        ("exch", "depends_on", "maildb"),
        ("exch", "depends_on", "ad"),
        ("webmail", "depends_on", "exch"),
        ("webmail", "runs_on", "mailvm2"),
        ("erp", "runs_on", "erpapp1"),
        ("erp", "runs_on", "erpapp2"),
        ("erp", "depends_on", "erpdb"),
        ("erp", "depends_on", "ad"),
        ("mes", "depends_on", "erp"),
        ("vpn", "runs_on", "vpnvm"),
        ("vpn", "depends_on", "fw"),
        ("vpn", "depends_on", "ad"),
        ("ad", "runs_on", "adsvm"),
        ("wiki", "runs_on", "wikivm"),
        ("exch", "provides", "mailsvc"),
        ("webmail", "provides", "mailsvc"),
        ("erp", "provides", "erpsvc"),
        ("mes", "provides", "mfgsvc"),
        ("core", "provides", "netsvc"),
        ("vpn", "provides", "netsvc"),
        ("ad", "provides", "idsvc"),
        ("mfgsvc", "depends_on", "erpsvc"),
    ];
    for (s, r, t) in rels {
        graph::create_relationship(
            app,
            &sys,
            RelationshipInput {
                source_id: ids[s],
                target_id: ids[t],
                relation: r.into(),
            },
        )
        .await?;
    }
    Ok(())
}
