//! Access control over HTTP: bearer tokens and scopes, anonymous reads, malformed headers, the
//! write rate limit, request ids and CORS.

use std::sync::Arc;

use nestor_api::{ApiConfig, AuthConfig, RateLimit};
use nestor_storage::MemoryStore;
use nestor_testkit::{TestServer, metric_sum, spec, token};
use reqwest::{Method, StatusCode};

async fn server(anonymous_read: bool, rate: Option<RateLimit>) -> TestServer {
    TestServer::builder()
        .store(Arc::new(MemoryStore::new()))
        .config(ApiConfig {
            auth: AuthConfig {
                anonymous_read,
                tokens: vec![
                    token("reader", "r-token", &["read"]),
                    token("ci", "p-token", &["publish"]),
                    token("ops", "a-token", &["admin"]),
                ],
                write_rate_limit: rate,
            },
            cors_origins: vec!["https://portal.example.com".into()],
            ..Default::default()
        })
        .start()
        .await
}

async fn call(
    s: &TestServer,
    method: Method,
    path: &str,
    auth: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, serde_json::Value) {
    let mut req = s.http.request(method.clone(), s.url(path));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    if method == Method::POST {
        req = req.json(&spec("pg", "1.0.0").build());
    }
    let res = req.send().await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    (status, headers, res.json().await.unwrap_or_default())
}

#[tokio::test]
async fn tokens_and_scopes_decide_what_a_request_may_do() {
    let s = server(false, None).await;
    let components = "/api/v1/components";

    // Public routes need nothing.
    for path in ["/health", "/version", "/api/v1/openapi.json"] {
        assert_eq!(call(&s, Method::GET, path, None).await.0, 200, "{path}");
    }

    // Without a token: 401 with a challenge and a problem body.
    let (status, headers, body) = call(&s, Method::GET, components, None).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], r#"Bearer realm="nestor""#);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(body["code"], "unauthorized");
    assert!(
        body["detail"].as_str().unwrap().contains("read scope"),
        "{body}"
    );

    // Malformed headers and unknown tokens.
    for bad in [
        "Basic cmVhZGVyOng=",
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "r-token",
    ] {
        let (status, headers, body) = call(&s, Method::GET, components, Some(bad)).await;
        assert_eq!(status, 401, "{bad:?}");
        assert!(
            headers["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_request"),
            "{bad:?}"
        );
        assert!(
            body["detail"].as_str().unwrap().contains("malformed"),
            "{body}"
        );
    }
    let (status, headers, _) = call(&s, Method::GET, components, Some("Bearer nope")).await;
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    // read reads but cannot publish; publish publishes; admin does both; the scheme's case
    // does not matter.
    assert_eq!(
        call(&s, Method::GET, components, Some("bearer r-token"))
            .await
            .0,
        200
    );
    let (status, _, body) = call(&s, Method::POST, components, Some("Bearer r-token")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "forbidden");
    assert_eq!(body["details"]["required_scope"], "publish");
    assert_eq!(body["details"]["token"], "reader");
    let (status, _, body) = call(&s, Method::POST, components, Some("Bearer p-token")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        call(
            &s,
            Method::GET,
            "/api/v1/components/pg",
            Some("Bearer a-token")
        )
        .await
        .0,
        200
    );
    // Syncing a source needs admin (this server has no sources: 404 once admitted).
    let sync = "/api/v1/sources/infra/sync";
    assert_eq!(
        call(&s, Method::POST, sync, Some("Bearer p-token")).await.0,
        403
    );
    assert_eq!(
        call(&s, Method::POST, sync, Some("Bearer a-token")).await.0,
        404
    );
    // Webhooks are judged by their signatures, not by bearer tokens.
    let (status, _, body) = call(&s, Method::POST, "/api/v1/webhooks/github", None).await;
    assert_ne!(body["code"], "unauthorized", "{status} {body}");

    // Refusals are visible in metrics, by reason (tests of this binary share the counters).
    assert!(refused(&s, "malformed").await >= 5.0);
    assert!(refused(&s, "unknown_token").await >= 1.0);
    assert!(refused(&s, "missing_token").await >= 1.0);
    assert!(refused(&s, "scope").await >= 2.0);
}

async fn refused(s: &TestServer, reason: &str) -> f64 {
    let text = s.text("/metrics").await;
    metric_sum(&text, "nestor_auth_refused_total", &[("reason", reason)])
}

#[tokio::test]
async fn anonymous_reads_and_the_write_rate_limit() {
    let s = server(
        true,
        Some(RateLimit {
            per_minute: 6,
            burst: 2,
        }),
    )
    .await;
    // Reads without a token; writes still need one.
    assert_eq!(
        call(&s, Method::GET, "/api/v1/components", None).await.0,
        200
    );
    assert_eq!(
        call(&s, Method::POST, "/api/v1/components", None).await.0,
        401
    );

    // Two writes in a burst, then 429 with Retry-After; another token has its own bucket.
    for _ in 0..2 {
        let status = call(
            &s,
            Method::POST,
            "/api/v1/components",
            Some("Bearer p-token"),
        )
        .await
        .0;
        assert!(status.is_success(), "{status}");
    }
    let (status, headers, body) = call(
        &s,
        Method::POST,
        "/api/v1/components",
        Some("Bearer p-token"),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "rate_limited");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    assert!(
        call(
            &s,
            Method::POST,
            "/api/v1/components",
            Some("Bearer a-token")
        )
        .await
        .0
        .is_success()
    );
    assert!(refused(&s, "rate_limited").await >= 1.0);
    // Reads are not limited.
    for _ in 0..10 {
        assert_eq!(
            call(
                &s,
                Method::GET,
                "/api/v1/components",
                Some("Bearer p-token")
            )
            .await
            .0,
            200
        );
    }
}

#[tokio::test]
async fn request_ids_and_cors() {
    let s = server(true, None).await;
    // A caller's request id comes back; without one, a UUID is made.
    let res = s
        .http
        .get(s.url("/api/v1/components"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-42");
    let res = s.http.get(s.url("/nope")).send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "{id}");

    // A preflight from an allowed origin is answered without a token; others get no grant.
    let preflight = |origin: &'static str| {
        s.http
            .request(Method::OPTIONS, s.url("/api/v1/components"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let res = preflight("https://portal.example.com").await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://portal.example.com"
    );
    let res = preflight("https://evil.example.com").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let res = s
        .http
        .get(s.url("/api/v1/components"))
        .header("origin", "https://portal.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://portal.example.com"
    );
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");
}
