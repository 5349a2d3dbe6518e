//! The HTTP API: axum routes under `/api/v1`, RFC 9457 problems, and the OpenAPI document that
//! `utoipa` generates from the handlers themselves (so it cannot drift from the router).
//!
//! Handlers are thin: parse and check the request, call the [`nestor_catalog::Catalog`], map the
//! result. Business rules do not live here. The one mapping from catalog errors to problems is
//! in [`error`].

pub mod auth;
mod docs;
pub mod error;
mod extract;
mod fanout;
pub mod metrics;
pub mod openapi;
mod routes;
mod sse;

use std::{sync::Arc, time::Duration};

use axum::{Router, extract::DefaultBodyLimit, http::header, response::IntoResponse};
use nestor_catalog::Catalog;
use nestor_model::{ErrorCode, Problem};
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use auth::{AuthConfig, RateLimit, Scope, Token};
pub use error::ApiError;
pub use routes::EventsConfig;
pub use tokio_util::sync::CancellationToken;

/// Limits and settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Requests taking longer are answered 408.
    pub request_timeout: Duration,
    /// Backend name reported by `/version`.
    pub storage_backend: String,
    /// The change feed (`/api/v1/events`).
    pub events: EventsConfig,
    /// Cancelled when the server shuts down: event streams end then, so that graceful
    /// shutdown is not held open by clients that would stream forever. Whoever drives
    /// [`serve`]'s shutdown must cancel it (as `nestor serve` does).
    pub shutdown: CancellationToken,
    /// Tokens, scopes, anonymous reads and the write rate limit.
    pub auth: AuthConfig,
    /// Origins allowed to call the API from a browser (CORS); empty: none, `*`: any.
    pub cors_origins: Vec<String>,
    /// The engine registry served under `/api/v1/engines` (the same one the catalog validates
    /// against, if it does), whose status changes are `engine.status` events on the change
    /// feed. `None`: the list is empty and registration answers 404.
    pub engines: Option<Arc<nestor_engines::Registry>>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            storage_backend: "unknown".into(),
            events: EventsConfig::default(),
            shutdown: CancellationToken::new(),
            auth: AuthConfig::default(),
            cors_origins: Vec::new(),
            engines: None,
        }
    }
}

/// Shared state of every handler.
pub struct AppState {
    /// The catalog.
    pub catalog: Arc<Catalog>,
    /// HTTP settings.
    pub config: ApiConfig,
    /// The OpenAPI document, serialized once at start-up.
    openapi_json: String,
    /// One permit per open event stream.
    pub(crate) subscribers: Arc<tokio::sync::Semaphore>,
    /// Sources and sync runs, when sources are configured.
    pub(crate) sync: Option<Arc<nestor_catalog::SyncManager>>,
    /// When the router was built (uptime in `/health/detailed`).
    pub(crate) started: std::time::Instant,
    /// The same, as a date.
    pub(crate) started_at: time::OffsetDateTime,
    /// The event streams' writers, started with the first stream (`None` inside: they could
    /// not start, and streams are served by their own tasks).
    fanout: std::sync::OnceLock<Option<Arc<fanout::Fanout>>>,
}

impl AppState {
    /// The fan-out, started on first use (from within the runtime).
    pub(crate) fn fanout(&self) -> Option<Arc<fanout::Fanout>> {
        self.fanout
            .get_or_init(|| {
                let events = &self.config.events;
                // Half the cores by default: the writers' work is mostly the kernel's TCP send
                // path, and the rest of the server (and the network stack's receive side) needs
                // the other half. On 2 cores with the load tool beside it, 1 writer gave p99
                // 138 ms at 10,000 streams, 2 gave 168 ms and 4 gave 398 ms
                // (docs/benchmarks.md).
                let threads = match events.fanout_threads {
                    0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
                    n => n,
                };
                let config = fanout::FanoutConfig {
                    threads,
                    journal_events: events.journal_events,
                    keep_alive: events.keep_alive,
                    bookmark_interval: events.bookmark_interval,
                };
                match fanout::Fanout::start(
                    self.catalog.clone(),
                    self.config.engines.clone(),
                    config,
                    self.config.shutdown.clone(),
                ) {
                    Ok(f) => Some(Arc::new(f)),
                    Err(e) => {
                        tracing::error!(error = %e, "could not start the event-stream writers; each stream gets its own task");
                        None
                    }
                }
            })
            .clone()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Nestor",
        description = "Global component catalog: infrastructure component definitions, validated, versioned and streamed.",
        license(name = "Apache-2.0"),
    ),
    tags(
        (name = "components", description = "Query and publish component versions"),
        (name = "validation", description = "Dry-run validation"),
        (name = "events", description = "The change feed (Server-Sent Events)"),
        (name = "sync", description = "Sources, sync runs and push webhooks"),
        (name = "engines", description = "Deployment engines: registry, health and self-registration"),
        (name = "operations", description = "Health, readiness, metrics and build information"),
        (name = "documentation", description = "This document and its browsable UI"),
    ),
    components(schemas(Problem, ErrorCode))
)]
struct ApiDoc;

/// Builds the router and the OpenAPI document for `catalog`.
pub fn router(catalog: Arc<Catalog>, config: ApiConfig) -> Router {
    router_with_sync(catalog, None, config)
}

/// [`router`], with the sources and sync runs of `sync` (sources, sync runs, webhooks).
pub fn router_with_sync(
    catalog: Arc<Catalog>,
    sync: Option<Arc<nestor_catalog::SyncManager>>,
    config: ApiConfig,
) -> Router {
    let (api_router, openapi) = api_parts();
    let openapi_json = openapi.to_json().unwrap_or_else(|_| "{}".into());
    let state = Arc::new(AppState {
        catalog,
        config: config.clone(),
        openapi_json,
        subscribers: Arc::new(tokio::sync::Semaphore::new(config.events.max_subscribers)),
        sync,
        started: std::time::Instant::now(),
        started_at: time::OffsetDateTime::now_utc(),
        fanout: std::sync::OnceLock::new(),
    });
    let auth = auth::Auth::new(config.auth.clone());
    // Every route is documented (registered through `routes::router`), except the documentation
    // UI's own files: see `UNDOCUMENTED_ROUTES`.
    let router = api_router
        .route(docs::DOCS_FOLDER_PATH, axum::routing::get(docs::folder))
        .route(docs::DOCS_ASSET_PATH, axum::routing::get(docs::asset))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            auth,
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn(metrics::record_http))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::from(Problem::new(
                ErrorCode::Internal,
                "the server hit a bug handling this request",
            ))
            .into_response()
        }))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        // The request id: the caller's `x-request-id`, or a new UUID; returned on the response
        // and recorded on the request's span.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    match cors_layer(&config.cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// The span of one request: method, path, request id, and (once authenticated) the token's name.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id,
        principal = tracing::field::Empty,
    )
}

/// CORS for browser clients, from the allowed origins (`*` allows any, without credentials).
fn cors_layer(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("last-event-id"),
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([
                HeaderName::from_static("x-request-id"),
                header::RETRY_AFTER,
                header::LOCATION,
            ])
            .max_age(Duration::from_secs(3600)),
    )
}

/// Routes the router serves that the OpenAPI document leaves out on purpose: the documentation
/// UI's own files (the page at the folder URL, its scripts, styles and icons). Every other route
/// is registered together with its documentation, so it cannot be served undocumented.
pub const UNDOCUMENTED_ROUTES: &[&str] = &[docs::DOCS_FOLDER_PATH, docs::DOCS_ASSET_PATH];

/// The OpenAPI document the server serves at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_parts().1
}

fn api_parts() -> (Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::router())
        .split_for_parts();
    openapi::finish(&mut doc);
    (router, doc)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    Problem::new(ErrorCode::NotFound, format!("no route for {}", uri.path())).into()
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    Problem::new(
        ErrorCode::MethodNotAllowed,
        format!("{method} is not allowed on {}", uri.path()),
    )
    .into()
}

/// Largest amount of response data queued for one connection before its response body stops
/// being polled. It bounds the memory of a slow event-stream reader (hyper's default, ~400 KiB,
/// meant ~400 MiB for 1,000 readers that fell behind); beyond it, a lagging stream waits and
/// later catches up from the event log. It also bounds request headers.
pub const CONNECTION_BUFFER_BYTES: usize = 16 * 1024;

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// in-flight requests to finish. Event streams end when [`ApiConfig::shutdown`] is cancelled,
/// which the `shutdown` future should do.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait, then accept again.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (router, watcher) = (router.clone(), graceful.watcher());
        let fut = async move {
            // Event streams skip hyper's connection machinery (see `sse`): with 10,000
            // subscribers its two 8 KiB buffers per connection were most of the memory.
            // Each branch is boxed, so that a connection's task holds the state of the one it
            // takes, not the larger of both.
            if sse::is_event_stream_request(&stream).await {
                Box::pin(sse::serve_event_stream(stream, router)).await;
                return;
            }
            let service = hyper_util::service::TowerToHyperService::new(router);
            let connection = hyper::server::conn::http1::Builder::new()
                .max_buf_size(CONNECTION_BUFFER_BYTES)
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = Box::pin(watcher.watch(connection)).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        };
        tokio::spawn(fut);
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
