//! DynamoStore: the change feed — the log of events, its retention floor and pruning.

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    error::SdkError,
    types::{AttributeValue, DeleteRequest, WriteRequest},
};
use nestor_model::{ChangeEvent, Revision};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::{
    DynamoStore, LOG, META, backoff,
    error::{build_error, sdk_error},
    item::{Item, Record, n, s, values},
};
use crate::{ChangeFeed, Pruned, Retention, StoreError, StoreResult};

pub(super) fn decode_event(item: &Item) -> StoreResult<ChangeEvent> {
    let rev = match item.get("rev") {
        Some(AttributeValue::N(v)) => v.clone(),
        _ => "?".to_owned(),
    };
    let what = format!("events {rev}");
    let r = Record::new(item, &what);
    let event: ChangeEvent = r.json("body")?;
    if event.revision.0 != r.u64("rev")? {
        return Err(StoreError::Corrupt {
            what,
            message: format!("body has revision {}", event.revision),
        });
    }
    Ok(event)
}

/// DynamoStore: the one query of the log, read after a revision.
impl DynamoStore {
    /// A consistent query of the events after `after`, oldest first; callers add the page size,
    /// the projection and the start key.
    fn log_after(
        &self,
        after: Revision,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client()
            .query()
            .table_name(&self.inner.events)
            .key_condition_expression("#log = :log AND #rev > :after")
            .expression_attribute_names("#log", "log")
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_values(":log", s(LOG))
            .expression_attribute_values(":after", n(after.0))
            .consistent_read(true)
    }
}

#[async_trait]
impl ChangeFeed for DynamoStore {
    async fn current_revision(&self) -> StoreResult<Revision> {
        self.counter("current revision").await
    }

    async fn events_since(&self, after: Revision, limit: usize) -> StoreResult<Vec<ChangeEvent>> {
        let table = &self.inner.events;
        let mut events: Vec<ChangeEvent> = Vec::new();
        let mut start = None;
        while events.len() < limit {
            let page = (limit - events.len()).min(1000) as i32;
            let out = self
                .log_after(after)
                .limit(page)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("events since", table, e))?;
            for i in out.items() {
                events.push(decode_event(i)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        // Only a dense run is returned. The log has no holes (a revision is only taken by a
        // committed transaction) except below the retention floor, so a hole here is a
        // transaction whose event is not visible yet: the reader gets it on its next read
        // instead of skipping it for ever.
        let Some(first) = events.first().map(|e| e.revision) else {
            return Ok(events);
        };
        if first != after.next() {
            let floor = self.retained_after().await?;
            if !(after < floor && first <= floor.next()) {
                tracing::warn!(after = %after, first = %first, floor = %floor, "change log hole (a commit still landing?); returning nothing yet");
                return Ok(Vec::new());
            }
        }
        if let Some(hole) = events
            .windows(2)
            .position(|w| w[1].revision != w[0].revision.next())
        {
            tracing::debug!(at = %events[hole].revision, "change log hole (a commit still landing?); returning the events before it");
            events.truncate(hole + 1);
        }
        Ok(events)
    }

    async fn retained_after(&self) -> StoreResult<Revision> {
        self.meta_revision("retained after", "RETAINED").await
    }

    async fn prune_events(&self, retention: Retention) -> StoreResult<Pruned> {
        const OP: &str = "prune events";
        let table = &self.inner.events;
        let (current, floor) = tokio::try_join!(self.counter(OP), self.retained_after())?;
        let mut cutoff = Revision(current.0.saturating_sub(retention.max_events));
        // Events older than the age limit: `at` follows revision order, so scan from the oldest
        // candidate until the first young-enough event.
        let mut after = floor.max(cutoff);
        let mut start = None;
        'scan: loop {
            let out = self
                .log_after(after)
                .expression_attribute_names("#at", "at")
                .projection_expression("#rev, #at")
                .limit(500)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error(OP, table, e))?;
            for i in out.items() {
                let r = Record::new(i, "events item");
                let rev = r.u64("rev")?;
                let at = OffsetDateTime::parse(r.str("at")?, &Rfc3339).map_err(|e| {
                    StoreError::Corrupt {
                        what: format!("events {rev} time"),
                        message: e.to_string(),
                    }
                })?;
                if at >= retention.older_than {
                    break 'scan;
                }
                cutoff = cutoff.max(Revision(rev));
            }
            start = out.last_evaluated_key;
            match &start {
                None => break,
                Some(k) => {
                    after = Revision(Record::new(k, "events key").u64("rev")?);
                }
            }
        }
        if cutoff <= floor {
            return Ok(Pruned {
                removed: 0,
                retained_after: floor,
            });
        }
        // Raise the floor first: from then on, a reader resuming below it re-lists, so the
        // deletions that follow can never take an event someone could still resume from.
        let raised = self
            .client()
            .put_item()
            .table_name(&self.inner.catalog)
            .set_item(Some(values(vec![
                ("pk", s(META)),
                ("sk", s("RETAINED")),
                ("rev", n(cutoff.0)),
            ])))
            .condition_expression("attribute_not_exists(#rev) OR #rev < :cutoff")
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_values(":cutoff", n(cutoff.0))
            .send()
            .await;
        match raised {
            Ok(_) => {}
            // A concurrent prune raised it further; it deletes what it covers.
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let floor = self.retained_after().await?;
                return Ok(Pruned {
                    removed: 0,
                    retained_after: floor,
                });
            }
            Err(e) => return Err(sdk_error(OP, &self.inner.catalog, e)),
        }
        // Delete every event at or below the cut-off (also any a crashed prune left behind).
        let mut removed = 0u64;
        let mut start = None;
        loop {
            let out = self
                .client()
                .query()
                .table_name(table)
                .key_condition_expression("#log = :log AND #rev <= :cutoff")
                .expression_attribute_names("#log", "log")
                .expression_attribute_names("#rev", "rev")
                .projection_expression("#log, #rev")
                .expression_attribute_values(":log", s(LOG))
                .expression_attribute_values(":cutoff", n(cutoff.0))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error(OP, table, e))?;
            let keys: Vec<Item> = out.items().to_vec();
            for chunk in keys.chunks(25) {
                removed += chunk.len() as u64;
                let mut requests = chunk
                    .iter()
                    .map(|k| {
                        DeleteRequest::builder()
                            .set_key(Some(k.clone()))
                            .build()
                            .map(|d| WriteRequest::builder().delete_request(d).build())
                            .map_err(build_error(OP))
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                let mut attempt = 0;
                while !requests.is_empty() {
                    let out = self
                        .client()
                        .batch_write_item()
                        .request_items(table.clone(), std::mem::take(&mut requests))
                        .send()
                        .await
                        .map_err(|e| sdk_error(OP, table, e))?;
                    requests = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(table.as_str()))
                        .unwrap_or_default();
                    if !requests.is_empty() {
                        if attempt >= 10 {
                            return Err(StoreError::Unavailable {
                                operation: OP,
                                message: format!(
                                    "{table}: deletions left unprocessed after {attempt} retries"
                                ),
                            });
                        }
                        tokio::time::sleep(backoff(attempt)).await;
                        attempt += 1;
                    }
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(Pruned {
            removed,
            retained_after: cutoff,
        })
    }
}
