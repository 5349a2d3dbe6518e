//! A source mirroring upstream releases syncs a history that once broke the rules, when it is
//! allowed to acknowledge breaking changes (issue 14, item 12): terraform-aws-rds 6.1.1 changed
//! an input from string to number in a patch release.

use std::sync::Arc;

use nestor_catalog::{Catalog, DirectorySource};
use nestor_storage::MemoryStore;
use nestor_validation::{GatePolicy, Validator};

const RDS: &str = "name: terraform-aws-rds\nversion: 6.1.0\ndescription: RDS\nprovider: aws\n\
                   category: database\nresource_type: aws_db_instance\ndeployment_engines: [terraform]\n\
                   optional_inputs:\n  - name: port\n    type: string\n";

fn history(dir: &std::path::Path) {
    std::fs::write(dir.join("6.1.0.yaml"), RDS).unwrap();
    std::fs::write(
        dir.join("6.1.1.yaml"),
        format!(
            "{}acknowledged_breaking_changes:\n  - rule: INPUT_TYPE_CHANGED\n    path: inputs[port].type\n    \
             reason: upstream 6.1.1 changed port from string to number in a patch release\n",
            RDS.replace("6.1.0", "6.1.1").replace("type: string", "type: number")
        ),
    )
    .unwrap();
}

fn catalog(allowed: &[&str]) -> Catalog {
    Catalog::new(
        Arc::new(MemoryStore::new()),
        Validator::full_with(GatePolicy {
            may_acknowledge: allowed.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }),
        None,
    )
}

#[tokio::test]
async fn an_allowed_source_syncs_the_acknowledged_history() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path());
    let source = DirectorySource::new("mirror", dir.path(), &["*.yaml".to_owned()]).unwrap();

    let c = catalog(&["source:mirror"]);
    let report = c.sync(&source).await.unwrap();
    assert_eq!((report.created, report.failed), (2, 0), "{report:#?}");
    let patch = report
        .outcomes
        .iter()
        .find(|o| o.path == "6.1.1.yaml")
        .unwrap();
    assert_eq!(patch.findings[0].rule, "BREAKING_CHANGE_ACKNOWLEDGED");
    let stored = c.version("terraform-aws-rds", "6.1.1").await.unwrap();
    assert_eq!(
        stored.spec.acknowledged_breaking_changes[0].path,
        "inputs[port].type"
    );

    // The same history from a source that is not allowed: 6.1.1 fails with the reason.
    let c = catalog(&["source:other"]);
    let report = c.sync(&source).await.unwrap();
    assert_eq!((report.created, report.failed), (1, 1), "{report:#?}");
    let failed = report
        .outcomes
        .iter()
        .find(|o| o.status == "failed")
        .unwrap();
    let rules: Vec<&str> = failed.findings.iter().map(|f| f.rule.as_str()).collect();
    assert!(rules.contains(&"ACKNOWLEDGEMENT_NOT_ALLOWED"), "{rules:?}");
}
