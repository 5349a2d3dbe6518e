//! `POST /api/v1/validate`: the full validation verdict, without writing anything.

use std::sync::Arc;

use axum::{Json, extract::State};
use nestor_catalog::Origin;
use nestor_model::{ComponentSpec, Problem, ValidationReport};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    app::AppState,
    error::ApiError,
    extract::{DefinitionBody, Params},
    routes::components::read_definition,
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValidateParams {
    /// Validate as if the definition came from this configured source (e.g. the git repository
    /// an author is about to push to), so that name ownership is checked for that source.
    /// Without it, as an API publish. A source that is not configured is 404.
    source: Option<String>,
}

/// Validate a definition (dry run) against the catalog: well-formedness, the semver gate
/// (predecessor, required and actual bump, every classified change), dependencies, engines and
/// name ownership. Always 200 with the verdict when the body is a document.
#[utoipa::path(post, path = "/api/v1/validate", tag = "validation",
    params(ValidateParams),
    request_body(content(
        (ComponentSpec = "application/json"),
        (String = "application/yaml"),
    ), description = "One component definition"),
    responses(
        (status = 200, description = "The verdict, with every finding", body = ValidationReport),
        (status = 400, description = "Not valid JSON/YAML, or a malformed parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`source` names no configured source (`not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Unsupported content type", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn validate(
    State(state): State<Arc<AppState>>,
    Params(params): Params<ValidateParams>,
    body: DefinitionBody,
) -> Result<Json<ValidationReport>, ApiError> {
    let origin = match params.source {
        Some(id) => {
            let configured: Vec<&str> = state
                .sync
                .iter()
                .flat_map(|m| m.sources().map(|s| s.source.id()))
                .collect();
            if !configured.contains(&id.as_str()) {
                let known = if configured.is_empty() {
                    "this server has no configured sources".to_owned()
                } else {
                    format!("configured: {}", configured.join(", "))
                };
                // Like `POST /api/v1/sources/{id}/sync`: naming a source that does not exist
                // is 404, whatever the definition.
                return Err(Problem::new(
                    nestor_model::ErrorCode::NotFound,
                    format!("no source {id:?} is configured ({known})"),
                )
                .with_details(serde_json::json!({ "parameter": "source", "source": id }))
                .into());
            }
            Origin::Source { id }
        }
        None => crate::routes::components::api_origin(),
    };
    match read_definition(body).await {
        Ok(spec) => Ok(Json(
            state
                .catalog
                .validate(&spec, Some(&origin), None, None)
                .await?,
        )),
        Err(Ok(problem)) => Err(problem),
        Err(Err(unreadable)) => Ok(Json(
            crate::routes::components::unreadable_report(&state, unreadable, &origin).await?,
        )),
    }
}
