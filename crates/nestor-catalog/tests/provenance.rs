//! Provenance is stamped by syncs only: an API publish that claims it is refused, each claimed
//! field named, while the same definition without it publishes.

use std::sync::Arc;

use nestor_catalog::{Catalog, CatalogError, Origin};
use nestor_storage::MemoryStore;
use nestor_validation::Validator;

fn definition(extra: serde_json::Value) -> nestor_model::ComponentSpec {
    let mut d = serde_json::json!({
        "name": "aws-vpc", "version": "1.0.0", "description": "A VPC", "provider": "aws",
        "category": "network", "resource_type": "aws_vpc", "deployment_engines": ["terraform"],
    });
    if let (Some(d), Some(extra)) = (d.as_object_mut(), extra.as_object()) {
        d.extend(extra.clone());
    }
    nestor_model::parse_definition_json(d.to_string().as_bytes()).expect("a valid definition")
}

#[tokio::test]
async fn an_api_publish_cannot_claim_git_provenance() {
    let catalog = Catalog::new(Arc::new(MemoryStore::new()), Validator::full(), None);
    let api = Origin::Api {
        identity: "ci".into(),
    };
    let claimed = definition(serde_json::json!({
        "git_repository": "https://github.com/acme/reviewed.git",
        "git_commit": "0123456789abcdef0123456789abcdef01234567",
        "git_path": "components/vpc.yaml",
    }));

    let report = catalog
        .validate(&claimed, Some(&api), None, None)
        .await
        .unwrap();
    assert!(!report.valid);
    let fields: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.rule == "PROVENANCE_RESERVED")
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(fields, ["git_repository", "git_commit", "git_path"]);

    match catalog.publish(claimed.clone(), &api).await {
        Err(CatalogError::Invalid(report)) => {
            assert!(
                report
                    .findings
                    .iter()
                    .any(|f| f.rule == "PROVENANCE_RESERVED")
            );
        }
        other => panic!("expected the publish to be refused, got {other:?}"),
    }

    // A sync stamps the same fields and publishes.
    let source = Origin::Source {
        id: "platform".into(),
    };
    catalog.publish(claimed, &source).await.unwrap();
    // The API may still publish a definition that does not claim provenance.
    let mut next = definition(serde_json::json!({ "version": "1.0.1" }));
    next.description = "A VPC, patched".into();
    let other_owner = catalog.publish(next, &api).await;
    assert!(
        !matches!(&other_owner, Err(CatalogError::Invalid(r)) if r.findings.iter().any(|f| f.rule == "PROVENANCE_RESERVED")),
        "{other_owner:?}"
    );
}
