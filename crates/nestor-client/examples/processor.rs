//! A change processor: mirrors the whole catalog, then logs each change as it arrives, until
//! Ctrl-C.
//!
//! ```text
//! cargo run -p nestor-client --example processor -- http://127.0.0.1:8080
//! ```
//!
//! Stop the server, restart it, publish: the mirror reconnects by itself and resumes exactly
//! where it left off. `RUST_LOG=nestor_client=debug` shows the feed's inner workings.

use nestor_client::{Client, Mirror, MirrorOptions, MirrorUpdate};
use tokio::sync::broadcast::error::RecvError;
use tracing::{error, info, warn};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let client = Client::new(&url)?;
    let mirror = Mirror::start(&client, MirrorOptions::default());
    // Subscribed before the first snapshot completes: no change after it can be missed.
    let mut updates = mirror.subscribe();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);

    info!(%url, "loading the catalog");
    tokio::select! {
        ready = mirror.ready() => ready?,
        _ = &mut ctrl_c => return Ok(()),
    }
    let loaded_at = mirror.revision();
    info!(
        versions = mirror.len(),
        components = mirror.list_latest().len(),
        revision = %loaded_at,
        "catalog mirrored"
    );

    loop {
        let update = tokio::select! {
            update = updates.recv() => update,
            _ = &mut ctrl_c => break,
        };
        match update {
            Ok(MirrorUpdate::Changed(change)) => info!(
                revision = %change.revision,
                r#type = change.event_type.as_str(),
                component = %format_args!("{}@{}", change.name, change.version),
                "change"
            ),
            // The first snapshot, already reported above.
            Ok(MirrorUpdate::Reloaded { revision, .. }) if revision <= loaded_at => {}
            Ok(MirrorUpdate::Reloaded {
                revision,
                components,
            }) => {
                warn!(%revision, versions = components, "the server reset the feed; catalog reloaded")
            }
            Ok(other) => info!(revision = %other.revision(), "update"),
            Err(RecvError::Lagged(skipped)) => warn!(
                skipped,
                revision = %mirror.revision(),
                "fell behind the updates (the mirror itself is complete)"
            ),
            Err(RecvError::Closed) => {
                let why = mirror.closed().await;
                error!(error = %why, "the mirror stopped");
                return Err(why.into());
            }
        }
    }
    info!(revision = %mirror.revision(), "stopping");
    mirror.shutdown().await;
    Ok(())
}
