//! Parsing definition files (YAML, several documents per file) and publish bodies (JSON).
//!
//! Two things matter to authors here: every problem is reported with the line it is on, and an
//! unknown field (a typo such as `defualt:`) is an error that names the field, never silently
//! ignored. YAML documents are split on their `---` markers before parsing so that each document
//! knows its own first line; a marker at column 0 always ends a document in YAML, so the split is
//! exact. Alias expansion ("billion laughs") and nesting are bounded by `serde_yaml` itself.

use crate::ComponentSpec;

/// The syntax of a definition source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// YAML, possibly several documents separated by `---`.
    Yaml,
    /// A single JSON object.
    Json,
}

/// A problem that prevents a document from being read as a definition at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct DefinitionError {
    /// Field path (`required_inputs[0].defualt`) when the problem is tied to a field.
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
    /// 1-based line in the source, when known.
    pub line: Option<u32>,
    /// 1-based column in the source, when known.
    pub column: Option<u32>,
    /// What kind of problem it is.
    pub kind: DefinitionErrorKind,
}

/// The kind of a [`DefinitionError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefinitionErrorKind {
    /// Not well-formed YAML or JSON at all.
    Syntax,
    /// Well-formed, but not the shape of a definition (wrong type, missing field).
    Schema,
    /// A field the definition format does not have.
    UnknownField,
}

/// One document of a definition source.
#[derive(Debug, Clone)]
pub struct DefinitionDocument {
    /// 0-based index of the document in its source.
    pub index: usize,
    /// 1-based line where the document's content starts.
    pub line: u32,
    /// The definition, or every problem that prevented reading it.
    pub result: Result<ComponentSpec, Vec<DefinitionError>>,
    /// When unknown fields are the document's only problem (`result` holds nothing but
    /// [`DefinitionErrorKind::UnknownField`] errors): the definition read without them. It is
    /// invalid and must never be published, but the validation rules can still run on it, so
    /// that a typo does not hide every other finding.
    pub without_unknown_fields: Option<ComponentSpec>,
}

impl DefinitionDocument {
    /// The definition to run the validation rules on: the one read, or the one read without
    /// its unknown fields. `None` when the document cannot be read as a definition at all.
    pub fn checkable(&self) -> Option<&ComponentSpec> {
        self.result
            .as_ref()
            .ok()
            .or(self.without_unknown_fields.as_ref())
    }
}

/// Parses every definition in `text`. Empty documents (only blanks and comments) are skipped.
///
/// ```
/// use nestor_model::{parse_definitions, SourceFormat};
/// let docs = parse_definitions("name: a\nversion: 1.0.0\n---\nname: b\nversion: 2.0.0\nbogus: 1\n", SourceFormat::Yaml);
/// assert_eq!(docs.len(), 2);
/// assert_eq!(docs[1].line, 4);
/// let errs = docs[1].result.as_ref().unwrap_err();
/// assert_eq!(errs[0].path.as_deref(), Some("bogus"));
/// assert_eq!(errs[0].line, Some(6));
/// ```
pub fn parse_definitions(text: &str, format: SourceFormat) -> Vec<DefinitionDocument> {
    match format {
        SourceFormat::Json => vec![parse_definition_json_document(text.as_bytes())],
        SourceFormat::Yaml => split_yaml_documents(text)
            .into_iter()
            .enumerate()
            .map(|(index, (line, chunk))| {
                let (result, without_unknown_fields) = split(parse_yaml_document(&chunk, line - 1));
                DefinitionDocument {
                    index,
                    line,
                    result,
                    without_unknown_fields,
                }
            })
            .collect(),
    }
}

/// What a parser produced: a definition, a definition with unknown fields (both it and their
/// errors), or only errors.
type Parsed = Result<ComponentSpec, (Vec<DefinitionError>, Option<Box<ComponentSpec>>)>;

fn split(
    parsed: Parsed,
) -> (
    Result<ComponentSpec, Vec<DefinitionError>>,
    Option<ComponentSpec>,
) {
    match parsed {
        Ok(spec) => (Ok(spec), None),
        Err((errors, spec)) => (Err(errors), spec.map(|s| *s)),
    }
}

/// Parses one JSON definition (the body of a publish or validate request).
pub fn parse_definition_json(bytes: &[u8]) -> Result<ComponentSpec, Vec<DefinitionError>> {
    parse_definition_json_document(bytes).result
}

/// Parses one JSON definition as a document (line 1), keeping the definition read without its
/// unknown fields when those are its only problem (see
/// [`DefinitionDocument::without_unknown_fields`]).
pub fn parse_definition_json_document(bytes: &[u8]) -> DefinitionDocument {
    let (result, without_unknown_fields) = split(read_json(bytes));
    DefinitionDocument {
        index: 0,
        line: 1,
        result,
        without_unknown_fields,
    }
}

fn read_json(bytes: &[u8]) -> Parsed {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut unknown = Vec::new();
    let parsed: Result<ComponentSpec, _> =
        serde_ignored::deserialize(&mut de, |path| unknown.push(format_path(&path)));
    let parsed = parsed.and_then(|spec| de.end().map(|()| spec));
    match parsed {
        Err(e) => Err((
            vec![DefinitionError {
                path: None,
                message: e.to_string(),
                line: u32::try_from(e.line()).ok().filter(|l| *l > 0),
                column: u32::try_from(e.column()).ok().filter(|c| *c > 0),
                kind: if e.is_data() {
                    DefinitionErrorKind::Schema
                } else {
                    DefinitionErrorKind::Syntax
                },
            }],
            None,
        )),
        Ok(spec) if !unknown.is_empty() => Err((
            unknown_field_errors(unknown, |_| None),
            Some(Box::new(spec)),
        )),
        Ok(spec) => Ok(spec),
    }
}

/// At most this many flow-collection openers (`[`, `{`) per YAML document. libyaml's scanner is
/// quadratic in flow nesting depth (depth 1,000 costs ~4 ms, 8,000 ~150 ms, a 1 MiB body of `[`
/// minutes), so the parser never sees more. Counted anywhere in the text, quoted or not:
/// over-counting is the safe direction, and real definitions stay far below it.
pub const MAX_FLOW_COLLECTIONS: usize = 1024;

fn check_flow_collections(chunk: &str, line_offset: u32) -> Result<(), DefinitionError> {
    let mut count = 0usize;
    for (i, line) in chunk.lines().enumerate() {
        count += line.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
        if count > MAX_FLOW_COLLECTIONS {
            return Err(DefinitionError {
                path: None,
                message: format!(
                    "too many flow collections ('[' and '{{'): more than {MAX_FLOW_COLLECTIONS} in one document"
                ),
                line: Some(i as u32 + 1 + line_offset),
                column: None,
                kind: DefinitionErrorKind::Syntax,
            });
        }
    }
    Ok(())
}

fn parse_yaml_document(chunk: &str, line_offset: u32) -> Parsed {
    check_flow_collections(chunk, line_offset).map_err(|e| (vec![e], None))?;
    if let Some(spec) = parse_yaml_fast(chunk) {
        return Ok(spec);
    }
    let de = serde_yaml::Deserializer::from_str(chunk);
    let mut unknown = Vec::new();
    let parsed: Result<ComponentSpec, serde_yaml::Error> =
        serde_ignored::deserialize(de, |path| unknown.push(format_path(&path)));
    match parsed {
        Err(e) => {
            let loc = e.location();
            // serde_yaml repeats the location in its message; keep the message alone since the
            // line is reported in its own field.
            let message = e.to_string();
            let message = message
                .split_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m)
                .to_owned();
            // Telling syntax from shape needs a second, schema-free parse; only on this error path.
            // `IgnoredAny` takes every scalar, so that a number too large for a JSON value (an
            // integer beyond 64 bits) is a finding on its field, not a body that is not YAML.
            let kind = if serde_yaml::from_str::<serde::de::IgnoredAny>(chunk).is_ok() {
                DefinitionErrorKind::Schema
            } else {
                DefinitionErrorKind::Syntax
            };
            Err((
                vec![DefinitionError {
                    path: None,
                    message,
                    line: loc.as_ref().map(|l| l.line() as u32 + line_offset),
                    column: loc.as_ref().map(|l| l.column() as u32),
                    kind,
                }],
                None,
            ))
        }
        Ok(spec) if !unknown.is_empty() => {
            let lines: Vec<&str> = chunk.lines().collect();
            let errors = unknown_field_errors(unknown, |path| {
                find_key_line(&lines, path).map(|l| l + line_offset)
            });
            Err((errors, Some(Box::new(spec))))
        }
        Ok(spec) => Ok(spec),
    }
}

/// The fast path: a document in the plain YAML subset that deserializes cleanly, with no
/// unknown field. Anything else — including every error — goes through serde_yaml, which has the
/// line numbers and messages.
fn parse_yaml_fast(chunk: &str) -> Option<ComponentSpec> {
    let value = crate::fast_yaml::parse(chunk)?;
    let mut clean = true;
    let spec = serde_ignored::deserialize(value, |_| clean = false).ok()?;
    clean.then_some(spec)
}

/// Most unknown fields reported one by one per document; the rest are counted in one more
/// error. A hostile document with 30,000 unknown keys made a 4 MB report (and locating each key
/// cost a scan of the document: 13 s); a person fixes the first ones and runs again.
pub const MAX_UNKNOWN_FIELD_ERRORS: usize = 100;

fn unknown_field_errors(
    paths: Vec<String>,
    line_of: impl Fn(&str) -> Option<u32>,
) -> Vec<DefinitionError> {
    let more = paths.len().saturating_sub(MAX_UNKNOWN_FIELD_ERRORS);
    let mut errors: Vec<DefinitionError> = paths
        .into_iter()
        .take(MAX_UNKNOWN_FIELD_ERRORS)
        .map(|path| {
            let field = path.rsplit('.').next().unwrap_or(&path).to_owned();
            let hint = suggest(&field)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            DefinitionError {
                line: line_of(&path),
                message: format!("unknown field `{field}`{hint}"),
                path: Some(path),
                column: None,
                kind: DefinitionErrorKind::UnknownField,
            }
        })
        .collect();
    if more > 0 {
        errors.push(DefinitionError {
            path: None,
            message: format!(
                "{more} more unknown field(s) not listed (the first {MAX_UNKNOWN_FIELD_ERRORS} are)"
            ),
            line: None,
            column: None,
            kind: DefinitionErrorKind::UnknownField,
        });
    }
    errors
}

/// Field names inside a definition's values (inputs, dependencies, limits, acknowledgements),
/// known besides the top-level ones ([`ComponentSpec::FIELDS`]).
const NESTED_FIELDS: &[&str] = &[
    "type",
    "default",
    "allowed_values",
    "version_req",
    "cpu",
    "memory",
    "rule",
    "path",
    "reason",
];

/// The known field closest to `field` by edit distance, if it is close enough to be a typo.
fn suggest(field: &str) -> Option<&'static str> {
    crate::ComponentSpec::FIELDS
        .iter()
        .chain(NESTED_FIELDS)
        .map(|k| (edit_distance(field, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Best-effort line of the key that ends `path`: the first line, in order, that holds each key
/// of the path as a mapping key. Sequence indexes are skipped; good enough to point an author at
/// a typo.
fn find_key_line(lines: &[&str], path: &str) -> Option<u32> {
    let keys = path
        .split(['.', '['])
        .filter(|k| !k.ends_with(']') && !k.is_empty());
    let mut from = 0usize;
    let mut found = None;
    for key in keys {
        let pos = lines.iter().skip(from).position(|l| {
            let t = l.trim_start().trim_start_matches("- ");
            t.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })?;
        from += pos;
        found = Some(from as u32 + 1);
        from += 1;
    }
    found
}

/// Best-effort line of the field at `path` (`optional_inputs[1].default`, as findings name
/// fields) in a YAML document given as its lines: 1-based, relative to the first line given.
/// Follows block mappings and block sequences by indentation (`[1]` is the second `-` item);
/// a value written in flow style (`[a, b]`, `{k: v}`) is located at its key. `None` when the
/// path is not there (a missing field) or the text is not plain block YAML; callers then fall
/// back to the document's line. Linear in the document's length.
///
/// ```
/// let doc = "name: a\noptional_inputs:\n  - name: x\n    type: string\n  - name: y\n    default: 3\n";
/// let lines: Vec<&str> = doc.lines().collect();
/// assert_eq!(nestor_model::locate_field(&lines, "optional_inputs[1].default"), Some(6));
/// assert_eq!(nestor_model::locate_field(&lines, "optional_inputs[0]"), Some(3));
/// assert_eq!(nestor_model::locate_field(&lines, "description"), None);
/// assert_eq!(nestor_model::locate_field(&lines, "default"), None); // not a top-level key
/// ```
pub fn locate_field(lines: &[&str], path: &str) -> Option<u32> {
    // The lines [from, to) hold the value being searched; `at` is the line found so far.
    let (mut from, mut to) = (0usize, lines.len());
    let mut at = None;
    for segment in path.split('.') {
        let (key, indexes) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !key.is_empty() {
            // Keys of this mapping start where its first key does: deeper ones are not its own.
            let own = (from..to).find_map(|i| content_column(lines[i]))?;
            let (line, column) = (from..to)
                .find_map(|i| key_at(lines[i], key).filter(|c| *c == own).map(|c| (i, c)))?;
            at = Some(line);
            // The value: the following lines indented deeper than the key, or a block
            // sequence at the key's own indentation.
            let end = (line + 1..to)
                .find(|&i| {
                    let l = lines[i];
                    let t = l.trim_start();
                    let indent = l.len() - t.len();
                    !(t.is_empty() || t.starts_with('#'))
                        && (indent < column || (indent == column && !t.starts_with('-')))
                })
                .unwrap_or(to);
            (from, to) = (line + 1, end);
        }
        for index in indexes.split_terminator(']') {
            let n: usize = index.trim_start_matches('[').parse().ok()?;
            let Some(first) = (from..to).find(|&i| lines[i].trim_start().starts_with('-')) else {
                // A flow sequence on the key's line.
                return at.map(|l| l as u32 + 1);
            };
            let column = lines[first].len() - lines[first].trim_start().len();
            let items: Vec<usize> = (first..to)
                .filter(|&i| {
                    let l = lines[i];
                    let t = l.trim_start();
                    l.len() - t.len() == column && t.starts_with('-')
                })
                .collect();
            let item = *items.get(n)?;
            let end = items.get(n + 1).copied().unwrap_or(to);
            at = Some(item);
            (from, to) = (item, end);
        }
    }
    at.map(|l| l as u32 + 1)
}

/// Where the content of `line` starts, after indentation and any `- ` item markers; `None` for
/// blank lines and comments.
fn content_column(line: &str) -> Option<usize> {
    let rest = item_content(line);
    (!rest.is_empty() && !rest.starts_with('#')).then(|| line.len() - rest.len())
}

fn item_content(line: &str) -> &str {
    let mut rest = line.trim_start();
    while let Some(r) = rest
        .strip_prefix('-')
        .filter(|r| r.starts_with([' ', '\t']))
    {
        rest = r.trim_start();
    }
    rest
}

/// The column of `key` when `line` holds it as a mapping key (after any `- ` item markers).
fn key_at(line: &str, key: &str) -> Option<usize> {
    let rest = item_content(line);
    let after = rest.strip_prefix(key)?;
    after
        .trim_start()
        .starts_with(':')
        .then(|| line.len() - rest.len())
}

/// Renders a `serde_ignored` path as `a.b[0].c`.
fn format_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", format_path(parent)),
        Path::Map { parent, key } => {
            let p = format_path(parent);
            if p.is_empty() {
                key.clone()
            } else {
                format!("{p}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => format_path(parent),
    }
}

/// Splits a YAML stream at its document markers; returns each non-empty document with the 1-based
/// line its text starts on. Lines are kept (markers blanked) so that error lines stay exact.
fn split_yaml_documents(text: &str) -> Vec<(u32, String)> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start = 1u32;
    let mut has_content = false;
    for (i, line) in text.lines().enumerate() {
        let lineno = i as u32 + 1;
        let is_start = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        let is_end = line == "..." || line.starts_with("... ");
        if is_start || is_end {
            if has_content {
                docs.push((start, std::mem::take(&mut current)));
            }
            current.clear();
            has_content = false;
            start = lineno + 1;
            if is_start
                && line.len() > 3
                && !line[3..].trim().is_empty()
                && !line[3..].trim_start().starts_with('#')
            {
                // Content after the marker (`--- name: x`) belongs to the new document.
                start = lineno;
                current.push_str("   ");
                current.push_str(&line[3..]);
                current.push('\n');
                has_content = true;
            }
            continue;
        }
        let trimmed = line.trim();
        if !has_content && (trimmed.is_empty() || trimmed.starts_with('#')) {
            // Leading blanks and comments: keep the line count, move the start forward.
            if current.is_empty() {
                start = lineno + 1;
                continue;
            }
        }
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            has_content = true;
        }
        current.push_str(line);
        current.push('\n');
    }
    if has_content {
        docs.push((start, current));
    }
    docs
}

#[cfg(test)]
mod cap_tests {
    use super::*;

    #[test]
    fn thousands_of_unknown_fields_are_reported_as_the_first_hundred_and_a_count() {
        let mut text = String::from(
            "name: a\nversion: 1.0.0\ndescription: d\nprovider: aws\ncategory: c\n\
             resource_type: r\ndeployment_engines: [t]\n",
        );
        for i in 0..30_000 {
            text.push_str(&format!("unknown_{i}: x\n"));
        }
        let docs = parse_definitions(&text, SourceFormat::Yaml);
        let errors = docs[0].result.as_ref().unwrap_err();
        assert_eq!(errors.len(), MAX_UNKNOWN_FIELD_ERRORS + 1);
        assert_eq!(errors[0].path.as_deref(), Some("unknown_0"));
        assert_eq!(errors[0].line, Some(8));
        assert!(
            errors[MAX_UNKNOWN_FIELD_ERRORS]
                .message
                .starts_with("29900 more unknown field(s)")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VPC: &str = "name: aws-vpc\nversion: 1.0.0\ndescription: VPC\nprovider: aws\ncategory: network\nresource_type: aws_vpc\ndeployment_engines: [terraform]\n";

    #[test]
    fn multi_document_lines() {
        let text =
            format!("# header comment\n\n---\n{VPC}---\n\n# only a comment\n---\n{VPC}...\n");
        let docs = parse_definitions(&text, SourceFormat::Yaml);
        assert_eq!(docs.len(), 2, "{docs:?}");
        assert_eq!(docs[0].line, 4);
        assert_eq!(docs[1].line, 15);
        assert!(docs.iter().all(|d| d.result.is_ok()));
    }

    #[test]
    fn syntax_error_has_absolute_line() {
        let text = format!("{VPC}---\nname: b\nversion: [1\n");
        let docs = parse_definitions(&text, SourceFormat::Yaml);
        let err = &docs[1].result.as_ref().unwrap_err()[0];
        assert!(err.line.unwrap() >= 10, "{err:?}");
        assert_eq!(err.kind, DefinitionErrorKind::Syntax);
    }

    #[test]
    fn every_unknown_field_is_reported_with_path_line_and_hint() {
        let text = format!(
            "{VPC}optional_inputs:\n  - name: cidr\n    type: string\n    defualt: x\ncolour: red\n"
        );
        let docs = parse_definitions(&text, SourceFormat::Yaml);
        let errs = docs[0].result.as_ref().unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(errs[0].path.as_deref(), Some("optional_inputs[0].defualt"));
        assert_eq!(errs[0].line, Some(11));
        assert!(
            errs[0].message.contains("did you mean `default`"),
            "{}",
            errs[0].message
        );
        assert_eq!(errs[1].path.as_deref(), Some("colour"));
        assert_eq!(errs[1].line, Some(12));
    }

    #[test]
    fn wrong_types_and_missing_fields() {
        // A YAML number where a string is expected is read as its text; the version rule then
        // rejects "1.0" with a precise message.
        let docs = parse_definitions("name: a\nversion: 1.0\n", SourceFormat::Yaml);
        assert_eq!(docs[0].result.as_ref().unwrap().version, "1.0");
        let docs = parse_definitions(
            "name: a\nversion: 1.0.0\ndeployment_engines: terraform\n",
            SourceFormat::Yaml,
        );
        let err = &docs[0].result.as_ref().unwrap_err()[0];
        assert!(err.message.contains("invalid type"), "{err}");
        assert_eq!(err.line, Some(3));
        assert_eq!(err.kind, DefinitionErrorKind::Schema);
        let docs = parse_definitions("version: 1.0.0\n", SourceFormat::Yaml);
        assert!(
            docs[0].result.as_ref().unwrap_err()[0]
                .message
                .contains("missing field `name`")
        );
        let docs = parse_definitions("- a\n- b\n", SourceFormat::Yaml);
        assert!(docs[0].result.is_err());
        let docs = parse_definitions(
            "name: a\nversion: 1.0.0\noutputs:\n  - name: x\n    type: strng\n",
            SourceFormat::Yaml,
        );
        assert!(
            docs[0].result.as_ref().unwrap_err()[0]
                .message
                .contains("unknown type")
        );
    }

    #[test]
    fn alias_bomb_is_an_error_not_a_hang() {
        let mut text = String::from(
            "name: a\nversion: 1.0.0\nlabels:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
        );
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!("  a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let docs = parse_definitions(&text, SourceFormat::Yaml);
        assert!(docs[0].result.is_err());
    }

    #[test]
    fn deep_nesting_is_a_quick_error() {
        let started = std::time::Instant::now();
        let deep = format!(
            "name: a\nversion: 1.0.0\nlabels: {}{}\n",
            "[".repeat(500_000),
            "]".repeat(500_000)
        );
        let docs = parse_definitions(&deep, SourceFormat::Yaml);
        let err = &docs[0].result.as_ref().unwrap_err()[0];
        assert!(err.message.contains("too many flow collections"), "{err}");
        assert_eq!((err.line, err.kind), (Some(3), DefinitionErrorKind::Syntax));
        // Below the limit, nesting is bounded by the parser's own recursion limit.
        let nested = format!(
            "name: a\nversion: 1.0.0\nlabels: {}{}\n",
            "[".repeat(1000),
            "]".repeat(1000)
        );
        assert!(
            parse_definitions(&nested, SourceFormat::Yaml)[0]
                .result
                .is_err()
        );
        // Not a timing assertion: a generous bound that only a quadratic blow-up would break.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
        let deep_json = format!(
            r#"{{"name": "a", "version": "1.0.0", "labels": {}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(parse_definition_json(deep_json.as_bytes()).is_err());
    }

    /// Every example definition reads the same through the fast path as through serde_yaml, and
    /// the fast path does take them (else it would be dead weight).
    #[test]
    fn fast_path_reads_the_examples_as_serde_yaml_does() {
        fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    files(&path, out);
                } else if path.extension().is_some_and(|e| e == "yaml") {
                    out.push(path);
                }
            }
        }
        let mut paths = Vec::new();
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/components");
        files(&root, &mut paths);
        let (mut docs, mut fast) = (0, 0);
        for path in &paths {
            let text = std::fs::read_to_string(path).unwrap();
            for (_, chunk) in split_yaml_documents(&text) {
                docs += 1;
                let slow: ComponentSpec = serde_yaml::from_str(&chunk).unwrap();
                if let Some(spec) = parse_yaml_fast(&chunk) {
                    fast += 1;
                    assert_eq!(spec, slow, "{}", path.display());
                }
            }
        }
        assert!(docs > 50, "examples found: {docs}");
        assert_eq!(fast, docs, "every example is in the fast subset");
    }

    #[test]
    fn a_document_with_unknown_fields_is_still_read_for_the_rules() {
        let text = format!("{VPC}descripton: typo\nversion_req: x\n");
        let doc = &parse_definitions(&text, SourceFormat::Yaml)[0];
        let errs = doc.result.as_ref().unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        let spec = doc
            .without_unknown_fields
            .as_ref()
            .expect("read without them");
        assert_eq!(
            (spec.name.as_str(), spec.provider.as_str()),
            ("aws-vpc", "aws")
        );
        assert_eq!(doc.checkable(), Some(spec));
        let json = parse_definition_json_document(br#"{"name":"a","version":"1","nmae":"x"}"#);
        assert!(json.result.is_err());
        assert_eq!(json.checkable().map(|s| s.version.as_str()), Some("1"));
        // Any other problem: nothing to check.
        let broken = &parse_definitions("name: a\nversion: [1\n", SourceFormat::Yaml)[0];
        assert!(broken.checkable().is_none());
        let shape = &parse_definitions("name: a\nlabels: 3\nbogus: 1\n", SourceFormat::Yaml)[0];
        assert!(shape.checkable().is_none());
    }

    #[test]
    fn json_bodies() {
        let ok = br#"{"name":"a","version":"1.0.0"}"#;
        assert!(parse_definition_json(ok).is_ok());
        let unknown = br#"{"name":"a","version":"1.0.0","nmae":"x"}"#;
        let errs = parse_definition_json(unknown).unwrap_err();
        assert!(
            errs[0].kind == DefinitionErrorKind::UnknownField
                && errs[0].message.contains("did you mean `name`")
        );
        let broken = b"{\"name\":\n\"a\",";
        let errs = parse_definition_json(broken).unwrap_err();
        assert_eq!(errs[0].line, Some(2));
        assert!(parse_definition_json(br#"{"name":"a","version":"1.0.0"} trailing"#).is_err());
    }
}
