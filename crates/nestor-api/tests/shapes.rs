//! The shapes of what the server takes, as the served OpenAPI document states them and as the
//! server enforces them (issue 14, items 7 and 8): one rule, one source (`nestor_model::limits`),
//! one phrasing on every route. Schemathesis checks the whole document against a running server
//! (crates/nestor/tests/schemathesis.rs); these pin the rules one by one.

use nestor_testkit::{TestServer, minimal};
use serde_json::{Value, json};

async fn server() -> TestServer {
    let s = TestServer::memory().await;
    s.publish(minimal("aws-vpc", "1.0.0")).await;
    s
}

async fn status_and_body(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn empty_query_values_are_refused_not_taken_as_absent() {
    let s = server().await;
    for (path, parameter) in [
        ("/api/v1/components?maturity=", "maturity"),
        ("/api/v1/components?limit=", "limit"),
        ("/api/v1/search?q=vpc&limit=", "limit"),
        ("/api/v1/sync-runs?source=", "source"),
        ("/api/v1/components/aws-vpc/dependents?cursor=", "cursor"),
    ] {
        let (status, body) = s.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["code"], "invalid_parameter", "{path}");
        assert_eq!(body["details"]["parameter"], parameter, "{path}");
    }
    let (status, body) = status_and_body(
        s.http
            .post(s.url("/api/v1/validate?source="))
            .json(&json!({"name": "aws-vpc", "version": "1.0.0"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["details"]["parameter"], "source");
}

#[tokio::test]
async fn validating_as_a_source_that_does_not_exist_is_not_found() {
    let s = server().await;
    let (status, body) = status_and_body(
        s.http
            .post(s.url("/api/v1/validate?source=nope"))
            .json(&json!({"name": "aws-vpc", "version": "1.0.1"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["details"]["source"], "nope");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no source \"nope\"")),
        "{body}"
    );
}

#[tokio::test]
async fn a_limit_is_phrased_the_same_on_every_route() {
    let s = server().await;
    for path in [
        "/api/v1/components?limit=0",
        "/api/v1/search?q=vpc&limit=501",
        "/api/v1/sync-runs?limit=0",
        "/api/v1/components/aws-vpc/dependents?limit=501",
    ] {
        let (status, body) = s.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("must be between 1 and 500") && !detail.contains(".."),
            "{path}: {detail}"
        );
    }
}

#[tokio::test]
async fn a_patch_sets_something_and_only_deprecated_may_be_null() {
    let s = server().await;
    let url = s.url("/api/v1/components/aws-vpc/versions/1.0.0");
    for body in [
        json!({}),
        json!({"description": null}),
        json!({"yanked": null}),
    ] {
        let (status, problem) =
            status_and_body(s.http.patch(&url).json(&body).send().await.unwrap()).await;
        assert_eq!(status, 400, "{body}: {problem}");
    }
    let (status, _) = status_and_body(
        s.http
            .patch(&url)
            .json(&json!({"deprecated": null}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        status, 200,
        "lifting a deprecation that is not there changes nothing"
    );
}

#[tokio::test]
async fn a_min_revision_ahead_of_every_write_is_refused_at_once() {
    let s = server().await;
    let started = std::time::Instant::now();
    let (status, body) = s.get("/api/v1/components?min_revision=1000000").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["details"]["parameter"], "min_revision");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[tokio::test]
async fn sizes_are_characters_as_the_schema_counts_them() {
    let s = server().await;
    // 256 characters of two bytes each: within the label value limit.
    let value = "é".repeat(256);
    let mut spec = minimal("aws-sg", "1.0.0").label("team", &value).build();
    let (status, body) = status_and_body(
        s.http
            .post(s.url("/api/v1/components"))
            .json(&spec)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    spec.labels.insert("team".into(), "é".repeat(257));
    spec.version = "1.0.1".into();
    let (status, body) = status_and_body(
        s.http
            .post(s.url("/api/v1/components"))
            .json(&spec)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    // A label condition (`key:value`) of 256 characters, 507 bytes: within the filter's limit.
    let (status, body) = s
        .get(&format!(
            "/api/v1/components?label=team:{}",
            "é".repeat(251)
        ))
        .await;
    assert_eq!(status, 200, "{body}");
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

#[tokio::test]
async fn the_document_states_the_rules_the_server_checks() {
    let s = server().await;
    let (_, doc) = s.get("/api/v1/openapi.json").await;

    let definition = schema(&doc, "Definition");
    assert_eq!(definition["additionalProperties"], false);
    assert!(definition["properties"].get("git_commit").is_none());
    for field in ["name", "version", "description", "deployment_engines"] {
        assert!(
            definition["required"]
                .as_array()
                .is_some_and(|r| r.contains(&json!(field))),
            "{field}"
        );
    }
    assert_eq!(
        definition["properties"]["name"]["pattern"],
        nestor_model::limits::NAME_PATTERN
    );
    assert_eq!(
        definition["properties"]["version"]["pattern"],
        nestor_model::limits::VERSION_PATTERN
    );
    assert_eq!(
        definition["properties"]["labels"]["maxProperties"],
        nestor_model::limits::MAX_ENTRIES
    );
    for part in ["Input", "Output", "Dependency", "AcknowledgedChange"] {
        assert_eq!(schema(&doc, part)["additionalProperties"], false, "{part}");
    }
    let publish = &doc["paths"]["/api/v1/components"]["post"]["requestBody"]["content"];
    for media in ["application/json", "application/yaml"] {
        assert_eq!(
            publish[media]["schema"]["$ref"], "#/components/schemas/Definition",
            "{media}"
        );
    }

    let patch = schema(&doc, "PatchRequest");
    assert_eq!(patch["minProperties"], 1);
    assert_eq!(patch["additionalProperties"], false);
    assert_eq!(patch["properties"]["description"]["type"], "string");

    let params = |path: &str, method: &str| -> Vec<Value> {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    for (path, method) in [
        ("/api/v1/components/{name}", "get"),
        ("/api/v1/components/{name}/versions/{version}", "patch"),
        ("/api/v1/engines/{name}", "put"),
    ] {
        let name = params(path, method)
            .into_iter()
            .find(|p| p["name"] == "name")
            .expect("a name parameter");
        assert_eq!(
            name["schema"]["pattern"],
            nestor_model::limits::NAME_PATTERN,
            "{path}"
        );
    }
    let runs = params("/api/v1/sync-runs", "get");
    let limit = runs.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], 500);
    for p in &runs {
        if p["schema"]["type"] == "string" || p["schema"]["type"] == json!(["string", "null"]) {
            assert_eq!(p["schema"]["minLength"], 1, "{p}");
        }
    }
}
