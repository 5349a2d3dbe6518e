//! Acknowledged breaking changes over HTTP (issue 14, item 12), with the real case the issue
//! reports: terraform-aws-rds 6.1.1 changed an input from string to number in a patch release.
//! Allowed publishers get the change as a warning, stored with the version, shown by the API and
//! counted in `/metrics`; others are refused.

use std::sync::Arc;

use nestor_catalog::Catalog;
use nestor_testkit::{TestServer, memory_store, metric_sum, spec};
use nestor_validation::{GatePolicy, Validator};
use serde_json::{Value, json};

fn rds(version: &str, port_type: &str) -> Value {
    let mut d = serde_json::to_value(spec("terraform-aws-rds", version).build()).unwrap();
    d["optional_inputs"] = json!([{"name": "port", "type": port_type}]);
    d
}

fn acknowledged(mut d: Value) -> Value {
    d["acknowledged_breaking_changes"] = json!([{
        "rule": "INPUT_TYPE_CHANGED",
        "path": "inputs[port].type",
        "reason": "mirrors upstream 6.1.1, which changed port from string to number in a patch release",
    }]);
    d
}

async fn server(policy: GatePolicy) -> TestServer {
    let catalog = Arc::new(Catalog::new(
        memory_store(),
        Validator::full_with(policy),
        None,
    ));
    TestServer::builder().catalog(catalog).start().await
}

#[tokio::test]
async fn an_allowed_publisher_publishes_an_acknowledged_breaking_patch() {
    // API publishes act as `api:anonymous` while access control is off.
    let s = server(GatePolicy {
        may_acknowledge: ["api:anonymous".to_owned()].into(),
        ..Default::default()
    })
    .await;
    let res = s
        .post_json("/api/v1/components", &rds("6.1.0", "string"))
        .await;
    assert_eq!(res.status(), 201);

    // Without the acknowledgement the patch is refused, as before.
    let res = s
        .post_json("/api/v1/components", &rds("6.1.1", "number"))
        .await;
    assert_eq!(res.status(), 422);

    let res = s
        .post_json("/api/v1/components", &acknowledged(rds("6.1.1", "number")))
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["warnings"][0]["rule"], "BREAKING_CHANGE_ACKNOWLEDGED",
        "{body}"
    );
    assert_eq!(body["warnings"][0]["path"], "inputs[port].type");

    // Stored with the version, and shown by the API.
    let (status, version) = s
        .get("/api/v1/components/terraform-aws-rds/versions/6.1.1")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        version["acknowledged_breaking_changes"][0]["rule"],
        "INPUT_TYPE_CHANGED"
    );
    assert!(
        version["acknowledged_breaking_changes"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("mirrors upstream 6.1.1")
    );
    // The acknowledgements are part of the version's immutable record.
    let res = s
        .post_json("/api/v1/components", &rds("6.1.1", "number"))
        .await;
    assert_eq!(res.status(), 409);
    // The diff still classifies the change for what it is.
    let (_, diff) = s
        .get("/api/v1/components/terraform-aws-rds/diff?from=6.1.0&to=6.1.1")
        .await;
    assert_eq!(diff["required_bump"], "major");

    // Counted.
    let scrape = s.text("/metrics").await;
    assert!(
        metric_sum(
            &scrape,
            "nestor_gate_acknowledged_changes_total",
            &[("origin", "api:anonymous")]
        ) >= 1.0,
        "{scrape}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_publisher_that_is_not_allowed_cannot_acknowledge() {
    let s = server(GatePolicy::default()).await;
    s.post_json("/api/v1/components", &rds("6.1.0", "string"))
        .await;
    let res = s
        .post_json("/api/v1/components", &acknowledged(rds("6.1.1", "number")))
        .await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    let rules: Vec<&str> = body["details"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"ACKNOWLEDGEMENT_NOT_ALLOWED"), "{rules:?}");
    assert!(rules.contains(&"INPUT_TYPE_CHANGED"), "{rules:?}");
    s.stop().await;
}

#[tokio::test]
async fn a_changed_default_is_major_when_configured() {
    let s = server(GatePolicy {
        default_change: nestor_model::Bump::Major,
        ..Default::default()
    })
    .await;
    let with_default = |version: &str, d: i64| {
        let mut v = serde_json::to_value(spec("pg", version).build()).unwrap();
        v["optional_inputs"] = json!([{"name": "storage_gb", "type": "integer", "default": d}]);
        v
    };
    assert_eq!(
        s.post_json("/api/v1/components", &with_default("1.0.0", 20))
            .await
            .status(),
        201
    );
    let res = s
        .post_json("/api/v1/components", &with_default("1.1.0", 50))
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        s.post_json("/api/v1/components", &with_default("2.0.0", 50))
            .await
            .status(),
        201
    );
    let (_, diff) = s
        .get("/api/v1/components/pg/diff?from=1.0.0&to=2.0.0")
        .await;
    assert_eq!(diff["required_bump"], "major", "{diff}");
    s.stop().await;
}

#[tokio::test]
async fn with_tokens_only_the_allowed_token_may_acknowledge() {
    let catalog = Arc::new(Catalog::new(
        memory_store(),
        Validator::full_with(GatePolicy {
            may_acknowledge: ["api:mirror".to_owned()].into(),
            ..Default::default()
        }),
        None,
    ));
    let mut config = nestor_testkit::locked_down();
    config.auth.tokens = vec![
        nestor_testkit::token("mirror", "m-token", &["publish"]),
        nestor_testkit::token("other", "o-token", &["publish"]),
    ];
    let s = TestServer::builder()
        .catalog(catalog)
        .config(config)
        .start()
        .await;
    let http = reqwest::Client::new();
    let publish = |token: &'static str, body: Value| {
        let req = http
            .post(s.url("/api/v1/components"))
            .bearer_auth(token)
            .json(&body);
        async move { req.send().await.unwrap() }
    };
    assert_eq!(
        publish("m-token", rds("6.1.0", "string")).await.status(),
        201
    );
    // "other" may not even write mirror's name; for a name of its own, it may not acknowledge.
    assert_eq!(
        publish("o-token", acknowledged(rds("6.1.1", "number")))
            .await
            .status(),
        403
    );
    let mut theirs = rds("6.1.0", "string");
    theirs["name"] = "other-rds".into();
    assert_eq!(publish("o-token", theirs.clone()).await.status(), 201);
    theirs["version"] = "6.1.1".into();
    theirs["optional_inputs"] = json!([{"name": "port", "type": "number"}]);
    let res = publish("o-token", acknowledged(theirs)).await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert!(
        body.to_string().contains("ACKNOWLEDGEMENT_NOT_ALLOWED"),
        "{body}"
    );
    let res = publish("m-token", acknowledged(rds("6.1.1", "number"))).await;
    assert_eq!(res.status(), 201, "the allowed token acknowledges");
    s.stop().await;
}
