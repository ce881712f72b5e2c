//! Reading one raw message: the headers Steward acts on, the text, the sanitised HTML and the
//! attachments. mail-parser does the MIME work; headers, file names and text parts are decoded
//! again here where it gets Chinese mail wrong (see charset.rs).

use super::charset;
use mail_parser::{Encoding, Message, MessageParser, MessagePart, MimeHeaders, PartType};

/// One attached file (or inline image).
#[derive(Debug, Clone)]
pub struct MailFile {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct ParsedMail {
    /// Normalised: no angle brackets, lower-case domain.
    pub message_id: Option<String>,
    /// Lower-cased.
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// Single line, trimmed.
    pub subject: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// Sent by a machine (RFC 3834 and its older cousins): never answered, never notified.
    pub automatic: bool,
    /// A delivery status notification.
    pub bounce: bool,
    /// The Message-IDs quoted inside a bounce (the mail that could not be delivered).
    pub bounced_ids: Vec<String>,
    /// Plain text (derived from the HTML for HTML-only mail).
    pub text: String,
    /// The HTML part, sanitised for display.
    pub html: Option<String>,
    pub files: Vec<MailFile>,
    /// Every header as received, except X-Steward-* (only Steward sets those).
    pub headers: Vec<(String, String)>,
}

/// Normalises a Message-ID: no brackets or spaces, the domain lower-cased.
pub fn normalise_message_id(raw: &str) -> Option<String> {
    let id = raw
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    if id.is_empty() || id.contains(char::is_whitespace) {
        return None;
    }
    Some(match id.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_ascii_lowercase()),
        None => id.to_string(),
    })
}

/// Every `<...>` in a header value (References, In-Reply-To), normalised.
fn message_ids(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        if let Some(id) = normalise_message_id(&rest[start..start + len + 1]) {
            out.push(id);
        }
        rest = &rest[start + len + 1..];
    }
    if out.is_empty() {
        out.extend(raw.split_whitespace().filter_map(normalise_message_id));
    }
    out
}

fn raw_header<'a>(m: &'a Message<'_>, name: &str) -> Option<&'a str> {
    m.headers_raw()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// RFC 3834 and the headers mail systems used before it.
fn is_automatic(m: &Message<'_>) -> bool {
    let value = |name| raw_header(m, name).map(|v| v.trim().to_ascii_lowercase());
    let auto_submitted = value("Auto-Submitted").is_some_and(|v| !v.starts_with("no"));
    let precedence = value("Precedence")
        .is_some_and(|v| ["bulk", "junk", "list", "auto_reply"].contains(&v.as_str()));
    auto_submitted
        || precedence
        || value("X-Autoreply").is_some()
        || value("X-Autorespond").is_some()
        || value("List-Id").is_some()
}

fn single_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The bytes of a part's body with the transfer encoding undone.
fn transfer_decoded(raw: &[u8], part: &MessagePart<'_>) -> Vec<u8> {
    let start = (part.offset_body as usize).min(raw.len());
    let end = (part.offset_end as usize).clamp(start, raw.len());
    let body = &raw[start..end];
    match part.encoding {
        Encoding::Base64 => charset::base64_lenient(body),
        Encoding::QuotedPrintable => charset::quoted_printable(body, false),
        Encoding::None => body.to_vec(),
    }
}

/// A text part decoded from the raw bytes with our charset rules.
fn part_text(raw: &[u8], part: &MessagePart<'_>) -> String {
    let label = part.content_type().and_then(|c| c.attribute("charset"));
    match (&part.body, label) {
        // Without a charset label mail-parser's guess (UTF-8 or Latin-1) is as good as any.
        (PartType::Text(t) | PartType::Html(t), None) => t.to_string(),
        _ => charset::decode(label, &transfer_decoded(raw, part)),
    }
}

/// The file name from the part's raw Content-Disposition / Content-Type headers when they hold
/// RFC 2047 words (decoded with words joined); else what mail-parser found (RFC 2231 included).
fn file_name(raw: &[u8], part: &MessagePart<'_>) -> Option<String> {
    for h in &part.headers {
        let name = h.name().to_ascii_lowercase();
        if name != "content-disposition" && name != "content-type" {
            continue;
        }
        let start = (h.offset_start() as usize).min(raw.len());
        let end = (h.offset_end() as usize).clamp(start, raw.len());
        let value = String::from_utf8_lossy(&raw[start..end]);
        // Quoted as RFC 2047 forbids but clients do, or bare up to the next parameter.
        for key in ["filename=", "name="] {
            if let Some(at) = value.to_ascii_lowercase().find(key) {
                let rest = &value[at + key.len()..];
                let text = match rest.strip_prefix('"') {
                    Some(quoted) => quoted.split('"').next().unwrap_or_default(),
                    None => rest.split(';').next().unwrap_or_default(),
                };
                if text.contains("=?") {
                    return Some(charset::decode_header(text));
                }
            }
        }
    }
    part.attachment_name().map(str::to_string)
}

fn is_report(m: &Message<'_>) -> bool {
    m.root_part().content_type().is_some_and(|c| {
        c.ctype().eq_ignore_ascii_case("multipart")
            && c.subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && c.attribute("report-type")
                .is_some_and(|r| r.eq_ignore_ascii_case("delivery-status"))
    })
}

/// Message-ID headers inside the body of a bounce: those of the mail that was returned.
fn ids_in_body(raw: &[u8], body_offset: usize) -> Vec<String> {
    let body = String::from_utf8_lossy(&raw[body_offset.min(raw.len())..]);
    body.lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("message-id")
                .then(|| normalise_message_id(value))
                .flatten()
        })
        .collect()
}

fn addresses(a: Option<&mail_parser::Address<'_>>) -> Vec<String> {
    a.map(|a| {
        a.iter()
            .filter_map(|x| x.address())
            .map(|s| s.trim().to_lowercase())
            .collect()
    })
    .unwrap_or_default()
}

/// The first From address, lower-cased.
pub fn sender_address(m: &Message<'_>) -> Option<String> {
    m.from()
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty())
}

/// Reads the message. None when nothing MIME-like could be made of it.
pub fn parse(raw: &[u8]) -> Option<ParsedMail> {
    let m = MessageParser::default().parse(raw)?;
    let mut p = ParsedMail {
        message_id: m.message_id().and_then(normalise_message_id),
        headers: m
            .headers_raw()
            .filter(|(n, _)| !n.to_ascii_lowercase().starts_with("x-steward-"))
            .map(|(n, v)| (n.to_string(), single_line(&charset::decode_header(v))))
            .collect(),
        automatic: is_automatic(&m),
        ..ParsedMail::default()
    };
    p.from_address = sender_address(&m);
    if let Some(from) = m.from().and_then(|f| f.first()) {
        // The display name decoded again from the raw header, so split words are joined.
        let raw_name = raw_header(&m, "From")
            .and_then(|v| v.rsplit_once('<').map(|(name, _)| name.to_string()));
        p.from_name = match raw_name {
            Some(n) => Some(
                single_line(&charset::decode_header(&n))
                    .trim_matches('"')
                    .trim()
                    .to_string(),
            ),
            None => from.name().map(single_line),
        }
        .filter(|n| !n.is_empty());
    }
    p.to = addresses(m.to());
    p.cc = addresses(m.cc());
    p.subject = raw_header(&m, "Subject")
        .map(|s| single_line(&charset::decode_header(s)))
        .unwrap_or_default();
    p.in_reply_to = raw_header(&m, "In-Reply-To")
        .map(message_ids)
        .unwrap_or_default();
    p.references = raw_header(&m, "References")
        .map(message_ids)
        .unwrap_or_default();
    let from_daemon = p.from_address.as_deref().is_some_and(|a| {
        let local = a.split('@').next().unwrap_or_default();
        local.eq_ignore_ascii_case("mailer-daemon") || local.eq_ignore_ascii_case("postmaster")
    });
    p.bounce = is_report(&m) || from_daemon;
    if p.bounce {
        p.bounced_ids = ids_in_body(raw, m.root_part().offset_body as usize);
        p.automatic = true;
    }
    let texts: Vec<String> = m
        .text_body
        .iter()
        .filter_map(|i| m.parts.get(*i as usize))
        .filter(|part| matches!(part.body, PartType::Text(_)))
        .map(|part| part_text(raw, part))
        .collect();
    let html: Option<String> = m
        .html_body
        .iter()
        .filter_map(|i| m.parts.get(*i as usize))
        .find(|part| matches!(part.body, PartType::Html(_)))
        .map(|part| part_text(raw, part));
    p.text = if texts.iter().any(|t| !t.trim().is_empty()) {
        texts.join("\n")
    } else {
        html.as_deref()
            .map(mail_parser::decoders::html::html_to_text)
            .unwrap_or_default()
    };
    p.text = p.text.replace("\r\n", "\n");
    p.html = html.map(|h| sanitise_html(&h));
    for i in &m.attachments {
        let Some(part) = m.parts.get(*i as usize) else {
            continue;
        };
        let bytes = match &part.body {
            PartType::Binary(b) | PartType::InlineBinary(b) => b.to_vec(),
            // The file as sent, not mail-parser's UTF-8 rendering of it.
            PartType::Text(_) | PartType::Html(_) => transfer_decoded(raw, part),
            PartType::Message(inner) => inner.raw_message().to_vec(),
            PartType::Multipart(_) => continue,
        };
        let content_type = part
            .content_type()
            .map(|c| match c.subtype() {
                Some(s) => format!("{}/{s}", c.ctype()),
                None => c.ctype().to_string(),
            })
            .unwrap_or_else(|| "application/octet-stream".into())
            .to_ascii_lowercase();
        let filename = file_name(raw, part).unwrap_or_else(|| match &part.body {
            PartType::Message(_) => "message.eml".into(),
            _ => "attachment".into(),
        });
        p.files.push(MailFile {
            filename,
            content_type,
            bytes,
        });
    }
    Some(p)
}

/// The HTML of a message made safe to show: no scripts, no active content, no remote images
/// (only inline `cid:` and `data:` images stay), links open outside with no referrer.
pub fn sanitise_html(html: &str) -> String {
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto", "cid", "data"].into())
        .attribute_filter(|element, attribute, value| {
            // data: URLs only as inline pictures, never as links a reader could open.
            if attribute == "href" && value.trim_start().to_ascii_lowercase().starts_with("data:") {
                return None;
            }
            if element == "img" && attribute == "src" {
                let v = value.trim_start().to_ascii_lowercase();
                if !(v.starts_with("cid:") || v.starts_with("data:image/")) {
                    return None;
                }
            }
            Some(value.into())
        })
        .clean(html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::sanitise_html;

    #[test]
    fn sanitised_mail_html_has_no_active_content() {
        let html = sanitise_html(
            r#"<p onclick="x()">Hi</p><script>alert(1)</script><style>p{}</style>
            <iframe src="https://e.test"></iframe><object data="x"></object><form action="/x"><input></form>
            <meta http-equiv="refresh" content="0;url=https://e.test"><base href="https://e.test/">
            <a href="javascript:alert(1)">j</a><a href="data:text/html,<script>x</script>">d</a>
            <a href="https://ok.test/">ok</a><img src="https://track.test/p.png"><img src="cid:logo@x">
            <svg><script>alert(2)</script></svg><img src="x" onerror="alert(3)"><p style="background:url(https://t.test)">s</p>"#,
        );
        let lower = html.to_lowercase();
        for bad in [
            "<script",
            "onclick",
            "onerror",
            "<style",
            "<iframe",
            "<object",
            "<form",
            "<input",
            "<meta",
            "<base",
            "javascript:",
            "data:text",
            "track.test",
            "<svg",
            "style=",
        ] {
            assert!(!lower.contains(bad), "{bad} in {html}");
        }
        assert!(html.contains(r#"href="https://ok.test/""#));
        assert!(html.contains(r#"src="cid:logo@x""#));
    }
}
