//! The catalog index: search, filters, facets, sorted pages and reverse dependencies, answered
//! from memory instead of scanning the store.
//!
//! It is an *informer*, the pattern of the client's `Mirror` and of Kubernetes' controllers:
//! built from one consistent snapshot of the store ([`ComponentReader::list_all`]), then kept
//! current by applying the change log in revision order, so that it works the same on every
//! backend and every answer says the revision it reflects. Changes arrive two ways:
//!
//! - the catalog's own writes, offered as they are broadcast ([`CatalogIndex::offer`]): a
//!   publish is applied before its response is sent (read-your-writes);
//! - everything else (other replicas, `nestor` commands on the same store, a change offered out
//!   of order), read from the log by [`CatalogIndex::follow`] when a gap shows.
//!
//! If the log no longer reaches back to the index's revision (retention pruned it), the index
//! is rebuilt from a fresh snapshot.
//!
//! # Layout
//!
//! - `state.rs`: the documents and their bitmaps, names, orders and reverse dependencies;
//! - `text.rs`: tokens, the term dictionary (prefixes, one-typo neighbours) and BM25F weights;
//! - `query.rs`: the `q` language ([`TextQuery`]);
//! - `search.rs`: running a query (filters, scoring, orders, facets) and the dependents walk;
//! - `cursor.rs`: page cursors and their stability guarantee.

mod cursor;
mod query;
mod search;
mod state;
mod text;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use nestor_model::{ChangeEvent, Component, ComponentFilter, Revision};
use nestor_storage::CatalogStore;
use semver::Version;
use tokio::sync::watch;

pub use query::{MAX_QUERY_CHARS, MAX_QUERY_CLAUSES, QuerySyntaxError, TextQuery};
use state::{State, ValueField};

/// How long a query waits for a build in progress before it answers 503 (a build of 100,000
/// components takes a few seconds).
pub const BUILD_WAIT: Duration = Duration::from_secs(15);
/// How long a publish waits for its change to reach the index (it normally is at once).
const SETTLE_WAIT: Duration = Duration::from_secs(5);
/// Events read from the log per request when catching up.
const CATCH_UP_PAGE: usize = 512;
/// The transitive dependents walk stops at this depth and this many components.
pub const MAX_DEPENDENTS_DEPTH: u32 = 32;
/// See [`MAX_DEPENDENTS_DEPTH`].
pub const MAX_DEPENDENTS: usize = 10_000;

/// An order of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// By name, then version newest first.
    Name,
    /// Oldest publish first.
    PublishedAt,
    /// Newest publish first.
    PublishedAtDesc,
    /// Best match first (text queries only).
    Relevance,
}

impl Sort {
    /// The sort keys accepted in a query string.
    pub const KEYS: [&'static str; 4] = ["name", "published_at", "-published_at", "relevance"];

    /// The sort named `s`.
    pub fn parse(s: &str) -> Option<Sort> {
        match s {
            "name" => Some(Sort::Name),
            "published_at" => Some(Sort::PublishedAt),
            "-published_at" => Some(Sort::PublishedAtDesc),
            "relevance" => Some(Sort::Relevance),
            _ => None,
        }
    }

    /// Its query-string name.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::PublishedAt => "published_at",
            Sort::PublishedAtDesc => "-published_at",
            Sort::Relevance => "relevance",
        }
    }
}

/// A facet to count: a field, or the values of one label key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FacetKey {
    /// `provider`, `category`, `resource_type`, `engine`, `maturity` or `support_level`.
    Field(ValueFieldName),
    /// `label:<key>`.
    Label(String),
}

/// The fields that can be faceted, by name.
pub type ValueFieldName = &'static str;

impl FacetKey {
    /// The facet keys accepted besides `label:<key>`.
    pub const FIELDS: [&'static str; 6] = [
        "provider",
        "category",
        "resource_type",
        "engine",
        "maturity",
        "support_level",
    ];

    /// The facet named `s`.
    pub fn parse(s: &str) -> Option<FacetKey> {
        if let Some(key) = s.strip_prefix("label:") {
            return (!key.is_empty()).then(|| FacetKey::Label(key.to_owned()));
        }
        FacetKey::FIELDS
            .into_iter()
            .find(|f| *f == s)
            .map(FacetKey::Field)
    }

    fn field(&self) -> Option<ValueField> {
        match self {
            FacetKey::Field(name) => ValueField::ALL.into_iter().find(|f| f.as_str() == *name),
            FacetKey::Label(_) => None,
        }
    }
}

impl std::fmt::Display for FacetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FacetKey::Field(name) => f.write_str(name),
            FacetKey::Label(key) => write!(f, "label:{key}"),
        }
    }
}

/// A list or search query.
#[derive(Debug, Clone)]
pub struct IndexQuery {
    /// Words to look for (`q`); `None`: every component that passes the filter.
    pub text: Option<TextQuery>,
    /// Filters.
    pub filter: ComponentFilter,
    /// Pre-releases count when picking each component's latest version.
    pub include_prerelease: bool,
    /// Every version, not only each component's latest.
    pub all_versions: bool,
    /// The order; `None`: relevance with a text query, else name.
    pub sort: Option<Sort>,
    /// Facets to count over the whole result.
    pub facets: Vec<FacetKey>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: usize,
}

/// One result.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The version.
    pub component: Arc<Component>,
    /// Its relevance (text queries only).
    pub score: Option<f64>,
    /// The fields the text query matched in (text queries only).
    pub matched: Vec<&'static str>,
}

/// The counts of one facet.
#[derive(Debug, Clone, PartialEq)]
pub struct Facet {
    /// The facet key as asked (`provider`, `label:team`).
    pub key: String,
    /// `(value, count)`, the most frequent first, at most 100.
    pub values: Vec<(String, u64)>,
    /// Whether more values exist than are listed.
    pub more: bool,
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct IndexPage {
    /// The results.
    pub hits: Vec<Hit>,
    /// How many results the whole query has.
    pub total: u64,
    /// The cursor of the next page, if any.
    pub next_cursor: Option<String>,
    /// The facets asked for, in the order asked.
    pub facets: Vec<Facet>,
    /// The catalog revision the answer reflects.
    pub revision: Revision,
}

/// A dependents query (see [`CatalogIndex::dependents`]).
#[derive(Debug, Clone)]
pub struct DependentsQuery {
    /// A proposed version of the component: the blast radius of publishing it.
    pub version: Option<String>,
    /// Also dependents of dependents, breadth first.
    pub transitive: bool,
    /// Pre-releases count when picking each dependent's latest version.
    pub include_prerelease: bool,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: usize,
}

impl Default for DependentsQuery {
    fn default() -> Self {
        DependentsQuery {
            version: None,
            transitive: false,
            include_prerelease: false,
            cursor: None,
            limit: 50,
        }
    }
}

/// One component that depends on another (see [`CatalogIndex::dependents`]).
#[derive(Debug, Clone)]
pub struct DependentHit {
    /// The dependent's latest version.
    pub component: Arc<Component>,
    /// Its requirement on `on`.
    pub version_req: String,
    /// 1: depends on the queried component; 2: on one of those; …
    pub depth: u32,
    /// The component it depends on.
    pub on: String,
    /// With a proposed version: whether the requirement already admits it (direct dependents).
    pub admits: Option<bool>,
}

impl From<search::Dependent> for DependentHit {
    fn from(d: search::Dependent) -> Self {
        DependentHit {
            component: d.component,
            version_req: d.version_req,
            depth: d.depth,
            on: d.on,
            admits: d.admits,
        }
    }
}

/// The dependents of a component.
#[derive(Debug, Clone)]
pub struct DependentsPage {
    /// This page of dependents, by depth then name.
    pub items: Vec<DependentHit>,
    /// How many dependents the walk found.
    pub total: u64,
    /// Of the direct dependents, how many requirements admit the proposed version and how
    /// many would have to change (with a proposed version only).
    pub blast_radius: Option<(u64, u64)>,
    /// The walk stopped at its bounds ([`MAX_DEPENDENTS`], [`MAX_DEPENDENTS_DEPTH`]).
    pub truncated: bool,
    /// The cursor of the next page, if any.
    pub next_cursor: Option<String>,
    /// The catalog revision the answer reflects.
    pub revision: Revision,
}

/// Why the index cannot answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IndexError {
    /// The query text does not parse.
    #[error(transparent)]
    Syntax(#[from] QuerySyntaxError),
    /// A parameter is out of place (`sort=relevance` without `q`, an unknown facet…).
    #[error("invalid {parameter}: {message}")]
    Parameter {
        /// Which.
        parameter: &'static str,
        /// Why.
        message: String,
    },
    /// The cursor cannot be used with this query.
    #[error("{0}")]
    Cursor(&'static str),
    /// The index is being built, or has not reached the revision asked for in time.
    #[error("{0}")]
    Unavailable(String),
}

/// Where the index stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexStatus {
    /// Not built yet, and no build running.
    Empty,
    /// Being built: versions indexed so far, of how many.
    Building {
        /// Indexed so far.
        done: u64,
        /// In the snapshot.
        of: u64,
    },
    /// Serving queries.
    Ready {
        /// Versions held.
        versions: u64,
        /// Every change up to this revision is applied.
        revision: Revision,
    },
}

struct Shared {
    state: State,
    /// Changes that arrived ahead of a gap, by revision.
    pending: BTreeMap<u64, Arc<Component>>,
    built: bool,
}

/// The in-process catalog index. One per [`Catalog`](crate::Catalog); cheap to query from
/// many threads at once (readers share a lock; a change holds it for microseconds).
pub struct CatalogIndex {
    shared: RwLock<Shared>,
    applied: watch::Sender<u64>,
    /// Whether the index is built (queries wait on it during a build).
    built: watch::Sender<bool>,
    gap: tokio::sync::Notify,
    building: tokio::sync::Mutex<()>,
    progress: std::sync::Mutex<Option<(u64, u64)>>,
}

impl Default for CatalogIndex {
    fn default() -> Self {
        CatalogIndex {
            shared: RwLock::new(Shared {
                state: State::default(),
                pending: BTreeMap::new(),
                built: false,
            }),
            applied: watch::channel(0).0,
            built: watch::channel(false).0,
            gap: tokio::sync::Notify::new(),
            building: tokio::sync::Mutex::new(()),
            progress: std::sync::Mutex::new(None),
        }
    }
}

fn poisoned<T>(e: std::sync::PoisonError<T>) -> T {
    // A panic while holding the lock left the index as it was between two whole changes or
    // mid-change; queries still answer from it, and the next rebuild replaces it.
    e.into_inner()
}

impl CatalogIndex {
    /// Where the index stands.
    pub fn status(&self) -> IndexStatus {
        let shared = self.shared.read().unwrap_or_else(poisoned);
        if shared.built {
            return IndexStatus::Ready {
                versions: shared.state.len(),
                revision: shared.state.revision,
            };
        }
        match *self.progress.lock().unwrap_or_else(poisoned) {
            Some((done, of)) => IndexStatus::Building { done, of },
            None => IndexStatus::Empty,
        }
    }

    /// Says that a build is about to start, so that [`CatalogIndex::status`] reports it (and
    /// readiness waits) from now on rather than from when the build task first runs.
    pub fn announce_build(&self) {
        let mut progress = self.progress.lock().unwrap_or_else(poisoned);
        if progress.is_none() && !self.shared.read().unwrap_or_else(poisoned).built {
            *progress = Some((0, 0));
        }
    }

    /// The revision every change up to which is applied.
    pub fn revision(&self) -> Revision {
        Revision(*self.applied.borrow())
    }

    /// Builds the index from a snapshot of `store`, then catches up with the log. Logs progress;
    /// [`CatalogIndex::status`] reports it meanwhile. A second call while one runs waits for it.
    pub async fn build(&self, store: &dyn CatalogStore) -> Result<(), crate::CatalogError> {
        let _guard = self.building.lock().await;
        if self.shared.read().unwrap_or_else(poisoned).built {
            return Ok(());
        }
        self.rebuild(store).await
    }

    async fn rebuild(&self, store: &dyn CatalogStore) -> Result<(), crate::CatalogError> {
        let started = Instant::now();
        *self.progress.lock().unwrap_or_else(poisoned) = Some((0, 0));
        let snapshot = store.list_all().await;
        let snapshot = match snapshot {
            Ok(s) => s,
            Err(e) => {
                *self.progress.lock().unwrap_or_else(poisoned) = None;
                return Err(e.into());
            }
        };
        let of = snapshot.value.len() as u64;
        tracing::info!(versions = of, revision = %snapshot.revision, "building the catalog index");
        let mut state = State::default();
        let mut last_log = Instant::now();
        for (i, c) in snapshot.value.into_iter().enumerate() {
            state.upsert(Arc::new(c));
            let done = i as u64 + 1;
            if done.is_multiple_of(1024) {
                *self.progress.lock().unwrap_or_else(poisoned) = Some((done, of));
                if last_log.elapsed() >= Duration::from_secs(2) {
                    tracing::info!(done, of, "building the catalog index");
                    last_log = Instant::now();
                }
                // Let the runtime breathe on huge catalogs.
                tokio::task::yield_now().await;
            }
        }
        state.revision = snapshot.revision;
        let (versions, terms) = (state.len(), state.text.len());
        {
            let mut shared = self.shared.write().unwrap_or_else(poisoned);
            shared.pending.retain(|r, _| *r > snapshot.revision.0);
            shared.state = state;
            shared.built = true;
            self.applied.send_replace(shared.state.revision.0);
            self.drain(&mut shared);
        }
        self.built.send_replace(true);
        *self.progress.lock().unwrap_or_else(poisoned) = None;
        tracing::info!(
            versions,
            terms,
            revision = %snapshot.revision,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "catalog index built"
        );
        // Whatever was written while the snapshot was read.
        self.catch_up(store).await
    }

    /// Applies a change if it is the next one; holds it if a gap is before it (and wakes the
    /// follower to fill the gap from the log). Changes already applied are ignored, so a change
    /// may be offered any number of times and by any path.
    pub fn offer(&self, event: &ChangeEvent) {
        let mut shared = self.shared.write().unwrap_or_else(poisoned);
        if !shared.built || event.revision <= shared.state.revision {
            return;
        }
        shared
            .pending
            .insert(event.revision.0, Arc::new(event.component.clone()));
        self.drain(&mut shared);
        if !shared.pending.is_empty() {
            self.gap.notify_one();
        }
    }

    /// Applies the held changes that follow the index's revision without a gap.
    fn drain(&self, shared: &mut Shared) {
        let before = shared.state.revision;
        while let Some(entry) = shared.pending.first_entry() {
            let next = shared.state.revision.0 + 1;
            match (*entry.key()).cmp(&next) {
                std::cmp::Ordering::Less => {
                    entry.remove();
                }
                std::cmp::Ordering::Equal => {
                    let component = entry.remove();
                    shared.state.upsert(component);
                    shared.state.revision = Revision(next);
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        if shared.state.revision != before {
            self.applied.send_replace(shared.state.revision.0);
        }
    }

    /// Reads the log after the index's revision and applies it; rebuilds when the log was
    /// pruned past it.
    pub async fn catch_up(&self, store: &dyn CatalogStore) -> Result<(), crate::CatalogError> {
        loop {
            let after = {
                let shared = self.shared.read().unwrap_or_else(poisoned);
                if !shared.built {
                    return Ok(());
                }
                shared.state.revision
            };
            let events = store.events_since(after, CATCH_UP_PAGE).await?;
            let Some(first) = events.first() else {
                return Ok(());
            };
            if first.revision > after.next() {
                tracing::warn!(
                    index = %after,
                    log_starts = %first.revision,
                    "the event log no longer reaches back to the catalog index's revision; rebuilding the index"
                );
                self.shared.write().unwrap_or_else(poisoned).built = false;
                self.built.send_replace(false);
                return Box::pin(self.rebuild(store)).await;
            }
            let mut shared = self.shared.write().unwrap_or_else(poisoned);
            for e in events {
                if e.revision > shared.state.revision {
                    shared.pending.insert(e.revision.0, Arc::new(e.component));
                }
            }
            self.drain(&mut shared);
        }
    }

    /// Keeps the index current with changes that did not come through [`CatalogIndex::offer`]
    /// in order: wakes on a gap (at once) and otherwise every `every`, reads the log, until
    /// `stop` resolves.
    pub async fn follow(
        &self,
        store: &dyn CatalogStore,
        every: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let mut stop = std::pin::pin!(stop);
        loop {
            tokio::select! {
                () = self.gap.notified() => {}
                () = tokio::time::sleep(every) => {}
                () = &mut stop => return,
            }
            let behind = {
                let shared = self.shared.read().unwrap_or_else(poisoned);
                shared.built
            };
            if !behind {
                continue;
            }
            let current = match store.current_revision().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "catalog index: cannot read the log's revision");
                    continue;
                }
            };
            if current > self.revision()
                && let Err(e) = self.catch_up(store).await
            {
                tracing::warn!(error = %e, "catalog index: cannot read the log");
            }
        }
    }

    /// Waits until the index is built, at most `wait`. `false`: it is not.
    pub async fn wait_built(&self, wait: Duration) -> bool {
        let mut rx = self.built.subscribe();
        if *rx.borrow() {
            return true;
        }
        tokio::time::timeout(wait, rx.wait_for(|b| *b))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits until the index has applied `revision`, at most `wait`. `false`: it has not.
    pub async fn wait_for(&self, revision: Revision, wait: Duration) -> bool {
        let mut rx = self.applied.subscribe();
        if *rx.borrow() >= revision.0 {
            return true;
        }
        self.gap.notify_one();
        tokio::time::timeout(wait, rx.wait_for(|r| *r >= revision.0))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// After a write of this process: waits (briefly) until the index holds it, so that the
    /// writer's next query sees it.
    pub(crate) async fn settle(&self, revision: Revision) {
        if !self.shared.read().unwrap_or_else(poisoned).built {
            return;
        }
        if !self.wait_for(revision, SETTLE_WAIT).await {
            tracing::warn!(
                %revision,
                index = %self.revision(),
                "the catalog index has not applied a write of this process in time"
            );
        }
    }

    fn ready(&self) -> Result<std::sync::RwLockReadGuard<'_, Shared>, IndexError> {
        let shared = self.shared.read().unwrap_or_else(poisoned);
        if shared.built {
            return Ok(shared);
        }
        drop(shared);
        Err(IndexError::Unavailable(match self.status() {
            IndexStatus::Building { done, of } => {
                format!("the catalog index is being built ({done} of {of} versions); retry shortly")
            }
            _ => "the catalog index is not built yet; retry shortly".to_owned(),
        }))
    }

    /// Runs a list or search query.
    pub fn query(&self, q: &IndexQuery) -> Result<IndexPage, IndexError> {
        let sort = match (q.sort, &q.text) {
            (Some(Sort::Relevance), None) => {
                return Err(IndexError::Parameter {
                    parameter: "sort",
                    message: "relevance needs a text query (q)".into(),
                });
            }
            (Some(s), _) => s,
            (None, Some(_)) => Sort::Relevance,
            (None, None) => Sort::Name,
        };
        let filter_query: Vec<String> = q
            .filter
            .to_query()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let fingerprint = cursor::fingerprint(&[
            q.text.as_ref().map_or("", |t| t.as_str()),
            &filter_query.join("&"),
            if q.all_versions { "all" } else { "latest" },
            if q.include_prerelease {
                "pre"
            } else {
                "released"
            },
            sort.as_str(),
        ]);
        let after = q
            .cursor
            .as_deref()
            .map(|c| cursor::decode(c, &fingerprint))
            .transpose()
            .map_err(IndexError::Cursor)?;
        for key in &q.facets {
            if let FacetKey::Field(_) = key
                && key.field().is_none()
            {
                return Err(IndexError::Parameter {
                    parameter: "facets",
                    message: format!("{key} is not a facet"),
                });
            }
        }
        let shared = self.ready()?;
        let state = &shared.state;
        let found = search::run(
            state,
            &search::Plan {
                text: q.text.as_ref(),
                filter: &q.filter,
                include_prerelease: q.include_prerelease,
                all_versions: q.all_versions,
                sort,
                facets: &q.facets,
                after,
                limit: q.limit,
            },
        );
        Ok(IndexPage {
            hits: found.hits,
            total: found.total,
            next_cursor: found.next.map(|k| cursor::encode(&fingerprint, k)),
            facets: found.facets,
            revision: state.revision,
        })
    }

    /// Whether a component of this name is indexed.
    pub fn knows(&self, name: &str) -> Result<bool, IndexError> {
        Ok(self.ready()?.state.names.contains_key(name))
    }

    /// The components that depend on `name`: each one's latest version and its requirement on
    /// `name` (`transitive`: and their dependents, breadth first). With `version`, the direct
    /// dependents are split into those whose requirement admits it and those that would have
    /// to change: the blast radius of publishing it.
    pub fn dependents(
        &self,
        name: &str,
        version: Option<&Version>,
        q: &DependentsQuery,
    ) -> Result<DependentsPage, IndexError> {
        let (transitive, include_prerelease, limit) = (q.transitive, q.include_prerelease, q.limit);
        let cursor = q.cursor.as_deref();
        let fingerprint = cursor::fingerprint(&[
            "dependents",
            name,
            &version.map(|v| v.to_string()).unwrap_or_default(),
            if transitive { "transitive" } else { "direct" },
            if include_prerelease {
                "pre"
            } else {
                "released"
            },
        ]);
        // The position is (depth, name), written as a name key with the depth as major version.
        let after = cursor
            .map(|c| cursor::decode(c, &fingerprint))
            .transpose()
            .map_err(IndexError::Cursor)?
            .map(|k| match k {
                cursor::Key::Name { name, version } => Ok((version.major as u32, name)),
                _ => Err(IndexError::Cursor(cursor::NOT_OURS)),
            })
            .transpose()?;
        let shared = self.ready()?;
        let state = &shared.state;
        if !transitive {
            let after_name = after.as_ref().map(|(_, n)| n.as_str());
            let (mut items, total, blast_radius) = search::direct_dependents(
                state,
                name,
                include_prerelease,
                version,
                after_name,
                limit,
            );
            let more = items.len() > limit;
            items.truncate(limit);
            let next_cursor = match (more, items.last()) {
                (true, Some(last)) => Some(cursor::encode(
                    &fingerprint,
                    cursor::Key::Name {
                        name: last.component.spec.name.clone(),
                        version: Version::new(1, 0, 0),
                    },
                )),
                _ => None,
            };
            return Ok(DependentsPage {
                items: items.into_iter().map(DependentHit::from).collect(),
                total,
                blast_radius,
                truncated: false,
                next_cursor,
                revision: state.revision,
            });
        }
        let (all, truncated) = search::dependents(
            state,
            name,
            include_prerelease,
            transitive,
            version,
            MAX_DEPENDENTS_DEPTH,
            MAX_DEPENDENTS,
        );
        let blast_radius = version.map(|_| {
            let admits = all.iter().filter(|d| d.admits == Some(true)).count() as u64;
            let direct = all.iter().filter(|d| d.depth == 1).count() as u64;
            (admits, direct - admits)
        });
        let total = all.len() as u64;
        let mut rest = all.into_iter().filter(|d| {
            after
                .as_ref()
                .is_none_or(|(depth, n)| (d.depth, &d.component.spec.name) > (*depth, n))
        });
        let items: Vec<DependentHit> = rest.by_ref().take(limit).map(DependentHit::from).collect();
        let next_cursor = match (rest.next(), items.last()) {
            (Some(_), Some(last)) => Some(cursor::encode(
                &fingerprint,
                cursor::Key::Name {
                    name: last.component.spec.name.clone(),
                    version: Version::new(u64::from(last.depth), 0, 0),
                },
            )),
            _ => None,
        };
        Ok(DependentsPage {
            items,
            total,
            blast_radius,
            truncated,
            next_cursor,
            revision: state.revision,
        })
    }

    /// What the index holds, for memory reports: versions, distinct terms.
    pub fn size(&self) -> (u64, usize) {
        let shared = self.shared.read().unwrap_or_else(poisoned);
        (shared.state.len(), shared.state.text.len())
    }
}

#[cfg(test)]
mod tests;
