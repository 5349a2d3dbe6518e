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
//! * The shapes the server enforces, from the rules it checks them with
//!   (`nestor_model::limits`): path parameters `name` and `version` and the versions of
//!   `from`/`to` are component names and versions everywhere; no query parameter may be empty
//!   (`minLength: 1`); the request body of a publish is a [`DEFINITION`] — a `ComponentSpec`
//!   with every field the server requires, and nothing else (`additionalProperties: false`, no
//!   git provenance) — in JSON and YAML alike; a validation takes any document (it answers 200
//!   with the verdict on whatever it is given).
//! * 431 on every operation: hyper answers it, without a body, to a request line and headers
//!   larger than it reads.

use axum::http::Method;
use nestor_model::Problem;
use utoipa::{
    PartialSchema,
    openapi::{
        ContentBuilder, HeaderBuilder, ObjectBuilder, OpenApi, Ref, RefOr, ResponseBuilder, Schema,
        extensions::Extensions,
        path::Operation,
        schema::{AdditionalProperties, SchemaType, Type},
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
/// The schema of a publish's body: a definition as the server accepts it.
pub const DEFINITION: &str = "Definition";

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

    add_definition(components);
    components.responses.insert(
        "HeadersTooLarge".to_owned(),
        RefOr::T(
            ResponseBuilder::new()
                .description(
                    "The request line and headers are larger than the server reads (answered \
                     by the HTTP layer, without a body)",
                )
                .build(),
        ),
    );

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
                constrain_parameters(op);
                if concrete == "/api/v1/components" && method == Method::POST {
                    body_schema(op, RefOr::Ref(Ref::from_schema_name(DEFINITION)));
                }
                if concrete == "/api/v1/validate" {
                    body_schema(
                        op,
                        RefOr::T(Schema::Object(
                            ObjectBuilder::new()
                                .schema_type(SchemaType::AnyValue)
                                .description(Some(
                                    "Any document: it is judged as a `Definition`, and every \
                                     way it is not one is a finding of the verdict",
                                ))
                                .build(),
                        )),
                    );
                }
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
    op.responses
        .responses
        .entry("431".to_owned())
        .or_insert_with(|| RefOr::Ref(Ref::from_response_name("HeadersTooLarge")));
}

/// The `Definition` schema, from `ComponentSpec`'s: the fields the server requires, no
/// provenance (only a git sync stamps it: `PROVENANCE_RESERVED`), nothing else at any depth.
fn add_definition(components: &mut utoipa::openapi::Components) {
    const REQUIRED: [&str; 7] = [
        "name",
        "version",
        "description",
        "provider",
        "category",
        "resource_type",
        "deployment_engines",
    ];
    const PROVENANCE: [&str; 3] = ["git_repository", "git_commit", "git_path"];
    let Some(RefOr::T(Schema::Object(spec))) = components.schemas.get("ComponentSpec") else {
        return;
    };
    let mut definition = spec.clone();
    definition.description = Some(
        "A component definition as a publish takes it: every field the server requires, and \
         nothing else."
            .to_owned(),
    );
    for field in PROVENANCE {
        definition.properties.remove(field);
    }
    definition.required = REQUIRED.iter().map(|f| (*f).to_owned()).collect();
    definition.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
    components
        .schemas
        .insert(DEFINITION.to_owned(), RefOr::T(Schema::Object(definition)));
    // The parts of a definition: unknown fields are refused at any depth.
    for part in [
        "Input",
        "Output",
        "Dependency",
        "ResourceLimits",
        "AcknowledgedChange",
    ] {
        if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut(part) {
            o.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
    }
    // An acknowledged change names one of the change rules.
    if let Some(RefOr::T(Schema::Object(ack))) = components.schemas.get_mut("AcknowledgedChange")
        && let Some(RefOr::T(Schema::Object(rule))) = ack.properties.get_mut("rule")
    {
        rule.enum_values = Some(
            nestor_validation::CHANGE_RULES
                .iter()
                .map(|r| r.id.into())
                .collect(),
        );
    }
}

/// Replaces the schema of every content type of `op`'s request body.
fn body_schema(op: &mut Operation, schema: RefOr<Schema>) {
    if let Some(RefOr::T(body)) = op.request_body.as_mut() {
        for content in body.content.values_mut() {
            let RefOr::T(content) = content else { continue };
            content.schema = Some(schema.clone());
        }
    }
}

/// The shapes of parameters, as the server checks them: `name` and `version` in paths, and
/// the versions `from` and `to`, follow the name and version rules; no query parameter may be
/// empty (`?limit=` is refused, never taken as absent).
fn constrain_parameters(op: &mut Operation) {
    use utoipa::openapi::path::ParameterIn;
    for param in op.parameters.iter_mut().flatten() {
        let RefOr::T(param) = param else { continue };
        let schema = match (&param.parameter_in, param.name.as_str()) {
            (ParameterIn::Path, "name") => Some(nestor_model::limits::name_schema()),
            (ParameterIn::Path, "version") | (ParameterIn::Query, "from" | "to") => {
                Some(nestor_model::limits::version_schema())
            }
            _ => None,
        };
        if let Some(schema) = schema {
            param.schema = Some(RefOr::T(schema));
        }
        if param.parameter_in == ParameterIn::Query
            && let Some(RefOr::T(schema)) = param.schema.as_mut()
        {
            non_empty(schema);
        }
    }
}

fn non_empty(schema: &mut Schema) {
    match schema {
        Schema::Object(o)
            if o.min_length.is_none()
                && match &o.schema_type {
                    SchemaType::Type(t) => *t == Type::String,
                    SchemaType::Array(ts) => ts.contains(&Type::String),
                    SchemaType::AnyValue => false,
                } =>
        {
            o.min_length = Some(1);
        }
        Schema::Array(a) => {
            if let utoipa::openapi::schema::ArrayItems::RefOrSchema(items) = &mut a.items
                && let RefOr::T(items) = items.as_mut()
            {
                non_empty(items);
            }
        }
        _ => {}
    }
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
