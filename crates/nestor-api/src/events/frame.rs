//! Every byte string of the event stream's wire format (Server-Sent Events), in one place: a
//! change, a snapshot item, a bookmark, a reset, an engine status, the store-error comment, the
//! keep-alive comment and the `retry:` advice. Nothing else in Nestor writes SSE.
//!
//! A frame is `id:` (when the item has one), `event:`, one `data:` line of compact JSON (which
//! has no line breaks), and a blank line. A change's frame is rendered once per process and
//! shared by every stream that carries it (the catalog keeps it in the event's slot).

use std::time::Duration;

use bytes::Bytes;
use nestor_catalog::{CatalogError, FeedItem, SharedEvent};
use nestor_model::{
    BOOKMARK_EVENT, Bookmark, ChangeEvent, RESET_EVENT, SNAPSHOT_EVENT, SnapshotItem,
};

/// The comment that keeps an idle stream open through proxies.
pub(crate) const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// The reconnection delay suggested to clients, the first frame of every stream.
pub(crate) fn retry(delay: Duration) -> Bytes {
    Bytes::from(format!("retry: {}\n\n", delay.as_millis()))
}

/// A change's frame, rendered once and shared by every stream.
pub(crate) fn change(event: &SharedEvent) -> Bytes {
    event.encoded(encode_change)
}

fn encode_change(event: &ChangeEvent) -> Bytes {
    let mut frame = Vec::with_capacity(2048);
    frame.extend_from_slice(b"id: ");
    frame.extend_from_slice(event.revision.to_string().as_bytes());
    frame.extend_from_slice(b"\nevent: ");
    frame.extend_from_slice(event.event_type.as_str().as_bytes());
    frame.extend_from_slice(b"\ndata: ");
    // A ChangeEvent is plain data; encoding it cannot fail.
    let _ = serde_json::to_writer(&mut frame, event);
    frame.extend_from_slice(b"\n\n");
    frame.shrink_to_fit();
    Bytes::from(frame)
}

/// The frame of one feed item.
pub(crate) fn item(item: FeedItem) -> Bytes {
    match item {
        FeedItem::Change(e) => change(&e),
        FeedItem::Snapshot(component) => json_frame(
            SNAPSHOT_EVENT,
            None,
            &SnapshotItem {
                component: *component,
            },
        ),
        FeedItem::Bookmark(b) => bookmark(b),
        FeedItem::Reset(r) => json_frame(RESET_EVENT, None, &r),
    }
}

/// A `catalog.bookmark` frame (its id is the bookmark's revision).
pub(crate) fn bookmark(b: Bookmark) -> Bytes {
    json_frame(BOOKMARK_EVENT, Some(b.revision.0), &b)
}

/// The `engine.status` frames of a status change (no `id:`: a live notification, not part of
/// the replayable log): as it is, and without the probe's error detail (which tells open ports
/// from closed ones), for streams of readers who may not see it — as `GET /api/v1/engines`.
pub(crate) fn engine_status(status: &nestor_engines::EngineStatus) -> EngineFrames {
    let redacted = crate::routes::engines::without_probe_details(status.clone());
    EngineFrames {
        full: json_frame(nestor_engines::STATUS_EVENT, None, status),
        redacted: json_frame(nestor_engines::STATUS_EVENT, None, &redacted),
    }
}

/// An `engine.status` frame in both its forms.
#[derive(Debug, Clone)]
pub(crate) struct EngineFrames {
    /// With the probe's error, for admins (and everyone while access control is off).
    pub full: Bytes,
    /// Without it, for every other reader.
    pub redacted: Bytes,
}

impl EngineFrames {
    /// The form a stream gets: `full` when its reader sees probe details.
    pub(crate) fn for_reader(&self, probe_details: bool) -> &Bytes {
        if probe_details {
            &self.full
        } else {
            &self.redacted
        }
    }
}

/// The comment that ends a stream the store failed (logged too): the client reconnects and
/// resumes from its last id.
pub(crate) fn store_error(e: &CatalogError) -> Bytes {
    tracing::warn!(error = %e, "event stream ended by a store error");
    Bytes::from(format!(": error: {e}; reconnect to resume\n\n"))
}

fn json_frame(event: &str, id: Option<u64>, data: &impl serde::Serialize) -> Bytes {
    match serde_json::to_string(data) {
        Ok(data) => {
            let id = id.map(|r| format!("id: {r}\n")).unwrap_or_default();
            Bytes::from(format!("{id}event: {event}\ndata: {data}\n\n"))
        }
        // Model types always serialize; keep the stream alive regardless.
        Err(e) => Bytes::from(format!(": error: {event} not encodable: {e}\n\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_one_data_line_and_a_blank_line() {
        let b = bookmark(Bookmark {
            revision: nestor_model::Revision(7),
            snapshot_end: true,
        });
        assert_eq!(
            &b[..],
            b"id: 7\nevent: catalog.bookmark\ndata: {\"revision\":7,\"snapshot_end\":true}\n\n"
        );
        assert_eq!(&retry(Duration::from_secs(2))[..], b"retry: 2000\n\n");
    }
}
