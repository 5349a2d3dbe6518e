//! The Terraform/OpenTofu module registry protocol (v1), docs/terraform.md: service discovery,
//! the versions of a module, and where to download one (the exact git commit and directory it
//! was synced from).
//!
//! A module address `<host>/<namespace>/<name>/<provider>` is a component: `name` is the
//! component's name, `provider` its `provider` field, and `namespace` the one configured for
//! the source that published it (`terraform.namespace`, or the source's own
//! `terraform_namespace`). Only versions that name a Terraform engine and came from a git
//! source are modules; yanked ones are left out of the list.

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use nestor_model::{Actor, Component, ComponentName, ErrorCode, Problem};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::{
    app::{AppState, TerraformConfig},
    error::ApiError,
    extract::{ApiPath, Params},
    routes::components::NoParams,
};

/// Where the module registry lives, for Terraform's service discovery.
pub(crate) const MODULES_PATH: &str = "/v1/modules/";

/// Terraform's service discovery document.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Discovery {
    /// The base path of the module registry protocol.
    #[serde(rename = "modules.v1")]
    #[schema(example = "/v1/modules/")]
    modules_v1: &'static str,
}

/// The versions of one module (the registry protocol's shape).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModuleVersions {
    /// One entry: the module asked for.
    modules: Vec<ModuleEntry>,
}

/// A module and its available versions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModuleEntry {
    /// The module's address without the host: `<namespace>/<name>/<provider>`.
    #[schema(example = "platform/aws-vpc/aws")]
    source: String,
    /// The versions Terraform may choose from, newest first: not yanked.
    versions: Vec<ModuleVersion>,
}

/// One available version.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModuleVersion {
    /// SemVer version.
    #[schema(example = "2.1.0")]
    version: String,
}

/// Service discovery: tells Terraform and OpenTofu where the module registry is.
#[utoipa::path(get, path = "/.well-known/terraform.json", tag = "terraform",
    responses(
        (status = 200, description = "The registry's services", body = Discovery),
        (status = 404, description = "The module registry is turned off (`terraform.enabled: false`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn discovery(
    State(state): State<Arc<AppState>>,
    Params(_): Params<NoParams>,
) -> Result<Json<Discovery>, ApiError> {
    registry(&state)?;
    Ok(Json(Discovery {
        modules_v1: MODULES_PATH,
    }))
}

/// The available versions of a module, newest first (yanked versions are left out).
#[utoipa::path(get, path = "/v1/modules/{namespace}/{name}/{provider}/versions", tag = "terraform",
    params(
        ("namespace" = String, Path, description = "The namespace of the source that published the component"),
        ("name" = String, Path, description = "Component name"),
        ("provider" = String, Path, description = "The component's `provider`"),
    ),
    responses(
        (status = 200, description = "The module's versions", body = ModuleVersions),
        (status = 404, description = "No such module, with the reason", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn versions(
    State(state): State<Arc<AppState>>,
    ApiPath((namespace, name, provider)): ApiPath<(String, String, String)>,
    Params(_): Params<NoParams>,
) -> Result<Json<ModuleVersions>, ApiError> {
    let config = registry(&state)?;
    let address = Address {
        namespace: &namespace,
        name: &name,
        provider: &provider,
    };
    let all = address.versions(&state).await?;
    let mut versions = Vec::new();
    let mut refusal = None;
    for c in &all {
        match address.serves(config, c) {
            Ok(()) if c.yanked => {
                refusal.get_or_insert_with(|| format!("every version of {name} is yanked"));
            }
            Ok(()) => versions.push(ModuleVersion {
                version: c.spec.version.clone(),
            }),
            Err(reason) => {
                refusal.get_or_insert(reason);
            }
        }
    }
    if versions.is_empty() {
        return Err(
            address.not_found(refusal.unwrap_or_else(|| format!("no component named {name}")))
        );
    }
    Ok(Json(ModuleVersions {
        modules: vec![ModuleEntry {
            source: address.to_string(),
            versions,
        }],
    }))
}

/// Where to download a version: 204 with `X-Terraform-Get` naming the git repository, the
/// module's directory and the exact commit it was synced from.
#[utoipa::path(get, path = "/v1/modules/{namespace}/{name}/{provider}/{version}/download", tag = "terraform",
    params(
        ("namespace" = String, Path, description = "The namespace of the source that published the component"),
        ("name" = String, Path, description = "Component name"),
        ("provider" = String, Path, description = "The component's `provider`"),
        ("version" = String, Path, description = "Exact SemVer version"),
    ),
    responses(
        (status = 204, description = "Download from the location in `X-Terraform-Get`",
            headers(("X-Terraform-Get" = String, description = "`git::<repository>//<directory>?ref=<commit>`"))),
        (status = 400, description = "Malformed version", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such module or version, with the reason", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn download(
    State(state): State<Arc<AppState>>,
    ApiPath((namespace, name, provider, version)): ApiPath<(String, String, String, String)>,
    Params(_): Params<NoParams>,
) -> Result<Response, ApiError> {
    let config = registry(&state)?;
    let address = Address {
        namespace: &namespace,
        name: &name,
        provider: &provider,
    };
    let parsed = semver::Version::parse(&version).map_err(|e| {
        ApiError::from(
            Problem::new(
                ErrorCode::InvalidParameter,
                format!("version {version:?} is not a SemVer version: {e}"),
            )
            .with_details(json!({"parameter": "version"})),
        )
    })?;
    let all = address.versions(&state).await?;
    let Some(component) = all.iter().find(|c| c.semver().is_ok_and(|v| v == parsed)) else {
        return Err(address.not_found(format!("{name} has no version {version}")));
    };
    address
        .serves(config, component)
        .map_err(|reason| address.not_found(reason))?;
    let location = download_location(component).ok_or_else(|| {
        address.not_found(format!(
            "{name} {version} has no git provenance to download"
        ))
    })?;
    let value = HeaderValue::from_str(&location).map_err(|_| {
        ApiError::from(Problem::new(
            ErrorCode::Internal,
            format!("the download location of {name} {version} is not a valid header value"),
        ))
    })?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert("x-terraform-get", value);
    Ok(response)
}

/// The registry's settings, or 404 when it is turned off.
fn registry(state: &AppState) -> Result<&TerraformConfig, ApiError> {
    match &state.config.terraform {
        Some(config) => Ok(config),
        None => Err(Problem::new(
            ErrorCode::NotFound,
            "the Terraform module registry is turned off on this server (terraform.enabled)",
        )
        .into()),
    }
}

/// A module address, `<namespace>/<name>/<provider>`.
struct Address<'a> {
    namespace: &'a str,
    name: &'a str,
    provider: &'a str,
}

impl std::fmt::Display for Address<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.name, self.provider)
    }
}

impl Address<'_> {
    fn not_found(&self, reason: String) -> ApiError {
        Problem::new(ErrorCode::NotFound, format!("no module {self}: {reason}"))
            .with_details(json!({"module": self.to_string(), "reason": reason}))
            .into()
    }

    /// Every version of the component, newest first; 404 for a name no component has.
    async fn versions(&self, state: &AppState) -> Result<Vec<Component>, ApiError> {
        if ComponentName::parse(self.name).is_err() {
            return Err(self.not_found(format!(
                "{:?} is not a component name (lowercase letters, digits and dashes)",
                self.name
            )));
        }
        match state.catalog.versions(self.name).await {
            Ok(list) => Ok(list.items),
            Err(nestor_catalog::CatalogError::ComponentNotFound { .. }) => {
                Err(self.not_found(format!("no component named {}", self.name)))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether `c` is this module's version (yanked or not); otherwise why not.
    fn serves(&self, config: &TerraformConfig, c: &Component) -> Result<(), String> {
        let name = self.name;
        let engines = &c.spec.deployment_engines;
        if !engines.iter().any(|e| config.engines.contains(e)) {
            return Err(format!(
                "{name} {} is not a Terraform module: its deployment_engines ({}) name none of {}",
                c.spec.version,
                engines.join(", "),
                config.engines.join(", ")
            ));
        }
        if c.spec.git_repository.is_none() || c.spec.git_commit.is_none() {
            return Err(format!(
                "{name} {} was not synced from a git source, so there is no module code to download",
                c.spec.version
            ));
        }
        if c.spec.provider != self.provider {
            return Err(format!(
                "{name} is for provider {:?}: its address is {}/{name}/{}",
                c.spec.provider,
                config.namespace_of(c),
                c.spec.provider
            ));
        }
        let namespace = config.namespace_of(c);
        if namespace != self.namespace {
            return Err(format!(
                "{name} is in namespace {namespace:?}: its address is {namespace}/{name}/{}",
                c.spec.provider
            ));
        }
        Ok(())
    }
}

impl TerraformConfig {
    /// The namespace of the source that published `c`.
    pub(crate) fn namespace_of(&self, c: &Component) -> &str {
        match &c.published_by {
            Some(Actor::Sync { source, .. }) => self
                .source_namespaces
                .get(source)
                .map_or(self.namespace.as_str(), String::as_str),
            _ => &self.namespace,
        }
    }
}

/// `git::<repository>//<directory>?ref=<commit>` for a version synced from git: the module is
/// its `module_path`, or else the directory of its definition file, at the commit synced.
pub(crate) fn download_location(c: &Component) -> Option<String> {
    let repository = c.spec.git_repository.as_deref()?;
    let commit = c.spec.git_commit.as_deref()?;
    let dir = c.spec.module_dir()?;
    let url = getter_url(repository);
    Some(if dir.is_empty() {
        format!("git::{url}?ref={commit}")
    } else {
        format!("git::{url}//{dir}?ref={commit}")
    })
}

/// A repository URL as Terraform's go-getter takes it after `git::`: a local path becomes a
/// `file://` URL and scp-like `user@host:path` an `ssh://` URL; others are kept.
fn getter_url(repository: &str) -> String {
    if repository.starts_with('/') {
        return format!("file://{repository}");
    }
    if !repository.contains("://")
        && let Some((host, path)) = repository.split_once(':')
        && !host.contains('/')
    {
        return format!("ssh://{host}/{}", path.trim_start_matches('/'));
    }
    repository.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_urls_become_go_getter_urls() {
        assert_eq!(
            getter_url("https://github.com/acme/modules.git"),
            "https://github.com/acme/modules.git"
        );
        assert_eq!(getter_url("/srv/git/modules"), "file:///srv/git/modules");
        assert_eq!(
            getter_url("git@github.com:acme/modules.git"),
            "ssh://git@github.com/acme/modules.git"
        );
        assert_eq!(
            getter_url("ssh://git@example.com:2222/acme/modules.git"),
            "ssh://git@example.com:2222/acme/modules.git"
        );
        assert_eq!(getter_url("file:///tmp/repo"), "file:///tmp/repo");
    }
}
