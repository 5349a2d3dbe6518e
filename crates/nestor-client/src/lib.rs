//! `nestor-client`: a typed async client for the Nestor REST API.
//!
//! Every call returns the model types of [`nestor_model`] (re-exported here as [`model`]), and
//! every API error comes back as [`Error::Api`] with the server's RFC 9457 [`Problem`], whose
//! `code` is stable and safe to match on.
//!
//! ```no_run
//! # async fn run() -> Result<(), nestor_client::Error> {
//! let client = nestor_client::Client::new("http://127.0.0.1:8080")?;
//! let page = client.list(&nestor_client::ListOptions::default()).await?;
//! for c in &page.items {
//!     println!("{}@{}", c.spec.name, c.spec.version);
//! }
//! # Ok(()) }
//! ```
//!
//! Beyond single calls:
//!
//! * [`Client::watch`] follows the change feed (`GET /api/v1/events`) as a [`Watch`] stream of
//!   [`FeedEvent`]s that reconnects by itself and never delivers a change twice;
//! * [`Mirror`] keeps a local, always-consistent copy of the catalog (or of a filtered part
//!   of it) from that feed.
//!
//! `https://` URLs work out of the box (rustls with the *ring* provider, platform roots).
//!
//! This crate must stay light: no server code, only HTTP and the shared model.

//! # Layout
//!
//! - `client.rs`: [`Client`], one method per endpoint, and [`ListOptions`];
//! - `error.rs`: [`Error`];
//! - `watch.rs`: [`Client::watch`], the reconnecting change-feed stream ([`Watch`]);
//! - `mirror.rs`: [`Mirror`], the local copy kept by list + watch, on a pure state machine.

#![warn(missing_docs)]

mod client;
mod error;
mod mirror;
mod watch;

pub use client::{Client, DependentsOptions, ListOptions, SortOrder};
pub use error::Error;
pub use mirror::{Mirror, MirrorError, MirrorOptions, MirrorUpdate};
pub use nestor_model as model;
pub use watch::{BackoffPolicy, FeedEvent, FeedFilter, Watch, WatchOptions};
