//! Names published through the API belong to their owners over HTTP: the first publisher's
//! token, then whoever the owners add (`/api/v1/components/{name}/owners`); other publish
//! tokens get 403 naming the owners, administrators may do everything, everyone may read, and
//! with access control off everybody may do everything.

use nestor_api::{ApiConfig, AuthConfig};
use nestor_testkit::{TestServer, spec, token};
use reqwest::Method;
use serde_json::{Value, json};

async fn server() -> TestServer {
    TestServer::builder()
        .config(ApiConfig {
            auth: AuthConfig {
                anonymous_read: true,
                tokens: vec![
                    token("reader", "r-token", &["read"]),
                    token("alice", "alice-token", &["publish"]),
                    token("bob", "bob-token", &["publish"]),
                    token("ops", "ops-token", &["admin"]),
                ],
                write_rate_limit: None,
            },
            ..Default::default()
        })
        .start()
        .await
}

/// `method path` with `token` (none: anonymous) and a JSON `body`; (status, JSON body).
async fn call(
    s: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = s.http.request(method, s.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn definition(version: &str) -> Value {
    spec("pg", version).json()
}

/// A 403 problem naming `owners`.
fn assert_not_owner(what: &str, (status, body): (u16, Value), owners: &[&str]) {
    assert_eq!(status, 403, "{what}: {body}");
    assert_eq!(body["code"], "forbidden", "{what}: {body}");
    assert_eq!(body["details"]["owners"], json!(owners), "{what}: {body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    for o in owners {
        assert!(detail.contains(o), "{what}: the detail names {o}: {detail}");
    }
}

#[tokio::test]
async fn api_names_belong_to_their_first_publisher_and_the_owners_they_add() {
    let s = server().await;
    let (alice, bob, ops) = (Some("alice-token"), Some("bob-token"), Some("ops-token"));
    let publish = "/api/v1/components";
    let owners = "/api/v1/components/pg/owners";

    let (status, body) = call(&s, Method::POST, publish, alice, Some(definition("1.0.0"))).await;
    assert_eq!(status, 201, "{body}");

    // Another publish token: no new version, no update, no yank, no description, no owners.
    assert_not_owner(
        "publish",
        call(&s, Method::POST, publish, bob, Some(definition("1.1.0"))).await,
        &["alice"],
    );
    let mut redescribed = definition("1.0.0");
    redescribed["description"] = json!("taken over");
    assert_not_owner(
        "descriptive update",
        call(&s, Method::POST, publish, bob, Some(redescribed.clone())).await,
        &["alice"],
    );
    let version = "/api/v1/components/pg/versions/1.0.0";
    assert_not_owner(
        "yank",
        call(
            &s,
            Method::PATCH,
            version,
            bob,
            Some(json!({"yanked": true})),
        )
        .await,
        &["alice"],
    );
    assert_not_owner(
        "describe",
        call(
            &s,
            Method::PATCH,
            version,
            bob,
            Some(json!({"description": "mine"})),
        )
        .await,
        &["alice"],
    );
    assert_not_owner(
        "add itself",
        call(
            &s,
            Method::PUT,
            owners,
            bob,
            Some(json!({"owners": ["bob"]})),
        )
        .await,
        &["alice"],
    );
    let (_, stored) = s.get(version).await;
    assert_eq!(stored["yanked"], false);
    assert_ne!(stored["description"], "mine");

    // Anyone may read the owners.
    let (status, body) = s.get(owners).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"name": "pg", "owners": ["alice"]}));

    // The owner adds bob (a configured token; an unknown one is refused).
    let (status, body) = call(
        &s,
        Method::PUT,
        owners,
        alice,
        Some(json!({"owners": ["mallory"]})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_parameter")),
        "{body}"
    );
    assert!(
        body["detail"].as_str().unwrap().contains("mallory"),
        "{body}"
    );
    let (status, body) = call(
        &s,
        Method::PUT,
        owners,
        alice,
        Some(json!({"owners": ["bob"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["owners"], json!(["alice", "bob"]));
    let (status, body) = call(&s, Method::POST, publish, bob, Some(definition("1.1.0"))).await;
    assert_eq!(status, 201, "{body}");

    // Bob removes alice, who is refused from then on; the last owner stays.
    let (status, body) = call(
        &s,
        Method::DELETE,
        owners,
        bob,
        Some(json!({"owners": ["alice"]})),
    )
    .await;
    assert_eq!(
        (status, body["owners"].clone()),
        (200, json!(["bob"])),
        "{body}"
    );
    assert_not_owner(
        "a removed owner",
        call(&s, Method::POST, publish, alice, Some(definition("1.2.0"))).await,
        &["bob"],
    );
    let (status, body) = call(
        &s,
        Method::DELETE,
        owners,
        bob,
        Some(json!({"owners": ["bob"]})),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // An administrator may do everything; a read token may change nothing.
    let (status, body) = call(&s, Method::POST, publish, ops, Some(definition("1.2.0"))).await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = call(
        &s,
        Method::PATCH,
        version,
        ops,
        Some(json!({"yanked": true})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = call(
        &s,
        Method::PUT,
        owners,
        ops,
        Some(json!({"owners": ["alice"]})),
    )
    .await;
    assert_eq!(
        (status, body["owners"].clone()),
        (200, json!(["bob", "alice"]))
    );
    let (status, body) = call(
        &s,
        Method::PUT,
        owners,
        Some("r-token"),
        Some(json!({"owners": ["bob"]})),
    )
    .await;
    assert_eq!(
        (status, body["details"]["required_scope"].as_str()),
        (403, Some("publish"))
    );

    let (status, _) = s.get("/api/v1/components/nothing/owners").await;
    assert_eq!(status, 404);

    // The same through nestor-client.
    let bob_client = nestor_client::Client::with_token(&s.url(""), "bob-token").unwrap();
    let list = bob_client.add_owners("pg", &["ops"]).await.unwrap();
    assert_eq!(list.owners, ["bob", "alice", "ops"]);
    let list = bob_client.remove_owners("pg", &["ops"]).await.unwrap();
    assert_eq!(list.owners, ["bob", "alice"]);
    assert_eq!(s.client.owners("pg").await.unwrap(), list);
    s.stop().await;
}

#[tokio::test]
async fn with_access_control_off_everybody_may_do_everything() {
    let s = TestServer::memory().await;
    let publish = "/api/v1/components";
    let (status, body) = call(&s, Method::POST, publish, None, Some(definition("1.0.0"))).await;
    assert_eq!(status, 201, "{body}");
    let owners = "/api/v1/components/pg/owners";
    assert_eq!(s.get(owners).await.1["owners"], json!(["anonymous"]));
    let (status, body) = call(
        &s,
        Method::PUT,
        owners,
        None,
        Some(json!({"owners": ["ci"]})),
    )
    .await;
    assert_eq!(
        (status, body["owners"].clone()),
        (200, json!(["anonymous", "ci"]))
    );
    let (status, body) = call(
        &s,
        Method::DELETE,
        owners,
        None,
        Some(json!({"owners": ["anonymous"]})),
    )
    .await;
    assert_eq!((status, body["owners"].clone()), (200, json!(["ci"])));
    // Not an owner any more, but anonymous has every right while access control is off.
    let (status, body) = call(&s, Method::POST, publish, None, Some(definition("1.1.0"))).await;
    assert_eq!(status, 201, "{body}");
    let version = "/api/v1/components/pg/versions/1.0.0";
    let (status, body) = call(
        &s,
        Method::PATCH,
        version,
        None,
        Some(json!({"yanked": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    s.stop().await;
}
