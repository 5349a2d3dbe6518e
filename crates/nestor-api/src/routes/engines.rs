//! `/api/v1/engines…`: the deployment-engine registry, its health, and self-registration.

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use nestor_engines::{EngineRegistry, EngineStatus, RegisterError, Registration, Registry};
use nestor_model::{ErrorCode, Problem};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::{
    app::AppState,
    auth::Principal,
    error::ApiError,
    extract::{ApiPath, JsonBody, Params},
    routes::components::NoParams,
};

/// `GET /api/v1/engines`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EngineList {
    /// Every known engine by name: configured ones, registered ones, and expired registrations
    /// until they are forgotten.
    items: Vec<EngineStatus>,
    /// Whether publishes are checked against this registry (engine unknown, expired or
    /// unhealthy → rejected).
    enforced: bool,
}

fn registry(state: &AppState) -> Option<&Arc<Registry>> {
    state.config.engines.as_ref()
}

fn check_engine_name(name: &str) -> Result<(), ApiError> {
    nestor_model::ComponentName::parse(name)
        .map(|_| ())
        .map_err(|e| ApiError::invalid_parameter("name", format!("{name:?}: {e}")))
}

/// What a caller who is not an admin sees of a status: that a probe failed, not why (the
/// reason — refused, timed out, … — tells open ports from closed ones).
/// The change feed's `engine.status` events are redacted the same way.
pub(crate) fn without_probe_details(mut status: EngineStatus) -> EngineStatus {
    if let Some(error) = status.last_error.take() {
        if status.reason.as_deref().is_some_and(|r| r.contains(&error)) {
            status.reason = Some("its health checks failed (details for admins)".to_owned());
        }
        status.last_error = Some("the health probe failed (details for admins)".to_owned());
    }
    status
}

fn not_found(name: &str) -> ApiError {
    Problem::new(ErrorCode::NotFound, format!("no engine {name:?} is known"))
        .with_details(json!({ "engine": name }))
        .into()
}

/// Every deployment engine with its health.
#[utoipa::path(get, path = "/api/v1/engines", tag = "engines",
    responses((status = 200, description = "The engines, by name", body = EngineList)))]
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    principal: Option<axum::Extension<Principal>>,
    Params(_): Params<NoParams>,
) -> Json<EngineList> {
    let details = Principal::acting(principal, &state.config.auth).admin;
    Json(match registry(&state) {
        Some(r) => EngineList {
            items: r
                .list()
                .into_iter()
                .map(|s| if details { s } else { without_probe_details(s) })
                .collect(),
            enforced: r.settings().enforced,
        },
        None => EngineList {
            items: Vec::new(),
            enforced: false,
        },
    })
}

/// One engine with its health.
#[utoipa::path(get, path = "/api/v1/engines/{name}", tag = "engines",
    params(("name" = String, Path, description = "Engine name")),
    responses(
        (status = 200, description = "The engine", body = EngineStatus),
        (status = 400, description = "Malformed name", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown engine (never known, or expired and forgotten)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn get(
    State(state): State<Arc<AppState>>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(name): ApiPath<String>,
    Params(_): Params<NoParams>,
) -> Result<Json<EngineStatus>, ApiError> {
    check_engine_name(&name)?;
    let details = Principal::acting(principal, &state.config.auth).admin;
    registry(&state)
        .and_then(|r| r.status(&name))
        .map(|s| if details { s } else { without_probe_details(s) })
        .map(Json)
        .ok_or_else(|| not_found(&name))
}

/// Register an engine, or renew its registration (the heartbeat).
///
/// Repeat it before `ttl_seconds` pass, or the engine expires: definitions naming it are then
/// rejected (`ENGINE_UNKNOWN`) until it registers again. A repeat with a different health URL
/// or probe settings restarts health checking (health `unknown`). Engines of the server's
/// configuration cannot be registered (409).
#[utoipa::path(put, path = "/api/v1/engines/{name}", tag = "engines",
    params(("name" = String, Path, description = "Engine name, like a component name: `^[a-z][a-z0-9-]{0,62}$`")),
    request_body(content = Registration, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered (new, or back after expiring)", body = EngineStatus),
        (status = 200, description = "Registration renewed", body = EngineStatus),
        (status = 400, description = "Malformed name or field (the problem's `details.parameter` names it)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "This server has no engine registry", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is an engine of the server's configuration", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The registry is full (retry once registrations expire), or the token is over its write rate limit (`rate_limited`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn register(
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
    Params(_): Params<NoParams>,
    JsonBody(registration): JsonBody<Registration>,
) -> Result<Response, ApiError> {
    let Some(registry) = registry(&state) else {
        return Err(Problem::new(ErrorCode::NotFound, "this server has no engine registry").into());
    };
    match registry.register(&name, registration) {
        Ok(r) => {
            let status = if r.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(r.status)).into_response())
        }
        Err(e) => Err(match &e {
            RegisterError::InvalidName { message, .. } => {
                ApiError::invalid_parameter("name", format!("{name:?}: {message}"))
            }
            RegisterError::Invalid { field, message } => {
                ApiError::invalid_parameter(field, message)
            }
            RegisterError::Configured { name } => {
                Problem::new(ErrorCode::NameConflict, e.to_string())
                    .with_details(json!({ "name": name, "owner": "configuration" }))
                    .into()
            }
            RegisterError::Full { max } => Problem::new(ErrorCode::RateLimited, e.to_string())
                .with_details(json!({ "max_registered": max }))
                .into(),
        }),
    }
}
