//! The catalog in a browser: server-rendered pages (maud templates, checked at compile time),
//! a stylesheet and a small script for progressive enhancement, embedded in the binary.
//!
//! The pages are clients of the catalog like any other: they call [`nestor_catalog::Catalog`]
//! (the same index, the same rules as the API), never the store. Every page reads without
//! JavaScript; with it, search runs as you type and pages update live from `/api/v1/events`.
//!
//! # Layout
//!
//! - `mod.rs`: routes, the page frame, assets, headers (CSP, caching), errors as pages;
//! - `home.rs`: search, facets, sort and pages of results (`/`);
//! - `component.rs`: one component (`/components/{name}[/{version}]`) and compare (`…/diff`);
//! - `ops.rs`: sources, sync runs and engines;
//! - `assets/`: `app.css`, `app.js`.

mod component;
mod home;
mod ops;

use std::sync::{Arc, LazyLock};

use axum::{
    Router,
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use maud::{DOCTYPE, Markup, html};
use sha2::{Digest, Sha256};

use crate::app::AppState;

/// The Content-Security-Policy of every page: scripts and styles from this server only, no
/// inline script, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The routes of the pages.
pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(home::page))
        .route("/components/{name}", get(component::latest))
        .route("/components/{name}/diff", get(component::diff))
        .route("/components/{name}/{version}", get(component::version))
        .route("/sources", get(ops::sources))
        .route("/sync-runs/{id}", get(ops::sync_run))
        .route("/engines", get(ops::engines))
        .route("/login", get(login_form).post(login))
        .route("/assets/{file}", get(asset))
        // Pages and assets only: the event stream must not be buffered by a compressor.
        .layer(tower_http::compression::CompressionLayer::new())
}

/// Whether a path is one of the pages' (rather than the API's).
pub(crate) fn is_page(path: &str) -> bool {
    !path.starts_with("/api/")
        // The Terraform module registry: a protocol for Terraform, not pages.
        && !path.starts_with("/v1/")
        && !path.starts_with("/.well-known/")
        && !path.starts_with("/health")
        && path != "/metrics"
        && path != "/version"
}

/// An embedded file, served under a name that carries its content's hash.
struct Asset {
    name: &'static str,
    hashed: String,
    body: &'static str,
    content_type: &'static str,
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    let asset = |name: &'static str, body: &'static str, content_type| {
        let digest = Sha256::digest(body.as_bytes());
        let (stem, ext) = name.split_once('.').unwrap_or((name, ""));
        Asset {
            name,
            hashed: format!("{stem}.{}.{ext}", hex::encode(&digest[..6])),
            body,
            content_type,
        }
    };
    [
        asset(
            "app.css",
            include_str!("assets/app.css"),
            "text/css; charset=utf-8",
        ),
        asset(
            "app.js",
            include_str!("assets/app.js"),
            "text/javascript; charset=utf-8",
        ),
    ]
});

/// The URL of an embedded asset.
fn asset_url(name: &str) -> String {
    let hashed = ASSETS
        .iter()
        .find(|a| a.name == name)
        .map_or(name, |a| a.hashed.as_str());
    format!("/assets/{hashed}")
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.hashed == file) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            a.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

/// Which part of the site a page belongs to (the navigation marks it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Catalog,
    Sources,
    Engines,
    None,
}

/// A page: what it is called, where it belongs, what it follows live, what it shows.
pub(crate) struct Page {
    pub(crate) title: String,
    pub(crate) section: Section,
    /// `Some("*")`: every change; `Some(name)`: one component's; `None`: nothing.
    pub(crate) live: Option<String>,
    /// `data-page`, for the script.
    pub(crate) kind: &'static str,
    pub(crate) revision: Option<u64>,
    pub(crate) body: Markup,
}

impl Page {
    pub(crate) fn render(self, status: StatusCode) -> Response {
        let nav = |section: Section, href: &str, label: &str| {
            html! {
                @if self.section == section {
                    a href=(href) aria-current="page" { (label) }
                } @else {
                    a href=(href) { (label) }
                }
            }
        };
        let markup = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="color-scheme" content="light dark";
                    title { (self.title) " · Nestor" }
                    link rel="stylesheet" href=(asset_url("app.css"));
                    script src=(asset_url("app.js")) defer {}
                }
                body data-live=[self.live.as_deref()] data-page=(self.kind) {
                    a.skip href="#main" { "Skip to content" }
                    header.top {
                        a.brand href="/" { "Nestor" }
                        nav aria-label="Sections" {
                            (nav(Section::Catalog, "/", "Catalog"))
                            (nav(Section::Sources, "/sources", "Sources"))
                            (nav(Section::Engines, "/engines", "Engines"))
                            a href="/api/v1/docs" { "API" }
                        }
                        @if let Some(r) = self.revision {
                            span.meta { "revision " span #revision { (r) } }
                        }
                    }
                    main #main { (self.body) }
                    footer {
                        "Nestor " (env!("CARGO_PKG_VERSION")) " · "
                        a href="/api/v1/docs" { "API documentation" } " · "
                        a href="/api/v1/openapi.json" { "OpenAPI" } " · "
                        a href="/health/detailed" { "health" }
                    }
                }
            }
        };
        html_response(status, markup.into_string())
    }
}

/// An HTML answer with the pages' headers.
pub(crate) fn html_response(status: StatusCode, body: String) -> Response {
    let mut res = (status, body).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}

/// An error as a page that explains it.
pub(crate) fn error_page(err: crate::error::ApiError) -> Response {
    let p = err.0;
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Page {
        title: p.title.clone(),
        section: Section::None,
        live: None,
        kind: "error",
        revision: None,
        body: html! {
            div.error-page.panel {
                h1 { (p.title) }
                p { (p.detail) }
                p.muted.small { "Error " (p.status) " · " code { (p.code.as_str()) } }
                p { a href="/" { "Back to the catalog" } }
            }
        },
    }
    .render(status)
}

/// The answer to a path no page or API route serves.
pub(crate) fn not_found_page(path: &str) -> Response {
    error_page(
        nestor_model::Problem::new(
            nestor_model::ErrorCode::NotFound,
            format!(
                "There is no page at {path}. Search the catalog, or see the API documentation."
            ),
        )
        .into(),
    )
}

/// The name of the cookie a browser keeps its token in when anonymous reads are off.
pub(crate) const TOKEN_COOKIE: &str = "nestor_token";

#[derive(serde::Deserialize)]
struct LoginQuery {
    next: Option<String>,
    failed: Option<bool>,
}

/// Where to go after logging in: a page of this site only.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

async fn login_form(axum::extract::Query(q): axum::extract::Query<LoginQuery>) -> Response {
    let next = safe_next(q.next.as_deref()).to_owned();
    Page {
        title: "Sign in".into(),
        section: Section::None,
        live: None,
        kind: "login",
        revision: None,
        body: html! {
            div.error-page.panel {
                h1 { "Sign in" }
                p { "This catalog is not public. Paste a token with the read scope; the browser keeps it in a cookie only this site can read." }
                @if q.failed == Some(true) {
                    p.badge.bad role="alert" { "That token was not accepted." }
                }
                form method="post" action="/login" {
                    input type="hidden" name="next" value=(next);
                    p {
                        label for="token" { "Token" } " "
                        input #token type="password" name="token" autocomplete="current-password" required;
                    }
                    button.primary type="submit" { "Sign in" }
                }
            }
        },
    }
    .render(StatusCode::OK)
}

#[derive(serde::Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

async fn login(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref()).to_owned();
    let token = form.token.trim();
    let accepted = !token.is_empty()
        && token.is_ascii()
        && !token.contains(|c: char| c.is_whitespace() || c == ';')
        && crate::auth::Auth::new(state.config.auth.clone()).reads(token);
    if !accepted {
        let to = format!(
            "/login?failed=true&next={}",
            form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        );
        return (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
    }
    let cookie =
        format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200");
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, next), (header::SET_COOKIE, cookie)],
    )
        .into_response()
}

/// Formats a time for people: `2026-12-05 08:14 UTC`.
pub(crate) fn when(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// A query string of `pairs`, encoded.
pub(crate) fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_named_by_their_content() {
        let css = asset_url("app.css");
        assert!(
            css.starts_with("/assets/app.") && css.ends_with(".css"),
            "{css}"
        );
        assert_ne!(css, "/assets/app.css");
    }

    #[test]
    fn login_only_returns_to_this_site() {
        assert_eq!(safe_next(Some("/components/x")), "/components/x");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
