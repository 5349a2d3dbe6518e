//! The DynamoDB backend: production and several replicas on one catalog.
//!
//! Three tables (definitions in `migrations/dynamodb/`, design and costs in `docs/storage.md`):
//!
//! * `<prefix>-catalog`: the revision counter and the log's retention floor (`pk = META`), one
//!   item per component name in a single `NAMES` partition sorted by name (owner, every version
//!   with its yanked flag, the latest pointers), and one item per version (`pk = C#<name>`,
//!   `sk = <version>`, the component as JSON), and the owners lists of names whose owners were
//!   changed (`pk = OWNERS`, `sk = <name>`; see `owners.rs`).
//! * `<prefix>-events`: the change log, every event under one partition key sorted by its numeric
//!   revision, so that `events_since` is one `Query`.
//! * `<prefix>-sync`: sync runs, source state, leases and webhook deliveries.
//!
//! **Writes.** A write reads the counter and the name item (strongly consistent), then commits
//! in one `TransactWriteItems`: the counter `r → r + 1` (conditional on still being `r`), the
//! event `r + 1` (conditional on not existing), the version (conditional on not existing, or on
//! its revision being the expected one) and the name item (conditional on its revision being the
//! one read). All of it or nothing is written; revisions are dense because only a committed
//! transaction moves the counter, and strictly increasing because each commit moves it by one.
//! When another writer won the counter or the name, the transaction is cancelled and retried
//! with jittered backoff, a bounded number of times.
//!
//! **Reads** are strongly consistent. DynamoDB has no multi-item read snapshot and applies a
//! committed transaction's items one by one, so a read that returns a revision reads the
//! counter first (`r0`), then the data, then the events of the last few commits: items older
//! than those events (a commit still landing) or newer than `r0` (a commit during the read) are
//! either rolled forward with the events (`list_all`, `list_versions`) or make the read start
//! again (`list_latest`). docs/storage.md, *Snapshots*, has the reasoning.
//!
//! # Layout
//!
//! * this file: [`DynamoStore`] (its tables, construction, migration, the single-item read and
//!   the revision counter every other file uses), readiness and the retry backoff;
//! * `client.rs`: [`DynamoDbOptions`] and the SDK client built from them;
//! * `metrics.rs`: the interceptor that counts every request sent to DynamoDB;
//! * `error.rs`: SDK errors mapped to [`StoreError`] (what is retriable);
//! * `components.rs`: reading components: the name items, versions and `list_latest` pages;
//! * `snapshot.rs`: the roll-forward that makes a multi-item read one consistent snapshot;
//! * `transactions.rs`: the `TransactWriteItems` write path (publish, update) and its
//!   cancellation reasons;
//! * `feed.rs`: the change log: `events_since`, the retention floor and pruning;
//! * `sync_state.rs`: the sync table: runs, source state, leases and delivery de-duplication;
//! * `item.rs`: typed access to attribute maps; `schema.rs`: the table definitions and
//!   `nestor migrate`.

mod client;
mod components;
mod error;
mod feed;
mod item;
mod metrics;
mod owners;
mod schema;
mod snapshot;
mod sync_state;
mod transactions;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client, operation::query::builders::QueryFluentBuilder, types::AttributeValue,
};
use nestor_model::Revision;

use crate::{CatalogStore, StoreError, StoreResult};
pub use client::{DynamoDbOptions, StaticCredentials};
use error::sdk_error;
use item::{Item, Record, s, values};
pub use schema::{MigrationReport, TableSpec};

/// Table name suffixes (after `<prefix>-`), as in `migrations/dynamodb/*.json`.
const CATALOG: &str = "catalog";
const EVENTS: &str = "events";
const SYNC: &str = "sync";

/// Partition keys of the catalog table.
const META: &str = "META";
const NAMES: &str = "NAMES";
/// Owners lists of names (see `owners.rs`).
const OWNERS: &str = "OWNERS";
const VERSION_PREFIX: &str = "C#";
/// The one partition of the events table.
const LOG: &str = "main";

/// DynamoDB-backed [`CatalogStore`].
#[derive(Clone)]
pub struct DynamoStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    prefix: String,
    catalog: String,
    events: String,
    sync: String,
    write_attempts: u32,
}

/// Full-jitter exponential backoff for the `attempt`-th retry (0-based).
fn backoff(attempt: u32) -> Duration {
    let cap_ms = 5u64.saturating_mul(1 << attempt.min(6)).min(250);
    Duration::from_millis(fastrand::u64(1..=cap_ms))
}

impl DynamoStore {
    /// A store on the tables named by `options` (no request is made: see
    /// [`DynamoStore::check_tables`] and [`DynamoStore::migrate`]).
    pub async fn new(options: &DynamoDbOptions) -> StoreResult<Self> {
        let client = client::client(options).await?;
        Ok(Self::with_client(
            client,
            &options.table_prefix,
            options.write_attempts,
        ))
    }

    /// A store using `client` on the tables `<table_prefix>-…`.
    pub fn with_client(client: Client, table_prefix: &str, write_attempts: u32) -> Self {
        DynamoStore {
            inner: Arc::new(Inner {
                client,
                prefix: table_prefix.to_owned(),
                catalog: format!("{table_prefix}-{CATALOG}"),
                events: format!("{table_prefix}-{EVENTS}"),
                sync: format!("{table_prefix}-{SYNC}"),
                write_attempts: write_attempts.max(1),
            }),
        }
    }

    /// Checks that every table exists as `migrations/dynamodb/` defines it (what `serve` does
    /// before anything else; it never creates tables).
    pub async fn check_tables(&self) -> StoreResult<()> {
        schema::check(&self.inner.client, &self.inner.prefix).await
    }

    /// Creates the missing tables, indexes and TTL settings, waits until they are active and
    /// says what it did (`nestor migrate`). Idempotent.
    pub async fn migrate(&self) -> StoreResult<MigrationReport> {
        schema::migrate(&self.inner.client, &self.inner.prefix).await
    }

    /// [`DynamoStore::migrate`] with other table definitions (for tests of the migration).
    pub async fn migrate_tables(&self, specs: &[TableSpec]) -> StoreResult<MigrationReport> {
        schema::migrate_specs(&self.inner.client, &self.inner.prefix, specs).await
    }

    /// The embedded table definitions (`migrations/dynamodb/`).
    pub fn table_definitions() -> StoreResult<Vec<TableSpec>> {
        schema::definitions()
    }

    /// The names of the three tables.
    pub fn table_names(&self) -> [&str; 3] {
        [&self.inner.catalog, &self.inner.events, &self.inner.sync]
    }

    fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The SDK client (for tooling, and tests that need to see or stage raw items).
    pub fn sdk_client(&self) -> &Client {
        &self.inner.client
    }

    // ---- single-item reads ----------------------------------------------------------------

    async fn get(
        &self,
        operation: &'static str,
        table: &str,
        key: Vec<(&str, AttributeValue)>,
    ) -> StoreResult<Option<Item>> {
        let out = self
            .client()
            .get_item()
            .table_name(table)
            .set_key(Some(values(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(operation, table, e))?;
        Ok(out.item)
    }

    /// Every item a consistent `Query` on `table` returns, page after page, decoded. `query`
    /// adds the key condition and its attributes.
    async fn query_all<T>(
        &self,
        operation: &'static str,
        table: &str,
        query: impl Fn(QueryFluentBuilder) -> QueryFluentBuilder,
        decode: impl Fn(&Item) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let out = query(self.client().query().table_name(table))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error(operation, table, e))?;
            for i in out.items() {
                found.push(decode(i)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    /// The catalog revision (strongly consistent).
    async fn counter(&self, operation: &'static str) -> StoreResult<Revision> {
        self.meta_revision(operation, "REVISION").await
    }

    /// The revision kept in the catalog table's `META/<sk>` item (strongly consistent); 0
    /// while it does not exist.
    async fn meta_revision(&self, operation: &'static str, sk: &str) -> StoreResult<Revision> {
        let item = self
            .get(
                operation,
                &self.inner.catalog,
                vec![("pk", s(META)), ("sk", s(sk))],
            )
            .await?;
        match item {
            None => Ok(Revision(0)),
            Some(i) => Record::new(&i, &format!("catalog {META}/{sk}"))
                .u64("rev")
                .map(Revision),
        }
    }
}

#[async_trait]
impl CatalogStore for DynamoStore {
    fn backend_name(&self) -> &'static str {
        "dynamodb"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.counter("ping").await.map(|_| ())
    }

    /// DynamoDB tables have no schema version: they are current when every table, index and
    /// TTL setting `nestor migrate` creates is there (1 of 1), behind otherwise (0 of 1).
    async fn schema_status(&self) -> StoreResult<crate::SchemaStatus> {
        match self.check_tables().await {
            Ok(()) => Ok(crate::SchemaStatus {
                applied: Some(1),
                expected: Some(1),
            }),
            Err(e @ StoreError::Unavailable { .. }) => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "dynamodb tables are not as `nestor migrate` makes them");
                Ok(crate::SchemaStatus {
                    applied: Some(0),
                    expected: Some(1),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded() {
        for attempt in 0..100 {
            let d = backoff(attempt);
            assert!(d >= Duration::from_millis(1) && d <= Duration::from_millis(250));
        }
    }
}
