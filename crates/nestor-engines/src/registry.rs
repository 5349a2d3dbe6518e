//! [`Registry`]: configured and self-registered engines, their heartbeats and health.
//!
//! Time is read once per operation and passed down (`*_at` functions take the `Instant`), so the
//! tests drive expiry without sleeping.

use std::{
    collections::BTreeMap,
    sync::{
        Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use nestor_model::limits::between;
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::{Notify, broadcast};
use utoipa::ToSchema;

use crate::{
    EngineHealth, EngineRegistry, EngineSource, EngineStatus, fmt_duration, fmt_time,
    probe::ProbeOutcome,
};

/// Capacity of the status-change broadcast; a subscriber that falls further behind skips the
/// oldest changes (it can re-read the registry).
const CHANGES_CAPACITY: usize = 256;
/// Longest probe timeout.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest probe interval.
const MAX_INTERVAL: Duration = Duration::from_secs(3600);
/// Largest threshold.
const MAX_THRESHOLD: u32 = 100;
/// Longest health URL.
const MAX_URL_LEN: usize = 2048;
/// Longest reported version.
const MAX_VERSION_LEN: usize = 128;
/// Most labels on one registration.
const MAX_LABELS: usize = 32;
/// Longest label key and value.
const MAX_LABEL_KEY_LEN: usize = 63;
const MAX_LABEL_VALUE_LEN: usize = 256;

/// How an engine's health endpoint is probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// `http://` or `https://` URL; a probe succeeds on a 2xx answer within `timeout`.
    pub url: String,
    /// Time between the starts of two probes.
    pub interval: Duration,
    /// A probe not answered (headers and body) within this counts as failed.
    pub timeout: Duration,
    /// Consecutive failures that turn a healthy engine unhealthy.
    pub unhealthy_threshold: u32,
    /// Consecutive successes that turn an unhealthy engine healthy.
    pub healthy_threshold: u32,
}

impl HealthCheck {
    /// Default probe interval.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
    /// Default probe timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
    /// Default failures before unhealthy.
    pub const DEFAULT_UNHEALTHY_THRESHOLD: u32 = 3;
    /// Default successes before healthy again.
    pub const DEFAULT_HEALTHY_THRESHOLD: u32 = 2;

    /// A check of `url` with the default interval, timeout and thresholds.
    pub fn new(url: impl Into<String>) -> Self {
        HealthCheck {
            url: url.into(),
            interval: Self::DEFAULT_INTERVAL,
            timeout: Self::DEFAULT_TIMEOUT,
            unhealthy_threshold: Self::DEFAULT_UNHEALTHY_THRESHOLD,
            healthy_threshold: Self::DEFAULT_HEALTHY_THRESHOLD,
        }
    }

    /// Checks the settings; the error names the offending field.
    fn check(&self, settings: &RegistrySettings) -> Result<(), (&'static str, String)> {
        check_url(&self.url).map_err(|m| ("health_url", m))?;
        if self.interval < settings.min_health_interval || self.interval > MAX_INTERVAL {
            return Err((
                "health_interval",
                format!(
                    "{} {}",
                    fmt_duration(self.interval),
                    between(
                        fmt_duration(settings.min_health_interval),
                        fmt_duration(MAX_INTERVAL)
                    )
                ),
            ));
        }
        if self.timeout.is_zero() || self.timeout > MAX_TIMEOUT {
            return Err((
                "health_timeout",
                format!(
                    "{} {}",
                    fmt_duration(self.timeout),
                    between("1ms", fmt_duration(MAX_TIMEOUT))
                ),
            ));
        }
        for (field, value) in [
            ("unhealthy_threshold", self.unhealthy_threshold),
            ("healthy_threshold", self.healthy_threshold),
        ] {
            if !(1..=MAX_THRESHOLD).contains(&value) {
                return Err((field, format!("{value} {}", between(1, MAX_THRESHOLD))));
            }
        }
        Ok(())
    }
}

/// A health URL must be absolute `http`/`https` with a host and without credentials (statuses
/// show the URL to anyone who can read the registry).
fn check_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!(
            "{} characters; at most {MAX_URL_LEN} are allowed",
            url.len()
        ));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "{url:?}: the scheme must be http or https, not {:?}",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{url:?} has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "{url:?} carries credentials; health URLs are shown to API readers"
        ));
    }
    Ok(())
}

/// One engine of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineDefinition {
    /// Name as definitions write it.
    pub name: String,
    /// Health probing, if the engine has a health URL.
    pub health: Option<HealthCheck>,
}

/// Limits and defaults of a [`Registry`].
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// Whether the catalog checks definitions against this registry (shown by the API; the
    /// wiring decides).
    pub enforced: bool,
    /// Heartbeat TTL of a registration that names none.
    pub default_ttl: Duration,
    /// Shortest TTL a registration may ask for.
    pub min_ttl: Duration,
    /// Longest TTL a registration may ask for.
    pub max_ttl: Duration,
    /// How long an expired registration stays listed (as `expired`) before it is forgotten.
    pub expired_retention: Duration,
    /// Shortest probe interval accepted (configuration and registrations).
    pub min_health_interval: Duration,
    /// Most registered engines held at once (expired ones included until forgotten).
    pub max_registered: usize,
    /// Hosts a registration's `health_url` may name: host names (case-insensitive) or IP
    /// networks (`10.0.0.0/8`, `::1/128`), to which the hosts of the configured engines'
    /// health URLs are added. `None`: any host. With a list, the registration API cannot be
    /// used to make the server probe (and so scan) arbitrary addresses.
    pub probe_hosts: Option<Vec<String>>,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            enforced: true,
            default_ttl: Duration::from_secs(60),
            min_ttl: Duration::from_secs(5),
            max_ttl: Duration::from_secs(3600),
            expired_retention: Duration::from_secs(600),
            min_health_interval: Duration::from_secs(1),
            max_registered: 1000,
            probe_hosts: None,
        }
    }
}

/// Whether `url`'s host is one `allowed` names: a host name, or an IP network in CIDR form.
fn probe_host_allowed(url: &str, allowed: &[String]) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    let host = parsed.host_str().unwrap_or_default();
    let ip = host
        .trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .ok();
    allowed.iter().any(|rule| match (rule.split_once('/'), ip) {
        (Some((net, bits)), Some(ip)) => in_network(ip, net, bits),
        (Some(_), None) => false,
        (None, _) => rule
            .trim_matches(['[', ']'])
            .eq_ignore_ascii_case(host.trim_matches(['[', ']'])),
    })
}

fn in_network(ip: std::net::IpAddr, net: &str, bits: &str) -> bool {
    use std::net::IpAddr;
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// The body of `PUT /api/v1/engines/{name}`: a registration, repeated as the heartbeat.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// Health endpoint to probe (`http`/`https`); without it the engine's health stays
    /// `unknown` (usable) for as long as it keeps registering.
    #[schema(example = "http://terraform-runner:8080/healthz")]
    pub health_url: Option<String>,
    /// Seconds without a new registration after which the engine expires (server default
    /// 60, within the server's bounds, 5 to 3600 by default).
    #[schema(example = 60)]
    pub ttl_seconds: Option<f64>,
    /// Seconds between probes (default 10; needs `health_url`).
    pub health_interval_seconds: Option<f64>,
    /// Seconds a probe may take (default 2, at most 60; needs `health_url`).
    pub health_timeout_seconds: Option<f64>,
    /// Consecutive failed probes that make it unhealthy (default 3, 1 to 100).
    #[schema(minimum = 1, maximum = 100)]
    pub unhealthy_threshold: Option<u32>,
    /// Consecutive successful probes that make it healthy again (default 2, 1 to 100).
    #[schema(minimum = 1, maximum = 100)]
    pub healthy_threshold: Option<u32>,
    /// The engine's own version, shown as given (at most 128 characters).
    pub version: Option<String>,
    /// Free-form labels, shown as given (at most 32; keys up to 63 characters, values up to
    /// 256).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The result of [`Registry::register`].
#[derive(Debug, Clone)]
pub struct Registered {
    /// The engine's status after the registration.
    pub status: EngineStatus,
    /// A new registration (or one renewed after it had expired), not a heartbeat.
    pub created: bool,
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The name breaks the naming rule.
    #[error("invalid engine name {name:?}: {message}")]
    InvalidName {
        /// The name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A field of the registration is out of bounds or malformed.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The body field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The name belongs to an engine of the configuration.
    #[error(
        "engine {name:?} is defined in the server's configuration; it cannot be registered over the API"
    )]
    Configured {
        /// The name.
        name: String,
    },
    /// Too many registered engines.
    #[error("the registry already holds {max} registered engines; retry once some have expired")]
    Full {
        /// The limit.
        max: usize,
    },
}

/// Why the configured engines cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A name or setting is invalid.
    #[error("engine {name:?}: {message}")]
    Invalid {
        /// The engine.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A name is listed twice.
    #[error("engine {name:?} is listed more than once")]
    Duplicate {
        /// The engine.
        name: String,
    },
}

/// One engine and the bookkeeping around its status.
#[derive(Debug)]
struct Entry {
    status: EngineStatus,
    check: Option<HealthCheck>,
    /// Changes whenever the check is (re)configured or stops: results of probes started under
    /// another epoch are dropped.
    epoch: u64,
    next_probe: Instant,
    probing: bool,
    /// Registered engines: heartbeat TTL and the deadline it sets.
    ttl: Option<Duration>,
    expires: Option<Instant>,
    /// Expired engines: when they are forgotten.
    forget_at: Option<Instant>,
    /// Failures in a row when the engine turned unhealthy (the reason quotes it; the live count
    /// is `consecutive_failures`).
    failures_at_flip: u32,
}

#[derive(Debug, Default)]
struct State {
    engines: BTreeMap<String, Entry>,
    next_epoch: u64,
    /// Earliest expiry or forgetting among the registered engines: reads skip the sweep before.
    next_deadline: Option<Instant>,
}

impl State {
    fn epoch(&mut self) -> u64 {
        self.next_epoch += 1;
        self.next_epoch
    }
}

/// A probe the run loop should start.
#[derive(Debug)]
pub(crate) struct DueProbe {
    pub(crate) name: String,
    pub(crate) epoch: u64,
    pub(crate) check: HealthCheck,
}

/// The deployment-engine registry: configured engines (permanent) and registered ones (with a
/// heartbeat TTL), each with optional health probing.
///
/// Reads ([`EngineRegistry`]) are synchronous and cheap; they also apply expiries that are due,
/// so a registration is never usable past its TTL even if [`Registry::run`] lags. Run
/// [`Registry::run`] in the background for health probes and timely expiry events.
#[derive(Debug)]
pub struct Registry {
    state: Mutex<State>,
    generation: AtomicU64,
    changes: broadcast::Sender<EngineStatus>,
    /// The latest significant changes, newest last (at most [`RECENT_CHANGES`]).
    recent: Mutex<std::collections::VecDeque<EngineStatus>>,
    pub(crate) wake: Notify,
    settings: RegistrySettings,
}

/// How many status changes [`Registry::recent_changes`] remembers.
pub const RECENT_CHANGES: usize = 100;

impl Registry {
    /// A registry of the configured `engines`.
    pub fn new(
        engines: impl IntoIterator<Item = EngineDefinition>,
        mut settings: RegistrySettings,
    ) -> Result<Registry, ConfigError> {
        let now = Instant::now();
        let mut state = State::default();
        let engines: Vec<EngineDefinition> = engines.into_iter().collect();
        if let Some(allowed) = &mut settings.probe_hosts {
            let configured = engines
                .iter()
                .filter_map(|d| d.health.as_ref())
                .filter_map(|c| reqwest::Url::parse(&c.url).ok())
                .filter_map(|u| u.host_str().map(str::to_owned));
            allowed.extend(configured);
        }
        for def in engines {
            nestor_model::ComponentName::parse(&def.name).map_err(|e| ConfigError::Invalid {
                name: def.name.clone(),
                message: e.to_string(),
            })?;
            if let Some(check) = &def.health {
                check
                    .check(&settings)
                    .map_err(|(field, message)| ConfigError::Invalid {
                        name: def.name.clone(),
                        message: format!("{field}: {message}"),
                    })?;
            }
            if state.engines.contains_key(&def.name) {
                return Err(ConfigError::Duplicate { name: def.name });
            }
            let mut status = EngineStatus::new(def.name.clone(), EngineSource::Config);
            show_check(&mut status, def.health.as_ref());
            let epoch = state.epoch();
            state.engines.insert(
                def.name,
                Entry {
                    status,
                    check: def.health,
                    epoch,
                    next_probe: now,
                    probing: false,
                    ttl: None,
                    expires: None,
                    forget_at: None,
                    failures_at_flip: 0,
                },
            );
        }
        let (changes, _) = broadcast::channel(CHANGES_CAPACITY);
        Ok(Registry {
            state: Mutex::new(state),
            generation: AtomicU64::new(1),
            changes,
            recent: Mutex::new(std::collections::VecDeque::with_capacity(RECENT_CHANGES)),
            wake: Notify::new(),
            settings,
        })
    }

    /// The limits and defaults in force.
    pub fn settings(&self) -> &RegistrySettings {
        &self.settings
    }

    /// Status changes, as they happen: an engine appeared (registered, or re-registered after
    /// expiring), changed its health URL, version or labels, changed health, changed the error
    /// that keeps it unhealthy, or expired. Heartbeats that change nothing and probes that do
    /// not change the health are not sent.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineStatus> {
        self.changes.subscribe()
    }

    /// The latest status changes (those [`Registry::subscribe`] sends), newest first, at most
    /// [`RECENT_CHANGES`]: each engine's history since start-up, for people.
    pub fn recent_changes(&self) -> Vec<EngineStatus> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.iter().rev().cloned().collect()
    }

    /// Registers `name`, or renews its registration (the heartbeat).
    pub fn register(
        &self,
        name: &str,
        registration: Registration,
    ) -> Result<Registered, RegisterError> {
        self.register_at(name, registration, Instant::now())
    }

    pub(crate) fn register_at(
        &self,
        name: &str,
        reg: Registration,
        now: Instant,
    ) -> Result<Registered, RegisterError> {
        nestor_model::ComponentName::parse(name).map_err(|e| RegisterError::InvalidName {
            name: name.to_owned(),
            message: e.to_string(),
        })?;
        let (ttl, check) = self.check_registration(&reg)?;
        let wall = OffsetDateTime::now_utc();

        let mut state = self.lock();
        self.sweep(&mut state, now);
        let registered = state
            .engines
            .values()
            .filter(|e| e.status.source == EngineSource::Registered)
            .count();
        let epoch = state.epoch();
        let (status, created) = match state.engines.get_mut(name) {
            Some(e) if e.status.source == EngineSource::Config => {
                return Err(RegisterError::Configured {
                    name: name.to_owned(),
                });
            }
            Some(e) if e.status.health != EngineHealth::Expired => {
                // A heartbeat: renew; a changed check restarts probing from `unknown`.
                let mut significant = false;
                if e.check != check {
                    e.check = check;
                    e.epoch = epoch;
                    e.next_probe = now;
                    e.probing = false;
                    let s = &mut e.status;
                    s.consecutive_failures = 0;
                    s.consecutive_successes = 0;
                    s.latency_ms = None;
                    s.last_probe_at = None;
                    show_check(s, e.check.as_ref());
                    set_health(e, EngineHealth::Unknown, None, wall);
                    significant = true;
                }
                let s = &mut e.status;
                if s.version != reg.version || s.labels != reg.labels {
                    s.version = reg.version;
                    s.labels = reg.labels;
                    significant = true;
                }
                e.ttl = Some(ttl);
                e.expires = Some(now + ttl);
                s.ttl_seconds = Some(ttl.as_secs_f64());
                s.last_heartbeat = Some(wall);
                s.expires_at = Some(wall + ttl);
                if significant {
                    self.changed(e);
                }
                (e.status.clone(), false)
            }
            existing => {
                if existing.is_none() && registered >= self.settings.max_registered {
                    return Err(RegisterError::Full {
                        max: self.settings.max_registered,
                    });
                }
                let mut status = EngineStatus::new(name, EngineSource::Registered);
                show_check(&mut status, check.as_ref());
                status.last_change = wall;
                status.version = reg.version;
                status.labels = reg.labels;
                status.ttl_seconds = Some(ttl.as_secs_f64());
                status.registered_at = Some(wall);
                status.last_heartbeat = Some(wall);
                status.expires_at = Some(wall + ttl);
                let entry = Entry {
                    status,
                    check,
                    epoch,
                    next_probe: now,
                    probing: false,
                    ttl: Some(ttl),
                    expires: Some(now + ttl),
                    forget_at: None,
                    failures_at_flip: 0,
                };
                tracing::info!(engine = name, ttl = %fmt_duration(ttl), "engine registered");
                self.changed(&entry);
                let status = entry.status.clone();
                state.engines.insert(name.to_owned(), entry);
                (status, true)
            }
        };
        state.next_deadline = Some(state.next_deadline.map_or(now + ttl, |d| d.min(now + ttl)));
        drop(state);
        // The run loop re-plans: a new probe or a nearer expiry.
        self.wake.notify_one();
        Ok(Registered { status, created })
    }

    /// Checks a registration against the bounds; returns its TTL and health check.
    fn check_registration(
        &self,
        reg: &Registration,
    ) -> Result<(Duration, Option<HealthCheck>), RegisterError> {
        let invalid =
            |field: &'static str, message: String| RegisterError::Invalid { field, message };
        let s = &self.settings;
        let ttl = match reg.ttl_seconds {
            None => s.default_ttl,
            Some(v) => {
                let d = seconds("ttl_seconds", v)?;
                if d < s.min_ttl || d > s.max_ttl {
                    return Err(invalid(
                        "ttl_seconds",
                        format!(
                            "{v} {} seconds",
                            between(s.min_ttl.as_secs_f64(), s.max_ttl.as_secs_f64())
                        ),
                    ));
                }
                d
            }
        };
        let check = match &reg.health_url {
            None => {
                for (field, given) in [
                    (
                        "health_interval_seconds",
                        reg.health_interval_seconds.is_some(),
                    ),
                    (
                        "health_timeout_seconds",
                        reg.health_timeout_seconds.is_some(),
                    ),
                    ("unhealthy_threshold", reg.unhealthy_threshold.is_some()),
                    ("healthy_threshold", reg.healthy_threshold.is_some()),
                ] {
                    if given {
                        return Err(invalid(field, "only applies with a health_url".into()));
                    }
                }
                None
            }
            Some(url) => {
                if let Some(allowed) = &s.probe_hosts
                    && !probe_host_allowed(url, allowed)
                {
                    return Err(invalid(
                        "health_url",
                        format!(
                            "{url:?}: its host is not one this server may probe (engine_registry.probe_hosts, and the configured engines' hosts)"
                        ),
                    ));
                }
                let mut check = HealthCheck::new(url.clone());
                if let Some(v) = reg.health_interval_seconds {
                    check.interval = seconds("health_interval_seconds", v)?;
                }
                if let Some(v) = reg.health_timeout_seconds {
                    check.timeout = seconds("health_timeout_seconds", v)?;
                }
                if let Some(v) = reg.unhealthy_threshold {
                    check.unhealthy_threshold = v;
                }
                if let Some(v) = reg.healthy_threshold {
                    check.healthy_threshold = v;
                }
                check.check(s).map_err(|(field, message)| {
                    let field = match field {
                        "health_interval" => "health_interval_seconds",
                        "health_timeout" => "health_timeout_seconds",
                        other => other,
                    };
                    invalid(field, message)
                })?;
                Some(check)
            }
        };
        if let Some(v) = &reg.version
            && (v.is_empty()
                || v.chars().count() > MAX_VERSION_LEN
                || v.chars().any(char::is_control))
        {
            return Err(invalid(
                "version",
                format!("must be 1 to {MAX_VERSION_LEN} printable characters"),
            ));
        }
        if reg.labels.len() > MAX_LABELS {
            return Err(invalid(
                "labels",
                format!(
                    "{} labels; at most {MAX_LABELS} are allowed",
                    reg.labels.len()
                ),
            ));
        }
        for (k, v) in &reg.labels {
            if k.is_empty()
                || k.chars().count() > MAX_LABEL_KEY_LEN
                || k.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                return Err(invalid(
                    "labels",
                    format!(
                        "key {k:?}: 1 to {MAX_LABEL_KEY_LEN} characters, no spaces or control characters"
                    ),
                ));
            }
            if v.chars().count() > MAX_LABEL_VALUE_LEN || v.chars().any(char::is_control) {
                return Err(invalid(
                    "labels",
                    format!(
                        "value of {k:?}: at most {MAX_LABEL_VALUE_LEN} characters, no control characters"
                    ),
                ));
            }
        }
        Ok((ttl, check))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves consistent-enough data: keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a significant change of `entry`: new generation, and a broadcast.
    fn changed(&self, entry: &Entry) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        {
            let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            if recent.len() == RECENT_CHANGES {
                recent.pop_front();
            }
            recent.push_back(entry.status.clone());
        }
        // No subscriber is not an error.
        let _ = self.changes.send(entry.status.clone());
    }

    /// Expires registrations whose TTL passed and forgets those expired long enough.
    fn sweep(&self, state: &mut State, now: Instant) {
        if state.next_deadline.is_none_or(|d| d > now) {
            return;
        }
        let mut next: Option<Instant> = None;
        let mut forget = Vec::new();
        let retention = self.settings.expired_retention;
        let mut epochs = Vec::new();
        for (name, e) in &mut state.engines {
            if e.status.source != EngineSource::Registered {
                continue;
            }
            if e.status.health != EngineHealth::Expired
                && let Some(expires) = e.expires
                && expires <= now
            {
                let reason = format!(
                    "registration expired: no heartbeat since {}{}",
                    e.status.last_heartbeat.map(fmt_time).unwrap_or_default(),
                    e.ttl
                        .map(|t| format!(" (ttl {})", fmt_duration(t)))
                        .unwrap_or_default()
                );
                tracing::warn!(engine = %name, "{reason}");
                set_health(
                    e,
                    EngineHealth::Expired,
                    Some(reason),
                    OffsetDateTime::now_utc(),
                );
                e.probing = false;
                e.forget_at = Some(now + retention);
                epochs.push(name.clone());
                self.changed(e);
            }
            if e.status.health == EngineHealth::Expired {
                match e.forget_at {
                    Some(at) if at <= now => forget.push(name.clone()),
                    Some(at) => next = Some(next.map_or(at, |n| n.min(at))),
                    None => {}
                }
            } else if let Some(at) = e.expires {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        for name in epochs {
            // Probes in flight for an expired engine are dropped when they complete.
            let epoch = state.epoch();
            if let Some(e) = state.engines.get_mut(&name) {
                e.epoch = epoch;
            }
        }
        for name in forget {
            tracing::debug!(engine = %name, "expired engine forgotten");
            state.engines.remove(&name);
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        state.next_deadline = next;
    }

    /// Plans the run loop: the probes due at `now` (marked in flight), and when to look again.
    pub(crate) fn due_at(&self, now: Instant) -> (Vec<DueProbe>, Option<Instant>) {
        let mut state = self.lock();
        self.sweep(&mut state, now);
        let mut due = Vec::new();
        let mut next = state.next_deadline;
        for (name, e) in &mut state.engines {
            let Some(check) = &e.check else { continue };
            if e.probing || e.status.health == EngineHealth::Expired {
                continue;
            }
            if e.next_probe <= now {
                e.probing = true;
                due.push(DueProbe {
                    name: name.clone(),
                    epoch: e.epoch,
                    check: check.clone(),
                });
            } else {
                next = Some(next.map_or(e.next_probe, |n| n.min(e.next_probe)));
            }
        }
        (due, next)
    }

    /// Records a probe's outcome and applies the thresholds.
    pub(crate) fn record_probe(&self, name: &str, epoch: u64, outcome: ProbeOutcome) {
        let wall = OffsetDateTime::now_utc();
        let mut state = self.lock();
        let Some(e) = state.engines.get_mut(name) else {
            return;
        };
        if e.epoch != epoch || e.status.health == EngineHealth::Expired {
            return;
        }
        let Some(check) = e.check.clone() else {
            return;
        };
        e.probing = false;
        e.next_probe = outcome.started + check.interval;
        probe_metrics(name, &outcome);
        let s = &mut e.status;
        s.latency_ms = Some((outcome.latency.as_secs_f64() * 1e6).round() / 1e3);
        s.last_probe_at = Some(wall);
        match outcome.result {
            Ok(()) => {
                s.consecutive_successes = s.consecutive_successes.saturating_add(1);
                s.consecutive_failures = 0;
                let healthy = match s.health {
                    EngineHealth::Unknown => true,
                    EngineHealth::Unhealthy => s.consecutive_successes >= check.healthy_threshold,
                    _ => false,
                };
                if healthy {
                    tracing::info!(engine = name, "engine is healthy");
                    set_health(e, EngineHealth::Healthy, None, wall);
                    self.changed(e);
                }
            }
            Err(error) => {
                s.consecutive_failures = s.consecutive_failures.saturating_add(1);
                s.consecutive_successes = 0;
                s.last_error_at = Some(wall);
                let error_changed = s.last_error.as_deref() != Some(error.as_str());
                s.last_error = Some(error);
                let flips = match s.health {
                    EngineHealth::Unknown => true,
                    EngineHealth::Healthy => s.consecutive_failures >= check.unhealthy_threshold,
                    _ => false,
                };
                if flips {
                    e.failures_at_flip = s.consecutive_failures;
                }
                let unhealthy = flips || s.health == EngineHealth::Unhealthy;
                if unhealthy && (flips || error_changed) {
                    let n = e.failures_at_flip;
                    let reason = format!(
                        "health check failed {n} time{} in a row: {}",
                        if n == 1 { "" } else { "s" },
                        e.status.last_error.as_deref().unwrap_or_default()
                    );
                    if flips {
                        tracing::warn!(engine = name, "engine is unhealthy: {reason}");
                    }
                    set_health(e, EngineHealth::Unhealthy, Some(reason), wall);
                    self.changed(e);
                }
            }
        }
    }

    /// A probe that could not be started or was lost: try again at the next interval.
    pub(crate) fn probe_lost(&self, name: &str, epoch: u64, started: Instant) {
        let mut state = self.lock();
        if let Some(e) = state.engines.get_mut(name)
            && e.epoch == epoch
        {
            e.probing = false;
            if let Some(check) = &e.check {
                e.next_probe = started + check.interval;
            }
        }
    }

    pub(crate) fn status_at(&self, name: &str, now: Instant) -> Option<EngineStatus> {
        let mut state = self.lock();
        self.sweep(&mut state, now);
        state.engines.get(name).map(|e| e.status.clone())
    }

    pub(crate) fn list_at(&self, now: Instant) -> Vec<EngineStatus> {
        let mut state = self.lock();
        self.sweep(&mut state, now);
        state.engines.values().map(|e| e.status.clone()).collect()
    }

    pub(crate) fn generation_at(&self, now: Instant) -> u64 {
        let mut state = self.lock();
        self.sweep(&mut state, now);
        self.generation.load(Ordering::SeqCst)
    }
}

impl EngineRegistry for Registry {
    fn status(&self, name: &str) -> Option<EngineStatus> {
        self.status_at(name, Instant::now())
    }

    fn list(&self) -> Vec<EngineStatus> {
        self.list_at(Instant::now())
    }

    fn generation(&self) -> u64 {
        self.generation_at(Instant::now())
    }
}

/// Sets the health (and the reason that goes with it) of `e`; `last_change` moves when the
/// health does.
fn set_health(e: &mut Entry, health: EngineHealth, reason: Option<String>, at: OffsetDateTime) {
    let s = &mut e.status;
    if s.health != health {
        s.last_change = at;
    }
    s.health = health;
    s.usable = s.is_usable();
    s.reason = reason;
}

/// Shows `check`'s settings in `status`.
fn show_check(status: &mut EngineStatus, check: Option<&HealthCheck>) {
    status.health_url = check.map(|c| c.url.clone());
    status.health_interval_seconds = check.map(|c| c.interval.as_secs_f64());
    status.health_timeout_seconds = check.map(|c| c.timeout.as_secs_f64());
    status.unhealthy_threshold = check.map(|c| c.unhealthy_threshold);
    status.healthy_threshold = check.map(|c| c.healthy_threshold);
}

/// A positive, finite number of seconds.
fn seconds(field: &'static str, v: f64) -> Result<Duration, RegisterError> {
    if v.is_nan() || v <= 0.0 {
        return Err(RegisterError::Invalid {
            field,
            message: format!("{v} is not a positive number of seconds"),
        });
    }
    Duration::try_from_secs_f64(v).map_err(|e| RegisterError::Invalid {
        field,
        message: format!("{v}: {e}"),
    })
}

/// Probe outcomes and latency, by engine (OpenTelemetry API; the server exports them).
fn probe_metrics(name: &str, outcome: &ProbeOutcome) {
    use opentelemetry::{
        KeyValue,
        metrics::{Counter, Histogram},
    };
    static I: std::sync::OnceLock<(Counter<u64>, Histogram<f64>)> = std::sync::OnceLock::new();
    let (probes, latency) = I.get_or_init(|| {
        let meter = opentelemetry::global::meter("nestor");
        (
            meter
                .u64_counter("nestor.engine.probes")
                .with_description("Engine health probes, by engine and outcome (ok, failed)")
                .build(),
            meter
                .f64_histogram("nestor.engine.probe.duration")
                .with_unit("s")
                .with_description("Engine health probe latency, by engine")
                .build(),
        )
    });
    let engine = KeyValue::new("engine", name.to_owned());
    latency.record(outcome.latency.as_secs_f64(), std::slice::from_ref(&engine));
    let result = if outcome.result.is_ok() {
        "ok"
    } else {
        "failed"
    };
    probes.add(1, &[engine, KeyValue::new("outcome", result)]);
}
