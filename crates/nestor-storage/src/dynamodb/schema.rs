//! The DynamoDB tables, from their definitions in `migrations/dynamodb/` (the single source of
//! truth: embedded here, read by `nestor migrate` and by the start-up check), and the idempotent
//! migration that creates what is missing.
//!
//! The definition files use the shape of DynamoDB's `CreateTable` input (plus `TimeToLive` and a
//! `Comment`), with the table name without its prefix. Only on-demand billing is supported: the
//! catalog's load is bursty (syncs) and small, and on-demand needs no capacity planning.

use std::time::Duration;

use aws_sdk_dynamodb::{
    Client,
    error::SdkError,
    operation::describe_table::DescribeTableError,
    types::{
        AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
        GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, Projection,
        ProjectionType, ScalarAttributeType, TableDescription, TableStatus,
        TimeToLiveSpecification, TimeToLiveStatus,
    },
};
use serde::Deserialize;

use super::sdk_error;
use crate::{StoreError, StoreResult};

/// The table definitions, embedded from `migrations/dynamodb/`.
const DEFINITIONS: &[(&str, &str)] = &[
    (
        "catalog.json",
        include_str!("../../../../migrations/dynamodb/catalog.json"),
    ),
    (
        "events.json",
        include_str!("../../../../migrations/dynamodb/events.json"),
    ),
    (
        "sync.json",
        include_str!("../../../../migrations/dynamodb/sync.json"),
    ),
];

/// Version of the table set, for [`StoreError::Migration`].
const SCHEMA_VERSION: u32 = 1;

/// How long `migrate` waits for a table or index to become active.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(600);

/// One table definition (the `CreateTable` shape).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TableSpec {
    /// Table name without the prefix.
    pub table_name: String,
    /// What the table holds (documentation only).
    #[serde(default)]
    pub comment: Option<String>,
    /// Types of the key attributes (table and indexes).
    pub attribute_definitions: Vec<AttrSpec>,
    /// The table's key.
    pub key_schema: Vec<KeySpec>,
    /// `PAY_PER_REQUEST` (the only mode supported).
    #[serde(default)]
    pub billing_mode: Option<String>,
    /// Global secondary indexes.
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexSpec>,
    /// The attribute DynamoDB's TTL deletes items by (epoch seconds).
    #[serde(default)]
    pub time_to_live: Option<TtlSpec>,
}

/// `AttributeDefinitions[]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AttrSpec {
    /// Attribute name.
    pub attribute_name: String,
    /// `S`, `N` or `B`.
    pub attribute_type: String,
}

/// `KeySchema[]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KeySpec {
    /// Attribute name.
    pub attribute_name: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

/// `GlobalSecondaryIndexes[]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct IndexSpec {
    /// Index name.
    pub index_name: String,
    /// Its key.
    pub key_schema: Vec<KeySpec>,
    /// What it projects.
    pub projection: ProjectionSpec,
}

/// `Projection`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ProjectionSpec {
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection_type: String,
    /// With `INCLUDE`.
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

/// `TimeToLive`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TtlSpec {
    /// Attribute holding the expiry (epoch seconds).
    pub attribute_name: String,
}

/// The embedded table definitions.
pub fn definitions() -> StoreResult<Vec<TableSpec>> {
    DEFINITIONS
        .iter()
        .map(|(file, json)| {
            serde_json::from_str(json).map_err(|e| StoreError::Migration {
                version: SCHEMA_VERSION,
                message: format!("migrations/dynamodb/{file}: {e}"),
            })
        })
        .collect()
}

/// What a migration did, one line per table, index or setting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Human-readable actions (`created table nestor-catalog`, `nestor-events: up to date`).
    pub actions: Vec<String>,
    /// Whether anything was created or changed.
    pub changed: bool,
}

impl std::fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, a) in self.actions.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            f.write_str(a)?;
        }
        Ok(())
    }
}

fn migration_error(message: String) -> StoreError {
    StoreError::Migration {
        version: SCHEMA_VERSION,
        message,
    }
}

fn key_schema(keys: &[KeySpec], table: &str) -> StoreResult<Vec<KeySchemaElement>> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| migration_error(format!("{table}: key schema: {e}")))
        })
        .collect()
}

fn index(spec: &IndexSpec, table: &str) -> StoreResult<GlobalSecondaryIndex> {
    GlobalSecondaryIndex::builder()
        .index_name(&spec.index_name)
        .set_key_schema(Some(key_schema(&spec.key_schema, table)?))
        .projection(projection(&spec.projection))
        .build()
        .map_err(|e| migration_error(format!("{table}: index {}: {e}", spec.index_name)))
}

fn projection(p: &ProjectionSpec) -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::from(p.projection_type.as_str()))
        .set_non_key_attributes(if p.non_key_attributes.is_empty() {
            None
        } else {
            Some(p.non_key_attributes.clone())
        })
        .build()
}

fn attribute_definitions(spec: &TableSpec, table: &str) -> StoreResult<Vec<AttributeDefinition>> {
    spec.attribute_definitions
        .iter()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .map_err(|e| migration_error(format!("{table}: attribute definitions: {e}")))
        })
        .collect()
}

/// The table's description, or `None` when it does not exist.
pub async fn describe(client: &Client, table: &str) -> StoreResult<Option<TableDescription>> {
    match client.describe_table().table_name(table).send().await {
        Ok(out) => Ok(out.table),
        Err(SdkError::ServiceError(e))
            if matches!(e.err(), DescribeTableError::ResourceNotFoundException(_)) =>
        {
            Ok(None)
        }
        Err(e) => Err(sdk_error("describe table", table, e)),
    }
}

fn same_keys(existing: &[KeySchemaElement], wanted: &[KeySpec]) -> bool {
    existing.len() == wanted.len()
        && existing.iter().zip(wanted).all(|(e, w)| {
            e.attribute_name() == w.attribute_name && e.key_type().as_str() == w.key_type
        })
}

/// Checks that every table exists with the expected key and indexes (the start-up check of
/// `nestor serve`, which never creates tables: that is `nestor migrate`'s job, typically run with
/// more permissions).
pub async fn check(client: &Client, prefix: &str) -> StoreResult<()> {
    for spec in definitions()? {
        let table = format!("{prefix}-{}", spec.table_name);
        let missing = |what: String| StoreError::Backend {
            operation: "open",
            message: format!("{what}: run `nestor migrate` to create the DynamoDB tables"),
        };
        let Some(desc) = describe(client, &table).await? else {
            return Err(missing(format!("table {table} does not exist")));
        };
        if !same_keys(desc.key_schema(), &spec.key_schema) {
            return Err(StoreError::Backend {
                operation: "open",
                message: format!(
                    "table {table} exists with another key schema than migrations/dynamodb/{}.json",
                    spec.table_name
                ),
            });
        }
        for index in &spec.global_secondary_indexes {
            let present = desc
                .global_secondary_indexes()
                .iter()
                .any(|i| i.index_name() == Some(index.index_name.as_str()));
            if !present {
                return Err(missing(format!(
                    "index {} of table {table} does not exist",
                    index.index_name
                )));
            }
        }
    }
    Ok(())
}

/// Creates the missing tables, indexes and TTL settings of every definition, waits until they
/// are active, and says what it did. Safe to run at any time and from several processes at once.
pub async fn migrate(client: &Client, prefix: &str) -> StoreResult<MigrationReport> {
    migrate_specs(client, prefix, &definitions()?).await
}

/// [`migrate`] for the given definitions (tests use their own).
pub async fn migrate_specs(
    client: &Client,
    prefix: &str,
    specs: &[TableSpec],
) -> StoreResult<MigrationReport> {
    let mut report = MigrationReport::default();
    for spec in specs {
        let table = format!("{prefix}-{}", spec.table_name);
        if spec
            .billing_mode
            .as_deref()
            .is_some_and(|m| m != "PAY_PER_REQUEST")
        {
            return Err(migration_error(format!(
                "{table}: only BillingMode PAY_PER_REQUEST is supported"
            )));
        }
        let before = report.actions.len();
        let desc = match describe(client, &table).await? {
            Some(desc) => desc,
            None => {
                create_table(client, &table, spec).await?;
                report.actions.push(format!("created table {table}"));
                wait_active(client, &table, &[]).await?
            }
        };
        if !same_keys(desc.key_schema(), &spec.key_schema) {
            return Err(migration_error(format!(
                "table {table} exists with another key schema than migrations/dynamodb/{}.json; \
                 DynamoDB cannot change a table's key: migrate the data to new tables (another table_prefix)",
                spec.table_name
            )));
        }
        let mut desc = desc;
        for index in &spec.global_secondary_indexes {
            let present = desc
                .global_secondary_indexes()
                .iter()
                .any(|i| i.index_name() == Some(index.index_name.as_str()));
            if present {
                continue;
            }
            // One index at a time, on an active table: DynamoDB refuses anything else.
            wait_active(client, &table, &[]).await?;
            add_index(client, &table, spec, index).await?;
            report
                .actions
                .push(format!("added index {} to {table}", index.index_name));
            desc = wait_active(client, &table, &[index.index_name.as_str()]).await?;
        }
        // Also what an earlier, interrupted run left creating.
        let indexes: Vec<&str> = spec
            .global_secondary_indexes
            .iter()
            .map(|i| i.index_name.as_str())
            .collect();
        wait_active(client, &table, &indexes).await?;
        if let Some(ttl) = &spec.time_to_live
            && enable_ttl(client, &table, &ttl.attribute_name).await?
        {
            report.actions.push(format!(
                "enabled time to live on {table} (attribute {})",
                ttl.attribute_name
            ));
        }
        if report.actions.len() == before {
            report.actions.push(format!("{table}: up to date"));
        } else {
            report.changed = true;
        }
    }
    Ok(report)
}

async fn create_table(client: &Client, table: &str, spec: &TableSpec) -> StoreResult<()> {
    let indexes = spec
        .global_secondary_indexes
        .iter()
        .map(|i| index(i, table))
        .collect::<StoreResult<Vec<_>>>()?;
    let result = client
        .create_table()
        .table_name(table)
        .set_attribute_definitions(Some(attribute_definitions(spec, table)?))
        .set_key_schema(Some(key_schema(&spec.key_schema, table)?))
        .set_global_secondary_indexes(if indexes.is_empty() {
            None
        } else {
            Some(indexes)
        })
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match result {
        Ok(_) => {
            tracing::info!(table, "created DynamoDB table");
            Ok(())
        }
        // Another `nestor migrate` created it in the meantime.
        Err(SdkError::ServiceError(e)) if e.err().is_resource_in_use_exception() => Ok(()),
        Err(e) => Err(sdk_error("create table", table, e)),
    }
}

async fn add_index(
    client: &Client,
    table: &str,
    spec: &TableSpec,
    index_spec: &IndexSpec,
) -> StoreResult<()> {
    let action = CreateGlobalSecondaryIndexAction::builder()
        .index_name(&index_spec.index_name)
        .set_key_schema(Some(key_schema(&index_spec.key_schema, table)?))
        .projection(projection(&index_spec.projection))
        .build()
        .map_err(|e| migration_error(format!("{table}: index {}: {e}", index_spec.index_name)))?;
    let result = client
        .update_table()
        .table_name(table)
        .set_attribute_definitions(Some(attribute_definitions(spec, table)?))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().create(action).build(),
        )
        .send()
        .await;
    match result {
        Ok(_) => {
            tracing::info!(table, index = %index_spec.index_name, "adding DynamoDB index");
            Ok(())
        }
        Err(SdkError::ServiceError(e)) if e.err().is_resource_in_use_exception() => Ok(()),
        Err(e) => Err(sdk_error("add index", table, e)),
    }
}

/// Enables TTL on `attribute` unless it is already; returns whether it changed anything.
async fn enable_ttl(client: &Client, table: &str, attribute: &str) -> StoreResult<bool> {
    let current = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| sdk_error("describe time to live", table, e))?;
    if let Some(d) = current.time_to_live_description() {
        let on = matches!(
            d.time_to_live_status(),
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        );
        if on && d.attribute_name() == Some(attribute) {
            return Ok(false);
        }
    }
    let ttl = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(attribute)
        .build()
        .map_err(|e| migration_error(format!("{table}: time to live: {e}")))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| sdk_error("update time to live", table, e))?;
    Ok(true)
}

/// Waits until the table and the named indexes are active; returns its description.
async fn wait_active(
    client: &Client,
    table: &str,
    indexes: &[&str],
) -> StoreResult<TableDescription> {
    let deadline = tokio::time::Instant::now() + ACTIVE_TIMEOUT;
    let mut delay = Duration::from_millis(100);
    loop {
        if let Some(desc) = describe(client, table).await? {
            // DynamoDB Local leaves an index added to an existing table in CREATING for ever
            // (while serving it); its ARNs name the region `ddblocal`.
            let local = desc.table_arn().is_some_and(|a| a.contains(":ddblocal:"));
            let table_active = desc.table_status() == Some(&TableStatus::Active);
            let indexes_active = indexes.iter().all(|name| {
                desc.global_secondary_indexes().iter().any(|i| {
                    i.index_name() == Some(*name)
                        && (i.index_status() == Some(&IndexStatus::Active)
                            || (local && i.index_status() == Some(&IndexStatus::Creating)))
                })
            });
            if table_active && indexes_active {
                return Ok(desc);
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(migration_error(format!(
                "{table}{} did not become ACTIVE within {} s; run `nestor migrate` again to go on waiting",
                if indexes.is_empty() {
                    String::new()
                } else {
                    format!(" (indexes {})", indexes.join(", "))
                },
                ACTIVE_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_definitions_parse() {
        let specs = definitions().unwrap();
        let names: Vec<&str> = specs.iter().map(|s| s.table_name.as_str()).collect();
        assert_eq!(
            names,
            [
                super::super::CATALOG,
                super::super::EVENTS,
                super::super::SYNC
            ]
        );
        for s in &specs {
            assert_eq!(s.billing_mode.as_deref(), Some("PAY_PER_REQUEST"));
            for k in &s.key_schema {
                assert!(
                    s.attribute_definitions
                        .iter()
                        .any(|a| a.attribute_name == k.attribute_name),
                    "{}: key {} has no attribute definition",
                    s.table_name,
                    k.attribute_name
                );
            }
        }
    }
}
