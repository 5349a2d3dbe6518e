//! The question validation asks about engines, as a trait.

use crate::EngineStatus;

/// Answers questions about deployment engines.
pub trait EngineRegistry: Send + Sync {
    /// The status of `name`, or `None` if no such engine is known.
    fn status(&self, name: &str) -> Option<EngineStatus>;

    /// Every known engine, by name (expired registrations included until they are forgotten).
    fn list(&self) -> Vec<EngineStatus>;

    /// A counter that changes whenever any engine's registration or health changes, so that
    /// cached validation verdicts can be invalidated.
    fn generation(&self) -> u64 {
        0
    }
}
