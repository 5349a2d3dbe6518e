//! DynamoStore: consistent multi-item reads, rolled forward with the change log (docs/storage.md,
//! *Snapshots*).

use std::collections::BTreeMap;

use nestor_model::{ChangeEvent, Component, Revision};

use super::{
    DynamoStore, LOG,
    feed::decode_event,
    item::{n, s},
};
use crate::{ChangeFeed, Snapshot, StoreResult};

/// How many of the latest commits a snapshot read checks against the log: DynamoDB applies a
/// committed transaction's items one by one, so a read may see a commit's counter and not yet
/// its other items; the commits before those few have long finished landing (see
/// docs/storage.md, *Snapshots*).
pub(super) const SETTLE_WINDOW: u64 = 8;

/// DynamoStore: snapshot reads.
impl DynamoStore {
    /// Every event in `(from, to]`, read after the data it vouches for. `None` when one is
    /// missing: a commit still landing (the caller reads again). Events at or below the
    /// retention floor may be missing: they were pruned, long after they landed.
    pub(super) async fn settled_events(
        &self,
        operation: &'static str,
        from: Revision,
        to: Revision,
    ) -> StoreResult<Option<Vec<ChangeEvent>>> {
        if to <= from {
            return Ok(Some(Vec::new()));
        }
        let events = self
            .query_all(
                operation,
                &self.inner.events,
                |query| {
                    query
                        .key_condition_expression("#log = :log AND #rev BETWEEN :lo AND :hi")
                        .expression_attribute_names("#log", "log")
                        .expression_attribute_names("#rev", "rev")
                        .expression_attribute_values(":log", s(LOG))
                        .expression_attribute_values(":lo", n(from.0 + 1))
                        .expression_attribute_values(":hi", n(to.0))
                },
                decode_event,
            )
            .await?;
        let contiguous = events
            .windows(2)
            .all(|w| w[1].revision == w[0].revision.next());
        let first = match events.first() {
            None => return Ok((self.retained_after().await? >= to).then_some(events)),
            Some(e) => e.revision,
        };
        if !contiguous || events.last().map(|e| e.revision) != Some(to) {
            return Ok(None);
        }
        if first != from.next() && first > self.retained_after().await?.next() {
            return Ok(None);
        }
        Ok(Some(events))
    }

    /// Brings `items`, read after the counter said `r0`, to one revision `top` (the highest
    /// item revision, at least `r0`): applies the events of the last few commits up to `r0`
    /// (a commit still landing when an item was read) and every event from `r0` to `top` (a
    /// commit during the read) to the items they concern, so that every item is as of `top`.
    /// `belongs` says which components the read covers. `None` when those events cannot all be
    /// read yet: the caller reads again.
    pub(super) async fn roll_forward(
        &self,
        operation: &'static str,
        r0: Revision,
        items: Vec<Component>,
        belongs: impl Fn(&Component) -> bool,
    ) -> StoreResult<Option<Snapshot<Vec<Component>>>> {
        let top = items.iter().map(|c| c.revision).max().unwrap_or(r0).max(r0);
        let from = Revision(r0.0.saturating_sub(SETTLE_WINDOW));
        let Some(events) = self.settled_events(operation, from, top).await? else {
            return Ok(None);
        };
        let mut by_id: BTreeMap<(String, String), Component> = items
            .into_iter()
            .map(|c| ((c.spec.name.clone(), c.spec.version.clone()), c))
            .collect();
        for e in events {
            if !belongs(&e.component) {
                continue;
            }
            let key = (e.name.clone(), e.version.clone());
            match by_id.get(&key) {
                Some(c) if c.revision >= e.revision => {}
                _ => {
                    by_id.insert(key, e.component);
                }
            }
        }
        Ok(Some(Snapshot {
            value: by_id.into_values().collect(),
            revision: top,
        }))
    }
}
