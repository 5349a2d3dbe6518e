//! Sources, sync runs and push webhooks (GitHub, GitLab).

use std::{sync::Arc, time::Duration};

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use hmac::{Hmac, Mac};
use nestor_catalog::{ManagedSource, SyncManager};
use nestor_model::{ErrorCode, Problem, SourceState, SyncRun, SyncTrigger};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{ApiError, AppState, extract::ApiPath, extract::Params};

/// How long a webhook delivery id is remembered, to drop redeliveries.
const DELIVERY_TTL: Duration = Duration::from_secs(24 * 3600);

fn manager(state: &AppState) -> Result<&Arc<SyncManager>, ApiError> {
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
    url: String,
    /// Branch, for git sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<String>,
    /// Whether push webhooks are accepted for it (a secret is configured).
    webhooks: bool,
    /// The branch head last seen, by a poll, a push webhook or a sync.
    #[serde(skip_serializing_if = "Option::is_none")]
    head_commit: Option<String>,
    /// When that head was first seen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    head_seen_at: Option<time::OffsetDateTime>,
    /// Seconds the head has been waiting to be synced: 0 when the last synced commit is the
    /// head; absent when no head is known yet (or for sources without commits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) lag_seconds: Option<f64>,
    /// Commit of the last successful or partial run.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_synced_commit: Option<String>,
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
    let store = m.catalog().store();
    for s in m.sources() {
        let id = s.source.id().to_owned();
        let st: Option<SourceState> = store
            .source_state(&id)
            .await
            .map_err(nestor_catalog::CatalogError::from)?;
        let last_run = match st.as_ref().and_then(|s| s.last_run) {
            Some(run) => store
                .sync_run(run)
                .await
                .map_err(nestor_catalog::CatalogError::from)?,
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
    before: Option<u64>,
    /// Page size, 1 to 500 (default 50).
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
    let limit = match p.limit {
        None => 50,
        Some(n) if (1..=500).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::invalid_parameter(
                "limit",
                format!("{n} is not between 1 and 500"),
            ));
        }
    };
    let items = state
        .catalog
        .store()
        .sync_runs(p.source.as_deref(), p.before, limit)
        .await
        .map_err(nestor_catalog::CatalogError::from)?;
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
        .store()
        .sync_run(id)
        .await
        .map_err(nestor_catalog::CatalogError::from)?
        .map(Json)
        .ok_or_else(|| Problem::new(ErrorCode::NotFound, format!("no sync run {id}")).into())
}

/// What a webhook delivery led to.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookOutcome {
    /// `accepted`, `ignored` or `duplicate`.
    outcome: &'static str,
    /// Why it was ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// The runs it requested (pending or joined), one per matching source.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    runs: Vec<SyncRun>,
}

fn ignored(reason: impl Into<String>) -> (StatusCode, Json<WebhookOutcome>) {
    (
        StatusCode::ACCEPTED,
        Json(WebhookOutcome {
            outcome: "ignored",
            reason: Some(reason.into()),
            runs: Vec::new(),
        }),
    )
}

fn unauthorized(message: &str) -> ApiError {
    Problem::new(ErrorCode::Unauthorized, message).into()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Lower-case host, no scheme, no credentials, no trailing `/` or `.git`: the forms GitHub and
/// GitLab report (`https://…`, `git@host:owner/repo.git`, `ssh://git@host/owner/repo`) compare
/// equal for one repository.
pub(crate) fn normalize_repo_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest.to_owned(),
        // scp-like: git@host:owner/repo
        None => url.replacen(':', "/", 1),
    };
    let rest = rest.rsplit_once('@').map_or(rest.as_str(), |(_, r)| r);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    format!("{host}/{path}")
}

fn content_type_is_json(headers: &HeaderMap) -> bool {
    header(headers, "content-type").is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// Sources whose repository is one of `urls` and whose branch is `git_ref`.
fn matching<'a>(m: &'a SyncManager, urls: &[&str], git_ref: &str) -> Vec<&'a ManagedSource> {
    let urls: Vec<String> = urls.iter().map(|u| normalize_repo_url(u)).collect();
    m.sources()
        .filter(|s| urls.contains(&normalize_repo_url(&s.url)))
        .filter(|s| {
            let branch = s.branch.as_deref().unwrap_or("main");
            git_ref == format!("refs/heads/{branch}")
        })
        .collect()
}

/// Requests a run of each source; `after` is the pushed commit, recorded as the branch head
/// (all zeros when the push deleted the branch: the run then reports the missing branch).
async fn request_runs(
    m: &SyncManager,
    sources: &[&ManagedSource],
    after: Option<&str>,
) -> Result<Vec<SyncRun>, ApiError> {
    let after = after.filter(|a| {
        a.len() == 40 && a.bytes().all(|b| b.is_ascii_hexdigit()) && a.bytes().any(|b| b != b'0')
    });
    let mut runs = Vec::new();
    for s in sources {
        if let Some(head) = after {
            m.observe_head(s.source.id(), head).await?;
        }
        runs.push(m.request(s.source.id(), SyncTrigger::Webhook).await?);
    }
    Ok(runs)
}

#[derive(Deserialize)]
struct GithubRepository {
    #[serde(default)]
    clone_url: Option<String>,
    #[serde(default)]
    ssh_url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    git_url: Option<String>,
}

#[derive(Deserialize)]
struct GithubPush {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    after: Option<String>,
    repository: GithubRepository,
}

/// Counts a delivery by its outcome (`accepted`, `ignored`, `duplicate`) or error code.
fn record_delivery(
    provider: &'static str,
    result: &Result<(StatusCode, Json<WebhookOutcome>), ApiError>,
) {
    match result {
        Ok((_, outcome)) => crate::metrics::webhook_delivery(provider, outcome.outcome),
        Err(e) => crate::metrics::webhook_delivery(provider, e.0.code.as_str()),
    }
}

/// GitHub push webhook: `X-Hub-Signature-256` (HMAC-SHA256 of the body with a source's secret,
/// compared in constant time), `ping` and `push` events, deliveries de-duplicated by
/// `X-GitHub-Delivery`. Answers at once; the sync runs in the background.
#[utoipa::path(post, path = "/api/v1/webhooks/github", tag = "sync",
    request_body(content = String, content_type = "application/json", description = "GitHub's push or ping payload"),
    responses(
        (status = 202, description = "Accepted (with the runs), ignored (with the reason) or a duplicate", body = WebhookOutcome),
        (status = 400, description = "Malformed payload or content type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong signature", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "This server has no configured sources", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn github(
    state: State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<WebhookOutcome>), ApiError> {
    let result = github_delivery(state, headers, body).await;
    record_delivery("github", &result);
    result
}

async fn github_delivery(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<WebhookOutcome>), ApiError> {
    let m = manager(&state)?;
    let signature = header(&headers, "x-hub-signature-256")
        .and_then(|s| s.strip_prefix("sha256="))
        .and_then(|hex_sig| hex::decode(hex_sig).ok())
        .ok_or_else(|| unauthorized("missing or malformed X-Hub-Signature-256"))?;
    // The sources whose secret signed this body; the body is not trusted before that.
    let signed: Vec<&ManagedSource> = m
        .sources()
        .filter(|s| {
            s.webhook_secret.as_deref().is_some_and(|secret| {
                Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
                    .map(|mut mac| {
                        mac.update(&body);
                        mac.verify_slice(&signature).is_ok()
                    })
                    .unwrap_or(false)
            })
        })
        .collect();
    if signed.is_empty() {
        return Err(unauthorized(
            "the signature matches no configured webhook secret",
        ));
    }
    if !content_type_is_json(&headers) {
        return Err(ApiError::invalid_parameter(
            "Content-Type",
            "webhooks must be sent as application/json",
        ));
    }
    let event = header(&headers, "x-github-event").unwrap_or_default();
    if let Some(delivery) = header(&headers, "x-github-delivery")
        && !state
            .catalog
            .store()
            .remember_delivery(&format!("github:{delivery}"), DELIVERY_TTL)
            .await
            .map_err(nestor_catalog::CatalogError::from)?
    {
        return Ok((
            StatusCode::ACCEPTED,
            Json(WebhookOutcome {
                outcome: "duplicate",
                reason: Some(format!("delivery {delivery} was already accepted")),
                runs: Vec::new(),
            }),
        ));
    }
    match event {
        "ping" => {
            return Ok((
                StatusCode::ACCEPTED,
                Json(WebhookOutcome {
                    outcome: "accepted",
                    reason: Some("ping".into()),
                    runs: Vec::new(),
                }),
            ));
        }
        "push" => {}
        other => return Ok(ignored(format!("event {other:?} is not a push"))),
    }
    let push: GithubPush = serde_json::from_slice(&body).map_err(|e| {
        ApiError::from(Problem::new(
            ErrorCode::MalformedBody,
            format!("not a GitHub push payload: {e}"),
        ))
    })?;
    let r = &push.repository;
    let urls: Vec<&str> = [&r.clone_url, &r.ssh_url, &r.html_url, &r.git_url]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let targets: Vec<&ManagedSource> = matching(m, &urls, &push.git_ref)
        .into_iter()
        .filter(|s| signed.iter().any(|x| x.source.id() == s.source.id()))
        .collect();
    if targets.is_empty() {
        return Ok(ignored(format!(
            "no source follows {} at {}",
            urls.first().unwrap_or(&"?"),
            push.git_ref
        )));
    }
    let runs = request_runs(m, &targets, push.after.as_deref()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(WebhookOutcome {
            outcome: "accepted",
            reason: None,
            runs,
        }),
    ))
}

#[derive(Deserialize)]
struct GitlabProject {
    #[serde(default)]
    git_http_url: Option<String>,
    #[serde(default)]
    git_ssh_url: Option<String>,
    #[serde(default)]
    web_url: Option<String>,
}

#[derive(Deserialize)]
struct GitlabPush {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    after: Option<String>,
    project: GitlabProject,
}

/// GitLab push webhook: `X-Gitlab-Token` (a source's secret, compared in constant time),
/// `Push Hook` events.
#[utoipa::path(post, path = "/api/v1/webhooks/gitlab", tag = "sync",
    request_body(content = String, content_type = "application/json", description = "GitLab's push payload"),
    responses(
        (status = 202, description = "Accepted (with the runs) or ignored (with the reason)", body = WebhookOutcome),
        (status = 400, description = "Malformed payload or content type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "This server has no configured sources", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn gitlab(
    state: State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<WebhookOutcome>), ApiError> {
    let result = gitlab_delivery(state, headers, body).await;
    record_delivery("gitlab", &result);
    result
}

async fn gitlab_delivery(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<WebhookOutcome>), ApiError> {
    use subtle::ConstantTimeEq;
    let m = manager(&state)?;
    let token =
        header(&headers, "x-gitlab-token").ok_or_else(|| unauthorized("missing X-Gitlab-Token"))?;
    let signed: Vec<&ManagedSource> = m
        .sources()
        .filter(|s| {
            s.webhook_secret
                .as_deref()
                .is_some_and(|secret| bool::from(secret.as_bytes().ct_eq(token.as_bytes())))
        })
        .collect();
    if signed.is_empty() {
        return Err(unauthorized(
            "the token matches no configured webhook secret",
        ));
    }
    if !content_type_is_json(&headers) {
        return Err(ApiError::invalid_parameter(
            "Content-Type",
            "webhooks must be sent as application/json",
        ));
    }
    let event = header(&headers, "x-gitlab-event").unwrap_or_default();
    if event != "Push Hook" {
        return Ok(ignored(format!("event {event:?} is not a Push Hook")));
    }
    let push: GitlabPush = serde_json::from_slice(&body).map_err(|e| {
        ApiError::from(Problem::new(
            ErrorCode::MalformedBody,
            format!("not a GitLab push payload: {e}"),
        ))
    })?;
    let p = &push.project;
    let urls: Vec<&str> = [&p.git_http_url, &p.git_ssh_url, &p.web_url]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let targets: Vec<&ManagedSource> = matching(m, &urls, &push.git_ref)
        .into_iter()
        .filter(|s| signed.iter().any(|x| x.source.id() == s.source.id()))
        .collect();
    if targets.is_empty() {
        return Ok(ignored(format!(
            "no source follows {} at {}",
            urls.first().unwrap_or(&"?"),
            push.git_ref
        )));
    }
    let runs = request_runs(m, &targets, push.after.as_deref()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(WebhookOutcome {
            outcome: "accepted",
            reason: None,
            runs,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::normalize_repo_url;

    #[test]
    fn repository_url_forms_compare_equal() {
        let forms = [
            "https://github.com/Acme/Platform.git",
            "https://GitHub.com/Acme/Platform/",
            "git@github.com:Acme/Platform.git",
            "ssh://git@github.com/Acme/Platform",
            "git://github.com/Acme/Platform.git",
            "https://token@github.com:443/Acme/Platform",
        ];
        for f in forms {
            assert_eq!(normalize_repo_url(f), "github.com/Acme/Platform", "{f}");
        }
        assert_eq!(normalize_repo_url("file:///srv/git/repo"), "/srv/git/repo");
    }
}
