//! Splitting a reply into what the sender wrote now and the quoted history below it, so that
//! the ticket shows the new text and folds the rest away.

/// Whether this line starts the quoted history.
fn starts_history(line: &str, next: Option<&str>) -> bool {
    let t = line.trim();
    if t.starts_with('>') {
        return true;
    }
    let lower = t.to_lowercase();
    // Outlook and Foxmail: "-----Original Message-----"; QQ Mail: "--- 原始邮件 ---".
    if t.starts_with("---") && (lower.contains("original message") || t.contains("原始邮件")) {
        return true;
    }
    // "On Tue, 3 Mar 2026, Li Lei <li@x.cn> wrote:" (Gmail wraps it onto two lines when the
    // address is long), "在 2026年3月3日，李雷 写道：", Gmail in Chinese "李雷 <li@x.cn>
    // 于2026年3月3日周二 10:00写道：".
    let next_lower = next.map(|n| n.trim().to_lowercase());
    if lower.starts_with("on ")
        && (lower.ends_with("wrote:")
            || next_lower
                .as_deref()
                .is_some_and(|n| n.ends_with("wrote:") && !n.starts_with('>')))
    {
        return true;
    }
    if t.ends_with("写道：") || t.ends_with("写道:") {
        return true;
    }
    // Outlook without a separator: "From: ..." followed by "Sent: ..." (or 发件人 / 发送时间).
    let header_pair = [
        ("from:", "sent:"),
        ("发件人:", "发送时间:"),
        ("发件人：", "发送时间："),
    ];
    header_pair.iter().any(|(first, second)| {
        lower.starts_with(first)
            && next.is_some_and(|n| n.trim().to_lowercase().starts_with(second))
    })
}

/// (new text, quoted history); the history is empty when nothing was quoted.
pub fn split(body: &str) -> (String, String) {
    let lines: Vec<&str> = body.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if starts_history(line, lines.get(i + 1).copied()) {
            let new_text = lines[..i].join("\n").trim().to_string();
            let history = lines[i..].join("\n").trim_end().to_string();
            // A message that is nothing but a quote keeps its text: it is not empty.
            if new_text.is_empty() {
                return (body.trim().to_string(), String::new());
            }
            return (new_text, history);
        }
    }
    (body.trim().to_string(), String::new())
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn common_quote_markers() {
        for (body, new) in [
            (
                "Thanks, fixed.\n\nOn Mon, 2 Mar 2026, Desk <d@x> wrote:\n> old",
                "Thanks, fixed.",
            ),
            ("好的\n\n在 2026年3月2日 10:00，服务台 写道：\n> 旧", "好的"),
            ("ok\n-----Original Message-----\nFrom: a", "ok"),
            (
                "收到\n------------------ 原始邮件 ------------------\n发件人: x",
                "收到",
            ),
            ("yes\nFrom: Desk\nSent: Monday\nTo: me", "yes"),
            ("top\n> quoted\n> more", "top"),
            (
                "Done.\n\nOn Mon, 2 Mar 2026 at 10:00, Service Desk <servicedesk@example.com>\nwrote:\n> old",
                "Done.",
            ),
            (
                "已处理\n\n服务台 <servicedesk@example.com> 于2026年3月2日周一 10:00写道：\n> 旧",
                "已处理",
            ),
        ] {
            let (n, h) = split(body);
            assert_eq!(n, new, "{body}");
            assert!(!h.is_empty(), "{body}");
        }
    }

    #[test]
    fn no_quote_keeps_everything() {
        assert_eq!(split("just text\nmore").0, "just text\nmore");
        assert_eq!(split("> only a quote").0, "> only a quote");
    }
}
