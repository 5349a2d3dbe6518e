//! GitHub: `X-Hub-Signature-256` (HMAC-SHA256 of the body with a source's secret, compared in
//! constant time), `ping` and `push` events, deliveries de-duplicated by `X-GitHub-Delivery`.

use std::{borrow::Cow, sync::Arc};

use axum::{
    Json,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use hmac::{Hmac, Mac};
use nestor_catalog::{ManagedSource, SyncManager};
use nestor_model::Problem;
use serde::Deserialize;

use super::{
    Event, Provider, Push, WebhookOutcome, deliver, header, json_body, malformed, media_type,
    sources_with_secret, unauthorized,
};
use crate::{app::AppState, error::ApiError};

/// GitHub push webhook: `X-Hub-Signature-256` (HMAC-SHA256 of the body with a source's secret,
/// compared in constant time), `ping` and `push` events, deliveries de-duplicated by
/// `X-GitHub-Delivery`. Answers at once; the sync runs in the background.
#[utoipa::path(post, path = "/api/v1/webhooks/github", tag = "sync",
    request_body(content(
        (String = "application/json"),
        (String = "application/x-www-form-urlencoded"),
    ), description = "GitHub's push or ping payload: JSON, or a form whose `payload` field holds it"),
    responses(
        (status = 202, description = "Accepted (with the runs), ignored (with the reason) or a duplicate", body = WebhookOutcome),
        (status = 400, description = "Malformed payload or content type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong signature", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "This server has no configured sources", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn github(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<WebhookOutcome>), ApiError> {
    deliver::<GitHub>(&state, &headers, body).await
}

struct GitHub;

#[derive(Deserialize)]
struct Repository {
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
struct Payload {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    after: Option<String>,
    repository: Repository,
}

impl Provider for GitHub {
    const NAME: &'static str = "github";

    fn authenticate<'m>(
        m: &'m SyncManager,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Vec<&'m ManagedSource>, ApiError> {
        let signature = header(headers, "x-hub-signature-256")
            .and_then(|s| s.strip_prefix("sha256="))
            .and_then(|hex_sig| hex::decode(hex_sig).ok())
            .ok_or_else(|| unauthorized("missing or malformed X-Hub-Signature-256"))?;
        sources_with_secret(m, "signature", |secret| {
            Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
                .map(|mut mac| {
                    mac.update(body);
                    mac.verify_slice(&signature).is_ok()
                })
                .unwrap_or(false)
        })
    }

    fn delivery_id(headers: &HeaderMap) -> Option<&str> {
        header(headers, "x-github-delivery")
    }

    /// GitHub sends JSON, or — the default for hooks created through its API — a form with the
    /// JSON in its `payload` field. The signature covers the raw body either way.
    fn payload<'b>(headers: &HeaderMap, body: &'b [u8]) -> Result<Cow<'b, [u8]>, ApiError> {
        if media_type(headers).as_deref() != Some("application/x-www-form-urlencoded") {
            return json_body(headers, body);
        }
        let fields: Vec<(String, String)> =
            serde_html_form::from_bytes(body).map_err(|e| malformed("GitHub", e))?;
        fields
            .into_iter()
            .find(|(k, _)| k == "payload")
            .map(|(_, json)| Cow::Owned(json.into_bytes()))
            .ok_or_else(|| malformed("GitHub", "the form has no `payload` field"))
    }

    fn event(headers: &HeaderMap, body: &[u8]) -> Result<Event, ApiError> {
        match header(headers, "x-github-event").unwrap_or_default() {
            "ping" => return Ok(Event::Ping),
            "push" => {}
            other => return Ok(Event::Ignored(format!("event {other:?} is not a push"))),
        }
        let push: Payload = serde_json::from_slice(body).map_err(|e| malformed("GitHub", e))?;
        let r = push.repository;
        Ok(Event::Push(Push {
            urls: [r.clone_url, r.ssh_url, r.html_url, r.git_url]
                .into_iter()
                .flatten()
                .collect(),
            git_ref: push.git_ref,
            after: push.after,
        }))
    }
}
