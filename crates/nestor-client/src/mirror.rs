//! [`Mirror`]: a local copy of the catalog (or of a filtered part of it), kept up to date from
//! the change feed and always consistent at one catalog revision.

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard},
    time::Duration,
};

use futures_util::StreamExt;
use nestor_model::{ChangeEvent, Component, Revision};
use tokio::{
    sync::{broadcast, watch},
    task::JoinHandle,
};

use crate::{BackoffPolicy, Client, Error, FeedEvent, FeedFilter, Watch, WatchOptions};

/// What to mirror and how, for [`Mirror::start`].
///
/// ```
/// use nestor_client::{FeedFilter, MirrorOptions};
/// let opts = MirrorOptions {
///     filter: FeedFilter { provider: vec!["aws".into()], ..Default::default() },
///     ..Default::default()
/// };
/// assert_eq!(opts.update_capacity, 1024);
/// ```
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// Which components to hold (everything by default).
    pub filter: FeedFilter,
    /// Reconnect delays of the underlying feed.
    pub backoff: BackoffPolicy,
    /// See [`WatchOptions::idle_timeout`].
    pub idle_timeout: Option<Duration>,
    /// How many [`MirrorUpdate`]s a [`Mirror::subscribe`] receiver may fall behind before it
    /// lags (1024 by default).
    pub update_capacity: usize,
}

impl Default for MirrorOptions {
    fn default() -> Self {
        let watch = WatchOptions::default();
        MirrorOptions {
            filter: FeedFilter::default(),
            backoff: watch.backoff,
            idle_timeout: watch.idle_timeout,
            update_capacity: 1024,
        }
    }
}

/// A change the [`Mirror`] has applied, from [`Mirror::subscribe`]. When it is received, the
/// mirror already shows it (its [`Mirror::revision`] is at least the update's).
///
/// ```
/// use nestor_client::{MirrorUpdate, model::Revision};
/// let u = MirrorUpdate::Reloaded { revision: Revision(3), components: 10 };
/// assert_eq!(u.revision(), Revision(3));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MirrorUpdate {
    /// One change, applied on top of the previous content.
    Changed(Arc<ChangeEvent>),
    /// The whole content was replaced by a snapshot (the first one, or a new one after the
    /// server reset the feed): re-read what you need.
    Reloaded {
        /// Revision of the snapshot.
        revision: Revision,
        /// Number of component versions it holds.
        components: usize,
    },
}

impl MirrorUpdate {
    /// The revision the mirror is at once this update is applied.
    ///
    /// ```
    /// # use nestor_client::{MirrorUpdate, model::Revision};
    /// assert_eq!(MirrorUpdate::Reloaded { revision: Revision(1), components: 0 }.revision(), Revision(1));
    /// ```
    pub fn revision(&self) -> Revision {
        match self {
            MirrorUpdate::Changed(c) => c.revision,
            MirrorUpdate::Reloaded { revision, .. } => *revision,
        }
    }
}

/// Why a [`Mirror`] no longer follows the feed.
///
/// ```
/// let e = nestor_client::MirrorError::Shutdown;
/// assert_eq!(e.to_string(), "the mirror was shut down");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
pub enum MirrorError {
    /// It was shut down (or dropped).
    #[error("the mirror was shut down")]
    Shutdown,
    /// The server refused the feed for good (e.g. `400 invalid_parameter` for a bad filter).
    /// The mirror keeps what it had, frozen.
    #[error("the mirror's change feed failed: {0}")]
    Failed(#[source] Arc<Error>),
}

/// Version key: ordered by semver (unparsable versions, which a valid catalog never holds, sort
/// first), then by the exact string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct VersionKey(Option<semver::Version>, String);

impl VersionKey {
    fn new(version: &str) -> Self {
        VersionKey(semver::Version::parse(version).ok(), version.to_owned())
    }
}

/// name → version → component.
type Versions = BTreeMap<String, BTreeMap<VersionKey, Component>>;

fn insert(versions: &mut Versions, component: Component) {
    let key = VersionKey::new(&component.spec.version);
    versions
        .entry(component.spec.name.clone())
        .or_default()
        .insert(key, component);
}

fn remove(versions: &mut Versions, name: &str, version: &str) {
    if let Some(of_name) = versions.get_mut(name) {
        of_name.remove(&VersionKey::new(version));
        if of_name.is_empty() {
            versions.remove(name);
        }
    }
}

fn count(versions: &Versions) -> usize {
    versions.values().map(BTreeMap::len).sum()
}

/// What readers see.
#[derive(Debug, Default)]
struct Data {
    versions: Versions,
    revision: Revision,
    ready: bool,
}

#[derive(Debug, Default)]
struct Shared {
    data: RwLock<Data>,
}

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, Data> {
        // Writers only replace whole values; a panic cannot leave a half-applied change.
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Data> {
        self.data.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The mirror's state machine, without I/O: applies feed events to the shared data.
struct MirrorCore {
    shared: Arc<Shared>,
    /// A snapshot being received; readers keep seeing the previous content until it ends.
    staging: Option<Versions>,
    /// The mirror's filter. Labels and maturity can change on a published version, so the
    /// feed also sends such filtered streams the updates of versions that no longer match;
    /// those leave the mirror.
    filter: FeedFilter,
}

impl MirrorCore {
    fn new(shared: Arc<Shared>) -> Self {
        MirrorCore {
            shared,
            staging: None,
            filter: FeedFilter::default(),
        }
    }

    fn with_filter(mut self, filter: FeedFilter) -> Self {
        self.filter = filter;
        self
    }

    /// Applies one event; returns the update to announce, if any.
    fn apply(&mut self, event: FeedEvent) -> Option<MirrorUpdate> {
        match event {
            FeedEvent::Snapshot(component) => {
                let staging = self.staging.get_or_insert_default();
                // A snapshot is read in pages and settled with the changes made meanwhile: a
                // later item for a version that no longer matches a label or maturity filter
                // takes it out, as a `component.updated` would.
                if self.filter.matches(&component) {
                    insert(staging, component);
                } else {
                    remove(staging, &component.spec.name, &component.spec.version);
                }
                None
            }
            FeedEvent::Bookmark(b) if b.snapshot_end => {
                let versions = self.staging.take().unwrap_or_default();
                let components = count(&versions);
                let mut data = self.shared.write();
                data.versions = versions;
                data.revision = b.revision;
                data.ready = true;
                Some(MirrorUpdate::Reloaded {
                    revision: b.revision,
                    components,
                })
            }
            FeedEvent::Bookmark(b) => {
                if self.staging.is_none() {
                    let mut data = self.shared.write();
                    if b.revision > data.revision {
                        data.revision = b.revision;
                    }
                }
                None
            }
            FeedEvent::Reset(_) | FeedEvent::SnapshotRestarted => {
                // Whatever was staged is void; a full snapshot follows.
                self.staging = Some(Versions::new());
                None
            }
            FeedEvent::Change(change) => {
                if let Some(staging) = &mut self.staging {
                    // Not sent by a conforming feed; keep it with the snapshot it belongs to.
                    insert(staging, change.component);
                    return None;
                }
                let mut data = self.shared.write();
                if data.ready && change.revision <= data.revision {
                    return None;
                }
                if self.filter.matches(&change.component) {
                    insert(&mut data.versions, change.component.clone());
                } else {
                    remove(&mut data.versions, &change.name, &change.version);
                }
                data.revision = change.revision;
                Some(MirrorUpdate::Changed(Arc::new(change)))
            }
        }
    }

    fn status(&self) -> (bool, Revision) {
        let data = self.shared.read();
        (data.ready, data.revision)
    }
}

/// Progress of the mirror's task, for waiters.
#[derive(Debug, Clone, Default)]
struct Status {
    ready: bool,
    revision: Revision,
    ended: Option<MirrorError>,
}

/// A local, always-consistent copy of the catalog, or of the part of it a [`FeedFilter`]
/// selects: every version of every matching component.
///
/// [`Mirror::start`] spawns a task that follows the change feed with a snapshot
/// ([`Client::watch`] with `snapshot: true`) and reconnects by itself. The content is always the
/// catalog as it was at [`Mirror::revision`]: a snapshot is staged aside and swapped in whole
/// when it ends (the previous content stays visible meanwhile, e.g. while a new snapshot is
/// received after the server reset the feed), and changes are applied one by one in revision
/// order, each once.
///
/// Reads are cheap and never wait for the network (they take a read lock and clone). Dropping
/// the mirror, or [`Mirror::shutdown`], stops the task.
///
/// ```no_run
/// use nestor_client::{Client, Mirror, MirrorOptions, MirrorUpdate};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::new("http://127.0.0.1:8080")?;
/// let mirror = Mirror::start(&client, MirrorOptions::default());
/// let mut updates = mirror.subscribe();
/// mirror.ready().await?;
/// println!("{} versions at revision {}", mirror.len(), mirror.revision());
/// if let Some(pg) = mirror.latest("aws-rds-postgres") {
///     println!("latest postgres: {}", pg.spec.version);
/// }
/// while let Ok(update) = updates.recv().await {
///     if let MirrorUpdate::Changed(c) = update {
///         println!("{} {}@{}", c.event_type.as_str(), c.name, c.version);
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Mirror {
    shared: Arc<Shared>,
    status: watch::Receiver<Status>,
    /// The task holds the only strong sender: receivers see `Closed` once it ends.
    updates: broadcast::WeakSender<MirrorUpdate>,
    task: Option<JoinHandle<()>>,
}

impl Mirror {
    /// Starts mirroring from `client`'s server. Returns at once; [`Mirror::ready`] waits for
    /// the first complete snapshot. Must be called within a Tokio runtime.
    ///
    /// ```no_run
    /// use nestor_client::{Client, FeedFilter, Mirror, MirrorOptions};
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = Client::new("http://127.0.0.1:8080")?;
    /// let aws = Mirror::start(&client, MirrorOptions {
    ///     filter: FeedFilter { provider: vec!["aws".into()], ..Default::default() },
    ///     ..Default::default()
    /// });
    /// aws.ready().await?;
    /// # Ok(()) }
    /// ```
    pub fn start(client: &Client, options: MirrorOptions) -> Mirror {
        let filter = options.filter.clone();
        let watch = client.watch(WatchOptions {
            filter: options.filter,
            snapshot: true,
            since: None,
            backoff: options.backoff,
            idle_timeout: options.idle_timeout,
        });
        let shared = Arc::new(Shared::default());
        let (status_tx, status) = watch::channel(Status::default());
        let (updates, _) = broadcast::channel(options.update_capacity.max(1));
        let weak = updates.downgrade();
        let task = tokio::spawn(run(
            watch,
            MirrorCore::new(shared.clone()).with_filter(filter),
            status_tx,
            updates,
        ));
        Mirror {
            shared,
            status,
            updates: weak,
            task: Some(task),
        }
    }

    /// Waits until the first snapshot is complete (at once if it already is).
    ///
    /// Fails if the mirror stops first: the server refused the feed for good (a bad filter),
    /// or the mirror was shut down. Bound the wait with `tokio::time::timeout` if the server
    /// may be unreachable: the mirror itself retries forever.
    ///
    /// ```no_run
    /// # async fn run(mirror: nestor_client::Mirror) {
    /// match tokio::time::timeout(std::time::Duration::from_secs(30), mirror.ready()).await {
    ///     Ok(Ok(())) => println!("ready at revision {}", mirror.revision()),
    ///     Ok(Err(e)) => eprintln!("mirror failed: {e}"),
    ///     Err(_) => eprintln!("server unreachable for 30 s"),
    /// }
    /// # }
    /// ```
    pub async fn ready(&self) -> Result<(), MirrorError> {
        self.wait(|s| s.ready).await
    }

    /// Waits until the mirror is ready and at `revision` or later, e.g. to read your own write:
    /// pass the revision of a publish's change event.
    ///
    /// ```no_run
    /// # async fn run(mirror: nestor_client::Mirror, client: nestor_client::Client, spec: nestor_client::model::ComponentSpec) -> Result<(), Box<dyn std::error::Error>> {
    /// let published = client.publish(&spec).await?;
    /// mirror.wait_for_revision(published.component.revision).await?;
    /// assert!(mirror.get(&spec.name, &spec.version).is_some());
    /// # Ok(()) }
    /// ```
    pub async fn wait_for_revision(&self, revision: Revision) -> Result<(), MirrorError> {
        self.wait(|s| s.ready && s.revision >= revision).await
    }

    async fn wait(&self, done: impl Fn(&Status) -> bool) -> Result<(), MirrorError> {
        let mut status = self.status.clone();
        match status.wait_for(|s| done(s) || s.ended.is_some()).await {
            Ok(s) if done(&s) => Ok(()),
            Ok(s) => Err(s.ended.clone().unwrap_or(MirrorError::Shutdown)),
            Err(_) => Err(MirrorError::Shutdown),
        }
    }

    /// Whether the first snapshot is complete.
    ///
    /// ```no_run
    /// # fn run(mirror: nestor_client::Mirror) {
    /// if !mirror.is_ready() {
    ///     println!("still loading");
    /// }
    /// # }
    /// ```
    pub fn is_ready(&self) -> bool {
        self.shared.read().ready
    }

    /// Why the mirror stopped following the feed, if it did. It keeps serving what it had.
    ///
    /// ```no_run
    /// # fn run(mirror: nestor_client::Mirror) {
    /// if let Some(e) = mirror.stopped() {
    ///     eprintln!("the mirror is frozen at revision {}: {e}", mirror.revision());
    /// }
    /// # }
    /// ```
    pub fn stopped(&self) -> Option<MirrorError> {
        if let Some(e) = self.status.borrow().ended.clone() {
            return Some(e);
        }
        match &self.task {
            Some(task) if !task.is_finished() => None,
            _ => Some(MirrorError::Shutdown),
        }
    }

    /// Waits until the mirror stops following the feed, and says why: it was shut down, or the
    /// server refused the feed for good. Transient failures never end it.
    ///
    /// ```no_run
    /// # async fn run(mirror: nestor_client::Mirror) {
    /// let why = mirror.closed().await;
    /// eprintln!("the mirror stopped: {why}");
    /// # }
    /// ```
    pub async fn closed(&self) -> MirrorError {
        let mut status = self.status.clone();
        match status.wait_for(|s| s.ended.is_some()).await {
            Ok(s) => s.ended.clone().unwrap_or(MirrorError::Shutdown),
            Err(_) => MirrorError::Shutdown,
        }
    }

    /// The catalog revision the content is at (0 before the first snapshot). Advanced by each
    /// change applied and, for a filtered mirror, by the feed's bookmarks.
    ///
    /// ```no_run
    /// # fn run(mirror: nestor_client::Mirror) {
    /// println!("at revision {}", mirror.revision());
    /// # }
    /// ```
    pub fn revision(&self) -> Revision {
        self.shared.read().revision
    }

    /// One exact version.
    ///
    /// ```no_run
    /// # fn run(mirror: nestor_client::Mirror) {
    /// if let Some(c) = mirror.get("aws-vpc", "1.2.0") {
    ///     println!("yanked: {}", c.yanked);
    /// }
    /// # }
    /// ```
    pub fn get(&self, name: &str, version: &str) -> Option<Component> {
        self.shared
            .read()
            .versions
            .get(name)?
            .get(&VersionKey::new(version))
            .cloned()
    }

    /// Every version of a component, newest first (empty when the name is unknown).
    ///
    /// ```no_run
    /// # fn run(mirror: nestor_client::Mirror) {
    /// for c in mirror.versions("aws-vpc") {
    ///     println!("{}", c.spec.version);
    /// }
    /// # }
    /// ```
    pub fn versions(&self, name: &str) -> Vec<Component> {
        self.shared
            .read()
            .versions
            .get(name)
            .map(|v| v.values().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// The latest version of a component: the highest that is neither yanked nor a
    /// pre-release (the server's rule).
    ///
    /// ```no_run
    /// # fn run(mirror: nestor_client::Mirror) {
    /// let latest = mirror.latest("aws-vpc").map(|c| c.spec.version);
    /// # }
    /// ```
    pub fn latest(&self, name: &str) -> Option<Component> {
        latest_of(self.shared.read().versions.get(name)?).cloned()
    }

    /// Every version held, ordered by name, then newest first.
    ///
    /// ```no_run
    /// # fn run(mirror: nestor_client::Mirror) {
    /// for c in mirror.list() {
    ///     println!("{}@{}", c.spec.name, c.spec.version);
    /// }
    /// # }
    /// ```
    pub fn list(&self) -> Vec<Component> {
        self.shared
            .read()
            .versions
            .values()
            .flat_map(|v| v.values().rev().cloned())
            .collect()
    }

    /// The latest version of each component that has one (see [`Mirror::latest`]), by name:
    /// what `GET /api/v1/components` lists.
    ///
    /// ```no_run
    /// # fn run(mirror: nestor_client::Mirror) {
    /// let names: Vec<String> = mirror.list_latest().into_iter().map(|c| c.spec.name).collect();
    /// # }
    /// ```
    pub fn list_latest(&self) -> Vec<Component> {
        self.shared
            .read()
            .versions
            .values()
            .filter_map(|v| latest_of(v).cloned())
            .collect()
    }

    /// Number of component versions held.
    ///
    /// ```no_run
    /// # fn run(mirror: nestor_client::Mirror) {
    /// println!("{} versions", mirror.len());
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        count(&self.shared.read().versions)
    }

    /// Whether no version is held.
    ///
    /// ```no_run
    /// # fn run(mirror: nestor_client::Mirror) {
    /// assert_eq!(mirror.is_empty(), mirror.len() == 0);
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.shared.read().versions.is_empty()
    }

    /// Updates from now on, in the order they are applied. Subscribe before [`Mirror::ready`]
    /// returns to see every change after the first snapshot.
    ///
    /// A receiver that falls more than [`MirrorOptions::update_capacity`] updates behind gets
    /// `RecvError::Lagged`; it can re-read the mirror, which is always complete. `recv` returns
    /// `RecvError::Closed` once the mirror has stopped (see [`Mirror::stopped`]).
    ///
    /// ```no_run
    /// # async fn run(mirror: nestor_client::Mirror) {
    /// let mut updates = mirror.subscribe();
    /// while let Ok(update) = updates.recv().await {
    ///     println!("now at revision {}", update.revision());
    /// }
    /// # }
    /// ```
    pub fn subscribe(&self) -> broadcast::Receiver<MirrorUpdate> {
        match self.updates.upgrade() {
            Some(updates) => updates.subscribe(),
            // Stopped: a receiver that is closed at once.
            None => broadcast::channel(1).1,
        }
    }

    /// Stops the task and waits until it has stopped. Dropping the mirror stops it too, without
    /// waiting.
    ///
    /// ```no_run
    /// # async fn run(mirror: nestor_client::Mirror) {
    /// mirror.shutdown().await;
    /// # }
    /// ```
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn latest_of(versions: &BTreeMap<VersionKey, Component>) -> Option<&Component> {
    versions
        .iter()
        .rev()
        .find(|(key, c)| !c.yanked && key.0.as_ref().is_some_and(|v| v.pre.is_empty()))
        .map(|(_, c)| c)
}

async fn run(
    mut feed: Watch,
    mut core: MirrorCore,
    status: watch::Sender<Status>,
    updates: broadcast::Sender<MirrorUpdate>,
) {
    while let Some(item) = feed.next().await {
        match item {
            Ok(event) => {
                // Announced before waiters wake: whoever returns from `wait_for_revision(r)`
                // finds every update up to `r` already in its `subscribe()` receiver.
                if let Some(update) = core.apply(event) {
                    // No receiver is fine.
                    let _ = updates.send(update);
                }
                let (ready, revision) = core.status();
                status.send_if_modified(|s| {
                    let changed = s.ready != ready || s.revision != revision;
                    s.ready = ready;
                    s.revision = revision;
                    changed
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "mirror: the change feed failed; the mirror is frozen");
                status.send_modify(|s| s.ended = Some(MirrorError::Failed(Arc::new(e))));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use nestor_model::{Bookmark, EventType, Reset, ResetReason};

    use super::*;

    fn component(name: &str, version: &str, revision: u64) -> Component {
        serde_json::from_value(serde_json::json!({
            "name": name,
            "version": version,
            "content_hash": "sha256:00",
            "published_at": "2026-01-01T00:00:00Z",
            "revision": revision,
        }))
        .unwrap()
    }

    fn change(revision: u64, event_type: EventType, mut c: Component) -> FeedEvent {
        c.revision = Revision(revision);
        FeedEvent::Change(ChangeEvent {
            revision: Revision(revision),
            event_type,
            name: c.spec.name.clone(),
            version: c.spec.version.clone(),
            component: c,
            occurred_at: time::OffsetDateTime::UNIX_EPOCH,
            changed_by: None,
        })
    }

    fn end(revision: u64) -> FeedEvent {
        FeedEvent::Bookmark(Bookmark {
            revision: Revision(revision),
            snapshot_end: true,
        })
    }

    fn ids(shared: &Shared) -> Vec<String> {
        shared
            .read()
            .versions
            .values()
            .flat_map(|v| v.values())
            .map(|c| format!("{}@{}", c.spec.name, c.spec.version))
            .collect()
    }

    #[test]
    fn a_version_whose_labels_stop_matching_leaves_a_label_filtered_mirror() {
        let shared = Arc::new(Shared::default());
        let mut core = MirrorCore::new(shared.clone()).with_filter(FeedFilter {
            labels: vec![crate::model::LabelFilter::Equals(
                "team".into(),
                "data".into(),
            )],
            ..Default::default()
        });
        let mut tagged = component("a", "1.0.0", 1);
        tagged.spec.labels.insert("team".into(), "data".into());
        core.apply(FeedEvent::Snapshot(tagged.clone()));
        core.apply(end(1));
        assert_eq!(ids(&shared), ["a@1.0.0"]);
        let mut moved = tagged;
        moved.spec.labels.insert("team".into(), "web".into());
        assert!(core.apply(change(2, EventType::Updated, moved)).is_some());
        assert!(ids(&shared).is_empty(), "it no longer matches the filter");
        assert_eq!(core.status(), (true, Revision(2)));
    }

    #[test]
    fn snapshot_is_swapped_in_whole_then_changes_apply_once() {
        let shared = Arc::new(Shared::default());
        let mut core = MirrorCore::new(shared.clone());
        assert_eq!(
            core.apply(FeedEvent::Snapshot(component("a", "1.0.0", 1))),
            None
        );
        core.apply(FeedEvent::Snapshot(component("b", "1.0.0", 2)));
        // Staged, not visible yet.
        assert!(ids(&shared).is_empty());
        assert!(!shared.read().ready);
        assert_eq!(
            core.apply(end(2)),
            Some(MirrorUpdate::Reloaded {
                revision: Revision(2),
                components: 2
            })
        );
        assert_eq!(ids(&shared), ["a@1.0.0", "b@1.0.0"]);
        assert_eq!(core.status(), (true, Revision(2)));

        let u = core.apply(change(3, EventType::Published, component("a", "1.1.0", 0)));
        assert_eq!(u.map(|u| u.revision()), Some(Revision(3)));
        let mut yanked = component("a", "1.0.0", 0);
        yanked.yanked = true;
        assert!(
            core.apply(change(4, EventType::Yanked, yanked.clone()))
                .is_some()
        );
        // A duplicate (already applied) changes nothing and announces nothing.
        assert!(
            core.apply(change(4, EventType::Yanked, component("a", "1.0.0", 0)))
                .is_none()
        );
        assert!(
            core.apply(change(3, EventType::Published, component("z", "1.0.0", 0)))
                .is_none()
        );
        assert_eq!(ids(&shared), ["a@1.0.0", "a@1.1.0", "b@1.0.0"]);
        let data = shared.read();
        let a = &data.versions["a"];
        assert!(a[&VersionKey::new("1.0.0")].yanked);
        assert_eq!(data.revision, Revision(4));
    }

    #[test]
    fn old_content_is_served_while_a_new_snapshot_is_staged_after_a_reset() {
        let shared = Arc::new(Shared::default());
        let mut core = MirrorCore::new(shared.clone());
        core.apply(FeedEvent::Snapshot(component("a", "1.0.0", 1)));
        core.apply(end(5));
        core.apply(change(6, EventType::Published, component("b", "1.0.0", 0)));

        core.apply(FeedEvent::Reset(Reset {
            reason: ResetReason::Ahead,
            requested: Revision(6),
            retained_after: Revision(0),
            current: Revision(3),
        }));
        core.apply(FeedEvent::Snapshot(component("c", "1.0.0", 1)));
        // Still the old content, at the old revision.
        assert_eq!(ids(&shared), ["a@1.0.0", "b@1.0.0"]);
        assert_eq!(core.status(), (true, Revision(6)));
        // A bookmark inside the new snapshot does not move the old content's revision.
        core.apply(FeedEvent::Bookmark(Bookmark {
            revision: Revision(9),
            snapshot_end: false,
        }));
        assert_eq!(core.status().1, Revision(6));

        // The connection broke mid-snapshot: the partial snapshot is dropped.
        core.apply(FeedEvent::SnapshotRestarted);
        core.apply(FeedEvent::Snapshot(component("d", "1.0.0", 2)));
        core.apply(FeedEvent::Snapshot(component("d", "2.0.0", 3)));
        assert_eq!(ids(&shared), ["a@1.0.0", "b@1.0.0"]);
        assert_eq!(
            core.apply(end(3)),
            Some(MirrorUpdate::Reloaded {
                revision: Revision(3),
                components: 2
            })
        );
        // The restored store's history: revision 3, and changes after it apply again.
        assert_eq!(ids(&shared), ["d@1.0.0", "d@2.0.0"]);
        assert_eq!(core.status(), (true, Revision(3)));
        assert!(
            core.apply(change(4, EventType::Published, component("e", "1.0.0", 0)))
                .is_some()
        );
        assert_eq!(core.status().1, Revision(4));
    }

    #[test]
    fn an_empty_snapshot_makes_the_mirror_ready_and_bookmarks_advance_it() {
        let shared = Arc::new(Shared::default());
        let mut core = MirrorCore::new(shared.clone());
        assert!(core.apply(end(0)).is_some());
        assert_eq!(core.status(), (true, Revision(0)));
        core.apply(FeedEvent::Bookmark(Bookmark {
            revision: Revision(12),
            snapshot_end: false,
        }));
        assert_eq!(core.status(), (true, Revision(12)));
        // Bookmarks never move it back.
        core.apply(FeedEvent::Bookmark(Bookmark {
            revision: Revision(10),
            snapshot_end: false,
        }));
        assert_eq!(core.status(), (true, Revision(12)));
    }

    #[test]
    fn versions_sort_by_semver_and_latest_skips_yanked_and_prereleases() {
        let shared = Arc::new(Shared::default());
        let mut core = MirrorCore::new(shared.clone());
        for v in ["1.10.0", "1.9.0", "2.0.0-rc.1", "1.2.0"] {
            core.apply(FeedEvent::Snapshot(component("a", v, 1)));
        }
        core.apply(end(1));
        let mut yanked = component("a", "1.10.0", 0);
        yanked.yanked = true;
        core.apply(change(2, EventType::Yanked, yanked));
        let data = shared.read();
        let a = &data.versions["a"];
        let order: Vec<&str> = a.values().rev().map(|c| c.spec.version.as_str()).collect();
        assert_eq!(order, ["2.0.0-rc.1", "1.10.0", "1.9.0", "1.2.0"]);
        assert_eq!(latest_of(a).map(|c| c.spec.version.as_str()), Some("1.9.0"));
    }
}
