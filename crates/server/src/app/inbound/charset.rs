//! Charset decoding that mail-parser 0.11 gets wrong for Chinese mail: it decodes each RFC 2047
//! encoded word on its own (a character split across two words comes out as two U+FFFD), and
//! it does not know the label euc-cn. Here adjacent words of one charset are joined as bytes
//! before decoding, and gb2312 / euc-cn are read as GB18030 (the superset that senders
//! labelling gb2312 really use).

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use encoding_rs::Encoding;

/// The encoding for a charset label, widened where mail in the wild needs it.
pub fn encoding_for(label: &str) -> Option<&'static Encoding> {
    let label = label.trim().trim_matches('"').to_ascii_lowercase();
    match label.as_str() {
        "gb2312" | "euc-cn" | "x-euc-cn" | "euc_cn" | "cn-gb" | "gbk" | "x-gbk" | "cp936" => {
            Some(encoding_rs::GB18030)
        }
        "big5" | "big5-hkscs" | "x-big5" | "cn-big5" => Some(encoding_rs::BIG5),
        _ => Encoding::for_label(label.as_bytes()),
    }
}

/// Decodes `bytes` in the labelled charset (UTF-8 when unknown), never failing.
pub fn decode(label: Option<&str>, bytes: &[u8]) -> String {
    let encoding = label.and_then(encoding_for).unwrap_or(encoding_rs::UTF_8);
    encoding.decode_without_bom_handling(bytes).0.into_owned()
}

/// Lenient base64: mail wraps lines, pads sloppily and leaves trailing bits.
pub fn base64_lenient(input: &[u8]) -> Vec<u8> {
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let clean: Vec<u8> = input
        .iter()
        .copied()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        .collect();
    // A stray extra character makes the length impossible; drop it rather than everything.
    let usable = if clean.len() % 4 == 1 {
        clean.len() - 1
    } else {
        clean.len()
    };
    ENGINE.decode(&clean[..usable]).unwrap_or_default()
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|v| v as u8)
}

/// Quoted-printable; `underscore_is_space` for the Q encoding of header words.
pub fn quoted_printable(input: &[u8], underscore_is_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'=' => {
                let rest = &input[i + 1..];
                if let [h, l, ..] = rest {
                    if let (Some(h), Some(l)) = (hex_value(*h), hex_value(*l)) {
                        out.push(h << 4 | l);
                        i += 3;
                        continue;
                    }
                }
                // A soft line break: "=" at the end of a line.
                let skip = rest
                    .iter()
                    .take_while(|b| **b == b' ' || **b == b'\t')
                    .count();
                match rest.get(skip..) {
                    Some([b'\r', b'\n', ..]) => i += skip + 3,
                    Some([b'\n', ..]) => i += skip + 2,
                    _ => {
                        out.push(b'=');
                        i += 1;
                    }
                }
            }
            b'_' if underscore_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// One `=?charset?enc?text?=` at the start of `s`: (charset, decoded bytes, length used).
fn encoded_word(s: &str) -> Option<(String, Vec<u8>, usize)> {
    let rest = s.strip_prefix("=?")?;
    let (charset, rest) = rest.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let text = &rest[..end];
    if charset.is_empty() || text.contains(char::is_whitespace) {
        return None;
    }
    // RFC 2231 adds a language after '*': charset*lang.
    let charset = charset
        .split('*')
        .next()
        .unwrap_or(charset)
        .to_ascii_lowercase();
    let bytes = match encoding {
        "B" | "b" => base64_lenient(text.as_bytes()),
        "Q" | "q" => quoted_printable(text.as_bytes(), true),
        _ => return None,
    };
    // Every delimiter is ASCII, so this is a char boundary.
    let used = s.len() - rest.len() + end + 2;
    Some((charset, bytes, used))
}

/// Decodes RFC 2047 encoded words in a header value. Adjacent words of the same charset are
/// joined as bytes first; whitespace between encoded words is dropped (RFC 2047 section 6.2);
/// line folding is unfolded.
pub fn decode_header(raw: &str) -> String {
    let unfolded: String = raw
        .replace("\r\n", "\n")
        .replace("\n ", " ")
        .replace("\n\t", " ");
    let mut out = String::new();
    // The run of encoded words being joined: its charset and bytes.
    let mut run: Option<(String, Vec<u8>)> = None;
    // Whitespace seen after an encoded word, kept only if plain text follows.
    let mut pending_space = String::new();
    let mut rest = unfolded.as_str();
    while !rest.is_empty() {
        if let Some((charset, bytes, used)) = encoded_word(rest) {
            match &mut run {
                Some((c, b)) if *c == charset => b.extend_from_slice(&bytes),
                _ => {
                    if let Some((c, b)) = run.take() {
                        out.push_str(&decode(Some(&c), &b));
                    }
                    run = Some((charset, bytes));
                }
            }
            pending_space.clear();
            rest = &rest[used..];
            continue;
        }
        let ch = rest.chars().next().unwrap_or(' ');
        if run.is_some() && ch.is_whitespace() {
            pending_space.push(ch);
        } else {
            if let Some((c, b)) = run.take() {
                out.push_str(&decode(Some(&c), &b));
            }
            out.push_str(&pending_space);
            pending_space.clear();
            out.push(ch);
        }
        rest = &rest[ch.len_utf8()..];
    }
    if let Some((c, b)) = run.take() {
        out.push_str(&decode(Some(&c), &b));
    }
    out.push_str(&pending_space);
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_two_words_is_joined() {
        // "打印机" in UTF-8 is e6 89 93 e5 8d b0 e6 9c ba; the split falls inside 印.
        let raw = "=?UTF-8?B?5omT5Y0=?= =?UTF-8?B?sOacug==?=";
        assert_eq!(decode_header(raw), "打印机");
    }

    #[test]
    fn gb2312_label_decodes_gbk_only_characters() {
        // 镕 is in GBK, not in GB2312: e9 46.
        assert_eq!(decode(Some("gb2312"), b"\xd6\xec\xe9\x46"), "朱镕");
        assert_eq!(decode(Some("euc-cn"), b"\xc4\xe3\xba\xc3"), "你好");
    }

    #[test]
    fn plain_text_and_words_mix() {
        assert_eq!(
            decode_header("Re: =?gbk?Q?=C4=E3=BA=C3?= world"),
            "Re: 你好 world"
        );
        assert_eq!(decode_header("=?utf-8?q?a_b?=\r\n =?utf-8?q?c?="), "a bc");
    }

    #[test]
    fn quoted_printable_soft_breaks() {
        assert_eq!(quoted_printable(b"ab=\r\ncd=3D", false), b"abcd=");
    }
}
