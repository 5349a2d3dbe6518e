//! Rules that need catalog state: the semver gate (breaking-change detection), dependency
//! existence, and name ownership. They run only when the [`Context`] carries a snapshot.

use nestor_model::{Bump, ComponentSpec, parse_version};
use semver::{Version, VersionReq};

use crate::{
    Comparison, Context, Findings, KnownVersion, Rule, actual_bump, classify, next_version,
    required_bump,
};

/// Stable ids of the catalog rules.
pub mod catalog_rule_ids {
    /// The version bump is smaller than the changes require.
    pub const VERSION_BUMP_INSUFFICIENT: &str = "VERSION_BUMP_INSUFFICIENT";
    /// The version bump is larger than the changes require (warning).
    pub const VERSION_BUMP_EXCESSIVE: &str = "VERSION_BUMP_EXCESSIVE";
    /// The new version is not compatible with its successor (the next higher release already
    /// published): the step from it to the successor would break what the versions promise.
    pub const VERSION_SUCCESSOR_INCOMPATIBLE: &str = "VERSION_SUCCESSOR_INCOMPATIBLE";
    /// A dependency names a component that does not exist.
    pub const DEPENDENCY_NOT_FOUND: &str = "DEPENDENCY_NOT_FOUND";
    /// No non-yanked version of a dependency matches its requirement.
    pub const DEPENDENCY_UNSATISFIED: &str = "DEPENDENCY_UNSATISFIED";
    /// The name belongs to another source.
    pub const NAME_CONFLICT: &str = "NAME_CONFLICT";
}

use catalog_rule_ids::*;

/// Compares a new version with its predecessor (the highest published release below it) and
/// rejects a bump smaller than its changes require; and compares a new release with its
/// successor (the lowest published release above it), which must be compatible with it as its
/// version promises: without that, publishing 1.1.0 after 1.2.0 could make 1.1 → 1.2 a breaking
/// minor, and `^1.1` would hand 1.2.0 to users of 1.1.0.
pub struct SemverGate;

impl Rule for SemverGate {
    fn name(&self) -> &'static str {
        "semver-gate"
    }

    fn check(&self, spec: &ComponentSpec, ctx: &Context<'_>, f: &mut Findings) {
        let (Some(catalog), Ok(new)) = (ctx.catalog, parse_version(&spec.version)) else {
            return;
        };
        let known = catalog.versions(&spec.name);
        // Re-publishing an existing version is the catalog's immutability rule, not a bump.
        if known.iter().any(|v| v.version == new && !v.pending) {
            return;
        }
        check_successor(spec, &new, known, f);
        // Pre-releases never serve as predecessors: a release line is compared with releases.
        let Some(pred) = known
            .iter()
            .filter(|v| v.version.pre.is_empty() && v.version < new)
            .max_by(|a, b| a.version.cmp(&b.version))
        else {
            return;
        };
        let changes = classify(pred.spec(), spec);
        let required = required_bump(&changes);
        let actual = actual_bump(&pred.version, &new);
        let mut suggested = None;
        if actual < required {
            let mut next = next_version(&pred.version, required);
            // Skip versions that exist already (another line may have taken them).
            while known.iter().any(|v| v.version == next) {
                next = next_version(&next, required);
            }
            for c in changes.iter().filter(|c| c.bump > actual) {
                f.error(
                    &c.rule,
                    &c.path,
                    format!(
                        "{}: requires a {} bump over {}",
                        c.message, c.bump, pred.version
                    ),
                );
            }
            f.error(
                VERSION_BUMP_INSUFFICIENT,
                "version",
                format!(
                    "{new} is a {actual} bump over {}, but the changes require a {required} bump: publish {next} instead",
                    pred.version
                ),
            );
            suggested = Some(next.to_string());
        } else if actual > required.max(Bump::Patch) && new.pre.is_empty() {
            f.warning(
                VERSION_BUMP_EXCESSIVE,
                "version",
                format!(
                    "{new} is a {actual} bump over {}, but the changes only require {}; {} would do",
                    pred.version,
                    required.max(Bump::Patch),
                    next_version(&pred.version, required.max(Bump::Patch))
                ),
            );
        }
        f.comparison = Some(Comparison {
            predecessor: pred.version.to_string(),
            required,
            actual,
            suggested,
            changes,
        });
    }
}

/// A new release must be compatible with its successor: the changes from it to the lowest
/// release above it may need no larger bump than the step between the two. Pre-releases are
/// not checked (nor used as successors): they are compared with the release line below them.
fn check_successor(spec: &ComponentSpec, new: &Version, known: &[KnownVersion], f: &mut Findings) {
    if !new.pre.is_empty() {
        return;
    }
    let Some(next) = known
        .iter()
        .filter(|v| v.version.pre.is_empty() && v.version > *new)
        .min_by(|a, b| a.version.cmp(&b.version))
    else {
        return;
    };
    let changes = classify(spec, next.spec());
    let required = required_bump(&changes);
    let step = actual_bump(new, &next.version);
    if step >= required {
        return;
    }
    let published = if next.pending {
        "in the same batch"
    } else {
        "already published"
    };
    for c in changes.iter().filter(|c| c.bump > step) {
        f.error(
            &c.rule,
            &c.path,
            format!(
                "{} (from {new} to its successor {}, {published}): requires a {} bump, but {} is only a {step} step above {new}",
                c.message, next.version, c.bump, next.version
            ),
        );
    }
    f.error(
        VERSION_SUCCESSOR_INCOMPATIBLE,
        "version",
        format!(
            "{new} is not compatible with its successor {} ({published}): going from {new} to {} needs a {required} bump, but it is a {step} step; give {new} an interface that {} keeps compatible, or publish it in another line",
            next.version, next.version, next.version
        ),
    );
}

/// Every dependency names an existing component with a non-yanked version matching its
/// requirement. Direct dependencies only: nothing transitive is walked.
pub struct DependenciesExist;

impl Rule for DependenciesExist {
    fn name(&self) -> &'static str {
        "dependencies"
    }

    fn check(&self, spec: &ComponentSpec, ctx: &Context<'_>, f: &mut Findings) {
        let Some(catalog) = ctx.catalog else { return };
        for (i, dep) in spec.dependencies.iter().enumerate() {
            // Malformed names and requirements are reported by the well-formedness rules.
            let Ok(req) = VersionReq::parse(&dep.version_req) else {
                continue;
            };
            if dep.name == spec.name {
                continue;
            }
            let versions = catalog.versions(&dep.name);
            if versions.is_empty() {
                f.error(
                    DEPENDENCY_NOT_FOUND,
                    format!("dependencies[{i}].name"),
                    format!("dependency {} does not exist in the catalog; publish it first (or in the same batch)", dep.name),
                );
                continue;
            }
            if !versions
                .iter()
                .any(|v| !v.yanked() && req.matches(&v.version))
            {
                let mut available: Vec<&semver::Version> = versions
                    .iter()
                    .filter(|v| !v.yanked())
                    .map(|v| &v.version)
                    .collect();
                available.sort_unstable_by(|a, b| b.cmp(a));
                let list = available
                    .iter()
                    .take(5)
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                f.error(
                    DEPENDENCY_UNSATISFIED,
                    format!("dependencies[{i}].version_req"),
                    format!(
                        "no non-yanked version of {} matches {:?} (available: {})",
                        dep.name,
                        dep.version_req,
                        if list.is_empty() {
                            "none".to_owned()
                        } else {
                            list
                        }
                    ),
                );
            }
        }
    }
}

/// A name belongs to the source that first published it.
pub struct NameOwnership;

impl Rule for NameOwnership {
    fn name(&self) -> &'static str {
        "ownership"
    }

    fn check(&self, spec: &ComponentSpec, ctx: &Context<'_>, f: &mut Findings) {
        let (Some(catalog), Some(origin)) = (ctx.catalog, ctx.origin) else {
            return;
        };
        if let Some(owner) = catalog.owner(&spec.name)
            && owner != origin
        {
            f.error(
                NAME_CONFLICT,
                "name",
                format!(
                    "component {} belongs to {owner}; it cannot be published from {origin}",
                    spec.name
                ),
            );
        }
    }
}
