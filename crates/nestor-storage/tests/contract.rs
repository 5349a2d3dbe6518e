//! The storage contract: every backend (and the cache over it) must pass exactly these tests.
//! A new backend adds one line to the `backends!` list at the bottom.

use std::sync::Arc;

use nestor_model::{Actor, Component, ComponentFilter, EventType, Revision};
use nestor_storage::{
    CachedStore, CatalogStore, LatestQuery, MemoryStore, NameCondition, SqliteStore, StoreError,
};
use nestor_testkit::{minimal, published};
use semver::Version;
use time::OffsetDateTime;

pub struct Fixture {
    pub store: Arc<dyn CatalogStore>,
    _dir: Option<tempfile::TempDir>,
}

fn memory() -> Fixture {
    Fixture {
        store: Arc::new(MemoryStore::new()),
        _dir: None,
    }
}

fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path().join("nestor.db")).expect("open sqlite");
    Fixture {
        store: Arc::new(store),
        _dir: Some(dir),
    }
}

/// DynamoDB Local on fresh tables; `None` (the test is skipped) without an endpoint.
#[cfg(feature = "dynamodb")]
async fn dynamodb() -> Option<Fixture> {
    let store = nestor_testkit::dynamodb::fresh_store().await?;
    Some(Fixture {
        store: Arc::new(store),
        _dir: None,
    })
}

#[cfg(not(feature = "dynamodb"))]
async fn dynamodb() -> Option<Fixture> {
    eprintln!("SKIPPED: DynamoDB test (nestor-storage built without the `dynamodb` feature)");
    None
}

/// The fixture, or return from the test (skipping it) when it is unavailable.
macro_rules! or_skip {
    ($fixture:expr) => {
        match $fixture {
            Some(f) => f,
            None => return,
        }
    };
}

fn cached(f: Fixture) -> Fixture {
    Fixture {
        store: Arc::new(CachedStore::new(f.store, 1000)),
        _dir: f._dir,
    }
}

fn comp(name: &str, version: &str) -> Component {
    let spec = minimal(name, version)
        .description(format!("{name} component"))
        .resource_type("aws_thing");
    published(spec.build(), 0)
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn all(limit: usize) -> LatestQuery {
    LatestQuery {
        limit,
        ..Default::default()
    }
}

async fn empty_store(f: Fixture) {
    let s = f.store;
    assert_eq!(s.current_revision().await.unwrap(), Revision(0));
    assert!(s.get_version("x", &v("1.0.0")).await.unwrap().is_none());
    let versions = s.list_versions("x").await.unwrap();
    assert!(versions.value.is_empty());
    assert_eq!(versions.revision, Revision(0));
    let page = s.list_latest(&all(10)).await.unwrap();
    assert!(page.value.items.is_empty() && !page.value.more);
    assert!(s.events_since(Revision(0), 10).await.unwrap().is_empty());
    assert!(s.name_owner("x").await.unwrap().is_none());
    s.ping().await.unwrap();
}

async fn insert_then_read(f: Fixture) {
    let s = f.store;
    let ev = s
        .insert_version(comp("pg", "1.0.0"), "api:alice")
        .await
        .unwrap();
    assert_eq!(ev.revision, Revision(1));
    assert_eq!(ev.event_type, EventType::Published);
    assert_eq!(ev.component.revision, Revision(1));
    assert_eq!((ev.name.as_str(), ev.version.as_str()), ("pg", "1.0.0"));
    let got = s
        .get_version("pg", &v("1.0.0"))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(got, ev.component);
    assert_eq!(
        s.name_owner("pg").await.unwrap().as_deref(),
        Some("api:alice")
    );
    // The owner is the first publisher's; later inserts do not change it.
    s.insert_version(comp("pg", "1.1.0"), "api:bob")
        .await
        .unwrap();
    assert_eq!(
        s.name_owner("pg").await.unwrap().as_deref(),
        Some("api:alice")
    );
    assert_eq!(s.current_revision().await.unwrap(), Revision(2));
}

async fn name_owners_change_only_as_read_and_outlive_version_writes(f: Fixture) {
    let s = f.store;
    let owners = |list: &[&str]| list.iter().map(|o| o.to_string()).collect::<Vec<_>>();
    assert!(s.name_owners("pg").await.unwrap().is_none());
    assert!(
        !s.set_name_owners("pg", &[], &owners(&["api:x"]))
            .await
            .unwrap(),
        "an unknown name has no owners to change"
    );
    s.insert_version(comp("pg", "1.0.0"), "api:alice")
        .await
        .unwrap();
    // The first publisher alone, until the list changes.
    assert_eq!(
        s.name_owners("pg").await.unwrap(),
        Some(owners(&["api:alice"]))
    );
    assert!(
        s.set_name_owners(
            "pg",
            &owners(&["api:alice"]),
            &owners(&["api:alice", "api:bob"])
        )
        .await
        .unwrap()
    );
    // A change from a stale read changes nothing.
    assert!(
        !s.set_name_owners("pg", &owners(&["api:alice"]), &owners(&["api:carol"]))
            .await
            .unwrap()
    );
    assert_eq!(
        s.name_owners("pg").await.unwrap(),
        Some(owners(&["api:alice", "api:bob"]))
    );
    // Version writes keep the list, and owner changes are not catalog changes.
    let ev = s
        .insert_version(comp("pg", "1.1.0"), "api:bob")
        .await
        .unwrap();
    let mut yanked = ev.component.clone();
    yanked.yanked = true;
    s.update_version(yanked, ev.revision, EventType::Yanked)
        .await
        .unwrap();
    assert_eq!(
        s.name_owners("pg").await.unwrap(),
        Some(owners(&["api:alice", "api:bob"]))
    );
    assert_eq!(
        s.name_owner("pg").await.unwrap().as_deref(),
        Some("api:alice"),
        "the first publisher stays the name's owner of record"
    );
    assert!(
        s.set_name_owners(
            "pg",
            &owners(&["api:alice", "api:bob"]),
            &owners(&["api:bob"])
        )
        .await
        .unwrap()
    );
    assert_eq!(
        s.name_owners("pg").await.unwrap(),
        Some(owners(&["api:bob"]))
    );
    assert_eq!(s.current_revision().await.unwrap(), Revision(3));
    assert_eq!(s.events_since(Revision(0), 10).await.unwrap().len(), 3);
    // Other names are untouched.
    s.insert_version(comp("vpc", "1.0.0"), "source:platform")
        .await
        .unwrap();
    assert_eq!(
        s.name_owners("vpc").await.unwrap(),
        Some(owners(&["source:platform"]))
    );
}

async fn writers_are_kept_on_versions_and_events(f: Fixture) {
    let s = f.store;
    let sync = Actor::Sync {
        source: "platform".into(),
        run: Some(7),
        commit: Some("0123abcd".into()),
    };
    let mut c = comp("pg", "1.0.0");
    c.published_by = Some(sync.clone());
    c.changed_by = Some(sync.clone());
    let ev = s.insert_version(c, "source:platform").await.unwrap();
    assert_eq!(ev.changed_by, Some(sync.clone()));
    let mut yanked = ev.component.clone();
    yanked.yanked = true;
    yanked.changed_by = Some(Actor::Api {
        token: "ops".into(),
    });
    let ev = s
        .update_version(yanked.clone(), ev.revision, EventType::Yanked)
        .await
        .unwrap();
    assert_eq!(ev.changed_by, yanked.changed_by);
    let stored = s.get_version("pg", &v("1.0.0")).await.unwrap().unwrap();
    assert_eq!(stored.published_by, Some(sync.clone()));
    assert_eq!(stored.changed_by, yanked.changed_by);
    let log = s.events_since(Revision(0), 10).await.unwrap();
    assert_eq!(
        log.iter().map(|e| e.changed_by.clone()).collect::<Vec<_>>(),
        [Some(sync), yanked.changed_by]
    );
}

async fn duplicate_insert_is_rejected_and_changes_nothing(f: Fixture) {
    let s = f.store;
    s.insert_version(comp("pg", "1.0.0"), "o").await.unwrap();
    let err = s
        .insert_version(comp("pg", "1.0.0"), "o")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    assert_eq!(s.current_revision().await.unwrap(), Revision(1));
    assert_eq!(s.events_since(Revision(0), 10).await.unwrap().len(), 1);
}

async fn a_new_name_is_created_once_among_racing_writers(f: Fixture) {
    let s = f.store;
    // Sequentially: the second "first version" finds the name taken, changes nothing, and an
    // unconditional insert (an owner adding a version) still works.
    s.insert_version_if(comp("pg", "1.0.0"), "api:a", NameCondition::New)
        .await
        .unwrap();
    let err = s
        .insert_version_if(comp("pg", "2.0.0"), "api:b", NameCondition::New)
        .await
        .unwrap_err();
    match err {
        StoreError::NameTaken { name, owner } => {
            assert_eq!((name, owner), ("pg".into(), "api:a".into()))
        }
        other => panic!("expected NameTaken, got {other}"),
    }
    assert_eq!(s.current_revision().await.unwrap(), Revision(1));
    assert_eq!(
        s.name_owners("pg").await.unwrap(),
        Some(vec!["api:a".to_owned()])
    );
    s.insert_version_if(comp("pg", "1.1.0"), "api:a", NameCondition::Any)
        .await
        .unwrap();

    // Concurrently: of eight writers each creating the same new name with its own version,
    // exactly one lands; the rest are told the name was taken, by the winner.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("api:w{i}");
            s.insert_version_if(
                comp("fresh", &format!("{i}.0.0")),
                &owner,
                NameCondition::New,
            )
            .await
            .map(|_| owner)
        }));
    }
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(owner) => winners.push(owner),
            Err(StoreError::NameTaken { owner, .. }) => losers.push(owner),
            Err(other) => panic!("expected NameTaken, got {other}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one writer creates the name: {winners:?}"
    );
    assert_eq!(losers.len(), 7);
    assert!(
        losers.iter().all(|o| *o == winners[0]),
        "{losers:?} vs {winners:?}"
    );
    assert_eq!(s.list_versions("fresh").await.unwrap().value.len(), 1);
    assert_eq!(s.name_owners("fresh").await.unwrap(), Some(winners));
}

async fn versions_are_newest_first_in_semver_order(f: Fixture) {
    let s = f.store;
    for ver in [
        "1.2.0",
        "1.10.0",
        "1.9.0",
        "2.0.0-rc.1",
        "0.9.0",
        "2.0.0-alpha",
    ] {
        s.insert_version(comp("pg", ver), "o").await.unwrap();
    }
    let snap = s.list_versions("pg").await.unwrap();
    let got: Vec<&str> = snap.value.iter().map(|c| c.version()).collect();
    assert_eq!(
        got,
        [
            "2.0.0-rc.1",
            "2.0.0-alpha",
            "1.10.0",
            "1.9.0",
            "1.2.0",
            "0.9.0"
        ]
    );
    assert_eq!(snap.revision, Revision(6));
}

async fn latest_skips_prereleases_and_yanked(f: Fixture) {
    let s = f.store;
    s.insert_version(comp("a", "1.0.0"), "o").await.unwrap();
    s.insert_version(comp("a", "1.1.0"), "o").await.unwrap();
    s.insert_version(comp("a", "2.0.0-rc.1"), "o")
        .await
        .unwrap();
    s.insert_version(comp("b", "0.1.0-alpha"), "o")
        .await
        .unwrap();
    let page = s.list_latest(&all(10)).await.unwrap().value;
    let got: Vec<String> = page
        .items
        .iter()
        .map(|c| format!("{}@{}", c.name(), c.version()))
        .collect();
    assert_eq!(
        got,
        ["a@1.1.0"],
        "only-prerelease components have no stable latest"
    );
    let page = s
        .list_latest(&LatestQuery {
            include_prerelease: true,
            ..all(10)
        })
        .await
        .unwrap()
        .value;
    let got: Vec<String> = page
        .items
        .iter()
        .map(|c| format!("{}@{}", c.name(), c.version()))
        .collect();
    assert_eq!(got, ["a@2.0.0-rc.1", "b@0.1.0-alpha"]);

    // Yank 1.1.0: latest falls back to 1.0.0.
    let mut c = s.get_version("a", &v("1.1.0")).await.unwrap().unwrap();
    let rev = c.revision;
    c.yanked = true;
    let ev = s.update_version(c, rev, EventType::Yanked).await.unwrap();
    assert_eq!(ev.event_type, EventType::Yanked);
    let page = s.list_latest(&all(10)).await.unwrap().value;
    assert_eq!(page.items[0].version(), "1.0.0");
    // Yank everything stable: no latest at all.
    let mut c = s.get_version("a", &v("1.0.0")).await.unwrap().unwrap();
    let rev = c.revision;
    c.yanked = true;
    s.update_version(c, rev, EventType::Yanked).await.unwrap();
    assert!(
        s.list_latest(&all(10))
            .await
            .unwrap()
            .value
            .items
            .is_empty()
    );
}

async fn updates_are_conditional_on_the_revision(f: Fixture) {
    let s = f.store;
    let ev = s.insert_version(comp("a", "1.0.0"), "o").await.unwrap();
    let mut c = ev.component.clone();
    c.spec.description = "new words".into();
    let ev2 = s
        .update_version(c.clone(), ev.revision, EventType::Updated)
        .await
        .unwrap();
    assert_eq!(ev2.revision, Revision(2));
    assert_eq!(ev2.component.revision, Revision(2));
    assert_eq!(
        s.get_version("a", &v("1.0.0"))
            .await
            .unwrap()
            .unwrap()
            .spec
            .description,
        "new words"
    );
    // A second writer that read revision 1 loses.
    let err = s
        .update_version(c.clone(), ev.revision, EventType::Updated)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Concurrent {
                expected: Revision(1),
                found: Revision(2),
                ..
            }
        ),
        "{err}"
    );
    let missing = comp("a", "9.9.9");
    let err = s
        .update_version(missing, Revision(1), EventType::Updated)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    assert_eq!(s.current_revision().await.unwrap(), Revision(2));
}

async fn change_feed_is_dense_ordered_and_limited(f: Fixture) {
    let s = f.store;
    for i in 0..25 {
        s.insert_version(comp(&format!("c{i:02}"), "1.0.0"), "o")
            .await
            .unwrap();
    }
    let all_events = s.events_since(Revision(0), 1000).await.unwrap();
    let revs: Vec<u64> = all_events.iter().map(|e| e.revision.0).collect();
    assert_eq!(revs, (1..=25).collect::<Vec<_>>());
    let tail = s.events_since(Revision(20), 3).await.unwrap();
    let revs: Vec<u64> = tail.iter().map(|e| e.revision.0).collect();
    assert_eq!(revs, [21, 22, 23]);
    assert!(s.events_since(Revision(25), 10).await.unwrap().is_empty());
    assert!(s.events_since(Revision(1000), 10).await.unwrap().is_empty());
    assert_eq!(all_events[3].component.spec.name, "c03");
}

async fn retention_prunes_old_events_and_says_from_where_resuming_works(f: Fixture) {
    let s = f.store;
    assert_eq!(s.retained_after().await.unwrap(), Revision(0));
    for i in 0..10 {
        s.insert_version(comp(&format!("c{i:02}"), "1.0.0"), "o")
            .await
            .unwrap();
    }
    let far_past = OffsetDateTime::UNIX_EPOCH;
    let keep = |max_events, older_than| nestor_storage::Retention {
        max_events,
        older_than,
    };
    // Count: keep the newest 4.
    let pruned = s.prune_events(keep(4, far_past)).await.unwrap();
    assert_eq!((pruned.removed, pruned.retained_after), (6, Revision(6)));
    assert_eq!(s.retained_after().await.unwrap(), Revision(6));
    let revs: Vec<u64> = s
        .events_since(Revision(6), 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.revision.0)
        .collect();
    assert_eq!(revs, [7, 8, 9, 10]);
    assert_eq!(
        s.events_since(Revision(8), 100).await.unwrap()[0].revision,
        Revision(9)
    );
    // Idempotent.
    let again = s.prune_events(keep(4, far_past)).await.unwrap();
    assert_eq!((again.removed, again.retained_after), (0, Revision(6)));
    // Age: everything written before now is older than a cut-off in the future.
    let future = OffsetDateTime::now_utc() + time::Duration::hours(1);
    let all = s.prune_events(keep(1000, future)).await.unwrap();
    assert_eq!((all.removed, all.retained_after), (4, Revision(10)));
    assert!(s.events_since(Revision(10), 10).await.unwrap().is_empty());
    // The log goes on densely after a full prune; the data is untouched.
    s.insert_version(comp("c10", "1.0.0"), "o").await.unwrap();
    let revs: Vec<u64> = s
        .events_since(Revision(10), 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.revision.0)
        .collect();
    assert_eq!(revs, [11]);
    assert_eq!(s.list_all().await.unwrap().value.len(), 11);
}

async fn list_all_is_a_snapshot_of_every_version(f: Fixture) {
    let s = f.store;
    let empty = s.list_all().await.unwrap();
    assert_eq!((empty.value.len(), empty.revision), (0, Revision(0)));
    for (n, ver) in [
        ("b", "1.0.0"),
        ("a", "2.0.0"),
        ("a", "1.0.0"),
        ("b", "1.1.0-rc.1"),
    ] {
        s.insert_version(comp(n, ver), "o").await.unwrap();
    }
    let mut yanked = s.get_version("a", &v("1.0.0")).await.unwrap().unwrap();
    yanked.yanked = true;
    let rev = yanked.revision;
    s.update_version(yanked, rev, EventType::Yanked)
        .await
        .unwrap();
    let snap = s.list_all().await.unwrap();
    assert_eq!(snap.revision, Revision(5));
    let ids: Vec<String> = snap.value.iter().map(|c| c.spec.id()).collect();
    assert_eq!(ids, ["a@1.0.0", "a@2.0.0", "b@1.0.0", "b@1.1.0-rc.1"]);
    assert!(
        snap.value[0].yanked,
        "the snapshot holds each version as it is now"
    );
    assert_eq!(snap.value[0].revision, Revision(5));

    // The same, a page at a time, in the same order.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = s.list_page(after.clone(), 3).await.unwrap();
        assert_eq!(page.revision, Revision(5));
        assert!(page.value.len() <= 3);
        let Some(last) = page.value.last() else {
            break;
        };
        after = Some((last.spec.name.clone(), last.spec.version.clone()));
        paged.extend(page.value.iter().map(|c| c.spec.id()));
    }
    assert_eq!(paged, ids);
    let rest = s
        .list_page(Some(("a".into(), "2.0.0".into())), 10)
        .await
        .unwrap();
    let rest: Vec<String> = rest.value.iter().map(|c| c.spec.id()).collect();
    assert_eq!(rest, ["b@1.0.0", "b@1.1.0-rc.1"], "strictly after the key");
}

async fn sync_runs_state_leases_and_deliveries(f: Fixture) {
    use nestor_model::{SourceState, SyncRun, SyncStatus, SyncTrigger};
    let s = f.store;
    let a = s
        .insert_sync_run(SyncRun::pending("a", SyncTrigger::Webhook))
        .await
        .unwrap();
    let b = s
        .insert_sync_run(SyncRun::pending("b", SyncTrigger::Poll))
        .await
        .unwrap();
    let mut a2 = s
        .insert_sync_run(SyncRun::pending("a", SyncTrigger::Manual))
        .await
        .unwrap();
    assert!(a.id < b.id && b.id < a2.id, "ids increase");
    a2.status = SyncStatus::Partial;
    a2.commit = Some("abc".into());
    a2.failed = 1;
    s.update_sync_run(&a2).await.unwrap();
    assert_eq!(s.sync_run(a2.id).await.unwrap(), Some(a2.clone()));
    assert_eq!(s.sync_run(999).await.unwrap(), None);
    let ids = |runs: Vec<SyncRun>| runs.iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.sync_runs(None, None, 10).await.unwrap()),
        [a2.id, b.id, a.id]
    );
    assert_eq!(
        ids(s.sync_runs(Some("a"), None, 10).await.unwrap()),
        [a2.id, a.id]
    );
    assert_eq!(
        ids(s.sync_runs(None, Some(a2.id), 1).await.unwrap()),
        [b.id]
    );
    let mut missing = a2.clone();
    missing.id = 999;
    assert!(s.update_sync_run(&missing).await.is_err());

    assert_eq!(s.source_state("a").await.unwrap(), None);
    let state = SourceState {
        source_id: "a".into(),
        last_synced_commit: Some("abc".into()),
        last_run: Some(a2.id),
        failed_paths: vec!["components/bad.yaml".into()],
        head_commit: Some("def".into()),
        head_seen_at: Some(OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()),
        config_fingerprint: Some("file:///repo#main:**/*.yaml".into()),
    };
    s.set_source_state(&state).await.unwrap();
    s.set_source_state(&state).await.unwrap();
    assert_eq!(s.source_state("a").await.unwrap(), Some(state));

    let long = std::time::Duration::from_secs(60);
    assert!(s.try_lease("sync:a", "r1", long).await.unwrap());
    assert!(
        !s.try_lease("sync:a", "r2", long).await.unwrap(),
        "held by r1"
    );
    assert!(
        s.try_lease("sync:a", "r1", long).await.unwrap(),
        "r1 renews"
    );
    s.release_lease("sync:a", "r2").await.unwrap();
    assert!(
        !s.try_lease("sync:a", "r2", long).await.unwrap(),
        "only the holder releases"
    );
    s.release_lease("sync:a", "r1").await.unwrap();
    assert!(
        s.try_lease("sync:a", "r2", std::time::Duration::from_millis(1))
            .await
            .unwrap()
    );
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(
        s.try_lease("sync:a", "r3", long).await.unwrap(),
        "an expired lease is taken over"
    );

    assert!(s.remember_delivery("github:1", long).await.unwrap());
    assert!(
        !s.remember_delivery("github:1", long).await.unwrap(),
        "a duplicate delivery"
    );
    assert!(s.remember_delivery("gitlab:1", long).await.unwrap());
    assert!(
        s.remember_delivery("github:2", std::time::Duration::from_millis(1))
            .await
            .unwrap()
    );
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(
        s.remember_delivery("github:2", long).await.unwrap(),
        "forgotten after its TTL"
    );
}

async fn list_paginates_and_filters(f: Fixture) {
    let s = f.store;
    for i in 0..30 {
        let mut c = comp(&format!("c{i:02}"), "1.0.0");
        if i % 3 == 0 {
            c.spec.provider = "gcp".into();
            c.spec.labels.insert("team".into(), "data".into());
        }
        if i % 5 == 0 {
            c.spec.deployment_engines.push("pulumi".into());
        }
        s.insert_version(c, "o").await.unwrap();
    }
    // Page through everything, 7 at a time.
    let mut names = Vec::new();
    let mut q = all(7);
    loop {
        let page = s.list_latest(&q).await.unwrap().value;
        assert!(page.items.len() <= 7);
        names.extend(page.items.iter().map(|c| c.spec.name.clone()));
        if !page.more {
            break;
        }
        q.after = names.last().cloned();
    }
    assert_eq!(
        names,
        (0..30).map(|i| format!("c{i:02}")).collect::<Vec<_>>()
    );
    // Exactly a page: `more` is false.
    let page = s.list_latest(&all(30)).await.unwrap().value;
    assert!(!page.more && page.items.len() == 30);

    let filter = |f: ComponentFilter| LatestQuery {
        filter: f,
        ..all(100)
    };
    let gcp = s
        .list_latest(&filter(ComponentFilter {
            provider: vec!["gcp".into()],
            ..Default::default()
        }))
        .await
        .unwrap()
        .value;
    assert_eq!(gcp.items.len(), 10);
    let pulumi = s
        .list_latest(&filter(ComponentFilter {
            engine: vec!["pulumi".into()],
            ..Default::default()
        }))
        .await
        .unwrap()
        .value;
    assert_eq!(pulumi.items.len(), 6);
    let both = s
        .list_latest(&filter(ComponentFilter {
            engine: vec!["pulumi".into()],
            labels: vec![nestor_model::LabelFilter::Equals(
                "team".into(),
                "data".into(),
            )],
            ..Default::default()
        }))
        .await
        .unwrap()
        .value;
    let got: Vec<&str> = both.items.iter().map(|c| c.name()).collect();
    assert_eq!(got, ["c00", "c15"]);
    // Filtered pagination: 10 gcp components, 4 per page.
    let mut q = LatestQuery {
        filter: ComponentFilter {
            provider: vec!["gcp".into()],
            ..Default::default()
        },
        ..all(4)
    };
    let mut count = 0;
    loop {
        let page = s.list_latest(&q).await.unwrap().value;
        count += page.items.len();
        if !page.more {
            break;
        }
        q.after = page.items.last().map(|c| c.spec.name.clone());
    }
    assert_eq!(count, 10);
}

async fn concurrent_writers_get_distinct_dense_revisions(f: Fixture) {
    let s = f.store;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.insert_version(comp("c", &format!("1.{i}.0")), "o").await
        }));
    }
    let mut revs = Vec::new();
    for t in tasks {
        revs.push(t.await.unwrap().unwrap().revision.0);
    }
    revs.sort_unstable();
    assert_eq!(revs, (1..=40).collect::<Vec<_>>());
    let feed: Vec<u64> = s
        .events_since(Revision(0), 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.revision.0)
        .collect();
    assert_eq!(feed, (1..=40).collect::<Vec<_>>());
    assert_eq!(s.list_versions("c").await.unwrap().value.len(), 40);
}

macro_rules! contract {
    ($($backend:ident => $fixture:expr),* $(,)?) => {$(
        mod $backend {
            use super::*;
            #[tokio::test] async fn empty_store() { super::empty_store($fixture).await }
            #[tokio::test] async fn insert_then_read() { super::insert_then_read($fixture).await }
            #[tokio::test] async fn name_owners_change_only_as_read_and_outlive_version_writes() { super::name_owners_change_only_as_read_and_outlive_version_writes($fixture).await }
            #[tokio::test] async fn writers_are_kept_on_versions_and_events() { super::writers_are_kept_on_versions_and_events($fixture).await }
            #[tokio::test] async fn duplicate_insert_is_rejected_and_changes_nothing() { super::duplicate_insert_is_rejected_and_changes_nothing($fixture).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn a_new_name_is_created_once_among_racing_writers() { super::a_new_name_is_created_once_among_racing_writers($fixture).await }
            #[tokio::test] async fn versions_are_newest_first_in_semver_order() { super::versions_are_newest_first_in_semver_order($fixture).await }
            #[tokio::test] async fn latest_skips_prereleases_and_yanked() { super::latest_skips_prereleases_and_yanked($fixture).await }
            #[tokio::test] async fn updates_are_conditional_on_the_revision() { super::updates_are_conditional_on_the_revision($fixture).await }
            #[tokio::test] async fn change_feed_is_dense_ordered_and_limited() { super::change_feed_is_dense_ordered_and_limited($fixture).await }
            #[tokio::test] async fn retention_prunes_old_events_and_says_from_where_resuming_works() { super::retention_prunes_old_events_and_says_from_where_resuming_works($fixture).await }
            #[tokio::test] async fn list_all_is_a_snapshot_of_every_version() { super::list_all_is_a_snapshot_of_every_version($fixture).await }
            #[tokio::test] async fn sync_runs_state_leases_and_deliveries() { super::sync_runs_state_leases_and_deliveries($fixture).await }
            #[tokio::test] async fn list_paginates_and_filters() { super::list_paginates_and_filters($fixture).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn concurrent_writers_get_distinct_dense_revisions() { super::concurrent_writers_get_distinct_dense_revisions($fixture).await }
        }
    )*};
}

contract! {
    memory => memory(),
    sqlite => sqlite(),
    cached_memory => cached(memory()),
    cached_sqlite => cached(sqlite()),
    dynamodb => or_skip!(dynamodb().await),
    cached_dynamodb => cached(or_skip!(dynamodb().await)),
}
