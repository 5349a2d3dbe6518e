//! Sources and sync runs (push webhooks are in `webhooks`).

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use nestor_catalog::SyncManager;
use nestor_model::{ErrorCode, Problem, SourceState, SyncRun, SyncTrigger};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    app::AppState,
    error::ApiError,
    extract::{ApiPath, Params},
};

/// The sync manager, or 404 when the server has no sources.
pub(crate) fn manager(state: &AppState) -> Result<&Arc<SyncManager>, ApiError> {
    state.sync.as_ref().ok_or_else(|| {
        Problem::new(ErrorCode::NotFound, "this server has no configured sources").into()
    })
}

/// A configured source and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SourceView {
    /// Source id.
    pub(crate) id: String,
    /// Repository URL or folder.
    pub(crate) url: String,
    /// Branch, for git sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) branch: Option<String>,
    /// Whether push webhooks are accepted for it (a secret is configured).
    pub(crate) webhooks: bool,
    /// The branch head last seen, by a poll, a push webhook or a sync.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) head_commit: Option<String>,
    /// When that head was first seen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub(crate) head_seen_at: Option<time::OffsetDateTime>,
    /// Seconds the head has been waiting to be synced: 0 when the last synced commit is the
    /// head; absent when no head is known yet (or for sources without commits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) lag_seconds: Option<f64>,
    /// Commit of the last successful or partial run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_synced_commit: Option<String>,
    /// The last run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_run: Option<SyncRun>,
}

/// Configured sources.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SourceList {
    items: Vec<SourceView>,
}

/// Configured sources, each with its last synced commit and last run.
#[utoipa::path(get, path = "/api/v1/sources", tag = "sync",
    responses((status = 200, description = "Sources", body = SourceList)))]
pub(crate) async fn sources(
    State(state): State<Arc<AppState>>,
) -> Result<Json<SourceList>, ApiError> {
    let items = match &state.sync {
        Some(m) => source_views(m).await?,
        None => Vec::new(),
    };
    Ok(Json(SourceList { items }))
}

/// Every configured source of `m` and where it stands: head, last synced commit, lag, last run
/// (also shown by `/health/detailed`).
pub(crate) async fn source_views(m: &SyncManager) -> Result<Vec<SourceView>, ApiError> {
    let mut items = Vec::new();
    let catalog = m.catalog();
    for s in m.sources() {
        let id = s.source.id().to_owned();
        let st: Option<SourceState> = catalog.source_state(&id).await?;
        let last_run = match st.as_ref().and_then(|s| s.last_run) {
            Some(run) => catalog.sync_run(run).await?,
            None => None,
        };
        let st = st.unwrap_or_default();
        let lag_seconds = match (&st.head_commit, st.head_seen_at) {
            (Some(head), _) if st.last_synced_commit.as_ref() == Some(head) => Some(0.0),
            (Some(_), Some(seen)) => Some(
                (time::OffsetDateTime::now_utc() - seen)
                    .as_seconds_f64()
                    .max(0.0),
            ),
            _ => None,
        };
        items.push(SourceView {
            id,
            url: s.url.clone(),
            branch: s.branch.clone(),
            webhooks: s.webhook_secret.is_some(),
            head_commit: st.head_commit,
            head_seen_at: st.head_seen_at,
            lag_seconds,
            last_synced_commit: st.last_synced_commit,
            last_run,
        });
    }
    Ok(items)
}

/// Requests a sync run of one source now (202 with the run; a pending run is joined).
#[utoipa::path(post, path = "/api/v1/sources/{id}/sync", tag = "sync",
    params(("id" = String, Path, description = "Source id")),
    responses(
        (status = 202, description = "The run, pending", body = SyncRun),
        (status = 404, description = "Unknown source, or this server has no configured sources", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn sync_source(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<SyncRun>), ApiError> {
    let run = manager(&state)?.request(&id, SyncTrigger::Manual).await?;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunParams {
    /// Only this source's runs.
    source: Option<String>,
    /// Only runs with a smaller id (the next page: the last id of this one).
    #[param(minimum = 0)]
    before: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

/// Sync runs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SyncRunList {
    items: Vec<SyncRun>,
}

/// Sync runs, newest first.
#[utoipa::path(get, path = "/api/v1/sync-runs", tag = "sync", params(RunParams),
    responses(
        (status = 200, description = "Runs, newest first", body = SyncRunList),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn sync_runs(
    State(state): State<Arc<AppState>>,
    Params(p): Params<RunParams>,
) -> Result<Json<SyncRunList>, ApiError> {
    let limit = crate::routes::components::page_limit(p.limit)?;
    let before = match p.before {
        None => None,
        Some(n) => Some(u64::try_from(n).map_err(|_| {
            ApiError::invalid_parameter(
                "before",
                format!("{n}: {}", nestor_model::limits::between(0, i64::MAX)),
            )
        })?),
    };
    let items = state
        .catalog
        .sync_runs(p.source.as_deref(), before, limit)
        .await?;
    Ok(Json(SyncRunList { items }))
}

/// One sync run, with its per-file errors.
#[utoipa::path(get, path = "/api/v1/sync-runs/{id}", tag = "sync",
    params(("id" = u64, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run", body = SyncRun),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn sync_run(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<SyncRun>, ApiError> {
    state
        .catalog
        .sync_run(id)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::new(ErrorCode::NotFound, format!("no sync run {id}")).into())
}
