//! `GET /api/v1/events`: the change feed as Server-Sent Events (protocol in docs/api.md).

use std::{collections::BTreeSet, convert::Infallible, sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures_util::{StreamExt, stream};
use nestor_catalog::{FeedFilter, FeedItem, FeedRequest};
use nestor_model::{
    BOOKMARK_EVENT, ComponentFilter, ErrorCode, Problem, RESET_EVENT, Revision, SNAPSHOT_EVENT,
    SnapshotItem,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    ApiError, AppState,
    extract::Params,
    routes::components::{check_name, parse_labels},
};

/// Settings of the change feed.
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// Concurrent streams beyond this are answered 503 with `Retry-After`.
    pub max_subscribers: usize,
    /// How often a stream whose resume point moved without a matching event gets a bookmark
    /// (and checks the store for changes written by another process).
    pub bookmark_interval: Duration,
    /// How often an idle stream gets a keep-alive comment.
    pub keep_alive: Duration,
    /// The reconnection delay suggested to clients (`retry:`).
    pub retry: Duration,
    /// Threads writing live changes to event streams; 0: half the cores (at least one).
    pub fanout_threads: usize,
    /// Most recent changes kept in memory for live streams; a stream further behind reads the
    /// event log until it has caught up.
    pub journal_events: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            max_subscribers: 20_000,
            bookmark_interval: Duration::from_secs(10),
            keep_alive: Duration::from_secs(15),
            retry: Duration::from_secs(2),
            fanout_threads: 0,
            journal_events: 1024,
        }
    }
}

/// Seconds a client turned away for lack of stream capacity is asked to wait.
const RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventParams {
    /// Resume strictly after this revision (`Last-Event-ID` takes precedence).
    since: Option<String>,
    /// Stream the current state first, then a `catalog.bookmark` with `snapshot_end: true`.
    snapshot: Option<bool>,
    /// Only these components (repeatable).
    #[serde(default)]
    name: Vec<String>,
    /// Exact provider.
    provider: Option<String>,
    /// Exact category.
    category: Option<String>,
    /// `key:value`; repeat for several (all must match).
    #[serde(default)]
    label: Vec<String>,
}

fn parse_revision(parameter: &str, value: &str) -> Result<Revision, ApiError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid_parameter(
            parameter,
            format!("{value:?} is not a revision (a non-negative integer)"),
        ));
    }
    value.parse().map(Revision).map_err(|_| {
        ApiError::invalid_parameter(parameter, format!("{value:?} is too large a revision"))
    })
}

/// The change feed: every change in revision order, resumable, with optional snapshot.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(EventParams,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume strictly after this revision; sent by EventSource clients on reconnect")),
    responses(
        (status = 200, description = "A text/event-stream of component.* changes (id = revision), component.snapshot, catalog.bookmark and catalog.reset events, and live engine.status notifications (no id); see docs/api.md", body = String, content_type = "text/event-stream"),
        (status = 400, description = "Malformed Last-Event-ID, since or filter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many concurrent streams (`too_many_subscribers`, with Retry-After), or the store is unavailable (`store_unavailable`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn events(
    State(state): State<Arc<AppState>>,
    Params(p): Params<EventParams>,
    raw: Option<axum::Extension<crate::sse::RawConnection>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let last_event_id = match headers.get("last-event-id") {
        Some(v) => {
            let v = v.to_str().map_err(|_| {
                ApiError::invalid_parameter("Last-Event-ID", "the header is not ASCII")
            })?;
            // EventSource sends no header before its first id; an empty one means the same.
            let v = v.trim();
            (!v.is_empty())
                .then(|| parse_revision("Last-Event-ID", v))
                .transpose()?
        }
        None => None,
    };
    let since = match (last_event_id, p.since.as_deref()) {
        (Some(rev), _) => Some(rev),
        (None, Some(s)) => Some(parse_revision("since", s)?),
        (None, None) => None,
    };
    let mut names = BTreeSet::new();
    for n in p.name {
        check_name(&n)?;
        names.insert(n);
    }
    let filter = FeedFilter {
        names,
        filter: ComponentFilter {
            provider: p.provider,
            category: p.category,
            labels: parse_labels(&p.label)?,
            ..Default::default()
        },
    };

    let Ok(permit) = state.subscribers.clone().try_acquire_owned() else {
        let problem = Problem::new(
            ErrorCode::TooManySubscribers,
            format!(
                "this server already serves {} event streams; retry in {RETRY_AFTER_SECS} s or use another replica",
                state.config.events.max_subscribers
            ),
        );
        return Ok((
            [(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS))],
            ApiError::from(problem),
        )
            .into_response());
    };

    let config = &state.config.events;
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        // Tell nginx-style proxies not to buffer the stream.
        (
            header::HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        ),
    ];
    let retry = Bytes::from(format!("retry: {}\n\n", config.retry.as_millis()));
    // A connection served on its own socket (`sse`) is written by the fan-out's writers once
    // live; the stream's state goes to it in the response's extensions.
    if raw.is_some()
        && let Some(fanout) = state.fanout()
    {
        let notice_seq = fanout.notice_seq();
        let shared_filter = Arc::new(filter.clone());
        let cursor = state
            .catalog
            .cursor(FeedRequest {
                since,
                snapshot: p.snapshot.unwrap_or(false),
                filter,
                bookmark_interval: config.bookmark_interval,
            })
            .await?;
        tracing::debug!(?since, "event stream opened");
        let stream = crate::sse::RawStream {
            cursor,
            filter: shared_filter,
            retry,
            notice_seq,
            fanout,
            catalog: state.catalog.clone(),
            shutdown: state.config.shutdown.clone(),
            bookmark_interval: config.bookmark_interval,
            permit,
            gauge: crate::metrics::SubscriberGuard::new(),
        };
        let mut response = headers.into_response();
        response
            .extensions_mut()
            .insert(crate::sse::RawStreamSlot::new(stream));
        return Ok(response);
    }
    let feed = state
        .catalog
        .feed(FeedRequest {
            since,
            snapshot: p.snapshot.unwrap_or(false),
            filter,
            bookmark_interval: config.bookmark_interval,
        })
        .await?;
    tracing::debug!(?since, "event stream opened");

    // The body is written frame by frame: a change's frame is rendered once and shared by
    // every stream (a reference count per subscriber, not a copy and an encoding).
    let mut keep_alive = tokio::time::interval(config.keep_alive);
    keep_alive.reset(); // the first tick is not immediate
    let keep_alive = stream::unfold(keep_alive, |mut tick| async move {
        tick.tick().await;
        Some((Some(Bytes::from_static(b": keep-alive\n\n")), tick))
    });
    let mut gauge = crate::metrics::SubscriberGuard::new();
    let engines = engine_frames(&state);
    let frames = feed
        .map(move |item| {
            // The permit and the gauge's count live as long as the stream.
            let _held = &permit;
            Some(match item {
                Ok(item) => {
                    if matches!(item, FeedItem::Change(_)) {
                        gauge.sent();
                    }
                    frame(item)
                }
                Err(e) => store_error_frame(&e),
            })
        })
        // A `None` marks the end of the feed, so that keep-alives stop with it.
        .chain(stream::once(async { None }));
    let body = stream::once(async move { Some(retry) })
        .chain(stream::select(frames, stream::select(keep_alive, engines)))
        .take_while(|frame| std::future::ready(frame.is_some()))
        .filter_map(std::future::ready)
        .map(Ok::<_, Infallible>)
        .take_until(state.config.shutdown.clone().cancelled_owned());
    Ok((headers, Body::from_stream(body)).into_response())
}

/// `engine.status` frames: the registry's status changes as they happen, without `id:` (they
/// are live notifications, not part of the replayable log). A stream that falls too far behind
/// skips the oldest; `GET /api/v1/engines` has the current state.
fn engine_frames(state: &AppState) -> futures_util::stream::BoxStream<'static, Option<Bytes>> {
    use tokio::sync::broadcast::error::RecvError;
    let Some(registry) = state.config.engines.as_ref() else {
        return stream::empty().boxed();
    };
    stream::unfold(registry.subscribe(), |mut changes| async move {
        loop {
            match changes.recv().await {
                Ok(status) => return Some((Some(engine_frame(&status)), changes)),
                Err(RecvError::Lagged(skipped)) => {
                    tracing::debug!(skipped, "event stream skipped engine status changes");
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
    .boxed()
}

/// The comment that ends a stream the store failed (logged too): the client reconnects and
/// resumes from its last id.
pub(crate) fn store_error_frame(e: &nestor_catalog::CatalogError) -> Bytes {
    tracing::warn!(error = %e, "event stream ended by a store error");
    Bytes::from(format!(": error: {e}; reconnect to resume\n\n"))
}

/// The `engine.status` frame of a status change.
pub(crate) fn engine_frame(status: &nestor_engines::EngineStatus) -> Bytes {
    Bytes::from(match serde_json::to_string(status) {
        Ok(data) => format!("event: {}\ndata: {data}\n\n", nestor_engines::STATUS_EVENT),
        Err(e) => format!(": error: engine status not encodable: {e}\n\n"),
    })
}

/// One SSE frame: `id:` (when the item has one), `event:`, one `data:` line, a blank line.
pub(crate) fn frame(item: FeedItem) -> Bytes {
    let (event, id, data) = match item {
        FeedItem::Change(e) => return e.sse_frame(),
        FeedItem::Snapshot(component) => (
            SNAPSHOT_EVENT,
            None,
            serde_json::to_string(&SnapshotItem {
                component: *component,
            }),
        ),
        FeedItem::Bookmark(b) => (BOOKMARK_EVENT, Some(b.revision), serde_json::to_string(&b)),
        FeedItem::Reset(r) => (RESET_EVENT, None, serde_json::to_string(&r)),
    };
    match data {
        Ok(data) => {
            let id = id.map(|r| format!("id: {r}\n")).unwrap_or_default();
            Bytes::from(format!("{id}event: {event}\ndata: {data}\n\n"))
        }
        // Model types always serialize; keep the stream alive regardless.
        Err(e) => Bytes::from(format!(": error: event not encodable: {e}\n\n")),
    }
}
