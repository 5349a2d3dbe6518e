//! Table-driven tests of the well-formedness rules: one accepting and at least one rejecting case
//! per rule, checked by rule id and field path.

use nestor_model::{SourceFormat, parse_definitions};
use nestor_validation::{Context, Validator};

const BASE: &str = r#"
name: aws-rds-postgres
version: 1.2.0
description: Managed PostgreSQL
provider: aws
category: database
resource_type: aws_db_instance
deployment_engines: [terraform, pulumi]
dependencies:
  - name: aws-vpc
    version_req: "^2.0"
required_inputs:
  - name: instance_class
    type: string
    allowed_values: [db.t3.micro, db.t3.small]
optional_inputs:
  - name: storage_gb
    type: integer
    default: 20
  - name: tags
    type: map(string)
    default: {team: data}
outputs:
  - name: endpoint
    type: string
"#;

fn validate(yaml: &str) -> Vec<(String, String)> {
    let docs = parse_definitions(yaml, SourceFormat::Yaml);
    let spec = docs[0].result.as_ref().expect("test yaml parses");
    let report = Validator::well_formed().validate(spec, &Context::default());
    assert_eq!(report.valid, report.findings.is_empty(), "{report:?}");
    report
        .findings
        .into_iter()
        .map(|f| (f.rule, f.path))
        .collect()
}

fn with(old: &str, new: &str) -> String {
    assert!(BASE.contains(old), "{old}");
    BASE.replacen(old, new, 1)
}

#[test]
fn base_definition_is_valid() {
    assert_eq!(validate(BASE), vec![]);
}

#[test]
fn rejecting_cases_name_rule_and_path() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "name: aws-rds-postgres",
            "name: AWS_RDS",
            "NAME_INVALID",
            "name",
        ),
        (
            "version: 1.2.0",
            "version: \"1.2\"",
            "VERSION_INVALID",
            "version",
        ),
        (
            "version: 1.2.0",
            "version: 1.2.0+build.7",
            "VERSION_BUILD_METADATA",
            "version",
        ),
        (
            "description: Managed PostgreSQL",
            "description: \"  \"",
            "FIELD_REQUIRED",
            "description",
        ),
        (
            "provider: aws",
            "provider: \"\"",
            "FIELD_REQUIRED",
            "provider",
        ),
        (
            "deployment_engines: [terraform, pulumi]",
            "deployment_engines: []",
            "FIELD_REQUIRED",
            "deployment_engines",
        ),
        (
            "deployment_engines: [terraform, pulumi]",
            "deployment_engines: [terraform, terraform]",
            "ENGINE_DUPLICATE",
            "deployment_engines[1]",
        ),
        (
            "  - name: storage_gb",
            "  - name: instance_class",
            "INPUT_NAME_DUPLICATE",
            "optional_inputs[0].name",
        ),
        (
            "  - name: storage_gb",
            "  - name: Storage-GB",
            "FIELD_NAME_INVALID",
            "optional_inputs[0].name",
        ),
        (
            "    default: 20",
            "    default: twenty",
            "INPUT_DEFAULT_TYPE_MISMATCH",
            "optional_inputs[0].default",
        ),
        (
            "    default: 20",
            "    default: 20.5",
            "INPUT_DEFAULT_TYPE_MISMATCH",
            "optional_inputs[0].default",
        ),
        (
            "    default: {team: data}",
            "    default: {team: 3}",
            "INPUT_DEFAULT_TYPE_MISMATCH",
            "optional_inputs[1].default",
        ),
        (
            "    allowed_values: [db.t3.micro, db.t3.small]",
            "    allowed_values: [db.t3.micro, db.t3.small]\n    default: db.t3.micro",
            "INPUT_REQUIRED_HAS_DEFAULT",
            "required_inputs[0].default",
        ),
        (
            "    allowed_values: [db.t3.micro, db.t3.small]",
            "    allowed_values: []",
            "INPUT_ALLOWED_VALUES_EMPTY",
            "required_inputs[0].allowed_values",
        ),
        (
            "    allowed_values: [db.t3.micro, db.t3.small]",
            "    allowed_values: [db.t3.micro, 5]",
            "INPUT_ALLOWED_VALUE_INVALID",
            "required_inputs[0].allowed_values[1]",
        ),
        (
            "    allowed_values: [db.t3.micro, db.t3.small]",
            "    allowed_values: [a, a]",
            "INPUT_ALLOWED_VALUE_INVALID",
            "required_inputs[0].allowed_values[1]",
        ),
        (
            "    default: 20",
            "    default: 20\n    allowed_values: [10, 30]",
            "INPUT_DEFAULT_NOT_ALLOWED",
            "optional_inputs[0].default",
        ),
        (
            "  - name: endpoint",
            "  - name: 1endpoint",
            "FIELD_NAME_INVALID",
            "outputs[0].name",
        ),
        (
            "outputs:\n  - name: endpoint\n    type: string",
            "outputs:\n  - name: endpoint\n    type: string\n  - name: endpoint\n    type: string",
            "OUTPUT_NAME_DUPLICATE",
            "outputs[1].name",
        ),
        (
            "  - name: aws-vpc",
            "  - name: AWS-VPC",
            "DEPENDENCY_NAME_INVALID",
            "dependencies[0].name",
        ),
        (
            "  - name: aws-vpc",
            "  - name: aws-rds-postgres",
            "DEPENDENCY_SELF",
            "dependencies[0].name",
        ),
        (
            "    version_req: \"^2.0\"",
            "    version_req: \"^2.0\"\n  - name: aws-vpc\n    version_req: \"^2.1\"",
            "DEPENDENCY_DUPLICATE",
            "dependencies[1].name",
        ),
        (
            "    version_req: \"^2.0\"",
            "    version_req: \"two\"",
            "DEPENDENCY_REQ_INVALID",
            "dependencies[0].version_req",
        ),
    ];
    for (old, new, rule, path) in cases {
        let findings = validate(&with(old, new));
        assert!(
            findings.iter().any(|(r, p)| r == rule && p == path),
            "replacing {old:?} with {new:?}: expected {rule} at {path}, got {findings:?}"
        );
    }
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let yaml = with("name: aws-rds-postgres", "name: Bad")
        .replacen("version: 1.2.0", "version: \"1\"", 1)
        .replacen("    default: 20", "    default: x", 1);
    let rules: Vec<String> = validate(&yaml).into_iter().map(|(r, _)| r).collect();
    for r in [
        "NAME_INVALID",
        "VERSION_INVALID",
        "INPUT_DEFAULT_TYPE_MISMATCH",
    ] {
        assert!(rules.iter().any(|x| x == r), "{r} missing from {rules:?}");
    }
}

#[test]
fn size_limits() {
    let mut yaml = BASE.to_owned();
    yaml.push_str("labels:\n");
    for i in 0..100 {
        yaml.push_str(&format!("  k{i}: v\n"));
    }
    assert!(
        validate(&yaml)
            .iter()
            .any(|(r, p)| r == "FIELD_TOO_LARGE" && p == "labels")
    );
    let long = with(
        "description: Managed PostgreSQL",
        &format!("description: {}", "x".repeat(10_000)),
    );
    assert!(
        validate(&long)
            .iter()
            .any(|(r, p)| r == "FIELD_TOO_LARGE" && p == "description")
    );
}

#[test]
fn engines_are_checked_against_the_registry_when_given() {
    let docs = parse_definitions(BASE, SourceFormat::Yaml);
    let spec = docs[0].result.as_ref().unwrap();
    let engines = nestor_engines::StaticEngines::new(["terraform"]);
    let ctx = Context {
        engines: Some(&engines),
        ..Default::default()
    };
    let report = Validator::well_formed().validate(spec, &ctx);
    let f = &report.findings[0];
    assert_eq!(
        (f.rule.as_str(), f.path.as_str()),
        ("ENGINE_UNKNOWN", "deployment_engines[1]")
    );
    assert!(
        f.message
            .contains("\"pulumi\" is not registered (registered: terraform)"),
        "{}",
        f.message
    );
}

/// A registry whose engines are in fixed states.
struct Fixed(Vec<nestor_engines::EngineStatus>);

impl nestor_engines::EngineRegistry for Fixed {
    fn status(&self, name: &str) -> Option<nestor_engines::EngineStatus> {
        self.0.iter().find(|s| s.name == name).cloned()
    }
    fn list(&self) -> Vec<nestor_engines::EngineStatus> {
        self.0.clone()
    }
}

#[test]
fn unusable_engines_are_rejected_with_the_reason() {
    use nestor_engines::{EngineHealth, EngineSource, EngineStatus};
    let docs = parse_definitions(BASE, SourceFormat::Yaml);
    let spec = docs[0].result.as_ref().unwrap();
    let with = |health, reason: &str| EngineStatus {
        health,
        usable: false,
        reason: Some(reason.to_owned()),
        ..EngineStatus::new("pulumi", EngineSource::Registered)
    };
    let engines = |pulumi| {
        Fixed(vec![
            EngineStatus::new("terraform", EngineSource::Config),
            pulumi,
        ])
    };
    let finding = |engines: Fixed| {
        let ctx = Context {
            engines: Some(&engines),
            ..Default::default()
        };
        let f = Validator::well_formed().validate(spec, &ctx).findings[0].clone();
        (f.rule, f.message)
    };
    assert_eq!(
        finding(engines(with(
            EngineHealth::Unhealthy,
            "health check failed 3 times in a row: HTTP 503 Service Unavailable"
        ))),
        (
            "ENGINE_UNHEALTHY".to_owned(),
            "engine \"pulumi\" is unhealthy: health check failed 3 times in a row: HTTP 503 Service Unavailable".to_owned()
        )
    );
    assert_eq!(
        finding(engines(with(
            EngineHealth::Expired,
            "registration expired: no heartbeat since 2025-01-01T00:00:00Z (ttl 60s)"
        ))),
        (
            "ENGINE_UNKNOWN".to_owned(),
            "engine \"pulumi\" is no longer registered: registration expired: no heartbeat since 2025-01-01T00:00:00Z (ttl 60s)".to_owned()
        )
    );
}

#[test]
fn findings_carry_file_and_line() {
    let docs = parse_definitions(
        &with("name: aws-rds-postgres", "name: Bad"),
        SourceFormat::Yaml,
    );
    let spec = docs[0].result.as_ref().unwrap();
    let ctx = Context {
        file: Some("components/rds.yaml"),
        line: Some(docs[0].line),
        ..Default::default()
    };
    let report = Validator::well_formed().validate(spec, &ctx);
    assert_eq!(
        report.findings[0].file.as_deref(),
        Some("components/rds.yaml")
    );
    assert_eq!(report.findings[0].line, Some(2));
}

#[test]
fn control_characters_bidi_overrides_and_overlong_versions_are_refused() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "description: Managed PostgreSQL",
            "description: \"Managed \\e[31mPostgreSQL\\e[0m\"",
            "FIELD_CONTROL_CHARACTER",
            "description",
        ),
        (
            "description: Managed PostgreSQL",
            "description: \"Managed \\u202Egnp.exe\"",
            "FIELD_CONTROL_CHARACTER",
            "description",
        ),
        (
            "provider: aws",
            "provider: \"aws\\tlegacy\"",
            "FIELD_CONTROL_CHARACTER",
            "provider",
        ),
        (
            "category: database",
            "category: database\nlabels: {\"team\\0x\": data}",
            "FIELD_CONTROL_CHARACTER",
            "labels.team\\u{0}x",
        ),
        (
            "category: database",
            "category: database\nlabels: {team: \"da\\0ta\"}",
            "FIELD_CONTROL_CHARACTER",
            "labels.team",
        ),
    ];
    for (old, new, rule, path) in cases {
        let found = validate(&with(old, new));
        assert!(
            found.contains(&(rule.to_string(), path.to_string())),
            "{new}: {found:?}"
        );
    }
    let long = format!("version: 1.2.0-{}", "a".repeat(20_000));
    assert!(
        validate(&with("version: 1.2.0", &long))
            .contains(&("FIELD_TOO_LARGE".to_string(), "version".to_string()))
    );
    // Line breaks and tabs stay allowed in multi-line text.
    let multiline = with(
        "description: Managed PostgreSQL",
        "description: \"Managed\\n\\tPostgreSQL\"\nannotations: {notes: \"one\\ntwo\"}",
    );
    assert_eq!(validate(&multiline), vec![]);
}

#[test]
fn input_and_output_names_may_be_as_long_as_real_terraform_variables() {
    // terraform-aws-vpc has had a 65-character variable since 4.0.0.
    let long = format!("a{}", "_b".repeat(32));
    assert_eq!(long.len(), 65);
    let ok = with("  - name: storage_gb", &format!("  - name: {long}"));
    assert_eq!(validate(&ok), vec![]);
    let too_long = format!("a{}", "b".repeat(128));
    let refused = with("  - name: storage_gb", &format!("  - name: {too_long}"));
    assert_eq!(
        validate(&refused),
        vec![(
            "FIELD_NAME_INVALID".to_owned(),
            "optional_inputs[0].name".to_owned()
        )]
    );
}

/// Issue 15, item 13: every string and collection field has a limit — allowed values (count and
/// each value's size), defaults, input and output descriptions, engine names, requirements,
/// resource quantities, label values and annotation keys — and each is one finding at its path.
#[test]
fn every_string_and_collection_field_is_limited() {
    let big = "x".repeat(10 * 1024);
    let cases: Vec<(String, &str)> = vec![
        (
            with(
                "allowed_values: [db.t3.micro, db.t3.small]",
                &format!("allowed_values: [db.t3.micro, {}]", "y".repeat(2000)),
            ),
            "required_inputs[0].allowed_values[1]",
        ),
        (
            with(
                "allowed_values: [db.t3.micro, db.t3.small]",
                &format!(
                    "allowed_values: [{}]",
                    (0..300)
                        .map(|i| format!("v{i}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            "required_inputs[0].allowed_values",
        ),
        (
            with(
                "default: {team: data}",
                &format!("default: {{team: {big}}}"),
            ),
            "optional_inputs[1].default",
        ),
        (
            with(
                "  - name: storage_gb\n",
                &format!("  - name: storage_gb\n    description: {big}\n"),
            ),
            "optional_inputs[0].description",
        ),
        (
            with(
                "  - name: endpoint\n",
                &format!("  - name: endpoint\n    description: {big}\n"),
            ),
            "outputs[0].description",
        ),
        (
            with(
                "deployment_engines: [terraform, pulumi]",
                &format!("deployment_engines: [terraform, {}]", "e".repeat(300)),
            ),
            "deployment_engines[1]",
        ),
        (
            with(
                "version_req: \"^2.0\"",
                &format!("version_req: \"^2.0{}\"", ", >=1".repeat(100)),
            ),
            "dependencies[0].version_req",
        ),
        (
            format!("{BASE}resource_limits: {{cpu: \"{}\"}}\n", "5".repeat(100)),
            "resource_limits.cpu",
        ),
        (
            format!("{BASE}labels: {{team: {}}}\n", "d".repeat(300)),
            "labels.team",
        ),
        (
            format!("{BASE}annotations: {{{}: x}}\n", "k".repeat(200)),
            "annotations",
        ),
    ];
    for (yaml, path) in cases {
        let found = validate(&yaml);
        assert_eq!(
            found,
            [("FIELD_TOO_LARGE".to_owned(), path.to_owned())],
            "{path}"
        );
    }
    // At the limits: accepted (an annotation value may be long; a label value 256 bytes).
    let ok = format!(
        "{BASE}labels: {{team: {}}}\nannotations: {{docs: {}}}\nresource_limits: {{cpu: 500m, memory: 512Mi}}\n",
        "d".repeat(256),
        "a".repeat(8 * 1024)
    );
    assert_eq!(validate(&ok), vec![]);
    // A control character in an engine name or a quantity is refused like in any text.
    let found = validate(&format!("{BASE}resource_limits: {{cpu: \"5\\e[0m\"}}\n"));
    assert_eq!(
        found,
        [(
            "FIELD_CONTROL_CHARACTER".to_owned(),
            "resource_limits.cpu".to_owned()
        )]
    );
}

#[test]
fn acknowledged_breaking_changes_are_well_formed() {
    let ack = |rule: &str, path: &str, reason: &str| {
        format!(
            "{BASE}acknowledged_breaking_changes:\n  - rule: {rule}\n    path: \"{path}\"\n    reason: \"{reason}\"\n"
        )
    };
    assert_eq!(
        validate(&ack(
            "INPUT_TYPE_CHANGED",
            "inputs[port].type",
            "upstream did"
        )),
        vec![]
    );
    assert_eq!(
        validate(&ack("TYPE_CHANGED", "", " ")),
        [
            (
                "ACKNOWLEDGEMENT_INVALID".to_owned(),
                "acknowledged_breaking_changes[0].rule".to_owned()
            ),
            (
                "ACKNOWLEDGEMENT_INVALID".to_owned(),
                "acknowledged_breaking_changes[0].path".to_owned()
            ),
            (
                "FIELD_REQUIRED".to_owned(),
                "acknowledged_breaking_changes[0].reason".to_owned()
            ),
        ]
    );
    let long = "r".repeat(2000);
    assert_eq!(
        validate(&ack("INPUT_TYPE_CHANGED", "inputs[port].type", &long)),
        [(
            "FIELD_TOO_LARGE".to_owned(),
            "acknowledged_breaking_changes[0].reason".to_owned()
        )]
    );
}

#[test]
fn module_path_and_interface() {
    let engines = "deployment_engines: [terraform, pulumi]";
    for ok in ["modules/vpc", "./modules/vpc/", ".", "\"\""] {
        let yaml = with(engines, &format!("{engines}\nmodule_path: {ok}"));
        assert_eq!(validate(&yaml), vec![], "{ok}");
    }
    for bad in [
        "../vpc",
        "modules/../../vpc",
        "/etc",
        "modules//vpc",
        "modules/.git",
        "modules/.GIT/x",
        "'C:\\modules'",
    ] {
        let yaml = with(engines, &format!("{engines}\nmodule_path: {bad}"));
        assert_eq!(
            validate(&yaml),
            vec![("MODULE_PATH_INVALID".to_owned(), "module_path".to_owned())],
            "{bad}"
        );
    }
    let from_module = with(engines, &format!("{engines}\ninterface: from_module"));
    assert_eq!(validate(&from_module), vec![]);
    let not_terraform = with(
        engines,
        "deployment_engines: [pulumi]\ninterface: from_module",
    );
    assert_eq!(
        validate(&not_terraform),
        vec![(
            "MODULE_INTERFACE_UNAVAILABLE".to_owned(),
            "interface".to_owned()
        )]
    );
}
