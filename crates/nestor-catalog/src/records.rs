//! `Catalog`: what the store keeps beside components — the change log's position, sync runs,
//! sources' state, webhook deliveries — and the store's health, so that the API goes through the
//! catalog (one facade) and never holds the store itself.

use std::time::Duration;

use nestor_model::{ChangeEvent, Revision, SourceState, SyncRun};
use nestor_storage::{CacheStats, SchemaStatus};

use crate::{Catalog, CatalogError};

impl Catalog {
    /// The catalog's current revision, as the store has it (other processes' writes included).
    pub async fn current_revision(&self) -> Result<Revision, CatalogError> {
        Ok(self.store.current_revision().await?)
    }

    /// Up to `limit` change events after `after`, oldest first, read from the log. The feed's
    /// catch-up and the API's fan-out both read the log through here.
    pub async fn events_after(
        &self,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<ChangeEvent>, CatalogError> {
        Ok(self.store.events_since(after, limit).await?)
    }

    /// The store's schema version against the one this build expects (readiness).
    pub async fn schema_status(&self) -> Result<SchemaStatus, CatalogError> {
        Ok(self.store.schema_status().await?)
    }

    /// The store backend's name (`sqlite`, `dynamodb`, `memory`).
    pub fn backend_name(&self) -> &'static str {
        self.store.backend_name()
    }

    /// The read cache's hit and miss counts, when the store has one.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.store.cache_stats()
    }

    /// One sync run, with its per-file errors.
    pub async fn sync_run(&self, id: u64) -> Result<Option<SyncRun>, CatalogError> {
        Ok(self.store.sync_run(id).await?)
    }

    /// Sync runs newest first, optionally of one source, with ids below `before`.
    pub async fn sync_runs(
        &self,
        source_id: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<SyncRun>, CatalogError> {
        Ok(self.store.sync_runs(source_id, before, limit).await?)
    }

    /// Where a source stands (its head, last synced commit), if it was ever synced or observed.
    pub async fn source_state(&self, source_id: &str) -> Result<Option<SourceState>, CatalogError> {
        Ok(self.store.source_state(source_id).await?)
    }

    /// Remembers a webhook delivery for `ttl`; `false` when it was already seen (a redelivery
    /// to ignore).
    pub async fn remember_delivery(&self, key: &str, ttl: Duration) -> Result<bool, CatalogError> {
        Ok(self.store.remember_delivery(key, ttl).await?)
    }
}
