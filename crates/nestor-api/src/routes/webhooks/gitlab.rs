//! GitLab: `X-Gitlab-Token` (a source's secret, compared in constant time), `Push Hook` events.

use std::sync::Arc;

use axum::{
    Json,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use nestor_catalog::{ManagedSource, SyncManager};
use nestor_model::Problem;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{
    Event, Provider, Push, WebhookOutcome, deliver, header, malformed, sources_with_secret,
    unauthorized,
};
use crate::{app::AppState, error::ApiError};

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
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<WebhookOutcome>), ApiError> {
    deliver::<GitLab>(&state, &headers, body).await
}

struct GitLab;

#[derive(Deserialize)]
struct Project {
    #[serde(default)]
    git_http_url: Option<String>,
    #[serde(default)]
    git_ssh_url: Option<String>,
    #[serde(default)]
    web_url: Option<String>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    after: Option<String>,
    project: Project,
}

impl Provider for GitLab {
    const NAME: &'static str = "gitlab";

    fn authenticate<'m>(
        m: &'m SyncManager,
        headers: &HeaderMap,
        _body: &[u8],
    ) -> Result<Vec<&'m ManagedSource>, ApiError> {
        let token = header(headers, "x-gitlab-token")
            .ok_or_else(|| unauthorized("missing X-Gitlab-Token"))?;
        sources_with_secret(m, "token", |secret| {
            bool::from(secret.as_bytes().ct_eq(token.as_bytes()))
        })
    }

    fn event(headers: &HeaderMap, body: &[u8]) -> Result<Event, ApiError> {
        let event = header(headers, "x-gitlab-event").unwrap_or_default();
        if event != "Push Hook" {
            return Ok(Event::Ignored(format!(
                "event {event:?} is not a Push Hook"
            )));
        }
        let push: Payload = serde_json::from_slice(body).map_err(|e| malformed("GitLab", e))?;
        let p = push.project;
        Ok(Event::Push(Push {
            urls: [p.git_http_url, p.git_ssh_url, p.web_url]
                .into_iter()
                .flatten()
                .collect(),
            git_ref: push.git_ref,
            after: push.after,
        }))
    }
}
