//! Extractors whose rejections are problems with stable codes, instead of axum's plain-text
//! defaults: query strings (strict: unknown parameters and values are errors; the filter
//! vocabulary of `nestor_model::ComponentFilter` taken out first), path parameters, and request
//! bodies (content type, size, syntax).

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, Request},
    http::{StatusCode, header, request::Parts},
};
use nestor_model::{ComponentFilter, ErrorCode, Problem};
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use crate::error::ApiError;

/// Query parameters, parsed strictly (`serde_html_form`, so repeated keys become lists).
pub struct Params<T>(pub T);

/// Refuses a parameter given with an empty value (`?limit=`, `?limit`): it is never taken as
/// absent (docs/api.md). A scan of the raw query, so that the strict parse below stays the only
/// decoding.
fn refuse_empty_values(query: &str) -> Result<(), ApiError> {
    let empty = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .find_map(|pair| match pair.split_once('=') {
            None => Some(pair),
            Some((key, "")) => Some(key),
            Some(_) => None,
        });
    match empty {
        Some(key) => Err(ApiError::invalid_parameter(
            key,
            "is empty; give it a value or leave the parameter out",
        )),
        None => Ok(()),
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        refuse_empty_values(query)?;
        serde_html_form::from_str(query)
            .map(Params)
            .map_err(|e| ApiError::invalid_parameter("query", e))
    }
}

/// Query parameters with the filter vocabulary taken out first: the keys of
/// [`ComponentFilter`] (`name`, `provider`, `category`, `resource_type`, `engine`, `maturity`,
/// `label`) make the filter, the others are parsed strictly into `T` as by [`Params`]. The same
/// filter, and the same messages, on every endpoint that filters (list, search, events).
pub struct Filtered<T>(pub ComponentFilter, pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Filtered<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        refuse_empty_values(query)?;
        let pairs: Vec<(String, String)> = serde_html_form::from_str(query)
            .map_err(|e| ApiError::invalid_parameter("query", e))?;
        nestor_model::check_repeats(pairs.iter().map(|(k, _)| k.as_str()))
            .map_err(|e| ApiError::invalid_parameter(&e.parameter, e.message))?;
        let mut filter = ComponentFilter::default();
        let mut rest = Vec::new();
        for (key, value) in pairs {
            let taken = filter
                .set(&key, &value)
                .map_err(|e| ApiError::invalid_parameter(&e.parameter, e.message))?;
            if !taken {
                rest.push((key, value));
            }
        }
        let rest = serde_html_form::to_string(&rest)
            .map_err(|e| ApiError::invalid_parameter("query", e))?;
        let params = serde_html_form::from_str(&rest)
            .map_err(|e| ApiError::invalid_parameter("query", e))?;
        Ok(Filtered(filter, params))
    }
}

/// The filter parameters as the OpenAPI document shows them (parsed by [`Filtered`], through
/// `ComponentFilter::set`; never deserialized from this type). Their schemas are built from the
/// bounds the parser enforces.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct FilterParams {
    /// Only these components (repeatable up to 64 times, each value up to 64 comma-separated
    /// names; any of them).
    #[param(schema_with = filter_names)]
    name: Vec<String>,
    /// Providers, comma-separated (any of them), e.g. `aws` or `aws,gcp`.
    #[param(schema_with = filter_alternatives)]
    provider: Option<String>,
    /// Categories, comma-separated (any of them), e.g. `database`.
    #[param(schema_with = filter_alternatives)]
    category: Option<String>,
    /// Resource types, comma-separated (any of them).
    #[param(schema_with = filter_alternatives)]
    resource_type: Option<String>,
    /// Deployable with any of these engines, comma-separated.
    #[param(schema_with = filter_alternatives)]
    engine: Option<String>,
    /// Maturities, comma-separated (any of them).
    #[param(schema_with = filter_maturities)]
    maturity: Option<String>,
    /// Support levels, comma-separated (any of them).
    #[param(schema_with = filter_support_levels)]
    support_level: Option<String>,
    /// `key` (the label is set) or `key:value` (set to this value); repeat for several (all
    /// must hold; up to 64).
    #[param(schema_with = filter_labels)]
    label: Vec<String>,
    /// Negated label condition, written `label!=key` (the label is not set) or
    /// `label!=key:value` (not set to this value); repeatable (up to 64).
    #[param(rename = "label!", schema_with = filter_labels)]
    label_not: Vec<String>,
    /// `true`: only deprecated versions; `false`: only versions that are not.
    deprecated: Option<bool>,
    /// `true`: only yanked versions; `false`: only versions that are not (a yanked version is
    /// never a component's latest).
    yanked: Option<bool>,
}

/// `^A(,A){0,63}$`: 1 to [`MAX_FILTER_VALUES`] comma-separated alternatives matching `one`.
fn alternatives_pattern(one: &str) -> String {
    format!(
        "^{one}(,{one}){{0,{}}}$",
        nestor_model::MAX_FILTER_VALUES - 1
    )
}

fn string_with(pattern: String) -> utoipa::openapi::ObjectBuilder {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .min_length(Some(1))
        .pattern(Some(pattern))
}

fn repeatable(items: utoipa::openapi::ObjectBuilder) -> utoipa::openapi::Schema {
    utoipa::openapi::Schema::Array(
        utoipa::openapi::ArrayBuilder::new()
            .items(items)
            .max_items(Some(nestor_model::MAX_FILTER_VALUES))
            .build(),
    )
}

fn filter_names() -> utoipa::openapi::Schema {
    let name = nestor_model::limits::NAME_PATTERN
        .trim_start_matches('^')
        .trim_end_matches('$');
    repeatable(string_with(alternatives_pattern(name)))
}

fn filter_alternatives() -> utoipa::openapi::Schema {
    let one = format!("[^,]{{1,{}}}", nestor_model::MAX_FILTER_VALUE_CHARS);
    utoipa::openapi::Schema::Object(string_with(alternatives_pattern(&one)).build())
}

fn one_of_words(words: impl IntoIterator<Item = &'static str>) -> String {
    format!("({})", words.into_iter().collect::<Vec<_>>().join("|"))
}

fn filter_maturities() -> utoipa::openapi::Schema {
    let one = one_of_words(nestor_model::Maturity::ALL.map(|m| m.as_str()));
    utoipa::openapi::Schema::Object(string_with(alternatives_pattern(&one)).build())
}

fn filter_support_levels() -> utoipa::openapi::Schema {
    let one = one_of_words(nestor_model::SupportLevel::ALL.map(|m| m.as_str()));
    utoipa::openapi::Schema::Object(string_with(alternatives_pattern(&one)).build())
}

fn filter_labels() -> utoipa::openapi::Schema {
    repeatable(
        string_with("^[^:]".to_owned()).max_length(Some(nestor_model::MAX_FILTER_VALUE_CHARS)),
    )
}

/// Path parameters.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| ApiPath(t))
            .map_err(|e| ApiError::invalid_parameter("path", e.body_text()))
    }
}

/// A definition in the request body: JSON (`application/json`) or YAML (`application/yaml`).
pub enum DefinitionBody {
    /// JSON bytes.
    Json(Bytes),
    /// YAML text.
    Yaml(String),
}

fn content_type(req: &Request) -> Option<String> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(
                ErrorCode::PayloadTooLarge,
                "the request body is larger than the server accepts",
            )
            .into()
        } else {
            Problem::new(ErrorCode::MalformedBody, rejection.body_text()).into()
        }
    })
}

fn unsupported(got: Option<String>, expected: &str) -> ApiError {
    Problem::new(
        ErrorCode::UnsupportedMediaType,
        format!(
            "content type {} is not supported; send {expected}",
            got.as_deref().unwrap_or("(none)")
        ),
    )
    .into()
}

impl<S: Send + Sync> FromRequest<S> for DefinitionBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let ct = content_type(&req);
        let yaml = match ct.as_deref() {
            Some("application/json") => false,
            Some("application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml") => true,
            _ => return Err(unsupported(ct, "application/json or application/yaml")),
        };
        let bytes = body_bytes(req, state).await?;
        if !yaml {
            return Ok(DefinitionBody::Json(bytes));
        }
        String::from_utf8(bytes.to_vec())
            .map(DefinitionBody::Yaml)
            .map_err(|e| {
                Problem::new(
                    ErrorCode::MalformedBody,
                    format!("the YAML body is not UTF-8: {e}"),
                )
                .into()
            })
    }
}

/// A JSON body of type `T` (`application/json` only).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let ct = content_type(&req);
        if ct.as_deref() != Some("application/json") {
            return Err(unsupported(ct, "application/json"));
        }
        let bytes = body_bytes(req, state).await?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            Problem::new(ErrorCode::MalformedBody, format!("invalid JSON body: {e}")).into()
        })
    }
}
