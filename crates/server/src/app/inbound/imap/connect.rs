//! Opening an IMAP session: TCP, then implicit TLS, STARTTLS or (loopback only) plain text,
//! then LOGIN, each step under a time limit.

use super::{within, Failure, CONNECT_TIMEOUT, LOGIN_TIMEOUT};
use async_imap::{Client, Session};
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use steward_store::imap::ImapMailbox;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// Names a PEM file of CA certificates trusted besides the public roots (an internal CA).
pub const EXTRA_CA_ENV: &str = "STEWARD_EXTRA_CA_FILE";

/// The byte stream under a session: TLS in production, plain text on loopback.
pub trait ImapIo: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> ImapIo for T {}

pub type ImapSession = Session<Box<dyn ImapIo>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// TLS from the first byte (port 993).
    Tls,
    /// Plain text upgraded by STARTTLS before login (port 143).
    StartTls,
    /// No encryption at all; only to a loopback address.
    None,
}

impl Security {
    fn of(mailbox: &ImapMailbox) -> Result<Security, Failure> {
        match mailbox.security.as_deref().unwrap_or("tls") {
            "tls" => Ok(Security::Tls),
            "starttls" => Ok(Security::StartTls),
            "none" => Ok(Security::None),
            other => Err(Failure(format!(
                "unknown IMAP security {other:?} (use tls, starttls or none)"
            ))),
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Security::Tls => 993,
            Security::StartTls | Security::None => 143,
        }
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Connects and logs in to the mailbox's server.
pub async fn open(mailbox: &ImapMailbox) -> Result<ImapSession, Failure> {
    let security = Security::of(mailbox)?;
    let host = mailbox.host.trim();
    if security == Security::None && !is_loopback(host) {
        return Err(Failure(format!(
            "refusing plain-text IMAP to {host}: the password would cross the network \
             unencrypted; use tls or starttls (plain text is allowed to a loopback address only)"
        )));
    }
    let port = match mailbox.port {
        Some(p) => u16::try_from(p).map_err(|_| Failure(format!("bad IMAP port {p}")))?,
        None => security.default_port(),
    };
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
        .await
        .map_err(|_| Failure(format!("connecting to {host}:{port} timed out")))?
        .map_err(|e| Failure(format!("cannot connect to {host}:{port}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let client: Client<Box<dyn ImapIo>> = match security {
        Security::Tls => {
            let tls = tls_handshake(host, tcp).await?;
            let mut client = Client::new(tls);
            greeting(&mut client).await?;
            client
        }
        Security::StartTls => {
            let mut plain = Client::new(tcp);
            greeting(&mut plain).await?;
            within(
                "STARTTLS",
                CONNECT_TIMEOUT,
                plain.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            // No greeting follows the handshake.
            Client::new(tls_handshake(host, plain.into_inner()).await?)
        }
        Security::None => {
            let tcp: Box<dyn ImapIo> = Box::new(tcp);
            let mut client = Client::new(tcp);
            greeting(&mut client).await?;
            client
        }
    };
    let username = mailbox.username.as_deref().unwrap_or_default();
    let password = mailbox.password.as_deref().unwrap_or_default();
    match tokio::time::timeout(LOGIN_TIMEOUT, client.login(username, password)).await {
        Err(_) => Err(Failure("the IMAP login timed out".into())),
        Ok(Err((e, _))) => Err(Failure(format!("the IMAP login was refused: {e}"))),
        Ok(Ok(session)) => Ok(session),
    }
}

async fn greeting<T: ImapIo>(client: &mut Client<T>) -> Result<(), Failure> {
    match tokio::time::timeout(CONNECT_TIMEOUT, client.read_response()).await {
        Err(_) => Err(Failure("the IMAP server sent no greeting in time".into())),
        Ok(None) => Err(Failure("the IMAP server closed the connection".into())),
        Ok(Some(Err(e))) => Err(Failure(format!("reading the IMAP greeting: {e}"))),
        Ok(Some(Ok(_))) => Ok(()),
    }
}

async fn tls_handshake(host: &str, tcp: TcpStream) -> Result<Box<dyn ImapIo>, Failure> {
    let config = tls_config()?;
    let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']'))
        .map_err(|e| Failure(format!("{host} is not a valid TLS server name: {e}")))?
        .to_owned();
    let tls = tokio::time::timeout(
        CONNECT_TIMEOUT,
        TlsConnector::from(config).connect(name, tcp),
    )
    .await
    .map_err(|_| Failure(format!("the TLS handshake with {host} timed out")))?
    .map_err(|e| Failure(format!("the TLS handshake with {host} failed: {e}")))?;
    Ok(Box::new(tls))
}

/// The public roots plus the extra CA file, read once per process.
fn tls_config() -> Result<Arc<ClientConfig>, Failure> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(build_tls_config)
        .clone()
        .map_err(Failure)
}

fn build_tls_config() -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = std::env::var_os(EXTRA_CA_ENV).filter(|p| !p.is_empty()) {
        let shown = std::path::Path::new(&path).display().to_string();
        let file =
            std::fs::File::open(&path).map_err(|e| format!("{EXTRA_CA_ENV} {shown}: {e}"))?;
        let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(file))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{EXTRA_CA_ENV} {shown}: {e}"))?;
        if certs.is_empty() {
            return Err(format!("{EXTRA_CA_ENV} {shown} holds no PEM certificate"));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("{EXTRA_CA_ENV} {shown}: {e}"))?;
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn only_loopback_hosts_count_as_loopback() {
        for host in ["localhost", "127.0.0.1", "127.8.9.1", "::1", "[::1]"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "imap.example.com",
            "10.0.0.1",
            "192.168.1.2",
            "localhost.evil",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
