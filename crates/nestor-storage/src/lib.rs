//! Storage for the catalog: small traits named for what they do, and the backends that
//! implement them.
//!
//! * [`ComponentReader`], [`ComponentWriter`], [`ChangeFeed`] and [`SyncStore`] are the
//!   seams; [`CatalogStore`] is all of them together, as `Arc<dyn CatalogStore>`.
//! * Backends: [`MemoryStore`] (tests), [`SqliteStore`] (the embedded default) and, with the
//!   `dynamodb` feature (on by default), [`DynamoStore`] (production, several replicas). Every
//!   backend passes the same contract suite (`tests/contract.rs`).
//! * [`CachedStore`] wraps any backend with a `moka` cache and implements the same traits, so
//!   no caller can tell it is there.
//!
//! Writes are conditional (insert only if absent, update only if the revision is still the one
//! read), and every write bumps the catalog revision and appends its change event in the same
//! transaction. This crate enforces *storage* invariants only; business rules (immutability,
//! validation) belong to `nestor-catalog` and `nestor-validation`.
//!
//! # Layout
//!
//! - `traits.rs`: the seams ([`ComponentReader`], [`ComponentWriter`], [`ChangeFeed`],
//!   [`SyncStore`], [`CatalogStore`]) and their query and result types;
//! - `error.rs`: [`StoreError`], what the catalog needs to tell apart;
//! - `memory.rs`, `sqlite.rs`, `dynamodb/`: the backends;
//! - `cache.rs`: [`CachedStore`], the read-through cache in front of any backend;
//! - `latest.rs`: the "latest version" rule every backend shares;

#![warn(missing_docs)]

mod cache;
#[cfg(feature = "dynamodb")]
mod dynamodb;
mod error;
mod latest;
mod memory;
mod sqlite;
mod traits;

pub use cache::{CacheStats, CachedStore};
#[cfg(feature = "dynamodb")]
pub use dynamodb::{
    DynamoDbOptions, DynamoStore, MigrationReport as DynamoMigrationReport, StaticCredentials,
    TableSpec as DynamoTableSpec,
};
pub use error::{StoreError, StoreResult};
pub use latest::{pick_latest, sort_newest_first};
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;
pub use traits::*;
