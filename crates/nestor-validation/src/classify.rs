//! The breaking-change classifier: every difference between two versions of a component, each
//! with a stable rule id and the smallest bump it requires.
//!
//! Pure and order-independent: lists are compared as sets keyed by name, so reordering a file
//! never changes the verdict. Inputs are keyed by name across `required_inputs` and
//! `optional_inputs`, so moving an input between the two is one change (`INPUT_MADE_REQUIRED`),
//! not a removal and an addition.

use std::collections::{BTreeMap, BTreeSet};

use nestor_model::{Bump, Change, ComponentSpec, Input, Output};
use semver::{Version, VersionReq};
use serde_json::{Value, json};

/// One entry of the rule table: id, the bump it requires, and what it means.
#[derive(Debug, Clone, Copy)]
pub struct ChangeRule {
    /// Stable id.
    pub id: &'static str,
    /// Smallest bump required.
    pub bump: Bump,
    /// What the change is.
    pub description: &'static str,
}

macro_rules! change_rules {
    ($($name:ident = $bump:ident, $desc:literal;)*) => {
        /// Rule ids of the classifier.
        pub mod change_ids {
            $(#[doc = $desc] pub const $name: &str = stringify!($name);)*
        }
        /// Every change rule, for documentation and tooling.
        pub const CHANGE_RULES: &[ChangeRule] = &[
            $(ChangeRule { id: stringify!($name), bump: Bump::$bump, description: $desc },)*
        ];
    };
}

change_rules! {
    PROVIDER_CHANGED = Major, "The provider changed.";
    CATEGORY_CHANGED = Major, "The category changed.";
    RESOURCE_TYPE_CHANGED = Major, "The resource type changed.";
    ENGINE_REMOVED = Major, "A deployment engine was removed.";
    ENGINE_ADDED = Minor, "A deployment engine was added.";
    INPUT_REMOVED = Major, "An input was removed.";
    INPUT_REQUIRED_ADDED = Major, "A required input was added.";
    INPUT_OPTIONAL_ADDED = Minor, "An optional input was added.";
    INPUT_MADE_REQUIRED = Major, "An optional input became required.";
    INPUT_MADE_OPTIONAL = Minor, "A required input became optional.";
    INPUT_TYPE_CHANGED = Major, "An input's type changed incompatibly.";
    INPUT_TYPE_WIDENED = Minor, "An input's type was widened (integer to number, map(T) to object).";
    INPUT_ALLOWED_VALUES_NARROWED = Major, "Allowed values were removed from an input, or a restriction was added.";
    INPUT_ALLOWED_VALUES_WIDENED = Minor, "Allowed values were added to an input, or its restriction was lifted.";
    INPUT_DEFAULT_CHANGED = Minor, "An input's default value was added, removed or changed.";
    INPUT_DESCRIPTION_CHANGED = Patch, "An input's description changed.";
    OUTPUT_REMOVED = Major, "An output was removed.";
    OUTPUT_ADDED = Minor, "An output was added.";
    OUTPUT_TYPE_CHANGED = Major, "An output's type changed.";
    OUTPUT_DESCRIPTION_CHANGED = Patch, "An output's description changed.";
    DEPENDENCY_REMOVED = Major, "A dependency was removed.";
    DEPENDENCY_ADDED = Minor, "A dependency was added.";
    DEPENDENCY_REQ_NARROWED = Major, "A dependency's requirement accepts fewer versions.";
    DEPENDENCY_REQ_WIDENED = Minor, "A dependency's requirement accepts more versions.";
    DEPENDENCY_REQ_CHANGED = Major, "A dependency's requirement accepts some versions it did not and rejects some it did.";
    DEPENDENCY_REQ_REWRITTEN = Patch, "A dependency's requirement was rewritten without changing what it accepts.";
    DESCRIPTION_CHANGED = Patch, "The description changed.";
    MATURITY_CHANGED = Patch, "The maturity changed.";
    SUPPORT_LEVEL_CHANGED = Patch, "The support level changed.";
    RESOURCE_LIMITS_CHANGED = Patch, "The resource limits changed.";
    LABELS_CHANGED = Patch, "Labels changed.";
    ANNOTATIONS_CHANGED = Patch, "Annotations changed.";
}

use change_ids::*;

fn bump_of(id: &str) -> Bump {
    CHANGE_RULES
        .iter()
        .find(|r| r.id == id)
        .map_or(Bump::Major, |r| r.bump)
}

struct Out(Vec<Change>);

impl Out {
    fn push(
        &mut self,
        rule: &'static str,
        path: String,
        message: String,
        before: Option<Value>,
        after: Option<Value>,
    ) {
        self.0.push(Change {
            rule: rule.to_owned(),
            bump: bump_of(rule),
            path,
            message,
            before,
            after,
        });
    }
}

/// Every change from `old` to `new`, sorted by path then rule.
///
/// ```
/// use nestor_model::{Bump, ComponentSpec};
/// let old = ComponentSpec { provider: "aws".into(), ..Default::default() };
/// let new = ComponentSpec { provider: "gcp".into(), ..Default::default() };
/// let changes = nestor_validation::classify(&old, &new);
/// assert_eq!(changes[0].rule, "PROVIDER_CHANGED");
/// assert_eq!(changes[0].bump, Bump::Major);
/// ```
pub fn classify(old: &ComponentSpec, new: &ComponentSpec) -> Vec<Change> {
    let mut out = Out(Vec::new());
    for (rule, field, a, b) in [
        (PROVIDER_CHANGED, "provider", &old.provider, &new.provider),
        (CATEGORY_CHANGED, "category", &old.category, &new.category),
        (
            RESOURCE_TYPE_CHANGED,
            "resource_type",
            &old.resource_type,
            &new.resource_type,
        ),
        (
            DESCRIPTION_CHANGED,
            "description",
            &old.description,
            &new.description,
        ),
    ] {
        if a != b {
            out.push(
                rule,
                field.into(),
                format!("{field} changed from {a:?} to {b:?}"),
                Some(json!(a)),
                Some(json!(b)),
            );
        }
    }
    engines(old, new, &mut out);
    inputs(old, new, &mut out);
    outputs(&old.outputs, &new.outputs, &mut out);
    dependencies(old, new, &mut out);
    descriptive(old, new, &mut out);
    let mut changes = out.0;
    changes.sort_by(|a, b| (&a.path, &a.rule).cmp(&(&b.path, &b.rule)));
    changes
}

/// The largest bump any change requires (`None` for no change).
pub fn required_bump(changes: &[Change]) -> Bump {
    changes.iter().map(|c| c.bump).max().unwrap_or(Bump::None)
}

fn engines(old: &ComponentSpec, new: &ComponentSpec, out: &mut Out) {
    let a: BTreeSet<&String> = old.deployment_engines.iter().collect();
    let b: BTreeSet<&String> = new.deployment_engines.iter().collect();
    for e in a.difference(&b) {
        out.push(
            ENGINE_REMOVED,
            format!("deployment_engines[{e}]"),
            format!("engine {e:?} was removed"),
            Some(json!(e)),
            None,
        );
    }
    for e in b.difference(&a) {
        out.push(
            ENGINE_ADDED,
            format!("deployment_engines[{e}]"),
            format!("engine {e:?} was added"),
            None,
            Some(json!(e)),
        );
    }
}

fn input_map(spec: &ComponentSpec) -> BTreeMap<&str, (&Input, bool)> {
    spec.inputs()
        .map(|(i, required)| (i.name.as_str(), (i, required)))
        .collect()
}

fn inputs(old: &ComponentSpec, new: &ComponentSpec, out: &mut Out) {
    let (a, b) = (input_map(old), input_map(new));
    for (name, (i, required)) in &a {
        let path = format!("inputs[{name}]");
        let Some((j, now_required)) = b.get(name) else {
            let kind = if *required { "required" } else { "optional" };
            out.push(
                INPUT_REMOVED,
                path,
                format!("{kind} input {name:?} was removed"),
                serde_json::to_value(i).ok(),
                None,
            );
            continue;
        };
        match (required, now_required) {
            (false, true) => out.push(
                INPUT_MADE_REQUIRED,
                path.clone(),
                format!("input {name:?} became required"),
                Some(json!("optional")),
                Some(json!("required")),
            ),
            (true, false) => out.push(
                INPUT_MADE_OPTIONAL,
                path.clone(),
                format!("input {name:?} became optional"),
                Some(json!("required")),
                Some(json!("optional")),
            ),
            _ => {}
        }
        if i.value_type != j.value_type {
            let (rule, how) = if i.value_type.is_widened_to(&j.value_type) {
                (INPUT_TYPE_WIDENED, "widened")
            } else {
                (INPUT_TYPE_CHANGED, "changed")
            };
            out.push(
                rule,
                format!("{path}.type"),
                format!(
                    "type of input {name:?} {how} from {} to {}",
                    i.value_type, j.value_type
                ),
                Some(json!(i.value_type.to_string())),
                Some(json!(j.value_type.to_string())),
            );
        }
        allowed_values(
            name,
            &path,
            i.allowed_values.as_deref(),
            j.allowed_values.as_deref(),
            out,
        );
        if i.default != j.default {
            out.push(
                INPUT_DEFAULT_CHANGED,
                format!("{path}.default"),
                format!("default of input {name:?} changed"),
                i.default.clone(),
                j.default.clone(),
            );
        }
        if i.description != j.description {
            out.push(
                INPUT_DESCRIPTION_CHANGED,
                format!("{path}.description"),
                format!("description of input {name:?} changed"),
                Some(json!(i.description)),
                Some(json!(j.description)),
            );
        }
    }
    for (name, (j, required)) in &b {
        if a.contains_key(name) {
            continue;
        }
        let path = format!("inputs[{name}]");
        if *required {
            out.push(
                INPUT_REQUIRED_ADDED,
                path,
                format!("required input {name:?} was added"),
                None,
                serde_json::to_value(j).ok(),
            );
        } else {
            out.push(
                INPUT_OPTIONAL_ADDED,
                path,
                format!("optional input {name:?} was added"),
                None,
                serde_json::to_value(j).ok(),
            );
        }
    }
}

fn allowed_values(name: &str, path: &str, a: Option<&[Value]>, b: Option<&[Value]>, out: &mut Out) {
    let path = format!("{path}.allowed_values");
    let (before, after) = (a.map(|v| json!(v)), b.map(|v| json!(v)));
    match (a, b) {
        (None, None) => {}
        (None, Some(_)) => out.push(
            INPUT_ALLOWED_VALUES_NARROWED,
            path,
            format!("input {name:?} now restricts its values"),
            before,
            after,
        ),
        (Some(_), None) => out.push(
            INPUT_ALLOWED_VALUES_WIDENED,
            path,
            format!("input {name:?} no longer restricts its values"),
            before,
            after,
        ),
        (Some(x), Some(y)) => {
            let removed: Vec<&Value> = x.iter().filter(|v| !y.contains(v)).collect();
            let added = y.iter().any(|v| !x.contains(v));
            if !removed.is_empty() {
                let list = removed
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                out.push(
                    INPUT_ALLOWED_VALUES_NARROWED,
                    path,
                    format!("input {name:?} no longer allows {list}"),
                    before,
                    after,
                );
            } else if added {
                out.push(
                    INPUT_ALLOWED_VALUES_WIDENED,
                    path,
                    format!("input {name:?} allows more values"),
                    before,
                    after,
                );
            }
        }
    }
}

fn outputs(a: &[Output], b: &[Output], out: &mut Out) {
    let a: BTreeMap<&str, &Output> = a.iter().map(|o| (o.name.as_str(), o)).collect();
    let b: BTreeMap<&str, &Output> = b.iter().map(|o| (o.name.as_str(), o)).collect();
    for (name, o) in &a {
        let path = format!("outputs[{name}]");
        match b.get(name) {
            None => out.push(
                OUTPUT_REMOVED,
                path,
                format!("output {name:?} was removed"),
                serde_json::to_value(o).ok(),
                None,
            ),
            Some(p) => {
                if o.value_type != p.value_type {
                    out.push(
                        OUTPUT_TYPE_CHANGED,
                        format!("{path}.type"),
                        format!(
                            "type of output {name:?} changed from {} to {}",
                            o.value_type, p.value_type
                        ),
                        Some(json!(o.value_type.to_string())),
                        Some(json!(p.value_type.to_string())),
                    );
                }
                if o.description != p.description {
                    out.push(
                        OUTPUT_DESCRIPTION_CHANGED,
                        format!("{path}.description"),
                        format!("description of output {name:?} changed"),
                        Some(json!(o.description)),
                        Some(json!(p.description)),
                    );
                }
            }
        }
    }
    for (name, p) in &b {
        if !a.contains_key(name) {
            out.push(
                OUTPUT_ADDED,
                format!("outputs[{name}]"),
                format!("output {name:?} was added"),
                None,
                serde_json::to_value(p).ok(),
            );
        }
    }
}

fn dependencies(old: &ComponentSpec, new: &ComponentSpec, out: &mut Out) {
    let a: BTreeMap<&str, &str> = old
        .dependencies
        .iter()
        .map(|d| (d.name.as_str(), d.version_req.as_str()))
        .collect();
    let b: BTreeMap<&str, &str> = new
        .dependencies
        .iter()
        .map(|d| (d.name.as_str(), d.version_req.as_str()))
        .collect();
    for (name, req) in &a {
        let path = format!("dependencies[{name}]");
        match b.get(name) {
            None => out.push(
                DEPENDENCY_REMOVED,
                path,
                format!("dependency on {name} was removed"),
                Some(json!(req)),
                None,
            ),
            Some(new_req) if new_req != req => {
                let rule = match compare_reqs(req, new_req) {
                    ReqChange::Narrowed => DEPENDENCY_REQ_NARROWED,
                    ReqChange::Widened => DEPENDENCY_REQ_WIDENED,
                    ReqChange::Changed => DEPENDENCY_REQ_CHANGED,
                    ReqChange::Equivalent => DEPENDENCY_REQ_REWRITTEN,
                };
                out.push(
                    rule,
                    format!("{path}.version_req"),
                    format!("requirement on {name} changed from {req:?} to {new_req:?}"),
                    Some(json!(req)),
                    Some(json!(new_req)),
                );
            }
            Some(_) => {}
        }
    }
    for (name, req) in &b {
        if !a.contains_key(name) {
            out.push(
                DEPENDENCY_ADDED,
                format!("dependencies[{name}]"),
                format!("dependency on {name} ({req}) was added"),
                None,
                Some(json!(req)),
            );
        }
    }
}

fn descriptive(old: &ComponentSpec, new: &ComponentSpec, out: &mut Out) {
    if old.maturity != new.maturity {
        out.push(
            MATURITY_CHANGED,
            "maturity".into(),
            "maturity changed".into(),
            serde_json::to_value(old.maturity).ok(),
            serde_json::to_value(new.maturity).ok(),
        );
    }
    if old.support_level != new.support_level {
        out.push(
            SUPPORT_LEVEL_CHANGED,
            "support_level".into(),
            "support level changed".into(),
            serde_json::to_value(old.support_level).ok(),
            serde_json::to_value(new.support_level).ok(),
        );
    }
    if old.resource_limits != new.resource_limits {
        out.push(
            RESOURCE_LIMITS_CHANGED,
            "resource_limits".into(),
            "resource limits changed".into(),
            serde_json::to_value(&old.resource_limits).ok(),
            serde_json::to_value(&new.resource_limits).ok(),
        );
    }
    if old.labels != new.labels {
        out.push(
            LABELS_CHANGED,
            "labels".into(),
            "labels changed".into(),
            Some(json!(old.labels)),
            Some(json!(new.labels)),
        );
    }
    if old.annotations != new.annotations {
        out.push(
            ANNOTATIONS_CHANGED,
            "annotations".into(),
            "annotations changed".into(),
            Some(json!(old.annotations)),
            Some(json!(new.annotations)),
        );
    }
}

#[derive(Debug, PartialEq, Eq)]
enum ReqChange {
    Narrowed,
    Widened,
    Changed,
    Equivalent,
}

/// Compares what two requirements accept by evaluating both on the versions around every bound
/// either of them names: enough to tell narrowing from widening for real-world requirements.
/// Unparsable requirements (reported by the well-formedness rules) count as changed.
fn compare_reqs(a: &str, b: &str) -> ReqChange {
    let (Ok(ra), Ok(rb)) = (VersionReq::parse(a), VersionReq::parse(b)) else {
        return ReqChange::Changed;
    };
    let mut probes = vec![
        Version::new(0, 0, 0),
        Version::new(0, 0, 1),
        Version::new(999_999, 0, 0),
    ];
    for c in ra.comparators.iter().chain(rb.comparators.iter()) {
        let (ma, mi, pa) = (c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0));
        for (x, y, z) in [
            (ma, mi, pa),
            (ma, mi, pa + 1),
            (ma, mi + 1, 0),
            (ma + 1, 0, 0),
            (ma, mi.saturating_sub(1), 0),
            (ma.saturating_sub(1), 0, 0),
            (ma, mi, pa.saturating_sub(1)),
            (ma, mi, 999),
            (ma, 999, 0),
        ] {
            probes.push(Version::new(x, y, z));
        }
    }
    let lost = probes.iter().any(|v| ra.matches(v) && !rb.matches(v));
    let gained = probes.iter().any(|v| !ra.matches(v) && rb.matches(v));
    match (lost, gained) {
        (true, true) => ReqChange::Changed,
        (true, false) => ReqChange::Narrowed,
        (false, true) => ReqChange::Widened,
        (false, false) => ReqChange::Equivalent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_comparison() {
        assert_eq!(compare_reqs("^1.2", "^1.4"), ReqChange::Narrowed);
        assert_eq!(compare_reqs("^1.4", "^1.2"), ReqChange::Widened);
        assert_eq!(compare_reqs("^1", ">=1.0, <3.0"), ReqChange::Widened);
        assert_eq!(compare_reqs("^1", "^2"), ReqChange::Changed);
        assert_eq!(compare_reqs("^1.2", "^1.2.0"), ReqChange::Equivalent);
        assert_eq!(compare_reqs("~1.4", "^1.4"), ReqChange::Widened);
        assert_eq!(compare_reqs("^0.3", "^0.4"), ReqChange::Changed);
        assert_eq!(compare_reqs("*", "^1"), ReqChange::Narrowed);
    }

    #[test]
    fn rule_table_ids_are_unique() {
        let mut ids: Vec<&str> = CHANGE_RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CHANGE_RULES.len());
    }
}
