//! A real Dovecot IMAP server for one test: its own config, maildir and run directory in a temp
//! dir, listening on 127.0.0.1 on two free ports (STARTTLS and implicit TLS), with a
//! certificate from a test CA that the poller trusts through STEWARD_EXTRA_CA_FILE. Stopped and
//! removed on drop. A small IMAP client here lets a test put messages in and look at the folders.

use async_imap::types::Flag;
use async_imap::{Client, Session};
use futures::TryStreamExt;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

pub const USER: &str = "steward";
pub const PASSWORD: &str = "imap-Secret-7";

pub struct Dovecot {
    pub dir: PathBuf,
    /// STARTTLS
    pub imap_port: u16,
    /// implicit TLS
    pub imaps_port: u16,
    child: Child,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Hide the MOVE capability, so that the poller must COPY, flag \Deleted and EXPUNGE.
    pub without_move: bool,
}

/// The test CA and the server certificate, made once for all test processes in the target
/// directory (the poller reads its extra CA file once per process, so a process keeps one CA).
struct Certificates {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn certificates() -> &'static Certificates {
    static CERTS: OnceLock<Certificates> = OnceLock::new();
    CERTS.get_or_init(|| {
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let dir = tmp.join("imap-test-ca");
        if !dir.join("cert.pem").exists() {
            // Made aside and renamed into place, so that concurrent tests see all or nothing.
            let making = tmp.join(format!("imap-test-ca-{}", std::process::id()));
            std::fs::create_dir_all(&making).unwrap();
            std::fs::write(
                making.join("server.ext"),
                "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n\
                 basicConstraints=CA:FALSE\n",
            )
            .unwrap();
            for command in [
                "req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=Steward-test-CA \
                 -keyout ca.key -out ca.pem",
                "req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout key.pem -out server.csr",
                "x509 -req -days 3650 -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                 -extfile server.ext -out cert.pem",
            ] {
                let out = Command::new("openssl")
                    .args(command.split_whitespace())
                    .current_dir(&making)
                    .output()
                    .expect("openssl");
                assert!(
                    out.status.success(),
                    "openssl {command}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            if std::fs::rename(&making, &dir).is_err() {
                // Another test process got there first.
                let _ = std::fs::remove_dir_all(&making);
            }
        }
        Certificates {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Dovecot {
    /// Starts Dovecot and waits until it accepts connections. Also points the poller at the
    /// test CA (nextest runs each test in its own process).
    pub async fn start(options: Options) -> Dovecot {
        let certs = certificates();
        std::env::set_var(steward_server::app::inbound::imap::EXTRA_CA_ENV, &certs.ca);
        let dovecot = which("dovecot");
        // Dovecot drops to its own users; it will not deliver mail as root.
        assert!(
            is_root(),
            "the Dovecot tests start dovecot as root (it then runs as dovecot/dovenull)"
        );
        // A short path: Dovecot's unix sockets live under base_dir.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("stw-dc-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("home")).unwrap();
        let (imap_port, imaps_port) = (free_port(), free_port());
        std::fs::write(dir.join("passwd"), format!("{USER}:{{PLAIN}}{PASSWORD}\n")).unwrap();
        let capability = if options.without_move {
            // Dovecot's own list less MOVE.
            "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ \
             NAMESPACE UIDPLUS CHILDREN\n"
        } else {
            ""
        };
        let d = dir.display();
        let config = format!(
            "first_valid_uid = 1\n\
             base_dir = {d}/run\n\
             state_dir = {d}/state\n\
             log_path = {d}/dovecot.log\n\
             protocols = imap\n\
             # No login delays: a test logs in right after a deliberately failed login.\n\
             auth_failure_delay = 0\n\
             listen = 127.0.0.1\n\
             ssl = required\n\
             ssl_cert = <{cert}\n\
             ssl_key = <{key}\n\
             auth_mechanisms = plain login\n\
             default_login_user = dovenull\n\
             default_internal_user = dovecot\n\
             mail_location = maildir:{d}/home/Maildir\n\
             {capability}\
             passdb {{\n  driver = passwd-file\n  args = {d}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid=dovecot gid=dovecot home={d}/home\n}}\n\
             service anvil {{\n  unix_listener anvil-auth-penalty {{\n    mode = 0\n  }}\n}}\n\
             service imap-login {{\n\
               inet_listener imap {{\n    address = 127.0.0.1\n    port = {imap_port}\n  }}\n\
               inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imaps_port}\n    ssl = yes\n  }}\n\
             }}\n",
            cert = certs.cert.display(),
            key = certs.key.display(),
        );
        std::fs::write(dir.join("dovecot.conf"), config).unwrap();
        let status = Command::new("chown")
            .args(["-R", "dovecot:dovecot"])
            .arg(dir.join("home"))
            .status()
            .unwrap();
        assert!(status.success(), "chown the maildir to dovecot");
        let child = Command::new(dovecot)
            .arg("-F")
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dovecot");
        let dovecot = Dovecot {
            dir,
            imap_port,
            imaps_port,
            child,
        };
        for port in [imap_port, imaps_port] {
            dovecot.wait_for(port).await;
        }
        dovecot
    }

    async fn wait_for(&self, port: u16) {
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "Dovecot did not listen on {port}; its log: {}",
                std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Logs in as the test user over implicit TLS.
    pub async fn session(&self) -> Session<TlsStream<TcpStream>> {
        let mut roots = RootCertStore::empty();
        let pem = std::fs::read(&certificates().ca).unwrap();
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(("127.0.0.1", self.imaps_port))
            .await
            .unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap();
        let mut client = Client::new(tls);
        client.read_response().await.unwrap().unwrap();
        client
            .login(USER, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .unwrap()
    }

    /// Puts messages into a folder (created when missing) through IMAP APPEND.
    pub async fn append(&self, folder: &str, messages: &[Vec<u8>]) {
        let mut s = self.session().await;
        if folder != "INBOX" {
            let _ = s.create(folder).await;
        }
        for raw in messages {
            s.append(folder, None, None, raw).await.unwrap();
        }
        s.logout().await.unwrap();
    }

    /// The messages in a folder (an encoded name): UID, flags and raw bytes, in UID order.
    /// None when the folder does not exist.
    pub async fn messages(&self, folder: &str) -> Option<Vec<Stored>> {
        let mut s = self.session().await;
        if s.examine(folder).await.is_err() {
            return None;
        }
        let mut all: Vec<Stored> = s
            .uid_fetch("1:*", "(FLAGS BODY.PEEK[])")
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .into_iter()
            .map(|f| Stored {
                uid: f.uid.unwrap(),
                flags: f.flags().map(|f| flag_name(&f)).collect(),
                raw: f.body().unwrap_or_default().to_vec(),
            })
            .collect();
        s.logout().await.unwrap();
        all.sort_by_key(|m| m.uid);
        Some(all)
    }
}

#[derive(Debug, Clone)]
pub struct Stored {
    pub uid: u32,
    pub flags: Vec<String>,
    pub raw: Vec<u8>,
}

fn flag_name(flag: &Flag<'_>) -> String {
    match flag {
        Flag::Seen => "\\Seen".into(),
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Recent => "\\Recent".into(),
        Flag::MayCreate => "\\*".into(),
        Flag::Custom(name) => name.to_string(),
    }
}

fn which(program: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let path = Path::new(dir).join(program);
        if path.exists() {
            return path;
        }
    }
    panic!("{program} is not installed (Debian package dovecot-imapd; see scripts/setup.sh)");
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its login and mail processes with it.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
