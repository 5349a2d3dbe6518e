//! The engine registry over real HTTP: a local health endpoint that turns unhealthy (or slow, or
//! answers garbage) makes publishes naming its engine fail with the reason, then pass again once
//! it recovers; registrations over `PUT /api/v1/engines/{name}` heartbeat and expire; status
//! changes reach the change feed; bad input is answered with problems.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::{Duration, Instant},
};

use nestor_api::{ApiConfig, CancellationToken};
use nestor_catalog::Catalog;
use nestor_engines::{EngineDefinition, EngineRegistry, HealthCheck, Registry, RegistrySettings};
use nestor_testkit::{SseReader, TestServer, memory_store, metric_sum, spec};
use nestor_validation::Validator;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// How the health endpoint answers.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Mode {
    Healthy,
    Unavailable,
    Slow,
    Garbage,
}

/// A health endpoint on 127.0.0.1 whose answers can be switched; raw TCP, so that it can also
/// answer with bytes that are not HTTP.
struct Endpoint {
    url: String,
    mode: Arc<AtomicU8>,
}

impl Endpoint {
    async fn start() -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/healthz", listener.local_addr().unwrap());
        let mode = Arc::new(AtomicU8::new(Mode::Healthy as u8));
        let current = mode.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let mode = current.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut read = 0;
                    while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") && read < buf.len() {
                        match conn.read(&mut buf[read..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                    }
                    let answer: &[u8] = match mode {
                        m if m == Mode::Healthy as u8 => {
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 16\r\nconnection: close\r\n\r\n{\"status\":\"ok\"}\n"
                        }
                        m if m == Mode::Unavailable as u8 => {
                            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        }
                        m if m == Mode::Slow as u8 => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            return;
                        }
                        _ => b"\x16\x03\x01 garbage, not HTTP \xff\xfe\x00\r\n\r\n",
                    };
                    let _ = conn.write_all(answer).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        Endpoint { url, mode }
    }

    fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }
}

struct Fixture {
    server: TestServer,
    endpoint: Endpoint,
    registry: Arc<Registry>,
    stop: CancellationToken,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A server whose catalog checks engines against a registry of `terraform` (probed on the
/// local endpoint every 50 ms, 1 s timeout, 2 failures / 2 successes) and `pulumi` (no
/// health URL), with the probe loop running.
async fn fixture() -> Fixture {
    nestor_testkit::install_metrics();
    let endpoint = Endpoint::start().await;
    let registry = Arc::new(
        Registry::new(
            [
                EngineDefinition {
                    name: "terraform".into(),
                    health: Some(HealthCheck {
                        interval: Duration::from_millis(50),
                        timeout: Duration::from_secs(1),
                        unhealthy_threshold: 2,
                        healthy_threshold: 2,
                        ..HealthCheck::new(endpoint.url.clone())
                    }),
                },
                EngineDefinition {
                    name: "pulumi".into(),
                    health: None,
                },
            ],
            RegistrySettings {
                min_ttl: Duration::from_secs(1),
                min_health_interval: Duration::from_millis(10),
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let stop = CancellationToken::new();
    tokio::spawn(registry.clone().run(stop.clone()));
    let engines: Arc<dyn EngineRegistry> = registry.clone();
    let catalog = Arc::new(Catalog::new(
        memory_store(),
        Validator::full(),
        Some(engines),
    ));
    let server = TestServer::builder()
        .catalog(catalog)
        .config(ApiConfig {
            engines: Some(registry.clone()),
            ..Default::default()
        })
        .start()
        .await;
    Fixture {
        server,
        endpoint,
        registry,
        stop,
    }
}

/// Waits (generously) until `GET /api/v1/engines/{name}` satisfies `want`; returns the body.
async fn wait_until(s: &TestServer, name: &str, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = s.get(&format!("/api/v1/engines/{name}")).await;
        if status == 200 && want(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "engine {name} never got there: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn wait_for_health(s: &TestServer, name: &str, health: &str) -> Value {
    wait_until(s, name, |b| b["health"] == health).await
}

/// Publishes `name@version` deployable with `engines`: (status, body).
async fn publish(s: &TestServer, name: &str, version: &str, engines: &[&str]) -> (u16, Value) {
    let mut spec = spec(name, version).json();
    spec["deployment_engines"] = json!(engines);
    let (status, _, body) = send_json(s, Method::POST, "/api/v1/components", spec).await;
    (status, body)
}

/// The `(rule, message)` of every finding of a rejected publish.
fn findings(body: &Value) -> Vec<(String, String)> {
    body["details"]["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings in {body}"))
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A JSON request: (status, content type, body).
async fn send_json(
    s: &TestServer,
    method: Method,
    path: &str,
    body: Value,
) -> (u16, String, Value) {
    s.send(method, path, "application/json", body.to_string())
        .await
}

#[tokio::test]
async fn an_engine_turning_unhealthy_rejects_then_accepts_a_publish() {
    let f = fixture().await;
    let s = &f.server;
    let res = s.http.get(s.url("/api/v1/events")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut feed = SseReader::new(res);

    let healthy = wait_for_health(s, "terraform", "healthy").await;
    assert_eq!(healthy["usable"], true);
    assert_eq!(healthy["source"], "config");
    assert_eq!(healthy["health_url"], f.endpoint.url);
    assert!(healthy["latency_ms"].is_number(), "{healthy}");
    assert!(healthy["last_probe_at"].is_string(), "{healthy}");
    assert_eq!(publish(s, "db", "1.0.0", &["terraform"]).await.0, 201);

    f.endpoint.set(Mode::Unavailable);
    let sick = wait_for_health(s, "terraform", "unhealthy").await;
    let reason = "health check failed 2 times in a row: HTTP 503 Service Unavailable";
    assert_eq!(sick["usable"], false);
    assert_eq!(sick["reason"], reason, "{sick}");
    assert_eq!(sick["last_error"], "HTTP 503 Service Unavailable");

    let (status, body) = publish(s, "db", "1.1.0", &["terraform"]).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "invalid_definition");
    assert!(
        findings(&body).contains(&(
            "ENGINE_UNHEALTHY".into(),
            format!("engine \"terraform\" is unhealthy: {reason}")
        )),
        "{body}"
    );
    // Other engines are not affected.
    assert_eq!(publish(s, "cache", "1.0.0", &["pulumi"]).await.0, 201);

    f.endpoint.set(Mode::Healthy);
    let back = wait_for_health(s, "terraform", "healthy").await;
    assert_eq!(back["usable"], true);
    assert!(back.get("reason").is_none(), "{back}");
    let (status, body) = publish(s, "db", "1.1.0", &["terraform"]).await;
    assert_eq!(
        status, 201,
        "the same definition passes once the engine recovers: {body}"
    );

    // The feed told its readers: healthy, unhealthy (with the reason), healthy again; live
    // notifications without ids, among the component events.
    let mut seen: Vec<Value> = Vec::new();
    let recovered = |seen: &[Value]| {
        seen.iter()
            .position(|e| e["health"] == "unhealthy" && e["reason"] == reason)
            .is_some_and(|i| seen[i..].iter().any(|e| e["health"] == "healthy"))
    };
    while !recovered(&seen) {
        let ev = feed.next().await.expect("the feed stays open");
        if ev.event == "engine.status" {
            assert_eq!(ev.id, None, "engine events are not in the replayable log");
            assert_eq!(ev.data["name"], "terraform");
            seen.push(ev.data);
        } else {
            assert!(ev.event.starts_with("component."), "{ev:?}");
        }
    }
    assert_eq!(seen[0]["health"], "healthy", "{seen:?}");
}

#[tokio::test]
async fn slow_and_garbage_health_endpoints_are_unhealthy_with_the_reason() {
    let f = fixture().await;
    let s = &f.server;
    wait_for_health(s, "terraform", "healthy").await;

    f.endpoint.set(Mode::Slow);
    let slow = wait_for_health(s, "terraform", "unhealthy").await;
    assert_eq!(
        slow["reason"],
        "health check failed 2 times in a row: no answer within 1s"
    );
    let (status, body) = publish(s, "db", "1.0.0", &["terraform"]).await;
    assert_eq!(status, 422);
    assert!(
        findings(&body)[0]
            .1
            .ends_with("is unhealthy: health check failed 2 times in a row: no answer within 1s"),
        "{body}"
    );

    f.endpoint.set(Mode::Garbage);
    let garbage = wait_until(s, "terraform", |b| {
        b["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("no valid HTTP answer: "))
    })
    .await;
    assert_eq!(garbage["health"], "unhealthy");
    assert!(
        garbage["reason"]
            .as_str()
            .unwrap()
            .starts_with("health check failed 2 times in a row: no valid HTTP answer: "),
        "{garbage}"
    );
    let (status, body) = publish(s, "db", "1.0.0", &["terraform"]).await;
    assert_eq!(status, 422);
    assert!(
        findings(&body)[0].1.contains("no valid HTTP answer"),
        "{body}"
    );
    // The server itself is unaffected.
    assert_eq!(s.get("/health").await.0, 200);

    f.endpoint.set(Mode::Healthy);
    wait_for_health(s, "terraform", "healthy").await;
    assert_eq!(publish(s, "db", "1.0.0", &["terraform"]).await.0, 201);

    // Visible in metrics: failed and successful probes of the engine, and the rejections.
    let text = s.text("/metrics").await;
    let probes = |outcome: &str| {
        metric_sum(
            &text,
            "nestor_engine_probes_total",
            &[("engine", "terraform"), ("outcome", outcome)],
        )
    };
    assert!(probes("failed") >= 4.0 && probes("ok") >= 2.0, "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("nestor_validation_findings_total{")
                && l.contains(r#"rule="ENGINE_UNHEALTHY""#)),
        "{text}"
    );
}

#[tokio::test]
async fn registrations_heartbeat_expire_and_come_back() {
    let f = fixture().await;
    let s = &f.server;
    let register = json!({
        "ttl_seconds": 1,
        "version": "2.3.1",
        "labels": {"region": "eu-west-1"},
    });
    let (status, _, first) =
        send_json(s, Method::PUT, "/api/v1/engines/argo", register.clone()).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["name"], "argo");
    assert_eq!(first["source"], "registered");
    assert_eq!(first["health"], "unknown");
    assert_eq!(first["usable"], true);
    assert_eq!(first["ttl_seconds"], 1.0);
    assert_eq!(first["version"], "2.3.1");
    assert_eq!(first["labels"]["region"], "eu-west-1");
    for field in [
        "registered_at",
        "last_heartbeat",
        "expires_at",
        "last_change",
    ] {
        assert!(first[field].is_string(), "{field}: {first}");
    }
    assert!(first.get("health_url").is_none(), "{first}");

    let (status, _, beat) =
        send_json(s, Method::PUT, "/api/v1/engines/argo", register.clone()).await;
    assert_eq!(status, 200, "a repeat is a heartbeat: {beat}");
    assert_eq!(beat["registered_at"], first["registered_at"]);
    assert_eq!(publish(s, "app", "1.0.0", &["argo"]).await.0, 201);

    // The list shows configured and registered engines, by name.
    let (status, list) = s.get("/api/v1/engines").await;
    assert_eq!(status, 200);
    assert_eq!(list["enforced"], true);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["argo", "pulumi", "terraform"]);

    // No more heartbeats: it expires, stays visible with why, and publishes naming it fail.
    let expired = wait_for_health(s, "argo", "expired").await;
    assert_eq!(expired["usable"], false);
    let reason = expired["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.starts_with("registration expired: no heartbeat since ")
            && reason.ends_with("(ttl 1s)"),
        "{reason}"
    );
    let (status, body) = publish(s, "app", "1.1.0", &["argo"]).await;
    assert_eq!(status, 422);
    assert!(
        findings(&body).contains(&(
            "ENGINE_UNKNOWN".to_owned(),
            format!("engine \"argo\" is no longer registered: {reason}")
        )),
        "{body}"
    );
    let (_, body) = publish(s, "app", "1.1.0", &["ansible"]).await;
    assert_eq!(
        findings(&body)[0].1,
        "engine \"ansible\" is not registered (registered: pulumi, terraform)"
    );

    // Registering again brings it back.
    let (status, _, again) = send_json(s, Method::PUT, "/api/v1/engines/argo", register).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["health"], "unknown");
    assert_eq!(publish(s, "app", "1.1.0", &["argo"]).await.0, 201);
    assert!(f.registry.status("argo").unwrap().usable);
}

#[tokio::test]
async fn a_registered_health_url_is_probed() {
    let f = fixture().await;
    let s = &f.server;
    let (status, _, body) = send_json(
        s,
        Method::PUT,
        "/api/v1/engines/crossplane",
        json!({
            "health_url": f.endpoint.url,
            "health_interval_seconds": 0.05,
            "health_timeout_seconds": 0.3,
            "unhealthy_threshold": 1,
            "healthy_threshold": 1,
            "ttl_seconds": 60,
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["health_interval_seconds"], 0.05);
    assert_eq!(body["unhealthy_threshold"], 1);
    wait_for_health(s, "crossplane", "healthy").await;
    f.endpoint.set(Mode::Unavailable);
    let sick = wait_for_health(s, "crossplane", "unhealthy").await;
    assert_eq!(
        sick["reason"],
        "health check failed 1 time in a row: HTTP 503 Service Unavailable"
    );
    let (status, body) = publish(s, "queue", "1.0.0", &["crossplane"]).await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn bad_registrations_and_lookups_are_problems() {
    let f = fixture().await;
    let s = &f.server;
    let put = |path: &'static str, body: Value| send_json(s, Method::PUT, path, body);

    let problem = |expected_status: u16, code: &str, got: (u16, String, Value)| {
        let (status, content_type, body) = got;
        assert_eq!(
            (status, body["code"].as_str()),
            (expected_status, Some(code)),
            "{body}"
        );
        assert_eq!(content_type, "application/problem+json");
        body
    };
    let b = problem(
        400,
        "invalid_parameter",
        put("/api/v1/engines/Bad_Name", json!({})).await,
    );
    assert_eq!(b["details"]["parameter"], "name");
    let b = problem(
        400,
        "invalid_parameter",
        put("/api/v1/engines/argo", json!({"ttl_seconds": 0})).await,
    );
    assert_eq!(b["details"]["parameter"], "ttl_seconds");
    let b = problem(
        400,
        "invalid_parameter",
        put("/api/v1/engines/argo", json!({"ttl_seconds": 100000})).await,
    );
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains("must be between 1 and 3600 seconds"),
        "{b}"
    );
    let b = problem(
        400,
        "invalid_parameter",
        put(
            "/api/v1/engines/argo",
            json!({"health_url": "file:///etc/passwd"}),
        )
        .await,
    );
    assert_eq!(b["details"]["parameter"], "health_url");
    let b = problem(
        400,
        "invalid_parameter",
        put(
            "/api/v1/engines/argo",
            json!({"health_url": "http://127.0.0.1/h", "health_timeout_seconds": -1}),
        )
        .await,
    );
    assert_eq!(b["details"]["parameter"], "health_timeout_seconds");
    problem(
        400,
        "malformed_body",
        put("/api/v1/engines/argo", json!({"ttl": "60s"})).await,
    );
    problem(
        400,
        "malformed_body",
        put("/api/v1/engines/argo", json!([1, 2])).await,
    );
    problem(
        400,
        "malformed_body",
        s.send(
            Method::PUT,
            "/api/v1/engines/argo",
            "application/json",
            "{not json",
        )
        .await,
    );
    problem(
        415,
        "unsupported_media_type",
        s.send(Method::PUT, "/api/v1/engines/argo", "text/plain", "{}")
            .await,
    );
    let b = problem(
        409,
        "name_conflict",
        put(
            "/api/v1/engines/terraform",
            json!({"health_url": "http://127.0.0.1:9/x"}),
        )
        .await,
    );
    assert_eq!(b["details"]["owner"], "configuration");
    // Nothing above registered anything, nor changed the configured engine.
    assert!(f.registry.status("argo").is_none());
    assert_eq!(
        f.registry
            .status("terraform")
            .unwrap()
            .health_url
            .as_deref(),
        Some(f.endpoint.url.as_str())
    );

    let (status, body) = s.get("/api/v1/engines/ansible").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    assert_eq!(body["details"]["engine"], "ansible");
    let (status, body) = s.get("/api/v1/engines/Not%20A%20Name").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_parameter"))
    );
    let (status, body) = s.get("/api/v1/engines?unknown=1").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_parameter"))
    );
    let (status, _, _) = s
        .send(
            Method::DELETE,
            "/api/v1/engines/argo",
            "application/json",
            "",
        )
        .await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn without_a_registry_the_list_is_empty_and_registration_is_refused() {
    let s = TestServer::memory().await;
    let (status, list) = s.get("/api/v1/engines").await;
    assert_eq!(status, 200);
    assert_eq!(list, json!({"items": [], "enforced": false}));
    let (status, _, body) = send_json(&s, Method::PUT, "/api/v1/engines/argo", json!({})).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn the_openapi_document_describes_the_engine_endpoints() {
    let s = TestServer::memory().await;
    let (status, doc) = s.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let paths = &doc["paths"];
    assert!(paths["/api/v1/engines"]["get"].is_object(), "{paths}");
    assert!(paths["/api/v1/engines/{name}"]["get"].is_object());
    let put = &paths["/api/v1/engines/{name}"]["put"];
    assert!(put["requestBody"].is_object(), "{put}");
    for code in ["200", "201", "400", "409"] {
        assert!(put["responses"][code].is_object(), "{code}: {put}");
    }
    let schemas = &doc["components"]["schemas"];
    for schema in [
        "EngineStatus",
        "EngineList",
        "Registration",
        "EngineHealth",
        "EngineSource",
    ] {
        assert!(schemas[schema].is_object(), "{schema} missing");
    }
}

#[tokio::test]
async fn probe_errors_are_shown_to_admins_only() {
    // An engine probed on a port nothing listens on: its probes fail with a network error.
    let closed = nestor_testkit::free_port();
    let registry = Arc::new(
        Registry::new(
            [EngineDefinition {
                name: "terraform".into(),
                health: Some(HealthCheck {
                    interval: Duration::from_millis(50),
                    timeout: Duration::from_secs(1),
                    unhealthy_threshold: 1,
                    healthy_threshold: 1,
                    ..HealthCheck::new(format!("http://127.0.0.1:{closed}/health"))
                }),
            }],
            RegistrySettings {
                min_health_interval: Duration::from_millis(10),
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let stop = CancellationToken::new();
    tokio::spawn(registry.clone().run(stop.clone()));
    let mut config = nestor_testkit::locked_down();
    config.auth.anonymous_read = true;
    config
        .auth
        .tokens
        .push(nestor_testkit::token("ops", "a-token", &["admin"]));
    config.engines = Some(registry.clone());
    let s = TestServer::builder().config(config).start().await;
    let get = |token: Option<&'static str>| {
        let mut req = s.http.get(s.url("/api/v1/engines/terraform"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let admin = loop {
        let body = get(Some("a-token")).await;
        if body["health"] == "unhealthy" {
            break body;
        }
        assert!(Instant::now() < deadline, "never unhealthy: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let detail = admin["last_error"].as_str().unwrap_or_default();
    assert!(!detail.contains("details for admins"), "{admin}");
    for token in [None, Some("r-token")] {
        let body = get(token).await;
        assert_eq!(
            body["last_error"], "the health probe failed (details for admins)",
            "{body}"
        );
        assert!(!body.to_string().contains(detail), "{body}");
    }
    stop.cancel();
}

/// An event stream of the server at `base`, on a connection of its own: its first request (the
/// raw path), or after another request on the same kept-alive connection (`warm`: the
/// per-task path).
async fn feed_as(base: &str, token: Option<&str>, warm: bool) -> SseReader {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let with_token = |req: reqwest::RequestBuilder| match token {
        Some(t) => req.bearer_auth(t),
        None => req,
    };
    if warm {
        let res = with_token(http.get(format!("{base}/health")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.bytes().await.unwrap();
    }
    let res = with_token(http.get(format!("{base}/api/v1/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    SseReader::new(res)
}

/// The next `engine.status` event of `feed`.
async fn next_engine_status(feed: &mut SseReader) -> Value {
    loop {
        let ev = feed.next().await.expect("the feed stays open");
        if ev.event == "engine.status" {
            return ev.data;
        }
    }
}

#[tokio::test]
async fn the_feeds_engine_status_events_show_probe_errors_to_admins_only() {
    let closed = nestor_testkit::free_port();
    let registry = Arc::new(
        Registry::new(
            [EngineDefinition {
                name: "terraform".into(),
                health: Some(HealthCheck {
                    interval: Duration::from_millis(50),
                    timeout: Duration::from_secs(1),
                    unhealthy_threshold: 1,
                    healthy_threshold: 1,
                    ..HealthCheck::new(format!("http://127.0.0.1:{closed}/health"))
                }),
            }],
            RegistrySettings {
                min_health_interval: Duration::from_millis(10),
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let mut config = nestor_testkit::locked_down();
    config.auth.anonymous_read = true;
    config
        .auth
        .tokens
        .push(nestor_testkit::token("ops", "a-token", &["admin"]));
    config.engines = Some(registry.clone());
    let s = TestServer::builder().config(config).start().await;
    // Streams open before the first probe, on both paths.
    let mut admin = feed_as(&s.base, Some("a-token"), false).await;
    let mut admin_warm = feed_as(&s.base, Some("a-token"), true).await;
    let mut reader = feed_as(&s.base, Some("r-token"), false).await;
    let mut anonymous = feed_as(&s.base, None, false).await;
    let mut anonymous_warm = feed_as(&s.base, None, true).await;
    let stop = CancellationToken::new();
    tokio::spawn(registry.clone().run(stop.clone()));

    let unhealthy = |feed: &'static str| {
        move |e: &Value| {
            assert_eq!(e["name"], "terraform", "{feed}: {e}");
            e["health"] == "unhealthy"
        }
    };
    let first_unhealthy = async |feed: &mut SseReader, which: &'static str| loop {
        let e = next_engine_status(feed).await;
        if unhealthy(which)(&e) {
            return e;
        }
    };
    let full = first_unhealthy(&mut admin, "admin").await;
    let detail = full["last_error"].as_str().unwrap_or_default().to_owned();
    assert!(
        !detail.is_empty() && !detail.contains("details for admins"),
        "{full}"
    );
    assert_eq!(
        first_unhealthy(&mut admin_warm, "admin, per task").await,
        full
    );
    for (feed, which) in [
        (&mut reader, "reader"),
        (&mut anonymous, "anonymous"),
        (&mut anonymous_warm, "anonymous, per task"),
    ] {
        let e = first_unhealthy(feed, which).await;
        assert_eq!(
            e["last_error"], "the health probe failed (details for admins)",
            "{which}: {e}"
        );
        assert!(!e.to_string().contains(&detail), "{which}: {e}");
    }
    stop.cancel();
}
