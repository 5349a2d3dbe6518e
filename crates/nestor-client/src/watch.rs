//! [`Client::watch`]: the change feed (`GET /api/v1/events`) as a [`Stream`] that reconnects by
//! itself and never delivers a change twice.
//!
//! Split in two: [`FeedState`] is the pure protocol logic (what to deliver, where to resume,
//! when a snapshot must start again), and [`Watcher`] drives it over HTTP with backoff.

use std::{
    collections::VecDeque,
    fmt,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::{
    Stream, StreamExt,
    stream::{self, BoxStream},
};
use nestor_model::{
    BOOKMARK_EVENT, Bookmark, ChangeEvent, Component, EventType, Problem, RESET_EVENT, Reset,
    Revision, SNAPSHOT_EVENT, SnapshotItem,
};
use reqwest::{StatusCode, header};

use crate::{Client, Error};

/// Longest `Retry-After` honoured; a longer one (a misconfigured proxy) is cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// At most this much of an error body is read to explain a refused connection.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// A connection that lasted this long counts as healthy even if it delivered no event (a quiet
/// catalog): the reconnect after it starts from the initial backoff again.
const STABLE_CONNECTION: Duration = Duration::from_secs(30);

/// An error with its chain of sources, for logs (`error sending request: connection refused`).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let more = e.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = e.source();
    }
    text
}

/// Which components a feed carries: the model's one filter vocabulary,
/// [`ComponentFilter`](nestor_model::ComponentFilter), the same as for lists and search.
/// Empty fields match everything; set fields must all match.
///
/// ```
/// use nestor_client::FeedFilter;
/// let f = FeedFilter {
///     provider: Some("aws".into()),
///     labels: vec![("team".into(), "data".into())],
///     ..Default::default()
/// };
/// assert!(!f.is_empty());
/// assert!(FeedFilter::default().is_empty());
/// ```
pub type FeedFilter = nestor_model::ComponentFilter;

/// How long to wait before reconnecting: exponential from `initial` up to `max`, with jitter
/// (each wait is drawn between half and all of the current step). The steps start again from
/// `initial` once a connection delivers an event (or stays open for 30 s).
///
/// ```
/// use std::time::Duration;
/// let policy = nestor_client::BackoffPolicy {
///     initial: Duration::from_millis(50),
///     max: Duration::from_secs(2),
/// };
/// assert!(policy.initial < policy.max);
/// assert_eq!(nestor_client::BackoffPolicy::default().max, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// First wait (100 ms by default).
    pub initial: Duration,
    /// Longest wait (10 s by default).
    pub max: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

/// The growing reconnect delay of one feed.
pub(crate) struct Backoff {
    policy: BackoffPolicy,
    attempt: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    pub(crate) fn new(policy: BackoffPolicy) -> Self {
        Self::with_rng(policy, fastrand::Rng::new())
    }

    pub(crate) fn with_rng(policy: BackoffPolicy, rng: fastrand::Rng) -> Self {
        Backoff {
            policy,
            attempt: 0,
            rng,
        }
    }

    /// The current step without jitter: `initial * 2^attempt`, capped at `max`.
    pub(crate) fn step(&self) -> Duration {
        let max = self.policy.max.max(self.policy.initial);
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.policy.initial.saturating_mul(factor).min(max)
    }

    /// The next wait (between half and all of the current step), and one step further.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.step();
        self.attempt = self.attempt.saturating_add(1);
        let half = step / 2;
        let spread = (step - half).as_nanos().min(u64::MAX as u128) as u64;
        half + Duration::from_nanos(self.rng.u64(0..=spread))
    }

    /// Back to `initial` (after a connection that delivered something).
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// What to watch and how to reconnect, for [`Client::watch`].
///
/// ```
/// use nestor_client::{FeedFilter, WatchOptions};
/// let opts = WatchOptions {
///     snapshot: true,
///     filter: FeedFilter { provider: Some("aws".into()), ..Default::default() },
///     ..Default::default()
/// };
/// assert!(opts.since.is_none());
/// ```
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Which components.
    pub filter: FeedFilter,
    /// Start with the current state ([`FeedEvent::Snapshot`] items ended by a
    /// [`FeedEvent::Bookmark`] with `snapshot_end`), then live changes.
    pub snapshot: bool,
    /// Resume strictly after this revision (e.g. the last one a previous run processed).
    /// Ignored when `snapshot` is set. With neither, the feed starts at the next change; until
    /// a change or bookmark has been delivered there is no resume point, so a reconnection
    /// before that starts at the then-next change again.
    pub since: Option<Revision>,
    /// Reconnect delays.
    pub backoff: BackoffPolicy,
    /// Reconnect when the server sends nothing at all (not even a keep-alive comment) for this
    /// long; keep it above the server's `events.keep_alive`. `None`: wait forever. 60 s by
    /// default.
    pub idle_timeout: Option<Duration>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            filter: FeedFilter::default(),
            snapshot: false,
            since: None,
            backoff: BackoffPolicy::default(),
            idle_timeout: Some(Duration::from_secs(60)),
        }
    }
}

/// One item of the change feed, as delivered by [`Watch`].
///
/// The sequence always has this shape (`*`: any number of times):
///
/// ```text
/// [snapshot]  ( Change | Bookmark | Reset snapshot | SnapshotRestarted snapshot )*
/// snapshot := Snapshot* Bookmark{snapshot_end: true}
/// ```
///
/// A leading snapshot comes when [`WatchOptions::snapshot`] is set. Changes arrive in strictly
/// increasing revision order within one history (a history starts again at each `snapshot`).
///
/// ```
/// use nestor_client::FeedEvent;
/// use nestor_client::model::{Bookmark, Revision};
/// let e = FeedEvent::Bookmark(Bookmark { revision: Revision(7), snapshot_end: true });
/// assert_eq!(e.revision(), Some(Revision(7)));
/// assert_eq!(FeedEvent::SnapshotRestarted.revision(), None);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FeedEvent {
    /// A component version changed (`component.published`, `component.yanked`, …).
    Change(ChangeEvent),
    /// One version of the current state, part of a snapshot.
    Snapshot(Component),
    /// Every matching event up to `revision` has been delivered. With `snapshot_end`, it ends a
    /// snapshot: the state made of its [`FeedEvent::Snapshot`] items is the state at
    /// `revision`.
    Bookmark(Bookmark),
    /// The server cannot resume where asked (the resume point expired or is ahead of the
    /// catalog): drop your copy, a full snapshot follows.
    Reset(Reset),
    /// Client-side: the connection broke in the middle of a snapshot. Drop the snapshot items
    /// received since the snapshot began; the whole snapshot is sent again (the copy held
    /// before the snapshot began stays whatever it was).
    SnapshotRestarted,
}

impl FeedEvent {
    /// The revision the item carries (changes and bookmarks), if any.
    ///
    /// ```
    /// assert_eq!(nestor_client::FeedEvent::SnapshotRestarted.revision(), None);
    /// ```
    pub fn revision(&self) -> Option<Revision> {
        match self {
            FeedEvent::Change(c) => Some(c.revision),
            FeedEvent::Bookmark(b) => Some(b.revision),
            _ => None,
        }
    }
}

/// Where the next connection starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resume {
    /// Ask for `snapshot=true`.
    pub(crate) snapshot: bool,
    /// Send as `Last-Event-ID`.
    pub(crate) last_event_id: Option<Revision>,
}

/// The protocol logic of a feed, without I/O: decides what to deliver, where to resume, and
/// when a snapshot has to start over.
#[derive(Debug, Clone)]
pub(crate) struct FeedState {
    /// The last revision delivered (a change or a bookmark): the resume point.
    last: Option<Revision>,
    /// Inside a snapshot: requested and not yet ended by its bookmark, or after a reset.
    in_snapshot: bool,
    /// A snapshot item of the current snapshot has been delivered.
    snapshot_items: bool,
}

impl FeedState {
    pub(crate) fn new(snapshot: bool, since: Option<Revision>) -> Self {
        FeedState {
            last: if snapshot { None } else { since },
            in_snapshot: snapshot,
            snapshot_items: false,
        }
    }

    pub(crate) fn last(&self) -> Option<Revision> {
        self.last
    }

    /// Where to (re)connect.
    pub(crate) fn resume(&self) -> Resume {
        if self.in_snapshot {
            Resume {
                snapshot: true,
                last_event_id: None,
            }
        } else {
            Resume {
                snapshot: false,
                last_event_id: self.last,
            }
        }
    }

    fn is_duplicate(&self, revision: Revision) -> bool {
        self.last.is_some_and(|last| revision <= last)
    }

    /// One SSE event: what to deliver (`None`: nothing), or why the data is unusable (the
    /// connection is then dropped and resumed).
    pub(crate) fn on_event(&mut self, name: &str, data: &str) -> Result<Option<FeedEvent>, String> {
        fn parse<T: serde::de::DeserializeOwned>(name: &str, data: &str) -> Result<T, String> {
            serde_json::from_str(data).map_err(|e| format!("malformed `{name}` data: {e}"))
        }
        match name {
            SNAPSHOT_EVENT => {
                let item: SnapshotItem = parse(name, data)?;
                if !self.in_snapshot {
                    return Err(format!("`{name}` outside a snapshot"));
                }
                self.snapshot_items = true;
                Ok(Some(FeedEvent::Snapshot(item.component)))
            }
            BOOKMARK_EVENT => {
                let bookmark: Bookmark = parse(name, data)?;
                if self.in_snapshot {
                    if !bookmark.snapshot_end {
                        // Says nothing about a snapshot that has not ended yet.
                        return Ok(None);
                    }
                    self.in_snapshot = false;
                    self.snapshot_items = false;
                    // A snapshot starts a new history: its revision is the resume point, even
                    // below an earlier one (a store restored from a backup).
                    self.last = Some(bookmark.revision);
                    return Ok(Some(FeedEvent::Bookmark(bookmark)));
                }
                if bookmark.snapshot_end {
                    tracing::warn!(
                        revision = %bookmark.revision,
                        "change feed: a bookmark ends a snapshot that never began; taken as a plain bookmark"
                    );
                }
                if self.is_duplicate(bookmark.revision) {
                    return Ok(None);
                }
                self.last = Some(bookmark.revision);
                Ok(Some(FeedEvent::Bookmark(Bookmark {
                    revision: bookmark.revision,
                    snapshot_end: false,
                })))
            }
            RESET_EVENT => {
                let reset: Reset = parse(name, data)?;
                self.in_snapshot = true;
                self.snapshot_items = false;
                Ok(Some(FeedEvent::Reset(reset)))
            }
            _ if EventType::parse(name).is_some() => {
                let change: ChangeEvent = parse(name, data)?;
                if self.in_snapshot {
                    return Err(format!(
                        "`{name}` (revision {}) inside a snapshot",
                        change.revision
                    ));
                }
                if self.is_duplicate(change.revision) {
                    tracing::debug!(revision = %change.revision, "change feed: duplicate skipped");
                    return Ok(None);
                }
                self.last = Some(change.revision);
                Ok(Some(FeedEvent::Change(change)))
            }
            // Unknown events: a newer server; ignored.
            _ => Ok(None),
        }
    }

    /// The connection ended. Returns what to deliver before reconnecting.
    pub(crate) fn on_disconnect(&mut self) -> Option<FeedEvent> {
        if self.in_snapshot && self.snapshot_items {
            self.snapshot_items = false;
            Some(FeedEvent::SnapshotRestarted)
        } else {
            None
        }
    }
}

/// Why an open stream broke (a reason to reconnect).
#[derive(Debug)]
enum BodyError {
    Http(reqwest::Error),
    Idle(Duration),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Http(e) => f.write_str(&chain(e)),
            BodyError::Idle(d) => write!(f, "nothing received for {d:?}"),
        }
    }
}

type SseStream = BoxStream<'static, Result<eventsource_stream::Event, EventStreamError<BodyError>>>;

/// Why a connection attempt failed.
enum ConnectError {
    /// Worth retrying, after `retry_after` if the server said so.
    Retry {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help.
    Fatal(Error),
}

/// Drives a [`FeedState`] over HTTP: connects, parses, reconnects.
struct Watcher {
    client: Client,
    url: String,
    options: WatchOptions,
    state: FeedState,
    backoff: Backoff,
    conn: Option<SseStream>,
    /// When the current connection was established.
    conn_since: tokio::time::Instant,
    /// The current connection delivered an event (so the backoff was reset).
    conn_delivered: bool,
    /// Wait this long before the next connection attempt.
    delay: Option<Duration>,
    pending: VecDeque<FeedEvent>,
    done: bool,
}

impl Watcher {
    fn new(client: Client, options: WatchOptions) -> Self {
        let url = client.url("/api/v1/events");
        Watcher {
            url,
            state: FeedState::new(options.snapshot, options.since),
            backoff: Backoff::new(options.backoff),
            client,
            options,
            conn: None,
            conn_since: tokio::time::Instant::now(),
            conn_delivered: false,
            delay: None,
            pending: VecDeque::new(),
            done: false,
        }
    }

    async fn next_item(&mut self) -> Option<Result<FeedEvent, Error>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            let Some(conn) = self.conn.as_mut() else {
                if let Some(delay) = self.delay.take() {
                    tokio::time::sleep(delay).await;
                }
                match connect(&self.client, &self.url, &self.options, self.state.resume()).await {
                    Ok(conn) => {
                        self.conn = Some(conn);
                        self.conn_since = tokio::time::Instant::now();
                        self.conn_delivered = false;
                    }
                    Err(ConnectError::Fatal(e)) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                    Err(ConnectError::Retry {
                        message,
                        retry_after,
                    }) => {
                        let delay = self.backoff.next_delay();
                        let delay = match retry_after {
                            Some(after) => after.min(MAX_RETRY_AFTER) + delay / 4,
                            None => delay,
                        };
                        tracing::warn!(
                            url = %self.url,
                            retry_in = ?delay,
                            "change feed: cannot connect: {message}"
                        );
                        self.delay = Some(delay);
                    }
                }
                continue;
            };
            let problem = match conn.next().await {
                Some(Ok(event)) => {
                    if !self.conn_delivered {
                        self.conn_delivered = true;
                        self.backoff.reset();
                    }
                    match self.state.on_event(&event.event, &event.data) {
                        Ok(Some(item)) => return Some(Ok(item)),
                        Ok(None) => continue,
                        Err(message) => message,
                    }
                }
                Some(Err(e)) => format!("the stream broke: {e}"),
                None => "the server ended the stream".to_owned(),
            };
            self.disconnect(&problem);
        }
    }

    fn disconnect(&mut self, why: &str) {
        self.conn = None;
        if self.conn_since.elapsed() >= STABLE_CONNECTION {
            self.backoff.reset();
        }
        let delay = self.backoff.next_delay();
        tracing::warn!(
            url = %self.url,
            resume_after = ?self.state.last(),
            retry_in = ?delay,
            "change feed: reconnecting: {why}"
        );
        self.delay = Some(delay);
        if let Some(event) = self.state.on_disconnect() {
            self.pending.push_back(event);
        }
    }
}

/// One connection attempt. (A free function: the future must be `Send`, and the open
/// connection the watcher holds is not `Sync`.)
async fn connect(
    client: &Client,
    url: &str,
    options: &WatchOptions,
    resume: Resume,
) -> Result<SseStream, ConnectError> {
    let mut query = options.filter.to_query();
    if resume.snapshot {
        query.push(("snapshot", "true".into()));
    }
    let mut request = client
        .http
        .get(url)
        .query(&query)
        .header(header::ACCEPT, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache");
    if let Some(last) = resume.last_event_id {
        request = request.header("Last-Event-ID", last.to_string());
    }
    let send = request.send();
    let sent = match options.idle_timeout {
        Some(limit) => match tokio::time::timeout(limit, send).await {
            Ok(sent) => sent,
            Err(_) => {
                return Err(ConnectError::Retry {
                    message: format!("no response within {limit:?}"),
                    retry_after: None,
                });
            }
        },
        None => send.await,
    };
    let response = match sent {
        Ok(r) => r,
        Err(e) if e.is_builder() => {
            return Err(ConnectError::Fatal(Error::Transport {
                url: url.to_owned(),
                source: e,
            }));
        }
        Err(e) => {
            return Err(ConnectError::Retry {
                message: chain(&e),
                retry_after: None,
            });
        }
    };
    let status = response.status();
    if status.is_success() {
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.starts_with("text/event-stream") {
            // Typically a proxy's page: the server behind it may come back.
            return Err(ConnectError::Retry {
                message: format!(
                    "HTTP {status} with content type {content_type:?}, not an event stream"
                ),
                retry_after: None,
            });
        }
        let body = response.bytes_stream().map(|r| r.map_err(BodyError::Http));
        let sse: SseStream = match options.idle_timeout {
            Some(limit) => tokio_stream::StreamExt::timeout(body, limit)
                .map(move |r| r.unwrap_or(Err(BodyError::Idle(limit))))
                .eventsource()
                .boxed(),
            None => body.eventsource().boxed(),
        };
        return Ok(sse);
    }
    let retriable = status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT;
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = read_limited(response).await;
    let problem = serde_json::from_slice::<Problem>(&body).ok();
    if retriable {
        let message = match &problem {
            Some(p) => format!("{} {}: {}", p.status, p.code, p.detail),
            None => format!("HTTP {status}"),
        };
        return Err(ConnectError::Retry {
            message,
            retry_after,
        });
    }
    Err(ConnectError::Fatal(match problem {
        Some(p) => Error::Api(Box::new(p)),
        None => Error::Unexpected {
            url: url.to_owned(),
            status: status.as_u16(),
            message: String::from_utf8_lossy(&body).chars().take(200).collect(),
        },
    }))
}

/// Reads at most [`MAX_ERROR_BODY`] bytes of an error answer (errors reading it: what was read).
async fn read_limited(response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(Ok(chunk)) = chunks.next().await {
        let room = MAX_ERROR_BODY - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    body
}

/// The change feed as a [`Stream`], from [`Client::watch`].
///
/// Items are `Result<FeedEvent, Error>`:
///
/// * `Ok` items follow the shape documented on [`FeedEvent`]. No change is delivered twice and
///   none out of order: after a reconnection the feed resumes (`Last-Event-ID`) after the last
///   revision delivered, and anything at or below it is skipped.
/// * Transient problems — connection refused or broken, the stream ending, `5xx`, `429`,
///   `503 too_many_subscribers`, malformed data — never reach the consumer: they are logged
///   (`tracing::warn!`) and the feed reconnects with backoff ([`WatchOptions::backoff`],
///   or the server's `Retry-After`; the stream's `retry:` hint is not used).
/// * An `Err` item is final: the server refused the request for good (a `4xx` problem such as
///   `400 invalid_parameter`). The stream ends after it.
///
/// Dropping the stream closes the connection. The stream does nothing until polled; it needs
/// a Tokio runtime (with the time driver).
///
/// ```no_run
/// use futures_util::StreamExt;
/// use nestor_client::{Client, FeedEvent, WatchOptions};
/// # async fn run() -> Result<(), nestor_client::Error> {
/// let client = Client::new("http://127.0.0.1:8080")?;
/// let mut feed = client.watch(WatchOptions::default());
/// while let Some(item) = feed.next().await {
///     match item? {
///         FeedEvent::Change(c) => println!("{} {} {}@{}", c.revision, c.event_type.as_str(), c.name, c.version),
///         other => println!("{other:?}"),
///     }
/// }
/// # Ok(()) }
/// ```
pub struct Watch {
    inner: BoxStream<'static, Result<FeedEvent, Error>>,
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

impl Stream for Watch {
    type Item = Result<FeedEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl Client {
    /// Follows the change feed (`GET /api/v1/events`); see [`Watch`] for what it delivers and
    /// how it recovers from failures.
    ///
    /// ```no_run
    /// use futures_util::StreamExt;
    /// use nestor_client::{Client, FeedEvent, FeedFilter, WatchOptions};
    /// # async fn run() -> Result<(), nestor_client::Error> {
    /// let client = Client::new("http://127.0.0.1:8080")?;
    /// let mut feed = client.watch(WatchOptions {
    ///     snapshot: true,
    ///     filter: FeedFilter { provider: Some("aws".into()), ..Default::default() },
    ///     ..Default::default()
    /// });
    /// while let Some(item) = feed.next().await {
    ///     if let FeedEvent::Bookmark(b) = item? {
    ///         if b.snapshot_end {
    ///             println!("snapshot complete at revision {}", b.revision);
    ///         }
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn watch(&self, options: WatchOptions) -> Watch {
        let watcher = Watcher::new(self.clone(), options);
        let inner = stream::unfold(watcher, |mut w| async move {
            let item = w.next_item().await?;
            Some((item, w))
        })
        .boxed();
        Watch { inner }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change_json(revision: u64, name: &str, version: &str) -> String {
        serde_json::json!({
            "revision": revision,
            "type": "component.published",
            "name": name,
            "version": version,
            "component": component_json(revision, name, version),
            "occurred_at": "2026-01-01T00:00:00Z",
        })
        .to_string()
    }

    fn component_json(revision: u64, name: &str, version: &str) -> serde_json::Value {
        serde_json::json!({
            "name": name,
            "version": version,
            "content_hash": "sha256:00",
            "published_at": "2026-01-01T00:00:00Z",
            "revision": revision,
        })
    }

    fn snapshot_json(name: &str, version: &str) -> String {
        serde_json::json!({"component": component_json(1, name, version)}).to_string()
    }

    fn bookmark_json(revision: u64, end: bool) -> String {
        serde_json::json!({"revision": revision, "snapshot_end": end}).to_string()
    }

    fn revisions(items: &[Option<FeedEvent>]) -> Vec<Option<u64>> {
        items
            .iter()
            .map(|i| i.as_ref().and_then(FeedEvent::revision).map(|r| r.0))
            .collect()
    }

    #[test]
    fn changes_at_or_below_the_last_delivered_revision_are_skipped() {
        let mut s = FeedState::new(false, Some(Revision(3)));
        assert_eq!(
            s.resume(),
            Resume {
                snapshot: false,
                last_event_id: Some(Revision(3))
            }
        );
        let out: Vec<_> = [3, 4, 4, 2, 6, 5, 7]
            .into_iter()
            .map(|r| {
                s.on_event("component.published", &change_json(r, "a", "1.0.0"))
                    .unwrap()
            })
            .collect();
        assert_eq!(
            revisions(&out),
            [None, Some(4), None, None, Some(6), None, Some(7)]
        );
        // Bookmarks advance the resume point, and never move it back.
        assert!(
            s.on_event(BOOKMARK_EVENT, &bookmark_json(7, false))
                .unwrap()
                .is_none()
        );
        assert_eq!(
            s.on_event(BOOKMARK_EVENT, &bookmark_json(9, false))
                .unwrap()
                .and_then(|e| e.revision()),
            Some(Revision(9))
        );
        assert_eq!(s.resume().last_event_id, Some(Revision(9)));
        assert!(s.on_disconnect().is_none());
    }

    #[test]
    fn snapshot_then_changes_and_resume_point() {
        let mut s = FeedState::new(true, Some(Revision(99)));
        assert_eq!(
            s.resume(),
            Resume {
                snapshot: true,
                last_event_id: None
            }
        );
        let item = s
            .on_event(SNAPSHOT_EVENT, &snapshot_json("a", "1.0.0"))
            .unwrap();
        assert!(matches!(item, Some(FeedEvent::Snapshot(c)) if c.spec.name == "a"));
        // A periodic bookmark inside a snapshot says nothing yet.
        assert_eq!(
            s.on_event(BOOKMARK_EVENT, &bookmark_json(4, false))
                .unwrap(),
            None
        );
        // A change inside a snapshot breaks the protocol.
        assert!(
            s.clone()
                .on_event("component.updated", &change_json(5, "a", "1.0.0"))
                .is_err()
        );
        let end = s.on_event(BOOKMARK_EVENT, &bookmark_json(5, true)).unwrap();
        assert_eq!(
            end,
            Some(FeedEvent::Bookmark(Bookmark {
                revision: Revision(5),
                snapshot_end: true
            }))
        );
        assert_eq!(
            s.resume(),
            Resume {
                snapshot: false,
                last_event_id: Some(Revision(5))
            }
        );
        assert!(
            s.on_event("component.published", &change_json(5, "b", "1.0.0"))
                .unwrap()
                .is_none()
        );
        assert!(
            s.on_event("component.published", &change_json(6, "b", "1.0.0"))
                .unwrap()
                .is_some()
        );
        // Snapshot items after the snapshot ended break the protocol.
        assert!(
            s.on_event(SNAPSHOT_EVENT, &snapshot_json("c", "1.0.0"))
                .is_err()
        );
    }

    #[test]
    fn a_connection_lost_mid_snapshot_restarts_the_snapshot() {
        let mut s = FeedState::new(true, None);
        // Lost before anything arrived: nothing to retract.
        assert_eq!(s.on_disconnect(), None);
        s.on_event(SNAPSHOT_EVENT, &snapshot_json("a", "1.0.0"))
            .unwrap();
        assert_eq!(s.on_disconnect(), Some(FeedEvent::SnapshotRestarted));
        assert!(s.resume().snapshot);
        assert_eq!(s.on_disconnect(), None);
        s.on_event(BOOKMARK_EVENT, &bookmark_json(3, true)).unwrap();
        assert!(!s.resume().snapshot);
    }

    #[test]
    fn a_reset_starts_a_new_history() {
        let mut s = FeedState::new(false, Some(Revision(50)));
        let reset = serde_json::json!({
            "reason": "ahead", "requested": 50, "retained_after": 0, "current": 20
        })
        .to_string();
        assert!(matches!(
            s.on_event(RESET_EVENT, &reset).unwrap(),
            Some(FeedEvent::Reset(r)) if r.current == Revision(20)
        ));
        s.on_event(SNAPSHOT_EVENT, &snapshot_json("a", "1.0.0"))
            .unwrap();
        // Broken mid-snapshot: the retry asks for a snapshot, not for revision 50.
        assert_eq!(s.on_disconnect(), Some(FeedEvent::SnapshotRestarted));
        assert_eq!(
            s.resume(),
            Resume {
                snapshot: true,
                last_event_id: None
            }
        );
        s.on_event(BOOKMARK_EVENT, &bookmark_json(20, true))
            .unwrap();
        assert_eq!(s.last(), Some(Revision(20)));
        assert!(
            s.on_event("component.published", &change_json(21, "a", "2.0.0"))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn unknown_events_are_ignored_and_malformed_data_is_an_error() {
        let mut s = FeedState::new(false, None);
        assert_eq!(s.on_event("component.teleported", "{}").unwrap(), None);
        assert_eq!(s.on_event("message", "hello").unwrap(), None);
        assert!(s.on_event("component.published", "{not json").is_err());
        assert!(s.on_event(BOOKMARK_EVENT, "{}").is_err());
        assert!(s.on_event(RESET_EVENT, "[]").is_err());
        // A stray snapshot_end outside a snapshot is a plain bookmark.
        assert_eq!(
            s.on_event(BOOKMARK_EVENT, &bookmark_json(2, true)).unwrap(),
            Some(FeedEvent::Bookmark(Bookmark {
                revision: Revision(2),
                snapshot_end: false
            }))
        );
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter_and_resets() {
        let policy = BackoffPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
        };
        let mut b = Backoff::with_rng(policy, fastrand::Rng::with_seed(7));
        let mut steps = Vec::new();
        for _ in 0..12 {
            let step = b.step();
            let delay = b.next_delay();
            assert!(
                delay >= step / 2 && delay <= step,
                "{delay:?} for step {step:?}"
            );
            steps.push(step.as_millis());
        }
        assert_eq!(
            steps,
            [
                100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000, 10_000, 10_000
            ]
        );
        // Far past the cap: no overflow.
        for _ in 0..100 {
            b.next_delay();
        }
        assert_eq!(b.step(), Duration::from_secs(10));
        b.reset();
        assert_eq!(b.step(), Duration::from_millis(100));
        // Jitter actually varies.
        let mut b = Backoff::with_rng(policy, fastrand::Rng::with_seed(1));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            seen.insert(b.next_delay());
            b.reset();
        }
        assert!(seen.len() > 1);
    }

    #[test]
    fn filter_query_repeats_names_and_labels() {
        let f = FeedFilter {
            names: vec!["a".into(), "b".into()],
            provider: vec!["aws".into()],
            category: vec!["db".into()],
            labels: vec![
                crate::model::LabelFilter::Equals("team".into(), "x".into()),
                crate::model::LabelFilter::Equals("tier".into(), "1".into()),
            ],
            ..Default::default()
        };
        assert_eq!(
            f.to_query(),
            vec![
                ("name", "a".to_owned()),
                ("name", "b".to_owned()),
                ("provider", "aws".to_owned()),
                ("category", "db".to_owned()),
                ("label", "team:x".to_owned()),
                ("label", "tier:1".to_owned()),
            ]
        );
    }
}
