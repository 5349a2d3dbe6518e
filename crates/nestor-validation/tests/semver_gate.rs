//! The classifier and the semver gate, table-driven: every change rule is exercised, accepted at
//! the bump it requires and rejected one level below.

use std::collections::BTreeSet;

use nestor_model::{Bump, ComponentSpec, SourceFormat, parse_definitions};
use nestor_testkit::published;
use nestor_validation::{CHANGE_RULES, CatalogSnapshot, Context, Validator, classify};

const BASE: &str = r#"
name: db
version: 1.2.3
description: A database
provider: aws
category: database
resource_type: aws_db_instance
deployment_engines: [terraform, pulumi]
dependencies:
  - name: vpc
    version_req: "^2.0"
required_inputs:
  - name: instance_class
    type: string
    description: Size
    allowed_values: [small, large]
optional_inputs:
  - name: storage_gb
    type: integer
    description: Storage
    default: 20
outputs:
  - name: endpoint
    type: string
    description: Where to connect
maturity: beta
support_level: community
resource_limits: {cpu: 500m}
labels: {team: data}
annotations: {docs: x}
"#;

fn base() -> ComponentSpec {
    parse_definitions(BASE, SourceFormat::Yaml)
        .remove(0)
        .result
        .unwrap()
}

/// A catalog holding `db` at the given versions (all with the base interface) and `vpc`
/// 1.0.0, 2.0.0 and 2.1.0, and `kms` 1.0.0.
fn catalog(db_versions: &[&str]) -> CatalogSnapshot {
    let mut snap = CatalogSnapshot::new();
    let mut rev = 0;
    for (name, versions) in [
        ("vpc", &["1.0.0", "2.0.0", "2.1.0"][..]),
        ("kms", &["1.0.0"][..]),
        ("db", db_versions),
    ] {
        snap.set_owner(name, Some("source:test".into()));
        for v in versions {
            rev += 1;
            let mut s = if name == "db" {
                base()
            } else {
                ComponentSpec {
                    name: name.into(),
                    ..base()
                }
            };
            s.name = name.into();
            s.version = (*v).into();
            if name != "db" {
                s.dependencies.clear();
            }
            snap.add_published(&published(s, rev));
        }
    }
    snap
}

fn check(spec: &ComponentSpec, snap: &CatalogSnapshot) -> nestor_model::ValidationReport {
    let ctx = Context {
        catalog: Some(snap),
        origin: Some("source:test"),
        ..Default::default()
    };
    Validator::full().validate(spec, &ctx)
}

type Mutation = fn(&mut ComponentSpec);

fn input<'a>(s: &'a mut ComponentSpec, name: &str) -> &'a mut nestor_model::Input {
    s.required_inputs
        .iter_mut()
        .chain(s.optional_inputs.iter_mut())
        .find(|i| i.name == name)
        .unwrap()
}

/// One mutation of the base definition per rule.
fn table() -> Vec<(&'static str, Mutation)> {
    vec![
        ("PROVIDER_CHANGED", |s| s.provider = "gcp".into()),
        ("CATEGORY_CHANGED", |s| s.category = "storage".into()),
        ("RESOURCE_TYPE_CHANGED", |s| {
            s.resource_type = "aws_rds_cluster".into()
        }),
        ("ENGINE_REMOVED", |s| {
            s.deployment_engines.retain(|e| e != "pulumi")
        }),
        ("ENGINE_ADDED", |s| s.deployment_engines.push("helm".into())),
        ("INPUT_REMOVED", |s| s.optional_inputs.clear()),
        ("INPUT_REQUIRED_ADDED", |s| {
            let mut i = s.required_inputs[0].clone();
            i.name = "zone".into();
            s.required_inputs.push(i)
        }),
        ("INPUT_OPTIONAL_ADDED", |s| {
            let mut i = s.optional_inputs[0].clone();
            i.name = "backup_days".into();
            s.optional_inputs.push(i)
        }),
        ("INPUT_MADE_REQUIRED", |s| {
            let mut i = s.optional_inputs.remove(0);
            i.default = None;
            s.required_inputs.push(i)
        }),
        ("INPUT_MADE_OPTIONAL", |s| {
            let i = s.required_inputs.remove(0);
            s.optional_inputs.push(i)
        }),
        ("INPUT_TYPE_CHANGED", |s| {
            let i = input(s, "storage_gb");
            i.value_type = "string".parse().unwrap();
            i.default = Some(serde_json::json!("20"));
        }),
        ("INPUT_TYPE_WIDENED", |s| {
            input(s, "storage_gb").value_type = "number".parse().unwrap()
        }),
        ("INPUT_ALLOWED_VALUES_NARROWED", |s| {
            input(s, "instance_class").allowed_values = Some(vec![serde_json::json!("small")])
        }),
        ("INPUT_ALLOWED_VALUES_WIDENED", |s| {
            input(s, "instance_class")
                .allowed_values
                .as_mut()
                .unwrap()
                .push(serde_json::json!("xlarge"))
        }),
        ("INPUT_DEFAULT_CHANGED", |s| {
            input(s, "storage_gb").default = Some(serde_json::json!(50))
        }),
        ("INPUT_DESCRIPTION_CHANGED", |s| {
            input(s, "storage_gb").description = "Disk size in GiB".into()
        }),
        ("OUTPUT_REMOVED", |s| s.outputs.clear()),
        ("OUTPUT_ADDED", |s| {
            let mut o = s.outputs[0].clone();
            o.name = "port".into();
            s.outputs.push(o)
        }),
        ("OUTPUT_TYPE_CHANGED", |s| {
            s.outputs[0].value_type = "map(string)".parse().unwrap()
        }),
        ("OUTPUT_DESCRIPTION_CHANGED", |s| {
            s.outputs[0].description = "host:port".into()
        }),
        ("DEPENDENCY_REMOVED", |s| s.dependencies.clear()),
        ("DEPENDENCY_ADDED", |s| {
            s.dependencies.push(nestor_model::Dependency {
                name: "kms".into(),
                version_req: "^1".into(),
            })
        }),
        ("DEPENDENCY_REQ_NARROWED", |s| {
            s.dependencies[0].version_req = "^2.1".into()
        }),
        ("DEPENDENCY_REQ_WIDENED", |s| {
            s.dependencies[0].version_req = ">=1.0, <3.0".into()
        }),
        ("DEPENDENCY_REQ_CHANGED", |s| {
            s.dependencies[0].version_req = "^1".into()
        }),
        ("DEPENDENCY_REQ_REWRITTEN", |s| {
            s.dependencies[0].version_req = "^2.0.0".into()
        }),
        ("DESCRIPTION_CHANGED", |s| {
            s.description = "A managed database".into()
        }),
        ("MATURITY_CHANGED", |s| {
            s.maturity = nestor_model::Maturity::Stable
        }),
        ("SUPPORT_LEVEL_CHANGED", |s| {
            s.support_level = nestor_model::SupportLevel::Supported
        }),
        ("RESOURCE_LIMITS_CHANGED", |s| s.resource_limits = None),
        ("LABELS_CHANGED", |s| {
            s.labels.insert("tier".into(), "1".into());
        }),
        ("ANNOTATIONS_CHANGED", |s| s.annotations.clear()),
    ]
}

fn accepting_and_rejecting(bump: Bump) -> (&'static str, Option<&'static str>) {
    match bump {
        Bump::Major => ("2.0.0", Some("1.3.0")),
        Bump::Minor => ("1.3.0", Some("1.2.4")),
        // A patch is the smallest bump a new version can make; the only way to "under-bump" a
        // patch change is to reuse the version, which is the immutability rule's conflict.
        Bump::Patch | Bump::None => ("1.2.4", None),
    }
}

#[test]
fn every_rule_is_in_the_table() {
    let documented: BTreeSet<&str> = CHANGE_RULES.iter().map(|r| r.id).collect();
    let tested: BTreeSet<&str> = table().iter().map(|(r, _)| *r).collect();
    assert_eq!(documented, tested);
}

#[test]
fn each_rule_is_classified_accepted_at_its_bump_and_rejected_below() {
    let snap = catalog(&["1.2.3"]);
    for (rule, mutate) in table() {
        let mut new = base();
        mutate(&mut new);
        let changes = classify(&base(), &new);
        let expected_bump = CHANGE_RULES.iter().find(|r| r.id == rule).unwrap().bump;
        assert!(
            changes
                .iter()
                .any(|c| c.rule == rule && c.bump == expected_bump),
            "{rule}: classified as {changes:?}"
        );
        let required = changes.iter().map(|c| c.bump).max().unwrap();
        let (accept, reject) = accepting_and_rejecting(required);

        new.version = accept.into();
        let report = check(&new, &snap);
        assert!(report.valid, "{rule} at {accept}: {:#?}", report.findings);
        assert_eq!(report.predecessor.as_deref(), Some("1.2.3"));
        assert_eq!(report.required_bump, Some(required));

        if let Some(reject) = reject {
            new.version = reject.into();
            let report = check(&new, &snap);
            assert!(!report.valid, "{rule} at {reject} should be rejected");
            let rules: Vec<&str> = report.findings.iter().map(|f| f.rule.as_str()).collect();
            assert!(rules.contains(&rule), "{rule} at {reject}: {rules:?}");
            assert!(rules.contains(&"VERSION_BUMP_INSUFFICIENT"), "{rules:?}");
            assert_eq!(report.suggested_version.as_deref(), Some(accept), "{rule}");
        }
    }
}

fn remove_input(s: &mut ComponentSpec) {
    s.optional_inputs.clear();
}

fn add_optional(s: &mut ComponentSpec) {
    let mut i = s.optional_inputs[0].clone();
    i.name = "extra".into();
    s.optional_inputs.push(i);
}

fn at(version: &str, f: impl Fn(&mut ComponentSpec)) -> ComponentSpec {
    let mut s = base();
    f(&mut s);
    s.version = version.into();
    s
}

#[test]
fn the_message_names_the_rule_and_the_smallest_acceptable_version() {
    let report = check(&at("1.3.0", remove_input), &catalog(&["1.2.3"]));
    let gate = report
        .findings
        .iter()
        .find(|f| f.rule == "VERSION_BUMP_INSUFFICIENT")
        .unwrap();
    assert_eq!(
        gate.message,
        "1.3.0 is a minor bump over 1.2.3, but the changes require a major bump: publish 2.0.0 instead"
    );
    let change = report
        .findings
        .iter()
        .find(|f| f.rule == "INPUT_REMOVED")
        .unwrap();
    assert_eq!(change.path, "inputs[storage_gb]");
    assert!(
        change.message.contains("requires a major bump over 1.2.3"),
        "{}",
        change.message
    );
    assert_eq!(
        (report.required_bump, report.actual_bump),
        (Some(Bump::Major), Some(Bump::Minor))
    );
    // When 2.0.0 is taken already, the suggestion skips it.
    let report = check(&at("1.3.0", remove_input), &catalog(&["1.2.3", "2.0.0"]));
    assert_eq!(report.suggested_version.as_deref(), Some("3.0.0"));
}

#[test]
fn backports_compare_within_their_line() {
    // 1.2.4 published after 1.3.0 is compared with 1.2.3, not 1.3.0.
    let snap = catalog(&["1.2.3", "1.3.0"]);
    let report = check(&at("1.2.4", |s| s.description = "fix".into()), &snap);
    assert!(report.valid, "{:?}", report.findings);
    assert_eq!(report.predecessor.as_deref(), Some("1.2.3"));
    let report = check(&at("1.2.4", add_optional), &snap);
    assert!(!report.valid);
    assert_eq!(
        report.suggested_version.as_deref(),
        Some("1.4.0"),
        "1.3.0 exists, so the next minor is 1.4.0"
    );
}

#[test]
fn prereleases_compare_with_their_release_line() {
    let snap = catalog(&["1.2.3"]);
    assert!(check(&at("2.0.0-beta.1", remove_input), &snap).valid);
    assert!(!check(&at("1.3.0-rc.1", remove_input), &snap).valid);
    // A published pre-release is not a predecessor: 2.0.0-beta.2 is compared with 1.2.3 again.
    let mut snap = catalog(&["1.2.3"]);
    snap.add_published(&published(at("2.0.0-beta.1", remove_input), 99));
    let report = check(&at("2.0.0-beta.2", |s| s.outputs.clear()), &snap);
    assert!(report.valid);
    assert_eq!(report.predecessor.as_deref(), Some("1.2.3"));
    // No warning for a pre-release that bumps more than needed.
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

#[test]
fn zero_versions_follow_cargo() {
    let zero = |v: &str| {
        let mut snap = CatalogSnapshot::new();
        snap.add_published(&published(at(v, |_| {}), 1));
        snap.set_owner("db", Some("source:test".into()));
        let mut vpc = at("2.0.0", |s| s.dependencies.clear());
        vpc.name = "vpc".into();
        snap.add_published(&published(vpc, 2));
        snap
    };
    // 0.2.x → 0.2.(x+1) may add features; 0.3.0 is needed to break.
    assert!(check(&at("0.2.1", add_optional), &zero("0.2.0")).valid);
    let report = check(&at("0.2.1", remove_input), &zero("0.2.0"));
    assert!(!report.valid);
    assert_eq!(report.suggested_version.as_deref(), Some("0.3.0"));
    assert!(check(&at("0.3.0", remove_input), &zero("0.2.0")).valid);
    // 0.0.x: every step is breaking.
    assert!(check(&at("0.0.2", remove_input), &zero("0.0.1")).valid);
}

#[test]
fn larger_bumps_than_needed_are_warnings_and_first_versions_pass() {
    let report = check(&at("2.0.0", add_optional), &catalog(&["1.2.3"]));
    assert!(report.valid);
    let w = &report.findings[0];
    assert_eq!(
        (w.rule.as_str(), w.severity),
        ("VERSION_BUMP_EXCESSIVE", nestor_model::Severity::Warning)
    );
    assert!(w.message.contains("1.3.0 would do"), "{}", w.message);

    let report = check(&at("5.0.0", remove_input), &catalog(&[]));
    assert!(report.valid, "{:?}", report.findings);
    assert_eq!(report.predecessor, None);
}

#[test]
fn dependencies_must_exist_with_a_matching_non_yanked_version() {
    let snap = catalog(&["1.2.3"]);
    let report = check(
        &at("1.3.0", |s| {
            s.dependencies.push(nestor_model::Dependency {
                name: "cache".into(),
                version_req: "^1".into(),
            })
        }),
        &snap,
    );
    let f = report
        .findings
        .iter()
        .find(|f| f.rule == "DEPENDENCY_NOT_FOUND")
        .expect("not found");
    assert_eq!(f.path, "dependencies[1].name");
    let report = check(
        &at("2.0.0", |s| s.dependencies[0].version_req = "^3".into()),
        &snap,
    );
    let f = report
        .findings
        .iter()
        .find(|f| f.rule == "DEPENDENCY_UNSATISFIED")
        .expect("unsatisfied");
    assert!(
        f.message.contains("available: 2.1.0, 2.0.0, 1.0.0"),
        "{}",
        f.message
    );
    // Yanked versions do not count.
    let mut snap = catalog(&["1.2.3"]);
    let mut kms = published(at("1.0.0", |s| s.dependencies.clear()), 50);
    kms.spec.name = "kms".into();
    kms.yanked = true;
    snap.add_published(&kms);
    let report = check(
        &at("1.3.0", |s| {
            s.dependencies.push(nestor_model::Dependency {
                name: "kms".into(),
                version_req: "^1".into(),
            })
        }),
        &snap,
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.rule == "DEPENDENCY_UNSATISFIED"),
        "{:?}",
        report.findings
    );
    // A pending member of the same batch satisfies a dependency.
    let mut snap = catalog(&["1.2.3"]);
    let mut cache = at("1.0.0", |s| s.dependencies.clear());
    cache.name = "cache".into();
    snap.add_pending(&cache, "source:test");
    let report = check(
        &at("1.3.0", |s| {
            s.dependencies.push(nestor_model::Dependency {
                name: "cache".into(),
                version_req: "^1".into(),
            })
        }),
        &snap,
    );
    assert!(report.valid, "{:?}", report.findings);
}

#[test]
fn a_name_belongs_to_its_first_publisher() {
    let snap = catalog(&["1.2.3"]);
    let ctx = Context {
        catalog: Some(&snap),
        origin: Some("api:alice"),
        ..Default::default()
    };
    let report = Validator::full().validate(&at("1.2.4", |_| {}), &ctx);
    let f = report
        .findings
        .iter()
        .find(|f| f.rule == "NAME_CONFLICT")
        .unwrap();
    assert_eq!(
        f.message,
        "component db belongs to source:test; it cannot be published from api:alice"
    );
}

/// Issue 14, item 9: 1.0.0, then 1.2.0 adding optional `x: integer`, then 1.1.0 adding
/// `x: string`. The gate used to look only down (1.1.0 against 1.0.0: a minor) and accepted it,
/// making 1.1 → 1.2 a breaking minor. A new version must also be compatible with its successor.
#[test]
fn a_new_version_must_be_compatible_with_its_successor() {
    let with_x = |version: &str, t: &str| {
        at(version, |s| {
            s.optional_inputs.push(nestor_model::Input {
                name: "x".into(),
                value_type: t.parse().unwrap(),
                description: String::new(),
                default: None,
                allowed_values: None,
            })
        })
    };
    let mut snap = catalog(&["1.0.0"]);
    let v120 = with_x("1.2.0", "integer");
    assert!(check(&v120, &snap).valid);
    snap.add_published(&published(v120, 50));

    let report = check(&with_x("1.1.0", "string"), &snap);
    assert!(!report.valid, "{:#?}", report.findings);
    let gate = report
        .findings
        .iter()
        .find(|f| f.rule == "VERSION_SUCCESSOR_INCOMPATIBLE")
        .expect("the successor is named");
    assert!(
        gate.message
            .starts_with("1.1.0 is not compatible with its successor 1.2.0 (already published)"),
        "{}",
        gate.message
    );
    let change = report
        .findings
        .iter()
        .find(|f| f.rule == "INPUT_TYPE_CHANGED")
        .expect("the change is named");
    assert_eq!(change.path, "inputs[x].type");
    // Compatible with both neighbours: accepted (same `x`, or no `x` at all: adding it in 1.2.0
    // is a minor).
    assert!(check(&with_x("1.1.0", "integer"), &snap).valid);
    assert!(check(&at("1.1.0", |_| {}), &snap).valid);
    // A patch below a minor successor may not add what the successor lacks.
    assert!(!check(&with_x("1.0.1", "string"), &snap).valid);
    // Another major line is free: 0.9.0 below 1.0.0 may differ in anything.
    assert!(check(&at("0.9.0", remove_input), &snap).valid);
    // Pre-releases are compared with the line below them, not with a successor.
    assert!(check(&with_x("1.1.0-rc.1", "string"), &snap).valid);
}

/// terraform-aws-rds as the issue reports it: 6.1.1 changed an input from string to number in a
/// patch release. Nestor rightly classifies that as major; a mirror of upstream's tags
/// acknowledges it (issue 14, item 12).
fn rds(version: &str, port_type: &str) -> ComponentSpec {
    let mut s = at(version, |_| {});
    s.name = "terraform-aws-rds".into();
    s.optional_inputs.push(nestor_model::Input {
        name: "port".into(),
        value_type: port_type.parse().unwrap(),
        description: String::new(),
        default: None,
        allowed_values: None,
    });
    s
}

fn port_acknowledged(mut s: ComponentSpec) -> ComponentSpec {
    s.acknowledged_breaking_changes
        .push(nestor_model::AcknowledgedChange {
            rule: "INPUT_TYPE_CHANGED".into(),
            path: "inputs[port].type".into(),
            reason: "upstream 6.1.1 changed port from string to number in a patch release".into(),
        });
    s
}

fn mirror_policy() -> nestor_validation::GatePolicy {
    nestor_validation::GatePolicy {
        may_acknowledge: ["source:upstream-mirror".to_owned()].into(),
        ..Default::default()
    }
}

fn check_as(
    spec: &ComponentSpec,
    snap: &CatalogSnapshot,
    origin: &str,
    policy: nestor_validation::GatePolicy,
) -> nestor_model::ValidationReport {
    let ctx = Context {
        catalog: Some(snap),
        origin: Some(origin),
        ..Default::default()
    };
    Validator::full_with(policy).validate(spec, &ctx)
}

fn rules_of(report: &nestor_model::ValidationReport) -> Vec<(&str, nestor_model::Severity)> {
    report
        .findings
        .iter()
        .map(|f| (f.rule.as_str(), f.severity))
        .collect()
}

#[test]
fn an_allowed_publisher_may_acknowledge_a_breaking_change() {
    use nestor_model::Severity::{Error, Warning};
    let mut snap = catalog(&[]);
    snap.set_owner("terraform-aws-rds", Some("source:upstream-mirror".into()));
    snap.add_published(&published(rds("6.1.0", "string"), 90));
    let mirror = "source:upstream-mirror";

    // Unacknowledged: refused, as before.
    let report = check_as(&rds("6.1.1", "number"), &snap, mirror, mirror_policy());
    assert!(!report.valid);
    assert!(rules_of(&report).contains(&("INPUT_TYPE_CHANGED", Error)));

    // Acknowledged by an allowed source: accepted, the change a warning that names it.
    let report = check_as(
        &port_acknowledged(rds("6.1.1", "number")),
        &snap,
        mirror,
        mirror_policy(),
    );
    assert!(report.valid, "{:#?}", report.findings);
    assert_eq!(
        rules_of(&report),
        [("BREAKING_CHANGE_ACKNOWLEDGED", Warning)]
    );
    let w = &report.findings[0];
    assert_eq!(w.path, "inputs[port].type");
    assert!(
        w.message.contains("INPUT_TYPE_CHANGED")
            && w.message
                .contains("acknowledged: upstream 6.1.1 changed port"),
        "{}",
        w.message
    );
    // The verdict still tells the truth about what the change requires.
    assert_eq!(report.required_bump, Some(Bump::Major));

    // The same definition from a publisher that is not allowed: refused, saying why.
    let report = check_as(
        &port_acknowledged(rds("6.1.1", "number")),
        &snap,
        "api:ci",
        mirror_policy(),
    );
    assert!(!report.valid);
    let rules = rules_of(&report);
    assert!(
        rules.contains(&("ACKNOWLEDGEMENT_NOT_ALLOWED", Error)),
        "{rules:?}"
    );
    assert!(rules.contains(&("INPUT_TYPE_CHANGED", Error)), "{rules:?}");

    // An acknowledgement of a change that is not made is said to be unused.
    let mut extra = port_acknowledged(rds("6.1.1", "number"));
    extra
        .acknowledged_breaking_changes
        .push(nestor_model::AcknowledgedChange {
            rule: "OUTPUT_REMOVED".into(),
            path: "outputs[endpoint]".into(),
            reason: "no such change".into(),
        });
    let report = check_as(&extra, &snap, mirror, mirror_policy());
    assert!(report.valid);
    assert!(rules_of(&report).contains(&("ACKNOWLEDGEMENT_UNUSED", Warning)));
}

#[test]
fn an_acknowledged_successor_lets_its_predecessor_in_later() {
    // Mirroring out of order: 6.1.1 first, then 6.1.0 below it. 6.1.0 → 6.1.1 breaks, and
    // 6.1.1 acknowledges exactly that. As a first version, 6.1.1's acknowledgement is no
    // "unused" warning: it is what lets 6.1.0 in later.
    let first = check_as(
        &port_acknowledged(rds("6.1.1", "number")),
        &catalog(&[]),
        "source:upstream-mirror",
        mirror_policy(),
    );
    assert!(
        first.valid && first.findings.is_empty(),
        "{:#?}",
        first.findings
    );
    let mut snap = catalog(&[]);
    snap.add_published(&published(port_acknowledged(rds("6.1.1", "number")), 90));
    let report = check_as(
        &rds("6.1.0", "string"),
        &snap,
        "source:upstream-mirror",
        mirror_policy(),
    );
    assert!(report.valid, "{:#?}", report.findings);
    assert_eq!(report.findings[0].rule, "BREAKING_CHANGE_ACKNOWLEDGED");
    // Without the successor's acknowledgement, it is refused.
    let mut snap = catalog(&[]);
    snap.add_published(&published(rds("6.1.1", "number"), 90));
    let report = check_as(
        &rds("6.1.0", "string"),
        &snap,
        "source:upstream-mirror",
        mirror_policy(),
    );
    assert!(!report.valid);
}

#[test]
fn the_policy_decides_whether_a_changed_default_is_minor_or_major() {
    let snap = catalog(&["1.2.3"]);
    let new = at("1.3.0", |s| {
        input(s, "storage_gb").default = Some(serde_json::json!(50))
    });
    assert!(check(&new, &snap).valid, "minor by default");
    let strict = nestor_validation::GatePolicy {
        default_change: Bump::Major,
        ..Default::default()
    };
    let report = check_as(&new, &snap, "source:test", strict.clone());
    assert!(!report.valid);
    assert_eq!(report.suggested_version.as_deref(), Some("2.0.0"));
    assert!(
        check_as(
            &at("2.0.0", |s| {
                input(s, "storage_gb").default = Some(serde_json::json!(50))
            }),
            &snap,
            "source:test",
            strict
        )
        .valid
    );
}
