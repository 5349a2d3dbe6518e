//! The catalog index over HTTP: search, filters, facets, sort, totals, projections, cursors,
//! dependents with blast radius, read-your-writes and `min_revision`, and every bad input.

use std::sync::Arc;
use std::time::Duration;

use nestor_testkit::{TestServer, minimal, spec};
use serde_json::Value;

/// A small catalog: a base network, databases and caches that depend on it, a few labels.
async fn catalog() -> TestServer {
    let s = TestServer::memory().await;
    s.publish(
        minimal("base-vpc", "1.0.0")
            .description("The shared base network")
            .provider("aws")
            .category("network")
            .label("team", "core"),
    )
    .await;
    s.publish(
        minimal("aws-rds-postgres", "1.0.0")
            .description("Managed PostgreSQL database with backups")
            .provider("aws")
            .category("database")
            .dependency("base-vpc", "^1")
            .label("team", "data"),
    )
    .await;
    s.publish(
        minimal("gcp-cloudsql-postgres", "1.2.0")
            .description("Cloud SQL for postgres")
            .provider("gcp")
            .category("database")
            .label("team", "data")
            .label("legacy", "yes"),
    )
    .await;
    s.publish(
        minimal("aws-elasticache-redis", "2.0.0")
            .description("Redis cache, in the base network")
            .provider("aws")
            .category("cache")
            .dependency("base-vpc", ">=1, <2")
            .label("team", "web"),
    )
    .await;
    s.publish(
        minimal("app-stack", "1.0.0")
            .description("An application on postgres and redis")
            .provider("k8s")
            .category("platform")
            .dependency("aws-rds-postgres", "^1")
            .dependency("aws-elasticache-redis", "^2"),
    )
    .await;
    s
}

fn names(body: &Value, at: &str) -> Vec<String> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            let c = if at.is_empty() { i } else { &i[at] };
            c["name"].as_str().expect("name").to_owned()
        })
        .collect()
}

#[tokio::test]
async fn search_ranks_names_first_and_says_what_matched() {
    let s = catalog().await;
    let (status, body) = s.get("/api/v1/search?q=postgres").await;
    assert_eq!(status, 200, "{body}");
    let found = names(&body, "component");
    assert_eq!(found.len(), 3, "{body}");
    assert_eq!(
        found[2], "app-stack",
        "a description-only match ranks last: {found:?}"
    );
    assert_eq!(body["total"], 3);
    assert_eq!(body["revision"], 5);
    assert!(
        body["items"][0]["score"].as_f64().unwrap() > body["items"][2]["score"].as_f64().unwrap()
    );
    assert_eq!(
        body["items"][2]["matched"],
        serde_json::json!(["description"])
    );
    assert!(
        body["items"][0]["matched"]
            .as_array()
            .unwrap()
            .contains(&"name".into())
    );

    // As you type, with a typo, as a phrase, in one field.
    let (_, body) = s.get("/api/v1/search?q=elastica").await;
    assert_eq!(names(&body, "component"), ["aws-elasticache-redis"]);
    let (_, body) = s.get("/api/v1/search?q=postgrs%20").await;
    assert_eq!(body["total"], 3, "one typo on a word of 5+ letters: {body}");
    let (_, body) = s.get("/api/v1/search?q=%22managed%20postgresql%22").await;
    assert_eq!(names(&body, "component"), ["aws-rds-postgres"]);
    let (_, body) = s.get("/api/v1/search?q=name:redis").await;
    assert_eq!(names(&body, "component"), ["aws-elasticache-redis"]);
    // Combined with filters and facets.
    let (_, body) = s
        .get("/api/v1/search?q=postgres&provider=gcp&facets=provider")
        .await;
    assert_eq!(names(&body, "component"), ["gcp-cloudsql-postgres"]);
    assert_eq!(
        body["facets"][0]["values"],
        serde_json::json!([{"value": "gcp", "count": 1}])
    );
    s.stop().await;
}

#[tokio::test]
async fn lists_filter_with_sets_existence_and_negation_and_count_facets() {
    let s = catalog().await;
    let (_, body) = s
        .get("/api/v1/components?provider=aws,gcp&category=database")
        .await;
    assert_eq!(
        names(&body, ""),
        ["aws-rds-postgres", "gcp-cloudsql-postgres"]
    );
    let (_, body) = s.get("/api/v1/components?label=team").await;
    assert_eq!(body["total"], 4);
    let (_, body) = s
        .get("/api/v1/components?label=team&label!=team:data")
        .await;
    assert_eq!(names(&body, ""), ["aws-elasticache-redis", "base-vpc"]);
    let (_, body) = s
        .get("/api/v1/components?label!=legacy&label=team:data")
        .await;
    assert_eq!(names(&body, ""), ["aws-rds-postgres"]);
    let (_, body) = s
        .get("/api/v1/components?facets=provider,category,label:team&limit=1")
        .await;
    assert_eq!(body["total"], 5);
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    assert_eq!(body["facets"][0]["key"], "provider");
    assert_eq!(
        body["facets"][0]["values"][0],
        serde_json::json!({"value": "aws", "count": 3})
    );
    assert_eq!(body["facets"][2]["key"], "label:team");
    assert_eq!(
        body["facets"][2]["values"][0],
        serde_json::json!({"value": "data", "count": 2})
    );

    // Sorts, projections, every version.
    let (_, body) = s.get("/api/v1/components?sort=-published_at&limit=2").await;
    assert_eq!(names(&body, ""), ["app-stack", "aws-elasticache-redis"]);
    let (_, body) = s.get("/api/v1/components?fields=description&limit=1").await;
    let item = body["items"][0].as_object().unwrap();
    let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["description", "name", "version"]);
    s.publish(
        minimal("base-vpc", "1.1.0")
            .provider("aws")
            .category("network")
            .label("team", "core"),
    )
    .await;
    let (_, body) = s
        .get("/api/v1/components?name=base-vpc&all_versions=true")
        .await;
    assert_eq!(body["total"], 2);
    let versions: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["1.1.0", "1.0.0"]);
    s.stop().await;
}

#[tokio::test]
async fn cursors_walk_every_item_once_under_concurrent_writes() {
    let s = TestServer::memory().await;
    for i in 0..30 {
        s.publish(minimal(&format!("c-{i:02}"), "1.0.0").description("a postgres thing"))
            .await;
    }
    for path in [
        "/api/v1/components?limit=7",
        "/api/v1/components?limit=7&sort=-published_at",
        "/api/v1/search?q=postgres&limit=7",
    ] {
        let mut seen = Vec::new();
        let (_, mut body) = s.get(path).await;
        let mut round = 0;
        loop {
            let at = if path.contains("search") {
                "component"
            } else {
                ""
            };
            seen.extend(names(&body, at));
            // Writes between pages: new components before and after the cursor.
            round += 1;
            s.publish(
                minimal(&format!("a-{round}-{}", seen.len()), "1.0.0").description("postgres too"),
            )
            .await;
            s.publish(minimal(&format!("z-{round}-{}", seen.len()), "1.0.0"))
                .await;
            let Some(cursor) = body["next_cursor"].as_str() else {
                break;
            };
            let (status, next) = s.get(&format!("{path}&cursor={cursor}")).await;
            assert_eq!(status, 200, "{next}");
            body = next;
        }
        for i in 0..30 {
            let name = format!("c-{i:02}");
            assert_eq!(
                seen.iter().filter(|n| **n == name).count(),
                1,
                "{path}: {name} in {seen:?}"
            );
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn dependents_give_requirements_blast_radius_and_the_transitive_graph() {
    let s = catalog().await;
    let (status, body) = s.get("/api/v1/components/base-vpc/dependents").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        names(&body, "component"),
        ["aws-elasticache-redis", "aws-rds-postgres"]
    );
    assert_eq!(body["items"][0]["version_req"], ">=1, <2");
    assert_eq!(body["total"], 2);

    let (_, body) = s
        .get("/api/v1/components/base-vpc/dependents?version=1.5.0")
        .await;
    assert_eq!(
        body["blast_radius"],
        serde_json::json!({"admits": 2, "must_change": 0})
    );
    let (_, body) = s
        .get("/api/v1/components/base-vpc/dependents?version=2.0.0")
        .await;
    assert_eq!(
        body["blast_radius"],
        serde_json::json!({"admits": 0, "must_change": 2})
    );
    assert_eq!(body["items"][0]["admits"], false);

    let (_, body) = s
        .get("/api/v1/components/base-vpc/dependents?transitive=true&limit=2")
        .await;
    assert_eq!(body["total"], 3);
    assert_eq!(body["items"][0]["depth"], 1);
    let cursor = body["next_cursor"].as_str().expect("a second page");
    let (_, body) = s
        .get(&format!(
            "/api/v1/components/base-vpc/dependents?transitive=true&limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(names(&body, "component"), ["app-stack"]);
    assert_eq!(body["items"][0]["depth"], 2);
    let (status, body) = s.get("/api/v1/components/nope/dependents").await;
    assert_eq!(status, 404, "{body}");
    s.stop().await;
}

#[tokio::test]
async fn a_publish_is_searchable_before_its_response_returns() {
    let s = catalog().await;
    // The index is built by the first query; then every publish must be visible at once.
    let _ = s.get("/api/v1/search?q=postgres").await;
    for i in 0..20 {
        let name = format!("fresh-{i}");
        let r = s
            .publish(minimal(&name, "1.0.0").description("zanzibar"))
            .await;
        let (_, body) = s
            .get(&format!(
                "/api/v1/search?q=zanzibar&min_revision={}",
                r.component.revision
            ))
            .await;
        assert_eq!(body["total"], i + 1, "{body}");
        let (_, body) = s.get(&format!("/api/v1/components?name={name}")).await;
        assert_eq!(body["total"], 1);
    }
    s.stop().await;
}

#[tokio::test]
async fn bad_queries_are_precise_problems() {
    let s = catalog().await;
    let cases: [(&str, &str, Option<usize>); 12] = [
        ("/api/v1/search?q=%22open", "q", Some(1)),
        ("/api/v1/search?q=aws%20colour:red", "q", Some(5)),
        (
            "/api/v1/search?q=a%20b%20c%20d%20e%20f%20g%20h%20i%20j%20k%20l%20m%20n%20o%20p%20q",
            "q",
            Some(33),
        ),
        ("/api/v1/search?q=!!", "q", Some(1)),
        ("/api/v1/search", "q", None),
        ("/api/v1/components?facets=colour", "facets", None),
        ("/api/v1/components?sort=size", "sort", None),
        ("/api/v1/components?sort=relevance", "sort", None),
        ("/api/v1/components?fields=secret", "fields", None),
        ("/api/v1/components?provider=aws,", "provider", None),
        ("/api/v1/components?cursor=bm90LW91cnM", "cursor", None),
        ("/api/v1/components?limit=0", "limit", None),
    ];
    for (path, parameter, position) in cases {
        let (status, body) = s.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        let text = body.to_string();
        assert!(text.contains(parameter), "{path}: {body}");
        if let Some(p) = position {
            assert_eq!(body["details"]["position"], p, "{path}: {body}");
        }
    }
    let long = "a".repeat(1100);
    let (status, body) = s.get(&format!("/api/v1/search?q={long}")).await;
    assert_eq!(status, 400, "{body}");
    // A cursor of one query used with another.
    let (_, body) = s.get("/api/v1/components?limit=1").await;
    let cursor = body["next_cursor"].as_str().unwrap();
    let (status, body) = s
        .get(&format!(
            "/api/v1/components?limit=1&provider=aws&cursor={cursor}"
        ))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "invalid_cursor");
    // A revision no write has made: refused at once (waiting could not reach it).
    let started = std::time::Instant::now();
    let res = reqwest::get(s.url("/api/v1/components?min_revision=999"))
        .await
        .expect("answered");
    assert_eq!(res.status(), 400);
    assert!(started.elapsed() < Duration::from_secs(2));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "invalid_parameter");
    assert_eq!(body["details"]["parameter"], "min_revision");
    s.stop().await;
}

/// Two replicas on one DynamoDB: a publish through A is found by search on B with
/// `min_revision`, although B's index learns of it only from the shared log.
#[tokio::test]
async fn a_publish_on_one_replica_is_found_on_another_with_min_revision() {
    let Some(endpoint) = nestor_testkit::dynamodb::endpoint() else {
        return;
    };
    let prefix = nestor_testkit::dynamodb::unique_prefix();
    let open = || async {
        let store = nestor_storage::DynamoStore::new(&nestor_testkit::dynamodb::options(
            &endpoint, &prefix,
        ))
        .await
        .expect("dynamodb client");
        store.migrate().await.expect("tables");
        Arc::new(store) as Arc<dyn nestor_storage::CatalogStore>
    };
    let (store_a, store_b) = (open().await, open().await);
    let a = TestServer::builder().store(store_a).start().await;
    let catalog_b = nestor_testkit::catalog(store_b);
    let b = TestServer::builder()
        .catalog(catalog_b.clone())
        .start()
        .await;
    let stop = tokio_util::sync::CancellationToken::new();
    let follower = {
        let (catalog_b, stop) = (catalog_b.clone(), stop.clone());
        tokio::spawn(async move {
            catalog_b.build_index().await.expect("index");
            catalog_b
                .follow_index(Duration::from_secs(5), stop.cancelled_owned())
                .await
        })
    };
    a.publish(minimal("base-vpc", "1.0.0")).await;
    // B's index is built (and then only follows the log every 5 s, or on demand).
    let (_, body) = b.get("/api/v1/search?q=base").await;
    assert!(body["total"].as_u64().is_some(), "{body}");
    let r = a
        .publish(spec("aws-rds-postgres", "1.0.0").description("replicated zanzibar"))
        .await;
    let revision = r.component.revision;
    let (status, body) = b
        .get(&format!(
            "/api/v1/search?q=zanzibar&min_revision={revision}"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body, "component"), ["aws-rds-postgres"], "{body}");
    assert!(body["revision"].as_u64().unwrap() >= revision.0);
    stop.cancel();
    let _ = follower.await;
    a.stop().await;
    b.stop().await;
}
