//! The API's configuration ([`ApiConfig`]) and the state every handler shares ([`AppState`]).

use std::{sync::Arc, time::Duration};

use axum::extract::FromRef;
use nestor_catalog::{Catalog, SyncManager};
use tokio_util::sync::CancellationToken;

use crate::{
    auth::AuthConfig,
    events::{EventsConfig, Streams},
};

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
    /// [`serve`](crate::serve)'s shutdown must cancel it (as `nestor serve` does, with a child
    /// of its one stop token).
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
    pub(crate) openapi_json: String,
    /// Sources and sync runs, when sources are configured.
    pub(crate) sync: Option<Arc<SyncManager>>,
    /// When the router was built (uptime in `/health/detailed`).
    pub(crate) started: std::time::Instant,
    /// The same, as a date.
    pub(crate) started_at: time::OffsetDateTime,
    /// The event streams' shared state (subscriber places, fan-out writers).
    pub(crate) streams: Streams,
}

impl AppState {
    /// The state of a server of `catalog` (with the sources of `sync`, if any).
    pub(crate) fn new(
        catalog: Arc<Catalog>,
        sync: Option<Arc<SyncManager>>,
        config: ApiConfig,
        openapi_json: String,
    ) -> AppState {
        let streams = Streams::new(
            catalog.clone(),
            config.events.clone(),
            config.engines.clone(),
            config.shutdown.clone(),
        );
        AppState {
            catalog,
            config,
            openapi_json,
            sync,
            started: std::time::Instant::now(),
            started_at: time::OffsetDateTime::now_utc(),
            streams,
        }
    }
}

/// The event-stream handler takes only the streams' state.
impl FromRef<Arc<AppState>> for Streams {
    fn from_ref(state: &Arc<AppState>) -> Streams {
        state.streams.clone()
    }
}
