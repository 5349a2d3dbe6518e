//! `/api/v1/components…` and `/api/v1/search`: query, publish and patch component versions.

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use nestor_catalog::{ListRequest, Origin};
use nestor_model::{
    Component, ComponentName, ComponentPage, ComponentSpec, DefinitionErrorKind, DependencyList,
    DependentList, ErrorCode, PatchRequest, Problem, PublishOutcome, PublishResponse,
    SearchResults, SourceFormat, VersionDiff, VersionList, parse_definition_json,
    parse_definitions,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    app::AppState,
    error::ApiError,
    extract::{ApiPath, DefinitionBody, FilterParams, Filtered, JsonBody, Params},
};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

/// The list endpoint's parameters beside the filter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// Consider pre-releases when picking each component's latest version.
    include_prerelease: Option<bool>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<usize>,
    /// Opaque cursor from a previous page's `next_cursor`.
    cursor: Option<String>,
}

/// A page size: absent is the default, else 1 to [`MAX_LIMIT`].
fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::invalid_parameter(
            "limit",
            format!("{n} is outside 1..={MAX_LIMIT}"),
        )),
    }
}

/// Cursors are opaque to clients; today they carry the last name of the page.
fn encode_cursor(after: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{after}"))
}

fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    let bad = || {
        Problem::new(
            ErrorCode::InvalidCursor,
            "the cursor is not one this server issued; restart from the first page",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let name = text.strip_prefix("v1:").ok_or_else(bad)?;
    ComponentName::parse(name).map_err(|_| bad())?;
    Ok(name.to_owned())
}

pub(crate) fn check_name(name: &str) -> Result<(), ApiError> {
    ComponentName::parse(name)
        .map(|_| ())
        .map_err(|e| ApiError::invalid_parameter("name", format!("{name:?}: {e}")))
}

/// No query parameters accepted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoParams {}

/// List the latest version of each component.
#[utoipa::path(get, path = "/api/v1/components", tag = "components", params(FilterParams, ListParams),
    responses(
        (status = 200, description = "A page of components", body = ComponentPage),
        (status = 400, description = "Bad parameter or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Filtered(filter, p): Filtered<ListParams>,
) -> Result<Json<ComponentPage>, ApiError> {
    let req = ListRequest {
        filter,
        include_prerelease: p.include_prerelease.unwrap_or(false),
        after: p.cursor.as_deref().map(decode_cursor).transpose()?,
        limit: page_limit(p.limit)?,
    };
    let snap = state.catalog.list(&req).await?;
    let next_cursor = if snap.value.more {
        snap.value.items.last().map(|c| encode_cursor(&c.spec.name))
    } else {
        None
    };
    Ok(Json(ComponentPage {
        items: snap.value.items,
        next_cursor,
        revision: snap.revision,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct LatestParams {
    /// Consider pre-releases.
    include_prerelease: Option<bool>,
}

/// The latest version of a component.
#[utoipa::path(get, path = "/api/v1/components/{name}", tag = "components",
    params(("name" = String, Path, description = "Component name"), LatestParams),
    responses(
        (status = 200, description = "Latest version", body = Component),
        (status = 404, description = "Unknown component, or no qualifying version", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn latest(
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
    Params(p): Params<LatestParams>,
) -> Result<Json<Component>, ApiError> {
    check_name(&name)?;
    Ok(Json(
        state
            .catalog
            .latest(&name, p.include_prerelease.unwrap_or(false))
            .await?,
    ))
}

/// Every version of a component, newest first.
#[utoipa::path(get, path = "/api/v1/components/{name}/versions", tag = "components",
    params(("name" = String, Path, description = "Component name")),
    responses(
        (status = 200, description = "Versions, newest first", body = VersionList),
        (status = 404, description = "Unknown component", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn versions(
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
    Params(_): Params<NoParams>,
) -> Result<Json<VersionList>, ApiError> {
    check_name(&name)?;
    Ok(Json(state.catalog.versions(&name).await?))
}

/// One exact version.
#[utoipa::path(get, path = "/api/v1/components/{name}/versions/{version}", tag = "components",
    params(("name" = String, Path, description = "Component name"), ("version" = String, Path, description = "Exact SemVer version")),
    responses(
        (status = 200, description = "The version", body = Component),
        (status = 400, description = "Malformed version", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown component or version", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn version(
    State(state): State<Arc<AppState>>,
    ApiPath((name, version)): ApiPath<(String, String)>,
    Params(_): Params<NoParams>,
) -> Result<Response, ApiError> {
    check_name(&name)?;
    let json = state.catalog.version_json(&name, &version).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResolveParams {
    /// Cargo-style requirement, e.g. `^1.2`.
    req: String,
}

/// The highest non-yanked version matching a requirement.
#[utoipa::path(get, path = "/api/v1/components/{name}/resolve", tag = "components",
    params(("name" = String, Path, description = "Component name"), ResolveParams),
    responses(
        (status = 200, description = "The highest matching version", body = Component),
        (status = 400, description = "Malformed requirement", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown component, or nothing matches", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn resolve(
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
    Params(p): Params<ResolveParams>,
) -> Result<Json<Component>, ApiError> {
    check_name(&name)?;
    Ok(Json(state.catalog.resolve(&name, &p.req).await?))
}

/// Direct dependencies of a version, each resolved.
#[utoipa::path(get, path = "/api/v1/components/{name}/versions/{version}/dependencies", tag = "components",
    params(("name" = String, Path, description = "Component name"), ("version" = String, Path, description = "Exact version")),
    responses(
        (status = 200, description = "Resolved direct dependencies", body = DependencyList),
        (status = 404, description = "Unknown component or version", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn dependencies(
    State(state): State<Arc<AppState>>,
    ApiPath((name, version)): ApiPath<(String, String)>,
    Params(_): Params<NoParams>,
) -> Result<Json<DependencyList>, ApiError> {
    check_name(&name)?;
    Ok(Json(state.catalog.dependencies(&name, &version).await?))
}

/// Components whose latest version depends on this one directly.
#[utoipa::path(get, path = "/api/v1/components/{name}/dependents", tag = "components",
    params(("name" = String, Path, description = "Component name")),
    responses(
        (status = 200, description = "Direct dependents", body = DependentList),
        (status = 404, description = "Unknown component", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn dependents(
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
    Params(_): Params<NoParams>,
) -> Result<Json<DependentList>, ApiError> {
    check_name(&name)?;
    Ok(Json(state.catalog.dependents(&name).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchParams {
    /// Words to look for in names, descriptions and labels (all must match).
    q: String,
    /// At most this many results, 1 to 500 (default 50).
    limit: Option<usize>,
}

/// Ranked text search over the latest versions.
#[utoipa::path(get, path = "/api/v1/search", tag = "components", params(SearchParams, FilterParams),
    responses(
        (status = 200, description = "Results, best first", body = SearchResults),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn search(
    State(state): State<Arc<AppState>>,
    Filtered(filter, p): Filtered<SearchParams>,
) -> Result<Json<SearchResults>, ApiError> {
    let limit = page_limit(p.limit)?;
    Ok(Json(state.catalog.search(&p.q, &filter, limit).await?))
}

/// The origin a dry-run validation that names no source is judged as: an API publish. Which
/// token may write an API-owned name is decided at publish (its owners), not by validation.
pub(crate) fn api_origin() -> Origin {
    Origin::Api {
        identity: "anonymous".into(),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiffParams {
    /// The older version.
    from: String,
    /// The newer version.
    to: String,
}

/// The classified difference between two published versions: every change with its rule and
/// required bump.
#[utoipa::path(get, path = "/api/v1/components/{name}/diff", tag = "components",
    params(("name" = String, Path, description = "Component name"), DiffParams),
    responses(
        (status = 200, description = "Classified changes", body = VersionDiff),
        (status = 400, description = "Malformed version", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown component or version", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn diff(
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
    Params(p): Params<DiffParams>,
) -> Result<Json<VersionDiff>, ApiError> {
    check_name(&name)?;
    Ok(Json(state.catalog.diff(&name, &p.from, &p.to).await?))
}

/// Reads the definition in a publish or validate body. `Err(Ok(problem))` is a request that is
/// not a readable document at all (400); `Err(Err(errors))` is a document that does not have the
/// shape of a definition (422, reported as findings).
pub(crate) async fn read_definition(
    body: DefinitionBody,
) -> Result<ComponentSpec, Result<ApiError, Vec<nestor_model::DefinitionError>>> {
    crate::blocking::cpu(move || parse_definition(body))
        .await
        .map_err(Ok)?
}

/// [`read_definition`]'s work, on a blocking thread.
fn parse_definition(
    body: DefinitionBody,
) -> Result<ComponentSpec, Result<ApiError, Vec<nestor_model::DefinitionError>>> {
    let (result, format) = match body {
        DefinitionBody::Json(bytes) => (parse_definition_json(&bytes), "JSON"),
        DefinitionBody::Yaml(text) => {
            let mut docs = parse_definitions(&text, SourceFormat::Yaml);
            if docs.len() != 1 {
                return Err(Ok(Problem::new(
                    ErrorCode::MalformedBody,
                    format!(
                        "send exactly one definition document; this body has {}",
                        docs.len()
                    ),
                )
                .into()));
            }
            (docs.remove(0).result, "YAML")
        }
    };
    result.map_err(|errors| {
        match errors
            .iter()
            .find(|e| e.kind == DefinitionErrorKind::Syntax)
        {
            Some(e) => Ok(Problem::new(
                ErrorCode::MalformedBody,
                format!("the body is not valid {format}: {e}"),
            )
            .with_details(serde_json::json!({ "line": e.line, "column": e.column }))
            .into()),
            None => Err(errors),
        }
    })
}

/// Publish a definition (JSON or YAML). Validated before anything is written.
#[utoipa::path(post, path = "/api/v1/components", tag = "components",
    request_body(content(
        (ComponentSpec = "application/json"),
        (String = "application/yaml"),
    ), description = "One component definition"),
    responses(
        (status = 201, description = "Published", body = PublishResponse),
        (status = 200, description = "Already published: identical (unchanged) or same interface with new descriptive fields (updated)", body = PublishResponse),
        (status = 400, description = "Not valid JSON/YAML", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The name was published through the API and the caller neither owns it nor has the admin scope (`details.owners` names its owners)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The version exists with a different interface (`version_conflict`), or the name belongs to another source (`name_conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Unsupported content type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid definition; details.findings lists every problem", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn publish(
    State(state): State<Arc<AppState>>,
    principal: Option<axum::Extension<crate::auth::Principal>>,
    body: DefinitionBody,
) -> Result<Response, ApiError> {
    let spec = match read_definition(body).await {
        Ok(spec) => spec,
        Err(Ok(problem)) => return Err(problem),
        Err(Err(errors)) => {
            let report = nestor_validation::report_for_unreadable(&errors, None, None);
            return Err(nestor_catalog::CatalogError::Invalid(Box::new(report)).into());
        }
    };
    let actor = crate::auth::Principal::acting(principal, &state.config.auth);
    let result = state
        .catalog
        .publish_as(spec, &actor.name, actor.admin)
        .await?;
    let location = format!(
        "/api/v1/components/{}/versions/{}",
        result.component.spec.name, result.component.spec.version
    );
    let status = if result.outcome == PublishOutcome::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = PublishResponse {
        outcome: result.outcome,
        component: result.component,
        warnings: result.warnings,
    };
    Ok((status, [(header::LOCATION, location)], Json(body)).into_response())
}

/// Change descriptive fields, deprecate or yank a version.
#[utoipa::path(patch, path = "/api/v1/components/{name}/versions/{version}", tag = "components",
    params(("name" = String, Path, description = "Component name"), ("version" = String, Path, description = "Exact version")),
    request_body(content = PatchRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The version after the change", body = Component),
        (status = 400, description = "Malformed or empty patch", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The name is owned by a source: its descriptive fields change there, and deprecating or yanking it needs the admin scope; or it was published through the API and the caller neither owns it nor has the admin scope (`details.owners` names its owners)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field the patch sets is beyond the limits of a publish", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown component or version", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn patch(
    State(state): State<Arc<AppState>>,
    principal: Option<axum::Extension<crate::auth::Principal>>,
    ApiPath((name, version)): ApiPath<(String, String)>,
    JsonBody(patch): JsonBody<PatchRequest>,
) -> Result<Json<Component>, ApiError> {
    check_name(&name)?;
    let actor = crate::auth::Principal::acting(principal, &state.config.auth);
    let (component, _) = state
        .catalog
        .patch_as(&name, &version, patch, &actor.name, actor.admin)
        .await?;
    Ok(Json(component))
}
