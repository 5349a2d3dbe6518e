//! Query strings mean what they say: an empty value is refused (never taken as absent), and
//! `?source=` on validation must name a configured source.

use nestor_testkit::TestServer;

#[tokio::test]
async fn empty_query_values_and_unknown_sources_are_refused() {
    let server = TestServer::memory().await;
    for (path, parameter) in [
        ("/api/v1/components?maturity=", "maturity"),
        ("/api/v1/components?limit=", "limit"),
        ("/api/v1/components?provider=aws&label=", "label"),
        ("/api/v1/search?q=vpc&limit=", "limit"),
        ("/api/v1/events?provider=", "provider"),
        ("/api/v1/events?since=", "since"),
        ("/api/v1/sync-runs?source=", "source"),
    ] {
        let (status, body) = server.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["code"], "invalid_parameter", "{path}: {body}");
        assert_eq!(body["details"]["parameter"], parameter, "{path}: {body}");
    }

    let definition = serde_json::json!({
        "name": "aws-vpc", "version": "1.0.0", "description": "A VPC", "provider": "aws",
        "category": "network", "resource_type": "aws_vpc", "deployment_engines": ["terraform"],
    });
    let response = server
        .post_json("/api/v1/validate?source=nope", &definition)
        .await;
    assert_eq!(response.status(), 400);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["details"]["parameter"], "source", "{problem}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("no source \"nope\" is configured"),
        "{problem}"
    );
}
