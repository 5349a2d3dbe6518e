//! The catalog index on every backend: an index built from a store's snapshot answers exactly
//! what the index kept current by the writes answers, and what a scan of the store answers.

use std::sync::Arc;
use std::time::Duration;

use nestor_catalog::{Catalog, DependentsQuery, FacetKey, IndexQuery, TextQuery};
use nestor_model::{ComponentFilter, Deprecation, LabelFilter, PatchRequest};
use nestor_storage::CatalogStore;
use nestor_testkit::{minimal, tester};
use nestor_validation::Validator;

/// Publishes a catalog through one `Catalog`; returns it.
async fn populate(store: Arc<dyn CatalogStore>) -> Catalog {
    let catalog = Catalog::new(store, Validator::full(), None);
    let words = [
        "postgres", "redis", "network", "managed", "cache", "private",
    ];
    let providers = ["aws", "gcp", "azure"];
    catalog
        .publish(
            minimal("base-vpc", "1.0.0").provider("aws").build(),
            &tester(),
        )
        .await
        .expect("publish");
    for i in 0..40usize {
        let mut spec = minimal(&format!("c-{i:02}"), &format!("1.{}.0", i % 3))
            .provider(providers[i % 3])
            .category(if i % 2 == 0 { "database" } else { "cache" })
            .description(format!("{} {}", words[i % 6], words[(i / 6) % 6]))
            .label("team", ["core", "data", "web"][i % 3]);
        if i % 4 == 0 {
            spec = spec.dependency("base-vpc", "^1");
        }
        catalog
            .publish(spec.build(), &tester())
            .await
            .expect("publish");
    }
    // Later changes: a second version, a deprecation, a yank.
    catalog
        .publish(
            minimal("c-00", "2.0.0")
                .provider("aws")
                .description("postgres 2")
                .dependency("base-vpc", "^1")
                .build(),
            &tester(),
        )
        .await
        .expect("publish");
    catalog
        .patch(
            "c-01",
            "1.1.0",
            PatchRequest {
                deprecated: Some(Some(Deprecation {
                    message: "use c-02".into(),
                })),
                ..Default::default()
            },
        )
        .await
        .expect("deprecate");
    catalog
        .patch(
            "c-02",
            "1.2.0",
            PatchRequest {
                yanked: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("yank");
    catalog
}

fn queries() -> Vec<IndexQuery> {
    let base = IndexQuery {
        text: None,
        filter: ComponentFilter::default(),
        include_prerelease: false,
        all_versions: false,
        sort: None,
        facets: vec![FacetKey::Field("provider"), FacetKey::Label("team".into())],
        cursor: None,
        limit: 500,
    };
    let text = |q: &str| Some(TextQuery::parse(q).expect("parses"));
    vec![
        base.clone(),
        IndexQuery {
            all_versions: true,
            ..base.clone()
        },
        IndexQuery {
            text: text("postgres"),
            ..base.clone()
        },
        IndexQuery {
            text: text("manag"),
            ..base.clone()
        },
        IndexQuery {
            text: text("\"managed postgres\""),
            ..base.clone()
        },
        IndexQuery {
            filter: ComponentFilter {
                provider: vec!["aws".into(), "gcp".into()],
                labels: vec![LabelFilter::NotEquals("team".into(), "core".into())],
                deprecated: Some(false),
                ..Default::default()
            },
            ..base.clone()
        },
        IndexQuery {
            filter: ComponentFilter {
                yanked: Some(true),
                ..Default::default()
            },
            all_versions: true,
            ..base
        },
    ]
}

/// Every query's answer, as comparable text.
async fn answers(catalog: &Catalog) -> Vec<String> {
    let mut out = Vec::new();
    for q in queries() {
        let page = catalog
            .query(&q, None, Duration::ZERO)
            .await
            .expect("query");
        let hits: Vec<String> = page
            .hits
            .iter()
            .map(|h| {
                format!(
                    "{}@{} {:?} {:?}",
                    h.component.spec.name, h.component.spec.version, h.score, h.matched
                )
            })
            .collect();
        out.push(format!("{} {hits:?} {:?}", page.total, page.facets));
    }
    let deps = catalog
        .dependents(
            "base-vpc",
            &DependentsQuery::default(),
            None,
            Duration::ZERO,
        )
        .await
        .expect("dependents");
    out.push(format!(
        "{} {:?}",
        deps.total,
        deps.items
            .iter()
            .map(|d| d.component.spec.id())
            .collect::<Vec<_>>()
    ));
    out
}

async fn built_from_a_snapshot_answers_like_the_live_index(store: Arc<dyn CatalogStore>) {
    let live = Catalog::new(store.clone(), Validator::full(), None);
    // The live index exists before the writes and follows them.
    live.build_index().await.expect("build");
    let writer = populate(store.clone()).await;
    drop(writer);
    // The writes went through another catalog: the live one learns them from the log.
    live.index()
        .catch_up(store.as_ref())
        .await
        .expect("catch up");
    let fresh = Catalog::new(store.clone(), Validator::full(), None);
    fresh.build_index().await.expect("build");
    // Built from a snapshot with no change after it: it says so, and waits for nothing.
    let current = store.current_revision().await.expect("revision");
    assert_eq!(fresh.index().revision(), current);
    assert!(fresh.index().wait_for(current, Duration::ZERO).await);
    let (a, b) = (answers(&live).await, answers(&fresh).await);
    assert_eq!(a, b);
    assert_eq!(
        live.index().revision(),
        store.current_revision().await.expect("revision")
    );
    // And the scan agrees on the filters (the store's own list of latest versions).
    let latest = store
        .list_latest(&nestor_storage::LatestQuery {
            filter: queries()[5].filter.clone(),
            limit: 500,
            ..Default::default()
        })
        .await
        .expect("scan");
    let scanned: Vec<String> = latest.value.items.iter().map(|c| c.spec.id()).collect();
    let indexed = fresh
        .query(&queries()[5], None, Duration::ZERO)
        .await
        .expect("query");
    let mut indexed: Vec<String> = indexed.hits.iter().map(|h| h.component.spec.id()).collect();
    indexed.sort();
    assert_eq!(indexed, scanned);
}

#[tokio::test]
async fn memory() {
    built_from_a_snapshot_answers_like_the_live_index(nestor_testkit::memory_store()).await;
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    built_from_a_snapshot_answers_like_the_live_index(nestor_testkit::sqlite_store(
        &dir.path().join("n.db"),
    ))
    .await;
}

#[tokio::test]
async fn dynamodb() {
    let Some(store) = nestor_testkit::dynamodb::fresh_store().await else {
        return;
    };
    built_from_a_snapshot_answers_like_the_live_index(Arc::new(store)).await;
}
