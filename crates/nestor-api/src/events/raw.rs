//! Event-stream connections served without hyper's connection machinery.
//!
//! An SSE connection is one request and then a long response of small frames. Under hyper each
//! such connection keeps its read and write buffers (8 KiB each, however little is queued) and
//! a connection state machine polled on every frame. Here, a connection whose first bytes are
//! `GET /api/v1/events` has its request head read and parsed (`httparse`), passed through the
//! same router (so access control, validation of the parameters, metrics and tracing are the
//! same), and its response written directly to the socket: the head, then the frames as they
//! come, each write one chunk of `Transfer-Encoding: chunked` holding whole frames (see
//! [`ChunkSize`]; close-delimited for an HTTP/1.0 request), then the connection closes
//! (`Connection: close`). Chunked framing matters to clients that read a body in fixed blocks
//! (urllib3 under `requests` reads a close-delimited body until its block is full, so a change
//! would wait for the next one); with chunks they get each write as it arrives. Any other
//! response (a 400, 401, 503…) is written whole with its length. Everything else goes to hyper
//! unchanged.

use std::{
    io::IoSlice,
    sync::{Arc, Mutex, atomic::AtomicBool},
    time::{Duration, Instant},
};

use axum::{Router, body::Body, http};
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use nestor_catalog::{Catalog, FeedCursor, FeedRequest};
use nestor_model::ComponentFilter;
use tokio::{
    io::AsyncWriteExt,
    net::{TcpStream, tcp::OwnedWriteHalf},
};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::{
    Streams,
    fanout::{Fanout, Position},
    frame,
};
use crate::{error::ApiError, metrics::SubscriberGuard};

/// Marks a request that arrived on a connection served here: the events handler then leaves
/// the stream to [`RawStream`] instead of a response body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawConnection;

/// An event stream as the handler opened it: where it starts, what it wants, and what it
/// holds (its subscriber place, its gauge) for as long as it lasts.
pub(crate) struct RawStream {
    cursor: FeedCursor,
    filter: Arc<ComponentFilter>,
    retry: Bytes,
    notice_seq: u64,
    probe_details: bool,
    fanout: Arc<Fanout>,
    catalog: Arc<Catalog>,
    shutdown: CancellationToken,
    bookmark_interval: Duration,
    permit: tokio::sync::OwnedSemaphorePermit,
    gauge: SubscriberGuard,
}

impl RawStream {
    /// Opens the stream of `request` for the fan-out: its cursor (a failing store is an error
    /// here, before any byte is sent) and the engine notices it has yet to see.
    pub(super) async fn open(
        streams: &Streams,
        fanout: Arc<Fanout>,
        request: FeedRequest,
        probe_details: bool,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<RawStream, ApiError> {
        // Notices from now on are the stream's: taken before the cursor, so none falls between.
        let notice_seq = fanout.notice_seq();
        let filter = Arc::new(request.filter.clone());
        let bookmark_interval = request.bookmark_interval;
        let cursor = streams.catalog.cursor(request).await?;
        Ok(RawStream {
            cursor,
            filter,
            retry: frame::retry(streams.config.retry),
            notice_seq,
            probe_details,
            fanout,
            catalog: streams.catalog.clone(),
            shutdown: streams.shutdown.clone(),
            bookmark_interval,
            permit,
            gauge: SubscriberGuard::new(),
        })
    }
}

/// A [`RawStream`] in a response's extensions (which must be `Clone`).
#[derive(Clone)]
pub(crate) struct RawStreamSlot(Arc<Mutex<Option<RawStream>>>);

impl RawStreamSlot {
    pub(crate) fn new(stream: RawStream) -> Self {
        RawStreamSlot(Arc::new(Mutex::new(Some(stream))))
    }

    fn take(&self) -> Option<RawStream> {
        self.0.lock().ok()?.take()
    }
}

/// The request line prefix that selects this path (`?` or a space must follow).
const PREFIX: &[u8] = b"GET /api/v1/events";
/// Largest request head accepted here.
const MAX_HEAD: usize = 16 * 1024;
/// Most bytes of ready frames written at once by a stream that fell behind.
const MAX_BATCH: usize = 16 * 1024;
/// Bytes of rendered frames a stream that is not live yet (snapshot, catch-up) gathers before
/// it writes them: with its cursor's page of items, what a stalled stream holds.
const DRAIN_WRITE: usize = 16 * 1024;
/// Largest non-stream response body written here (problems are small).
const MAX_PLAIN_BODY: usize = 64 * 1024;

/// The size line that opens one chunk of `Transfer-Encoding: chunked` (`<hex>\r\n`), on the
/// stack: a stream's write is this line, the frames themselves (shared, not copied) and
/// [`CHUNK_END`], in one vectored write.
pub(crate) struct ChunkSize {
    buf: [u8; 18],
    len: u8,
}

impl ChunkSize {
    /// The size line of a chunk of `n` bytes (`n > 0`: a chunk of 0 ends the body).
    pub(crate) fn new(n: usize) -> ChunkSize {
        debug_assert!(n > 0);
        let mut buf = [0u8; 18];
        let mut digits = 0;
        let mut rest = n;
        loop {
            digits += 1;
            rest >>= 4;
            if rest == 0 {
                break;
            }
        }
        for (i, digit) in buf[..digits].iter_mut().enumerate() {
            *digit = b"0123456789abcdef"[(n >> (4 * (digits - 1 - i))) & 0xf];
        }
        buf[digits] = b'\r';
        buf[digits + 1] = b'\n';
        ChunkSize {
            buf,
            len: (digits + 2) as u8,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

/// What follows a chunk's data.
pub(crate) const CHUNK_END: &[u8] = b"\r\n";
/// The last chunk: the body is complete.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// What a new connection's first bytes say.
pub(crate) enum FirstBytes {
    /// An event-stream request line: served here.
    EventStream,
    /// Anything else, or too little to tell: served by hyper.
    Other,
    /// Nothing before the head deadline, or the client closed: dropped.
    Silent,
}

/// Looks at the connection's first bytes (without consuming them), waiting until `deadline`.
pub(crate) async fn first_bytes(stream: &TcpStream, deadline: Instant) -> FirstBytes {
    let mut buf = [0u8; PREFIX.len() + 1];
    let deadline = tokio::time::Instant::from_std(deadline);
    match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
        Ok(Ok(n)) if n == buf.len() => {
            if buf.starts_with(PREFIX) && matches!(buf[PREFIX.len()], b'?' | b' ') {
                FirstBytes::EventStream
            } else {
                FirstBytes::Other
            }
        }
        Ok(Ok(0)) | Ok(Err(_)) | Err(_) => FirstBytes::Silent,
        Ok(Ok(_)) => FirstBytes::Other,
    }
}

/// Reads the request head (up to the blank line), by `deadline`.
async fn read_head(stream: &mut TcpStream, deadline: Instant) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let deadline = tokio::time::Instant::from_std(deadline);
    tokio::time::timeout_at(deadline, async {
        loop {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            head.extend_from_slice(&chunk[..n]);
            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                return Some(());
            }
            if head.len() > MAX_HEAD {
                return None;
            }
        }
    })
    .await
    .ok()??;
    Some(head)
}

/// The parsed request, or `None` when it is not a well-formed HTTP/1.x head.
fn parse(head: &[u8]) -> Option<http::Request<Body>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(req.parse(head), Ok(httparse::Status::Complete(_))) {
        return None;
    }
    let mut builder = http::Request::builder()
        .method(req.method?)
        .uri(req.path?)
        .version(if req.version == Some(0) {
            http::Version::HTTP_10
        } else {
            http::Version::HTTP_11
        });
    for h in req.headers.iter() {
        builder = builder.header(h.name, h.value);
    }
    builder.body(Body::empty()).ok()
}

/// How a response body is delimited.
#[derive(Clone, Copy, PartialEq)]
enum Framing {
    /// `content-length`.
    Length(usize),
    /// `transfer-encoding: chunked`, then closed.
    Chunked,
    /// Closed at its end (for HTTP/1.0 clients, which know no chunks).
    Close,
}

fn head_bytes(parts: &http::response::Parts, framing: Framing) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        parts.status.as_u16(),
        parts.status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    for (name, value) in &parts.headers {
        if matches!(
            name,
            &http::header::CONTENT_LENGTH
                | &http::header::TRANSFER_ENCODING
                | &http::header::CONNECTION
        ) {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Length(n) => {
            out.extend_from_slice(format!("content-length: {n}\r\n").as_bytes());
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::Close => {}
    }
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out
}

/// Serves one event-stream connection to its end; its request head must arrive by `deadline`.
pub(crate) async fn serve_event_stream(mut stream: TcpStream, router: Router, deadline: Instant) {
    let Some(head) = read_head(&mut stream, deadline).await else {
        let _ = stream
            .write_all(
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )
            .await;
        return;
    };
    let Some(request) = parse(&head) else {
        let _ = stream
            .write_all(
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )
            .await;
        return;
    };
    drop(head);
    let mut request = request;
    // HTTP/1.1 clients get chunks; HTTP/1.0 ones know only the close-delimited body.
    let chunked = request.version() != http::Version::HTTP_10;
    request.extensions_mut().insert(RawConnection);
    let Ok(response) = Box::pin(router.oneshot(request)).await;
    let (parts, body) = response.into_parts();
    let streaming = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !streaming {
        let mut data = Vec::new();
        let mut frames = body.into_data_stream();
        while let Some(Ok(chunk)) = frames.next().await {
            if data.len() + chunk.len() > MAX_PLAIN_BODY {
                break;
            }
            data.extend_from_slice(&chunk);
        }
        let mut out = head_bytes(&parts, Framing::Length(data.len()));
        out.extend_from_slice(&data);
        let _ = stream.write_all(&out).await;
        let _ = stream.shutdown().await;
        return;
    }
    let framing = if chunked {
        Framing::Chunked
    } else {
        Framing::Close
    };
    if stream
        .write_all(&head_bytes(&parts, framing))
        .await
        .is_err()
    {
        return;
    }
    let raw = parts
        .extensions
        .get::<RawStreamSlot>()
        .and_then(|s| s.take());
    if let Some(raw) = raw {
        // Nothing of the response is needed any more (its head is written).
        drop((parts, body));
        Box::pin(run(stream, raw, chunked)).await;
        return;
    }
    // Each frame is written as it comes: one write per frame while the socket has room. A
    // reader that stops reading fills the socket's buffer and this write waits (bounded
    // memory: the frames stay shared in the feed until then). A failed write, or the client
    // closing its side (read sees the end), ends the stream — and frees its subscriber place —
    // at once rather than at the next keep-alive.
    let (mut reader, mut writer) = stream.into_split();
    let closed = async move {
        use tokio::io::AsyncReadExt;
        let mut scratch = [0u8; 64];
        loop {
            match reader.read(&mut scratch).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {} // nothing more is expected from the client; ignore it
            }
        }
    };
    tokio::pin!(closed);
    let mut frames = body.into_data_stream();
    loop {
        tokio::select! {
            frame = frames.next() => match frame {
                Some(Ok(first)) => {
                    // A stream that fell behind has several frames ready: they go out in one
                    // write (up to MAX_BATCH bytes), as hyper's queued writes did.
                    // Allocated only when frames are waiting, and freed after the write, so an
                    // idle stream holds no buffer.
                    let mut ended = false;
                    let mut batch = Vec::new();
                    while batch.len() + first.len() < MAX_BATCH {
                        match frames.next().now_or_never() {
                            Some(Some(Ok(more))) => {
                                if batch.is_empty() {
                                    batch.extend_from_slice(&first);
                                }
                                batch.extend_from_slice(&more);
                            }
                            Some(Some(Err(_))) | Some(None) => {
                                ended = true;
                                break;
                            }
                            None => break,
                        }
                    }
                    let out: &[u8] = if batch.is_empty() { &first } else { &batch };
                    if write_chunk(&mut writer, &[out], chunked).await.is_err() {
                        return;
                    }
                    if ended {
                        break;
                    }
                }
                Some(Err(_)) | None => break,
            },
            () = &mut closed => return,
        }
    }
    if chunked {
        let _ = writer.write_all(LAST_CHUNK).await;
    }
    let _ = writer.shutdown().await;
}

/// Writes `pieces` as one chunk (when `chunked`; as they are otherwise), in as few writes as
/// the socket allows: the size line, the pieces and the chunk's end are one vectored write.
async fn write_chunk(
    writer: &mut (impl tokio::io::AsyncWrite + Unpin),
    pieces: &[&[u8]],
    chunked: bool,
) -> std::io::Result<()> {
    let len: usize = pieces.iter().map(|p| p.len()).sum();
    if len == 0 {
        return Ok(());
    }
    let size = ChunkSize::new(len);
    let mut slices = Vec::with_capacity(pieces.len() + 2);
    if chunked {
        slices.push(IoSlice::new(size.as_bytes()));
    }
    slices.extend(pieces.iter().map(|p| IoSlice::new(p)));
    if chunked {
        slices.push(IoSlice::new(CHUNK_END));
    }
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        let n = writer.write_vectored(slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

/// Runs a stream handed over by the handler: the snapshot or catch-up its cursor has, then live
/// changes from the fan-out's writers; whenever a writer gives it back (its reader is slow),
/// it waits for the socket, catches up from the journal or the log, and goes back.
async fn run(stream: TcpStream, raw: RawStream, chunked: bool) {
    let RawStream {
        mut cursor,
        filter,
        retry,
        notice_seq,
        probe_details,
        fanout,
        catalog,
        shutdown,
        bookmark_interval,
        permit,
        mut gauge,
    } = raw;
    let _permit = permit;
    let (mut reader, mut writer) = stream.into_split();
    let gone = Arc::new(AtomicBool::new(false));
    // The client's side: nothing more is expected from it; the end means it has gone.
    let closed = async {
        use tokio::io::AsyncReadExt;
        let mut scratch = [0u8; 64];
        while let Ok(1..) = reader.read(&mut scratch).await {}
    };
    tokio::pin!(closed);
    let ended = async {
        tokio::select! {
            () = &mut closed => {}
            () = shutdown.cancelled() => {}
        }
    };
    tokio::pin!(ended);

    // Boxed, like the catch-up below: a cursor's state is large and short-lived.
    let mut out = Vec::with_capacity(DRAIN_WRITE);
    out.extend_from_slice(&retry);
    if let Err(stop) = Box::pin(drain(
        &mut cursor,
        &mut writer,
        chunked,
        out,
        &mut ended,
        &mut gauge,
    ))
    .await
    {
        if stop == Stop::Between {
            end_body(&writer, chunked, &shutdown);
        }
        return;
    }
    let mut position = Position {
        writer,
        everything: filter.is_empty(),
        filter,
        last: cursor.last(),
        told: cursor.told(),
        notice_seq,
        last_write: Instant::now(),
        closed: gone.clone(),
        chunked,
        probe_details,
    };
    drop(cursor);
    loop {
        // Catch up with the journal (or the log) on this task until nothing is due at once.
        loop {
            match fanout.gather(&position) {
                Some(g) if g.frames.is_empty() => {
                    position.advance(&g);
                    break;
                }
                Some(g) => {
                    let frames: Vec<&[u8]> = g.frames.iter().map(|f| &f[..]).collect();
                    let chunked = position.chunked;
                    if !write(&mut position.writer, &frames, chunked, &mut ended).await {
                        return;
                    }
                    for _ in 0..g.changes {
                        gauge.sent();
                    }
                    position.advance(&g);
                }
                None => {
                    // Boxed: rare, and its state (a cursor) would otherwise enlarge every
                    // stream's task for its whole life.
                    if let Err(stop) = Box::pin(catch_up_from_log(
                        &catalog,
                        &mut position,
                        bookmark_interval,
                        &mut ended,
                        &mut gauge,
                    ))
                    .await
                    {
                        if stop == Stop::Between {
                            end_body(&position.writer, chunked, &shutdown);
                        }
                        return;
                    }
                }
            }
        }
        let back = fanout.hand_over(position);
        tokio::select! {
            returned = back => match returned {
                Ok(returned) => {
                    position = returned.position;
                    // Already framed: the rest of the writer's chunk.
                    if !write(&mut position.writer, &[&returned.pending], false, &mut ended).await {
                        return;
                    }
                    position.last_write = Instant::now();
                }
                // The writers stopped (shutdown).
                Err(_) => return,
            },
            () = &mut ended => {
                // At shutdown the writer ends the body itself; otherwise the client has gone.
                if !shutdown.is_cancelled() {
                    gone.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                return;
            }
        }
    }
}

/// Why a stream's task stops writing.
#[derive(Debug, PartialEq)]
enum Stop {
    /// The client went or the server is shutting down while no write was under way: the body
    /// is at a chunk's boundary, and may be ended properly.
    Between,
    /// A write failed or was cut short, or the body is already ended (a store error).
    Broken,
}

/// Ends a chunked body at shutdown with the last chunk, so that clients see a complete
/// response (and reconnect), not a truncated one. Best effort: a full socket gets nothing more.
fn end_body(writer: &OwnedWriteHalf, chunked: bool, shutdown: &CancellationToken) {
    if chunked && shutdown.is_cancelled() {
        let _ = writer.try_write(LAST_CHUNK);
    }
}

/// Writes `pieces` whole, as one chunk when `chunked`, unless the client goes or the server
/// shuts down first.
async fn write(
    writer: &mut OwnedWriteHalf,
    pieces: &[&[u8]],
    chunked: bool,
    ended: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> bool {
    tokio::select! {
        written = write_chunk(writer, pieces, chunked) => written.is_ok(),
        () = ended.as_mut() => false,
    }
}

/// Ends a chunked body that ends before the connection does (a store error).
async fn write_last_chunk(
    writer: &mut OwnedWriteHalf,
    chunked: bool,
    ended: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) {
    if chunked {
        tokio::select! {
            _ = writer.write_all(LAST_CHUNK) => {}
            () = ended.as_mut() => {}
        }
    }
}

/// Writes `out`, then everything `cursor` has before it is live (snapshot, reset, bookmarks,
/// the log after its position), in writes of about [`DRAIN_WRITE`] bytes. An error: the stream
/// is over (the client went, the server is shutting down, or the store failed — said in a
/// comment).
async fn drain(
    cursor: &mut FeedCursor,
    writer: &mut OwnedWriteHalf,
    chunked: bool,
    mut out: Vec<u8>,
    ended: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    gauge: &mut SubscriberGuard,
) -> Result<(), Stop> {
    loop {
        let item = tokio::select! {
            item = cursor.next_before_live() => item,
            () = ended.as_mut() => return Err(Stop::Between),
        };
        let next = match item {
            Some(Ok(item)) => {
                if matches!(item, nestor_catalog::FeedItem::Change(_)) {
                    gauge.sent();
                }
                Some(frame::item(item))
            }
            Some(Err(e)) => {
                out.extend_from_slice(&frame::store_error(&e));
                if write(writer, &[&out], chunked, ended).await {
                    write_last_chunk(writer, chunked, ended).await;
                }
                return Err(Stop::Broken);
            }
            None => None,
        };
        // What is gathered goes out before it would pass DRAIN_WRITE (so the buffer stays
        // within it, unless one frame is larger), and when the stream is live.
        let full = next
            .as_ref()
            .is_some_and(|f| out.len() + f.len() > DRAIN_WRITE);
        if (full || next.is_none()) && !out.is_empty() {
            if !write(writer, &[&out], chunked, ended).await {
                return Err(Stop::Broken);
            }
            out.clear();
        }
        match next {
            Some(frame) => out.extend_from_slice(&frame),
            None => return Ok(()),
        }
    }
}

/// Reads the log after the stream's position (the journal no longer reaches back to it) and
/// writes what it holds, as [`Catalog::cursor`] gives it: a stream resuming after the log's
/// retention gets the reset and snapshot. An error: the stream is over.
async fn catch_up_from_log(
    catalog: &Catalog,
    position: &mut Position,
    bookmark_interval: Duration,
    ended: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    gauge: &mut SubscriberGuard,
) -> Result<(), Stop> {
    let from = position.last;
    let mut cursor = match catalog
        .cursor(FeedRequest {
            since: Some(position.last),
            snapshot: false,
            filter: (*position.filter).clone(),
            bookmark_interval,
        })
        .await
    {
        Ok(cursor) => cursor,
        Err(e) => {
            let frame = frame::store_error(&e);
            let chunked = position.chunked;
            if write(&mut position.writer, &[&frame], chunked, ended).await {
                write_last_chunk(&mut position.writer, chunked, ended).await;
            }
            return Err(Stop::Broken);
        }
    };
    let chunked = position.chunked;
    drain(
        &mut cursor,
        &mut position.writer,
        chunked,
        Vec::new(),
        ended,
        gauge,
    )
    .await?;
    position.last_write = Instant::now();
    position.last = cursor.last();
    position.told = cursor.told();
    if position.last == from {
        // The journal starts later than the log ends: the hub is still filling it. Wait a
        // little rather than spin.
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
            () = ended.as_mut() => return Err(Stop::Between),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_lines_are_lowercase_hex() {
        for (n, line) in [
            (1, "1\r\n"),
            (15, "f\r\n"),
            (16, "10\r\n"),
            (0xabc, "abc\r\n"),
            (65536, "10000\r\n"),
            (usize::MAX, "ffffffffffffffff\r\n"),
        ] {
            assert_eq!(ChunkSize::new(n).as_bytes(), line.as_bytes(), "{n}");
        }
    }

    #[tokio::test]
    async fn a_chunk_is_its_size_line_its_pieces_and_its_end() {
        let mut out = Vec::new();
        write_chunk(&mut out, &[b"id: 1\n\n", b"id: 2\n\n"], true)
            .await
            .unwrap();
        assert_eq!(out, b"e\r\nid: 1\n\nid: 2\n\n\r\n");
        let mut plain = Vec::new();
        write_chunk(&mut plain, &[b"a", b"", b"b"], false)
            .await
            .unwrap();
        assert_eq!(plain, b"ab");
        let mut nothing = Vec::new();
        write_chunk(&mut nothing, &[b""], true).await.unwrap();
        assert!(nothing.is_empty(), "an empty chunk would end the body");
    }

    #[test]
    fn request_heads_parse_into_requests() {
        let req =
            parse(b"GET /api/v1/events?since=5 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 7\r\n\r\n")
                .unwrap();
        assert_eq!(req.uri(), "/api/v1/events?since=5");
        assert_eq!(req.headers()["last-event-id"], "7");
        assert!(parse(b"GET /api/v1/events HTTP/1.1\r\nbroken header\r\n\r\n").is_none());
    }
}
