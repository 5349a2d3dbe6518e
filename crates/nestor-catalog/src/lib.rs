//! The catalog manager: the one place where components are published, updated, deprecated and
//! yanked, and where the rules that protect the catalog are enforced — validate before write,
//! versions are immutable, identical re-publishes are no-ops.
//!
//! It also owns *sources* (where definitions come from: a directory today, git next) and turns a
//! source's files into a batch of publishes with a per-file report.
//!
//! This crate must not know about HTTP; the API layer maps [`CatalogError`] to problems.

mod diff;
mod error;
mod feed;
mod git;
mod manager;
mod metrics;
mod source;
mod sync;
mod validation;

pub use diff::{FieldDiff, interface_diff};
pub use error::CatalogError;
pub use feed::{FeedCursor, FeedFilter, FeedItem, FeedRequest, SharedEvent};
pub use git::{GitCredentials, GitSource};
pub use manager::{Catalog, ListRequest, Origin, PublishResult};
pub use source::{
    DefinitionSource, DirectorySource, FileOutcome, MAX_DEFINITION_FILE_BYTES, SourceFile,
    SourceSnapshot, SyncOptions, SyncProgress, SyncReport,
};
pub use sync::{ManagedSource, SyncManager};
pub use validation::Candidate;
