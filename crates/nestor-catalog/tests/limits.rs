//! A PATCH is held to the limits a publish is: sizes and control characters on the fields it
//! sets, refused with the same rule ids.

use std::{collections::BTreeMap, sync::Arc};

use nestor_catalog::{Catalog, CatalogError};
use nestor_model::PatchRequest;
use nestor_storage::MemoryStore;
use nestor_testkit::{minimal, tester};
use nestor_validation::Validator;

fn rules(result: Result<impl std::fmt::Debug, CatalogError>) -> Vec<(String, String)> {
    match result {
        Err(CatalogError::Invalid(report)) => report
            .findings
            .iter()
            .map(|f| (f.rule.clone(), f.path.clone()))
            .collect(),
        other => panic!("expected the patch to be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn patches_are_held_to_the_publish_limits() {
    let catalog = Catalog::new(Arc::new(MemoryStore::new()), Validator::full(), None);
    catalog
        .publish(minimal("vpc", "1.0.0").build(), &tester())
        .await
        .unwrap();
    let patch = |p: PatchRequest| catalog.patch("vpc", "1.0.0", p);

    let many: BTreeMap<String, String> = (0..100_000)
        .map(|i| (format!("k{i}"), "v".to_owned()))
        .collect();
    let found = rules(
        patch(PatchRequest {
            labels: Some(many),
            ..Default::default()
        })
        .await,
    );
    assert!(
        found.contains(&("FIELD_TOO_LARGE".into(), "labels".into())),
        "{found:?}"
    );

    let found = rules(
        patch(PatchRequest {
            description: Some("x".repeat(1024 * 1024)),
            ..Default::default()
        })
        .await,
    );
    assert_eq!(
        found,
        [("FIELD_TOO_LARGE".to_owned(), "description".to_owned())]
    );

    let found = rules(
        patch(PatchRequest {
            description: Some("evil \u{1b}[2J\u{202e}".into()),
            labels: Some(BTreeMap::from([("team".to_owned(), "da\0ta".to_owned())])),
            ..Default::default()
        })
        .await,
    );
    assert!(found.contains(&("FIELD_CONTROL_CHARACTER".into(), "description".into())));
    assert!(found.contains(&("FIELD_CONTROL_CHARACTER".into(), "labels.team".into())));

    // Within the limits, the patch applies.
    let (patched, _) = patch(PatchRequest {
        description: Some("A VPC\nwith two lines".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(patched.spec.description, "A VPC\nwith two lines");
}

/// Issue 15, item 13: the limits added for label values and resource quantities hold on PATCH
/// exactly as on publish, with the same rule and path.
#[tokio::test]
async fn patches_meet_the_new_limits_with_the_publish_rule_ids() {
    let catalog = Catalog::new(Arc::new(MemoryStore::new()), Validator::full(), None);
    catalog
        .publish(minimal("vpc", "1.0.0").build(), &tester())
        .await
        .unwrap();
    let found = rules(
        catalog
            .patch(
                "vpc",
                "1.0.0",
                PatchRequest {
                    labels: Some(BTreeMap::from([("team".to_owned(), "d".repeat(300))])),
                    resource_limits: Some(nestor_model::ResourceLimits {
                        cpu: Some("5".repeat(100)),
                        memory: None,
                    }),
                    ..Default::default()
                },
            )
            .await,
    );
    assert_eq!(
        found,
        [
            (
                "FIELD_TOO_LARGE".to_owned(),
                "resource_limits.cpu".to_owned()
            ),
            ("FIELD_TOO_LARGE".to_owned(), "labels.team".to_owned()),
        ]
    );
    let mut spec = minimal("vpc", "1.0.1").build();
    spec.labels.insert("team".into(), "d".repeat(300));
    match catalog.publish(spec, &tester()).await {
        Err(CatalogError::Invalid(report)) => {
            assert_eq!(report.findings[0].path, "labels.team")
        }
        other => panic!("{other:?}"),
    }
}
