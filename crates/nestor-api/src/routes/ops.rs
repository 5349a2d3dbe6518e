//! Operations endpoints: liveness, readiness, build information.

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use nestor_model::{HealthStatus, VersionInfo};

use crate::AppState;

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "Alive", body = HealthStatus)))]
pub(crate) async fn health() -> Json<HealthStatus> {
    Json(HealthStatus {
        status: "ok".into(),
        reason: None,
        revision: None,
    })
}

/// Readiness: the store answers.
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = HealthStatus),
        (status = 503, description = "Store unreachable", body = HealthStatus),
    ))]
pub(crate) async fn ready(State(state): State<Arc<AppState>>) -> (StatusCode, Json<HealthStatus>) {
    let store = state.catalog.store();
    match store.current_revision().await {
        Ok(revision) => (
            StatusCode::OK,
            Json(HealthStatus {
                status: "ok".into(),
                reason: None,
                revision: Some(revision),
            }),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(HealthStatus {
                    status: "unavailable".into(),
                    reason: Some(e.to_string()),
                    revision: None,
                }),
            )
        }
    }
}

/// Build information.
#[utoipa::path(get, path = "/version", tag = "operations",
    responses((status = 200, description = "Server version", body = VersionInfo)))]
pub(crate) async fn version(State(state): State<Arc<AppState>>) -> Json<VersionInfo> {
    Json(VersionInfo {
        name: "nestor".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        storage_backend: state.config.storage_backend.clone(),
    })
}
