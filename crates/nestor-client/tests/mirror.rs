//! `Mirror` and `Client::watch` against a real Nestor server on loopback, including a server
//! that crashes and restarts over the same SQLite file while components are being published.

use std::time::Duration;

use futures_util::StreamExt;
use nestor_client::{
    BackoffPolicy, Client, FeedEvent, FeedFilter, Mirror, MirrorError, MirrorOptions, MirrorUpdate,
    WatchOptions,
    model::{Component, Deprecation, ErrorCode, EventType, PatchRequest, Revision},
};
use nestor_testkit::{ServerBuilder, TestServer, quick_events, spec, sqlite_store};
use tokio::{
    sync::{broadcast, oneshot},
    time::timeout,
};

/// Upper bound of every wait on the network in these tests.
const LIMIT: Duration = Duration::from_secs(30);

/// Logs of the client (and server) under test, shown for failing tests; `RUST_LOG` overrides.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "nestor_client=info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// A server whose periodic bookmarks and keep-alives are quick.
fn quick_server() -> ServerBuilder {
    TestServer::builder().events(quick_events())
}

/// Mirror options with quick reconnects and room for every update of a test.
fn mirror_options() -> MirrorOptions {
    MirrorOptions {
        backoff: BackoffPolicy {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(200),
        },
        update_capacity: 100_000,
        ..Default::default()
    }
}

/// Every version of each of `names` on the server, ordered by name, then newest first (as
/// `Mirror::list` orders them).
async fn server_content(
    client: &Client,
    names: impl IntoIterator<Item = String>,
) -> Vec<Component> {
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort();
    names.dedup();
    let mut all = Vec::new();
    for name in names {
        all.extend(client.versions(&name).await.expect("versions").items);
    }
    all
}

async fn ready(mirror: &Mirror, what: &str) {
    timeout(LIMIT, mirror.ready())
        .await
        .unwrap_or_else(|_| panic!("{what}: not ready within {LIMIT:?}"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

async fn reach(mirror: &Mirror, revision: Revision, what: &str) {
    timeout(LIMIT, mirror.wait_for_revision(revision))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{what}: still at revision {} after {LIMIT:?}, waiting for {revision}",
                mirror.revision()
            )
        })
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

/// Every update already announced.
fn drain(updates: &mut broadcast::Receiver<MirrorUpdate>) -> Vec<MirrorUpdate> {
    let mut out = Vec::new();
    loop {
        match updates.try_recv() {
            Ok(u) => out.push(u),
            Err(broadcast::error::TryRecvError::Empty) => return out,
            Err(e) => panic!("updates: {e}"),
        }
    }
}

fn changes(updates: &[MirrorUpdate]) -> Vec<(u64, EventType, String)> {
    updates
        .iter()
        .filter_map(|u| match u {
            MirrorUpdate::Changed(c) => Some((
                c.revision.0,
                c.event_type,
                format!("{}@{}", c.name, c.version),
            )),
            _ => None,
        })
        .collect()
}

fn deprecate(message: &str) -> PatchRequest {
    PatchRequest {
        deprecated: Some(Some(Deprecation {
            message: message.into(),
        })),
        ..Default::default()
    }
}

#[tokio::test]
async fn mirrors_equal_the_server_and_follow_its_changes_in_order() {
    let server = quick_server().start().await;
    let client = &server.client;
    for (name, version, provider) in [
        ("db", "1.0.0", "aws"),
        ("db", "1.1.0", "aws"),
        ("net", "1.0.0", "gcp"),
        ("cache", "1.0.0", "gcp"),
    ] {
        client
            .publish(&spec(name, version).provider(provider).build())
            .await
            .unwrap();
    }
    let names = || ["db", "net", "cache"].map(String::from);

    let all = Mirror::start(client, mirror_options());
    let gcp = Mirror::start(
        client,
        MirrorOptions {
            filter: FeedFilter {
                provider: vec!["gcp".into()],
                ..Default::default()
            },
            ..mirror_options()
        },
    );
    ready(&all, "whole mirror").await;
    ready(&gcp, "gcp mirror").await;
    assert_eq!(all.revision(), Revision(4));
    assert_eq!(all.len(), 4);
    let content = server_content(client, names()).await;
    assert_eq!(all.list(), content);
    let gcp_content: Vec<_> = content
        .iter()
        .filter(|c| c.spec.provider == "gcp")
        .cloned()
        .collect();
    assert_eq!(gcp.list(), gcp_content);
    assert_eq!(
        gcp.revision(),
        Revision(4),
        "a snapshot is at the catalog's revision"
    );

    let mut all_updates = all.subscribe();
    let mut gcp_updates = gcp.subscribe();
    client
        .publish(&spec("net", "1.1.0").provider("gcp").build())
        .await
        .unwrap();
    client
        .patch("db", "1.0.0", &deprecate("use 1.1"))
        .await
        .unwrap();
    client
        .patch(
            "net",
            "1.0.0",
            &PatchRequest {
                yanked: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let last = client
        .publish(&spec("db", "1.2.0").build())
        .await
        .unwrap()
        .component
        .revision;
    assert_eq!(last, Revision(8));

    reach(&all, last, "whole mirror").await;
    assert_eq!(
        changes(&drain(&mut all_updates)),
        [
            (5, EventType::Published, "net@1.1.0".to_owned()),
            (6, EventType::Deprecated, "db@1.0.0".to_owned()),
            (7, EventType::Yanked, "net@1.0.0".to_owned()),
            (8, EventType::Published, "db@1.2.0".to_owned()),
        ]
    );
    let content = server_content(client, names()).await;
    assert_eq!(all.list(), content);
    assert!(all.get("db", "1.0.0").unwrap().deprecated.is_some());
    assert!(all.get("net", "1.0.0").unwrap().yanked);
    assert_eq!(all.latest("net").unwrap().spec.version, "1.1.0");
    assert_eq!(all.latest("db").unwrap().spec.version, "1.2.0");
    assert_eq!(
        all.list_latest()
            .iter()
            .map(|c| c.spec.id())
            .collect::<Vec<_>>(),
        ["cache@1.0.0", "db@1.2.0", "net@1.1.0"]
    );
    assert_eq!(
        all.list_latest(),
        client.list_all(&Default::default()).await.unwrap(),
        "latest per name agrees with the server's list"
    );

    // The filtered mirror got the gcp changes only, and periodic bookmarks carried it to the
    // catalog's revision.
    reach(&gcp, last, "gcp mirror").await;
    assert_eq!(
        changes(&drain(&mut gcp_updates)),
        [
            (5, EventType::Published, "net@1.1.0".to_owned()),
            (7, EventType::Yanked, "net@1.0.0".to_owned()),
        ]
    );
    let gcp_content: Vec<_> = content
        .into_iter()
        .filter(|c| c.spec.provider == "gcp")
        .collect();
    assert_eq!(gcp.list(), gcp_content);
    assert!(gcp.get("db", "1.0.0").is_none());

    all.shutdown().await;
    assert!(gcp.stopped().is_none());
    drop(gcp);
    server.stop().await;
}

#[tokio::test]
async fn a_filter_the_server_refuses_fails_the_mirror() {
    let server = quick_server().start().await;
    let mirror = Mirror::start(
        &server.client,
        MirrorOptions {
            filter: FeedFilter {
                names: vec!["Not_A_Name".into()],
                ..Default::default()
            },
            ..mirror_options()
        },
    );
    let err = timeout(LIMIT, mirror.ready())
        .await
        .expect("the refusal comes at once")
        .expect_err("a 400 is final");
    match &err {
        MirrorError::Failed(e) => assert_eq!(e.code(), Some(ErrorCode::InvalidParameter)),
        other => panic!("expected a failure, got {other}"),
    }
    assert!(matches!(mirror.stopped(), Some(MirrorError::Failed(_))));
    assert!(matches!(mirror.closed().await, MirrorError::Failed(_)));
    assert!(!mirror.is_ready());
    // Subscribers learn it too.
    assert!(matches!(
        mirror.subscribe().recv().await,
        Err(broadcast::error::RecvError::Closed)
    ));
    server.stop().await;
}

#[tokio::test]
async fn watch_resumes_from_a_revision_and_survives_a_graceful_restart() {
    init_tracing();
    let server = quick_server().start().await;
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        server.publish(spec("db", v)).await;
    }
    let client = server.client.clone();
    let mut feed = client.watch(WatchOptions {
        since: Some(Revision(1)),
        backoff: mirror_options().backoff,
        ..Default::default()
    });
    let mut next = async || match timeout(LIMIT, feed.next())
        .await
        .expect("an item in time")
        .expect("the feed goes on")
        .expect("no final error")
    {
        FeedEvent::Change(c) => (c.revision.0, c.version),
        other => panic!("expected a change, got {other:?}"),
    };
    assert_eq!(next().await, (2, "1.1.0".to_owned()));
    assert_eq!(next().await, (3, "1.2.0".to_owned()));
    // The server shuts down (streams end cleanly) and comes back on the same port over the same
    // store: the feed reconnects and resumes after revision 3.
    let store = server.store.clone();
    let addr = server.base.trim_start_matches("http://").to_owned();
    server.stop().await;
    let listener = std::net::TcpListener::bind(&addr).expect("the port is free again");
    let restarted = quick_server().store(store).start_killable(listener);
    client.publish(&spec("db", "1.3.0").build()).await.unwrap();
    assert_eq!(next().await, (4, "1.3.0".to_owned()));
    restarted.kill().await;
}

/// The key property: a mirror that lives through a server crash and restart (same port, same
/// SQLite file, new process state) while components are being published ends up equal to the
/// server, having applied every revision exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_survives_a_server_crash_without_gaps_or_duplicates() {
    init_tracing();
    const BEFORE: usize = 20;
    const PUBLISHES: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("catalog.db");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = quick_server()
        .store(sqlite_store(&db))
        .start_killable(listener);
    let client = Client::new(&format!("http://{addr}")).unwrap();

    for i in 0..BEFORE {
        client
            .publish(&spec(&format!("pre-{i:03}"), "1.0.0").build())
            .await
            .unwrap();
    }
    let mirror = Mirror::start(&client, mirror_options());
    let mut updates = mirror.subscribe();
    ready(&mirror, "mirror").await;
    let start = mirror.revision();
    assert_eq!(start, Revision(BEFORE as u64));
    assert_eq!(mirror.len(), BEFORE);

    // Publishes new components (and deprecates some), pausing half-way for the crash.
    let (half_tx, half_rx) = oneshot::channel::<()>();
    let (resume_tx, resume_rx) = oneshot::channel::<()>();
    let publisher = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut half = Some((half_tx, resume_rx));
            for i in 0..PUBLISHES {
                if i == PUBLISHES / 2
                    && let Some((half_tx, resume_rx)) = half.take()
                {
                    half_tx.send(()).unwrap();
                    resume_rx.await.unwrap();
                }
                let name = format!("comp-{i:03}");
                let provider = if i % 2 == 0 { "aws" } else { "gcp" };
                client
                    .publish(&spec(&name, "1.0.0").provider(provider).build())
                    .await
                    .unwrap_or_else(|e| panic!("publish {name}: {e}"));
                if i % 25 == 24 {
                    let old = format!("comp-{:03}", i - 10);
                    client
                        .patch(&old, "1.0.0", &deprecate("superseded"))
                        .await
                        .unwrap_or_else(|e| panic!("deprecate {old}: {e}"));
                }
            }
        })
    };

    timeout(LIMIT, half_rx)
        .await
        .expect("the publisher reaches half-way")
        .unwrap();
    // Crash: every connection breaks, whatever the mirror was in the middle of.
    tracing::info!(mirror_at = %mirror.revision(), "killing the server");
    server.kill().await;
    let listener = std::net::TcpListener::bind(addr).expect("the port is free again");
    let store = sqlite_store(&db);
    let server = quick_server().store(store.clone()).start_killable(listener);
    resume_tx.send(()).unwrap();
    timeout(LIMIT, publisher)
        .await
        .expect("the publisher finishes")
        .unwrap();

    let end = store.current_revision().await.unwrap();
    assert_eq!(
        end.0,
        (BEFORE + PUBLISHES + PUBLISHES / 25) as u64,
        "one revision per write"
    );
    reach(&mirror, end, "mirror after the crash").await;

    let names = (0..BEFORE)
        .map(|i| format!("pre-{i:03}"))
        .chain((0..PUBLISHES).map(|i| format!("comp-{i:03}")));
    let content = server_content(&client, names).await;
    assert_eq!(content.len(), BEFORE + PUBLISHES);
    let mirrored = mirror.list();
    assert_eq!(mirrored.len(), content.len());
    for (m, s) in mirrored.iter().zip(&content) {
        assert_eq!(m, s, "{} differs from the server", m.spec.id());
    }
    assert_eq!(mirror.revision(), end);

    // Every revision after the snapshot was applied exactly once, in order.
    let updates = drain(&mut updates);
    let mut applied = Vec::new();
    for u in &updates {
        match u {
            MirrorUpdate::Changed(c) => applied.push(c.revision.0),
            MirrorUpdate::Reloaded { revision, .. } => assert!(
                applied.is_empty() && *revision == start,
                "no reload after the first snapshot (got one at {revision})"
            ),
            other => panic!("unexpected update {other:?}"),
        }
    }
    let expected: Vec<u64> = (start.0 + 1..=end.0).collect();
    assert_eq!(applied.len(), expected.len(), "one update per revision");
    assert_eq!(
        applied, expected,
        "strictly increasing, no gaps, no duplicates"
    );

    mirror.shutdown().await;
    server.kill().await;
}
