//! `/api/v1/components…` and `/api/v1/search`: query, publish and patch component versions.

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use std::time::Duration;

use nestor_catalog::{FacetKey, IndexQuery, Origin, Sort, TextQuery};
use nestor_model::{
    BlastRadius, Component, ComponentFilter, ComponentName, ComponentPage, ComponentSpec,
    DefinitionErrorKind, DependencyList, DependentList, ErrorCode, FacetCounts, FacetValue,
    PatchRequest, Problem, PublishOutcome, PublishResponse, Revision, SearchResults, SourceFormat,
    ValidationReport, VersionDiff, VersionList, parse_definition_json_document, parse_definitions,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    app::AppState,
    error::ApiError,
    extract::{ApiPath, DefinitionBody, FilterParams, Filtered, JsonBody, Params},
};

const DEFAULT_LIMIT: usize = 50;
pub(crate) const MAX_LIMIT: usize = 500;

/// The parameters of lists and searches beside the filter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueryParams {
    /// Words to look for (required on `/api/v1/search`): words, `"phrases"`, `field:word`
    /// (name, description, labels, provider, category, resource_type); the last word also
    /// matches as a prefix, words of 5+ letters with one typo. At most 16 words or phrases and
    /// 1024 characters; a syntax error is a 400 with its `details.position`.
    #[param(schema_with = query_text)]
    q: Option<String>,
    /// Consider pre-releases when picking each component's latest version.
    include_prerelease: Option<bool>,
    /// Every version, not only each component's latest.
    all_versions: Option<bool>,
    /// The order: `relevance` (the default with `q`), `name` (the default without; then
    /// version, newest first), `published_at` or `-published_at` (newest first).
    #[param(value_type = Option<SortKey>, inline)]
    sort: Option<String>,
    /// Facets to count over the whole result, comma-separated: `provider`, `category`,
    /// `resource_type`, `engine`, `maturity`, `support_level`, `label:<key>`.
    #[param(schema_with = facet_list)]
    facets: Option<String>,
    /// Only these fields of each item, comma-separated (`name` and `version` are always
    /// included), e.g. `description,labels` for a light list page.
    #[param(schema_with = field_list)]
    fields: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// Opaque cursor from a previous page's `next_cursor` (same query).
    #[param(schema_with = cursor_schema)]
    cursor: Option<String>,
    /// Wait (up to 5 s) until the catalog index has applied this revision — e.g. the revision
    /// of a publish made through another replica; 503 `index_unavailable` if it does not.
    min_revision: Option<u64>,
}

/// The orders of a list or search.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // Documents the values of `sort` in OpenAPI; parsed by `Sort::parse`.
pub(crate) enum SortKey {
    /// By name, then version newest first.
    #[serde(rename = "name")]
    Name,
    /// Oldest publish first.
    #[serde(rename = "published_at")]
    PublishedAt,
    /// Newest publish first.
    #[serde(rename = "-published_at")]
    PublishedAtDesc,
    /// Best match first (with `q` only).
    #[serde(rename = "relevance")]
    Relevance,
}

fn query_text() -> utoipa::openapi::Schema {
    utoipa::openapi::Schema::Object(
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(nestor_catalog::MAX_QUERY_CHARS))
            .build(),
    )
}

/// A comma-separated list of `one` (repeats allowed).
fn comma_list_schema(one: &str) -> utoipa::openapi::Schema {
    utoipa::openapi::Schema::Object(
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .pattern(Some(format!("^{one}(,{one})*$")))
            .build(),
    )
}

fn facet_list() -> utoipa::openapi::Schema {
    comma_list_schema(&format!("({}|label:[^,]+)", FacetKey::FIELDS.join("|")))
}

fn field_list() -> utoipa::openapi::Schema {
    let fields: Vec<&str> = ComponentSpec::FIELDS
        .iter()
        .chain(&Component::SERVER_FIELDS)
        .copied()
        .collect();
    comma_list_schema(&format!("({})", fields.join("|")))
}

/// A cursor is base64url (its content only the server can judge).
pub(crate) fn cursor_schema() -> utoipa::openapi::Schema {
    utoipa::openapi::Schema::Object(
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .pattern(Some("^[A-Za-z0-9_-]+$"))
            .build(),
    )
}

/// How long `min_revision` may wait.
const MIN_REVISION_WAIT: Duration = Duration::from_secs(5);

/// A page size: absent is the default, else 1 to [`MAX_LIMIT`].
pub(crate) fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::invalid_parameter(
            "limit",
            format!("{n}: {}", nestor_model::limits::between(1, MAX_LIMIT)),
        )),
    }
}

fn comma_list(value: &Option<String>) -> Vec<&str> {
    value
        .as_deref()
        .map(|v| v.split(',').collect())
        .unwrap_or_default()
}

/// Checks `fields=`: known names; `name` and `version` are always in.
fn projection(fields: &Option<String>) -> Result<Option<Vec<String>>, ApiError> {
    if fields.is_none() {
        return Ok(None);
    }
    let mut out = vec!["name".to_owned(), "version".to_owned()];
    for f in comma_list(fields) {
        if !Component::is_field(f) {
            return Err(ApiError::invalid_parameter(
                "fields",
                format!(
                    "{f:?} is not a component field; use any of {}",
                    ComponentSpec::FIELDS
                        .iter()
                        .chain(&Component::SERVER_FIELDS)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if !out.iter().any(|have| have == f) {
            out.push(f.to_owned());
        }
    }
    Ok(Some(out))
}

/// The index query of a list or search request.
fn index_query(
    filter: ComponentFilter,
    p: &QueryParams,
    text_required: bool,
) -> Result<IndexQuery, ApiError> {
    let text = match p.q.as_deref() {
        Some(q) => Some(TextQuery::parse(q).map_err(|e| {
            ApiError::from(
                Problem::new(ErrorCode::InvalidParameter, format!("invalid q: {e}"))
                    .with_details(serde_json::json!({ "parameter": "q", "position": e.position })),
            )
        })?),
        None if text_required => {
            return Err(ApiError::invalid_parameter(
                "q",
                "is required: give the words to search for",
            ));
        }
        None => None,
    };
    let mut facets = Vec::new();
    for f in comma_list(&p.facets) {
        let key = FacetKey::parse(f).ok_or_else(|| {
            ApiError::invalid_parameter(
                "facets",
                format!(
                    "{f:?} is not a facet; use any of {}, label:<key>",
                    FacetKey::FIELDS.join(", ")
                ),
            )
        })?;
        if !facets.contains(&key) {
            facets.push(key);
        }
    }
    Ok(IndexQuery {
        text,
        filter,
        include_prerelease: p.include_prerelease.unwrap_or(false),
        all_versions: p.all_versions.unwrap_or(false),
        sort: p
            .sort
            .as_deref()
            .map(|s| {
                Sort::parse(s).ok_or_else(|| {
                    ApiError::invalid_parameter(
                        "sort",
                        format!(
                            "{s:?} is not an order; use one of {}",
                            Sort::KEYS.join(", ")
                        ),
                    )
                })
            })
            .transpose()?,
        facets,
        cursor: p.cursor.clone(),
        limit: page_limit(p.limit)?,
    })
}

fn facet_counts(facets: Vec<nestor_catalog::Facet>) -> Vec<FacetCounts> {
    facets
        .into_iter()
        .map(|f| FacetCounts {
            key: f.key,
            values: f
                .values
                .into_iter()
                .map(|(value, count)| FacetValue { value, count })
                .collect(),
            more: f.more,
        })
        .collect()
}

/// A component as JSON: only `fields` of it, when given.
fn project(c: &Component, fields: Option<&[String]>) -> Result<serde_json::Value, ApiError> {
    let value = serde_json::to_value(c).map_err(|e| {
        ApiError::from(Problem::new(
            ErrorCode::Internal,
            format!("cannot encode {}: {e}", c.spec.id()),
        ))
    })?;
    Ok(match (fields, value) {
        (Some(fields), serde_json::Value::Object(mut map)) => {
            map.retain(|k, _| fields.iter().any(|f| f == k));
            serde_json::Value::Object(map)
        }
        (_, value) => value,
    })
}

/// One item of a page as it is written: the component itself, or only some of its fields.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Item<'a> {
    Whole(&'a Component),
    Projected(serde_json::Value),
}

/// One search hit as it is written.
#[derive(serde::Serialize)]
struct HitBody<'a> {
    score: f64,
    matched: &'a [&'static str],
    component: Item<'a>,
}

/// A list or search page as it is written (the shapes of [`ComponentPage`] and
/// [`SearchResults`], borrowing the index's components instead of copying them).
#[derive(serde::Serialize)]
struct PageBody<'a, T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<&'a str>,
    items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<&'a str>,
    total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    facets: Vec<FacetCounts>,
    revision: Revision,
}

fn item<'a>(c: &'a Component, fields: Option<&[String]>) -> Result<Item<'a>, ApiError> {
    Ok(match fields {
        None => Item::Whole(c),
        Some(_) => Item::Projected(project(c, fields)?),
    })
}

/// The body of a list (`query: None`) or search page.
fn page_body(
    page: nestor_catalog::IndexPage,
    query: Option<&str>,
    fields: Option<&[String]>,
) -> Result<Response, ApiError> {
    fn write<T: serde::Serialize>(
        page: &nestor_catalog::IndexPage,
        query: Option<&str>,
        items: Vec<T>,
    ) -> Result<Response, ApiError> {
        json_response(
            &PageBody {
                query,
                items,
                next_cursor: page.next_cursor.as_deref(),
                total: page.total,
                facets: facet_counts(page.facets.clone()),
                revision: page.revision,
            },
            "the page",
        )
    }
    let hits = page.hits.iter();
    match query {
        Some(_) => {
            let items = hits
                .map(|h| {
                    Ok(HitBody {
                        score: h.score.unwrap_or_default(),
                        matched: &h.matched,
                        component: item(&h.component, fields)?,
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            write(&page, query, items)
        }
        None => {
            let items = hits
                .map(|h| item(&h.component, fields))
                .collect::<Result<Vec<_>, ApiError>>()?;
            write(&page, query, items)
        }
    }
}

/// `body` as a JSON answer (`what` names it if it cannot be encoded).
fn json_response<T: serde::Serialize>(body: &T, what: &str) -> Result<Response, ApiError> {
    let json = serde_json::to_vec(body).map_err(|e| {
        ApiError::from(Problem::new(
            ErrorCode::Internal,
            format!("cannot encode {what}: {e}"),
        ))
    })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// List the latest version of each component (or every version): filtered, sorted, with
/// totals and facets, narrowed by `q` if given (the search endpoint ranks by relevance).
#[utoipa::path(get, path = "/api/v1/components", tag = "components", params(FilterParams, QueryParams),
    responses(
        (status = 200, description = "A page of components", body = ComponentPage),
        (status = 400, description = "Bad parameter, query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The catalog index is being built, or did not reach `min_revision` in time (retriable; see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Filtered(filter, p): Filtered<QueryParams>,
) -> Result<Response, ApiError> {
    let fields = projection(&p.fields)?;
    let mut query = index_query(filter, &p, false)?;
    if query.text.is_some() && query.sort.is_none() {
        query.sort = Some(Sort::Name);
    }
    let page = state
        .catalog
        .query(&query, p.min_revision.map(Revision), MIN_REVISION_WAIT)
        .await?;
    page_body(page, None, fields.as_deref())
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct DependentsParams {
    /// A proposed version: splits the direct dependents into those whose requirement already
    /// admits it and those that would have to change (the blast radius of publishing it).
    #[param(schema_with = nestor_model::limits::version_schema)]
    version: Option<String>,
    /// Also the dependents of dependents, breadth first (each component once, at its smallest
    /// depth; at most depth 32 and 10,000 components).
    transitive: Option<bool>,
    /// Consider pre-releases when picking each dependent's latest version.
    include_prerelease: Option<bool>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// Opaque cursor from a previous page's `next_cursor` (same query).
    #[param(schema_with = cursor_schema)]
    cursor: Option<String>,
    /// Wait (up to 5 s) until the catalog index has applied this revision.
    min_revision: Option<u64>,
}

/// The components that depend on this one: each one's latest version and its requirement;
/// with `version`, the blast radius of publishing it; with `transitive`, the whole reverse
/// dependency graph.
#[utoipa::path(get, path = "/api/v1/components/{name}/dependents", tag = "components",
    params(("name" = String, Path, description = "Component name"), DependentsParams),
    responses(
        (status = 200, description = "Dependents, by depth then name", body = DependentList),
        (status = 400, description = "Bad parameter or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown component", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The catalog index is being built, or did not reach `min_revision` in time (retriable)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn dependents(
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
    Params(p): Params<DependentsParams>,
) -> Result<Response, ApiError> {
    check_name(&name)?;
    let page = state
        .catalog
        .dependents(
            &name,
            &nestor_catalog::DependentsQuery {
                version: p.version.clone(),
                transitive: p.transitive.unwrap_or(false),
                include_prerelease: p.include_prerelease.unwrap_or(false),
                cursor: p.cursor.clone(),
                limit: page_limit(p.limit)?,
            },
            p.min_revision.map(Revision),
            MIN_REVISION_WAIT,
        )
        .await?;
    // The shape of `DependentList`, borrowing the index's components.
    #[derive(serde::Serialize)]
    struct DependentBody<'a> {
        component: &'a Component,
        version_req: &'a str,
        depth: u32,
        on: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        admits: Option<bool>,
    }
    #[derive(serde::Serialize)]
    struct Body<'a> {
        name: &'a str,
        items: Vec<DependentBody<'a>>,
        total: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        blast_radius: Option<BlastRadius>,
        truncated: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        next_cursor: Option<&'a str>,
        revision: Revision,
    }
    let body = Body {
        name: &name,
        items: page
            .items
            .iter()
            .map(|d| DependentBody {
                component: &d.component,
                version_req: &d.version_req,
                depth: d.depth,
                on: &d.on,
                admits: d.admits,
            })
            .collect(),
        total: page.total,
        version: p.version.as_deref(),
        blast_radius: page.blast_radius.map(|(admits, must_change)| BlastRadius {
            admits,
            must_change,
        }),
        truncated: page.truncated,
        next_cursor: page.next_cursor.as_deref(),
        revision: page.revision,
    };
    json_response(&body, "the dependents")
}

/// Ranked text search over the latest versions (every version with `all_versions=true`):
/// BM25 with field boosts (name ≫ labels, resource type, provider, category ≫ description),
/// prefixes, one typo, phrases; combinable with every filter, sort and facet of the list.
#[utoipa::path(get, path = "/api/v1/search", tag = "components", params(QueryParams, FilterParams),
    responses(
        (status = 200, description = "Results, best first", body = SearchResults),
        (status = 400, description = "Bad parameter, query or cursor; a query error gives its `position`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The catalog index is being built, or did not reach `min_revision` in time (retriable)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn search(
    State(state): State<Arc<AppState>>,
    Filtered(filter, p): Filtered<QueryParams>,
) -> Result<Response, ApiError> {
    let fields = projection(&p.fields)?;
    let query = index_query(filter, &p, true)?;
    let page = state
        .catalog
        .query(&query, p.min_revision.map(Revision), MIN_REVISION_WAIT)
        .await?;
    let text = query.text.as_ref().map(|t| t.as_str()).unwrap_or_default();
    page_body(page, Some(text), fields.as_deref())
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

/// A body that is a document but not a valid definition: its parse errors and, when unknown
/// fields are its only problem, the definition read without them (to run the rules on, so that
/// every finding is reported at once).
pub(crate) struct Unreadable {
    /// Parse errors (syntax, shape, unknown fields).
    pub(crate) errors: Vec<nestor_model::DefinitionError>,
    /// See [`nestor_model::DefinitionDocument::without_unknown_fields`].
    pub(crate) without_unknown_fields: Option<Box<ComponentSpec>>,
}

/// Reads the definition in a publish or validate body. `Err(Ok(problem))` is a request that is
/// not a readable document at all (400); `Err(Err(unreadable))` is a document that does not
/// have the shape of a definition (422, reported as findings).
pub(crate) async fn read_definition(
    body: DefinitionBody,
) -> Result<ComponentSpec, Result<ApiError, Unreadable>> {
    crate::blocking::cpu(move || parse_definition(body))
        .await
        .map_err(Ok)?
}

/// [`read_definition`]'s work, on a blocking thread.
fn parse_definition(body: DefinitionBody) -> Result<ComponentSpec, Result<ApiError, Unreadable>> {
    let (doc, format) = match body {
        DefinitionBody::Json(bytes) => (parse_definition_json_document(&bytes), "JSON"),
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
            (docs.remove(0), "YAML")
        }
    };
    doc.result.map_err(|errors| {
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
            None => Err(Unreadable {
                errors,
                without_unknown_fields: doc.without_unknown_fields.map(Box::new),
            }),
        }
    })
}

/// The verdict on a body that is not a valid definition: its parse errors, and — when unknown
/// fields are its only problem — every finding of the catalog's rules on the rest of it.
pub(crate) async fn unreadable_report(
    state: &AppState,
    unreadable: Unreadable,
    origin: &Origin,
) -> Result<ValidationReport, ApiError> {
    Ok(match unreadable.without_unknown_fields {
        Some(spec) => nestor_validation::report_with_unknown_fields(
            &unreadable.errors,
            state
                .catalog
                .validate(&spec, Some(origin), None, None)
                .await?,
            None,
            None,
        ),
        None => nestor_validation::report_for_unreadable(&unreadable.errors, None, None),
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
        Err(Err(unreadable)) => {
            let report = unreadable_report(&state, unreadable, &api_origin()).await?;
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
