//! `nestor`: the component catalog server and its command-line tools.

mod app;
mod config;
mod validate_cmd;

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::{Backend, Config, LogFormat};

// The server allocates and frees many small objects per request (headers, path parameters,
// futures); mimalloc handles that pattern markedly better than the system allocator
// (docs/benchmarks.md has the figures).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "nestor",
    version,
    about = "Global component catalog for platform teams"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Common {
    /// Configuration file (YAML); see configs/nestor.yaml for every key.
    #[arg(long, short, env = "NESTOR_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (sqlite file, caches); overrides `data_dir`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on; overrides `listen`.
        #[arg(long)]
        listen: Option<String>,
        /// Storage backend; overrides `storage.backend`.
        #[arg(long, value_enum)]
        storage: Option<StorageArg>,
    },
    /// Create or upgrade the store's schema: the sqlite schema, or the DynamoDB tables (created
    /// when missing, then waited for until active). Safe to run again.
    Migrate {
        #[command(flatten)]
        common: Common,
        /// Storage backend; overrides `storage.backend`.
        #[arg(long, value_enum)]
        storage: Option<StorageArg>,
    },
    /// Validate definition files offline (exit status 1 when any is invalid).
    Validate {
        /// Files or directories (searched for *.yaml, *.yml, *.json).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: validate_cmd::Format,
        /// Configuration file; when it lists engines, engine names are checked against them.
        #[arg(long, short, env = "NESTOR_CONFIG")]
        config: Option<PathBuf>,
        /// A directory of already-published definitions to validate against (predecessors,
        /// dependencies), e.g. a checkout of the catalog repository.
        #[arg(long, conflicts_with = "server")]
        catalog: Option<PathBuf>,
        /// Validate against a running server's catalog (`POST /api/v1/validate`) instead.
        #[arg(long)]
        server: Option<String>,
        /// With --server: the configured source the files belong to (its `id`), so that name
        /// ownership is checked as a push to that source would be. Without it, as an API publish.
        #[arg(long, requires = "server")]
        source: Option<String>,
        /// With --server: a bearer token, for servers that do not allow anonymous reads.
        #[arg(
            long,
            env = "NESTOR_TOKEN",
            requires = "server",
            hide_env_values = true
        )]
        token: Option<String>,
    },
    /// Sync the configured sources now, once, and print each run (exit status 1 when a run
    /// failed or left definitions unpublished).
    Sync {
        #[command(flatten)]
        common: Common,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Read every file, not only those changed since the last synced commit.
        #[arg(long)]
        full: bool,
    },
    /// Print the version, the commit it was built from and the build date.
    Version,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StorageArg {
    Sqlite,
    Memory,
    Dynamodb,
}

/// Traces go to an OTLP/HTTP collector when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the standard
/// `OTEL_*` variables configure the exporter and its batching); the provider is flushed when
/// the process ends.
struct Tracing(Option<opentelemetry_sdk::trace::SdkTracerProvider>);

impl Drop for Tracing {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("warning: flushing traces failed: {e}");
        }
    }
}

impl StorageArg {
    fn backend(self) -> Backend {
        match self {
            StorageArg::Sqlite => Backend::Sqlite,
            StorageArg::Memory => Backend::Memory,
            StorageArg::Dynamodb => Backend::Dynamodb,
        }
    }
}

fn otlp_tracer() -> Option<opentelemetry_sdk::trace::SdkTracerProvider> {
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        .ok()
        .filter(|e| !e.is_empty())?;
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!("warning: OTLP export to {endpoint} is off: {e}");
            return None;
        }
    };
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "nestor".into());
    Some(
        opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(service)
                    .build(),
            )
            .build(),
    )
}

fn init_logging(config: &Config) -> Tracing {
    use opentelemetry::trace::TracerProvider as _;
    // rustls warns about what clients send in a handshake (an IP address as SNI, as wrk and
    // others do): one line per connection that a client controls. Its errors still show;
    // `RUST_LOG` or an explicit `rustls=` directive in `log.level` overrides this.
    let level = if config.log.level.contains("rustls") {
        config.log.level.clone()
    } else {
        format!("{},rustls=error", config.log.level)
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&level));
    let provider = otlp_tracer();
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("nestor")));
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    match config.log.format {
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .init(),
        LogFormat::Text => registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .init(),
    }
    Tracing(provider)
}

fn load(common: &Common) -> anyhow::Result<Config> {
    let mut config = Config::load(common.config.as_deref())?;
    if let Some(d) = &common.data_dir {
        config.data_dir = d.clone();
    }
    Ok(config)
}

fn main() -> ExitCode {
    // TLS for every HTTP client in the process (OTLP export, engine probes, nestor-client):
    // reqwest is built without a default provider (see the workspace Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// libgit2's connect and I/O timeouts, from `sync:`. Called while the process has one thread.
fn git_timeouts(config: &config::Config) -> anyhow::Result<()> {
    let connect = config::parse_duration(&config.sync.git_connect_timeout)
        .context("sync.git_connect_timeout")?;
    let io = config::parse_duration(&config.sync.git_io_timeout).context("sync.git_io_timeout")?;
    // SAFETY: called before logging, the runtime or anything else starts a thread.
    unsafe { nestor_catalog::set_git_timeouts(connect, io) };
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Version => {
            println!(
                "nestor {} (commit {}, built {})",
                env!("CARGO_PKG_VERSION"),
                env!("NESTOR_BUILD_COMMIT"),
                env!("NESTOR_BUILD_DATE")
            );
            Ok(true)
        }
        Command::Sync {
            common,
            source,
            full,
        } => {
            let config = load(&common)?;
            git_timeouts(&config)?;
            let _tracing = init_logging(&config);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(app::sync_command(config, source, full))
        }
        Command::Serve {
            common,
            listen,
            storage,
        } => {
            let mut config = load(&common)?;
            if let Some(l) = listen {
                config.listen = l;
            }
            if let Some(s) = storage {
                config.storage.backend = Some(s.backend());
            }
            config.check()?;
            git_timeouts(&config)?;
            let _tracing = init_logging(&config);
            // Idle threads of the blocking pool (store reads, parsing) retire after a second.
            // With tokio's 10 s they never did: the log follower's read every 200 ms
            // (`events.log_poll_interval`) wakes the thread idle longest, so every thread of a
            // burst (streams starting at once) was woken again before its 10 s were up, and
            // was kept — with the memory its allocator arena held — for good.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_keep_alive(std::time::Duration::from_secs(1))
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(app::serve(config))?;
            Ok(true)
        }
        Command::Migrate { common, storage } => {
            let mut config = load(&common)?;
            if let Some(s) = storage {
                config.storage.backend = Some(s.backend());
            }
            let _tracing = init_logging(&config);
            match config.backend() {
                Backend::Sqlite => {
                    let path = config.sqlite_path();
                    let applied = nestor_storage::SqliteStore::migrate(&path)
                        .with_context(|| format!("migrating {}", path.display()))?;
                    if applied.is_empty() {
                        println!(
                            "{}: schema is up to date (version {})",
                            path.display(),
                            nestor_storage::SqliteStore::latest_schema_version()
                        );
                    } else {
                        println!("{}: applied migrations {applied:?}", path.display());
                    }
                    Ok(true)
                }
                Backend::Memory => {
                    println!("the memory backend has no schema to migrate");
                    Ok(true)
                }
                Backend::Dynamodb => {
                    let options = app::dynamodb_options(&config)?;
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    runtime.block_on(async {
                        let store = nestor_storage::DynamoStore::new(&options).await?;
                        let report = store
                            .migrate()
                            .await
                            .context("migrating the DynamoDB tables")?;
                        println!("{report}");
                        anyhow::Ok(true)
                    })
                }
            }
        }
        Command::Validate {
            paths,
            format,
            config,
            catalog,
            server,
            source,
            token,
        } => {
            let config = Config::load(config.as_deref())?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                if let Some(url) = server {
                    let client = match &token {
                        Some(t) => nestor_client::Client::with_token(&url, t)?,
                        None => nestor_client::Client::new(&url)?,
                    };
                    return validate_cmd::run(&paths, format, validate_cmd::Against::Server(&client, source.as_deref())).await;
                }
                let store: std::sync::Arc<dyn nestor_storage::CatalogStore> =
                    std::sync::Arc::new(nestor_storage::MemoryStore::new());
                let local = app::validation_catalog(&config, store);
                if let Some(dir) = &catalog {
                    let globs = ["**/*.yaml".to_owned(), "**/*.yml".to_owned(), "**/*.json".to_owned()];
                    let source = nestor_catalog::DirectorySource::new("local", dir, &globs)?;
                    let loaded = local.sync(&source).await.with_context(|| format!("loading the catalog in {}", dir.display()))?;
                    if loaded.failed > 0 {
                        eprintln!(
                            "warning: {} definition(s) in {} are invalid and were left out of the catalog",
                            loaded.failed,
                            dir.display()
                        );
                    }
                }
                validate_cmd::run(&paths, format, validate_cmd::Against::Local(&local, catalog.as_deref())).await
            })
        }
    }
}
