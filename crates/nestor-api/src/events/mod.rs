//! `GET /api/v1/events`: the change feed as Server-Sent Events (protocol in docs/api.md) — the
//! one home of the event stream's HTTP side.
//!
//! # Layout
//!
//! - this file: the handler — parse the request, open the catalog's feed cursor, choose the
//!   path that serves the stream — and [`Streams`], the state every stream shares.
//! - [`config`]: the settings ([`EventsConfig`]).
//! - [`frame`]: every SSE byte string (change, snapshot, bookmark, reset, engine status, store
//!   error, keep-alive, retry).
//! - [`body`]: the per-task path, a response body polled by hyper: streams requested on a
//!   kept-alive connection after another request.
//! - [`raw`]: connections whose first request is an event stream, served without hyper; once
//!   live, written by
//! - [`fanout`]: the writer threads and the shared journal of recent changes.
//! - [`schema`]: the OpenAPI description of one event.
//!
//! The two paths send the same frames in the same order; the raw one exists for memory and CPU
//! at 10,000 streams (docs/architecture.md, "Fan-out by a few writers").

mod body;
mod config;
mod fanout;
mod frame;
pub(crate) mod raw;
mod schema;

use std::sync::{Arc, OnceLock};

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use nestor_catalog::{Catalog, FeedRequest};
use nestor_model::{ErrorCode, Problem, Revision};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use utoipa::IntoParams;

pub use config::EventsConfig;

use crate::{
    auth::{AuthConfig, Principal},
    error::ApiError,
    extract::{FilterParams, Filtered},
};

/// Seconds a client turned away for lack of stream capacity is asked to wait.
const RETRY_AFTER_SECS: u64 = 5;

/// What every event stream of the server shares (cheap to clone: one reference count).
#[derive(Clone)]
pub(crate) struct Streams(Arc<StreamsInner>);

impl std::ops::Deref for Streams {
    type Target = StreamsInner;
    fn deref(&self) -> &StreamsInner {
        &self.0
    }
}

/// The catalog, the settings, the places left for streams, and the fan-out's writers
/// (started with the first raw stream).
pub(crate) struct StreamsInner {
    catalog: Arc<Catalog>,
    config: EventsConfig,
    engines: Option<Arc<nestor_engines::Registry>>,
    /// Who sees probe errors in `engine.status` events (as in `GET /api/v1/engines`).
    auth: AuthConfig,
    shutdown: CancellationToken,
    /// One permit per open stream.
    subscribers: Arc<Semaphore>,
    /// `None` inside: the writers could not start, and streams are served by their own tasks.
    fanout: OnceLock<Option<Arc<fanout::Fanout>>>,
}

impl Streams {
    /// The shared state of the streams of `catalog`; they end when `shutdown` is cancelled.
    pub(crate) fn new(
        catalog: Arc<Catalog>,
        config: EventsConfig,
        engines: Option<Arc<nestor_engines::Registry>>,
        auth: AuthConfig,
        shutdown: CancellationToken,
    ) -> Streams {
        Streams(Arc::new(StreamsInner {
            subscribers: Arc::new(Semaphore::new(config.max_subscribers)),
            catalog,
            config,
            engines,
            auth,
            shutdown,
            fanout: OnceLock::new(),
        }))
    }

    /// Streams open now.
    pub(crate) fn active(&self) -> usize {
        self.config
            .max_subscribers
            .saturating_sub(self.subscribers.available_permits())
    }

    /// The fan-out, started on first use (from within the runtime).
    fn fanout(&self) -> Option<Arc<fanout::Fanout>> {
        self.fanout
            .get_or_init(|| {
                let events = &self.config;
                // Half the cores by default: the writers' work is mostly the kernel's TCP send
                // path, and the rest of the server (and the network stack's receive side) needs
                // the other half. On 2 cores with the load tool beside it, 1 writer gave p99
                // 138 ms at 10,000 streams, 2 gave 168 ms and 4 gave 398 ms
                // (docs/benchmarks.md).
                let threads = match events.fanout_threads {
                    0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
                    n => n,
                };
                let config = fanout::FanoutConfig {
                    threads,
                    journal_events: events.journal_events,
                    keep_alive: events.keep_alive,
                    bookmark_interval: events.bookmark_interval,
                };
                match fanout::Fanout::start(
                    self.catalog.clone(),
                    self.engines.clone(),
                    config,
                    self.shutdown.clone(),
                ) {
                    Ok(f) => Some(Arc::new(f)),
                    Err(e) => {
                        tracing::error!(error = %e, "could not start the event-stream writers; each stream gets its own task");
                        None
                    }
                }
            })
            .clone()
    }
}

/// The parameters of `/api/v1/events` beside the filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventParams {
    /// Resume strictly after this revision (`Last-Event-ID` takes precedence).
    since: Option<String>,
    /// Stream the current state first, then a `catalog.bookmark` with `snapshot_end: true`.
    snapshot: Option<bool>,
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

/// Where the stream resumes: `Last-Event-ID` (what EventSource sends on reconnect), else
/// `since`, else nowhere (live from now, or the snapshot).
fn resume_point(headers: &HeaderMap, since: Option<&str>) -> Result<Option<Revision>, ApiError> {
    if let Some(v) = headers.get("last-event-id") {
        let v = v
            .to_str()
            .map_err(|_| ApiError::invalid_parameter("Last-Event-ID", "the header is not ASCII"))?;
        // EventSource sends no header before its first id; an empty one means the same.
        let v = v.trim();
        if !v.is_empty() {
            return parse_revision("Last-Event-ID", v).map(Some);
        }
    }
    since.map(|s| parse_revision("since", s)).transpose()
}

/// The change feed: every change in revision order, resumable, with optional snapshot.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(FilterParams, EventParams,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume strictly after this revision; sent by EventSource clients on reconnect")),
    responses(
        (status = 200, description = "A text/event-stream (chunked) of component.* changes (id = revision), component.snapshot, catalog.bookmark and catalog.reset events, and live engine.status notifications (no id); the schema describes one event (see docs/api.md)", body = schema::ServerSentEvent, content_type = "text/event-stream"),
        (status = 400, description = "Malformed Last-Event-ID, since or filter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many concurrent streams (`too_many_subscribers`, with Retry-After), or the store is unavailable (`store_unavailable`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn events(
    State(streams): State<Streams>,
    Filtered(filter, p): Filtered<EventParams>,
    raw: Option<axum::Extension<raw::RawConnection>>,
    principal: Option<axum::Extension<Principal>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let since = resume_point(&headers, p.since.as_deref())?;
    // Probe errors in `engine.status` events only for those who see them in the registry.
    let probe_details = Principal::acting(principal, &streams.auth).admin;
    let Ok(permit) = streams.subscribers.clone().try_acquire_owned() else {
        let problem = Problem::new(
            ErrorCode::TooManySubscribers,
            format!(
                "this server already serves {} event streams; retry in {RETRY_AFTER_SECS} s or use another replica",
                streams.config.max_subscribers
            ),
        );
        return Ok((
            [(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS))],
            ApiError::from(problem),
        )
            .into_response());
    };
    let request = FeedRequest {
        since,
        snapshot: p.snapshot.unwrap_or(false),
        filter,
        bookmark_interval: streams.config.bookmark_interval,
    };
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
    // A connection served on its own socket (`raw`) is written by the fan-out's writers once
    // live; the stream's state goes to it in the response's extensions.
    if raw.is_some()
        && let Some(fanout) = streams.fanout()
    {
        let stream = raw::RawStream::open(&streams, fanout, request, probe_details, permit).await?;
        tracing::debug!(?since, "event stream opened");
        let mut response = headers.into_response();
        response
            .extensions_mut()
            .insert(raw::RawStreamSlot::new(stream));
        return Ok(response);
    }
    let body = body::open(&streams, request, probe_details, permit).await?;
    tracing::debug!(?since, "event stream opened");
    Ok((headers, body).into_response())
}
