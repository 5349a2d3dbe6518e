//! A read-through cache in front of any [`CatalogStore`], implementing the same traits so that
//! callers cannot tell it is there.
//!
//! What is cached: the versions of a component, per name (which also serves exact-version reads
//! and "latest of one component"). That is the hot read path of processors and tools; lists,
//! searches and dependents are answered by the catalog index, not the store.
//!
//! Correctness: writes made through this wrapper invalidate the name after they commit, and the
//! change feed invalidates what other processes wrote: every event this wrapper's
//! [`ChangeFeed::events_since`] returns beyond the highest revision it has applied invalidates
//! its name. The server tails the shared log through that call (`Catalog::follow_log`, every
//! `events.log_poll_interval`), so no replica serves a value another replica changed for longer
//! than the feed's lag. [`CachedStore::apply_event`] does the same for one event. A miss that was loading while a write happened does not populate the cache
//! (the write epoch of its name's shard changed), so a stale load can never be pinned after its
//! invalidation. Epochs are kept per shard of names (64 of them), so that the steady stream of
//! other names' invalidations that replicas bring does not keep every load out of the cache.

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicU64, Ordering},
};

use async_trait::async_trait;
use bytes::Bytes;
use moka::sync::Cache;
use nestor_model::{ChangeEvent, Component, EventType, Revision, SourceState, SyncRun};
use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram},
};
use semver::Version;

use crate::{
    CatalogStore, ChangeFeed, ComponentReader, ComponentWriter, LatestPage, LatestQuery,
    NameCondition, Pruned, Retention, Snapshot, StoreResult, SyncStore,
};

/// The versions of one name and its owner, as read at one revision.
struct NameEntry {
    revision: Revision,
    owner: Option<String>,
    /// Newest first.
    versions: Vec<CachedVersion>,
}

struct CachedVersion {
    version: Version,
    component: Arc<Component>,
    /// Canonical JSON, encoded on first use and shared from then on.
    json: OnceLock<Bytes>,
}

/// The cache's and the store's instruments (OpenTelemetry API; no-ops until the server
/// installs an exporter).
struct Instruments {
    hits: Counter<u64>,
    misses: Counter<u64>,
    latency: Histogram<f64>,
}

fn instruments() -> &'static Instruments {
    static I: OnceLock<Instruments> = OnceLock::new();
    I.get_or_init(|| {
        let meter = opentelemetry::global::meter("nestor");
        Instruments {
            hits: meter
                .u64_counter("nestor.cache.hits")
                .with_description("Component reads answered from the cache")
                .build(),
            misses: meter
                .u64_counter("nestor.cache.misses")
                .with_description("Component reads that went to the store")
                .build(),
            latency: meter
                .f64_histogram("nestor.store.operation.duration")
                .with_unit("s")
                .with_description("Store calls, by backend, operation and outcome")
                .with_boundaries(vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    0.5, 1.0, 2.5,
                ])
                .build(),
        }
    })
}

/// Shards of write epochs.
const EPOCH_SHARDS: usize = 64;

/// The epoch shard of a name (a name always maps to the same one; different names may share).
fn shard(name: &str) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    (h.finish() % EPOCH_SHARDS as u64) as usize
}

/// Hit and miss counters, for metrics and for proving that repeated reads stay off the store.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads answered from memory.
    pub hits: u64,
    /// Reads that went to the store.
    pub misses: u64,
}

/// Caching [`CatalogStore`] wrapper.
pub struct CachedStore {
    inner: Arc<dyn CatalogStore>,
    names: Cache<String, Arc<NameEntry>>,
    /// Write epochs by shard of names (see [`shard`]).
    epochs: [AtomicU64; EPOCH_SHARDS],
    /// The highest revision whose event invalidated its name here.
    applied: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl CachedStore {
    /// Wraps `inner`, keeping the versions of at most `max_names` components in memory.
    pub fn new(inner: Arc<dyn CatalogStore>, max_names: u64) -> Self {
        CachedStore {
            inner,
            names: Cache::new(max_names),
            epochs: std::array::from_fn(|_| AtomicU64::new(0)),
            applied: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Drops what is cached for `name`.
    pub fn invalidate(&self, name: &str) {
        self.epochs[shard(name)].fetch_add(1, Ordering::SeqCst);
        self.names.invalidate(name);
    }

    /// Applies a change observed on the feed (for changes written by another replica).
    pub fn apply_event(&self, event: &ChangeEvent) {
        self.invalidate(&event.name);
        self.applied.fetch_max(event.revision.0, Ordering::SeqCst);
    }

    /// Hit and miss counts so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// Runs one call of the wrapped store in a `store` span, recording its latency.
    async fn timed<T>(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        use tracing::Instrument;
        let backend = self.inner.backend_name();
        let started = std::time::Instant::now();
        let result = call
            .instrument(tracing::debug_span!("store", backend, operation))
            .await;
        instruments().latency.record(
            started.elapsed().as_secs_f64(),
            &[
                KeyValue::new("backend", backend),
                KeyValue::new("operation", operation),
                KeyValue::new("outcome", if result.is_ok() { "ok" } else { "error" }),
            ],
        );
        result
    }

    async fn entry(&self, name: &str) -> StoreResult<Arc<NameEntry>> {
        if let Some(e) = self.names.get(name) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            instruments().hits.add(1, &[]);
            return Ok(e);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        instruments().misses.add(1, &[]);
        let epoch = self.epochs[shard(name)].load(Ordering::SeqCst);
        // The owner is read first: it is set by a name's first write and never changes, so it
        // cannot be older than the versions read after it.
        let owner = self
            .timed("name_owner", self.inner.name_owner(name))
            .await?;
        let snap = self
            .timed(
                "list_versions_shared",
                self.inner.list_versions_shared(name),
            )
            .await?;
        let versions = snap
            .value
            .into_iter()
            .filter_map(|c| {
                c.semver().ok().map(|version| CachedVersion {
                    version,
                    component: c,
                    json: OnceLock::new(),
                })
            })
            .collect();
        let entry = Arc::new(NameEntry {
            revision: snap.revision,
            owner,
            versions,
        });
        if self.epochs[shard(name)].load(Ordering::SeqCst) == epoch {
            self.names.insert(name.to_owned(), entry.clone());
        }
        Ok(entry)
    }
}

#[async_trait]
impl ComponentReader for CachedStore {
    async fn get_version(&self, name: &str, version: &Version) -> StoreResult<Option<Component>> {
        let entry = self.entry(name).await?;
        Ok(entry
            .versions
            .iter()
            .find(|v| v.version == *version)
            .map(|v| (*v.component).clone()))
    }

    async fn get_version_json(&self, name: &str, version: &Version) -> StoreResult<Option<Bytes>> {
        let entry = self.entry(name).await?;
        let Some(v) = entry.versions.iter().find(|v| v.version == *version) else {
            return Ok(None);
        };
        if let Some(json) = v.json.get() {
            return Ok(Some(json.clone()));
        }
        let encoded =
            serde_json::to_vec(&*v.component).map_err(|e| crate::StoreError::Backend {
                operation: "encode",
                message: e.to_string(),
            })?;
        Ok(Some(v.json.get_or_init(|| Bytes::from(encoded)).clone()))
    }

    async fn list_versions(&self, name: &str) -> StoreResult<Snapshot<Vec<Component>>> {
        let entry = self.entry(name).await?;
        Ok(Snapshot {
            value: entry
                .versions
                .iter()
                .map(|v| (*v.component).clone())
                .collect(),
            revision: entry.revision,
        })
    }

    async fn list_versions_shared(&self, name: &str) -> StoreResult<Snapshot<Vec<Arc<Component>>>> {
        let entry = self.entry(name).await?;
        Ok(Snapshot {
            value: entry.versions.iter().map(|v| v.component.clone()).collect(),
            revision: entry.revision,
        })
    }

    async fn list_latest(&self, query: &LatestQuery) -> StoreResult<Snapshot<LatestPage>> {
        self.timed("list_latest", self.inner.list_latest(query))
            .await
    }

    async fn name_owner(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(self.entry(name).await?.owner.clone())
    }

    async fn name_owners(&self, name: &str) -> StoreResult<Option<Vec<String>>> {
        // Read for writes only, and changed without a change event (which is what invalidates
        // this cache on other replicas): always from the store.
        self.timed("name_owners", self.inner.name_owners(name))
            .await
    }

    async fn list_all(&self) -> StoreResult<Snapshot<Vec<Component>>> {
        self.timed("list_all", self.inner.list_all()).await
    }

    async fn list_page(
        &self,
        after: Option<(String, String)>,
        limit: usize,
    ) -> StoreResult<Snapshot<Vec<Component>>> {
        self.timed("list_page", self.inner.list_page(after, limit))
            .await
    }

    fn pages_cheaply(&self) -> bool {
        self.inner.pages_cheaply()
    }
}

#[async_trait]
impl ComponentWriter for CachedStore {
    async fn insert_version_if(
        &self,
        component: Component,
        owner: &str,
        condition: NameCondition,
    ) -> StoreResult<ChangeEvent> {
        let name = component.spec.name.clone();
        let result = self
            .timed(
                "insert_version",
                self.inner.insert_version_if(component, owner, condition),
            )
            .await;
        self.invalidate(&name);
        result
    }

    async fn update_version(
        &self,
        component: Component,
        expected: Revision,
        event_type: EventType,
    ) -> StoreResult<ChangeEvent> {
        let name = component.spec.name.clone();
        let result = self
            .timed(
                "update_version",
                self.inner.update_version(component, expected, event_type),
            )
            .await;
        self.invalidate(&name);
        result
    }

    async fn set_name_owners(
        &self,
        name: &str,
        expected: &[String],
        owners: &[String],
    ) -> StoreResult<bool> {
        self.timed(
            "set_name_owners",
            self.inner.set_name_owners(name, expected, owners),
        )
        .await
    }
}

#[async_trait]
impl ChangeFeed for CachedStore {
    async fn current_revision(&self) -> StoreResult<Revision> {
        self.timed("current_revision", self.inner.current_revision())
            .await
    }

    async fn events_since(&self, after: Revision, limit: usize) -> StoreResult<Vec<ChangeEvent>> {
        let events = self
            .timed("events_since", self.inner.events_since(after, limit))
            .await?;
        // Changes not yet applied here may have been written by another process: drop what is
        // cached of their names. (This process's own writes were invalidated as they committed;
        // seeing them again costs one extra miss.)
        let applied = self.applied.load(Ordering::SeqCst);
        for e in events.iter().filter(|e| e.revision.0 > applied) {
            self.apply_event(e);
        }
        Ok(events)
    }

    async fn retained_after(&self) -> StoreResult<Revision> {
        self.timed("retained_after", self.inner.retained_after())
            .await
    }

    async fn prune_events(&self, retention: Retention) -> StoreResult<Pruned> {
        self.timed("prune_events", self.inner.prune_events(retention))
            .await
    }
}

#[async_trait]
impl CatalogStore for CachedStore {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    async fn ping(&self) -> StoreResult<()> {
        self.timed("ping", self.inner.ping()).await
    }

    async fn schema_status(&self) -> StoreResult<crate::SchemaStatus> {
        self.timed("schema_status", self.inner.schema_status())
            .await
    }

    fn cache_stats(&self) -> Option<CacheStats> {
        Some(self.stats())
    }
}

#[async_trait]
impl SyncStore for CachedStore {
    async fn insert_sync_run(&self, run: SyncRun) -> StoreResult<SyncRun> {
        self.timed("insert_sync_run", self.inner.insert_sync_run(run))
            .await
    }

    async fn update_sync_run(&self, run: &SyncRun) -> StoreResult<()> {
        self.timed("update_sync_run", self.inner.update_sync_run(run))
            .await
    }

    async fn sync_run(&self, id: u64) -> StoreResult<Option<SyncRun>> {
        self.timed("sync_run", self.inner.sync_run(id)).await
    }

    async fn sync_runs(
        &self,
        source_id: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<SyncRun>> {
        self.timed("sync_runs", self.inner.sync_runs(source_id, before, limit))
            .await
    }

    async fn source_state(&self, source_id: &str) -> StoreResult<Option<SourceState>> {
        self.timed("source_state", self.inner.source_state(source_id))
            .await
    }

    async fn set_source_state(&self, state: &SourceState) -> StoreResult<()> {
        self.timed("set_source_state", self.inner.set_source_state(state))
            .await
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool> {
        self.timed("try_lease", self.inner.try_lease(name, holder, ttl))
            .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        self.timed("release_lease", self.inner.release_lease(name, holder))
            .await
    }

    async fn remember_delivery(&self, key: &str, ttl: std::time::Duration) -> StoreResult<bool> {
        self.timed("remember_delivery", self.inner.remember_delivery(key, ttl))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use nestor_model::ComponentSpec;

    fn comp(version: &str) -> Component {
        Component {
            spec: ComponentSpec {
                name: "a".into(),
                version: version.into(),
                ..Default::default()
            },
            content_hash: String::new(),
            published_at: time::OffsetDateTime::UNIX_EPOCH,
            revision: Revision(0),
            deprecated: None,
            yanked: false,
            published_by: None,
            changed_by: None,
        }
    }

    #[tokio::test]
    async fn repeated_reads_do_not_reach_the_store() {
        let store = CachedStore::new(Arc::new(MemoryStore::new()), 100);
        store.insert_version(comp("1.0.0"), "o").await.unwrap();
        let v = Version::parse("1.0.0").unwrap();
        for _ in 0..1000 {
            assert!(store.get_version("a", &v).await.unwrap().is_some());
        }
        assert_eq!(
            store.stats(),
            CacheStats {
                hits: 999,
                misses: 1
            }
        );
    }

    #[tokio::test]
    async fn schema_status_and_counters_come_through_the_trait() {
        let store: Arc<dyn CatalogStore> =
            Arc::new(CachedStore::new(Arc::new(MemoryStore::new()), 100));
        assert!(store.schema_status().await.unwrap().is_current());
        assert_eq!(store.cache_stats(), Some(CacheStats::default()));
        assert_eq!(MemoryStore::new().cache_stats(), None);
    }

    #[tokio::test]
    async fn writes_and_feed_events_invalidate() {
        let inner: Arc<dyn CatalogStore> = Arc::new(MemoryStore::new());
        let store = CachedStore::new(inner.clone(), 100);
        store.insert_version(comp("1.0.0"), "o").await.unwrap();
        assert_eq!(store.list_versions("a").await.unwrap().value.len(), 1);
        store.insert_version(comp("1.1.0"), "o").await.unwrap();
        assert_eq!(store.list_versions("a").await.unwrap().value.len(), 2);
        // A write that bypasses this cache (another replica) is seen once its event is applied.
        let ev = inner.insert_version(comp("1.2.0"), "o").await.unwrap();
        assert_eq!(
            store.list_versions("a").await.unwrap().value.len(),
            2,
            "not yet applied"
        );
        store.apply_event(&ev);
        assert_eq!(store.list_versions("a").await.unwrap().value.len(), 3);
    }

    #[tokio::test]
    async fn tailing_the_log_invalidates_what_another_replica_wrote() {
        // Two replicas, each with its own cache, on one store.
        let inner: Arc<dyn CatalogStore> = Arc::new(MemoryStore::new());
        let (a, b) = (
            CachedStore::new(inner.clone(), 100),
            CachedStore::new(inner.clone(), 100),
        );
        a.insert_version(comp("1.0.0"), "o").await.unwrap();
        let seen = b.events_since(Revision(0), 100).await.unwrap();
        assert_eq!(b.list_versions("a").await.unwrap().value.len(), 1);
        a.insert_version(comp("1.1.0"), "o").await.unwrap();
        assert_eq!(
            b.list_versions("a").await.unwrap().value.len(),
            1,
            "b serves its cache until its feed shows the change"
        );
        let after = seen.last().unwrap().revision;
        assert_eq!(b.events_since(after, 100).await.unwrap().len(), 1);
        assert_eq!(b.list_versions("a").await.unwrap().value.len(), 2);
        // Reading old events again (a stream catching up) invalidates nothing more.
        let misses = b.stats().misses;
        b.events_since(Revision(0), 100).await.unwrap();
        b.list_versions("a").await.unwrap();
        assert_eq!(b.stats().misses, misses);
    }
}
