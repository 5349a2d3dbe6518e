//! Test harness: real Nestor servers on 127.0.0.1, in-process or killable.

#![allow(dead_code)]

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use nestor_api::{ApiConfig, CancellationToken, EventsConfig};
use nestor_catalog::Catalog;
use nestor_client::{BackoffPolicy, Client, MirrorOptions, model::ComponentSpec};
use nestor_storage::{CachedStore, CatalogStore, MemoryStore, SqliteStore};
use nestor_validation::Validator;
use tokio::task::JoinHandle;

/// Upper bound of every wait on the network in these tests.
pub const LIMIT: Duration = Duration::from_secs(30);

/// Logs of the client (and server) under test, shown for failing tests; `RUST_LOG` overrides.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "nestor_client=info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Events settings that make periodic bookmarks and keep-alives quick.
pub fn events_config() -> EventsConfig {
    EventsConfig {
        bookmark_interval: Duration::from_millis(100),
        keep_alive: Duration::from_millis(500),
        ..Default::default()
    }
}

fn api_config() -> ApiConfig {
    ApiConfig {
        events: events_config(),
        ..Default::default()
    }
}

/// Mirror options with quick reconnects and room for every update of a test.
pub fn mirror_options() -> MirrorOptions {
    MirrorOptions {
        backoff: BackoffPolicy {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(200),
        },
        update_capacity: 100_000,
        ..Default::default()
    }
}

pub fn memory_store() -> Arc<dyn CatalogStore> {
    Arc::new(CachedStore::new(Arc::new(MemoryStore::new()), 100))
}

pub fn sqlite_store(path: &Path) -> Arc<dyn CatalogStore> {
    Arc::new(CachedStore::new(
        Arc::new(SqliteStore::open(path).expect("open sqlite")),
        1000,
    ))
}

/// A server on the test's runtime, on a free port.
pub struct Server {
    pub base: String,
    pub client: Client,
    pub store: Arc<dyn CatalogStore>,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<()>>,
}

impl Server {
    pub async fn start(store: Arc<dyn CatalogStore>) -> Server {
        let config = api_config();
        let shutdown = config.shutdown.clone();
        let catalog = Arc::new(Catalog::new(store.clone(), Validator::full(), None));
        let router = nestor_api::router(catalog, config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let token = shutdown.clone();
        let handle = tokio::spawn(async move {
            nestor_api::serve(listener, router, async move { token.cancelled().await })
                .await
                .expect("server runs");
        });
        Server {
            client: Client::new(&base).unwrap(),
            base,
            store,
            shutdown,
            handle: Some(handle),
        }
    }

    /// Stops the server gracefully (event streams end) and waits until it has.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            h.await.unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A server on a runtime of its own, so that it can die like a crashed process: killing it
/// drops the runtime, and with it every connection at once, mid-stream.
pub struct KillableServer {
    pub addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl KillableServer {
    /// Serves on `listener` (already bound, so that a restart can take the same port).
    pub fn start(listener: std::net::TcpListener, store: Arc<dyn CatalogStore>) -> KillableServer {
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("server runtime");
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let catalog = Arc::new(Catalog::new(store, Validator::full(), None));
            let router = nestor_api::router(catalog, api_config());
            nestor_api::serve(listener, router, std::future::pending())
                .await
                .expect("server runs");
        });
        KillableServer {
            addr,
            runtime: Some(runtime),
        }
    }

    /// Kills the server: every task is dropped, so every connection breaks at once. Returns
    /// once the runtime is gone (its listener closed, its port free).
    pub async fn kill(mut self) {
        if let Some(rt) = self.runtime.take() {
            tokio::task::spawn_blocking(move || rt.shutdown_timeout(LIMIT))
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

pub fn spec(name: &str, version: &str, provider: &str) -> ComponentSpec {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "version": version,
        "description": format!("The {name} component"),
        "provider": provider,
        "category": "database",
        "resource_type": "aws_db_instance",
        "deployment_engines": ["terraform"],
        "required_inputs": [{"name": "instance_class", "type": "string", "allowed_values": ["small", "large"]}],
        "optional_inputs": [{"name": "storage_gb", "type": "integer", "default": 20}],
        "outputs": [{"name": "endpoint", "type": "string"}],
        "labels": {"team": "data"}
    }))
    .unwrap()
}

/// Every version of each of `names` on the server, ordered by name, then newest first (as
/// `Mirror::list` orders them).
pub async fn server_content(
    client: &Client,
    names: impl IntoIterator<Item = String>,
) -> Vec<nestor_client::model::Component> {
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort();
    names.dedup();
    let mut all = Vec::new();
    for name in names {
        all.extend(client.versions(&name).await.expect("versions").items);
    }
    all
}
