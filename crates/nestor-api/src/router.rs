//! The router: every route with its documentation (the OpenAPI document's root is here), the
//! middleware around them (request ids, tracing, panics, timeouts, body limits, metrics,
//! authentication, CORS), and the answers for unknown routes and methods.

use std::{sync::Arc, time::Duration};

use axum::{Router, extract::DefaultBodyLimit, http::header, response::IntoResponse};
use nestor_catalog::{Catalog, SyncManager};
use nestor_model::{ErrorCode, Problem};
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    app::{ApiConfig, AppState},
    auth, docs,
    error::ApiError,
    metrics, routes,
};

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
    sync: Option<Arc<SyncManager>>,
    config: ApiConfig,
) -> Router {
    let (api_router, openapi) = api_parts();
    let openapi_json = openapi.to_json().unwrap_or_else(|_| "{}".into());
    let state = Arc::new(AppState::new(catalog, sync, config.clone(), openapi_json));
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
    crate::openapi::finish(&mut doc);
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
