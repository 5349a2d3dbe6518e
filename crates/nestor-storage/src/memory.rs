//! The in-memory backend: a `BTreeMap` behind a lock. For tests and for trying things out; it
//! keeps every guarantee of the traits except durability.

use std::collections::{BTreeMap, VecDeque};

use async_trait::async_trait;
use nestor_model::{ChangeEvent, Component, EventType, Revision, SourceState, SyncRun};
use semver::Version;
use std::sync::RwLock;
use time::OffsetDateTime;

use crate::{
    CatalogStore, ChangeFeed, ComponentReader, ComponentWriter, LatestPage, LatestQuery,
    NameCondition, Pruned, Retention, Snapshot, StoreError, StoreResult, SyncStore, pick_latest,
};

#[derive(Default)]
struct NameEntry {
    owner: String,
    /// `None`: the owner alone.
    owners: Option<Vec<String>>,
    versions: BTreeMap<Version, Component>,
}

impl NameEntry {
    fn owners(&self) -> Vec<String> {
        self.owners
            .clone()
            .unwrap_or_else(|| vec![self.owner.clone()])
    }
}

#[derive(Default)]
struct State {
    revision: Revision,
    names: BTreeMap<String, NameEntry>,
    /// Events after `retained_after`, dense: the event with revision r is at index
    /// r - retained_after - 1.
    events: VecDeque<ChangeEvent>,
    retained_after: Revision,
    runs: BTreeMap<u64, SyncRun>,
    sources: BTreeMap<String, SourceState>,
    /// name → (holder, expiry)
    leases: BTreeMap<String, (String, std::time::Instant)>,
    /// delivery key → expiry
    deliveries: BTreeMap<String, std::time::Instant>,
}

/// In-memory [`CatalogStore`].
#[derive(Default)]
pub struct MemoryStore {
    state: RwLock<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A poisoned lock means a panic mid-write in this process; the map itself is never left
        // half-updated (each write is a few infallible inserts), so reading on is sound.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn parse(c: &Component) -> StoreResult<Version> {
    c.semver().map_err(|e| StoreError::Backend {
        operation: "write",
        message: e.to_string(),
    })
}

fn append(state: &mut State, mut component: Component, event_type: EventType) -> ChangeEvent {
    state.revision = state.revision.next();
    component.revision = state.revision;
    let event = ChangeEvent {
        revision: state.revision,
        event_type,
        name: component.spec.name.clone(),
        version: component.spec.version.clone(),
        changed_by: component.changed_by.clone(),
        component,
        occurred_at: OffsetDateTime::now_utc(),
    };
    state.events.push_back(event.clone());
    event
}

#[async_trait]
impl ComponentReader for MemoryStore {
    async fn get_version(&self, name: &str, version: &Version) -> StoreResult<Option<Component>> {
        Ok(self
            .read()
            .names
            .get(name)
            .and_then(|e| e.versions.get(version))
            .cloned())
    }

    async fn list_versions(&self, name: &str) -> StoreResult<Snapshot<Vec<Component>>> {
        let state = self.read();
        let value = state
            .names
            .get(name)
            .map(|e| e.versions.values().rev().cloned().collect())
            .unwrap_or_default();
        Ok(Snapshot {
            value,
            revision: state.revision,
        })
    }

    async fn list_latest(&self, q: &LatestQuery) -> StoreResult<Snapshot<LatestPage>> {
        let state = self.read();
        let range = match &q.after {
            Some(after) => state.names.range::<str, _>((
                std::ops::Bound::Excluded(after.as_str()),
                std::ops::Bound::Unbounded,
            )),
            None => state.names.range::<str, _>(..),
        };
        let mut items = Vec::new();
        let mut more = false;
        for (_, entry) in range {
            let Some(latest) = pick_latest(
                entry.versions.iter().map(|(v, c)| (v, c.yanked)),
                q.include_prerelease,
            ) else {
                continue;
            };
            let c = &entry.versions[latest];
            if !q.filter.matches(c) {
                continue;
            }
            if items.len() == q.limit {
                more = true;
                break;
            }
            items.push(c.clone());
        }
        Ok(Snapshot {
            value: LatestPage { items, more },
            revision: state.revision,
        })
    }

    async fn name_owner(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(self.read().names.get(name).map(|e| e.owner.clone()))
    }

    async fn name_owners(&self, name: &str) -> StoreResult<Option<Vec<String>>> {
        Ok(self.read().names.get(name).map(NameEntry::owners))
    }

    fn pages_cheaply(&self) -> bool {
        true
    }

    async fn list_page(
        &self,
        after: Option<(String, String)>,
        limit: usize,
    ) -> StoreResult<Snapshot<Vec<Component>>> {
        let state = self.read();
        let mut value: Vec<Component> = Vec::with_capacity(limit.min(64));
        let names = match &after {
            Some((name, _)) => state.names.range::<str, _>((
                std::ops::Bound::Included(name.as_str()),
                std::ops::Bound::Unbounded,
            )),
            None => state.names.range::<str, _>(..),
        };
        'names: for (name, entry) in names {
            let mut versions: Vec<&Component> = entry
                .versions
                .values()
                .filter(|c| {
                    after
                        .as_ref()
                        .is_none_or(|(n, v)| (name, &c.spec.version) > (n, v))
                })
                .collect();
            versions.sort_by(|a, b| a.spec.version.cmp(&b.spec.version));
            for c in versions {
                if value.len() == limit {
                    break 'names;
                }
                value.push(c.clone());
            }
        }
        Ok(Snapshot {
            value,
            revision: state.revision,
        })
    }

    async fn list_all(&self) -> StoreResult<Snapshot<Vec<Component>>> {
        let state = self.read();
        let mut value: Vec<Component> = state
            .names
            .values()
            .flat_map(|e| e.versions.values().cloned())
            .collect();
        value.sort_by(|a, b| (&a.spec.name, &a.spec.version).cmp(&(&b.spec.name, &b.spec.version)));
        Ok(Snapshot {
            value,
            revision: state.revision,
        })
    }
}

#[async_trait]
impl ComponentWriter for MemoryStore {
    async fn insert_version_if(
        &self,
        component: Component,
        owner: &str,
        condition: NameCondition,
    ) -> StoreResult<ChangeEvent> {
        let version = parse(&component)?;
        let mut state = self.write();
        let name = component.spec.name.clone();
        let entry = state.names.get(&name);
        if entry.is_some_and(|e| e.versions.contains_key(&version)) {
            return Err(StoreError::AlreadyExists {
                name,
                version: component.spec.version,
            });
        }
        if let (NameCondition::New, Some(e)) = (condition, entry) {
            return Err(StoreError::NameTaken {
                owner: e.owner.clone(),
                name,
            });
        }
        let event = append(&mut state, component, EventType::Published);
        let entry = state.names.entry(name).or_insert_with(|| NameEntry {
            owner: owner.to_owned(),
            ..Default::default()
        });
        entry.versions.insert(version, event.component.clone());
        Ok(event)
    }

    async fn update_version(
        &self,
        component: Component,
        expected: Revision,
        event_type: EventType,
    ) -> StoreResult<ChangeEvent> {
        let version = parse(&component)?;
        let mut state = self.write();
        let name = component.spec.name.clone();
        let found = state
            .names
            .get(&name)
            .and_then(|e| e.versions.get(&version))
            .map(|c| c.revision)
            .ok_or_else(|| StoreError::NotFound {
                name: name.clone(),
                version: component.spec.version.clone(),
            })?;
        if found != expected {
            return Err(StoreError::Concurrent {
                name,
                version: component.spec.version,
                expected,
                found,
            });
        }
        let event = append(&mut state, component, event_type);
        if let Some(e) = state.names.get_mut(&name) {
            e.versions.insert(version, event.component.clone());
        }
        Ok(event)
    }

    async fn set_name_owners(
        &self,
        name: &str,
        expected: &[String],
        owners: &[String],
    ) -> StoreResult<bool> {
        let mut state = self.write();
        match state.names.get_mut(name) {
            Some(e) if e.owners() == expected => {
                e.owners = Some(owners.to_vec());
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[async_trait]
impl ChangeFeed for MemoryStore {
    async fn current_revision(&self) -> StoreResult<Revision> {
        Ok(self.read().revision)
    }

    async fn events_since(&self, after: Revision, limit: usize) -> StoreResult<Vec<ChangeEvent>> {
        let state = self.read();
        let start = usize::try_from(after.0.saturating_sub(state.retained_after.0))
            .unwrap_or(usize::MAX)
            .min(state.events.len());
        Ok(state.events.range(start..).take(limit).cloned().collect())
    }

    async fn retained_after(&self) -> StoreResult<Revision> {
        Ok(self.read().retained_after)
    }

    async fn prune_events(&self, retention: Retention) -> StoreResult<Pruned> {
        let mut state = self.write();
        let mut removed = 0;
        while let Some(oldest) = state.events.front() {
            let beyond_count = state.events.len() as u64 > retention.max_events;
            if !(beyond_count || oldest.occurred_at < retention.older_than) {
                break;
            }
            state.retained_after = oldest.revision;
            state.events.pop_front();
            removed += 1;
        }
        Ok(Pruned {
            removed,
            retained_after: state.retained_after,
        })
    }
}

#[async_trait]
impl CatalogStore for MemoryStore {
    fn backend_name(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }
}

#[async_trait]
impl SyncStore for MemoryStore {
    async fn insert_sync_run(&self, mut run: SyncRun) -> StoreResult<SyncRun> {
        let mut state = self.write();
        run.id = state.runs.keys().next_back().map_or(1, |id| id + 1);
        state.runs.insert(run.id, run.clone());
        Ok(run)
    }

    async fn update_sync_run(&self, run: &SyncRun) -> StoreResult<()> {
        let mut state = self.write();
        match state.runs.get_mut(&run.id) {
            Some(r) => {
                *r = run.clone();
                Ok(())
            }
            None => Err(StoreError::Backend {
                operation: "update sync run",
                message: format!("no sync run {}", run.id),
            }),
        }
    }

    async fn sync_run(&self, id: u64) -> StoreResult<Option<SyncRun>> {
        Ok(self.read().runs.get(&id).cloned())
    }

    async fn sync_runs(
        &self,
        source_id: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> StoreResult<Vec<SyncRun>> {
        Ok(self
            .read()
            .runs
            .range(..before.unwrap_or(u64::MAX))
            .rev()
            .map(|(_, r)| r)
            .filter(|r| source_id.is_none_or(|s| r.source_id == s))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn source_state(&self, source_id: &str) -> StoreResult<Option<SourceState>> {
        Ok(self.read().sources.get(source_id).cloned())
    }

    async fn set_source_state(&self, state: &SourceState) -> StoreResult<()> {
        self.write()
            .sources
            .insert(state.source_id.clone(), state.clone());
        Ok(())
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool> {
        let now = std::time::Instant::now();
        let mut state = self.write();
        let free = match state.leases.get(name) {
            Some((h, until)) => h == holder || *until <= now,
            None => true,
        };
        if free {
            state
                .leases
                .insert(name.to_owned(), (holder.to_owned(), now + ttl));
        }
        Ok(free)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        let mut state = self.write();
        if state.leases.get(name).is_some_and(|(h, _)| h == holder) {
            state.leases.remove(name);
        }
        Ok(())
    }

    async fn remember_delivery(&self, key: &str, ttl: std::time::Duration) -> StoreResult<bool> {
        let now = std::time::Instant::now();
        let mut state = self.write();
        state.deliveries.retain(|_, until| *until > now);
        Ok(state.deliveries.insert(key.to_owned(), now + ttl).is_none())
    }
}
