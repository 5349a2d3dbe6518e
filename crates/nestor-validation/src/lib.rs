//! Validation of component definitions, before anything is written.
//!
//! A [`Validator`] runs a list of [`Rule`]s over a definition and returns a
//! [`ValidationReport`] with *every* finding (stable rule id, field path, message), never just
//! the first. Rules are pure and synchronous: whatever catalog state a rule needs is handed to it
//! in the [`Context`], so validation is fast, deterministic and testable without I/O.
//!
//! This crate must not write anything, and must not know about HTTP or git.

#![warn(missing_docs)]

mod bump;
mod catalog_rules;
mod classify;
mod rules;
mod snapshot;

use nestor_model::{Bump, Change, ComponentSpec, Finding, Severity, ValidationReport};

pub use bump::{actual_bump, next_version};
pub use catalog_rules::{DependenciesExist, NameOwnership, SemverGate, catalog_rule_ids};
pub use classify::{CHANGE_RULES, ChangeRule, change_ids, classify, required_bump};
pub use rules::{WellFormed, rule_ids};
pub use snapshot::{CatalogSnapshot, KnownVersion};

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

/// The comparison with the predecessor, filled in by [`SemverGate`].
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
    items: Vec<Finding>,
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

/// Runs rules over definitions.
///
/// ```
/// use nestor_model::ComponentSpec;
/// use nestor_validation::{Context, Validator};
///
/// let spec = ComponentSpec { name: "Bad_Name".into(), version: "1.0".into(), ..Default::default() };
/// let report = Validator::well_formed().validate(&spec, &Context::default());
/// assert!(!report.valid);
/// assert!(report.findings.iter().any(|f| f.rule == "NAME_INVALID"));
/// assert!(report.findings.iter().any(|f| f.rule == "VERSION_INVALID"));
/// ```
pub struct Validator {
    rules: Vec<Box<dyn Rule>>,
}

impl Validator {
    /// A validator with no rules.
    pub fn empty() -> Self {
        Validator { rules: Vec::new() }
    }

    /// The well-formedness rules: syntax, required fields, types, defaults, uniqueness, limits.
    pub fn well_formed() -> Self {
        Self::empty().with_rule(WellFormed)
    }

    /// Every rule: well-formedness, then — when the context carries a catalog snapshot — the
    /// semver gate, dependency existence and name ownership.
    pub fn full() -> Self {
        Self::well_formed()
            .with_rule(SemverGate)
            .with_rule(DependenciesExist)
            .with_rule(NameOwnership)
    }

    /// Adds a rule.
    pub fn with_rule(mut self, rule: impl Rule + 'static) -> Self {
        self.rules.push(Box::new(rule));
        self
    }

    /// Validates one definition.
    pub fn validate(&self, spec: &ComponentSpec, ctx: &Context<'_>) -> ValidationReport {
        let mut findings = Findings::default();
        for rule in &self.rules {
            rule.check(spec, ctx, &mut findings);
        }
        let mut items = findings.items;
        for f in &mut items {
            f.file = ctx.file.map(str::to_owned);
            f.line = ctx.line;
        }
        // Errors first; within a severity, the order the rules found them in.
        items.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let content_hash = Some(spec.content_hash());
        let comparison = findings.comparison;
        ValidationReport {
            valid: !items.iter().any(|f| f.severity == Severity::Error),
            name: spec.name.clone(),
            version: spec.version.clone(),
            content_hash,
            findings: items,
            predecessor: comparison.as_ref().map(|c| c.predecessor.clone()),
            required_bump: comparison.as_ref().map(|c| c.required),
            actual_bump: comparison.as_ref().map(|c| c.actual),
            suggested_version: comparison.as_ref().and_then(|c| c.suggested.clone()),
            changes: comparison.map(|c| c.changes).unwrap_or_default(),
        }
    }
}

/// A report for a document that could not even be read as a definition: each read error
/// becomes a finding of rule `DEFINITION_SYNTAX` or `FIELD_UNKNOWN`.
pub fn report_for_unreadable(
    errors: &[nestor_model::DefinitionError],
    file: Option<&str>,
    doc_line: Option<u32>,
) -> ValidationReport {
    let findings = errors
        .iter()
        .map(|e| Finding {
            rule: if e.kind == nestor_model::DefinitionErrorKind::UnknownField {
                rule_ids::FIELD_UNKNOWN
            } else {
                rule_ids::DEFINITION_SYNTAX
            }
            .to_owned(),
            severity: Severity::Error,
            path: e.path.clone().unwrap_or_default(),
            message: e.message.clone(),
            file: file.map(str::to_owned),
            line: e.line.or(doc_line),
        })
        .collect();
    ValidationReport {
        valid: false,
        findings,
        ..Default::default()
    }
}
