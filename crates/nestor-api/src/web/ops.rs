//! `/sources`, `/sync-runs/{id}` and `/engines`: where the catalog comes from and what deploys it.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use maud::html;
use nestor_engines::EngineRegistry;
use nestor_model::{ErrorCode, Problem, SyncRun, SyncStatus};

use super::component::wire;
use super::{Page, Section, error_page, when};
use crate::{app::AppState, auth::Principal, error::ApiError};

fn status_badge(status: SyncStatus) -> maud::Markup {
    let class = match status {
        SyncStatus::Succeeded => "badge ok",
        SyncStatus::Partial | SyncStatus::Pending | SyncStatus::Running => "badge warn",
        SyncStatus::Failed => "badge bad",
    };
    html! { span class=(class) { (wire(&status)) } }
}

fn runs_table(runs: &[SyncRun]) -> maud::Markup {
    html! {
        div.table-wrap tabindex="0" { table {
            thead { tr {
                th scope="col" { "Run" } th scope="col" { "Status" } th scope="col" { "Trigger" }
                th scope="col" { "Commit" } th scope="col" { "Requested" } th scope="col" { "Files" }
                th scope="col" { "Created / updated / failed" }
            } }
            tbody { @for r in runs { tr {
                td { a href=(format!("/sync-runs/{}", r.id)) { "#" (r.id) } }
                td { (status_badge(r.status)) }
                td { (wire(&r.trigger)) }
                td.mono.small { @if let Some(c) = &r.commit { (c.chars().take(12).collect::<String>()) } }
                td.small { (when(r.requested_at)) }
                td { (r.files) }
                td { (r.created) " / " (r.updated) " / " (r.failed) }
            } } }
        } }
    }
}

/// Every source: head, last synced commit, lag, last runs.
pub(crate) async fn sources(State(state): State<Arc<AppState>>) -> Response {
    let result: Result<_, ApiError> = async {
        let views = match &state.sync {
            Some(m) => crate::routes::sync::source_views(m).await?,
            None => Vec::new(),
        };
        let runs = state.catalog.sync_runs(None, None, 20).await?;
        let revision = state.catalog.current_revision().await?;
        Ok((views, runs, revision))
    }
    .await;
    let (views, runs, revision) = match result {
        Ok(x) => x,
        Err(e) => return error_page(e),
    };
    Page {
        title: "Sources".into(),
        section: Section::Sources,
        live: None,
        kind: "sources",
        revision: Some(revision.0),
        body: html! {
            div.panel {
                h1 { "Sources" }
                p.muted { "Where definitions come from: each source's branch head, the commit last synced, and how long the head has waited." }
                @if views.is_empty() { p { "This server has no configured sources; components are published through the API." } }
                @else {
                    div.table-wrap tabindex="0" { table {
                        thead { tr {
                            th scope="col" { "Source" } th scope="col" { "Repository" } th scope="col" { "Head" }
                            th scope="col" { "Last synced" } th scope="col" { "Lag" } th scope="col" { "Last run" }
                        } }
                        tbody { @for v in &views { tr {
                            td { (v.id) }
                            td.small { (v.url) @if let Some(b) = &v.branch { " (" (b) ")" } }
                            td.mono.small { @if let Some(h) = &v.head_commit { (h.chars().take(12).collect::<String>()) } }
                            td.mono.small { @if let Some(c) = &v.last_synced_commit { (c.chars().take(12).collect::<String>()) } }
                            td { @match v.lag_seconds { Some(l) if l == 0.0 => span.badge.ok { "up to date" }, Some(l) => span.badge.warn { (format!("{l:.0} s")) }, None => span.muted { "—" } } }
                            td { @if let Some(r) = &v.last_run { a href=(format!("/sync-runs/{}", r.id)) { "#" (r.id) } " " (status_badge(r.status)) } }
                        } } }
                    } }
                }
            }
            div.panel {
                h2 { "Recent sync runs" }
                @if runs.is_empty() { p.muted { "No runs yet." } } @else { (runs_table(&runs)) }
            }
        },
    }
    .render(StatusCode::OK)
}

/// One sync run with its per-file errors.
pub(crate) async fn sync_run(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return error_page(
            Problem::new(
                ErrorCode::InvalidParameter,
                format!("{id:?} is not a sync run id"),
            )
            .into(),
        );
    };
    let run = match state.catalog.sync_run(id).await {
        Ok(Some(run)) => run,
        Ok(None) => {
            return error_page(
                Problem::new(ErrorCode::NotFound, format!("there is no sync run #{id}")).into(),
            );
        }
        Err(e) => return error_page(e.into()),
    };
    Page {
        title: format!("Sync run #{id}"),
        section: Section::Sources,
        live: None,
        kind: "sync-run",
        revision: None,
        body: html! {
            div.panel {
                div.row { h1 { "Sync run #" (run.id) } (status_badge(run.status)) }
                dl.facts {
                    dt { "Source" } dd { (run.source_id) }
                    dt { "Trigger" } dd { (wire(&run.trigger)) }
                    @if let Some(c) = &run.commit { dt { "Commit" } dd.mono.small { (c) } }
                    dt { "Requested" } dd { (when(run.requested_at)) }
                    @if let Some(t) = run.finished_at { dt { "Finished" } dd { (when(t)) } }
                    dt { "Files" } dd { (run.files) " (" (run.created) " created, " (run.updated) " updated, " (run.unchanged) " unchanged, " (run.failed) " failed)" }
                    @if let Some(e) = &run.error { dt { "Error" } dd { (e) } }
                }
            }
            div.panel {
                h2 { "Per-file errors" }
                @if run.errors.is_empty() { p.muted { "None." } }
                @else {
                    div.table-wrap tabindex="0" { table {
                        thead { tr { th scope="col" { "File" } th scope="col" { "Line" } th scope="col" { "Component" } th scope="col" { "Rule" } th scope="col" { "Message" } } }
                        tbody { @for e in &run.errors { tr {
                            td.mono.small { (e.file) }
                            td { @if let Some(l) = e.line { (l) } }
                            td { @if let Some(c) = &e.component { (c) } }
                            td.mono.small { (e.rule) }
                            td { (e.message) }
                        } } }
                    } }
                }
            }
        },
    }
    .render(StatusCode::OK)
}

/// Every deployment engine with its health, live.
pub(crate) async fn engines(
    State(state): State<Arc<AppState>>,
    principal: Option<axum::Extension<Principal>>,
) -> Response {
    let admin = Principal::acting(principal, &state.config.auth).admin;
    let list = state
        .config
        .engines
        .as_ref()
        .map(|r| r.list())
        .unwrap_or_default();
    let list: Vec<_> = list
        .into_iter()
        .map(|s| {
            if admin {
                s
            } else {
                crate::routes::engines::without_probe_details(s)
            }
        })
        .collect();
    Page {
        title: "Engines".into(),
        section: Section::Engines,
        live: Some("*".into()),
        kind: "engines",
        revision: None,
        body: html! {
            div.panel {
                h1 { "Deployment engines" }
                p.muted { "Definitions name the engines that deploy them; a publish is checked against this registry when it is enforced." }
                @if list.is_empty() { p { "No engines are configured or registered." } }
                @else {
                    div.table-wrap tabindex="0" { table {
                        thead { tr {
                            th scope="col" { "Engine" } th scope="col" { "Health" } th scope="col" { "Source" }
                            th scope="col" { "Latency" } th scope="col" { "Since" } th scope="col" { "Last error" }
                        } }
                        tbody { @for e in &list { tr {
                            td { (e.name) }
                            td { @if e.usable { span.badge.ok { (wire(&e.health)) } } @else { span.badge.bad { (wire(&e.health)) } } }
                            td { (wire(&e.source)) }
                            td { @if let Some(l) = e.latency_ms { (format!("{l:.1} ms")) } }
                            td.small { (when(e.last_change)) }
                            td.small { @if let Some(err) = &e.last_error { (err) } }
                        } } }
                    } }
                }
            }
        },
    }
    .render(StatusCode::OK)
}
