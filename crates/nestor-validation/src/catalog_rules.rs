//! Rules that need catalog state: the semver gate (breaking-change detection), dependency
//! existence, and name ownership. They run only when the [`Context`] carries a snapshot.

use nestor_model::{AcknowledgedChange, Bump, Change, ComponentSpec, parse_version};
use semver::{Version, VersionReq};

use crate::{
    Comparison, Context, Findings, GatePolicy, KnownVersion, Rule, actual_bump, next_version,
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
    /// (Warning) A breaking change the definition acknowledges: allowed, and recorded.
    pub const BREAKING_CHANGE_ACKNOWLEDGED: &str = "BREAKING_CHANGE_ACKNOWLEDGED";
    /// (Warning) An acknowledgement that matches no change needing it.
    pub const ACKNOWLEDGEMENT_UNUSED: &str = "ACKNOWLEDGEMENT_UNUSED";
    /// The publisher may not acknowledge breaking changes.
    pub const ACKNOWLEDGEMENT_NOT_ALLOWED: &str = "ACKNOWLEDGEMENT_NOT_ALLOWED";
}

use catalog_rule_ids::*;

/// Compares a new version with its predecessor (the highest published release below it) and
/// rejects a bump smaller than its changes require; and compares a new release with its
/// successor (the lowest published release above it), which must be compatible with it as its
/// version promises: without that, publishing 1.1.0 after 1.2.0 could make 1.1 → 1.2 a breaking
/// minor, and `^1.1` would hand 1.2.0 to users of 1.1.0.
///
/// A change the definition acknowledges (`acknowledged_breaking_changes`: rule and path, with a
/// reason) does not count towards the required bump: it is reported as a warning
/// (`BREAKING_CHANGE_ACKNOWLEDGED`) instead of an error, when the publisher is allowed to
/// acknowledge by the [`GatePolicy`].
#[derive(Default)]
pub struct SemverGate {
    policy: GatePolicy,
}

impl SemverGate {
    /// A gate configured by `policy`.
    pub fn new(policy: GatePolicy) -> Self {
        SemverGate { policy }
    }
}

/// The acknowledgement in `acks` of change `c`, if any, with its index.
fn acknowledgement<'a>(
    acks: &'a [AcknowledgedChange],
    c: &Change,
) -> Option<(usize, &'a AcknowledgedChange)> {
    acks.iter()
        .enumerate()
        .find(|(_, a)| a.rule == c.rule && a.path == c.path)
}

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
        let acks: &[AcknowledgedChange] = if spec.acknowledged_breaking_changes.is_empty() {
            &[]
        } else if self.policy.allows_acknowledgements(ctx.origin) {
            &spec.acknowledged_breaking_changes
        } else {
            f.error(
                ACKNOWLEDGEMENT_NOT_ALLOWED,
                "acknowledged_breaking_changes",
                format!(
                    "{} may not acknowledge breaking changes; an operator allows it per source (`allow_acknowledged_breaking: true`) or per token",
                    ctx.origin.unwrap_or("this publisher")
                ),
            );
            &[]
        };
        let mut used = vec![false; acks.len()];
        self.check_successor(spec, &new, known, f);
        // Pre-releases never serve as predecessors: a release line is compared with releases.
        let Some(pred) = known
            .iter()
            .filter(|v| v.version.pre.is_empty() && v.version < new)
            .max_by(|a, b| a.version.cmp(&b.version))
        else {
            // A first version has nothing to acknowledge yet; its acknowledgements may still
            // cover the step from a version published below it later.
            return;
        };
        let changes = self.policy.classify(pred.spec(), spec);
        let required = required_bump(&changes);
        let actual = actual_bump(&pred.version, &new);
        // What the gate holds the version to: the changes it does not acknowledge.
        let mut unacknowledged = Bump::None;
        for c in &changes {
            match acknowledgement(acks, c) {
                Some((i, a)) if c.bump > actual => {
                    used[i] = true;
                    f.warning(
                        BREAKING_CHANGE_ACKNOWLEDGED,
                        &c.path,
                        format!(
                            "{} ({}): requires a {} bump over {}, acknowledged: {}",
                            c.message, c.rule, c.bump, pred.version, a.reason
                        ),
                    );
                }
                _ => unacknowledged = unacknowledged.max(c.bump),
            }
        }
        warn_unused(acks, &used, f);
        let mut suggested = None;
        if actual < unacknowledged {
            let mut next = next_version(&pred.version, unacknowledged);
            // Skip versions that exist already (another line may have taken them).
            while known.iter().any(|v| v.version == next) {
                next = next_version(&next, unacknowledged);
            }
            for c in changes
                .iter()
                .filter(|c| c.bump > actual && acknowledgement(acks, c).is_none())
            {
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
                    "{new} is a {actual} bump over {}, but the changes require a {unacknowledged} bump: publish {next} instead",
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

/// Acknowledgements that excused nothing are kept with the version as written, but said so:
/// a record of breaking changes that were never made would mislead.
fn warn_unused(acks: &[AcknowledgedChange], used: &[bool], f: &mut Findings) {
    for (i, a) in acks.iter().enumerate().filter(|(i, _)| !used[*i]) {
        f.warning(
            ACKNOWLEDGEMENT_UNUSED,
            format!("acknowledged_breaking_changes[{i}]"),
            format!(
                "no {} change at {:?} needs acknowledging against the predecessor; remove the acknowledgement",
                a.rule, a.path
            ),
        );
    }
}

impl SemverGate {
    /// A new release must be compatible with its successor: the changes from it to the lowest
    /// release above it may need no larger bump than the step between the two, apart from the
    /// changes the successor itself acknowledges (it was allowed to break from its
    /// predecessor; the new version takes that place). Pre-releases are not checked (nor used
    /// as successors): they are compared with the release line below them.
    fn check_successor(
        &self,
        spec: &ComponentSpec,
        new: &Version,
        known: &[KnownVersion],
        f: &mut Findings,
    ) {
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
        let changes = self.policy.classify(spec, next.spec());
        let step = actual_bump(new, &next.version);
        let acks = &next.spec().acknowledged_breaking_changes;
        let published = if next.pending {
            "in the same batch"
        } else {
            "already published"
        };
        let mut required = Bump::None;
        for c in changes.iter().filter(|c| c.bump > step) {
            if let Some((_, a)) = acknowledgement(acks, c) {
                f.warning(
                    BREAKING_CHANGE_ACKNOWLEDGED,
                    &c.path,
                    format!(
                        "{} ({}, from {new} to its successor {}): requires a {} bump, acknowledged by {}: {}",
                        c.message, c.rule, next.version, c.bump, next.version, a.reason
                    ),
                );
                continue;
            }
            required = required.max(c.bump);
            f.error(
                &c.rule,
                &c.path,
                format!(
                    "{} (from {new} to its successor {}, {published}): requires a {} bump, but {} is only a {step} step above {new}",
                    c.message, next.version, c.bump, next.version
                ),
            );
        }
        if required > step {
            f.error(
                VERSION_SUCCESSOR_INCOMPATIBLE,
                "version",
                format!(
                    "{new} is not compatible with its successor {} ({published}): going from {new} to {} needs a {required} bump, but it is a {step} step; give {new} an interface that {} keeps compatible, or publish it in another line",
                    next.version, next.version, next.version
                ),
            );
        }
    }
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
