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

    pub async fn start_with(store: Arc<dyn CatalogStore>, config: ApiConfig) -> Server {
        let catalog = Arc::new(Catalog::new(store, Validator::full(), None));
        let router = nestor_api::router(catalog, config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel();
        let handle = tokio::spawn(async move {
            nestor_api::serve(listener, router, async {
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
