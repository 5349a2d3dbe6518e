//! Real Nestor servers for tests: the catalog, the router and `nestor_api::serve` on 127.0.0.1,
//! on a port the system picks, in the test's own process.
//!
//! [`TestServer`] runs on the test's runtime and stops gracefully (event streams end), as
//! `nestor serve` does on SIGTERM. [`KillableServer`] runs on a runtime of its own, so that a
//! test can crash it — every connection breaking at once — and start another on the same port
//! and store.

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use nestor_api::{ApiConfig, AuthConfig, CancellationToken, EventsConfig, Token};
use nestor_catalog::{Catalog, SyncManager};
use nestor_model::{ComponentSpec, PublishResponse};
use nestor_storage::{CachedStore, CatalogStore, MemoryStore, SqliteStore};
use nestor_validation::Validator;
use reqwest::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

/// A catalog over `store` with the full validator and no engine registry.
pub fn catalog(store: Arc<dyn CatalogStore>) -> Arc<Catalog> {
    Arc::new(Catalog::new(store, Validator::full(), None))
}

/// An empty in-memory store behind a cache of 100 versions, as `nestor serve --storage memory`
/// has.
pub fn memory_store() -> Arc<dyn CatalogStore> {
    Arc::new(CachedStore::new(Arc::new(MemoryStore::new()), 100))
}

/// The SQLite file at `path` (created if missing) behind a cache of 1,000 versions.
pub fn sqlite_store(path: &Path) -> Arc<dyn CatalogStore> {
    Arc::new(CachedStore::new(
        Arc::new(SqliteStore::open(path).expect("open sqlite")),
        1000,
    ))
}

/// Events settings that make periodic bookmarks (100 ms) and keep-alives (500 ms) quick.
pub fn quick_events() -> EventsConfig {
    EventsConfig {
        bookmark_interval: Duration::from_millis(100),
        keep_alive: Duration::from_millis(500),
        ..Default::default()
    }
}

/// A bearer token `name` whose secret is `value` (stored as its SHA-256, as in the
/// configuration file), with `scopes`.
pub fn token(name: &str, value: &str, scopes: &[&str]) -> Token {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    Token::new(name, &hex::encode(Sha256::digest(value)), &scopes).unwrap()
}

/// Access control on, no anonymous reads: every protected operation needs a token; the only
/// one is `reader` (secret `r-token`, scope `read`).
pub fn locked_down() -> ApiConfig {
    ApiConfig {
        auth: AuthConfig {
            anonymous_read: false,
            tokens: vec![token("reader", "r-token", &["read"])],
            write_rate_limit: None,
        },
        ..Default::default()
    }
}

/// Installs the metrics exporter, as `nestor serve` does first thing: instruments bind to the
/// provider in place when they are first used, by whichever test of a test binary comes first.
pub fn install_metrics() {
    nestor_api::metrics::install().expect("the metrics exporter starts");
}

/// The sum of the samples of metric `name` in a Prometheus text scrape whose labels include
/// every `key="value"` of `labels` (0 when there is none).
pub fn metric_sum(scrape: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!(r#"{k}="{v}""#)))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// What every server needs before it starts: the metrics exporter, and a TLS provider for
/// reqwest (built without a default one, see the workspace Cargo.toml).
fn prepare() {
    install_metrics();
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How to start a [`TestServer`] (or a [`KillableServer`]); from [`TestServer::builder`].
pub struct ServerBuilder {
    store: Option<Arc<dyn CatalogStore>>,
    catalog: Option<Arc<Catalog>>,
    config: ApiConfig,
    sync: Option<Arc<SyncManager>>,
}

impl ServerBuilder {
    /// Serves `store` (by default an empty [`memory_store`]) through a [`catalog`] of its own.
    pub fn store(mut self, store: Arc<dyn CatalogStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Serves a catalog the test built itself (with an engine registry, or shared with a
    /// [`SyncManager`]); its store is the server's.
    pub fn catalog(mut self, catalog: Arc<Catalog>) -> Self {
        self.store = Some(catalog.store().clone());
        self.catalog = Some(catalog);
        self
    }

    /// Replaces the whole configuration (by default `ApiConfig::default()` with a 64 KiB body
    /// limit, small enough for a test to exceed).
    pub fn config(mut self, config: ApiConfig) -> Self {
        self.config = config;
        self
    }

    /// Changes the configuration in place.
    pub fn configure(mut self, change: impl FnOnce(&mut ApiConfig)) -> Self {
        change(&mut self.config);
        self
    }

    /// Uses these event-stream settings.
    pub fn events(mut self, events: EventsConfig) -> Self {
        self.config.events = events;
        self
    }

    /// Serves the sources of `sync` too (`/api/v1/sources`, sync runs, webhooks). Its catalog
    /// must be the server's: give it with [`ServerBuilder::catalog`].
    pub fn sync(mut self, sync: Arc<SyncManager>) -> Self {
        self.sync = Some(sync);
        self
    }

    /// The store, and the router over it.
    fn parts(self) -> (Arc<dyn CatalogStore>, axum::Router) {
        let store = self.store.unwrap_or_else(memory_store);
        let catalog = self.catalog.unwrap_or_else(|| catalog(store.clone()));
        let router = nestor_api::router_with_sync(catalog, self.sync, self.config);
        (store, router)
    }

    /// Starts the server on the test's runtime.
    pub async fn start(self) -> TestServer {
        let shutdown = self.config.shutdown.clone();
        let (store, router) = self.parts();
        TestServer::serve(router, store, shutdown).await
    }

    /// Starts the server on a runtime of its own (one worker thread), serving on `listener`:
    /// already bound, so that a server started after a kill can take the same port.
    pub fn start_killable(self, listener: std::net::TcpListener) -> KillableServer {
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("server runtime");
        // The router starts tasks of its own (the event-stream writers): on the server's runtime.
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let (_, router) = self.parts();
            nestor_api::serve(listener, router, std::future::pending())
                .await
                .expect("server runs");
        });
        KillableServer {
            addr,
            runtime: Some(runtime),
        }
    }
}

/// A real server on 127.0.0.1 on the test's runtime, with clients for it. Dropping it stops it
/// too, without waiting; [`TestServer::stop`] waits.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Nestor's client for this server.
    pub client: nestor_client::Client,
    /// A plain HTTP client, for requests the Nestor client does not make.
    pub http: reqwest::Client,
    /// The store it serves (for a prebuilt router: an unused empty one).
    pub store: Arc<dyn CatalogStore>,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<()>>,
}

impl TestServer {
    /// How to start a server: store, configuration, sources.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            store: None,
            catalog: None,
            config: ApiConfig {
                max_body_bytes: 64 * 1024,
                ..Default::default()
            },
            sync: None,
        }
    }

    /// A server over an empty [`memory_store`] with the builder's defaults.
    pub async fn memory() -> TestServer {
        Self::builder().start().await
    }

    /// Serves a router the test built itself (with its own catalog, registry or sources).
    /// Stopping the server stops accepting; streams of the router end with its own
    /// `ApiConfig::shutdown`, which is the test's to cancel.
    pub async fn with_router(router: axum::Router) -> TestServer {
        Self::serve(router, memory_store(), CancellationToken::new()).await
    }

    async fn serve(
        router: axum::Router,
        store: Arc<dyn CatalogStore>,
        shutdown: CancellationToken,
    ) -> TestServer {
        prepare();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let stop = shutdown.clone();
        let handle = tokio::spawn(async move {
            nestor_api::serve(listener, router, async move { stop.cancelled().await })
                .await
                .expect("server runs");
        });
        TestServer {
            client: nestor_client::Client::new(&base).unwrap(),
            http: reqwest::Client::new(),
            base,
            addr,
            store,
            shutdown,
            handle: Some(handle),
        }
    }

    /// Stops the server gracefully (event streams end) and waits until it has closed its
    /// listener.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            h.await.unwrap();
        }
    }

    /// Publishes `spec` through the Nestor client; a refusal fails the test, with the problem.
    pub async fn publish(&self, spec: impl Into<ComponentSpec>) -> PublishResponse {
        let spec = spec.into();
        self.client
            .publish(&spec)
            .await
            .unwrap_or_else(|e| panic!("publish {}: {e}", spec.id()))
    }

    /// The URL of `path` (which starts with `/`) on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET returning (status, JSON body); the body is `null` when it is not JSON.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let res = self.http.get(self.url(path)).send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// POST `body` as JSON to `path`; the response, whatever its status.
    pub async fn post_json(&self, path: &str, body: &impl serde::Serialize) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// GET returning the body as text, whatever the status (`/metrics`, scripts, pages).
    pub async fn text(&self, path: &str) -> String {
        let res = self.http.get(self.url(path)).send().await.unwrap();
        res.text().await.unwrap()
    }

    /// A request with a raw body and content type, returning (status, content type, JSON
    /// body); the body is `null` when it is not JSON.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, String, Value) {
        let res = self
            .http
            .request(method, self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, ct, res.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A server on a runtime of its own, so that it can die like a crashed process: killing it
/// drops the runtime, and with it every connection at once, mid-stream. From
/// [`ServerBuilder::start_killable`].
pub struct KillableServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl KillableServer {
    /// Kills the server: every task is dropped, so every connection breaks at once. Returns
    /// once the runtime is gone (its listener closed, its port free).
    pub async fn kill(mut self) {
        if let Some(rt) = self.runtime.take() {
            tokio::task::spawn_blocking(move || rt.shutdown_timeout(Duration::from_secs(30)))
                .await
                .expect("runtime shut down");
        }
    }
}

impl Drop for KillableServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
