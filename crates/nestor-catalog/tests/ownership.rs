//! A name a source owns is described by that source: through the API its descriptive fields are
//! refused, and deprecating or yanking it needs the admin scope. A name published through the
//! API belongs to its owners (the first publisher's token, then whoever the owners add) and
//! administrators.

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

    // A name published through the API is patched by its owner (`tester()` is token `test`).
    let (db, _) = catalog
        .patch_as("db", "1.0.0", describe(), "test", false)
        .await
        .unwrap();
    assert_eq!(db.spec.description, "rewritten through the API");
}

fn not_owner<T: std::fmt::Debug>(result: Result<T, CatalogError>) -> (Vec<String>, String) {
    match result {
        Err(e @ CatalogError::NotOwner { .. }) => {
            let message = e.to_string();
            let CatalogError::NotOwner { owners, .. } = e else {
                unreachable!()
            };
            (owners, message)
        }
        other => panic!("expected 403 not owner, got {other:?}"),
    }
}

#[tokio::test]
async fn api_names_belong_to_their_owners_and_admins() {
    let catalog = Catalog::new(Arc::new(MemoryStore::new()), Validator::full(), None);
    let v = |version: &str| minimal("pg", version).build();
    catalog
        .publish_as(v("1.0.0"), "alice", false)
        .await
        .unwrap();
    assert_eq!(catalog.owners("pg").await.unwrap().owners, ["alice"]);

    // Another publish token can neither publish, nor update, nor yank, nor describe it.
    let (owners, message) = not_owner(catalog.publish_as(v("1.1.0"), "bob", false).await);
    assert_eq!(owners, ["alice"]);
    assert!(message.contains(r#"owned by token "alice""#), "{message}");
    let mut redescribed = v("1.0.0");
    redescribed.description = "taken over".into();
    not_owner(catalog.publish_as(redescribed.clone(), "bob", false).await);
    let yank = PatchRequest {
        yanked: Some(true),
        ..Default::default()
    };
    not_owner(
        catalog
            .patch_as("pg", "1.0.0", yank.clone(), "bob", false)
            .await,
    );
    not_owner(
        catalog
            .add_owners("pg", &["bob".into()], "bob", false)
            .await,
    );
    let stored = catalog.version("pg", "1.0.0").await.unwrap();
    assert!(!stored.yanked);
    assert_eq!(stored.spec.description, v("1.0.0").description);
    assert!(catalog.version("pg", "1.1.0").await.is_err());

    // The owner adds bob; bob may then publish.
    let list = catalog
        .add_owners("pg", &["bob".into(), "alice".into()], "alice", false)
        .await
        .unwrap();
    assert_eq!(list.owners, ["alice", "bob"]);
    assert_eq!(list.source, None);
    catalog.publish_as(v("1.1.0"), "bob", false).await.unwrap();
    // Bob removes alice, who is refused from then on.
    let list = catalog
        .remove_owners("pg", &["alice".into()], "bob", false)
        .await
        .unwrap();
    assert_eq!(list.owners, ["bob"]);
    not_owner(catalog.publish_as(v("1.2.0"), "alice", false).await);
    // The last owner stays.
    match catalog
        .remove_owners("pg", &["bob".into()], "bob", false)
        .await
    {
        Err(CatalogError::InvalidParameter { parameter, message }) => {
            assert_eq!(parameter, "owners");
            assert!(message.contains("at least one owner"), "{message}");
        }
        other => panic!("expected the last owner to stay, got {other:?}"),
    }

    // An administrator may do all of it.
    catalog
        .patch_as("pg", "1.0.0", yank, "ops", true)
        .await
        .unwrap();
    catalog.publish_as(redescribed, "ops", true).await.unwrap();
    let list = catalog
        .add_owners("pg", &["carol".into()], "ops", true)
        .await
        .unwrap();
    assert_eq!(list.owners, ["bob", "carol"]);

    // A new name belongs to whoever publishes it first; the catalog stays readable by all.
    catalog
        .publish_as(minimal("vpc", "1.0.0").build(), "carol", false)
        .await
        .unwrap();
    assert_eq!(catalog.owners("vpc").await.unwrap().owners, ["carol"]);
    assert_eq!(catalog.versions("pg").await.unwrap().items.len(), 2);

    // Unknown names have no owners.
    assert!(matches!(
        catalog.owners("nothing").await,
        Err(CatalogError::ComponentNotFound { .. })
    ));
}

#[tokio::test]
async fn source_names_have_no_api_owners() {
    let catalog = Catalog::new(Arc::new(MemoryStore::new()), Validator::full(), None);
    let git = Origin::Source {
        id: "platform".into(),
    };
    catalog
        .publish(minimal("vpc", "1.0.0").build(), &git)
        .await
        .unwrap();
    let list = catalog.owners("vpc").await.unwrap();
    assert_eq!(list.source.as_deref(), Some("platform"));
    assert!(list.owners.is_empty());
    let message = forbidden(
        catalog
            .add_owners("vpc", &["bob".into()], "ops", true)
            .await,
    );
    assert!(message.contains("owned by source platform"), "{message}");
    // An API publish of its name is still the name conflict it was.
    assert!(matches!(
        catalog
            .publish_as(minimal("vpc", "1.1.0").build(), "bob", false)
            .await,
        Err(CatalogError::NameConflict { .. })
    ));
}

/// Publishers racing to create the same brand-new name: exactly one creates it and owns it;
/// every other, whether a token or a source, is refused as not an owner (403) or as a name
/// conflict (409), and none of their versions lands. Each publish checks ownership on a name
/// it saw as new; the store creates a name only if it is still new at the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_publishers_of_a_new_name_cannot_both_land() {
    for round in 0..20 {
        let catalog = Arc::new(Catalog::new(
            Arc::new(MemoryStore::new()),
            Validator::full(),
            None,
        ));
        let name = format!("fresh{round}");
        let mut tasks = Vec::new();
        for i in 0..6u32 {
            let (catalog, name) = (catalog.clone(), name.clone());
            tasks.push(tokio::spawn(async move {
                let spec = minimal(&name, &format!("{i}.0.0")).build();
                let result = if i == 0 {
                    let git = Origin::Source {
                        id: "platform".into(),
                    };
                    catalog.publish(spec, &git).await
                } else {
                    catalog.publish_as(spec, &format!("token{i}"), false).await
                };
                (i, result)
            }));
        }
        let mut landed = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                (i, Ok(_)) => landed.push(i),
                (_, Err(CatalogError::NotOwner { .. } | CatalogError::NameConflict { .. })) => {}
                (i, Err(other)) => panic!("publisher {i}: unexpected {other:?}"),
            }
        }
        assert_eq!(landed.len(), 1, "round {round}: {landed:?} all landed");
        let versions = catalog.versions(&name).await.unwrap();
        assert_eq!(versions.items.len(), 1, "round {round}");
    }
}
