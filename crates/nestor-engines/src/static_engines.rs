//! [`StaticEngines`]: a fixed list of engine names, all usable.

use std::collections::BTreeMap;

use crate::{EngineRegistry, EngineSource, EngineStatus};

/// A fixed set of engines, all usable (health unknown).
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
            .map(|name: String| (name.clone(), EngineStatus::new(name, EngineSource::Config)))
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
