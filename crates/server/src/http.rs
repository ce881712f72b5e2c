//! The HTTP server: state, the router (API, pages, operations endpoints), security headers,
//! metrics, and graceful shutdown.

use crate::app::App;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;
use tower_http::set_header::SetResponseHeaderLayer;

#[derive(Clone)]
pub struct AppState {
    pub app: App,
    /// Behind TLS: cookies get `Secure` and the `__Host-` prefix.
    pub secure_cookies: bool,
}

/// The process-wide Prometheus recorder (one per process, shared by servers started in tests).
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

async fn track_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("steward_http_requests_total", &labels).increment(1);
    metrics::histogram!("steward_http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    res
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database answers reads and the writer commits.
async fn readyz(State(s): State<AppState>) -> Response {
    let read = sqlx::query("SELECT 1")
        .execute(&s.app.store.pool)
        .await
        .map(|_| ());
    let write = match read {
        Ok(()) => s
            .app
            .store
            .write(|_| Box::pin(async { Ok::<_, steward_store::StoreError>(()) }))
            .await
            .map_err(|e| sqlx::Error::Protocol(e.to_string())),
        Err(e) => Err(e),
    };
    match write {
        Ok(_) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "database not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

async fn metrics_text() -> Response {
    let mut res = metrics_handle().render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    res
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

pub fn router(state: AppState) -> Router {
    metrics_handle();
    Router::new()
        .merge(crate::api::router(&state))
        .merge(crate::web::router())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route_layer(axum::middleware::from_fn(track_metrics))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .with_state(state)
}

/// Serves until ctrl-c or SIGTERM, then finishes the requests in flight and the queued writes.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    let store = state.app.store.clone();
    let sweeper = tokio::spawn(sweep_expired(state.app.clone()));
    let worker = tokio::spawn(crate::app::jobs::run_worker(
        state.app.clone(),
        crate::app::jobs::node_id(),
    ));
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    sweeper.abort();
    worker.abort();
    store.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Every ten minutes: removes expired sessions, and idempotency records and finished jobs older
/// than a day.
async fn sweep_expired(app: App) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        tick.tick().await;
        let limits = app.limits.clone();
        let result = app
            .store
            .write(move |ctx| {
                Box::pin(async move {
                    let now = steward_store::now_micros();
                    let idle = now - limits.session_idle_secs * 1_000_000;
                    let absolute = now - limits.session_absolute_secs * 1_000_000;
                    steward_store::accounts::delete_expired_sessions(&mut ctx.conn, idle, absolute)
                        .await?;
                    steward_store::tickets::delete_idempotent_responses_before(
                        &mut ctx.conn,
                        now - 86_400_000_000,
                    )
                    .await?;
                    steward_store::jobs::sweep_done(&mut ctx.conn, now - 86_400_000_000).await?;
                    Ok::<_, steward_store::StoreError>(())
                })
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "sweeping expired sessions failed");
        }
    }
}
