//! The group robots of WeCom (企业微信), DingTalk (钉钉) and Feishu / Lark (飞书): the message
//! for an event in the bot's language, the request each platform documents, and how each says
//! that it took the message.

use super::payload::EventPayload;
use super::signing;
use crate::i18n::Lang;
use reqwest::Url;
use serde_json::{json, Value};

pub const PLATFORMS: [&str; 3] = ["wecom", "dingtalk", "feishu"];
pub const LOCALES: [&str; 2] = ["zh-CN", "en"];

/// A reply excerpt in a chat message is kept short; the link leads to the rest.
const EXCERPT_CHARS: usize = 200;

/// One event told in one language.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `[INC-000123] Title`, or the test message's title.
    pub title: String,
    /// What happened, one line per fact.
    pub lines: Vec<String>,
    /// The ticket's page.
    pub link: Option<String>,
    pub link_label: String,
}

/// User text on one line, without the characters that would make it markup in a robot's
/// markdown (`<font>`, `<@user>`, links).
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\r' | '\n' | '\t' => ' ',
            '<' => '‹',
            '>' => '›',
            '[' => '(',
            ']' => ')',
            c => c,
        })
        .collect()
}

fn excerpt(text: &str) -> String {
    let mut s: String = plain(text).chars().take(EXCERPT_CHARS).collect();
    if text.chars().count() > EXCERPT_CHARS {
        s.push('…');
    }
    s
}

/// The Fluent key of an event kind: `bot-ticket-status-changed` for ticket.status_changed.
fn event_key(kind: &str) -> String {
    format!("bot-{}", kind.replace(['.', '_'], "-"))
}

pub fn message(lang: Lang, p: &EventPayload) -> Message {
    let Some(t) = &p.ticket else {
        return Message {
            title: lang.t("bot-ping-title"),
            lines: vec![lang.t("bot-ping")],
            link: None,
            link_label: String::new(),
        };
    };
    let mut lines = vec![lang.t(&event_key(&p.kind))];
    if let (Some(from), Some(to)) = (p.data["from"].as_str(), p.data["to"].as_str()) {
        let status = |s: &str| lang.t(&format!("status-{s}"));
        lines.push(lang.t_args(
            "bot-status-change",
            &[("from", status(from)), ("to", status(to))],
        ));
    }
    if let Some(metric) = p.data["metric"].as_str() {
        lines.push(lang.t_args("bot-sla-metric", &[("metric", plain(metric))]));
    }
    if let Some(a) = &p.actor {
        lines.push(lang.t_args("bot-by", &[("name", plain(&a.name))]));
    }
    if let Some(c) = &p.comment {
        lines.push(format!("“{}”", excerpt(&c.body)));
    }
    Message {
        title: format!("[{}] {}", t.number, plain(&t.title)),
        lines,
        link: Some(t.url.clone()),
        link_label: lang.t("bot-open-ticket"),
    }
}

fn markdown(m: &Message) -> String {
    let mut s = format!("**{}**\n", m.title);
    for l in &m.lines {
        s.push_str(&format!("> {l}\n"));
    }
    if let Some(link) = &m.link {
        s.push_str(&format!("\n[{}]({link})", m.link_label));
    }
    s
}

/// The request for one message: where to POST it and the JSON body. `now_ms` is the signing
/// time (DingTalk wants milliseconds, Feishu seconds).
pub fn request(
    platform: &str,
    url: &Url,
    secret: Option<&str>,
    lang: Lang,
    m: &Message,
    now_ms: i64,
) -> (Url, Value) {
    let mut url = url.clone();
    let body = match platform {
        "dingtalk" => {
            if let Some(secret) = secret {
                let sign = signing::dingtalk_sign(secret, now_ms);
                url.query_pairs_mut()
                    .append_pair("timestamp", &now_ms.to_string())
                    .append_pair("sign", &sign);
            }
            json!({"msgtype": "markdown", "markdown": {"title": m.title, "text": markdown(m)}})
        }
        "feishu" => {
            // Rich text ("post"): each piece is a node, so user text is never markup.
            let mut content: Vec<Value> = m
                .lines
                .iter()
                .map(|l| json!([{"tag": "text", "text": l}]))
                .collect();
            if let Some(link) = &m.link {
                content.push(json!([{"tag": "a", "text": m.link_label, "href": link}]));
            }
            let language = match lang {
                Lang::ZhCn => "zh_cn",
                Lang::En => "en_us",
            };
            let mut body = json!({
                "msg_type": "post",
                "content": {"post": {language: {"title": m.title, "content": content}}}
            });
            if let Some(secret) = secret {
                let ts = now_ms / 1000;
                body["timestamp"] = json!(ts.to_string());
                body["sign"] = json!(signing::feishu_sign(secret, ts));
            }
            body
        }
        // WeCom group robots authenticate by the key in their URL; there is no signature.
        _ => json!({"msgtype": "markdown", "markdown": {"content": markdown(m)}}),
    };
    (url, body)
}

/// Whether the platform took the message: each answers HTTP 200 with a JSON code, 0 for yes.
pub fn accepted(platform: &str, body: &str) -> Result<(), String> {
    let v: Value = serde_json::from_str(body)
        .map_err(|_| "the answer is not the platform's JSON".to_string())?;
    let code = match platform {
        // Feishu answers {"code":0,...}; older deployments {"StatusCode":0,...}.
        "feishu" => v.get("code").or_else(|| v.get("StatusCode")),
        _ => v.get("errcode"),
    };
    match code.and_then(Value::as_i64) {
        Some(0) => Ok(()),
        Some(c) => Err(format!("the platform refused the message (code {c})")),
        None => Err("the answer has no result code".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_cannot_become_markup() {
        assert_eq!(plain("a<@all>[x](http://e)\nb"), "a‹@all›(x)(http://e) b");
    }

    fn status_change() -> EventPayload {
        serde_json::from_value(json!({
            "id": "evt_1", "type": "ticket.status_changed", "occurred_at": "2026-01-01T00:00:00Z",
            "ticket": {"id": 7, "number": "INC-000007", "kind": "incident", "title": "Wi-Fi\n[down]",
                "status": "in_progress", "priority": 3, "team_id": null, "assignee_id": null,
                "requester_id": 1, "service_id": null, "url": "https://s.example/tickets/7"},
            "actor": {"id": 2, "name": "Li Wei"},
            "data": {"from": "assigned", "to": "in_progress"}
        }))
        .unwrap()
    }

    #[test]
    fn messages_tell_the_event_in_the_bots_language() {
        let p = status_change();
        let en = message(Lang::En, &p);
        assert_eq!(en.title, "[INC-000007] Wi-Fi (down)");
        assert_eq!(
            en.lines,
            vec!["Status changed", "Assigned → In progress", "By Li Wei"]
        );
        assert_eq!(en.link.as_deref(), Some("https://s.example/tickets/7"));
        let zh = message(Lang::ZhCn, &p);
        assert_eq!(zh.lines[0], "状态已变更");
        assert_eq!(zh.link_label, "查看工单");
    }

    #[test]
    fn dingtalk_signs_in_the_query_and_feishu_in_the_body() {
        let m = message(Lang::En, &status_change());
        let url = Url::parse("https://oapi.dingtalk.com/robot/send?access_token=t").unwrap();
        let (signed, body) = request(
            "dingtalk",
            &url,
            Some("SECx"),
            Lang::En,
            &m,
            1_700_000_000_123,
        );
        let sign = signing::dingtalk_sign("SECx", 1_700_000_000_123);
        let pairs: Vec<(String, String)> = signed.query_pairs().into_owned().collect();
        assert!(pairs.contains(&("timestamp".into(), "1700000000123".into())));
        assert!(pairs.contains(&("sign".into(), sign)));
        assert_eq!(body["markdown"]["title"], m.title);
        let url = Url::parse("https://open.feishu.cn/open-apis/bot/v2/hook/x").unwrap();
        let (same, body) = request("feishu", &url, Some("k"), Lang::En, &m, 1_700_000_000_123);
        assert_eq!(same, url);
        assert_eq!(body["timestamp"], "1700000000");
        assert_eq!(body["sign"], signing::feishu_sign("k", 1_700_000_000));
        assert_eq!(body["content"]["post"]["en_us"]["title"], m.title);
    }

    #[test]
    fn each_platform_reads_its_own_result_code() {
        assert!(accepted("wecom", r#"{"errcode":0,"errmsg":"ok"}"#).is_ok());
        assert!(accepted(
            "dingtalk",
            r#"{"errcode":310000,"errmsg":"sign not match"}"#
        )
        .is_err());
        assert!(accepted("feishu", r#"{"code":0,"msg":"success"}"#).is_ok());
        assert!(accepted("feishu", r#"{"StatusCode":0}"#).is_ok());
        assert!(accepted("feishu", r#"{"code":19021}"#).is_err());
        assert!(accepted("wecom", "<html>").is_err());
    }
}
