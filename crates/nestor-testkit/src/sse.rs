//! A minimal reader of `text/event-stream` responses, for tests: enough of the format to check
//! what the server sends, event by event.

use std::{pin::Pin, time::Duration};

use futures_util::{Stream, StreamExt};

/// One parsed SSE event (comments and `retry:` lines are skipped).
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    /// The `id:` line, if any.
    pub id: Option<String>,
    /// The `event:` line (empty without one).
    pub event: String,
    /// The `data:` lines, parsed as JSON.
    pub data: serde_json::Value,
}

/// Reads the events of a response body. Every wait is bounded (10 s), so that a missing event
/// fails the test instead of hanging it.
pub struct SseReader {
    body: Pin<Box<dyn Stream<Item = Result<bytes::Bytes, String>> + Send>>,
    buf: String,
}

impl SseReader {
    /// Reads the body of `res`.
    pub fn new(res: reqwest::Response) -> SseReader {
        Self::from_stream(res.bytes_stream().map(|r| r.map_err(|e| e.to_string())))
    }

    /// Reads any stream of body chunks (for example from a raw socket).
    pub fn from_stream(
        body: impl Stream<Item = Result<bytes::Bytes, String>> + Send + 'static,
    ) -> SseReader {
        SseReader {
            body: Box::pin(body),
            buf: String::new(),
        }
    }

    /// The next event; panics after 10 s without one, `None` when the stream ended.
    pub async fn next(&mut self) -> Option<SseEvent> {
        tokio::time::timeout(Duration::from_secs(10), self.next_inner())
            .await
            .expect("no SSE event within 10 s")
    }

    async fn next_inner(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut ev = SseEvent::default();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        ev.id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        ev.event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if ev.event.is_empty() && data.is_empty() {
                    continue; // a comment or a retry hint
                }
                ev.data = serde_json::from_str(&data).expect("SSE data is JSON");
                return Some(ev);
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self
                    .buf
                    .push_str(std::str::from_utf8(&chunk).expect("UTF-8")),
                Some(Err(e)) => panic!("SSE stream failed: {e}"),
                None => return None,
            }
        }
    }

    /// Reads raw text until `needle` appears (for comments and hints the parser skips); returns
    /// everything not yet parsed.
    pub async fn raw_until(&mut self, needle: &str) -> String {
        tokio::time::timeout(Duration::from_secs(10), async {
            while !self.buf.contains(needle) {
                match self.body.next().await {
                    Some(Ok(chunk)) => self.buf.push_str(std::str::from_utf8(&chunk).unwrap()),
                    other => panic!("stream ended before {needle:?}: {other:?}"),
                }
            }
            self.buf.clone()
        })
        .await
        .expect("needle within 10 s")
    }
}
