//! Wiring: the one place that turns a [`Config`] into concrete parts (store, cache, engines,
//! validator, catalog, sources, router) and runs them.

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use nestor_api::ApiConfig;
use nestor_catalog::{Catalog, DirectorySource};
use nestor_engines::{EngineRegistry, StaticEngines};
use nestor_storage::{
    CachedStore, CatalogStore, DynamoDbOptions, DynamoStore, MemoryStore, SqliteStore,
};
use nestor_validation::Validator;
use tokio::{sync::watch, task::JoinSet};

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

/// The engine registry, when engines are configured. With none configured, engine names are not
/// checked (a bare `nestor serve` accepts any engine).
pub fn engines(config: &Config) -> Option<Arc<dyn EngineRegistry>> {
    if config.engines.is_empty() {
        return None;
    }
    Some(Arc::new(StaticEngines::new(
        config.engines.iter().map(|e| e.name.clone()),
    )))
}

/// Builds the catalog for `store`.
pub fn catalog(config: &Config, store: Arc<dyn CatalogStore>) -> Catalog {
    Catalog::new(store, Validator::full(), engines(config))
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
    match &s.webhook_secret_env {
        None => Ok(None),
        Some(var) => match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Some(v)),
            _ => bail!(
                "source {}: webhook_secret_env names {var}, which is not set (or empty) in the environment",
                s.id
            ),
        },
    }
}

/// Builds the configured sources. Sources this build cannot read yet are reported and skipped,
/// so that one unsupported entry does not keep the catalog from serving.
pub fn sources(config: &Config) -> anyhow::Result<Vec<ConfiguredSource>> {
    let mut out = Vec::new();
    for s in &config.sources {
        let local = s.url.strip_prefix("file://").unwrap_or(&s.url);
        let remote = ["http://", "https://", "ssh://", "git://", "git@"]
            .iter()
            .any(|p| s.url.starts_with(p));
        let path = Path::new(local);
        let poll_interval = s.poll_interval.as_deref().map(parse_duration).transpose()?;
        if remote || is_git_repository(path) {
            if remote && !s.url.starts_with("file://") {
                // Refused at start-up rather than failing on every poll.
                bail!(
                    "source {}: {} — this build reads git over file:// and local paths only (the https and ssh transports are not compiled in yet)",
                    s.id,
                    s.url
                );
            }
            let branch = s.branch.clone().unwrap_or_else(|| "main".to_owned());
            let cache = config.data_dir.join("git").join(&s.id);
            let source =
                nestor_catalog::GitSource::new(&s.id, &s.url, branch.clone(), &s.paths, cache)
                    .with_context(|| format!("source {}", s.id))?;
            out.push(ConfiguredSource {
                managed: nestor_catalog::ManagedSource {
                    source: Arc::new(source),
                    url: s.url.clone(),
                    branch: Some(branch),
                    webhook_secret: webhook_secret(s)?,
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
) -> anyhow::Result<(Arc<nestor_catalog::SyncManager>, Polls)> {
    let sources = sources(config)?;
    let polls = sources
        .iter()
        .filter_map(|s| Some((s.managed.source.id().to_owned(), s.poll_interval?)))
        .collect();
    let managed = sources.into_iter().map(|s| s.managed).collect();
    Ok((
        nestor_catalog::SyncManager::new(catalog, managed, replica_name(), SYNC_LEASE),
        polls,
    ))
}

/// `nestor sync`: runs each (or one) source once against the configured store, printing each
/// run and its per-file errors. Returns whether every run succeeded.
pub async fn sync_command(config: Config, only: Option<String>) -> anyhow::Result<bool> {
    let store = open_store(&config).await?;
    let catalog = Arc::new(catalog(&config, store));
    let (sync, _) = sync_manager(&config, catalog)?;
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
        let run = sync.run_now(&id, nestor_model::SyncTrigger::Manual).await?;
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

/// Runs the server until SIGINT/SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let addr = config.listen_addr()?;
    let store = open_store(&config).await?;
    let backend = store.backend_name().to_owned();
    let catalog = Arc::new(catalog(&config, store));
    let (sync, polls) = sync_manager(&config, catalog.clone())?;

    // Load every source before answering, so the first request sees the catalog.
    let ids: Vec<String> = sync.sources().map(|s| s.source.id().to_owned()).collect();
    for id in &ids {
        sync.run_now(id, nestor_model::SyncTrigger::Startup).await?;
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let background = nestor_api::CancellationToken::new();
    let mut tasks = JoinSet::new();
    for worker in sync.spawn_workers(background.clone()) {
        tasks.spawn(async move {
            let _ = worker.await;
        });
    }
    // Polling is the safety net under webhooks: every poll reads the branch head again.
    for (id, every) in polls {
        let (sync, mut stop) = (sync.clone(), shutdown_rx.clone());
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await; // the first tick is immediate; the start-up sync already ran
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = sync.request(&id, nestor_model::SyncTrigger::Poll).await {
                            tracing::warn!(source = %id, error = %e, "could not request a poll sync");
                        }
                    }
                    _ = stop.changed() => break,
                }
            }
        });
    }

    // Event log retention, in the background.
    let retention = &config.events.retention;
    let (max_events, max_age) = (retention.max_events, parse_duration(&retention.max_age)?);
    let prune_every = parse_duration(&retention.prune_interval)?;
    {
        let (store, mut stop) = (catalog.store().clone(), shutdown_rx.clone());
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(prune_every);
            loop {
                tokio::select! {
                    _ = tick.tick() => prune(store.as_ref(), max_events, max_age).await,
                    _ = stop.changed() => break,
                }
            }
        });
    }

    // Changes written by other processes on the same store reach this one's event streams.
    {
        let (catalog, mut stop) = (catalog.clone(), shutdown_rx.clone());
        let every = parse_duration(&config.events.log_poll_interval)?;
        tasks.spawn(async move {
            catalog
                .follow_log(every, async move {
                    let _ = stop.changed().await;
                })
                .await
        });
    }

    let events = &config.events;
    let api = ApiConfig {
        max_body_bytes: config.http.max_body_bytes,
        request_timeout: parse_duration(&config.http.request_timeout)?,
        storage_backend: backend,
        events: nestor_api::EventsConfig {
            max_subscribers: events.max_subscribers,
            bookmark_interval: parse_duration(&events.bookmark_interval)?,
            keep_alive: parse_duration(&events.keep_alive)?,
            retry: parse_duration(&events.retry)?,
        },
        shutdown: nestor_api::CancellationToken::new(),
    };
    let streams = api.shutdown.clone();
    let router = nestor_api::router_with_sync(catalog, Some(sync), api);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(
        "nestor {} serving on http://{local}",
        env!("CARGO_PKG_VERSION")
    );
    nestor_api::serve(listener, router, async move {
        shutdown_signal().await;
        tracing::info!("shutting down: closing event streams, finishing requests");
        streams.cancel();
    })
    .await
    .context("HTTP server failed")?;
    let _ = shutdown_tx.send(true);
    background.cancel();
    while tasks.join_next().await.is_some() {}
    tracing::info!("stopped");
    Ok(())
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
