//! The catalog manager: the one place where components are published, updated, deprecated and
//! yanked, and where the rules that protect the catalog are enforced — validate before write,
//! versions are immutable, identical re-publishes are no-ops.
//!
//! It also owns *sources* (where definitions come from: a directory today, git next) and turns a
//! source's files into a batch of publishes with a per-file report.
//!
//! This crate must not know about HTTP; the API layer maps [`CatalogError`] to problems.
//!
//! # Layout
//!
//! - [`catalog`](Catalog): the [`Catalog`] facade — reads, publish, patch, diff, dependencies.
//! - `validation`: validate-before-write of one definition or a batch ([`Candidate`]).
//! - `feed`: the change feed as items ([`FeedCursor`], [`FeedItem`]), transport-free.
//! - `records`: the store's other records (sync runs, source state, deliveries) and health,
//!   reached through the catalog.
//! - `index`: the in-process catalog index ([`CatalogIndex`]): search, filters, facets, sorted
//!   pages and dependents, built from a snapshot and kept current from the change log.
//! - `diff`: the classified interface difference between two versions.
//! - `source`: definition sources (a directory) and turning files into a batch of publishes.
//! - `git`: git sources (fetch into a bare cache, incremental diffs, credentials).
//! - `sync`: sync runs, per-source leases, webhooks' requests and polling ([`SyncManager`]).
//! - `redact`: credentials in source URLs never shown ([`redact_url`]).
//! - `error`: [`CatalogError`], with the stable error code of each case.
//! - `metrics`: the catalog's counters.

#![warn(missing_docs)]

mod catalog;
mod diff;
mod error;
mod feed;
mod git;
mod index;
mod metrics;
mod owners;
mod records;
mod redact;
mod source;
mod sync;
mod validation;

pub use catalog::{Catalog, Origin, PublishResult};
pub use diff::{FieldDiff, interface_diff};
pub use error::CatalogError;
pub use feed::{FEED_PAGE, FEED_READERS, FeedCursor, FeedItem, FeedRequest, SharedEvent};
pub use git::{
    GitCredentials, GitSource, MAX_MODULE_BYTES, MAX_MODULE_FILE_BYTES, MAX_MODULE_FILES,
    set_git_timeouts,
};
pub use index::{
    CatalogIndex, DependentHit, DependentsPage, DependentsQuery, Facet, FacetKey, Hit, IndexError,
    IndexPage, IndexQuery, IndexStatus, MAX_DEPENDENTS, MAX_DEPENDENTS_DEPTH, MAX_QUERY_CHARS,
    MAX_QUERY_CLAUSES, QuerySyntaxError, Sort, TextQuery,
};
pub use redact::{redact_url, redact_urls_in};
pub use source::{
    DefinitionSource, DirectorySource, FileOutcome, MAX_DEFINITION_FILE_BYTES, SourceFile,
    SourceSnapshot, SyncOptions, SyncProgress, SyncReport,
};
pub use sync::{DEFAULT_RUN_TIMEOUT, ManagedSource, SyncManager};
pub use validation::Candidate;
