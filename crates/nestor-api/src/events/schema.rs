//! The OpenAPI description of one event of the stream ([`ServerSentEvent`]): the fields an SSE
//! client parses from a frame — `event`, `id`, `data` (one line of JSON, described by
//! `contentMediaType` and `contentSchema`), `retry` — one variant per kind of event, so that
//! tools that validate event streams can check each event against its own schema.

use std::borrow::Cow;

use nestor_engines::EngineStatus;
use nestor_model::{
    BOOKMARK_EVENT, Bookmark, ChangeEvent, EventType, RESET_EVENT, Reset, SNAPSHOT_EVENT,
    SnapshotItem,
};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        Ref, RefOr,
        schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, Type},
    },
};

/// Every change event's name (`component.*`, [`EventType`]).
pub(crate) const CHANGE_EVENTS: [EventType; 6] = [
    EventType::Published,
    EventType::Updated,
    EventType::Deprecated,
    EventType::Undeprecated,
    EventType::Yanked,
    EventType::Unyanked,
];

/// One event of `GET /api/v1/events` as an SSE client sees it (documentation only: the frames
/// themselves are rendered by [`super::frame`]).
pub(crate) struct ServerSentEvent;

/// An event variant: `event` one of `names`, `data` JSON of schema `data`, with an `id` (the
/// revision) when `with_id`.
fn variant(
    title: &str,
    description: &str,
    names: &[&str],
    data: &str,
    with_id: bool,
) -> RefOr<Schema> {
    let event = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("The event type (`event:` line)"))
        .enum_values(Some(names.iter().copied()));
    let data_schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(format!(
            "One line of compact JSON (`data:` line): a `{data}`"
        )))
        .content_media_type("application/json")
        .content_schema(Some(Ref::from_schema_name(data)));
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .title(Some(title))
        .description(Some(description))
        .property("event", event)
        .required("event")
        .property("data", data_schema)
        .required("data")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    if with_id {
        object = object
            .property(
                "id",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[0-9]+$"))
                    .description(Some(
                        "The revision (`id:` line): resume after it with `Last-Event-ID` or `since`",
                    )),
            )
            .required("id");
    }
    object.into()
}

impl PartialSchema for ServerSentEvent {
    fn schema() -> RefOr<Schema> {
        let changes: Vec<&str> = CHANGE_EVENTS.iter().map(|e| e.as_str()).collect();
        let retry = ObjectBuilder::new()
            .schema_type(Type::Object)
            .title(Some("Retry"))
            .description(Some(
                "The first frame of every stream: the reconnection delay suggested to clients",
            ))
            .property(
                "retry",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .description(Some("Milliseconds (`retry:` line)")),
            )
            .required("retry")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        OneOfBuilder::new()
            .description(Some(
                "One event of the `text/event-stream` body, as an SSE client parses it from a \
                 frame (`id:`, `event:`, `data:` lines and a blank line; `retry:` first; \
                 `:` comment lines such as `: keep-alive` are not events). Which fields a frame \
                 has and what its `data` holds depend on its `event`; see docs/api.md.",
            ))
            .item(variant(
                "Change",
                "A change to the catalog, in revision order, exactly once",
                &changes,
                &ChangeEvent::name(),
                true,
            ))
            .item(variant(
                "Snapshot",
                "One version of the current state (`snapshot=true`, or after a reset)",
                &[SNAPSHOT_EVENT],
                &SnapshotItem::name(),
                false,
            ))
            .item(variant(
                "Bookmark",
                "Every matching change up to `id` has been sent; `snapshot_end` ends a snapshot",
                &[BOOKMARK_EVENT],
                &Bookmark::name(),
                true,
            ))
            .item(variant(
                "Reset",
                "The stream cannot resume where asked: a snapshot follows",
                &[RESET_EVENT],
                &Reset::name(),
                false,
            ))
            .item(variant(
                "EngineStatusChange",
                "A live notification of an engine's status (not in the replayable log)",
                &[nestor_engines::STATUS_EVENT],
                &EngineStatus::name(),
                false,
            ))
            .item(retry)
            .into()
    }
}

impl ToSchema for ServerSentEvent {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ServerSentEvent")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((ChangeEvent::name().into(), ChangeEvent::schema()));
        <ChangeEvent as ToSchema>::schemas(schemas);
        schemas.push((SnapshotItem::name().into(), SnapshotItem::schema()));
        <SnapshotItem as ToSchema>::schemas(schemas);
        schemas.push((Bookmark::name().into(), Bookmark::schema()));
        <Bookmark as ToSchema>::schemas(schemas);
        schemas.push((Reset::name().into(), Reset::schema()));
        <Reset as ToSchema>::schemas(schemas);
        schemas.push((EngineStatus::name().into(), EngineStatus::schema()));
        <EngineStatus as ToSchema>::schemas(schemas);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_event_name_is_listed() {
        for e in CHANGE_EVENTS {
            assert_eq!(EventType::parse(e.as_str()), Some(e));
        }
        let listed: std::collections::HashSet<_> = CHANGE_EVENTS.iter().collect();
        assert_eq!(listed.len(), CHANGE_EVENTS.len());
    }
}
