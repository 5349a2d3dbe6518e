//! Storage errors: what the catalog needs to tell apart (absent, already there, changed under
//! us, unavailable) and enough context to debug the rest.

use nestor_model::Revision;

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `insert_version` on a version that exists.
    #[error("{name}@{version} already exists")]
    AlreadyExists {
        /// Component name.
        name: String,
        /// Version.
        version: String,
    },
    /// `insert_version_if` with [`NameCondition::New`] on a name that another writer created
    /// since the caller checked: the checks that allowed the write must be made again.
    #[error("{name} was created concurrently (owned by {owner})")]
    NameTaken {
        /// Component name.
        name: String,
        /// Its owner now.
        owner: String,
    },
    /// `update_version` on a version that does not exist.
    #[error("{name}@{version} does not exist")]
    NotFound {
        /// Component name.
        name: String,
        /// Version.
        version: String,
    },
    /// `update_version` whose expected revision is no longer current: someone else changed it.
    #[error(
        "{name}@{version} was changed concurrently (expected revision {expected}, found {found})"
    )]
    Concurrent {
        /// Component name.
        name: String,
        /// Version.
        version: String,
        /// Revision the caller read.
        expected: Revision,
        /// Revision in the store.
        found: Revision,
    },
    /// The backend cannot be reached or is overloaded; the operation may be retried.
    #[error("store unavailable during {operation}: {message}")]
    Unavailable {
        /// What was being done.
        operation: &'static str,
        /// What the backend said.
        message: String,
    },
    /// A stored record cannot be decoded.
    #[error("corrupt record {what}: {message}")]
    Corrupt {
        /// Which record.
        what: String,
        /// Decoder message.
        message: String,
    },
    /// Schema migration failed.
    #[error("migration {version} failed: {message}")]
    Migration {
        /// Schema version being applied.
        version: u32,
        /// Why.
        message: String,
    },
    /// Any other backend error.
    #[error("store error during {operation}: {message}")]
    Backend {
        /// What was being done.
        operation: &'static str,
        /// What the backend said.
        message: String,
    },
}

impl StoreError {
    /// Whether retrying later may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. } | StoreError::Concurrent { .. }
        )
    }
}
