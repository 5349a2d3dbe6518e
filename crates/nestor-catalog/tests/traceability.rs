//! Every write is traceable to who made it: versions and change events record the token of an
//! API publish or patch, and the source, sync run and commit of a sync.

use std::sync::Arc;

use nestor_catalog::Catalog;
use nestor_model::{Actor, PatchRequest, SyncTrigger};
use nestor_storage::MemoryStore;
use nestor_testkit::{git::infra_sync, git::remote_with_vpc, minimal};
use nestor_validation::Validator;

fn api(token: &str) -> Option<Actor> {
    Some(Actor::Api {
        token: token.into(),
    })
}

#[tokio::test]
async fn api_writes_record_their_token_on_the_version_and_the_event() {
    let catalog = Catalog::new(Arc::new(MemoryStore::new()), Validator::full(), None);
    let published = catalog
        .publish_as(minimal("pg", "1.0.0").build(), "alice", false)
        .await
        .unwrap();
    assert_eq!(published.component.published_by, api("alice"));
    assert_eq!(published.component.changed_by, api("alice"));
    let event = published.event.expect("an event");
    assert_eq!(event.changed_by, api("alice"));

    // A descriptive update by another owner, then a yank by an admin: each change is theirs,
    // the version keeps its publisher.
    catalog
        .add_owners("pg", &["bob".into()], "alice", false)
        .await
        .unwrap();
    let updated = catalog
        .publish_as(
            minimal("pg", "1.0.0")
                .description("described by bob")
                .build(),
            "bob",
            false,
        )
        .await
        .unwrap();
    assert_eq!(updated.component.published_by, api("alice"));
    assert_eq!(updated.component.changed_by, api("bob"));
    assert_eq!(updated.event.unwrap().changed_by, api("bob"));
    let yank = PatchRequest {
        yanked: Some(true),
        ..Default::default()
    };
    let (yanked, event) = catalog
        .patch_as("pg", "1.0.0", yank, "ops", true)
        .await
        .unwrap();
    assert_eq!(yanked.published_by, api("alice"));
    assert_eq!(yanked.changed_by, api("ops"));
    let event = event.expect("an event");
    assert_eq!(event.changed_by, api("ops"));
    assert_eq!(event.component.changed_by, api("ops"));

    // As stored, and in the log.
    let stored = catalog.version("pg", "1.0.0").await.unwrap();
    assert_eq!(stored, yanked);
    let log = catalog
        .store()
        .events_since(nestor_model::Revision(0), 10)
        .await
        .unwrap();
    let writers: Vec<Option<Actor>> = log.into_iter().map(|e| e.changed_by).collect();
    assert_eq!(writers, [api("alice"), api("bob"), api("ops")]);
}

#[tokio::test]
async fn sync_writes_record_the_source_run_and_commit() {
    let catalog = Arc::new(Catalog::new(
        Arc::new(MemoryStore::new()),
        Validator::full(),
        None,
    ));
    let (remote, head) = remote_with_vpc();
    let cache = tempfile::tempdir().unwrap();
    let url = format!("file://{}", remote.path().display());
    let sync = infra_sync(
        catalog.clone(),
        &url,
        "components/*.yaml",
        cache.path(),
        None,
    );
    let run = sync
        .run_now("infra", SyncTrigger::Manual, false)
        .await
        .unwrap();
    assert_eq!(run.created, 1, "{run:?}");
    let writer = Some(Actor::Sync {
        source: "infra".into(),
        run: Some(run.id),
        commit: Some(head.to_string()),
    });
    let vpc = catalog.version("vpc", "1.0.0").await.unwrap();
    assert_eq!(vpc.published_by, writer);
    assert_eq!(vpc.changed_by, writer);
    let log = catalog
        .store()
        .events_since(nestor_model::Revision(0), 10)
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].changed_by, writer);
}
