//! The change feed without HTTP: snapshot, resume, lag, retention resets, filters, bookmarks.

use std::{sync::Arc, time::Duration};

use futures_util::{Stream, StreamExt};
use nestor_catalog::{Catalog, FeedItem, FeedRequest};
use nestor_model::{ComponentFilter, ComponentSpec, Input, ResetReason, Revision, ValueType};
use nestor_storage::{ChangeFeed, ComponentWriter, MemoryStore, Retention};
use nestor_testkit::{input, minimal, tester};
use nestor_validation::Validator;

fn catalog() -> (Catalog, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    (Catalog::new(store.clone(), Validator::full(), None), store)
}

/// The feed tests' definition: a network component with one optional input, on `gcp` when
/// its name says so, on `aws` otherwise.
fn spec(name: &str, version: &str) -> ComponentSpec {
    minimal(name, version)
        .description("A thing")
        .provider(if name.starts_with("gcp") {
            "gcp"
        } else {
            "aws"
        })
        .category("network")
        .resource_type("thing")
        .optional_input(Input {
            description: "Size".into(),
            default: Some(serde_json::json!(1)),
            ..input("size", ValueType::Integer)
        })
        .build()
}

fn request(since: Option<u64>, snapshot: bool) -> FeedRequest {
    FeedRequest {
        since: since.map(Revision),
        snapshot,
        filter: ComponentFilter::default(),
        bookmark_interval: Duration::from_secs(3600),
    }
}

async fn next(
    feed: &mut (impl Stream<Item = Result<FeedItem, nestor_catalog::CatalogError>> + Unpin),
) -> FeedItem {
    tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .expect("the feed produced nothing within 10 s")
        .expect("the feed ended")
        .expect("the feed failed")
}

fn revision_of(item: &FeedItem) -> u64 {
    match item {
        FeedItem::Change(e) => e.revision.0,
        FeedItem::Bookmark(b) => b.revision.0,
        other => panic!("expected a change or bookmark, got {other:?}"),
    }
}

#[tokio::test]
async fn snapshot_then_live_changes() {
    let (c, _) = catalog();
    for n in ["a", "b", "c"] {
        c.publish(spec(n, "1.0.0"), &tester()).await.unwrap();
    }
    let mut feed = Box::pin(c.feed(request(None, true)).await.unwrap());
    for n in ["a", "b", "c"] {
        match next(&mut feed).await {
            FeedItem::Snapshot(comp) => assert_eq!(comp.spec.name, n),
            other => panic!("{other:?}"),
        }
    }
    match next(&mut feed).await {
        FeedItem::Bookmark(b) => assert!(b.snapshot_end && b.revision == Revision(3)),
        other => panic!("{other:?}"),
    }
    c.publish(spec("d", "1.0.0"), &tester()).await.unwrap();
    match next(&mut feed).await {
        FeedItem::Change(e) => assert_eq!((e.revision.0, e.name.as_str()), (4, "d")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn resume_after_a_revision_and_without_since_start_at_the_next_change() {
    let (c, _) = catalog();
    for n in ["a", "b", "c"] {
        c.publish(spec(n, "1.0.0"), &tester()).await.unwrap();
    }
    let mut resumed = Box::pin(c.feed(request(Some(1), false)).await.unwrap());
    let mut fresh = Box::pin(c.feed(request(None, false)).await.unwrap());
    assert_eq!(revision_of(&next(&mut resumed).await), 2);
    assert_eq!(revision_of(&next(&mut resumed).await), 3);
    c.publish(spec("d", "1.0.0"), &tester()).await.unwrap();
    assert_eq!(revision_of(&next(&mut resumed).await), 4);
    assert_eq!(revision_of(&next(&mut fresh).await), 4);
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_the_broadcast_loses_nothing() {
    let (c, _) = catalog();
    let mut feed = Box::pin(c.feed(request(Some(0), false)).await.unwrap());
    // Not polled while 3,000 changes (three times the broadcast's capacity) are written.
    for i in 0..3000 {
        c.publish(spec(&format!("c{i:04}"), "1.0.0"), &tester())
            .await
            .unwrap();
    }
    for expected in 1..=3000 {
        assert_eq!(revision_of(&next(&mut feed).await), expected);
    }
}

#[tokio::test]
async fn a_resume_point_that_was_pruned_or_is_ahead_gets_a_reset_and_a_snapshot() {
    let (c, store) = catalog();
    for n in ["a", "b", "c", "d"] {
        c.publish(spec(n, "1.0.0"), &tester()).await.unwrap();
    }
    store
        .prune_events(Retention {
            max_events: 1,
            older_than: time::OffsetDateTime::UNIX_EPOCH,
        })
        .await
        .unwrap();
    for (since, reason) in [(1, ResetReason::Expired), (99, ResetReason::Ahead)] {
        let mut feed = Box::pin(c.feed(request(Some(since), false)).await.unwrap());
        match next(&mut feed).await {
            FeedItem::Reset(r) => {
                assert_eq!(r.reason, reason);
                assert_eq!(r.requested, Revision(since));
                assert_eq!((r.retained_after, r.current), (Revision(3), Revision(4)));
            }
            other => panic!("{other:?}"),
        }
        for _ in 0..4 {
            assert!(matches!(next(&mut feed).await, FeedItem::Snapshot(_)));
        }
        match next(&mut feed).await {
            FeedItem::Bookmark(b) => assert!(b.snapshot_end && b.revision == Revision(4)),
            other => panic!("{other:?}"),
        }
    }
    // Resuming exactly at the retention boundary still works.
    let mut feed = Box::pin(c.feed(request(Some(3), false)).await.unwrap());
    assert_eq!(revision_of(&next(&mut feed).await), 4);
}

#[tokio::test]
async fn filtered_streams_advance_by_bookmarks_and_see_other_writers() {
    let (c, store) = catalog();
    let filter = ComponentFilter {
        provider: vec!["gcp".into()],
        ..Default::default()
    };
    let mut feed = Box::pin(
        c.feed(FeedRequest {
            since: Some(Revision(0)),
            snapshot: false,
            filter,
            bookmark_interval: Duration::from_millis(50),
        })
        .await
        .unwrap(),
    );
    c.publish(spec("aws-a", "1.0.0"), &tester()).await.unwrap();
    c.publish(spec("gcp-b", "1.0.0"), &tester()).await.unwrap();
    c.publish(spec("aws-c", "1.0.0"), &tester()).await.unwrap();
    match next(&mut feed).await {
        FeedItem::Change(e) => assert_eq!((e.revision.0, e.name.as_str()), (2, "gcp-b")),
        other => panic!("{other:?}"),
    }
    match next(&mut feed).await {
        FeedItem::Bookmark(b) => assert!(!b.snapshot_end && b.revision == Revision(3)),
        other => panic!("{other:?}"),
    }
    // A write straight to the store (another process) reaches the stream through follow_log.
    let c = Arc::new(c);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let follower = {
        let c = c.clone();
        tokio::spawn(async move {
            c.follow_log(Duration::from_millis(20), async {
                let _ = stop_rx.await;
            })
            .await
        })
    };
    let mut other = spec("gcp-d", "1.0.0");
    other.description = "written elsewhere".into();
    let component = nestor_model::Component {
        content_hash: other.content_hash(),
        spec: other,
        published_at: time::OffsetDateTime::now_utc(),
        revision: Revision(0),
        deprecated: None,
        yanked: false,
        published_by: None,
        changed_by: None,
    };
    store.insert_version(component, "source:x").await.unwrap();
    match next(&mut feed).await {
        FeedItem::Change(e) => assert_eq!((e.revision.0, e.name.as_str()), (4, "gcp-d")),
        other => panic!("{other:?}"),
    }
    let _ = stop_tx.send(());
    follower.await.unwrap();
}

#[tokio::test]
async fn a_label_filtered_stream_hears_when_a_version_stops_matching() {
    let (c, _) = catalog();
    let mut tagged = spec("db", "1.0.0");
    tagged.labels.insert("team".into(), "data".into());
    c.publish(tagged.clone(), &tester()).await.unwrap();
    let filter = ComponentFilter {
        labels: vec![nestor_model::LabelFilter::Equals(
            "team".into(),
            "data".into(),
        )],
        ..Default::default()
    };
    let mut feed = Box::pin(
        c.feed(FeedRequest {
            since: Some(Revision(1)),
            snapshot: false,
            filter,
            bookmark_interval: Duration::from_secs(3600),
        })
        .await
        .unwrap(),
    );
    // Unrelated components stay out; the update that moves db out of the filter comes through.
    c.publish(spec("cache", "1.0.0"), &tester()).await.unwrap();
    let mut moved = tagged;
    moved.labels.insert("team".into(), "web".into());
    c.publish(moved, &tester()).await.unwrap();
    match next(&mut feed).await {
        FeedItem::Change(e) => {
            assert_eq!((e.revision.0, e.name.as_str()), (3, "db"));
            assert_eq!(e.event_type, nestor_model::EventType::Updated);
        }
        other => panic!("{other:?}"),
    }
}

/// A cursor reads the store a page at a time, and the next page only once the previous one
/// has been taken: a reader that stops taking items leaves at most a page in memory, however
/// far back it resumes and however large the catalog (it held 512 events, or the whole
/// catalog for a snapshot).
#[tokio::test]
async fn a_cursor_holds_at_most_a_page_ahead_of_its_reader() {
    let (c, _) = catalog();
    cursor_holds_at_most_a_page(c).await;
}

/// The same on DynamoDB, whose snapshot pages are read from its names partition (it read the
/// whole catalog for each snapshot).
#[tokio::test]
async fn a_cursor_holds_at_most_a_page_ahead_of_its_reader_on_dynamodb() {
    let Some(store) = nestor_testkit::dynamodb::fresh_store().await else {
        return;
    };
    cursor_holds_at_most_a_page(Catalog::new(Arc::new(store), Validator::full(), None)).await;
}

async fn cursor_holds_at_most_a_page(c: Catalog) {
    use nestor_catalog::FEED_PAGE;
    for i in 0..100 {
        c.publish(spec(&format!("c{i:03}"), "1.0.0"), &tester())
            .await
            .unwrap();
    }
    for (since, snapshot, items) in [(Some(0), false, 100), (None, true, 101)] {
        let mut cursor = c.cursor(request(since, snapshot)).await.unwrap();
        assert!(
            cursor.buffered() <= 1,
            "nothing read before it is asked for"
        );
        let mut taken = 0;
        while let Some(item) = cursor.next_before_live().await {
            item.unwrap();
            taken += 1;
            assert!(
                cursor.buffered() <= FEED_PAGE + 1,
                "{} items held ahead of the reader",
                cursor.buffered()
            );
        }
        assert_eq!(taken, items, "since {since:?}, snapshot {snapshot}");
        assert_eq!(cursor.last(), Revision(100));
    }
}

/// A snapshot read in pages while the catalog changes is still the state at the revision of
/// the bookmark that ends it: folding its items (a later item for the same version replaces
/// the earlier) gives exactly the catalog at that revision, and the changes after it follow.
#[tokio::test]
async fn a_snapshot_read_in_pages_during_writes_is_the_state_at_its_bookmark() {
    let (c, store) = catalog();
    snapshot_in_pages_during_writes(c, store).await;
}

#[tokio::test]
async fn a_snapshot_read_in_pages_during_writes_is_the_state_at_its_bookmark_on_dynamodb() {
    let Some(store) = nestor_testkit::dynamodb::fresh_store().await else {
        return;
    };
    let store = Arc::new(store);
    let c = Catalog::new(store.clone(), Validator::full(), None);
    snapshot_in_pages_during_writes(c, store).await;
}

async fn snapshot_in_pages_during_writes(c: Catalog, store: Arc<dyn nestor_storage::CatalogStore>) {
    for i in 0..40 {
        c.publish(spec(&format!("m{i:03}"), "1.0.0"), &tester())
            .await
            .unwrap();
    }
    let mut cursor = c.cursor(request(None, true)).await.unwrap();
    let mut state = std::collections::BTreeMap::new();
    let mut writes = 0;
    let end = loop {
        let item = cursor
            .next_before_live()
            .await
            .expect("the snapshot ends with a bookmark")
            .unwrap();
        match item {
            FeedItem::Snapshot(comp) => {
                state.insert(comp.spec.id(), *comp);
            }
            FeedItem::Bookmark(b) if b.snapshot_end => break b.revision,
            other => panic!("{other:?}"),
        }
        // Between pages: new names before and after the pages' position, and a change to a
        // version already sent.
        if writes < 6 && state.len() % 5 == 0 {
            writes += 1;
            for name in [format!("a{writes}"), format!("z{writes}")] {
                c.publish(spec(&name, "1.0.0"), &tester()).await.unwrap();
            }
            let patch = nestor_model::PatchRequest {
                description: Some(format!("changed {writes}")),
                ..Default::default()
            };
            c.patch("m000", "1.0.0", patch).await.unwrap();
        }
    };
    assert_eq!(writes, 6, "the catalog changed while the snapshot was read");
    let truth = store.list_all().await.unwrap();
    assert_eq!(end, truth.revision, "no write after the last page here");
    let truth: std::collections::BTreeMap<_, _> = truth
        .value
        .into_iter()
        .map(|comp| (comp.spec.id(), comp))
        .collect();
    assert_eq!(state, truth);
    assert_eq!(state["m000@1.0.0"].spec.description, "changed 6");
    // Then the next change, once.
    c.publish(spec("after", "1.0.0"), &tester()).await.unwrap();
    match cursor.next().await.unwrap().unwrap() {
        FeedItem::Change(e) => assert_eq!(e.name, "after"),
        other => panic!("{other:?}"),
    }
}

/// Streams that start together take turns for the store: on DynamoDB, 200 snapshot streams
/// opened at once read their first pages through at most `FEED_READERS` requests in flight,
/// so the SDK's connection pool (idle connections live on for 90 s, each with its buffers) does
/// not grow to one connection per stream (it held 582 for 500 stalled streams).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streams_starting_together_take_turns_for_the_store_on_dynamodb() {
    use nestor_catalog::FEED_READERS;
    let Some(endpoint) = nestor_testkit::dynamodb::endpoint() else {
        return;
    };
    let Some(store) = nestor_testkit::dynamodb::fresh_store().await else {
        return;
    };
    let port: u16 = endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("the endpoint has a port");
    let c = Arc::new(Catalog::new(Arc::new(store), Validator::full(), None));
    for i in 0..10 {
        c.publish(spec(&format!("t{i:02}"), "1.0.0"), &tester())
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut cursor = c.cursor(request(None, true)).await.unwrap();
            cursor.next_before_live().await.unwrap().unwrap();
            cursor
        }));
    }
    let mut cursors = Vec::new();
    for t in tasks {
        cursors.push(t.await.unwrap());
    }
    // Established connections to DynamoDB Local (the pool keeps them after the burst).
    let open = std::fs::read_to_string("/proc/self/net/tcp")
        .unwrap()
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3
                && fields[3] == "01"
                && fields[2]
                    .rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
                    == Some(port)
        })
        .count();
    assert!(
        open <= FEED_READERS + 16,
        "{open} connections to DynamoDB for 200 streams (at most {FEED_READERS} reads at once, and a few for other tests)"
    );
    drop(cursors);
}
