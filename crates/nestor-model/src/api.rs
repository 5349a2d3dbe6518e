//! Request and response bodies of the REST API, shared by the server and `nestor-client`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::{Component, Deprecation, Maturity, ResourceLimits, Revision, SupportLevel};

/// A page of components.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ComponentPage {
    /// The components of this page: each one's latest version (every version with
    /// `all_versions=true`), in the order asked for (name by default). With `fields=`, each
    /// item has only the fields asked for, and `name` and `version`.
    #[schema(schema_with = component_items)]
    pub items: Vec<Component>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// How many items the whole query has, over every page.
    #[serde(default)]
    pub total: u64,
    /// The facets asked for (`facets=`), counted over the whole query.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facets: Vec<FacetCounts>,
    /// Catalog revision of the snapshot this page was read from: watch from here.
    #[schema(value_type = u64)]
    pub revision: Revision,
}

/// The counts of one facet over a query's results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FacetCounts {
    /// The facet as asked for: `provider`, `category`, `resource_type`, `engine`, `maturity`,
    /// `support_level` or `label:<key>`.
    #[schema(example = "provider")]
    pub key: String,
    /// Each value with its count, the most frequent first (at most 100).
    pub values: Vec<FacetValue>,
    /// Whether more values exist than are listed.
    #[serde(default)]
    pub more: bool,
}

/// One value of a facet and how many results have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FacetValue {
    /// The value.
    pub value: String,
    /// How many results have it.
    pub count: u64,
}

/// Every version of one component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VersionList {
    /// Component name.
    pub name: String,
    /// Versions, newest first (semver order).
    pub items: Vec<Component>,
    /// Catalog revision of the snapshot.
    #[schema(value_type = u64)]
    pub revision: Revision,
}

/// A direct dependency resolved to the highest matching version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResolvedDependency {
    /// Component depended on.
    pub name: String,
    /// The requirement as written.
    pub version_req: String,
    /// The highest non-yanked, non-pre-release version matching the requirement (pre-releases
    /// only when the requirement names one); absent when none matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<Component>,
}

/// The direct dependencies of one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DependencyList {
    /// Component name.
    pub name: String,
    /// Component version.
    pub version: String,
    /// Its dependencies.
    pub items: Vec<ResolvedDependency>,
    /// Catalog revision of the snapshot.
    #[schema(value_type = u64)]
    pub revision: Revision,
}

/// One component that depends on another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Dependent {
    /// The dependent's latest version.
    pub component: Component,
    /// Its requirement on `on`, as written.
    pub version_req: String,
    /// 1: depends on the queried component directly; 2: on a direct dependent; …
    pub depth: u32,
    /// The component it depends on (the queried one at depth 1).
    pub on: String,
    /// With `version=`: whether the requirement already admits that version (direct
    /// dependents only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admits: Option<bool>,
}

/// How many direct dependents a proposed version would affect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlastRadius {
    /// Direct dependents whose requirement already admits the version.
    pub admits: u64,
    /// Direct dependents whose requirement would have to change to use it.
    pub must_change: u64,
}

/// The components that depend on a component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DependentList {
    /// The component depended on.
    pub name: String,
    /// The dependents of this page, by depth, then name.
    pub items: Vec<Dependent>,
    /// How many dependents there are, over every page.
    #[serde(default)]
    pub total: u64,
    /// The proposed version (`version=`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// With `version=`: the direct dependents it would and would not satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blast_radius: Option<BlastRadius>,
    /// The transitive walk stopped at its bounds (depth 32, 10,000 components).
    #[serde(default)]
    pub truncated: bool,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Catalog revision of the snapshot.
    #[schema(value_type = u64)]
    pub revision: Revision,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    /// Relevance (BM25); higher is better. Comparable within one query only.
    pub score: f64,
    /// The fields the query matched in: `name`, `labels`, `resource_type`, `provider`,
    /// `category`, `description`.
    #[serde(default)]
    pub matched: Vec<String>,
    /// The matching version (each component's latest unless `all_versions=true`). With
    /// `fields=`, only the fields asked for, and `name` and `version`.
    #[schema(schema_with = component_or_fields)]
    pub component: Component,
}

/// Search results, best first (or in the order asked for).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchResults {
    /// The query as understood.
    pub query: String,
    /// Hits of this page.
    pub items: Vec<SearchHit>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// How many hits the whole query has, over every page.
    #[serde(default)]
    pub total: u64,
    /// The facets asked for (`facets=`), counted over every hit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facets: Vec<FacetCounts>,
    /// Catalog revision of the snapshot.
    #[schema(value_type = u64)]
    pub revision: Revision,
}

/// Severity of a validation finding.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; does not block publishing.
    Warning,
    /// Blocks publishing.
    Error,
}

/// One problem (or remark) found by validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Finding {
    /// Stable rule id, e.g. `INPUT_NAME_DUPLICATE`.
    pub rule: String,
    /// Error or warning.
    pub severity: Severity,
    /// Field path, e.g. `required_inputs[2].default`; empty for the whole definition.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// What is wrong, and how to fix it.
    pub message: String,
    /// Source file, when the definition came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line in the source file, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// How large a version bump is, or must be. Ordered: `none < patch < minor < major`.
///
/// ```
/// use nestor_model::Bump;
/// assert!(Bump::Major > Bump::Minor && Bump::Patch > Bump::None);
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Bump {
    /// No change at all.
    None,
    /// Descriptive changes only.
    Patch,
    /// Backwards-compatible interface changes.
    Minor,
    /// Breaking interface changes.
    Major,
}

impl Bump {
    /// `none`, `patch`, `minor` or `major`.
    pub fn as_str(self) -> &'static str {
        match self {
            Bump::None => "none",
            Bump::Patch => "patch",
            Bump::Minor => "minor",
            Bump::Major => "major",
        }
    }
}

impl std::fmt::Display for Bump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One classified difference between two versions of a component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Change {
    /// Stable rule id, e.g. `INPUT_REMOVED`.
    pub rule: String,
    /// The smallest bump this change requires.
    pub bump: Bump,
    /// Field path, e.g. `required_inputs[instance_class]`.
    pub path: String,
    /// What changed, in words.
    pub message: String,
    /// The value before (absent when the field was added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    /// The value after (absent when the field was removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<serde_json::Value>,
}

/// The classified difference between two published versions (`GET …/diff`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VersionDiff {
    /// Component name.
    pub name: String,
    /// The older version.
    pub from: String,
    /// The newer version.
    pub to: String,
    /// The largest bump any change requires.
    pub required_bump: Bump,
    /// The bump from `from` to `to` (Cargo's convention for 0.x).
    pub actual_bump: Bump,
    /// Every change.
    pub changes: Vec<Change>,
}

/// The verdict on one definition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidationReport {
    /// `true` when no finding is an error.
    pub valid: bool,
    /// Component name as written.
    pub name: String,
    /// Version as written.
    pub version: String,
    /// Content hash of the interface (when the definition could be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// Every finding, errors first.
    pub findings: Vec<Finding>,
    /// The published version this one is compared with: the highest release below it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predecessor: Option<String>,
    /// The bump the changes since the predecessor require.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_bump: Option<Bump>,
    /// The bump from the predecessor to this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_bump: Option<Bump>,
    /// The smallest version that the changes allow, when this one is not enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_version: Option<String>,
    /// Every classified change since the predecessor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
}

impl ValidationReport {
    /// Errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }
}

/// What a publish did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PublishOutcome {
    /// A new version was published (201).
    Created,
    /// The same interface was already published; descriptive fields were updated (200).
    Updated,
    /// Exactly this definition was already published; nothing changed (200).
    Unchanged,
}

/// The answer to a publish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PublishResponse {
    /// What happened.
    pub outcome: PublishOutcome,
    /// The version as stored.
    pub component: Component,
    /// Non-blocking findings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Finding>,
}

/// A change to the mutable fields of a published version: at least one field. Absent fields
/// are left as they are; only `deprecated` may be `null` (lifting the deprecation).
///
/// ```
/// let p: nestor_model::PatchRequest =
///     serde_json::from_str(r#"{"deprecated": null, "yanked": true}"#).unwrap();
/// assert_eq!(p.deprecated, Some(None)); // lift the deprecation
/// assert_eq!(p.yanked, Some(true));
/// assert!(serde_json::from_str::<nestor_model::PatchRequest>(r#"{"description": null}"#).is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct PatchRequest {
    /// New description.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = crate::limits::description_schema)]
    pub description: Option<String>,
    /// New maturity.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Maturity)]
    pub maturity: Option<Maturity>,
    /// New support level.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = SupportLevel)]
    pub support_level: Option<SupportLevel>,
    /// New resource limits.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = ResourceLimits)]
    pub resource_limits: Option<ResourceLimits>,
    /// Replaces all labels.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = crate::limits::labels_schema)]
    pub labels: Option<BTreeMap<String, String>>,
    /// Replaces all annotations.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = crate::limits::annotations_schema)]
    pub annotations: Option<BTreeMap<String, String>>,
    /// `{"message": …}` deprecates; `null` lifts the deprecation; absent leaves it.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Deprecation>)]
    pub deprecated: Option<Option<Deprecation>>,
    /// Yank (`true`) or un-yank (`false`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = bool)]
    pub yanked: Option<bool>,
}

/// A field that, when present, has a value: `null` is refused (it would read as absent, a
/// patch that silently changes nothing).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(de: D) -> Result<Option<T>, D::Error> {
    T::deserialize(de).map(Some)
}

impl PatchRequest {
    /// Whether the patch changes nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == PatchRequest::default()
    }
}

/// Who owns a component name (`GET /api/v1/components/{name}/owners`): who, besides
/// administrators, may publish its versions and change them through the API.
///
/// A name published through the API is owned by its first publisher's token; its owners (and
/// administrators) may add and remove owners. A name a configured source published is owned by
/// that source: its versions come from there, and it has no API owners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OwnerList {
    /// Component name.
    pub name: String,
    /// Names of the tokens that own the name, the first publisher first; empty when a source
    /// owns it.
    pub owners: Vec<String>,
    /// The configured source that owns the name, when one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Body of `PUT` (add) and `DELETE` (remove) `/api/v1/components/{name}/owners`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnersRequest {
    /// Token names to add or remove (at least one).
    #[schema(schema_with = owners_schema)]
    pub owners: Vec<String>,
}

/// A whole component, or (with `fields=`) only some of its fields, `name` and `version` always.
fn component_or_fields() -> utoipa::openapi::Schema {
    use utoipa::openapi::{
        ObjectBuilder, Ref,
        schema::{AnyOfBuilder, Type},
    };
    utoipa::openapi::Schema::AnyOf(
        AnyOfBuilder::new()
            .item(Ref::from_schema_name("Component"))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .title(Some("ComponentFields"))
                    .description(Some(
                        "With `fields=`: the fields asked for, and `name` and `version` (each \
                         as in `Component`)",
                    ))
                    .property("name", crate::limits::name())
                    .required("name")
                    .property("version", crate::limits::version())
                    .required("version")
                    .property_names(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .enum_values(Some(
                                crate::ComponentSpec::FIELDS
                                    .iter()
                                    .chain(&crate::Component::SERVER_FIELDS)
                                    .copied(),
                            )),
                    )),
            )
            .build(),
    )
}

fn component_items() -> utoipa::openapi::Schema {
    utoipa::openapi::Schema::Array(
        utoipa::openapi::ArrayBuilder::new()
            .items(utoipa::openapi::RefOr::T(component_or_fields()))
            .build(),
    )
}

fn owners_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::{ArrayBuilder, ObjectBuilder, schema::Type};
    utoipa::openapi::Schema::Array(
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(crate::limits::MAX_OWNER_NAME))
                    .pattern(Some(crate::limits::owner_name_pattern())),
            )
            .min_items(Some(1))
            .max_items(Some(crate::limits::MAX_LIST))
            .build(),
    )
}

fn double_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    de: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(de).map(Some)
}

/// Build information of the server (`GET /version`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VersionInfo {
    /// Product name.
    pub name: String,
    /// Server version.
    pub version: String,
    /// Storage backend in use.
    pub storage_backend: String,
}

/// Health answer (`GET /health`, `GET /health/ready`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthStatus {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Why not ready, when not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Current catalog revision, when the store answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>)]
    pub revision: Option<Revision>,
}
