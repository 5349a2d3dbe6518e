//! Route table: one module per resource, handlers named after their action.

pub(crate) mod components;
pub(crate) mod engines;
mod ops;
mod owners;
pub(crate) mod sync;
mod terraform;
mod validate;
mod webhooks;

use std::sync::Arc;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;

pub(crate) fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(components::list, components::publish))
        .routes(routes!(components::latest))
        .routes(routes!(components::versions))
        .routes(routes!(components::version, components::patch))
        .routes(routes!(components::resolve))
        .routes(routes!(components::dependencies))
        .routes(routes!(components::dependents))
        .routes(routes!(owners::owners, owners::add, owners::remove))
        .routes(routes!(components::diff))
        .routes(routes!(components::search))
        .routes(routes!(validate::validate))
        .routes(routes!(crate::events::events))
        .routes(routes!(sync::sources))
        .routes(routes!(sync::sync_source))
        .routes(routes!(sync::sync_runs))
        .routes(routes!(sync::sync_run))
        .routes(routes!(webhooks::github::github))
        .routes(routes!(webhooks::gitlab::gitlab))
        .routes(routes!(engines::list))
        .routes(routes!(engines::get, engines::register))
        .routes(routes!(ops::health))
        .routes(routes!(ops::ready))
        .routes(routes!(ops::detailed))
        .routes(routes!(ops::version))
        .routes(routes!(crate::metrics::metrics_endpoint))
        .routes(routes!(ops::openapi_document))
        .routes(routes!(crate::docs::index))
        .routes(routes!(terraform::discovery))
        .routes(routes!(terraform::versions))
        .routes(routes!(terraform::download))
}
