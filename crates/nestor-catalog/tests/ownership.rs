//! A name a source owns is described by that source: through the API its descriptive fields are
//! refused, and deprecating or yanking it needs the admin scope. API-owned names are unchanged.

use std::sync::Arc;

use nestor_catalog::{Catalog, CatalogError, Origin};
use nestor_model::{Deprecation, PatchRequest};
use nestor_storage::MemoryStore;
use nestor_testkit::{minimal, tester};
use nestor_validation::Validator;

fn forbidden(result: Result<impl std::fmt::Debug, CatalogError>) -> String {
    match result {
        Err(CatalogError::Forbidden(message)) => message,
        other => panic!("expected 403, got {other:?}"),
    }
}

#[tokio::test]
async fn source_owned_versions_change_in_their_source() {
    let catalog = Catalog::new(Arc::new(MemoryStore::new()), Validator::full(), None);
    let git = Origin::Source {
        id: "platform".into(),
    };
    catalog
        .publish(minimal("vpc", "1.0.0").build(), &git)
        .await
        .unwrap();
    catalog
        .publish(minimal("db", "1.0.0").build(), &tester())
        .await
        .unwrap();
    let describe = || PatchRequest {
        description: Some("rewritten through the API".into()),
        ..Default::default()
    };
    let yank = || PatchRequest {
        yanked: Some(true),
        ..Default::default()
    };

    let message = forbidden(
        catalog
            .patch_as("vpc", "1.0.0", describe(), "b", true)
            .await,
    );
    assert!(message.contains("owned by source platform"), "{message}");
    let message = forbidden(catalog.patch_as("vpc", "1.0.0", yank(), "b", false).await);
    assert!(message.contains("needs the admin scope"), "{message}");
    let deprecate = PatchRequest {
        deprecated: Some(Some(Deprecation {
            message: "use vpc2".into(),
        })),
        ..Default::default()
    };
    forbidden(
        catalog
            .patch_as("vpc", "1.0.0", deprecate, "b", false)
            .await,
    );

    // An admin may yank it; the source's description is untouched.
    let (yanked, event) = catalog
        .patch_as("vpc", "1.0.0", yank(), "ops", true)
        .await
        .unwrap();
    assert!(yanked.yanked && event.is_some());
    assert_eq!(
        yanked.spec.description,
        minimal("vpc", "1.0.0").build().description
    );

    // A name published through the API is patched as before.
    let (db, _) = catalog
        .patch_as("db", "1.0.0", describe(), "b", false)
        .await
        .unwrap();
    assert_eq!(db.spec.description, "rewritten through the API");
}
