//! DynamoStore: the sync table — sync runs, source state, leases and webhook delivery
//! de-duplication.

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    error::SdkError,
    types::{AttributeValue, ReturnValue},
};
use nestor_model::{SourceState, SyncRun};

use super::{
    DynamoStore, META,
    error::sdk_error,
    item::{self, Item, Record, json, n, s, values},
};
use crate::{StoreError, StoreResult, SyncStore};

/// A condition expression, its attribute names and its values.
struct Condition<'a>(
    &'a str,
    &'a [(&'a str, &'a str)],
    Vec<(&'a str, AttributeValue)>,
);

/// DynamoStore: writes to the sync table.
impl DynamoStore {
    async fn put_sync(
        &self,
        operation: &'static str,
        item: Item,
        condition: Option<Condition<'_>>,
    ) -> StoreResult<bool> {
        let table = &self.inner.sync;
        let mut req = self
            .client()
            .put_item()
            .table_name(table)
            .set_item(Some(item));
        if let Some(Condition(expr, names, vals)) = condition {
            req = req
                .condition_expression(expr)
                .set_expression_attribute_names(Some(item::names(names)))
                .set_expression_attribute_values(item::condition_values(vals));
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(sdk_error(operation, table, e)),
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Now and `ttl` from now, in milliseconds since the epoch.
fn expiry(ttl: std::time::Duration) -> (u64, u64) {
    let now = now_ms();
    (
        now,
        now.saturating_add(ttl.as_millis().min(u64::MAX as u128) as u64),
    )
}

fn run_key(id: u64) -> AttributeValue {
    // Zero-padded so that the string sort key orders runs by id.
    s(format!("{id:020}"))
}

/// A sync run's item (`RUN/<id>`, its source for filtering, the run as JSON).
fn run_item(run: &SyncRun) -> StoreResult<Item> {
    Ok(values(vec![
        ("pk", s("RUN")),
        ("sk", run_key(run.id)),
        ("source_id", s(&run.source_id)),
        ("body", json(run)?),
    ]))
}

fn decode_run(item: &Item) -> StoreResult<SyncRun> {
    let what = match item.get("sk") {
        Some(AttributeValue::S(sk)) => format!("sync run {sk}"),
        _ => "sync run".to_owned(),
    };
    Record::new(item, &what).json("body")
}

#[async_trait]
impl SyncStore for DynamoStore {
    async fn insert_sync_run(&self, mut run: SyncRun) -> StoreResult<SyncRun> {
        const OP: &str = "insert sync run";
        let table = &self.inner.sync;
        // Ids from an atomic counter: increasing; a crash between the two requests only skips one.
        let out = self
            .client()
            .update_item()
            .table_name(table)
            .key("pk", s(META))
            .key("sk", s("RUN_ID"))
            .update_expression("ADD #next :one")
            .expression_attribute_names("#next", "next")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| sdk_error(OP, table, e))?;
        let attrs = out.attributes.unwrap_or_default();
        run.id = Record::new(&attrs, "sync META/RUN_ID").u64("next")?;
        self.put_sync(OP, run_item(&run)?, None).await?;
        Ok(run)
    }

    async fn update_sync_run(&self, run: &SyncRun) -> StoreResult<()> {
        const OP: &str = "update sync run";
        let existed = self
            .put_sync(
                OP,
                run_item(run)?,
                Some(Condition("attribute_exists(#pk)", &[("#pk", "pk")], vec![])),
            )
            .await?;
        if !existed {
            return Err(StoreError::Backend {
                operation: OP,
                message: format!("no sync run {}", run.id),
            });
        }
        Ok(())
    }

    async fn sync_run(&self, id: u64) -> StoreResult<Option<SyncRun>> {
        self.get(
            "sync run",
            &self.inner.sync,
            vec![("pk", s("RUN")), ("sk", run_key(id))],
        )
        .await?
        .map(|i| decode_run(&i))
        .transpose()
    }

    async fn sync_runs(
        &self,
        source_id: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<SyncRun>> {
        const OP: &str = "sync runs";
        let table = &self.inner.sync;
        let mut runs = Vec::new();
        let mut start = None;
        while runs.len() < limit {
            let mut query = self
                .client()
                .query()
                .table_name(table)
                .key_condition_expression("#pk = :pk AND #sk < :before")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_names("#sk", "sk")
                .expression_attribute_values(":pk", s("RUN"))
                .expression_attribute_values(":before", run_key(before.unwrap_or(u64::MAX)))
                .scan_index_forward(false)
                .consistent_read(true)
                .set_exclusive_start_key(start);
            query = match source_id {
                // `Limit` counts items before the filter: read in pages of a fixed size.
                Some(src) => query
                    .filter_expression("#source = :source")
                    .expression_attribute_names("#source", "source_id")
                    .expression_attribute_values(":source", s(src))
                    .limit(100),
                None => query.limit((limit - runs.len()).min(1000) as i32),
            };
            let out = query.send().await.map_err(|e| sdk_error(OP, table, e))?;
            for i in out.items() {
                if runs.len() < limit {
                    runs.push(decode_run(i)?);
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(runs)
    }

    async fn source_state(&self, source_id: &str) -> StoreResult<Option<SourceState>> {
        let what = format!("sync SOURCE#{source_id}");
        self.get(
            "source state",
            &self.inner.sync,
            vec![("pk", s(format!("SOURCE#{source_id}"))), ("sk", s("-"))],
        )
        .await?
        .map(|i| Record::new(&i, &what).json("body"))
        .transpose()
    }

    async fn set_source_state(&self, state: &SourceState) -> StoreResult<()> {
        let item = values(vec![
            ("pk", s(format!("SOURCE#{}", state.source_id))),
            ("sk", s("-")),
            ("body", json(state)?),
        ]);
        self.put_sync("set source state", item, None).await?;
        Ok(())
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool> {
        let (now, expires) = expiry(ttl);
        let item = values(vec![
            ("pk", s(format!("LEASE#{name}"))),
            ("sk", s("-")),
            ("holder", s(holder)),
            ("expires_ms", n(expires)),
            // DynamoDB's TTL removes long-expired leases (an hour after expiry); reads never
            // rely on it.
            ("ttl", n(expires / 1000 + 3600)),
        ]);
        // Take it when free or expired, renew it when it is already ours.
        self.put_sync(
            "try lease",
            item,
            Some(Condition(
                "attribute_not_exists(#pk) OR #holder = :holder OR #expires <= :now",
                &[
                    ("#pk", "pk"),
                    ("#holder", "holder"),
                    ("#expires", "expires_ms"),
                ],
                vec![(":holder", s(holder)), (":now", n(now))],
            )),
        )
        .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        let table = &self.inner.sync;
        let result = self
            .client()
            .delete_item()
            .table_name(table)
            .key("pk", s(format!("LEASE#{name}")))
            .key("sk", s("-"))
            .condition_expression("#holder = :holder")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Not ours (or already gone): nothing to give up.
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(())
            }
            Err(e) => Err(sdk_error("release lease", table, e)),
        }
    }

    async fn remember_delivery(&self, key: &str, ttl: std::time::Duration) -> StoreResult<bool> {
        let (now, expires) = expiry(ttl);
        let item = values(vec![
            ("pk", s(format!("DELIVERY#{key}"))),
            ("sk", s("-")),
            ("expires_ms", n(expires)),
            ("ttl", n(expires / 1000 + 1)),
        ]);
        // New, or seen before but expired (DynamoDB's TTL deletes expired items only eventually).
        self.put_sync(
            "remember delivery",
            item,
            Some(Condition(
                "attribute_not_exists(#pk) OR #expires <= :now",
                &[("#pk", "pk"), ("#expires", "expires_ms")],
                vec![(":now", n(now))],
            )),
        )
        .await
    }
}
