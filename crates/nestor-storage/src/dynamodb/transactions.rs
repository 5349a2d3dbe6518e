//! DynamoStore: the write path — one `TransactWriteItems` per write (counter, event, version,
//! name item), each item conditional, retried when another writer wins.

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    error::SdkError,
    operation::transact_write_items::TransactWriteItemsError,
    types::{AttributeValue, Put, TransactWriteItem},
};
use nestor_model::{ChangeEvent, Component, EventType, Revision};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::{
    DynamoStore, LOG, META, NAMES, VERSION_PREFIX, backoff,
    components::NameEntry,
    error::{build_error, sdk_error},
    item::{self, Item, json, n, s, values},
};
use crate::{ComponentWriter, NameCondition, StoreError, StoreResult};

/// Why a write transaction did not commit.
enum Cancelled {
    /// DynamoDB's reason code for each item of the transaction, in order (`None` = that item
    /// was fine).
    Reasons(Vec<Option<String>>),
}

impl Cancelled {
    fn condition_failed(&self, index: usize) -> bool {
        let Cancelled::Reasons(r) = self;
        r.get(index).and_then(|c| c.as_deref()) == Some("ConditionalCheckFailed")
    }

    fn describe(&self) -> String {
        let Cancelled::Reasons(r) = self;
        r.iter()
            .map(|c| c.as_deref().unwrap_or("None"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// DynamoStore: building and committing write transactions.
impl DynamoStore {
    async fn transact(
        &self,
        operation: &'static str,
        items: Vec<TransactWriteItem>,
    ) -> StoreResult<Result<(), Cancelled>> {
        match self
            .client()
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(Ok(())),
            Err(SdkError::ServiceError(e))
                if matches!(
                    e.err(),
                    TransactWriteItemsError::TransactionCanceledException(_)
                ) =>
            {
                let reasons = match e.err() {
                    TransactWriteItemsError::TransactionCanceledException(c) => c
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().filter(|c| *c != "None").map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                };
                Ok(Err(Cancelled::Reasons(reasons)))
            }
            Err(e) => Err(sdk_error(
                operation,
                &format!("{} + {}", self.inner.catalog, self.inner.events),
                e,
            )),
        }
    }

    fn put(
        &self,
        operation: &'static str,
        table: &str,
        item: Item,
        condition: &str,
        names: &[(&str, &str)],
        vals: Vec<(&str, AttributeValue)>,
    ) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(item::names(names)))
            .set_expression_attribute_values(item::condition_values(vals))
            .build()
            .map_err(build_error(operation))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The items every write commits besides the version and the name: the counter moved from
    /// `current` to `next`, and the event.
    fn counter_and_event(
        &self,
        operation: &'static str,
        current: Revision,
        event: &ChangeEvent,
    ) -> StoreResult<[TransactWriteItem; 2]> {
        let counter_item: Item = values(vec![
            ("pk", s(META)),
            ("sk", s("REVISION")),
            ("rev", n(event.revision.0)),
        ]);
        let counter = self.put_unless_moved(
            operation,
            counter_item,
            (current.0 != 0).then_some(current.0),
        )?;
        let at = event
            .occurred_at
            .format(&Rfc3339)
            .map_err(|e| StoreError::Backend {
                operation,
                message: format!("formatting the event time: {e}"),
            })?;
        let event_item: Item = values(vec![
            ("log", s(LOG)),
            ("rev", n(event.revision.0)),
            ("type", s(event.event_type.as_str())),
            ("name", s(&event.name)),
            ("version", s(&event.version)),
            ("at", s(at)),
            ("body", json(event)?),
        ]);
        let event = self.put(
            operation,
            &self.inner.events,
            event_item,
            "attribute_not_exists(#rev)",
            &[("#rev", "rev")],
            vec![],
        )?;
        Ok([counter, event])
    }

    fn version_put(
        &self,
        operation: &'static str,
        component: &Component,
        expected: Option<Revision>,
    ) -> StoreResult<TransactWriteItem> {
        let item: Item = values(vec![
            ("pk", s(format!("{VERSION_PREFIX}{}", component.spec.name))),
            ("sk", s(&component.spec.version)),
            ("rev", n(component.revision.0)),
            ("yanked", AttributeValue::Bool(component.yanked)),
            ("body", json(component)?),
        ]);
        self.put_unless_moved(operation, item, expected.map(|rev| rev.0))
    }

    fn name_put(
        &self,
        operation: &'static str,
        name: &str,
        entry: &NameEntry,
        previous_rev: Option<u64>,
    ) -> StoreResult<TransactWriteItem> {
        let item = entry.encode(name)?;
        self.put_unless_moved(operation, item, previous_rev)
    }

    /// A put of a catalog item that commits only if the item is still as read: absent when
    /// `expected` is `None`, at revision `expected` otherwise.
    fn put_unless_moved(
        &self,
        operation: &'static str,
        item: Item,
        expected: Option<u64>,
    ) -> StoreResult<TransactWriteItem> {
        match expected {
            None => self.put(
                operation,
                &self.inner.catalog,
                item,
                "attribute_not_exists(#pk)",
                &[("#pk", "pk")],
                vec![],
            ),
            Some(rev) => self.put(
                operation,
                &self.inner.catalog,
                item,
                "#rev = :expected",
                &[("#rev", "rev")],
                vec![(":expected", n(rev))],
            ),
        }
    }

    /// The event's slot taken while the counter was as read: the log is ahead of the counter.
    /// (Both failing is only a stale read of the counter.)
    fn log_ahead(
        &self,
        cancelled: &Cancelled,
        current: Revision,
        next: Revision,
    ) -> Option<StoreError> {
        (cancelled.condition_failed(1) && !cancelled.condition_failed(0)).then(|| {
            StoreError::Corrupt {
                what: format!("{} {next}", self.inner.events),
                message: format!("the event exists although the revision counter says {current}"),
            }
        })
    }

    fn gave_up(&self, operation: &'static str, last: &Cancelled) -> StoreError {
        StoreError::Unavailable {
            operation,
            message: format!(
                "{}: gave up after {} attempts lost to concurrent writers (last cancellation: {})",
                self.inner.catalog,
                self.inner.write_attempts,
                last.describe()
            ),
        }
    }
}

#[async_trait]
impl ComponentWriter for DynamoStore {
    async fn insert_version_if(
        &self,
        component: Component,
        owner: &str,
        condition: NameCondition,
    ) -> StoreResult<ChangeEvent> {
        const OP: &str = "insert version";
        component.semver().map_err(|e| StoreError::Backend {
            operation: OP,
            message: e.to_string(),
        })?;
        let name = component.spec.name.clone();
        let version = component.spec.version.clone();
        let mut last = None;
        for attempt in 0..self.inner.write_attempts {
            let (current, entry) = tokio::try_join!(self.counter(OP), self.name_entry(OP, &name))?;
            if entry
                .as_ref()
                .is_some_and(|e| e.versions.contains_key(&version))
            {
                return Err(StoreError::AlreadyExists { name, version });
            }
            // Atomic with the write: the name item's put below is conditional on the item as
            // read here (absent for a new name), so a name created in between cancels it and
            // the next attempt sees the name.
            if let (NameCondition::New, Some(e)) = (condition, &entry) {
                return Err(StoreError::NameTaken {
                    name,
                    owner: e.owner.clone(),
                });
            }
            let next = current.next();
            let mut stored = component.clone();
            stored.revision = next;
            let event = ChangeEvent {
                revision: next,
                event_type: EventType::Published,
                name: name.clone(),
                version: version.clone(),
                changed_by: stored.changed_by.clone(),
                component: stored.clone(),
                occurred_at: OffsetDateTime::now_utc(),
            };
            let previous_rev = entry.as_ref().map(|e| e.rev);
            let mut new_entry = entry.unwrap_or_else(|| NameEntry {
                owner: owner.to_owned(),
                created_at: event.occurred_at.format(&Rfc3339).unwrap_or_default(),
                ..Default::default()
            });
            new_entry.versions.insert(version.clone(), stored.yanked);
            new_entry.rev = next.0;
            let [counter, ev] = self.counter_and_event(OP, current, &event)?;
            let items = vec![
                counter,
                ev,
                self.version_put(OP, &stored, None)?,
                self.name_put(OP, &name, &new_entry, previous_rev)?,
            ];
            match self.transact(OP, items).await? {
                Ok(()) => return Ok(event),
                Err(cancelled) => {
                    if cancelled.condition_failed(2) {
                        return Err(StoreError::AlreadyExists { name, version });
                    }
                    if let Some(e) = self.log_ahead(&cancelled, current, next) {
                        return Err(e);
                    }
                    tracing::debug!(%name, %version, attempt, reasons = %cancelled.describe(), "publish lost a race; retrying");
                    last = Some(cancelled);
                }
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        Err(self.gave_up(OP, &last.unwrap_or(Cancelled::Reasons(Vec::new()))))
    }

    async fn update_version(
        &self,
        component: Component,
        expected: Revision,
        event_type: EventType,
    ) -> StoreResult<ChangeEvent> {
        const OP: &str = "update version";
        component.semver().map_err(|e| StoreError::Backend {
            operation: OP,
            message: e.to_string(),
        })?;
        let name = component.spec.name.clone();
        let version = component.spec.version.clone();
        let mut last = None;
        for attempt in 0..self.inner.write_attempts {
            let (current, entry, stored) = tokio::try_join!(
                self.counter(OP),
                self.name_entry(OP, &name),
                self.version_item(OP, &name, &version)
            )?;
            let Some(stored) = stored else {
                return Err(StoreError::NotFound { name, version });
            };
            if stored.revision != expected {
                return Err(StoreError::Concurrent {
                    name,
                    version,
                    expected,
                    found: stored.revision,
                });
            }
            let Some(mut entry) = entry else {
                return Err(StoreError::Corrupt {
                    what: format!("catalog {NAMES}/{name}"),
                    message: format!("missing, although version {version} exists"),
                });
            };
            let next = current.next();
            let mut updated = component.clone();
            updated.revision = next;
            let event = ChangeEvent {
                revision: next,
                event_type,
                name: name.clone(),
                version: version.clone(),
                changed_by: updated.changed_by.clone(),
                component: updated.clone(),
                occurred_at: OffsetDateTime::now_utc(),
            };
            let previous_rev = entry.rev;
            entry.versions.insert(version.clone(), updated.yanked);
            entry.rev = next.0;
            let [counter, ev] = self.counter_and_event(OP, current, &event)?;
            let items = vec![
                counter,
                ev,
                self.version_put(OP, &updated, Some(expected))?,
                self.name_put(OP, &name, &entry, Some(previous_rev))?,
            ];
            match self.transact(OP, items).await? {
                Ok(()) => return Ok(event),
                Err(cancelled) => {
                    if let Some(e) = self.log_ahead(&cancelled, current, next) {
                        return Err(e);
                    }
                    // The version changed under us: the next read reports Concurrent.
                    tracing::debug!(%name, %version, attempt, reasons = %cancelled.describe(), "update lost a race; retrying");
                    last = Some(cancelled);
                }
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        Err(self.gave_up(OP, &last.unwrap_or(Cancelled::Reasons(Vec::new()))))
    }

    async fn set_name_owners(
        &self,
        name: &str,
        expected: &[String],
        owners: &[String],
    ) -> StoreResult<bool> {
        self.write_name_owners(name, expected, owners).await
    }
}
