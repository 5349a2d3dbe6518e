//! The deployment-engine registry: which engines (terraform, pulumi, crossplane, …) exist and
//! whether they are usable.
//!
//! Validation asks [`EngineRegistry`] about every engine a definition names. This crate must not
//! know about components or storage; it answers "is engine X usable, and if not, why".
//!
//! - [`Registry`] is the server's registry: engines from the configuration (permanent) plus
//!   engines that register themselves over the API with a heartbeat TTL, each optionally probed
//!   on a health URL ([`Registry::run`] drives the probes and expiry). Status changes are
//!   broadcast ([`Registry::subscribe`]).
//! - [`StaticEngines`] is a fixed list of names, all usable (tests, offline tools).
//!
//! # Layout
//!
//! - `status.rs`: [`EngineStatus`] (health, source, probe and heartbeat details) and
//!   [`STATUS_EVENT`], the feed event that carries it;
//! - `engine_registry.rs`: [`EngineRegistry`], the question validation asks;
//! - `static_engines.rs`: [`StaticEngines`], a fixed list;
//! - `registry.rs`: [`Registry`], configured and registered engines with heartbeats and health;
//! - `probe.rs`: the probe loop and the HTTP health probe;
//! - `fmt.rs`: durations and times for messages;
//! - `tests.rs`: the registry's unit tests.

#![warn(missing_docs)]

mod engine_registry;
mod fmt;
mod probe;
mod registry;
mod static_engines;
mod status;
#[cfg(test)]
mod tests;

pub use engine_registry::EngineRegistry;
pub(crate) use fmt::{fmt_duration, fmt_time};
pub use registry::{
    ConfigError, EngineDefinition, HealthCheck, RegisterError, Registered, Registration, Registry,
    RegistrySettings,
};
pub use static_engines::StaticEngines;
pub use status::{EngineHealth, EngineSource, EngineStatus, STATUS_EVENT};
