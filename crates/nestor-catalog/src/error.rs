//! Catalog errors, each carrying what the caller needs to answer precisely.

use nestor_model::{ErrorCode, ValidationReport};
use nestor_storage::StoreError;

use crate::FieldDiff;

/// Why a catalog operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// No component has this name.
    #[error("component {name:?} does not exist")]
    ComponentNotFound {
        /// Name asked for.
        name: String,
    },
    /// The component exists, but not this version (or no version qualifies as latest).
    #[error("{detail}")]
    VersionNotFound {
        /// Name asked for.
        name: String,
        /// What was looked for and not found.
        detail: String,
    },
    /// No version satisfies a requirement.
    #[error("no version of {name:?} matches {req:?}")]
    NoMatchingVersion {
        /// Name asked for.
        name: String,
        /// The requirement.
        req: String,
    },
    /// A parameter cannot be understood.
    #[error("invalid {parameter}: {message}")]
    InvalidParameter {
        /// Which parameter.
        parameter: &'static str,
        /// Why.
        message: String,
    },
    /// The definition fails validation.
    #[error("{} is invalid: {} error(s)", report_id(.0), .0.errors().count())]
    Invalid(Box<ValidationReport>),
    /// The version exists with a different interface.
    #[error("{name}@{version} is already published with a different interface ({} difference(s)); publish a new version instead", .differences.len())]
    VersionConflict {
        /// Component name.
        name: String,
        /// Version.
        version: String,
        /// Published hash.
        published_hash: String,
        /// Submitted hash.
        submitted_hash: String,
        /// Each differing interface field.
        differences: Vec<FieldDiff>,
    },
    /// The name belongs to another source.
    #[error("component {name} belongs to {owner}; publish it from there")]
    NameConflict {
        /// Component name.
        name: String,
        /// Its owner.
        owner: String,
    },
    /// The patch asks for nothing or for something impossible.
    #[error("{0}")]
    InvalidPatch(String),
    /// The caller may not make this change (the name is owned elsewhere, or a scope is
    /// missing); the message says who owns it or what is needed.
    #[error("{0}")]
    Forbidden(String),
    /// The caller is neither an owner of the name nor an administrator.
    #[error("{name} is owned by {}; only its owners or an admin may {action}", owned_by(.owners))]
    NotOwner {
        /// Component name.
        name: String,
        /// Names of the tokens that own it.
        owners: Vec<String>,
        /// What was refused, e.g. `publish its versions`.
        action: &'static str,
    },
    /// No source has this id.
    #[error("no source {source_id} is configured")]
    SourceNotFound {
        /// The id asked for.
        source_id: String,
    },
    /// A source could not be read (a fetch failed, a branch is missing, a folder is gone).
    #[error("source {source_id}: {message}")]
    Source {
        /// The source's id.
        source_id: String,
        /// What failed.
        message: String,
    },
    /// The index cannot answer this query (bad query text, cursor or parameter), or not yet.
    #[error(transparent)]
    Index(#[from] crate::IndexError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn owned_by(owners: &[String]) -> String {
    match owners {
        [one] => format!("token {one:?}"),
        many => format!(
            "tokens {}",
            many.iter()
                .map(|o| format!("{o:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn report_id(r: &ValidationReport) -> String {
    if r.name.is_empty() {
        "definition".to_owned()
    } else {
        format!("{}@{}", r.name, r.version)
    }
}

impl CatalogError {
    /// The stable error code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            CatalogError::ComponentNotFound { .. } => ErrorCode::ComponentNotFound,
            CatalogError::VersionNotFound { .. } => ErrorCode::VersionNotFound,
            CatalogError::NoMatchingVersion { .. } => ErrorCode::NoMatchingVersion,
            CatalogError::InvalidParameter { .. } => ErrorCode::InvalidParameter,
            CatalogError::Invalid(_) => ErrorCode::InvalidDefinition,
            CatalogError::VersionConflict { .. } => ErrorCode::VersionConflict,
            CatalogError::NameConflict { .. } => ErrorCode::NameConflict,
            CatalogError::Forbidden(_) | CatalogError::NotOwner { .. } => ErrorCode::Forbidden,
            CatalogError::InvalidPatch(_) => ErrorCode::MalformedBody,
            CatalogError::Store(e) if e.is_retriable() => ErrorCode::StoreUnavailable,
            CatalogError::Store(_) | CatalogError::Source { .. } => ErrorCode::Internal,
            CatalogError::SourceNotFound { .. } => ErrorCode::NotFound,
            CatalogError::Index(e) => match e {
                crate::IndexError::Syntax(_) | crate::IndexError::Parameter { .. } => {
                    ErrorCode::InvalidParameter
                }
                crate::IndexError::Cursor(_) => ErrorCode::InvalidCursor,
                crate::IndexError::Unavailable(_) => ErrorCode::IndexUnavailable,
            },
        }
    }
}
