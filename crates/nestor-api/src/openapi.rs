//! The finishing pass over the OpenAPI document `utoipa` generates from the handlers: what
//! holds for whole classes of operations is added here once, from the same rules the server
//! enforces, instead of being repeated (and forgotten) in each handler's attribute.
//!
//! * Security, as the running configuration enforces it ([`Access`]). With tokens configured:
//!   the `bearer` security scheme (HTTP bearer, opaque tokens), and each operation's `security`
//!   from [`crate::auth::required_scope`]: `[{"bearer": []}]` when it needs a token,
//!   `[{}, {"bearer": []}]` (a token is optional) for reads while anonymous reads are on, `[]`
//!   when it is public. OpenAPI has no scopes for HTTP bearer, so the scope is in the
//!   `x-required-scope` extension (`read`, `publish` or `admin`; absent on public operations)
//!   and in the description. With no tokens configured (access control off) there is no security
//!   scheme and every operation has `security: []`.
//! * The problem responses that do not depend on the handler, as shared
//!   `#/components/responses/…`, each an `application/problem+json` [`Problem`]: 400 on
//!   operations with parameters or a body, 401 and 403 on protected ones (while access control
//!   is on), 404 on those with path parameters, 429 on writes (the per-token rate limit, while
//!   access control is on), 503 on store-backed ones
//!   (`store_unavailable`), 500 on all. A response a handler documents itself is kept.

use axum::http::Method;
use nestor_model::Problem;
use utoipa::{
    PartialSchema,
    openapi::{
        ContentBuilder, HeaderBuilder, OpenApi, Ref, RefOr, ResponseBuilder,
        extensions::Extensions,
        path::Operation,
        security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
    },
};

use crate::auth::{AuthConfig, Scope, required_scope};

/// Name of the security scheme in `components.securitySchemes`.
pub const SECURITY_SCHEME: &str = "bearer";
/// Extension naming the scope an operation needs.
pub const REQUIRED_SCOPE_EXTENSION: &str = "x-required-scope";
/// The content type of every error body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Tags of operations that read or write the store, and so may answer `store_unavailable`.
const STORE_BACKED_TAGS: &[&str] = &["components", "validation", "events", "sync"];

/// A shared problem response: status, name in `components.responses`, description, headers.
struct Common {
    status: &'static str,
    name: &'static str,
    description: &'static str,
    retry_after: bool,
    www_authenticate: bool,
}

const BAD_REQUEST: Common = Common {
    status: "400",
    name: "BadRequest",
    description: "A malformed or unknown parameter, cursor or body (`invalid_parameter`, \
        `invalid_cursor`, `malformed_body`; `details.parameter` names the parameter)",
    retry_after: false,
    www_authenticate: false,
};
const UNAUTHORIZED: Common = Common {
    status: "401",
    name: "Unauthorized",
    description: "No bearer token where one is needed, or an unknown or malformed one \
        (`unauthorized`)",
    retry_after: false,
    www_authenticate: true,
};
const FORBIDDEN: Common = Common {
    status: "403",
    name: "Forbidden",
    description: "The token lacks the scope this operation needs (`forbidden`; \
        `details.required_scope`)",
    retry_after: false,
    www_authenticate: false,
};
const NOT_FOUND: Common = Common {
    status: "404",
    name: "NotFound",
    description: "Nothing at this path (`not_found`, or the resource's own code)",
    retry_after: false,
    www_authenticate: false,
};
const RATE_LIMITED: Common = Common {
    status: "429",
    name: "RateLimited",
    description: "The token is over its write rate limit (`rate_limited`; retry after \
        `Retry-After` seconds)",
    retry_after: true,
    www_authenticate: false,
};
const STORE_UNAVAILABLE: Common = Common {
    status: "503",
    name: "StoreUnavailable",
    description: "The store cannot be reached or is overloaded (`store_unavailable`); the \
        request may be retried",
    retry_after: true,
    www_authenticate: false,
};
const INTERNAL: Common = Common {
    status: "500",
    name: "Internal",
    description: "A bug in the server (`internal`); the server log has the details",
    retry_after: false,
    www_authenticate: false,
};

const ALL_COMMON: &[Common] = &[
    BAD_REQUEST,
    UNAUTHORIZED,
    FORBIDDEN,
    NOT_FOUND,
    RATE_LIMITED,
    STORE_UNAVAILABLE,
    INTERNAL,
];

/// What the running server asks of a request's credentials: the document declares exactly
/// that, so that clients generated from it neither demand a token the server does not need nor
/// omit one it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No tokens configured: access control is off, nothing needs a token.
    Off,
    /// Tokens configured: protected operations need a bearer token with their scope, except
    /// reads while `anonymous_read` is on.
    Tokens {
        /// Reads need no token.
        anonymous_read: bool,
    },
}

impl Access {
    /// The access a server configured with `auth` enforces.
    pub fn of(auth: &AuthConfig) -> Access {
        if auth.tokens.is_empty() {
            Access::Off
        } else {
            Access::Tokens {
                anonymous_read: auth.anonymous_read,
            }
        }
    }
}

/// Applies the security scheme, each operation's requirement and the common responses, as a
/// server with `access` enforces them.
pub(crate) fn finish(doc: &mut OpenApi, access: Access) {
    let components = doc.components.get_or_insert_with(Default::default);
    if let Access::Tokens { anonymous_read } = access {
        components.security_schemes.insert(
            SECURITY_SCHEME.to_owned(),
            RefOr::T(SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("opaque token")
                    .description(Some(format!(
                        "`Authorization: Bearer <token>`. Tokens have scopes: `read` ⊂ `publish` \
                         ⊂ `admin`; each operation's `x-required-scope` names the one it needs. {}",
                        if anonymous_read {
                            "This server allows anonymous reads: a token is optional on reads."
                        } else {
                            "This server allows no anonymous reads: reads need a token too."
                        }
                    )))
                    .build(),
            )),
        );
    }
    for common in ALL_COMMON {
        components
            .responses
            .insert(common.name.to_owned(), RefOr::T(problem_response(common)));
    }

    for (path, item) in doc.paths.paths.iter_mut() {
        let concrete = concrete_path(path);
        let has_path_params = path.contains('{');
        for (method, op) in [
            (Method::GET, &mut item.get),
            (Method::PUT, &mut item.put),
            (Method::POST, &mut item.post),
            (Method::DELETE, &mut item.delete),
            (Method::OPTIONS, &mut item.options),
            (Method::HEAD, &mut item.head),
            (Method::PATCH, &mut item.patch),
            (Method::TRACE, &mut item.trace),
        ] {
            if let Some(op) = op.as_mut() {
                finish_operation(
                    op,
                    required_scope(&method, &concrete),
                    has_path_params,
                    access,
                );
            }
        }
    }
}

fn finish_operation(
    op: &mut Operation,
    scope: Option<Scope>,
    has_path_params: bool,
    access: Access,
) {
    // With access control off, nothing is checked: every operation is open to all.
    let scope = scope.filter(|_| access != Access::Off);
    let description = match (scope, access) {
        (None, Access::Off) => {
            op.security = Some(Vec::new());
            "**Access:** open: this server has no tokens configured (access control is off)."
                .to_owned()
        }
        (None, _) => {
            op.security = Some(Vec::new());
            "**Access:** public, no token.".to_owned()
        }
        (Some(scope), _) => {
            let bearer = SecurityRequirement::new(SECURITY_SCHEME, Vec::<String>::new());
            let anonymous = scope == Scope::Read
                && access
                    == Access::Tokens {
                        anonymous_read: true,
                    };
            op.security = Some(if anonymous {
                // `{}`: no credentials at all is one of the accepted alternatives.
                vec![SecurityRequirement::default(), bearer]
            } else {
                vec![bearer]
            });
            op.extensions
                .get_or_insert_with(Extensions::default)
                .insert(REQUIRED_SCOPE_EXTENSION.to_owned(), scope.as_str().into());
            if anonymous {
                "**Access:** anonymous, or a bearer token with the `read` scope (this server \
                 allows anonymous reads)."
                    .to_owned()
            } else {
                format!(
                    "**Access:** a bearer token with the `{}` scope.",
                    scope.as_str()
                )
            }
        }
    };
    op.description = Some(match op.description.take() {
        Some(d) if !d.is_empty() => format!("{d}\n\n{description}"),
        _ => description,
    });

    let has_params =
        op.parameters.as_ref().is_some_and(|p| !p.is_empty()) || op.request_body.is_some();
    let store_backed = op
        .tags
        .iter()
        .flatten()
        .any(|t| STORE_BACKED_TAGS.contains(&t.as_str()));
    let mut add = |common: &Common| {
        op.responses
            .responses
            .entry(common.status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(common.name)));
    };
    if has_params {
        add(&BAD_REQUEST);
    }
    if scope.is_some() {
        add(&UNAUTHORIZED);
        add(&FORBIDDEN);
    }
    if has_path_params {
        add(&NOT_FOUND);
    }
    if scope >= Some(Scope::Publish) {
        add(&RATE_LIMITED);
    }
    if store_backed {
        add(&STORE_UNAVAILABLE);
    }
    add(&INTERNAL);
}

fn problem_response(common: &Common) -> utoipa::openapi::Response {
    let mut response = ResponseBuilder::new()
        .description(common.description)
        .content(
            PROBLEM_CONTENT_TYPE,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        );
    if common.retry_after {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(u64::schema()))
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    if common.www_authenticate {
        response = response.header(
            "WWW-Authenticate",
            HeaderBuilder::new()
                .schema(Some(String::schema()))
                .description(Some(
                    "`Bearer realm=\"nestor\"`, with `error=\"invalid_token\"` or \
                     `error=\"invalid_request\"` when a token was sent",
                ))
                .build(),
        );
    }
    // Keep the name of the schema the responses point at in step with the type.
    debug_assert_eq!(<Problem as utoipa::ToSchema>::name(), "Problem");
    response.build()
}

/// `path` with each `{parameter}` replaced by a sample value, as a request would have it.
pub(crate) fn concrete_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                "x"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_become_sample_segments() {
        assert_eq!(
            concrete_path("/api/v1/sources/{id}/sync"),
            "/api/v1/sources/x/sync"
        );
        assert_eq!(concrete_path("/health"), "/health");
    }
}
