//! `GET /api/v1/events` over real HTTP: the SSE format, resume, snapshot, filters, bad input,
//! slow readers, the subscriber limit and shutdown.

use std::time::Duration;

use nestor_api::EventsConfig;
use nestor_model::PatchRequest;
use nestor_testkit::{SseReader, TestServer, spec};

async fn start(events: EventsConfig) -> TestServer {
    TestServer::builder().events(events).start().await
}

async fn open(s: &TestServer, query: &str, last_event_id: Option<&str>) -> reqwest::Response {
    let mut req = s.http.get(s.url(&format!("/api/v1/events{query}")));
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    req.send().await.unwrap()
}

async fn stream(s: &TestServer, query: &str, last_event_id: Option<&str>) -> SseReader {
    let res = open(s, query, last_event_id).await;
    assert_eq!(res.status(), 200, "{query}");
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    SseReader::new(res)
}

#[tokio::test]
async fn snapshot_then_live_with_ids_types_and_full_components() {
    let s = start(EventsConfig::default()).await;
    s.publish(spec("db", "1.0.0")).await;
    s.publish(spec("db", "1.1.0")).await;
    let mut sse = stream(&s, "?snapshot=true", None).await;
    let head = sse.raw_until("retry:").await;
    assert!(head.starts_with("retry: 2000"), "{head}");
    for version in ["1.0.0", "1.1.0"] {
        let ev = sse.next().await.unwrap();
        assert_eq!(ev.event, "component.snapshot");
        assert_eq!(ev.id, None, "snapshot items carry no id");
        assert_eq!(ev.data["component"]["version"], version);
    }
    let end = sse.next().await.unwrap();
    assert_eq!(
        (end.event.as_str(), end.id.as_deref()),
        ("catalog.bookmark", Some("2"))
    );
    assert_eq!(end.data["snapshot_end"], true);

    s.publish(spec("db", "1.2.0")).await;
    let patch = PatchRequest {
        deprecated: Some(Some(nestor_model::Deprecation {
            message: "use 1.2".into(),
        })),
        ..Default::default()
    };
    s.client.patch("db", "1.0.0", &patch).await.unwrap();
    let published = sse.next().await.unwrap();
    assert_eq!(
        (published.event.as_str(), published.id.as_deref()),
        ("component.published", Some("3"))
    );
    assert_eq!(published.data["revision"], 3);
    assert_eq!(published.data["component"]["version"], "1.2.0");
    assert_eq!(
        published.data["component"]["outputs"][0]["name"], "endpoint",
        "the full component"
    );
    let deprecated = sse.next().await.unwrap();
    assert_eq!(
        (deprecated.event.as_str(), deprecated.id.as_deref()),
        ("component.deprecated", Some("4"))
    );
    s.stop().await;
}

#[tokio::test]
async fn resume_from_last_event_id_or_since_exactly_after_it() {
    let s = start(EventsConfig::default()).await;
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        s.publish(spec("db", v)).await;
    }
    // Last-Event-ID wins over since (an EventSource reconnects to the same URL with the header).
    let mut sse = stream(&s, "?since=0", Some("2")).await;
    let ev = sse.next().await.unwrap();
    assert_eq!(ev.id.as_deref(), Some("3"));
    let mut sse = stream(&s, "?since=1", None).await;
    assert_eq!(sse.next().await.unwrap().id.as_deref(), Some("2"));
    assert_eq!(sse.next().await.unwrap().id.as_deref(), Some("3"));
    // An empty Last-Event-ID is no resume point (EventSource before its first id).
    let mut sse = stream(&s, "?since=2", Some("")).await;
    assert_eq!(sse.next().await.unwrap().id.as_deref(), Some("3"));
    s.stop().await;
}

#[tokio::test]
async fn a_revision_from_the_future_gets_a_reset_and_a_snapshot() {
    let s = start(EventsConfig::default()).await;
    s.publish(spec("db", "1.0.0")).await;
    let mut sse = stream(&s, "", Some("1000")).await;
    let reset = sse.next().await.unwrap();
    assert_eq!(reset.event, "catalog.reset");
    assert_eq!(reset.data["reason"], "ahead");
    assert_eq!(reset.data["requested"], 1000);
    assert_eq!(reset.data["current"], 1);
    assert_eq!(sse.next().await.unwrap().event, "component.snapshot");
    let end = sse.next().await.unwrap();
    assert_eq!(
        (end.id.as_deref(), &end.data["snapshot_end"]),
        (Some("1"), &serde_json::json!(true))
    );
    s.stop().await;
}

#[tokio::test]
async fn filters_and_periodic_bookmarks_advance_a_filtered_stream() {
    let s = start(EventsConfig {
        bookmark_interval: Duration::from_millis(100),
        keep_alive: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    let mut sse = stream(&s, "?name=cache&name=queue", None).await;
    s.publish(spec("db", "1.0.0")).await;
    s.publish(spec("queue", "1.0.0")).await;
    s.publish(spec("db", "1.1.0")).await;
    let ev = sse.next().await.unwrap();
    assert_eq!(
        (ev.event.as_str(), ev.id.as_deref(), &ev.data["name"]),
        (
            "component.published",
            Some("2"),
            &serde_json::json!("queue")
        )
    );
    let bookmark = sse.next().await.unwrap();
    assert_eq!(
        (bookmark.event.as_str(), bookmark.id.as_deref()),
        ("catalog.bookmark", Some("3"))
    );
    assert_eq!(bookmark.data["snapshot_end"], false);

    // provider / category / label filters; a label that does not match filters everything.
    let mut aws = stream(
        &s,
        "?provider=aws&category=database&label=team:data&since=0",
        None,
    )
    .await;
    assert_eq!(aws.next().await.unwrap().id.as_deref(), Some("1"));
    let mut none = stream(&s, "?label=team:other&since=0", None).await;
    let only = none.next().await.unwrap();
    assert_eq!(
        (only.event.as_str(), only.id.as_deref()),
        ("catalog.bookmark", Some("3"))
    );
    // Idle: keep-alive comments.
    none.raw_until(": keep-alive").await;
    s.stop().await;
}

#[tokio::test]
async fn bad_input_is_a_400_problem_before_the_stream() {
    let s = start(EventsConfig::default()).await;
    for (query, header, parameter) in [
        ("", Some("abc"), "Last-Event-ID"),
        ("", Some("-1"), "Last-Event-ID"),
        ("", Some("99999999999999999999999"), "Last-Event-ID"),
        ("?since=x", None, "since"),
        ("?name=Not_A_Name", None, "name"),
        ("?label=:nokey", None, "label"),
    ] {
        let res = open(&s, query, header).await;
        assert_eq!(res.status(), 400, "{query} {header:?}");
        assert_eq!(
            res.headers()["content-type"].to_str().unwrap(),
            "application/problem+json"
        );
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "invalid_parameter");
        assert_eq!(body["details"]["parameter"], parameter, "{body}");
    }
    let res = open(&s, "?provder=aws", None).await;
    assert_eq!(res.status(), 400, "unknown parameters are refused");
    let res = open(&s, "?snapshot=maybe", None).await;
    assert_eq!(res.status(), 400);
    s.stop().await;
}

#[tokio::test]
async fn a_reader_that_stalls_loses_nothing_and_holds_up_no_one() {
    let s = start(EventsConfig::default()).await;
    // `slow` stops reading after the first event; `fast` reads throughout.
    let mut slow = stream(&s, "?since=0", None).await;
    let mut fast = stream(&s, "?since=0", None).await;
    let total = 2500u64; // more than twice the in-memory broadcast
    let publisher = {
        let client = s.client.clone();
        tokio::spawn(async move {
            for i in 0..total {
                client
                    .publish(&spec(&format!("c{i:04}"), "1.0.0").build())
                    .await
                    .unwrap();
            }
        })
    };
    assert_eq!(slow.next().await.unwrap().id.as_deref(), Some("1"));
    for expected in 1..=total {
        let ev = fast.next().await.unwrap();
        assert_eq!(ev.id, Some(expected.to_string()));
    }
    publisher.await.unwrap();
    // The stalled reader resumes and gets every remaining event in order, from the log.
    for expected in 2..=total {
        let ev = slow.next().await.unwrap();
        assert_eq!(ev.id, Some(expected.to_string()));
    }
    s.stop().await;
}

#[tokio::test]
async fn beyond_max_subscribers_is_503_with_retry_after_and_shutdown_ends_streams() {
    let s = start(EventsConfig {
        max_subscribers: 1,
        ..Default::default()
    })
    .await;
    let first = stream(&s, "", None).await;
    let res = open(&s, "", None).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "5");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "too_many_subscribers");
    assert_eq!(body["retriable"], true);
    // Closing the first stream frees its place.
    drop(first);
    let mut second = None;
    for _ in 0..100 {
        let res = open(&s, "", None).await;
        if res.status() == 200 {
            second = Some(SseReader::new(res));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut second = second.expect("the freed place is reused");
    // Shutdown ends the open stream instead of waiting for it forever.
    tokio::time::timeout(Duration::from_secs(10), s.stop())
        .await
        .expect("shutdown does not wait for event streams");
    assert!(second.next().await.is_none(), "the stream ended cleanly");
}

/// Event streams are served on the raw socket (not through hyper's connection state): a
/// chunked body with the same headers, request ids and problems as any route.
#[tokio::test]
async fn event_streams_are_chunked_and_keep_the_routers_behaviour() {
    let s = start(EventsConfig::default()).await;
    let res = s
        .http
        .get(s.url("/api/v1/events?snapshot=true"))
        .header("x-request-id", "sse-raw-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["connection"], "close");
    assert_eq!(res.headers()["transfer-encoding"], "chunked");
    assert!(res.headers().get("content-length").is_none());
    assert_eq!(res.headers()["x-request-id"], "sse-raw-1");
    assert_eq!(res.headers()["x-accel-buffering"], "no");
    let mut reader = SseReader::new(res);
    let bookmark = reader.next().await.unwrap();
    assert_eq!(bookmark.event, "catalog.bookmark");

    // A bad parameter is a whole problem response with its length.
    let res = open(&s, "?since=banana", None).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert!(
        res.headers()["content-length"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "invalid_parameter");
    // Other paths that merely start alike still go through the normal server.
    assert_eq!(s.get("/api/v1/eventsx").await.0, 404);
    s.stop().await;
}

/// Decodes the complete chunks at the start of `raw` into `text`; returns the bytes used.
/// Every chunk must hold whole frames.
fn dechunk(raw: &[u8], text: &mut String) -> usize {
    let mut at = 0;
    while let Some(line) = raw[at..].windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[at..at + line]).unwrap();
        let size = usize::from_str_radix(size, 16)
            .unwrap_or_else(|_| panic!("not a chunk size: {size:?}"));
        let start = at + line + 2;
        if raw.len() < start + size + 2 {
            break;
        }
        let chunk = std::str::from_utf8(&raw[start..start + size]).unwrap();
        assert!(
            chunk.ends_with("\n\n"),
            "a chunk of whole frames: {chunk:?}"
        );
        assert_eq!(&raw[start + size..start + size + 2], b"\r\n");
        text.push_str(chunk);
        at = start + size + 2;
    }
    at
}

/// Reads a raw event stream (chunked; the head already read, `raw` what was read past what is
/// decoded) until `want` more change ids have arrived; returns them.
async fn read_ids(client: &mut tokio::net::TcpStream, raw: &mut Vec<u8>, want: usize) -> Vec<u64> {
    use tokio::io::AsyncReadExt;
    let mut text = String::new();
    let used = dechunk(raw, &mut text);
    raw.drain(..used);
    let mut buf = vec![0u8; 64 * 1024];
    let ids = |text: &str| -> Vec<u64> {
        text.split("\n\n")
            .filter(|frame| frame.contains("event: component."))
            .filter_map(|frame| frame.lines().find_map(|l| l.strip_prefix("id: ")))
            .map(|id| id.parse().unwrap())
            .collect()
    };
    loop {
        let found = ids(&text);
        if found.len() >= want {
            return found;
        }
        let n = tokio::time::timeout(Duration::from_secs(20), client.read(&mut buf))
            .await
            .expect("the stream went quiet")
            .unwrap();
        assert!(n > 0, "the stream ended after {} events", found.len());
        raw.extend_from_slice(&buf[..n]);
        let used = dechunk(raw, &mut text);
        raw.drain(..used);
    }
}

#[tokio::test]
async fn a_stream_behind_its_socket_and_the_journal_catches_up_from_the_log_in_order() {
    // A journal of 2 changes: a stream that stalls is soon behind it, and must read the log.
    let s = start(EventsConfig {
        journal_events: 2,
        ..Default::default()
    })
    .await;
    let addr: std::net::SocketAddr = s.base.trim_start_matches("http://").parse().unwrap();
    // A client with a tiny receive window that reads nothing until every event is published:
    // the writer's non-blocking write comes up short and hands the stream back.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut client = socket.connect(addr).await.unwrap();
    use tokio::io::AsyncWriteExt;
    client
        .write_all(b"GET /api/v1/events?since=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // A second stream that reads throughout is not held up.
    let mut fast = stream(&s, "?since=0", None).await;
    // More than the largest send buffer (4 MiB) can hold, so writes to the stalled socket
    // come up short; meanwhile the journal moves far past it.
    let total = 1000u64;
    let reader = tokio::spawn(async move {
        for expected in 1..=total {
            let ev = tokio::time::timeout(Duration::from_secs(20), fast.next())
                .await
                .unwrap_or_else(|_| panic!("fast: nothing after {}", expected - 1));
            assert_eq!(ev.unwrap().id, Some(expected.to_string()));
        }
    });
    for i in 0..total {
        let mut spec = spec(&format!("stall{i:04}"), "1.0.0").build();
        spec.description = format!("{i} {}", "x".repeat(4000));
        s.client.publish(&spec).await.unwrap();
    }
    reader.await.unwrap();
    // Now the stalled client reads: every change, once, in order.
    let (head, rest) = read_response_head(&mut client).await;
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    let mut raw = rest;
    let ids = read_ids(&mut client, &mut raw, total as usize).await;
    assert_eq!(ids, (1..=total).collect::<Vec<_>>());
    // And it is live again afterwards.
    s.publish(spec("after", "1.0.0")).await;
    assert_eq!(read_ids(&mut client, &mut raw, 1).await, [total + 1]);
    s.stop().await;
}

/// Reads from `socket` until the end of a response head; returns the head and whatever was
/// read past it.
async fn read_response_head(socket: &mut tokio::net::TcpStream) -> (String, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return (String::from_utf8(buf).unwrap(), rest);
        }
        let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut chunk))
            .await
            .expect("a response head within 10 s")
            .unwrap();
        assert!(n > 0, "the connection closed before a response head");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The data of a `transfer-encoding: chunked` body, chunk by chunk, from `socket` (`buf`: what
/// was already read past the head).
fn chunked_body(
    socket: tokio::net::TcpStream,
    buf: Vec<u8>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, String>> {
    futures_util::stream::unfold((socket, buf), |(mut socket, mut buf)| async move {
        use tokio::io::AsyncReadExt;
        loop {
            if let Some(line) = buf.windows(2).position(|w| w == b"\r\n") {
                let size = std::str::from_utf8(&buf[..line]).unwrap();
                let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16)
                    .unwrap_or_else(|_| panic!("not a chunk size: {size:?}"));
                if size == 0 {
                    return None;
                }
                if buf.len() >= line + 2 + size + 2 {
                    let data = bytes::Bytes::copy_from_slice(&buf[line + 2..line + 2 + size]);
                    buf.drain(..line + 2 + size + 2);
                    return Some((Ok(data), (socket, buf)));
                }
            }
            let mut chunk = [0u8; 8192];
            match socket.read(&mut chunk).await {
                Ok(0) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Some((Err(e.to_string()), (socket, buf))),
            }
        }
    })
}

/// An event stream asked for as a later request on a kept-alive connection is not seen by the
/// raw path (which peeks at a connection's first request only): hyper serves it, with the
/// per-task body (chunked, the connection kept open). Same frames, same order, live changes.
#[tokio::test]
async fn an_event_stream_on_a_kept_alive_connection_is_served_per_task() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = start(EventsConfig::default()).await;
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        s.publish(spec("db", v)).await;
    }
    let mut socket = tokio::net::TcpStream::connect(s.addr).await.unwrap();

    // A plain request first: it makes the connection hyper's.
    socket
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (head, mut body) = read_response_head(&mut socket).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .expect("a content-length");
    while body.len() < length {
        let mut chunk = [0u8; 1024];
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the connection closed mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(body, br#"{"status":"ok"}"#);

    // Then the event stream, on the same connection.
    socket
        .write_all(b"GET /api/v1/events?since=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (head, rest) = read_response_head(&mut socket).await;
    let lower = head.to_ascii_lowercase();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(lower.contains("content-type: text/event-stream"), "{head}");
    // hyper's framing, not the raw path's close-delimited body.
    assert!(lower.contains("transfer-encoding: chunked"), "{head}");
    assert!(!lower.contains("connection: close"), "{head}");
    let mut sse = SseReader::from_stream(chunked_body(socket, rest));
    let mut changes = async || loop {
        let ev = sse.next().await.expect("the stream goes on");
        if ev.event.starts_with("component.") {
            return ev;
        }
    };

    // The log: every change once, in order.
    for (id, version) in [("1", "1.0.0"), ("2", "1.1.0"), ("3", "1.2.0")] {
        let ev = changes().await;
        assert_eq!(
            (ev.event.as_str(), ev.id.as_deref()),
            ("component.published", Some(id))
        );
        assert_eq!(ev.data["component"]["version"], version);
    }
    // Then live changes as they are published, each once.
    s.publish(spec("db", "1.3.0")).await;
    s.publish(spec("db", "1.4.0")).await;
    for (id, version) in [("4", "1.3.0"), ("5", "1.4.0")] {
        let ev = changes().await;
        assert_eq!(
            (ev.event.as_str(), ev.id.as_deref()),
            ("component.published", Some(id))
        );
        assert_eq!(ev.data["component"]["version"], version);
    }
    s.stop().await;
}

/// The SSE fields of each frame in `text` (`id`, `event`, `data`, `retry`), comments skipped.
fn frames(text: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    text.split("\n\n")
        .filter_map(|frame| {
            let mut fields = serde_json::Map::new();
            for line in frame.lines().filter(|l| !l.starts_with(':')) {
                let (name, value) = line.split_once(": ")?;
                let value = match name {
                    "retry" => serde_json::json!(value.parse::<u64>().unwrap()),
                    _ => serde_json::json!(value),
                };
                fields.insert(name.to_owned(), value);
            }
            (!fields.is_empty()).then_some(fields)
        })
        .collect()
}

/// The OpenAPI document describes one event of the stream (not `{"type": "string"}`): each
/// frame the server sends matches exactly one of its variants — `event` in the variant's enum,
/// its required fields and no others, `id` a revision, `data` JSON with the named schema's
/// required properties.
#[tokio::test]
async fn the_openapi_document_describes_each_event_the_stream_sends() {
    let s = start(EventsConfig::default()).await;
    let (status, doc) = s.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let content = &doc["paths"]["/api/v1/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]
        ["schema"];
    let name = content["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .unwrap_or_else(|| panic!("the event schema is a reference: {content}"));
    let schemas = &doc["components"]["schemas"];
    let variants = schemas[name]["oneOf"].as_array().expect("oneOf variants");
    assert_eq!(variants.len(), 6, "{:#}", schemas[name]);

    s.publish(spec("db", "1.0.0")).await;
    let res = open(&s, "?snapshot=true", None).await;
    assert_eq!(res.status(), 200);
    let mut reader = SseReader::new(res);
    reader.raw_until("snapshot_end").await;
    s.publish(spec("db", "1.1.0")).await;
    let text = reader.raw_until("event: component.published").await;
    let text = text[..text.rfind("\n\n").unwrap()].to_owned();
    let frames = frames(&text);
    let kinds: Vec<&str> = frames
        .iter()
        .map(|f| f.get("event").and_then(|e| e.as_str()).unwrap_or("retry"))
        .collect();
    assert_eq!(
        kinds,
        [
            "retry",
            "component.snapshot",
            "catalog.bookmark",
            "component.published"
        ]
    );
    for frame in &frames {
        let matching: Vec<&serde_json::Value> = variants
            .iter()
            .filter(|v| {
                let props = v["properties"].as_object().unwrap();
                let required = v["required"].as_array().unwrap();
                required
                    .iter()
                    .all(|r| frame.contains_key(r.as_str().unwrap()))
                    && frame.keys().all(|k| props.contains_key(k))
                    && frame
                        .get("event")
                        .is_none_or(|e| props["event"]["enum"].as_array().unwrap().contains(e))
            })
            .collect();
        assert_eq!(matching.len(), 1, "{frame:?} matches {matching:#?}");
        let variant = matching[0];
        if let Some(id) = frame.get("id") {
            let id = id.as_str().unwrap();
            assert!(
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()),
                "{id}"
            );
        }
        if let Some(data) = frame.get("data") {
            let data: serde_json::Value = serde_json::from_str(data.as_str().unwrap()).unwrap();
            let described = &variant["properties"]["data"];
            assert_eq!(described["contentMediaType"], "application/json");
            let schema = described["contentSchema"]["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .unwrap();
            let schema = &schemas[schema];
            assert!(schema.is_object(), "{described}");
            for field in schema["required"].as_array().into_iter().flatten() {
                assert!(
                    data.get(field.as_str().unwrap()).is_some(),
                    "{field} missing from {data}"
                );
            }
        }
    }
    s.stop().await;
}
