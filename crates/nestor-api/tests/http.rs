//! HTTP integration tests: a real server on 127.0.0.1, real requests, every documented answer.

use std::sync::Arc;

use nestor_model::{ErrorCode, PatchRequest, PublishOutcome};
use nestor_testkit::{TestServer, spec};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn publish_then_read_every_way() {
    let s = TestServer::memory().await;
    let res = s
        .post_json("/api/v1/components", &spec("pg", "1.0.0").build())
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.headers()["location"],
        "/api/v1/components/pg/versions/1.0.0"
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["outcome"], "created");
    assert_eq!(body["component"]["revision"], 1);
    assert!(
        body["component"]["content_hash"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );

    let v = s.client.version("pg", "1.0.0").await.unwrap();
    assert_eq!(v.spec.required_inputs[0].name, "instance_class");
    s.publish(spec("pg", "1.1.0")).await;
    s.publish(spec("pg", "2.0.0-rc.1")).await;
    assert_eq!(s.client.latest("pg").await.unwrap().spec.version, "1.1.0");
    let (_, pre) = s.get("/api/v1/components/pg?include_prerelease=true").await;
    assert_eq!(pre["version"], "2.0.0-rc.1");
    let versions = s.client.versions("pg").await.unwrap();
    assert_eq!(
        versions
            .items
            .iter()
            .map(|c| c.version())
            .collect::<Vec<_>>(),
        ["2.0.0-rc.1", "1.1.0", "1.0.0"]
    );
    assert_eq!(versions.revision.0, 3);
    let page = s.client.list(&Default::default()).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.revision.0, 3);
    assert!(page.next_cursor.is_none());
    assert_eq!(
        s.client.resolve("pg", "~1.0").await.unwrap().spec.version,
        "1.0.0"
    );
    s.stop().await;
}

#[tokio::test]
async fn republish_is_idempotent_updates_descriptions_and_rejects_interface_changes() {
    let s = TestServer::memory().await;
    s.publish(spec("pg", "1.0.0")).await;
    let again = s
        .post_json("/api/v1/components", &spec("pg", "1.0.0").build())
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(
        again.json::<serde_json::Value>().await.unwrap()["outcome"],
        "unchanged"
    );

    let mut described = spec("pg", "1.0.0").build();
    described.description = "Now with a better description".into();
    let r = s.client.publish(&described).await.unwrap();
    assert_eq!(r.outcome, PublishOutcome::Updated);

    let mut changed = spec("pg", "1.0.0").build();
    changed.optional_inputs[0].default = Some(json!(50));
    let (status, ct, body) = s
        .send(
            Method::POST,
            "/api/v1/components",
            "application/json",
            serde_json::to_vec(&changed).unwrap(),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(ct, "application/problem+json");
    assert_eq!(body["code"], "version_conflict");
    assert_eq!(body["type"], "urn:nestor:problem:version_conflict");
    assert_eq!(
        body["details"]["differences"][0]["path"],
        "optional_inputs[storage_gb].default"
    );
    assert_eq!(body["details"]["differences"][0]["published"], 20);
    assert_eq!(body["details"]["differences"][0]["submitted"], 50);
    assert_eq!(
        s.client
            .version("pg", "1.0.0")
            .await
            .unwrap()
            .spec
            .optional_inputs[0]
            .default,
        Some(json!(20))
    );
    s.stop().await;
}

#[tokio::test]
async fn bad_definitions_get_precise_problems_and_write_nothing() {
    let s = TestServer::memory().await;
    let post =
        |ct: &'static str, body: Vec<u8>| s.send(Method::POST, "/api/v1/components", ct, body);

    // Several rule violations at once: all reported.
    let mut bad = serde_json::to_value(spec("pg", "1.0.0").build()).unwrap();
    bad["name"] = json!("Bad_Name");
    bad["version"] = json!("1.0.0+build.1");
    bad["optional_inputs"] = json!([{"name": "instance_class", "type": "integer", "default": "x"}]);
    let (status, _, body) = post("application/json", serde_json::to_vec(&bad).unwrap()).await;
    assert_eq!(status, 422);
    assert_eq!(body["code"], "invalid_definition");
    let rules: Vec<&str> = body["details"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    for r in [
        "NAME_INVALID",
        "VERSION_BUILD_METADATA",
        "INPUT_NAME_DUPLICATE",
        "INPUT_DEFAULT_TYPE_MISMATCH",
    ] {
        assert!(rules.contains(&r), "{r} not in {rules:?}");
    }

    // Unknown fields: 422 naming each field, with a suggestion.
    let mut unknown = serde_json::to_value(spec("pg", "1.0.0").build()).unwrap();
    unknown["descripton"] = json!("typo");
    let (status, _, body) = post("application/json", serde_json::to_vec(&unknown).unwrap()).await;
    assert_eq!(status, 422);
    let f = &body["details"]["findings"][0];
    assert_eq!(
        (f["rule"].as_str(), f["path"].as_str()),
        (Some("FIELD_UNKNOWN"), Some("descripton"))
    );
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `description`")
    );

    // Malformed JSON: 400 with the position.
    let (status, _, body) = post(
        "application/json",
        b"{\"name\": \"pg\",\n \"version\": ".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "malformed_body");
    assert_eq!(body["details"]["line"], 2);
    // Malformed YAML.
    let (status, _, body) = post("application/yaml", b"name: [unclosed\n".to_vec()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("malformed_body"))
    );
    // Wrong shape (a list where a string is expected): 422.
    let (status, _, body) = post(
        "application/json",
        br#"{"name": ["pg"], "version": "1.0.0"}"#.to_vec(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_definition"))
    );
    // Two YAML documents in one publish.
    let (status, _, body) = post(
        "application/yaml",
        b"name: a\nversion: 1.0.0\n---\nname: b\nversion: 1.0.0\n".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("exactly one"));
    // Wrong content type and oversized bodies.
    let (status, _, body) = post("text/plain", b"hello".to_vec()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let (status, _, body) = post("application/json", vec![b' '; 200 * 1024]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    // Not UTF-8 YAML.
    let (status, _, _) = post("application/yaml", vec![0xff, 0xfe, 0xfd]).await;
    assert_eq!(status, 400);

    // Nothing was written, and the server still serves.
    let (status, ready) = s.get("/health/ready").await;
    assert_eq!(status, 200);
    assert_eq!(ready["revision"], 0);
    s.stop().await;
}

#[tokio::test]
async fn yaml_publish_and_dry_run_validation() {
    let s = TestServer::memory().await;
    let yaml = "name: vpc\nversion: 1.0.0\ndescription: VPC\nprovider: aws\ncategory: network\nresource_type: aws_vpc\ndeployment_engines: [terraform]\n";
    let (status, _, body) = s
        .send(Method::POST, "/api/v1/validate", "application/yaml", yaml)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["valid"], true);
    assert_eq!(
        s.get("/health/ready").await.1["revision"],
        0,
        "validation writes nothing"
    );
    let (status, _, body) = s
        .send(
            Method::POST,
            "/api/v1/validate",
            "application/yaml",
            yaml.replace("1.0.0", "1.0"),
        )
        .await;
    assert_eq!((status, body["valid"].as_bool()), (200, Some(false)));
    assert_eq!(body["findings"][0]["rule"], "VERSION_INVALID");
    let (status, _, body) = s
        .send(
            Method::POST,
            "/api/v1/validate",
            "application/yaml",
            format!("{yaml}colour: red\n"),
        )
        .await;
    assert_eq!(
        (status, body["findings"][0]["rule"].as_str()),
        (200, Some("FIELD_UNKNOWN"))
    );
    let (status, _, body) = s
        .send(
            Method::POST,
            "/api/v1/components",
            "application/yaml; charset=utf-8",
            yaml,
        )
        .await;
    assert_eq!((status, body["outcome"].as_str()), (201, Some("created")));
    s.stop().await;
}

#[tokio::test]
async fn query_parameters_are_checked_strictly() {
    let s = TestServer::memory().await;
    for i in 0..12 {
        let mut c = spec(&format!("c{i:02}"), "1.0.0").build();
        if i % 2 == 0 {
            c.provider = "gcp".into();
            c.labels.insert("tier".into(), "1".into());
        }
        s.client.publish(&c).await.unwrap();
    }
    for (path, code) in [
        ("/api/v1/components?provder=aws", "invalid_parameter"),
        ("/api/v1/components?maturity=ancient", "invalid_parameter"),
        ("/api/v1/components?limit=0", "invalid_parameter"),
        ("/api/v1/components?limit=501", "invalid_parameter"),
        ("/api/v1/components?limit=ten", "invalid_parameter"),
        (
            "/api/v1/components?include_prerelease=maybe",
            "invalid_parameter",
        ),
        ("/api/v1/components?label=:novalue", "invalid_parameter"),
        ("/api/v1/components?cursor=not-a-cursor", "invalid_cursor"),
        ("/api/v1/components?cursor=djE6QkFE", "invalid_cursor"), // "v1:BAD": not a component name
        ("/api/v1/components/pg/resolve", "invalid_parameter"),
        (
            "/api/v1/components/pg/resolve?req=not-a-req",
            "invalid_parameter",
        ),
        ("/api/v1/components/c00/versions?x=1", "invalid_parameter"),
        ("/api/v1/search?q=", "invalid_parameter"),
        ("/api/v1/components/Bad_Name", "invalid_parameter"),
        ("/api/v1/components/c00/versions/1.0", "invalid_parameter"),
    ] {
        let (status, body) = s.get(path).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some(code)),
            "{path}: {body}"
        );
    }

    // Cursor pagination walks every component exactly once.
    let mut names = Vec::new();
    let mut path = "/api/v1/components?limit=5".to_owned();
    loop {
        let (status, page) = s.get(&path).await;
        assert_eq!(status, 200);
        names.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/components?limit=5&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        names,
        (0..12).map(|i| format!("c{i:02}")).collect::<Vec<_>>()
    );

    let (_, page) = s
        .get("/api/v1/components?provider=gcp&label=tier:1&engine=terraform&maturity=stable")
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 6);
    let (_, page) = s
        .get("/api/v1/components?label=tier:1&label=team:data&provider=aws")
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    s.stop().await;
}

#[tokio::test]
async fn not_found_answers_say_what_is_missing() {
    let s = TestServer::memory().await;
    s.publish(spec("pg", "1.0.0")).await;
    for (path, status, code) in [
        ("/api/v1/components/nope", 404, "component_not_found"),
        (
            "/api/v1/components/nope/versions",
            404,
            "component_not_found",
        ),
        (
            "/api/v1/components/pg/versions/9.9.9",
            404,
            "version_not_found",
        ),
        (
            "/api/v1/components/pg/resolve?req=%5E5",
            404,
            "no_matching_version",
        ),
        (
            "/api/v1/components/nope/dependents",
            404,
            "component_not_found",
        ),
        ("/api/v1/nothing-here", 404, "not_found"),
    ] {
        let (got, body) = s.get(path).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
        assert_eq!(body["status"], status);
    }
    let (_, body) = s.get("/api/v1/components/pg/versions/9.9.9").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("latest versions: 1.0.0"),
        "{body}"
    );
    let err = s.client.version("pg", "2.0.0").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::VersionNotFound));
    let (status, _, body) = s
        .send(Method::DELETE, "/api/v1/components", "application/json", "")
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    s.stop().await;
}

#[tokio::test]
async fn dependencies_dependents_and_search() {
    let s = TestServer::memory().await;
    let vpc = spec("aws-vpc", "2.1.0")
        .description("Amazon VPC network")
        .build();
    s.client.publish(&vpc).await.unwrap();
    let db = spec("aws-rds-postgres", "1.0.0")
        .dependency("aws-vpc", "^2")
        .dependency("aws-kms-key", "^1")
        .build();
    // A dependency that does not exist is rejected, with the rule and the field.
    let err = s.client.publish(&db).await.unwrap_err();
    let nestor_client::Error::Api(problem) = &err else {
        panic!("{err}")
    };
    assert_eq!(problem.code, ErrorCode::InvalidDefinition);
    assert_eq!(
        problem.details["findings"][0]["rule"],
        "DEPENDENCY_NOT_FOUND"
    );
    assert_eq!(
        problem.details["findings"][0]["path"],
        "dependencies[1].name"
    );
    s.publish(spec("aws-kms-key", "1.0.0")).await;
    s.client.publish(&db).await.unwrap();
    // Yanking the only matching version leaves the dependency unresolved, visibly.
    s.client
        .patch(
            "aws-kms-key",
            "1.0.0",
            &PatchRequest {
                yanked: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let deps = s
        .client
        .dependencies("aws-rds-postgres", "1.0.0")
        .await
        .unwrap();
    assert_eq!(deps.items.len(), 2);
    assert_eq!(
        deps.items
            .iter()
            .find(|d| d.name == "aws-vpc")
            .unwrap()
            .resolved
            .as_ref()
            .unwrap()
            .spec
            .version,
        "2.1.0"
    );
    assert!(
        deps.items
            .iter()
            .find(|d| d.name == "aws-kms-key")
            .unwrap()
            .resolved
            .is_none()
    );
    let dependents = s.client.dependents("aws-vpc").await.unwrap();
    assert_eq!(
        dependents
            .items
            .iter()
            .map(|d| d.component.name())
            .collect::<Vec<_>>(),
        ["aws-rds-postgres"]
    );

    let hits = s.client.search("vpc").await.unwrap();
    assert_eq!(hits.items[0].component.spec.name, "aws-vpc");
    let (status, body) = s.get("/api/v1/search?q=postgres&provider=gcp").await;
    assert_eq!(status, 200);
    assert!(body["items"].as_array().unwrap().is_empty());
    s.stop().await;
}

#[tokio::test]
async fn patch_deprecates_and_yanks() {
    let s = TestServer::memory().await;
    s.publish(spec("pg", "1.0.0")).await;
    s.publish(spec("pg", "1.1.0")).await;
    let c = s
        .client
        .patch(
            "pg",
            "1.1.0",
            &PatchRequest {
                yanked: Some(true),
                description: Some("broken".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(c.yanked);
    assert_eq!(c.spec.description, "broken");
    assert_eq!(s.client.latest("pg").await.unwrap().spec.version, "1.0.0");
    let (status, _, body) = s
        .send(
            Method::PATCH,
            "/api/v1/components/pg/versions/1.0.0",
            "application/json",
            r#"{"deprecated": {"message": "use 2.x"}}"#,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["deprecated"]["message"], "use 2.x");
    let (status, _, body) = s
        .send(
            Method::PATCH,
            "/api/v1/components/pg/versions/1.0.0",
            "application/json",
            r#"{"deprecated": null}"#,
        )
        .await;
    assert_eq!(status, 200);
    assert!(body.get("deprecated").is_none());

    for (body, ct, status, code) in [
        ("{}", "application/json", 400, "malformed_body"),
        (
            r#"{"yankd": true}"#,
            "application/json",
            400,
            "malformed_body",
        ),
        (
            r#"{"yanked": "yes"}"#,
            "application/json",
            400,
            "malformed_body",
        ),
        (
            r#"{"deprecated": {"message": " "}}"#,
            "application/json",
            400,
            "malformed_body",
        ),
        (
            r#"{"yanked": true}"#,
            "application/yaml",
            415,
            "unsupported_media_type",
        ),
    ] {
        let (got, _, b) = s
            .send(
                Method::PATCH,
                "/api/v1/components/pg/versions/1.0.0",
                ct,
                body,
            )
            .await;
        assert_eq!(
            (got, b["code"].as_str()),
            (status, Some(code)),
            "{body}: {b}"
        );
    }
    let (got, _, b) = s
        .send(
            Method::PATCH,
            "/api/v1/components/pg/versions/7.0.0",
            "application/json",
            r#"{"yanked": true}"#,
        )
        .await;
    assert_eq!((got, b["code"].as_str()), (404, Some("version_not_found")));
    s.stop().await;
}

#[tokio::test]
async fn data_written_through_the_api_survives_a_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nestor.db");
    let open = || -> Arc<dyn nestor_storage::CatalogStore> {
        Arc::new(nestor_storage::SqliteStore::open(&path).unwrap())
    };

    let s = TestServer::builder().store(open()).start().await;
    s.publish(spec("pg", "1.0.0")).await;
    s.publish(spec("pg", "1.1.0")).await;
    s.client
        .patch(
            "pg",
            "1.1.0",
            &PatchRequest {
                yanked: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    s.stop().await;

    let s = TestServer::builder().store(open()).start().await;
    let versions = s.client.versions("pg").await.unwrap();
    assert_eq!(versions.items.len(), 2);
    assert!(versions.items[0].yanked);
    assert_eq!(versions.revision.0, 3);
    assert_eq!(s.client.latest("pg").await.unwrap().spec.version, "1.0.0");
    let r = s
        .client
        .publish(&spec("pg", "1.2.0").build())
        .await
        .unwrap();
    assert_eq!(
        r.component.revision.0, 4,
        "revisions continue across restarts"
    );
    s.stop().await;
}

/// `POST /validate` reports the whole comparison with the predecessor, and `GET .../diff`
/// classifies the difference between two published versions.
#[tokio::test]
async fn validate_reports_the_comparison_and_diff_classifies_published_versions() {
    let s = TestServer::memory().await;
    for v in ["1.0.0", "1.1.0"] {
        s.publish(spec("db", v)).await;
    }

    // 1.2.0 removes an output: a major change under a minor bump.
    let mut breaking = serde_json::to_value(spec("db", "1.2.0").build()).unwrap();
    breaking["outputs"] = json!([]);
    let (status, _, body) = s
        .send(
            Method::POST,
            "/api/v1/validate",
            "application/json",
            breaking.to_string(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["valid"], false);
    assert_eq!(body["predecessor"], "1.1.0");
    assert_eq!(body["required_bump"], "major");
    assert_eq!(body["actual_bump"], "minor");
    assert_eq!(body["suggested_version"], "2.0.0");
    assert_eq!(body["changes"][0]["rule"], "OUTPUT_REMOVED");
    assert_eq!(body["changes"][0]["bump"], "major");
    assert_eq!(body["changes"][0]["path"], "outputs[endpoint]");
    assert_eq!(body["changes"][0]["before"]["name"], "endpoint");
    let gate = body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "VERSION_BUMP_INSUFFICIENT")
        .expect("the semver gate's finding");
    assert!(
        gate["message"].as_str().unwrap().contains("2.0.0"),
        "the error names the version to use: {gate}"
    );

    // The same change as 2.0.0 passes, with the same comparison.
    breaking["version"] = json!("2.0.0");
    let (_, _, body) = s
        .send(
            Method::POST,
            "/api/v1/validate",
            "application/json",
            breaking.to_string(),
        )
        .await;
    assert_eq!(body["valid"], true, "{body}");
    assert_eq!(
        (
            &body["predecessor"],
            &body["required_bump"],
            &body["actual_bump"]
        ),
        (&json!("1.1.0"), &json!("major"), &json!("major"))
    );
    assert!(body["suggested_version"].is_null());

    // A first version has no predecessor.
    let (_, _, body) = s
        .send(
            Method::POST,
            "/api/v1/validate",
            "application/json",
            serde_json::to_string(&spec("cache", "0.1.0").build()).unwrap(),
        )
        .await;
    assert_eq!(body["valid"], true);
    assert!(body["predecessor"].is_null(), "{body}");
    assert!(
        body["changes"].as_array().is_none_or(Vec::is_empty),
        "{body}"
    );

    // diff between published versions: 1.0.0 → 1.1.0 is identical in interface.
    let (status, body) = s
        .get("/api/v1/components/db/diff?from=1.0.0&to=1.1.0")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (&body["name"], &body["from"], &body["to"]),
        (&json!("db"), &json!("1.0.0"), &json!("1.1.0"))
    );
    assert_eq!(body["required_bump"], "none");
    assert_eq!(body["actual_bump"], "minor");

    // Publish 2.0.0 (output removed, an input made optional) and diff across it.
    let mut v2 = spec("db", "2.0.0").build();
    v2.outputs.clear();
    let class = v2.required_inputs.remove(0);
    v2.optional_inputs.push(nestor_model::Input {
        default: Some(json!("small")),
        ..class
    });
    s.client.publish(&v2).await.unwrap();
    let (status, body) = s
        .get("/api/v1/components/db/diff?from=1.1.0&to=2.0.0")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["required_bump"], "major");
    assert_eq!(body["actual_bump"], "major");
    let rules: Vec<&str> = body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"OUTPUT_REMOVED"), "{rules:?}");
    assert!(rules.contains(&"INPUT_MADE_OPTIONAL"), "{rules:?}");

    // Bad requests.
    let (status, body) = s.get("/api/v1/components/db/diff?from=1.0.0").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_parameter"))
    );
    let (status, body) = s
        .get("/api/v1/components/db/diff?from=1.0.0&to=9.9.9")
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = s.get("/api/v1/components/db/diff?from=one&to=1.0.0").await;
    assert_eq!(status, 400);
    s.stop().await;
}

/// Issue 14, item 11: a definition with eight problems, one of them an unknown field, reports
/// all eight — on publish (422) and on validate (200) — not just the unknown field.
#[tokio::test]
async fn one_unknown_field_does_not_hide_the_other_findings() {
    let s = TestServer::memory().await;
    let yaml = "name: Bad_Name\nversion: 1.0.0+meta\ndescripton: typo\nprovider: aws\n\
                category: db\nresource_type: t\ndeployment_engines: [terraform, terraform]\n\
                required_inputs:\n  - name: size\n    type: integer\n    default: 3\n\
                optional_inputs:\n  - name: size\n    type: integer\n    default: twenty\n";
    let expected = [
        "FIELD_UNKNOWN",
        "NAME_INVALID",
        "VERSION_BUILD_METADATA",
        "FIELD_REQUIRED",
        "ENGINE_DUPLICATE",
        "INPUT_REQUIRED_HAS_DEFAULT",
        "INPUT_NAME_DUPLICATE",
        "INPUT_DEFAULT_TYPE_MISMATCH",
    ];
    let rules = |findings: &serde_json::Value| {
        let mut rules: Vec<String> = findings
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap().to_owned())
            .collect();
        rules.sort();
        rules
    };
    let mut want: Vec<String> = expected.iter().map(|r| r.to_string()).collect();
    want.sort();
    let (status, _, body) = s
        .send(
            Method::POST,
            "/api/v1/components",
            "application/yaml",
            yaml.to_owned(),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(rules(&body["details"]["findings"]), want, "{body}");
    assert_eq!(body["details"]["findings"][0]["rule"], "FIELD_UNKNOWN");
    let (status, _, body) = s
        .send(
            Method::POST,
            "/api/v1/validate",
            "application/yaml",
            yaml.to_owned(),
        )
        .await;
    assert_eq!(
        (status, body["valid"].as_bool()),
        (200, Some(false)),
        "{body}"
    );
    assert_eq!(rules(&body["findings"]), want, "{body}");
    // The same as JSON.
    let json = json!({
        "name": "Bad_Name", "version": "1.0.0+meta", "descripton": "typo", "provider": "aws",
        "category": "db", "resource_type": "t", "deployment_engines": ["terraform", "terraform"],
        "required_inputs": [{"name": "size", "type": "integer", "default": 3, "bogus": 1}],
        "optional_inputs": [{"name": "size", "type": "integer", "default": "twenty"}],
    });
    let (status, _, body) = s
        .send(
            Method::POST,
            "/api/v1/validate",
            "application/json",
            serde_json::to_string(&json).unwrap(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(rules(&body["findings"]).len(), expected.len() + 1, "{body}");
    assert!(
        s.client.versions("bad-name").await.is_err(),
        "nothing was written"
    );
    s.stop().await;
}

/// `interface: from_module` reads a Terraform module at a synced commit: the API has none, so
/// a publish is 422 saying so, and a dry run is invalid for the same reason.
#[tokio::test]
async fn from_module_through_the_api_is_422() {
    let s = TestServer::memory().await;
    let yaml = "name: vpc\nversion: 1.0.0\ndescription: VPC\nprovider: aws\ncategory: network\nresource_type: aws_vpc\ndeployment_engines: [terraform]\ninterface: from_module\n";
    let (status, _, body) = s
        .send(Method::POST, "/api/v1/components", "application/yaml", yaml)
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "invalid_definition");
    let finding = body["details"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "MODULE_INTERFACE_UNAVAILABLE")
        .unwrap_or_else(|| panic!("{body}"));
    assert!(
        finding["message"]
            .as_str()
            .unwrap()
            .contains("published through the API has no module"),
        "{finding}"
    );
    let (status, _, body) = s
        .send(Method::POST, "/api/v1/validate", "application/yaml", yaml)
        .await;
    assert_eq!(
        (status, body["valid"].as_bool()),
        (200, Some(false)),
        "{body}"
    );
    // module_path is part of a definition like any field, and of its interface.
    let with_path = yaml.replace("interface: from_module\n", "module_path: modules/vpc\n");
    let (status, _, body) = s
        .send(
            Method::POST,
            "/api/v1/components",
            "application/yaml",
            with_path,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["component"]["module_path"], "modules/vpc", "{body}");
}
