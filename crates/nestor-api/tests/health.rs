//! The health endpoints: liveness, readiness (store reachable, migrations applied) and detailed
//! health (store, cache, engines, sources, subscribers), over real HTTP.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use nestor_api::{ApiConfig, EventsConfig};
use nestor_storage::{CatalogStore, SqliteStore};
use nestor_testkit::{TestServer, catalog, git::infra_sync, locked_down, memory_store};
use serde_json::{Value, json};

#[tokio::test]
async fn liveness_and_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nestor.db");
    let store: Arc<dyn CatalogStore> = Arc::new(SqliteStore::open(&path).unwrap());
    let s = TestServer::builder()
        .store(store)
        .config(locked_down())
        .start()
        .await;
    // Public, even with access control on.
    assert_eq!(s.get("/health").await, (200, json!({"status": "ok"})));
    assert_eq!(
        s.get("/health/ready").await,
        (200, json!({"status": "ok", "revision": 0}))
    );

    // A schema behind this build (a restored backup, a rolled-back migration): not ready.
    let latest = SqliteStore::latest_schema_version();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", latest - 1)
        .unwrap();
    let (status, body) = s.get("/health/ready").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (503, Some("unavailable"))
    );
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("schema version is {}", latest - 1))
            && reason.contains("nestor migrate"),
        "{reason}"
    );
    conn.pragma_update(None, "user_version", latest).unwrap();
    assert_eq!(s.get("/health/ready").await.0, 200);

    // A store that fails to answer: not ready, and the reason says why.
    conn.execute_batch("DROP TABLE meta").unwrap();
    let (status, body) = s.get("/health/ready").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (503, Some("unavailable"))
    );
    assert!(body["reason"].as_str().unwrap().contains("meta"), "{body}");
    let (status, detailed) = call(&s, "/health/detailed", Some("r-token")).await;
    assert_eq!(status, 503, "{detailed}");
    assert_eq!(detailed["status"], "unavailable");
    assert_eq!(detailed["store"]["reachable"], false);
    assert_eq!(detailed["store"]["backend"], "sqlite");
    assert!(
        detailed["store"]["error"]
            .as_str()
            .unwrap()
            .contains("meta")
    );
    assert!(
        detailed["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("store: ")
    );
    s.stop().await;
}

async fn call(s: &TestServer, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = s.http.get(s.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or_default())
}

#[tokio::test]
async fn detailed_health_reports_every_dependency_and_needs_read() {
    let s = TestServer::builder()
        .config(ApiConfig {
            events: EventsConfig {
                max_subscribers: 7,
                ..Default::default()
            },
            ..locked_down()
        })
        .start()
        .await;
    assert_eq!(call(&s, "/health/detailed", None).await.0, 401);
    let (status, h) = call(&s, "/health/detailed", Some("r-token")).await;
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["status"], "ok");
    assert!(h.get("reasons").is_none(), "{h}");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(h["revision"], 0);
    assert!(h["uptime_seconds"].as_f64().unwrap() >= 0.0);
    assert!(h["started_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(h["store"]["backend"], "memory");
    assert_eq!(h["store"]["reachable"], true);
    assert_eq!(h["store"]["schema_current"], true);
    assert!(h["store"]["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(h["cache"]["hits"].is_u64() && h["cache"]["misses"].is_u64());
    assert_eq!(h["engines"], json!({"enforced": false, "items": []}));
    assert_eq!(h["sources"], json!([]));
    assert_eq!(h["subscribers"], json!({"active": 0, "max": 7}));

    // An open event stream is counted.
    let res = s
        .http
        .get(s.url("/api/v1/events"))
        .bearer_auth("r-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (_, h) = call(&s, "/health/detailed", Some("r-token")).await;
    assert_eq!(h["subscribers"], json!({"active": 1, "max": 7}));
    drop(res);
    s.stop().await;
}

/// A health endpoint on 127.0.0.1 that always answers 503.
async fn failing_endpoint() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/healthz", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = conn.read(&mut buf).await;
                let _ = conn
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                let _ = conn.shutdown().await;
            });
        }
    });
    url
}

#[tokio::test]
async fn an_unhealthy_engine_or_a_failed_source_degrades_detailed_health() {
    use nestor_engines::{EngineDefinition, HealthCheck, Registry, RegistrySettings};

    let registry = Arc::new(
        Registry::new(
            [
                EngineDefinition {
                    name: "terraform".into(),
                    health: Some(HealthCheck {
                        interval: Duration::from_millis(50),
                        timeout: Duration::from_secs(1),
                        unhealthy_threshold: 1,
                        healthy_threshold: 1,
                        ..HealthCheck::new(failing_endpoint().await)
                    }),
                },
                EngineDefinition {
                    name: "pulumi".into(),
                    health: None,
                },
            ],
            RegistrySettings {
                min_health_interval: Duration::from_millis(10),
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let stop = nestor_api::CancellationToken::new();
    tokio::spawn(registry.clone().run(stop.clone()));

    // A source whose repository does not exist: its runs fail.
    let cache = tempfile::tempdir().unwrap();
    let missing = format!("file://{}/no-such-repo", cache.path().display());
    let catalog = catalog(memory_store());
    let sync = infra_sync(catalog.clone(), &missing, "*.yaml", cache.path(), None);
    let run = sync
        .run_now("infra", nestor_model::SyncTrigger::Startup, false)
        .await
        .unwrap();
    assert_eq!(run.status, nestor_model::SyncStatus::Failed);
    let s = TestServer::builder()
        .catalog(catalog)
        .sync(sync)
        .config(ApiConfig {
            engines: Some(registry),
            ..Default::default()
        })
        .start()
        .await;

    let deadline = Instant::now() + Duration::from_secs(30);
    let h = loop {
        let (status, h) = s.get("/health/detailed").await;
        assert_eq!(status, 200, "degraded is still 200: {h}");
        let unhealthy = h["engines"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["health"] == "unhealthy");
        if unhealthy {
            break h;
        }
        assert!(
            Instant::now() < deadline,
            "terraform never turned unhealthy: {h}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(h["status"], "degraded", "{h}");
    let reasons: Vec<&str> = h["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("engine terraform: unhealthy")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| *r == format!("source infra: last sync run {} failed", run.id)),
        "{reasons:?}"
    );
    let engines = &h["engines"]["items"];
    let pulumi = engines
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "pulumi")
        .unwrap();
    assert_eq!(pulumi["usable"], true);
    let source = &h["sources"][0];
    assert_eq!(source["id"], "infra");
    assert_eq!(source["last_run"]["status"], "failed");
    // The same view as GET /api/v1/sources, lag included.
    let (_, listed) = s.get("/api/v1/sources").await;
    assert_eq!(listed["items"][0]["last_run"], source["last_run"]);
    assert_eq!(
        listed["items"][0].get("lag_seconds"),
        source.get("lag_seconds")
    );
    stop.cancel();
    s.stop().await;
}
