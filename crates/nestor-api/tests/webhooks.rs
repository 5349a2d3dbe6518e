//! Sources, sync runs and webhooks over real HTTP, with a real git repository: a signed GitHub
//! push reaches an SSE subscriber as a published component; every kind of bad delivery is
//! refused or ignored without starting a run.

use std::{path::Path, time::Duration};

use hmac::{Hmac, Mac};
use nestor_api::ApiConfig;
use nestor_testkit::{
    SseReader, TestServer, catalog, git::definition_yaml, git::git, git::infra_sync, memory_store,
};
use reqwest::Method;
use serde_json::json;

const SECRET: &str = "s3cret";

fn commit_component(dir: &Path, name: &str) -> String {
    std::fs::create_dir_all(dir.join("components")).unwrap();
    std::fs::write(
        dir.join(format!("components/{name}.yaml")),
        definition_yaml(name, "1.0.0"),
    )
    .unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", name]);
    git(dir, &["rev-parse", "HEAD"])
}

fn sign(body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

struct Fixture {
    server: TestServer,
    repo: tempfile::TempDir,
    _cache: tempfile::TempDir,
    url: String,
    stop: tokio_util::sync::CancellationToken,
}

async fn fixture() -> Fixture {
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    commit_component(repo.path(), "vpc");
    let url = format!("file://{}", repo.path().display());
    let cache = tempfile::tempdir().unwrap();
    let catalog = catalog(memory_store());
    let sync = infra_sync(
        catalog.clone(),
        &url,
        "components/*.yaml",
        cache.path(),
        Some(SECRET),
    );
    sync.run_now("infra", nestor_model::SyncTrigger::Startup, false)
        .await
        .unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    sync.spawn_workers(stop.clone());
    let server = TestServer::builder()
        .catalog(catalog)
        .sync(sync)
        .config(ApiConfig::default())
        .start()
        .await;
    Fixture {
        server,
        repo,
        _cache: cache,
        url,
        stop,
    }
}

async fn post(
    s: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, serde_json::Value) {
    let mut req = s
        .http
        .request(Method::POST, s.url(path))
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or_default())
}

async fn run_count(s: &TestServer) -> usize {
    s.get("/api/v1/sync-runs").await.1["items"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_signed_github_push_reaches_an_sse_subscriber() {
    let f = fixture().await;
    let s = &f.server;
    let res = s.http.get(s.url("/api/v1/events")).send().await.unwrap();
    let mut sse = SseReader::new(res);

    let head = commit_component(f.repo.path(), "subnet");
    let body = json!({"ref": "refs/heads/main", "after": head, "repository": {"clone_url": f.url}})
        .to_string();
    let sig = sign(&body);
    let headers = [
        ("content-type", "application/json"),
        ("x-github-event", "push"),
        ("x-github-delivery", "d-1"),
        ("x-hub-signature-256", sig.as_str()),
    ];
    let started = std::time::Instant::now();
    let (status, outcome) = post(s, "/api/v1/webhooks/github", &headers, &body).await;
    assert_eq!(
        (status, outcome["outcome"].as_str()),
        (202, Some("accepted")),
        "{outcome}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "answered before the sync"
    );
    let run_id = outcome["runs"][0]["id"].as_u64().unwrap();

    let ev = sse.next().await.unwrap();
    assert_eq!(ev.event, "component.published");
    assert_eq!(ev.data["name"], "subnet");
    assert_eq!(ev.data["component"]["git_commit"], head);

    // The run is recorded, with the commit; the same delivery again is a duplicate.
    let run = loop {
        let (_, run) = s.get(&format!("/api/v1/sync-runs/{run_id}")).await;
        if run["status"] != "pending" && run["status"] != "running" {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        (run["status"].as_str(), run["commit"].as_str()),
        (Some("succeeded"), Some(head.as_str()))
    );
    assert_eq!(run["trigger"], "webhook");
    let (status, outcome) = post(s, "/api/v1/webhooks/github", &headers, &body).await;
    assert_eq!(
        (status, outcome["outcome"].as_str()),
        (202, Some("duplicate"))
    );

    // Sources show where they stand.
    let (_, sources) = s.get("/api/v1/sources").await;
    assert_eq!(sources["items"][0]["id"], "infra");
    assert_eq!(sources["items"][0]["last_synced_commit"], head);
    assert_eq!(sources["items"][0]["webhooks"], true);
    assert_eq!(
        sources["items"][0]["head_commit"], head,
        "the pushed commit is the head"
    );
    assert_eq!(sources["items"][0]["lag_seconds"], 0.0, "{sources}");
    assert!(sources["items"][0]["head_seen_at"].is_string(), "{sources}");
    drop(sse);
    f.stop.cancel();
    f.server.stop().await;
}

#[tokio::test]
async fn bad_deliveries_are_refused_or_ignored_and_start_nothing() {
    let f = fixture().await;
    let s = &f.server;
    let before = run_count(s).await;
    let body = json!({"ref": "refs/heads/main", "repository": {"clone_url": f.url}}).to_string();
    let good = sign(&body);
    let wrong = sign("something else");
    type Headers<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(Headers<'_>, &str, u16)> = vec![
        (
            vec![
                ("content-type", "application/json"),
                ("x-github-event", "push"),
            ],
            body.as_str(),
            401,
        ),
        (
            vec![
                ("content-type", "application/json"),
                ("x-github-event", "push"),
                ("x-hub-signature-256", wrong.as_str()),
            ],
            body.as_str(),
            401,
        ),
        (
            vec![
                ("content-type", "application/json"),
                ("x-github-event", "push"),
                ("x-hub-signature-256", "sha256=zz"),
            ],
            body.as_str(),
            401,
        ),
        (
            vec![
                ("content-type", "text/plain"),
                ("x-github-event", "push"),
                ("x-hub-signature-256", good.as_str()),
            ],
            body.as_str(),
            400,
        ),
    ];
    for (headers, body, expected) in &cases {
        let (status, problem) = post(s, "/api/v1/webhooks/github", headers, body).await;
        assert_eq!(status, *expected, "{headers:?}: {problem}");
    }
    let malformed = "{\"ref\": 1}";
    let sig = sign(malformed);
    let (status, _) = post(
        s,
        "/api/v1/webhooks/github",
        &[
            ("content-type", "application/json"),
            ("x-github-event", "push"),
            ("x-hub-signature-256", sig.as_str()),
        ],
        malformed,
    )
    .await;
    assert_eq!(status, 400);
    for (event, repo, git_ref, why) in [
        (
            "push",
            "https://example.com/other.git",
            "refs/heads/main",
            "no source follows",
        ),
        (
            "push",
            f.url.as_str(),
            "refs/heads/develop",
            "no source follows",
        ),
        ("issues", f.url.as_str(), "refs/heads/main", "not a push"),
    ] {
        let body = json!({"ref": git_ref, "repository": {"clone_url": repo}}).to_string();
        let sig = sign(&body);
        let (status, outcome) = post(
            s,
            "/api/v1/webhooks/github",
            &[
                ("content-type", "application/json"),
                ("x-github-event", event),
                ("x-hub-signature-256", sig.as_str()),
            ],
            &body,
        )
        .await;
        assert_eq!(
            (status, outcome["outcome"].as_str()),
            (202, Some("ignored")),
            "{outcome}"
        );
        assert!(
            outcome["reason"].as_str().unwrap().contains(why),
            "{outcome}"
        );
    }
    let ping = "{\"zen\": \"hi\"}";
    let sig = sign(ping);
    let (status, outcome) = post(
        s,
        "/api/v1/webhooks/github",
        &[
            ("content-type", "application/json"),
            ("x-github-event", "ping"),
            ("x-hub-signature-256", sig.as_str()),
        ],
        ping,
    )
    .await;
    assert_eq!(
        (status, outcome["outcome"].as_str()),
        (202, Some("accepted"))
    );
    assert_eq!(run_count(s).await, before, "nothing was enqueued");

    // GitLab: the token, not a signature.
    let gl = json!({"ref": "refs/heads/main", "project": {"git_http_url": f.url}}).to_string();
    let (status, _) = post(
        s,
        "/api/v1/webhooks/gitlab",
        &[
            ("content-type", "application/json"),
            ("x-gitlab-event", "Push Hook"),
            ("x-gitlab-token", "nope"),
        ],
        &gl,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(run_count(s).await, before);
    let (status, outcome) = post(
        s,
        "/api/v1/webhooks/gitlab",
        &[
            ("content-type", "application/json"),
            ("x-gitlab-event", "Push Hook"),
            ("x-gitlab-token", SECRET),
        ],
        &gl,
    )
    .await;
    assert_eq!(
        (status, outcome["outcome"].as_str()),
        (202, Some("accepted")),
        "{outcome}"
    );

    // Manual runs, and an unknown source.
    let (status, run) = post(s, "/api/v1/sources/infra/sync", &[], "").await;
    assert_eq!((status, run["source_id"].as_str()), (202, Some("infra")));
    let (status, problem) = post(s, "/api/v1/sources/nope/sync", &[], "").await;
    assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")));
    let (status, _) = s.get("/api/v1/sync-runs/99999").await;
    assert_eq!(status, 404);
    let (status, _) = s.get("/api/v1/sync-runs?limit=0").await;
    assert_eq!(status, 400);
    f.stop.cancel();
    f.server.stop().await;
}

#[tokio::test]
async fn form_encoded_and_large_github_deliveries_are_accepted() {
    let f = fixture().await;
    let s = &f.server;
    let head = commit_component(f.repo.path(), "subnet");
    // GitHub's default for hooks made through its API: a form whose `payload` holds the JSON,
    // signed over the form body. Padded past the API's 1 MiB limit, as a push of thousands of
    // files is: webhooks have their own (25 MiB).
    let padding = "x".repeat(1_500_000);
    let json = json!({
        "ref": "refs/heads/main", "after": head, "repository": {"clone_url": f.url},
        "head_commit": {"message": padding},
    })
    .to_string();
    let body = serde_html_form::to_string([("payload", json.as_str())]).unwrap();
    assert!(body.len() > 1024 * 1024);
    let sig = sign(&body);
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("x-github-event", "push"),
        ("x-github-delivery", "form-1"),
        ("x-hub-signature-256", sig.as_str()),
    ];
    let (status, outcome) = post(s, "/api/v1/webhooks/github", &headers, &body).await;
    assert_eq!(
        (status, outcome["outcome"].as_str()),
        (202, Some("accepted")),
        "{outcome}"
    );
    // A form without `payload` is a malformed delivery, once authenticated.
    let empty = "other=1";
    let sig = sign(empty);
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("x-github-event", "push"),
        ("x-hub-signature-256", sig.as_str()),
    ];
    let (status, problem) = post(s, "/api/v1/webhooks/github", &headers, empty).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("malformed_body"))
    );
    f.stop.cancel();
    f.server.stop().await;
}
