//! Sync runs: requested by webhooks, polls, people and start-up; recorded in the store; one at a
//! time per source (and, through a lease in the store, one replica at a time); bursts coalesced.
//!
//! A request while the source's previous run is still pending returns that pending run: a burst
//! of pushes becomes one follow-up run, which reads the branch head as it is when it starts.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use nestor_model::{SourceState, SyncFileError, SyncRun, SyncStatus, SyncTrigger};
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::{Catalog, CatalogError, DefinitionSource, SyncOptions, SyncProgress, SyncReport};

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
    /// Held around every read-modify-write of the source's state in this process.
    state: tokio::sync::Mutex<()>,
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
    /// A run still going after this many milliseconds is failed.
    run_timeout_ms: std::sync::atomic::AtomicU64,
}

/// How long a run may take unless [`SyncManager::set_run_timeout`] says otherwise.
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(600);

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
                        state: tokio::sync::Mutex::new(()),
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
            run_timeout_ms: (DEFAULT_RUN_TIMEOUT.as_millis() as u64).into(),
        })
    }

    /// Fails runs still going after `timeout` (with the reason), so that a remote that accepts
    /// a connection and never answers cannot keep a source `running` forever.
    pub fn set_run_timeout(&self, timeout: Duration) {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self.run_timeout_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    fn run_timeout(&self) -> Duration {
        Duration::from_millis(
            self.run_timeout_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        )
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
                                _ = this.execute(&entry, id, false, None) => {}
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

    /// Runs a sync of `source_id` now and waits for it; `full` reads every file instead of
    /// what changed since the last synced commit.
    pub async fn run_now(
        &self,
        source_id: &str,
        trigger: SyncTrigger,
        full: bool,
    ) -> Result<SyncRun, CatalogError> {
        self.run_now_reporting(source_id, trigger, full, None).await
    }

    /// [`SyncManager::run_now`], calling `progress` as the sync goes (the `nestor sync`
    /// command prints it).
    pub async fn run_now_reporting(
        &self,
        source_id: &str,
        trigger: SyncTrigger,
        full: bool,
        progress: Option<&(dyn Fn(SyncProgress) + Send + Sync)>,
    ) -> Result<SyncRun, CatalogError> {
        let entry = self.entry(source_id)?;
        let run = self
            .catalog
            .store()
            .insert_sync_run(SyncRun::pending(source_id, trigger))
            .await?;
        Ok(self.execute(&entry, run.id, full, progress).await)
    }

    /// Records `head` as the branch head of `source_id` (seen by a poll or a push webhook).
    pub async fn observe_head(&self, source_id: &str, head: &str) -> Result<(), CatalogError> {
        let entry = self.entry(source_id)?;
        let _guard = entry.state.lock().await;
        let store = self.catalog.store();
        let mut state = self.state_of(source_id).await?;
        if state.head_commit.as_deref() != Some(head) {
            state.head_commit = Some(head.to_owned());
            state.head_seen_at = Some(OffsetDateTime::now_utc());
            store.set_source_state(&state).await?;
        }
        Ok(())
    }

    /// A poll: asks the remote for the branch head and requests a run when it is not the
    /// commit last synced. Sources without revisions are re-read every time; a remote that
    /// cannot be asked gets a run too, so that the failure is recorded where people look.
    /// Returns the run requested, if any.
    pub async fn poll(&self, source_id: &str) -> Result<Option<SyncRun>, CatalogError> {
        let entry = self.entry(source_id)?;
        match entry.managed.source.head().await {
            Ok(Some(head)) => {
                self.observe_head(source_id, &head).await?;
                let state = self.state_of(source_id).await?;
                if state.last_synced_commit.as_deref() == Some(head.as_str()) {
                    return Ok(None);
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(source = %source_id, error = %e, "poll could not read the branch head")
            }
        }
        self.request(source_id, SyncTrigger::Poll).await.map(Some)
    }

    async fn state_of(&self, source_id: &str) -> Result<SourceState, CatalogError> {
        Ok(self
            .catalog
            .store()
            .source_state(source_id)
            .await?
            .unwrap_or_else(|| SourceState {
                source_id: source_id.to_owned(),
                ..Default::default()
            }))
    }

    /// Marks the source's other runs still `running` as failed: this replica holds the lease,
    /// so whoever ran them stopped (killed, or shut down) before they finished.
    async fn fail_interrupted(&self, source_id: &str, current: u64) {
        let store = self.catalog.store();
        let Ok(runs) = store.sync_runs(Some(source_id), None, 50).await else {
            return;
        };
        for mut run in runs
            .into_iter()
            .filter(|r| r.id != current && r.status == SyncStatus::Running)
        {
            tracing::warn!(source = %source_id, run = run.id, "marking an interrupted sync run failed");
            run.status = SyncStatus::Failed;
            run.error = Some(
                "interrupted: the process running it stopped before it finished; a later run synced the source"
                    .to_owned(),
            );
            run.finished_at = Some(OffsetDateTime::now_utc());
            let _ = store.update_sync_run(&run).await;
        }
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
    #[tracing::instrument(name = "sync_run", skip_all, fields(source = entry.managed.source.id(), run = id, full))]
    async fn execute(
        &self,
        entry: &Entry,
        id: u64,
        full: bool,
        progress: Option<&(dyn Fn(SyncProgress) + Send + Sync)>,
    ) -> SyncRun {
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
                        .finish_failed(entry, run, format!("cannot take the sync lease: {e}"))
                        .await;
                }
            }
        }
        self.fail_interrupted(&source_id, run.id).await;
        run.status = SyncStatus::Running;
        let started_at = OffsetDateTime::now_utc();
        run.started_at = Some(started_at);
        let _ = store.update_sync_run(&run).await;
        tracing::info!(source = %source_id, run = run.id, trigger = ?run.trigger, "sync run started");

        // Owned by this run: renewal stops when the run ends, however it ends (a cancelled run
        // drops the guard too).
        let renew = {
            let (store, lease, holder, ttl) = (
                store.clone(),
                lease.clone(),
                self.holder.clone(),
                self.lease_ttl,
            );
            AbortOnDrop(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(ttl / 3).await;
                    if !matches!(store.try_lease(&lease, &holder, ttl).await, Ok(true)) {
                        tracing::warn!(%lease, "lost the sync lease during a run");
                    }
                }
            }))
        };
        // Incremental after the first run: what changed since the last synced commit, plus the
        // files that failed last time; everything when asked to, or when the source's
        // configuration changed (files outside the old globs were never read).
        let source = entry.managed.source.as_ref();
        let fingerprint = source.fingerprint();
        let previous = store.source_state(&source_id).await.ok().flatten();
        let (since, retry) = match &previous {
            Some(p) if !full && p.config_fingerprint.as_deref() == Some(fingerprint.as_str()) => {
                (p.last_synced_commit.clone(), p.failed_paths.clone())
            }
            _ => (None, Vec::new()),
        };
        let options = SyncOptions {
            since: since.as_deref(),
            retry: &retry,
            progress,
            run: Some(id),
        };
        let deadline = self.run_timeout();
        let result = match tokio::time::timeout(deadline, self.catalog.sync_with(source, options))
            .await
        {
            Ok(result) => result,
            Err(_) => Err(CatalogError::Source {
                source_id: source_id.clone(),
                message: format!(
                    "the run did not finish within {} s (sync.run_timeout): is the remote answering?",
                    deadline.as_secs()
                ),
            }),
        };
        drop(renew);

        let run = match result {
            Ok(report) => {
                apply_report(&mut run, &report);
                let guard = entry.state.lock().await;
                let mut state = self
                    .state_of(&source_id)
                    .await
                    .unwrap_or_else(|_| previous.clone().unwrap_or_default());
                state.source_id.clone_from(&source_id);
                if let Some(commit) = &report.revision {
                    state.last_synced_commit = Some(commit.clone());
                    // The fetch saw this head; a head seen since (by a poll) is newer news.
                    if state.head_seen_at.is_none_or(|seen| seen < started_at) {
                        if state.head_commit.as_ref() != Some(commit) {
                            state.head_seen_at = Some(started_at);
                        }
                        state.head_commit = Some(commit.clone());
                    }
                }
                state.last_run = Some(run.id);
                state.config_fingerprint = Some(fingerprint);
                let mut failed: Vec<String> = report
                    .outcomes
                    .iter()
                    .filter(|o| o.status == "failed")
                    .map(|o| o.path.clone())
                    .collect();
                failed.sort();
                failed.dedup();
                state.failed_paths = failed;
                let _ = store.set_source_state(&state).await;
                drop(guard);
                run.finished_at = Some(OffsetDateTime::now_utc());
                let _ = store.update_sync_run(&run).await;
                run
            }
            Err(e) => self.finish_failed(entry, run, e.to_string()).await,
        };
        let _ = store.release_lease(&lease, &self.holder).await;
        crate::metrics::sync_run(&source_id, run.status);
        if run.status == SyncStatus::Succeeded {
            tracing::info!(
                source = %source_id, run = run.id, status = ?run.status, created = run.created,
                updated = run.updated, unchanged = run.unchanged, failed = run.failed,
                "sync run finished"
            );
        } else {
            // A failed or partial run says why, with the first per-file errors (the run record
            // at /api/v1/sync-runs/{id} has them all).
            let first_errors: Vec<String> = run
                .errors
                .iter()
                .take(3)
                .map(|e| match e.line {
                    Some(line) => format!("{}:{line}: {}[{}]", e.file, e.message, e.rule),
                    None => format!("{}: {}[{}]", e.file, e.message, e.rule),
                })
                .collect();
            tracing::warn!(
                source = %source_id, run = run.id, status = ?run.status, created = run.created,
                updated = run.updated, unchanged = run.unchanged, failed = run.failed,
                error = run.error.as_deref().unwrap_or(""),
                first_errors = ?first_errors,
                "sync run did not succeed"
            );
        }
        run
    }

    async fn finish_failed(&self, entry: &Entry, mut run: SyncRun, error: String) -> SyncRun {
        let store = self.catalog.store();
        run.status = SyncStatus::Failed;
        run.error = Some(error);
        run.finished_at = Some(OffsetDateTime::now_utc());
        let _ = store.update_sync_run(&run).await;
        let _guard = entry.state.lock().await;
        if let Ok(mut state) = self.state_of(&run.source_id).await {
            state.last_run = Some(run.id);
            let _ = store.set_source_state(&state).await;
        }
        run
    }
}

fn apply_report(run: &mut SyncRun, report: &SyncReport) {
    run.commit = report.revision.clone();
    run.incremental = report.incremental;
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

/// A task that stops when its owner drops this handle.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
