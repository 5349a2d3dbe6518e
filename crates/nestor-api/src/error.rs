//! The one mapping from domain errors to RFC 9457 problem responses.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use nestor_catalog::CatalogError;
use nestor_model::{ErrorCode, Problem};
use serde_json::json;

/// An error answered as `application/problem+json`.
#[derive(Debug)]
pub struct ApiError(pub Box<Problem>);

impl ApiError {
    /// A 400 `invalid_parameter` problem.
    pub fn invalid_parameter(parameter: &str, message: impl std::fmt::Display) -> Self {
        Problem::new(
            ErrorCode::InvalidParameter,
            format!("invalid {parameter}: {message}"),
        )
        .with_details(json!({ "parameter": parameter }))
        .into()
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        ApiError(Box::new(p))
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        let code = e.code();
        let detail = e.to_string();
        let details = match &e {
            CatalogError::Invalid(report) => {
                json!({ "findings": report.findings, "name": report.name, "version": report.version })
            }
            CatalogError::VersionConflict {
                name,
                version,
                published_hash,
                submitted_hash,
                differences,
            } => json!({
                "name": name, "version": version,
                "published_hash": published_hash, "submitted_hash": submitted_hash,
                "differences": differences,
            }),
            CatalogError::InvalidParameter { parameter, .. } => json!({ "parameter": parameter }),
            CatalogError::NameConflict { name, owner } => json!({ "name": name, "owner": owner }),
            CatalogError::NotOwner { name, owners, .. } => {
                json!({ "name": name, "owners": owners })
            }
            CatalogError::ComponentNotFound { name }
            | CatalogError::VersionNotFound { name, .. } => json!({ "name": name }),
            CatalogError::NoMatchingVersion { name, req } => json!({ "name": name, "req": req }),
            CatalogError::Store(err) => {
                tracing::error!(error = %err, "store error");
                serde_json::Value::Null
            }
            CatalogError::InvalidPatch(_) | CatalogError::Forbidden(_) => serde_json::Value::Null,
            CatalogError::Index(index) => match index {
                nestor_catalog::IndexError::Syntax(e) => {
                    json!({ "parameter": "q", "position": e.position })
                }
                nestor_catalog::IndexError::Parameter { parameter, .. } => {
                    json!({ "parameter": parameter })
                }
                nestor_catalog::IndexError::Cursor(_) => json!({ "parameter": "cursor" }),
                nestor_catalog::IndexError::Unavailable(_) => serde_json::Value::Null,
            },
            CatalogError::Source { source_id, .. } | CatalogError::SourceNotFound { source_id } => {
                json!({ "source": source_id })
            }
        };
        let detail = match &e {
            // Never leak backend internals to clients; the log has them.
            CatalogError::Store(_) if code == ErrorCode::Internal => {
                "the store failed; see the server log".to_owned()
            }
            _ => detail,
        };
        Problem::new(code, detail).with_details(details).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.0).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.0.retriable {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        res
    }
}
