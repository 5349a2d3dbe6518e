//! `nestor validate <paths…>`: offline validation of definition files, for authors' own CI.

use std::{
    collections::HashMap,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use nestor_catalog::{Candidate, Catalog, Origin};
use nestor_model::{
    ComponentSpec, DefinitionError, Finding, Severity, SourceFormat, ValidationReport,
    parse_definitions,
};
use nestor_validation::{
    report_for_unreadable, report_with_unknown_fields,
    terraform::{
        DefinitionSite, LoadedModule, ModuleFile, ModuleRead, apply_module, is_module_file,
    },
};
use serde::Serialize;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `file:line: error[RULE] path: message` lines and a summary.
    Human,
    /// One JSON document with every report.
    Json,
}

#[derive(Serialize)]
struct DocumentReport {
    file: String,
    line: u32,
    #[serde(flatten)]
    report: ValidationReport,
}

#[derive(Serialize)]
struct Summary {
    files: usize,
    documents: usize,
    valid: usize,
    invalid: usize,
    reports: Vec<DocumentReport>,
}

fn is_definition_file(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            for entry in walkdir::WalkDir::new(p)
                .follow_links(false)
                .sort_by_file_name()
            {
                let entry = entry.with_context(|| format!("reading {}", p.display()))?;
                if entry.file_type().is_file() && is_definition_file(entry.path()) {
                    files.push(entry.into_path());
                }
            }
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            anyhow::bail!("{} does not exist", p.display());
        }
    }
    Ok(files)
}

/// Where definitions are checked.
pub enum Against<'a> {
    /// Offline, in process: the files form one batch, on top of the local catalog loaded from
    /// the given folder (`--catalog`), if any.
    Local(&'a Catalog, Option<&'a Path>),
    /// A running server's `POST /api/v1/validate`, one definition at a time, as the given
    /// source (or as an API publisher).
    Server(&'a nestor_client::Client, Option<&'a str>),
}

/// Validates the files under `paths`; returns whether everything is valid.
pub async fn run(paths: &[PathBuf], format: Format, against: Against<'_>) -> anyhow::Result<bool> {
    let files = collect_files(paths)?;
    let mut reports: Vec<DocumentReport> = Vec::new();
    let mut parsed: Vec<(ComponentSpec, String, u32)> = Vec::new();
    // The unknown-field errors of each parsed definition (empty for most): such a definition
    // is read without them and checked all the same, so that every finding shows at once.
    let mut unknown: Vec<Vec<DefinitionError>> = Vec::new();
    // Each YAML file's text and the first lines of its documents, to point findings at the
    // line of their field.
    let mut texts: HashMap<String, (String, Vec<u32>)> = HashMap::new();
    for file in &files {
        let display = file.display().to_string();
        let bytes = std::fs::read(file).with_context(|| format!("reading {display}"))?;
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let f = finding("FILE_UNREADABLE", &display, None, format!("not UTF-8: {e}"));
                reports.push(DocumentReport {
                    file: display.clone(),
                    line: 1,
                    report: unreadable(f),
                });
                continue;
            }
        };
        let format = if display.ends_with(".json") {
            SourceFormat::Json
        } else {
            SourceFormat::Yaml
        };
        let docs = parse_definitions(&text, format);
        if format == SourceFormat::Yaml {
            let starts = docs.iter().map(|d| d.line).collect();
            texts.insert(display.clone(), (text, starts));
        }
        for doc in docs {
            match (doc.result, doc.without_unknown_fields) {
                (Err(errors), Some(spec)) => {
                    parsed.push((spec, display.clone(), doc.line));
                    unknown.push(errors);
                }
                (Err(errors), None) => reports.push(DocumentReport {
                    file: display.clone(),
                    line: doc.line,
                    report: report_for_unreadable(&errors, Some(&display), Some(doc.line)),
                }),
                (Ok(spec), _) => {
                    parsed.push((spec, display.clone(), doc.line));
                    unknown.push(Vec::new());
                }
            }
        }
    }

    // Terraform components are checked against their module in the work tree (or take their
    // interface from it), as a sync checks them at the commit.
    let module_findings: Vec<Vec<Finding>> = parsed
        .iter_mut()
        .map(|(spec, file, line)| check_module_on_disk(spec, file, *line, &texts))
        .collect();

    let offline = matches!(against, Against::Local(_, None));
    let verdicts: Vec<ValidationReport> = match against {
        Against::Local(catalog, _) => {
            let candidates: Vec<Candidate<'_>> = parsed
                .iter()
                .zip(&unknown)
                .zip(&module_findings)
                .map(
                    |(((spec, file, line), unknown_fields), findings)| Candidate {
                        spec,
                        file: Some(file),
                        line: Some(*line),
                        unknown_fields,
                        findings,
                    },
                )
                .collect();
            catalog
                .validate_batch(&candidates, Some(&local_origin()))
                .await?
        }
        Against::Server(client, source) => {
            let mut out = Vec::with_capacity(parsed.len());
            for (((spec, file, line), unknown_fields), module_findings) in
                parsed.iter().zip(&unknown).zip(&module_findings)
            {
                let mut r = client.validate_as(spec, source).await.with_context(|| {
                    format!("validating {file}:{line} on {}", client.base_url())
                })?;
                for f in &mut r.findings {
                    f.file = Some(file.clone());
                    f.line.get_or_insert(*line);
                }
                if !module_findings.is_empty() {
                    let mut all = module_findings.clone();
                    all.append(&mut r.findings);
                    r.valid = r.valid && !all.iter().any(|f| f.severity == Severity::Error);
                    r.findings = all;
                }
                if !unknown_fields.is_empty() {
                    r = report_with_unknown_fields(unknown_fields, r, Some(file), Some(*line));
                }
                out.push(r);
            }
            out
        }
    };

    // name@version → (file, line, content hash): the same version defined twice must agree.
    let mut seen: HashMap<String, (String, u32, String)> = HashMap::new();
    for ((spec, file, line), mut report) in parsed.iter().zip(verdicts) {
        let (id, hash) = (spec.id(), spec.content_hash());
        match seen.get(&id) {
            Some((f, l, h)) if *h != hash => {
                report.findings.insert(
                    0,
                    finding("VERSION_DEFINED_TWICE", file, Some(*line), format!(
                        "{id} is also defined at {f}:{l} with a different interface; a version can have only one"
                    )),
                );
                report.valid = false;
            }
            Some(_) => {}
            None => {
                seen.insert(id, (file.to_string(), *line, hash));
            }
        }
        if let Some((text, starts)) = texts.get(file.as_str()) {
            locate_findings(&mut report, text, starts, *line);
        }
        reports.push(DocumentReport {
            file: file.to_string(),
            line: *line,
            report,
        });
    }
    reports.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    let invalid = reports.iter().filter(|r| !r.report.valid).count();
    let summary = Summary {
        files: files.len(),
        documents: reports.len(),
        valid: reports.len() - invalid,
        invalid,
        reports,
    };
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &summary)?;
            writeln!(out)?;
        }
        Format::Human => {
            for r in &summary.reports {
                for f in &r.report.findings {
                    let level = if f.severity == Severity::Error {
                        "error"
                    } else {
                        "warning"
                    };
                    let at = if f.path.is_empty() {
                        String::new()
                    } else {
                        format!(" {}:", f.path)
                    };
                    writeln!(
                        out,
                        "{}:{}: {level}[{}]{at} {}",
                        r.file,
                        f.line.unwrap_or(r.line),
                        f.rule,
                        f.message
                    )?;
                }
            }
            writeln!(
                out,
                "checked {} definition(s) in {} file(s): {} valid, {} invalid",
                summary.documents, summary.files, summary.valid, summary.invalid
            )?;
        }
    }
    // Offline without a catalog, a dependency on anything outside the files checked cannot be
    // found: say how to check it rather than leave the author guessing.
    let unresolved = summary
        .reports
        .iter()
        .filter(|r| {
            r.report
                .findings
                .iter()
                .any(|f| f.rule == "DEPENDENCY_NOT_FOUND")
        })
        .count();
    if offline && unresolved > 0 {
        eprintln!(
            "hint: {unresolved} definition(s) depend on components that are not among the files checked; \
             pass --catalog DIR (a folder with the catalog's definitions) or --server URL (a running Nestor) \
             to check dependencies against a catalog"
        );
    }
    Ok(summary.invalid == 0)
}

/// Points each finding that carries only its document's line (`line`) at the line of its field,
/// where the field is in the document (a missing field keeps the document's line).
fn locate_findings(report: &mut ValidationReport, text: &str, starts: &[u32], line: u32) {
    let end = starts.iter().copied().find(|&s| s > line);
    let lines: Vec<&str> = text
        .lines()
        .skip((line as usize).saturating_sub(1))
        .take(end.map_or(usize::MAX, |e| (e - line) as usize))
        .collect();
    for f in &mut report.findings {
        if f.line == Some(line)
            && !f.path.is_empty()
            && let Some(at) = nestor_model::locate_field(&lines, &f.path)
        {
            f.line = Some(line + at - 1);
        }
    }
}

/// The repository root above `file`: the nearest directory holding `.git`.
fn repository_root(file: &Path) -> Option<PathBuf> {
    let start = file.parent()?.canonicalize().ok()?;
    start
        .ancestors()
        .find(|dir| dir.join(".git").exists())
        .map(Path::to_path_buf)
}

/// Reads a module directory of the work tree as a git sync reads it at a commit: `*.tf` files
/// only, links not followed, sizes checked before reading, the same caps.
fn read_module_dir(dir: &Path) -> ModuleRead {
    let shown = dir.display();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return ModuleRead::Unreadable(format!("there is no directory `{shown}`"));
        }
        Err(e) => return ModuleRead::Unreadable(format!("reading `{shown}`: {e}")),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_module_file(n))
        .collect();
    names.sort();
    if names.len() > nestor_catalog::MAX_MODULE_FILES {
        return ModuleRead::Unreadable(format!(
            "`{shown}` has {} .tf files; at most {} are read per module",
            names.len(),
            nestor_catalog::MAX_MODULE_FILES
        ));
    }
    let mut total = 0u64;
    let files = names
        .into_iter()
        .map(|name| {
            let path = dir.join(&name);
            let content = match std::fs::symlink_metadata(&path) {
                Err(e) => Err(format!("cannot stat: {e}")),
                Ok(m) if m.file_type().is_symlink() => Err("symbolic link not followed".to_owned()),
                Ok(m) if !m.is_file() => Err("not a file".to_owned()),
                Ok(m) if m.len() > nestor_catalog::MAX_MODULE_FILE_BYTES => Err(format!(
                    "file is {} bytes; .tf files are read up to {}",
                    m.len(),
                    nestor_catalog::MAX_MODULE_FILE_BYTES
                )),
                Ok(m) if total + m.len() > nestor_catalog::MAX_MODULE_BYTES => Err(format!(
                    "the module's .tf files are over {} bytes together",
                    nestor_catalog::MAX_MODULE_BYTES
                )),
                Ok(m) => {
                    total += m.len();
                    std::fs::read(&path)
                        .map_err(|e| format!("cannot read: {e}"))
                        .and_then(|b| String::from_utf8(b).map_err(|e| format!("not UTF-8: {e}")))
                }
            };
            ModuleFile {
                path: path.display().to_string(),
                content,
            }
        })
        .collect();
    ModuleRead::Files(files)
}

/// The module check of one definition in the work tree (docs/validation.md, "Terraform
/// modules"): its `module_path` is resolved against the git checkout's root, else the module is
/// the definition file's directory.
fn check_module_on_disk(
    spec: &mut ComponentSpec,
    file: &str,
    line: u32,
    texts: &HashMap<String, (String, Vec<u32>)>,
) -> Vec<Finding> {
    if !spec.is_terraform() {
        return Vec::new();
    }
    let lines: Vec<&str> = texts
        .get(file)
        .map(|(text, starts)| {
            let end = starts.iter().copied().find(|&s| s > line);
            text.lines()
                .skip((line as usize).saturating_sub(1))
                .take(end.map_or(usize::MAX, |e| (e - line) as usize))
                .collect()
        })
        .unwrap_or_default();
    let site = DefinitionSite {
        file,
        line,
        lines: &lines,
    };
    let path = Path::new(file);
    let dir = match &spec.module_path {
        // MODULE_PATH_INVALID says what is wrong with it.
        Some(p) if nestor_model::module_path_problem(p).is_some() => return Vec::new(),
        Some(p) => match repository_root(path) {
            Some(root) => root.join(p.trim_start_matches("./")),
            None => {
                return vec![site.finding(
                    nestor_validation::module_rule_ids::MODULE_UNREADABLE,
                    "module_path".into(),
                    "module_path is relative to the repository's root: run `nestor validate` inside a git checkout".into(),
                )];
            }
        },
        None => path.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let shown = dir.display().to_string();
    let module = LoadedModule::load(&read_module_dir(if shown.is_empty() {
        Path::new(".")
    } else {
        &dir
    }));
    apply_module(spec, &module, &shown, &site)
}

/// The origin offline validation publishes as, both for `--catalog` and the files checked, so
/// that the files may add versions to the catalog's components.
pub fn local_origin() -> Origin {
    Origin::Source { id: "local".into() }
}

fn finding(rule: &str, file: &str, line: Option<u32>, message: String) -> Finding {
    Finding {
        rule: rule.into(),
        severity: Severity::Error,
        path: String::new(),
        message,
        file: Some(file.into()),
        line,
    }
}

fn unreadable(f: Finding) -> ValidationReport {
    ValidationReport {
        valid: false,
        findings: vec![f],
        ..Default::default()
    }
}
