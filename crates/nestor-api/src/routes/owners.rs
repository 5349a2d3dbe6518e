//! `/api/v1/components/{name}/owners`: who may publish and change a name's versions through
//! the API (crates.io's owner model): the first publisher's token, then whoever its owners add.
//! Owners and administrators change the list; everyone may read it.

use std::sync::Arc;

use axum::{Json, extract::State};
use nestor_catalog::CatalogError;
use nestor_model::{OwnerList, OwnersRequest, Problem};

use crate::{
    app::AppState,
    auth::Principal,
    error::ApiError,
    extract::{ApiPath, JsonBody, Params},
    routes::components::{NoParams, check_name},
};

/// With access control on, the tokens named must be configured ones: an owner nobody can act
/// as is a typo, not a grant. With it off, everybody acts as `anonymous`, and any name goes.
/// Checked once the name is known to exist and the caller may change its owners.
fn check_configured(state: &AppState, names: &[String]) -> Result<(), CatalogError> {
    let tokens = &state.config.auth.tokens;
    if tokens.is_empty() {
        return Ok(());
    }
    let unknown: Vec<&str> = names
        .iter()
        .filter(|n| !tokens.iter().any(|t| &t.name == *n))
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(CatalogError::InvalidParameter {
        parameter: "owners",
        message: format!(
            "no token is configured with the name {}",
            unknown.join(", ")
        ),
    })
}

/// Who owns a component name.
#[utoipa::path(get, path = "/api/v1/components/{name}/owners", tag = "components",
    params(("name" = String, Path, description = "Component name")),
    responses(
        (status = 200, description = "The owners: token names, or the source that owns the name", body = OwnerList),
        (status = 404, description = "Unknown component", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn owners(
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
    Params(_): Params<NoParams>,
) -> Result<Json<OwnerList>, ApiError> {
    check_name(&name)?;
    Ok(Json(state.catalog.owners(&name).await?))
}

/// Add owners to a name published through the API (by an owner, or the admin scope).
#[utoipa::path(put, path = "/api/v1/components/{name}/owners", tag = "components",
    params(("name" = String, Path, description = "Component name")),
    request_body(content = OwnersRequest, content_type = "application/json", description = "Token names to add"),
    responses(
        (status = 200, description = "The owners after the change (adding an owner already there changes nothing)", body = OwnerList),
        (status = 400, description = "No token named, or one that is not configured", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller neither owns the name nor has the admin scope (`details.owners` names the owners), or a source owns the name", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown component", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn add(
    State(state): State<Arc<AppState>>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(name): ApiPath<String>,
    JsonBody(body): JsonBody<OwnersRequest>,
) -> Result<Json<OwnerList>, ApiError> {
    check_name(&name)?;
    let actor = Principal::acting(principal, &state.config.auth);
    Ok(Json(
        state
            .catalog
            .add_owners_checked(&name, &body.owners, &actor.name, actor.admin, |names| {
                check_configured(&state, names)
            })
            .await?,
    ))
}

/// Remove owners from a name published through the API (by an owner, or the admin scope). A
/// name keeps at least one owner.
#[utoipa::path(delete, path = "/api/v1/components/{name}/owners", tag = "components",
    params(("name" = String, Path, description = "Component name")),
    request_body(content = OwnersRequest, content_type = "application/json", description = "Token names to remove"),
    responses(
        (status = 200, description = "The owners after the change (removing a token that is not an owner changes nothing)", body = OwnerList),
        (status = 400, description = "No token named, or the change would leave no owner", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller neither owns the name nor has the admin scope (`details.owners` names the owners), or a source owns the name", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown component", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn remove(
    State(state): State<Arc<AppState>>,
    principal: Option<axum::Extension<Principal>>,
    ApiPath(name): ApiPath<String>,
    JsonBody(body): JsonBody<OwnersRequest>,
) -> Result<Json<OwnerList>, ApiError> {
    check_name(&name)?;
    let actor = Principal::acting(principal, &state.config.auth);
    Ok(Json(
        state
            .catalog
            .remove_owners(&name, &body.owners, &actor.name, actor.admin)
            .await?,
    ))
}
