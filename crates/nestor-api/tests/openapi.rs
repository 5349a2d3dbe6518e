//! The OpenAPI document against the router it describes (every route served is documented,
//! every documented operation is served, security and problem responses as enforced), and the
//! documentation UI built into the binary.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use nestor_api::{ApiConfig, AuthConfig, Scope, auth::required_scope, openapi_for};
use nestor_testkit::{TestServer, catalog, locked_down, memory_store, token};
use reqwest::Method;
use serde_json::{Value, json};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The paths the router itself holds. axum has no API to list them; its `Debug` output shows
/// the route table (`Router { path_router: … RouteId(3): "/api/v1/components" …,
/// fallback_router: … }`), which is what this reads (the fallback router's own entries are not
/// routes). If axum ever prints it differently, the assertions below fail loudly rather than
/// pass on an empty list.
fn router_paths(router: &axum::Router) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    let start = debug
        .find("path_router:")
        .expect("a path_router in Router's Debug");
    let end = debug
        .find("fallback_router:")
        .expect("a fallback_router in Router's Debug");
    assert!(start < end, "unexpected Router Debug layout");
    let mut paths = BTreeSet::new();
    let mut rest = &debug[start..end];
    while let Some(at) = rest.find("RouteId(") {
        rest = &rest[at + "RouteId(".len()..];
        let Some(open) = rest.find("): \"") else {
            continue;
        };
        if !rest[..open].bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let path_start = &rest[open + "): \"".len()..];
        let end = path_start.find('"').expect("a closing quote");
        let path = &path_start[..end];
        if !path.contains("__private__axum") {
            paths.insert(path.to_owned());
        }
    }
    assert!(
        paths.len() > 20,
        "cannot read the route table from axum's Debug output: {paths:?}"
    );
    paths
}

/// `path` with each `{parameter}` (and `{*rest}`) replaced by a sample segment.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "x" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether the router has a handler for `method` at `path`: anything but its own "no route"
/// 404 and "method not allowed" 405 problems. Streams are dropped after their headers.
async fn served(s: &TestServer, method: &str, path: &str) -> bool {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let res = tokio::time::timeout(
        Duration::from_secs(10),
        s.http.request(method.clone(), s.url(path)).send(),
    )
    .await
    .unwrap_or_else(|_| panic!("{method} {path}: no answer within 10 s"))
    .unwrap();
    let status = res.status().as_u16();
    if status != 404 && status != 405 {
        return true;
    }
    let body: Value = res.json().await.unwrap_or_default();
    let routerless = (status == 405 && body["code"] == "method_not_allowed")
        || (status == 404
            && body["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("no route for")));
    !routerless
}

/// The documented operations: path → methods.
fn documented(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let methods = METHODS
                .iter()
                .chain(&["head", "options", "trace"])
                .filter(|m| item.get(**m).is_some())
                .map(|m| m.to_string())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

/// Every (path, method, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, methods) in documented(doc) {
        for m in methods {
            ops.push((path.clone(), m.clone(), doc["paths"][&path][&m].clone()));
        }
    }
    ops
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_the_router_serves() {
    let router = nestor_api::router(catalog(memory_store()), ApiConfig::default());
    let in_router = router_paths(&router);
    let s = TestServer::with_router(router).await;

    let (status, doc) = s.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(
        doc,
        serde_json::to_value(openapi_for(&AuthConfig::default())).unwrap(),
        "the served document is nestor_api::openapi_for(its configuration)"
    );
    let documented = documented(&doc);

    // The router's paths are exactly the documented ones plus the declared exceptions.
    let undocumented: BTreeSet<String> = nestor_api::UNDOCUMENTED_ROUTES
        .iter()
        .map(|p| p.to_string())
        .collect();
    let expected: BTreeSet<String> = documented.keys().cloned().chain(undocumented).collect();
    assert_eq!(
        in_router, expected,
        "routes served but not documented (or documented but not served)"
    );
    for path in [
        "/metrics",
        "/api/v1/openapi.json",
        "/api/v1/docs",
        "/health/detailed",
    ] {
        assert!(documented.contains_key(path), "{path} is documented");
    }

    // On each path, the methods answered are exactly the documented ones (GET for the UI's
    // files and the catalog page).
    for path in &in_router {
        let want = documented.get(path).cloned().unwrap_or_else(|| {
            // The sign-in form also takes its POST; every other undocumented route is GET.
            if path == "/login" {
                BTreeSet::from(["get".to_owned(), "post".to_owned()])
            } else {
                BTreeSet::from(["get".to_owned()])
            }
        });
        let mut answered = BTreeSet::new();
        for m in METHODS {
            if served(&s, m, &concrete(path)).await {
                answered.insert(m.to_owned());
            }
        }
        assert_eq!(answered, want, "methods answered on {path}");
    }
    // And the fallbacks answer as problems.
    assert!(!served(&s, "get", "/api/v1/nothing-here").await);
    s.stop().await;
}

#[tokio::test]
async fn every_operation_declares_the_scope_the_server_requires() {
    let doc = serde_json::to_value(nestor_api::openapi()).unwrap();
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        json!({
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "opaque token",
            "description": doc["components"]["securitySchemes"]["bearer"]["description"],
        })
    );
    let s = TestServer::builder().config(locked_down()).start().await;
    let mut protected = 0;
    for (path, method, op) in operations(&doc) {
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let needed = required_scope(&m, &concrete(&path));
        let what = format!("{method} {path}");
        match needed {
            Some(scope) => {
                protected += 1;
                assert_eq!(op["security"], json!([{"bearer": []}]), "{what}");
                assert_eq!(op["x-required-scope"], scope.as_str(), "{what}");
                assert!(
                    op["description"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("`{}` scope", scope.as_str())),
                    "{what}: the description names the scope"
                );
            }
            None => {
                assert_eq!(op["security"], json!([]), "{what}");
                assert!(op.get("x-required-scope").is_none(), "{what}");
            }
        }
        // As enforced: without a token, a protected operation is refused with 401 and a public
        // one is not.
        let res = tokio::time::timeout(
            Duration::from_secs(10),
            s.http.request(m, s.url(&concrete(&path))).send(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            res.status() == 401,
            needed.is_some(),
            "{what} answered {} without a token",
            res.status()
        );
    }
    assert!(protected >= 20, "{protected} protected operations");
    // The scopes in use, one of each at least.
    let scopes: BTreeSet<String> = operations(&doc)
        .iter()
        .filter_map(|(_, _, op)| op["x-required-scope"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        scopes,
        [Scope::Read, Scope::Publish, Scope::Admin]
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect()
    );
    s.stop().await;
}

/// Whether a request without credentials may call an operation whose `security` is this:
/// no requirement at all, or an empty one (`{}`) among the alternatives.
fn anonymous_allowed(security: &Value) -> bool {
    let alternatives = security.as_array().expect("security is a list");
    alternatives.is_empty()
        || alternatives
            .iter()
            .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
}

#[tokio::test]
async fn the_served_document_declares_the_security_the_server_enforces() {
    let anonymous_reads = ApiConfig {
        auth: AuthConfig {
            anonymous_read: true,
            tokens: vec![token("ops", "o-token", &["admin"])],
            write_rate_limit: None,
        },
        ..Default::default()
    };
    for (what, config) in [
        ("access control off", ApiConfig::default()),
        ("anonymous reads", anonymous_reads),
        ("no anonymous reads", locked_down()),
    ] {
        let auth = config.auth.clone();
        let s = TestServer::builder().config(config).start().await;
        let (status, doc) = s.get("/api/v1/openapi.json").await;
        assert_eq!(status, 200, "{what}");
        assert_eq!(
            doc,
            serde_json::to_value(openapi_for(&auth)).unwrap(),
            "{what}: the served document is openapi_for(its configuration)"
        );
        let security = |path: &str, method: &str| doc["paths"][path][method]["security"].clone();
        let bearer = json!({"bearer": []});
        match what {
            "access control off" => {
                assert!(
                    doc["components"].get("securitySchemes").is_none()
                        || doc["components"]["securitySchemes"]
                            .as_object()
                            .is_some_and(|o| o.is_empty()),
                    "{what}: no security scheme: {}",
                    doc["components"]["securitySchemes"]
                );
                for (path, method, op) in operations(&doc) {
                    assert_eq!(op["security"], json!([]), "{what}: {method} {path}");
                    assert!(op.get("x-required-scope").is_none(), "{method} {path}");
                }
            }
            "anonymous reads" => {
                assert_eq!(security("/api/v1/components", "get"), json!([{}, bearer]));
                assert_eq!(security("/api/v1/events", "get"), json!([{}, bearer]));
                assert_eq!(security("/api/v1/validate", "post"), json!([{}, bearer]));
                assert_eq!(security("/api/v1/components", "post"), json!([bearer]));
                assert_eq!(security("/health", "get"), json!([]));
            }
            _ => {
                assert_eq!(security("/api/v1/components", "get"), json!([bearer]));
                assert_eq!(security("/api/v1/components", "post"), json!([bearer]));
                assert_eq!(security("/health", "get"), json!([]));
            }
        }
        // As enforced: a request without credentials is refused (401) exactly where the
        // document says a token is needed.
        for (path, method, op) in operations(&doc) {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = tokio::time::timeout(
                Duration::from_secs(10),
                s.http.request(m, s.url(&concrete(&path))).send(),
            )
            .await
            .unwrap_or_else(|_| panic!("{what}: {method} {path}: no answer within 10 s"))
            .unwrap();
            assert_eq!(
                res.status() != 401,
                anonymous_allowed(&op["security"]),
                "{what}: {method} {path} answered {} without a token; declared security {}",
                res.status(),
                op["security"]
            );
        }
        s.stop().await;
    }
}

/// `response`, or the shared response it points at.
fn response_has_no_content(doc: &Value, response: &Value) -> bool {
    resolve(doc, response).get("content").is_none()
}

fn resolve<'a>(doc: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"].as_str() {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/responses/")
                .unwrap_or_else(|| panic!("unexpected reference {r}"));
            let target = &doc["components"]["responses"][name];
            assert!(target.is_object(), "{r} is not defined");
            target
        }
        None => response,
    }
}

#[tokio::test]
async fn every_error_response_is_a_problem() {
    let doc = serde_json::to_value(nestor_api::openapi()).unwrap();
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["schemas"]["ErrorCode"].is_object());
    assert!(doc["components"]["schemas"]["Component"].is_object());
    assert!(doc["components"]["schemas"]["DetailedHealth"].is_object());
    let store_backed = ["components", "validation", "events", "sync"];
    for (path, method, op) in operations(&doc) {
        let what = format!("{method} {path}");
        let responses = op["responses"].as_object().unwrap();
        let has = |status: &str| responses.contains_key(status);
        assert!(has("500"), "{what}: 500");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        if let Some(scope) = required_scope(&m, &concrete(&path)) {
            assert!(has("401") && has("403"), "{what}: 401 and 403");
            if scope >= Scope::Publish {
                assert!(has("429"), "{what}: 429");
            }
        }
        let tag = op["tags"][0].as_str().unwrap_or_default();
        if store_backed.contains(&tag) {
            assert!(has("503"), "{what}: 503");
        }
        if path.contains('{') {
            assert!(has("404"), "{what}: 404");
        }
        let has_input = op["parameters"].as_array().is_some_and(|p| !p.is_empty())
            || op.get("requestBody").is_some();
        if has_input {
            assert!(has("400"), "{what}: 400");
        }
        for (status, response) in responses {
            if status.as_str() < "400" {
                continue;
            }
            // Health answers are for load balancers: their 503 is the health body itself.
            if status == "503" && path.starts_with("/health") {
                continue;
            }
            // The HTTP layer's 431 (a request head larger than it reads) has no body at all.
            if status == "431" {
                assert!(response_has_no_content(&doc, response), "{what} 431");
                continue;
            }
            let response = resolve(&doc, response);
            assert_eq!(
                response["content"]["application/problem+json"]["schema"]["$ref"],
                "#/components/schemas/Problem",
                "{what} {status}: {response}"
            );
        }
    }
    let rate_limited = &doc["components"]["responses"]["RateLimited"];
    assert!(rate_limited["headers"]["Retry-After"].is_object());
    let unauthorized = &doc["components"]["responses"]["Unauthorized"];
    assert!(unauthorized["headers"]["WWW-Authenticate"].is_object());
}

/// `src="…"` and `href="…"` values of an HTML page.
fn links(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attr) {
            rest = &rest[at + attr.len()..];
            let end = rest.find('"').unwrap();
            found.push(rest[..end].to_owned());
        }
    }
    found
}

#[tokio::test]
async fn the_docs_ui_is_served_from_the_binary() {
    // Public even when nothing else is.
    let s = TestServer::builder().config(locked_down()).start().await;
    for page in ["/api/v1/docs", "/api/v1/docs/"] {
        let res = s.http.get(s.url(page)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{page}");
        let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/html"), "{page}: {ct}");
        let html = res.text().await.unwrap();
        let links = links(&html);
        let scripts: Vec<&String> = links.iter().filter(|l| l.ends_with(".js")).collect();
        assert!(scripts.len() >= 2, "{page} loads its scripts: {links:?}");
        for l in &links {
            assert!(
                !l.starts_with("http:") && !l.starts_with("https:") && !l.starts_with("//"),
                "{page} loads {l} from elsewhere"
            );
        }
        assert!(html.contains(r#"<base href="/api/v1/docs/" />"#), "{html}");
        // Every script and stylesheet it links is served here.
        for l in links.iter().filter(|l| !l.starts_with('/')) {
            let url = format!("/api/v1/docs/{}", l.trim_start_matches("./"));
            let res = s.http.get(s.url(&url)).send().await.unwrap();
            assert_eq!(res.status(), 200, "{url}");
            let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
            if url.ends_with(".js") {
                assert!(ct.contains("javascript"), "{url}: {ct}");
                let body = res.bytes().await.unwrap();
                assert!(!body.is_empty(), "{url}");
            } else if url.ends_with(".css") {
                assert!(ct.starts_with("text/css"), "{url}: {ct}");
            }
        }
    }
    let init = s.text("/api/v1/docs/swagger-initializer.js").await;
    assert!(init.contains("/api/v1/openapi.json"), "{init}");
    // The document it reads is public too.
    let (status, _) = s.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let (status, body) = s.get("/api/v1/docs/nothing.js").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    s.stop().await;
}
