//! Validation against the catalog: loading the state rules need, caching verdicts, and
//! validating batches whose members may depend on each other.

use std::sync::Arc;

use nestor_model::{ComponentSpec, Finding, Severity, ValidationReport, parse_version};
use nestor_validation::{CatalogSnapshot, Context, Validator};

use crate::{Catalog, CatalogError, Origin};

/// Verdicts kept in memory; a verdict is keyed by everything it depends on.
pub(crate) const VERDICT_CACHE_SIZE: u64 = 4096;

/// Everything a verdict depends on. Two equal keys always give the same verdict.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct VerdictKey {
    /// SHA-256 of the definition's JSON: the whole definition (descriptions too, which rules
    /// check), in 32 bytes that hash quickly. A cryptographic digest, so that no definition can
    /// be crafted to share another's verdict.
    definition: [u8; 32],
    catalog_fingerprint: u64,
    engines_generation: u64,
    origin: Option<String>,
    file: Option<String>,
    line: Option<u32>,
}

fn definition_digest(spec: &ComponentSpec) -> [u8; 32] {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    // Serializing a plain struct into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut hasher, spec);
    hasher.finalize().into()
}

/// A definition to validate, and where it came from.
pub struct Candidate<'a> {
    /// The definition.
    pub spec: &'a ComponentSpec,
    /// Source file, if any.
    pub file: Option<&'a str>,
    /// Line its document starts on.
    pub line: Option<u32>,
    /// The unknown fields of its document (`FIELD_UNKNOWN` errors from the parser), when `spec`
    /// was read without them: the candidate is then invalid whatever the rules say, and never
    /// counts as a batch member others may depend on, but the rules still run on it so that
    /// every finding is reported at once.
    pub unknown_fields: &'a [nestor_model::DefinitionError],
    /// Findings made before the rules ran, with their own positions: a git sync's check of the
    /// definition against its Terraform module (`MODULE_*`). An error among them makes the
    /// candidate invalid, like an unknown field; the rules still run.
    pub findings: &'a [Finding],
}

impl Candidate<'_> {
    /// Whether the candidate is invalid whatever the rules say.
    fn invalid_before_rules(&self) -> bool {
        !self.unknown_fields.is_empty()
            || self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// `report` with the findings made before the rules ran first (errors first overall).
fn with_findings(mut report: ValidationReport, findings: &[Finding]) -> ValidationReport {
    if findings.is_empty() {
        return report;
    }
    let mut all = findings.to_vec();
    all.append(&mut report.findings);
    all.sort_by_key(|f| std::cmp::Reverse(f.severity));
    report.valid = report.valid && !findings.iter().any(|f| f.severity == Severity::Error);
    report.findings = all;
    report
}

/// `interface: from_module` reads the Terraform module at the commit a git sync reads: a
/// definition published through the API has no module to read it from.
fn refuse_from_module_without_module(candidate: &Candidate<'_>, report: &mut ValidationReport) {
    if candidate.spec.interface == nestor_model::InterfaceSource::FromModule {
        report.findings.push(Finding {
            rule: nestor_validation::rule_ids::MODULE_INTERFACE_UNAVAILABLE.into(),
            severity: Severity::Error,
            path: "interface".into(),
            message: "`interface: from_module` derives the inputs and outputs from the Terraform module at the commit a git sync reads; a definition published through the API has no module: declare the interface (`interface: declared`), or publish it from a git source".into(),
            file: candidate.file.map(str::to_owned),
            line: candidate.line,
        });
        report.valid = false;
    }
}

/// Provenance (`git_repository`, `git_commit`, `git_path`) is what a sync stamps on the
/// versions it publishes: a definition sent through the API cannot claim it, or anyone could
/// make a version look as if it came from a reviewed repository.
fn refuse_claimed_provenance(candidate: &Candidate<'_>, report: &mut ValidationReport) {
    let spec = candidate.spec;
    let claimed = [
        ("git_repository", spec.git_repository.is_some()),
        ("git_commit", spec.git_commit.is_some()),
        ("git_path", spec.git_path.is_some()),
    ];
    for (field, set) in claimed {
        if set {
            report.findings.push(Finding {
                rule: "PROVENANCE_RESERVED".into(),
                severity: Severity::Error,
                path: field.into(),
                message: format!(
                    "`{field}` is set by a git sync and cannot be sent through the API; remove it"
                ),
                file: candidate.file.map(str::to_owned),
                line: candidate.line,
            });
            report.valid = false;
        }
    }
}

impl Catalog {
    /// Loads the catalog state that validating `specs` needs, plus `pending` (new versions of
    /// the same batch) as not-yet-published versions owned by `origin`.
    pub(crate) async fn snapshot_for(
        &self,
        specs: &[&ComponentSpec],
        pending: &[&ComponentSpec],
        origin: Option<&Origin>,
    ) -> Result<CatalogSnapshot, CatalogError> {
        // Only the names these definitions involve: their own and their dependencies'. Pending
        // versions of other names cannot change their verdicts, and loading every pending
        // version for every publish of a batch made a sync quadratic (2,000 files: 23 s).
        let mut names: Vec<&str> = specs
            .iter()
            .flat_map(|s| {
                std::iter::once(s.name.as_str())
                    .chain(s.dependencies.iter().map(|d| d.name.as_str()))
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        let mut snap = CatalogSnapshot::new();
        for &name in &names {
            if nestor_model::ComponentName::parse(name).is_err() {
                continue;
            }
            let versions = self.store.list_versions_shared(name).await?;
            if versions.value.is_empty() {
                continue;
            }
            let owner = self.store.name_owner(name).await?;
            // The ownership rule keeps names apart between publishers of different kinds (a
            // source, or the API). Among API publishers, who may write a name is its owners
            // list's business, checked before any write (`Catalog::check_api_owner`).
            let owner = match (owner, origin) {
                (Some(o), Some(api @ Origin::Api { .. })) if o.starts_with("api:") => {
                    Some(api.owner())
                }
                (o, _) => o,
            };
            snap.set_owner(name, owner);
            for c in versions.value {
                snap.add_shared(c);
            }
        }
        let owner = origin.map(Origin::owner).unwrap_or_default();
        for p in pending {
            if names.binary_search(&p.name.as_str()).is_ok() {
                snap.add_pending(p, &owner);
            }
        }
        Ok(snap)
    }

    /// Validates one definition against `snapshot`, using the verdict cache.
    pub(crate) fn validate_in(
        &self,
        candidate: &Candidate<'_>,
        snapshot: &CatalogSnapshot,
        origin: Option<&Origin>,
    ) -> ValidationReport {
        let spec = candidate.spec;
        let origin_owner = origin.map(Origin::owner);
        let key = VerdictKey {
            definition: definition_digest(spec),
            catalog_fingerprint: snapshot.fingerprint_for(spec),
            engines_generation: self.engines.as_ref().map_or(0, |e| e.generation()),
            origin: origin_owner.clone(),
            file: candidate.file.map(str::to_owned),
            line: candidate.line,
        };
        if let Some(report) = self.verdicts.get(&key) {
            return (*report).clone();
        }
        let base = Context {
            file: candidate.file,
            line: candidate.line,
            engines: self.engines.as_deref(),
            ..Default::default()
        };
        let mut report = match parse_version(&spec.version)
            .ok()
            .and_then(|v| snapshot.published(&spec.name, &v).cloned())
        {
            // The version exists with this interface: publishing it again is a no-op or a
            // descriptive update, judged on well-formedness (and ownership) alone, so that a
            // re-sync of an unchanged file never fails because the world moved on.
            Some(existing) if existing.content_hash() == spec.content_hash() => {
                let ctx = Context {
                    catalog: Some(snapshot),
                    origin: origin_owner.as_deref(),
                    ..base
                };
                let mut report = Validator::well_formed()
                    .with_rule(nestor_validation::NameOwnership)
                    .validate(spec, &ctx);
                report.predecessor = None;
                report
            }
            Some(existing) => {
                let mut report = self.validator.validate(spec, &base);
                let changes = self.validator.policy().classify(existing.spec(), spec);
                report.findings.insert(
                    0,
                    Finding {
                        rule: "VERSION_CONFLICT".into(),
                        severity: Severity::Error,
                        path: "version".into(),
                        message: format!(
                            "{} is already published with a different interface ({} change(s)); versions are immutable: publish a new version",
                            spec.id(),
                            changes.iter().filter(|c| c.bump > nestor_model::Bump::Patch).count()
                        ),
                        file: candidate.file.map(str::to_owned),
                        line: candidate.line,
                    },
                );
                report.valid = false;
                report.changes = changes;
                report
            }
            None => {
                let ctx = Context {
                    catalog: Some(snapshot),
                    origin: origin_owner.as_deref(),
                    ..base
                };
                self.validator.validate(spec, &ctx)
            }
        };
        if matches!(origin, Some(Origin::Api { .. })) {
            refuse_claimed_provenance(candidate, &mut report);
            refuse_from_module_without_module(candidate, &mut report);
        }
        self.verdicts.insert(key, Arc::new(report.clone()));
        report
    }

    /// Dry-run validation of one definition against the current catalog.
    pub async fn validate(
        &self,
        spec: &ComponentSpec,
        origin: Option<&Origin>,
        file: Option<&str>,
        line: Option<u32>,
    ) -> Result<ValidationReport, CatalogError> {
        let snapshot = self.snapshot_for(&[spec], &[], origin).await?;
        let candidate = Candidate {
            spec,
            file,
            line,
            unknown_fields: &[],
            findings: &[],
        };
        let report = self.validate_in(&candidate, &snapshot, origin);
        crate::metrics::findings(&[&report]);
        Ok(report)
    }

    /// Validates a batch whose members may depend on each other's new versions: each member is
    /// checked against the catalog plus every other member still considered valid, until no
    /// further member fails. Returns one report per candidate, in order.
    pub async fn validate_batch(
        &self,
        candidates: &[Candidate<'_>],
        origin: Option<&Origin>,
    ) -> Result<Vec<ValidationReport>, CatalogError> {
        let specs: Vec<&ComponentSpec> = candidates.iter().map(|c| c.spec).collect();
        // A document with unknown fields (or a module it drifted from) is invalid from the
        // start: no other member may count on it.
        let mut alive: Vec<bool> = candidates
            .iter()
            .map(|c| !c.invalid_before_rules())
            .collect();
        // Each round removes at least one member or stops, so it ends.
        for _ in 0..=candidates.len() {
            let pending: Vec<&ComponentSpec> = specs
                .iter()
                .zip(&alive)
                .filter(|(_, a)| **a)
                .map(|(s, _)| *s)
                .collect();
            let snapshot = self.snapshot_for(&specs, &pending, origin).await?;
            let reports: Vec<ValidationReport> = candidates
                .iter()
                .map(|c| {
                    let report = with_findings(self.validate_in(c, &snapshot, origin), c.findings);
                    if c.unknown_fields.is_empty() {
                        report
                    } else {
                        nestor_validation::report_with_unknown_fields(
                            c.unknown_fields,
                            report,
                            c.file,
                            c.line,
                        )
                    }
                })
                .collect();
            let mut changed = false;
            for (i, r) in reports.iter().enumerate() {
                if alive[i] && !r.valid {
                    alive[i] = false;
                    changed = true;
                }
            }
            if !changed {
                crate::metrics::findings(&reports.iter().collect::<Vec<_>>());
                return Ok(reports);
            }
        }
        Err(CatalogError::InvalidParameter {
            parameter: "batch",
            message: "validation did not settle".into(),
        })
    }
}
