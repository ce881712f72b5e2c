//! `steward-bench`: a small closed-loop HTTP load generator for the Steward
//! server.
//!
//! It starts `--clients` tokio tasks that share one `reqwest::Client` and each
//! send requests back to back (a new request as soon as the previous response
//! body has been read) for `--warmup` + `--duration` seconds. Samples from the
//! warm-up phase are discarded. At the end it prints the number of successful
//! requests, errors grouped by HTTP status / transport failure, throughput and
//! latency percentiles, and optionally the server's memory usage read from
//! `/proc/<pid>/status`.
//!
//! Scenarios (see `README.md`):
//! * `create` — `POST /api/v1/tickets` with random mixed Chinese/English tickets.
//! * `queue`  — `GET /api/v1/tickets?team_id=N&status=...&sort=priority&limit=50`.
//! * `search` — `GET /api/v1/tickets?q=WORD&limit=50`.

use std::collections::BTreeMap;
use std::fmt;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, ValueEnum};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Client, RequestBuilder, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

/// Load generator for the Steward ITSM server.
#[derive(Parser, Debug)]
#[command(name = "steward-bench", version, about)]
struct Args {
    /// Base URL of the server (without the `/api/v1` suffix).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,

    /// API token, sent as `Authorization: Bearer <token>`. Team discovery
    /// (when `--team-ids` is omitted) needs an admin token.
    #[arg(long)]
    token: String,

    /// Which request mix to send.
    #[arg(long, value_enum)]
    scenario: Scenario,

    /// Number of concurrent client tasks (each keeps one request in flight).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    clients: u32,

    /// Measured duration in seconds (after the warm-up).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    duration: u64,

    /// Warm-up in seconds; requests started during it are not counted.
    #[arg(long, default_value_t = 3)]
    warmup: u64,

    /// Comma-separated team ids to use for `create` and `queue`. If omitted
    /// they are discovered with `GET /api/v1/teams`.
    #[arg(long, value_delimiter = ',')]
    team_ids: Vec<i64>,

    /// PID of the server process; its VmRSS/VmHWM are reported at the end.
    #[arg(long)]
    server_pid: Option<u32>,

    /// Per-request timeout in seconds (a timed-out request counts as an error).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,

    /// Print one JSON object instead of the human-readable table.
    #[arg(long)]
    json: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Create,
    Queue,
    Search,
}

impl Scenario {
    fn as_str(self) -> &'static str {
        match self {
            Scenario::Create => "create",
            Scenario::Queue => "queue",
            Scenario::Search => "search",
        }
    }
}

// ---------------------------------------------------------------------------
// Built-in data for generated requests
// ---------------------------------------------------------------------------

/// Ticket titles, deliberately mixing Chinese and English so that the
/// server's tokenizer / full-text index sees both.
const TITLES: &[&str] = &[
    "打印机无法连接网络",
    "VPN 连接断开",
    "邮箱无法登录",
    "laptop screen flickers",
    "忘记密码，需要重置",
    "printer out of toner",
    "会议室投影仪没有信号",
    "cannot access shared drive",
    "网络很慢，网页打不开",
    "Outlook 邮箱同步失败",
    "new employee needs a laptop",
    "申请开通 VPN 账号",
    "password expired, cannot log in",
    "显示器闪烁",
    "Wi-Fi 信号差",
    "请安装 Office 软件",
];

/// Where the problem happened; prefixed to the title for more variety.
const LOCATIONS: &[&str] = &[
    "3楼",
    "北京办公室",
    "上海分公司",
    "财务部",
    "HQ",
    "Shanghai office",
    "sales team",
    "warehouse",
];

/// Sentences combined into the description.
const DETAILS: &[&str] = &[
    "从今天早上开始出现这个问题。",
    "重启电脑以后还是不行。",
    "同事的电脑也有同样的问题。",
    "It started after the latest Windows update.",
    "Rebooting did not help.",
    "错误提示：连接超时 (timeout)。",
    "This blocks the month-end report, please handle ASAP.",
    "用户说 printer 显示 offline。",
    "VPN client shows error 809.",
    "邮箱提示密码错误，但是密码是对的。",
    "The network cable was replaced yesterday.",
    "请尽快处理，谢谢！",
];

/// Search terms for the `search` scenario; all of them occur in the
/// generated tickets above so searches return hits once data exists.
const QUERIES: &[&str] = &[
    "打印机",
    "网络",
    "邮箱",
    "VPN",
    "printer",
    "password",
    "密码",
    "登录",
    "laptop",
    "显示器",
    "会议室",
    "screen",
    "network",
    "账号",
    "Outlook",
    "timeout",
];

const LEVELS: &[&str] = &["high", "medium", "low"];

/// Statuses of an "open" ticket, used by the queue page.
const OPEN_STATUSES: &str = "new,assigned,in_progress,pending";

// ---------------------------------------------------------------------------
// Random numbers (xorshift64*, no `rand` dependency needed)
// ---------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    /// Seeds from the wall clock mixed with `stream`, so every task gets a
    /// different sequence. Not cryptographic; only used to vary requests.
    fn seeded(stream: u64) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x1234_5678);
        // splitmix64 finaliser to spread similar seeds apart.
        let mut z = nanos ^ stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 1 } else { z }) // xorshift state must be non-zero
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish index in `0..n` (modulo bias is irrelevant here). `n > 0`.
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Random element of a non-empty slice of `Copy` values (`&str`, ids).
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

// ---------------------------------------------------------------------------
// Workload: what a single request looks like for each scenario
// ---------------------------------------------------------------------------

/// Pre-computed request targets, shared read-only by all tasks. URLs are
/// built (and percent-encoded) once up front so the client spends as little
/// CPU as possible per request — on a small machine it competes with the
/// server for cores.
enum Workload {
    /// `POST` to `url`; `team_ids` may be empty (then `team_id` is omitted).
    Create { url: Url, team_ids: Vec<i64> },
    /// One queue-page URL per team.
    Queue { urls: Vec<Url> },
    /// One search URL per query word.
    Search { urls: Vec<Url> },
}

impl Workload {
    /// Builds the next request and the status code that counts as success.
    fn next_request(&self, client: &Client, rng: &mut Rng) -> (RequestBuilder, StatusCode) {
        match self {
            Workload::Create { url, team_ids } => {
                let title = format!("{}: {}", rng.pick(LOCATIONS), rng.pick(TITLES));
                let sentences = 1 + rng.below(3);
                let mut description = String::new();
                for _ in 0..sentences {
                    if !description.is_empty() {
                        description.push(' ');
                    }
                    description.push_str(rng.pick(DETAILS));
                }
                // Mostly incidents, some service requests.
                let kind = if rng.below(10) < 7 {
                    "incident"
                } else {
                    "service_request"
                };
                let mut body = json!({
                    "kind": kind,
                    "title": title,
                    "description": description,
                    "impact": rng.pick(LEVELS),
                    "urgency": rng.pick(LEVELS),
                });
                if !team_ids.is_empty() {
                    body["team_id"] = json!(rng.pick(team_ids));
                }
                (client.post(url.clone()).json(&body), StatusCode::CREATED)
            }
            Workload::Queue { urls } | Workload::Search { urls } => (
                client.get(urls[rng.below(urls.len())].clone()),
                StatusCode::OK,
            ),
        }
    }
}

fn build_workload(base: &str, scenario: Scenario, team_ids: &[i64]) -> Result<Workload, String> {
    let tickets = format!("{base}/api/v1/tickets");
    let parse = |s: &str| Url::parse(s).map_err(|e| format!("invalid URL {s:?}: {e}"));
    Ok(match scenario {
        Scenario::Create => Workload::Create {
            url: parse(&tickets)?,
            team_ids: team_ids.to_vec(),
        },
        Scenario::Queue => {
            if team_ids.is_empty() {
                return Err("the queue scenario needs at least one team id".into());
            }
            // Written out literally (ASCII only) so the commas stay unescaped,
            // exactly as in the API contract.
            let urls = team_ids
                .iter()
                .map(|id| {
                    parse(&format!(
                        "{tickets}?team_id={id}&status={OPEN_STATUSES}&sort=priority&limit=50"
                    ))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Workload::Queue { urls }
        }
        Scenario::Search => {
            let base_url = parse(&tickets)?;
            let urls = QUERIES
                .iter()
                .map(|q| {
                    // query_pairs_mut percent-encodes the Chinese words.
                    let mut u = base_url.clone();
                    u.query_pairs_mut()
                        .append_pair("q", q)
                        .append_pair("limit", "50");
                    u
                })
                .collect();
            Workload::Search { urls }
        }
    })
}

/// `GET /api/v1/teams` response (only the fields we need).
#[derive(Deserialize)]
struct TeamList {
    items: Vec<TeamItem>,
}

#[derive(Deserialize)]
struct TeamItem {
    id: i64,
}

/// Fetches the team ids from the server (needs an admin token).
async fn discover_teams(client: &Client, base: &str) -> Result<Vec<i64>, String> {
    let url = format!("{base}/api/v1/teams");
    let resp = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status();
    if status != StatusCode::OK {
        let body = resp.text().await.unwrap_or_default();
        return Err(format!("GET {url}: HTTP {status}: {body}"));
    }
    let list: TeamList = resp
        .json()
        .await
        .map_err(|e| format!("GET {url}: bad response body: {e}"))?;
    Ok(list.items.into_iter().map(|t| t.id).collect())
}

// ---------------------------------------------------------------------------
// Running the load
// ---------------------------------------------------------------------------

/// Why a request did not count as a success. Ordered so the report lists
/// HTTP statuses first, then transport errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ErrorKind {
    /// Response arrived but with an unexpected status code.
    Status(u16),
    /// No (complete) response: connect/timeout/body/... failure.
    Transport(&'static str),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Status(code) => write!(f, "http_{code}"),
            ErrorKind::Transport(what) => write!(f, "transport_{what}"),
        }
    }
}

fn classify(e: &reqwest::Error) -> ErrorKind {
    ErrorKind::Transport(if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else if e.is_request() {
        "request"
    } else {
        "other"
    })
}

/// Sends one request and reads the whole response body (so latency covers
/// the full response and the connection returns to the pool).
async fn send_one(client: &Client, workload: &Workload, rng: &mut Rng) -> Result<(), ErrorKind> {
    let (request, expected) = workload.next_request(client, rng);
    let resp = request.send().await.map_err(|e| classify(&e))?;
    let status = resp.status();
    let body = resp.bytes().await;
    if status != expected {
        return Err(ErrorKind::Status(status.as_u16()));
    }
    body.map(drop).map_err(|e| classify(&e))
}

/// Pause after a transport error (connect refused etc.) before retrying.
const TRANSPORT_ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// What one client task measured.
#[derive(Default)]
struct TaskStats {
    /// Latencies of successful requests, in microseconds.
    latencies_us: Vec<u64>,
    errors: BTreeMap<ErrorKind, u64>,
}

/// One client: sends requests back to back until `end`. Requests that start
/// before `measure_start` are warm-up and not recorded; a request still in
/// flight at `end` is abandoned and not counted either.
async fn client_task(
    index: u64,
    client: Client,
    workload: Arc<Workload>,
    measure_start: Instant,
    end: Instant,
) -> TaskStats {
    let mut rng = Rng::seeded(index);
    let mut stats = TaskStats::default();
    loop {
        let started = Instant::now();
        if started >= end {
            break;
        }
        let result =
            match tokio::time::timeout_at(end, send_one(&client, &workload, &mut rng)).await {
                Ok(result) => result,
                Err(_deadline) => break,
            };
        let latency = started.elapsed();
        let measured = started >= measure_start; // else: warm-up, discard
        match result {
            Ok(()) if measured => stats
                .latencies_us
                .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX)),
            Ok(()) => {}
            Err(kind) => {
                if measured {
                    *stats.errors.entry(kind).or_default() += 1;
                }
                // A refused/broken connection fails instantly; back off a
                // little so a dead server doesn't turn this into a busy loop
                // that steals CPU from everything else on the machine.
                if matches!(kind, ErrorKind::Transport(_)) {
                    tokio::time::sleep_until((Instant::now() + TRANSPORT_ERROR_BACKOFF).min(end))
                        .await;
                }
            }
        }
    }
    stats
}

// ---------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------

#[derive(Serialize)]
struct Report {
    scenario: &'static str,
    url: String,
    clients: u32,
    warmup_s: u64,
    duration_s: u64,
    requests_ok: u64,
    errors_total: u64,
    /// Error counts keyed by `http_<code>` or `transport_<kind>`.
    errors: BTreeMap<String, u64>,
    /// Successful requests per second over the measured duration.
    throughput_ok_per_s: f64,
    /// Latency of successful requests; `null` if there were none.
    latency_ms: Option<Latency>,
    /// Server memory at the end; `null` without `--server-pid`.
    server: Option<ServerMemory>,
}

#[derive(Serialize)]
struct Latency {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

#[derive(Serialize)]
struct ServerMemory {
    pid: u32,
    vm_rss_mb: f64,
    vm_hwm_mb: f64,
}

/// Rounds to 3 decimals to keep the JSON readable.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Nearest-rank percentile of a sorted, non-empty slice, in milliseconds.
fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted_us.len()) - 1;
    round3(sorted_us[idx] as f64 / 1000.0)
}

fn latency_summary(sorted_us: &[u64]) -> Option<Latency> {
    let max = *sorted_us.last()?;
    let sum: u128 = sorted_us.iter().map(|&v| u128::from(v)).sum();
    Some(Latency {
        p50: percentile_ms(sorted_us, 50.0),
        p90: percentile_ms(sorted_us, 90.0),
        p99: percentile_ms(sorted_us, 99.0),
        max: round3(max as f64 / 1000.0),
        mean: round3(sum as f64 / sorted_us.len() as f64 / 1000.0),
    })
}

/// Reads VmRSS and VmHWM (peak RSS) from `/proc/<pid>/status`, in MB.
fn read_server_memory(pid: u32) -> Result<ServerMemory, String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    // Lines look like "VmRSS:\t   12345 kB".
    let field_kb = |name: &str| -> Result<u64, String> {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| format!("{path}: no {name} line"))
    };
    Ok(ServerMemory {
        pid,
        vm_rss_mb: round3(field_kb("VmRSS:")? as f64 / 1024.0),
        vm_hwm_mb: round3(field_kb("VmHWM:")? as f64 / 1024.0),
    })
}

fn print_table(r: &Report) {
    println!("scenario        {}", r.scenario);
    println!("url             {}", r.url);
    println!("clients         {}", r.clients);
    println!(
        "duration        {} s (after {} s warm-up)",
        r.duration_s, r.warmup_s
    );
    println!("requests ok     {}", r.requests_ok);
    if r.errors.is_empty() {
        println!("errors          0");
    } else {
        let detail: Vec<String> = r.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        println!(
            "errors          {}  ({})",
            r.errors_total,
            detail.join(", ")
        );
    }
    println!("throughput      {:.1} ok/s", r.throughput_ok_per_s);
    match &r.latency_ms {
        Some(l) => {
            println!("latency p50     {:.2} ms", l.p50);
            println!("latency p90     {:.2} ms", l.p90);
            println!("latency p99     {:.2} ms", l.p99);
            println!("latency max     {:.2} ms", l.max);
            println!("latency mean    {:.2} ms", l.mean);
        }
        None => println!("latency         n/a (no successful requests)"),
    }
    if let Some(m) = &r.server {
        println!("server VmRSS    {:.1} MB (pid {})", m.vm_rss_mb, m.pid);
        println!("server VmHWM    {:.1} MB", m.vm_hwm_mb);
    }
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("steward-bench: error: {msg}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<ExitCode, String> {
    let base = args.url.trim_end_matches('/').to_string();

    // One client for all tasks: the token goes into a default header and the
    // idle pool is sized so every task can keep its keep-alive connection.
    let mut auth = HeaderValue::from_str(&format!("Bearer {}", args.token))
        .map_err(|_| "the token contains characters not allowed in a header".to_string())?;
    auth.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, auth);
    let client = Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(args.clients as usize)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(args.timeout))
        .build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))?;

    // Team ids: from the command line, or discovered from the server.
    let mut team_ids = args.team_ids.clone();
    if team_ids.is_empty() && args.scenario != Scenario::Search {
        team_ids = discover_teams(&client, &base).await?;
        if team_ids.is_empty() && args.scenario == Scenario::Create {
            eprintln!("steward-bench: warning: no teams found; creating tickets without team_id");
        }
    }
    let workload = Arc::new(build_workload(&base, args.scenario, &team_ids)?);

    eprintln!(
        "steward-bench: {} against {base}: {} clients, {} s warm-up + {} s measured{}",
        args.scenario.as_str(),
        args.clients,
        args.warmup,
        args.duration,
        if team_ids.is_empty() || args.scenario == Scenario::Search {
            String::new()
        } else {
            format!(", teams {team_ids:?}")
        },
    );

    let start = Instant::now();
    let measure_start = start + Duration::from_secs(args.warmup);
    let end = measure_start + Duration::from_secs(args.duration);

    let handles: Vec<_> = (0..args.clients)
        .map(|i| {
            tokio::spawn(client_task(
                u64::from(i),
                client.clone(),
                Arc::clone(&workload),
                measure_start,
                end,
            ))
        })
        .collect();

    // Merge the per-task results.
    let mut latencies: Vec<u64> = Vec::new();
    let mut errors: BTreeMap<ErrorKind, u64> = BTreeMap::new();
    for handle in handles {
        match handle.await {
            Ok(stats) => {
                latencies.extend(stats.latencies_us);
                for (kind, n) in stats.errors {
                    *errors.entry(kind).or_default() += n;
                }
            }
            Err(e) => eprintln!("steward-bench: warning: a client task failed: {e}"),
        }
    }
    latencies.sort_unstable();

    let server = args
        .server_pid
        .and_then(|pid| match read_server_memory(pid) {
            Ok(m) => Some(m),
            Err(e) => {
                eprintln!("steward-bench: warning: cannot read server memory: {e}");
                None
            }
        });

    let requests_ok = latencies.len() as u64;
    let report = Report {
        scenario: args.scenario.as_str(),
        url: base,
        clients: args.clients,
        warmup_s: args.warmup,
        duration_s: args.duration,
        requests_ok,
        errors_total: errors.values().sum(),
        errors: errors.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        throughput_ok_per_s: round3(requests_ok as f64 / args.duration as f64),
        latency_ms: latency_summary(&latencies),
        server,
    };

    if args.json {
        let text =
            serde_json::to_string(&report).map_err(|e| format!("cannot serialise report: {e}"))?;
        println!("{text}");
    } else {
        print_table(&report);
    }

    // Non-zero exit if nothing succeeded, so scripts notice a broken setup.
    Ok(if requests_ok == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
