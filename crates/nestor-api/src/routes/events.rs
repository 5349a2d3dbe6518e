//! `GET /api/v1/events`: the change feed as Server-Sent Events (protocol in docs/api.md).

use std::{collections::BTreeSet, convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
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
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            max_subscribers: 20_000,
            bookmark_interval: Duration::from_secs(10),
            keep_alive: Duration::from_secs(15),
            retry: Duration::from_secs(2),
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
        (status = 200, description = "A text/event-stream of component.* changes (id = revision), component.snapshot, catalog.bookmark and catalog.reset events; see docs/api.md", body = String, content_type = "text/event-stream"),
        (status = 400, description = "Malformed Last-Event-ID, since or filter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many concurrent streams (with Retry-After)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn events(
    State(state): State<Arc<AppState>>,
    Params(p): Params<EventParams>,
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

    let retry_hint = config.retry;
    let keep_alive = config.keep_alive;
    let retry =
        stream::once(async move { Ok::<_, Infallible>(Event::default().retry(retry_hint)) });
    let events = feed
        .map(move |item| {
            // The permit lives as long as the stream.
            let _held = &permit;
            Ok::<_, Infallible>(match item {
                Ok(item) => to_event(item),
                Err(e) => {
                    tracing::warn!(error = %e, "event stream ended by a store error");
                    Event::default().comment(format!("error: {e}; reconnect to resume"))
                }
            })
        })
        .take_until(state.config.shutdown.clone().cancelled_owned());
    Ok(Sse::new(retry.chain(events))
        .keep_alive(KeepAlive::new().interval(keep_alive).text("keep-alive"))
        .into_response())
}

fn to_event(item: FeedItem) -> Event {
    let (event, result) = match item {
        FeedItem::Change(e) => {
            return Event::default()
                .id(e.revision.to_string())
                .event(e.event_type.as_str())
                .data(e.json());
        }
        FeedItem::Snapshot(component) => (
            Event::default().event(SNAPSHOT_EVENT),
            serde_json::to_string(&SnapshotItem {
                component: *component,
            }),
        ),
        FeedItem::Bookmark(b) => (
            Event::default()
                .id(b.revision.to_string())
                .event(BOOKMARK_EVENT),
            serde_json::to_string(&b),
        ),
        FeedItem::Reset(r) => (
            Event::default().event(RESET_EVENT),
            serde_json::to_string(&r),
        ),
    };
    match result {
        Ok(data) => event.data(data),
        // Model types always serialize; keep the stream alive regardless.
        Err(e) => Event::default().comment(format!("error: event not encodable: {e}")),
    }
}
