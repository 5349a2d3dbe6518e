//! The Nestor data model: component definitions, published components, change events, the API's
//! request and response bodies, and the stable error codes with their RFC 9457 problem body.
//!
//! This crate is public and shared by the server and by `nestor-client`, so it must stay free of
//! I/O, of async runtimes and of anything server-specific: it is types, their (de)serialization,
//! and the pure functions that belong to them (name and version rules, the canonical content hash,
//! the definition-file parser).
//!
//! ```
//! use nestor_model::{parse_definitions, SourceFormat};
//!
//! let text = "name: aws-vpc\nversion: 1.0.0\ndescription: A VPC\nprovider: aws\n\
//!             category: network\nresource_type: aws_vpc\ndeployment_engines: [terraform]\n";
//! let docs = parse_definitions(text, SourceFormat::Yaml);
//! let spec = docs[0].result.as_ref().expect("valid definition");
//! assert_eq!(spec.name, "aws-vpc");
//! assert!(spec.content_hash().starts_with("sha256:"));
//! ```
//!
//! # Layout
//!
//! - `component.rs`: definitions as written ([`ComponentSpec`]) and published [`Component`]s;
//! - `definition.rs`: parsing definition files (YAML, several documents) and publish bodies;
//! - `fast_yaml.rs`: the fast path for the YAML definitions are actually written in;
//! - `name.rs`, `version.rs`, `value_type.rs`: component names, strict SemVer versions, and the
//!   types of inputs and outputs;
//! - `hash.rs`: the canonical interface and the content hash;
//! - `event.rs`: change events and the other events of the feed (snapshot, bookmark, reset);
//! - `sync.rs`: sync runs and source state;
//! - `filter.rs`: the one filter vocabulary ([`ComponentFilter`]) of lists, search and the
//!   change feed, with its query-string encoding;
//! - `api.rs`: the REST API's request and response bodies;
//! - `error.rs`: stable error codes and the RFC 9457 [`Problem`] body.

#![warn(missing_docs)]

mod api;
mod component;
mod definition;
mod error;
mod event;
mod fast_yaml;
mod filter;
mod hash;
pub mod limits;
mod name;
mod sync;
mod value_type;
mod version;

pub use api::*;
pub use component::*;
pub use definition::{
    DefinitionDocument, DefinitionError, DefinitionErrorKind, MAX_FLOW_COLLECTIONS,
    MAX_UNKNOWN_FIELD_ERRORS, SourceFormat, locate_field, parse_definition_json,
    parse_definition_json_document, parse_definitions,
};
pub use error::{ErrorCode, Problem};
pub use event::{
    BOOKMARK_EVENT, Bookmark, ChangeEvent, EventType, RESET_EVENT, Reset, ResetReason, Revision,
    SNAPSHOT_EVENT, SnapshotItem,
};
pub use filter::{
    ComponentFilter, FILTER_PARAMETERS, FilterError, LabelFilter, MAX_FILTER_VALUE_CHARS,
    MAX_FILTER_VALUES, check_repeats,
};
pub use hash::CanonicalInterface;
pub use name::{ComponentName, NameError, is_field_name};
pub use sync::{SourceState, SyncFileError, SyncRun, SyncStatus, SyncTrigger};
pub use value_type::{TypeParseError, ValueType};
pub use version::{VersionError, parse_version};
