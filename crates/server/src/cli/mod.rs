//! The `steward` command: demo, serve, migrate, user and token administration, audit
//! verification, and seeding for benchmarks.

use crate::app::{accounts, auth, Actor, App, AppError, Limits};
use crate::http::{self, AppState};
use clap::{Parser, Subcommand};
use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;
use steward_core::Channel;
use steward_store::{audit, Store};

mod imap_bench;
mod impact_bench;
mod mailgate;
mod sla_bench;

#[derive(Parser)]
#[command(name = "steward", version, about = "Steward IT service management")]
struct Cli {
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB
    #[arg(
        long,
        env = "STEWARD_DATABASE_URL",
        global = true,
        default_value = "sqlite://steward.db"
    )]
    db: String,
    /// Where attachments are stored (a local directory).
    #[arg(long, env = "STEWARD_DATA_DIR", global = true, default_value = "data")]
    data_dir: String,
    /// Log as JSON lines.
    #[arg(long, env = "STEWARD_LOG_JSON", global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create (if empty) a database with demo data and serve it.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: String,
        /// The database for the demo.
        #[arg(long, default_value = "sqlite://steward-demo.db")]
        demo_db: String,
    },
    /// Serve the web pages and the API.
    Serve {
        #[arg(long, env = "STEWARD_BIND", default_value = "127.0.0.1:8080")]
        bind: String,
        /// Set behind TLS: cookies get Secure and the __Host- prefix.
        #[arg(long, env = "STEWARD_SECURE_COOKIES")]
        secure_cookies: bool,
    },
    /// Bring the schema up to this binary's version.
    Migrate,
    /// User accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Personal API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The hash-chained audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Load generated tickets (for benchmarks).
    Seed {
        #[arg(long, default_value_t = 10_000)]
        tickets: u64,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// Take one email from standard input into a mailbox (for an MTA pipe): stored and queued;
    /// the running server processes it. The exit code follows sendmail's sysexits: 0 stored, 75
    /// (EX_TEMPFAIL) try again later, 67 (EX_NOUSER) no such mailbox.
    Mailgate {
        /// The inbound address the message was sent to, as configured on /admin/mailboxes.
        #[arg(long)]
        mailbox: String,
    },
    /// Escalation sweep benchmark on an empty database (issue 3; see BENCHMARKS.md).
    #[command(hide = true)]
    BenchSweep {
        #[arg(long, default_value_t = 1_000_000)]
        tickets: i64,
        #[arg(long, default_value_t = 100_000)]
        open: i64,
        #[arg(long, default_value_t = 1_000)]
        due: i64,
    },
    /// CMDB impact benchmark on an empty database (issue 5; scripts/bench-impact.sh).
    #[command(hide = true)]
    BenchImpact {
        #[arg(long, default_value_t = 1_000)]
        queries: usize,
        #[arg(long, default_value_t = 5)]
        depth: u32,
    },
    /// IMAP drain benchmark on a fresh database (issue 4; scripts/bench-imap.sh).
    #[command(hide = true)]
    BenchImap {
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 993)]
        port: u16,
        /// tls, starttls or none
        #[arg(long, default_value = "tls")]
        security: String,
        #[arg(long)]
        username: String,
        #[arg(long, env = "STEWARD_BENCH_IMAP_PASSWORD")]
        password: String,
        #[arg(long, default_value = "INBOX")]
        folder: String,
        /// Measure the IMAP side alone: a no-op instead of the intake.
        #[arg(long)]
        no_intake: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from standard input.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: String,
        /// Team name (repeatable).
        #[arg(long)]
        team: Vec<String>,
        /// Customer organisation name.
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token for a user; the token is the last line printed.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the whole chain; exit non-zero naming the first entry that does not match.
    Verify,
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STEWARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_json);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Builds the app on an open store with a local attachment directory.
pub fn build_app(store: Store, data_dir: &str) -> Result<App, String> {
    Ok(App::new(
        store,
        Arc::new(blob_dir(data_dir)?),
        Limits::default(),
    ))
}

/// The local directory for attachments and raw mail, created if missing.
fn blob_dir(data_dir: &str) -> Result<object_store::local::LocalFileSystem, String> {
    std::fs::create_dir_all(data_dir).map_err(|e| format!("cannot create {data_dir}: {e}"))?;
    object_store::local::LocalFileSystem::new_with_prefix(data_dir)
        .map_err(|e| format!("cannot use {data_dir} for attachments: {e}"))
}

async fn open(db: &str) -> Result<Store, String> {
    Store::open(db, 16).await.map_err(|e| e.to_string())
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    let cli_actor = Actor::system(Channel::Cli);
    match cli.command {
        Command::Migrate => {
            let store = Store::open_unchecked(&cli.db, 2)
                .await
                .map_err(|e| e.to_string())?;
            let applied = store.migrate().await.map_err(|e| e.to_string())?;
            if applied.is_empty() {
                println!(
                    "the schema is up to date (version {})",
                    steward_store::schema::SCHEMA_VERSION
                );
            } else {
                println!("applied migrations {applied:?}");
            }
            store.close().await;
        }
        Command::Serve {
            bind,
            secure_cookies,
        } => {
            let store = open(&cli.db).await?;
            serve(store, &cli.data_dir, &bind, secure_cookies).await?;
        }
        Command::Demo { bind, demo_db } => {
            let db = if cli.db == "sqlite://steward.db" {
                demo_db
            } else {
                cli.db.clone()
            };
            let store = Store::open_unchecked(&db, 16)
                .await
                .map_err(|e| e.to_string())?;
            store.migrate().await.map_err(|e| e.to_string())?;
            let app = build_app(store.clone(), &cli.data_dir)?;
            let logins = crate::demo::load(&app).await.map_err(|e| e.to_string())?;
            println!(
                "\nSteward demo on {db}\n  open http://{bind}/\n  sign in as (password {}):",
                crate::demo::PASSWORD
            );
            for (email, role) in logins {
                println!("    {email:<28} {role}");
            }
            serve(store, &cli.data_dir, &bind, false).await?;
        }
        Command::User {
            command:
                UserCommand::Add {
                    email,
                    name,
                    role,
                    team,
                    org,
                },
        } => {
            let store = open(&cli.db).await?;
            let app = build_app(store.clone(), &cli.data_dir)?;
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .map_err(|e| e.to_string())?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            let mut conn = app.read().await.map_err(|e| e.to_string())?;
            let mut team_ids = Vec::new();
            for t in &team {
                let found = steward_store::accounts::team_by_name(&mut conn, t)
                    .await
                    .map_err(|e| e.to_string())?;
                team_ids.push(found.ok_or(format!("no team named {t}"))?.id);
            }
            let organization_id = match &org {
                Some(o) => Some(
                    steward_store::accounts::org_by_name(&mut conn, o)
                        .await
                        .map_err(|e| e.to_string())?
                        .ok_or(format!("no organisation named {o}"))?
                        .id,
                ),
                None => None,
            };
            drop(conn);
            let input = accounts::NewUserInput {
                email,
                name,
                role,
                password: Some(password),
                organization_id,
                team_ids,
                locale: None,
            };
            let user = accounts::create_user(&app, &cli_actor, input, None)
                .await
                .map_err(describe)?;
            println!(
                "created user {} ({}, id {})",
                user.email, user.role, user.id
            );
            store.close().await;
        }
        Command::Token {
            command: TokenCommand::Create { email, name },
        } => {
            let store = open(&cli.db).await?;
            let app = build_app(store.clone(), &cli.data_dir)?;
            let mut conn = app.read().await.map_err(|e| e.to_string())?;
            let user = steward_store::accounts::user_by_email(&mut conn, &email.to_lowercase())
                .await
                .map_err(|e| e.to_string())?
                .ok_or(format!("no user with email {email}"))?;
            let mut actor = Actor::load(&mut conn, user.id, Channel::Cli)
                .await
                .map_err(describe)?;
            drop(conn);
            actor.channel = Channel::Cli;
            let token = auth::create_token(&app, &actor, &name)
                .await
                .map_err(describe)?;
            println!("token {} for {} (shown once):", token.id, email);
            println!("{}", token.token);
            store.close().await;
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let store = open(&cli.db).await?;
            let mut conn = store.pool.acquire().await.map_err(|e| e.to_string())?;
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_message("verifying the audit chain");
            let result = audit::verify(&mut conn, |n| bar.set_position(n))
                .await
                .map_err(|e| e.to_string())?;
            bar.finish_and_clear();
            drop(conn);
            store.close().await;
            match result {
                audit::Verification::Intact { entries } => {
                    println!("audit chain intact: {entries} entries verified");
                }
                audit::Verification::Broken {
                    entries_checked,
                    seq,
                    reason,
                } => {
                    println!("audit chain BROKEN at entry {seq}: {reason} ({entries_checked} entries verified before it)");
                    return Ok(ExitCode::from(2));
                }
            }
        }
        Command::Seed {
            tickets,
            concurrency,
        } => {
            let store = open(&cli.db).await?;
            let app = build_app(store.clone(), &cli.data_dir)?;
            crate::demo::seed_tickets(&app, tickets, concurrency)
                .await
                .map_err(describe)?;
            store.close().await;
        }
        Command::Mailgate { mailbox } => {
            return Ok(mailgate::run(&cli.db, &cli.data_dir, &mailbox).await);
        }
        Command::BenchSweep { tickets, open, due } => {
            let options = sla_bench::Options { tickets, open, due };
            sla_bench::run(&cli.db, &cli.data_dir, options).await?;
        }
        Command::BenchImpact { queries, depth } => {
            let options = impact_bench::Options { queries, depth };
            impact_bench::run(&cli.db, &cli.data_dir, options).await?;
        }
        Command::BenchImap {
            host,
            port,
            security,
            username,
            password,
            folder,
            no_intake,
        } => {
            let options = imap_bench::Options {
                host,
                port,
                security,
                username,
                password,
                folder,
                no_intake,
            };
            imap_bench::run(&cli.db, &cli.data_dir, options).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(e: AppError) -> String {
    match e {
        AppError::Invalid { field, message } => format!("{field} {message}"),
        other => other.to_string(),
    }
}

async fn serve(
    store: Store,
    data_dir: &str,
    bind: &str,
    secure_cookies: bool,
) -> Result<(), String> {
    steward_store::search::warm_up();
    let app = build_app(store, data_dir)?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    tracing::info!(address = %bind, "serving");
    http::serve(
        listener,
        AppState {
            app,
            secure_cookies,
        },
    )
    .await
    .map_err(|e| e.to_string())
}
