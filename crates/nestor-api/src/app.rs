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
    /// Largest request body accepted, in bytes (webhooks have their own limit).
    pub max_body_bytes: usize,
    /// Largest webhook delivery accepted, in bytes: GitHub sends up to 25 MB (a push of
    /// thousands of files is megabytes).
    pub webhook_max_body_bytes: usize,
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
    /// Start-up work still running (the first sync of the sources): `/health/ready` answers 503
    /// with its reason until it is done. The default has nothing pending.
    pub startup: Startup,
    /// The engine registry served under `/api/v1/engines` (the same one the catalog validates
    /// against, if it does), whose status changes are `engine.status` events on the change
    /// feed. `None`: the list is empty and registration answers 404.
    pub engines: Option<Arc<nestor_engines::Registry>>,
    /// The Terraform/OpenTofu module registry (docs/terraform.md); `None` turns it off.
    pub terraform: Option<TerraformConfig>,
}

/// The Terraform/OpenTofu module registry: which components are modules, and their addresses
/// `<namespace>/<name>/<provider>`.
#[derive(Debug, Clone)]
pub struct TerraformConfig {
    /// The namespace of modules from sources without one of their own.
    pub namespace: String,
    /// Namespaces of particular sources, by source id.
    pub source_namespaces: std::collections::BTreeMap<String, String>,
    /// The deployment engines that make a component a module.
    pub engines: Vec<String>,
}

impl Default for TerraformConfig {
    fn default() -> Self {
        TerraformConfig {
            namespace: "nestor".into(),
            source_namespaces: Default::default(),
            engines: nestor_model::TERRAFORM_ENGINES.map(String::from).to_vec(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body_bytes: 1024 * 1024,
            webhook_max_body_bytes: 25 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            storage_backend: "unknown".into(),
            events: EventsConfig::default(),
            shutdown: CancellationToken::new(),
            auth: AuthConfig::default(),
            cors_origins: Vec::new(),
            terraform: Some(TerraformConfig::default()),
            startup: Startup::default(),
            engines: None,
        }
    }
}

/// Start-up work the server is not ready before (cheap to clone: one shared cell). The server
/// listens — and answers `/health` — while it runs; `/health/ready` says 503 with the reason.
///
/// ```
/// let startup = nestor_api::Startup::pending("loading 2 sources");
/// assert_eq!(startup.pending_reason().as_deref(), Some("loading 2 sources"));
/// startup.done();
/// assert_eq!(startup.pending_reason(), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Startup(Arc<std::sync::RwLock<Option<String>>>);

impl Startup {
    /// Start-up work is running, for this reason.
    pub fn pending(reason: impl Into<String>) -> Startup {
        Startup(Arc::new(std::sync::RwLock::new(Some(reason.into()))))
    }

    /// The start-up work is over: the server may be ready.
    pub fn done(&self) {
        if let Ok(mut reason) = self.0.write() {
            *reason = None;
        }
    }

    /// Why the server is not ready yet, while start-up work runs.
    pub fn pending_reason(&self) -> Option<String> {
        self.0.read().ok().and_then(|r| r.clone())
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
            config.auth.clone(),
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
