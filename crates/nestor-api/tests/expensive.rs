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
