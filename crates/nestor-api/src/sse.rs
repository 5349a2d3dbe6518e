//! Event-stream connections served without hyper's connection machinery.
//!
//! An SSE connection is one request and then a long response of small frames. Under hyper each
//! such connection keeps its read and write buffers (8 KiB each, however little is queued) and
//! a connection state machine polled on every frame. Here, a connection whose first bytes are
//! `GET /api/v1/events` has its request head read and parsed (`httparse`), passed through the
//! same router (so access control, validation of the parameters, metrics and tracing are the
//! same), and its response written directly to the socket: the head, then each frame as it
//! comes, the body delimited by closing the connection (`Connection: close`; valid HTTP/1.1,
//! what EventSource clients expect). Any other response (a 400, 401, 503…) is written whole with
//! its length. Everything else goes to hyper unchanged.

use std::time::Duration;

use axum::{Router, body::Body, http};
use futures_util::{FutureExt, StreamExt};
use tokio::{io::AsyncWriteExt, net::TcpStream};
use tower::ServiceExt;

/// The request line prefix that selects this path (`?` or a space must follow).
const PREFIX: &[u8] = b"GET /api/v1/events";
/// Largest request head accepted here.
const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes of ready frames written at once by a stream that fell behind.
const MAX_BATCH: usize = 16 * 1024;
/// Largest non-stream response body written here (problems are small).
const MAX_PLAIN_BODY: usize = 64 * 1024;

/// Whether the connection's first bytes are an event-stream request line (without consuming
/// them; anything undecided goes to hyper).
pub(crate) async fn is_event_stream_request(stream: &TcpStream) -> bool {
    let mut buf = [0u8; PREFIX.len() + 1];
    match tokio::time::timeout(HEAD_TIMEOUT, stream.peek(&mut buf)).await {
        Ok(Ok(n)) if n == buf.len() => {
            buf.starts_with(PREFIX) && matches!(buf[PREFIX.len()], b'?' | b' ')
        }
        _ => false,
    }
}

/// Reads the request head (up to the blank line).
async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    tokio::time::timeout(HEAD_TIMEOUT, async {
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

fn head_bytes(parts: &http::response::Parts, length: Option<usize>) -> Vec<u8> {
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
    if let Some(n) = length {
        out.extend_from_slice(format!("content-length: {n}\r\n").as_bytes());
    }
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out
}

/// Serves one event-stream connection to its end.
pub(crate) async fn serve_event_stream(mut stream: TcpStream, router: Router) {
    let Some(head) = read_head(&mut stream).await else {
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
    let Ok(response) = router.oneshot(request).await;
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
        let mut out = head_bytes(&parts, Some(data.len()));
        out.extend_from_slice(&data);
        let _ = stream.write_all(&out).await;
        let _ = stream.shutdown().await;
        return;
    }
    if stream.write_all(&head_bytes(&parts, None)).await.is_err() {
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
                    if writer.write_all(out).await.is_err() {
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
    let _ = writer.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

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
