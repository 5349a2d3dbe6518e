//! Who wrote each change, over HTTP: the token of an API publish or patch on the version JSON
//! and on the change event of the stream, and in the OpenAPI schemas.

use nestor_api::{ApiConfig, AuthConfig};
use nestor_testkit::{SseReader, TestServer, spec, token};
use serde_json::{Value, json};

#[tokio::test]
async fn versions_and_change_events_name_the_token_that_wrote_them() {
    let s = TestServer::builder()
        .config(ApiConfig {
            auth: AuthConfig {
                anonymous_read: true,
                tokens: vec![
                    token("alice", "alice-token", &["publish"]),
                    token("ops", "ops-token", &["admin"]),
                ],
                write_rate_limit: None,
            },
            ..Default::default()
        })
        .start()
        .await;
    let res = s.http.get(s.url("/api/v1/events")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut sse = SseReader::new(res);
    sse.raw_until("retry:").await;

    let res = s
        .http
        .post(s.url("/api/v1/components"))
        .bearer_auth("alice-token")
        .json(&spec("pg", "1.0.0").build())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let published: Value = res.json().await.unwrap();
    let alice = json!({"kind": "api", "token": "alice"});
    assert_eq!(published["component"]["published_by"], alice);
    let res = s
        .http
        .patch(s.url("/api/v1/components/pg/versions/1.0.0"))
        .bearer_auth("ops-token")
        .json(&json!({"yanked": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let ops = json!({"kind": "api", "token": "ops"});
    let (status, version) = s.get("/api/v1/components/pg/versions/1.0.0").await;
    assert_eq!(status, 200);
    assert_eq!(version["published_by"], alice, "{version}");
    assert_eq!(version["changed_by"], ops, "{version}");

    let event = sse.next().await.unwrap();
    assert_eq!(event.event, "component.published");
    assert_eq!(event.data["changed_by"], alice, "{}", event.data);
    assert_eq!(event.data["component"]["published_by"], alice);
    let event = sse.next().await.unwrap();
    assert_eq!(event.event, "component.yanked");
    assert_eq!(event.data["changed_by"], ops, "{}", event.data);
    assert_eq!(event.data["component"]["published_by"], alice);
    s.stop().await;

    // With access control off, everybody writes as `anonymous`.
    let s = TestServer::memory().await;
    let written = s.publish(spec("pg", "1.0.0")).await;
    assert_eq!(
        written.component.published_by,
        Some(nestor_model::Actor::Api {
            token: "anonymous".into()
        }),
        "read back through nestor-client's model"
    );
    s.stop().await;
}

#[tokio::test]
async fn the_openapi_schemas_describe_the_writers() {
    let doc = serde_json::to_value(nestor_api::openapi()).unwrap();
    let schemas = &doc["components"]["schemas"];
    // `Component` is its spec (`allOf[0]`) plus the server-set fields (`allOf[1]`).
    let server_set = &schemas["Component"]["allOf"][1];
    for field in ["published_by", "changed_by"] {
        let property = &server_set["properties"][field];
        assert!(
            property.to_string().contains("#/components/schemas/Actor"),
            "Component.{field}: {property}"
        );
        let required = server_set["required"].as_array().unwrap();
        assert!(
            !required.contains(&json!(field)),
            "Component.{field} is optional"
        );
    }
    let actor = schemas["Actor"].to_string();
    for part in [
        "\"api\"", "\"sync\"", "token", "source", "run", "commit", "kind",
    ] {
        assert!(actor.contains(part), "Actor has {part}: {actor}");
    }
}
