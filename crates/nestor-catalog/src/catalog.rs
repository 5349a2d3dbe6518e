//! [`Catalog`]: publish, patch and query, with validate-before-write and immutability.

use std::sync::Arc;

use nestor_engines::EngineRegistry;
use nestor_model::{
    Actor, ChangeEvent, Component, ComponentSpec, DependencyList, EventType, Finding, PatchRequest,
    PublishOutcome, ResolvedDependency, Revision, Severity, VersionList, parse_version,
};
use nestor_storage::{CatalogStore, NameCondition, StoreError, pick_latest};
use nestor_validation::{Validator, actual_bump, required_bump};
use semver::{Version, VersionReq};
use time::OffsetDateTime;
use tokio::sync::broadcast;

use crate::{CatalogError, interface_diff};

/// How many times a write is retried when it loses a race with a concurrent writer.
const MAX_WRITE_ATTEMPTS: usize = 5;
/// Capacity of the in-process change broadcast (subscribers that fall behind re-read the log).
const BROADCAST_CAPACITY: usize = 1024;

/// Who is publishing. The first publisher of a name owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Through the API, by an authenticated identity (or `anonymous`).
    Api {
        /// Token name or user.
        identity: String,
    },
    /// From a configured source.
    Source {
        /// Source id from the configuration.
        id: String,
    },
}

impl Origin {
    /// The owner string recorded for new names.
    pub fn owner(&self) -> String {
        match self {
            Origin::Api { identity } => format!("api:{identity}"),
            Origin::Source { id } => format!("source:{id}"),
        }
    }

    /// Who writes for this origin, as recorded on versions and events: the token for the API;
    /// the source for a sync, with its `run` and `commit` when known.
    pub fn actor(&self, run: Option<u64>, commit: Option<String>) -> Actor {
        match self {
            Origin::Api { identity } => Actor::Api {
                token: identity.clone(),
            },
            Origin::Source { id } => Actor::Sync {
                source: id.clone(),
                run,
                commit,
            },
        }
    }
}

/// Longest `deprecated.message` a patch may set (as a description).
const PATCH_MAX_MESSAGE: usize = nestor_model::limits::MAX_TEXT;

/// The well-formedness findings on the fields a patch sets (`patched`: their paths), as a 422:
/// a patch is held to the limits a publish is (sizes, control characters).
fn refuse_malformed_patch(c: &Component, patched: &[&str]) -> Result<(), CatalogError> {
    if patched.is_empty() {
        return Ok(());
    }
    let mut report = nestor_validation::Validator::well_formed()
        .validate(&c.spec, &nestor_validation::Context::default());
    report.findings.retain(|f| {
        f.severity == nestor_model::Severity::Error
            && patched.iter().any(|p| {
                f.path == *p
                    || f.path.starts_with(&format!("{p}."))
                    || f.path.starts_with(&format!("{p}["))
            })
    });
    if report.findings.is_empty() {
        return Ok(());
    }
    report.valid = false;
    Err(CatalogError::Invalid(Box::new(report)))
}

/// What a publish did.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishResult {
    /// Created, updated or unchanged.
    pub outcome: PublishOutcome,
    /// The version as stored now.
    pub component: Component,
    /// The change event written, if anything changed.
    pub event: Option<ChangeEvent>,
    /// Non-blocking findings.
    pub warnings: Vec<Finding>,
}

/// The catalog manager. Cheap to share behind an `Arc`.
pub struct Catalog {
    pub(crate) store: Arc<dyn CatalogStore>,
    pub(crate) validator: Validator,
    pub(crate) engines: Option<Arc<dyn EngineRegistry>>,
    pub(crate) verdicts:
        moka::sync::Cache<crate::validation::VerdictKey, Arc<nestor_model::ValidationReport>>,
    changes: broadcast::Sender<Arc<crate::SharedEvent>>,
    /// Search, filters, facets and dependents, kept current from the changes.
    pub(crate) index: Arc<crate::CatalogIndex>,
    /// The highest revision broadcast so far (by a local write or by [`Catalog::follow_log`]).
    pub(crate) broadcast_revision: Arc<std::sync::atomic::AtomicU64>,
    /// Store reads of change feeds in flight at once (`feed::FEED_READERS`).
    pub(crate) feed_reads: Arc<tokio::sync::Semaphore>,
}

fn parse_version_param(version: &str) -> Result<Version, CatalogError> {
    parse_version(version).map_err(|e| CatalogError::InvalidParameter {
        parameter: "version",
        message: e.to_string(),
    })
}

impl Catalog {
    /// A catalog over `store`, validating with `validator`; engines named by definitions are
    /// checked against `engines` when given.
    pub fn new(
        store: Arc<dyn CatalogStore>,
        validator: Validator,
        engines: Option<Arc<dyn EngineRegistry>>,
    ) -> Self {
        let (changes, _) = broadcast::channel(BROADCAST_CAPACITY);
        Catalog {
            store,
            validator,
            engines,
            verdicts: moka::sync::Cache::builder()
                .max_capacity(crate::validation::VERDICT_CACHE_SIZE)
                .initial_capacity(crate::validation::VERDICT_CACHE_SIZE as usize)
                .build(),
            changes,
            index: Arc::new(crate::CatalogIndex::default()),
            broadcast_revision: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            feed_reads: Arc::new(tokio::sync::Semaphore::new(crate::feed::FEED_READERS)),
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn CatalogStore> {
        &self.store
    }

    pub(crate) fn broadcast(&self, event: Arc<crate::SharedEvent>) {
        self.index.offer(&event);
        let revision = event.revision.0;
        let _ = self.changes.send(event);
        self.broadcast_revision
            .fetch_max(revision, std::sync::atomic::Ordering::SeqCst);
    }

    /// Broadcasts changes that other processes wrote to the same store (another replica, a
    /// `nestor` command), by polling the log's revision every `every`, until `stop` resolves.
    /// Local writes are broadcast as they happen; this makes the rest reach this process's
    /// event streams within one interval, in one shared copy, instead of every stream polling.
    pub async fn follow_log(
        &self,
        every: std::time::Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        use std::sync::atomic::Ordering;
        let mut stop = std::pin::pin!(stop);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = &mut stop => return,
            }
            let seen = self.broadcast_revision.load(Ordering::SeqCst);
            let current = match self.store.current_revision().await {
                Ok(r) => r.0,
                Err(e) => {
                    tracing::warn!(error = %e, "following the event log: cannot read the revision");
                    continue;
                }
            };
            if current <= seen {
                continue;
            }
            // Start from the retained log if the gap was pruned; streams that need older
            // events catch up (or reset) on their own.
            let mut after = nestor_model::Revision(seen);
            while after.0 < current {
                match self.store.events_since(after, 512).await {
                    Ok(events) if events.is_empty() => break,
                    Ok(events) => {
                        for e in events {
                            after = e.revision;
                            if e.revision.0 > self.broadcast_revision.load(Ordering::SeqCst) {
                                self.broadcast(crate::SharedEvent::new(e));
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "following the event log: cannot read events");
                        break;
                    }
                }
            }
        }
    }

    /// Live change events written through this catalog, shared between receivers. Concurrent
    /// writes may be broadcast slightly out of revision order, and a receiver that lags gets
    /// `RecvError::Lagged`: [`Catalog::feed`] handles both from the persistent log, so use it
    /// wherever order and completeness matter.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<crate::SharedEvent>> {
        self.changes.subscribe()
    }

    /// Publishes a definition: validates it, then creates the version, updates its descriptive
    /// fields (same interface), or does nothing (identical). A different interface under an
    /// existing version is a [`CatalogError::VersionConflict`].
    pub async fn publish(
        &self,
        spec: ComponentSpec,
        origin: &Origin,
    ) -> Result<PublishResult, CatalogError> {
        self.publish_in(spec, origin, &[]).await
    }

    /// [`Catalog::publish`] through the API on behalf of the token `actor`: a name the API
    /// owns takes new versions and descriptive updates from its owners only, unless `actor`
    /// has `privileged` rights (the admin scope); others get [`CatalogError::NotOwner`]. A new
    /// name is owned by `actor`.
    pub async fn publish_as(
        &self,
        spec: ComponentSpec,
        actor: &str,
        privileged: bool,
    ) -> Result<PublishResult, CatalogError> {
        let origin = Origin::Api {
            identity: actor.to_owned(),
        };
        let writer = origin.actor(None, None);
        self.publish_checked(spec, &origin, &[], privileged, writer)
            .await
    }

    /// [`Catalog::publish`] as a member of a batch: `pending` are the batch's other valid new
    /// versions, which count when checking dependencies and predecessors. The write is recorded
    /// as `origin`'s (for a source: the commit the definition names, no run).
    pub async fn publish_in(
        &self,
        spec: ComponentSpec,
        origin: &Origin,
        pending: &[&ComponentSpec],
    ) -> Result<PublishResult, CatalogError> {
        let writer = origin.actor(None, spec.git_commit.clone());
        self.publish_checked(spec, origin, pending, false, writer)
            .await
    }

    /// The publish: an API origin without `privileged` rights must own the name, if it exists.
    /// What it writes is recorded as `writer`'s.
    #[tracing::instrument(skip_all, fields(component = %spec.name, version = %spec.version, origin = ?origin))]
    pub(crate) async fn publish_checked(
        &self,
        spec: ComponentSpec,
        origin: &Origin,
        pending: &[&ComponentSpec],
        privileged: bool,
        writer: Actor,
    ) -> Result<PublishResult, CatalogError> {
        let content_hash = spec.content_hash();
        for _ in 0..MAX_WRITE_ATTEMPTS {
            // Who may write depends on who owns the name: checked on every attempt, and a new
            // name is inserted only if it is still new (another writer may create it first).
            let owners = self.store.name_owners(&spec.name).await?;
            if !privileged {
                self.check_api_owner(
                    &spec.name,
                    owners.as_deref(),
                    origin,
                    "publish its versions",
                )?;
            }
            let name_condition = match owners {
                None => NameCondition::New,
                Some(_) => NameCondition::Any,
            };
            let snapshot = self.snapshot_for(&[&spec], pending, Some(origin)).await?;
            let candidate = crate::validation::Candidate {
                spec: &spec,
                file: None,
                line: None,
                unknown_fields: &[],
                findings: &[],
            };
            let report = self.validate_in(&candidate, &snapshot, Some(origin));
            let version = match parse_version_param(&spec.version) {
                Ok(v)
                    if report.valid
                        || report.findings.iter().any(|f| f.rule == "VERSION_CONFLICT") =>
                {
                    v
                }
                _ => {
                    crate::metrics::findings(&[&report]);
                    return Err(invalid(report, &spec, &snapshot));
                }
            };
            let warnings: Vec<Finding> = report
                .findings
                .into_iter()
                .filter(|f| f.severity == Severity::Warning)
                .collect();
            let existing = self.store.get_version(&spec.name, &version).await?;
            let result = match existing {
                None => {
                    let component = Component {
                        spec: spec.clone(),
                        content_hash: content_hash.clone(),
                        published_at: OffsetDateTime::now_utc(),
                        revision: Revision(0),
                        deprecated: None,
                        yanked: false,
                        published_by: Some(writer.clone()),
                        changed_by: Some(writer.clone()),
                    };
                    self.store
                        .insert_version_if(component, &origin.owner(), name_condition)
                        .await
                        .map(|ev| (PublishOutcome::Created, ev))
                }
                Some(existing) if existing.content_hash != content_hash => {
                    return Err(CatalogError::VersionConflict {
                        differences: interface_diff(&existing.spec, &spec),
                        name: spec.name,
                        version: spec.version,
                        published_hash: existing.content_hash,
                        submitted_hash: content_hash,
                    });
                }
                Some(existing) if existing.spec.same_descriptive_fields(&spec) => {
                    return Ok(PublishResult {
                        outcome: PublishOutcome::Unchanged,
                        component: existing,
                        event: None,
                        warnings,
                    });
                }
                Some(existing) => {
                    let expected = existing.revision;
                    let mut updated = existing;
                    // Same interface: take the new descriptive fields (and input/output
                    // descriptions) but keep the original git provenance.
                    let provenance = (
                        updated.spec.git_repository.take(),
                        updated.spec.git_commit.take(),
                        updated.spec.git_path.take(),
                    );
                    updated.spec = spec.clone();
                    (
                        updated.spec.git_repository,
                        updated.spec.git_commit,
                        updated.spec.git_path,
                    ) = provenance;
                    updated.changed_by = Some(writer.clone());
                    self.store
                        .update_version(updated, expected, EventType::Updated)
                        .await
                        .map(|ev| (PublishOutcome::Updated, ev))
                }
            };
            match result {
                Ok((outcome, event)) => {
                    tracing::info!(revision = %event.revision, ?outcome, "published");
                    crate::metrics::event_published(event.event_type.as_str());
                    if outcome == PublishOutcome::Created {
                        crate::metrics::acknowledged_changes(&warnings, &origin.owner());
                    }
                    let component = event.component.clone();
                    self.broadcast(crate::SharedEvent::new(event.clone()));
                    self.index.settle(event.revision).await;
                    return Ok(PublishResult {
                        outcome,
                        component,
                        event: Some(event),
                        warnings,
                    });
                }
                // Lost a race with another writer of the same version or name: read again and
                // decide again.
                Err(
                    StoreError::AlreadyExists { .. }
                    | StoreError::Concurrent { .. }
                    | StoreError::NameTaken { .. },
                ) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Unavailable {
            operation: "publish",
            message: "too much write contention; retry".into(),
        }
        .into())
    }

    /// Changes the mutable fields of a version, with no writer recorded (`changed_by` absent):
    /// the API goes through [`Catalog::patch_as`], which records the token.
    #[tracing::instrument(skip_all, fields(component = %name, version = %version))]
    pub async fn patch(
        &self,
        name: &str,
        version: &str,
        patch: PatchRequest,
    ) -> Result<(Component, Option<ChangeEvent>), CatalogError> {
        self.patch_unchecked(name, version, patch, None).await
    }

    /// [`Catalog::patch`] on behalf of `actor`, through the API. A name a source owns (it came
    /// from git or a directory) keeps that source as the one place its versions are described:
    /// its descriptive fields are refused here, and deprecating or yanking it needs an
    /// `actor` with `privileged` rights (the admin scope). A name the API owns is changed by
    /// its owners only (or a `privileged` actor): others get [`CatalogError::NotOwner`]. The
    /// change is logged with the actor.
    pub async fn patch_as(
        &self,
        name: &str,
        version: &str,
        patch: PatchRequest,
        actor: &str,
        privileged: bool,
    ) -> Result<(Component, Option<ChangeEvent>), CatalogError> {
        if let Some(owner) = self.store.name_owner(name).await?
            && let Some(source) = owner.strip_prefix("source:")
        {
            let descriptive = patch.description.is_some()
                || patch.maturity.is_some()
                || patch.support_level.is_some()
                || patch.resource_limits.is_some()
                || patch.labels.is_some()
                || patch.annotations.is_some();
            if descriptive {
                return Err(CatalogError::Forbidden(format!(
                    "{name} is owned by source {source}: its descriptive fields change in the source, not through the API"
                )));
            }
            if !privileged {
                return Err(CatalogError::Forbidden(format!(
                    "{name} is owned by source {source}: deprecating or yanking it through the API needs the admin scope"
                )));
            }
        }
        if !privileged {
            let origin = Origin::Api {
                identity: actor.to_owned(),
            };
            let owners = self.store.name_owners(name).await?;
            self.check_api_owner(name, owners.as_deref(), &origin, "change its versions")?;
        }
        let writer = Actor::Api {
            token: actor.to_owned(),
        };
        let result = self
            .patch_unchecked(name, version, patch, Some(&writer))
            .await?;
        if let Some(event) = &result.1 {
            tracing::info!(
                component = name, version, actor, change = event.event_type.as_str(),
                revision = %event.revision, "version patched through the API"
            );
        }
        Ok(result)
    }

    async fn patch_unchecked(
        &self,
        name: &str,
        version: &str,
        patch: PatchRequest,
        writer: Option<&Actor>,
    ) -> Result<(Component, Option<ChangeEvent>), CatalogError> {
        if patch.is_empty() {
            return Err(CatalogError::InvalidPatch(
                "the patch changes nothing; send at least one field".into(),
            ));
        }
        if let Some(Some(d)) = &patch.deprecated
            && d.message.trim().is_empty()
        {
            return Err(CatalogError::InvalidPatch(
                "deprecated.message must say why, or what to use instead".into(),
            ));
        }
        if let Some(Some(d)) = &patch.deprecated
            && (nestor_model::limits::char_len(&d.message) > PATCH_MAX_MESSAGE
                || d.message
                    .chars()
                    .any(|c| nestor_model::limits::unsafe_char(c, true)))
        {
            return Err(CatalogError::InvalidPatch(format!(
                "deprecated.message must be at most {PATCH_MAX_MESSAGE} characters of text without control characters"
            )));
        }
        // The fields the patch sets, as finding paths: the publish rules apply to them alike.
        let patched: Vec<&str> = [
            (patch.description.is_some(), "description"),
            (patch.labels.is_some(), "labels"),
            (patch.annotations.is_some(), "annotations"),
            (patch.resource_limits.is_some(), "resource_limits"),
        ]
        .into_iter()
        .filter_map(|(set, path)| set.then_some(path))
        .collect();
        let parsed = parse_version_param(version)?;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let existing = self.get_version(name, &parsed).await?;
            let expected = existing.revision;
            let mut c = existing.clone();
            let p = patch.clone();
            if let Some(v) = p.description {
                c.spec.description = v
            }
            if let Some(v) = p.maturity {
                c.spec.maturity = v
            }
            if let Some(v) = p.support_level {
                c.spec.support_level = v
            }
            if let Some(v) = p.resource_limits {
                c.spec.resource_limits = Some(v)
            }
            if let Some(v) = p.labels {
                c.spec.labels = v
            }
            if let Some(v) = p.annotations {
                c.spec.annotations = v
            }
            if let Some(v) = p.deprecated {
                c.deprecated = v
            }
            if let Some(v) = p.yanked {
                c.yanked = v
            }
            refuse_malformed_patch(&c, &patched)?;
            let event_type = if c.yanked != existing.yanked {
                if c.yanked {
                    EventType::Yanked
                } else {
                    EventType::Unyanked
                }
            } else if c.deprecated.is_some() != existing.deprecated.is_some() {
                if c.deprecated.is_some() {
                    EventType::Deprecated
                } else {
                    EventType::Undeprecated
                }
            } else if c != existing {
                EventType::Updated
            } else {
                return Ok((existing, None));
            };
            c.changed_by = writer.cloned();
            match self.store.update_version(c, expected, event_type).await {
                Ok(event) => {
                    tracing::info!(revision = %event.revision, event = event_type.as_str(), "patched");
                    crate::metrics::event_published(event_type.as_str());
                    self.broadcast(crate::SharedEvent::new(event.clone()));
                    self.index.settle(event.revision).await;
                    return Ok((event.component.clone(), Some(event)));
                }
                Err(StoreError::Concurrent { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Unavailable {
            operation: "patch",
            message: "too much write contention; retry".into(),
        }
        .into())
    }

    async fn get_version(&self, name: &str, version: &Version) -> Result<Component, CatalogError> {
        if let Some(c) = self.store.get_version(name, version).await? {
            return Ok(c);
        }
        let versions = self.store.list_versions(name).await?;
        if versions.value.is_empty() {
            Err(CatalogError::ComponentNotFound {
                name: name.to_owned(),
            })
        } else {
            Err(CatalogError::VersionNotFound {
                name: name.to_owned(),
                detail: format!(
                    "{name} has no version {version} (latest versions: {})",
                    newest(&versions.value)
                ),
            })
        }
    }

    /// One exact version.
    pub async fn version(&self, name: &str, version: &str) -> Result<Component, CatalogError> {
        self.get_version(name, &parse_version_param(version)?).await
    }

    /// One exact version as canonical JSON: the hot read path, served without re-encoding when
    /// the store caches it.
    pub async fn version_json(
        &self,
        name: &str,
        version: &str,
    ) -> Result<bytes::Bytes, CatalogError> {
        let parsed = parse_version_param(version)?;
        match self.store.get_version_json(name, &parsed).await? {
            Some(json) => Ok(json),
            // Not there: let the typed path say precisely what is missing.
            None => self.get_version(name, &parsed).await.and_then(|_| {
                Err(CatalogError::VersionNotFound {
                    name: name.to_owned(),
                    detail: format!("{name} has no version {version}"),
                })
            }),
        }
    }

    /// Every version of a component, newest first.
    pub async fn versions(&self, name: &str) -> Result<VersionList, CatalogError> {
        let snap = self.store.list_versions(name).await?;
        if snap.value.is_empty() {
            return Err(CatalogError::ComponentNotFound {
                name: name.to_owned(),
            });
        }
        Ok(VersionList {
            name: name.to_owned(),
            items: snap.value,
            revision: snap.revision,
        })
    }

    /// The latest version: the highest that is not yanked and, unless `include_prerelease`, not
    /// a pre-release.
    pub async fn latest(
        &self,
        name: &str,
        include_prerelease: bool,
    ) -> Result<Component, CatalogError> {
        let list = self.versions(name).await?;
        let parsed: Vec<(Version, &Component)> = list
            .items
            .iter()
            .filter_map(|c| c.semver().ok().map(|v| (v, c)))
            .collect();
        let latest = pick_latest(
            parsed.iter().map(|(v, c)| (v, c.yanked)),
            include_prerelease,
        );
        match latest.and_then(|l| parsed.iter().find(|(v, _)| v == l)) {
            Some((_, c)) => Ok((*c).clone()),
            None => Err(CatalogError::VersionNotFound {
                name: name.to_owned(),
                detail: if include_prerelease {
                    format!("every version of {name} is yanked")
                } else {
                    format!(
                        "{name} has no released, non-yanked version; pass include_prerelease=true to consider pre-releases"
                    )
                },
            }),
        }
    }

    /// The highest non-yanked version matching a Cargo-style requirement. Pre-releases match only
    /// when the requirement names one (semver's rule).
    pub async fn resolve(&self, name: &str, req: &str) -> Result<Component, CatalogError> {
        let parsed = VersionReq::parse(req).map_err(|e| CatalogError::InvalidParameter {
            parameter: "req",
            message: format!("{req:?}: {e}"),
        })?;
        let list = self.versions(name).await?;
        resolve_in(&list.items, &parsed)
            .cloned()
            .ok_or_else(|| CatalogError::NoMatchingVersion {
                name: name.to_owned(),
                req: req.to_owned(),
            })
    }

    /// The direct dependencies of a version, each resolved to the highest matching version.
    pub async fn dependencies(
        &self,
        name: &str,
        version: &str,
    ) -> Result<DependencyList, CatalogError> {
        let c = self.version(name, version).await?;
        let revision = self.store.current_revision().await?;
        let mut items = Vec::with_capacity(c.spec.dependencies.len());
        for dep in &c.spec.dependencies {
            let resolved = match VersionReq::parse(&dep.version_req) {
                Ok(req) => {
                    resolve_in(&self.store.list_versions(&dep.name).await?.value, &req).cloned()
                }
                Err(_) => None,
            };
            items.push(ResolvedDependency {
                name: dep.name.clone(),
                version_req: dep.version_req.clone(),
                resolved,
            });
        }
        Ok(DependencyList {
            name: c.spec.name,
            version: c.spec.version,
            items,
            revision,
        })
    }

    /// The classified difference between two published versions.
    pub async fn diff(
        &self,
        name: &str,
        from: &str,
        to: &str,
    ) -> Result<nestor_model::VersionDiff, CatalogError> {
        let (a, b) = (
            self.version(name, from).await?,
            self.version(name, to).await?,
        );
        let (va, vb) = (parse_version_param(from)?, parse_version_param(to)?);
        let changes = self.validator.policy().classify(&a.spec, &b.spec);
        let actual = if va <= vb {
            actual_bump(&va, &vb)
        } else {
            actual_bump(&vb, &va)
        };
        Ok(nestor_model::VersionDiff {
            name: name.to_owned(),
            from: a.spec.version,
            to: b.spec.version,
            required_bump: required_bump(&changes),
            actual_bump: actual,
            changes,
        })
    }

    /// The catalog index (search, filters, facets, dependents).
    pub fn index(&self) -> &Arc<crate::CatalogIndex> {
        &self.index
    }

    /// Builds the index from a snapshot of the store (see [`crate::CatalogIndex::build`]).
    pub async fn build_index(&self) -> Result<(), CatalogError> {
        self.index.build(self.store.as_ref()).await
    }

    /// Keeps the index current with changes written by other processes, until `stop`
    /// resolves (see [`crate::CatalogIndex::follow`]).
    pub async fn follow_index(
        &self,
        every: std::time::Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        self.index.follow(self.store.as_ref(), every, stop).await
    }

    /// The index, built on first use (the server builds it at start-up and reports progress;
    /// tools and tests get it lazily), and at `min_revision` or later (waiting up to `wait`).
    async fn index_at(
        &self,
        min_revision: Option<Revision>,
        wait: std::time::Duration,
    ) -> Result<&crate::CatalogIndex, CatalogError> {
        match self.index.status() {
            crate::IndexStatus::Empty => self.build_index().await?,
            // Starting up: a short wait beats a 503 for a client that asked a moment early.
            crate::IndexStatus::Building { .. } => {
                self.index.wait_built(crate::index::BUILD_WAIT).await;
            }
            crate::IndexStatus::Ready { .. } => {}
        }
        // A revision no write has made yet cannot be waited for: refused at once, instead of
        // after the whole wait.
        if let Some(r) = min_revision
            && r > self.index.revision()
        {
            let current = self.store.current_revision().await?;
            if r > current {
                return Err(CatalogError::InvalidParameter {
                    parameter: "min_revision",
                    message: format!(
                        "{r} is ahead of the catalog (at revision {current}); give a revision a write returned"
                    ),
                });
            }
        }
        if let Some(r) = min_revision
            && !self.index.wait_for(r, wait).await
        {
            return Err(crate::IndexError::Unavailable(format!(
                "the catalog index is at revision {} and did not reach min_revision {r} within {} s; retry later",
                self.index.revision(),
                wait.as_secs_f64()
            ))
            .into());
        }
        Ok(&self.index)
    }

    /// A page of a list or search query, answered by the index.
    pub async fn query(
        &self,
        query: &crate::IndexQuery,
        min_revision: Option<Revision>,
        wait: std::time::Duration,
    ) -> Result<crate::IndexPage, CatalogError> {
        Ok(self.index_at(min_revision, wait).await?.query(query)?)
    }

    /// The components that depend on `name` (see [`crate::CatalogIndex::dependents`]).
    pub async fn dependents(
        &self,
        name: &str,
        query: &crate::DependentsQuery,
        min_revision: Option<Revision>,
        wait: std::time::Duration,
    ) -> Result<crate::DependentsPage, CatalogError> {
        let version = query
            .version
            .as_deref()
            .map(parse_version_param)
            .transpose()?;
        let index = self.index_at(min_revision, wait).await?;
        if !index.knows(name)? {
            return Err(CatalogError::ComponentNotFound {
                name: name.to_owned(),
            });
        }
        Ok(index.dependents(name, version.as_ref(), query)?)
    }
}

/// The error for an invalid report: a name owned by another source is a conflict (409), the rest
/// is an invalid definition (422).
fn invalid(
    report: nestor_model::ValidationReport,
    spec: &ComponentSpec,
    snapshot: &nestor_validation::CatalogSnapshot,
) -> CatalogError {
    let only_ownership = report
        .errors()
        .all(|f| f.rule == nestor_validation::catalog_rule_ids::NAME_CONFLICT);
    match snapshot.owner(&spec.name) {
        Some(owner) if only_ownership => CatalogError::NameConflict {
            name: spec.name.clone(),
            owner: owner.to_owned(),
        },
        _ => CatalogError::Invalid(Box::new(report)),
    }
}

fn resolve_in<'a>(newest_first: &'a [Component], req: &VersionReq) -> Option<&'a Component> {
    newest_first
        .iter()
        .find(|c| !c.yanked && c.semver().is_ok_and(|v| req.matches(&v)))
}

fn newest(items: &[Component]) -> String {
    items
        .iter()
        .take(5)
        .map(|c| c.spec.version.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
