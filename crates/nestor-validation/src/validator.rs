//! [`Validator`]: runs rules over a definition and turns their findings into a report.

use nestor_model::{ComponentSpec, Finding, Severity, ValidationReport};

use crate::{
    Context, DependenciesExist, Findings, NameOwnership, Rule, SemverGate, WellFormed, rule_ids,
};

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
    policy: crate::GatePolicy,
}

impl Validator {
    /// A validator with no rules.
    pub fn empty() -> Self {
        Validator {
            rules: Vec::new(),
            policy: crate::GatePolicy::default(),
        }
    }

    /// The well-formedness rules: syntax, required fields, types, defaults, uniqueness, limits.
    pub fn well_formed() -> Self {
        Self::empty().with_rule(WellFormed)
    }

    /// Every rule: well-formedness, then — when the context carries a catalog snapshot — the
    /// semver gate, dependency existence and name ownership.
    pub fn full() -> Self {
        Self::full_with(crate::GatePolicy::default())
    }

    /// [`Validator::full`] with the semver gate configured by `policy`.
    pub fn full_with(policy: crate::GatePolicy) -> Self {
        let mut v = Self::well_formed()
            .with_rule(SemverGate::new(policy.clone()))
            .with_rule(DependenciesExist)
            .with_rule(NameOwnership);
        v.policy = policy;
        v
    }

    /// The semver gate's policy (the default unless built by [`Validator::full_with`]): the
    /// classification the catalog shows (`/diff`) follows it too.
    pub fn policy(&self) -> &crate::GatePolicy {
        &self.policy
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

/// The report on a definition that has unknown fields but is otherwise readable: `errors` (its
/// unknown fields, from the parser) come first, then every finding of `rules_report`, the
/// verdict of the rules on the definition read without them. Never valid: a definition with an
/// unknown field is refused, but its author learns about every other problem in the same pass.
pub fn report_with_unknown_fields(
    errors: &[nestor_model::DefinitionError],
    rules_report: ValidationReport,
    file: Option<&str>,
    doc_line: Option<u32>,
) -> ValidationReport {
    let mut findings = report_for_unreadable(errors, file, doc_line).findings;
    findings.extend(rules_report.findings);
    // Errors first, as `Validator::validate` orders them; the sort is stable.
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    ValidationReport {
        valid: false,
        findings,
        ..rules_report
    }
}
