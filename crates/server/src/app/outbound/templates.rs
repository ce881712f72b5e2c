//! The wording of each mail: a built-in subject and text body per event and language, which
//! an admin may replace (mail_templates). Placeholders are `{{name}}` and nothing else: no
//! conditions, loops or escapes, so a template cannot run anything. Values are put in as they
//! are and never scanned again, so a title that contains `{{comment}}` stays that text.
//!
//! The ticket tag (`[INC-000123] `) is put before every ticket mail's subject by the code, not
//! by the template, so that replies always find their ticket.
//!
//! The built-in wording lives here rather than in the Fluent files because Fluent text cannot
//! hold the `{{ }}` of a placeholder.

use crate::i18n::Lang;

/// The reply that tells an unknown sender their mail was not taken.
pub const REJECTED: &str = "mail.rejected";

/// Every template: the eight ticket events, then the rejection.
pub const EVENTS: [&str; 9] = [
    "ticket.created",
    "ticket.replied",
    "ticket.status_changed",
    "ticket.resolved",
    "ticket.assigned",
    "approval.requested",
    "sla.warning",
    "sla.breached",
    REJECTED,
];

pub const LOCALES: [Lang; 2] = [Lang::ZhCn, Lang::En];

/// The placeholders of a ticket event's mail.
pub const TICKET_PLACEHOLDERS: &[&str] = &[
    // INC-000123
    "number",
    "title",
    // the ticket's status in the recipient's language
    "status",
    // the ticket's page
    "link",
    // the public reply (ticket.replied); empty otherwise
    "comment",
    "requester",
    // who made the change; "Steward" for the system
    "actor",
    // the recipient's name
    "recipient",
    // the SLA target (sla.warning, sla.breached)
    "metric",
    // when the SLA target is due, in the recipient's time zone
    "due_at",
];

/// The placeholders of the rejection reply.
pub const REJECTED_PLACEHOLDERS: &[&str] = &["subject"];

pub fn placeholders(event: &str) -> &'static [&'static str] {
    if event == REJECTED {
        REJECTED_PLACEHOLDERS
    } else {
        TICKET_PLACEHOLDERS
    }
}

/// The built-in subject and body of an event in a language; None for an unknown event.
pub fn builtin(event: &str, lang: Lang) -> Option<(&'static str, &'static str)> {
    let zh = lang == Lang::ZhCn;
    let pick = |z: (&'static str, &'static str), e: (&'static str, &'static str)| {
        Some(if zh { z } else { e })
    };
    match event {
        "ticket.created" => pick(
            (
                "我们已收到您的请求：{{title}}",
                "{{recipient}}，您好：\n\n我们已收到您的请求，编号 {{number}}。\n标题：{{title}}\n\n服务台会尽快处理。直接回复本邮件即可补充信息（请保留主题中的编号）。\n查看请求：{{link}}\n\n—— Steward 服务台",
            ),
            (
                "We received your request: {{title}}",
                "Hello {{recipient}},\n\nWe have received your request {{number}}.\nTitle: {{title}}\n\nThe service desk will look at it soon. Reply to this email to add anything (keep the number in the subject).\nView it: {{link}}\n\n-- Steward service desk",
            ),
        ),
        "ticket.replied" => pick(
            (
                "新回复：{{title}}",
                "{{actor}} 回复了 {{number}}：\n\n{{comment}}\n\n直接回复本邮件即可回复（请保留主题中的编号）。\n查看：{{link}}",
            ),
            (
                "New reply: {{title}}",
                "{{actor}} replied on {{number}}:\n\n{{comment}}\n\nReply to this email to answer (keep the number in the subject).\nView it: {{link}}",
            ),
        ),
        "ticket.status_changed" => pick(
            (
                "状态已更新为“{{status}}”：{{title}}",
                "{{actor}} 已将 {{number}} 的状态更新为“{{status}}”。\n查看：{{link}}",
            ),
            (
                "Status now {{status}}: {{title}}",
                "{{actor}} changed the status of {{number}} to {{status}}.\nView it: {{link}}",
            ),
        ),
        "ticket.resolved" => pick(
            (
                "已解决：{{title}}",
                "{{actor}} 已将 {{number}} 标记为已解决。\n如果问题仍然存在，直接回复本邮件即可。\n查看：{{link}}",
            ),
            (
                "Resolved: {{title}}",
                "{{actor}} marked {{number}} as resolved.\nIf the problem is still there, reply to this email.\nView it: {{link}}",
            ),
        ),
        "ticket.assigned" => pick(
            (
                "已分配给您：{{title}}",
                "{{actor}} 将 {{number}} 分配给了您。\n请求人：{{requester}}\n查看：{{link}}",
            ),
            (
                "Assigned to you: {{title}}",
                "{{actor}} assigned {{number}} to you.\nRequester: {{requester}}\nView it: {{link}}",
            ),
        ),
        "approval.requested" => pick(
            (
                "待您审批：{{title}}",
                "{{number}}（请求人：{{requester}}）等待您的审批。\n审批：{{link}}",
            ),
            (
                "Your approval is wanted: {{title}}",
                "{{number}} (requested by {{requester}}) waits for your decision.\nDecide: {{link}}",
            ),
        ),
        "sla.warning" => pick(
            (
                "SLA 即将到期：{{title}}",
                "{{number}} 的{{metric}}目标将于 {{due_at}} 到期。\n查看：{{link}}",
            ),
            (
                "SLA due soon: {{title}}",
                "The {{metric}} target of {{number}} is due at {{due_at}}.\nView it: {{link}}",
            ),
        ),
        "sla.breached" => pick(
            (
                "SLA 已违约：{{title}}",
                "{{number}} 的{{metric}}目标已于 {{due_at}} 超时。\n查看：{{link}}",
            ),
            (
                "SLA breached: {{title}}",
                "The {{metric}} target of {{number}} was due at {{due_at}} and is missed.\nView it: {{link}}",
            ),
        ),
        REJECTED => pick(
            (
                "无法受理您的邮件：{{subject}}",
                "您好：\n\n您的邮件“{{subject}}”未被受理：此服务台只接受已登记用户的邮件。如需帮助，请联系您的 IT 管理员。\n\n这是一封自动回复邮件。",
            ),
            (
                "Your email was not accepted: {{subject}}",
                "Hello,\n\nYour email \"{{subject}}\" was not accepted: this service desk only takes mail from registered users. Please ask your IT administrator for help.\n\nThis is an automatic reply.",
            ),
        ),
        _ => None,
    }
}

/// Puts the values in for their `{{name}}`; an unknown placeholder is left as it is, visible.
pub fn fill(text: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = &after[..end];
                match values.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The placeholder names a text uses that are not in `allowed`.
pub fn unknown_placeholders(text: &str, allowed: &[&str]) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = &after[..end];
        if !allowed.contains(&name) && !unknown.iter().any(|u| u == name) {
            unknown.push(name.to_string());
        }
        rest = &after[end + 2..];
    }
    unknown
}

/// A value for a header: control characters (CR, LF, tab, ...) become spaces, so nothing a
/// user typed can start a header of its own.
pub fn header_text(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    one_line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Sample values for previews, in the language of the preview.
pub fn sample_values(event: &str, lang: Lang) -> Vec<(&'static str, String)> {
    if event == REJECTED {
        let subject = match lang {
            Lang::ZhCn => "打印机无法连接网络",
            Lang::En => "The printer cannot reach the network",
        };
        return vec![("subject", subject.into())];
    }
    let zh = lang == Lang::ZhCn;
    let t = |z: &str, e: &str| if zh { z.to_string() } else { e.to_string() };
    vec![
        ("number", "INC-000123".into()),
        (
            "title",
            t("打印机无法连接网络", "The printer cannot reach the network"),
        ),
        ("status", lang.t("status-in_progress")),
        ("link", "https://desk.example.com/tickets/123".into()),
        (
            "comment",
            t(
                "请重启打印机后再试一次。",
                "Please restart the printer and try again.",
            ),
        ),
        ("requester", t("张伟", "Zhang Wei")),
        ("actor", t("李娜", "Li Na")),
        ("recipient", t("张伟", "Zhang Wei")),
        ("metric", lang.t("sla-metric-resolution")),
        ("due_at", "2026-01-05 17:30 +08:00".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::events::EventKind;

    #[test]
    fn every_event_has_both_languages_and_only_known_placeholders() {
        for e in EVENTS {
            for l in LOCALES {
                let (subject, body) = builtin(e, l).unwrap();
                assert!(unknown_placeholders(subject, placeholders(e)).is_empty());
                assert!(unknown_placeholders(body, placeholders(e)).is_empty());
            }
        }
        for k in EventKind::ALL {
            assert!(EVENTS.contains(&k.as_str()));
        }
    }

    #[test]
    fn fill_substitutes_once_and_leaves_unknown_names_visible() {
        let values = [
            ("title", "{{comment}}".to_string()),
            ("comment", "x".into()),
        ];
        assert_eq!(
            fill("[{{title}}] {{nope}} {{comment}} {{", &values),
            "[{{comment}}] {{nope}} x {{"
        );
        assert_eq!(
            unknown_placeholders(
                "{{title}} {{nope}} {{nope}} {{ title }}",
                TICKET_PLACEHOLDERS
            ),
            vec!["nope".to_string(), " title ".to_string()]
        );
    }

    #[test]
    fn header_text_is_one_line() {
        assert_eq!(
            header_text("Printer\r\nBcc: evil@example.com\tnow"),
            "Printer Bcc: evil@example.com now"
        );
    }
}
