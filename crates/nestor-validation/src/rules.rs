//! The well-formedness rules: everything that can be checked from the definition alone.

use std::collections::HashSet;

use nestor_model::{ComponentName, ComponentSpec, Input, VersionError, parse_version};
use semver::VersionReq;

use crate::{Context, Findings, Rule};

/// Stable rule ids. These strings are a contract with authors' tooling: never rename one.
pub mod rule_ids {
    /// The document is not readable as a definition (YAML/JSON syntax, wrong value type).
    pub const DEFINITION_SYNTAX: &str = "DEFINITION_SYNTAX";
    /// A field that the definition format does not have.
    pub const FIELD_UNKNOWN: &str = "FIELD_UNKNOWN";
    /// A required field is missing or empty.
    pub const FIELD_REQUIRED: &str = "FIELD_REQUIRED";
    /// A field exceeds its size limit.
    pub const FIELD_TOO_LARGE: &str = "FIELD_TOO_LARGE";
    /// A control character (NUL, an escape sequence's ESC, …) or a bidirectional override in
    /// text that reaches logs, terminals and pages.
    pub const FIELD_CONTROL_CHARACTER: &str = "FIELD_CONTROL_CHARACTER";
    /// The component name breaks `^[a-z][a-z0-9-]{0,62}$`.
    pub const NAME_INVALID: &str = "NAME_INVALID";
    /// The version is not strict SemVer 2.0.
    pub const VERSION_INVALID: &str = "VERSION_INVALID";
    /// The version carries build metadata.
    pub const VERSION_BUILD_METADATA: &str = "VERSION_BUILD_METADATA";
    /// An engine is listed twice.
    pub const ENGINE_DUPLICATE: &str = "ENGINE_DUPLICATE";
    /// An engine is not registered.
    pub const ENGINE_UNKNOWN: &str = "ENGINE_UNKNOWN";
    /// An engine is registered but unhealthy.
    pub const ENGINE_UNHEALTHY: &str = "ENGINE_UNHEALTHY";
    /// An input or output name breaks `^[a-z][a-z0-9_]{0,127}$`.
    pub const FIELD_NAME_INVALID: &str = "FIELD_NAME_INVALID";
    /// Two inputs (required or optional) share a name.
    pub const INPUT_NAME_DUPLICATE: &str = "INPUT_NAME_DUPLICATE";
    /// Two outputs share a name.
    pub const OUTPUT_NAME_DUPLICATE: &str = "OUTPUT_NAME_DUPLICATE";
    /// A required input has a default.
    pub const INPUT_REQUIRED_HAS_DEFAULT: &str = "INPUT_REQUIRED_HAS_DEFAULT";
    /// A default is not of the input's type.
    pub const INPUT_DEFAULT_TYPE_MISMATCH: &str = "INPUT_DEFAULT_TYPE_MISMATCH";
    /// A default is not among the allowed values.
    pub const INPUT_DEFAULT_NOT_ALLOWED: &str = "INPUT_DEFAULT_NOT_ALLOWED";
    /// `allowed_values` is present but empty.
    pub const INPUT_ALLOWED_VALUES_EMPTY: &str = "INPUT_ALLOWED_VALUES_EMPTY";
    /// An allowed value is not of the input's type, or is listed twice.
    pub const INPUT_ALLOWED_VALUE_INVALID: &str = "INPUT_ALLOWED_VALUE_INVALID";
    /// A dependency names an invalid component name.
    pub const DEPENDENCY_NAME_INVALID: &str = "DEPENDENCY_NAME_INVALID";
    /// A dependency's requirement is not a valid Cargo-style requirement.
    pub const DEPENDENCY_REQ_INVALID: &str = "DEPENDENCY_REQ_INVALID";
    /// A component depends on itself.
    pub const DEPENDENCY_SELF: &str = "DEPENDENCY_SELF";
    /// An acknowledged breaking change names no change rule, or no path.
    pub const ACKNOWLEDGEMENT_INVALID: &str = "ACKNOWLEDGEMENT_INVALID";
    /// A dependency is listed twice.
    pub const DEPENDENCY_DUPLICATE: &str = "DEPENDENCY_DUPLICATE";
    /// `module_path` is absolute, leaves the repository (`..`), reaches into `.git`, or is
    /// otherwise not a plain repository-relative directory.
    pub const MODULE_PATH_INVALID: &str = "MODULE_PATH_INVALID";
    /// `interface: from_module` where no module can be read: not a Terraform or OpenTofu
    /// component, published through the API, or from a source without commits.
    pub const MODULE_INTERFACE_UNAVAILABLE: &str = "MODULE_INTERFACE_UNAVAILABLE";
}

use rule_ids::*;

// Bounds that keep a definition (and everything computed from it) small: shared with the
// OpenAPI document's schemas (`nestor_model::limits`). Text is measured in characters.
use nestor_model::is_field_name as valid_field_name;
use nestor_model::limits::{
    MAX_ALLOWED_VALUE, MAX_DEFAULT, MAX_ENTRIES as MAX_LABELS, MAX_KEY, MAX_LABEL_VALUE, MAX_LIST,
    MAX_QUANTITY, MAX_REASON, MAX_SHORT, MAX_TEXT, char_len, unsafe_char,
};

/// The size of `value` written as compact JSON, without building the text.
fn json_len(value: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a JSON value into a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// A value measured as compact JSON, in bytes.
fn check_size(f: &mut Findings, path: impl Into<String>, what: &str, len: usize, max: usize) {
    if len > max {
        f.error(
            FIELD_TOO_LARGE,
            path,
            format!("{what} is {len} bytes; at most {max} are allowed"),
        );
    }
}

/// Text, measured in characters.
fn check_len(f: &mut Findings, path: impl Into<String>, what: &str, text: &str, max: usize) {
    let len = char_len(text);
    if len > max {
        f.error(
            FIELD_TOO_LARGE,
            path,
            format!("{what} is {len} characters; at most {max} are allowed"),
        );
    }
}

/// Syntax, required fields, types, defaults, uniqueness and size limits.
pub struct WellFormed;

impl Rule for WellFormed {
    fn name(&self) -> &'static str {
        "well-formed"
    }

    fn check(&self, spec: &ComponentSpec, ctx: &Context<'_>, f: &mut Findings) {
        check_identity(spec, f);
        check_required_text(spec, f);
        check_engines(spec, ctx, f);
        check_inputs(spec, f);
        check_outputs(spec, f);
        check_dependencies(spec, f);
        check_maps(spec, f);
        check_acknowledgements(spec, f);
        check_text_safety(spec, f);
        check_module(spec, f);
    }
}

/// `module_path` is a safe repository-relative directory; `interface: from_module` is for
/// Terraform (or OpenTofu) components.
fn check_module(spec: &ComponentSpec, f: &mut Findings) {
    if let Some(path) = &spec.module_path
        && let Some(problem) = nestor_model::module_path_problem(path)
    {
        f.error(
            MODULE_PATH_INVALID,
            "module_path",
            format!(
                "module_path {:?} {problem}",
                printable(&path.chars().take(128).collect::<String>())
            ),
        );
    }
    if spec.interface == nestor_model::InterfaceSource::FromModule && !spec.is_terraform() {
        f.error(
            MODULE_INTERFACE_UNAVAILABLE,
            "interface",
            format!(
                "`interface: from_module` reads a Terraform module: it needs {} among deployment_engines",
                nestor_model::TERRAFORM_ENGINES.join(" or ")
            ),
        );
    }
}

fn check_acknowledgements(spec: &ComponentSpec, f: &mut Findings) {
    let acks = &spec.acknowledged_breaking_changes;
    if acks.len() > MAX_LIST {
        check_list_len(f, "acknowledged_breaking_changes", acks.len());
        return;
    }
    for (i, a) in acks.iter().enumerate() {
        let path = format!("acknowledged_breaking_changes[{i}]");
        if !crate::CHANGE_RULES.iter().any(|r| r.id == a.rule) {
            f.error(
                ACKNOWLEDGEMENT_INVALID,
                format!("{path}.rule"),
                format!(
                    "{:?} is not a change rule (e.g. INPUT_TYPE_CHANGED; see the breaking-change rules)",
                    printable(&a.rule.chars().take(64).collect::<String>())
                ),
            );
        }
        if a.path.trim().is_empty() {
            f.error(
                ACKNOWLEDGEMENT_INVALID,
                format!("{path}.path"),
                "the path of the change acknowledged is required (as the gate reports it, e.g. inputs[port].type)",
            );
        }
        if a.reason.trim().is_empty() {
            f.error(
                FIELD_REQUIRED,
                format!("{path}.reason"),
                "say why the breaking change is accepted",
            );
        }
        check_len(f, format!("{path}.path"), "the path", &a.path, MAX_SHORT);
        check_len(
            f,
            format!("{path}.reason"),
            "the reason",
            &a.reason,
            MAX_REASON,
        );
    }
}

/// Text in a definition reaches logs, terminals and web pages: no control characters (NUL,
/// the ESC of ANSI escape sequences, C1 controls) and no bidirectional overrides, which can make
/// text display as something else. Multi-line text (descriptions, annotation values) may hold
/// line breaks and tabs.
fn check_text_safety(spec: &ComponentSpec, f: &mut Findings) {
    let mut check = |path: String, text: &str, multiline: bool| {
        if let Some(c) = text.chars().find(|&c| unsafe_char(c, multiline)) {
            f.error(
                FIELD_CONTROL_CHARACTER,
                path,
                format!(
                    "contains {}; remove it",
                    match c {
                        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' =>
                            format!("the bidirectional override U+{:04X}", c as u32),
                        _ => format!("the control character U+{:04X}", c as u32),
                    }
                ),
            );
        }
    };
    check("description".into(), &spec.description, true);
    check("provider".into(), &spec.provider, false);
    check("category".into(), &spec.category, false);
    check("resource_type".into(), &spec.resource_type, false);
    for (list, inputs) in [
        ("required_inputs", &spec.required_inputs),
        ("optional_inputs", &spec.optional_inputs),
    ] {
        for (i, input) in inputs.iter().enumerate() {
            check(format!("{list}[{i}].description"), &input.description, true);
        }
    }
    for (i, output) in spec.outputs.iter().enumerate() {
        check(
            format!("outputs[{i}].description"),
            &output.description,
            true,
        );
    }
    for (i, engine) in spec.deployment_engines.iter().enumerate() {
        check(format!("deployment_engines[{i}]"), engine, false);
    }
    for (i, a) in spec
        .acknowledged_breaking_changes
        .iter()
        .enumerate()
        .take(MAX_LIST)
    {
        check(
            format!("acknowledged_breaking_changes[{i}].path"),
            &a.path,
            false,
        );
        check(
            format!("acknowledged_breaking_changes[{i}].reason"),
            &a.reason,
            false,
        );
    }
    if let Some(limits) = &spec.resource_limits {
        for (field, value) in [("cpu", &limits.cpu), ("memory", &limits.memory)] {
            if let Some(value) = value {
                check(format!("resource_limits.{field}"), value, false);
            }
        }
    }
    for (path, map, multiline_values) in [
        ("labels", &spec.labels, false),
        ("annotations", &spec.annotations, true),
    ] {
        // An oversized map is one FIELD_TOO_LARGE finding, not one per entry.
        if map.len() > MAX_LABELS {
            continue;
        }
        for (k, v) in map {
            check(format!("{path}.{}", printable(k)), k, false);
            check(format!("{path}.{}", printable(k)), v, multiline_values);
        }
    }
}

/// A key as it can be shown in a finding's path: control characters escaped.
fn printable(key: &str) -> String {
    key.chars()
        .flat_map(|c| {
            if unsafe_char(c, false) {
                c.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn check_identity(spec: &ComponentSpec, f: &mut Findings) {
    if let Err(e) = ComponentName::parse(&spec.name) {
        f.error(
            NAME_INVALID,
            "name",
            format!("invalid component name {:?}: {e}", spec.name),
        );
    }
    match parse_version(&spec.version) {
        Ok(_) => {}
        Err(e @ VersionError::BuildMetadata { .. }) => f.error(
            VERSION_BUILD_METADATA,
            "version",
            format!("{e}; remove the +… suffix"),
        ),
        Err(e @ VersionError::TooLong { .. }) => f.error(FIELD_TOO_LARGE, "version", e.to_string()),
        Err(e) => f.error(VERSION_INVALID, "version", e.to_string()),
    }
}

fn check_required_text(spec: &ComponentSpec, f: &mut Findings) {
    for (path, value, max) in [
        ("description", &spec.description, MAX_TEXT),
        ("provider", &spec.provider, MAX_SHORT),
        ("category", &spec.category, MAX_SHORT),
        ("resource_type", &spec.resource_type, MAX_SHORT),
    ] {
        if value.trim().is_empty() {
            f.error(
                FIELD_REQUIRED,
                path,
                format!("`{path}` is required and must not be empty"),
            );
        } else {
            check_len(f, path, &format!("`{path}`"), value, max);
        }
    }
}

fn check_engines(spec: &ComponentSpec, ctx: &Context<'_>, f: &mut Findings) {
    if spec.deployment_engines.is_empty() {
        f.error(
            FIELD_REQUIRED,
            "deployment_engines",
            "at least one deployment engine is required",
        );
    }
    check_list_len(f, "deployment_engines", spec.deployment_engines.len());
    let mut seen = HashSet::new();
    for (i, engine) in spec.deployment_engines.iter().enumerate() {
        let path = format!("deployment_engines[{i}]");
        if engine.trim().is_empty() {
            f.error(FIELD_REQUIRED, path, "engine name must not be empty");
            continue;
        }
        if char_len(engine) > MAX_SHORT {
            check_len(f, path, "the engine name", engine, MAX_SHORT);
            continue;
        }
        if !seen.insert(engine) {
            f.error(
                ENGINE_DUPLICATE,
                path,
                format!("engine {engine:?} is listed more than once"),
            );
            continue;
        }
        if let Some(registry) = ctx.engines {
            match registry.status(engine) {
                None => {
                    let known: Vec<String> = registry
                        .list()
                        .into_iter()
                        .filter(|s| s.health != nestor_engines::EngineHealth::Expired)
                        .map(|s| s.name)
                        .collect();
                    f.error(
                        ENGINE_UNKNOWN,
                        path,
                        format!(
                            "engine {engine:?} is not registered (registered: {})",
                            known.join(", ")
                        ),
                    )
                }
                // A registration whose heartbeat stopped: unknown, with why.
                Some(s) if s.health == nestor_engines::EngineHealth::Expired => f.error(
                    ENGINE_UNKNOWN,
                    path,
                    format!(
                        "engine {engine:?} is no longer registered: {}",
                        s.reason.as_deref().unwrap_or("its registration expired")
                    ),
                ),
                Some(s) if !s.is_usable() => f.error(
                    ENGINE_UNHEALTHY,
                    path,
                    format!(
                        "engine {engine:?} is unhealthy: {}",
                        s.reason
                            .as_deref()
                            .or(s.last_error.as_deref())
                            .unwrap_or("failing its health checks")
                    ),
                ),
                Some(_) => {}
            }
        }
    }
}

fn check_list_len(f: &mut Findings, path: &str, len: usize) {
    if len > MAX_LIST {
        f.error(
            FIELD_TOO_LARGE,
            path,
            format!("{len} entries; at most {MAX_LIST} are allowed"),
        );
    }
}

fn check_inputs(spec: &ComponentSpec, f: &mut Findings) {
    check_list_len(f, "required_inputs", spec.required_inputs.len());
    check_list_len(f, "optional_inputs", spec.optional_inputs.len());
    let mut seen: std::collections::HashMap<&str, String> = Default::default();
    for (list, required) in [
        (&spec.required_inputs, true),
        (&spec.optional_inputs, false),
    ] {
        let list_name = if required {
            "required_inputs"
        } else {
            "optional_inputs"
        };
        for (i, input) in list.iter().enumerate() {
            let path = format!("{list_name}[{i}]");
            if !valid_field_name(&input.name) {
                f.error(
                    FIELD_NAME_INVALID,
                    format!("{path}.name"),
                    format!(
                        "input name {:?} must match {}",
                        input.name,
                        nestor_model::limits::FIELD_NAME_PATTERN
                    ),
                );
            }
            if let Some(first) = seen.get(input.name.as_str()) {
                f.error(
                    INPUT_NAME_DUPLICATE,
                    format!("{path}.name"),
                    format!("input {:?} is already declared at {first}", input.name),
                );
            } else {
                seen.insert(&input.name, path.clone());
            }
            check_len(
                f,
                format!("{path}.description"),
                "the description",
                &input.description,
                MAX_TEXT,
            );
            check_input_values(input, required, &path, f);
        }
    }
}

fn check_input_values(input: &Input, required: bool, path: &str, f: &mut Findings) {
    let t = &input.value_type;
    if let Some(default) = &input.default {
        let len = json_len(default);
        if len > MAX_DEFAULT {
            // Too large to be worth comparing with the type or the allowed values.
            check_size(
                f,
                format!("{path}.default"),
                "the default (as JSON)",
                len,
                MAX_DEFAULT,
            );
            return;
        }
    }
    if let Some(allowed) = &input.allowed_values {
        let mut too_large = false;
        for (j, value) in allowed.iter().enumerate().take(MAX_LIST + 1) {
            let len = json_len(value);
            if len > MAX_ALLOWED_VALUE {
                too_large = true;
                check_size(
                    f,
                    format!("{path}.allowed_values[{j}]"),
                    "the allowed value (as JSON)",
                    len,
                    MAX_ALLOWED_VALUE,
                );
            }
        }
        if too_large || allowed.len() > MAX_LIST {
            check_list_len(f, &format!("{path}.allowed_values"), allowed.len());
            return;
        }
    }
    if let Some(default) = &input.default {
        if required {
            f.error(
                INPUT_REQUIRED_HAS_DEFAULT,
                format!("{path}.default"),
                format!(
                    "required input {:?} has a default; remove the default or move the input to optional_inputs",
                    input.name
                ),
            );
        } else if !t.accepts(default) {
            f.error(
                INPUT_DEFAULT_TYPE_MISMATCH,
                format!("{path}.default"),
                format!(
                    "default {default} of input {:?} is not of type {t}",
                    input.name
                ),
            );
        }
    }
    let Some(allowed) = &input.allowed_values else {
        return;
    };
    if allowed.is_empty() {
        f.error(
            INPUT_ALLOWED_VALUES_EMPTY,
            format!("{path}.allowed_values"),
            format!(
                "allowed_values of input {:?} is empty; remove it or list at least one value",
                input.name
            ),
        );
        return;
    }
    check_list_len(f, &format!("{path}.allowed_values"), allowed.len());
    for (j, value) in allowed.iter().enumerate() {
        if !t.accepts(value) {
            f.error(
                INPUT_ALLOWED_VALUE_INVALID,
                format!("{path}.allowed_values[{j}]"),
                format!("allowed value {value} is not of type {t}"),
            );
        } else if allowed[..j].contains(value) {
            f.error(
                INPUT_ALLOWED_VALUE_INVALID,
                format!("{path}.allowed_values[{j}]"),
                format!("{value} is listed twice"),
            );
        }
    }
    if let Some(default) = &input.default
        && !required
        && t.accepts(default)
        && !allowed.contains(default)
    {
        f.error(
            INPUT_DEFAULT_NOT_ALLOWED,
            format!("{path}.default"),
            format!(
                "default {default} of input {:?} is not among its allowed_values",
                input.name
            ),
        );
    }
}

fn check_outputs(spec: &ComponentSpec, f: &mut Findings) {
    check_list_len(f, "outputs", spec.outputs.len());
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    for (i, output) in spec.outputs.iter().enumerate() {
        check_len(
            f,
            format!("outputs[{i}].description"),
            "the description",
            &output.description,
            MAX_TEXT,
        );
        let path = format!("outputs[{i}].name");
        if !valid_field_name(&output.name) {
            f.error(
                FIELD_NAME_INVALID,
                &path,
                format!(
                    "output name {:?} must match {}",
                    output.name,
                    nestor_model::limits::FIELD_NAME_PATTERN
                ),
            );
        }
        if let Some(first) = seen.insert(&output.name, i) {
            f.error(
                OUTPUT_NAME_DUPLICATE,
                &path,
                format!(
                    "output {:?} is already declared at outputs[{first}]",
                    output.name
                ),
            );
        }
    }
}

fn check_dependencies(spec: &ComponentSpec, f: &mut Findings) {
    check_list_len(f, "dependencies", spec.dependencies.len());
    let mut seen = HashSet::new();
    for (i, dep) in spec.dependencies.iter().enumerate() {
        let path = format!("dependencies[{i}]");
        if let Err(e) = ComponentName::parse(&dep.name) {
            f.error(
                DEPENDENCY_NAME_INVALID,
                format!("{path}.name"),
                format!("invalid component name {:?}: {e}", dep.name),
            );
        }
        if dep.name == spec.name {
            f.error(
                DEPENDENCY_SELF,
                format!("{path}.name"),
                format!("{} cannot depend on itself", spec.name),
            );
        }
        if !seen.insert(dep.name.as_str()) {
            f.error(
                DEPENDENCY_DUPLICATE,
                format!("{path}.name"),
                format!("dependency {:?} is listed more than once", dep.name),
            );
        }
        if char_len(&dep.version_req) > MAX_SHORT {
            check_len(
                f,
                format!("{path}.version_req"),
                "the requirement",
                &dep.version_req,
                MAX_SHORT,
            );
        } else if let Err(e) = VersionReq::parse(&dep.version_req) {
            f.error(
                DEPENDENCY_REQ_INVALID,
                format!("{path}.version_req"),
                format!(
                    "{:?} is not a valid version requirement (e.g. \"^1.2\", \">=1.0, <3.0\"): {e}",
                    dep.version_req
                ),
            );
        }
    }
}

fn check_maps(spec: &ComponentSpec, f: &mut Findings) {
    if let Some(limits) = &spec.resource_limits {
        for (field, value) in [("cpu", &limits.cpu), ("memory", &limits.memory)] {
            if let Some(value) = value {
                check_len(
                    f,
                    format!("resource_limits.{field}"),
                    "the quantity",
                    value,
                    MAX_QUANTITY,
                );
            }
        }
    }
    for (path, map, max_value) in [
        ("labels", &spec.labels, MAX_LABEL_VALUE),
        ("annotations", &spec.annotations, MAX_TEXT),
    ] {
        if map.len() > MAX_LABELS {
            f.error(
                FIELD_TOO_LARGE,
                path,
                format!("{} entries; at most {MAX_LABELS} are allowed", map.len()),
            );
            // One finding for the whole map, not one per entry of 100,000.
            continue;
        }
        for (k, v) in map {
            let key_len = char_len(k);
            if key_len == 0 || key_len > MAX_KEY {
                f.error(
                    FIELD_TOO_LARGE,
                    path,
                    format!(
                        "a key of {key_len} characters; keys must be 1 to {MAX_KEY} characters"
                    ),
                );
                continue;
            }
            check_len(
                f,
                format!("{path}.{}", printable(k)),
                "the value",
                v,
                max_value,
            );
        }
    }
}
