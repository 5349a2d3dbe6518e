//! The catalog's rules, tested without HTTP on the memory store.

use std::sync::Arc;

use nestor_catalog::{Catalog, CatalogError, DirectorySource, Origin};
use nestor_model::{
    ComponentSpec, Dependency, Deprecation, EventType, Input, PatchRequest, PublishOutcome,
    ValueType,
};
use nestor_storage::MemoryStore;
use nestor_testkit::{input, minimal, tester};
use nestor_validation::Validator;

fn catalog() -> Catalog {
    Catalog::new(Arc::new(MemoryStore::new()), Validator::full(), None)
}

/// The catalog tests' definition: a network component with one optional input, `cidr`.
fn spec(name: &str, version: &str) -> ComponentSpec {
    minimal(name, version)
        .description("A thing")
        .category("network")
        .resource_type("aws_vpc")
        .optional_input(Input {
            description: "CIDR block".into(),
            default: Some(serde_json::json!("10.0.0.0/16")),
            ..input("cidr", ValueType::String)
        })
        .build()
}

#[tokio::test]
async fn publish_is_created_then_unchanged_then_updated() {
    let c = catalog();
    let r = c.publish(spec("vpc", "1.0.0"), &tester()).await.unwrap();
    assert_eq!(r.outcome, PublishOutcome::Created);
    assert_eq!(r.event.as_ref().unwrap().event_type, EventType::Published);
    assert!(r.component.content_hash.starts_with("sha256:"));

    let again = c.publish(spec("vpc", "1.0.0"), &tester()).await.unwrap();
    assert_eq!(again.outcome, PublishOutcome::Unchanged);
    assert!(again.event.is_none());
    assert_eq!(
        c.store().current_revision().await.unwrap().0,
        1,
        "identical re-publish writes nothing"
    );

    let mut s = spec("vpc", "1.0.0");
    s.description = "A better description".into();
    s.optional_inputs[0].description = "The VPC's CIDR block".into();
    let upd = c.publish(s, &tester()).await.unwrap();
    assert_eq!(upd.outcome, PublishOutcome::Updated);
    assert_eq!(upd.event.unwrap().event_type, EventType::Updated);
    assert_eq!(upd.component.spec.description, "A better description");
    assert_eq!(
        upd.component.published_at, r.component.published_at,
        "first publish time is kept"
    );
}

#[tokio::test]
async fn different_interface_under_a_published_version_is_a_conflict_with_the_difference() {
    let c = catalog();
    c.publish(spec("vpc", "1.0.0"), &tester()).await.unwrap();
    let mut s = spec("vpc", "1.0.0");
    s.optional_inputs[0].default = Some(serde_json::json!("10.1.0.0/16"));
    s.provider = "gcp".into();
    let err = c.publish(s, &tester()).await.unwrap_err();
    let CatalogError::VersionConflict { differences, .. } = &err else {
        panic!("{err:?}")
    };
    let paths: Vec<&str> = differences.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["optional_inputs[cidr].default", "provider"]);
    assert_eq!(err.code().as_str(), "version_conflict");
    assert!(err.to_string().contains("publish a new version instead"));
}

#[tokio::test]
async fn invalid_definitions_write_nothing() {
    let c = catalog();
    let mut s = spec("vpc", "1.0.0+build");
    s.name = "VPC".into();
    let err = c.publish(s, &tester()).await.unwrap_err();
    let CatalogError::Invalid(report) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(report.errors().count(), 2);
    assert_eq!(c.store().current_revision().await.unwrap().0, 0);
}

#[tokio::test]
async fn patch_deprecates_yanks_and_moves_latest() {
    let c = catalog();
    c.publish(spec("vpc", "1.0.0"), &tester()).await.unwrap();
    c.publish(spec("vpc", "1.1.0"), &tester()).await.unwrap();
    assert_eq!(c.latest("vpc", false).await.unwrap().spec.version, "1.1.0");

    let dep = PatchRequest {
        deprecated: Some(Some(Deprecation {
            message: "use 1.0".into(),
        })),
        ..Default::default()
    };
    let (comp, ev) = c.patch("vpc", "1.1.0", dep.clone()).await.unwrap();
    assert_eq!(ev.unwrap().event_type, EventType::Deprecated);
    assert_eq!(comp.deprecated.unwrap().message, "use 1.0");
    // Same patch again: nothing to change, no event.
    assert!(c.patch("vpc", "1.1.0", dep).await.unwrap().1.is_none());

    let (_, ev) = c
        .patch(
            "vpc",
            "1.1.0",
            PatchRequest {
                yanked: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ev.unwrap().event_type, EventType::Yanked);
    assert_eq!(c.latest("vpc", false).await.unwrap().spec.version, "1.0.0");
    assert_eq!(
        c.resolve("vpc", "^1").await.unwrap().spec.version,
        "1.0.0",
        "yanked versions never resolve"
    );

    assert!(matches!(
        c.patch("vpc", "1.1.0", PatchRequest::default()).await,
        Err(CatalogError::InvalidPatch(_))
    ));
    assert!(matches!(
        c.patch(
            "vpc",
            "9.0.0",
            PatchRequest {
                yanked: Some(true),
                ..Default::default()
            }
        )
        .await,
        Err(CatalogError::VersionNotFound { .. })
    ));
    assert!(matches!(
        c.patch(
            "nope",
            "1.0.0",
            PatchRequest {
                yanked: Some(true),
                ..Default::default()
            }
        )
        .await,
        Err(CatalogError::ComponentNotFound { .. })
    ));
}

#[tokio::test]
async fn queries_resolve_dependencies_and_dependents() {
    let c = catalog();
    for v in ["1.0.0", "1.4.0", "2.0.0", "2.1.0-rc.1"] {
        c.publish(spec("vpc", v), &tester()).await.unwrap();
    }
    let mut db = spec("db", "1.0.0");
    db.dependencies.push(Dependency {
        name: "vpc".into(),
        version_req: "^1.2".into(),
    });
    c.publish(db, &tester()).await.unwrap();

    assert_eq!(c.resolve("vpc", "^1").await.unwrap().spec.version, "1.4.0");
    assert_eq!(
        c.resolve("vpc", ">=2.1.0-rc.1").await.unwrap().spec.version,
        "2.1.0-rc.1"
    );
    assert!(matches!(
        c.resolve("vpc", "^3").await,
        Err(CatalogError::NoMatchingVersion { .. })
    ));
    assert!(matches!(
        c.resolve("vpc", "one").await,
        Err(CatalogError::InvalidParameter { .. })
    ));
    assert_eq!(
        c.latest("vpc", true).await.unwrap().spec.version,
        "2.1.0-rc.1"
    );

    let deps = c.dependencies("db", "1.0.0").await.unwrap();
    assert_eq!(
        deps.items[0].resolved.as_ref().unwrap().spec.version,
        "1.4.0"
    );
    let dependents = c
        .dependents("vpc", &Default::default(), None, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        dependents
            .items
            .iter()
            .map(|d| d.component.name())
            .collect::<Vec<_>>(),
        ["db"]
    );
    assert!(matches!(
        c.dependents("nope", &Default::default(), None, std::time::Duration::ZERO)
            .await,
        Err(CatalogError::ComponentNotFound { .. })
    ));

    let versions = c.versions("vpc").await.unwrap();
    assert_eq!(
        versions
            .items
            .iter()
            .map(|c| c.version())
            .collect::<Vec<_>>(),
        ["2.1.0-rc.1", "2.0.0", "1.4.0", "1.0.0"]
    );
    assert!(matches!(
        c.version("vpc", "1.0").await,
        Err(CatalogError::InvalidParameter { .. })
    ));
}

#[tokio::test]
async fn directory_sync_reports_per_file_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("aws")).unwrap();
    let good = "name: vpc\nversion: 1.0.0\ndescription: VPC\nprovider: aws\ncategory: network\nresource_type: aws_vpc\ndeployment_engines: [terraform]\n";
    let two = format!(
        "{}---\n{}",
        good.replace("1.0.0", "1.1.0"),
        good.replace("1.0.0", "1.2.0")
    );
    std::fs::write(root.join("aws/vpc.yaml"), good).unwrap();
    std::fs::write(root.join("aws/vpc-more.yaml"), two).unwrap();
    std::fs::write(root.join("aws/broken.yaml"), "name: [unclosed\n").unwrap();
    std::fs::write(
        root.join("aws/typo.yaml"),
        good.replace("name: vpc", "name: vpc2\nnmae: x"),
    )
    .unwrap();
    std::fs::write(
        root.join("aws/bad.yaml"),
        good.replace("name: vpc", "name: Bad_Name"),
    )
    .unwrap();
    std::fs::write(root.join("aws/binary.yaml"), [0xff, 0xfe, 0x00]).unwrap();
    std::fs::write(root.join("README.md"), "not a definition").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("/etc/passwd", root.join("aws/escape.yaml")).unwrap();

    let c = catalog();
    let source = DirectorySource::new("local", root, &["**/*.yaml".to_owned()]).unwrap();
    let report = c.sync(&source).await.unwrap();
    assert_eq!(report.created, 3, "{report:#?}");
    let failed: Vec<(&str, &str)> = report
        .outcomes
        .iter()
        .filter(|o| o.status == "failed")
        .map(|o| (o.path.as_str(), o.findings[0].rule.as_str()))
        .collect();
    let mut expected = vec![
        ("aws/bad.yaml", "NAME_INVALID"),
        ("aws/binary.yaml", "FILE_UNREADABLE"),
        ("aws/broken.yaml", "DEFINITION_SYNTAX"),
        ("aws/typo.yaml", "FIELD_UNKNOWN"),
    ];
    #[cfg(unix)]
    expected.push(("aws/escape.yaml", "FILE_UNREADABLE"));
    expected.sort();
    let mut failed_sorted = failed.clone();
    failed_sorted.sort();
    assert_eq!(failed_sorted, expected);

    let again = c.sync(&source).await.unwrap();
    assert_eq!((again.created, again.unchanged), (0, 3));
    assert_eq!(
        c.store().current_revision().await.unwrap().0,
        3,
        "re-sync wrote nothing"
    );

    assert!(DirectorySource::new("x", root.join("missing"), &["*.yaml".into()]).is_ok());
    let missing = DirectorySource::new("x", root.join("missing"), &["*.yaml".into()]).unwrap();
    assert!(c.sync(&missing).await.is_err());
    assert!(DirectorySource::new("x", root, &["[".into()]).is_err());
}

#[tokio::test]
async fn subscribers_see_every_change_in_order() {
    let c = catalog();
    let mut rx = c.subscribe();
    c.publish(spec("a", "1.0.0"), &tester()).await.unwrap();
    c.publish(spec("a", "1.0.0"), &tester()).await.unwrap(); // no-op: no event
    c.patch(
        "a",
        "1.0.0",
        PatchRequest {
            yanked: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let first = rx.recv().await.unwrap();
    let second = rx.recv().await.unwrap();
    assert_eq!(
        (first.revision.0, first.event_type),
        (1, EventType::Published)
    );
    assert_eq!(
        (second.revision.0, second.event_type),
        (2, EventType::Yanked)
    );
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn a_cached_verdict_never_outlives_the_catalog_change_that_alters_it() {
    let c = catalog();
    let mut db = spec("db", "1.0.0");
    db.dependencies.push(nestor_model::Dependency {
        name: "kms".into(),
        version_req: "^1".into(),
    });
    let first = c.validate(&db, Some(&tester()), None, None).await.unwrap();
    assert!(!first.valid);
    assert_eq!(first.findings[0].rule, "DEPENDENCY_NOT_FOUND");
    // Same question, same catalog: same (cached) answer.
    assert_eq!(
        c.validate(&db, Some(&tester()), None, None).await.unwrap(),
        first
    );
    // The dependency appears: the verdict changes at once.
    c.publish(spec("kms", "1.0.0"), &tester()).await.unwrap();
    let second = c.validate(&db, Some(&tester()), None, None).await.unwrap();
    assert!(second.valid, "{:?}", second.findings);
    c.publish(db.clone(), &tester()).await.unwrap();
    // Yanking it changes the verdict for a new version that needs it again.
    c.patch(
        "kms",
        "1.0.0",
        PatchRequest {
            yanked: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut db2 = db.clone();
    db2.version = "1.0.1".into();
    let third = c.validate(&db2, Some(&tester()), None, None).await.unwrap();
    assert_eq!(third.findings[0].rule, "DEPENDENCY_UNSATISFIED");
    // ...but re-publishing the unchanged 1.0.0 stays a no-op.
    assert_eq!(
        c.publish(db, &tester()).await.unwrap().outcome,
        PublishOutcome::Unchanged
    );
}

#[tokio::test]
async fn batches_may_depend_on_their_own_new_versions_and_publish_dependencies_first() {
    let dir = tempfile::tempdir().unwrap();
    let def = |name: &str, version: &str, deps: &str| {
        format!(
            "name: {name}\nversion: {version}\ndescription: d\nprovider: aws\ncategory: c\nresource_type: t\n\
             deployment_engines: [terraform]\ndependencies: {deps}\n"
        )
    };
    // "app" sorts before "net", but depends on it: net must be published first.
    std::fs::write(
        dir.path().join("a.yaml"),
        def("app", "1.0.0", "[{name: net, version_req: \"^2\"}]"),
    )
    .unwrap();
    std::fs::write(dir.path().join("b.yaml"), def("net", "2.0.0", "[]")).unwrap();
    // "orphan" depends on "ghost", whose only definition is invalid: both fail, precisely.
    std::fs::write(
        dir.path().join("c.yaml"),
        def("orphan", "1.0.0", "[{name: ghost, version_req: \"^1\"}]"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("d.yaml"),
        def("ghost", "1.0.0", "[]").replace("provider: aws\n", "provider: \"\"\n"),
    )
    .unwrap();

    let c = catalog();
    let mut rx = c.subscribe();
    let source = DirectorySource::new("local", dir.path(), &["*.yaml".to_owned()]).unwrap();
    let report = c.sync(&source).await.unwrap();
    assert_eq!((report.created, report.failed), (2, 2), "{report:#?}");
    let first = rx.recv().await.unwrap();
    assert_eq!(
        first.name, "net",
        "dependencies are published before their dependents"
    );
    let failed: Vec<(&str, &str)> = report
        .outcomes
        .iter()
        .filter(|o| o.status == "failed")
        .map(|o| (o.path.as_str(), o.findings[0].rule.as_str()))
        .collect();
    assert!(
        failed.contains(&("c.yaml", "DEPENDENCY_NOT_FOUND")),
        "{failed:?}"
    );
    assert!(failed.contains(&("d.yaml", "FIELD_REQUIRED")), "{failed:?}");
}

#[tokio::test]
async fn a_name_belongs_to_the_source_that_published_it_first() {
    let c = catalog();
    c.publish(
        spec("vpc", "1.0.0"),
        &Origin::Source {
            id: "platform".into(),
        },
    )
    .await
    .unwrap();
    let err = c
        .publish(spec("vpc", "1.1.0"), &tester())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CatalogError::NameConflict { owner, .. } if owner == "source:platform"),
        "{err:?}"
    );
    assert_eq!(err.code().as_str(), "name_conflict");
    // Identical re-publish from elsewhere changes nothing and is harmless.
    c.publish(
        spec("vpc", "1.1.0"),
        &Origin::Source {
            id: "platform".into(),
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn breaking_changes_need_a_major_version() {
    let c = catalog();
    c.publish(spec("vpc", "1.0.0"), &tester()).await.unwrap();
    let mut broken = spec("vpc", "1.1.0");
    broken.optional_inputs.clear();
    let err = c.publish(broken.clone(), &tester()).await.unwrap_err();
    let CatalogError::Invalid(report) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(report.suggested_version.as_deref(), Some("2.0.0"));
    assert_eq!(report.predecessor.as_deref(), Some("1.0.0"));
    broken.version = "2.0.0".into();
    assert_eq!(
        c.publish(broken, &tester()).await.unwrap().outcome,
        PublishOutcome::Created
    );
    let diff = c.diff("vpc", "1.0.0", "2.0.0").await.unwrap();
    assert_eq!(diff.required_bump, nestor_model::Bump::Major);
    assert_eq!(diff.changes[0].rule, "INPUT_REMOVED");
}
