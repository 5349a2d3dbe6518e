//! Sources of definitions, and syncing one into the catalog.
//!
//! A [`DefinitionSource`] produces a [`SourceSnapshot`]: the definition files it holds right now
//! (and, for git, the commit they come from). [`Catalog::sync`] parses every document, publishes
//! the valid ones in version order, and returns a per-file report. Syncing the same snapshot
//! twice changes nothing the second time (identical publishes are no-ops), which is what makes
//! re-syncs and restarts safe.
//!
//! [`DirectorySource`] reads a plain folder (the quick start's example catalog). Git sources
//! implement the same trait.

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
};

use async_trait::async_trait;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use nestor_model::{
    ComponentSpec, Finding, InterfaceSource, PublishOutcome, Severity, SourceFormat,
    parse_definitions,
};
use nestor_validation::terraform::{DefinitionSite, LoadedModule, ModuleRead, apply_module};
use serde::Serialize;

use crate::{Candidate, Catalog, CatalogError, Origin};

/// Definition files larger than this are rejected (per file) without being parsed.
pub const MAX_DEFINITION_FILE_BYTES: u64 = 1024 * 1024;

/// One file of a source.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to the source root, with `/` separators.
    pub path: String,
    /// The text, or why it could not be read.
    pub content: Result<String, String>,
}

/// What a source holds at one point in time.
#[derive(Debug, Clone, Default)]
pub struct SourceSnapshot {
    /// Commit id for git sources; `None` for plain directories.
    pub revision: Option<String>,
    /// The repository URL for git sources, stamped on what they publish.
    pub repository: Option<String>,
    /// Only the files changed since an earlier revision (and files to retry) are included.
    pub incremental: bool,
    /// Matching definition files.
    pub files: Vec<SourceFile>,
}

/// Where definitions come from.
#[async_trait]
pub trait DefinitionSource: Send + Sync {
    /// The source id from the configuration.
    fn id(&self) -> &str;

    /// Reads the current definition files.
    async fn snapshot(&self) -> Result<SourceSnapshot, CatalogError>;

    /// Reads only the files that changed since `since` (a revision this source returned
    /// before), plus the `retry` paths; [`SourceSnapshot::incremental`] says whether it did.
    /// Sources without revisions (plain folders) read everything.
    async fn snapshot_since(
        &self,
        since: Option<&str>,
        retry: &[String],
    ) -> Result<SourceSnapshot, CatalogError> {
        let _ = (since, retry);
        self.snapshot().await
    }

    /// The revision a sync would read now (a git branch head, asked of the remote without
    /// fetching), or `None` for sources without revisions.
    async fn head(&self) -> Result<Option<String>, CatalogError> {
        Ok(None)
    }

    /// What this source is configured to read (for git sources: URL, branch and globs). A run
    /// after it changes reads everything, since files outside the old globs never were.
    fn fingerprint(&self) -> String {
        String::new()
    }

    /// The Terraform module directories `dirs` (repository-relative, `""` for the root) at
    /// `revision`: each one's `*.tf` files, read with the protections of definition files (no
    /// links followed, sizes checked before reading) and caps on their number and total size.
    /// `None` from a source that cannot read modules (a plain folder has no commits).
    async fn module_files(
        &self,
        revision: &str,
        dirs: &[String],
    ) -> Result<Option<HashMap<String, ModuleRead>>, CatalogError> {
        let _ = (revision, dirs);
        Ok(None)
    }
}

/// Where a sync is, reported as it goes (`nestor sync` prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncProgress {
    /// Fetching and reading the source.
    Reading,
    /// The files are read; parsing and validating them as one batch.
    Validating {
        /// Definition files read.
        files: usize,
        /// Whether only changed files were read.
        incremental: bool,
    },
    /// Publishing the valid versions, dependencies first.
    Publishing {
        /// Versions handled so far.
        done: usize,
        /// Versions to handle.
        total: usize,
    },
}

/// How [`Catalog::sync_with`] reads a source.
#[derive(Default, Clone, Copy)]
pub struct SyncOptions<'a> {
    /// Read only what changed since this revision (one the source returned before).
    pub since: Option<&'a str>,
    /// Paths to read again even when unchanged (those that failed last time).
    pub retry: &'a [String],
    /// Called as the sync goes.
    pub progress: Option<&'a (dyn Fn(SyncProgress) + Send + Sync)>,
    /// The sync run this sync is, recorded with every write it makes (`Actor::Sync::run`).
    pub run: Option<u64>,
}

/// Compiles a source's path globs (`/` is never matched by `*`).
pub(crate) fn build_globs(id: &str, patterns: &[String]) -> Result<GlobSet, CatalogError> {
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        let glob = GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .map_err(|e| CatalogError::InvalidParameter {
                parameter: "sources[].paths",
                message: format!("source {id}: {e}"),
            })?;
        builder.add(glob);
    }
    builder.build().map_err(|e| CatalogError::InvalidParameter {
        parameter: "sources[].paths",
        message: e.to_string(),
    })
}

/// A local folder that is not a git repository, re-read on every sync.
pub struct DirectorySource {
    id: String,
    root: PathBuf,
    globs: GlobSet,
}

impl DirectorySource {
    /// A source reading files under `root` whose relative path matches one of `patterns`
    /// (`**/*.yaml`, `components/**/*.yml`, …).
    pub fn new(
        id: impl Into<String>,
        root: impl Into<PathBuf>,
        patterns: &[String],
    ) -> Result<Self, CatalogError> {
        let id = id.into();
        let globs = build_globs(&id, patterns)?;
        Ok(DirectorySource {
            id,
            root: root.into(),
            globs,
        })
    }

    fn read(root: &Path, globs: &GlobSet) -> Result<Vec<SourceFile>, CatalogError> {
        if !root.is_dir() {
            return Err(CatalogError::InvalidParameter {
                parameter: "sources[].url",
                message: format!("{} is not a directory", root.display()),
            });
        }
        let mut files = Vec::new();
        // Links are not followed: a definition tree must not reach outside itself.
        for entry in walkdir::WalkDir::new(root)
            .follow_links(false)
            .sort_by_file_name()
        {
            let entry = entry.map_err(|e| CatalogError::InvalidParameter {
                parameter: "sources[].url",
                message: format!("cannot read {}: {e}", root.display()),
            })?;
            let Ok(rel) = entry.path().strip_prefix(root) else {
                continue;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            if rel.is_empty() || !globs.is_match(&rel) {
                continue;
            }
            let ft = entry.file_type();
            if ft.is_symlink() {
                files.push(SourceFile {
                    path: rel,
                    content: Err("symbolic link not followed".into()),
                });
                continue;
            }
            if !ft.is_file() {
                continue;
            }
            let content = match entry.metadata() {
                Ok(m) if m.len() > MAX_DEFINITION_FILE_BYTES => Err(format!(
                    "file is {} bytes; definition files are limited to {MAX_DEFINITION_FILE_BYTES}",
                    m.len()
                )),
                Ok(_) => std::fs::read(entry.path())
                    .map_err(|e| format!("cannot read: {e}"))
                    .and_then(|bytes| {
                        String::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))
                    }),
                Err(e) => Err(format!("cannot stat: {e}")),
            };
            files.push(SourceFile { path: rel, content });
        }
        Ok(files)
    }
}

#[async_trait]
impl DefinitionSource for DirectorySource {
    fn id(&self) -> &str {
        &self.id
    }

    async fn snapshot(&self) -> Result<SourceSnapshot, CatalogError> {
        let (root, globs) = (self.root.clone(), self.globs.clone());
        let files = tokio::task::spawn_blocking(move || Self::read(&root, &globs))
            .await
            .map_err(|e| CatalogError::InvalidParameter {
                parameter: "sources",
                message: format!("reader task failed: {e}"),
            })??;
        Ok(SourceSnapshot {
            revision: None,
            repository: None,
            incremental: false,
            files,
        })
    }
}

/// What happened to one document of a sync.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileOutcome {
    /// File path relative to the source root.
    pub path: String,
    /// Line the document starts on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// `name@version`, when the document could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// `created`, `updated`, `unchanged`, or `failed`.
    pub status: &'static str,
    /// Why it failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

/// The result of syncing one source.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncReport {
    /// Source id.
    pub source_id: String,
    /// Commit synced, for git sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Only files changed since the last synced commit were read.
    pub incremental: bool,
    /// Files read.
    pub files: usize,
    /// Versions newly published.
    pub created: usize,
    /// Versions whose descriptive fields changed.
    pub updated: usize,
    /// Versions already identical.
    pub unchanged: usize,
    /// Documents (or files) that failed.
    pub failed: usize,
    /// Per-document outcomes, failures first.
    pub outcomes: Vec<FileOutcome>,
}

/// Parses every file of `snapshot`: the definitions, stamped with their provenance, and the
/// outcomes of the files (or documents) that could not be read.
///
/// A document whose only problem is unknown fields is parsed without them, its unknown-field
/// errors kept beside it (same index in the second list; empty for every other document), so
/// that its other findings are reported in the same run.
fn parse_snapshot(snapshot: SourceSnapshot) -> ParsedSnapshot {
    let mut texts = HashMap::new();
    let mut parsed = Vec::new();
    let mut unknown = Vec::new();
    let mut unreadable = Vec::new();
    for file in &snapshot.files {
        let text = match &file.content {
            Ok(t) => t,
            Err(why) => {
                unreadable.push(failure(
                    &file.path,
                    None,
                    None,
                    vec![finding("FILE_UNREADABLE", &file.path, None, why.clone())],
                ));
                continue;
            }
        };
        let format = if file.path.ends_with(".json") {
            SourceFormat::Json
        } else {
            SourceFormat::Yaml
        };
        for doc in parse_definitions(text, format) {
            let (result, errors) = match (doc.result, doc.without_unknown_fields) {
                (Err(errors), Some(spec)) => (Ok(spec), errors),
                (result, _) => (result, Vec::new()),
            };
            match result {
                Err(errors) => {
                    let r = nestor_validation::report_for_unreadable(
                        &errors,
                        Some(&file.path),
                        Some(doc.line),
                    );
                    unreadable.push(failure(&file.path, Some(doc.line), None, r.findings));
                }
                Ok(mut spec) => {
                    // Provenance: where in which commit this version was read. Not part of the
                    // interface; a later commit with the same file changes nothing.
                    if let Some(commit) = &snapshot.revision {
                        spec.git_repository = snapshot.repository.clone();
                        spec.git_commit = Some(commit.clone());
                        spec.git_path = Some(file.path.clone());
                    }
                    parsed.push((spec, file.path.clone(), doc.line));
                    unknown.push(errors);
                }
            }
        }
    }
    // The texts of files with Terraform definitions, to locate fields in module findings.
    let wanted: BTreeSet<&str> = parsed
        .iter()
        .filter(|(spec, _, _)| spec.is_terraform())
        .map(|(_, path, _)| path.as_str())
        .collect();
    for file in snapshot.files {
        if wanted.contains(file.path.as_str())
            && let Ok(text) = file.content
        {
            texts.insert(file.path, text);
        }
    }
    (parsed, unknown, unreadable, texts)
}

/// [`parse_snapshot`]'s result: the readable definitions (file and line), the unknown-field
/// errors of each, the outcomes of the documents that could not be read, and the texts of the
/// files with Terraform definitions.
type ParsedSnapshot = (
    Vec<(ComponentSpec, String, u32)>,
    Vec<Vec<nestor_model::DefinitionError>>,
    Vec<FileOutcome>,
    HashMap<String, String>,
);

/// The lines of the YAML document that starts at `line` (1-based) of `text`, up to its end
/// marker: what [`DefinitionSite`] locates fields in.
fn document_lines(text: &str, line: u32) -> Vec<&str> {
    let marker = |l: &str| {
        l == "---"
            || l.starts_with("--- ")
            || l.starts_with("---\t")
            || l == "..."
            || l.starts_with("... ")
    };
    text.lines()
        .skip((line as usize).saturating_sub(1))
        .enumerate()
        .take_while(|(i, l)| *i == 0 || !marker(l))
        .map(|(_, l)| l)
        .collect()
}

/// The Terraform stage of a sync (docs/validation.md, "Terraform modules"): each definition
/// deployed with terraform or opentofu and synced from git is checked against its module at
/// the synced commit (its declared interface), or has its interface filled in from the module
/// (`interface: from_module`). Returns the definitions (derived interfaces filled in) and the
/// findings of each, in order.
async fn apply_modules(
    source: &dyn DefinitionSource,
    revision: Option<String>,
    parsed: Vec<(ComponentSpec, String, u32)>,
    texts: HashMap<String, String>,
) -> Result<(Vec<(ComponentSpec, String, u32)>, Vec<Vec<Finding>>), CatalogError> {
    let dirs: BTreeSet<String> = parsed
        .iter()
        .filter(|(spec, _, _)| spec.is_terraform())
        .filter_map(|(spec, _, _)| spec.module_dir())
        .collect();
    let reads = match &revision {
        Some(revision) if !dirs.is_empty() => {
            let dirs: Vec<String> = dirs.into_iter().collect();
            source.module_files(revision, &dirs).await?
        }
        _ => None,
    };
    // Parsing HCL is CPU work: off the async workers.
    let source_id = source.id().to_owned();
    tokio::task::spawn_blocking(move || {
        let modules: HashMap<&str, LoadedModule> = reads
            .iter()
            .flatten()
            .map(|(dir, read)| (dir.as_str(), LoadedModule::load(read)))
            .collect();
        let mut parsed = parsed;
        let findings = parsed
            .iter_mut()
            .map(|(spec, path, line)| {
                if !spec.is_terraform() {
                    return Vec::new();
                }
                let lines = texts
                    .get(path.as_str())
                    .map(|t| document_lines(t, *line))
                    .unwrap_or_default();
                let site = DefinitionSite {
                    file: path,
                    line: *line,
                    lines: &lines,
                };
                match spec.module_dir() {
                    Some(dir) => match modules.get(dir.as_str()) {
                        Some(module) => apply_module(spec, module, &dir, &site),
                        None if spec.interface == InterfaceSource::FromModule => {
                            vec![site.finding(
                                nestor_validation::rule_ids::MODULE_INTERFACE_UNAVAILABLE,
                                "interface".into(),
                                "`interface: from_module` needs the Terraform module, and this source cannot read modules".into(),
                            )]
                        }
                        None => Vec::new(),
                    },
                    // A module_path that is not a safe path: MODULE_PATH_INVALID says so.
                    None if spec.module_path.is_some() && spec.git_commit.is_some() => Vec::new(),
                    None if spec.interface == InterfaceSource::FromModule => vec![site.finding(
                        nestor_validation::rule_ids::MODULE_INTERFACE_UNAVAILABLE,
                        "interface".into(),
                        "`interface: from_module` derives the inputs and outputs from the Terraform module at the synced commit: it needs a git source, and this one is a plain folder".into(),
                    )],
                    None => Vec::new(),
                }
            })
            .collect();
        (parsed, findings)
    })
    .await
    .map_err(|e| CatalogError::Source {
        source_id,
        message: format!("checking the Terraform modules failed: {e}"),
    })
}

fn failure(
    path: &str,
    line: Option<u32>,
    component: Option<String>,
    findings: Vec<Finding>,
) -> FileOutcome {
    FileOutcome {
        path: path.to_owned(),
        line,
        component,
        status: "failed",
        findings,
    }
}

fn finding(rule: &str, path: &str, line: Option<u32>, message: String) -> Finding {
    Finding {
        rule: rule.into(),
        severity: Severity::Error,
        path: String::new(),
        message,
        file: Some(path.into()),
        line,
    }
}

fn with_file(mut findings: Vec<Finding>, path: &str, line: u32) -> Vec<Finding> {
    for f in &mut findings {
        f.file.get_or_insert_with(|| path.to_owned());
        f.line.get_or_insert(line);
    }
    findings
}

/// The order to publish valid batch members in: dependencies before their dependents (so that
/// processors never see a component before what it depends on), then by name and version.
fn publish_order(parsed: &[(ComponentSpec, String, u32)], valid: &[usize]) -> Vec<usize> {
    use std::collections::HashMap;
    let names: HashMap<&str, Vec<usize>> = valid.iter().fold(HashMap::new(), |mut m, &i| {
        m.entry(parsed[i].0.name.as_str()).or_default().push(i);
        m
    });
    // Depth = length of the longest chain of in-batch dependencies below a name; a cycle is cut
    // where it closes.
    fn depth<'a>(
        name: &'a str,
        parsed: &'a [(ComponentSpec, String, u32)],
        names: &HashMap<&'a str, Vec<usize>>,
        memo: &mut HashMap<&'a str, usize>,
        visiting: &mut Vec<&'a str>,
    ) -> usize {
        if let Some(d) = memo.get(name) {
            return *d;
        }
        if visiting.contains(&name) {
            return 0;
        }
        visiting.push(name);
        let mut d = 0;
        for &i in names.get(name).into_iter().flatten() {
            for dep in &parsed[i].0.dependencies {
                if dep.name != name && names.contains_key(dep.name.as_str()) {
                    d = d.max(1 + depth(&dep.name, parsed, names, memo, visiting));
                }
            }
        }
        visiting.pop();
        memo.insert(name, d);
        d
    }
    let mut memo = HashMap::new();
    let mut keyed: Vec<(usize, &str, semver::Version, usize)> = valid
        .iter()
        .map(|&i| {
            let spec = &parsed[i].0;
            let d = depth(&spec.name, parsed, &names, &mut memo, &mut Vec::new());
            let v =
                nestor_model::parse_version(&spec.version).unwrap_or(semver::Version::new(0, 0, 0));
            (d, spec.name.as_str(), v, i)
        })
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, _, _, i)| i).collect()
}

impl Catalog {
    /// Reads `source` and publishes every valid definition in it.
    pub async fn sync(&self, source: &dyn DefinitionSource) -> Result<SyncReport, CatalogError> {
        self.sync_with(source, SyncOptions::default()).await
    }

    /// Syncs `source` as `options` say: with [`SyncOptions::since`], only what changed since
    /// that revision plus the retried paths (see [`DefinitionSource::snapshot_since`]).
    #[tracing::instrument(skip_all, fields(source = source.id()))]
    pub async fn sync_with(
        &self,
        source: &dyn DefinitionSource,
        options: SyncOptions<'_>,
    ) -> Result<SyncReport, CatalogError> {
        let started = std::time::Instant::now();
        let progress = |p| {
            if let Some(f) = options.progress {
                f(p)
            }
        };
        progress(SyncProgress::Reading);
        let snapshot = source.snapshot_since(options.since, options.retry).await?;
        let origin = Origin::Source {
            id: source.id().to_owned(),
        };
        let mut report = SyncReport {
            source_id: source.id().to_owned(),
            revision: snapshot.revision.clone(),
            incremental: snapshot.incremental,
            files: snapshot.files.len(),
            ..Default::default()
        };
        tracing::info!(
            files = report.files,
            incremental = report.incremental,
            "sync started"
        );
        progress(SyncProgress::Validating {
            files: report.files,
            incremental: report.incremental,
        });

        // Parse everything, validate it as one batch (members may depend on each other's new
        // versions), then publish the valid members, dependencies first. Parsing is CPU work
        // (a hostile file can make it seconds): off the async workers, so that requests and
        // health probes are answered meanwhile.
        let source_id = source.id().to_owned();
        let (parsed, unknown, unreadable, texts) =
            tokio::task::spawn_blocking(move || parse_snapshot(snapshot))
                .await
                .map_err(|e| CatalogError::Source {
                    source_id,
                    message: format!("parsing the definitions failed: {e}"),
                })?;
        report.outcomes.extend(unreadable);
        let (parsed, module_findings) =
            apply_modules(source, report.revision.clone(), parsed, texts).await?;
        let candidates: Vec<Candidate<'_>> = parsed
            .iter()
            .zip(&unknown)
            .zip(&module_findings)
            .map(
                |(((spec, path, line), unknown_fields), findings)| Candidate {
                    spec,
                    file: Some(path),
                    line: Some(*line),
                    unknown_fields,
                    findings,
                },
            )
            .collect();
        let verdicts = self.validate_batch(&candidates, Some(&origin)).await?;
        let mut valid: Vec<usize> = Vec::new();
        for (i, verdict) in verdicts.into_iter().enumerate() {
            let (spec, path, line) = &parsed[i];
            if verdict.valid {
                valid.push(i);
            } else {
                report.outcomes.push(failure(
                    path,
                    Some(*line),
                    Some(spec.id()),
                    verdict.findings,
                ));
            }
        }
        let order = publish_order(&parsed, &valid);
        let pending: Vec<&ComponentSpec> = valid.iter().map(|&i| &parsed[i].0).collect();
        let total = order.len();
        for (done, i) in order.into_iter().enumerate() {
            if done % 500 == 0 {
                progress(SyncProgress::Publishing { done, total });
            }
            let (spec, path, line) = &parsed[i];
            let id = spec.id();
            let (path, line) = (path.clone(), *line);
            let writer = origin.actor(options.run, report.revision.clone());
            match self
                .publish_checked(spec.clone(), &origin, &pending, false, writer)
                .await
            {
                Ok(r) => {
                    let status = match r.outcome {
                        PublishOutcome::Created => "created",
                        PublishOutcome::Updated => "updated",
                        PublishOutcome::Unchanged => "unchanged",
                    };
                    tracing::debug!(file = %path, component = %id, status, "published");
                    report.outcomes.push(FileOutcome {
                        path,
                        line: Some(line),
                        component: Some(id),
                        status,
                        findings: r.warnings,
                    });
                }
                Err(CatalogError::Invalid(r)) => report.outcomes.push(failure(
                    &path,
                    Some(line),
                    Some(id),
                    with_file(r.findings, &path, line),
                )),
                Err(e) => {
                    let rule = match e.code() {
                        nestor_model::ErrorCode::VersionConflict => "VERSION_CONFLICT",
                        nestor_model::ErrorCode::NameConflict => "NAME_CONFLICT",
                        _ => "PUBLISH_FAILED",
                    };
                    let f = finding(rule, &path, Some(line), e.to_string());
                    report
                        .outcomes
                        .push(failure(&path, Some(line), Some(id), vec![f]));
                }
            }
        }
        for o in &report.outcomes {
            match o.status {
                "created" => report.created += 1,
                "updated" => report.updated += 1,
                "unchanged" => report.unchanged += 1,
                _ => report.failed += 1,
            }
        }
        progress(SyncProgress::Publishing { done: total, total });
        report.outcomes.sort_by_key(|o| o.status != "failed");
        tracing::info!(
            created = report.created,
            updated = report.updated,
            unchanged = report.unchanged,
            failed = report.failed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "sync finished"
        );
        for o in report.outcomes.iter().filter(|o| o.status == "failed") {
            for f in &o.findings {
                tracing::warn!(file = %o.path, line = f.line.or(o.line), rule = %f.rule, "{}", f.message);
            }
        }
        Ok(report)
    }
}
