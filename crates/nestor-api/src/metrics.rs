//! Metrics: every crate records through the OpenTelemetry API (`opentelemetry::global::meter`);
//! this module installs the process's meter provider with a Prometheus exporter and renders
//! `GET /metrics` in the Prometheus text format.
//!
//! [`install`] must run before instruments are first used (they are created on first use and
//! bound to the provider installed then): `nestor serve` calls it first thing.

use std::{
    sync::{Arc, OnceLock},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};
use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram, UpDownCounter},
};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder, TextEncoder};

/// The installed provider and the registry `/metrics` reads.
pub struct Telemetry {
    registry: prometheus::Registry,
    _provider: SdkMeterProvider,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

static TELEMETRY: OnceLock<Option<Arc<Telemetry>>> = OnceLock::new();

/// Installs the global meter provider with a Prometheus exporter (once per process; later calls
/// return the same). `None` if the exporter could not be built (logged; metrics are then off).
pub fn install() -> Option<Arc<Telemetry>> {
    TELEMETRY
        .get_or_init(|| {
            let registry = prometheus::Registry::new();
            match opentelemetry_prometheus::exporter()
                .with_registry(registry.clone())
                .without_target_info()
                .build()
            {
                Ok(exporter) => {
                    let provider = SdkMeterProvider::builder().with_reader(exporter).build();
                    opentelemetry::global::set_meter_provider(provider.clone());
                    Some(Arc::new(Telemetry {
                        registry,
                        _provider: provider,
                    }))
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot build the Prometheus exporter; metrics are off");
                    None
                }
            }
        })
        .clone()
}

impl Telemetry {
    /// Every metric in the Prometheus text exposition format.
    pub fn render(&self) -> Result<String, String> {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .map_err(|e| e.to_string())?;
        String::from_utf8(out).map_err(|e| e.to_string())
    }
}

/// Prometheus metrics (text exposition format): HTTP requests, store calls, cache, sync, engines
/// and the change feed.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Every metric, in the Prometheus text format", body = String, content_type = "text/plain; version=0.0.4")))]
pub(crate) async fn metrics_endpoint() -> Response {
    match install().map(|t| t.render()) {
        Some(Ok(text)) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Some(Err(e)) => crate::error::ApiError::from(nestor_model::Problem::new(
            nestor_model::ErrorCode::Internal,
            format!("cannot encode metrics: {e}"),
        ))
        .into_response(),
        None => crate::error::ApiError::from(nestor_model::Problem::new(
            nestor_model::ErrorCode::NotFound,
            "metrics are off (the exporter could not start; see the log)",
        ))
        .into_response(),
    }
}

struct HttpInstruments {
    requests: Counter<u64>,
    duration: Histogram<f64>,
}

fn http() -> &'static HttpInstruments {
    static I: OnceLock<HttpInstruments> = OnceLock::new();
    I.get_or_init(|| {
        let meter = opentelemetry::global::meter("nestor");
        HttpInstruments {
            requests: meter
                .u64_counter("nestor.http.requests")
                .with_description("HTTP requests answered, by route, method and status")
                .build(),
            duration: meter
                .f64_histogram("nestor.http.request.duration")
                .with_unit("s")
                .with_description("Time to the response's head, by route and method")
                .with_boundaries(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ])
                .build(),
        }
    })
}

/// Records each request's route (the matched template, never the raw path), method, status and
/// latency.
pub(crate) async fn record_http(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let i = http();
    let attrs = [
        KeyValue::new("route", route),
        KeyValue::new("method", method),
    ];
    i.duration.record(started.elapsed().as_secs_f64(), &attrs);
    let [route, method] = attrs;
    i.requests.add(
        1,
        &[
            route,
            method,
            KeyValue::new("status", i64::from(response.status().as_u16())),
        ],
    );
    response
}

struct FeedInstruments {
    subscribers: UpDownCounter<i64>,
    sent: Counter<u64>,
    slow: Counter<u64>,
}

fn feed() -> &'static FeedInstruments {
    static I: OnceLock<FeedInstruments> = OnceLock::new();
    I.get_or_init(|| {
        let meter = opentelemetry::global::meter("nestor");
        FeedInstruments {
            subscribers: meter
                .i64_up_down_counter("nestor.sse.subscribers")
                .with_description("Open /api/v1/events streams")
                .build(),
            sent: meter
                .u64_counter("nestor.sse.events_sent")
                .with_description(
                    "Change events written to event streams (one per event per stream)",
                )
                .build(),
            slow: meter
                .u64_counter("nestor.sse.slow_streams")
                .with_description(
                    "Times a live event stream left the shared writers to catch up on its own: its socket did not take a whole write, or it fell behind the in-memory journal",
                )
                .build(),
        }
    })
}

/// Counts an open event stream while it lives, and the change events written to it. Events
/// are added to the shared counter 64 at a time (and the rest when the stream ends): with
/// thousands of streams, one shared atomic per event per stream would be a hot cache line.
pub(crate) struct SubscriberGuard {
    unsent: u64,
}

impl SubscriberGuard {
    pub(crate) fn new() -> Self {
        feed().subscribers.add(1, &[]);
        SubscriberGuard { unsent: 0 }
    }

    /// One change event written to this stream.
    pub(crate) fn sent(&mut self) {
        self.unsent += 1;
        if self.unsent >= 64 {
            feed().sent.add(std::mem::take(&mut self.unsent), &[]);
        }
    }
}

/// An event stream left the fan-out's writers to catch up on its own.
pub(crate) fn slow_stream() {
    feed().slow.add(1, &[]);
}

/// Change events written to event streams by the fan-out's writers.
pub(crate) fn events_sent(n: u64) {
    feed().sent.add(n, &[]);
}

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        if self.unsent > 0 {
            feed().sent.add(self.unsent, &[]);
        }
        feed().subscribers.add(-1, &[]);
    }
}

/// Counts a webhook delivery by provider (`github`, `gitlab`) and outcome.
pub(crate) fn webhook_delivery(provider: &'static str, outcome: &str) {
    static C: OnceLock<Counter<u64>> = OnceLock::new();
    C.get_or_init(|| {
        opentelemetry::global::meter("nestor")
            .u64_counter("nestor.webhook.deliveries")
            .with_description("Push webhook deliveries, by provider and outcome")
            .build()
    })
    .add(
        1,
        &[
            KeyValue::new("provider", provider),
            KeyValue::new("outcome", outcome.to_owned()),
        ],
    );
}

/// Counts requests refused by access control, by reason.
pub(crate) fn auth_refused(reason: &'static str) {
    static C: OnceLock<Counter<u64>> = OnceLock::new();
    C.get_or_init(|| {
        opentelemetry::global::meter("nestor")
            .u64_counter("nestor.auth.refused")
            .with_description("Requests refused by access control, by reason")
            .build()
    })
    .add(1, &[KeyValue::new("reason", reason)]);
}
