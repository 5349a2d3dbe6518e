//! Health probes: the background loop that starts them when due, and the HTTP probe itself.
//!
//! A probe is one `GET` of the health URL, bounded as a whole (connect, headers, body) by the
//! engine's timeout. It succeeds on a 2xx answer, unless the body is a JSON object whose
//! `status` says the engine is down (`fail`, `failed`, `down`, `unhealthy`, `error`, in any
//! case); any other body (empty, text, HTML, bytes that are not UTF-8) is not judged. A timeout,
//! a connection error, an answer that is not HTTP, a non-2xx status (redirects are not
//! followed) or a body that breaks off count as failures, with the reason recorded.

use std::{
    collections::HashMap,
    sync::{Arc, Once},
    time::{Duration, Instant},
};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{Registry, fmt_duration, registry::HealthCheck};

/// The body bytes looked at; the rest is not read.
const MAX_BODY: usize = 64 * 1024;
/// `status` values of a JSON body that mean "down".
const DOWN: &[&str] = &["fail", "failed", "down", "unhealthy", "error"];
/// How long the loop sleeps with nothing planned.
const IDLE: Duration = Duration::from_secs(3600);

/// What one probe found.
#[derive(Debug, Clone)]
pub(crate) struct ProbeOutcome {
    /// When it started (the next probe is due one interval later).
    pub(crate) started: Instant,
    /// How long it took.
    pub(crate) latency: Duration,
    /// Why it failed, if it did.
    pub(crate) result: Result<(), String>,
}

impl Registry {
    /// Probes the engines' health URLs when due and expires registrations on time, until `stop`
    /// is cancelled. Probes run concurrently (one at a time per engine): a slow engine does not
    /// delay the others.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let client = match client() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the health-probe HTTP client; engines will not be probed");
                return;
            }
        };
        let mut probes = JoinSet::new();
        // Which engine each probe task is for, to recover if a task fails.
        let mut running: HashMap<tokio::task::Id, (String, u64, Instant)> = HashMap::new();
        loop {
            let now = Instant::now();
            let (due, next) = self.due_at(now);
            for p in due {
                let client = client.clone();
                let check = p.check;
                let handle = probes.spawn(async move { probe(&client, &check).await });
                running.insert(handle.id(), (p.name, p.epoch, now));
            }
            let wake_at = next.unwrap_or(now + IDLE);
            tokio::select! {
                () = stop.cancelled() => break,
                Some(joined) = probes.join_next_with_id() => match joined {
                    Ok((id, outcome)) => {
                        if let Some((name, epoch, _)) = running.remove(&id) {
                            self.record_probe(&name, epoch, outcome);
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "a health probe task failed");
                        if let Some((name, epoch, started)) = running.remove(&e.id()) {
                            self.probe_lost(&name, epoch, started);
                        }
                    }
                },
                () = tokio::time::sleep_until(wake_at.into()) => {}
                () = self.wake.notified() => {}
            }
        }
        probes.shutdown().await;
    }
}

/// The probes' HTTP client: no redirects, no connection reuse (each probe shows whether the
/// engine accepts connections now), rustls with the ring provider for `https`.
pub(crate) fn client() -> reqwest::Result<reqwest::Client> {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing a race with another installer is fine: a provider is installed either way.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .user_agent(concat!("nestor-health/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Probes `check.url` once.
pub(crate) async fn probe(client: &reqwest::Client, check: &HealthCheck) -> ProbeOutcome {
    let started = Instant::now();
    let result = match tokio::time::timeout(check.timeout, get(client, &check.url)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {}", fmt_duration(check.timeout))),
    };
    ProbeOutcome {
        started,
        latency: started.elapsed(),
        result,
    }
}

async fn get(client: &reqwest::Client, url: &str) -> Result<(), String> {
    let mut res = client.get(url).send().await.map_err(|e| {
        if e.is_connect() {
            format!("cannot connect: {}", describe(&e))
        } else {
            format!("no valid HTTP answer: {}", describe(&e))
        }
    })?;
    let status = res.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let mut body = Vec::new();
    while body.len() < MAX_BODY {
        match res.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => {
                return Err(format!(
                    "HTTP {status}, then the body broke off: {}",
                    describe(&e)
                ));
            }
        }
    }
    judge_body(&body)
}

/// A 2xx body: a JSON object whose `status` says "down" is a failure; anything else passes.
pub(crate) fn judge_body(body: &[u8]) -> Result<(), String> {
    if !body.trim_ascii_start().starts_with(b"{") {
        return Ok(());
    }
    let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(body) else {
        return Ok(());
    };
    match object.get("status") {
        Some(serde_json::Value::String(s)) if DOWN.iter().any(|d| s.eq_ignore_ascii_case(d)) => {
            let s: String = s.chars().take(64).collect();
            Err(format!("the health endpoint reports status {s:?}"))
        }
        _ => Ok(()),
    }
}

/// A reqwest error's causes, without the URL (statuses show it already) and without the
/// HTTP client's wrapping (`client error (Connect)`).
fn describe(e: &reqwest::Error) -> String {
    let mut causes: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.iter().any(|c| c.contains(&text)) {
            causes.push(text);
        }
        source = cause.source();
    }
    if causes.len() > 1 && causes[0].starts_with("client error (") {
        causes.remove(0);
    }
    if causes.is_empty() {
        e.to_string()
    } else {
        causes.join(": ")
    }
}
