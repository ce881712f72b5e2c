//! Where and how mail goes out, from the environment:
//!
//! - `STEWARD_SMTP_URL`: the SMTP server in lettre's URL form. `smtp://user:pass@host:587?tls=required`
//!   (STARTTLS, refused without it), `smtp://host:587?tls=opportunistic` (STARTTLS when offered),
//!   `smtps://user:pass@host:465` (TLS from the start), `smtp://127.0.0.1:2525` (plain; for a
//!   relay on loopback only). User and password are percent-encoded. Unset: mail is still
//!   recorded in the outbox, marked failed with "no SMTP server configured", so an admin sees it.
//! - `STEWARD_MAIL_FROM`: the From of every mail, default `Steward 服务台 <servicedesk@example.com>`;
//!   its domain also names Steward's Message-IDs.
//! - `STEWARD_PUBLIC_URL`: the base of links in mails, default `http://127.0.0.1:8080`.
//! - `STEWARD_EXTRA_CA_FILE`: a PEM file of CA certificates trusted besides the built-in roots
//!   (a company CA on the mail relay).
//!
//! The password is never logged: Debug shows only whether a server is configured.

use lettre::message::Mailbox;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransport, AsyncSmtpTransportBuilder};
use lettre::Tokio1Executor;
use std::sync::OnceLock;
use std::time::Duration;

pub const DEFAULT_FROM: &str = "Steward 服务台 <servicedesk@example.com>";
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";
/// How long one SMTP command may take before the attempt counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

pub type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Whether mail can go out, and why not.
#[derive(Clone)]
enum Smtp {
    NotConfigured,
    /// The URL or the CA file could not be used; the reason names no secret.
    Invalid(String),
    Ready(AsyncSmtpTransportBuilder),
}

pub struct Settings {
    smtp: Smtp,
    /// One pooled transport per Settings, built on first use (the pool needs the runtime).
    transport: OnceLock<Transport>,
    pub from: Mailbox,
    /// Without a trailing slash.
    pub public_url: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let smtp = match &self.smtp {
            Smtp::NotConfigured => "not configured",
            Smtp::Invalid(_) => "invalid",
            Smtp::Ready(_) => "configured",
        };
        f.debug_struct("Settings")
            .field("smtp", &smtp)
            .field("from", &self.from.to_string())
            .field("public_url", &self.public_url)
            .finish()
    }
}

impl Clone for Settings {
    fn clone(&self) -> Self {
        Settings {
            smtp: self.smtp.clone(),
            transport: OnceLock::new(),
            from: self.from.clone(),
            public_url: self.public_url.clone(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            smtp: Smtp::NotConfigured,
            transport: OnceLock::new(),
            from: default_from(),
            public_url: DEFAULT_PUBLIC_URL.into(),
        }
    }
}

/// [`DEFAULT_FROM`], built from its parts (a constant known to be valid).
fn default_from() -> Mailbox {
    Mailbox::new(
        Some("Steward 服务台".into()),
        lettre::Address::new_dangerous("servicedesk", "example.com"),
    )
}

/// The From address as configured, for code that has no Settings at hand (the rejection reply
/// queued inside the intake's transaction names its Message-ID with it).
pub fn configured_from() -> Mailbox {
    std::env::var("STEWARD_MAIL_FROM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(default_from)
}

impl Settings {
    pub fn from_env() -> Settings {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let from = match var("STEWARD_MAIL_FROM") {
            Some(v) => v.parse().unwrap_or_else(|e| {
                tracing::error!(error = %e, "STEWARD_MAIL_FROM is not an address; using the default");
                default_from()
            }),
            None => default_from(),
        };
        let ca = var("STEWARD_EXTRA_CA_FILE");
        let smtp = match var("STEWARD_SMTP_URL") {
            None => Smtp::NotConfigured,
            Some(url) => match ready(&url, ca.as_deref()) {
                Ok(s) => s,
                Err(reason) => {
                    tracing::error!(%reason, "STEWARD_SMTP_URL cannot be used; mail will not go out");
                    Smtp::Invalid(reason)
                }
            },
        };
        Settings {
            smtp,
            transport: OnceLock::new(),
            from,
            public_url: var("STEWARD_PUBLIC_URL")
                .unwrap_or_else(|| DEFAULT_PUBLIC_URL.into())
                .trim_end_matches('/')
                .to_string(),
        }
    }

    /// Settings for a given server (tests, tools); errors name no secret.
    pub fn new(
        smtp_url: Option<&str>,
        from: &str,
        public_url: &str,
        extra_ca_file: Option<&str>,
    ) -> Result<Settings, String> {
        let smtp = match smtp_url {
            None => Smtp::NotConfigured,
            Some(url) => ready(url, extra_ca_file)?,
        };
        Ok(Settings {
            smtp,
            transport: OnceLock::new(),
            from: from.parse().map_err(|e| format!("the From address: {e}"))?,
            public_url: public_url.trim_end_matches('/').to_string(),
        })
    }

    /// The domain of the From address, which names Steward's Message-IDs.
    pub fn domain(&self) -> &str {
        self.from.email.domain()
    }

    /// The transport, or why mail cannot go out.
    pub fn transport(&self) -> Result<&Transport, String> {
        match &self.smtp {
            Smtp::NotConfigured => Err("no SMTP server configured".into()),
            Smtp::Invalid(reason) => Err(format!("the SMTP settings are invalid: {reason}")),
            Smtp::Ready(builder) => Ok(self
                .transport
                .get_or_init(|| builder.clone().timeout(Some(SMTP_TIMEOUT)).build())),
        }
    }
}

/// Checks the URL and the CA file once, at start. lettre's URL parser sets TLS with the
/// built-in roots; with an extra CA file the same mode is set again with that CA added.
fn ready(url: &str, extra_ca_file: Option<&str>) -> Result<Smtp, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let builder = Transport::from_url(url).map_err(|e| redact(&e.to_string(), &parsed))?;
    let Some(path) = extra_ca_file else {
        return Ok(Smtp::Ready(builder));
    };
    let pem = std::fs::read(path).map_err(|e| format!("STEWARD_EXTRA_CA_FILE {path}: {e}"))?;
    let cert =
        Certificate::from_pem(&pem).map_err(|e| format!("STEWARD_EXTRA_CA_FILE {path}: {e}"))?;
    let host = parsed.host_str().unwrap_or_default().to_string();
    let params = TlsParameters::builder(host)
        .add_root_certificate(cert)
        .build_rustls()
        .map_err(|e| format!("TLS: {e}"))?;
    let tls_mode = parsed
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.to_string());
    let tls = match (parsed.scheme(), tls_mode.as_deref()) {
        ("smtps", _) => Tls::Wrapper(params),
        ("smtp", Some("required")) => Tls::Required(params),
        ("smtp", Some("opportunistic")) => Tls::Opportunistic(params),
        // Plain SMTP: nothing to trust.
        _ => return Ok(Smtp::Ready(builder)),
    };
    Ok(Smtp::Ready(builder.tls(tls)))
}

/// An error text with the URL's password taken out, should a parser echo it.
fn redact(text: &str, url: &reqwest::Url) -> String {
    match url.password() {
        Some(p) if !p.is_empty() => text.replace(p, "***"),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let s = Settings::new(
            Some("smtp://user:s3cret-pw@mail.example.com:587?tls=required"),
            DEFAULT_FROM,
            "https://desk.example.com/",
            None,
        )
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cret-pw"), "{shown}");
        assert!(shown.contains("configured"));
        assert_eq!(s.public_url, "https://desk.example.com");
        assert_eq!(s.domain(), "example.com");
    }

    #[test]
    fn a_bad_url_or_scheme_is_refused_and_no_server_is_a_reason() {
        assert!(Settings::new(Some("imap://host"), DEFAULT_FROM, "", None).is_err());
        assert!(Settings::new(Some("smtp://host?tls=never"), DEFAULT_FROM, "", None).is_err());
        let none = Settings::new(None, DEFAULT_FROM, "", None).unwrap();
        assert_eq!(
            none.transport().err().as_deref(),
            Some("no SMTP server configured")
        );
    }
}
