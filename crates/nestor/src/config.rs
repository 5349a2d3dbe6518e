//! Configuration: one typed struct with defaults in code, read from a YAML file, overridden by
//! `NESTOR_*` environment variables (`__` separates nested keys: `NESTOR_STORAGE__BACKEND`),
//! then by command-line flags. `configs/nestor.yaml` documents every key.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use figment::{
    Figment,
    providers::{Env, Format, Serialized, Yaml},
};
use serde::{Deserialize, Serialize};

/// Top-level keys that environment variables may set. Other `NESTOR_*` variables (secrets named
/// by `*_env` keys, for instance) are left alone.
const ENV_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "storage",
    "engine_registry",
    "auth",
    "http",
    "events",
    "log",
    "terraform",
];

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to serve HTTP on.
    pub listen: String,
    /// Directory for the sqlite file and git caches.
    pub data_dir: PathBuf,
    /// Storage backend and cache.
    pub storage: StorageConfig,
    /// Where definitions come from.
    pub sources: Vec<SourceConfig>,
    /// Deployment engines definitions may name.
    pub engines: Vec<EngineConfig>,
    /// Engine checks and self-registration.
    pub engine_registry: EngineRegistryConfig,
    /// Access control.
    pub auth: AuthConfig,
    /// HTTP limits.
    pub http: HttpConfig,
    /// The change feed.
    pub events: EventsConfig,
    /// Sync runs: deadlines and the git transport's timeouts.
    pub sync: SyncConfig,
    /// Logging.
    pub log: LogConfig,
    /// The semver gate's policy.
    pub semver_gate: SemverGateConfig,
    /// The Terraform/OpenTofu module registry.
    pub terraform: TerraformConfig,
}

/// `terraform:`, the module registry protocol (docs/terraform.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TerraformConfig {
    /// Serve `/.well-known/terraform.json` and `/v1/modules/…` (on by default).
    pub enabled: bool,
    /// The namespace of modules, `<host>/<namespace>/<name>/<provider>`, for sources without
    /// a `terraform_namespace` of their own.
    pub namespace: String,
    /// The deployment engines that make a component a module.
    pub engines: Vec<String>,
}

impl Default for TerraformConfig {
    fn default() -> Self {
        let api = nestor_api::TerraformConfig::default();
        TerraformConfig {
            enabled: true,
            namespace: api.namespace,
            engines: api.engines,
        }
    }
}

/// A Terraform module registry namespace, as the protocol allows it.
fn check_namespace(key: &str, namespace: &str) -> anyhow::Result<()> {
    let ok = !namespace.is_empty()
        && namespace.len() <= 64
        && namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && namespace.as_bytes()[0].is_ascii_alphanumeric()
        && namespace.as_bytes()[namespace.len() - 1].is_ascii_alphanumeric();
    if !ok {
        bail!(
            "{key}: {namespace:?} is not a registry namespace (1 to 64 letters, digits, '-' or '_', starting and ending with a letter or digit)"
        );
    }
    Ok(())
}

/// `semver_gate:`, what the breaking-change gate requires.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SemverGateConfig {
    /// The bump a changed input default requires: `minor` (the default) or `major` (consumers
    /// who rely on a default deploy something else when it changes).
    pub default_changed: ChangedDefault,
}

/// `semver_gate.default_changed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangedDefault {
    /// A changed default needs a minor bump.
    #[default]
    Minor,
    /// A changed default needs a major bump.
    Major,
}

/// `sync:`, how long a sync may take.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// A run still going after this is failed with the reason (`10m`).
    pub run_timeout: String,
    /// Opening a connection to a git remote (`10s`).
    pub git_connect_timeout: String,
    /// A git remote that sends nothing for this long is given up on (`60s`).
    pub git_io_timeout: String,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            run_timeout: "10m".into(),
            git_connect_timeout: "10s".into(),
            git_io_timeout: "60s".into(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            storage: StorageConfig::default(),
            sources: Vec::new(),
            engines: Vec::new(),
            engine_registry: EngineRegistryConfig::default(),
            auth: AuthConfig::default(),
            http: HttpConfig::default(),
            events: EventsConfig::default(),
            sync: SyncConfig::default(),
            log: LogConfig::default(),
            semver_gate: SemverGateConfig::default(),
            terraform: TerraformConfig::default(),
        }
    }
}

/// Which store to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Embedded SQLite under `data_dir` (the default).
    Sqlite,
    /// AWS DynamoDB or a compatible endpoint.
    Dynamodb,
    /// In memory; lost on exit.
    Memory,
}

/// `storage:`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Unset: DynamoDB when a DynamoDB endpoint or table prefix is configured, else sqlite.
    pub backend: Option<Backend>,
    /// DynamoDB settings.
    pub dynamodb: Option<DynamoDbConfig>,
    /// Read cache.
    pub cache: CacheConfig,
}

/// `storage.dynamodb:`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DynamoDbConfig {
    /// Endpoint URL; unset = AWS's standard resolution.
    pub endpoint: Option<String>,
    /// AWS region.
    pub region: Option<String>,
    /// Prefix of the table names (`<prefix>-catalog`, `-events`, `-sync`); default `nestor`.
    pub table_prefix: Option<String>,
    /// Time to open a connection (`3s`).
    pub connect_timeout: Option<String>,
    /// Time for one attempt of a request (`5s`).
    pub attempt_timeout: Option<String>,
    /// Time for a request, its retries included (`20s`).
    pub operation_timeout: Option<String>,
    /// Attempts of a request that failed transiently (throttling, 5xx, timeouts), the first
    /// included (4).
    pub max_attempts: Option<u32>,
}

/// `storage.cache:`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Components whose versions are kept in memory.
    pub max_components: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_components: 10_000,
        }
    }
}

/// One entry of `sources:`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Unique id.
    pub id: String,
    /// Git URL, or a local folder (read as a plain directory when it is not a git repository).
    pub url: String,
    /// Branch (git sources).
    #[serde(default)]
    pub branch: Option<String>,
    /// Globs of definition files, relative to the source root.
    #[serde(default = "default_paths")]
    pub paths: Vec<String>,
    /// How often to re-read the source (`30s`, `5m`, `1h`); unset = only at start-up.
    #[serde(default)]
    pub poll_interval: Option<String>,
    /// Environment variable holding the webhook secret (git sources).
    #[serde(default)]
    pub webhook_secret_env: Option<String>,
    /// Environment variable holding the access token (https git sources).
    #[serde(default)]
    pub token_env: Option<String>,
    /// User name sent with the token (default `x-access-token`).
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding a private key, OpenSSH or PEM text (ssh git sources;
    /// without it the ssh agent is asked).
    #[serde(default)]
    pub ssh_key_env: Option<String>,
    /// Environment variable holding the private key's passphrase.
    #[serde(default)]
    pub ssh_passphrase_env: Option<String>,
    /// A file of trusted ssh host keys in `known_hosts` format (default: `~/.ssh/known_hosts`).
    #[serde(default)]
    pub ssh_known_hosts: Option<PathBuf>,
    /// Definitions from this source may acknowledge breaking changes
    /// (`acknowledged_breaking_changes`), e.g. a mirror of upstream releases that once broke
    /// the rules. Off by default.
    #[serde(default)]
    pub allow_acknowledged_breaking: bool,
    /// The Terraform module registry namespace of this source's modules (default:
    /// `terraform.namespace`).
    #[serde(default)]
    pub terraform_namespace: Option<String>,
}

fn default_paths() -> Vec<String> {
    vec!["**/*.yaml".into(), "**/*.yml".into()]
}

/// One entry of `engines:`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Engine name as definitions write it.
    pub name: String,
    /// Health endpoint (`http`/`https`), probed every `health_interval`: a 2xx answer within
    /// `health_timeout` passes.
    #[serde(default)]
    pub health_url: Option<String>,
    /// Time between probes (default `10s`).
    #[serde(default)]
    pub health_interval: Option<String>,
    /// A probe taking longer fails (default `2s`).
    #[serde(default)]
    pub health_timeout: Option<String>,
    /// Consecutive failures that make a healthy engine unhealthy (default 3).
    #[serde(default)]
    pub unhealthy_threshold: Option<u32>,
    /// Consecutive successes that make an unhealthy engine healthy again (default 2).
    #[serde(default)]
    pub healthy_threshold: Option<u32>,
}

/// When definitions' engines are checked against the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineCheck {
    /// When `engines:` lists any engine.
    Auto,
    /// Always: with no configured engine, only registered engines are accepted.
    Always,
    /// Never (the registry is still served).
    Never,
}

/// `engine_registry:`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineRegistryConfig {
    /// When publishes are checked against the registry.
    pub check: EngineCheck,
    /// TTL of a registration that names none.
    pub default_ttl: String,
    /// Shortest TTL a registration may ask for.
    pub min_ttl: String,
    /// Longest TTL a registration may ask for.
    pub max_ttl: String,
    /// How long an expired registration stays listed before it is forgotten.
    pub expired_retention: String,
    /// Most registered engines at once.
    pub max_registered: usize,
    /// Hosts (names, or IP networks like `10.0.0.0/8`) that registrations' health URLs may
    /// name, besides the configured engines' hosts. Empty: only those.
    pub probe_hosts: Vec<String>,
}

impl Default for EngineRegistryConfig {
    fn default() -> Self {
        EngineRegistryConfig {
            check: EngineCheck::Auto,
            default_ttl: "60s".into(),
            min_ttl: "5s".into(),
            max_ttl: "1h".into(),
            expired_retention: "10m".into(),
            max_registered: 1000,
            probe_hosts: Vec::new(),
        }
    }
}

/// `auth:`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Allow reads without a token.
    pub anonymous_read: bool,
    /// Bearer tokens, by the hex SHA-256 of their value.
    pub tokens: Vec<TokenConfig>,
    /// Per-token limit on writes (publish, deprecate, yank, sync, engine registration).
    pub write_rate_limit: Option<RateLimitConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            anonymous_read: true,
            tokens: Vec::new(),
            write_rate_limit: None,
        }
    }
}

/// `auth.write_rate_limit:`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained writes per minute.
    pub per_minute: u32,
    /// Writes allowed at once (default: per_minute / 6, at least 1).
    #[serde(default)]
    pub burst: Option<u32>,
}

/// One entry of `auth.tokens:`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who the token belongs to.
    pub name: String,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    /// Scopes: read, publish, admin.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Definitions published with this token may acknowledge breaking changes. Off by default.
    #[serde(default)]
    pub allow_acknowledged_breaking: bool,
}

/// `http:`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest request body, in bytes (webhooks: `webhook_max_body_bytes`).
    pub max_body_bytes: usize,
    /// Largest webhook delivery, in bytes (GitHub sends up to 25 MB).
    pub webhook_max_body_bytes: usize,
    /// Request timeout (`30s`).
    pub request_timeout: String,
    /// How long a new connection may take to send its first request head (`30s`); silent or
    /// trickling connections are closed after it.
    pub header_timeout: String,
    /// Connections the kernel queues before they are accepted (capped by the kernel's
    /// `net.core.somaxconn`).
    pub listen_backlog: u32,
    /// Origins allowed to call the API from a browser (CORS); `["*"]` allows any.
    pub cors_origins: Vec<String>,
    /// Serve HTTPS instead of HTTP, with this certificate and key (reloaded when they change).
    pub tls: Option<TlsConfig>,
}

/// `http.tls:`, TLS terminated by `nestor serve` itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, PEM, leaf first.
    pub cert_file: PathBuf,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// How often the two files are checked for a renewal (`10s`).
    #[serde(default = "default_tls_reload")]
    pub reload_interval: String,
}

fn default_tls_reload() -> String {
    "10s".into()
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 1024 * 1024,
            webhook_max_body_bytes: 25 * 1024 * 1024,
            request_timeout: "30s".into(),
            header_timeout: "30s".into(),
            listen_backlog: 4096,
            cors_origins: Vec::new(),
            tls: None,
        }
    }
}

/// `events:`, the change feed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Concurrent `/api/v1/events` streams; beyond it, 503 with Retry-After.
    pub max_subscribers: usize,
    /// Bookmark period for streams whose resume point moved without a matching event.
    pub bookmark_interval: String,
    /// Keep-alive comment period on idle streams.
    pub keep_alive: String,
    /// Reconnection delay suggested to clients.
    pub retry: String,
    /// How often to look for changes other processes wrote to the store.
    pub log_poll_interval: String,
    /// Threads writing live changes to event streams; 0: half the cores (at least one).
    pub fanout_threads: usize,
    /// Most recent changes kept in memory for live streams (a stream further behind reads the
    /// event log until it has caught up).
    pub journal_events: usize,
    /// How long and how much of the event log is kept.
    pub retention: RetentionConfig,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            max_subscribers: 20_000,
            bookmark_interval: "10s".into(),
            keep_alive: "15s".into(),
            retry: "2s".into(),
            log_poll_interval: "200ms".into(),
            fanout_threads: 0,
            journal_events: 1024,
            retention: RetentionConfig::default(),
        }
    }
}

/// `events.retention:`. Both are upper bounds: an event goes when either says so.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Keep at most this many of the newest events.
    pub max_events: u64,
    /// Remove events older than this (`7d`, `24h`).
    pub max_age: String,
    /// How often to prune.
    pub prune_interval: String,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            max_events: 1_000_000,
            max_age: "30d".into(),
            prune_interval: "5m".into(),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `log:`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Text or JSON.
    pub format: LogFormat,
    /// Filter, e.g. `info` or `nestor_catalog=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

impl Config {
    /// Defaults, then the file (if any), then `NESTOR_*` variables.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                bail!("configuration file {} does not exist", path.display());
            }
            figment = figment.merge(Yaml::file_exact(path));
        }
        let env = Env::prefixed("NESTOR_")
            .filter(|k| {
                let k = k.as_str().to_ascii_lowercase();
                ENV_KEYS
                    .iter()
                    .any(|top| k == *top || k.starts_with(&format!("{top}__")))
            })
            .split("__");
        let config: Config = figment.merge(env).extract().map_err(|e| {
            let origin = file
                .map(|p| format!(" (file {})", p.display()))
                .unwrap_or_default();
            anyhow::anyhow!("invalid configuration{origin}: {e}")
        })?;
        config.check()?;
        Ok(config)
    }

    /// Checks what serde cannot: addresses, durations, unique ids.
    pub fn check(&self) -> anyhow::Result<()> {
        self.listen_addr()?;
        parse_duration(&self.http.request_timeout).context("http.request_timeout")?;
        parse_duration(&self.http.header_timeout).context("http.header_timeout")?;
        if self.http.listen_backlog == 0 {
            anyhow::bail!("http.listen_backlog must be at least 1");
        }
        for (key, value) in [
            ("events.bookmark_interval", &self.events.bookmark_interval),
            ("events.keep_alive", &self.events.keep_alive),
            ("events.retry", &self.events.retry),
            ("sync.run_timeout", &self.sync.run_timeout),
            ("sync.git_connect_timeout", &self.sync.git_connect_timeout),
            ("sync.git_io_timeout", &self.sync.git_io_timeout),
            ("events.log_poll_interval", &self.events.log_poll_interval),
            ("events.retention.max_age", &self.events.retention.max_age),
            (
                "events.retention.prune_interval",
                &self.events.retention.prune_interval,
            ),
        ] {
            parse_duration(value).with_context(|| key.to_owned())?;
        }
        if let Some(d) = &self.storage.dynamodb {
            for (key, value) in [
                ("storage.dynamodb.connect_timeout", &d.connect_timeout),
                ("storage.dynamodb.attempt_timeout", &d.attempt_timeout),
                ("storage.dynamodb.operation_timeout", &d.operation_timeout),
            ] {
                if let Some(v) = value {
                    parse_duration(v).with_context(|| key.to_owned())?;
                }
            }
            if d.max_attempts == Some(0) {
                bail!("storage.dynamodb.max_attempts: must be at least 1");
            }
        }
        if self.events.max_subscribers == 0 {
            bail!("events.max_subscribers: must be at least 1");
        }
        if self.events.journal_events == 0 {
            bail!("events.journal_events: must be at least 1");
        }
        if self.events.fanout_threads > 256 {
            bail!("events.fanout_threads: at most 256 (0 means half the cores)");
        }
        // Builds the registry once, so that a bad engine entry fails at load.
        nestor_engines::Registry::new(self.engine_definitions()?, self.registry_settings()?)
            .context("engines")?;
        let mut ids = std::collections::HashSet::new();
        for s in &self.sources {
            if !ids.insert(&s.id) {
                bail!("sources: id {:?} is used twice", s.id);
            }
            if let Some(p) = &s.poll_interval {
                parse_duration(p).with_context(|| format!("sources[{}].poll_interval", s.id))?;
            }
            if let Some(ns) = &s.terraform_namespace {
                check_namespace(&format!("sources[{}].terraform_namespace", s.id), ns)?;
            }
        }
        check_namespace("terraform.namespace", &self.terraform.namespace)?;
        if self.terraform.engines.is_empty() {
            bail!("terraform.engines: name at least one engine (e.g. terraform, opentofu)");
        }
        if let Some(tls) = &self.http.tls {
            parse_duration(&tls.reload_interval).context("http.tls.reload_interval")?;
        }
        Ok(())
    }

    /// The semver gate's policy: `semver_gate:`, and the sources (`source:<id>`) and tokens
    /// (`api:<token name>`) allowed to acknowledge breaking changes.
    pub fn gate_policy(&self) -> nestor_validation::GatePolicy {
        let sources = self
            .sources
            .iter()
            .filter(|s| s.allow_acknowledged_breaking)
            .map(|s| format!("source:{}", s.id));
        let tokens = self
            .auth
            .tokens
            .iter()
            .filter(|t| t.allow_acknowledged_breaking)
            .map(|t| format!("api:{}", t.name));
        nestor_validation::GatePolicy {
            default_change: match self.semver_gate.default_changed {
                ChangedDefault::Minor => nestor_model::Bump::Minor,
                ChangedDefault::Major => nestor_model::Bump::Major,
            },
            may_acknowledge: sources.chain(tokens).collect(),
        }
    }

    /// Whether publishes are checked against the engine registry.
    pub fn engines_enforced(&self) -> bool {
        match self.engine_registry.check {
            EngineCheck::Auto => !self.engines.is_empty(),
            EngineCheck::Always => true,
            EngineCheck::Never => false,
        }
    }

    /// `engines:` as registry definitions.
    pub fn engine_definitions(&self) -> anyhow::Result<Vec<nestor_engines::EngineDefinition>> {
        use nestor_engines::HealthCheck;
        self.engines
            .iter()
            .map(|e| {
                let key = |k: &str| format!("engines[{}].{k}", e.name);
                let health = match &e.health_url {
                    None => {
                        for (k, set) in [
                            ("health_interval", e.health_interval.is_some()),
                            ("health_timeout", e.health_timeout.is_some()),
                            ("unhealthy_threshold", e.unhealthy_threshold.is_some()),
                            ("healthy_threshold", e.healthy_threshold.is_some()),
                        ] {
                            if set {
                                bail!("{}: only applies with a health_url", key(k));
                            }
                        }
                        None
                    }
                    Some(url) => {
                        let mut check = HealthCheck::new(url.clone());
                        if let Some(d) = &e.health_interval {
                            check.interval =
                                parse_duration(d).with_context(|| key("health_interval"))?;
                        }
                        if let Some(d) = &e.health_timeout {
                            check.timeout =
                                parse_duration(d).with_context(|| key("health_timeout"))?;
                        }
                        if let Some(n) = e.unhealthy_threshold {
                            check.unhealthy_threshold = n;
                        }
                        if let Some(n) = e.healthy_threshold {
                            check.healthy_threshold = n;
                        }
                        Some(check)
                    }
                };
                Ok(nestor_engines::EngineDefinition {
                    name: e.name.clone(),
                    health,
                })
            })
            .collect()
    }

    /// `engine_registry:` as registry settings.
    pub fn registry_settings(&self) -> anyhow::Result<nestor_engines::RegistrySettings> {
        let r = &self.engine_registry;
        let d = |key: &str, value: &str| {
            parse_duration(value).with_context(|| format!("engine_registry.{key}"))
        };
        let settings = nestor_engines::RegistrySettings {
            enforced: self.engines_enforced(),
            default_ttl: d("default_ttl", &r.default_ttl)?,
            min_ttl: d("min_ttl", &r.min_ttl)?,
            max_ttl: d("max_ttl", &r.max_ttl)?,
            expired_retention: d("expired_retention", &r.expired_retention)?,
            max_registered: r.max_registered,
            probe_hosts: Some(r.probe_hosts.clone()),
            ..Default::default()
        };
        if settings.min_ttl > settings.max_ttl
            || !(settings.min_ttl..=settings.max_ttl).contains(&settings.default_ttl)
        {
            bail!(
                "engine_registry: need min_ttl <= default_ttl <= max_ttl (got {}, {}, {})",
                r.min_ttl,
                r.default_ttl,
                r.max_ttl
            );
        }
        Ok(settings)
    }

    /// `listen` as a socket address.
    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listen.parse().with_context(|| {
            format!(
                "listen: {:?} is not an address like 127.0.0.1:8080",
                self.listen
            )
        })
    }

    /// The backend to use, after auto-detection.
    pub fn backend(&self) -> Backend {
        self.storage
            .backend
            .unwrap_or_else(|| match &self.storage.dynamodb {
                Some(d) if d.endpoint.is_some() || d.table_prefix.is_some() => Backend::Dynamodb,
                _ => Backend::Sqlite,
            })
    }

    /// Path of the sqlite database.
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("nestor.db")
    }
}

/// Parses `500ms`, `30s`, `5m`, `1h`.
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .with_context(|| format!("{s:?} is not a duration like 30s, 5m or 1h"))?;
    let secs = |factor: u64| {
        n.checked_mul(factor)
            .map(Duration::from_secs)
            .with_context(|| format!("{s:?} is too long"))
    };
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => secs(1)?,
        "m" => secs(60)?,
        "h" => secs(3600)?,
        "d" => secs(86_400)?,
        _ => bail!("{s:?} is not a duration like 30s, 5m, 1h or 7d (units: ms, s, m, h, d)"),
    };
    if d.is_zero() {
        bail!("{s:?} must be greater than zero");
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        for bad in ["", "5", "m", "5 minutes", "0s", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_need_no_file() {
        let c = Config::default();
        c.check().unwrap();
        assert_eq!(c.backend(), Backend::Sqlite);
        assert_eq!(c.listen_addr().unwrap().to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn the_documented_example_config_loads() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/nestor.yaml");
        let c =
            Config::load(Some(std::path::Path::new(path))).expect("configs/nestor.yaml is valid");
        assert!(c.sources.iter().any(|s| s.id == "examples"));
        assert!(!c.engines.is_empty());
    }

    #[test]
    fn the_gate_policy_comes_from_semver_gate_sources_and_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yaml");
        std::fs::write(
            &p,
            "sources:\n  - id: mirror\n    url: ./m\n    allow_acknowledged_breaking: true\n\
             \x20 - id: team\n    url: ./t\n\
             auth:\n  tokens:\n    - name: importer\n      sha256: \"{0}\"\n      scopes: [publish]\n\
             \x20     allow_acknowledged_breaking: true\n    - name: ci\n      sha256: \"{0}\"\n\
             semver_gate:\n  default_changed: major\n"
                .replace("{0}", &"a".repeat(64)),
        )
        .unwrap();
        let policy = Config::load(Some(&p)).unwrap().gate_policy();
        assert_eq!(policy.default_change, nestor_model::Bump::Major);
        assert_eq!(
            policy.may_acknowledge.into_iter().collect::<Vec<_>>(),
            ["api:importer", "source:mirror"]
        );
        let default = Config::default().gate_policy();
        assert_eq!(default, nestor_validation::GatePolicy::default());
        // Both shipped configurations carry the key, with the default.
        for path in ["configs/nestor.yaml", "deployments/debian/nestor.yaml"] {
            let text = std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../..")
                    .join(path),
            )
            .unwrap();
            assert!(
                text.contains("semver_gate:\n") && text.contains("default_changed: minor"),
                "{path}"
            );
        }
    }

    #[test]
    fn terraform_namespaces_and_tls() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yaml");
        let load = |yaml: &str| {
            std::fs::write(&p, yaml).unwrap();
            Config::load(Some(&p))
        };
        let c = load(
            "terraform:\n  namespace: platform\nsources:\n  - id: net\n    url: ./n\n    terraform_namespace: net-team\n\
             http:\n  tls:\n    cert_file: /tls/crt.pem\n    key_file: /tls/key.pem\n",
        )
        .unwrap();
        assert_eq!(c.terraform.namespace, "platform");
        assert!(c.terraform.enabled);
        assert_eq!(
            c.sources[0].terraform_namespace.as_deref(),
            Some("net-team")
        );
        let tls = c.http.tls.unwrap();
        assert_eq!(tls.reload_interval, "10s");
        for (yaml, key) in [
            ("terraform:\n  namespace: \"a/b\"\n", "terraform.namespace"),
            ("terraform:\n  namespace: \"-x\"\n", "terraform.namespace"),
            ("terraform:\n  engines: []\n", "terraform.engines"),
            (
                "sources:\n  - id: s\n    url: ./s\n    terraform_namespace: \"\"\n",
                "sources[s].terraform_namespace",
            ),
            (
                "http:\n  tls:\n    cert_file: a\n    key_file: b\n    reload_interval: soon\n",
                "http.tls.reload_interval",
            ),
        ] {
            let err = format!("{:#}", load(yaml).unwrap_err());
            assert!(err.contains(key), "{yaml}: {err}");
        }
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yaml");
        std::fs::write(&p, "listen: 127.0.0.1:1\nstorage:\n  backnd: sqlite\n").unwrap();
        let err = Config::load(Some(&p)).unwrap_err().to_string();
        assert!(err.contains("backnd"), "{err}");
        assert!(Config::load(Some(&dir.path().join("missing.yaml"))).is_err());
    }

    #[test]
    fn engines_and_their_health_checks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yaml");
        let load = |yaml: &str| {
            std::fs::write(&p, yaml).unwrap();
            Config::load(Some(&p))
        };
        let c = load(
            "engines:\n  - name: terraform\n    health_url: http://127.0.0.1:9/healthz\n    health_interval: 30s\n    health_timeout: 500ms\n    unhealthy_threshold: 5\n  - name: helm\nengine_registry:\n  max_ttl: 10m\n",
        )
        .unwrap();
        let defs = c.engine_definitions().unwrap();
        let check = defs[0].health.as_ref().unwrap();
        assert_eq!(check.interval, Duration::from_secs(30));
        assert_eq!(check.timeout, Duration::from_millis(500));
        assert_eq!((check.unhealthy_threshold, check.healthy_threshold), (5, 2));
        assert!(defs[1].health.is_none());
        let settings = c.registry_settings().unwrap();
        assert_eq!(settings.max_ttl, Duration::from_secs(600));
        assert!(
            settings.enforced,
            "auto: checked when engines are configured"
        );

        for (yaml, says) in [
            (
                "engines:\n  - name: helm\n    health_timeout: 1s\n",
                "engines[helm].health_timeout: only applies with a health_url",
            ),
            (
                "engines:\n  - name: Helm\n",
                "must start with a lowercase letter",
            ),
            (
                "engines:\n  - name: helm\n  - name: helm\n",
                "listed more than once",
            ),
            (
                "engines:\n  - name: helm\n    health_url: ftp://x/\n",
                "health_url",
            ),
            (
                "engines:\n  - name: helm\n    health_url: http://x/\n    health_interval: 10 s\n",
                "engines[helm].health_interval",
            ),
            (
                "engine_registry:\n  min_ttl: 2m\n",
                "min_ttl <= default_ttl <= max_ttl",
            ),
            ("engine_registry:\n  check: sometimes\n", "sometimes"),
        ] {
            let err = format!("{:#}", load(yaml).unwrap_err());
            assert!(err.contains(says), "{yaml}: {err}");
        }

        assert!(
            !Config::default().engines_enforced(),
            "a bare server accepts any engine"
        );
        let always = load("engine_registry:\n  check: always\n").unwrap();
        assert!(always.engines_enforced());
        let never = load("engines:\n  - name: helm\nengine_registry:\n  check: never\n").unwrap();
        assert!(!never.engines_enforced());
    }

    #[test]
    fn backend_auto_detection() {
        let mut c = Config::default();
        c.storage.dynamodb = Some(DynamoDbConfig {
            endpoint: Some("http://127.0.0.1:8000".into()),
            ..Default::default()
        });
        assert_eq!(c.backend(), Backend::Dynamodb);
        c.storage.backend = Some(Backend::Memory);
        assert_eq!(c.backend(), Backend::Memory);
    }
}
