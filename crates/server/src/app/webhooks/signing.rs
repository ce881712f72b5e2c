//! The signatures: Steward's own webhook signature, and the two the robots of DingTalk and
//! Feishu ask for. All are HMAC-SHA256; they differ in what is the key and what the message.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// `X-Steward-Signature`: `sha256=` and the hex HMAC of `"{timestamp}.{body}"` under the
/// webhook's secret. The timestamp inside the signed text lets a receiver refuse replays.
pub fn webhook_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &message))
    )
}

/// DingTalk custom robot: base64 of the HMAC of `"{timestamp_ms}\n{secret}"` keyed with the
/// secret (the caller URL-encodes it into the query).
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let message = format!("{timestamp_ms}\n{secret}");
    base64::engine::general_purpose::STANDARD
        .encode(hmac_sha256(secret.as_bytes(), message.as_bytes()))
}

/// Feishu / Lark custom bot: base64 of the HMAC of the empty message keyed with
/// `"{timestamp_s}\n{secret}"` (their documented construction, key and message swapped).
pub fn feishu_sign(secret: &str, timestamp_s: i64) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    base64::engine::general_purpose::STANDARD.encode(hmac_sha256(key.as_bytes(), b""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn webhook_signature_covers_timestamp_and_body() {
        let a = webhook_signature("s3cret", 1_700_000_000, b"{}");
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64);
        assert_ne!(a, webhook_signature("s3cret", 1_700_000_001, b"{}"));
        assert_ne!(a, webhook_signature("s3cret", 1_700_000_000, b"{ }"));
    }
}
