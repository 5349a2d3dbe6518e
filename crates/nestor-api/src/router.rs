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
        (name = "terraform", description = "The Terraform/OpenTofu module registry protocol (docs/terraform.md)"),
    ),
    // The parts of a definition, named by the schemas built from the validation rules
    // (`nestor_model::limits`), which utoipa does not follow.
    components(schemas(
        Problem,
        ErrorCode,
        nestor_model::AcknowledgedChange,
        nestor_model::Input,
        nestor_model::Output,
        nestor_model::Dependency,
        nestor_model::ResourceLimits,
        nestor_model::Deprecation,
    ))
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
    let (api_router, openapi) = api_parts(crate::openapi::Access::of(&config.auth));
    let openapi_json = openapi.to_json().unwrap_or_else(|_| "{}".into());
    let state = Arc::new(AppState::new(catalog, sync, config.clone(), openapi_json));
    let auth = auth::Auth::new(config.auth.clone());
    // Every route is documented (registered through `routes::router`), except the documentation
    // UI's own files: see `UNDOCUMENTED_ROUTES`.
    let router = api_router
        .route(docs::DOCS_FOLDER_PATH, axum::routing::get(docs::folder))
        .route(docs::DOCS_ASSET_PATH, axum::routing::get(docs::asset))
        .merge(crate::web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            auth,
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn(metrics::record_http))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            (config.max_body_bytes, config.webhook_max_body_bytes),
            declared_too_large,
        ))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(axum::middleware::map_response(problem_bodies))
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
/// UI's own files (the page at the folder URL, its scripts, styles and icons) and the catalog
/// page's (HTML for people, docs/web.md). Every other route
/// is registered together with its documentation, so it cannot be served undocumented.
pub const UNDOCUMENTED_ROUTES: &[&str] = &[
    docs::DOCS_FOLDER_PATH,
    docs::DOCS_ASSET_PATH,
    // The catalog page (docs/web.md): HTML for people, not API operations.
    "/",
    "/components/{name}",
    "/components/{name}/diff",
    "/components/{name}/{version}",
    "/sources",
    "/sync-runs/{id}",
    "/engines",
    "/login",
    "/assets/{file}",
];

/// The OpenAPI document of a server whose every protected operation needs a token (tokens
/// configured, anonymous reads off): each operation's full requirement. A server serves the
/// document of its own configuration, [`openapi_for`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_parts(crate::openapi::Access::Tokens {
        anonymous_read: false,
    })
    .1
}

/// The OpenAPI document a server configured with `auth` serves at `/api/v1/openapi.json`: its
/// security follows what the server enforces (optional on reads while anonymous reads are on,
/// none at all while access control is off).
pub fn openapi_for(auth: &crate::AuthConfig) -> utoipa::openapi::OpenApi {
    api_parts(crate::openapi::Access::of(auth)).1
}

fn api_parts(access: crate::openapi::Access) -> (Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::router())
        .split_for_parts();
    crate::openapi::finish(&mut doc, access);
    (router, doc)
}

/// A request whose declared `Content-Length` is over the body limit is answered 413 at once,
/// without waiting for a body it will not read (a 10 GB declaration with 10 bytes sent waited for
/// the request timeout).
async fn declared_too_large(
    axum::extract::State((body_limit, webhook_limit)): axum::extract::State<(usize, usize)>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let limit = if request.uri().path().starts_with(WEBHOOKS_PATH) {
        webhook_limit
    } else {
        body_limit
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => ApiError::from(Problem::new(
            ErrorCode::PayloadTooLarge,
            format!("the request body is {n} bytes; this server accepts at most {limit}"),
        ))
        .into_response(),
        _ => next.run(request).await,
    }
}

/// Where the webhook routes are: they have their own body limit.
const WEBHOOKS_PATH: &str = "/api/v1/webhooks/";

/// Every error answer carries a problem body. Answers made below the handlers — the request
/// timeout's 408, a body extractor's plain-text 413 or 400 — become the problem of their status,
/// keeping their headers; problems pass through untouched.
async fn problem_bodies(response: axum::response::Response) -> axum::response::Response {
    use axum::http::StatusCode;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    let code = match status {
        _ if is_problem => return response,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::BAD_REQUEST => ErrorCode::MalformedBody,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        _ => return response,
    };
    let (parts, body) = response.into_parts();
    // What the layer that answered said, when it said anything (a short plain-text reason).
    let said = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let detail = match code {
        ErrorCode::RequestTimeout => {
            "the request was not answered within the server's request timeout; retry it".to_owned()
        }
        ErrorCode::PayloadTooLarge => {
            "the request body is larger than the server accepts".to_owned()
        }
        _ => said.unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned()),
    };
    let mut problem = ApiError::from(Problem::new(code, detail)).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}

async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    if crate::web::is_page(uri.path()) {
        return crate::web::not_found_page(uri.path());
    }
    ApiError::from(Problem::new(
        ErrorCode::NotFound,
        format!("no route for {}", uri.path()),
    ))
    .into_response()
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    Problem::new(
        ErrorCode::MethodNotAllowed,
        format!("{method} is not allowed on {}", uri.path()),
    )
    .into()
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::StatusCode, response::Response};

    use super::*;

    #[tokio::test]
    async fn bare_error_answers_become_problems() {
        let bare = Response::builder()
            .status(StatusCode::REQUEST_TIMEOUT)
            .header("x-request-id", "r1")
            .body(Body::empty())
            .unwrap();
        let answer = problem_bodies(bare).await;
        assert_eq!(answer.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(answer.headers()["content-type"], "application/problem+json");
        assert_eq!(answer.headers()["x-request-id"], "r1");
        let body = axum::body::to_bytes(answer.into_body(), 4096)
            .await
            .unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["code"], "request_timeout");
        assert_eq!(problem["retriable"], true);

        let ok = Response::builder()
            .status(StatusCode::OK)
            .body(Body::from("fine"))
            .unwrap();
        assert_eq!(problem_bodies(ok).await.status(), StatusCode::OK);
    }
}
