//! What a rule is: the [`Rule`] trait, the [`Context`] it is given and the [`Findings`] it
//! records.

use nestor_model::{Bump, Change, ComponentSpec, Finding, Severity};

use crate::CatalogSnapshot;

/// What a rule may know beyond the definition itself.
#[derive(Default, Clone, Copy)]
pub struct Context<'a> {
    /// The file the definition came from, attached to every finding.
    pub file: Option<&'a str>,
    /// The line its document starts on.
    pub line: Option<u32>,
    /// Deployment engines, when the engine rule should run.
    pub engines: Option<&'a dyn nestor_engines::EngineRegistry>,
    /// Catalog state, when the catalog rules (semver gate, dependencies, ownership) should run.
    pub catalog: Option<&'a CatalogSnapshot>,
    /// Who is publishing (`api:…`, `source:…`), for the ownership rule.
    pub origin: Option<&'a str>,
}

/// The comparison with the predecessor, filled in by [`SemverGate`](crate::SemverGate).
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Predecessor version.
    pub predecessor: String,
    /// Bump the changes require.
    pub required: Bump,
    /// Bump actually made.
    pub actual: Bump,
    /// Smallest acceptable version, when the actual bump is too small.
    pub suggested: Option<String>,
    /// Every change.
    pub changes: Vec<Change>,
}

/// Collects findings for one definition.
#[derive(Debug, Default)]
pub struct Findings {
    pub(crate) items: Vec<Finding>,
    /// Set by the rule that compares with the predecessor.
    pub comparison: Option<Comparison>,
}

impl Findings {
    /// Records an error.
    pub fn error(&mut self, rule: &str, path: impl Into<String>, message: impl Into<String>) {
        self.push(rule, Severity::Error, path.into(), message.into());
    }

    /// Records a warning.
    pub fn warning(&mut self, rule: &str, path: impl Into<String>, message: impl Into<String>) {
        self.push(rule, Severity::Warning, path.into(), message.into());
    }

    fn push(&mut self, rule: &str, severity: Severity, path: String, message: String) {
        self.items.push(Finding {
            rule: rule.to_owned(),
            severity,
            path,
            message,
            file: None,
            line: None,
        });
    }

    /// Whether any error was recorded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|f| f.severity == Severity::Error)
    }
}

/// One validation rule (or a family of closely related checks).
pub trait Rule: Send + Sync {
    /// Short name of the rule family, for logs.
    fn name(&self) -> &'static str;

    /// Checks `spec`, recording findings.
    fn check(&self, spec: &ComponentSpec, ctx: &Context<'_>, findings: &mut Findings);
}
