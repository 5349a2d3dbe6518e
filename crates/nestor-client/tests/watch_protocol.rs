//! `Client::watch` against a scripted SSE server on loopback: resume points, duplicates,
//! unknown events, snapshot restarts, retries, final errors and idle connections. This pins the
//! client's transport logic down independently of the real server (see `mirror.rs` for that).

use std::time::Duration;

use futures_util::StreamExt;
use nestor_client::{
    BackoffPolicy, Client, Error, FeedEvent, Watch, WatchOptions,
    model::{ErrorCode, Revision},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::mpsc,
    time::timeout,
};

/// Upper bound of every wait in these tests.
const LIMIT: Duration = Duration::from_secs(10);

/// A request the fake server received.
#[derive(Debug)]
struct Seen {
    /// Path and query.
    target: String,
    last_event_id: Option<String>,
}

impl Seen {
    fn snapshot(&self) -> bool {
        self.target.contains("snapshot=true")
    }
}

/// One scripted answer, for one connection.
enum Reply {
    /// `200 text/event-stream` with this body; then the connection closes, or stays open
    /// (silent) when `hold`.
    Sse { body: String, hold: bool },
    /// Any other answer.
    Status {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
}

fn sse(body: String) -> Reply {
    Reply::Sse { body, hold: false }
}

fn sse_hold(body: String) -> Reply {
    Reply::Sse { body, hold: true }
}

/// Serves `replies` in order, one per connection, then holds further connections open and
/// silent. Returns the base URL and the requests as they arrive.
async fn fake_server(replies: Vec<Reply>) -> (String, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut replies = replies.into_iter();
        let mut held: Vec<TcpStream> = Vec::new();
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let Some(seen) = read_request(&mut socket).await else {
                continue;
            };
            let _ = tx.send(seen);
            match replies.next().unwrap_or_else(|| sse_hold(String::new())) {
                Reply::Sse { body, hold } => {
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                                cache-control: no-cache\r\nconnection: close\r\n\r\n";
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(body.as_bytes()).await;
                    let _ = socket.flush().await;
                    if hold {
                        held.push(socket);
                    } else {
                        let _ = socket.shutdown().await;
                    }
                }
                Reply::Status {
                    status,
                    headers,
                    body,
                } => {
                    let mut head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/problem+json\r\n\
                         content-length: {}\r\nconnection: close\r\n",
                        body.len()
                    );
                    for (k, v) in headers {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    head.push_str("\r\n");
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(body.as_bytes()).await;
                    let _ = socket.shutdown().await;
                }
            }
        }
    });
    (base, rx)
}

async fn read_request(socket: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.split("\r\n");
    let target = lines.next()?.split(' ').nth(1)?.to_owned();
    let last_event_id = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("last-event-id")
            .then(|| v.trim().to_owned())
    });
    Some(Seen {
        target,
        last_event_id,
    })
}

fn component(name: &str, version: &str) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "version": version,
        "content_hash": "sha256:00",
        "published_at": "2026-01-01T00:00:00Z",
        "revision": 1,
    })
}

fn snapshot(name: &str) -> String {
    format!(
        "event: component.snapshot\ndata: {}\n\n",
        serde_json::json!({"component": component(name, "1.0.0")})
    )
}

fn change(revision: u64) -> String {
    let data = serde_json::json!({
        "revision": revision,
        "type": "component.published",
        "name": format!("c{revision}"),
        "version": "1.0.0",
        "component": component(&format!("c{revision}"), "1.0.0"),
        "occurred_at": "2026-01-01T00:00:00Z",
    });
    format!("event: component.published\nid: {revision}\ndata: {data}\n\n")
}

fn bookmark(revision: u64, end: bool) -> String {
    format!(
        "event: catalog.bookmark\nid: {revision}\ndata: {{\"revision\":{revision},\"snapshot_end\":{end}}}\n\n"
    )
}

fn options(snapshot: bool, since: Option<u64>) -> WatchOptions {
    WatchOptions {
        snapshot,
        since: since.map(Revision),
        backoff: BackoffPolicy {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(20),
        },
        idle_timeout: None,
        ..Default::default()
    }
}

/// A short description of an item, for comparing sequences.
fn describe(item: &FeedEvent) -> String {
    match item {
        FeedEvent::Change(c) => format!("change {}", c.revision),
        FeedEvent::Snapshot(c) => format!("snapshot {}", c.spec.name),
        FeedEvent::Bookmark(b) if b.snapshot_end => format!("end {}", b.revision),
        FeedEvent::Bookmark(b) => format!("bookmark {}", b.revision),
        FeedEvent::Reset(r) => format!("reset {}", r.current),
        FeedEvent::SnapshotRestarted => "restarted".into(),
        other => format!("{other:?}"),
    }
}

async fn take(watch: &mut Watch, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        let item = timeout(LIMIT, watch.next())
            .await
            .unwrap_or_else(|_| panic!("no item within {LIMIT:?}; got so far: {out:?}"))
            .expect("the stream does not end");
        out.push(describe(&item.expect("no final error")));
    }
    out
}

async fn seen(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    timeout(LIMIT, rx.recv())
        .await
        .expect("the client connects again")
        .expect("server alive")
}

/// Polls `watch` in the background so that it reconnects; returns the next request it makes.
async fn next_request(watch: Watch, rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    let poller = tokio::spawn(async move {
        let mut watch = watch;
        while watch.next().await.is_some() {}
    });
    let seen = seen(rx).await;
    poller.abort();
    seen
}

#[tokio::test]
async fn resumes_after_a_drop_without_duplicates_and_ignores_unknown_events() {
    let first = format!(
        "retry: 2000\n\n{}: keep-alive\n\n{}{}event: component.teleported\nid: 7\ndata: {{}}\n\n{}\
         event: component.published\nid: 8\ndata: {{\"cut\":",
        snapshot("a"),
        bookmark(5, true),
        change(6),
        change(7),
    );
    let second = format!(
        "{}{}{}{}",
        change(6),
        change(7),
        change(8),
        bookmark(9, false)
    );
    let (base, mut rx) = fake_server(vec![sse(first), sse(second)]).await;
    let client = Client::new(&base).unwrap();
    let mut watch = client.watch(options(true, None));

    assert_eq!(
        take(&mut watch, 6).await,
        [
            "snapshot a",
            "end 5",
            "change 6",
            "change 7",
            "change 8",
            "bookmark 9"
        ]
    );
    let first = seen(&mut rx).await;
    assert!(first.snapshot(), "{first:?}");
    assert_eq!(first.last_event_id, None);
    let second = seen(&mut rx).await;
    assert!(!second.snapshot(), "{second:?}");
    assert_eq!(second.last_event_id.as_deref(), Some("7"));
    // The bookmark moved the resume point.
    let third = next_request(watch, &mut rx).await;
    assert!(!third.snapshot(), "{third:?}");
    assert_eq!(third.last_event_id.as_deref(), Some("9"));
}

#[tokio::test]
async fn a_connection_lost_mid_snapshot_restarts_the_snapshot() {
    let (base, mut rx) = fake_server(vec![
        sse(format!("{}{}", snapshot("a"), snapshot("b"))),
        sse_hold(format!(
            "{}{}{}{}",
            snapshot("a"),
            snapshot("b"),
            snapshot("c"),
            bookmark(3, true)
        )),
    ])
    .await;
    let client = Client::new(&base).unwrap();
    let mut watch = client.watch(options(true, None));
    assert_eq!(
        take(&mut watch, 7).await,
        [
            "snapshot a",
            "snapshot b",
            "restarted",
            "snapshot a",
            "snapshot b",
            "snapshot c",
            "end 3"
        ]
    );
    for _ in 0..2 {
        let s = seen(&mut rx).await;
        assert!(s.snapshot(), "{s:?}");
        assert_eq!(s.last_event_id, None, "a fresh snapshot, not a resume");
    }
}

#[tokio::test]
async fn malformed_data_reconnects_from_the_last_revision() {
    let (base, mut rx) = fake_server(vec![
        sse(format!(
            "{}event: component.published\nid: 12\ndata: {{oops\n\n{}",
            change(11),
            change(13)
        )),
        sse_hold(change(12)),
    ])
    .await;
    let client = Client::new(&base).unwrap();
    let mut watch = client.watch(options(false, Some(10)));
    assert_eq!(take(&mut watch, 2).await, ["change 11", "change 12"]);
    assert_eq!(seen(&mut rx).await.last_event_id.as_deref(), Some("10"));
    assert_eq!(seen(&mut rx).await.last_event_id.as_deref(), Some("11"));
}

#[tokio::test]
async fn a_reset_is_followed_by_a_snapshot_and_a_new_history() {
    let reset = "event: catalog.reset\ndata: {\"reason\":\"ahead\",\"requested\":50,\"retained_after\":0,\"current\":20}\n\n";
    let (base, mut rx) = fake_server(vec![sse(format!(
        "{reset}{}{}{}",
        snapshot("x"),
        bookmark(20, true),
        change(21)
    ))])
    .await;
    let client = Client::new(&base).unwrap();
    let mut watch = client.watch(options(false, Some(50)));
    assert_eq!(
        take(&mut watch, 4).await,
        ["reset 20", "snapshot x", "end 20", "change 21"]
    );
    assert_eq!(seen(&mut rx).await.last_event_id.as_deref(), Some("50"));
    // Resumes in the new history, not after 50.
    assert_eq!(
        next_request(watch, &mut rx).await.last_event_id.as_deref(),
        Some("21")
    );
}

#[tokio::test]
async fn retriable_answers_are_retried_and_a_4xx_problem_ends_the_stream() {
    let problem = |code: &str, status: u16| {
        serde_json::json!({
            "type": format!("urn:nestor:problem:{code}"), "title": "t", "status": status,
            "detail": "d", "code": code, "retriable": status >= 500, "details": {}
        })
        .to_string()
    };
    let (base, mut rx) = fake_server(vec![
        Reply::Status {
            status: 503,
            headers: vec![("retry-after", "0".into())],
            body: problem("too_many_subscribers", 503),
        },
        Reply::Status {
            status: 500,
            headers: vec![],
            body: "boom".into(),
        },
        Reply::Status {
            status: 429,
            headers: vec![],
            body: problem("rate_limited", 429),
        },
        sse(change(1)),
        Reply::Status {
            status: 400,
            headers: vec![],
            body: problem("invalid_parameter", 400),
        },
    ])
    .await;
    let client = Client::new(&base).unwrap();
    let mut watch = client.watch(options(false, None));
    assert_eq!(take(&mut watch, 1).await, ["change 1"]);
    let last = timeout(LIMIT, watch.next()).await.unwrap();
    match last {
        Some(Err(e @ Error::Api(_))) => assert_eq!(e.code(), Some(ErrorCode::InvalidParameter)),
        other => panic!("expected the final problem, got {other:?}"),
    }
    assert!(timeout(LIMIT, watch.next()).await.unwrap().is_none());
    let ids: Vec<Option<String>> = (0..5)
        .map(|_| rx.try_recv().expect("five requests").last_event_id)
        .collect();
    assert_eq!(
        ids,
        [None, None, None, None, Some("1".into())],
        "the resume point survives failed attempts"
    );
}

#[tokio::test]
async fn a_silent_connection_is_replaced_after_the_idle_timeout() {
    let (base, mut rx) = fake_server(vec![sse_hold(change(1))]).await;
    let client = Client::new(&base).unwrap();
    let mut watch = client.watch(WatchOptions {
        idle_timeout: Some(Duration::from_millis(300)),
        ..options(false, None)
    });
    assert_eq!(take(&mut watch, 1).await, ["change 1"]);
    assert_eq!(seen(&mut rx).await.last_event_id, None);
    assert_eq!(
        next_request(watch, &mut rx).await.last_event_id.as_deref(),
        Some("1")
    );
}
