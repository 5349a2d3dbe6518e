//! `GET /api/v1/docs`: a browsable UI for the OpenAPI document (Swagger UI).
//!
//! Every file of the UI is built into the binary (`utoipa-swagger-ui` with `vendored`: the
//! Swagger UI distribution comes from crates.io at build time), so the page works offline and
//! loads nothing from a CDN. The UI reads the document from `/api/v1/openapi.json`; its online
//! validator badge (a request to a public service) is switched off.

use std::sync::{Arc, OnceLock};

use axum::{
    extract::Path,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use nestor_model::{ErrorCode, Problem};
use utoipa_swagger_ui::Config;

use crate::error::ApiError;

/// The page (`/api/v1/docs`, in [`index`]'s attribute) again, at the folder URL its relative asset links are written against.
pub(crate) const DOCS_FOLDER_PATH: &str = "/api/v1/docs/";
/// The page's scripts, styles and icons.
pub(crate) const DOCS_ASSET_PATH: &str = "/api/v1/docs/{*file}";

/// Where the UI reads the document.
const DOCUMENT_URL: &str = "/api/v1/openapi.json";

fn config() -> Arc<Config<'static>> {
    static CONFIG: OnceLock<Arc<Config<'static>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            Arc::new(
                Config::new([DOCUMENT_URL])
                    // The default is a badge image fetched from validator.swagger.io.
                    .validator_url("none")
                    .display_request_duration(true),
            )
        })
        .clone()
}

/// The browsable API documentation (HTML).
#[utoipa::path(get, path = "/api/v1/docs", tag = "documentation",
    responses((status = 200, description = "The Swagger UI page; its scripts and styles are served below `/api/v1/docs/`", body = String, content_type = "text/html")))]
pub(crate) async fn index() -> Response {
    serve("index.html")
}

/// The page at the folder URL (`/api/v1/docs/`).
pub(crate) async fn folder() -> Response {
    serve("index.html")
}

/// One file of the UI.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    serve(&file)
}

fn serve(file: &str) -> Response {
    let found = match utoipa_swagger_ui::serve(file, config()) {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(file, error = %e, "cannot render a Swagger UI file");
            return ApiError::from(Problem::new(
                ErrorCode::Internal,
                format!("cannot render the documentation file {file:?}"),
            ))
            .into_response();
        }
    };
    let Some(found) = found else {
        return ApiError::from(Problem::new(
            ErrorCode::NotFound,
            format!("no documentation file {file:?}"),
        ))
        .into_response();
    };
    let bytes = if file == "index.html" {
        with_base(&found.bytes).into_bytes()
    } else {
        found.bytes.into_owned()
    };
    let mut res = bytes.into_response();
    let headers = res.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(&found.content_type) {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    if found.gzpipped {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    // The page and its configuration are checked on each visit; the large scripts change only
    // with a new build.
    let cache = if matches!(file, "index.html" | "swagger-initializer.js") {
        "no-cache"
    } else {
        "public, max-age=86400"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res
}

/// The page with a `<base>` so that its relative links (`./swagger-ui.css`) resolve below
/// `/api/v1/docs/` whether it was asked for with or without the trailing slash.
fn with_base(html: &[u8]) -> String {
    let html = String::from_utf8_lossy(html);
    let base = format!(r#"<base href="{DOCS_FOLDER_PATH}" />"#);
    match html.find("<head>") {
        Some(at) => {
            let at = at + "<head>".len();
            format!("{}\n    {base}{}", &html[..at], &html[at..])
        }
        None => format!("{base}{html}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_links_its_assets_below_the_docs_folder() {
        let page = utoipa_swagger_ui::serve("index.html", config())
            .expect("renders")
            .expect("index.html is built in");
        let html = with_base(&page.bytes);
        let head = html.find("<head>").expect("a head");
        let base = html
            .find(r#"<base href="/api/v1/docs/" />"#)
            .expect("a base");
        let first_link = html.find("<link").expect("a stylesheet");
        assert!(head < base && base < first_link, "{html}");
    }

    #[test]
    fn the_initializer_reads_this_servers_document_without_the_online_validator() {
        let js = utoipa_swagger_ui::serve("swagger-initializer.js", config())
            .expect("renders")
            .expect("built in");
        let js = String::from_utf8_lossy(&js.bytes);
        assert!(js.contains(r#""url": "/api/v1/openapi.json""#), "{js}");
        assert!(js.contains(r#""validatorUrl": "none""#), "{js}");
    }
}
