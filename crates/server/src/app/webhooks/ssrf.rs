//! The guard against server-side request forgery: a webhook or bot URL may only reach the
//! public internet unless an admin allowed private targets for it. The host is resolved and
//! every address checked, at save time and again at each delivery; the delivery then connects
//! to the address that was checked, so a DNS answer that changes in between cannot redirect it.

use crate::app::{AppError, AppResult};
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const URL_MAX: usize = 2000;

/// Parses a target URL: http or https, a host, no user name or password.
pub fn parse_url(raw: &str) -> AppResult<Url> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(AppError::invalid("url", "is required"));
    }
    if raw.len() > URL_MAX {
        return Err(AppError::invalid(
            "url",
            format!("is longer than {URL_MAX} characters"),
        ));
    }
    // The WHATWG parser also reads numeric hosts (2130706433, 0x7f.1) as the IPv4 address
    // they mean, so they are checked like any other address.
    let url =
        Url::parse(raw).map_err(|e| AppError::invalid("url", format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(AppError::invalid("url", "must be an http or https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(AppError::invalid(
            "url",
            "must not contain a user name or password",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(AppError::invalid("url", "has no host"));
    }
    Ok(url)
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("a private network")
    } else if ip.is_link_local() {
        Some("link-local (cloud metadata)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("carrier-grade NAT")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() || a >= 240 {
        Some("broadcast or reserved")
    } else if ip.is_documentation() {
        Some("a documentation range")
    } else if a == 198 && (b == 18 || b == 19) {
        Some("a benchmarking range")
    } else if a == 192 && b == 0 && c == 0 {
        Some("reserved for protocol assignments")
    } else {
        None
    }
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    // Forms that carry an IPv4 address are judged by that address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_reason(v4);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        // IPv4-compatible ::a.b.c.d (deprecated, never a public target).
        return Some("an IPv4-compatible address");
    }
    if s[0] == 0x64 && s[1] == 0xff9b {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return v4_reason(v4);
    }
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return v4_reason(v4);
    }
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if s[0] & 0xfe00 == 0xfc00 {
        Some("a private network (unique local)")
    } else if s[0] & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        Some("a documentation range")
    } else {
        None
    }
}

/// Why this address is not a public target, or None when it is.
pub fn private_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

/// The address a URL names directly. The parser has already normalised IPv4 hosts to dotted
/// form and put IPv6 hosts in brackets, so anything else is a domain name.
fn literal_address(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        None => host.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
    }
}

/// Resolves the URL's host and checks every address; returns the one to connect to. The
/// message names the address and why it is refused.
pub async fn resolve(url: &Url, allow_private: bool) -> Result<SocketAddr, String> {
    let port = url
        .port_or_known_default()
        .ok_or_else(|| "the URL has no port".to_string())?;
    let addrs: Vec<SocketAddr> = match literal_address(url) {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => {
            let name = url
                .host_str()
                .ok_or_else(|| "the URL has no host".to_string())?;
            tokio::net::lookup_host((name, port))
                .await
                .map_err(|e| format!("the host {name} does not resolve: {e}"))?
                .collect()
        }
    };
    if !allow_private {
        for a in &addrs {
            if let Some(why) = private_reason(a.ip()) {
                return Err(format!(
                    "the host resolves to {} ({why}); private targets are not allowed",
                    a.ip()
                ));
            }
        }
    }
    addrs
        .first()
        .copied()
        .ok_or_else(|| "the host has no address".to_string())
}

/// The save-time check: a well-formed URL whose host resolves only to allowed addresses.
pub async fn check(raw: &str, allow_private: bool) -> AppResult<Url> {
    let url = parse_url(raw)?;
    resolve(&url, allow_private)
        .await
        .map_err(|why| AppError::invalid("url", why))?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> bool {
        private_reason(s.parse().unwrap()).is_some()
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2001:db8::1",
        ] {
            assert!(refused(a), "{a} must be refused");
        }
        for a in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2400:3200::1",
            "::ffff:1.1.1.1",
        ] {
            assert!(!refused(a), "{a} is public");
        }
    }

    #[test]
    fn numeric_hosts_are_read_as_the_address_they_mean() {
        for raw in [
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
        ] {
            let url = parse_url(raw).unwrap();
            assert_eq!(
                literal_address(&url),
                Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                "{raw}"
            );
        }
    }

    #[test]
    fn only_plain_http_urls() {
        assert!(parse_url("ftp://example.com/").is_err());
        assert!(parse_url("file:///etc/passwd").is_err());
        assert!(parse_url("https://user:pw@example.com/").is_err());
        assert!(parse_url("https://example.com/hook").is_ok());
    }
}
