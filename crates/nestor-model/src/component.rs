//! Component definitions (what authors write) and published components (what the catalog holds).
//!
//! `ComponentSpec` keeps `name` and `version` as plain strings on purpose: a definition is input,
//! and validation wants to report *every* problem in it (a bad name and a bad version and a
//! duplicate input), not stop at the first one as a typed deserializer would.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::{Revision, ValueType, hash::CanonicalInterface};

/// How ready a component is for use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Maturity {
    /// Experimental; may change or go away.
    Alpha,
    /// Feature-complete, still settling.
    Beta,
    /// Ready for production.
    #[default]
    Stable,
    /// Still works; do not start using it.
    Deprecated,
}

impl Maturity {
    /// Every maturity, from the least to the most settled (then deprecated).
    pub const ALL: [Maturity; 4] = [
        Maturity::Alpha,
        Maturity::Beta,
        Maturity::Stable,
        Maturity::Deprecated,
    ];

    /// The name used in definitions, JSON and query strings.
    ///
    /// ```
    /// assert_eq!(nestor_model::Maturity::Beta.as_str(), "beta");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Maturity::Alpha => "alpha",
            Maturity::Beta => "beta",
            Maturity::Stable => "stable",
            Maturity::Deprecated => "deprecated",
        }
    }

    /// The maturity named `s` (as [`Maturity::as_str`] writes it).
    ///
    /// ```
    /// use nestor_model::Maturity;
    /// assert_eq!(Maturity::parse("stable"), Some(Maturity::Stable));
    /// assert_eq!(Maturity::parse("ripe"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Maturity> {
        Maturity::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Who stands behind a component.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SupportLevel {
    /// Best effort by its authors.
    #[default]
    Community,
    /// Supported by the platform team.
    Supported,
}

impl SupportLevel {
    /// Every support level.
    pub const ALL: [SupportLevel; 2] = [SupportLevel::Community, SupportLevel::Supported];

    /// The name used in definitions, JSON and query strings.
    ///
    /// ```
    /// assert_eq!(nestor_model::SupportLevel::Supported.as_str(), "supported");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            SupportLevel::Community => "community",
            SupportLevel::Supported => "supported",
        }
    }

    /// The support level named `s` (as [`SupportLevel::as_str`] writes it).
    pub fn parse(s: &str) -> Option<SupportLevel> {
        SupportLevel::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Where a definition's inputs and outputs come from (`interface:` in a definition).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InterfaceSource {
    /// Written in the definition (`required_inputs`, `optional_inputs`, `outputs`); for a
    /// Terraform module synced from git, checked against the module's `variable` and `output`
    /// blocks.
    #[default]
    Declared,
    /// Read from the Terraform module at the synced commit: the definition lists no inputs or
    /// outputs, and the sync fills them in from the module's `*.tf` files. Only a git source
    /// can publish such a definition.
    FromModule,
}

impl InterfaceSource {
    /// The name used in definitions.
    pub fn as_str(self) -> &'static str {
        match self {
            InterfaceSource::Declared => "declared",
            InterfaceSource::FromModule => "from_module",
        }
    }

    /// Whether this is the default, [`InterfaceSource::Declared`].
    pub fn is_declared(&self) -> bool {
        *self == InterfaceSource::Declared
    }
}

/// Deployment engines whose components are Terraform modules (the `interface` and
/// `module_path` fields concern them).
pub const TERRAFORM_ENGINES: [&str; 2] = ["terraform", "opentofu"];

/// An input a component takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Input {
    /// Input name, unique among the component's inputs.
    #[schema(schema_with = crate::limits::field_name_schema)]
    pub name: String,
    /// Value type, e.g. `string` or `list(map(string))`.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "list(string)")]
    pub value_type: ValueType,
    /// What the input means.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(schema_with = crate::limits::optional_description_schema)]
    pub description: String,
    /// Default value (optional inputs only); must be of `type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// If set, the only values accepted (1 to 256, distinct); each must be of `type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = allowed_values_schema)]
    pub allowed_values: Option<Vec<Value>>,
}

/// A value a component produces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Output {
    /// Output name, unique among the component's outputs.
    #[schema(schema_with = crate::limits::field_name_schema)]
    pub name: String,
    /// Value type.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "string")]
    pub value_type: ValueType,
    /// What the output means.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(schema_with = crate::limits::optional_description_schema)]
    pub description: String,
}

/// A direct dependency on another component.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub struct Dependency {
    /// Name of the component depended on.
    #[schema(schema_with = crate::limits::name_schema)]
    pub name: String,
    /// Cargo-style version requirement, e.g. `^1.2`.
    #[schema(schema_with = crate::limits::version_req_schema)]
    pub version_req: String,
}

/// Resource limits of the component's controller or runtime, as Kubernetes quantities.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ResourceLimits {
    /// CPU, e.g. `500m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::limits::quantity_schema)]
    pub cpu: Option<String>,
    /// Memory, e.g. `512Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::limits::quantity_schema)]
    pub memory: Option<String>,
}

/// A component version as its author writes it (a YAML document or the body of a publish).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ComponentSpec {
    /// Global component name, `^[a-z][a-z0-9-]{0,62}$`.
    #[schema(schema_with = crate::limits::name_schema)]
    pub name: String,
    /// Strict SemVer 2.0 version without build metadata.
    #[schema(schema_with = crate::limits::version_schema)]
    pub version: String,
    /// What the component is.
    #[serde(default)]
    #[schema(schema_with = crate::limits::description_schema)]
    pub description: String,
    /// Cloud or platform, e.g. `aws`, `gcp`, `azure`, `k8s`.
    #[serde(default)]
    #[schema(schema_with = crate::limits::short_text_schema)]
    pub provider: String,
    /// Kind of infrastructure, e.g. `database`.
    #[serde(default)]
    #[schema(schema_with = crate::limits::short_text_schema)]
    pub category: String,
    /// Underlying resource type, e.g. `aws_db_instance`.
    #[serde(default)]
    #[schema(schema_with = crate::limits::short_text_schema)]
    pub resource_type: String,
    /// Deployment engines able to deploy it (`terraform`, `pulumi`, …).
    #[serde(default)]
    #[schema(schema_with = crate::limits::engines_schema)]
    pub deployment_engines: Vec<String>,
    /// Direct dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = dependencies_schema)]
    pub dependencies: Vec<Dependency>,
    /// Inputs that must be given (no default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = inputs_schema)]
    pub required_inputs: Vec<Input>,
    /// Inputs that may be given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = inputs_schema)]
    pub optional_inputs: Vec<Input>,
    /// Values the component produces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = outputs_schema)]
    pub outputs: Vec<Output>,
    /// Readiness.
    #[serde(default)]
    pub maturity: Maturity,
    /// Who supports it.
    #[serde(default)]
    pub support_level: SupportLevel,
    /// Resource limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_limits: Option<ResourceLimits>,
    /// Git repository it was published from (set by git sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_repository: Option<String>,
    /// Git commit it was published from (set by git sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// Path of the definition file in the repository (set by git sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_path: Option<String>,
    /// Free-form key/value labels, searchable and filterable.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(schema_with = crate::limits::labels_schema)]
    pub labels: BTreeMap<String, String>,
    /// Free-form key/value annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(schema_with = crate::limits::annotations_schema)]
    pub annotations: BTreeMap<String, String>,
    /// Breaking changes this version makes on purpose and acknowledges: each turns the semver
    /// gate's error for that change into a warning. Only sources and tokens configured to allow
    /// it may publish acknowledgements; they are part of the version's immutable record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = acknowledgements_schema)]
    pub acknowledged_breaking_changes: Vec<AcknowledgedChange>,
    /// The Terraform module's directory in the git repository (repository-relative, `/`
    /// separators, no `..` or `.git`); default: the directory of the definition file. Part of
    /// the interface: it says what a version deploys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "modules/vpc")]
    pub module_path: Option<String>,
    /// Where the inputs and outputs come from: `declared` (the default) or `from_module` (read
    /// from the Terraform module at the synced commit; git sources only).
    #[serde(default, skip_serializing_if = "InterfaceSource::is_declared")]
    pub interface: InterfaceSource,
}

/// A breaking change a version acknowledges (the audited escape hatch for real histories that
/// once broke the rules, like a schema registry's per-subject compatibility setting).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub struct AcknowledgedChange {
    /// The change rule acknowledged, e.g. `INPUT_TYPE_CHANGED`.
    #[schema(example = "INPUT_TYPE_CHANGED")]
    pub rule: String,
    /// The path of the change, as the gate reports it, e.g. `inputs[port].type`.
    #[schema(schema_with = crate::limits::change_path_schema)]
    pub path: String,
    /// Why the change is accepted (an upstream release mirrored as it is, …).
    #[schema(schema_with = crate::limits::reason_schema)]
    pub reason: String,
}

impl ComponentSpec {
    /// The top-level keys of a definition.
    pub const FIELDS: [&'static str; 22] = [
        "name",
        "version",
        "description",
        "provider",
        "category",
        "resource_type",
        "deployment_engines",
        "dependencies",
        "required_inputs",
        "optional_inputs",
        "outputs",
        "maturity",
        "support_level",
        "resource_limits",
        "git_repository",
        "git_commit",
        "git_path",
        "labels",
        "annotations",
        "acknowledged_breaking_changes",
        "module_path",
        "interface",
    ];

    /// The directory of the Terraform module of a version synced from git, in its repository:
    /// `module_path` when set, else the directory of the definition file (`git_path`); `""` is
    /// the repository's root. `None` for a version not synced from git (no `git_commit` or
    /// `git_path`), or whose `module_path` is not a safe relative path (see
    /// [`module_path_problem`]).
    ///
    /// With `git_repository` and `git_commit` it locates the module exactly:
    /// `git::<repository>//<dir>?ref=<commit>`.
    ///
    /// ```
    /// use nestor_model::ComponentSpec;
    /// let mut spec = ComponentSpec {
    ///     git_commit: Some("0a1b".into()),
    ///     git_path: Some("modules/vpc/component.yaml".into()),
    ///     ..Default::default()
    /// };
    /// assert_eq!(spec.module_dir().as_deref(), Some("modules/vpc"));
    /// spec.module_path = Some("terraform/vpc/".into());
    /// assert_eq!(spec.module_dir().as_deref(), Some("terraform/vpc"));
    /// spec.git_path = Some("vpc.yaml".into());
    /// spec.module_path = None;
    /// assert_eq!(spec.module_dir().as_deref(), Some(""));
    /// spec.git_commit = None;
    /// assert_eq!(spec.module_dir(), None);
    /// ```
    pub fn module_dir(&self) -> Option<String> {
        self.git_commit.as_ref()?;
        let git_path = self.git_path.as_deref()?;
        match &self.module_path {
            Some(path) => {
                if module_path_problem(path).is_some() {
                    return None;
                }
                Some(normalize_module_path(path))
            }
            None => Some(
                git_path
                    .rsplit_once('/')
                    .map_or(String::new(), |(dir, _)| dir.to_owned()),
            ),
        }
    }

    /// Whether a deployment engine of this definition is Terraform or OpenTofu.
    pub fn is_terraform(&self) -> bool {
        self.deployment_engines
            .iter()
            .any(|e| TERRAFORM_ENGINES.contains(&e.as_str()))
    }

    /// The part of the definition that is immutable once published.
    pub fn interface(&self) -> CanonicalInterface<'_> {
        CanonicalInterface::of(self)
    }

    /// `sha256:<hex>` of the canonical interface: equal for equal interfaces whatever the order
    /// of lists and keys in the source.
    pub fn content_hash(&self) -> String {
        self.interface().hash()
    }

    /// Iterates over all inputs, required first.
    pub fn inputs(&self) -> impl Iterator<Item = (&Input, bool)> {
        self.required_inputs
            .iter()
            .map(|i| (i, true))
            .chain(self.optional_inputs.iter().map(|i| (i, false)))
    }

    /// `name@version`, for messages.
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// Whether the descriptive fields (everything outside the interface and git provenance)
    /// are equal.
    pub fn same_descriptive_fields(&self, other: &ComponentSpec) -> bool {
        self.description == other.description
            && self.maturity == other.maturity
            && self.support_level == other.support_level
            && self.resource_limits == other.resource_limits
            && self.labels == other.labels
            && self.annotations == other.annotations
            && self.interface == other.interface
            && descriptions(self) == descriptions(other)
    }
}

/// Longest `module_path`, in bytes.
pub const MAX_MODULE_PATH: usize = 1024;

/// Why `path` is not an acceptable `module_path`, if it is not: it must be relative to the
/// repository's root, with `/` separators, and stay inside the repository and out of `.git`.
/// `""`, `.` and `./` name the root; a trailing `/` is allowed.
///
/// ```
/// use nestor_model::module_path_problem;
/// assert_eq!(module_path_problem("modules/vpc"), None);
/// assert_eq!(module_path_problem("./modules/vpc/"), None);
/// assert!(module_path_problem("/etc").is_some());
/// assert!(module_path_problem("modules/../../x").is_some());
/// assert!(module_path_problem(".git/hooks").is_some());
/// ```
pub fn module_path_problem(path: &str) -> Option<&'static str> {
    if path.len() > MAX_MODULE_PATH {
        return Some("is longer than 1024 bytes");
    }
    if path.starts_with('/') || path.contains(':') || path.contains('\\') {
        return Some("must be a path relative to the repository's root, with `/` separators");
    }
    if path.chars().any(char::is_control) {
        return Some("must not contain control characters");
    }
    let normalized = normalize_module_path(path);
    if normalized.is_empty() {
        return None;
    }
    for component in normalized.split('/') {
        if component.is_empty() {
            return Some("must not contain an empty component (`//`)");
        }
        if component == "." || component == ".." {
            return Some("must not contain `.` or `..` components: it stays inside the repository");
        }
        if component.eq_ignore_ascii_case(".git") {
            return Some("must not reach into `.git`");
        }
    }
    None
}

/// `module_path` without a leading `./` and a trailing `/`; `.` is the root, `""`.
fn normalize_module_path(path: &str) -> String {
    let mut p = path;
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    let p = p.trim_end_matches('/');
    if p == "." {
        String::new()
    } else {
        p.to_owned()
    }
}

fn list_of<T: utoipa::ToSchema>() -> utoipa::openapi::Schema {
    crate::limits::list_of(utoipa::openapi::Ref::from_schema_name(T::name()))
}

fn dependencies_schema() -> utoipa::openapi::Schema {
    list_of::<Dependency>()
}

fn inputs_schema() -> utoipa::openapi::Schema {
    list_of::<Input>()
}

fn outputs_schema() -> utoipa::openapi::Schema {
    list_of::<Output>()
}

fn acknowledgements_schema() -> utoipa::openapi::Schema {
    list_of::<AcknowledgedChange>()
}

fn allowed_values_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::{ArrayBuilder, schema::SchemaType, schema::Type};
    utoipa::openapi::Schema::Array(
        ArrayBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
            .items(utoipa::openapi::ObjectBuilder::new().schema_type(SchemaType::AnyValue))
            .min_items(Some(1))
            .max_items(Some(crate::limits::MAX_LIST))
            .unique_items(true)
            .build(),
    )
}

fn descriptions(s: &ComponentSpec) -> Vec<(&str, &str)> {
    let mut d: Vec<(&str, &str)> = s
        .inputs()
        .map(|(i, _)| (i.name.as_str(), i.description.as_str()))
        .chain(
            s.outputs
                .iter()
                .map(|o| (o.name.as_str(), o.description.as_str())),
        )
        .collect();
    d.sort_unstable();
    d
}

/// Why a version was deprecated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deprecation {
    /// What to use instead, or why.
    #[schema(schema_with = crate::limits::message_schema)]
    pub message: String,
}

/// Who wrote a change to the catalog: recorded on every version (`published_by`, `changed_by`)
/// and every change event (`changed_by`), so that each write can be traced to its token or sync
/// run. JSON: `{"kind": "api", "token": "ci"}` or `{"kind": "sync", "source": "platform",
/// "run": 7, "commit": "0a1b2c…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A request through the API.
    Api {
        /// The name of the token that authenticated it; `anonymous` without one (while access
        /// control is off).
        token: String,
    },
    /// A sync of a configured source (git or a directory).
    Sync {
        /// The source's id.
        source: String,
        /// The sync run's id (`GET /api/v1/sync-runs/{id}`); absent for a sync outside a
        /// recorded run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run: Option<u64>,
        /// The commit synced; absent for a directory source.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commit: Option<String>,
    },
}

/// A published component version: the author's definition plus the fields the server sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Component {
    /// The definition as published (descriptive fields may have been updated since).
    #[serde(flatten)]
    pub spec: ComponentSpec,
    /// `sha256:<hex>` of the canonical interface.
    pub content_hash: String,
    /// When this version was first published.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub published_at: OffsetDateTime,
    /// Catalog revision of the last change to this version.
    #[schema(value_type = u64)]
    pub revision: Revision,
    /// Set when the version is deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<Deprecation>,
    /// A yanked version is never `latest` and never satisfies a dependency.
    #[serde(default)]
    pub yanked: bool,
    /// Who published this version. Absent on versions published before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_by: Option<Actor>,
    /// Who wrote the change at `revision` (the publish, an update, a deprecation, a yank…).
    /// Absent on versions last changed before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<Actor>,
}

impl Component {
    /// The top-level keys the server adds to a definition's ([`ComponentSpec::FIELDS`]) in a
    /// component's JSON. Together they are what `fields=` may name.
    pub const SERVER_FIELDS: [&'static str; 7] = [
        "content_hash",
        "published_at",
        "revision",
        "deprecated",
        "yanked",
        "published_by",
        "changed_by",
    ];

    /// Whether `key` is a top-level key of a component's JSON.
    pub fn is_field(key: &str) -> bool {
        ComponentSpec::FIELDS.contains(&key) || Component::SERVER_FIELDS.contains(&key)
    }

    /// The component name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The version string.
    pub fn version(&self) -> &str {
        &self.spec.version
    }

    /// The parsed version. Published versions were validated, so this only fails on a corrupt
    /// store; callers treat that as an internal error.
    pub fn semver(&self) -> Result<semver::Version, crate::VersionError> {
        crate::parse_version(&self.spec.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_names_every_key_of_a_component() {
        let json = serde_json::json!({
            "name": "aws-vpc", "version": "1.0.0", "description": "d", "provider": "aws",
            "category": "network", "resource_type": "aws_vpc", "deployment_engines": ["terraform"],
            "dependencies": [{"name": "base", "version_req": "^1"}],
            "required_inputs": [{"name": "a", "type": "string"}],
            "optional_inputs": [{"name": "b", "type": "string", "default": "x"}],
            "outputs": [{"name": "id", "type": "string"}],
            "maturity": "beta", "support_level": "supported",
            "resource_limits": {"cpu": "1"}, "git_repository": "r", "git_commit": "c",
            "git_path": "p", "labels": {"team": "core"}, "annotations": {"a": "b"},
            "content_hash": "sha256:00", "published_at": "2026-01-01T00:00:00Z", "revision": 1,
            "deprecated": {"message": "m"}, "yanked": true,
            "module_path": "modules/vpc", "interface": "from_module",
        });
        let c: Component = serde_json::from_value(json).expect("a component");
        let out = serde_json::to_value(&c).expect("encodes");
        for key in out.as_object().expect("an object").keys() {
            assert!(Component::is_field(key), "{key} is not a known field");
        }
        let spec = serde_json::to_value(&c.spec).expect("encodes");
        for key in spec.as_object().expect("an object").keys() {
            assert!(ComponentSpec::FIELDS.contains(&key.as_str()), "{key}");
        }
    }
}
