//! The Terraform/OpenTofu module registry protocol over HTTP: service discovery, the versions
//! list (yanked versions left out) and the download location (the exact commit and directory
//! a version was synced from), every bad address answered 404 with its reason, and tokens sent
//! as Terraform sends them. The real Terraform CLI drives it in crates/nestor/tests/terraform.rs.

use std::{collections::BTreeMap, sync::Arc};

use nestor_api::{ApiConfig, AuthConfig, TerraformConfig};
use nestor_catalog::{Catalog, Origin};
use nestor_model::{ComponentSpec, PatchRequest};
use nestor_testkit::{TestServer, catalog, memory_store, minimal, token};
use serde_json::Value;

const REPO: &str = "https://git.example.com/platform/modules.git";

/// A version of `name` synced from `source` at `commit`, its definition at `path`.
fn synced(name: &str, version: &str, commit: &str, path: &str, engines: &[&str]) -> ComponentSpec {
    let mut spec = minimal(name, version).build();
    spec.deployment_engines = engines.iter().map(|e| e.to_string()).collect();
    spec.git_repository = Some(REPO.into());
    spec.git_commit = Some(commit.into());
    spec.git_path = Some(path.into());
    spec
}

async fn publish(c: &Catalog, source: &str, spec: ComponentSpec) {
    let origin = Origin::Source { id: source.into() };
    c.publish_in(spec, &origin, &[]).await.expect("publish");
}

/// A server with: `vpc` (aws) 1.0.0, 1.1.0 (yanked), 1.2.0, 2.0.0 from source `platform`;
/// `edge` from source `network` (namespace `net`); `chart` (helm only, from git); `db`
/// published through the API (no git provenance).
async fn server(auth: AuthConfig) -> TestServer {
    server_and_catalog(auth).await.0
}

async fn server_and_catalog(auth: AuthConfig) -> (TestServer, Arc<Catalog>) {
    let c = catalog(memory_store());
    for (v, commit) in [
        ("1.0.0", "c100"),
        ("1.1.0", "c110"),
        ("1.2.0", "c120"),
        ("2.0.0", "c200"),
    ] {
        publish(
            &c,
            "platform",
            synced("vpc", v, commit, "modules/vpc/nestor.yaml", &["terraform"]),
        )
        .await;
    }
    c.patch(
        "vpc",
        "1.1.0",
        PatchRequest {
            yanked: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    publish(
        &c,
        "network",
        synced("edge", "0.3.0", "e030", "edge.yaml", &["opentofu"]),
    )
    .await;
    publish(
        &c,
        "platform",
        synced("chart", "1.0.0", "h100", "charts/chart.yaml", &["helm"]),
    )
    .await;
    // A definition kept apart from its module's code: `module_path` says where the code is.
    let mut apart = synced(
        "subnets",
        "1.0.0",
        "s100",
        "catalog/subnets.yaml",
        &["terraform"],
    );
    apart.module_path = Some("modules/network/subnets".into());
    publish(&c, "platform", apart).await;
    c.publish(minimal("db", "1.0.0").build(), &nestor_testkit::tester())
        .await
        .unwrap();
    let s = TestServer::builder()
        .catalog(c.clone())
        .config(ApiConfig {
            auth,
            terraform: Some(TerraformConfig {
                namespace: "platform".into(),
                source_namespaces: BTreeMap::from([("network".into(), "net".into())]),
                ..Default::default()
            }),
            ..Default::default()
        })
        .start()
        .await;
    (s, c)
}

async fn get(s: &TestServer, path: &str, bearer: Option<&str>) -> reqwest::Response {
    let mut req = s.http.get(s.url(path));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn json(s: &TestServer, path: &str) -> (u16, Value) {
    let res = get(s, path, None).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

#[tokio::test]
async fn discovery_names_the_module_registry() {
    let s = server(AuthConfig::default()).await;
    let (status, body) = json(&s, "/.well-known/terraform.json").await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({"modules.v1": "/v1/modules/"}));
}

#[tokio::test]
async fn versions_list_every_release_but_the_yanked() {
    let s = server(AuthConfig::default()).await;
    let (status, body) = json(&s, "/v1/modules/platform/vpc/aws/versions").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["modules"][0]["source"], "platform/vpc/aws");
    let versions: Vec<&str> = body["modules"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["2.0.0", "1.2.0", "1.0.0"]);

    // A source with a namespace of its own, and the opentofu engine.
    let (status, body) = json(&s, "/v1/modules/net/edge/aws/versions").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["modules"][0]["versions"][0]["version"], "0.3.0");
}

#[tokio::test]
async fn download_points_at_the_exact_commit_and_directory() {
    let s = server(AuthConfig::default()).await;
    for (version, commit) in [("1.2.0", "c120"), ("2.0.0", "c200"), ("1.1.0", "c110")] {
        let res = get(
            &s,
            &format!("/v1/modules/platform/vpc/aws/{version}/download"),
            None,
        )
        .await;
        assert_eq!(res.status().as_u16(), 204, "{version}");
        assert_eq!(
            res.headers()["x-terraform-get"].to_str().unwrap(),
            format!("git::{REPO}//modules/vpc?ref={commit}"),
            "{version} (a yanked version is still downloadable by its exact address)"
        );
    }
    let res = get(&s, "/v1/modules/platform/subnets/aws/1.0.0/download", None).await;
    assert_eq!(
        res.headers()["x-terraform-get"].to_str().unwrap(),
        format!("git::{REPO}//modules/network/subnets?ref=s100"),
        "module_path, not the definition's directory"
    );
    // A definition at the repository's root: no subdirectory.
    let res = get(&s, "/v1/modules/net/edge/aws/0.3.0/download", None).await;
    assert_eq!(res.status().as_u16(), 204);
    assert_eq!(
        res.headers()["x-terraform-get"].to_str().unwrap(),
        format!("git::{REPO}?ref=e030")
    );
}

#[tokio::test]
async fn every_bad_address_is_a_404_with_its_reason() {
    let s = server(AuthConfig::default()).await;
    for (path, reason) in [
        (
            "/v1/modules/platform/nope/aws/versions",
            "no component named nope",
        ),
        (
            "/v1/modules/platform/Not_A_Name/aws/versions",
            "is not a component name",
        ),
        (
            "/v1/modules/other/vpc/aws/versions",
            "vpc is in namespace \"platform\": its address is platform/vpc/aws",
        ),
        (
            "/v1/modules/platform/vpc/gcp/versions",
            "vpc is for provider \"aws\": its address is platform/vpc/aws",
        ),
        (
            "/v1/modules/platform/chart/aws/versions",
            "is not a Terraform module",
        ),
        (
            "/v1/modules/nestor/db/aws/versions",
            "was not synced from a git source",
        ),
        (
            "/v1/modules/platform/vpc/aws/3.0.0/download",
            "vpc has no version 3.0.0",
        ),
        ("/v1/modules/other/vpc/aws/1.0.0/download", "namespace"),
        (
            "/v1/modules/platform/vpc/aws/9/download",
            "not a SemVer version",
        ),
    ] {
        let (status, body) = json(&s, path).await;
        let expected = if reason.contains("SemVer") { 400 } else { 404 };
        assert_eq!(status, expected, "{path}: {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(reason), "{path}: {detail}");
        if expected == 404 {
            assert_eq!(body["code"], "not_found", "{path}");
        }
    }
}

#[tokio::test]
async fn a_module_whose_every_version_is_yanked_says_so() {
    let (s, c) = server_and_catalog(AuthConfig::default()).await;
    let yank = PatchRequest {
        yanked: Some(true),
        ..Default::default()
    };
    c.patch("edge", "0.3.0", yank).await.unwrap();
    let (status, body) = json(&s, "/v1/modules/net/edge/aws/versions").await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("every version of edge is yanked"),
        "{body}"
    );
}

#[tokio::test]
async fn tokens_work_as_terraform_sends_them() {
    let s = server(AuthConfig {
        anonymous_read: false,
        tokens: vec![token("terraform", "tf-secret", &["read"])],
        write_rate_limit: None,
    })
    .await;
    // Discovery is public: Terraform reads it before it knows which credentials apply.
    assert_eq!(
        get(&s, "/.well-known/terraform.json", None)
            .await
            .status()
            .as_u16(),
        200
    );
    let path = "/v1/modules/platform/vpc/aws/versions";
    assert_eq!(get(&s, path, None).await.status().as_u16(), 401);
    assert_eq!(get(&s, path, Some("wrong")).await.status().as_u16(), 401);
    // A `credentials` block (or TF_TOKEN_<host>) is sent as a bearer token.
    assert_eq!(
        get(&s, path, Some("tf-secret")).await.status().as_u16(),
        200
    );
    let download = "/v1/modules/platform/vpc/aws/1.0.0/download";
    assert_eq!(get(&s, download, None).await.status().as_u16(), 401);
    assert_eq!(
        get(&s, download, Some("tf-secret")).await.status().as_u16(),
        204
    );
}

#[tokio::test]
async fn the_registry_can_be_turned_off() {
    let s = TestServer::builder()
        .config(ApiConfig {
            terraform: None,
            ..Default::default()
        })
        .start()
        .await;
    let (status, body) = json(&s, "/.well-known/terraform.json").await;
    assert_eq!(status, 404);
    assert!(
        body["detail"].as_str().unwrap().contains("turned off"),
        "{body}"
    );
}
