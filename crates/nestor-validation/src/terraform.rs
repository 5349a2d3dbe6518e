//! Terraform modules and the interfaces that describe them: reading a module's `variable` and
//! `output` blocks with a real HCL parser (`hcl-edit`, which keeps positions), mapping Terraform
//! type constraints onto [`ValueType`], and either checking a definition's declared interface
//! against the module (the drift check) or deriving the interface from it
//! (`interface: from_module`).
//!
//! Pure: the caller (a git sync) reads the module's `*.tf` files at the synced commit and hands
//! them in as [`ModuleFile`]s; nothing here does I/O.
//!
//! # The type mapping
//!
//! | Terraform | Nestor |
//! |---|---|
//! | `string`, `number`, `bool` | `string`, `number`, `boolean` |
//! | `any`, no `type` at all | `any` |
//! | `list(T)`, `set(T)` | `list(T)` (JSON has no sets) |
//! | `map(T)` | `map(T)` |
//! | `object({...})` | `object` (attribute types and `optional()` are not kept) |
//! | `tuple([T, T…])` | `list(T)` when every element has the same type, else `list(any)` |
//! | `list`, `map`, `set` (bare, Terraform 0.12) | `list(any)`, `map(any)`, `list(any)` |
//! | `"string"`, `"list"`, `"map"` (quoted, Terraform 0.11) | `string`, `list(any)`, `map(any)` |
//!
//! A declared type *fits* the module's when it is the same, or narrower in one of two ways the
//! module always accepts: `integer` for `number`, and anything for `any`.

use std::collections::{BTreeMap, HashMap};

use hcl_edit::{
    Span,
    expr::{Expression, ObjectKey, UnaryOperator},
    structure::{Block, Body},
    template::{Element, Template},
};
use nestor_model::{
    ComponentSpec, Finding, Input, InterfaceSource, Output, Severity, ValueType, locate_field,
};
use serde_json::Value;

/// Stable rule ids of the module checks. These strings are a contract with authors' tooling:
/// never rename one.
pub mod module_rule_ids {
    /// The module cannot be read: its directory is missing at the commit, it has no `.tf`
    /// files, a file is too large, a link or binary, or not valid HCL, a type is not
    /// understood, a variable or output is declared twice.
    pub const MODULE_UNREADABLE: &str = "MODULE_UNREADABLE";
    /// `interface: from_module` with inputs or outputs written in the definition as well.
    pub const MODULE_INTERFACE_DECLARED: &str = "MODULE_INTERFACE_DECLARED";
    /// The definition lists an input that the module has no variable for.
    pub const MODULE_INPUT_MISSING: &str = "MODULE_INPUT_MISSING";
    /// The module has a variable that the definition does not list.
    pub const MODULE_INPUT_UNDECLARED: &str = "MODULE_INPUT_UNDECLARED";
    /// The definition lists an input as optional, and the module's variable has no default.
    pub const MODULE_INPUT_REQUIRED: &str = "MODULE_INPUT_REQUIRED";
    /// An input's declared type does not fit the module variable's type.
    pub const MODULE_INPUT_TYPE_MISMATCH: &str = "MODULE_INPUT_TYPE_MISMATCH";
    /// An input's declared default differs from the module variable's (literal) default.
    pub const MODULE_INPUT_DEFAULT_MISMATCH: &str = "MODULE_INPUT_DEFAULT_MISMATCH";
    /// The definition lists an output that the module does not have.
    pub const MODULE_OUTPUT_MISSING: &str = "MODULE_OUTPUT_MISSING";
    /// The module has an output that the definition does not list.
    pub const MODULE_OUTPUT_UNDECLARED: &str = "MODULE_OUTPUT_UNDECLARED";
}

use module_rule_ids::*;

/// Type constraints nested deeper than this are not understood (the model's own bound).
const MAX_TYPE_DEPTH: usize = 8;
/// Literal defaults nested deeper than this are not read (kept as no default).
const MAX_VALUE_DEPTH: usize = 32;

/// Whether Terraform reads the file `name` of a module directory as configuration and Nestor
/// reads it as part of the module: `*.tf`, except hidden files and override files
/// (`override.tf`, `*_override.tf`), which Terraform merges into other blocks and Nestor does
/// not apply. (`*.tf.json` is not read.)
///
/// ```
/// use nestor_validation::terraform::is_module_file;
/// assert!(is_module_file("variables.tf"));
/// assert!(!is_module_file("dev_override.tf") && !is_module_file(".x.tf") && !is_module_file("a.tf.json"));
/// ```
pub fn is_module_file(name: &str) -> bool {
    name.ends_with(".tf")
        && !name.starts_with('.')
        && name != "override.tf"
        && !name.ends_with("_override.tf")
}

/// One `*.tf` file of a module, as read at a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleFile {
    /// Repository-relative path, e.g. `modules/vpc/variables.tf`.
    pub path: String,
    /// The text, or why it could not be read (too large, a link, binary, not UTF-8).
    pub content: Result<String, String>,
}

/// What reading a module directory at a commit gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleRead {
    /// The directory's `*.tf` files (none when it has none).
    Files(Vec<ModuleFile>),
    /// The directory could not be read: missing at the commit, not a directory, too many files.
    Unreadable(String),
}

/// A position in a file, shown as `file:line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Repository-relative path.
    pub file: String,
    /// 1-based line; `None` when the problem is the whole file.
    pub line: Option<u32>,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

/// A module's `variable` block.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleVariable {
    /// Its name (the block's label).
    pub name: String,
    /// Its type constraint, mapped (see the module docs); `any` without one.
    pub value_type: ValueType,
    /// The type constraint as written, `any` without one.
    pub type_text: String,
    /// `None` without a `default` (the variable is required). `Some(None)` when the default is
    /// `null` or not a literal (an expression Nestor does not evaluate).
    pub default: Option<Option<Value>>,
    /// Its `description`, when it is a literal string.
    pub description: String,
    /// Where the block starts.
    pub at: Position,
}

/// A module's `output` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleOutput {
    /// Its name.
    pub name: String,
    /// Its `description`, when it is a literal string.
    pub description: String,
    /// Where the block starts.
    pub at: Position,
}

/// The interface of a module: its variables and outputs, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModuleInterface {
    /// `variable` blocks.
    pub variables: Vec<ModuleVariable>,
    /// `output` blocks.
    pub outputs: Vec<ModuleOutput>,
}

/// A problem that makes a module unreadable, at its position in the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleProblem {
    /// Where.
    pub at: Position,
    /// What.
    pub message: String,
}

/// A module directory as read and parsed once, for every definition that uses it.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadedModule {
    /// The directory could not be read (see [`ModuleRead::Unreadable`]).
    Unreadable(String),
    /// The directory holds no `*.tf` file.
    Empty,
    /// Files that could not be read or parsed.
    Problems(Vec<ModuleProblem>),
    /// The module's interface.
    Interface(ModuleInterface),
}

impl LoadedModule {
    /// Parses what was read.
    pub fn load(read: &ModuleRead) -> LoadedModule {
        match read {
            ModuleRead::Unreadable(why) => LoadedModule::Unreadable(why.clone()),
            ModuleRead::Files(files) if files.is_empty() => LoadedModule::Empty,
            ModuleRead::Files(files) => match parse_module(files) {
                Ok(interface) => LoadedModule::Interface(interface),
                Err(problems) => LoadedModule::Problems(problems),
            },
        }
    }
}

fn line_at(text: &str, offset: usize) -> u32 {
    let offset = offset.min(text.len());
    let newlines = text.as_bytes()[..offset]
        .iter()
        .filter(|b| **b == b'\n')
        .count();
    u32::try_from(newlines + 1).unwrap_or(u32::MAX)
}

/// Reads the `variable` and `output` blocks of a module's files. Every problem is reported (a
/// file that does not parse, a type not understood, a name declared twice), not only the first.
pub fn parse_module(files: &[ModuleFile]) -> Result<ModuleInterface, Vec<ModuleProblem>> {
    let mut interface = ModuleInterface::default();
    let mut problems = Vec::new();
    let mut seen_variables: HashMap<String, Position> = HashMap::new();
    let mut seen_outputs: HashMap<String, Position> = HashMap::new();
    for file in files {
        let text = match &file.content {
            Ok(text) => text,
            Err(why) => {
                problems.push(ModuleProblem {
                    at: Position {
                        file: file.path.clone(),
                        line: None,
                    },
                    message: why.clone(),
                });
                continue;
            }
        };
        let body: Body = match hcl_edit::parser::parse_body(text) {
            Ok(body) => body,
            Err(e) => {
                problems.push(ModuleProblem {
                    at: Position {
                        file: file.path.clone(),
                        line: u32::try_from(e.location().line()).ok(),
                    },
                    message: format!(
                        "not valid HCL (column {}): {}",
                        e.location().column(),
                        e.message()
                    ),
                });
                continue;
            }
        };
        let at = |offset: Option<usize>| Position {
            file: file.path.clone(),
            line: offset.map(|o| line_at(text, o)),
        };
        for block in body.blocks() {
            let kind = block.ident.as_str();
            if kind != "variable" && kind != "output" {
                continue;
            }
            let position = at(block.span().map(|s| s.start));
            let name = match block.labels.as_slice() {
                [label] => label.as_str().to_owned(),
                _ => {
                    problems.push(ModuleProblem {
                        at: position,
                        message: format!("a `{kind}` block takes exactly one label, its name"),
                    });
                    continue;
                }
            };
            let seen = if kind == "variable" {
                &mut seen_variables
            } else {
                &mut seen_outputs
            };
            if let Some(first) = seen.get(&name) {
                problems.push(ModuleProblem {
                    message: format!("{kind} {name:?} is declared twice (first at {first})"),
                    at: position,
                });
                continue;
            }
            seen.insert(name.clone(), position.clone());
            let description = attribute(block, "description")
                .and_then(literal_string)
                .unwrap_or_default();
            if kind == "output" {
                interface.outputs.push(ModuleOutput {
                    name,
                    description,
                    at: position,
                });
                continue;
            }
            let (value_type, type_text) = match attribute(block, "type") {
                None => (ValueType::Any, "any".to_owned()),
                Some(expr) => {
                    let text = expr.to_string().trim().to_owned();
                    match module_type(expr, 0) {
                        Ok(t) => (t, text),
                        Err(why) => {
                            let line_of_type = block
                                .body
                                .get_attribute("type")
                                .and_then(|a| a.span())
                                .map(|s| s.start);
                            problems.push(ModuleProblem {
                                at: at(line_of_type.or(block.span().map(|s| s.start))),
                                message: format!(
                                    "the type of variable {name:?}, `{}`, is not understood: {why}",
                                    shorten(&text)
                                ),
                            });
                            continue;
                        }
                    }
                }
            };
            let default = attribute(block, "default").map(|expr| match literal(expr, 0) {
                Some(Value::Null) | None => None,
                Some(v) => Some(v),
            });
            interface.variables.push(ModuleVariable {
                name,
                value_type,
                type_text,
                default,
                description,
                at: position,
            });
        }
    }
    if problems.is_empty() {
        Ok(interface)
    } else {
        Err(problems)
    }
}

fn shorten(text: &str) -> String {
    if text.len() <= 80 {
        return text.to_owned();
    }
    let mut end = 80;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn attribute<'a>(block: &'a Block, key: &str) -> Option<&'a Expression> {
    block.body.get_attribute(key).map(|a| &a.value)
}

/// Maps a Terraform type constraint onto a [`ValueType`] (the table in the module docs).
///
/// ```
/// use nestor_validation::terraform::type_of;
/// assert_eq!(type_of("map(list(number))").unwrap().to_string(), "map(list(number))");
/// assert_eq!(type_of("set(bool)").unwrap().to_string(), "list(boolean)");
/// assert_eq!(type_of("object({ a = string })").unwrap().to_string(), "object");
/// assert!(type_of("optional(string)").is_err());
/// ```
pub fn type_of(expression: &str) -> Result<ValueType, String> {
    let expr = hcl_edit::parser::parse_expr(expression).map_err(|e| e.message().to_owned())?;
    module_type(&expr, 0)
}

fn module_type(expr: &Expression, depth: usize) -> Result<ValueType, String> {
    if depth > MAX_TYPE_DEPTH {
        return Err(format!("nested deeper than {MAX_TYPE_DEPTH} levels"));
    }
    let keyword = |word: &str| -> Result<ValueType, String> {
        Ok(match word {
            "string" => ValueType::String,
            "number" => ValueType::Number,
            "bool" => ValueType::Boolean,
            "any" => ValueType::Any,
            "list" | "set" => ValueType::List(Box::new(ValueType::Any)),
            "map" => ValueType::Map(Box::new(ValueType::Any)),
            other => return Err(format!("`{}` is not a Terraform type", shorten(other))),
        })
    };
    match expr {
        Expression::Variable(ident) => keyword(ident.as_str()),
        // Terraform 0.11 wrote types as strings.
        Expression::String(s) => match s.as_str() {
            "string" | "list" | "map" => keyword(s.as_str()),
            other => Err(format!("the quoted type {:?} is not one", shorten(other))),
        },
        Expression::Parenthesis(p) => module_type(p.inner(), depth),
        Expression::FuncCall(call) => {
            let name = call.name.name.as_str();
            if call.name.is_namespaced() {
                return Err("a namespaced function is not a type".to_owned());
            }
            let args: Vec<&Expression> = call.args.iter().collect();
            let one = || match args.as_slice() {
                [arg] => Ok(*arg),
                _ => Err(format!("`{name}(…)` takes exactly one type")),
            };
            match name {
                "list" | "set" => Ok(ValueType::List(Box::new(module_type(one()?, depth + 1)?))),
                "map" => Ok(ValueType::Map(Box::new(module_type(one()?, depth + 1)?))),
                "object" => match one()? {
                    Expression::Object(_) => Ok(ValueType::Object),
                    _ => Err("`object(…)` takes an object of attribute types".to_owned()),
                },
                "tuple" => match one()? {
                    Expression::Array(items) => {
                        let mut types = items.iter().map(|i| module_type(i, depth + 1));
                        let first = match types.next() {
                            Some(t) => t?,
                            None => return Ok(ValueType::List(Box::new(ValueType::Any))),
                        };
                        let mut same = true;
                        for t in types {
                            same &= t? == first;
                        }
                        Ok(ValueType::List(Box::new(if same {
                            first
                        } else {
                            ValueType::Any
                        })))
                    }
                    _ => Err("`tuple(…)` takes a list of element types".to_owned()),
                },
                "optional" => Err("`optional(…)` is allowed only inside `object({…})`".to_owned()),
                other => Err(format!("`{}(…)` is not a type constructor", shorten(other))),
            }
        }
        _ => Err("not a type constraint".to_owned()),
    }
}

/// A literal string (a quoted string, or a template or heredoc without interpolations).
fn literal_string(expr: &Expression) -> Option<String> {
    match literal(expr, 0)? {
        Value::String(s) => Some(s.trim_end().to_owned()),
        _ => None,
    }
}

fn template_text(template: &Template) -> Option<String> {
    let mut text = String::new();
    for element in template.iter() {
        match element {
            Element::Literal(s) => text.push_str(s.value()),
            _ => return None,
        }
    }
    Some(text)
}

/// The JSON value of a literal expression; `None` for anything Nestor does not evaluate
/// (references, function calls, interpolations, operators other than a negative number).
fn literal(expr: &Expression, depth: usize) -> Option<Value> {
    if depth > MAX_VALUE_DEPTH {
        return None;
    }
    Some(match expr {
        Expression::Null(_) => Value::Null,
        Expression::Bool(b) => Value::Bool(*b.value()),
        Expression::Number(n) => number(n.value(), false)?,
        Expression::String(s) => Value::String(s.value().clone()),
        Expression::StringTemplate(t) => Value::String(template_text(t)?),
        Expression::HeredocTemplate(h) => Value::String(template_text(&h.template)?),
        Expression::Parenthesis(p) => literal(p.inner(), depth)?,
        Expression::UnaryOp(op) if *op.operator.value() == UnaryOperator::Neg => match &op.expr {
            Expression::Number(n) => number(n.value(), true)?,
            _ => return None,
        },
        Expression::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| literal(i, depth + 1))
                .collect::<Option<Vec<_>>>()?,
        ),
        Expression::Object(object) => {
            let mut map = serde_json::Map::new();
            for (key, value) in object.iter() {
                let key = match key {
                    ObjectKey::Ident(ident) => ident.as_str().to_owned(),
                    ObjectKey::Expression(e) => match literal(e, depth + 1)? {
                        Value::String(s) => s,
                        _ => return None,
                    },
                };
                map.insert(key, literal(value.expr(), depth + 1)?);
            }
            Value::Object(map)
        }
        _ => return None,
    })
}

fn number(n: &hcl_edit::Number, negative: bool) -> Option<Value> {
    let value = if let Some(u) = n.as_u64() {
        if negative {
            i64::try_from(u)
                .ok()
                .and_then(i64::checked_neg)
                .map(Value::from)?
        } else {
            Value::from(u)
        }
    } else if let Some(i) = n.as_i64() {
        Value::from(if negative { i.checked_neg()? } else { i })
    } else {
        let f = n.as_f64()?;
        Value::Number(serde_json::Number::from_f64(if negative { -f } else { f })?)
    };
    Some(value)
}

/// Whether a declared type fits the module's: the same, or narrower in a way the module always
/// accepts (`integer` for `number`, anything for `any`), element by element.
///
/// ```
/// use nestor_validation::terraform::fits;
/// let t = |s: &str| s.parse::<nestor_model::ValueType>().unwrap();
/// assert!(fits(&t("list(integer)"), &t("list(number)")));
/// assert!(fits(&t("string"), &t("any")));
/// assert!(!fits(&t("number"), &t("integer")));
/// assert!(!fits(&t("any"), &t("string")));
/// ```
pub fn fits(declared: &ValueType, module: &ValueType) -> bool {
    match (declared, module) {
        (_, ValueType::Any) | (ValueType::Integer, ValueType::Number) => true,
        (ValueType::List(a), ValueType::List(b)) | (ValueType::Map(a), ValueType::Map(b)) => {
            fits(a, b)
        }
        (a, b) => a == b,
    }
}

/// JSON equality with numbers compared by value (`20` and `20.0` are equal).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

/// Where a definition document is: its file, the line it starts on, and its text (to find the
/// line of each input).
#[derive(Debug, Clone, Copy)]
pub struct DefinitionSite<'a> {
    /// The definition file, repository-relative.
    pub file: &'a str,
    /// The line the document starts on.
    pub line: u32,
    /// The document's lines, the first being `line`; empty when unknown (findings then point
    /// at the document's first line).
    pub lines: &'a [&'a str],
}

impl DefinitionSite<'_> {
    /// The line of the field at `path`, or of the document.
    fn line_of(&self, path: &str) -> u32 {
        locate_field(self.lines, path).map_or(self.line, |at| self.line + at - 1)
    }

    /// An error finding at the field `path` of the definition (its document's first line when
    /// `path` is empty or not in the document).
    pub fn finding(&self, rule: &str, path: String, message: String) -> Finding {
        let line = if path.is_empty() {
            self.line
        } else {
            self.line_of(&path)
        };
        Finding {
            rule: rule.to_owned(),
            severity: Severity::Error,
            path,
            message,
            file: Some(self.file.to_owned()),
            line: Some(line),
        }
    }
}

/// Applies a module to a definition synced from git: checks a declared interface against it,
/// or fills in the inputs and outputs of an `interface: from_module` definition. Returns the
/// findings, all errors; the definition is refused when there are any.
///
/// `dir` is the module's directory (for messages, `""` for the repository's root). A
/// definition that neither names a `module_path` nor asks for `from_module` is checked only
/// when its directory holds `.tf` files: a catalog repository of definitions alone has no
/// modules to drift from.
pub fn apply_module(
    spec: &mut ComponentSpec,
    module: &LoadedModule,
    dir: &str,
    site: &DefinitionSite<'_>,
) -> Vec<Finding> {
    let from_module = spec.interface == InterfaceSource::FromModule;
    let explicit = from_module || spec.module_path.is_some();
    let shown_dir = if dir.is_empty() {
        "the repository's root".to_owned()
    } else {
        format!("`{dir}`")
    };
    // The module is named by `module_path`, else by `interface`, else by the document.
    let anchor = if spec.module_path.is_some() {
        "module_path"
    } else if from_module {
        "interface"
    } else {
        ""
    };
    if from_module
        && (!spec.required_inputs.is_empty()
            || !spec.optional_inputs.is_empty()
            || !spec.outputs.is_empty())
    {
        let listed: Vec<&str> = [
            ("required_inputs", spec.required_inputs.is_empty()),
            ("optional_inputs", spec.optional_inputs.is_empty()),
            ("outputs", spec.outputs.is_empty()),
        ]
        .into_iter()
        .filter(|(_, empty)| !empty)
        .map(|(k, _)| k)
        .collect();
        return listed
            .into_iter()
            .map(|key| {
                site.finding(
                    MODULE_INTERFACE_DECLARED,
                    key.to_owned(),
                    format!(
                        "`interface: from_module` reads the inputs and outputs from the module in {shown_dir}: remove `{key}` from the definition, or declare the whole interface (`interface: declared`)"
                    ),
                )
            })
            .collect();
    }
    let interface = match module {
        LoadedModule::Empty if !explicit => return Vec::new(),
        LoadedModule::Empty => {
            return vec![site.finding(
                MODULE_UNREADABLE,
                anchor.to_owned(),
                format!("no Terraform module in {shown_dir} at the synced commit: it holds no `.tf` file"),
            )];
        }
        LoadedModule::Unreadable(why) => {
            return vec![site.finding(
                MODULE_UNREADABLE,
                anchor.to_owned(),
                format!("the Terraform module in {shown_dir} cannot be read: {why}"),
            )];
        }
        LoadedModule::Problems(problems) => {
            return problems
                .iter()
                .map(|p| {
                    site.finding(
                        MODULE_UNREADABLE,
                        anchor.to_owned(),
                        format!("{}: {}", p.at, p.message),
                    )
                })
                .collect();
        }
        LoadedModule::Interface(interface) => interface,
    };
    if from_module {
        derive(spec, interface);
        Vec::new()
    } else {
        compare(spec, interface, site)
    }
}

/// Fills in the interface from the module: variables without a default are required inputs,
/// the others optional inputs with their (literal) default; outputs are of type `any`.
fn derive(spec: &mut ComponentSpec, module: &ModuleInterface) {
    for v in &module.variables {
        let input = Input {
            name: v.name.clone(),
            value_type: v.value_type.clone(),
            description: v.description.clone(),
            default: v.default.clone().flatten(),
            allowed_values: None,
        };
        if v.default.is_some() {
            spec.optional_inputs.push(input);
        } else {
            spec.required_inputs.push(input);
        }
    }
    spec.outputs = module
        .outputs
        .iter()
        .map(|o| Output {
            name: o.name.clone(),
            value_type: ValueType::Any,
            description: o.description.clone(),
        })
        .collect();
}

/// The drift check of a declared interface against the module.
fn compare(
    spec: &ComponentSpec,
    module: &ModuleInterface,
    site: &DefinitionSite<'_>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let variables: BTreeMap<&str, &ModuleVariable> = module
        .variables
        .iter()
        .map(|v| (v.name.as_str(), v))
        .collect();
    for (list, inputs, required) in [
        ("required_inputs", &spec.required_inputs, true),
        ("optional_inputs", &spec.optional_inputs, false),
    ] {
        for (i, input) in inputs.iter().enumerate() {
            let path = format!("{list}[{i}]");
            let name = &input.name;
            let Some(v) = variables.get(name.as_str()) else {
                let file = module.variables.first().map_or_else(
                    || "the module has no variable".to_owned(),
                    |v| format!("its variables are in {}", v.at.file),
                );
                findings.push(site.finding(
                    MODULE_INPUT_MISSING,
                    path,
                    format!(
                        "input `{name}` is not a variable of the module ({file}): remove the input, or add `variable \"{name}\"` to the module"
                    ),
                ));
                continue;
            };
            if !required && v.default.is_none() {
                findings.push(site.finding(
                    MODULE_INPUT_REQUIRED,
                    path.clone(),
                    format!(
                        "input `{name}` is listed as optional, but `variable \"{name}\"` at {} has no default: move it to required_inputs, or give the variable a default",
                        v.at
                    ),
                ));
            }
            if !fits(&input.value_type, &v.value_type) {
                let mapped = if v.type_text == v.value_type.to_string() {
                    String::new()
                } else {
                    format!(" ({} in Nestor's types)", v.value_type)
                };
                findings.push(site.finding(
                    MODULE_INPUT_TYPE_MISMATCH,
                    format!("{path}.type"),
                    format!(
                        "input `{name}` is of type {} here, but `variable \"{name}\"` at {} is of type `{}`{mapped}: make them agree",
                        input.value_type,
                        v.at,
                        shorten(&v.type_text),
                    ),
                ));
            }
            if let (Some(declared), Some(Some(actual))) = (&input.default, &v.default)
                && !same_value(declared, actual)
            {
                findings.push(site.finding(
                    MODULE_INPUT_DEFAULT_MISMATCH,
                    format!("{path}.default"),
                    format!(
                        "input `{name}` defaults to {} here, but `variable \"{name}\"` at {} defaults to {}: make them agree",
                        shorten(&declared.to_string()),
                        v.at,
                        shorten(&actual.to_string())
                    ),
                ));
            }
        }
    }
    let declared: std::collections::HashSet<&str> =
        spec.inputs().map(|(i, _)| i.name.as_str()).collect();
    for v in &module.variables {
        if declared.contains(v.name.as_str()) {
            continue;
        }
        let (list, why) = if v.default.is_some() {
            ("optional_inputs", "it has a default")
        } else {
            ("required_inputs", "it has no default")
        };
        let path = if locate_field(site.lines, list).is_some() {
            list.to_owned()
        } else {
            String::new()
        };
        findings.push(site.finding(
            MODULE_INPUT_UNDECLARED,
            path,
            format!(
                "`variable \"{}\"` at {} is not an input of the definition: add it to {list} ({why}), or remove it from the module",
                v.name, v.at
            ),
        ));
    }
    let outputs: BTreeMap<&str, &ModuleOutput> = module
        .outputs
        .iter()
        .map(|o| (o.name.as_str(), o))
        .collect();
    for (i, output) in spec.outputs.iter().enumerate() {
        if !outputs.contains_key(output.name.as_str()) {
            let name = &output.name;
            findings.push(site.finding(
                MODULE_OUTPUT_MISSING,
                format!("outputs[{i}]"),
                format!(
                    "output `{name}` is not an output of the module in {}: remove it, or add `output \"{name}\"` to the module",
                    module
                        .outputs
                        .first()
                        .map_or("its directory".to_owned(), |o| o.at.file.clone())
                ),
            ));
        }
    }
    let declared: std::collections::HashSet<&str> =
        spec.outputs.iter().map(|o| o.name.as_str()).collect();
    for o in &module.outputs {
        if !declared.contains(o.name.as_str()) {
            let path = if locate_field(site.lines, "outputs").is_some() {
                "outputs".to_owned()
            } else {
                String::new()
            };
            findings.push(site.finding(
                MODULE_OUTPUT_UNDECLARED,
                path,
                format!(
                    "`output \"{}\"` at {} is not an output of the definition: add it to outputs, or remove it from the module",
                    o.name, o.at
                ),
            ));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> ValueType {
        s.parse().unwrap()
    }

    fn file(path: &str, text: &str) -> ModuleFile {
        ModuleFile {
            path: path.to_owned(),
            content: Ok(text.to_owned()),
        }
    }

    #[test]
    fn terraform_types_map_onto_value_types() {
        for (hcl, ours) in [
            ("string", "string"),
            ("number", "number"),
            ("bool", "boolean"),
            ("any", "any"),
            ("list(string)", "list(string)"),
            ("set(number)", "list(number)"),
            ("map(bool)", "map(boolean)"),
            ("map(list(map(string)))", "map(list(map(string)))"),
            (
                "object({ name = string, size = optional(number, 10) })",
                "object",
            ),
            ("list(object({ a = string }))", "list(object)"),
            ("tuple([string, string])", "list(string)"),
            ("tuple([string, number])", "list(any)"),
            ("tuple([])", "list(any)"),
            ("list", "list(any)"),
            ("map", "map(any)"),
            ("set", "list(any)"),
            ("\"string\"", "string"),
            ("\"list\"", "list(any)"),
            ("(string)", "string"),
        ] {
            assert_eq!(
                type_of(hcl).map(|t| t.to_string()),
                Ok(ours.to_owned()),
                "{hcl}"
            );
        }
        for bad in [
            "strng",
            "optional(string)",
            "list(string, number)",
            "object(string)",
            "tuple(string)",
            "foo(string)",
            "var.x",
            "\"number\"",
            "1",
        ] {
            assert!(type_of(bad).is_err(), "{bad}");
        }
        let deep = format!("{}string{}", "list(".repeat(12), ")".repeat(12));
        assert!(type_of(&deep).unwrap_err().contains("deeper"));
        // What is mapped prints as a type the model parses back (it is stored as text).
        let nested = format!("{}string{}", "list(".repeat(8), ")".repeat(8));
        let mapped = type_of(&nested).unwrap();
        assert_eq!(mapped.to_string().parse::<ValueType>(), Ok(mapped));
    }

    #[test]
    fn declared_types_fit_when_equal_or_narrower_in_the_accepted_ways() {
        assert!(fits(&t("integer"), &t("number")));
        assert!(fits(&t("map(integer)"), &t("map(number)")));
        assert!(fits(&t("object"), &t("any")));
        assert!(fits(&t("list(string)"), &t("list(any)")));
        assert!(!fits(&t("number"), &t("string")));
        assert!(!fits(&t("map(string)"), &t("object")));
        assert!(!fits(&t("list(string)"), &t("map(string)")));
    }

    const VARIABLES: &str = r#"# The module's inputs.
variable "cidr" {
  type        = string
  description = "CIDR block"
  default     = "10.0.0.0/16"
}

variable "az_count" {
  type = number
}

variable "tags" {
  type    = map(string)
  default = {
    team = "net"
    "cost-center" = "42"
  }
}

variable "ratio" {
  default = -1.5
}

variable "computed" {
  type    = list(string)
  default = [for s in var.x : s]
}

variable "nothing" {
  type    = string
  default = null
}

resource "aws_vpc" "this" {
  cidr_block = var.cidr
}
"#;

    const OUTPUTS: &str = r#"output "vpc_id" {
  value       = aws_vpc.this.id
  description = <<-EOT
    The VPC's id.
    EOT
}
"#;

    #[test]
    fn variables_and_outputs_are_read_with_their_lines() {
        let m = parse_module(&[
            file("mod/variables.tf", VARIABLES),
            file("mod/outputs.tf", OUTPUTS),
        ])
        .unwrap();
        let by_name = |n: &str| m.variables.iter().find(|v| v.name == n).unwrap();
        let cidr = by_name("cidr");
        assert_eq!(cidr.at.to_string(), "mod/variables.tf:2");
        assert_eq!(cidr.value_type, ValueType::String);
        assert_eq!(cidr.default, Some(Some(json!("10.0.0.0/16"))));
        assert_eq!(cidr.description, "CIDR block");
        let az = by_name("az_count");
        assert_eq!((az.at.line, az.default.clone()), (Some(8), None));
        assert_eq!(
            by_name("tags").default,
            Some(Some(json!({"team": "net", "cost-center": "42"})))
        );
        let ratio = by_name("ratio");
        assert_eq!(ratio.value_type, ValueType::Any);
        assert_eq!(ratio.default, Some(Some(json!(-1.5))));
        assert_eq!(by_name("computed").default, Some(None), "not a literal");
        assert_eq!(by_name("nothing").default, Some(None), "null");
        assert_eq!(m.variables.len(), 6, "resources are not variables");
        assert_eq!(m.outputs.len(), 1);
        assert_eq!(m.outputs[0].at.to_string(), "mod/outputs.tf:1");
        assert_eq!(m.outputs[0].description, "The VPC's id.");
    }

    #[test]
    fn every_problem_of_a_module_is_reported_with_its_position() {
        let problems = parse_module(&[
            file("m/a.tf", "variable \"x\" {\n  type = string\n}\n"),
            file(
                "m/b.tf",
                "\n\nvariable \"x\" {}\nvariable \"y\" {\n  type = optional(string)\n}\n",
            ),
            file("m/c.tf", "variable \"z\" {\n  type = \n"),
            ModuleFile {
                path: "m/big.tf".into(),
                content: Err("file is 2000000 bytes".into()),
            },
            file("m/d.tf", "output \"o\" {}\noutput \"o\" {}\nvariable {}\n"),
        ])
        .unwrap_err();
        let shown: Vec<String> = problems
            .iter()
            .map(|p| format!("{} {}", p.at, p.message))
            .collect();
        assert!(
            shown[0].starts_with("m/b.tf:3 variable \"x\" is declared twice (first at m/a.tf:1)"),
            "{shown:?}"
        );
        assert!(
            shown[1].starts_with("m/b.tf:5 the type of variable \"y\""),
            "{shown:?}"
        );
        assert!(
            shown[2].starts_with("m/c.tf:3 not valid HCL")
                || shown[2].starts_with("m/c.tf:2 not valid HCL"),
            "{shown:?}"
        );
        assert_eq!(shown[3], "m/big.tf file is 2000000 bytes");
        assert!(
            shown[4].starts_with("m/d.tf:2 output \"o\" is declared twice"),
            "{shown:?}"
        );
        assert!(
            shown[5].starts_with("m/d.tf:3 a `variable` block takes exactly one label"),
            "{shown:?}"
        );
        assert_eq!(shown.len(), 6);
    }

    fn definition(text: &str) -> ComponentSpec {
        nestor_model::parse_definitions(text, nestor_model::SourceFormat::Yaml)
            .remove(0)
            .result
            .unwrap()
    }

    const HEAD: &str = "name: vpc\nversion: 1.0.0\ndescription: d\nprovider: aws\ncategory: network\nresource_type: aws_vpc\ndeployment_engines: [terraform]\n";

    fn module() -> LoadedModule {
        LoadedModule::load(&ModuleRead::Files(vec![
            file("mod/variables.tf", VARIABLES),
            file("mod/outputs.tf", OUTPUTS),
        ]))
    }

    fn check(text: &str) -> (ComponentSpec, Vec<Finding>) {
        let mut spec = definition(text);
        let lines: Vec<&str> = text.lines().collect();
        let site = DefinitionSite {
            file: "mod/component.yaml",
            line: 1,
            lines: &lines,
        };
        let findings = apply_module(&mut spec, &module(), "mod", &site);
        (spec, findings)
    }

    const AGREEING: &str = "required_inputs:\n  - name: az_count\n    type: integer\noptional_inputs:\n  - name: cidr\n    type: string\n    default: 10.0.0.0/16\n  - name: tags\n    type: map(string)\n  - name: ratio\n    type: number\n    default: -1.5\n  - name: computed\n    type: list(string)\n    default: [a]\n  - name: nothing\n    type: string\noutputs:\n  - name: vpc_id\n    type: string\n";

    #[test]
    fn an_agreeing_definition_has_no_findings() {
        let (_, findings) = check(&format!("{HEAD}{AGREEING}"));
        assert_eq!(findings, Vec::new());
    }

    #[test]
    fn drift_is_reported_at_both_positions() {
        let text = format!(
            "{HEAD}optional_inputs:\n  - name: az_count\n    type: string\n  - name: cidr\n    type: string\n    default: 10.1.0.0/16\n  - name: gone\n    type: string\noutputs:\n  - name: arn\n    type: string\n"
        );
        let (_, findings) = check(&text);
        let shown: Vec<String> = findings
            .iter()
            .map(|f| {
                format!(
                    "{}:{} {} {} | {}",
                    f.file.as_deref().unwrap(),
                    f.line.unwrap(),
                    f.rule,
                    f.path,
                    f.message
                )
            })
            .collect();
        let has = |rule: &str, at: &str, module_at: &str| {
            assert!(
                shown
                    .iter()
                    .any(|s| s.contains(rule) && s.starts_with(at) && s.contains(module_at)),
                "{rule} at {at} naming {module_at}: {shown:#?}"
            )
        };
        has(
            "MODULE_INPUT_REQUIRED",
            "mod/component.yaml:9 ",
            "mod/variables.tf:8",
        );
        has(
            "MODULE_INPUT_TYPE_MISMATCH",
            "mod/component.yaml:10 ",
            "mod/variables.tf:8",
        );
        has(
            "MODULE_INPUT_DEFAULT_MISMATCH",
            "mod/component.yaml:13 ",
            "mod/variables.tf:2",
        );
        has(
            "MODULE_INPUT_MISSING",
            "mod/component.yaml:14 ",
            "mod/variables.tf",
        );
        has(
            "MODULE_INPUT_UNDECLARED",
            "mod/component.yaml:8 ",
            "mod/variables.tf:12",
        );
        has(
            "MODULE_OUTPUT_MISSING",
            "mod/component.yaml:17 ",
            "mod/outputs.tf",
        );
        has(
            "MODULE_OUTPUT_UNDECLARED",
            "mod/component.yaml:16 ",
            "mod/outputs.tf:1",
        );
        // tags, ratio, computed, nothing undeclared; and the rest above.
        assert_eq!(findings.len(), 10, "{shown:#?}");
        assert!(findings.iter().all(|f| f.severity == Severity::Error));
    }

    #[test]
    fn from_module_derives_the_interface_and_refuses_a_declared_one() {
        let (spec, findings) = check(&format!("{HEAD}interface: from_module\n"));
        assert_eq!(findings, Vec::new());
        let names = |l: &[Input]| l.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&spec.required_inputs), ["az_count"]);
        assert_eq!(
            names(&spec.optional_inputs),
            ["cidr", "tags", "ratio", "computed", "nothing"]
        );
        assert_eq!(spec.optional_inputs[0].default, Some(json!("10.0.0.0/16")));
        assert_eq!(spec.optional_inputs[0].description, "CIDR block");
        assert_eq!(spec.optional_inputs[3].default, None);
        assert_eq!(spec.required_inputs[0].value_type, ValueType::Number);
        assert_eq!(spec.outputs[0].value_type, ValueType::Any);
        assert_eq!(spec.outputs[0].description, "The VPC's id.");

        let (_, findings) = check(&format!(
            "{HEAD}interface: from_module\noutputs:\n  - name: vpc_id\n    type: string\n"
        ));
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].rule, MODULE_INTERFACE_DECLARED);
        assert_eq!(findings[0].line, Some(9));
    }

    #[test]
    fn a_directory_without_tf_files_is_a_module_only_when_named() {
        let site = DefinitionSite {
            file: "c.yaml",
            line: 1,
            lines: &[],
        };
        let mut spec = definition(HEAD);
        assert!(apply_module(&mut spec, &LoadedModule::Empty, "c", &site).is_empty());
        spec.module_path = Some("modules/vpc".into());
        let findings = apply_module(&mut spec, &LoadedModule::Empty, "modules/vpc", &site);
        assert_eq!(findings[0].rule, MODULE_UNREADABLE);
        assert!(
            findings[0].message.contains("no `.tf` file"),
            "{findings:?}"
        );
        let findings = apply_module(
            &mut spec,
            &LoadedModule::Unreadable("no directory `modules/vpc` at the commit".into()),
            "modules/vpc",
            &site,
        );
        assert!(findings[0].message.contains("no directory"), "{findings:?}");
    }
}
