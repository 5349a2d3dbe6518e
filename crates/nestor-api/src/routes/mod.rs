//! Route table: one module per resource, handlers named after their action.

mod components;
mod engines;
pub(crate) mod events;
mod ops;
pub(crate) mod sync;
mod validate;

use std::sync::Arc;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;

pub use events::EventsConfig;

pub(crate) fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(components::list, components::publish))
        .routes(routes!(components::latest))
        .routes(routes!(components::versions))
        .routes(routes!(components::version, components::patch))
        .routes(routes!(components::resolve))
        .routes(routes!(components::dependencies))
        .routes(routes!(components::dependents))
        .routes(routes!(components::diff))
        .routes(routes!(components::search))
        .routes(routes!(validate::validate))
        .routes(routes!(events::events))
        .routes(routes!(sync::sources))
        .routes(routes!(sync::sync_source))
        .routes(routes!(sync::sync_runs))
        .routes(routes!(sync::sync_run))
        .routes(routes!(sync::github))
        .routes(routes!(sync::gitlab))
        .routes(routes!(engines::list))
        .routes(routes!(engines::get, engines::register))
        .routes(routes!(ops::health))
        .routes(routes!(ops::ready))
        .routes(routes!(ops::detailed))
        .routes(routes!(ops::version))
        .routes(routes!(crate::metrics::metrics_endpoint))
        .routes(routes!(ops::openapi_document))
        .routes(routes!(crate::docs::index))
}
