//! The deployment-engine registry: which engines (terraform, pulumi, crossplane, …) exist and
//! whether they are healthy.
//!
//! Validation asks [`EngineRegistry`] about every engine a definition names. This crate must not
//! know about components or storage; it answers "is engine X usable, and if not, why".
//! [`StaticEngines`] is the registry built from the configuration; health probing and
//! self-registration plug in behind the same trait.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Health of one engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineHealth {
    /// Usable.
    Healthy,
    /// Registered but failing its health checks.
    Unhealthy,
    /// Registered, not probed yet (or no health URL): treated as usable.
    Unknown,
}

/// What the registry knows about one engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStatus {
    /// Engine name.
    pub name: String,
    /// Current health.
    pub health: EngineHealth,
    /// Why it is unhealthy, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl EngineStatus {
    /// Whether definitions may name this engine.
    pub fn is_usable(&self) -> bool {
        self.health != EngineHealth::Unhealthy
    }
}

/// Answers questions about deployment engines.
pub trait EngineRegistry: Send + Sync {
    /// The status of `name`, or `None` if no such engine is registered.
    fn status(&self, name: &str) -> Option<EngineStatus>;

    /// Every registered engine, by name.
    fn list(&self) -> Vec<EngineStatus>;

    /// A counter that changes whenever any engine's registration or health changes, so that
    /// cached validation verdicts can be invalidated.
    fn generation(&self) -> u64 {
        0
    }
}

/// A fixed set of engines from the configuration, all considered healthy.
///
/// ```
/// use nestor_engines::{EngineRegistry, StaticEngines};
/// let engines = StaticEngines::new(["terraform", "pulumi"]);
/// assert!(engines.status("terraform").is_some_and(|s| s.is_usable()));
/// assert!(engines.status("ansible").is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticEngines {
    engines: BTreeMap<String, EngineStatus>,
}

impl StaticEngines {
    /// Registers the given engine names.
    pub fn new<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        let engines = names
            .into_iter()
            .map(Into::into)
            .map(|name: String| {
                (
                    name.clone(),
                    EngineStatus {
                        name,
                        health: EngineHealth::Unknown,
                        last_error: None,
                    },
                )
            })
            .collect();
        StaticEngines { engines }
    }
}

impl EngineRegistry for StaticEngines {
    fn status(&self, name: &str) -> Option<EngineStatus> {
        self.engines.get(name).cloned()
    }

    fn list(&self) -> Vec<EngineStatus> {
        self.engines.values().cloned().collect()
    }
}
