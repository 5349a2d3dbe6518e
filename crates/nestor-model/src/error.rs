//! Stable error codes and the RFC 9457 problem body every API error is sent as.
//!
//! The `code` strings are a contract with clients: add codes freely, never rename one.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Every error the API can answer with. `as_str()` is the stable `code` of the problem body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// No component has this name.
    ComponentNotFound,
    /// The component exists, but not this version.
    VersionNotFound,
    /// No version satisfies the requirement.
    NoMatchingVersion,
    /// No route or resource at this path.
    NotFound,
    /// The method is not allowed on this path.
    MethodNotAllowed,
    /// A query or path parameter is malformed or has an unknown value.
    InvalidParameter,
    /// The pagination cursor is not one this server issued.
    InvalidCursor,
    /// The request body is not well-formed (JSON syntax, wrong shape).
    MalformedBody,
    /// The definition is well-formed but breaks validation rules.
    InvalidDefinition,
    /// The version exists with a different interface; versions are immutable.
    VersionConflict,
    /// The component name belongs to another source.
    NameConflict,
    /// The request body is larger than the server accepts.
    PayloadTooLarge,
    /// The request body's content type is not supported.
    UnsupportedMediaType,
    /// The request was not answered within the server's request timeout.
    RequestTimeout,
    /// Missing or invalid credentials.
    Unauthorized,
    /// Valid credentials without the required scope.
    Forbidden,
    /// Too many requests; retry later.
    RateLimited,
    /// The store cannot be reached; the request may be retried.
    StoreUnavailable,
    /// The catalog index is being built, or has not yet applied the `min_revision` asked for;
    /// the request may be retried.
    IndexUnavailable,
    /// The server already serves its maximum number of event streams; retry later.
    TooManySubscribers,
    /// An unexpected server error.
    Internal,
}

impl ErrorCode {
    /// The stable machine-readable code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ComponentNotFound => "component_not_found",
            ErrorCode::VersionNotFound => "version_not_found",
            ErrorCode::NoMatchingVersion => "no_matching_version",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::InvalidParameter => "invalid_parameter",
            ErrorCode::InvalidCursor => "invalid_cursor",
            ErrorCode::MalformedBody => "malformed_body",
            ErrorCode::InvalidDefinition => "invalid_definition",
            ErrorCode::VersionConflict => "version_conflict",
            ErrorCode::NameConflict => "name_conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::StoreUnavailable => "store_unavailable",
            ErrorCode::IndexUnavailable => "index_unavailable",
            ErrorCode::TooManySubscribers => "too_many_subscribers",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status the code is answered with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::ComponentNotFound
            | ErrorCode::VersionNotFound
            | ErrorCode::NoMatchingVersion
            | ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::InvalidParameter | ErrorCode::InvalidCursor | ErrorCode::MalformedBody => {
                400
            }
            ErrorCode::InvalidDefinition => 422,
            ErrorCode::VersionConflict | ErrorCode::NameConflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::RateLimited => 429,
            ErrorCode::StoreUnavailable
            | ErrorCode::IndexUnavailable
            | ErrorCode::TooManySubscribers => 503,
            ErrorCode::Internal => 500,
        }
    }

    /// A short human title for the code (the problem's `title`).
    pub fn title(self) -> &'static str {
        match self {
            ErrorCode::ComponentNotFound => "Component not found",
            ErrorCode::VersionNotFound => "Version not found",
            ErrorCode::NoMatchingVersion => "No version matches the requirement",
            ErrorCode::NotFound => "Not found",
            ErrorCode::MethodNotAllowed => "Method not allowed",
            ErrorCode::InvalidParameter => "Invalid parameter",
            ErrorCode::InvalidCursor => "Invalid cursor",
            ErrorCode::MalformedBody => "Malformed request body",
            ErrorCode::InvalidDefinition => "Invalid component definition",
            ErrorCode::VersionConflict => "Version already published with a different interface",
            ErrorCode::NameConflict => "Component name owned by another source",
            ErrorCode::PayloadTooLarge => "Request body too large",
            ErrorCode::UnsupportedMediaType => "Unsupported media type",
            ErrorCode::RequestTimeout => "Request timeout",
            ErrorCode::Unauthorized => "Unauthorized",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::RateLimited => "Too many requests",
            ErrorCode::StoreUnavailable => "Store unavailable",
            ErrorCode::IndexUnavailable => "Catalog index not ready",
            ErrorCode::TooManySubscribers => "Too many event subscribers",
            ErrorCode::Internal => "Internal server error",
        }
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_retriable(self) -> bool {
        matches!(
            self,
            ErrorCode::StoreUnavailable
                | ErrorCode::IndexUnavailable
                | ErrorCode::RateLimited
                | ErrorCode::TooManySubscribers
                | ErrorCode::RequestTimeout
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An RFC 9457 problem body (`application/problem+json`).
///
/// ```
/// use nestor_model::{ErrorCode, Problem};
/// let p = Problem::new(ErrorCode::VersionNotFound, "aws-vpc has no version 9.9.9");
/// assert_eq!(p.status, 404);
/// assert_eq!(p.code, ErrorCode::VersionNotFound);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:nestor:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Request path of this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Whether the same request may succeed later.
    #[serde(default)]
    pub retriable: bool,
    /// Structured details (validation findings, the conflicting difference, the bad parameter…).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub details: Value,
}

impl Problem {
    /// A problem of the given code with a detail message.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Problem {
            problem_type: format!("urn:nestor:problem:{}", code.as_str()),
            title: code.title().to_owned(),
            status: code.http_status(),
            detail: detail.into(),
            code,
            instance: None,
            retriable: code.is_retriable(),
            details: Value::Null,
        }
    }

    /// Adds structured details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_stable_string() {
        for code in [
            ErrorCode::ComponentNotFound,
            ErrorCode::InvalidCursor,
            ErrorCode::StoreUnavailable,
        ] {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                Value::String(code.as_str().into())
            );
        }
    }

    #[test]
    fn problem_body_shape() {
        let p =
            Problem::new(ErrorCode::VersionConflict, "x").with_details(serde_json::json!({"a": 1}));
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "urn:nestor:problem:version_conflict");
        assert_eq!(v["status"], 409);
        assert_eq!(v["code"], "version_conflict");
        assert_eq!(v["details"]["a"], 1);
    }
}
