//! Operations endpoints: liveness, readiness, detailed health, build information, and the
//! OpenAPI document.

use std::{sync::Arc, time::Duration};

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use nestor_catalog::Catalog;
use nestor_engines::{EngineHealth, EngineRegistry, EngineSource};
use nestor_model::{HealthStatus, Revision, SyncStatus, VersionInfo};
use nestor_storage::SchemaStatus;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{app::AppState, routes::sync::SourceView};

/// How long a health check waits for the store before calling it unreachable: probes must
/// answer even when the store hangs.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

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

/// What one round of store checks found.
struct StoreCheck {
    /// The current revision, when the store answered.
    revision: Result<Revision, String>,
    /// The schema, when the store answered.
    schema: Result<SchemaStatus, String>,
    /// How long the revision read took.
    latency: Duration,
}

impl StoreCheck {
    async fn run(catalog: &Catalog) -> StoreCheck {
        let started = std::time::Instant::now();
        let revision = bounded("current_revision", catalog.current_revision()).await;
        let latency = started.elapsed();
        let schema = match &revision {
            Ok(_) => bounded("schema_status", catalog.schema_status()).await,
            Err(e) => Err(e.clone()),
        };
        StoreCheck {
            revision,
            schema,
            latency,
        }
    }

    /// Why the store is not ready, if it is not.
    fn problem(&self) -> Option<String> {
        match (&self.revision, &self.schema) {
            (Err(e), _) | (_, Err(e)) => Some(e.clone()),
            (Ok(_), Ok(schema)) if !schema.is_current() => Some(format!(
                "the store's schema version is {}, this build needs {}: run `nestor migrate`",
                version_text(schema.applied),
                version_text(schema.expected),
            )),
            _ => None,
        }
    }
}

fn version_text(v: Option<u32>) -> String {
    v.map_or_else(|| "unversioned".to_owned(), |v| v.to_string())
}

async fn bounded<T, E: std::fmt::Display>(
    operation: &str,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(STORE_CHECK_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "the store did not answer {operation} within {} s",
            STORE_CHECK_TIMEOUT.as_secs()
        )),
    }
}

/// Readiness: the store answers and its schema is current (every migration this build knows is
/// applied). 503 otherwise, with the reason.
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses(
        (status = 200, description = "Ready, with the current catalog revision", body = HealthStatus),
        (status = 503, description = "The store does not answer, or its schema is not current (`reason` says which)", body = HealthStatus),
    ))]
pub(crate) async fn ready(State(state): State<Arc<AppState>>) -> (StatusCode, Json<HealthStatus>) {
    let check = StoreCheck::run(&state.catalog).await;
    // `Empty`: nothing builds the index ahead of use (an embedded router): the first query
    // builds it.
    let index = match state.catalog.index().status() {
        nestor_catalog::IndexStatus::Building { done, of } => Some(format!(
            "building the catalog index: {done} of {of} versions"
        )),
        nestor_catalog::IndexStatus::Ready { .. } | nestor_catalog::IndexStatus::Empty => None,
    };
    let problem = state
        .config
        .startup
        .pending_reason()
        .or(index)
        .or(check.problem());
    match (problem, check.revision) {
        (None, Ok(revision)) => (
            StatusCode::OK,
            Json(HealthStatus {
                status: "ok".into(),
                reason: None,
                revision: Some(revision),
            }),
        ),
        (problem, revision) => {
            let reason = problem.unwrap_or_else(|| "the store did not answer".into());
            tracing::warn!(reason, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(HealthStatus {
                    status: "unavailable".into(),
                    reason: Some(reason),
                    revision: revision.ok(),
                }),
            )
        }
    }
}

/// Overall state in `/health/detailed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OverallStatus {
    /// Everything checked is fine.
    Ok,
    /// Serving, but something needs attention: an engine is unhealthy, a source's last sync run
    /// failed, or the sources could not be read.
    Degraded,
    /// Not able to serve: the store does not answer or its schema is not current (HTTP 503).
    Unavailable,
}

/// The store in `/health/detailed`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StoreHealth {
    /// Backend name (`sqlite`, `memory`, …).
    backend: String,
    /// Whether it answered.
    reachable: bool,
    /// How long reading the current revision took, in milliseconds.
    latency_ms: f64,
    /// Schema version of the store (absent for backends without versioned migrations, or when it
    /// did not answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_version: Option<u32>,
    /// Schema version this build needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_schema_version: Option<u32>,
    /// Whether every migration this build knows is applied.
    schema_current: bool,
    /// What went wrong, when something did.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The read cache in `/health/detailed`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CacheHealth {
    /// Component reads answered from memory since start-up.
    hits: u64,
    /// Component reads that went to the store since start-up.
    misses: u64,
    /// `hits / (hits + misses)`; absent before the first read.
    #[serde(skip_serializing_if = "Option::is_none")]
    hit_ratio: Option<f64>,
}

/// The catalog index in `/health/detailed`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IndexHealth {
    /// `ready`, `building` or `empty` (built on first use).
    status: &'static str,
    /// Versions indexed (while building: so far).
    versions: u64,
    /// While building: versions in the snapshot being indexed.
    #[serde(skip_serializing_if = "Option::is_none")]
    of: Option<u64>,
    /// Distinct words in the text index.
    terms: usize,
    /// Every change up to this revision is applied.
    #[schema(value_type = u64)]
    revision: nestor_model::Revision,
}

/// One engine in `/health/detailed` (`GET /api/v1/engines/{name}` has everything).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EngineSummary {
    /// Engine name.
    name: String,
    /// Configured or registered.
    source: EngineSource,
    /// Current health.
    health: EngineHealth,
    /// Whether definitions may name it now.
    usable: bool,
    /// Why it is not usable, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// The engine registry in `/health/detailed`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EnginesHealth {
    /// Whether publishes are checked against the registry.
    enforced: bool,
    /// Every known engine.
    items: Vec<EngineSummary>,
}

/// Open event streams in `/health/detailed`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubscribersHealth {
    /// Streams open now.
    active: usize,
    /// Most streams served at once (`events.max_subscribers`).
    max: usize,
}

/// `GET /health/detailed`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DetailedHealth {
    /// `ok`, `degraded` (200) or `unavailable` (503).
    status: OverallStatus,
    /// Why the status is not `ok`, one line each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    reasons: Vec<String>,
    /// Server version.
    version: String,
    /// Current catalog revision, when the store answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>)]
    revision: Option<Revision>,
    /// When this process started.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    started_at: time::OffsetDateTime,
    /// Seconds since then.
    uptime_seconds: f64,
    /// The store.
    store: StoreHealth,
    /// The read cache in front of the store, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: Option<CacheHealth>,
    /// The catalog index (search, filters, facets, dependents).
    index: IndexHealth,
    /// Deployment engines.
    engines: EnginesHealth,
    /// Configured sources: head, last synced commit, lag and last run (as `GET /api/v1/sources`).
    sources: Vec<SourceView>,
    /// Open event streams (`GET /api/v1/events`).
    subscribers: SubscribersHealth,
}

/// Detailed health: everything the server depends on, in one answer.
///
/// The store (reachability, latency, schema), the read cache, deployment engines, git sources
/// and their lag, event-stream subscribers, uptime, version and catalog revision.
///
/// `status` is `unavailable` (HTTP 503) when the store does not answer or its schema is not
/// current; `degraded` (200) when an engine is unhealthy, a source's last sync run failed or the
/// sources could not be read; `ok` (200) otherwise. `reasons` says why it is not `ok`.
#[utoipa::path(get, path = "/health/detailed", tag = "operations",
    responses(
        (status = 200, description = "`ok` or `degraded`", body = DetailedHealth),
        (status = 503, description = "`unavailable`: the store does not answer or its schema is not current", body = DetailedHealth),
    ))]
pub(crate) async fn detailed(
    State(state): State<Arc<AppState>>,
) -> (StatusCode, Json<DetailedHealth>) {
    let check = StoreCheck::run(&state.catalog).await;
    let mut reasons = Vec::new();
    let store_problem = check.problem();
    let schema = check.schema.as_ref().ok().copied().unwrap_or_default();
    let store_health = StoreHealth {
        backend: state.catalog.backend_name().to_owned(),
        reachable: check.revision.is_ok(),
        latency_ms: check.latency.as_secs_f64() * 1000.0,
        schema_version: schema.applied,
        expected_schema_version: schema.expected,
        schema_current: check.schema.is_ok() && schema.is_current(),
        error: store_problem.clone(),
    };
    if let Some(p) = &store_problem {
        reasons.push(format!("store: {p}"));
    }
    let mut degraded = false;

    let engines = match &state.config.engines {
        Some(registry) => EnginesHealth {
            enforced: registry.settings().enforced,
            items: registry
                .list()
                .into_iter()
                .map(|e| EngineSummary {
                    name: e.name,
                    source: e.source,
                    health: e.health,
                    usable: e.usable,
                    reason: e.reason,
                })
                .collect(),
        },
        None => EnginesHealth {
            enforced: false,
            items: Vec::new(),
        },
    };
    for e in &engines.items {
        if e.health == EngineHealth::Unhealthy {
            degraded = true;
            reasons.push(format!(
                "engine {}: unhealthy{}",
                e.name,
                e.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ));
        }
    }

    // Sources are read from the store: skipped when it does not answer (already unavailable).
    let sources = match (&state.sync, store_problem.is_some()) {
        (Some(m), false) => {
            match tokio::time::timeout(STORE_CHECK_TIMEOUT, super::sync::source_views(m)).await {
                Ok(Ok(views)) => views,
                Ok(Err(e)) => {
                    degraded = true;
                    reasons.push(format!("sources: {}", e.0.detail));
                    Vec::new()
                }
                Err(_) => {
                    degraded = true;
                    reasons.push(format!(
                        "sources: not read within {} s",
                        STORE_CHECK_TIMEOUT.as_secs()
                    ));
                    Vec::new()
                }
            }
        }
        _ => Vec::new(),
    };
    for s in &sources {
        if let Some(run) = s
            .last_run
            .as_ref()
            .filter(|r| r.status == SyncStatus::Failed)
        {
            degraded = true;
            reasons.push(format!("source {}: last sync run {} failed", s.id, run.id));
        }
    }

    let cache = state.catalog.cache_stats().map(|c| CacheHealth {
        hits: c.hits,
        misses: c.misses,
        hit_ratio: (c.hits + c.misses > 0).then(|| c.hits as f64 / (c.hits + c.misses) as f64),
    });
    let index = state.catalog.index();
    let (versions, terms) = index.size();
    let index = match index.status() {
        nestor_catalog::IndexStatus::Ready { revision, .. } => IndexHealth {
            status: "ready",
            versions,
            of: None,
            terms,
            revision,
        },
        nestor_catalog::IndexStatus::Building { done, of } => IndexHealth {
            status: "building",
            versions: done,
            of: Some(of),
            terms,
            revision: index.revision(),
        },
        nestor_catalog::IndexStatus::Empty => IndexHealth {
            status: "empty",
            versions,
            of: None,
            terms,
            revision: index.revision(),
        },
    };
    let max = state.config.events.max_subscribers;
    let subscribers = SubscribersHealth {
        active: state.streams.active(),
        max,
    };
    let status = if store_problem.is_some() {
        OverallStatus::Unavailable
    } else if degraded {
        OverallStatus::Degraded
    } else {
        OverallStatus::Ok
    };
    let code = if status == OverallStatus::Unavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (
        code,
        Json(DetailedHealth {
            status,
            reasons,
            version: env!("CARGO_PKG_VERSION").into(),
            revision: check.revision.ok(),
            started_at: state.started_at,
            uptime_seconds: state.started.elapsed().as_secs_f64(),
            store: store_health,
            cache,
            index,
            engines,
            sources,
            subscribers,
        }),
    )
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

/// This OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "documentation",
    responses((status = 200, description = "The OpenAPI 3.1 document of this server", body = Object, content_type = "application/json")))]
pub(crate) async fn openapi_document(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi_json.clone(),
    )
}
