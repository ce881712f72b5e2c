//! Folder names on the wire: IMAP's modified UTF-7 (RFC 3501 5.1.3), so that a folder named
//! in Chinese (已处理) reaches the server as the name its other clients show.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;

/// Encodes a folder name in modified UTF-7. The result is printable ASCII only (no CR or LF).
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut out, &mut pending);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut out, &mut pending);
    out
}

fn flush(out: &mut String, pending: &mut Vec<u16>) {
    if pending.is_empty() {
        return;
    }
    let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
    out.push('&');
    out.push_str(&STANDARD_NO_PAD.encode(bytes).replace('/', ","));
    out.push('-');
    pending.clear();
}

/// A quoted IMAP string, for the commands where the client library does not quote.
pub fn quote(encoded: &str) -> String {
    format!("\"{}\"", encoded.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::{encode, quote};

    #[test]
    fn folder_names_in_modified_utf7() {
        assert_eq!(encode("INBOX"), "INBOX");
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        // RFC 3501's own example, and a Chinese name as Dovecot and Thunderbird write it.
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(encode("已处理"), "&XfJZBHQG-");
        assert_eq!(encode("a\r\nb"), "a&AA0ACg-b");
        assert_eq!(quote(r#"x"y\z"#), r#""x\"y\\z""#);
    }
}
