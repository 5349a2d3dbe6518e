//! The catalog page over HTTP: every page renders what the catalog holds, escapes what
//! definitions say, carries its security headers, serves its assets for a year, and signs in by
//! cookie when anonymous reads are off (for reads only). The browser test
//! (crates/nestor/tests/browser.rs) drives the same pages in chromium.

use nestor_testkit::{TestServer, locked_down, minimal, token};
use reqwest::{StatusCode, header, redirect::Policy};

async fn page(s: &TestServer, path: &str) -> (StatusCode, header::HeaderMap, String) {
    let res = reqwest::get(s.url(path)).await.expect("answered");
    let (status, headers) = (res.status(), res.headers().clone());
    (status, headers, res.text().await.expect("body"))
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        let enc = |x: &str| {
            x.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b == b'-' {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        };
        out.push_str(&format!("{}={}", enc(k), enc(v)));
    }
    out
}

async fn catalog() -> TestServer {
    let s = TestServer::memory().await;
    s.publish(
        minimal("base-vpc", "1.0.0")
            .description("The shared base network")
            .provider("aws")
            .label("team", "core"),
    )
    .await;
    s.publish(
        minimal("aws-rds-postgres", "1.0.0")
            .description("Managed PostgreSQL")
            .provider("aws")
            .category("database")
            .dependency("base-vpc", "^1"),
    )
    .await;
    s.publish(
        minimal("evil", "1.0.0")
            .description("<script>alert(1)</script> & \"quotes\"")
            .label("x", "<b>"),
    )
    .await;
    s
}

#[tokio::test]
async fn the_home_page_searches_filters_and_counts() {
    let s = catalog().await;
    let (status, headers, html) = page(&s, "/").await;
    assert_eq!(status, 200);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(html.contains("aws-rds-postgres") && html.contains("base-vpc"));
    assert!(
        html.contains("<span id=\"revision\">3</span>"),
        "the revision is shown"
    );
    assert!(
        html.contains("href=\"/?provider=aws\""),
        "a provider facet links to its filter"
    );

    let (_, _, html) = page(&s, "/?q=postg").await;
    assert!(
        html.contains("<mark>PostgreSQL</mark>"),
        "matches are highlighted"
    );
    assert!(!html.contains(">base-vpc<"), "the search narrows");
    let (_, _, fragment) = page(&s, "/?q=postg&fragment=results").await;
    assert!(!fragment.contains("<html") && fragment.contains("aws-rds-postgres"));
    let (status, _, html) = page(&s, "/?q=%22open").await;
    assert_eq!(status, 200, "a search being typed is not an error page");
    assert!(html.contains("never closed"));
    let (status, _, _) = page(&s, "/?colour=red").await;
    assert_eq!(status, 400);
    s.stop().await;
}

#[tokio::test]
async fn definitions_are_text_never_markup() {
    let s = catalog().await;
    for path in ["/", "/components/evil", "/?q=script"] {
        let (_, _, html) = page(&s, path).await;
        assert!(
            !html.contains("<script>alert(1)</script>"),
            "{path}: {html}"
        );
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
                || html.contains("&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt;"),
            "{path}: {html}"
        );
        assert!(!html.contains("<b>"), "{path}");
    }
    s.stop().await;
}

#[tokio::test]
async fn component_compare_sources_engines_and_missing_pages() {
    let s = catalog().await;
    let (status, _, html) = page(&s, "/components/base-vpc").await;
    assert_eq!(status, 200);
    assert!(html.contains("aws-rds-postgres"), "dependents are listed");
    let (_, _, html) = page(&s, "/components/base-vpc?target=2.0.0").await;
    assert!(
        html.contains("<strong>1</strong> of 1 direct dependents"),
        "blast radius: {html}"
    );
    let (_, _, html) = page(&s, "/components/aws-rds-postgres/1.0.0").await;
    assert!(
        html.contains("version_req: &quot;^1.0&quot;"),
        "the dependency snippet"
    );
    s.publish(
        minimal("base-vpc", "2.0.0")
            .description("The shared base network")
            .provider("aws")
            .label("team", "core")
            .dependency("aws-rds-postgres", "^1"),
    )
    .await;
    let (status, _, html) = page(&s, "/components/base-vpc/diff?from=1.0.0&to=2.0.0").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("DEPENDENCY_ADDED"), "{html}");
    for path in ["/sources", "/engines"] {
        let (status, _, _) = page(&s, path).await;
        assert_eq!(status, 200, "{path}");
    }
    let (status, headers, html) = page(&s, "/components/nope").await;
    assert_eq!(status, 404);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(html.contains("does not exist"));
    let (status, _, html) = page(&s, "/no/such/page").await;
    assert_eq!(status, 404);
    assert!(html.contains("There is no page at /no/such/page"));
    let (status, headers, _) = page(&s, "/api/v1/nope").await;
    assert_eq!(status, 404);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/problem+json",
        "the API keeps its problems"
    );
    s.stop().await;
}

#[tokio::test]
async fn assets_are_hashed_and_cached_for_a_year() {
    let s = catalog().await;
    let (_, _, html) = page(&s, "/").await;
    let css = html
        .split("href=\"/assets/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a stylesheet link");
    let (status, headers, body) = page(&s, &format!("/assets/{css}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert!(body.contains("prefers-color-scheme: dark"));
    let (status, _, _) = page(&s, "/assets/app.css").await;
    assert_eq!(status, 404, "only hashed names are served");
    let res = reqwest::Client::new()
        .get(s.url("/"))
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()[header::CONTENT_ENCODING],
        "gzip",
        "pages are compressed"
    );
    s.stop().await;
}

#[tokio::test]
async fn with_anonymous_reads_off_the_page_signs_in_by_cookie_for_reads_only() {
    let mut config = locked_down();
    config
        .auth
        .tokens
        .push(token("writer", "w-token", &["publish"]));
    let s = TestServer::builder().config(config).start().await;
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let res = http
        .get(s.url("/components/x?target=1.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()[header::LOCATION],
        "/login?next=%2Fcomponents%2Fx%3Ftarget%3D1.0.0"
    );
    let (status, _, html) = page(&s, "/login").await;
    assert_eq!(status, 200);
    assert!(html.contains("type=\"password\""));

    let res = http
        .post(s.url("/login"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("token", "wrong"), ("next", "/")]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/login?failed=true")
    );
    let res = http
        .post(s.url("/login"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[
            ("token", "r-token"),
            ("next", "https://evil.example/"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[header::LOCATION], "/", "never sent elsewhere");
    let cookie = res.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();

    let res = http
        .get(s.url("/"))
        .header(header::COOKIE, &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The event stream authenticates by the cookie too (EventSource cannot send headers).
    let res = http
        .get(s.url("/api/v1/events"))
        .header(header::COOKIE, &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    drop(res);
    // A cookie never authorizes a write, whatever its token may do (a writer may sign in to
    // read).
    let res = http
        .post(s.url("/api/v1/components"))
        .header(header::COOKIE, "nestor_token=w-token")
        .json(&minimal("x", "1.0.0").build())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    s.stop().await;
}
