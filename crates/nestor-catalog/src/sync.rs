//! Sync runs: requested by webhooks, polls, people and start-up; recorded in the store; one at a
//! time per source (and, through a lease in the store, one replica at a time); bursts coalesced.
//!
//! A request while the source's previous run is still pending returns that pending run: a burst
//! of pushes becomes one follow-up run, which reads the branch head as it is when it starts.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use nestor_model::{SourceState, SyncFileError, SyncRun, SyncStatus, SyncTrigger};
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::{Catalog, CatalogError, DefinitionSource, SyncReport};

/// A configured source and how it may be reached by webhooks.
pub struct ManagedSource {
    /// The source.
    pub source: Arc<dyn DefinitionSource>,
    /// Repository URL (git sources), for matching webhooks and for display.
    pub url: String,
    /// Branch (git sources).
    pub branch: Option<String>,
    /// The webhook secret (GitHub HMAC key / GitLab token), read from the environment.
    pub webhook_secret: Option<String>,
}

#[derive(Default)]
struct Slot {
    /// The run waiting to start, if any: new requests join it.
    pending: Option<u64>,
}

struct Entry {
    managed: ManagedSource,
    /// Held across the store calls of a request, so that concurrent requests join one run.
    slot: tokio::sync::Mutex<Slot>,
    wake: Notify,
}

/// Runs syncs of the configured sources.
pub struct SyncManager {
    catalog: Arc<Catalog>,
    sources: BTreeMap<String, Arc<Entry>>,
    holder: String,
    lease_ttl: Duration,
}

impl SyncManager {
    /// A manager for `sources`; `holder` names this replica in leases.
    pub fn new(
        catalog: Arc<Catalog>,
        sources: Vec<ManagedSource>,
        holder: impl Into<String>,
        lease_ttl: Duration,
    ) -> Arc<SyncManager> {
        let sources = sources
            .into_iter()
            .map(|managed| {
                (
                    managed.source.id().to_owned(),
                    Arc::new(Entry {
                        managed,
                        slot: tokio::sync::Mutex::new(Slot::default()),
                        wake: Notify::new(),
                    }),
                )
            })
            .collect();
        Arc::new(SyncManager {
            catalog,
            sources,
            holder: holder.into(),
            lease_ttl,
        })
    }

    /// The configured sources, by id.
    pub fn sources(&self) -> impl Iterator<Item = &ManagedSource> {
        self.sources.values().map(|e| &e.managed)
    }

    /// The catalog it syncs into.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Starts one worker per source; they stop when `stop` is cancelled.
    pub fn spawn_workers(
        self: &Arc<Self>,
        stop: tokio_util::sync::CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.sources
            .values()
            .map(|entry| {
                let (this, entry, stop) = (self.clone(), entry.clone(), stop.clone());
                tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            () = entry.wake.notified() => {}
                            () = stop.cancelled() => return,
                        }
                        let id = entry.slot.lock().await.pending.take();
                        if let Some(id) = id {
                            tokio::select! {
                                _ = this.execute(&entry, id) => {}
                                () = stop.cancelled() => return,
                            }
                        }
                    }
                })
            })
            .collect()
    }

    /// Asks for a run of `source_id`: returns the pending run it joins or the new one. The
    /// workers started by [`SyncManager::spawn_workers`] carry it out.
    pub async fn request(
        &self,
        source_id: &str,
        trigger: SyncTrigger,
    ) -> Result<SyncRun, CatalogError> {
        let entry = self.entry(source_id)?;
        let mut slot = entry.slot.lock().await;
        if let Some(id) = slot.pending
            && let Some(run) = self.catalog.store().sync_run(id).await?
            && run.status == SyncStatus::Pending
        {
            return Ok(run);
        }
        let run = self
            .catalog
            .store()
            .insert_sync_run(SyncRun::pending(source_id, trigger))
            .await?;
        slot.pending = Some(run.id);
        drop(slot);
        entry.wake.notify_one();
        Ok(run)
    }

    /// Runs a sync of `source_id` now and waits for it (the `nestor sync` command).
    pub async fn run_now(
        &self,
        source_id: &str,
        trigger: SyncTrigger,
    ) -> Result<SyncRun, CatalogError> {
        let entry = self.entry(source_id)?;
        let run = self
            .catalog
            .store()
            .insert_sync_run(SyncRun::pending(source_id, trigger))
            .await?;
        Ok(self.execute(&entry, run.id).await)
    }

    fn entry(&self, source_id: &str) -> Result<Arc<Entry>, CatalogError> {
        self.sources
            .get(source_id)
            .cloned()
            .ok_or_else(|| CatalogError::SourceNotFound {
                source_id: source_id.to_owned(),
            })
    }

    /// Carries out run `id`: takes the source's lease, syncs, records the outcome.
    async fn execute(&self, entry: &Entry, id: u64) -> SyncRun {
        let store = self.catalog.store().clone();
        let source_id = entry.managed.source.id().to_owned();
        let mut run = match store.sync_run(id).await {
            Ok(Some(run)) => run,
            _ => SyncRun {
                id,
                ..SyncRun::pending(&source_id, SyncTrigger::Manual)
            },
        };
        // One replica at a time: wait for the lease (its holder renews it while it syncs).
        let lease = format!("sync:{source_id}");
        loop {
            match store.try_lease(&lease, &self.holder, self.lease_ttl).await {
                Ok(true) => break,
                Ok(false) => tokio::time::sleep(self.lease_ttl / 10).await,
                Err(e) => {
                    return self
                        .finish_failed(run, format!("cannot take the sync lease: {e}"))
                        .await;
                }
            }
        }
        run.status = SyncStatus::Running;
        run.started_at = Some(OffsetDateTime::now_utc());
        let _ = store.update_sync_run(&run).await;
        tracing::info!(source = %source_id, run = run.id, trigger = ?run.trigger, "sync run started");

        let renew = {
            let (store, lease, holder, ttl) = (
                store.clone(),
                lease.clone(),
                self.holder.clone(),
                self.lease_ttl,
            );
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(ttl / 3).await;
                    if !matches!(store.try_lease(&lease, &holder, ttl).await, Ok(true)) {
                        tracing::warn!(%lease, "lost the sync lease during a run");
                    }
                }
            })
        };
        let result = self.catalog.sync(entry.managed.source.as_ref()).await;
        renew.abort();
        let _ = store.release_lease(&lease, &self.holder).await;

        let run = match result {
            Ok(report) => {
                apply_report(&mut run, &report);
                let mut state = store
                    .source_state(&source_id)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| SourceState {
                        source_id: source_id.clone(),
                        ..Default::default()
                    });
                state.last_synced_commit = report.revision.clone().or(state.last_synced_commit);
                state.last_run = Some(run.id);
                let _ = store.set_source_state(&state).await;
                run.finished_at = Some(OffsetDateTime::now_utc());
                let _ = store.update_sync_run(&run).await;
                run
            }
            Err(e) => self.finish_failed(run, e.to_string()).await,
        };
        tracing::info!(
            source = %source_id, run = run.id, status = ?run.status, created = run.created,
            updated = run.updated, unchanged = run.unchanged, failed = run.failed,
            "sync run finished"
        );
        run
    }

    async fn finish_failed(&self, mut run: SyncRun, error: String) -> SyncRun {
        let store = self.catalog.store();
        run.status = SyncStatus::Failed;
        run.error = Some(error);
        run.finished_at = Some(OffsetDateTime::now_utc());
        let _ = store.update_sync_run(&run).await;
        let mut state = store
            .source_state(&run.source_id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| SourceState {
                source_id: run.source_id.clone(),
                ..Default::default()
            });
        state.last_run = Some(run.id);
        let _ = store.set_source_state(&state).await;
        run
    }
}

fn apply_report(run: &mut SyncRun, report: &SyncReport) {
    run.commit = report.revision.clone();
    run.files = report.files as u64;
    run.created = report.created as u64;
    run.updated = report.updated as u64;
    run.unchanged = report.unchanged as u64;
    run.failed = report.failed as u64;
    run.errors = report
        .outcomes
        .iter()
        .filter(|o| o.status == "failed")
        .flat_map(|o| {
            o.findings.iter().map(|f| SyncFileError {
                file: o.path.clone(),
                line: f.line.or(o.line),
                component: o.component.clone(),
                rule: f.rule.clone(),
                message: f.message.clone(),
            })
        })
        .collect();
    run.status = if report.failed == 0 {
        SyncStatus::Succeeded
    } else {
        SyncStatus::Partial
    };
}
