//! Access control: bearer tokens with scopes, anonymous reads, and a per-token rate limit on
//! writes.
//!
//! Tokens are configured by the SHA-256 of their value, never the value. Scopes nest:
//! `admin` ⊃ `publish` ⊃ `read`. What a request needs is decided by [`required_scope`] from its
//! method and path: liveness, readiness, version, metrics and the API documents are public
//! (`/health/detailed` shows internals and needs `read`); webhooks are
//! authenticated by their signatures; reads (and the dry-run `POST /validate`) need `read`
//! unless anonymous reads are on; writes need `publish`; syncing a source and registering an
//! engine need `admin`. With no tokens configured at all (a local `serve`), access control is
//! off and writes are open — the server logs that at start-up.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State},
    http::{HeaderValue, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use nestor_model::{ErrorCode, Problem};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// What a token may do. Ordered: each scope includes those before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Query the catalog, follow the change feed, validate drafts.
    Read,
    /// Publish, deprecate and yank versions.
    Publish,
    /// Sync sources on demand, register engines.
    Admin,
}

impl Scope {
    /// The scope's name in the configuration and in problems.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Publish => "publish",
            Scope::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Scope::Read),
            "publish" => Ok(Scope::Publish),
            "admin" => Ok(Scope::Admin),
            other => Err(format!(
                "unknown scope {other:?} (expected read, publish or admin)"
            )),
        }
    }
}

/// A configured token.
#[derive(Clone)]
pub struct Token {
    /// Who it belongs to (logged with each request it authenticates; never the secret).
    pub name: String,
    sha256: [u8; 32],
    scopes: Vec<Scope>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// A token named `name` whose value hashes to `sha256_hex` (64 hex digits), with `scopes`.
    pub fn new(name: &str, sha256_hex: &str, scopes: &[String]) -> Result<Token, String> {
        let digest = hex::decode(sha256_hex.trim())
            .ok()
            .and_then(|d| <[u8; 32]>::try_from(d).ok())
            .ok_or_else(|| {
                format!(
                    "token {name:?}: sha256 must be 64 hex digits (printf %s \"$TOKEN\" | sha256sum)"
                )
            })?;
        let scopes = scopes
            .iter()
            .map(|s| s.parse().map_err(|e| format!("token {name:?}: {e}")))
            .collect::<Result<Vec<Scope>, String>>()?;
        if scopes.is_empty() {
            return Err(format!("token {name:?}: no scopes (read, publish, admin)"));
        }
        Ok(Token {
            name: name.to_owned(),
            sha256: digest,
            scopes,
        })
    }

    fn grants(&self, needed: Scope) -> bool {
        self.scopes.iter().any(|s| *s >= needed)
    }

    fn scope_names(&self) -> Vec<&'static str> {
        self.scopes.iter().map(|s| s.as_str()).collect()
    }
}

/// A token bucket per token for writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained writes per minute.
    pub per_minute: u32,
    /// Writes allowed in a burst.
    pub burst: u32,
}

/// Access control settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Reads need no token.
    pub anonymous_read: bool,
    /// The accepted tokens. Empty: access control is off.
    pub tokens: Vec<Token>,
    /// Per-token limit on writes, if any.
    pub write_rate_limit: Option<RateLimit>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            anonymous_read: true,
            tokens: Vec::new(),
            write_rate_limit: None,
        }
    }
}

/// Who made a request, as an extension on authenticated requests.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's configured name.
    pub name: String,
    /// Whether the token has the admin scope.
    pub admin: bool,
}

impl Principal {
    /// Who a request acts as: its token's principal, or `anonymous` — with every right while
    /// access control is off (no tokens configured), with none beyond reading otherwise.
    pub(crate) fn acting(
        principal: Option<axum::Extension<Principal>>,
        auth: &AuthConfig,
    ) -> Principal {
        match principal {
            Some(axum::Extension(p)) => p,
            None => Principal {
                name: "anonymous".to_owned(),
                admin: auth.tokens.is_empty(),
            },
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The state the middleware needs.
pub(crate) struct Auth {
    config: AuthConfig,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Auth {
    pub(crate) fn new(config: AuthConfig) -> Arc<Auth> {
        Arc::new(Auth {
            config,
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `presented` is a configured token with the read scope (the page's sign-in).
    pub(crate) fn reads(&self, presented: &str) -> bool {
        self.find(presented).is_some_and(|t| t.grants(Scope::Read))
    }

    /// The token whose hash is `presented`'s, compared in constant time against every one.
    fn find(&self, presented: &str) -> Option<&Token> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for t in &self.config.tokens {
            if bool::from(t.sha256.ct_eq(&digest)) {
                found = Some(t);
            }
        }
        found
    }

    /// Takes one write from `name`'s bucket, or says how long until one is available.
    fn take_write(&self, name: &str) -> Result<(), Duration> {
        let Some(limit) = self.config.write_rate_limit else {
            return Ok(());
        };
        let per_second = f64::from(limit.per_minute.max(1)) / 60.0;
        let capacity = f64::from(limit.burst.max(1));
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(name.to_owned()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * per_second)
            .min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

/// The scope a request needs, or `None` when it is public.
pub fn required_scope(method: &Method, path: &str) -> Option<Scope> {
    let public = path == "/health"
        || path == "/health/ready"
        || path == "/version"
        || path == "/metrics"
        || path == "/api/v1/openapi.json"
        // Terraform's service discovery says where the registry is, nothing of the catalog.
        || path == "/.well-known/terraform.json"
        || path == "/api/v1/docs"
        || path.starts_with("/api/v1/docs/")
        // The page's stylesheet and script, and its sign-in form.
        || path.starts_with("/assets/")
        || path == "/login"
        // Webhooks carry their own signatures.
        || path.starts_with("/api/v1/webhooks/");
    if public {
        return None;
    }
    let write = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    Some(if !write || path == "/api/v1/validate" {
        Scope::Read
    } else if (path.starts_with("/api/v1/sources/") && path.ends_with("/sync"))
        || path.starts_with("/api/v1/engines/")
    {
        Scope::Admin
    } else {
        Scope::Publish
    })
}

fn unauthorized(detail: String, error: &'static str) -> Response {
    crate::metrics::auth_refused(match error {
        "invalid_request" => "malformed",
        "invalid_token" => "unknown_token",
        _ => "missing_token",
    });
    let mut res = ApiError::from(Problem::new(ErrorCode::Unauthorized, detail)).into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(match error {
            "invalid_request" => r#"Bearer realm="nestor", error="invalid_request""#,
            "invalid_token" => r#"Bearer realm="nestor", error="invalid_token""#,
            _ => r#"Bearer realm="nestor""#,
        }),
    );
    res
}

/// The page's token cookie, if the request carries one.
fn token_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == crate::web::TOKEN_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// The middleware: admits, or answers 401 / 403 / 429 problems.
pub(crate) async fn authenticate(
    State(auth): State<Arc<Auth>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(needed) = required_scope(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    if auth.config.tokens.is_empty() {
        return next.run(request).await;
    }
    let cookie = (needed == Scope::Read && matches!(*request.method(), Method::GET | Method::HEAD))
        .then(|| token_cookie(request.headers()))
        .flatten();
    let presented = match request.headers().get(header::AUTHORIZATION) {
        // A browser's token (pages and their event stream; EventSource cannot send headers),
        // for reads only: a cookie is sent by the browser on its own, so it must never
        // authorize a change.
        None if cookie.is_some() => cookie.unwrap_or_default(),
        None if needed == Scope::Read && auth.config.anonymous_read => {
            return next.run(request).await;
        }
        None if crate::web::is_page(request.uri().path()) && request.method() == Method::GET => {
            let next = request
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            let to = format!(
                "/login?{}",
                crate::web::query_string([("next", next.as_str())])
            );
            return (axum::http::StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
        }
        None => {
            return unauthorized(
                format!(
                    "this request needs a bearer token with the {} scope",
                    needed.as_str()
                ),
                "",
            );
        }
        Some(value) => {
            let token = value.to_str().ok().and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                let token = token.trim();
                (scheme.eq_ignore_ascii_case("bearer")
                    && !token.is_empty()
                    && !token.contains(char::is_whitespace))
                .then_some(token)
            });
            match token {
                Some(t) => t.to_owned(),
                None => {
                    return unauthorized(
                        "malformed Authorization header: expected `Bearer <token>`".to_owned(),
                        "invalid_request",
                    );
                }
            }
        }
    };
    let Some(token) = auth.find(&presented) else {
        return unauthorized("unknown token".to_owned(), "invalid_token");
    };
    if !token.grants(needed) {
        crate::metrics::auth_refused("scope");
        return ApiError::from(
            Problem::new(
                ErrorCode::Forbidden,
                format!(
                    "token {:?} has scopes {:?}; this request needs {}",
                    token.name,
                    token.scope_names(),
                    needed.as_str()
                ),
            )
            .with_details(serde_json::json!({
                "required_scope": needed.as_str(),
                "token": token.name,
            })),
        )
        .into_response();
    }
    if needed >= Scope::Publish
        && let Err(wait) = auth.take_write(&token.name)
    {
        crate::metrics::auth_refused("rate_limited");
        let seconds = wait.as_secs().max(1);
        let mut res = ApiError::from(
            Problem::new(
                ErrorCode::RateLimited,
                format!(
                    "token {:?} is over its write rate limit; retry in {seconds} s",
                    token.name
                ),
            )
            .with_details(serde_json::json!({ "retry_after_seconds": seconds })),
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    tracing::Span::current().record("principal", token.name.as_str());
    request.extensions_mut().insert(Principal {
        name: token.name.clone(),
        admin: token.grants(Scope::Admin),
    });
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_per_route() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(required_scope(&get, "/health"), None);
        assert_eq!(required_scope(&get, "/health/ready"), None);
        assert_eq!(
            required_scope(&get, "/health/detailed"),
            Some(Scope::Read),
            "detailed health shows internals"
        );
        assert_eq!(required_scope(&get, "/api/v1/docs"), None);
        assert_eq!(
            required_scope(&get, "/api/v1/docs/swagger-ui-bundle.js"),
            None
        );
        assert_eq!(required_scope(&get, "/metrics"), None);
        assert_eq!(required_scope(&post, "/api/v1/webhooks/github"), None);
        assert_eq!(
            required_scope(&get, "/api/v1/components"),
            Some(Scope::Read)
        );
        assert_eq!(required_scope(&get, "/api/v1/events"), Some(Scope::Read));
        assert_eq!(required_scope(&post, "/api/v1/validate"), Some(Scope::Read));
        assert_eq!(
            required_scope(&post, "/api/v1/components"),
            Some(Scope::Publish)
        );
        assert_eq!(
            required_scope(&Method::PATCH, "/api/v1/components/a/versions/1.0.0"),
            Some(Scope::Publish)
        );
        assert_eq!(
            required_scope(&post, "/api/v1/sources/infra/sync"),
            Some(Scope::Admin)
        );
        assert_eq!(
            required_scope(&Method::PUT, "/api/v1/engines/terraform"),
            Some(Scope::Admin)
        );
    }

    #[test]
    fn tokens_are_checked_at_configuration() {
        let hash = hex::encode(Sha256::digest(b"t"));
        assert!(Token::new("ci", &hash, &["publish".into()]).is_ok());
        assert!(Token::new("ci", "abc", &["read".into()]).is_err());
        assert!(
            Token::new("ci", &hash, &["write".into()])
                .unwrap_err()
                .contains("unknown scope")
        );
        assert!(Token::new("ci", &hash, &[]).is_err());
        let admin = Token::new("ops", &hash, &["admin".into()]).unwrap();
        assert!(admin.grants(Scope::Read) && admin.grants(Scope::Publish));
        let reader = Token::new("r", &hash, &["read".into()]).unwrap();
        assert!(!reader.grants(Scope::Publish));
        assert!(!format!("{admin:?}").contains(&hash), "no hash in Debug");
    }

    #[test]
    fn the_write_bucket_refills() {
        let auth = Auth::new(AuthConfig {
            write_rate_limit: Some(RateLimit {
                per_minute: 60,
                burst: 2,
            }),
            ..Default::default()
        });
        assert!(auth.take_write("a").is_ok());
        assert!(auth.take_write("a").is_ok());
        let wait = auth.take_write("a").unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(auth.take_write("b").is_ok(), "buckets are per token");
    }
}
