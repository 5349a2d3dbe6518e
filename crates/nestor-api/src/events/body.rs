//! The per-task path: an event stream as a response body that hyper polls. It serves streams
//! requested on a kept-alive connection after another request (a connection whose first
//! request is an event stream goes to [`super::raw`] instead), and every stream when the
//! fan-out's writers could not start.

use std::convert::Infallible;

use axum::body::Body;
use bytes::Bytes;
use futures_util::{StreamExt, stream};
use nestor_catalog::{FeedItem, FeedRequest};
use tokio::sync::OwnedSemaphorePermit;

use super::{Streams, frame};
use crate::{error::ApiError, metrics::SubscriberGuard};

/// Opens the feed of `request` (a failing store is an error here, before any byte is sent)
/// and returns the body that streams it: `retry:`, then the feed's frames interleaved with
/// keep-alives and engine notices, until the feed ends or the server shuts down. The permit is
/// held as long as the body lives.
pub(super) async fn open(
    streams: &Streams,
    request: FeedRequest,
    probe_details: bool,
    permit: OwnedSemaphorePermit,
) -> Result<Body, ApiError> {
    let feed = streams.catalog.feed(request).await?;
    let config = &streams.config;
    // A change's frame is rendered once and shared by every stream (a reference count per
    // subscriber, not a copy and an encoding).
    let mut keep_alive = tokio::time::interval(config.keep_alive);
    keep_alive.reset(); // the first tick is not immediate
    let keep_alive = stream::unfold(keep_alive, |mut tick| async move {
        tick.tick().await;
        Some((Some(Bytes::from_static(frame::KEEP_ALIVE)), tick))
    });
    let mut gauge = SubscriberGuard::new();
    let engines = engine_frames(streams, probe_details);
    let frames = feed
        .map(move |item| {
            // The permit and the gauge's count live as long as the stream.
            let _held = &permit;
            Some(match item {
                Ok(item) => {
                    if matches!(item, FeedItem::Change(_)) {
                        gauge.sent();
                    }
                    frame::item(item)
                }
                Err(e) => frame::store_error(&e),
            })
        })
        // A `None` marks the end of the feed, so that keep-alives stop with it.
        .chain(stream::once(async { None }));
    let retry = frame::retry(config.retry);
    let body = stream::once(async move { Some(retry) })
        .chain(stream::select(frames, stream::select(keep_alive, engines)))
        .take_while(|frame| std::future::ready(frame.is_some()))
        .filter_map(std::future::ready)
        .map(Ok::<_, Infallible>)
        .take_until(streams.shutdown.clone().cancelled_owned());
    Ok(Body::from_stream(body))
}

/// `engine.status` frames: the registry's status changes as they happen. A stream that falls
/// too far behind skips the oldest; `GET /api/v1/engines` has the current state. Without
/// `probe_details`, probe errors are redacted.
fn engine_frames(
    streams: &Streams,
    probe_details: bool,
) -> futures_util::stream::BoxStream<'static, Option<Bytes>> {
    use tokio::sync::broadcast::error::RecvError;
    let Some(registry) = streams.engines.as_ref() else {
        return stream::empty().boxed();
    };
    stream::unfold(registry.subscribe(), move |mut changes| async move {
        loop {
            match changes.recv().await {
                Ok(status) => {
                    let frame = if probe_details {
                        frame::engine_status(&status).full
                    } else {
                        frame::engine_status(&status).redacted
                    };
                    return Some((Some(frame), changes));
                }
                Err(RecvError::Lagged(skipped)) => {
                    tracing::debug!(skipped, "event stream skipped engine status changes");
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
    .boxed()
}
