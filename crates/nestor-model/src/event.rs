//! Change events: the persistent, ordered log every catalog change appends to, and what the SSE
//! stream carries.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::{Actor, Component};

/// The catalog-wide revision: strictly increasing, one step per change.
///
/// ```
/// use nestor_model::Revision;
/// assert!(Revision(2) > Revision(1));
/// assert_eq!(Revision(7).to_string(), "7");
/// ```
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
)]
#[serde(transparent)]
pub struct Revision(pub u64);

impl Revision {
    /// The revision after this one.
    pub fn next(self) -> Revision {
        Revision(self.0 + 1)
    }
}

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What happened to a component version. Serialized as the SSE `event:` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[non_exhaustive]
pub enum EventType {
    /// A new version was published.
    #[serde(rename = "component.published")]
    Published,
    /// Descriptive fields of a version changed.
    #[serde(rename = "component.updated")]
    Updated,
    /// A version was deprecated.
    #[serde(rename = "component.deprecated")]
    Deprecated,
    /// A deprecation was lifted.
    #[serde(rename = "component.undeprecated")]
    Undeprecated,
    /// A version was yanked.
    #[serde(rename = "component.yanked")]
    Yanked,
    /// A yank was reverted.
    #[serde(rename = "component.unyanked")]
    Unyanked,
}

impl EventType {
    /// The wire name, e.g. `component.published`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Published => "component.published",
            EventType::Updated => "component.updated",
            EventType::Deprecated => "component.deprecated",
            EventType::Undeprecated => "component.undeprecated",
            EventType::Yanked => "component.yanked",
            EventType::Unyanked => "component.unyanked",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<EventType> {
        [
            EventType::Published,
            EventType::Updated,
            EventType::Deprecated,
            EventType::Undeprecated,
            EventType::Yanked,
            EventType::Unyanked,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChangeEvent {
    /// Catalog revision this change created.
    #[schema(value_type = u64)]
    pub revision: Revision,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Component name.
    pub name: String,
    /// Component version.
    pub version: String,
    /// The component version as it is after the change.
    pub component: Component,
    /// When the change was written.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: OffsetDateTime,
    /// Who wrote the change (the component's `changed_by`). Absent on events written before it
    /// was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<Actor>,
}

/// SSE `event:` name of one version of a snapshot (`?snapshot=true`, or after a reset). It has no
/// `id:`; the `catalog.bookmark` that ends the snapshot carries the snapshot's revision.
pub const SNAPSHOT_EVENT: &str = "component.snapshot";
/// SSE `event:` name of a bookmark.
pub const BOOKMARK_EVENT: &str = "catalog.bookmark";
/// SSE `event:` name of a reset.
pub const RESET_EVENT: &str = "catalog.reset";

/// Data of a `component.snapshot` event: one version as it is at the snapshot's revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SnapshotItem {
    /// The component version.
    pub component: Component,
}

/// Data of a `catalog.bookmark` event (its SSE `id:` is the same revision).
///
/// Every event up to `revision` that passes the stream's filters has been sent: a client resumes
/// from here. Sent at the end of a snapshot (`snapshot_end: true`) and periodically, so that a
/// filtered stream's resume point advances even when no matching event arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Bookmark {
    /// Catalog revision the stream has reached.
    #[schema(value_type = u64)]
    pub revision: Revision,
    /// This bookmark ends a snapshot: the client's copy is now complete at `revision`.
    #[serde(default)]
    pub snapshot_end: bool,
}

/// Why a stream could not resume where it was asked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResetReason {
    /// The requested revision is older than the retained log.
    Expired,
    /// The requested revision is newer than the catalog (e.g. the store was restored from a
    /// backup): the client holds changes the server no longer knows.
    Ahead,
}

/// Data of a `catalog.reset` event: the client must drop its copy. The server follows it at once
/// with a full snapshot (`component.snapshot` events, then a `catalog.bookmark` with
/// `snapshot_end: true`), so a plain EventSource client recovers without reconnecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reset {
    /// Why.
    pub reason: ResetReason,
    /// The revision the client asked to resume after.
    #[schema(value_type = u64)]
    pub requested: Revision,
    /// Events after this revision are retained; resuming from older ones is impossible.
    #[schema(value_type = u64)]
    pub retained_after: Revision,
    /// The catalog's current revision.
    #[schema(value_type = u64)]
    pub current: Revision,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_wire_names_round_trip() {
        for t in [EventType::Published, EventType::Yanked, EventType::Unyanked] {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
    }

    #[test]
    fn records_stored_before_writers_were_recorded_still_read() {
        let component = serde_json::json!({
            "name": "pg", "version": "1.0.0", "content_hash": "sha256:00",
            "published_at": "2026-01-01T00:00:00Z", "revision": 3, "yanked": false,
        });
        let event = serde_json::json!({
            "revision": 3, "type": "component.published", "name": "pg", "version": "1.0.0",
            "component": component, "occurred_at": "2026-01-01T00:00:00Z",
        });
        let read: ChangeEvent = serde_json::from_value(event.clone()).unwrap();
        assert_eq!(read.changed_by, None);
        assert_eq!(read.component.published_by, None);
        assert_eq!(read.component.changed_by, None);
        // And written back without a writer: none is made up.
        let json = serde_json::to_value(&read).unwrap();
        assert!(json.get("changed_by").is_none(), "{json}");
        assert!(json["component"].get("published_by").is_none(), "{json}");
        assert!(json["component"].get("changed_by").is_none(), "{json}");

        let mut written = read;
        written.changed_by = Some(Actor::Api { token: "ci".into() });
        written.component.published_by = written.changed_by.clone();
        let json = serde_json::to_value(&written).unwrap();
        assert_eq!(
            json["changed_by"],
            serde_json::json!({"kind": "api", "token": "ci"})
        );
        assert_eq!(json["component"]["published_by"]["token"], "ci");
        let back: ChangeEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, written);

        let sync = Actor::Sync {
            source: "platform".into(),
            run: Some(7),
            commit: Some("0a1b2c".into()),
        };
        let json =
            serde_json::json!({"kind": "sync", "source": "platform", "run": 7, "commit": "0a1b2c"});
        assert_eq!(serde_json::to_value(&sync).unwrap(), json);
        assert_eq!(serde_json::from_value::<Actor>(json).unwrap(), sync);
    }
}
