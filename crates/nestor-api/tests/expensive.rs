//! A definition built to be expensive — tens of thousands of unknown keys — is answered with the
//! first findings and a count, and parsing it does not hold up the async workers: `/health`
//! answers while such requests run.

use nestor_testkit::TestServer;

fn hostile_definition(unknown_keys: usize) -> String {
    let mut text = String::from(
        "name: a\nversion: 1.0.0\ndescription: d\nprovider: aws\ncategory: c\n\
         resource_type: r\ndeployment_engines: [t]\n",
    );
    for i in 0..unknown_keys {
        text.push_str(&format!("unknown_key_{i}: x\n"));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_definitions_are_capped_and_health_answers_meanwhile() {
    let server = TestServer::builder()
        .configure(|c| c.max_body_bytes = 1024 * 1024)
        .start()
        .await;
    let body = hostile_definition(30_000);
    assert!(body.len() > 500_000, "{}", body.len());
    let validate = || {
        server
            .http
            .post(server.url("/api/v1/validate"))
            .header("content-type", "application/yaml")
            .body(body.clone())
            .send()
    };
    let health = async {
        // Once the two validations are under way.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        server.get("/health").await
    };
    let (a, b, (health_status, _)) = tokio::join!(validate(), validate(), health);
    assert_eq!(health_status, 200);
    for response in [a, b] {
        let response = response.unwrap();
        assert_eq!(response.status(), 200);
        let report: serde_json::Value = response.json().await.unwrap();
        let findings = report["findings"].as_array().unwrap();
        assert_eq!(report["valid"], false);
        assert_eq!(findings.len(), nestor_model::MAX_UNKNOWN_FIELD_ERRORS + 1);
        assert_eq!(findings[0]["rule"], "FIELD_UNKNOWN");
        let last = findings.last().unwrap()["message"].as_str().unwrap();
        assert!(last.starts_with("29900 more unknown field(s)"), "{last}");
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_problem_on_every_route() {
    let server = TestServer::builder()
        .configure(|c| c.webhook_max_body_bytes = 1024 * 1024)
        .start()
        .await;
    let big = vec![b'x'; 2 * 1024 * 1024];
    for path in ["/api/v1/webhooks/github", "/api/v1/validate"] {
        let response = server
            .http
            .post(server.url(path))
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "payload_too_large", "{path}");
    }
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_the_body_arrives() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::memory().await;
    let mut conn = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    conn.write_all(
        b"POST /api/v1/validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 10000000000\r\nConnection: close\r\n\r\n{\"name\":",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    // Bounded only so that a regression (waiting for the body) fails instead of hanging.
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        conn.read_to_end(&mut answer),
    )
    .await
    .expect("no answer before the body arrived")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
}
