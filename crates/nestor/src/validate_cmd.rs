//! `nestor validate <paths…>`: offline validation of definition files, for authors' own CI.

use std::{
    collections::HashMap,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use nestor_model::{Finding, Severity, SourceFormat, ValidationReport, parse_definitions};
use nestor_validation::{Context as RuleContext, Validator, report_for_unreadable};
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

/// Validates the files under `paths`; returns whether everything is valid.
pub fn run(
    paths: &[PathBuf],
    format: Format,
    validator: &Validator,
    engines: Option<&dyn nestor_engines::EngineRegistry>,
) -> anyhow::Result<bool> {
    let files = collect_files(paths)?;
    let mut reports = Vec::new();
    // name@version → (file, line, content hash): the same version defined twice must agree.
    let mut seen: HashMap<String, (String, u32, String)> = HashMap::new();
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
        for doc in parse_definitions(&text, format) {
            let mut report = match &doc.result {
                Err(errors) => report_for_unreadable(errors, Some(&display), Some(doc.line)),
                Ok(spec) => {
                    let ctx = RuleContext {
                        file: Some(&display),
                        line: Some(doc.line),
                        engines,
                    };
                    validator.validate(spec, &ctx)
                }
            };
            if let (Ok(spec), Some(hash)) = (&doc.result, &report.content_hash) {
                let id = spec.id();
                match seen.get(&id) {
                    Some((f, l, h)) if h != hash => report.findings.insert(
                        0,
                        finding("VERSION_DEFINED_TWICE", &display, Some(doc.line), format!(
                            "{id} is also defined at {f}:{l} with a different interface; a version can have only one"
                        )),
                    ),
                    Some(_) => {}
                    None => {
                        seen.insert(id, (display.clone(), doc.line, hash.clone()));
                    }
                }
                report.valid = !report
                    .findings
                    .iter()
                    .any(|f| f.severity == Severity::Error);
            }
            reports.push(DocumentReport {
                file: display.clone(),
                line: doc.line,
                report,
            });
        }
    }
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
    Ok(summary.invalid == 0)
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
        name: String::new(),
        version: String::new(),
        content_hash: None,
        findings: vec![f],
    }
}
