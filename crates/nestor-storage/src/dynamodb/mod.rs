//! The DynamoDB backend: production and several replicas on one catalog.
//!
//! Three tables (definitions in `migrations/dynamodb/`, design and costs in `docs/storage.md`):
//!
//! * `<prefix>-catalog`: the revision counter and the log's retention floor (`pk = META`), one
//!   item per component name in a single `NAMES` partition sorted by name (owner, every version
//!   with its yanked flag, the latest pointers), and one item per version (`pk = C#<name>`,
//!   `sk = <version>`, the component as JSON).
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

mod item;
mod schema;

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    config::{BehaviorVersion, Credentials, Region},
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    operation::transact_write_items::TransactWriteItemsError,
    types::{
        AttributeValue, DeleteRequest, KeysAndAttributes, Put, ReturnValue, TransactWriteItem,
        WriteRequest,
    },
};
use nestor_model::{
    ChangeEvent, Component, ComponentFilter, EventType, Revision, SearchHit, SourceState, SyncRun,
};
use semver::Version;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{
    CatalogStore, ChangeFeed, ComponentReader, ComponentSearch, ComponentWriter, LatestPage,
    LatestQuery, Pruned, Retention, Snapshot, StoreError, StoreResult, SyncStore, pick_latest,
    sort_newest_first, traits::search_by_scan,
};
use item::{Item, Record, json, n, s, values};
pub use schema::{MigrationReport, TableSpec};

/// Table name suffixes (after `<prefix>-`), as in `migrations/dynamodb/*.json`.
const CATALOG: &str = "catalog";
const EVENTS: &str = "events";
const SYNC: &str = "sync";

/// Partition keys of the catalog table.
const META: &str = "META";
const NAMES: &str = "NAMES";
const VERSION_PREFIX: &str = "C#";
/// The one partition of the events table.
const LOG: &str = "main";

/// How many of the latest commits a snapshot read checks against the log: DynamoDB applies a
/// committed transaction's items one by one, so a read may see a commit's counter and not yet
/// its other items; the commits before those few have long finished landing (see
/// docs/storage.md, *Snapshots*).
const SETTLE_WINDOW: u64 = 8;

/// How a [`DynamoStore`] reaches DynamoDB. Unset fields fall back to AWS's standard resolution
/// (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`…, profiles, instance roles).
#[derive(Debug, Clone)]
pub struct DynamoDbOptions {
    /// Endpoint URL (DynamoDB Local, a proxy); unset = AWS's.
    pub endpoint: Option<String>,
    /// Region; unset = the environment's (`us-east-1` when only an endpoint is set).
    pub region: Option<String>,
    /// Tables are `<prefix>-catalog`, `<prefix>-events` and `<prefix>-sync`.
    pub table_prefix: String,
    /// Time to open a connection.
    pub connect_timeout: Duration,
    /// Time for one attempt of a request.
    pub attempt_timeout: Duration,
    /// Time for a request, retries included.
    pub operation_timeout: Duration,
    /// Attempts of a request that failed transiently (throttling, 5xx, timeouts), first included.
    pub max_attempts: u32,
    /// Attempts of a write that lost a race for the revision counter to another writer.
    pub write_attempts: u32,
    /// Fixed credentials instead of the standard chain (DynamoDB Local in tests).
    pub static_credentials: Option<StaticCredentials>,
}

/// An access key pair.
#[derive(Clone)]
pub struct StaticCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Default for DynamoDbOptions {
    fn default() -> Self {
        DynamoDbOptions {
            endpoint: None,
            region: None,
            table_prefix: "nestor".into(),
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(20),
            max_attempts: 4,
            write_attempts: 100,
            static_credentials: None,
        }
    }
}

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

/// Maps an SDK error to a [`StoreError`] naming the operation and table: throttling, server
/// errors, timeouts and unreachable endpoints are [`StoreError::Unavailable`] (retriable).
pub(crate) fn sdk_error<E, R>(
    operation: &'static str,
    table: &str,
    err: SdkError<E, R>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let message = format!("{table}: {}", DisplayErrorContext(&err));
    let retriable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => matches!(
            e.err().code(),
            Some(
                "ThrottlingException"
                    | "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "TransactionInProgressException"
                    | "LimitExceededException"
            )
        ),
        _ => false,
    };
    if retriable {
        return StoreError::Unavailable { operation, message };
    }
    if err.code() == Some("ResourceNotFoundException") {
        return StoreError::Backend {
            operation,
            message: format!("{message} (run `nestor migrate` to create the tables)"),
        };
    }
    StoreError::Backend { operation, message }
}

fn build_error(
    operation: &'static str,
) -> impl Fn(aws_sdk_dynamodb::error::BuildError) -> StoreError {
    move |e| StoreError::Backend {
        operation,
        message: format!("building the request: {e}"),
    }
}

/// Full-jitter exponential backoff for the `attempt`-th retry (0-based).
fn backoff(attempt: u32) -> Duration {
    let cap_ms = 5u64.saturating_mul(1 << attempt.min(6)).min(250);
    Duration::from_millis(fastrand::u64(1..=cap_ms))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What is known about a component name (its item in the `NAMES` partition).
#[derive(Debug, Clone, Default)]
struct NameEntry {
    owner: String,
    created_at: String,
    /// version string → yanked
    versions: BTreeMap<String, bool>,
    /// Revision of the last write to any version of the name; 0 when the name is new.
    rev: u64,
}

impl NameEntry {
    fn decode(item: &Item, name: &str) -> StoreResult<Self> {
        let what = format!("catalog {NAMES}/{name}");
        let r = Record::new(item, &what);
        Ok(NameEntry {
            owner: r.str("owner")?.to_owned(),
            created_at: r.opt_str("created_at")?.unwrap_or_default().to_owned(),
            versions: r.bool_map("versions")?.into_iter().collect(),
            rev: r.u64("rev")?,
        })
    }

    /// The item, with the latest pointers computed from the versions.
    fn encode(&self, name: &str) -> StoreResult<Item> {
        let parsed = self
            .versions
            .iter()
            .map(|(v, yanked)| {
                Version::parse(v)
                    .map(|p| (p, v, *yanked))
                    .map_err(|e| StoreError::Corrupt {
                        what: format!("{name}@{v}"),
                        message: e.to_string(),
                    })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let pointer = |include_prerelease| {
            pick_latest(parsed.iter().map(|(p, _, y)| (p, *y)), include_prerelease).and_then(
                |latest| {
                    parsed
                        .iter()
                        .find(|(p, _, _)| p == latest)
                        .map(|(_, v, _)| (*v).clone())
                },
            )
        };
        let mut item: Item = [
            ("pk".to_owned(), s(NAMES)),
            ("sk".to_owned(), s(name)),
            ("owner".to_owned(), s(&self.owner)),
            ("created_at".to_owned(), s(&self.created_at)),
            (
                "versions".to_owned(),
                AttributeValue::M(
                    self.versions
                        .iter()
                        .map(|(v, y)| (v.clone(), AttributeValue::Bool(*y)))
                        .collect(),
                ),
            ),
            ("rev".to_owned(), n(self.rev)),
        ]
        .into_iter()
        .collect();
        if let Some(v) = pointer(false) {
            item.insert("stable".into(), s(v));
        }
        if let Some(v) = pointer(true) {
            item.insert("any".into(), s(v));
        }
        Ok(item)
    }
}

/// What one read of a `list_latest` page saw.
struct PageRead {
    page: LatestPage,
    /// The highest revision among the items read.
    seen: Revision,
    /// Every name item read, with what it pointed at.
    names: HashMap<String, NameRead>,
    /// The last name the page depends on; `None`: every name after the cursor.
    bound: Option<String>,
}

/// A name item as a `list_latest` read saw it.
struct NameRead {
    rev: Revision,
    /// The latest version read for it, and that version's revision.
    latest: Option<(String, Revision)>,
}

impl PageRead {
    /// Whether the page reflects each of `events` (commits up to the page's revision) that
    /// concerns a name in its range: a name item or latest version read older than such an
    /// event means that commit was still landing.
    fn reflects(&self, after: Option<&str>, events: &[ChangeEvent]) -> bool {
        events.iter().all(|e| {
            let name = e.name.as_str();
            let in_range =
                after.is_none_or(|a| name > a) && self.bound.as_deref().is_none_or(|b| name <= b);
            if !in_range {
                return true;
            }
            self.names.get(name).is_some_and(|n| {
                n.rev >= e.revision
                    && n.latest
                        .as_ref()
                        .is_none_or(|(v, rev)| *v != e.version || *rev >= e.revision)
            })
        })
    }
}

/// A condition expression, its attribute names and its values.
struct Condition<'a>(
    &'a str,
    &'a [(&'a str, &'a str)],
    Vec<(&'a str, AttributeValue)>,
);

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

impl DynamoStore {
    /// A store on the tables named by `options` (no request is made: see
    /// [`DynamoStore::check_tables`] and [`DynamoStore::migrate`]).
    pub async fn new(options: &DynamoDbOptions) -> StoreResult<Self> {
        let client = client(options).await?;
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

    /// The catalog revision (strongly consistent).
    async fn counter(&self, operation: &'static str) -> StoreResult<Revision> {
        let item = self
            .get(
                operation,
                &self.inner.catalog,
                vec![("pk", s(META)), ("sk", s("REVISION"))],
            )
            .await?;
        match item {
            None => Ok(Revision(0)),
            Some(i) => Record::new(&i, "catalog META/REVISION")
                .u64("rev")
                .map(Revision),
        }
    }

    async fn name_entry(
        &self,
        operation: &'static str,
        name: &str,
    ) -> StoreResult<Option<NameEntry>> {
        self.get(
            operation,
            &self.inner.catalog,
            vec![("pk", s(NAMES)), ("sk", s(name))],
        )
        .await?
        .map(|i| NameEntry::decode(&i, name))
        .transpose()
    }

    async fn version_item(
        &self,
        operation: &'static str,
        name: &str,
        version: &str,
    ) -> StoreResult<Option<Component>> {
        self.get(
            operation,
            &self.inner.catalog,
            vec![
                ("pk", s(format!("{VERSION_PREFIX}{name}"))),
                ("sk", s(version)),
            ],
        )
        .await?
        .map(|i| decode_version(&i))
        .transpose()
    }

    // ---- writes -----------------------------------------------------------------------------

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
            .set_expression_attribute_values(if vals.is_empty() {
                None
            } else {
                Some(values(vals))
            })
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
        let counter = if current.0 == 0 {
            self.put(
                operation,
                &self.inner.catalog,
                counter_item,
                "attribute_not_exists(#pk)",
                &[("#pk", "pk")],
                vec![],
            )?
        } else {
            self.put(
                operation,
                &self.inner.catalog,
                counter_item,
                "#rev = :expected",
                &[("#rev", "rev")],
                vec![(":expected", n(current.0))],
            )?
        };
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
                vec![(":expected", n(rev.0))],
            ),
        }
    }

    fn name_put(
        &self,
        operation: &'static str,
        name: &str,
        entry: &NameEntry,
        previous_rev: Option<u64>,
    ) -> StoreResult<TransactWriteItem> {
        let item = entry.encode(name)?;
        match previous_rev {
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

    // ---- snapshot reads ---------------------------------------------------------------------

    /// Every event in `(from, to]`, read after the data it vouches for. `None` when one is
    /// missing: a commit still landing (the caller reads again). Events at or below the
    /// retention floor may be missing: they were pruned, long after they landed.
    async fn settled_events(
        &self,
        operation: &'static str,
        from: Revision,
        to: Revision,
    ) -> StoreResult<Option<Vec<ChangeEvent>>> {
        if to <= from {
            return Ok(Some(Vec::new()));
        }
        let table = &self.inner.events;
        let mut events: Vec<ChangeEvent> = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client()
                .query()
                .table_name(table)
                .key_condition_expression("#log = :log AND #rev BETWEEN :lo AND :hi")
                .expression_attribute_names("#log", "log")
                .expression_attribute_names("#rev", "rev")
                .expression_attribute_values(":log", s(LOG))
                .expression_attribute_values(":lo", n(from.0 + 1))
                .expression_attribute_values(":hi", n(to.0))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error(operation, table, e))?;
            for i in out.items() {
                events.push(decode_event(i)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
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
    async fn roll_forward(
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

    /// Every version of `name` (consistent Query of its partition).
    async fn query_versions(&self, name: &str) -> StoreResult<Vec<Component>> {
        let table = &self.inner.catalog;
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client()
                .query()
                .table_name(table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":pk", s(format!("{VERSION_PREFIX}{name}")))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("list versions", table, e))?;
            for i in out.items() {
                items.push(decode_version(i)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Every version of every name (consistent, paginated Scan of the catalog table).
    async fn scan_versions(&self) -> StoreResult<Vec<Component>> {
        let table = &self.inner.catalog;
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client()
                .scan()
                .table_name(table)
                .filter_expression("begins_with(#pk, :prefix)")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":prefix", s(VERSION_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("list all", table, e))?;
            for i in out.items() {
                items.push(decode_version(i)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Versions by `(name, version)` key, strongly consistent, in batches of 100.
    async fn batch_get_versions(
        &self,
        keys: &[(String, String)],
    ) -> StoreResult<HashMap<(String, String), Component>> {
        let table = &self.inner.catalog;
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let mut pending: Vec<Item> = chunk
                .iter()
                .map(|(name, version)| {
                    values(vec![
                        ("pk", s(format!("{VERSION_PREFIX}{name}"))),
                        ("sk", s(version)),
                    ])
                })
                .collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(build_error("list latest"))?;
                let out = self
                    .client()
                    .batch_get_item()
                    .request_items(table.clone(), request)
                    .send()
                    .await
                    .map_err(|e| sdk_error("list latest", table, e))?;
                if let Some(items) = out.responses.as_ref().and_then(|r| r.get(table.as_str())) {
                    for i in items {
                        let c = decode_version(i)?;
                        found.insert((c.spec.name.clone(), c.spec.version.clone()), c);
                    }
                }
                // Unprocessed keys (throttling, response size): again, after a pause.
                if let Some(rest) = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(table.as_str()))
                {
                    pending = rest.keys;
                    if !pending.is_empty() {
                        if attempt >= 10 {
                            return Err(StoreError::Unavailable {
                                operation: "list latest",
                                message: format!(
                                    "{table}: keys left unprocessed after {attempt} retries"
                                ),
                            });
                        }
                        tokio::time::sleep(backoff(attempt)).await;
                        attempt += 1;
                    }
                }
            }
        }
        Ok(found)
    }

    /// One read of a `list_latest` page, with what it read.
    async fn read_latest_page(&self, q: &LatestQuery) -> StoreResult<PageRead> {
        let table = &self.inner.catalog;
        let batch = (q.limit + 1).clamp(25, 500);
        let mut after = q.after.clone();
        let mut items = Vec::new();
        let mut seen = Revision(0);
        let mut names: HashMap<String, NameRead> = HashMap::new();
        loop {
            let mut query = self
                .client()
                .query()
                .table_name(table)
                .consistent_read(true)
                .limit(batch as i32)
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":pk", s(NAMES));
            query = match &after {
                Some(a) => query
                    .key_condition_expression("#pk = :pk AND #sk > :after")
                    .expression_attribute_names("#sk", "sk")
                    .expression_attribute_values(":after", s(a)),
                None => query.key_condition_expression("#pk = :pk"),
            };
            let out = query
                .send()
                .await
                .map_err(|e| sdk_error("list latest", table, e))?;
            let pointer = if q.include_prerelease {
                "any"
            } else {
                "stable"
            };
            let mut wanted = Vec::new();
            for i in out.items() {
                let name = Record::new(i, "catalog NAMES item").str("sk")?.to_owned();
                let what = format!("catalog {NAMES}/{name}");
                let r = Record::new(i, &what);
                let rev = Revision(r.u64("rev")?);
                seen = seen.max(rev);
                if let Some(v) = r.opt_str(pointer)? {
                    wanted.push((name.clone(), v.to_owned()));
                }
                names.insert(name.clone(), NameRead { rev, latest: None });
                after = Some(name);
            }
            let exhausted = out.last_evaluated_key.is_none();
            let fetched = self.batch_get_versions(&wanted).await?;
            for key in wanted {
                let c = fetched.get(&key).ok_or_else(|| StoreError::Corrupt {
                    what: format!("catalog {NAMES}/{}", key.0),
                    message: format!("its latest version {} has no item", key.1),
                })?;
                seen = seen.max(c.revision);
                if let Some(n) = names.get_mut(&key.0) {
                    n.latest = Some((key.1.clone(), c.revision));
                }
                if !q.filter.matches(c) {
                    continue;
                }
                if items.len() == q.limit {
                    return Ok(PageRead {
                        page: LatestPage { items, more: true },
                        seen,
                        names,
                        bound: Some(key.0),
                    });
                }
                items.push(c.clone());
            }
            if exhausted {
                return Ok(PageRead {
                    page: LatestPage { items, more: false },
                    seen,
                    names,
                    bound: None,
                });
            }
        }
    }

    // ---- sync table -------------------------------------------------------------------------

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
                .set_expression_attribute_values(if vals.is_empty() {
                    None
                } else {
                    Some(values(vals))
                });
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

fn decode_version(item: &Item) -> StoreResult<Component> {
    let what = match (item.get("pk"), item.get("sk")) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => format!("catalog {pk}/{sk}"),
        _ => "catalog version item".to_owned(),
    };
    let r = Record::new(item, &what);
    let c: Component = r.json("body")?;
    let rev = r.u64("rev")?;
    if c.revision.0 != rev {
        return Err(StoreError::Corrupt {
            what,
            message: format!("body has revision {}, item has {rev}", c.revision),
        });
    }
    Ok(c)
}

fn decode_event(item: &Item) -> StoreResult<ChangeEvent> {
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

/// The SDK client for `options`: AWS's standard configuration chain, overridden by the options,
/// with an HTTPS client on rustls with the ring provider.
async fn client(options: &DynamoDbOptions) -> StoreResult<Client> {
    use aws_config::{retry::RetryConfig, timeout::TimeoutConfig};
    use aws_smithy_http_client::tls;

    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(options.connect_timeout)
                .operation_attempt_timeout(options.attempt_timeout)
                .operation_timeout(options.operation_timeout)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(options.max_attempts.max(1)));
    match (&options.region, &options.endpoint) {
        (Some(r), _) => loader = loader.region(Region::new(r.clone())),
        // A custom endpoint (DynamoDB Local) needs some region to sign with; AWS_REGION wins.
        (None, Some(_)) if std::env::var_os("AWS_REGION").is_none() => {
            loader = loader.region(Region::from_static("us-east-1"));
        }
        _ => {}
    }
    if let Some(e) = &options.endpoint {
        loader = loader.endpoint_url(e);
    }
    if let Some(c) = &options.static_credentials {
        loader = loader.credentials_provider(Credentials::new(
            &c.access_key_id,
            &c.secret_access_key,
            None,
            None,
            "nestor-static",
        ));
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(StoreError::Backend {
            operation: "open",
            message: "no AWS region: set storage.dynamodb.region or AWS_REGION".into(),
        });
    }
    let config = aws_sdk_dynamodb::config::Builder::from(&config)
        .interceptor(CountRequests)
        .build();
    Ok(Client::from_conf(config))
}

/// Counts every request sent to DynamoDB (each attempt, retries included), by operation, as the
/// metric `nestor_dynamodb_requests_total`: what the API costs in DynamoDB calls.
#[derive(Debug)]
struct CountRequests;

impl aws_sdk_dynamodb::config::Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "nestor-count-requests"
    }

    fn read_before_transmit(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        use std::sync::OnceLock;
        static C: OnceLock<opentelemetry::metrics::Counter<u64>> = OnceLock::new();
        let operation = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .map_or_else(|| "unknown".to_owned(), |m| m.name().to_owned());
        C.get_or_init(|| {
            opentelemetry::global::meter("nestor")
                .u64_counter("nestor.dynamodb.requests")
                .with_description("Requests sent to DynamoDB (each attempt), by operation")
                .build()
        })
        .add(1, &[opentelemetry::KeyValue::new("operation", operation)]);
        Ok(())
    }
}

#[async_trait]
impl ComponentReader for DynamoStore {
    async fn get_version(&self, name: &str, version: &Version) -> StoreResult<Option<Component>> {
        self.version_item("get version", name, &version.to_string())
            .await
    }

    async fn list_versions(&self, name: &str) -> StoreResult<Snapshot<Vec<Component>>> {
        for attempt in 0..self.inner.write_attempts {
            let r0 = self.counter("list versions").await?;
            let items = self.query_versions(name).await?;
            if let Some(mut snap) = self
                .roll_forward("list versions", r0, items, |c| c.spec.name == name)
                .await?
            {
                sort_newest_first(&mut snap.value);
                return Ok(snap);
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        Err(StoreError::Unavailable {
            operation: "list versions",
            message: format!(
                "{}: no consistent read while the log moves",
                self.inner.catalog
            ),
        })
    }

    async fn list_latest(&self, q: &LatestQuery) -> StoreResult<Snapshot<LatestPage>> {
        // A page is valid at `r0` when nothing it read changed after `r0` and it reflects the
        // last commits up to `r0`; otherwise read again (a page is a few requests: a write
        // landing on one of its names in that window is rare, and the retry is cheap).
        for attempt in 0..self.inner.write_attempts {
            let r0 = self.counter("list latest").await?;
            let read = self.read_latest_page(q).await?;
            if read.seen <= r0 {
                let from = Revision(r0.0.saturating_sub(SETTLE_WINDOW));
                if let Some(recent) = self.settled_events("list latest", from, r0).await?
                    && read.reflects(q.after.as_deref(), &recent)
                {
                    return Ok(Snapshot {
                        value: read.page,
                        revision: r0,
                    });
                }
            }
            tokio::time::sleep(backoff(attempt.min(3))).await;
        }
        Err(StoreError::Unavailable {
            operation: "list latest",
            message: format!(
                "{}: no consistent page while the catalog changes",
                self.inner.catalog
            ),
        })
    }

    async fn name_owner(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(self.name_entry("name owner", name).await?.map(|e| e.owner))
    }

    async fn list_all(&self) -> StoreResult<Snapshot<Vec<Component>>> {
        for attempt in 0..self.inner.write_attempts {
            let r0 = self.counter("list all").await?;
            let items = self.scan_versions().await?;
            if let Some(mut snap) = self.roll_forward("list all", r0, items, |_| true).await? {
                snap.value.sort_by(|a, b| {
                    (&a.spec.name, &a.spec.version).cmp(&(&b.spec.name, &b.spec.version))
                });
                return Ok(snap);
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        Err(StoreError::Unavailable {
            operation: "list all",
            message: format!(
                "{}: no consistent snapshot while the log moves",
                self.inner.catalog
            ),
        })
    }
}

#[async_trait]
impl ComponentWriter for DynamoStore {
    async fn insert_version(&self, component: Component, owner: &str) -> StoreResult<ChangeEvent> {
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
            let next = current.next();
            let mut stored = component.clone();
            stored.revision = next;
            let event = ChangeEvent {
                revision: next,
                event_type: EventType::Published,
                name: name.clone(),
                version: version.clone(),
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
                    // The event's slot taken while the counter was as read: the log is ahead
                    // of the counter. (Both failing is only a stale read of the counter.)
                    if cancelled.condition_failed(1) && !cancelled.condition_failed(0) {
                        return Err(StoreError::Corrupt {
                            what: format!("{} {next}", self.inner.events),
                            message: format!(
                                "the event exists although the revision counter says {current}"
                            ),
                        });
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
                    // The event's slot taken while the counter was as read: the log is ahead
                    // of the counter. (Both failing is only a stale read of the counter.)
                    if cancelled.condition_failed(1) && !cancelled.condition_failed(0) {
                        return Err(StoreError::Corrupt {
                            what: format!("{} {next}", self.inner.events),
                            message: format!(
                                "the event exists although the revision counter says {current}"
                            ),
                        });
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
                .client()
                .query()
                .table_name(table)
                .key_condition_expression("#log = :log AND #rev > :after")
                .expression_attribute_names("#log", "log")
                .expression_attribute_names("#rev", "rev")
                .expression_attribute_values(":log", s(LOG))
                .expression_attribute_values(":after", n(after.0))
                .consistent_read(true)
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
        let item = self
            .get(
                "retained after",
                &self.inner.catalog,
                vec![("pk", s(META)), ("sk", s("RETAINED"))],
            )
            .await?;
        match item {
            None => Ok(Revision(0)),
            Some(i) => Record::new(&i, "catalog META/RETAINED")
                .u64("rev")
                .map(Revision),
        }
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
                .client()
                .query()
                .table_name(table)
                .key_condition_expression("#log = :log AND #rev > :after")
                .expression_attribute_names("#log", "log")
                .expression_attribute_names("#rev", "rev")
                .expression_attribute_names("#at", "at")
                .projection_expression("#rev, #at")
                .expression_attribute_values(":log", s(LOG))
                .expression_attribute_values(":after", n(after.0))
                .consistent_read(true)
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

#[async_trait]
impl ComponentSearch for DynamoStore {
    async fn search(
        &self,
        query: &str,
        filter: &ComponentFilter,
        limit: usize,
    ) -> StoreResult<Snapshot<Vec<SearchHit>>> {
        search_by_scan(self, query, filter, limit).await
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

fn run_key(id: u64) -> AttributeValue {
    // Zero-padded so that the string sort key orders runs by id.
    s(format!("{id:020}"))
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
        let item = values(vec![
            ("pk", s("RUN")),
            ("sk", run_key(run.id)),
            ("source_id", s(&run.source_id)),
            ("body", json(&run)?),
        ]);
        self.put_sync(OP, item, None).await?;
        Ok(run)
    }

    async fn update_sync_run(&self, run: &SyncRun) -> StoreResult<()> {
        const OP: &str = "update sync run";
        let item = values(vec![
            ("pk", s("RUN")),
            ("sk", run_key(run.id)),
            ("source_id", s(&run.source_id)),
            ("body", json(run)?),
        ]);
        let existed = self
            .put_sync(
                OP,
                item,
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
        let now = now_ms();
        let expires = now.saturating_add(ttl.as_millis().min(u64::MAX as u128) as u64);
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
        let now = now_ms();
        let expires = now.saturating_add(ttl.as_millis().min(u64::MAX as u128) as u64);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_items_point_at_the_latest_versions() {
        let entry = NameEntry {
            owner: "o".into(),
            created_at: String::new(),
            versions: [
                ("1.0.0".to_owned(), false),
                ("1.10.0".to_owned(), true),
                ("1.9.0".to_owned(), false),
                ("2.0.0-rc.1".to_owned(), false),
            ]
            .into_iter()
            .collect(),
            rev: 4,
        };
        let item = entry.encode("pg").unwrap();
        let r = Record::new(&item, "t");
        assert_eq!(r.str("stable").unwrap(), "1.9.0");
        assert_eq!(r.str("any").unwrap(), "2.0.0-rc.1");
        let back = NameEntry::decode(&item, "pg").unwrap();
        assert_eq!(back.versions, entry.versions);
        assert_eq!(back.rev, 4);
    }

    #[test]
    fn backoff_is_bounded() {
        for attempt in 0..100 {
            let d = backoff(attempt);
            assert!(d >= Duration::from_millis(1) && d <= Duration::from_millis(250));
        }
    }
}
