//! [`GatePolicy`]: what an operator decides about the semver gate — how large a bump a changed
//! default needs, and who may acknowledge breaking changes.

use std::collections::BTreeSet;

use nestor_model::{Bump, Change, ComponentSpec};

use crate::{change_ids, classify};

/// The semver gate's configuration.
///
/// ```
/// use nestor_model::{Bump, ComponentSpec, Input};
/// use nestor_validation::GatePolicy;
///
/// let input = |d: i64| Input {
///     name: "size".into(), value_type: "integer".parse().unwrap(), description: String::new(),
///     default: Some(d.into()), allowed_values: None,
/// };
/// let old = ComponentSpec { optional_inputs: vec![input(20)], ..Default::default() };
/// let new = ComponentSpec { optional_inputs: vec![input(50)], ..Default::default() };
/// assert_eq!(GatePolicy::default().classify(&old, &new)[0].bump, Bump::Minor);
/// let strict = GatePolicy { default_change: Bump::Major, ..Default::default() };
/// assert_eq!(strict.classify(&old, &new)[0].bump, Bump::Major);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatePolicy {
    /// The bump a changed default (`INPUT_DEFAULT_CHANGED`) requires: minor (the default), or
    /// major where consumers who rely on a default must never have it change under them.
    pub default_change: Bump,
    /// The publishers (`source:<id>`, `api:<token name>`) whose definitions may acknowledge
    /// breaking changes.
    pub may_acknowledge: BTreeSet<String>,
}

impl Default for GatePolicy {
    fn default() -> Self {
        GatePolicy {
            default_change: Bump::Minor,
            may_acknowledge: BTreeSet::new(),
        }
    }
}

impl GatePolicy {
    /// Every change from `old` to `new`, classified as [`classify`] does, with this policy's
    /// bump for a changed default.
    pub fn classify(&self, old: &ComponentSpec, new: &ComponentSpec) -> Vec<Change> {
        let mut changes = classify(old, new);
        for c in &mut changes {
            if c.rule == change_ids::INPUT_DEFAULT_CHANGED {
                c.bump = self.default_change;
            }
        }
        changes
    }

    /// Whether `owner` (the publisher, as `source:<id>` or `api:<token name>`) may publish
    /// acknowledged breaking changes.
    pub fn allows_acknowledgements(&self, owner: Option<&str>) -> bool {
        owner.is_some_and(|o| self.may_acknowledge.contains(o))
    }
}
