//! Test harness: a real Nestor server on 127.0.0.1 (port 0) over a chosen store.

#![allow(dead_code)]

use std::sync::Arc;

use nestor_api::ApiConfig;
use nestor_catalog::Catalog;
use nestor_model::ComponentSpec;
use nestor_storage::{CachedStore, CatalogStore, MemoryStore};
use nestor_validation::Validator;
use tokio::{sync::oneshot, task::JoinHandle};

pub struct Server {
    pub base: String,
    pub client: nestor_client::Client,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Server {
    pub async fn start(store: Arc<dyn CatalogStore>) -> Server {
        Self::start_with(
            store,
            ApiConfig {
                max_body_bytes: 64 * 1024,
                ..Default::default()
            },
        )
        .await
    }

    pub async fn memory() -> Server {
        Self::start(Arc::new(CachedStore::new(
            Arc::new(MemoryStore::new()),
            100,
        )))
        .await
    }

    /// Serves an already built router (its shutdown token is the default one: streams are
    /// not used by such tests).
    pub async fn start_router(router: axum::Router) -> Server {
        install_metrics();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel();
        let handle = tokio::spawn(async move {
            nestor_api::serve(listener, router, async move {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        Server {
            client: nestor_client::Client::new(&base).unwrap(),
            http: reqwest::Client::new(),
            base,
            stop: Some(tx),
            handle: Some(handle),
        }
    }

    pub async fn start_with(store: Arc<dyn CatalogStore>, config: ApiConfig) -> Server {
        install_metrics();
        // reqwest is built without a default TLS provider (see the workspace Cargo.toml).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let catalog = Arc::new(Catalog::new(store, Validator::full(), None));
        let shutdown = config.shutdown.clone();
        let router = nestor_api::router(catalog, config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel();
        let handle = tokio::spawn(async move {
            nestor_api::serve(listener, router, async move {
                let _ = rx.await;
                shutdown.cancel();
            })
            .await
            .expect("server runs");
        });
        Server {
            client: nestor_client::Client::new(&base).unwrap(),
            http: reqwest::Client::new(),
            base,
            stop: Some(tx),
            handle: Some(handle),
        }
    }

    /// Stops the server and waits until it has closed its listener.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET returning (status, JSON body).
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let res = self.http.get(self.url(path)).send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Request with a raw body and content type, returning (status, content-type, JSON body).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, String, serde_json::Value) {
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
        (
            status,
            ct,
            res.json().await.unwrap_or(serde_json::Value::Null),
        )
    }
}

/// Installs the metrics exporter, as `nestor serve` does first thing: instruments bind to the
/// provider in place when they are first used, by whichever test of this binary comes first.
pub fn install_metrics() {
    nestor_api::metrics::install().expect("the metrics exporter starts");
}

pub fn spec(name: &str, version: &str) -> ComponentSpec {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "version": version,
        "description": format!("The {name} component"),
        "provider": "aws",
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

/// One parsed SSE event (comments and `retry:` lines are skipped).
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: serde_json::Value,
}

/// A minimal reader of a `text/event-stream` response, for tests: enough of the format to check
/// what the server sends, line by line.
pub struct SseReader {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

impl SseReader {
    pub fn new(res: reqwest::Response) -> SseReader {
        SseReader {
            body: Box::pin(res.bytes_stream()),
            buf: String::new(),
        }
    }

    /// The next event; panics after 10 s without one, `None` when the stream ended.
    pub async fn next(&mut self) -> Option<SseEvent> {
        tokio::time::timeout(std::time::Duration::from_secs(10), self.next_inner())
            .await
            .expect("no SSE event within 10 s")
    }

    async fn next_inner(&mut self) -> Option<SseEvent> {
        use futures_util::StreamExt;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut ev = SseEvent::default();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        ev.id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        ev.event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if ev.event.is_empty() && data.is_empty() {
                    continue; // a comment or a retry hint
                }
                ev.data = serde_json::from_str(&data).expect("SSE data is JSON");
                return Some(ev);
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self
                    .buf
                    .push_str(std::str::from_utf8(&chunk).expect("UTF-8")),
                Some(Err(e)) => panic!("SSE stream failed: {e}"),
                None => return None,
            }
        }
    }

    /// Reads raw text until `needle` appears (for comments and hints the parser skips).
    pub async fn raw_until(&mut self, needle: &str) -> String {
        use futures_util::StreamExt;
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while !self.buf.contains(needle) {
                match self.body.next().await {
                    Some(Ok(chunk)) => self.buf.push_str(std::str::from_utf8(&chunk).unwrap()),
                    other => panic!("stream ended before {needle:?}: {other:?}"),
                }
            }
            self.buf.clone()
        })
        .await
        .expect("needle within 10 s")
    }
}
