//! What is known about one engine — its health, where it comes from, every probe and heartbeat
//! detail — and the change-feed event that carries it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// The change-feed event (`event:` of `GET /api/v1/events`) that carries an [`EngineStatus`]
/// when it changes (see [`Registry::subscribe`](crate::Registry::subscribe)).
pub const STATUS_EVENT: &str = "engine.status";

/// Health of one engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EngineHealth {
    /// Its health checks pass: usable.
    Healthy,
    /// Failing its health checks: definitions naming it are rejected.
    Unhealthy,
    /// No health URL, or not probed yet: treated as usable.
    Unknown,
    /// A registered engine whose heartbeat stopped (its TTL passed without a re-registration):
    /// definitions naming it are rejected as if it were not registered. It stays listed for a
    /// while (`expired_retention`), then is forgotten.
    Expired,
}

/// Where an engine comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EngineSource {
    /// The server's configuration (`engines:`): permanent, cannot be changed over the API.
    Config,
    /// Registered over `PUT /api/v1/engines/{name}`; expires without heartbeats.
    Registered,
}

/// What the registry knows about one engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EngineStatus {
    /// Engine name as definitions write it.
    #[schema(example = "terraform")]
    pub name: String,
    /// Configured or registered.
    pub source: EngineSource,
    /// Current health.
    pub health: EngineHealth,
    /// Whether definitions may name it now (`healthy` or `unknown`).
    pub usable: bool,
    /// Why it is not usable, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "health check failed 3 times in a row: cannot connect: Connection refused")]
    pub reason: Option<String>,
    /// When `health` last changed (or the engine appeared).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_change: OffsetDateTime,
    /// Probed health endpoint (`http`/`https`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_url: Option<String>,
    /// Seconds between probes (with a health URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_interval_seconds: Option<f64>,
    /// Seconds a probe may take before it counts as failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_timeout_seconds: Option<f64>,
    /// Consecutive failed probes that turn a healthy engine unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_threshold: Option<u32>,
    /// Consecutive successful probes that turn an unhealthy engine healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_threshold: Option<u32>,
    /// Duration of the last completed probe, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// When the last probe completed.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_probe_at: Option<OffsetDateTime>,
    /// Why the last failed probe failed (kept after a recovery, with `last_error_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the last failed probe completed.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_error_at: Option<OffsetDateTime>,
    /// Failed probes in a row (0 after a success).
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Successful probes in a row (0 after a failure).
    #[serde(default)]
    pub consecutive_successes: u32,
    /// Version the engine reported when registering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Labels the engine reported when registering.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Heartbeat TTL of a registered engine, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<f64>,
    /// When a registered engine first registered (since it was last forgotten).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub registered_at: Option<OffsetDateTime>,
    /// A registered engine's last registration (heartbeat).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_heartbeat: Option<OffsetDateTime>,
    /// When a registered engine expires (or expired) without another heartbeat.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

impl EngineStatus {
    /// A new engine: health unknown, nothing probed.
    pub fn new(name: impl Into<String>, source: EngineSource) -> Self {
        EngineStatus {
            name: name.into(),
            source,
            health: EngineHealth::Unknown,
            usable: true,
            reason: None,
            last_change: OffsetDateTime::now_utc(),
            health_url: None,
            health_interval_seconds: None,
            health_timeout_seconds: None,
            unhealthy_threshold: None,
            healthy_threshold: None,
            latency_ms: None,
            last_probe_at: None,
            last_error: None,
            last_error_at: None,
            consecutive_failures: 0,
            consecutive_successes: 0,
            version: None,
            labels: BTreeMap::new(),
            ttl_seconds: None,
            registered_at: None,
            last_heartbeat: None,
            expires_at: None,
        }
    }

    /// Whether definitions may name this engine: healthy, or not (yet) checked.
    pub fn is_usable(&self) -> bool {
        matches!(self.health, EngineHealth::Healthy | EngineHealth::Unknown)
    }
}
