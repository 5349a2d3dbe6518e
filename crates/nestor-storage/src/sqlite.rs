//! The embedded SQLite backend (the default): one file, WAL mode, schema from
//! `migrations/sqlite/`.
//!
//! rusqlite is blocking, so every operation runs on `spawn_blocking`. One writer connection
//! (SQLite serializes writers anyway) and a small pool of reader connections, which in WAL mode
//! read a consistent snapshot while the writer commits. Each read that returns a revision does
//! so inside one read transaction, so the revision is exactly that of the data returned.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use nestor_model::{ChangeEvent, Component, EventType, Revision};
use nestor_model::{SourceState, SyncRun};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use semver::Version;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{
    CatalogStore, ChangeFeed, ComponentReader, ComponentWriter, LatestPage, LatestQuery,
    NameCondition, Pruned, Retention, Snapshot, StoreError, StoreResult, SyncStore, pick_latest,
    sort_newest_first,
};

/// Schema migrations, in order; the index + 1 is the schema version.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/sqlite/0001_init.sql"),
    include_str!("../../../migrations/sqlite/0002_sync.sql"),
    include_str!("../../../migrations/sqlite/0003_owners.sql"),
];

/// Concurrent reads, and reader connections kept open. Reads beyond it wait their turn: without
/// a bound, a burst of reads (thousands of event streams starting at once) opened a connection
/// and a blocking thread per read, each with its own page cache, and memory followed.
const READER_POOL: usize = 8;

/// SQLite-backed [`CatalogStore`].
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    read_permits: tokio::sync::Semaphore,
}

fn db_err(operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable {
                operation,
                message: e.to_string(),
            }
        }
        _ => StoreError::Backend {
            operation,
            message: e.to_string(),
        },
    }
}

fn corrupt(what: impl Into<String>) -> impl FnOnce(serde_json::Error) -> StoreError {
    let what = what.into();
    move |e| StoreError::Corrupt {
        what,
        message: e.to_string(),
    }
}

fn decode_component(body: &str, what: impl Into<String>) -> StoreResult<Component> {
    serde_json::from_str(body).map_err(corrupt(what))
}

fn encode<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend {
        operation: "encode",
        message: e.to_string(),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded connection holds no Rust-side invariant a panic could break; SQLite rolls back
    // any transaction left open when its guard is dropped.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SqliteStore {
    /// Up to `limit` versions after `(name, version)` (all from the start without), ordered by
    /// name then version string, read in one transaction so that the revision is the rows'.
    async fn versions_after(
        &self,
        op: &'static str,
        after: Option<(String, String)>,
        limit: i64,
    ) -> StoreResult<Snapshot<Vec<Component>>> {
        self.read(op, move |conn| {
            conn.execute_batch("BEGIN DEFERRED").map_err(db_err(op))?;
            let result = (|| {
                let revision = revision(conn)?;
                let first = after.is_none();
                let (name, version) = after.unwrap_or_default();
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT name, version, body FROM versions \
                         WHERE ?1 = 0 OR (name, version) > (?2, ?3) \
                         ORDER BY name, version LIMIT ?4",
                    )
                    .map_err(db_err(op))?;
                let rows = stmt
                    .query_map(params![!first, name, version, limit], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    })
                    .map_err(db_err(op))?;
                let value = rows
                    .map(|row| {
                        let (name, version, body) = row.map_err(db_err(op))?;
                        decode_component(&body, format!("{name}@{version}"))
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(Snapshot { value, revision })
            })();
            let _ = conn.execute_batch("COMMIT");
            result
        })
        .await
    }

    /// Opens (creating it and its directory if needed) the database at `path` and applies any
    /// pending migration.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Backend {
                operation: "open",
                message: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        let mut writer = Connection::open(&path).map_err(|e| StoreError::Backend {
            operation: "open",
            message: format!("{}: {e}", path.display()),
        })?;
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA busy_timeout = 5000;",
            )
            .map_err(db_err("open"))?;
        migrate(&mut writer)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                read_permits: tokio::sync::Semaphore::new(READER_POOL),
            }),
        })
    }

    /// Applies pending migrations to the database at `path` without keeping it open; returns the
    /// schema versions applied (empty when already up to date).
    pub fn migrate(path: impl AsRef<Path>) -> StoreResult<Vec<u32>> {
        let store = Self::open_unmigrated(path.as_ref())?;
        let mut conn = lock(&store);
        migrate(&mut conn)
    }

    fn open_unmigrated(path: &Path) -> StoreResult<Mutex<Connection>> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Backend {
                operation: "migrate",
                message: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        let conn = Connection::open(path).map_err(db_err("migrate"))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;")
            .map_err(db_err("migrate"))?;
        Ok(Mutex::new(conn))
    }

    /// The latest schema version this build knows.
    pub fn latest_schema_version() -> u32 {
        MIGRATIONS.len() as u32
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn read<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let _permit =
            self.inner
                .read_permits
                .acquire()
                .await
                .map_err(|_| StoreError::Unavailable {
                    operation,
                    message: "the store is closing".into(),
                })?;
        let inner = self.inner.clone();
        run_blocking(operation, move || {
            let conn = match lock(&inner.readers).pop() {
                Some(c) => c,
                None => {
                    let c = Connection::open_with_flags(
                        &inner.path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY
                            | OpenFlags::SQLITE_OPEN_NO_MUTEX
                            | OpenFlags::SQLITE_OPEN_URI,
                    )
                    .map_err(db_err(operation))?;
                    c.busy_timeout(std::time::Duration::from_secs(5))
                        .map_err(db_err(operation))?;
                    c
                }
            };
            let result = f(&conn);
            let mut pool = lock(&inner.readers);
            if pool.len() < READER_POOL {
                pool.push(conn);
            }
            result
        })
        .await
    }

    async fn write<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let inner = self.inner.clone();
        run_blocking(operation, move || {
            let mut conn = lock(&inner.writer);
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err(operation))?;
            let value = f(&tx)?;
            tx.commit().map_err(db_err(operation))?;
            Ok(value)
        })
        .await
    }
}

async fn run_blocking<T: Send + 'static>(
    operation: &'static str,
    f: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Backend {
            operation,
            message: format!("blocking task failed: {e}"),
        })?
}

fn migrate(conn: &mut Connection) -> StoreResult<Vec<u32>> {
    let current: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_err("migrate"))?;
    let mut applied = Vec::new();
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as u32 + 1;
        let tx = conn.transaction().map_err(db_err("migrate"))?;
        tx.execute_batch(sql)
            .and_then(|()| tx.pragma_update(None, "user_version", version))
            .and_then(|()| tx.commit())
            .map_err(|e| StoreError::Migration {
                version,
                message: e.to_string(),
            })?;
        tracing::info!(version, "applied sqlite migration");
        applied.push(version);
    }
    if current as usize > MIGRATIONS.len() {
        return Err(StoreError::Migration {
            version: current,
            message: format!(
                "the database has schema version {current}, newer than this build knows ({}); upgrade nestor",
                MIGRATIONS.len()
            ),
        });
    }
    Ok(applied)
}

fn revision(conn: &Connection) -> StoreResult<Revision> {
    conn.query_row("SELECT value FROM meta WHERE key = 'revision'", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|v| Revision(v as u64))
    .map_err(db_err("read revision"))
}

/// Events after this revision are retained (0 until the first prune).
fn retained_after(conn: &Connection) -> StoreResult<Revision> {
    conn.query_row(
        "SELECT value FROM meta WHERE key = 'retained_after'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map(|v| Revision(v.unwrap_or(0) as u64))
    .map_err(db_err("read retained_after"))
}

/// Bumps the revision, stamps the component with it and appends its event.
fn append_event(
    tx: &rusqlite::Transaction<'_>,
    component: &mut Component,
    event_type: EventType,
) -> StoreResult<ChangeEvent> {
    let rev = revision(tx)?.next();
    component.revision = rev;
    let event = ChangeEvent {
        revision: rev,
        event_type,
        name: component.spec.name.clone(),
        version: component.spec.version.clone(),
        changed_by: component.changed_by.clone(),
        component: component.clone(),
        occurred_at: OffsetDateTime::now_utc(),
    };
    let at = event.occurred_at.format(&Rfc3339).unwrap_or_default();
    tx.execute(
        "INSERT INTO events (revision, type, name, version, occurred_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![rev.0 as i64, event_type.as_str(), event.name, event.version, at, encode(&event)?],
    )
    .map_err(db_err("append event"))?;
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'revision'",
        params![rev.0 as i64],
    )
    .map_err(db_err("bump revision"))?;
    Ok(event)
}

/// Recomputes the latest pointers of `name` from its versions.
fn refresh_latest(tx: &rusqlite::Transaction<'_>, name: &str) -> StoreResult<()> {
    let mut stmt = tx
        .prepare_cached("SELECT version, yanked FROM versions WHERE name = ?1")
        .map_err(db_err("refresh latest"))?;
    let rows = stmt
        .query_map([name], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?))
        })
        .map_err(db_err("refresh latest"))?;
    let mut versions = Vec::new();
    for row in rows {
        let (v, yanked) = row.map_err(db_err("refresh latest"))?;
        let parsed = Version::parse(&v).map_err(|e| StoreError::Corrupt {
            what: format!("{name}@{v}"),
            message: e.to_string(),
        })?;
        versions.push((parsed, yanked));
    }
    let stable = pick_latest(versions.iter().map(|(v, y)| (v, *y)), false).map(ToString::to_string);
    let any = pick_latest(versions.iter().map(|(v, y)| (v, *y)), true).map(ToString::to_string);
    tx.execute(
        "UPDATE components SET latest_stable = ?2, latest_any = ?3 WHERE name = ?1",
        params![name, stable, any],
    )
    .map_err(db_err("refresh latest"))?;
    Ok(())
}

#[async_trait]
impl ComponentReader for SqliteStore {
    async fn get_version(&self, name: &str, version: &Version) -> StoreResult<Option<Component>> {
        let (name, version) = (name.to_owned(), version.to_string());
        self.read("get version", move |conn| {
            let body: Option<String> = conn
                .prepare_cached("SELECT body FROM versions WHERE name = ?1 AND version = ?2")
                .and_then(|mut s| s.query_row(params![name, version], |r| r.get(0)).optional())
                .map_err(db_err("get version"))?;
            body.map(|b| decode_component(&b, format!("{name}@{version}")))
                .transpose()
        })
        .await
    }

    async fn list_versions(&self, name: &str) -> StoreResult<Snapshot<Vec<Component>>> {
        let name = name.to_owned();
        self.read("list versions", move |conn| {
            let tx = conn
                .unchecked_transaction()
                .map_err(db_err("list versions"))?;
            let rev = revision(&tx)?;
            let mut stmt = tx
                .prepare_cached("SELECT body FROM versions WHERE name = ?1")
                .map_err(db_err("list versions"))?;
            let mut items = stmt
                .query_map([&name], |r| r.get::<_, String>(0))
                .map_err(db_err("list versions"))?
                .map(|b| {
                    b.map_err(db_err("list versions"))
                        .and_then(|b| decode_component(&b, name.clone()))
                })
                .collect::<StoreResult<Vec<_>>>()?;
            sort_newest_first(&mut items);
            Ok(Snapshot {
                value: items,
                revision: rev,
            })
        })
        .await
    }

    async fn list_latest(&self, q: &LatestQuery) -> StoreResult<Snapshot<LatestPage>> {
        let q = q.clone();
        self.read("list latest", move |conn| {
            let tx = conn.unchecked_transaction().map_err(db_err("list latest"))?;
            let rev = revision(&tx)?;
            // Column names cannot be bound; both statements are fixed strings.
            let sql = if q.include_prerelease {
                "SELECT c.name, v.body FROM components c JOIN versions v ON v.name = c.name AND v.version = c.latest_any \
                 WHERE c.name > ?1 ORDER BY c.name LIMIT ?2"
            } else {
                "SELECT c.name, v.body FROM components c JOIN versions v ON v.name = c.name AND v.version = c.latest_stable \
                 WHERE c.name > ?1 ORDER BY c.name LIMIT ?2"
            };
            let batch = (q.limit + 1).clamp(64, 1000);
            let mut stmt = tx.prepare_cached(sql).map_err(db_err("list latest"))?;
            let mut after = q.after.clone().unwrap_or_default();
            let mut items = Vec::new();
            let mut more = false;
            'scan: loop {
                let rows: Vec<(String, String)> = stmt
                    .query_map(params![after, batch as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(db_err("list latest"))?
                    .collect::<Result<_, _>>()
                    .map_err(db_err("list latest"))?;
                let exhausted = rows.len() < batch;
                for (name, body) in rows {
                    let c = decode_component(&body, name.clone())?;
                    after = name;
                    if !q.filter.matches(&c) {
                        continue;
                    }
                    if items.len() == q.limit {
                        more = true;
                        break 'scan;
                    }
                    items.push(c);
                }
                if exhausted {
                    break;
                }
            }
            Ok(Snapshot { value: LatestPage { items, more }, revision: rev })
        })
        .await
    }

    async fn list_all(&self) -> StoreResult<Snapshot<Vec<Component>>> {
        self.versions_after("list all", None, i64::MAX).await
    }

    fn pages_cheaply(&self) -> bool {
        true
    }

    async fn list_page(
        &self,
        after: Option<(String, String)>,
        limit: usize,
    ) -> StoreResult<Snapshot<Vec<Component>>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.versions_after("list page", after, limit).await
    }

    async fn name_owner(&self, name: &str) -> StoreResult<Option<String>> {
        let name = name.to_owned();
        self.read("name owner", move |conn| {
            conn.prepare_cached("SELECT owner FROM components WHERE name = ?1")
                .and_then(|mut s| s.query_row([name], |r| r.get(0)).optional())
                .map_err(db_err("name owner"))
        })
        .await
    }

    async fn name_owners(&self, name: &str) -> StoreResult<Option<Vec<String>>> {
        let name = name.to_owned();
        self.read("name owners", move |conn| read_owners(conn, &name))
            .await
    }
}

/// The owners of `name` as stored: the `owners` list, or the first publisher alone.
fn read_owners(conn: &Connection, name: &str) -> StoreResult<Option<Vec<String>>> {
    let row: Option<(String, Option<String>)> = conn
        .prepare_cached("SELECT owner, owners FROM components WHERE name = ?1")
        .and_then(|mut s| {
            s.query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(db_err("name owners"))?;
    row.map(|(owner, owners)| match owners {
        None => Ok(vec![owner]),
        Some(json) => serde_json::from_str(&json).map_err(corrupt(format!("owners of {name}"))),
    })
    .transpose()
}

#[async_trait]
impl ComponentWriter for SqliteStore {
    async fn insert_version_if(
        &self,
        mut component: Component,
        owner: &str,
        condition: NameCondition,
    ) -> StoreResult<ChangeEvent> {
        let owner = owner.to_owned();
        self.write("insert version", move |tx| {
            let (name, version) = (component.spec.name.clone(), component.spec.version.clone());
            let exists = tx
                .query_row("SELECT 1 FROM versions WHERE name = ?1 AND version = ?2", params![name, version], |_| Ok(()))
                .optional()
                .map_err(db_err("insert version"))?
                .is_some();
            if exists {
                return Err(StoreError::AlreadyExists { name, version });
            }
            if condition == NameCondition::New {
                let taken: Option<String> = tx
                    .query_row("SELECT owner FROM components WHERE name = ?1", params![name], |r| r.get(0))
                    .optional()
                    .map_err(db_err("insert version"))?;
                if let Some(owner) = taken {
                    return Err(StoreError::NameTaken { name, owner });
                }
            }
            let event = append_event(tx, &mut component, EventType::Published)?;
            let at = event.occurred_at.format(&Rfc3339).unwrap_or_default();
            tx.execute(
                "INSERT INTO components (name, owner, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
                params![name, owner, at],
            )
            .map_err(db_err("insert version"))?;
            tx.execute(
                "INSERT INTO versions (name, version, revision, yanked, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, version, event.revision.0 as i64, component.yanked, encode(&component)?],
            )
            .map_err(db_err("insert version"))?;
            refresh_latest(tx, &name)?;
            Ok(event)
        })
        .await
    }

    async fn update_version(
        &self,
        mut component: Component,
        expected: Revision,
        event_type: EventType,
    ) -> StoreResult<ChangeEvent> {
        self.write("update version", move |tx| {
            let (name, version) = (component.spec.name.clone(), component.spec.version.clone());
            let found: Option<i64> = tx
                .query_row("SELECT revision FROM versions WHERE name = ?1 AND version = ?2", params![name, version], |r| r.get(0))
                .optional()
                .map_err(db_err("update version"))?;
            let found = Revision(found.ok_or_else(|| StoreError::NotFound { name: name.clone(), version: version.clone() })? as u64);
            if found != expected {
                return Err(StoreError::Concurrent { name, version, expected, found });
            }
            let event = append_event(tx, &mut component, event_type)?;
            tx.execute(
                "UPDATE versions SET revision = ?3, yanked = ?4, body = ?5 WHERE name = ?1 AND version = ?2",
                params![name, version, event.revision.0 as i64, component.yanked, encode(&component)?],
            )
            .map_err(db_err("update version"))?;
            refresh_latest(tx, &name)?;
            Ok(event)
        })
        .await
    }

    async fn set_name_owners(
        &self,
        name: &str,
        expected: &[String],
        owners: &[String],
    ) -> StoreResult<bool> {
        let (name, expected) = (name.to_owned(), expected.to_vec());
        let owners = encode(&owners)?;
        self.write("set name owners", move |tx| {
            if read_owners(tx, &name)?.as_ref() != Some(&expected) {
                return Ok(false);
            }
            tx.execute(
                "UPDATE components SET owners = ?2 WHERE name = ?1",
                params![name, owners],
            )
            .map_err(db_err("set name owners"))?;
            Ok(true)
        })
        .await
    }
}

#[async_trait]
impl ChangeFeed for SqliteStore {
    async fn current_revision(&self) -> StoreResult<Revision> {
        self.read("current revision", revision).await
    }

    async fn events_since(&self, after: Revision, limit: usize) -> StoreResult<Vec<ChangeEvent>> {
        self.read("events since", move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT revision, body FROM events WHERE revision > ?1 ORDER BY revision LIMIT ?2")
                .map_err(db_err("events since"))?;
            let rows = stmt
                .query_map(params![after.0 as i64, limit.min(i64::MAX as usize) as i64], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(db_err("events since"))?;
            rows.map(|row| {
                let (rev, body) = row.map_err(db_err("events since"))?;
                serde_json::from_str(&body).map_err(corrupt(format!("event {rev}")))
            })
            .collect()
        })
        .await
    }

    async fn retained_after(&self) -> StoreResult<Revision> {
        self.read("retained after", retained_after).await
    }

    async fn prune_events(&self, retention: Retention) -> StoreResult<Pruned> {
        self.write("prune events", move |tx| {
            let current = revision(tx)?;
            let floor = retained_after(tx)?;
            // Beyond the newest `max_events`…
            let mut cutoff = Revision(current.0.saturating_sub(retention.max_events));
            // …or older than the age limit. `occurred_at` follows revision order, so scan
            // from the oldest until the first young-enough event.
            let mut stmt = tx
                .prepare_cached("SELECT revision, occurred_at FROM events WHERE revision > ?1 ORDER BY revision LIMIT 1000")
                .map_err(db_err("prune events"))?;
            let mut after = floor.max(cutoff);
            'scan: loop {
                let rows: Vec<(i64, String)> = stmt
                    .query_map([after.0 as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(db_err("prune events"))?
                    .collect::<Result<_, _>>()
                    .map_err(db_err("prune events"))?;
                if rows.is_empty() {
                    break;
                }
                for (rev, at) in rows {
                    let at = time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
                        .map_err(|e| StoreError::Corrupt { what: format!("event {rev} time"), message: e.to_string() })?;
                    if at >= retention.older_than {
                        break 'scan;
                    }
                    after = Revision(rev as u64);
                    cutoff = cutoff.max(after);
                }
            }
            drop(stmt);
            if cutoff <= floor {
                return Ok(Pruned { removed: 0, retained_after: floor });
            }
            let removed = tx
                .execute("DELETE FROM events WHERE revision <= ?1", [cutoff.0 as i64])
                .map_err(db_err("prune events"))?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('retained_after', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [cutoff.0 as i64],
            )
            .map_err(db_err("prune events"))?;
            Ok(Pruned { removed: removed as u64, retained_after: cutoff })
        })
        .await
    }
}

#[async_trait]
impl CatalogStore for SqliteStore {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read("ping", |conn| revision(conn).map(|_| ())).await
    }

    async fn schema_status(&self) -> StoreResult<crate::SchemaStatus> {
        self.read("schema_status", |conn| {
            let applied: u32 = conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(db_err("schema_status"))?;
            Ok(crate::SchemaStatus {
                applied: Some(applied),
                expected: Some(SqliteStore::latest_schema_version()),
            })
        })
        .await
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn decode_run(id: i64, body: &str) -> StoreResult<SyncRun> {
    serde_json::from_str(body).map_err(corrupt(format!("sync run {id}")))
}

#[async_trait]
impl SyncStore for SqliteStore {
    async fn insert_sync_run(&self, mut run: SyncRun) -> StoreResult<SyncRun> {
        self.write("insert sync run", move |tx| {
            tx.execute(
                "INSERT INTO sync_runs (source_id, body) VALUES (?1, '')",
                params![run.source_id],
            )
            .map_err(db_err("insert sync run"))?;
            run.id = tx.last_insert_rowid() as u64;
            tx.execute(
                "UPDATE sync_runs SET body = ?2 WHERE id = ?1",
                params![run.id as i64, encode(&run)?],
            )
            .map_err(db_err("insert sync run"))?;
            Ok(run)
        })
        .await
    }

    async fn update_sync_run(&self, run: &SyncRun) -> StoreResult<()> {
        let (id, body) = (run.id as i64, encode(run)?);
        self.write("update sync run", move |tx| {
            let n = tx
                .execute(
                    "UPDATE sync_runs SET body = ?2 WHERE id = ?1",
                    params![id, body],
                )
                .map_err(db_err("update sync run"))?;
            if n == 0 {
                return Err(StoreError::Backend {
                    operation: "update sync run",
                    message: format!("no sync run {id}"),
                });
            }
            Ok(())
        })
        .await
    }

    async fn sync_run(&self, id: u64) -> StoreResult<Option<SyncRun>> {
        self.read("sync run", move |conn| {
            let body: Option<String> = conn
                .query_row(
                    "SELECT body FROM sync_runs WHERE id = ?1",
                    [id as i64],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err("sync run"))?;
            body.map(|b| decode_run(id as i64, &b)).transpose()
        })
        .await
    }

    async fn sync_runs(
        &self,
        source_id: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<SyncRun>> {
        let source_id = source_id.map(str::to_owned);
        let before = before.map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64);
        let limit = limit.min(i64::MAX as usize) as i64;
        self.read("sync runs", move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, body FROM sync_runs WHERE id < ?1 AND (?2 IS NULL OR source_id = ?2) ORDER BY id DESC LIMIT ?3",
                )
                .map_err(db_err("sync runs"))?;
            let rows = stmt
                .query_map(params![before, source_id, limit], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(db_err("sync runs"))?;
            rows.map(|row| {
                let (id, body) = row.map_err(db_err("sync runs"))?;
                decode_run(id, &body)
            })
            .collect()
        })
        .await
    }

    async fn source_state(&self, source_id: &str) -> StoreResult<Option<SourceState>> {
        let source_id = source_id.to_owned();
        self.read("source state", move |conn| {
            let body: Option<String> = conn
                .query_row(
                    "SELECT body FROM source_state WHERE source_id = ?1",
                    [&source_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err("source state"))?;
            body.map(|b| {
                serde_json::from_str(&b).map_err(corrupt(format!("source state {source_id}")))
            })
            .transpose()
        })
        .await
    }

    async fn set_source_state(&self, state: &SourceState) -> StoreResult<()> {
        let (id, body) = (state.source_id.clone(), encode(state)?);
        self.write("set source state", move |tx| {
            tx.execute(
                "INSERT INTO source_state (source_id, body) VALUES (?1, ?2) ON CONFLICT (source_id) DO UPDATE SET body = excluded.body",
                params![id, body],
            )
            .map_err(db_err("set source state"))?;
            Ok(())
        })
        .await
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        let ttl_ms = ttl.as_millis().min(i64::MAX as u128) as i64;
        self.write("try lease", move |tx| {
            let now = now_ms();
            // Take it when free or expired, renew it when it is already ours.
            let n = tx
                .execute(
                    "INSERT INTO leases (name, holder, expires_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
                     WHERE leases.holder = excluded.holder OR leases.expires_ms <= ?4",
                    params![name, holder, now.saturating_add(ttl_ms), now],
                )
                .map_err(db_err("try lease"))?;
            Ok(n == 1)
        })
        .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write("release lease", move |tx| {
            tx.execute(
                "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
                params![name, holder],
            )
            .map_err(db_err("release lease"))?;
            Ok(())
        })
        .await
    }

    async fn remember_delivery(&self, key: &str, ttl: std::time::Duration) -> StoreResult<bool> {
        let key = key.to_owned();
        let ttl_ms = ttl.as_millis().min(i64::MAX as u128) as i64;
        self.write("remember delivery", move |tx| {
            let now = now_ms();
            tx.execute("DELETE FROM deliveries WHERE expires_ms <= ?1", [now])
                .map_err(db_err("remember delivery"))?;
            let n = tx
                .execute(
                    "INSERT INTO deliveries (key, expires_ms) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
                    params![key, now.saturating_add(ttl_ms)],
                )
                .map_err(db_err("remember delivery"))?;
            Ok(n == 1)
        })
        .await
    }
}
