//! Push webhooks: one delivery path for every git host, each provider a short module that
//! authenticates a delivery and says what it asks for ([`Provider`]). The shared path checks
//! the content type, drops redeliveries, matches the pushed repository and branch against the
//! configured sources that the delivery authenticated for, requests their sync runs and counts
//! the outcome. Adding a host is one file.

pub(super) mod github;
pub(super) mod gitlab;

use std::{borrow::Cow, time::Duration};

use axum::{
    Json,
    http::{HeaderMap, StatusCode},
};
use nestor_catalog::{ManagedSource, SyncManager};
use nestor_model::{ErrorCode, Problem, SyncRun, SyncTrigger};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{app::AppState, error::ApiError, routes::sync::manager};

/// How long a webhook delivery id is remembered, to drop redeliveries.
const DELIVERY_TTL: Duration = Duration::from_secs(24 * 3600);

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

/// The answer of every delivery: 202 with its outcome.
type Answer = Result<(StatusCode, Json<WebhookOutcome>), ApiError>;

/// What an authenticated delivery asks for, in terms common to every host.
pub(super) enum Event {
    /// A connectivity check (GitHub's `ping`): accepted, nothing to do.
    Ping,
    /// Another kind of event: ignored, for this reason.
    Ignored(String),
    /// A push.
    Push(Push),
}

/// A push, as every host reports it.
pub(super) struct Push {
    /// The repository's URLs in the forms the host gives (https, ssh, web).
    pub urls: Vec<String>,
    /// The pushed ref, `refs/heads/<branch>`.
    pub git_ref: String,
    /// The pushed commit, when the payload has one.
    pub after: Option<String>,
}

/// One git host's part of a delivery.
pub(super) trait Provider {
    /// The host's name in metrics, de-duplication keys and messages.
    const NAME: &'static str;

    /// The sources whose webhook secret authenticates this delivery (empty: 401). The body is
    /// not trusted before this.
    fn authenticate<'m>(
        m: &'m SyncManager,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Vec<&'m ManagedSource>, ApiError>;

    /// The delivery's id, for dropping redeliveries, when the host sends one.
    fn delivery_id(_headers: &HeaderMap) -> Option<&str> {
        None
    }

    /// The JSON payload of an authenticated delivery (the body, unless the host wraps it).
    fn payload<'b>(headers: &HeaderMap, body: &'b [u8]) -> Result<Cow<'b, [u8]>, ApiError> {
        json_body(headers, body)
    }

    /// What the delivery asks for.
    fn event(headers: &HeaderMap, body: &[u8]) -> Result<Event, ApiError>;
}

/// Serves one delivery of provider `P` and counts its outcome. The body is read here, up to
/// the webhook limit (`http.webhook_max_body_bytes`), not the API's.
pub(super) async fn deliver<P: Provider>(
    state: &AppState,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Answer {
    let answer = match read_body(body, state.config.webhook_max_body_bytes).await {
        Ok(body) => steps::<P>(state, headers, &body).await,
        Err(e) => Err(e),
    };
    match &answer {
        Ok((_, outcome)) => crate::metrics::webhook_delivery(P::NAME, outcome.outcome),
        Err(e) => crate::metrics::webhook_delivery(P::NAME, e.0.code.as_str()),
    }
    answer
}

async fn steps<P: Provider>(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Answer {
    let m = manager(state)?;
    let signed = P::authenticate(m, headers, body)?;
    let payload = P::payload(headers, body)?;
    if let Some(delivery) = P::delivery_id(headers)
        && !state
            .catalog
            .remember_delivery(&format!("{}:{delivery}", P::NAME), DELIVERY_TTL)
            .await?
    {
        return Ok(outcome(
            "duplicate",
            Some(format!("delivery {delivery} was already accepted")),
            Vec::new(),
        ));
    }
    let push = match P::event(headers, &payload)? {
        Event::Ping => return Ok(outcome("accepted", Some("ping".into()), Vec::new())),
        Event::Ignored(reason) => return Ok(outcome("ignored", Some(reason), Vec::new())),
        Event::Push(push) => push,
    };
    let urls: Vec<&str> = push.urls.iter().map(String::as_str).collect();
    let targets: Vec<&ManagedSource> = matching(m, &urls, &push.git_ref)
        .into_iter()
        .filter(|s| signed.iter().any(|x| x.source.id() == s.source.id()))
        .collect();
    if targets.is_empty() {
        let reason = format!(
            "no source follows {} at {}",
            urls.first().unwrap_or(&"?"),
            push.git_ref
        );
        return Ok(outcome("ignored", Some(reason), Vec::new()));
    }
    let runs = request_runs(m, &targets, push.after.as_deref()).await?;
    Ok(outcome("accepted", None, runs))
}

fn outcome(
    outcome: &'static str,
    reason: Option<String>,
    runs: Vec<SyncRun>,
) -> (StatusCode, Json<WebhookOutcome>) {
    (
        StatusCode::ACCEPTED,
        Json(WebhookOutcome {
            outcome,
            reason,
            runs,
        }),
    )
}

/// The 401 of a delivery no configured secret authenticates.
pub(super) fn unauthorized(message: &str) -> ApiError {
    Problem::new(ErrorCode::Unauthorized, message).into()
}

/// The sources whose webhook secret `proves` accepts (a signature or a token made with it);
/// none is a 401 naming the `credential`.
pub(super) fn sources_with_secret<'m>(
    m: &'m SyncManager,
    credential: &str,
    proves: impl Fn(&str) -> bool,
) -> Result<Vec<&'m ManagedSource>, ApiError> {
    let signed: Vec<&ManagedSource> = m
        .sources()
        .filter(|s| s.webhook_secret.as_deref().is_some_and(&proves))
        .collect();
    if signed.is_empty() {
        return Err(unauthorized(&format!(
            "the {credential} matches no configured webhook secret"
        )));
    }
    Ok(signed)
}

/// The 400 of a body that is not the host's push payload.
pub(super) fn malformed(provider: &str, e: impl std::fmt::Display) -> ApiError {
    Problem::new(
        ErrorCode::MalformedBody,
        format!("not a {provider} push payload: {e}"),
    )
    .into()
}

/// A header's value, when it is text.
pub(super) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
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

/// The media type of the body, lower-case, without parameters.
pub(super) fn media_type(headers: &HeaderMap) -> Option<String> {
    header(headers, "content-type")
        .and_then(|ct| ct.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
}

/// The body itself, when it is JSON.
pub(super) fn json_body<'b>(
    headers: &HeaderMap,
    body: &'b [u8],
) -> Result<Cow<'b, [u8]>, ApiError> {
    if media_type(headers).as_deref() != Some("application/json") {
        return Err(ApiError::invalid_parameter(
            "Content-Type",
            "webhooks must be sent as application/json",
        ));
    }
    Ok(Cow::Borrowed(body))
}

/// A delivery's body, up to `limit` bytes (a `413` problem beyond it).
async fn read_body(body: axum::body::Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let mut data = Vec::new();
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::from(Problem::new(
                ErrorCode::MalformedBody,
                format!("reading the delivery failed: {e}"),
            ))
        })?;
        if data.len() + chunk.len() > limit {
            return Err(Problem::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "the delivery is larger than this server accepts ({limit} bytes; http.webhook_max_body_bytes)"
                ),
            )
            .into());
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data)
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
