//! Wiring: the one place that turns a [`Config`] into concrete parts (store, cache, engines,
//! validator, catalog, sources, router) and runs them.

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use nestor_api::ApiConfig;
use nestor_catalog::{Catalog, DirectorySource};
use nestor_engines::{EngineRegistry, Registry, StaticEngines};
use nestor_storage::{
    CachedStore, CatalogStore, DynamoDbOptions, DynamoStore, MemoryStore, SqliteStore,
};
use nestor_validation::Validator;
use tokio::task::JoinSet;

use crate::config::{Backend, Config, parse_duration};

/// Opens the configured store, wrapped in the read cache.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn CatalogStore>> {
    let raw: Arc<dyn CatalogStore> = match config.backend() {
        Backend::Sqlite => {
            let path = config.sqlite_path();
            let store = SqliteStore::open(&path)
                .with_context(|| format!("opening sqlite store {}", path.display()))?;
            tracing::info!(path = %path.display(), "opened sqlite store");
            Arc::new(store)
        }
        Backend::Memory => {
            tracing::warn!("using the in-memory store: everything is lost on exit");
            Arc::new(MemoryStore::new())
        }
        Backend::Dynamodb => {
            let options = dynamodb_options(config)?;
            let store = DynamoStore::new(&options)
                .await
                .context("opening the DynamoDB store")?;
            // Never creates tables (that is `nestor migrate`, usually run with more rights).
            store
                .check_tables()
                .await
                .context("opening the DynamoDB store")?;
            tracing::info!(
                tables = ?store.table_names(),
                endpoint = options.endpoint.as_deref().unwrap_or("AWS"),
                "opened dynamodb store"
            );
            Arc::new(store)
        }
    };
    Ok(Arc::new(CachedStore::new(
        raw,
        config.storage.cache.max_components,
    )))
}

/// The DynamoDB client settings from `storage.dynamodb`; what is unset there comes from AWS's
/// standard environment (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, profiles, roles).
pub fn dynamodb_options(config: &Config) -> anyhow::Result<DynamoDbOptions> {
    let d = config.storage.dynamodb.clone().unwrap_or_default();
    let mut options = DynamoDbOptions {
        endpoint: d.endpoint,
        region: d.region,
        ..Default::default()
    };
    if let Some(p) = d.table_prefix {
        options.table_prefix = p;
    }
    for (key, value, field) in [
        (
            "connect_timeout",
            &d.connect_timeout,
            &mut options.connect_timeout,
        ),
        (
            "attempt_timeout",
            &d.attempt_timeout,
            &mut options.attempt_timeout,
        ),
        (
            "operation_timeout",
            &d.operation_timeout,
            &mut options.operation_timeout,
        ),
    ] {
        if let Some(v) = value {
            *field = parse_duration(v).with_context(|| format!("storage.dynamodb.{key}"))?;
        }
    }
    if let Some(n) = d.max_attempts {
        options.max_attempts = n;
    }
    Ok(options)
}

/// The server's engine registry: the configured engines, plus those that register over the
/// API while it serves.
pub fn engine_registry(config: &Config) -> anyhow::Result<Arc<Registry>> {
    let registry = Registry::new(config.engine_definitions()?, config.registry_settings()?)
        .context("engines")?;
    Ok(Arc::new(registry))
}

/// What commands other than `serve` check engine names against: the configured engines, when
/// the configuration lists any (and `engine_registry.check` is not `never`). Registrations
/// live in a serving process, so they are not known here; health is not probed (`unknown`,
/// usable). With no engine configured, engine names are not checked.
pub fn engines(config: &Config) -> Option<Arc<dyn EngineRegistry>> {
    if config.engines.is_empty() || !config.engines_enforced() {
        return None;
    }
    match engine_registry(config) {
        Ok(registry) => Some(registry),
        Err(e) => {
            // `Config::load` checked the entries; a configuration built otherwise fails closed.
            tracing::error!(error = %format!("{e:#}"), "invalid engines configuration; every engine name is rejected");
            Some(Arc::new(StaticEngines::default()))
        }
    }
}

/// Builds the catalog for `store` (commands other than `serve`; see [`engines`]).
pub fn catalog(config: &Config, store: Arc<dyn CatalogStore>) -> Catalog {
    Catalog::new(
        store,
        Validator::full_with(config.gate_policy()),
        engines(config),
    )
}

/// The catalog offline `nestor validate` checks files in. Acknowledged breaking changes are
/// allowed there (the files' origin, `local`, stands for whichever source they will be pushed
/// to, which it cannot know): `--server URL --source ID` checks the permission too.
pub fn validation_catalog(config: &Config, store: Arc<dyn CatalogStore>) -> Catalog {
    let mut policy = config.gate_policy();
    policy
        .may_acknowledge
        .insert(crate::validate_cmd::local_origin().owner());
    Catalog::new(store, Validator::full_with(policy), engines(config))
}

fn is_git_repository(path: &Path) -> bool {
    path.join(".git").exists() || (path.join("HEAD").is_file() && path.join("objects").is_dir())
}

/// A configured source that this build can read, with its poll interval.
pub struct ConfiguredSource {
    /// The source, its URL, branch and webhook secret.
    pub managed: nestor_catalog::ManagedSource,
    /// Re-read interval, if any.
    pub poll_interval: Option<Duration>,
}

/// The value of the environment variable a source names for its webhook secret.
fn webhook_secret(s: &crate::config::SourceConfig) -> anyhow::Result<Option<String>> {
    env_secret(&s.id, "webhook_secret_env", s.webhook_secret_env.as_ref())
}

/// The value of an environment variable a source names (`*_env` keys): unset or empty is an
/// error that names both, so a typo shows at start-up rather than as a failing fetch.
fn env_secret(source: &str, key: &str, var: Option<&String>) -> anyhow::Result<Option<String>> {
    match var {
        None => Ok(None),
        Some(var) => match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Some(v)),
            _ => bail!(
                "source {source}: {key} names {var}, which is not set (or empty) in the environment"
            ),
        },
    }
}

/// A git source's credentials, from the environment variables its config names.
fn git_credentials(
    s: &crate::config::SourceConfig,
) -> anyhow::Result<nestor_catalog::GitCredentials> {
    Ok(nestor_catalog::GitCredentials {
        token: env_secret(&s.id, "token_env", s.token_env.as_ref())?,
        username: s.username.clone(),
        ssh_key: env_secret(&s.id, "ssh_key_env", s.ssh_key_env.as_ref())?,
        ssh_passphrase: env_secret(&s.id, "ssh_passphrase_env", s.ssh_passphrase_env.as_ref())?,
        ssh_known_hosts: s
            .ssh_known_hosts
            .as_ref()
            .map(|p| {
                std::fs::read_to_string(p).with_context(|| {
                    format!("source {}: reading ssh_known_hosts {}", s.id, p.display())
                })
            })
            .transpose()?,
    })
}

/// Whether the process receives webhooks (`serve`) or not (`nestor sync`): only a receiver
/// needs the sources' webhook secrets, so only it asks the environment for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Webhooks {
    /// Read each source's `webhook_secret_env`.
    Received,
    /// Leave them unread.
    Ignored,
}

/// Builds the configured sources. Sources this build cannot read yet are reported and skipped,
/// so that one unsupported entry does not keep the catalog from serving.
pub fn sources(config: &Config, webhooks: Webhooks) -> anyhow::Result<Vec<ConfiguredSource>> {
    let mut out = Vec::new();
    for s in &config.sources {
        let local = s.url.strip_prefix("file://").unwrap_or(&s.url);
        let remote = ["http://", "https://", "ssh://", "git://", "git@"]
            .iter()
            .any(|p| s.url.starts_with(p));
        let path = Path::new(local);
        let poll_interval = s.poll_interval.as_deref().map(parse_duration).transpose()?;
        let shown_url = nestor_catalog::redact_url(&s.url).into_owned();
        if shown_url != s.url {
            tracing::warn!(
                source = %s.id,
                url = %shown_url,
                "the source's URL holds credentials: they are used but never shown; put a token in the variable that `token_env` names instead"
            );
        }
        if remote || is_git_repository(path) {
            let branch = s.branch.clone().unwrap_or_else(|| "main".to_owned());
            let cache = config.data_dir.join("git").join(&s.id);
            let source =
                nestor_catalog::GitSource::new(&s.id, &s.url, branch.clone(), &s.paths, cache)
                    .with_context(|| format!("source {}", s.id))?
                    .with_credentials(git_credentials(s)?);
            out.push(ConfiguredSource {
                managed: nestor_catalog::ManagedSource {
                    source: Arc::new(source),
                    url: shown_url,
                    branch: Some(branch),
                    webhook_secret: match webhooks {
                        Webhooks::Received => webhook_secret(s)?,
                        Webhooks::Ignored => None,
                    },
                },
                poll_interval,
            });
            continue;
        }
        if !path.is_dir() {
            bail!(
                "source {}: {} is not a directory (relative paths are resolved from the working directory)",
                s.id,
                path.display()
            );
        }
        let source = DirectorySource::new(&s.id, path, &s.paths)
            .with_context(|| format!("source {}", s.id))?;
        out.push(ConfiguredSource {
            managed: nestor_catalog::ManagedSource {
                source: Arc::new(source),
                url: s.url.clone(),
                branch: None,
                webhook_secret: None,
            },
            poll_interval,
        });
    }
    Ok(out)
}

/// This replica's name in sync leases.
fn replica_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "nestor".to_owned());
    format!("{host}:{}", std::process::id())
}

/// How long a sync lease lasts without renewal (renewed every third of it while syncing).
const SYNC_LEASE: Duration = Duration::from_secs(30);

/// Sources to poll: (source id, interval).
pub type Polls = Vec<(String, Duration)>;

/// The sync manager over the configured sources, and their poll intervals.
pub fn sync_manager(
    config: &Config,
    catalog: Arc<Catalog>,
    webhooks: Webhooks,
) -> anyhow::Result<(Arc<nestor_catalog::SyncManager>, Polls)> {
    let sources = sources(config, webhooks)?;
    let polls = sources
        .iter()
        .filter_map(|s| Some((s.managed.source.id().to_owned(), s.poll_interval?)))
        .collect();
    let managed = sources.into_iter().map(|s| s.managed).collect();
    let sync = nestor_catalog::SyncManager::new(catalog, managed, replica_name(), SYNC_LEASE);
    sync.set_run_timeout(parse_duration(&config.sync.run_timeout).context("sync.run_timeout")?);
    Ok((sync, polls))
}

/// `nestor sync`: runs each (or one) source once against the configured store, printing each
/// run and its per-file errors. Returns whether every run succeeded.
pub async fn sync_command(
    config: Config,
    only: Option<String>,
    full: bool,
) -> anyhow::Result<bool> {
    let store = open_store(&config).await?;
    let catalog = Arc::new(catalog(&config, store));
    let (sync, _) = sync_manager(&config, catalog, Webhooks::Ignored)?;
    let ids: Vec<String> = sync
        .sources()
        .map(|s| s.source.id().to_owned())
        .filter(|id| only.as_ref().is_none_or(|o| o == id))
        .collect();
    if let Some(o) = &only
        && ids.is_empty()
    {
        bail!("no source {o} is configured");
    }
    if ids.is_empty() {
        println!("no sources are configured");
        return Ok(true);
    }
    let mut all_ok = true;
    for id in ids {
        println!("syncing {id}…");
        let started = std::time::Instant::now();
        let name = id.clone();
        let progress = move |p: nestor_catalog::SyncProgress| {
            let id = &name;
            let at = started.elapsed().as_secs_f64();
            match p {
                nestor_catalog::SyncProgress::Reading => {
                    eprintln!("  [{at:6.1}s] {id}: fetching and reading files")
                }
                nestor_catalog::SyncProgress::Validating { files, incremental } => eprintln!(
                    "  [{at:6.1}s] {id}: validating {files} {}file(s)",
                    if incremental { "changed " } else { "" }
                ),
                nestor_catalog::SyncProgress::Publishing { done, total } => {
                    eprintln!("  [{at:6.1}s] {id}: published {done}/{total}")
                }
            }
        };
        let run = sync
            .run_now_reporting(
                &id,
                nestor_model::SyncTrigger::Manual,
                full,
                Some(&progress),
            )
            .await?;
        let took = match (run.started_at, run.finished_at) {
            (Some(a), Some(b)) => format!(" in {:.1} s", (b - a).as_seconds_f64()),
            _ => String::new(),
        };
        println!(
            "{id}: run {} {:?}{took}{}: {} file(s), {} created, {} updated, {} unchanged, {} failed",
            run.id,
            run.status,
            run.commit
                .as_deref()
                .map(|c| format!(" at {c}"))
                .unwrap_or_default(),
            run.files,
            run.created,
            run.updated,
            run.unchanged,
            run.failed,
        );
        if let Some(e) = &run.error {
            println!("  error: {e}");
        }
        for e in &run.errors {
            let line = e.line.map(|l| format!(":{l}")).unwrap_or_default();
            println!("  {}{line}: error[{}] {}", e.file, e.rule, e.message);
        }
        all_ok &= run.status == nestor_model::SyncStatus::Succeeded;
    }
    Ok(all_ok)
}

/// Access control from `auth:`; tokens are checked here so that a bad entry stops start-up.
pub fn auth_config(config: &Config) -> anyhow::Result<nestor_api::AuthConfig> {
    let tokens = config
        .auth
        .tokens
        .iter()
        .map(|t| nestor_api::Token::new(&t.name, &t.sha256, &t.scopes))
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| anyhow::anyhow!("auth.tokens: {e}"))?;
    if tokens.is_empty() {
        if !config.auth.anonymous_read {
            bail!("auth.anonymous_read is false but auth.tokens is empty: nothing could read");
        }
        tracing::warn!("auth.tokens is empty: access control is off, anyone can publish");
    }
    let write_rate_limit = config
        .auth
        .write_rate_limit
        .as_ref()
        .map(|r| nestor_api::RateLimit {
            per_minute: r.per_minute.max(1),
            burst: r.burst.unwrap_or(r.per_minute / 6).max(1),
        });
    Ok(nestor_api::AuthConfig {
        anonymous_read: config.auth.anonymous_read,
        tokens,
        write_rate_limit,
    })
}

/// Runs the server until SIGINT/SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    // Before any instrument is used: they bind to the provider installed when first used.
    let _ = nestor_api::metrics::install();
    let addr = config.listen_addr()?;
    let store = open_store(&config).await?;
    let backend = store.backend_name().to_owned();
    // Engines: publishes are checked against the registry when `engine_registry.check` says so;
    // the API serves it (and takes registrations) either way.
    let engines = engine_registry(&config)?;
    let checked: Option<Arc<dyn EngineRegistry>> =
        config.engines_enforced().then(|| engines.clone() as _);
    let catalog = Arc::new(Catalog::new(
        store,
        Validator::full_with(config.gate_policy()),
        checked,
    ));
    let (sync, polls) = sync_manager(&config, catalog.clone(), Webhooks::Received)?;

    // One stop signal for everything this process runs: a tree of cancellation tokens. Event
    // streams (a child) end at the signal, so that graceful shutdown is not held open by
    // clients that would stream forever; background tasks (another child) stop once the last
    // request is answered, when the root is cancelled.
    let stop = nestor_api::CancellationToken::new();
    let background = stop.child_token();
    let mut tasks = JoinSet::new();
    // Health probes and registration expiry. Engines are `unknown` (usable) until their first
    // probe, so the start-up sync above did not wait for them.
    tasks.spawn(engines.clone().run(background.clone()));
    for worker in sync.spawn_workers(background.clone()) {
        tasks.spawn(async move {
            let _ = worker.await;
        });
    }
    // Polling is the safety net under webhooks: every poll asks the remote for the branch head
    // and syncs when it is not the commit last synced.
    for (id, every) in polls {
        let (sync, stop) = (sync.clone(), background.clone());
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await; // the first tick is immediate; the start-up sync already ran
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = sync.poll(&id).await {
                            tracing::warn!(source = %id, error = %e, "poll failed");
                        }
                    }
                    () = stop.cancelled() => break,
                }
            }
        });
    }

    // Event log retention, in the background.
    let retention = &config.events.retention;
    let (max_events, max_age) = (retention.max_events, parse_duration(&retention.max_age)?);
    let prune_every = parse_duration(&retention.prune_interval)?;
    {
        let (store, stop) = (catalog.store().clone(), background.clone());
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(prune_every);
            loop {
                tokio::select! {
                    _ = tick.tick() => prune(store.as_ref(), max_events, max_age).await,
                    () = stop.cancelled() => break,
                }
            }
        });
    }

    // The catalog index: built from a snapshot once the server listens (readiness waits for it,
    // the log shows its progress), then kept current from the log for changes written by other
    // processes.
    catalog.index().announce_build();
    // Changes written by other processes on the same store reach this one's event streams.
    {
        let (catalog, stop) = (catalog.clone(), background.clone());
        let every = parse_duration(&config.events.log_poll_interval)?;
        tasks.spawn(async move { catalog.follow_log(every, stop.cancelled_owned()).await });
    }

    let events = &config.events;
    let mut api = ApiConfig {
        max_body_bytes: config.http.max_body_bytes,
        webhook_max_body_bytes: config.http.webhook_max_body_bytes,
        request_timeout: parse_duration(&config.http.request_timeout)?,
        storage_backend: backend,
        events: nestor_api::EventsConfig {
            max_subscribers: events.max_subscribers,
            bookmark_interval: parse_duration(&events.bookmark_interval)?,
            keep_alive: parse_duration(&events.keep_alive)?,
            retry: parse_duration(&events.retry)?,
            fanout_threads: events.fanout_threads,
            journal_events: events.journal_events,
        },
        shutdown: stop.child_token(),
        auth: auth_config(&config)?,
        cors_origins: config.http.cors_origins.clone(),
        startup: nestor_api::Startup::default(),
        engines: Some(engines),
        terraform: config
            .terraform
            .enabled
            .then(|| nestor_api::TerraformConfig {
                namespace: config.terraform.namespace.clone(),
                source_namespaces: config
                    .sources
                    .iter()
                    .filter_map(|s| Some((s.id.clone(), s.terraform_namespace.clone()?)))
                    .collect(),
                engines: config.terraform.engines.clone(),
            }),
    };
    // Listen first, then load the sources: liveness (`/health`) answers at once, readiness
    // (`/health/ready`) says 503 with the reason until every source has had its first sync.
    // A remote that never answers thus delays readiness, not the process's liveness.
    let ids: Vec<String> = sync.sources().map(|s| s.source.id().to_owned()).collect();
    if !ids.is_empty() {
        let reason = format!("loading {} source(s): {}", ids.len(), ids.join(", "));
        api.startup = nestor_api::Startup::pending(reason);
    }
    let startup = api.startup.clone();
    let streams = api.shutdown.clone();
    let router = nestor_api::router_with_sync(catalog.clone(), Some(sync.clone()), api);
    let listener = listen(addr, config.http.listen_backlog)
        .with_context(|| format!("cannot listen on {addr}"))?;
    let tls = match &config.http.tls {
        Some(t) => {
            let tls = nestor_api::Tls::from_files(&t.cert_file, &t.key_file)
                .context("http.tls: cannot serve HTTPS")?;
            let every = parse_duration(&t.reload_interval)?;
            tasks.spawn(tls.clone().watch(every, background.child_token()));
            Some(tls)
        }
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let serve_options = nestor_api::ServeOptions {
        header_timeout: parse_duration(&config.http.header_timeout)?,
        tls,
    };
    let local = listener.local_addr()?;
    let mut server = tokio::spawn(nestor_api::serve_with(
        listener,
        router,
        serve_options,
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down: closing event streams, finishing requests");
            streams.cancel();
        },
    ));
    {
        let build = async {
            if let Err(e) = catalog.build_index().await {
                tracing::error!(error = %e, "cannot build the catalog index; lists and searches will build it on first use");
            }
        };
        tokio::select! {
            () = build => {}
            served = &mut server => {
                stop.cancel();
                while tasks.join_next().await.is_some() {}
                served.context("HTTP server task failed")?.context("HTTP server failed")?;
                tracing::info!("stopped");
                return Ok(());
            }
        }
        let (catalog, stop) = (catalog.clone(), background.clone());
        let every = parse_duration(&config.events.log_poll_interval)?;
        tasks.spawn(async move { catalog.follow_index(every, stop.cancelled_owned()).await });
    }
    if !ids.is_empty() {
        tracing::info!(
            "nestor {} listening on {scheme}://{local}; loading {} source(s) before it is ready",
            env!("CARGO_PKG_VERSION"),
            ids.len()
        );
        let load = async {
            for id in &ids {
                sync.run_now(id, nestor_model::SyncTrigger::Startup, false)
                    .await?;
            }
            anyhow::Ok(())
        };
        tokio::select! {
            loaded = load => loaded?,
            // Stopped (or failed) while loading: finish as the server did.
            served = &mut server => {
                stop.cancel();
                while tasks.join_next().await.is_some() {}
                served.context("HTTP server task failed")?.context("HTTP server failed")?;
                tracing::info!("stopped");
                return Ok(());
            }
        }
        startup.done();
    }
    tracing::info!(
        "nestor {} serving on {scheme}://{local}",
        env!("CARGO_PKG_VERSION")
    );
    server
        .await
        .context("HTTP server task failed")?
        .context("HTTP server failed")?;
    stop.cancel();
    while tasks.join_next().await.is_some() {}
    tracing::info!("stopped");
    Ok(())
}

/// A listening socket on `addr` with room for `backlog` connections not yet accepted (the
/// standard library's and tokio's `bind` fix it at 1,024).
fn listen(addr: std::net::SocketAddr, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Prunes the event log per the retention settings; failures are logged and retried next time.
async fn prune(store: &dyn nestor_storage::CatalogStore, max_events: u64, max_age: Duration) {
    let older_than = time::OffsetDateTime::now_utc() - max_age;
    match store
        .prune_events(nestor_storage::Retention {
            max_events,
            older_than,
        })
        .await
    {
        Ok(p) if p.removed > 0 => tracing::info!(
            removed = p.removed, retained_after = %p.retained_after, "event log pruned"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "pruning the event log failed; will retry"),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
