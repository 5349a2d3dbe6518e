//! The HTTP API: axum routes under `/api/v1`, RFC 9457 problems, and the OpenAPI document that
//! `utoipa` generates from the handlers themselves (so it cannot drift from the router).
//!
//! Handlers are thin: parse and check the request, call the [`nestor_catalog::Catalog`], map the
//! result. Business rules do not live here. The one mapping from catalog errors to problems is
//! in [`error`].
//!
//! # Layout
//!
//! - `app`: [`ApiConfig`] and [`AppState`], the state every handler shares.
//! - `router`: [`router`] — every route with its documentation, the middleware, CORS.
//! - `server`: [`serve`] — the accept loop, hyper or the raw event-stream path per connection.
//! - `routes`: the handlers, one module per resource (`routes/webhooks/` per provider).
//! - `events`: the event stream (`GET /api/v1/events`): handler, frames, both stream paths, the
//!   fan-out writers.
//! - `blocking`: CPU-heavy request work on the blocking pool, one job per core.
//! - [`auth`]: bearer tokens, scopes, the write rate limit.
//! - [`error`]: [`ApiError`], the one mapping from errors to problems.
//! - `extract`: strict extractors (query with the filter vocabulary, path, bodies).
//! - [`metrics`]: Prometheus metrics of requests, streams and webhooks.
//! - [`openapi`]: finishing touches of the OpenAPI document (security, shared problems).
//! - `docs`: the built-in Swagger UI.

#![warn(missing_docs)]

mod app;
pub mod auth;
mod blocking;
mod docs;
pub mod error;
mod events;
mod extract;
pub mod metrics;
pub mod openapi;
mod router;
mod routes;
mod server;
mod tls;
mod web;

pub use app::{ApiConfig, AppState, Startup, TerraformConfig};
pub use auth::{AuthConfig, RateLimit, Scope, Token};
pub use error::ApiError;
pub use events::EventsConfig;
pub use router::{UNDOCUMENTED_ROUTES, openapi, openapi_for, router, router_with_sync};
pub use server::{CONNECTION_BUFFER_BYTES, ServeOptions, serve, serve_with};
pub use tls::{Tls, TlsError};
pub use tokio_util::sync::CancellationToken;
