//! The storage seams. Each trait is small and named for what it does; [`CatalogStore`] bundles
//! them for callers that need everything (the catalog manager).

use async_trait::async_trait;
use nestor_model::{
    ChangeEvent, Component, ComponentFilter, EventType, Revision, SourceState, SyncRun,
};
use semver::Version;

use crate::StoreResult;

/// A value together with the catalog revision of the snapshot it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot<T> {
    /// What was read.
    pub value: T,
    /// Catalog revision at the time of the read.
    pub revision: Revision,
}

/// What `list_latest` should return.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatestQuery {
    /// Filters on the latest version.
    pub filter: ComponentFilter,
    /// Consider pre-releases when picking the latest version.
    pub include_prerelease: bool,
    /// Only names strictly after this one (the pagination cursor).
    pub after: Option<String>,
    /// At most this many items.
    pub limit: usize,
}

/// One page of latest versions.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestPage {
    /// Latest versions, ordered by name.
    pub items: Vec<Component>,
    /// Whether more matching components follow the last item.
    pub more: bool,
}

/// Reads components.
#[async_trait]
pub trait ComponentReader: Send + Sync {
    /// One exact version.
    async fn get_version(&self, name: &str, version: &Version) -> StoreResult<Option<Component>>;

    /// One exact version as its canonical JSON (the serde encoding of [`Component`]). The hot read
    /// path of the API: caching backends answer it without cloning or re-encoding.
    async fn get_version_json(
        &self,
        name: &str,
        version: &Version,
    ) -> StoreResult<Option<bytes::Bytes>> {
        let component = self.get_version(name, version).await?;
        component
            .map(|c| {
                serde_json::to_vec(&c).map(bytes::Bytes::from).map_err(|e| {
                    crate::StoreError::Backend {
                        operation: "encode",
                        message: e.to_string(),
                    }
                })
            })
            .transpose()
    }

    /// Every version of a component, newest first; empty when the name is unknown.
    async fn list_versions(&self, name: &str) -> StoreResult<Snapshot<Vec<Component>>>;

    /// [`ComponentReader::list_versions`] as shared values. Caching backends answer it with a
    /// pointer per version instead of a copy; validation reads it for every definition.
    async fn list_versions_shared(
        &self,
        name: &str,
    ) -> StoreResult<Snapshot<Vec<std::sync::Arc<Component>>>> {
        let snap = self.list_versions(name).await?;
        Ok(Snapshot {
            value: snap.value.into_iter().map(std::sync::Arc::new).collect(),
            revision: snap.revision,
        })
    }

    /// The latest version of each component, filtered and paginated by name.
    async fn list_latest(&self, query: &LatestQuery) -> StoreResult<Snapshot<LatestPage>>;

    /// The source that owns a component name (the first publisher), if the name is known.
    async fn name_owner(&self, name: &str) -> StoreResult<Option<String>>;

    /// The owners of a name: who, besides administrators, may publish and change its versions
    /// through the API. The first publisher ([`ComponentReader::name_owner`]) alone until
    /// [`ComponentWriter::set_name_owners`] changes the list; `None` when the name is unknown.
    async fn name_owners(&self, name: &str) -> StoreResult<Option<Vec<String>>>;

    /// Every version of every component, as of one revision: a consistent snapshot (what the
    /// change feed streams before live events). Ordered by name, then version string.
    async fn list_all(&self) -> StoreResult<Snapshot<Vec<Component>>>;

    /// At most `limit` versions after the key `after` (`(name, version)`, compared as
    /// strings), ordered by name, then version string, with the revision they were read at:
    /// one page of [`ComponentReader::list_all`], for a reader that must not hold the whole
    /// catalog at once (the change feed's snapshot, paged as its socket drains). Each page is
    /// as of its own revision; the reader reconciles pages with the log.
    ///
    /// The default reads [`ComponentReader::list_all`] and keeps the page: correct, but the
    /// whole catalog is read for each page. Backends that override it say so with
    /// [`ComponentReader::pages_cheaply`]; readers of the others read [`ComponentReader::list_all`]
    /// once instead.
    async fn list_page(
        &self,
        after: Option<(String, String)>,
        limit: usize,
    ) -> StoreResult<Snapshot<Vec<Component>>> {
        let all = self.list_all().await?;
        let mut value: Vec<Component> = all
            .value
            .into_iter()
            .filter(|c| {
                after
                    .as_ref()
                    .is_none_or(|(n, v)| (&c.spec.name, &c.spec.version) > (n, v))
            })
            .collect();
        value.sort_by(|a, b| (&a.spec.name, &a.spec.version).cmp(&(&b.spec.name, &b.spec.version)));
        value.truncate(limit);
        Ok(Snapshot {
            value,
            revision: all.revision,
        })
    }

    /// Whether [`ComponentReader::list_page`] reads only its page (not the whole catalog).
    fn pages_cheaply(&self) -> bool {
        false
    }
}

/// What [`ChangeFeed::prune_events`] removes: events beyond the newest `max_events`, and events
/// older than `older_than`. Both are upper bounds on what the log keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Keep at most this many of the newest events.
    pub max_events: u64,
    /// Remove events that occurred before this instant.
    pub older_than: time::OffsetDateTime,
}

/// What a prune did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Events removed by this call.
    pub removed: u64,
    /// Events after this revision are all retained (see [`ChangeFeed::retained_after`]).
    pub retained_after: Revision,
}

/// What [`ComponentWriter::insert_version_if`] requires of the version's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameCondition {
    /// Nothing: the name may be new or exist.
    Any,
    /// The name must not exist yet (this is its first version).
    New,
}

/// Writes components. Every successful write bumps the catalog revision by one and appends the
/// returned event, atomically.
#[async_trait]
pub trait ComponentWriter: Send + Sync {
    /// Inserts a new version. `component.revision` is ignored and set by the store. The first
    /// version of a name records `owner` as the name's owner.
    ///
    /// Fails with [`crate::StoreError::AlreadyExists`] if the version exists.
    async fn insert_version(&self, component: Component, owner: &str) -> StoreResult<ChangeEvent> {
        self.insert_version_if(component, owner, NameCondition::Any)
            .await
    }

    /// [`ComponentWriter::insert_version`], provided the name is as `condition` says, checked
    /// atomically with the write. Who may add versions to a name depends on who owns it, so a
    /// writer that checked ownership on a name being new inserts with [`NameCondition::New`]:
    /// of two writers racing to create a name, the second fails with
    /// [`crate::StoreError::NameTaken`] and checks again, instead of landing in a name it does
    /// not own.
    async fn insert_version_if(
        &self,
        component: Component,
        owner: &str,
        condition: NameCondition,
    ) -> StoreResult<ChangeEvent>;

    /// Replaces a version's record, provided its stored revision is still `expected`.
    ///
    /// Fails with [`crate::StoreError::Concurrent`] if it changed since it was read, and
    /// [`crate::StoreError::NotFound`] if it does not exist.
    async fn update_version(
        &self,
        component: Component,
        expected: Revision,
        event_type: EventType,
    ) -> StoreResult<ChangeEvent>;

    /// Replaces the owners of `name` with `owners`, provided they are still `expected` (as
    /// [`ComponentReader::name_owners`] returned them). Returns `false` and changes nothing when
    /// they are not (another change came first) or the name is unknown. Owners are not part of
    /// any version: the catalog revision and the change log are untouched.
    async fn set_name_owners(
        &self,
        name: &str,
        expected: &[String],
        owners: &[String],
    ) -> StoreResult<bool>;
}

/// The persistent, ordered log of changes.
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// The current catalog revision (0 for an empty catalog).
    async fn current_revision(&self) -> StoreResult<Revision>;

    /// Events with a revision strictly greater than `after`, oldest first, at most `limit`.
    /// Complete only when `after >= retained_after()`; older events may have been pruned.
    async fn events_since(&self, after: Revision, limit: usize) -> StoreResult<Vec<ChangeEvent>>;

    /// Every event after this revision is still in the log (0 until the log is first pruned).
    /// A reader that needs to resume after an older revision must start again from a snapshot.
    async fn retained_after(&self) -> StoreResult<Revision>;

    /// Removes old events per `retention`. Never removes an event a resume could still need
    /// without raising [`ChangeFeed::retained_after`] in the same step.
    async fn prune_events(&self, retention: Retention) -> StoreResult<Pruned>;
}

/// Sync bookkeeping: runs, per-source state, leases and webhook delivery de-duplication. Every
/// backend implements it, so that several replicas on one store agree on all of it.
#[async_trait]
pub trait SyncStore: Send + Sync {
    /// Records a new run; returns it with its id (ids increase).
    async fn insert_sync_run(&self, run: SyncRun) -> StoreResult<SyncRun>;

    /// Replaces a recorded run (same id).
    async fn update_sync_run(&self, run: &SyncRun) -> StoreResult<()>;

    /// One run.
    async fn sync_run(&self, id: u64) -> StoreResult<Option<SyncRun>>;

    /// Runs newest first, optionally of one source, with ids below `before`, at most `limit`.
    async fn sync_runs(
        &self,
        source_id: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<SyncRun>>;

    /// What is remembered about a source.
    async fn source_state(&self, source_id: &str) -> StoreResult<Option<SourceState>>;

    /// Remembers a source's state.
    async fn set_source_state(&self, state: &SourceState) -> StoreResult<()>;

    /// Takes or renews the lease `name` for `holder` until `now + ttl`: succeeds when the lease
    /// is free, expired, or already `holder`'s. Returns whether `holder` now holds it.
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool>;

    /// Gives the lease up, if `holder` holds it.
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()>;

    /// Remembers a webhook delivery id for `ttl`; returns `false` when it was already seen.
    async fn remember_delivery(&self, key: &str, ttl: std::time::Duration) -> StoreResult<bool>;
}

/// Everything a catalog needs from its store.
#[async_trait]
pub trait CatalogStore: ComponentReader + ComponentWriter + ChangeFeed + SyncStore {
    /// Short backend name for `/version` and logs (`sqlite`, `memory`, …).
    fn backend_name(&self) -> &'static str;

    /// Checks that the backend answers (for readiness probes).
    async fn ping(&self) -> StoreResult<()>;

    /// The store's schema version against the latest this build knows (readiness: migrations
    /// applied). The default suits backends without versioned migrations: nothing to apply.
    async fn schema_status(&self) -> StoreResult<SchemaStatus> {
        Ok(SchemaStatus::default())
    }

    /// Hit and miss counts of a read cache in front of the store, if there is one.
    fn cache_stats(&self) -> Option<crate::CacheStats> {
        None
    }
}

/// A store's schema version against the one this build expects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Schema version the store is at; `None` for backends without versioned migrations.
    pub applied: Option<u32>,
    /// Latest schema version this build knows; `None` likewise.
    pub expected: Option<u32>,
}

impl SchemaStatus {
    /// Whether every migration this build knows is applied, and no newer one.
    pub fn is_current(&self) -> bool {
        self.applied == self.expected
    }
}
