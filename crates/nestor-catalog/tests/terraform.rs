//! Interfaces that cannot drift (issue 19, item 3): a Terraform component synced from git is
//! checked against its module's `variable` and `output` blocks at the synced commit, or has its
//! interface derived from them (`interface: from_module`). Real repositories made in temp dirs.

use std::{path::Path, sync::Arc};

use git2::Repository;
use nestor_catalog::{
    Catalog, CatalogError, FileOutcome, GitSource, MAX_MODULE_FILE_BYTES, SyncOptions, SyncReport,
};
use nestor_model::{ComponentSpec, Finding, InterfaceSource, ValueType};
use nestor_storage::MemoryStore;
use nestor_testkit::{git::commit_all, spec::tester};
use nestor_validation::Validator;

fn write(root: &Path, path: &str, content: impl AsRef<[u8]>) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, content).unwrap();
}

struct Fixture {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    work: std::path::PathBuf,
    repo: Repository,
    source: GitSource,
    catalog: Catalog,
}

/// A repository whose definitions are `**/component.yaml` files.
fn fixture() -> Fixture {
    let remote = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let repo = Repository::init(remote.path()).unwrap();
    let url = format!("file://{}", remote.path().display());
    let source = GitSource::new(
        "infra",
        &url,
        "main",
        &["**/component.yaml".to_owned()],
        data.path().join("git/infra"),
    )
    .unwrap();
    Fixture {
        work: remote.path().to_owned(),
        _dirs: (remote, data),
        repo,
        source,
        catalog: Catalog::new(Arc::new(MemoryStore::new()), Validator::full(), None),
    }
}

impl Fixture {
    fn write(&self, path: &str, content: impl AsRef<[u8]>) {
        write(&self.work, path, content);
    }

    async fn sync(&self, message: &str) -> SyncReport {
        commit_all(&self.repo, message, true);
        self.catalog.sync(&self.source).await.unwrap()
    }
}

fn head(name: &str, version: &str) -> String {
    format!(
        "name: {name}\nversion: {version}\ndescription: The {name}\nprovider: aws\ncategory: network\n\
         resource_type: aws_vpc\ndeployment_engines: [terraform]\n"
    )
}

const VARIABLES: &str = r#"variable "cidr" {
  type        = string
  description = "The VPC's CIDR block"
  default     = "10.0.0.0/16"
}

variable "az_count" {
  type = number
}

variable "tags" {
  type    = map(string)
  default = {}
}
"#;

const OUTPUTS: &str = r#"output "vpc_id" {
  value       = aws_vpc.this.id
  description = "The VPC's id"
}
"#;

const MAIN: &str = r#"resource "aws_vpc" "this" {
  cidr_block = var.cidr
  tags       = var.tags
}
"#;

/// The interface of the module above, declared (lines 8 to 19 of the definition).
const DECLARED: &str = "required_inputs:\n  - name: az_count\n    type: integer\noptional_inputs:\n  - name: cidr\n    type: string\n    default: 10.0.0.0/16\n  - name: tags\n    type: map(string)\n    default: {}\noutputs:\n  - name: vpc_id\n    type: string\n";

fn module(f: &Fixture, dir: &str, variables: &str) {
    f.write(&format!("{dir}/variables.tf"), variables);
    f.write(&format!("{dir}/outputs.tf"), OUTPUTS);
    f.write(&format!("{dir}/main.tf"), MAIN);
}

fn failed<'a>(report: &'a SyncReport, path: &str) -> &'a FileOutcome {
    report
        .outcomes
        .iter()
        .find(|o| o.path == path && o.status == "failed")
        .unwrap_or_else(|| panic!("{path} did not fail: {report:#?}"))
}

fn with_rule<'a>(outcome: &'a FileOutcome, rule: &str) -> Vec<&'a Finding> {
    outcome.findings.iter().filter(|f| f.rule == rule).collect()
}

#[tokio::test]
async fn a_module_that_agrees_with_its_definition_syncs() {
    let f = fixture();
    module(&f, "modules/vpc", VARIABLES);
    f.write(
        "modules/vpc/component.yaml",
        format!("{}{DECLARED}", head("vpc", "1.0.0")),
    );
    let report = f.sync("first").await;
    assert_eq!((report.created, report.failed), (1, 0), "{report:#?}");
    let vpc = f.catalog.version("vpc", "1.0.0").await.unwrap();
    assert_eq!(vpc.spec.module_dir().as_deref(), Some("modules/vpc"));
}

#[tokio::test]
async fn a_module_whose_variables_disagree_is_refused_with_both_positions() {
    let f = fixture();
    // The module's variables.tf disagrees: az_count has a default now (the definition says
    // required, which is fine), cidr has none (the definition says optional), tags is a list,
    // and a new variable is not in the definition.
    let drifted = r#"variable "cidr" {
  type = string
}

variable "az_count" {
  type    = number
  default = 2
}

variable "tags" {
  type    = list(string)
  default = []
}

variable "ipv6" {
  type    = bool
  default = false
}
"#;
    module(&f, "modules/vpc", drifted);
    f.write(
        "modules/vpc/component.yaml",
        format!("{}{DECLARED}", head("vpc", "1.0.0")),
    );
    let report = f.sync("drift").await;
    assert_eq!((report.created, report.failed), (0, 1), "{report:#?}");
    let outcome = failed(&report, "modules/vpc/component.yaml");
    let shown: Vec<String> = outcome
        .findings
        .iter()
        .map(|f| {
            format!(
                "{}:{}: {} {}",
                f.file.as_deref().unwrap_or("?"),
                f.line.unwrap_or(0),
                f.rule,
                f.message
            )
        })
        .collect();
    // Each finding: the definition's file and line, and the module's.
    let required = with_rule(outcome, "MODULE_INPUT_REQUIRED");
    assert_eq!(required.len(), 1, "{shown:#?}");
    assert_eq!(
        (required[0].file.as_deref(), required[0].line),
        (Some("modules/vpc/component.yaml"), Some(12)),
        "{shown:#?}"
    );
    assert!(
        required[0]
            .message
            .contains("modules/vpc/variables.tf:1 has no default"),
        "{shown:#?}"
    );
    let mismatch = with_rule(outcome, "MODULE_INPUT_TYPE_MISMATCH");
    assert_eq!(mismatch.len(), 1, "{shown:#?}");
    assert_eq!(mismatch[0].line, Some(16), "{shown:#?}");
    assert!(
        mismatch[0].message.contains("modules/vpc/variables.tf:10")
            && mismatch[0].message.contains("`list(string)`"),
        "{shown:#?}"
    );
    let undeclared = with_rule(outcome, "MODULE_INPUT_UNDECLARED");
    assert_eq!(undeclared.len(), 1, "{shown:#?}");
    assert_eq!(undeclared[0].line, Some(11), "{shown:#?}");
    assert!(
        undeclared[0]
            .message
            .contains("`variable \"ipv6\"` at modules/vpc/variables.tf:15"),
        "{shown:#?}"
    );
    assert!(
        f.catalog.version("vpc", "1.0.0").await.is_err(),
        "nothing published"
    );

    // The module fixed to agree, the definition untouched: an incremental sync reads the
    // definitions beside the changed .tf files again.
    let drift_commit = report.revision.clone().unwrap();
    module(&f, "modules/vpc", VARIABLES);
    commit_all(&f.repo, "fixed", true);
    let report = f
        .catalog
        .sync_with(
            &f.source,
            SyncOptions {
                since: Some(&drift_commit),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(report.incremental);
    assert_eq!(
        (report.files, report.created, report.failed),
        (1, 1, 0),
        "{report:#?}"
    );

    // And a .tf-only commit that makes it drift is reported at once.
    let fixed_commit = report.revision.clone().unwrap();
    f.write(
        "modules/vpc/extra.tf",
        "variable \"ipv6\" {\n  type = bool\n}\n",
    );
    commit_all(&f.repo, "a new variable", true);
    let report = f
        .catalog
        .sync_with(
            &f.source,
            SyncOptions {
                since: Some(&fixed_commit),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let outcome = failed(&report, "modules/vpc/component.yaml");
    assert!(
        with_rule(outcome, "MODULE_INPUT_UNDECLARED")[0]
            .message
            .contains("modules/vpc/extra.tf:1"),
        "{outcome:#?}"
    );
}

#[tokio::test]
async fn missing_and_extra_inputs_and_outputs_are_findings() {
    let f = fixture();
    module(&f, "modules/vpc", VARIABLES);
    let text = format!(
        "{}required_inputs:\n  - name: az_count\n    type: number\n  - name: region\n    type: string\noptional_inputs:\n  - name: cidr\n    type: string\n  - name: tags\n    type: map(string)\noutputs:\n  - name: arn\n    type: string\n",
        head("vpc", "1.0.0")
    );
    f.write("modules/vpc/component.yaml", text);
    let report = f.sync("first").await;
    let outcome = failed(&report, "modules/vpc/component.yaml");
    let rules: Vec<(&str, Option<u32>)> = outcome
        .findings
        .iter()
        .map(|f| (f.rule.as_str(), f.line))
        .collect();
    assert!(
        rules.contains(&("MODULE_INPUT_MISSING", Some(11))),
        "{outcome:#?}"
    );
    assert!(
        rules.contains(&("MODULE_OUTPUT_MISSING", Some(19))),
        "{outcome:#?}"
    );
    let extra = with_rule(outcome, "MODULE_OUTPUT_UNDECLARED");
    assert_eq!(extra[0].line, Some(18), "{outcome:#?}");
    assert!(
        extra[0]
            .message
            .contains("`output \"vpc_id\"` at modules/vpc/outputs.tf:1"),
        "{outcome:#?}"
    );
}

#[tokio::test]
async fn from_module_derives_the_interface_and_the_gate_classifies_the_modules_changes() {
    let f = fixture();
    module(&f, "terraform/vpc", VARIABLES);
    let definition = |version: &str| {
        format!(
            "{}interface: from_module\nmodule_path: terraform/vpc\n",
            head("vpc", version)
        )
    };
    f.write("catalog/vpc/component.yaml", definition("1.0.0"));
    let report = f.sync("first").await;
    assert_eq!((report.created, report.failed), (1, 0), "{report:#?}");
    let v1 = f.catalog.version("vpc", "1.0.0").await.unwrap();
    let spec: &ComponentSpec = &v1.spec;
    assert_eq!(spec.interface, InterfaceSource::FromModule);
    assert_eq!(spec.module_dir().as_deref(), Some("terraform/vpc"));
    let names = |l: &[nestor_model::Input]| l.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&spec.required_inputs), ["az_count"]);
    assert_eq!(names(&spec.optional_inputs), ["cidr", "tags"]);
    let cidr = &spec.optional_inputs[0];
    assert_eq!(cidr.value_type, ValueType::String);
    assert_eq!(cidr.default, Some(serde_json::json!("10.0.0.0/16")));
    assert_eq!(cidr.description, "The VPC's CIDR block");
    assert_eq!(spec.required_inputs[0].value_type, ValueType::Number);
    assert_eq!(spec.outputs.len(), 1);
    assert_eq!(spec.outputs[0].value_type, ValueType::Any);
    assert_eq!(spec.outputs[0].description, "The VPC's id");

    // The module drops a variable, and the definition claims a minor version: the gate sees
    // the module's real change (an input removed) and refuses it.
    let without_tags = VARIABLES
        .split("variable \"tags\"")
        .next()
        .unwrap()
        .to_owned();
    module(&f, "terraform/vpc", &without_tags);
    f.write("catalog/vpc/component.yaml", definition("1.1.0"));
    let report = f.sync("drop tags").await;
    assert_eq!((report.created, report.failed), (0, 1), "{report:#?}");
    let outcome = failed(&report, "catalog/vpc/component.yaml");
    let bump = with_rule(outcome, "VERSION_BUMP_INSUFFICIENT");
    assert_eq!(bump.len(), 1, "{outcome:#?}");
    assert!(bump[0].message.contains("2.0.0"), "{outcome:#?}");
    let checked = f
        .catalog
        .validate(
            &{
                let mut s = f.catalog.version("vpc", "1.0.0").await.unwrap().spec;
                s.version = "1.1.0".into();
                s.optional_inputs.retain(|i| i.name != "tags");
                s
            },
            Some(&nestor_catalog::Origin::Source { id: "infra".into() }),
            None,
            None,
        )
        .await
        .unwrap();
    assert!(
        checked
            .changes
            .iter()
            .any(|c| c.rule == "INPUT_REMOVED" && c.path.contains("tags")),
        "{checked:#?}"
    );

    // As a major version it is accepted.
    f.write("catalog/vpc/component.yaml", definition("2.0.0"));
    let report = f.sync("2.0.0").await;
    assert_eq!((report.created, report.failed), (1, 0), "{report:#?}");
    let v2 = f.catalog.version("vpc", "2.0.0").await.unwrap();
    assert_eq!(names(&v2.spec.optional_inputs), ["cidr"]);
}

#[tokio::test]
async fn from_module_with_a_declared_interface_is_refused() {
    let f = fixture();
    module(&f, "modules/vpc", VARIABLES);
    f.write(
        "modules/vpc/component.yaml",
        format!("{}interface: from_module\n{DECLARED}", head("vpc", "1.0.0")),
    );
    let report = f.sync("first").await;
    let outcome = failed(&report, "modules/vpc/component.yaml");
    let declared = with_rule(outcome, "MODULE_INTERFACE_DECLARED");
    assert_eq!(declared.len(), 3, "{outcome:#?}");
    assert_eq!(declared[0].line, Some(9), "{outcome:#?}");
}

#[tokio::test]
async fn a_module_path_out_of_the_repository_is_refused() {
    let f = fixture();
    for (name, path) in [
        ("up", "../elsewhere"),
        ("abs", "/etc"),
        ("git", "modules/.git/hooks"),
    ] {
        f.write(
            &format!("{name}/component.yaml"),
            format!(
                "{}interface: from_module\nmodule_path: {path}\n",
                head(name, "1.0.0")
            ),
        );
    }
    let report = f.sync("escape").await;
    assert_eq!((report.created, report.failed), (0, 3), "{report:#?}");
    for name in ["up", "abs", "git"] {
        let outcome = failed(&report, &format!("{name}/component.yaml"));
        assert_eq!(
            with_rule(outcome, "MODULE_PATH_INVALID").len(),
            1,
            "{outcome:#?}"
        );
    }
}

#[tokio::test]
async fn an_oversized_tf_file_is_refused_without_reading_it() {
    let f = fixture();
    module(&f, "modules/vpc", VARIABLES);
    // Compresses to almost nothing in git; its size comes from the object's header.
    f.write(
        "modules/vpc/huge.tf",
        vec![b'\n'; MAX_MODULE_FILE_BYTES as usize + 1],
    );
    f.write(
        "modules/vpc/component.yaml",
        format!("{}{DECLARED}", head("vpc", "1.0.0")),
    );
    let report = f.sync("huge").await;
    let outcome = failed(&report, "modules/vpc/component.yaml");
    let unreadable = with_rule(outcome, "MODULE_UNREADABLE");
    assert_eq!(unreadable.len(), 1, "{outcome:#?}");
    assert!(
        unreadable[0]
            .message
            .starts_with("modules/vpc/huge.tf: file is 1048577 bytes"),
        "{outcome:#?}"
    );
}

#[tokio::test]
async fn unreadable_modules_are_findings_with_their_positions() {
    let f = fixture();
    // Not HCL.
    f.write(
        "bad/main.tf",
        "variable \"x\" {\n  type = string\n\nresource {\n",
    );
    f.write("bad/component.yaml", head("bad", "1.0.0"));
    // A module_path with no directory at the commit.
    f.write(
        "gone/component.yaml",
        format!("{}module_path: modules/gone\n", head("gone", "1.0.0")),
    );
    // A definition beside no module at all, declared: a catalog-only repository.
    f.write("plain/component.yaml", head("plain", "1.0.0"));
    // A link is not followed.
    f.write("linked/real.txt", "variable \"x\" {}\n");
    std::os::unix::fs::symlink("real.txt", f.work.join("linked/vars.tf")).unwrap();
    f.write("linked/component.yaml", head("linked", "1.0.0"));
    let report = f.sync("first").await;
    assert_eq!((report.created, report.failed), (1, 3), "{report:#?}");

    let bad = with_rule(failed(&report, "bad/component.yaml"), "MODULE_UNREADABLE");
    assert!(
        bad[0].message.starts_with("bad/main.tf:") && bad[0].message.contains("not valid HCL"),
        "{bad:#?}"
    );
    let gone = with_rule(failed(&report, "gone/component.yaml"), "MODULE_UNREADABLE");
    assert_eq!(gone[0].line, Some(8), "the module_path line: {gone:#?}");
    assert!(
        gone[0]
            .message
            .contains("there is no directory `modules/gone` at the synced commit"),
        "{gone:#?}"
    );
    let linked = with_rule(
        failed(&report, "linked/component.yaml"),
        "MODULE_UNREADABLE",
    );
    assert!(
        linked[0]
            .message
            .contains("linked/vars.tf: symbolic link not followed"),
        "{linked:#?}"
    );
    assert!(f.catalog.version("plain", "1.0.0").await.is_ok());
}

#[tokio::test]
async fn from_module_through_the_api_is_refused() {
    let c = Catalog::new(Arc::new(MemoryStore::new()), Validator::full(), None);
    let spec = nestor_model::parse_definitions(
        &format!("{}interface: from_module\n", head("vpc", "1.0.0")),
        nestor_model::SourceFormat::Yaml,
    )
    .remove(0)
    .result
    .unwrap();
    match c.publish(spec, &tester()).await {
        Err(CatalogError::Invalid(report)) => {
            let f = report
                .findings
                .iter()
                .find(|f| f.rule == "MODULE_INTERFACE_UNAVAILABLE")
                .unwrap_or_else(|| panic!("{report:#?}"));
            assert!(f.message.contains("published through the API"), "{f:?}");
        }
        other => panic!("{other:?}"),
    }
}
