//! CPU-heavy request work — parsing a definition body, which a hostile body can make take
//! seconds — runs on tokio's blocking pool, at most one job per core at a time. The async
//! workers keep answering meanwhile: health probes, reads, event streams.

use std::sync::{Arc, OnceLock};

use nestor_model::{ErrorCode, Problem};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// One permit per core, shared by every request.
fn permits() -> Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            Arc::new(Semaphore::new(cores))
        })
        .clone()
}

/// Runs `work` on the blocking pool once a core is free for it.
pub(crate) async fn cpu<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let internal = |what: String| ApiError::from(Problem::new(ErrorCode::Internal, what));
    let permit = permits()
        .acquire_owned()
        .await
        .map_err(|e| internal(format!("the CPU pool is closed: {e}")))?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(|e| internal(format!("the request's work failed: {e}")))
}
